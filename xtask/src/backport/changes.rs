//! What a commit changes, found by walking only the subtrees whose ids differ, so the cost grows
//! with the size of the change and not with the size of the repository (dotnet/runtime has tens of
//! thousands of files).

use std::cmp::Ordering;
use std::collections::{BTreeMap, HashMap};
use std::rc::Rc;

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
    TreeDiff::new(repo)?.changed_files(old.map(Tree::id), new.map(Tree::id))
}

/// Diffs trees one after another, as walks over history do. The trees the previous diff read on
/// its new side are kept for the next one: walking oldest first, a commit's parent tree is the
/// tree the diff before read, so each big directory is inflated once instead of twice.
pub struct TreeDiff<'r> {
    odb: git2::Odb<'r>,
    previous: HashMap<Oid, Rc<[u8]>>,
    current: HashMap<Oid, Rc<[u8]>>,
}

impl<'r> TreeDiff<'r> {
    pub fn new(repo: &'r Repository) -> Result<TreeDiff<'r>> {
        Ok(TreeDiff {
            odb: repo.odb()?,
            previous: HashMap::new(),
            current: HashMap::new(),
        })
    }

    /// Every file path that differs between the trees `old` and `new`.
    pub fn changed_files(&mut self, old: Option<Oid>, new: Option<Oid>) -> Result<Changes> {
        let mut out = Changes::new();
        self.diff(old, new, "", &mut out)?;
        self.previous = std::mem::take(&mut self.current);
        Ok(out)
    }

    /// Reads a tree for the old side (kept only if the previous diff read it) or the new side
    /// (kept for the next diff).
    fn read(&mut self, id: Option<Oid>, new_side: bool) -> Result<Option<Rc<[u8]>>> {
        let Some(id) = id else { return Ok(None) };
        let object = match self.previous.get(&id) {
            Some(o) => o.clone(),
            None => Rc::from(self.odb.read(id)?.data()),
        };
        if new_side {
            self.current.insert(id, object.clone());
        }
        Ok(Some(object))
    }

    /// Walks both trees' entries in step (both are sorted in git order), descending only into
    /// subtrees whose ids differ.
    fn diff(
        &mut self,
        old: Option<Oid>,
        new: Option<Oid>,
        prefix: &str,
        out: &mut Changes,
    ) -> Result<()> {
        let (old, new) = (self.read(old, false)?, self.read(new, true)?);
        let mut a = RawEntries(old.as_deref().unwrap_or_default()).peekable();
        let mut b = RawEntries(new.as_deref().unwrap_or_default()).peekable();
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
            // Most entries are the same on both sides: compare the raw bytes before decoding.
            if let (Some(x), Some(y)) = (&ea, &eb) {
                if x.id == y.id && x.mode == y.mode {
                    continue;
                }
            }
            let name = ea.as_ref().or(eb.as_ref()).map_or(&[][..], |e| e.name);
            let path = format!("{prefix}{}", String::from_utf8_lossy(name));
            let (ea, eb) = (ea.and_then(|e| e.decode()), eb.and_then(|e| e.decode()));
            let sub = |e: Option<(Oid, i32)>| e.filter(|&(_, m)| is_tree(m)).map(|(id, _)| id);
            let file = |e: Option<(Oid, i32)>| {
                e.filter(|&(_, m)| !is_tree(m))
                    .map(|(id, mode)| Entry { id, mode })
            };
            let (ta, tb) = (sub(ea), sub(eb));
            if ta.is_some() || tb.is_some() {
                self.diff(ta, tb, &format!("{path}/"), out)?;
            }
            let (fa, fb) = (file(ea), file(eb));
            if fa != fb {
                out.insert(path, (fa, fb));
            }
        }
    }
}

fn is_tree(mode: i32) -> bool {
    mode == i32::from(FileMode::Tree)
}

/// An entry's id and numeric mode.
type RawId = (Oid, i32);

/// One entry of a raw tree object, undecoded.
struct RawEntry<'a> {
    name: &'a [u8],
    /// Octal digits: git writes every mode one way (`40000` for a tree).
    mode: &'a [u8],
    id: &'a [u8],
}

impl RawEntry<'_> {
    fn is_tree(&self) -> bool {
        self.mode == b"40000"
    }

    /// The entry's id and numeric mode; `None` for a malformed entry.
    fn decode(&self) -> Option<(Oid, i32)> {
        let mode = self.mode.iter().try_fold(0i32, |m, &d| {
            d.is_ascii_digit().then(|| m * 8 + i32::from(d - b'0'))
        })?;
        Some((Oid::from_bytes(self.id).ok()?, mode))
    }
}

/// The entries of a raw tree object (`<octal mode> <name>\0<20-byte id>`), read in place: git
/// does not parse a whole tree to walk it, and libgit2's full parse is most of a history walk's
/// cost.
struct RawEntries<'a>(&'a [u8]);

impl<'a> Iterator for RawEntries<'a> {
    type Item = RawEntry<'a>;

    fn next(&mut self) -> Option<RawEntry<'a>> {
        let data = self.0;
        let space = memchr::memchr(b' ', data)?;
        let nul = space + memchr::memchr(0, &data[space..])?;
        let id = data.get(nul + 1..nul + 21)?;
        self.0 = &data[nul + 21..];
        Some(RawEntry {
            name: &data[space + 1..nul],
            mode: &data[..space],
            id,
        })
    }
}

/// Orders entries as git sorts a tree: by name, a subtree's name followed by `/`.
fn git_order(a: &RawEntry, b: &RawEntry) -> Ordering {
    let n = a.name.len().min(b.name.len());
    a.name[..n].cmp(&b.name[..n]).then_with(|| {
        let next = |e: &RawEntry| e.name.get(n).copied().or(e.is_tree().then_some(b'/'));
        next(a).cmp(&next(b))
    })
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

/// Answers "did the file at this path change between these two trees?" for walks over history,
/// the way `git log -- <path>` does: it descends only while the subtrees on the way differ, reads
/// raw tree objects without parsing every entry, and remembers each lookup, because a walk asks
/// about every tree twice (a commit's tree is its child's parent tree) and about the same big
/// directories (`src/libraries/`) for every path.
pub struct PathHistory<'r> {
    odb: git2::Odb<'r>,
    /// (tree, name) → the entry's id and mode.
    lookups: HashMap<(Oid, Box<str>), Option<RawId>>,
}

impl<'r> PathHistory<'r> {
    pub fn new(repo: &'r Repository) -> Result<PathHistory<'r>> {
        Ok(PathHistory {
            odb: repo.odb()?,
            lookups: HashMap::new(),
        })
    }

    /// Whether the file at `path` differs between the trees `old` and `new`.
    pub fn file_differs(&mut self, old: Oid, new: Oid, path: &str) -> Result<bool> {
        let (mut a, mut b) = (Some(old), Some(new));
        let mut names = path.split('/').peekable();
        while let Some(name) = names.next() {
            if a == b {
                return Ok(false);
            }
            let (ea, eb) = (self.entry(a, name)?, self.entry(b, name)?);
            if names.peek().is_none() {
                let file = |e: Option<(Oid, i32)>| e.filter(|&(_, m)| !is_tree(m));
                return Ok(file(ea) != file(eb));
            }
            let subtree = |e: Option<(Oid, i32)>| e.filter(|&(_, m)| is_tree(m)).map(|(id, _)| id);
            (a, b) = (subtree(ea), subtree(eb));
        }
        Ok(false)
    }

    fn entry(&mut self, tree: Option<Oid>, name: &str) -> Result<Option<(Oid, i32)>> {
        let Some(tree) = tree else {
            return Ok(None);
        };
        let key = (tree, Box::from(name));
        if let Some(found) = self.lookups.get(&key) {
            return Ok(*found);
        }
        let object = self.odb.read(tree)?;
        let found = raw_tree_entry(object.data(), name.as_bytes());
        self.lookups.insert(key, found);
        Ok(found)
    }
}

/// Finds `name` in a raw tree object.
fn raw_tree_entry(data: &[u8], name: &[u8]) -> Option<(Oid, i32)> {
    RawEntries(data).find(|e| e.name == name)?.decode()
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
