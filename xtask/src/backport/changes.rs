//! What a commit changes, found by walking only the subtrees whose ids differ, so the cost grows
//! with the size of the change and not with the size of the repository (dotnet/runtime has tens of
//! thousands of files).

use std::collections::BTreeMap;

use anyhow::Result;
use git2::{FileMode, Oid, Repository, Tree};

/// A file (blob, link or submodule) entry: what a path points at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Entry {
    pub id: Oid,
    pub mode: i32,
}

/// Paths whose file entries differ between `old` and `new`, with both sides' entries.
pub type Changes = BTreeMap<String, (Option<Entry>, Option<Entry>)>;

/// Lists every file path that differs between two trees (either may be absent, as for a root
/// commit or a path missing on one side).
pub fn changed_files(repo: &Repository, old: Option<&Tree>, new: Option<&Tree>) -> Result<Changes> {
    let mut out = Changes::new();
    diff_trees(repo, old, new, "", &mut out)?;
    Ok(out)
}

fn level(tree: Option<&Tree>) -> BTreeMap<Vec<u8>, (Oid, i32)> {
    tree.map(|t| {
        t.iter()
            .map(|e| (e.name_bytes().to_vec(), (e.id(), e.filemode())))
            .collect()
    })
    .unwrap_or_default()
}

fn is_tree(mode: i32) -> bool {
    mode == i32::from(FileMode::Tree)
}

fn diff_trees(
    repo: &Repository,
    old: Option<&Tree>,
    new: Option<&Tree>,
    prefix: &str,
    out: &mut Changes,
) -> Result<()> {
    let (a, b) = (level(old), level(new));
    let mut names: Vec<&Vec<u8>> = a.keys().chain(b.keys()).collect();
    names.sort();
    names.dedup();
    for name in names {
        let (ea, eb) = (a.get(name).copied(), b.get(name).copied());
        if ea == eb {
            continue;
        }
        let path = format!("{prefix}{}", String::from_utf8_lossy(name));
        let sub = |e: Option<(Oid, i32)>| -> Result<Option<Tree>> {
            match e {
                Some((id, mode)) if is_tree(mode) => Ok(Some(repo.find_tree(id)?)),
                _ => Ok(None),
            }
        };
        let file = |e: Option<(Oid, i32)>| {
            e.filter(|&(_, m)| !is_tree(m))
                .map(|(id, mode)| Entry { id, mode })
        };
        let (ta, tb) = (sub(ea)?, sub(eb)?);
        if ta.is_some() || tb.is_some() {
            diff_trees(repo, ta.as_ref(), tb.as_ref(), &format!("{path}/"), out)?;
        }
        let (fa, fb) = (file(ea), file(eb));
        if fa != fb {
            out.insert(path, (fa, fb));
        }
    }
    Ok(())
}

/// The file entry at `path` in `tree`, if there is a file there.
pub fn file_at(tree: &Tree, path: &str) -> Option<Entry> {
    let entry = tree.get_path(std::path::Path::new(path)).ok()?;
    let mode = entry.filemode();
    (!is_tree(mode)).then(|| Entry {
        id: entry.id(),
        mode,
    })
}

/// Writes a tree holding exactly `files` (path → entry) and returns its id.
pub fn tree_of(repo: &Repository, files: &BTreeMap<String, Entry>) -> Result<Oid> {
    let empty = repo.find_tree(repo.treebuilder(None)?.write()?)?;
    update_tree(
        repo,
        &empty,
        files.iter().map(|(p, e)| (p.as_str(), Some(*e))),
    )
}

/// Returns `base` with each path set to its entry, or removed when the entry is `None`.
pub fn update_tree<'a>(
    repo: &Repository,
    base: &Tree,
    updates: impl IntoIterator<Item = (&'a str, Option<Entry>)>,
) -> Result<Oid> {
    let mut builder = git2::build::TreeUpdateBuilder::new();
    for (path, entry) in updates {
        match entry {
            Some(e) => builder.upsert(path, e.id, file_mode(e.mode)),
            None => builder.remove(path),
        };
    }
    Ok(builder.create_updated(repo, base)?)
}

fn file_mode(mode: i32) -> FileMode {
    match mode {
        m if m == i32::from(FileMode::BlobExecutable) => FileMode::BlobExecutable,
        m if m == i32::from(FileMode::Link) => FileMode::Link,
        m if m == i32::from(FileMode::Commit) => FileMode::Commit,
        _ => FileMode::Blob,
    }
}
