//! Commit headers (parents, committer date, tree; the message when asked) read once per run, and
//! walks over them that yield exactly what libgit2's revwalk yields for one commit pushed and
//! others hidden, in the same order (unsorted, or reverse topological): several walks across the
//! same divergence then read each commit once, where a libgit2 revwalk per walk inflates every
//! commit again, and a walk that lists commits needs no second read and parse per commit.

use std::collections::{HashMap, VecDeque};

use anyhow::{Context, Result};
use git2::{Oid, Repository};

use super::equivalence::parse_commit_links;

/// How many uninteresting commits libgit2's limited walk pops, with nothing interesting left
/// newer than them, before it stops (`SLOP` in libgit2's `revwalk.c`).
const SLOP: u32 = 5;

/// The commits of a repository as far as walks have read them.
pub struct CommitGraph<'r> {
    odb: git2::Odb<'r>,
    index: HashMap<Oid, usize>,
    nodes: Vec<Node>,
    /// Whether each commit's message is kept with its header (for `cherry`, which lists them).
    keep_messages: bool,
}

struct Node {
    id: Oid,
    /// Read when a walk first parses the commit.
    header: Option<Header>,
}

struct Header {
    parents: Vec<usize>,
    time: i64,
    tree: Oid,
    /// The message as libgit2's `git_commit_message` gives it, when the graph keeps messages.
    message: Option<Box<[u8]>>,
}

/// Per-walk flags of a commit, as libgit2's `git_commit_list_node` keeps them.
#[derive(Clone, Copy, Default)]
struct Flags {
    seen: bool,
    added: bool,
    uninteresting: bool,
    /// Parsed in this walk: libgit2 marks ancestors uninteresting only through parsed commits.
    parsed: bool,
}

impl<'r> CommitGraph<'r> {
    pub fn new(repo: &'r Repository) -> Result<CommitGraph<'r>> {
        Ok(CommitGraph {
            odb: repo.odb()?,
            index: HashMap::new(),
            nodes: Vec::new(),
            keep_messages: false,
        })
    }

    /// A graph that also keeps each commit's message: one read of each commit gives a walk both
    /// its links and what it lists.
    pub fn keeping_messages(repo: &'r Repository) -> Result<CommitGraph<'r>> {
        Ok(CommitGraph {
            keep_messages: true,
            ..CommitGraph::new(repo)?
        })
    }

    /// The commits reachable from `from` and not from `hidden`, in the order libgit2's revwalk
    /// yields them after `push(from)` and `hide(hidden)` without sorting flags (newest first by
    /// committer date, as its limited walk meets them): the same answer, commits read once per
    /// graph instead of once per walk.
    pub fn only_in(&mut self, from: Oid, hidden: Oid) -> Result<Vec<Oid>> {
        let (walk, found) = self.limited(from, &[hidden])?;
        Ok(found
            .into_iter()
            .filter(|&n| !walk.get(n).uninteresting)
            .map(|n| self.nodes[n].id)
            .collect())
    }

    /// The commits reachable from `from` and not from any of `hidden`, in the order libgit2's
    /// revwalk yields them after `push(from)`, `hide(h)` for each of `hidden` in turn and
    /// `Sort::TOPOLOGICAL | Sort::REVERSE`: oldest first, parents before children.
    pub fn oldest_first(&mut self, from: Oid, hidden: &[Oid]) -> Result<Vec<Oid>> {
        let (walk, found) = self.limited(from, hidden)?;
        let mut out = self.topological(&walk, &found);
        out.reverse();
        Ok(out.into_iter().map(|n| self.nodes[n].id).collect())
    }

    /// libgit2's `prepare_walk` up to its `limit_list`: the walk's flags and the commits it met
    /// while interesting, in the order met.
    fn limited(&mut self, from: Oid, hidden: &[Oid]) -> Result<(Walk, Vec<usize>)> {
        let mut walk = Walk {
            flags: Vec::new(),
            list: VecDeque::new(),
        };
        // `git_revwalk_push` and `git_revwalk_hide` each put their commit at the head of the
        // user input (a commit already hidden is not added again), which is then taken in
        // order: the last hidden commit first, the pushed one last.
        let mut input = vec![self.node(from)];
        for &id in hidden {
            let n = self.node(id);
            if !walk.get(n).uninteresting {
                walk.flag(n).uninteresting = true;
                input.push(n);
            }
        }
        input.reverse();
        let mut commits = Vec::new();
        for node in input {
            self.parse(&mut walk, node)?;
            if walk.get(node).uninteresting {
                self.mark_parents_uninteresting(&mut walk, node);
            }
            if !walk.get(node).seen {
                walk.flag(node).seen = true;
                commits.push(node);
            }
        }
        walk.list = commits.into();
        let found = self.limit_list(&mut walk)?;
        Ok((walk, found))
    }

    /// libgit2's `sort_in_topological_order` without time sorting, then its iteration, which
    /// skips the commits that became uninteresting after the limited walk met them: children
    /// before parents, each line of descent followed as far as it goes (a stack).
    fn topological(&self, walk: &Walk, found: &[usize]) -> Vec<usize> {
        let mut in_degree = vec![0u32; self.nodes.len()];
        for &n in found {
            in_degree[n] = 1;
        }
        for &n in found {
            for &p in self.parents_of(walk, n) {
                if in_degree[p] > 0 {
                    in_degree[p] += 1;
                }
            }
        }
        // The tips, in the order the walk met them: a stack, so the first met is popped first.
        let mut stack: Vec<usize> = found
            .iter()
            .copied()
            .filter(|&n| in_degree[n] == 1)
            .collect();
        stack.reverse();
        let mut out = Vec::with_capacity(found.len());
        while let Some(next) = stack.pop() {
            for &p in self.parents_of(walk, next) {
                if in_degree[p] == 0 {
                    continue;
                }
                in_degree[p] -= 1;
                if in_degree[p] == 1 {
                    stack.push(p);
                }
            }
            in_degree[next] = 0;
            if !walk.get(next).uninteresting {
                out.push(next);
            }
        }
        out
    }

    /// The parents of a commit a walk has yielded.
    pub fn parents(&self, id: Oid) -> Vec<Oid> {
        self.header(id)
            .map(|h| h.parents.iter().map(|&p| self.nodes[p].id).collect())
            .unwrap_or_default()
    }

    /// The tree of a commit a walk has yielded or parsed as a parent of one.
    pub fn tree(&self, id: Oid) -> Option<Oid> {
        self.header(id).map(|h| h.tree)
    }

    /// The message of a commit a walk has yielded, when the graph keeps messages.
    pub fn message(&self, id: Oid) -> Option<&[u8]> {
        self.header(id)?.message.as_deref()
    }

    fn header(&self, id: Oid) -> Option<&Header> {
        self.nodes[*self.index.get(&id)?].header.as_ref()
    }

    fn node(&mut self, id: Oid) -> usize {
        if let Some(&n) = self.index.get(&id) {
            return n;
        }
        self.nodes.push(Node { id, header: None });
        self.index.insert(id, self.nodes.len() - 1);
        self.nodes.len() - 1
    }

    /// `git_commit_list_parse`: the header read from the object database the first time any walk
    /// needs it; a missing commit is an error, as for libgit2.
    fn parse(&mut self, walk: &mut Walk, n: usize) -> Result<()> {
        if walk.get(n).parsed {
            return Ok(());
        }
        if self.nodes[n].header.is_none() {
            let id = self.nodes[n].id;
            let object = crate::repo::read_uncached(&self.odb, id)
                .with_context(|| format!("cannot read commit {id}"))?;
            anyhow::ensure!(
                object.kind() == git2::ObjectType::Commit,
                "{id} is a {}, not a commit",
                object.kind()
            );
            let links = parse_commit_links(object.data()).with_context(|| {
                format!(
                    "commit {id} is malformed: its tree, parent or committer lines cannot be read"
                )
            })?;
            let message = self
                .keep_messages
                .then(|| commit_message(object.data()).into());
            drop(object);
            // A commit's own parents: libgit2's revwalk applies neither `info/grafts` nor a
            // shallow clone's boundary (a test checks), so a walk past that boundary fails there
            // as it does.
            let parents = links.parents.iter().map(|&p| self.node(p)).collect();
            self.nodes[n].header = Some(Header {
                parents,
                time: links.time,
                tree: links.tree,
                message,
            });
        }
        walk.flag(n).parsed = true;
        Ok(())
    }

    fn time(&self, n: usize) -> i64 {
        self.nodes[n].header.as_ref().map_or(0, |h| h.time)
    }

    /// The parents of `n` as the walk knows them: none until it parsed `n`.
    fn parents_of(&self, walk: &Walk, n: usize) -> &[usize] {
        match (&self.nodes[n].header, walk.get(n).parsed) {
            (Some(h), true) => &h.parents,
            _ => &[],
        }
    }

    /// `git_commit_list_insert_by_date`: after every commit at least as new.
    fn insert_by_date(&self, walk: &mut Walk, n: usize) {
        let time = self.time(n);
        let at = walk
            .list
            .iter()
            .position(|&m| self.time(m) < time)
            .unwrap_or(walk.list.len());
        walk.list.insert(at, n);
    }

    /// libgit2's `mark_parents_uninteresting`: down every path of parsed commits, stopping at
    /// commits already marked.
    fn mark_parents_uninteresting(&self, walk: &mut Walk, n: usize) {
        let mut pending: Vec<usize> = self.parents_of(walk, n).to_vec();
        while let Some(start) = pending.pop() {
            let mut next = Some(start);
            while let Some(c) = next {
                if walk.get(c).uninteresting {
                    break;
                }
                walk.flag(c).uninteresting = true;
                if !walk.get(c).parsed {
                    break;
                }
                let parents = self.parents_of(walk, c);
                pending.extend_from_slice(parents);
                next = parents.first().copied();
            }
        }
    }

    /// libgit2's `add_parents_to_list`.
    fn add_parents_to_list(&mut self, walk: &mut Walk, n: usize) -> Result<()> {
        if walk.get(n).added {
            return Ok(());
        }
        walk.flag(n).added = true;
        let parents = self.parents_of(walk, n).to_vec();
        if walk.get(n).uninteresting {
            for p in parents {
                walk.flag(p).uninteresting = true;
                self.parse(walk, p)?;
                self.mark_parents_uninteresting(walk, p);
                walk.flag(p).seen = true;
                self.insert_by_date(walk, p);
            }
            return Ok(());
        }
        for p in parents {
            self.parse(walk, p)?;
            if !walk.get(p).seen {
                walk.flag(p).seen = true;
                self.insert_by_date(walk, p);
            }
        }
        Ok(())
    }

    /// libgit2's `limit_list`: the commits met while interesting, in the order met.
    fn limit_list(&mut self, walk: &mut Walk) -> Result<Vec<usize>> {
        let mut slop = SLOP;
        let mut time = i64::MAX;
        let mut found = Vec::new();
        while let Some(n) = walk.list.pop_front() {
            self.add_parents_to_list(walk, n)?;
            if walk.get(n).uninteresting {
                self.mark_parents_uninteresting(walk, n);
                slop = self.still_interesting(walk, time, slop);
                if slop > 0 {
                    continue;
                }
                break;
            }
            time = self.time(n);
            found.push(n);
        }
        Ok(found)
    }

    /// libgit2's `still_interesting`.
    fn still_interesting(&self, walk: &Walk, time: i64, slop: u32) -> u32 {
        let Some(&first) = walk.list.front() else {
            return 0;
        };
        if time <= self.time(first) {
            return SLOP;
        }
        let interesting = walk
            .list
            .iter()
            .any(|&n| !walk.get(n).uninteresting || self.time(n) > time);
        if interesting {
            SLOP
        } else {
            slop - 1
        }
    }
}

/// The message of a raw commit as libgit2's `git_commit_message` gives it: after the header's
/// first empty line, leading newlines dropped, up to a NUL (libgit2 keeps it as a C string).
fn commit_message(data: &[u8]) -> &[u8] {
    let start = memchr::memmem::find(data, b"\n\n").map_or(data.len(), |i| i + 2);
    let message = &data[start..];
    let message = &message[..memchr::memchr(0, message).unwrap_or(message.len())];
    let leading = message.iter().take_while(|&&b| b == b'\n').count();
    &message[leading..]
}

/// libgit2's `git_commit_summary` of a message from `git_commit_message`: its first paragraph
/// (up to an empty or blank line), each run of whitespace holding a newline made one space,
/// other runs kept, trailing whitespace dropped; empty when not UTF-8, as git2's `summary()`.
pub fn summary(message: &[u8]) -> String {
    // libgit2's `git__isspace` (C's `isspace` in the C locale).
    let is_space = |b: u8| matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r');
    // True when the newline at `i` ends the paragraph: nothing after it but a blank line.
    let ends_paragraph = |i: usize| {
        let rest = &message[i + 1..];
        rest.iter()
            .find(|&&b| !(is_space(b) && b != b'\n'))
            .is_none_or(|&b| b == b'\n')
    };
    let first_line = memchr::memchr(b'\n', message).unwrap_or(message.len());
    if first_line == message.len() || ends_paragraph(first_line) {
        // One line (most subjects): its whitespace runs are kept as they are, trailing ones
        // dropped.
        let line = &message[..first_line];
        let end = line
            .iter()
            .rposition(|&b| !is_space(b))
            .map_or(0, |i| i + 1);
        return String::from_utf8(line[..end].to_vec()).unwrap_or_default();
    }
    let mut out = Vec::new();
    let mut space: Option<(usize, bool)> = None;
    for (i, &c) in message.iter().enumerate() {
        if c == b'\n' && ends_paragraph(i) {
            break;
        }
        if is_space(c) {
            let (_, newline) = space.get_or_insert((i, false));
            *newline |= c == b'\n';
        } else {
            if let Some((start, newline)) = space.take() {
                if newline {
                    out.push(b' ');
                } else {
                    out.extend_from_slice(&message[start..i]);
                }
            }
            out.push(c);
        }
    }
    String::from_utf8(out).unwrap_or_default()
}

/// One walk's state: flags per commit and the list of commits still to visit, by date.
struct Walk {
    flags: Vec<Flags>,
    list: VecDeque<usize>,
}

impl Walk {
    fn get(&self, n: usize) -> Flags {
        self.flags.get(n).copied().unwrap_or_default()
    }

    fn flag(&mut self, n: usize) -> &mut Flags {
        if n >= self.flags.len() {
            self.flags.resize(n + 1, Flags::default());
        }
        &mut self.flags[n]
    }
}

#[cfg(test)]
pub(super) mod tests {
    use arbtest::arbitrary::{self, Unstructured};
    use git2::{Commit, Oid, Repository, Sort};

    use super::CommitGraph;
    use crate::fixtures::history;

    /// Files the generated commits change.
    pub const FILES: [&str; 4] = ["src/a/x.cs", "src/a/y.cs", "src/b/z.cs", "top.txt"];

    /// A random history of a few dozen commits: branches, merges of two or three parents, a
    /// second root now and then, dates from a narrow range (many equal, some older than their
    /// parents). Each commit changes one or two of `FILES`; a commit whose subject says
    /// `on-fork` stands for one the fork already has.
    pub fn random_history(repo: &Repository, u: &mut Unstructured) -> arbitrary::Result<Vec<Oid>> {
        let count = u.int_in_range(2..=40)?;
        let mut commits: Vec<Oid> = Vec::new();
        for i in 0..count {
            let mut parents: Vec<Commit> = Vec::new();
            if i > 0 && !u.ratio(1, 15)? {
                for _ in 0..u.int_in_range(1..=3)?.min(i) {
                    let p = commits[u.choose_index(commits.len())?];
                    if !parents.iter().any(|c| c.id() == p) {
                        parents.push(repo.find_commit(p).unwrap());
                    }
                }
            }
            let mut changes = vec![(*u.choose(&FILES)?, Some(format!("{i}")))];
            let second = *u.choose(&FILES)?;
            if u.ratio(1, 3)? && second != changes[0].0 {
                changes.push((second, Some(format!("{i} too"))));
            }
            let changes: Vec<(&str, Option<&str>)> =
                changes.iter().map(|(p, c)| (*p, c.as_deref())).collect();
            let subject = if u.ratio(1, 5)? {
                "on-fork"
            } else {
                "upstream"
            };
            let who = history::signature("Dev", "dev@example.com", u.int_in_range(0..=12)?);
            let id = history::commit_with_parents(
                repo,
                None,
                &parents,
                &changes,
                &format!("{subject} {i}"),
                &who,
            )
            .unwrap();
            commits.push(id);
        }
        Ok(commits)
    }

    /// What libgit2's revwalk yields for `push(from)` and `hide(hidden)`.
    pub fn libgit2_walk(repo: &Repository, from: Oid, hidden: Oid) -> Vec<Oid> {
        let mut walk = repo.revwalk().unwrap();
        walk.push(from).unwrap();
        walk.hide(hidden).unwrap();
        walk.map(Result::unwrap).collect()
    }

    #[test]
    fn walks_yield_what_libgit2s_revwalk_yields_in_its_order() {
        arbtest::arbtest(|u| {
            let dir = tempfile::tempdir().unwrap();
            let repo = Repository::init_bare(dir.path()).unwrap();
            let commits = random_history(&repo, u)?;
            // One graph for every walk, as a run shares it between its conflicts.
            let mut graph = CommitGraph::new(&repo).unwrap();
            for _ in 0..20 {
                let (from, hidden) = (*u.choose(&commits)?, *u.choose(&commits)?);
                assert_eq!(
                    graph.only_in(from, hidden).unwrap(),
                    libgit2_walk(&repo, from, hidden),
                    "{from} without {hidden}"
                );
            }
            Ok(())
        })
        .budget_ms(3_000);
    }

    #[test]
    fn topological_walks_yield_what_libgit2s_reverse_topological_revwalk_yields() {
        arbtest::arbtest(|u| {
            let dir = tempfile::tempdir().unwrap();
            let repo = Repository::init_bare(dir.path()).unwrap();
            let commits = random_history(&repo, u)?;
            let mut graph = CommitGraph::keeping_messages(&repo).unwrap();
            for _ in 0..20 {
                let from = *u.choose(&commits)?;
                let hidden: Vec<Oid> = (0..u.int_in_range(1..=3)?)
                    .map(|_| u.choose(&commits).copied())
                    .collect::<arbitrary::Result<_>>()?;
                let mut walk = repo.revwalk().unwrap();
                walk.set_sorting(Sort::TOPOLOGICAL | Sort::REVERSE).unwrap();
                walk.push(from).unwrap();
                for h in &hidden {
                    walk.hide(*h).unwrap();
                }
                let theirs: Vec<Oid> = walk.map(Result::unwrap).collect();
                let ours = graph.oldest_first(from, &hidden).unwrap();
                assert_eq!(ours, theirs, "{from} without {hidden:?}");
                for id in ours {
                    let commit = repo.find_commit(id).unwrap();
                    assert_eq!(graph.message(id), Some(commit.message_bytes()));
                    assert_eq!(graph.parents(id), commit.parent_ids().collect::<Vec<_>>());
                }
            }
            Ok(())
        })
        .budget_ms(3_000);
    }

    #[test]
    fn summaries_are_libgit2s() {
        let dir = tempfile::tempdir().unwrap();
        let repo = Repository::init_bare(dir.path()).unwrap();
        let who = history::signature("Dev", "dev@example.com", 0);
        let tree = repo.treebuilder(None).unwrap().write().unwrap();
        let tree = repo.find_tree(tree).unwrap();
        let messages = [
            "Fix it (#1)\n\nBody\n",
            "\n\nLeading newlines\n",
            "Two\nlines  joined\t here \n \t\nthird paragraph",
            "Spaces \t kept  \r\nand\x0b\x0cnewline runs\n",
            "Trailing space   ",
            "  \tLeading  and inner\t\tspace \n\nBody",
            "Blank second line\n \t \nBody",
            "Last line  \n  follows\n",
            "",
            "\n",
            "caf\u{e9} \u{2014} unicode\n",
            "Before a NUL\0 after it\n",
        ];
        for message in messages {
            let id = repo
                .commit(None, &who, &who, message, &tree, &[])
                .unwrap_or_else(|_| {
                    // libgit2 refuses a message with a NUL: write the raw object.
                    let raw = format!(
                        "tree {}\nauthor Dev <dev@example.com> 0 +0000\ncommitter Dev <dev@example.com> 0 +0000\n\n{message}",
                        tree.id()
                    );
                    repo.odb()
                        .unwrap()
                        .write(git2::ObjectType::Commit, raw.as_bytes())
                        .unwrap()
                });
            let commit = repo.find_commit(id).unwrap();
            let odb = repo.odb().unwrap();
            let raw = odb.read(id).unwrap();
            let message = super::commit_message(raw.data());
            assert_eq!(message, commit.message_bytes(), "{message:?}");
            assert_eq!(
                super::summary(message),
                commit.summary().unwrap_or_default(),
                "{message:?}"
            );
        }
        // Not UTF-8: git2's `summary()` gives none, listed as an empty subject.
        assert_eq!(super::summary(b"caf\xe9\n"), "");
    }

    #[test]
    fn graft_and_shallow_files_change_nothing_as_for_libgit2s_revwalk() {
        let dir = tempfile::tempdir().unwrap();
        let repo = Repository::init_bare(dir.path()).unwrap();
        let mut commits: Vec<Oid> = Vec::new();
        for day in 0..6 {
            let parents: Vec<Commit> = commits
                .last()
                .map(|p| repo.find_commit(*p).unwrap())
                .into_iter()
                .collect();
            let who = history::signature("Dev", "dev@example.com", day);
            let change = [(FILES[0], Some(format!("{day}")))];
            let change: Vec<(&str, Option<&str>)> =
                change.iter().map(|(p, c)| (*p, c.as_deref())).collect();
            let id =
                history::commit_with_parents(&repo, None, &parents, &change, "c", &who).unwrap();
            commits.push(id);
        }
        // The fifth commit grafted onto the first; the clone shallow below the third.
        std::fs::create_dir_all(dir.path().join("info")).unwrap();
        std::fs::write(
            dir.path().join("info/grafts"),
            format!("{} {}\n", commits[4], commits[0]),
        )
        .unwrap();
        std::fs::write(dir.path().join("shallow"), format!("{}\n", commits[2])).unwrap();
        let repo = Repository::open_bare(dir.path()).unwrap();
        let mut graph = CommitGraph::new(&repo).unwrap();
        for (from, hidden) in [(3, 0), (2, 1), (5, 1), (5, 0)] {
            let (from, hidden) = (commits[from], commits[hidden]);
            let ours = graph.only_in(from, hidden).unwrap();
            let names = |ids: &[Oid]| -> Vec<usize> {
                ids.iter()
                    .map(|id| commits.iter().position(|c| c == id).unwrap())
                    .collect()
            };
            assert_eq!(
                names(&ours),
                names(&libgit2_walk(&repo, from, hidden)),
                "{from} without {hidden}"
            );
        }
        assert_eq!(graph.only_in(commits[5], commits[1]).unwrap().len(), 4);
    }
}
