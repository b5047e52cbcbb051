//! The worktree a conflict is written into when the branch is not checked out anywhere: a linked
//! worktree beside the fork (`<fork>.els-backport`), sparse, and kept from one backport to the
//! next.
//!
//! Sparse: only the files the fix changes are on disk (the conflicted ones with markers); every
//! other entry of its index is marked skip-worktree, as `git sparse-checkout` marks what it
//! leaves out, so `git status`, `git add`, `git mergetool` and `git cherry-pick --continue` work
//! as in a full checkout and `git sparse-checkout disable` checks out the rest (to build).
//! Checking out a dotnet/runtime tree (57,000 files) costs more than everything else a conflict
//! needs. Kept: a finished backport detaches it (it holds no branch) and leaves it; the next
//! conflict moves it from its tree to the new one, writing only the files that differ, once
//! `git status` shows that nobody changed it (otherwise it is left alone and a new one is made
//! beside it).

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use git2::{build::CheckoutBuilder, Index, IndexEntry, IndexEntryExtendedFlag, Oid, Repository};

use crate::repo;

/// Marks a linked worktree as the backport's own: a file in its administrative directory
/// (`.git/worktrees/<name>/`), which `git worktree remove` and `git worktree prune` delete with it.
const MARKER: &str = "els-conflict-worktree";

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

/// A linked worktree of the backport's own, found or created for a conflict.
pub(super) struct ConflictWorktree {
    /// Its name in `.git/worktrees/`.
    pub name: String,
    pub path: PathBuf,
    /// Kept from an earlier backport (detached): [`attach`] it to the branch before moving it.
    pub reused: bool,
}

/// The worktree for a conflict that writes the `needed` paths: a kept one (at `wanted` when
/// given) that nobody changed, else a new one at `wanted` or the default place (numbered when
/// taken) with `onto` checked out and nothing on disk yet.
pub(super) fn for_conflict(
    repo: &Repository,
    onto: &str,
    wanted: Option<&Path>,
    needed: &BTreeSet<String>,
) -> Result<ConflictWorktree> {
    if let Some((name, path)) = find_kept(repo, wanted, needed)? {
        return Ok(ConflictWorktree {
            name,
            path,
            reused: true,
        });
    }
    let (name, path) = create(repo, onto, wanted)?;
    Ok(ConflictWorktree {
        name,
        path,
        reused: false,
    })
}

fn find_kept(
    repo: &Repository,
    wanted: Option<&Path>,
    needed: &BTreeSet<String>,
) -> Result<Option<(String, PathBuf)>> {
    let wanted = wanted.map(|w| std::fs::canonicalize(w).unwrap_or_else(|_| w.to_path_buf()));
    for name in repo.worktrees()?.iter().flatten() {
        let admin = repo.commondir().join("worktrees").join(name);
        if !admin.join(MARKER).is_file() {
            continue;
        }
        let Ok(wt) = repo.find_worktree(name) else {
            continue;
        };
        if wt.validate().is_err() {
            continue;
        }
        let path: PathBuf = wt.path().components().collect();
        let here = std::fs::canonicalize(&path).unwrap_or_else(|_| path.clone());
        if wanted.as_ref().is_some_and(|w| *w != here) {
            continue;
        }
        match idle_and_clean(&path, needed) {
            Ok(None) => return Ok(Some((name.to_string(), path))),
            // Said even with --json: it explains the second worktree.
            Ok(Some(why)) | Err(why) => eprintln!(
                "warning: the backport's kept worktree {} {why}; it is left alone and a new one is made",
                path.display()
            ),
        }
    }
    Ok(None)
}

/// `None` when the kept worktree at `path` can take a conflict writing `needed`; else why not.
fn idle_and_clean(path: &Path, needed: &BTreeSet<String>) -> Result<Option<String>, String> {
    let wt = Repository::open(path).map_err(|e| format!("cannot be opened ({})", e.message()))?;
    if !wt.head_detached().unwrap_or(false) {
        return Ok(Some("has a branch checked out".into()));
    }
    if wt.state() != git2::RepositoryState::Clean {
        return Ok(Some("has a git operation in progress".into()));
    }
    // git's own status: skip-worktree entries, racy timestamps and filters as git sees them.
    // Untracked files are in the way only where the conflict writes (sparse: few directories
    // exist to look in).
    let sh = crate::process::shell().map_err(|e| e.to_string())?;
    let status = crate::process::output(sh.cmd("git").arg("-C").arg(path).args([
        "status",
        "--porcelain",
        "-z",
        "--untracked-files=all",
    ]))
    .map_err(|e| format!("cannot be checked ({e})"))?;
    for entry in String::from_utf8_lossy(&status.stdout).split_terminator('\0') {
        match entry.strip_prefix("?? ") {
            None => return Ok(Some("has changes".into())),
            Some(p) if needed.contains(p) => return Ok(Some(format!("has an untracked {p}"))),
            Some(_) => {}
        }
    }
    Ok(None)
}

/// Adds a linked worktree with `onto` checked out and nothing on disk (`git worktree add
/// --no-checkout`, which also keeps git's own bookkeeping), marked as the backport's own.
fn create(repo: &Repository, onto: &str, wanted: Option<&Path>) -> Result<(String, PathBuf)> {
    let mut path = wanted
        .map(Path::to_path_buf)
        .unwrap_or_else(|| default_conflict_worktree(repo));
    let mut n = 1;
    while path.exists() {
        n += 1;
        path = PathBuf::from(format!("{}-{n}", path.display()));
    }
    let sh = crate::process::shell()?;
    crate::process::output(
        sh.cmd("git")
            .arg("-C")
            .arg(repo::workdir_or_gitdir(repo))
            .args(["worktree", "add", "-q", "--no-checkout"])
            .arg(&path)
            .arg(onto),
    )
    .with_context(|| {
        format!(
            "cannot create a worktree at {} for the conflict",
            path.display()
        )
    })?;
    let wt = Repository::open(&path)?;
    let admin: PathBuf = wt.path().components().collect();
    let name = admin
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .with_context(|| format!("{} has no worktree name", admin.display()))?;
    crate::atomic::write(
        &admin.join(MARKER),
        "A worktree of `cargo xtask backport`'s own, kept for its next conflict.\n",
    )?;
    Ok((name, path))
}

/// Checks `onto` out in a kept (detached) worktree, before it is moved to the branch's tree.
pub(super) fn attach(wt: &Repository, onto: &str) -> Result<()> {
    wt.set_head(&format!("refs/heads/{onto}"))
        .with_context(|| format!("cannot check `{onto}` out in the backport's worktree"))
}

/// Leaves the worktree for the next conflict: detached at `tip` (its index and files already
/// are `tip`'s), so that it holds no branch.
pub(super) fn park(wt: &Repository, tip: Oid) -> Result<()> {
    wt.set_head_detached(tip)
        .context("cannot detach the backport's worktree")
}

fn is_skipped(e: &IndexEntry) -> bool {
    e.flags_extended & IndexEntryExtendedFlag::SKIP_WORKTREE.bits() != 0
}

fn stage(e: &IndexEntry) -> u16 {
    (e.flags >> 12) & 0x3
}

/// Moves the backport's worktree `wt` to `target` (an index: stage 0 entries and conflict
/// stages). The index becomes `target`, every entry that is not on disk marked skip-worktree; on
/// disk, only the files that differ from the worktree's current index, the conflicted ones and
/// the `needed` ones are written (with `checkout`'s options), and tracked files that `target` no
/// longer has are removed. Returns the paths written.
pub(super) fn move_to(
    wt: &Repository,
    target: &Index,
    needed: &BTreeSet<String>,
    checkout: &mut CheckoutBuilder,
) -> Result<Vec<String>> {
    let root = workdir(wt).context("the backport's worktree has no working directory")?;
    let mut index = wt.index()?;
    let mut before: HashMap<Vec<u8>, (IndexEntry, bool)> = HashMap::with_capacity(index.len());
    for e in index.iter() {
        // A path still conflicted (an interrupted run) is on disk, with whatever it holds.
        let conflicted = stage(&e) != 0;
        before
            .entry(e.path.clone())
            .and_modify(|(_, c)| *c |= conflicted)
            .or_insert((e, conflicted));
    }
    // Only what changes is updated in place: on a kept worktree that is a few entries of tens
    // of thousands (rebuilding the whole index costs more than the rest of a conflict).
    let mut write = Vec::new();
    let mut cleared: Option<Vec<u8>> = None;
    for mut e in target.iter() {
        let path = String::from_utf8_lossy(&e.path).into_owned();
        let old = before.remove(&e.path);
        let on_disk = old.as_ref().is_some_and(|(o, c)| *c || !is_skipped(o));
        let conflicted_before = old.as_ref().is_some_and(|(_, c)| *c);
        let needed = needed.contains(&path) || stage(&e) != 0;
        match old {
            Some((o, false))
                if stage(&e) == 0 && o.id == e.id && o.mode == e.mode && (on_disk || !needed) =>
            {
                continue;
            }
            _ if on_disk || needed => {
                e.flags_extended &= !IndexEntryExtendedFlag::SKIP_WORKTREE.bits();
                write.push(path);
            }
            _ => e.flags_extended |= IndexEntryExtendedFlag::SKIP_WORKTREE.bits(),
        }
        // Every stage of a path that changes between staged and conflicted goes first.
        if (stage(&e) != 0 || conflicted_before) && cleared.as_ref() != Some(&e.path) {
            index.remove_path(Path::new(&*String::from_utf8_lossy(&e.path)))?;
            cleared = Some(e.path.clone());
        }
        index.add(&e)?;
    }
    // What is left of the old index is gone from `target`.
    let mut removed = Vec::new();
    for (p, (o, c)) in before {
        let path = PathBuf::from(String::from_utf8_lossy(&p).into_owned());
        index.remove_path(&path)?;
        if c || !is_skipped(&o) {
            removed.push(root.join(path));
        }
    }
    index
        .write()
        .context("cannot write the backport worktree's index")?;
    if target.has_conflicts() {
        crate::backport::failpoint("conflict-index-written");
    }
    for file in removed {
        remove_file_and_empty_dirs(&root, &file)?;
    }
    write.sort();
    write.dedup();
    if !write.is_empty() {
        checkout.force().disable_pathspec_match(true);
        for p in &write {
            checkout.path(p);
        }
        wt.checkout_index(Some(&mut index), Some(checkout))
            .context("cannot write the files into the backport's worktree")?;
    }
    Ok(write)
}

/// Removes a tracked file and the directories it leaves empty (git does not track directories).
fn remove_file_and_empty_dirs(root: &Path, file: &Path) -> Result<()> {
    match std::fs::remove_file(file) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e).with_context(|| format!("cannot remove {}", file.display())),
    }
    let mut dir = file.parent();
    while let Some(d) = dir.filter(|d| *d != root && d.starts_with(root)) {
        if std::fs::remove_dir(d).is_err() {
            break;
        }
        dir = d.parent();
    }
    Ok(())
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
