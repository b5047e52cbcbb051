//! The backport engine's front door: a [`Request`] in, a [`Report`] out. Brings upstream fix
//! commits onto a fork branch with git2, in memory.
//!
//! For each fix, in order: is it already on the branch (ancestor, provenance trailer, patch-id,
//! or an empty pick)? Otherwise cherry-pick it in memory (a rename-aware three-way merge of just
//! the files it changes). Clean picks become commits with the original author and message plus
//! `(cherry picked from commit …)` and a `CVE:` trailer; the branch ref moves once at the end, and
//! the worktree is touched only when the branch is checked out there ([`run`]). A conflict stops
//! the run: nothing half-committed, the conflict written into a worktree the way `git cherry-pick`
//! writes it ([`conflict_worktree`]), the state saved for `--continue` / `--abort` ([`resume`]).
//! With `skip_conflicts` (triage of a whole Patch Tuesday) a conflicting fix is reported and
//! skipped instead, like `git cherry-pick --skip`. What happened is a [`report::Report`].

mod changes;
mod cherry;
mod commit_graph;
mod conflict;
mod conflict_worktree;
mod equivalence;
mod fix;
mod packed;
mod pick;
mod prerequisites;
mod remap;
pub mod report;
mod resolve;
mod resume;
mod run;
mod state;

use std::path::PathBuf;

use anyhow::{bail, Context, Result};

pub use cherry::{cherry, CherryEntry, CherryReport};
pub use conflict::classify;
pub use conflict::ConflictedPath;
pub use equivalence::Evidence;
pub use fix::{ensure_fix_fits_fork, FixSpec};
pub use packed::{with_packed_writes, Created};
pub use prerequisites::Prerequisite;
pub use remap::PathMap;
pub use report::{Document, FixReport, FixStatus, QueueRecord, Report};
pub use resume::{abort_backport, continue_backport, AbortReport};
pub use run::provenance_message;

use crate::config::Remap;
use crate::repo;
use conflict_worktree::workdir;
use run::{branch_tip, mainline_parent};
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
        let run = run::apply_fixes(&repo, &mut st, 0, tip, req)?;
        return Ok(report::report(req.fork.clone(), &st, run.tip, true, None));
    }
    // A conflict found later saves the state before it changes anything.
    if run::needs_saved_state(worktree.as_ref(), false) {
        state::save(&repo, &st)?;
    }
    failpoint("state-saved");
    run::finish_run(&repo, &mut st, 0, tip, worktree, req)
}
