//! One backport run: evaluates each fix (already on the fork? a clean pick? a conflict?), makes
//! the commits in memory, moves the branch once, and hands a conflict to the conflict worktree.

use std::collections::BTreeSet;

use anyhow::{bail, Context, Result};
use git2::{build::CheckoutBuilder, Commit, Oid, Repository};

use super::conflict_worktree::{self, remove_linked_worktree, workdir};
use super::equivalence::{self, Evidence, ForkHistory};
use super::pick::{self, PickResult, ReducedFix};
use super::prerequisites::PrerequisiteSearch;
use super::report::{report, FixStatus, Report};
use super::state::{self, Phase, SavedState};
use super::{changes, conflict, failpoint, packed, PathMap, Request};
use crate::repo;

/// What `apply_fixes` ended with.
pub(super) struct Run {
    pub(super) tip: Oid,
    /// The conflicted fix: its index in the list, full index and prepared message.
    conflict: Option<(usize, git2::Index, String)>,
    /// The paths the conflicted pick writes.
    conflict_paths: BTreeSet<String>,
    /// Objects the conflicted merge produced, which the conflict's index refers to.
    conflict_objects: Vec<Oid>,
    /// Paths the applied picks changed (for `--abort` cleanup).
    changed_paths: Vec<String>,
    patch_ids: equivalence::PatchIdCache,
}

/// Evaluates and picks fixes `start..` on top of `tip`, creating commits (not moving the ref).
pub(super) fn apply_fixes(
    repo: &Repository,
    st: &mut SavedState,
    start: usize,
    mut tip: Oid,
    req: &Request,
) -> Result<Run> {
    let map = PathMap::new(&st.remaps);
    let mut history = ForkHistory::new(repo)?;
    let mut prerequisites = PrerequisiteSearch::new(repo)?;
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
            Evaluation::Clean { tree, fix } => {
                let message = provenance_message(&upstream, st.cve.as_deref());
                let new = repo.commit(
                    None,
                    &upstream.author(),
                    &repo::committer(repo),
                    &message,
                    &repo.find_tree(tree)?,
                    &[&onto],
                )?;
                history.record(new, &upstream, &fix);
                report.status = FixStatus::Applied;
                report.commit = Some(new.to_string());
                changed_paths.extend(fix.upstream_paths.into_keys());
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
                let paths = prerequisite_paths(&conflicted, &reduced, &map);
                report.conflicts = conflicted.conflicts.clone();
                report.prerequisites =
                    prerequisites.prerequisites(parent.as_ref(), tip, &paths, |c| {
                        is_on_fork(repo, c, &map, &mut history)
                    })?;
                if req.skip_conflicts {
                    continue;
                }
                let message = provenance_message(&upstream, st.cve.as_deref());
                let index = conflicted.full_index(&onto.tree()?)?;
                return Ok(Run {
                    tip,
                    conflict: Some((i, index, message)),
                    conflict_paths: conflicted.paths(),
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
        conflict_paths: BTreeSet::new(),
        conflict_objects: Vec::new(),
        changed_paths,
        patch_ids: history.into_cache(),
    })
}

/// Moves the branch, updates the worktree, and either finishes or records the conflict.
pub(super) fn finish_run(
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
    if needs_saved_state(worktree.as_ref(), run.conflict.is_some()) {
        state::save(repo, st)?;
    }
    if run.tip != from {
        move_branch(repo, st, from, run.tip, worktree.as_ref())?;
    }
    run.patch_ids.save()?;
    let Some((i, mut index, message)) = run.conflict else {
        if let Some(name) = st.created_worktree.take() {
            match &worktree {
                // Kept, detached, for the next conflict.
                Some(wt) => conflict_worktree::park(wt, run.tip)?,
                None => remove_linked_worktree(repo, &name, st.worktree.as_deref())?,
            }
        }
        state::remove(repo)?;
        return Ok(report(req.fork.clone(), st, run.tip, false, None));
    };
    let wt = match worktree {
        Some(wt) => wt,
        None => backport_worktree(repo, st, req, &run.conflict_paths)?,
    };
    st.phase = Phase::Conflict;
    st.stopped_at = Some(i);
    st.stopped_tip = Some(run.tip.to_string());
    st.message = Some(message.clone());
    state::save(repo, st)?;
    let upstream = repo.find_commit(Oid::from_str(&st.fixes[i].upstream)?)?;
    let written = if st.created_worktree.is_some() {
        conflict::materialize_sparse(&wt, &index, &run.conflict_paths, &upstream, &message)?
    } else {
        conflict::materialize(&wt, &mut index, &upstream, &message)?
    };
    st.written_paths.extend(written);
    st.written_paths.sort();
    st.written_paths.dedup();
    state::save(repo, st)?;
    let wt_path = workdir(&wt);
    Ok(report(req.fork.clone(), st, run.tip, false, wt_path))
}

/// The paths of a conflict that may name a prerequisite, each with its upstream path. Every
/// branding bump touches the version files, so they name none.
fn prerequisite_paths(
    conflicted: &pick::Conflicted,
    reduced: &ReducedFix,
    map: &PathMap,
) -> Vec<(String, String)> {
    conflicted
        .conflicts
        .iter()
        .filter(|c| c.class != "version-infra")
        .map(|c| {
            let upstream = reduced
                .upstream_paths
                .get(&c.path)
                .cloned()
                .unwrap_or_else(|| map.to_upstream(&c.path));
            (c.path.clone(), upstream)
        })
        .collect()
}

/// Brings `worktree` (where the branch is checked out, if anywhere) to `tip`, then moves the
/// branch from `from` to `tip` — only if it is still at `from`.
fn move_branch(
    repo: &Repository,
    st: &SavedState,
    from: Oid,
    tip: Oid,
    worktree: Option<&Repository>,
) -> Result<()> {
    if let Some(wt) = worktree {
        let tree = wt.find_commit(tip)?.tree()?;
        if st.created_worktree.is_some() {
            // The backport's own sparse worktree: only what differs is written.
            let mut index = git2::Index::new()?;
            index.read_tree(&tree)?;
            conflict_worktree::move_to(wt, &index, &BTreeSet::new(), &mut CheckoutBuilder::new())?;
        } else {
            let mut checkout = CheckoutBuilder::new();
            checkout.safe();
            wt.checkout_tree(tree.as_object(), Some(&mut checkout))
                .context("cannot update the worktree")?;
        }
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
        tip,
        true,
        from,
        &format!("els backport: {subjects} fix(es)"),
    )
    .with_context(|| format!("cannot move {full}: it changed while the backport ran"))?;
    failpoint("after-ref-update");
    Ok(())
}

/// The backport's own worktree for a conflict writing `paths` (a kept one reused, or a new
/// one), recorded in the saved state before anything is written to it.
fn backport_worktree(
    repo: &Repository,
    st: &mut SavedState,
    req: &Request,
    paths: &BTreeSet<String>,
) -> Result<Repository> {
    let found =
        conflict_worktree::for_conflict(repo, &st.onto, req.conflict_worktree.as_deref(), paths)?;
    st.created_worktree = Some(found.name);
    st.worktree = Some(found.path.clone());
    state::save(repo, st)?;
    let wt = Repository::open(&found.path)?;
    if found.reused {
        conflict_worktree::attach(&wt, &st.onto)?;
    }
    Ok(wt)
}

/// Whether an interruption from here on could leave something for `--abort` to undo, so the
/// state must be saved first: a worktree that changes, or a conflict worktree to create. Without
/// either, moving the branch is the run's one change, and it is atomic (compare-and-swap against
/// the tip the run started from): interrupted before it, nothing changed (the new objects are
/// unreachable); after it, the backport is complete. Saving the state anyway cost two synced
/// file writes per run (a new inode and an fsync each: 1 to 10 ms of wall time under load).
pub(super) fn needs_saved_state(worktree: Option<&Repository>, conflict: bool) -> bool {
    worktree.is_some() || conflict
}

enum Evaluation {
    Already(Evidence, Option<Oid>),
    Clean {
        tree: Oid,
        /// The fix as picked.
        fix: ReducedFix,
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
    if let Some(c) = history.by_patch_id(repo, &reduced)? {
        return Ok(Evaluation::Already(Evidence::PatchId, Some(c)));
    }
    let onto_tree = onto.tree()?;
    match pick::pick(repo, &reduced, &onto_tree, map, added)? {
        PickResult::Clean(tree) if tree == onto_tree.id() => {
            Ok(Evaluation::Already(Evidence::Empty, None))
        }
        PickResult::Clean(tree) => Ok(Evaluation::Clean { tree, fix: reduced }),
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
    // Nothing to share a patch-id with: no need to read what the commit changes.
    if history.has_no_commits() {
        return Ok(false);
    }
    let parent = commit.parent(0)?.tree()?;
    let reduced = ReducedFix::new(repo, Some(&parent), &commit.tree()?, map)?;
    Ok(history.by_patch_id(repo, &reduced)?.is_some())
}

/// The parent a fix is picked against: the only parent, the `--mainline` parent of a merge, or
/// none for a root commit.
pub(super) fn mainline_parent<'r>(
    commit: &Commit<'r>,
    mainline: Option<u32>,
) -> Result<Option<Commit<'r>>> {
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

/// The commit a local branch points at, with an error saying how to create a missing one.
pub(super) fn branch_tip(repo: &Repository, onto: &str) -> Result<Oid> {
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
