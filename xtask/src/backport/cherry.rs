//! `git cherry` for the fork: which upstream commits the fork branch already has — by a
//! `(cherry picked from commit …)` trailer or by stable patch-id after path remapping.
//!
//! Like git, the expensive full patch-id is computed only for upstream commits that change the
//! same set of paths as some fork commit; every other commit costs one walk of the subtrees it
//! changed.

use std::collections::{BTreeSet, HashMap, HashSet};

use anyhow::{Context, Result};
use git2::{Oid, Repository};
use serde::{Deserialize, Serialize};

use super::changes;
use super::commit_graph::{self, CommitGraph};
use super::equivalence::{Evidence, ForkHistory, UNRELATED_SCAN_LIMIT};
use super::pick::ReducedFix;
use super::remap::PathMap;
use crate::console::{paint, Style};

/// One upstream commit the fork branch does not have as an ancestor.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct CherryEntry {
    pub commit: String,
    pub subject: String,
    /// Why the fork already has it; `None` when it does not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub evidence: Option<Evidence>,
    /// The fork commit that carries it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub equivalent: Option<String>,
}

/// `cargo xtask cherry --json`: the entries, oldest first.
#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
pub struct CherryReport {
    pub entries: Vec<CherryEntry>,
}

impl CherryReport {
    /// Like `git cherry -v`: `- <commit> <subject> (<why> <fork commit>)` for a commit the fork
    /// already carries, `+ <commit> <subject>` for one it does not.
    pub fn human(&self) -> String {
        let mut out = String::new();
        for e in &self.entries {
            match (&e.evidence, &e.equivalent) {
                (Some(evidence), Some(fork_commit)) => out.push_str(&format!(
                    "- {} {} {}\n",
                    e.commit,
                    paint(&e.subject, Style::Dim),
                    paint(
                        &format!("({} {})", evidence_label(evidence), &fork_commit[..10]),
                        Style::Dim
                    )
                )),
                _ => out.push_str(&format!("+ {} {}\n", e.commit, e.subject)),
            }
        }
        out
    }
}

fn evidence_label(e: &Evidence) -> &'static str {
    match e {
        Evidence::Trailer => "cherry-picked as",
        Evidence::PatchId => "same patch-id as",
        Evidence::Ancestor | Evidence::Empty => "already in",
    }
}

/// The commits reachable from `upstream` but not from `onto` (merges left out), oldest first,
/// each with the fork commit that already carries it, if any.
pub fn cherry(
    repo: &Repository,
    onto: Oid,
    upstream: Oid,
    map: &PathMap,
) -> Result<Vec<CherryEntry>> {
    let mut history = ForkHistory::new(repo)?;
    history.scan(repo, onto, upstream)?;
    let bases = history.merge_bases().to_vec();
    let mut diff = changes::TreeDiff::new(repo)?;
    let fork_commits = fork_commits_by_paths(repo, &mut diff, onto, &bases)?;
    // Without remaps, an upstream commit that changes anything outside the fork commits' paths
    // matches none of them, and its diff can stop there.
    let within: Option<HashSet<String>> = map.is_identity().then(|| {
        fork_commits
            .keys()
            .flatten()
            .flat_map(|p| {
                p.match_indices('/')
                    .map(|(i, _)| &p[..i])
                    .chain([p.as_str()])
            })
            .map(str::to_string)
            .collect()
    });

    // Oldest first, and parents always before children (git orders by date, which agrees
    // unless commit dates are skewed or equal): libgit2's topological revwalk, replayed over
    // commit headers read once each, with the messages the list shows.
    let mut graph = CommitGraph::keeping_messages(repo)?;
    // The merge bases bound the walk as hiding the fork tip would (every common ancestor is
    // reachable from one of them), without a second walk across the divergence.
    let hidden = if bases.is_empty() { vec![onto] } else { bases };
    let mut out = Vec::new();
    for id in graph.oldest_first(upstream, &hidden)? {
        let parents = graph.parents(id);
        // Merges carry no patch of their own; like git cherry, only their side commits count.
        if parents.len() > 1 {
            continue;
        }
        let message = graph.message(id).unwrap_or_default();
        let mut found = history
            .by_trailer_of(id, message)
            .map(|c| (Evidence::Trailer, c));
        let tree = graph
            .tree(id)
            .with_context(|| format!("commit {id} was walked but not read"))?;
        if let (None, [parent_id]) = (&found, parents.as_slice()) {
            let parent = match graph.tree(*parent_id) {
                Some(tree) => tree,
                None => repo.find_commit(*parent_id)?.tree_id(),
            };
            let changes = match &within {
                Some(w) => diff.changed_files_within(Some(parent), Some(tree), w)?,
                None => Some(diff.changed_files(Some(parent), Some(tree))?),
            };
            let paths: Option<BTreeSet<String>> =
                changes.map(|c| c.into_keys().filter_map(|p| map.to_fork(&p)).collect());
            // Like git, a full patch-id only where a fork commit changes the same paths.
            let candidates = paths.and_then(|p| Some((fork_commits.get(&p)?, p)));
            if let Some((candidates, paths)) = candidates {
                let paths: Vec<&str> = paths.iter().map(String::as_str).collect();
                let commit = repo.find_commit(id)?;
                // Without remaps the commit's own diff is the fix: its patch-id comes from its
                // trees, as a fork commit's does (no throwaway trees written), and is cached.
                let pid = if map.is_identity() {
                    history.commit_patch_id(repo, &commit, &paths)?
                } else {
                    let (parent, tree) = (repo.find_tree(parent)?, commit.tree()?);
                    let reduced = ReducedFix::new(repo, Some(&parent), &tree, map)?;
                    history.patch_id(repo, &reduced)?
                };
                if let Some(pid) = pid {
                    for candidate in candidates.iter() {
                        let fork_commit = repo.find_commit(*candidate)?;
                        if history.commit_patch_id(repo, &fork_commit, &paths)? == Some(pid) {
                            found = Some((Evidence::PatchId, *candidate));
                            break;
                        }
                    }
                }
            }
        }
        out.push(CherryEntry {
            commit: id.to_string(),
            subject: commit_graph::summary(message),
            evidence: found.as_ref().map(|(e, _)| e.clone()),
            equivalent: found.map(|(_, c)| c.to_string()),
        });
    }
    history.save_cache()?;
    Ok(out)
}

/// The single-parent fork commits since the merge bases, newest first, by the set of paths each
/// changes.
fn fork_commits_by_paths(
    repo: &Repository,
    diff: &mut changes::TreeDiff,
    onto: Oid,
    bases: &[Oid],
) -> Result<HashMap<BTreeSet<String>, Vec<Oid>>> {
    let mut walk = repo.revwalk()?;
    walk.push(onto)?;
    for base in bases {
        walk.hide(*base)?;
    }
    let limit = if bases.is_empty() {
        UNRELATED_SCAN_LIMIT
    } else {
        usize::MAX
    };
    let mut sets: HashMap<BTreeSet<String>, Vec<Oid>> = HashMap::new();
    for id in walk.take(limit) {
        let commit = repo.find_commit(id?)?;
        if commit.parent_count() != 1 {
            continue;
        }
        let parent = commit.parent(0)?.tree_id();
        let paths = diff.changed_files(Some(parent), Some(commit.tree_id()))?;
        sets.entry(paths.into_keys().collect())
            .or_default()
            .push(commit.id());
    }
    Ok(sets)
}
