//! The saved state of a backport that stopped (or was interrupted): enough to `--continue` it
//! after a manual resolution or to `--abort` it and restore the branch exactly. Stored as JSON in
//! the fork's git directory and written atomically before every step that changes anything.

use std::path::PathBuf;

use anyhow::{Context, Result};
use git2::Repository;
use serde::{Deserialize, Serialize};

use super::FixReport;
use crate::config::Remap;

/// Where a backport is in its work.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Phase {
    /// Changing the branch; an interruption here is cleaned up with `--abort`.
    Applying,
    /// Stopped at a conflict, waiting for the user to resolve it.
    Conflict,
}

/// Everything `--continue` and `--abort` need.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SavedState {
    pub phase: Phase,
    pub onto: String,
    /// The branch tip before the backport started: `--abort` restores it.
    pub original_tip: String,
    /// The branch tip when the backport stopped at a conflict.
    pub stopped_tip: Option<String>,
    pub cve: Option<String>,
    pub mainline: Option<u32>,
    pub remaps: Vec<Remap>,
    /// The worktree holding the onto branch, if any (existing or created for the conflict).
    pub worktree: Option<PathBuf>,
    /// The name of the linked worktree the backport created for a conflict, removed when done.
    pub created_worktree: Option<String>,
    /// Paths the backport wrote into the worktree, so `--abort` can remove files it added.
    pub written_paths: Vec<String>,
    /// The commit message prepared for the conflicted fix.
    pub message: Option<String>,
    pub fixes: Vec<FixReport>,
    /// The index of the fix that stopped at a conflict.
    pub stopped_at: Option<usize>,
}

fn path(repo: &Repository) -> PathBuf {
    repo.commondir().join("els").join("backport-state.json")
}

/// Loads the saved state, if a backport is in progress.
pub fn load(repo: &Repository) -> Result<Option<SavedState>> {
    let p = path(repo);
    match std::fs::read_to_string(&p) {
        Ok(text) => serde_json::from_str(&text).map(Some).with_context(|| {
            format!("the saved backport state {} is corrupt; restore the branch by hand and delete that file", p.display())
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("cannot read {}", p.display())),
    }
}

/// Saves the state atomically.
pub fn save(repo: &Repository, state: &SavedState) -> Result<()> {
    crate::atomic::write(&path(repo), serde_json::to_string_pretty(state)? + "\n")
}

/// Removes the saved state (the backport is finished or aborted).
pub fn remove(repo: &Repository) -> Result<()> {
    let p = path(repo);
    match std::fs::remove_file(&p) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e).with_context(|| format!("cannot remove {}", p.display())),
    }
}

/// The state file's location, for messages.
pub fn location(repo: &Repository) -> PathBuf {
    path(repo)
}
