//! Likely prerequisites of a conflict: earlier upstream commits, not on the fork, that touched
//! the conflicted files. One search per run serves every conflict of the run: commit headers
//! are read once, and each pair of directory versions a commit changes is diffed once, whatever
//! paths a later conflict asks about.

use anyhow::Result;
use git2::{Commit, Oid, Repository};

use super::changes::PathHistory;
use super::commit_graph::CommitGraph;

/// An upstream commit that touched a conflicted file before the fix and is not on the fork: a
/// likely prerequisite.
#[derive(
    Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema,
)]
pub struct Prerequisite {
    pub commit: String,
    pub subject: String,
    /// The conflicted paths (fork paths) it touched.
    pub paths: Vec<String>,
}

/// How far back prerequisites are searched, in upstream commits.
const PREREQUISITE_WALK_LIMIT: usize = 5000;
/// How many prerequisites are named at most (closest to the fix first).
const PREREQUISITE_LIMIT: usize = 5;

/// The prerequisite search of one run.
pub struct PrerequisiteSearch<'r> {
    repo: &'r Repository,
    graph: CommitGraph<'r>,
    paths: PathHistory<'r>,
}

impl<'r> PrerequisiteSearch<'r> {
    pub fn new(repo: &'r Repository) -> Result<PrerequisiteSearch<'r>> {
        Ok(PrerequisiteSearch {
            repo,
            graph: CommitGraph::new(repo)?,
            paths: PathHistory::new(repo)?,
        })
    }

    /// Earlier upstream commits (ancestors of the fix, not on the fork) that touched the
    /// conflicted `paths` (each a fork path and its upstream path), nearest first, as libgit2's
    /// revwalk from the fix's parent with the fork's tip hidden meets them: with several merge
    /// bases too, exactly the commits the fork does not have. Merges are left out. `on_fork`
    /// says whether an upstream commit is already on the fork (by trailer or patch-id).
    pub fn prerequisites(
        &mut self,
        fix_parent: Option<&Commit>,
        onto_tip: Oid,
        paths: &[(String, String)],
        mut on_fork: impl FnMut(&Commit) -> Result<bool>,
    ) -> Result<Vec<Prerequisite>> {
        let Some(parent) = fix_parent else {
            return Ok(Vec::new());
        };
        if paths.is_empty() {
            return Ok(Vec::new());
        }
        let mut found = Vec::new();
        let walked = self.graph.only_in(parent.id(), onto_tip)?;
        for id in walked.into_iter().take(PREREQUISITE_WALK_LIMIT) {
            let [single_parent] = self.graph.parents(id)[..] else {
                continue;
            };
            // Both parsed by the walk: a commit it yields, and the parents of every such commit.
            let (Some(tree), Some(parent_tree)) =
                (self.graph.tree(id), self.graph.tree(single_parent))
            else {
                continue;
            };
            let mut touched = Vec::new();
            for (fork, upstream) in paths {
                if self.paths.file_differs(parent_tree, tree, upstream)? {
                    touched.push(fork.clone());
                }
            }
            if touched.is_empty() {
                continue;
            }
            let commit = self.repo.find_commit(id)?;
            if on_fork(&commit)? {
                continue;
            }
            found.push(Prerequisite {
                commit: id.to_string(),
                subject: commit.summary().unwrap_or_default().to_string(),
                paths: touched,
            });
            if found.len() == PREREQUISITE_LIMIT {
                break;
            }
        }
        Ok(found)
    }
}

#[cfg(test)]
mod tests {
    use git2::{Commit, Oid, Repository};

    use super::{Prerequisite, PrerequisiteSearch, PREREQUISITE_LIMIT, PREREQUISITE_WALK_LIMIT};
    use crate::backport::commit_graph::tests::{libgit2_walk, random_history, FILES};

    fn on_fork(commit: &Commit) -> bool {
        commit.summary().unwrap_or_default().starts_with("on-fork")
    }

    /// The answer of a search of its own per conflict, as runs made it before the search was
    /// shared: libgit2's revwalk, and libgit2's path lookups in both trees of every commit.
    fn per_conflict(
        repo: &Repository,
        parent: Oid,
        tip: Oid,
        paths: &[(String, String)],
    ) -> Vec<Prerequisite> {
        let file = |tree: &git2::Tree, path: &str| {
            tree.get_path(std::path::Path::new(path))
                .ok()
                .filter(|e| e.kind() != Some(git2::ObjectType::Tree))
                .map(|e| (e.id(), e.filemode()))
        };
        let mut found = Vec::new();
        for id in libgit2_walk(repo, parent, tip)
            .into_iter()
            .take(PREREQUISITE_WALK_LIMIT)
        {
            let commit = repo.find_commit(id).unwrap();
            if commit.parent_count() != 1 {
                continue;
            }
            let (tree, before) = (
                commit.tree().unwrap(),
                commit.parent(0).unwrap().tree().unwrap(),
            );
            let touched: Vec<String> = paths
                .iter()
                .filter(|(_, upstream)| file(&before, upstream) != file(&tree, upstream))
                .map(|(fork, _)| fork.clone())
                .collect();
            if touched.is_empty() || on_fork(&commit) {
                continue;
            }
            found.push(Prerequisite {
                commit: id.to_string(),
                subject: commit.summary().unwrap_or_default().to_string(),
                paths: touched,
            });
            if found.len() == PREREQUISITE_LIMIT {
                break;
            }
        }
        found
    }

    #[test]
    fn one_search_for_every_conflict_of_a_run_answers_as_a_search_per_conflict() {
        arbtest::arbtest(|u| {
            let dir = tempfile::tempdir().unwrap();
            let repo = Repository::init_bare(dir.path()).unwrap();
            let commits = random_history(&repo, u)?;
            let mut search = PrerequisiteSearch::new(&repo).unwrap();
            // Several conflicts in one run: fixes anywhere in the history, fork tips anywhere,
            // each with its own conflicted paths (fork paths named apart from upstream ones).
            for _ in 0..8 {
                let fix = repo.find_commit(*u.choose(&commits)?).unwrap();
                let parent = fix.parents().next();
                let tip = *u.choose(&commits)?;
                let mut paths = Vec::new();
                for path in FILES {
                    if u.ratio(1, 2)? {
                        paths.push((format!("fork/{path}"), path.to_string()));
                    }
                }
                let shared = search
                    .prerequisites(parent.as_ref(), tip, &paths, |c| Ok(on_fork(c)))
                    .unwrap();
                let expected = match &parent {
                    Some(p) if !paths.is_empty() => per_conflict(&repo, p.id(), tip, &paths),
                    _ => Vec::new(),
                };
                assert_eq!(shared, expected, "fix {} on {tip}, {paths:?}", fix.id());
            }
            Ok(())
        })
        .budget_ms(3_000);
    }
}
