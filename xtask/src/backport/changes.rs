//! What a commit changes, found by walking only the subtrees whose ids differ, so the cost grows
//! with the size of the change and not with the size of the repository (dotnet/runtime has tens of
//! thousands of files).

use std::cmp::Ordering;
use std::collections::BTreeMap;

use anyhow::Result;
use git2::{FileMode, Oid, Repository, Tree, TreeEntry};

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

fn is_tree(mode: i32) -> bool {
    mode == i32::from(FileMode::Tree)
}

/// Orders entries as git sorts a tree: by name, a subtree's name followed by `/`.
fn git_order(a: &TreeEntry, b: &TreeEntry) -> Ordering {
    let (an, bn) = (a.name_bytes(), b.name_bytes());
    let n = an.len().min(bn.len());
    an[..n].cmp(&bn[..n]).then_with(|| {
        let next = |name: &[u8], e: &TreeEntry| {
            name.get(n)
                .copied()
                .or(is_tree(e.filemode()).then_some(b'/'))
        };
        next(an, a).cmp(&next(bn, b))
    })
}

/// Walks both trees' entries in step (both are sorted in git order), descending only into
/// subtrees whose ids differ.
fn diff_trees(
    repo: &Repository,
    old: Option<&Tree>,
    new: Option<&Tree>,
    prefix: &str,
    out: &mut Changes,
) -> Result<()> {
    let mut a = old.map(|t| t.iter()).into_iter().flatten().peekable();
    let mut b = new.map(|t| t.iter()).into_iter().flatten().peekable();
    loop {
        let (ea, eb) = match (a.peek(), b.peek()) {
            (None, None) => return Ok(()),
            (Some(_), None) => (a.next(), None),
            (None, Some(_)) => (None, b.next()),
            (Some(x), Some(y)) => match git_order(x, y) {
                Ordering::Less => (a.next(), None),
                Ordering::Greater => (None, b.next()),
                Ordering::Equal => (a.next(), b.next()),
            },
        };
        let side = |e: &Option<TreeEntry>| e.as_ref().map(|e| (e.id(), e.filemode()));
        if side(&ea) == side(&eb) {
            continue;
        }
        let name = ea
            .as_ref()
            .or(eb.as_ref())
            .map(|e| String::from_utf8_lossy(e.name_bytes()).into_owned())
            .unwrap_or_default();
        let (ea, eb) = (side(&ea), side(&eb));
        let path = format!("{prefix}{name}");
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
