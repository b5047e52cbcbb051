//! The backport engine: brings upstream fix commits onto a fork branch with git2, in memory.
//!
//! For each fix, in order: is it already on the branch (ancestor, provenance trailer, patch-id,
//! or an empty pick)? Otherwise cherry-pick it in memory (a rename-aware three-way merge of just
//! the files it changes). Clean picks become commits with the original author and message plus
//! `(cherry picked from commit …)` and a `CVE:` trailer; the branch ref moves once at the end, and
//! the worktree is touched only when the branch is checked out there. A conflict stops the run:
//! nothing half-committed, the conflict written into a worktree the way `git cherry-pick` writes
//! it, the state saved for `--continue` / `--abort`. With `skip_conflicts` (triage of a whole
//! Patch Tuesday) a conflicting fix is reported and skipped instead, like `git cherry-pick --skip`.

mod changes;
mod cherry;
mod conflict;
mod equivalence;
mod fix;
mod packed;
mod pick;
mod remap;
mod resolve;
mod state;

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use git2::{build::CheckoutBuilder, Commit, Oid, Repository};
use serde::{Deserialize, Serialize};

pub use cherry::{cherry, CherryEntry, CherryReport};
pub use conflict::ConflictedPath;
pub use conflict::{classify, Prerequisite};
pub use equivalence::Evidence;
pub use fix::{ensure_fix_fits_fork, FixSpec};
pub use packed::{with_packed_writes, Created};
pub use remap::PathMap;

use crate::config::Remap;
use crate::repo;
use equivalence::ForkHistory;
use pick::{PickResult, ReducedFix};
use state::{Phase, SavedState};

/// A backport to run.
#[derive(Clone, Debug, Default)]
pub struct Request {
    /// The fork's repository.
    pub fork: PathBuf,
    /// The branch that receives the fixes.
    pub onto: String,
    /// The upstream repository's name (`runtime`, …): the private ref namespace for fetches.
    pub repo_name: Option<String>,
    /// Where fix commits live when the fork does not have them: a URL or a path.
    pub upstream: Option<String>,
    /// Upstream branches to fetch when looking for abbreviated ids.
    pub upstream_branches: Vec<String>,
    /// Path remaps from upstream to fork layout.
    pub remaps: Vec<Remap>,
    /// The fixes, applied in this order.
    pub fixes: Vec<FixSpec>,
    /// The advisory the fixes belong to, recorded as a `CVE:` trailer.
    pub cve: Option<String>,
    /// The parent (1-based) to pick merge commits against.
    pub mainline: Option<u32>,
    /// Decide every outcome in memory and change nothing.
    pub dry_run: bool,
    /// Report a conflicting fix as `Skipped` and go on with the next one instead of stopping.
    pub skip_conflicts: bool,
    /// Where to create a worktree for a conflict when the branch is not checked out anywhere
    /// (default: `<fork>.els-backport` beside the fork).
    pub conflict_worktree: Option<PathBuf>,
    /// No progress output on stderr.
    pub quiet: bool,
}

/// What happened to one fix.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum FixStatus {
    /// A new commit on the branch carries it.
    Applied,
    /// The branch already has it (see `evidence`).
    AlreadyApplied,
    /// It conflicts; the backport stopped here.
    Conflict,
    /// It conflicts and was left out (`--skip-conflicts`); the run went on without it.
    Skipped,
    /// The backport stopped before this fix.
    NotReached,
}

/// The report for one fix (part of the `--json` contract).
#[derive(Clone, Debug, Serialize, Deserialize, schemars::JsonSchema)]
pub struct FixReport {
    /// The FIX as given.
    pub fix: String,
    /// The full upstream commit id.
    pub upstream: String,
    pub subject: String,
    pub status: FixStatus,
    /// The new fork commit, when applied.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
    /// Why it counts as already applied.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub evidence: Option<Evidence>,
    /// The fork commit that already carries it (trailer or patch-id evidence).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub equivalent: Option<String>,
    /// True when a person resolved a conflict for it.
    #[serde(default)]
    pub resolved_by_hand: bool,
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub conflicts: Vec<ConflictedPath>,
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub prerequisites: Vec<Prerequisite>,
    /// The reference sources (public API) the upstream commit changes: such a fix is classed
    /// `public-api`, a decision to justify (servicing adds no public API; see `apicompat`).
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub public_api: Vec<String>,
}

/// The result of a backport run (the `--json` report).
#[derive(Clone, Debug, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Report {
    pub fork: PathBuf,
    pub onto: String,
    pub cve: Option<String>,
    pub dry_run: bool,
    /// The branch tip before the run.
    pub original_tip: String,
    /// The branch tip after the run (unchanged for a dry run).
    pub tip: String,
    pub fixes: Vec<FixReport>,
    /// Where the conflict waits to be resolved, when the run stopped.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub conflict_worktree: Option<PathBuf>,
    /// The exact commands to finish or cancel a stopped backport.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub next_steps: Vec<String>,
}

/// `cargo xtask backport --json`: the report, plus what `--open-pr` published and what the
/// patch queue recorded.
#[derive(Serialize, schemars::JsonSchema)]
pub struct Document<'a> {
    #[serde(flatten)]
    pub report: &'a Report,
    /// With `--open-pr`: the pull request, or null when every fix was already on the branch.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pull_request: Option<Option<&'a crate::github::backport_pr::Published>>,
    /// The patch queue the result was recorded in.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub queue: Option<QueueRecord>,
}

/// What recording a backport in the patch queue wrote.
#[derive(Serialize, schemars::JsonSchema)]
pub struct QueueRecord {
    pub dir: PathBuf,
    /// Patches in the repository's queue.
    pub patches: usize,
    /// Patch files of the old queue that are gone.
    pub removed: Vec<String>,
    /// False when nothing changed.
    pub written: bool,
}

impl Report {
    /// True when the run stopped at a conflict.
    pub fn stopped(&self) -> bool {
        self.fixes.iter().any(|f| f.status == FixStatus::Conflict)
    }

    /// How many conflicting fixes `--skip-conflicts` left out.
    pub fn skipped(&self) -> usize {
        self.fixes
            .iter()
            .filter(|f| f.status == FixStatus::Skipped)
            .count()
    }
}

/// Crashes the process at a named point when `ELS_FAILPOINT` names it: the fault-injection hook
/// with which tests prove that an interrupted backport can be aborted from any point.
pub(crate) fn failpoint(name: &str) {
    if std::env::var("ELS_FAILPOINT").is_ok_and(|v| v == name) {
        eprintln!("failpoint {name}: aborting");
        std::process::abort();
    }
}

/// Runs a backport.
pub fn backport(req: &Request) -> Result<Report> {
    if req.fixes.is_empty() {
        bail!("no FIX given; name at least one upstream commit (e.g. runtime@44527b9)");
    }
    let repo = repo::open(&req.fork)?;
    if let Some(st) = state::load(&repo)? {
        bail!(
            "a backport onto `{}` is already in progress in {}; finish it with `--continue` or cancel it with `--abort`",
            st.onto,
            req.fork.display()
        );
    }
    let tip = branch_tip(&repo, &req.onto)?;
    if !repo.is_bare() {
        repo::ensure_no_operation_in_progress(&repo)?;
    }
    let worktree = repo::worktree_with_branch(&repo, &req.onto)?;
    if let Some(wt) = &worktree {
        repo::ensure_no_operation_in_progress(wt)?;
        repo::ensure_clean(wt)?;
    }
    let name = req.repo_name.as_deref().unwrap_or("default");
    let upstream = resolve::Upstream {
        location: req.upstream.as_deref(),
        name,
        branches: &req.upstream_branches,
    };
    let ids = resolve::resolve_all(&repo, &req.fixes, &upstream, req.quiet)?;
    let mut fixes = Vec::new();
    for (spec, id) in req.fixes.iter().zip(&ids) {
        let commit = repo.find_commit(*id)?;
        let parent = mainline_parent(&commit, req.mainline)
            .with_context(|| format!("cannot pick {spec}"))?;
        let parent_tree = parent.map(|p| p.tree()).transpose()?;
        let public_api =
            changes::changed_files(&repo, parent_tree.as_ref(), Some(&commit.tree()?))?
                .into_keys()
                .filter(|path| crate::apicompat::is_reference_source(path))
                .collect();
        fixes.push(FixReport {
            fix: spec.to_string(),
            upstream: id.to_string(),
            subject: commit.summary().unwrap_or_default().to_string(),
            status: FixStatus::NotReached,
            commit: None,
            evidence: None,
            equivalent: None,
            resolved_by_hand: false,
            conflicts: Vec::new(),
            prerequisites: Vec::new(),
            public_api,
        });
    }
    let mut st = SavedState {
        phase: Phase::Applying,
        onto: req.onto.clone(),
        original_tip: tip.to_string(),
        stopped_tip: None,
        cve: req.cve.clone(),
        mainline: req.mainline,
        remaps: req.remaps.clone(),
        worktree: worktree.as_ref().and_then(workdir),
        created_worktree: None,
        written_paths: Vec::new(),
        message: None,
        fixes,
        stopped_at: None,
    };
    if req.dry_run {
        // Objects a dry run creates (remapped trees, commits) live in memory only.
        let odb = repo.odb()?;
        let _mempack = odb.add_new_mempack_backend(1000)?;
        let run = apply_fixes(&repo, &mut st, 0, tip, req)?;
        return Ok(report(req.fork.clone(), &st, run.tip, true, None));
    }
    state::save(&repo, &st)?;
    failpoint("state-saved");
    finish_run(&repo, &mut st, 0, tip, worktree, req)
}

/// What `apply_fixes` ended with.
struct Run {
    tip: Oid,
    /// The conflicted fix: its index in the list, full index and prepared message.
    conflict: Option<(usize, git2::Index, String)>,
    /// Objects the conflicted merge produced, which the conflict's index refers to.
    conflict_objects: Vec<Oid>,
    /// Paths the applied picks changed (for `--abort` cleanup).
    changed_paths: Vec<String>,
    patch_ids: equivalence::PatchIdCache,
}

/// Evaluates and picks fixes `start..` on top of `tip`, creating commits (not moving the ref).
fn apply_fixes(
    repo: &Repository,
    st: &mut SavedState,
    start: usize,
    mut tip: Oid,
    req: &Request,
) -> Result<Run> {
    let map = PathMap::new(&st.remaps);
    let mut history = ForkHistory::new(repo)?;
    let mut path_history = changes::PathHistory::new(repo)?;
    let mut added = changes::AddedFiles::default();
    let mut changed_paths = Vec::new();
    let total = st.fixes.len();
    // A line per fix only when there are several: one fix is quick to report by itself.
    let mut progress = crate::console::Progress::new(total - start, req.quiet || total - start < 3);
    for i in start..total {
        let upstream = repo.find_commit(Oid::from_str(&st.fixes[i].upstream)?)?;
        progress.step(&format!("{} {}", st.fixes[i].fix, st.fixes[i].subject));
        let parent = mainline_parent(&upstream, st.mainline)?;
        let onto = repo.find_commit(tip)?;
        let report = &mut st.fixes[i];
        match evaluate(
            repo,
            (&upstream, parent.as_ref()),
            &onto,
            &map,
            &mut history,
            &mut added,
        )? {
            Evaluation::Already(evidence, equivalent) => {
                report.status = FixStatus::AlreadyApplied;
                report.evidence = Some(evidence);
                report.equivalent = equivalent.map(|o| o.to_string());
            }
            Evaluation::Clean {
                tree,
                patch_id,
                paths,
            } => {
                let message = provenance_message(&upstream, st.cve.as_deref());
                let tree = repo.find_tree(tree)?;
                let new = repo.commit(
                    None,
                    &upstream.author(),
                    &repo::committer(repo),
                    &message,
                    &tree,
                    &[&onto],
                )?;
                history.record(new, &upstream, patch_id);
                report.status = FixStatus::Applied;
                report.commit = Some(new.to_string());
                changed_paths.extend(paths);
                tip = new;
            }
            Evaluation::Conflict {
                conflicted,
                reduced,
            } => {
                report.status = if req.skip_conflicts {
                    FixStatus::Skipped
                } else {
                    FixStatus::Conflict
                };
                // Every branding bump touches the version files, so they name no prerequisite.
                let paths: Vec<(String, String)> = conflicted
                    .conflicts
                    .iter()
                    .filter(|c| c.class != "version-infra")
                    .map(|c| {
                        (
                            c.path.clone(),
                            reduced
                                .upstream_paths
                                .get(&c.path)
                                .cloned()
                                .unwrap_or_else(|| map.to_upstream(&c.path)),
                        )
                    })
                    .collect();
                report.conflicts = conflicted.conflicts.clone();
                report.prerequisites = conflict::prerequisites(
                    repo,
                    &mut path_history,
                    parent.as_ref(),
                    tip,
                    &paths,
                    |c| is_on_fork(repo, c, &map, &mut history),
                )?;
                if req.skip_conflicts {
                    continue;
                }
                let message = provenance_message(&upstream, st.cve.as_deref());
                let index = conflicted.full_index(&onto.tree()?)?;
                return Ok(Run {
                    tip,
                    conflict: Some((i, index, message)),
                    conflict_objects: conflicted.object_ids(),
                    changed_paths,
                    patch_ids: history.into_cache(),
                });
            }
        }
    }
    Ok(Run {
        tip,
        conflict: None,
        conflict_objects: Vec::new(),
        changed_paths,
        patch_ids: history.into_cache(),
    })
}

/// Moves the branch, updates the worktree, and either finishes or records the conflict.
fn finish_run(
    repo: &Repository,
    st: &mut SavedState,
    start: usize,
    from: Oid,
    worktree: Option<Repository>,
    req: &Request,
) -> Result<Report> {
    let mut run = packed::with_packed_writes(
        repo,
        |picker| apply_fixes(picker, st, start, from, req),
        |run| packed::Created {
            from,
            tip: run.tip,
            extra: run.conflict_objects.clone(),
        },
    )?;
    st.written_paths.append(&mut run.changed_paths);
    st.written_paths.sort();
    st.written_paths.dedup();
    state::save(repo, st)?;
    if run.tip != from {
        if let Some(wt) = &worktree {
            let tree = wt.find_commit(run.tip)?.tree()?;
            let mut checkout = CheckoutBuilder::new();
            checkout.safe();
            wt.checkout_tree(tree.as_object(), Some(&mut checkout))
                .context("cannot update the worktree")?;
        }
        failpoint("before-ref-update");
        let full = format!("refs/heads/{}", st.onto);
        let subjects = st
            .fixes
            .iter()
            .filter(|f| f.status == FixStatus::Applied)
            .count();
        repo.reference_matching(
            &full,
            run.tip,
            true,
            from,
            &format!("els backport: {subjects} fix(es)"),
        )
        .with_context(|| format!("cannot move {full}: it changed while the backport ran"))?;
        failpoint("after-ref-update");
    }
    run.patch_ids.save()?;
    let Some((i, mut index, message)) = run.conflict else {
        if let Some(name) = st.created_worktree.take() {
            remove_linked_worktree(repo, &name, st.worktree.as_deref())?;
        }
        state::remove(repo)?;
        return Ok(report(req.fork.clone(), st, run.tip, false, None));
    };
    let wt = match worktree {
        Some(wt) => wt,
        None => {
            let (name, path) = create_conflict_worktree(repo, st, req)?;
            st.created_worktree = Some(name);
            st.worktree = Some(path.clone());
            state::save(repo, st)?;
            Repository::open(&path)?
        }
    };
    st.phase = Phase::Conflict;
    st.stopped_at = Some(i);
    st.stopped_tip = Some(run.tip.to_string());
    st.message = Some(message.clone());
    state::save(repo, st)?;
    let upstream = repo.find_commit(Oid::from_str(&st.fixes[i].upstream)?)?;
    let written = conflict::materialize(&wt, &mut index, &upstream, &message)?;
    st.written_paths.extend(written);
    st.written_paths.sort();
    st.written_paths.dedup();
    state::save(repo, st)?;
    let wt_path = workdir(&wt);
    Ok(report(req.fork.clone(), st, run.tip, false, wt_path))
}

enum Evaluation {
    Already(Evidence, Option<Oid>),
    Clean {
        tree: Oid,
        patch_id: Option<Oid>,
        paths: Vec<String>,
    },
    Conflict {
        conflicted: pick::Conflicted,
        reduced: ReducedFix,
    },
}

/// Evaluates one fix: `fix` is the upstream commit and the parent it is picked against.
fn evaluate(
    repo: &Repository,
    fix: (&Commit, Option<&Commit>),
    onto: &Commit,
    map: &PathMap,
    history: &mut ForkHistory,
    added: &mut changes::AddedFiles,
) -> Result<Evaluation> {
    let (upstream, parent) = fix;
    if history.scan(repo, onto.id(), upstream.id())? {
        return Ok(Evaluation::Already(Evidence::Ancestor, None));
    }
    if let Some(c) = history.by_trailer(upstream) {
        return Ok(Evaluation::Already(Evidence::Trailer, Some(c)));
    }
    let parent_tree = parent.map(Commit::tree).transpose()?;
    let reduced = ReducedFix::new(repo, parent_tree.as_ref(), &upstream.tree()?, map)?;
    if reduced.is_empty() {
        return Ok(Evaluation::Already(Evidence::Empty, None));
    }
    let patch_id = reduced.patch_id(repo)?;
    if let Some(pid) = patch_id {
        if let Some(c) = history.by_patch_id(repo, &reduced, pid)? {
            return Ok(Evaluation::Already(Evidence::PatchId, Some(c)));
        }
    }
    let onto_tree = onto.tree()?;
    match pick::pick(repo, &reduced, &onto_tree, map, added)? {
        PickResult::Clean(tree) if tree == onto_tree.id() => {
            Ok(Evaluation::Already(Evidence::Empty, None))
        }
        PickResult::Clean(tree) => Ok(Evaluation::Clean {
            tree,
            patch_id,
            paths: reduced.upstream_paths.keys().cloned().collect(),
        }),
        PickResult::Conflicted(conflicted) => Ok(Evaluation::Conflict {
            conflicted,
            reduced,
        }),
    }
}

/// True when an upstream commit is already on the fork, by trailer or patch-id.
fn is_on_fork(
    repo: &Repository,
    commit: &Commit,
    map: &PathMap,
    history: &mut ForkHistory,
) -> Result<bool> {
    if history.by_trailer(commit).is_some() {
        return Ok(true);
    }
    let parent = commit.parent(0)?.tree()?;
    let reduced = ReducedFix::new(repo, Some(&parent), &commit.tree()?, map)?;
    match reduced.patch_id(repo)? {
        Some(pid) => Ok(history.by_patch_id(repo, &reduced, pid)?.is_some()),
        None => Ok(false),
    }
}

/// The parent a fix is picked against: the only parent, the `--mainline` parent of a merge, or
/// none for a root commit.
fn mainline_parent<'r>(commit: &Commit<'r>, mainline: Option<u32>) -> Result<Option<Commit<'r>>> {
    match (commit.parent_count(), mainline) {
        (0, _) => Ok(None),
        (1, _) => Ok(Some(commit.parent(0)?)),
        (n, None) => bail!(
            "{} is a merge commit with {n} parents; pass --mainline <N> to pick the change relative to parent N (usually 1, the release branch)",
            commit.id()
        ),
        (n, Some(m)) if m == 0 || m as usize > n => bail!("--mainline {m} is out of range: {} has {n} parents", commit.id()),
        (_, Some(m)) => Ok(Some(commit.parent(m as usize - 1)?)),
    }
}

/// The original message plus provenance, laid out as `git cherry-pick -x` does (which cleans
/// the message's whitespace up first, as `git stripspace` does).
pub fn provenance_message(upstream: &Commit, cve: Option<&str>) -> String {
    let original = stripspace(&String::from_utf8_lossy(upstream.message_bytes()));
    let last_paragraph = original.rsplit("\n\n").next().unwrap_or("");
    let ends_with_trailers =
        original.contains("\n\n") && last_paragraph.lines().all(is_trailer_line);
    let mut message = original.clone();
    message.push_str(if ends_with_trailers { "\n" } else { "\n\n" });
    message.push_str(&format!("(cherry picked from commit {})\n", upstream.id()));
    if let Some(cve) = cve {
        message.push_str(&format!("CVE: {cve}\n"));
    }
    message
}

/// `git stripspace` without comment stripping, minus the final newline: trailing whitespace off
/// every line, runs of blank lines as one, none at either end.
fn stripspace(message: &str) -> String {
    let mut lines: Vec<&str> = Vec::new();
    for line in message.lines().map(str::trim_end) {
        if line.is_empty() && lines.last().is_none_or(|l| l.is_empty()) {
            continue;
        }
        lines.push(line);
    }
    while lines.last().is_some_and(|l| l.is_empty()) {
        lines.pop();
    }
    lines.join("\n")
}

fn is_trailer_line(line: &str) -> bool {
    if line.starts_with("(cherry picked from commit ") {
        return true;
    }
    match line.split_once(": ") {
        Some((key, _)) => {
            !key.is_empty() && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        }
        None => false,
    }
}

/// A worktree's directory without the trailing separator libgit2 reports.
fn workdir(repo: &Repository) -> Option<PathBuf> {
    repo.workdir().map(|p| p.components().collect())
}

fn branch_tip(repo: &Repository, onto: &str) -> Result<Oid> {
    let branch = repo
        .find_branch(onto, git2::BranchType::Local)
        .with_context(|| {
            format!(
                "unknown branch `{onto}` in {}; create it first (e.g. `git branch {onto} v6.0.36`)",
                repo::workdir_or_gitdir(repo).display()
            )
        })?;
    branch
        .get()
        .target()
        .with_context(|| format!("branch `{onto}` has no commit"))
}

fn default_conflict_worktree(repo: &Repository) -> PathBuf {
    let base = repo::workdir_or_gitdir(repo);
    let base = base.components().as_path().to_path_buf();
    let name = base
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "fork".into());
    base.with_file_name(format!("{}.els-backport", name.trim_end_matches(".git")))
}

fn create_conflict_worktree(
    repo: &Repository,
    st: &SavedState,
    req: &Request,
) -> Result<(String, PathBuf)> {
    let mut path = req
        .conflict_worktree
        .clone()
        .unwrap_or_else(|| default_conflict_worktree(repo));
    let mut n = 1;
    while path.exists() {
        n += 1;
        path = PathBuf::from(format!("{}-{n}", path.display()));
    }
    let name = format!("els-backport-{}", n);
    let branch = repo.find_branch(&st.onto, git2::BranchType::Local)?;
    let mut opts = git2::WorktreeAddOptions::new();
    opts.reference(Some(branch.get()));
    repo.worktree(&name, &path, Some(&opts)).with_context(|| {
        format!(
            "cannot create a worktree at {} for the conflict",
            path.display()
        )
    })?;
    Ok((name, path))
}

fn remove_linked_worktree(repo: &Repository, name: &str, path: Option<&Path>) -> Result<()> {
    if let Some(p) = path {
        if p.exists() {
            std::fs::remove_dir_all(p)
                .with_context(|| format!("cannot remove the backport worktree {}", p.display()))?;
        }
    }
    if let Ok(wt) = repo.find_worktree(name) {
        let mut opts = git2::WorktreePruneOptions::new();
        opts.valid(true).working_tree(true);
        wt.prune(Some(&mut opts))?;
    }
    Ok(())
}

fn report(
    fork: PathBuf,
    st: &SavedState,
    tip: Oid,
    dry_run: bool,
    conflict_worktree: Option<PathBuf>,
) -> Report {
    let stopped = st.fixes.iter().any(|f| f.status == FixStatus::Conflict);
    let next_steps = match (&conflict_worktree, stopped && !dry_run) {
        (Some(wt), true) => {
            let fork_q = shell_quote(&fork.display().to_string());
            let wt_q = shell_quote(&wt.display().to_string());
            vec![
                format!("cd {wt_q}"),
                "git status                      # the conflicted files".to_string(),
                "git mergetool                   # or edit them; then `git add <file>` each"
                    .to_string(),
                format!("cargo xtask backport --fork {fork_q} --continue"),
                format!(
                    "cargo xtask backport --fork {fork_q} --abort    # to give up and restore {}",
                    st.onto
                ),
            ]
        }
        _ => Vec::new(),
    };
    Report {
        fork,
        onto: st.onto.clone(),
        cve: st.cve.clone(),
        dry_run,
        original_tip: st.original_tip.clone(),
        tip: tip.to_string(),
        fixes: st.fixes.clone(),
        conflict_worktree,
        next_steps,
    }
}

fn shell_quote(s: &str) -> String {
    if s.chars()
        .all(|c| c.is_ascii_alphanumeric() || "/._-+:@".contains(c))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

/// Finishes a backport that stopped at a conflict, after the user resolved it (and `git add`ed
/// the files, or committed them), then goes on with the remaining fixes.
pub fn continue_backport(fork: &Path, quiet: bool) -> Result<Report> {
    let repo = repo::open(fork)?;
    let Some(mut st) = state::load(&repo)? else {
        bail!(
            "no backport is in progress in {}; nothing to continue",
            fork.display()
        );
    };
    if st.phase == Phase::Applying {
        bail!(
            "the last backport onto `{}` was interrupted before it finished; run `cargo xtask backport --fork {} --abort` to restore the branch, then run it again",
            st.onto,
            fork.display()
        );
    }
    let (Some(i), Some(stopped_tip), Some(wt_path), Some(message)) = (
        st.stopped_at,
        st.stopped_tip.clone(),
        st.worktree.clone(),
        st.message.clone(),
    ) else {
        bail!(
            "the saved backport state {} is incomplete; run --abort",
            state::location(&repo).display()
        );
    };
    let wt = Repository::open(&wt_path).with_context(|| {
        format!(
            "the conflict worktree {} is gone; run --abort",
            wt_path.display()
        )
    })?;
    let stopped_tip = Oid::from_str(&stopped_tip)?;
    let tip = branch_tip(&repo, &st.onto)?;
    let mut index = wt.index()?;
    if index.has_conflicts() {
        let mut paths: Vec<String> = index
            .conflicts()?
            .filter_map(|c| c.ok())
            .filter_map(|c| c.our.or(c.their).or(c.ancestor))
            .map(|e| String::from_utf8_lossy(&e.path).into_owned())
            .collect();
        paths.dedup();
        bail!(
            "conflicts remain in {}: {}; resolve them and `git add` each file, then run --continue",
            wt_path.display(),
            paths.join(", ")
        );
    }
    let unstaged = unstaged_changes(&wt)?;
    if !unstaged.is_empty() {
        bail!("{} has changes that are not staged ({}); `git add` what belongs to the fix (or discard the rest), then run --continue", wt_path.display(), unstaged.join(", "));
    }
    let upstream = repo.find_commit(Oid::from_str(&st.fixes[i].upstream)?)?;
    let report_i = &mut st.fixes[i];
    report_i.resolved_by_hand = true;
    if tip == stopped_tip {
        let tree_id = index.write_tree()?;
        let onto = repo.find_commit(tip)?;
        if tree_id == onto.tree_id() {
            report_i.status = FixStatus::AlreadyApplied;
            report_i.evidence = Some(Evidence::Empty);
        } else {
            st.phase = Phase::Applying;
            state::save(&repo, &st)?;
            let tree = repo.find_tree(tree_id)?;
            let new = repo.commit(
                None,
                &upstream.author(),
                &repo::committer(&repo),
                &message,
                &tree,
                &[&onto],
            )?;
            repo.reference_matching(
                &format!("refs/heads/{}", st.onto),
                new,
                true,
                tip,
                "els backport: resolved conflict",
            )?;
            let report_i = &mut st.fixes[i];
            report_i.status = FixStatus::Applied;
            report_i.commit = Some(new.to_string());
        }
    } else {
        let head = repo.find_commit(tip)?;
        if head.parent_count() != 1 || head.parent_id(0)? != stopped_tip {
            bail!(
                "`{}` moved unexpectedly since the conflict (expected {stopped_tip} or one commit on top, found {tip}); run --abort to restore it",
                st.onto
            );
        }
        report_i.status = FixStatus::Applied;
        report_i.commit = Some(tip.to_string());
    }
    st.fixes[i].conflicts.clear();
    st.fixes[i].prerequisites.clear();
    wt.cleanup_state()?;
    st.phase = Phase::Applying;
    st.stopped_at = None;
    state::save(&repo, &st)?;
    let tip = branch_tip(&repo, &st.onto)?;
    let req = Request {
        fork: fork.to_path_buf(),
        onto: st.onto.clone(),
        quiet,
        ..Request::default()
    };
    finish_run(&repo, &mut st, i + 1, tip, Some(wt), &req)
}

fn unstaged_changes(wt: &Repository) -> Result<Vec<String>> {
    let mut opts = git2::StatusOptions::new();
    opts.include_untracked(false).exclude_submodules(true);
    let statuses = wt.statuses(Some(&mut opts))?;
    let dirty = git2::Status::WT_MODIFIED
        | git2::Status::WT_DELETED
        | git2::Status::WT_TYPECHANGE
        | git2::Status::WT_RENAMED;
    Ok(statuses
        .iter()
        .filter(|s| s.status().intersects(dirty))
        .filter_map(|s| s.path().map(str::to_string))
        .collect())
}

/// What `--abort` restored.
#[derive(Clone, Debug, Serialize, Deserialize, schemars::JsonSchema)]
pub struct AbortReport {
    pub onto: String,
    /// The branch tip restored.
    pub restored_tip: String,
    /// The branch tip before the abort.
    pub abandoned_tip: String,
}

/// Cancels a stopped or interrupted backport: the branch goes back exactly to where it was, the
/// worktree is restored (or the conflict worktree removed), and the saved state is deleted.
pub fn abort_backport(fork: &Path) -> Result<AbortReport> {
    let repo = repo::open(fork)?;
    let Some(st) = state::load(&repo)? else {
        bail!(
            "no backport is in progress in {}; nothing to abort",
            fork.display()
        );
    };
    let original = Oid::from_str(&st.original_tip)?;
    let full = format!("refs/heads/{}", st.onto);
    let abandoned = repo
        .refname_to_id(&full)
        .map(|o| o.to_string())
        .unwrap_or_default();
    repo.reference(&full, original, true, "els backport: abort")?;
    match (&st.created_worktree, &st.worktree) {
        (Some(name), path) => remove_linked_worktree(&repo, name, path.as_deref())?,
        (None, Some(path)) => restore_worktree(path, original, &st.written_paths)?,
        (None, None) => {}
    }
    state::remove(&repo)?;
    Ok(AbortReport {
        onto: st.onto,
        restored_tip: st.original_tip,
        abandoned_tip: abandoned,
    })
}

fn restore_worktree(path: &Path, original: Oid, written: &[String]) -> Result<()> {
    let wt = Repository::open(path)
        .with_context(|| format!("cannot open the worktree {}", path.display()))?;
    let tree = wt.find_commit(original)?.tree()?;
    let mut checkout = CheckoutBuilder::new();
    checkout.force();
    wt.checkout_tree(tree.as_object(), Some(&mut checkout))?;
    let mut index = wt.index()?;
    index.read_tree(&tree)?;
    index.write()?;
    wt.checkout_index(Some(&mut index), Some(CheckoutBuilder::new().force()))?;
    // Files the backport added that the original tree does not have (an interrupted checkout
    // leaves them untracked) are the backport's, not the user's: the run started clean.
    for p in written {
        if tree.get_path(Path::new(p)).is_err() {
            let file = path.join(p);
            if file.is_file() {
                std::fs::remove_file(&file)
                    .with_context(|| format!("cannot remove {}", file.display()))?;
            }
        }
    }
    wt.cleanup_state()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::stripspace;

    #[test]
    fn messages_are_cleaned_up_like_git_stripspace() {
        assert_eq!(
            stripspace("\n\nSubject  \n\n\nBody line \t\n\n \nlast\n\n"),
            "Subject\n\nBody line\n\nlast"
        );
        assert_eq!(stripspace("one line"), "one line");
    }
}
