//! The in-memory cherry-pick: a three-way merge of the fix onto the fork branch, restricted to the
//! files the fix changes (plus the fork-side rename candidates for files the fork moved), so that
//! neither a worktree nor the size of the tree is involved.

use std::collections::BTreeMap;

use anyhow::Result;
use git2::{Index, MergeOptions, Oid, Repository, Tree};

use super::changes::{self, Entry};
use super::conflict::{describe, ConflictedPath};
use super::remap::PathMap;

/// git's `merge.renameLimit` default: how many rename candidates are compared at most.
const RENAME_LIMIT: usize = 7000;

/// The fix reduced to the files it changes, in fork paths.
pub struct ReducedFix {
    /// Fork path → the upstream path it came from.
    pub upstream_paths: BTreeMap<String, String>,
    /// File entries before the fix (upstream parent), in fork paths.
    pub before: BTreeMap<String, Entry>,
    /// File entries after the fix, in fork paths.
    pub after: BTreeMap<String, Entry>,
    /// The upstream parent's tree, for rename detection against the fork.
    pub upstream_parent_tree: Option<Oid>,
}

impl ReducedFix {
    /// Reduces the change `parent → commit` (upstream trees) through the path map.
    pub fn new(
        repo: &Repository,
        parent: Option<&Tree>,
        commit: &Tree,
        map: &PathMap,
    ) -> Result<ReducedFix> {
        let mut fix = ReducedFix {
            upstream_paths: BTreeMap::new(),
            before: BTreeMap::new(),
            after: BTreeMap::new(),
            upstream_parent_tree: parent.map(Tree::id),
        };
        for (path, (old, new)) in changes::changed_files(repo, parent, Some(commit))? {
            let Some(fork_path) = map.to_fork(&path) else {
                continue;
            };
            if let Some(e) = old {
                fix.before.insert(fork_path.clone(), e);
            }
            if let Some(e) = new {
                fix.after.insert(fork_path.clone(), e);
            }
            fix.upstream_paths.insert(fork_path, path);
        }
        Ok(fix)
    }

    /// True when the fix changes nothing that exists in the fork's layout.
    pub fn is_empty(&self) -> bool {
        self.upstream_paths.is_empty()
    }
}

/// The stable patch-id of the change from `before` to `after` (file maps), `None` when empty.
pub fn patch_id_of(
    repo: &Repository,
    before: &BTreeMap<String, Entry>,
    after: &BTreeMap<String, Entry>,
) -> Result<Option<Oid>> {
    if before == after {
        return Ok(None);
    }
    let old = repo.find_tree(changes::tree_of(repo, before)?)?;
    let new = repo.find_tree(changes::tree_of(repo, after)?)?;
    let diff = repo.diff_tree_to_tree(Some(&old), Some(&new), None)?;
    Ok(Some(diff.patchid(None)?))
}

/// The result of picking a fix onto a tree.
pub enum PickResult {
    /// The merge succeeded; the tree may equal the onto tree (an empty pick).
    Clean(Oid),
    /// The merge left conflicts.
    Conflicted(Conflicted),
}

/// A pick that conflicts.
pub struct Conflicted {
    /// The merge of the fix's files: merged entries and conflict stages.
    merged: Index,
    /// The paths of `onto` the merge result replaces.
    replaced: Vec<String>,
    pub conflicts: Vec<ConflictedPath>,
}

/// Picks `fix` onto `onto` in memory.
/// `added` remembers, across the picks of a run, which files the fork has that the upstream lacks
/// (where renamed files are looked for).
pub fn pick(
    repo: &Repository,
    fix: &ReducedFix,
    onto: &Tree,
    map: &PathMap,
    added: &mut changes::AddedFiles,
) -> Result<PickResult> {
    let mut ours: BTreeMap<String, Entry> = BTreeMap::new();
    let mut moved_away = Vec::new();
    for path in fix.before.keys().chain(fix.after.keys()) {
        match changes::file_at(onto, path) {
            Some(e) => {
                ours.insert(path.clone(), e);
            }
            None if fix.before.contains_key(path) => moved_away.push(path.clone()),
            None => {}
        }
    }
    if !moved_away.is_empty() {
        for (path, entry) in rename_candidates(repo, fix, onto, map, &moved_away, added)? {
            ours.entry(path).or_insert(entry);
        }
    }
    let base = repo.find_tree(changes::tree_of(repo, &fix.before)?)?;
    let theirs = repo.find_tree(changes::tree_of(repo, &fix.after)?)?;
    let ours_tree = repo.find_tree(changes::tree_of(repo, &ours)?)?;
    let mut opts = MergeOptions::new();
    // git's merge defaults: rename detection at 50% similarity, and a generous rename limit.
    opts.find_renames(true)
        .rename_threshold(50)
        .target_limit(RENAME_LIMIT as u32);
    let merged = repo.merge_trees(&base, &ours_tree, &theirs, Some(&opts))?;

    if !merged.has_conflicts() {
        let mut updates: BTreeMap<String, Option<Entry>> =
            ours.keys().map(|p| (p.clone(), None)).collect();
        for e in merged.iter() {
            updates.insert(
                String::from_utf8_lossy(&e.path).into_owned(),
                Some(Entry {
                    id: e.id,
                    mode: e.mode as i32,
                }),
            );
        }
        let unchanged = updates.iter().all(|(p, e)| ours.get(p) == e.as_ref());
        if unchanged {
            return Ok(PickResult::Clean(onto.id()));
        }
        let tree = changes::update_tree(repo, onto, updates.iter().map(|(p, e)| (p.as_str(), *e)))?;
        return Ok(PickResult::Clean(tree));
    }

    let mut conflicts = Vec::new();
    for c in merged.conflicts()? {
        conflicts.push(describe(&c?));
    }
    conflicts.sort_by(|a, b| a.path.cmp(&b.path));
    conflicts.dedup_by(|a, b| a.path == b.path);
    Ok(PickResult::Conflicted(Conflicted {
        merged,
        replaced: ours.into_keys().collect(),
        conflicts,
    }))
}

impl Conflicted {
    /// The objects the merge produced or took (merged files and conflict stages).
    pub fn object_ids(&self) -> Vec<Oid> {
        self.merged.iter().map(|e| e.id).collect()
    }

    /// The paths the pick writes (merged files and conflicted ones): what a person resolving the
    /// conflict needs on disk.
    pub fn paths(&self) -> std::collections::BTreeSet<String> {
        self.merged
            .iter()
            .map(|e| String::from_utf8_lossy(&e.path).into_owned())
            .collect()
    }

    /// The full index `git cherry-pick` leaves behind: `onto` with the merged files and the
    /// conflict stages. Built only when the conflict is written out (reading a dotnet/runtime
    /// tree into an index is most of the cost of a conflicting pick).
    pub fn full_index(&self, onto: &Tree) -> Result<Index> {
        let mut full = Index::new()?;
        full.read_tree(onto)?;
        for path in &self.replaced {
            full.remove_path(std::path::Path::new(path))?;
        }
        for e in self.merged.iter().filter(|e| stage(e) == 0) {
            full.add(&e)?;
        }
        for c in self.merged.conflicts()? {
            let c = c?;
            for e in [&c.ancestor, &c.our, &c.their].into_iter().flatten() {
                full.remove_path(std::path::Path::new(&*String::from_utf8_lossy(&e.path)))?;
            }
            // Entries keep their stage bits, so adding them records the conflict.
            for e in [&c.ancestor, &c.our, &c.their].into_iter().flatten() {
                full.add(e)?;
            }
        }
        Ok(full)
    }
}

fn stage(e: &git2::IndexEntry) -> u16 {
    (e.flags >> 12) & 0x3
}

/// Files the fork added relative to the upstream parent that could be where a file the fix
/// changes now lives, for git-style rename detection between the upstream parent and the fork:
/// those with the same file name when there are any (git's basename heuristic), else every one
/// with the same extension, nearest directories first, up to git's merge rename limit. (A fixed
/// small cap misses renames that change the name once the branches diverged far enough.)
fn rename_candidates(
    repo: &Repository,
    fix: &ReducedFix,
    onto: &Tree,
    map: &PathMap,
    moved_away: &[String],
    added: &mut changes::AddedFiles,
) -> Result<Vec<(String, Entry)>> {
    let base = parent_in_fork_layout(repo, fix, map)?;
    let added = added.between(repo, base.as_ref().map(Tree::id), onto.id())?;
    let name = |p: &str| p.rsplit('/').next().unwrap_or(p).to_string();
    let ext = |p: &str| p.rsplit_once('.').map(|(_, e)| e.to_string());
    let shared_prefix = |a: &str, b: &str| {
        a.split('/')
            .zip(b.split('/'))
            .take_while(|(x, y)| x == y)
            .count()
    };
    let mut out = Vec::new();
    for missing in moved_away {
        let same_name: Vec<(String, Entry)> = added
            .iter()
            .filter(|(p, _)| name(p) == name(missing))
            .map(|(p, e)| (p.clone(), *e))
            .collect();
        if !same_name.is_empty() {
            out.extend(same_name);
            continue;
        }
        let mut same_ext: Vec<(&String, &Entry)> = added
            .iter()
            .filter(|(p, _)| ext(p) == ext(missing))
            .collect();
        same_ext.sort_by_key(|(p, _)| std::cmp::Reverse(shared_prefix(p, missing)));
        out.extend(
            same_ext
                .into_iter()
                .take(RENAME_LIMIT)
                .map(|(p, e)| (p.clone(), *e)),
        );
    }
    Ok(out)
}

/// The upstream parent tree in the fork's layout: for a subdirectory remap, that subdirectory;
/// otherwise the tree itself (explicit file remaps already say where a moved file went).
fn parent_in_fork_layout<'r>(
    repo: &'r Repository,
    fix: &ReducedFix,
    map: &PathMap,
) -> Result<Option<Tree<'r>>> {
    let Some(id) = fix.upstream_parent_tree else {
        return Ok(None);
    };
    let tree = repo.find_tree(id)?;
    match map.subdirectory_prefix() {
        Some(prefix) => match tree.get_path(std::path::Path::new(prefix)) {
            Ok(e) => Ok(Some(repo.find_tree(e.id())?)),
            Err(_) => Ok(None),
        },
        None => Ok(Some(tree)),
    }
}
