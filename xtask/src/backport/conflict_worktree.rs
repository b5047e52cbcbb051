//! The worktree a conflict is written into when the branch is not checked out anywhere: created
//! beside the fork (`<fork>.els-backport`), and removed when the backport finishes or is aborted.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use git2::Repository;

use super::state::SavedState;
use super::Request;
use crate::repo;

/// A worktree's directory without the trailing separator libgit2 reports.
pub(super) fn workdir(repo: &Repository) -> Option<PathBuf> {
    repo.workdir().map(|p| p.components().collect())
}

/// `<fork>.els-backport` beside the fork.
fn default_conflict_worktree(repo: &Repository) -> PathBuf {
    let base = repo::workdir_or_gitdir(repo);
    let base = base.components().as_path().to_path_buf();
    let name = base
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "fork".into());
    base.with_file_name(format!("{}.els-backport", name.trim_end_matches(".git")))
}

/// Adds a linked worktree with the branch checked out, at the requested or default place
/// (numbered when taken); returns its name and path.
pub(super) fn create_conflict_worktree(
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

/// Removes a worktree the backport created, its directory and git's record of it.
pub(super) fn remove_linked_worktree(
    repo: &Repository,
    name: &str,
    path: Option<&Path>,
) -> Result<()> {
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
