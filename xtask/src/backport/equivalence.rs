//! "Already applied" detection: is an upstream fix already on the fork branch — as an ancestor,
//! as a commit whose `(cherry picked from commit …)` trailer names it, or as a commit with the same
//! stable patch-id (after path remapping)? Patch-ids are computed only where a decision needs
//! them: a fork commit's only when it changes exactly the files the fix changes (equal patch-ids
//! need the same files), and the fix's only when such a commit exists. Fork commits' patch-ids are
//! cached by commit id in the repository's git directory, since computing them is the expensive
//! part.

use std::cell::OnceCell;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::path::PathBuf;

use anyhow::{Context, Result};
use git2::{Commit, DiffOptions, Oid, Repository};

use super::changes::{Entry, PathHistory, TreeDiff};
use super::pick::{patch_id_of, ReducedFix};

/// How far back the fork branch is scanned when it shares no history with the upstream.
pub(super) const UNRELATED_SCAN_LIMIT: usize = 10_000;

/// Why a fix counts as already applied.
#[derive(
    Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum Evidence {
    /// The upstream commit is an ancestor of the branch.
    Ancestor,
    /// A fork commit's `(cherry picked from commit …)` trailer names it (or the commit it was
    /// itself picked from).
    Trailer,
    /// A fork commit has the same stable patch-id.
    PatchId,
    /// Picking it changes nothing: the fork already has the same content.
    Empty,
}

/// The fork branch's history as far as equivalence goes: trailers and patch-ids of its commits.
pub struct ForkHistory<'r> {
    /// A second handle on the repository whose object writes stay in memory: patch-ids are
    /// computed from throwaway trees that must not land in the fork's object database. Opened
    /// when first needed: most runs compute no patch-id.
    scratch: OnceCell<Option<Repository>>,
    trailers: HashMap<Oid, Oid>,
    /// The commits this run made, in order, with the fixes they carry.
    run_commits: Vec<RunCommit>,
    scanned: HashSet<Oid>,
    /// Fork tips whose commits not shared with an upstream commit were scanned: a tip with no
    /// commits of its own (a merge base itself) is in `scanned` only through this.
    scanned_tips: HashSet<Oid>,
    /// The single-parent fork commits scanned, in walk order: (commit, parent's tree, tree).
    fork_commits: Vec<(Oid, Oid, Oid)>,
    /// Upstream commits scanned against, and whether each is an ancestor of the fork branch.
    covered: Vec<(Oid, bool)>,
    /// The merge bases the last full scan stopped at (none for unrelated histories).
    merge_bases: Vec<Oid>,
    /// Which fork commits change the fix's files (to rule out patch-id candidates).
    paths: PathHistory<'r>,
    /// Whether such a commit changes anything else too (which rules it out as well).
    diff: TreeDiff<'r>,
    cache: PatchIdCache,
}

impl<'r> ForkHistory<'r> {
    /// An empty history backed by the repository's patch-id cache.
    pub fn new(repo: &'r Repository) -> Result<ForkHistory<'r>> {
        Ok(ForkHistory {
            scratch: OnceCell::new(),
            trailers: HashMap::new(),
            run_commits: Vec::new(),
            scanned: HashSet::new(),
            scanned_tips: HashSet::new(),
            fork_commits: Vec::new(),
            covered: Vec::new(),
            merge_bases: Vec::new(),
            paths: PathHistory::new(repo)?,
            diff: TreeDiff::new(repo)?,
            cache: PatchIdCache::load(repo),
        })
    }

    /// Scans the fork commits reachable from `tip` that are not shared with `upstream` (all of
    /// them up to a limit when the histories are unrelated), and says whether `upstream` is an
    /// ancestor of `tip`. Commits already scanned are skipped.
    ///
    /// The merge-base walk behind both answers crosses the whole divergence of the branches, so
    /// it is done once per run where possible: when `tip` is already scanned (the run's own
    /// commits are recorded) and `upstream` descends from an upstream commit scanned against
    /// before, the scanned commits already cover it, and it is an ancestor only if that one was.
    pub fn scan(&mut self, repo: &Repository, tip: Oid, upstream: Oid) -> Result<bool> {
        if tip == upstream {
            return Ok(true);
        }
        if self.scanned_tips.contains(&tip) {
            for &(earlier, on_fork) in self.covered.iter().rev() {
                if earlier == upstream {
                    return Ok(on_fork);
                }
                if !on_fork && descends_soon(repo, upstream, earlier)? {
                    // Covered too, and not on the fork: the next fix's walk (newest covered
                    // first) stops here instead of going back to the first fix every time.
                    self.covered.push((upstream, false));
                    return Ok(false);
                }
            }
        }
        let mut walk = repo.revwalk()?;
        walk.push(tip)?;
        // A fork branch still at an older point of the upstream's history (a fresh fork at a
        // release tag) is its own merge base with every later fix. A path of parents from the
        // fix down to it proves that after a few hundred commits, where the merge-base walk reads
        // every commit in between (git's `merge-base --is-ancestor` too, without a commit-graph).
        // Not finding one proves nothing, and the walk decides.
        self.merge_bases = if descends_soon(repo, upstream, tip)? {
            vec![tip]
        } else {
            match repo.merge_bases(tip, upstream) {
                Ok(bases) => bases.iter().copied().collect(),
                Err(_) => Vec::new(),
            }
        };
        for base in &self.merge_bases {
            walk.hide(*base)?;
        }
        let (limit, on_fork) = match self.merge_bases.as_slice() {
            [] => (UNRELATED_SCAN_LIMIT, false),
            bases => (usize::MAX, bases.contains(&upstream)),
        };
        self.covered.push((upstream, on_fork));
        self.scanned_tips.insert(tip);
        for id in walk.take(limit) {
            let id = id?;
            if !self.scanned.insert(id) {
                continue;
            }
            let commit = repo.find_commit(id)?;
            for picked in cherry_picked_from(&commit) {
                self.trailers.entry(picked).or_insert(id);
            }
            if commit.parent_count() == 1 {
                let parent_tree = repo.find_commit(commit.parent_id(0)?)?.tree_id();
                self.fork_commits.push((id, parent_tree, commit.tree_id()));
            }
        }
        Ok(on_fork)
    }

    /// Where the last full scan stopped: the merge bases of the fork tip and the upstream commit.
    pub fn merge_bases(&self) -> &[Oid] {
        &self.merge_bases
    }

    /// The stable patch-id of a single-parent commit (a fork commit, or an upstream one when no
    /// path is remapped) that changes exactly the files `paths`, from the cache when known.
    pub fn commit_patch_id(
        &mut self,
        repo: &Repository,
        commit: &Commit,
        paths: &[&str],
    ) -> Result<Option<Oid>> {
        if let Some(cached) = self.cache.get(commit.id()) {
            return Ok(cached);
        }
        // Limited to the files it changes (literal paths, so libgit2 reads only the directories
        // on their way), the diff of the commit's own trees has exactly its deltas: no
        // throwaway trees are built, and no other directory is compared.
        let mut opts = DiffOptions::new();
        opts.disable_pathspec_match(true);
        for path in paths {
            opts.pathspec(*path);
        }
        let diff = repo.diff_tree_to_tree(
            Some(&commit.parent(0)?.tree()?),
            Some(&commit.tree()?),
            Some(&mut opts),
        )?;
        let pid = match diff.deltas().len() {
            0 => None,
            _ => Some(diff.patchid(None)?),
        };
        self.cache.insert(commit.id(), pid);
        Ok(pid)
    }

    /// The stable patch-id of a reduced change, computed without writing to the repository.
    pub fn patch_id(&self, repo: &Repository, fix: &ReducedFix) -> Result<Option<Oid>> {
        patch_id_of(
            self.scratch
                .get_or_init(|| scratch(repo))
                .as_ref()
                .unwrap_or(repo),
            &fix.before,
            &fix.after,
        )
    }

    /// Records a commit made during this run, carrying `fix` (the reduced change of `upstream`).
    /// Its patch-id is the fix's, computed only if a later fix needs it.
    pub fn record(&mut self, commit: Oid, upstream: &Commit, fix: &ReducedFix) {
        self.scanned.insert(commit);
        self.scanned_tips.insert(commit);
        self.trailers.insert(upstream.id(), commit);
        self.run_commits.push(RunCommit {
            id: commit,
            before: fix.before.clone(),
            after: fix.after.clone(),
            patch_id: None,
        });
    }

    /// True when no fork commit is scanned and the run made none: nothing can share a patch-id.
    pub fn has_no_commits(&self) -> bool {
        self.fork_commits.is_empty() && self.run_commits.is_empty()
    }

    /// The fork commit whose trailer names `upstream` or a commit `upstream` was picked from.
    pub fn by_trailer(&self, upstream: &Commit) -> Option<Oid> {
        self.by_trailer_of(upstream.id(), upstream.message_bytes())
    }

    /// `by_trailer` for the commit `upstream` with the message `message` (as libgit2's
    /// `git_commit_message` gives it).
    pub fn by_trailer_of(&self, upstream: Oid, message: &[u8]) -> Option<Oid> {
        std::iter::once(upstream)
            .chain(picked_from(message))
            .find_map(|id| self.trailers.get(&id).copied())
    }

    /// The first scanned fork commit (in walk order), else the first commit of this run, with the
    /// same stable patch-id as `fix`.
    ///
    /// A patch-id is the sum of a hash per changed file that starts with a header naming the
    /// file, so only a commit that changes exactly the fix's files can have the same one (as
    /// `git cherry` matches too): the others are ruled out by comparing the fix's paths between
    /// the commit's trees (skipping equal subtrees, memoised across fixes), then by a diff of
    /// the commit that stops at its first change to another file. Patch-ids — the fix's own
    /// included — are computed only for the commits left.
    pub fn by_patch_id(&mut self, repo: &Repository, fix: &ReducedFix) -> Result<Option<Oid>> {
        let fix_paths: Vec<&str> = fix.upstream_paths.keys().map(String::as_str).collect();
        // The fix's files and every directory above them: where the diff of a commit changing
        // only those files goes.
        let within: HashSet<String> = fix_paths
            .iter()
            .flat_map(|p| p.match_indices('/').map(|(i, _)| &p[..i]).chain([*p]))
            .map(str::to_string)
            .collect();
        let mut fix_patch_id = None;
        for i in 0..self.fork_commits.len() {
            let (id, parent_tree, tree) = self.fork_commits[i];
            let mut changes_all = true;
            for path in &fix_paths {
                if !self.paths.file_differs(parent_tree, tree, path)? {
                    changes_all = false;
                    break;
                }
            }
            if !changes_all {
                continue;
            }
            let only_fix_files = self
                .diff
                .changed_files_within(Some(parent_tree), Some(tree), &within)?
                .is_some_and(|changes| changes.len() == fix_paths.len());
            if !only_fix_files {
                continue;
            }
            let Some(wanted) = once(&mut fix_patch_id, || self.patch_id(repo, fix))? else {
                return Ok(None);
            };
            if self.commit_patch_id(repo, &repo.find_commit(id)?, &fix_paths)? == Some(wanted) {
                return Ok(Some(id));
            }
        }
        let odb_repo = self
            .scratch
            .get_or_init(|| scratch(repo))
            .as_ref()
            .unwrap_or(repo);
        for candidate in &mut self.run_commits {
            if !candidate.changes_exactly(&fix.upstream_paths) {
                continue;
            }
            let Some(wanted) = once(&mut fix_patch_id, || {
                patch_id_of(odb_repo, &fix.before, &fix.after)
            })?
            else {
                return Ok(None);
            };
            let (before, after) = (&candidate.before, &candidate.after);
            if once(&mut candidate.patch_id, || {
                patch_id_of(odb_repo, before, after)
            })? == Some(wanted)
            {
                return Ok(Some(candidate.id));
            }
        }
        Ok(None)
    }

    /// Writes new cache entries (not called by dry runs, which change nothing).
    pub fn save_cache(&self) -> Result<()> {
        self.cache.save()
    }

    /// The patch-id cache with this history's new entries, to save once the run succeeded.
    pub fn into_cache(self) -> PatchIdCache {
        self.cache
    }
}

/// How much older than `earlier` the search of `descends_soon` goes before it gives up: commit
/// dates are usually, but not always, later than their parents'.
const DESCENT_DATE_SLACK_SECONDS: i64 = 24 * 60 * 60;

/// How many commits the search of `descends_soon` reads at most. When it fails, the merge-base
/// walk reads the same commits again, from libgit2's object cache while they fit there (a few
/// MiB; `repo::MemoryBudget`): a fork with commits of its own, the usual case, then costs at
/// most this many cache lookups more.
const DESCENT_SEARCH_LIMIT: usize = 2_000;

/// True when `upstream` is found to descend from `earlier` among the commits not much older than
/// `earlier` (reading at most `DESCENT_SEARCH_LIMIT` of them); false when not found there, which is all a caller may rely on: false means "not
/// known", and the full walk decides. A path found is a proof, whatever the commit dates say.
///
/// Depth first, first parents first: down the branch to `earlier`'s date, then into the side
/// branches merged nearest to it, where a release branch joins. A search newest first would read
/// every commit newer than `earlier` before it (1,066 from a vs17.8 fix of dotnet/msbuild down to
/// v17.3.1, where this reads 270). A fix on another branch (a vs16.11 fix among vs17.8 ones) is
/// older than `earlier` or soon runs into older commits, so the search stays short. Commits are
/// read raw, the way the merge-base walk reads them, so that walk finds them in libgit2's object
/// cache when the search fails.
fn descends_soon(repo: &Repository, upstream: Oid, earlier: Oid) -> Result<bool> {
    let odb = repo.odb()?;
    let Some(target) = CommitLinks::read(&odb, earlier)? else {
        return Ok(false);
    };
    let oldest = target.time - DESCENT_DATE_SLACK_SECONDS;
    let mut stack = vec![upstream];
    let mut seen = HashSet::from([upstream]);
    let mut read = 0;
    while let Some(id) = stack.pop() {
        if id == earlier {
            return Ok(true);
        }
        read += 1;
        if read > DESCENT_SEARCH_LIMIT {
            return Ok(false);
        }
        // A parent missing from a shallow clone ends that path.
        let Some(commit) = CommitLinks::read(&odb, id)? else {
            continue;
        };
        if commit.time < oldest {
            continue;
        }
        for parent in commit.parents.into_iter().rev() {
            if seen.insert(parent) {
                stack.push(parent);
            }
        }
    }
    Ok(false)
}

/// What a history search needs of a commit: its parents, its committer date and its tree.
pub(super) struct CommitLinks {
    pub(super) parents: Vec<Oid>,
    pub(super) time: i64,
    pub(super) tree: Oid,
}

impl CommitLinks {
    /// Reads the commit's header lines from the object database; `None` when the object is
    /// missing (beyond a shallow clone's boundary).
    fn read(odb: &git2::Odb, id: Oid) -> Result<Option<CommitLinks>> {
        let object = match odb.read(id) {
            Ok(object) => object,
            Err(e) if e.code() == git2::ErrorCode::NotFound => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        if object.kind() != git2::ObjectType::Commit {
            anyhow::bail!("{id} is a {}, not a commit", object.kind());
        }
        let links = parse_commit_links(object.data());
        links.map(Some).with_context(|| {
            format!("commit {id} is malformed: its tree, parent or committer lines cannot be read")
        })
    }
}

/// The parents, committer date and tree in a raw commit's header; `None` when they cannot be
/// read.
pub(super) fn parse_commit_links(data: &[u8]) -> Option<CommitLinks> {
    let mut parents = Vec::new();
    let mut time = None;
    let mut tree = None;
    for line in data.split(|&b| b == b'\n') {
        if line.is_empty() {
            break;
        }
        if let Some(hex) = line.strip_prefix(b"tree ") {
            tree = Some(Oid::from_str(std::str::from_utf8(hex).ok()?).ok()?);
        } else if let Some(hex) = line.strip_prefix(b"parent ") {
            parents.push(Oid::from_str(std::str::from_utf8(hex).ok()?).ok()?);
        } else if let Some(who) = line.strip_prefix(b"committer ") {
            // `Name <email> <seconds> <zone>`: the name may hold anything up to the `>`.
            let after = &who[memchr::memrchr(b'>', who)? + 1..];
            let seconds = std::str::from_utf8(after).ok()?.split_whitespace().next()?;
            time = Some(seconds.parse::<i64>().ok()?);
        }
    }
    Some(CommitLinks {
        parents,
        time: time?,
        tree: tree?,
    })
}

/// The value in `slot`, computed into it on first use.
fn once(
    slot: &mut Option<Option<Oid>>,
    compute: impl FnOnce() -> Result<Option<Oid>>,
) -> Result<Option<Oid>> {
    if let Some(value) = *slot {
        return Ok(value);
    }
    Ok(*slot.insert(compute()?))
}

/// A commit this run made and the reduced fix it carries (whose patch-id it is known by).
struct RunCommit {
    id: Oid,
    before: BTreeMap<String, Entry>,
    after: BTreeMap<String, Entry>,
    /// Computed on first use.
    patch_id: Option<Option<Oid>>,
}

impl RunCommit {
    /// True when the fix it carries changes exactly the (fork) paths `paths` has.
    fn changes_exactly<V>(&self, paths: &BTreeMap<String, V>) -> bool {
        let mine: BTreeSet<&String> = self.before.keys().chain(self.after.keys()).collect();
        mine.len() == paths.len() && paths.keys().all(|p| mine.contains(p))
    }
}

/// Opens `repo` again with an in-memory object store in front, or `None` when that fails (then
/// the throwaway trees go to the repository itself, which is harmless but slower).
fn scratch(repo: &Repository) -> Option<Repository> {
    let scratch = Repository::open(repo.path()).ok()?;
    scratch.odb().ok()?.add_new_mempack_backend(1000).ok()?;
    Some(scratch)
}

/// The commit ids named by `(cherry picked from commit <id>)` lines in a message.
pub fn cherry_picked_from(commit: &Commit) -> Vec<Oid> {
    picked_from(commit.message_bytes())
}

/// The commit ids named by `(cherry picked from commit <id>)` lines in `message`.
fn picked_from(message: &[u8]) -> Vec<Oid> {
    let message = String::from_utf8_lossy(message);
    message
        .lines()
        .filter_map(|l| {
            l.trim()
                .strip_prefix("(cherry picked from commit ")?
                .strip_suffix(')')
        })
        .filter_map(|id| Oid::from_str(id.trim()).ok())
        .collect()
}

/// Patch-ids of commits, cached in `<git dir>/els/patch-ids` as `<commit> <patch-id|->` lines
/// under a header naming the format. A commit id fixes the commit's content, so an entry never
/// goes stale while the patch-id is computed the same way; a file with another header (an older
/// or newer toolkit's, or one restored from a pipeline cache of either) is ignored and rewritten.
/// The file can be restored into a fresh clone: entries of commits it lacks are never asked for.
pub struct PatchIdCache {
    path: Option<PathBuf>,
    entries: HashMap<Oid, Option<Oid>>,
    dirty: bool,
}

/// The first line of the cache file: bump when the patch-id computation changes.
const PATCH_ID_CACHE_HEADER: &str =
    "# els patch-ids v2: libgit2 stable patch-id against the first parent";

impl PatchIdCache {
    fn load(repo: &Repository) -> PatchIdCache {
        let path = repo.commondir().join("els").join("patch-ids");
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        let mut lines = text.lines();
        let entries = if lines.next() == Some(PATCH_ID_CACHE_HEADER) {
            lines.filter_map(parse_cache_line).collect()
        } else {
            HashMap::new()
        };
        PatchIdCache {
            path: Some(path),
            entries,
            dirty: false,
        }
    }

    fn get(&self, commit: Oid) -> Option<Option<Oid>> {
        self.entries.get(&commit).copied()
    }

    fn insert(&mut self, commit: Oid, pid: Option<Oid>) {
        self.entries.insert(commit, pid);
        self.dirty = true;
    }

    /// Writes the cache when it gained entries.
    pub fn save(&self) -> Result<()> {
        let (Some(path), true) = (&self.path, self.dirty) else {
            return Ok(());
        };
        let mut lines: Vec<String> = self
            .entries
            .iter()
            .map(|(c, p)| {
                format!(
                    "{c} {}",
                    p.map(|p| p.to_string()).unwrap_or_else(|| "-".into())
                )
            })
            .collect();
        lines.sort();
        lines.insert(0, PATCH_ID_CACHE_HEADER.to_string());
        crate::atomic::write(path, lines.join("\n") + "\n")
    }
}

/// `<commit> <patch-id|->`; `None` for a line that is not one.
fn parse_cache_line(line: &str) -> Option<(Oid, Option<Oid>)> {
    let (c, p) = line.split_once(' ')?;
    let pid = if p == "-" {
        None
    } else {
        Some(Oid::from_str(p).ok()?)
    };
    Some((Oid::from_str(c).ok()?, pid))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::history;

    const DAY: i64 = 24 * 60 * 60;

    /// A commit with `parents`, dated `day`, adding the file `name`.
    fn commit_on(repo: &Repository, parents: &[Oid], day: i64, name: &str) -> Oid {
        let who = history::signature("Dev", "dev@example.com", day * DAY);
        let parents: Vec<Commit> = parents
            .iter()
            .map(|p| repo.find_commit(*p).unwrap())
            .collect();
        history::commit_with_parents(repo, None, &parents, &[(name, Some(name))], name, &who)
            .unwrap()
    }

    #[test]
    fn the_scan_agrees_with_the_merge_base_walk_whatever_the_commit_dates() {
        let dir = tempfile::tempdir().unwrap();
        let repo = Repository::init_bare(dir.path()).unwrap();
        let root = commit_on(&repo, &[], 10, "root");
        // A release tag whose branch is merged into main, where later fixes land.
        let tag = commit_on(&repo, &[root], 20, "release");
        let release_fix = commit_on(&repo, &[tag], 21, "release-fix");
        let main = commit_on(&repo, &[root], 30, "main");
        let merge = commit_on(&repo, &[main, release_fix], 31, "merge");
        let fix = commit_on(&repo, &[merge], 40, "fix");
        // A commit dated long before its parent (a wrong clock), and a fix on top of it.
        let skewed = commit_on(&repo, &[tag], 2, "skewed");
        let after_skew = commit_on(&repo, &[skewed], 41, "after-skew");
        // A fork branch with a commit of its own.
        let fork_own = commit_on(&repo, &[tag], 25, "fork-own");

        assert!(
            descends_soon(&repo, fix, tag).unwrap(),
            "down main, then into the release branch"
        );
        assert!(
            !descends_soon(&repo, after_skew, tag).unwrap(),
            "the search stops at the wrong clock: only the walk can tell"
        );
        assert!(!descends_soon(&repo, fix, fork_own).unwrap());

        for tip in [tag, release_fix, fork_own, fix, after_skew] {
            for upstream in [root, tag, release_fix, merge, fix, after_skew, fork_own] {
                if tip == upstream {
                    continue;
                }
                let mut history = ForkHistory::new(&repo).unwrap();
                let on_fork = history.scan(&repo, tip, upstream).unwrap();
                let ancestor = repo.graph_descendant_of(tip, upstream).unwrap();
                assert_eq!(on_fork, ancestor, "is {upstream} on {tip}?");
                let mut walked: Vec<Oid> = repo
                    .merge_bases(tip, upstream)
                    .unwrap()
                    .iter()
                    .copied()
                    .collect();
                walked.sort();
                let mut bases = history.merge_bases().to_vec();
                bases.sort();
                assert_eq!(bases, walked, "merge bases of {tip} and {upstream}");
            }
        }
    }
}
