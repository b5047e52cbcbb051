//! Commit headers (parents, committer date, tree) read once per run, and walks over them that
//! yield exactly what libgit2's revwalk yields for one commit pushed and another hidden, in the
//! same order: several walks across the same divergence then read each commit once, where a
//! libgit2 revwalk per walk inflates every commit again.

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
        })
    }

    /// The commits reachable from `from` and not from `hidden`, in the order libgit2's revwalk
    /// yields them after `push(from)` and `hide(hidden)` without sorting flags (newest first by
    /// committer date, as its limited walk meets them): the same answer, commits read once per
    /// graph instead of once per walk.
    pub fn only_in(&mut self, from: Oid, hidden: Oid) -> Result<Vec<Oid>> {
        let mut walk = Walk {
            flags: Vec::new(),
            list: VecDeque::new(),
        };
        let (pushed, hidden) = (self.node(from), self.node(hidden));
        // `git_revwalk_push` then `git_revwalk_hide` each put their commit at the head of the
        // user input, which is then taken in order: the hidden commit first.
        walk.flag(hidden).uninteresting = true;
        let mut commits = Vec::new();
        for node in [hidden, pushed] {
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
        Ok(found
            .into_iter()
            .filter(|&n| !walk.get(n).uninteresting)
            .map(|n| self.nodes[n].id)
            .collect())
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
            drop(object);
            // A commit's own parents: libgit2's revwalk applies neither `info/grafts` nor a
            // shallow clone's boundary (a test checks), so a walk past that boundary fails there
            // as it does.
            let parents = links.parents.iter().map(|&p| self.node(p)).collect();
            self.nodes[n].header = Some(Header {
                parents,
                time: links.time,
                tree: links.tree,
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
    use git2::{Commit, Oid, Repository};

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
