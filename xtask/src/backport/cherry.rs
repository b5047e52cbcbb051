//! `git cherry` for the fork: which upstream commits the fork branch already has — by a
//! `(cherry picked from commit …)` trailer or by stable patch-id after path remapping.
//!
//! Like git, the expensive full patch-id is computed only for upstream commits that change the
//! same set of paths as some fork commit; every other commit costs one walk of the subtrees it
//! changed.

use std::collections::{BTreeSet, HashSet};

use anyhow::Result;
use git2::{Oid, Repository, Sort};
use serde::{Deserialize, Serialize};

use super::changes;
use super::equivalence::{Evidence, ForkHistory, UNRELATED_SCAN_LIMIT};
use super::pick::ReducedFix;
use super::remap::PathMap;

/// One upstream commit the fork branch does not have as an ancestor.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
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

/// The commits reachable from `upstream` but not from `onto`, oldest first, each with the fork
/// commit that already carries it, if any.
pub fn cherry(
    repo: &Repository,
    onto: Oid,
    upstream: Oid,
    map: &PathMap,
) -> Result<Vec<CherryEntry>> {
    let mut history = ForkHistory::new(repo);
    history.scan(repo, onto, upstream)?;
    let fork_paths = fork_path_sets(repo, onto, history.merge_base())?;

    let mut walk = repo.revwalk()?;
    walk.set_sorting(Sort::TOPOLOGICAL | Sort::REVERSE)?;
    walk.push(upstream)?;
    walk.hide(onto)?;
    let mut diff = changes::TreeDiff::new(repo)?;
    let mut out = Vec::new();
    for id in walk {
        let commit = repo.find_commit(id?)?;
        let mut found = history.by_trailer(&commit).map(|c| (Evidence::Trailer, c));
        if found.is_none() && commit.parent_count() == 1 {
            let parent = commit.parent(0)?.tree_id();
            let paths: BTreeSet<String> = diff
                .changed_files(Some(parent), Some(commit.tree_id()))?
                .into_keys()
                .filter_map(|p| map.to_fork(&p))
                .collect();
            if fork_paths.contains(&paths) {
                let (parent, tree) = (repo.find_tree(parent)?, commit.tree()?);
                let reduced = ReducedFix::new(repo, Some(&parent), &tree, map)?;
                found = history
                    .patch_id(repo, &reduced)?
                    .and_then(|p| history.by_patch_id(p))
                    .map(|c| (Evidence::PatchId, c));
            }
        }
        out.push(CherryEntry {
            commit: commit.id().to_string(),
            subject: commit.summary().unwrap_or_default().to_string(),
            evidence: found.as_ref().map(|(e, _)| e.clone()),
            equivalent: found.map(|(_, c)| c.to_string()),
        });
    }
    history.save_cache()?;
    Ok(out)
}

/// The sets of paths changed by each single-parent fork commit since the merge base.
fn fork_path_sets(
    repo: &Repository,
    onto: Oid,
    merge_base: Option<Oid>,
) -> Result<HashSet<BTreeSet<String>>> {
    let mut walk = repo.revwalk()?;
    walk.push(onto)?;
    let limit = match merge_base {
        Some(base) => {
            walk.hide(base)?;
            usize::MAX
        }
        None => UNRELATED_SCAN_LIMIT,
    };
    let mut diff = changes::TreeDiff::new(repo)?;
    let mut sets = HashSet::new();
    for id in walk.take(limit) {
        let commit = repo.find_commit(id?)?;
        if commit.parent_count() != 1 {
            continue;
        }
        let parent = commit.parent(0)?.tree_id();
        let paths = diff.changed_files(Some(parent), Some(commit.tree_id()))?;
        sets.insert(paths.into_keys().collect());
    }
    Ok(sets)
}
