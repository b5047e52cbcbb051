//! `--continue` and `--abort`: the state machine that finishes a backport stopped at a conflict
//! once a person resolved it, or restores the branch and worktree exactly as they were.

use std::path::Path;

use anyhow::{bail, Context, Result};
use git2::{build::CheckoutBuilder, Oid, Repository};
use serde::{Deserialize, Serialize};

use super::conflict_worktree::remove_linked_worktree;
use super::report::{FixStatus, Report};
use super::run::{branch_tip, finish_run};
use super::state::{self, Phase};
use super::{Evidence, Request};
use crate::repo;

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
    let index = resolved_index(&wt, &wt_path)?;
    st.fixes[i].resolved_by_hand = true;
    if tip == stopped_tip {
        commit_resolution(&repo, &mut st, i, index, &message)?;
    } else {
        // The person committed the resolution in the worktree: adopt that commit.
        let head = repo.find_commit(tip)?;
        if head.parent_count() != 1 || head.parent_id(0)? != stopped_tip {
            bail!(
                "`{}` moved unexpectedly since the conflict (expected {stopped_tip} or one commit on top, found {tip}); run --abort to restore it",
                st.onto
            );
        }
        st.fixes[i].status = FixStatus::Applied;
        st.fixes[i].commit = Some(tip.to_string());
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

/// The conflict worktree's index, once every conflict is resolved and staged.
fn resolved_index(wt: &Repository, wt_path: &Path) -> Result<git2::Index> {
    let index = wt.index()?;
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
    let unstaged = unstaged_changes(wt)?;
    if !unstaged.is_empty() {
        bail!("{} has changes that are not staged ({}); `git add` what belongs to the fix (or discard the rest), then run --continue", wt_path.display(), unstaged.join(", "));
    }
    Ok(index)
}

/// Commits the staged resolution of fix `i` onto the branch (still at the tip where the run
/// stopped), or records the fix as already applied when the resolution changes nothing.
fn commit_resolution(
    repo: &Repository,
    st: &mut state::SavedState,
    i: usize,
    mut index: git2::Index,
    message: &str,
) -> Result<()> {
    let tip = branch_tip(repo, &st.onto)?;
    let upstream = repo.find_commit(Oid::from_str(&st.fixes[i].upstream)?)?;
    let tree_id = index.write_tree()?;
    let onto = repo.find_commit(tip)?;
    if tree_id == onto.tree_id() {
        st.fixes[i].status = FixStatus::AlreadyApplied;
        st.fixes[i].evidence = Some(Evidence::Empty);
        return Ok(());
    }
    st.phase = Phase::Applying;
    state::save(repo, st)?;
    let tree = repo.find_tree(tree_id)?;
    let new = repo.commit(
        None,
        &upstream.author(),
        &repo::committer(repo),
        message,
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
    st.fixes[i].status = FixStatus::Applied;
    st.fixes[i].commit = Some(new.to_string());
    Ok(())
}

fn unstaged_changes(wt: &Repository) -> Result<Vec<String>> {
    let mut opts = git2::StatusOptions::new();
    opts.include_untracked(false).exclude_submodules(true);
    let statuses = wt.statuses(Some(&mut opts))?;
    let dirty = git2::Status::WT_MODIFIED
        | git2::Status::WT_DELETED
        | git2::Status::WT_TYPECHANGE
        | git2::Status::WT_RENAMED;
    let index = wt.index()?;
    Ok(statuses
        .iter()
        .filter(|s| s.status().intersects(dirty))
        .filter_map(|s| s.path().map(str::to_string))
        // libgit2 reports a file left out of a sparse checkout as deleted; git does not.
        .filter(|p| !repo::left_out(&index, p))
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
