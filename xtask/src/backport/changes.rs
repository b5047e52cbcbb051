//! What a commit changes, found by walking only the subtrees whose ids differ, so the cost grows
//! with the size of the change and not with the size of the repository (dotnet/runtime has tens of
//! thousands of files).

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
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

/// Diffs trees one after another, as walks over history do. The last tree read at each directory
/// path is kept, one per side: walking oldest first, a commit's parent tree at a path is the tree
/// the last diff that reached the path read on its new side (newest first, on its old side), so
/// each directory version is inflated once — also when the commits in between changed other
/// directories (the old side of `src/libraries/` is usually what a commit a few steps back left
/// there). Two trees per path bound the memory to two snapshots of the repository's directories.
pub struct TreeDiff<'r> {
    odb: git2::Odb<'r>,
    /// Directory path (`""` for the root, else ending in `/`) → the last trees read there.
    trees: HashMap<String, KeptTrees>,
}

/// The last tree read at a directory path on each side of a diff.
#[derive(Default)]
struct KeptTrees {
    old: Option<(Oid, Rc<[u8]>)>,
    new: Option<(Oid, Rc<[u8]>)>,
}

impl<'r> TreeDiff<'r> {
    pub fn new(repo: &'r Repository) -> Result<TreeDiff<'r>> {
        Ok(TreeDiff {
            odb: repo.odb()?,
            trees: HashMap::new(),
        })
    }

    /// Every file path that differs between the trees `old` and `new`.
    pub fn changed_files(&mut self, old: Option<Oid>, new: Option<Oid>) -> Result<Changes> {
        let mut out = Changes::new();
        self.diff(old, new, "", None, &mut out)?;
        Ok(out)
    }

    /// Like `changed_files`, but `None` as soon as a change falls outside `within` (paths and
    /// every directory above them): a walk looking for commits that change the same paths as
    /// some other commit skips the rest of every commit that cannot match.
    pub fn changed_files_within(
        &mut self,
        old: Option<Oid>,
        new: Option<Oid>,
        within: &HashSet<String>,
    ) -> Result<Option<Changes>> {
        let mut out = Changes::new();
        let complete = self.diff(old, new, "", Some(within), &mut out)?;
        Ok(complete.then_some(out))
    }

    /// Reads the tree `id` at the directory `prefix`, and keeps it for the next diff.
    fn read(&mut self, id: Option<Oid>, prefix: &str, new_side: bool) -> Result<Option<Rc<[u8]>>> {
        let Some(id) = id else { return Ok(None) };
        let kept = self.trees.get(prefix);
        let found = kept
            .into_iter()
            .flat_map(|k| [&k.new, &k.old])
            .flatten()
            .find(|(kept_id, _)| *kept_id == id);
        if let Some((_, object)) = found {
            return Ok(Some(object.clone()));
        }
        let object: Rc<[u8]> = Rc::from(crate::repo::read_uncached(&self.odb, id)?.data());
        let kept = match self.trees.get_mut(prefix) {
            Some(kept) => kept,
            None => self.trees.entry(prefix.to_string()).or_default(),
        };
        let slot = if new_side {
            &mut kept.new
        } else {
            &mut kept.old
        };
        *slot = Some((id, object.clone()));
        Ok(Some(object))
    }

    /// Walks both trees' entries in step, descending only into subtrees whose ids differ.
    fn diff(
        &mut self,
        old: Option<Oid>,
        new: Option<Oid>,
        prefix: &str,
        within: Option<&HashSet<String>>,
        out: &mut Changes,
    ) -> Result<bool> {
        let (old, new) = (
            self.read(old, prefix, false)?,
            self.read(new, prefix, true)?,
        );
        let (old, new) = (
            old.as_deref().unwrap_or_default(),
            new.as_deref().unwrap_or_default(),
        );
        for (ea, eb) in ChangedEntries::new(old, new) {
            let name = ea.as_ref().or(eb.as_ref()).map_or(&[][..], |e| e.name);
            let mut path = String::with_capacity(prefix.len() + name.len() + 1);
            path.push_str(prefix);
            path.push_str(&String::from_utf8_lossy(name));
            if within.is_some_and(|w| !w.contains(&path)) {
                return Ok(false);
            }
            let (ea, eb) = (ea.and_then(|e| e.decode()), eb.and_then(|e| e.decode()));
            let (ta, tb) = (subtree(ea), subtree(eb));
            if ta.is_some() || tb.is_some() {
                let directory = path.clone() + "/";
                if !self.diff(ta, tb, &directory, within, out)? {
                    return Ok(false);
                }
            }
            let (fa, fb) = (file(ea), file(eb));
            if fa != fb {
                out.insert(path, (fa, fb));
            }
        }
        Ok(true)
    }
}

/// The entries that differ between two raw tree objects of one directory, in git order, as
/// (old, new) with `None` on the side that lacks the entry (a name that is a file on one side and
/// a directory on the other comes twice, once per side). Both sorted in git order, the trees are
/// walked in step; the bytes both start and end with hold the same entries, so only the entries
/// in between are compared (most directories a commit changes differ in one entry), and those
/// on their raw bytes before anything is decoded.
struct ChangedEntries<'a> {
    rest_a: &'a [u8],
    rest_b: &'a [u8],
    same_end: usize,
}

impl<'a> ChangedEntries<'a> {
    fn new(old: &'a [u8], new: &'a [u8]) -> ChangedEntries<'a> {
        let start = whole_entries(old, shared_prefix(old, new));
        ChangedEntries {
            rest_a: &old[start..],
            rest_b: &new[start..],
            same_end: shared_suffix(old, new),
        }
    }
}

impl<'a> Iterator for ChangedEntries<'a> {
    type Item = (Option<RawEntry<'a>>, Option<RawEntry<'a>>);

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            // Both rests start at an entry; equal and within the shared end, they are the same.
            if self.rest_a.len() == self.rest_b.len() && self.rest_a.len() <= self.same_end {
                return None;
            }
            let (ea, eb) = match (RawEntry::parse(self.rest_a), RawEntry::parse(self.rest_b)) {
                (None, None) => return None,
                (Some((x, after)), None) => {
                    self.rest_a = after;
                    (Some(x), None)
                }
                (None, Some((y, after))) => {
                    self.rest_b = after;
                    (None, Some(y))
                }
                (Some((x, after_x)), Some((y, after_y))) => match git_order(&x, &y) {
                    Ordering::Less => {
                        self.rest_a = after_x;
                        (Some(x), None)
                    }
                    Ordering::Greater => {
                        self.rest_b = after_y;
                        (None, Some(y))
                    }
                    Ordering::Equal => {
                        (self.rest_a, self.rest_b) = (after_x, after_y);
                        (Some(x), Some(y))
                    }
                },
            };
            if let (Some(x), Some(y)) = (&ea, &eb) {
                if x.id == y.id && x.mode == y.mode {
                    continue;
                }
            }
            return Some((ea, eb));
        }
    }
}

/// How many leading bytes `a` and `b` share.
fn shared_prefix(a: &[u8], b: &[u8]) -> usize {
    let n = a.len().min(b.len());
    shared_len(n, |at, len| a[at..at + len] == b[at..at + len])
}

/// How many trailing bytes `a` and `b` share.
fn shared_suffix(a: &[u8], b: &[u8]) -> usize {
    let n = a.len().min(b.len());
    let (a, b) = (&a[a.len() - n..], &b[b.len() - n..]);
    shared_len(n, |at, len| {
        a[n - at - len..n - at] == b[n - at - len..n - at]
    })
}

/// The length of the shared run of two sequences of `n` bytes, given `equal(at, len)`: whether
/// they agree on the `len` bytes `at` bytes in. Compared in blocks of 256 bytes (`memcmp`,
/// vectorised by libc), then 16, then one, where they part.
fn shared_len(n: usize, equal: impl Fn(usize, usize) -> bool) -> usize {
    let mut shared = 0;
    for block in [256, 16, 1] {
        while shared + block <= n && equal(shared, block) {
            shared += block;
        }
    }
    shared
}

/// Where the last whole entry of the raw tree `data` within its first `len` bytes ends.
fn whole_entries(data: &[u8], len: usize) -> usize {
    let mut end = 0;
    while let Some((_, after)) = RawEntry::parse(&data[end..]) {
        let next = data.len() - after.len();
        if next > len {
            break;
        }
        end = next;
    }
    end
}

fn is_tree(mode: i32) -> bool {
    mode == i32::from(FileMode::Tree)
}

/// The entry when it is a file (blob, link or submodule).
fn file(e: Option<Entry>) -> Option<Entry> {
    e.filter(|e| !is_tree(e.mode))
}

/// The entry's id when it is a directory.
fn subtree(e: Option<Entry>) -> Option<Oid> {
    e.filter(|e| is_tree(e.mode)).map(|e| e.id)
}

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
    fn decode(&self) -> Option<Entry> {
        let mode = self.mode.iter().try_fold(0i32, |m, &d| {
            d.is_ascii_digit().then(|| m * 8 + i32::from(d - b'0'))
        })?;
        let id = Oid::from_bytes(self.id).ok()?;
        Some(Entry { id, mode })
    }
}

impl<'a> RawEntry<'a> {
    /// The first entry of the raw tree bytes `data` (`<octal mode> <name>\0<20-byte id>`) and
    /// the bytes after it; `None` at the end or for a malformed entry.
    fn parse(data: &'a [u8]) -> Option<(RawEntry<'a>, &'a [u8])> {
        // A mode has at most 6 digits; the name runs to the NUL.
        let space = data.iter().take(7).position(|&b| b == b' ')?;
        let nul = space + memchr::memchr(0, &data[space..])?;
        let id = data.get(nul + 1..nul + 21)?;
        let entry = RawEntry {
            name: &data[space + 1..nul],
            mode: &data[..space],
            id,
        };
        Some((entry, &data[nul + 21..]))
    }
}

/// The entries of a raw tree object, read in place: git does not parse a whole tree to walk it,
/// and libgit2's full parse is most of a history walk's cost.
struct RawEntries<'a>(&'a [u8]);

impl<'a> Iterator for RawEntries<'a> {
    type Item = RawEntry<'a>;

    fn next(&mut self) -> Option<RawEntry<'a>> {
        let (entry, rest) = RawEntry::parse(self.0)?;
        self.0 = rest;
        Some(entry)
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
/// raw tree objects without parsing every entry, and remembers what it found, because a walk asks
/// about every tree twice (a commit's tree is its child's parent tree) and about the same big
/// directories (`src/libraries/`) for every path.
///
/// The memory it keeps is bounded (`PATH_LOOKUP_GENERATION`): a run's walks ask hundreds of
/// thousands of questions, and kept forever the answers were a fifth of a 50-fix backport's peak
/// memory on a 10,000-file repository.
pub struct PathHistory<'r> {
    odb: git2::Odb<'r>,
    /// Each name asked about, once: the lookups refer to it by its number.
    names: HashMap<Box<str>, u32>,
    /// (tree, name) → the entry's id and mode, asked since the generation turned…
    recent: HashMap<(Oid, u32), Option<Entry>>,
    /// … and asked in the generation before (found again, an answer moves to `recent`).
    older: HashMap<(Oid, u32), Option<Entry>>,
    /// Lookups a generation keeps (`PATH_LOOKUP_GENERATION`; fewer in tests).
    generation: usize,
    /// Two versions of a directory → the entries that differ between them: each pair a walk
    /// meets is diffed once, whichever of its names are asked about, then or later.
    changed: HashMap<TreePair, Box<[ChangedEntry]>>,
    /// Reads the trees of those diffs, keeping the last ones read at each directory path.
    trees: TreeDiff<'r>,
}

/// Two versions of a directory (either may be absent).
type TreePair = (Option<Oid>, Option<Oid>);

/// An entry that differs between two versions of a directory.
struct ChangedEntry {
    name: Box<[u8]>,
    old: Option<Entry>,
    new: Option<Entry>,
}

/// How many lookups a generation of `PathHistory` keeps: a walk reuses what it asked about a
/// commit ago (the parent's tree is the next commit's tree), so two generations keep nearly every
/// answer a walk reuses, in at most 2 × 32,768 table slots (~3.5 MiB; a table holds 7/8 of its
/// slots before it doubles).
const PATH_LOOKUP_GENERATION: usize = 28_672;

impl<'r> PathHistory<'r> {
    pub fn new(repo: &'r Repository) -> Result<PathHistory<'r>> {
        Ok(PathHistory {
            odb: repo.odb()?,
            names: HashMap::new(),
            recent: HashMap::new(),
            older: HashMap::new(),
            generation: PATH_LOOKUP_GENERATION,
            changed: HashMap::new(),
            trees: TreeDiff::new(repo)?,
        })
    }

    /// Whether the file at `path` differs between the trees `old` and `new`.
    pub fn file_differs(&mut self, old: Oid, new: Oid, path: &str) -> Result<bool> {
        let (mut a, mut b) = (Some(old), Some(new));
        let mut prefix = String::new();
        let mut names = path.split('/').peekable();
        while let Some(name) = names.next() {
            if a == b {
                return Ok(false);
            }
            // Not among the entries that differ: the same file, or the same subtree.
            let Some((ea, eb)) = self.changed_entry(a, b, &prefix, name)? else {
                return Ok(false);
            };
            if names.peek().is_none() {
                return Ok(file(ea) != file(eb));
            }
            (a, b) = (subtree(ea), subtree(eb));
            prefix.push_str(name);
            prefix.push('/');
        }
        Ok(false)
    }

    /// The two sides of the entry `name` when it differs between the versions `a` and `b` of the
    /// directory at `prefix`; `None` when it is the same on both.
    fn changed_entry(
        &mut self,
        a: Option<Oid>,
        b: Option<Oid>,
        prefix: &str,
        name: &str,
    ) -> Result<Option<(Option<Entry>, Option<Entry>)>> {
        if !self.changed.contains_key(&(a, b)) {
            let (old, new) = (
                self.trees.read(a, prefix, false)?,
                self.trees.read(b, prefix, true)?,
            );
            let (old, new) = (
                old.as_deref().unwrap_or_default(),
                new.as_deref().unwrap_or_default(),
            );
            let entries = ChangedEntries::new(old, new)
                .map(|(x, y)| ChangedEntry {
                    name: Box::from(x.as_ref().or(y.as_ref()).map_or(&[][..], |e| e.name)),
                    old: x.and_then(|e| e.decode()),
                    new: y.and_then(|e| e.decode()),
                })
                .collect();
            self.changed.insert((a, b), entries);
        }
        let changed = &self.changed[&(a, b)];
        let mut found: Option<(Option<Entry>, Option<Entry>)> = None;
        for entry in changed.iter().filter(|e| *e.name == *name.as_bytes()) {
            let (old, new) = found.get_or_insert((None, None));
            *old = old.or(entry.old);
            *new = new.or(entry.new);
        }
        Ok(found)
    }

    /// The file entry at `path` in the tree `root`, if there is a file there.
    pub fn file(&mut self, root: Option<Oid>, path: &str) -> Result<Option<Entry>> {
        let mut tree = root;
        let mut names = path.split('/').peekable();
        while let Some(name) = names.next() {
            let entry = self.entry(tree, name)?;
            if names.peek().is_none() {
                return Ok(file(entry));
            }
            tree = subtree(entry);
        }
        Ok(None)
    }

    /// The ids of the directories on the way to `path` in the tree `root` (as far as they exist),
    /// and of the file itself when there is one.
    pub fn ids_along(&mut self, root: Oid, path: &str) -> Result<Vec<Oid>> {
        let mut ids = Vec::new();
        let mut tree = Some(root);
        for name in path.split('/') {
            let Some(entry) = self.entry(tree, name)? else {
                break;
            };
            ids.push(entry.id);
            tree = subtree(Some(entry));
        }
        Ok(ids)
    }

    fn entry(&mut self, tree: Option<Oid>, name: &str) -> Result<Option<Entry>> {
        let Some(tree) = tree else {
            return Ok(None);
        };
        let name_number = match self.names.get(name) {
            Some(&n) => n,
            None => {
                let n = u32::try_from(self.names.len())?;
                self.names.insert(Box::from(name), n);
                n
            }
        };
        let key = (tree, name_number);
        if let Some(found) = self.recent.get(&key) {
            return Ok(*found);
        }
        let found = match self.older.remove(&key) {
            Some(found) => found,
            None => raw_tree_entry(
                crate::repo::read_uncached(&self.odb, tree)?.data(),
                name.as_bytes(),
            ),
        };
        if self.recent.len() == self.generation {
            // The older table's slots are reused: no growing again from empty.
            std::mem::swap(&mut self.older, &mut self.recent);
            self.recent.clear();
        }
        self.recent.insert(key, found);
        Ok(found)
    }
}

/// The files one tree has at paths where another has none ("added" from `base` to `onto`), kept
/// up to date as both move. A run asks for them once per fix to a file the fork has under another
/// name, each time with the upstream parent and the fork tip a little further on: diffing what
/// moved since the last question is far cheaper than diffing the whole divergence again.
#[derive(Default)]
pub struct AddedFiles {
    last: Option<(Option<Oid>, Oid, BTreeMap<String, Entry>)>,
}

impl AddedFiles {
    pub fn between(
        &mut self,
        repo: &Repository,
        base: Option<Oid>,
        onto: Oid,
    ) -> Result<&BTreeMap<String, Entry>> {
        let mut diff = TreeDiff::new(repo)?;
        let (base, onto, added) = match self.last.take() {
            Some((b, o, added)) if (b, o) == (base, onto) => (b, o, added),
            Some((b, o, mut added)) => {
                // What moved on each side says where most moved paths are now; a path that did
                // not move on one side is there as before (an added file: absent upstream, and
                // its entry on the fork), and only the rest is looked up.
                let upstream_moved = diff.changed_files(b, base)?;
                let fork_moved = diff.changed_files(Some(o), Some(onto))?;
                let moved: BTreeSet<&String> =
                    upstream_moved.keys().chain(fork_moved.keys()).collect();
                let mut lookup = PathHistory::new(repo)?;
                for path in moved {
                    let was_added = added.get(path).copied();
                    let at_base = match (upstream_moved.get(path), was_added) {
                        (Some((_, now)), _) => *now,
                        (None, Some(_)) => None,
                        (None, None) => lookup.file(base, path)?,
                    };
                    let at_onto = match (at_base, fork_moved.get(path), was_added) {
                        (Some(_), _, _) => None,
                        (None, Some((_, now)), _) => *now,
                        (None, None, Some(entry)) => Some(entry),
                        (None, None, None) => lookup.file(Some(onto), path)?,
                    };
                    match at_onto {
                        Some(e) => added.insert(path.clone(), e),
                        None => added.remove(path),
                    };
                }
                (base, onto, added)
            }
            None => {
                let added = diff
                    .changed_files(base, Some(onto))?
                    .into_iter()
                    .filter_map(|(p, (old, new))| match (old, new) {
                        (None, Some(e)) => Some((p, e)),
                        _ => None,
                    })
                    .collect();
                (base, onto, added)
            }
        };
        Ok(&self.last.insert((base, onto, added)).2)
    }
}

/// Finds `name` in a raw tree object.
fn raw_tree_entry(data: &[u8], name: &[u8]) -> Option<Entry> {
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A tree holding `files` (path → content; `x:` makes the file executable).
    fn tree(repo: &Repository, files: &[(&str, &str)]) -> Oid {
        let entries: BTreeMap<String, Entry> = files
            .iter()
            .map(|(path, content)| {
                let (mode, content) = match content.strip_prefix("x:") {
                    Some(c) => (FileMode::BlobExecutable, c),
                    None => (FileMode::Blob, *content),
                };
                let id = repo.blob(content.as_bytes()).unwrap();
                let mode = i32::from(mode);
                (path.to_string(), Entry { id, mode })
            })
            .collect();
        tree_of(repo, &entries).unwrap()
    }

    /// What libgit2's own tree diff reports, as (path, old id, new id).
    fn libgit2_diff(
        repo: &Repository,
        old: Oid,
        new: Oid,
    ) -> Vec<(String, Option<Oid>, Option<Oid>)> {
        let (old, new) = (repo.find_tree(old).unwrap(), repo.find_tree(new).unwrap());
        let diff = repo
            .diff_tree_to_tree(Some(&old), Some(&new), None)
            .unwrap();
        let mut out: Vec<_> = diff
            .deltas()
            .map(|d| {
                let side = |f: git2::DiffFile| (!f.id().is_zero()).then(|| f.id());
                let path = d.new_file().path().or(d.old_file().path()).unwrap();
                (
                    path.to_str().unwrap().to_string(),
                    side(d.old_file()),
                    side(d.new_file()),
                )
            })
            .collect();
        out.sort();
        out
    }

    #[test]
    fn raw_tree_diff_agrees_with_libgit2_on_awkward_trees() {
        let dir = tempfile::tempdir().unwrap();
        let repo = Repository::init_bare(dir.path()).unwrap();
        // Names that sort differently as files and as directories (`a.b` < `a/` < `a0`), a
        // file that becomes a directory, a mode change, additions and deletions at every depth.
        let old = tree(
            &repo,
            &[
                ("a.b", "1"),
                ("a/x", "2"),
                ("a0", "3"),
                ("b", "file"),
                ("deep/er/still/f.cs", "4"),
                ("gone/one", "5"),
                ("run.sh", "6"),
            ],
        );
        let new = tree(
            &repo,
            &[
                ("a.b", "1"),
                ("a/x", "2 changed"),
                ("a/y", "new"),
                ("a0", "3"),
                ("b/now-a-dir", "file"),
                ("deep/er/still/f.cs", "4"),
                ("deep/er/g.cs", "7"),
                ("run.sh", "x:6"),
            ],
        );
        let ours: Vec<_> = TreeDiff::new(&repo)
            .unwrap()
            .changed_files(Some(old), Some(new))
            .unwrap()
            .into_iter()
            .map(|(p, (a, b))| (p, a.map(|e| e.id), b.map(|e| e.id)))
            .collect();
        assert_eq!(ours, libgit2_diff(&repo, old, new));
        assert!(
            ours.iter().any(|(p, ..)| p == "run.sh"),
            "a mode change is a change"
        );

        // Within a set of paths: complete when every change is inside, cut short otherwise.
        let within =
            |paths: &[&str]| -> HashSet<String> { paths.iter().map(|p| p.to_string()).collect() };
        let mut diff = TreeDiff::new(&repo).unwrap();
        let small_old = tree(&repo, &[("a/x", "1"), ("c", "2")]);
        let small_new = tree(&repo, &[("a/x", "changed"), ("c", "2")]);
        let inside = diff
            .changed_files_within(Some(small_old), Some(small_new), &within(&["a", "a/x"]))
            .unwrap();
        assert_eq!(inside.unwrap().keys().collect::<Vec<_>>(), ["a/x"]);
        let outside = diff
            .changed_files_within(Some(small_old), Some(small_new), &within(&["c"]))
            .unwrap();
        assert!(outside.is_none());
    }

    #[test]
    fn added_files_kept_up_to_date_equal_a_fresh_diff() {
        let dir = tempfile::tempdir().unwrap();
        let repo = Repository::init_bare(dir.path()).unwrap();
        // Upstream parents and fork tips as a run meets them: both move between questions.
        let bases = [
            tree(&repo, &[("src/a/new.cs", "1"), ("src/b/x.cs", "1")]),
            tree(
                &repo,
                &[
                    ("src/a/new.cs", "2"),
                    ("src/b/x.cs", "1"),
                    ("src/c/y.cs", "1"),
                ],
            ),
            tree(
                &repo,
                &[
                    ("src/a/new.cs", "2"),
                    ("src/c/y.cs", "1"),
                    ("src/old.cs", "9"),
                ],
            ),
        ];
        let ontos = [
            tree(&repo, &[("src/a/old.cs", "1"), ("src/b/x.cs", "1")]),
            tree(
                &repo,
                &[
                    ("src/a/old.cs", "1"),
                    ("src/b/x.cs", "1"),
                    ("src/d/z.cs", "1"),
                ],
            ),
            tree(
                &repo,
                &[
                    ("src/a/old.cs", "2"),
                    ("src/d/z.cs", "1"),
                    ("src/old.cs", "9"),
                ],
            ),
        ];
        let mut kept = AddedFiles::default();
        for (base, onto) in bases.iter().zip(&ontos) {
            let fresh: BTreeMap<String, Entry> = TreeDiff::new(&repo)
                .unwrap()
                .changed_files(Some(*base), Some(*onto))
                .unwrap()
                .into_iter()
                .filter_map(|(p, (old, new))| match (old, new) {
                    (None, Some(e)) => Some((p, e)),
                    _ => None,
                })
                .collect();
            let incremental = kept.between(&repo, Some(*base), *onto).unwrap();
            assert_eq!(incremental, &fresh);
        }
    }

    #[test]
    fn path_history_answers_alike_when_its_generations_turn() {
        let dir = tempfile::tempdir().unwrap();
        let repo = Repository::init_bare(dir.path()).unwrap();
        let paths = ["src/lib/f.cs", "src/other/g.cs", "eng/Versions.props"];
        // Each tree changes one of the files, or removes the first.
        let trees: Vec<Oid> = (0..12)
            .map(|i: usize| {
                let files: Vec<(&str, String)> = paths
                    .iter()
                    .enumerate()
                    .filter(|(n, _)| !(*n == 0 && i % 5 == 4))
                    .map(|(n, p)| (*p, (i / 3 + usize::from(n == i % 3)).to_string()))
                    .collect();
                let files: Vec<(&str, &str)> =
                    files.iter().map(|(p, c)| (*p, c.as_str())).collect();
                tree(&repo, &files)
            })
            .collect();
        let mut bounded = PathHistory::new(&repo).unwrap();
        bounded.generation = 3;
        for round in 0..2 {
            for pair in trees.windows(2) {
                let (old, new) = (
                    repo.find_tree(pair[0]).unwrap(),
                    repo.find_tree(pair[1]).unwrap(),
                );
                for path in paths {
                    let expected = file_at(&old, path) != file_at(&new, path);
                    let answer = bounded.file_differs(pair[0], pair[1], path).unwrap();
                    assert_eq!(answer, expected, "round {round}, {path}");
                    assert!(bounded.recent.len() <= 3 && bounded.older.len() <= 3);
                }
            }
        }
    }

    #[test]
    fn path_history_sees_only_changes_to_its_path() {
        let dir = tempfile::tempdir().unwrap();
        let repo = Repository::init_bare(dir.path()).unwrap();
        let a = tree(&repo, &[("src/lib/f.cs", "1"), ("src/other/g.cs", "1")]);
        let b = tree(&repo, &[("src/lib/f.cs", "1"), ("src/other/g.cs", "2")]);
        let c = tree(&repo, &[("src/lib/f.cs", "2"), ("src/other/g.cs", "2")]);
        let d = tree(&repo, &[("src/other/g.cs", "2")]);
        let mut history = PathHistory::new(&repo).unwrap();
        assert!(!history.file_differs(a, b, "src/lib/f.cs").unwrap());
        assert!(history.file_differs(b, c, "src/lib/f.cs").unwrap());
        assert!(history.file_differs(c, d, "src/lib/f.cs").unwrap());
        assert!(!history.file_differs(c, d, "src/other/g.cs").unwrap());
    }
}
