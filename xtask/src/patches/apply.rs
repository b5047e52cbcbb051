//! Apply: base tag + series → a new branch, rebuilt in memory. Each patch's diff is applied to the
//! previous tree with libgit2 (no worktree, no index file, no fuzz: context must match), and each
//! commit gets the patch's author, date and message, with the author also as committer, so
//! rebuilding the same queue anywhere gives the same commit ids. The new objects land as one pack
//! and the branch ref is written once, at the end; a patch that does not apply leaves the
//! repository as it was.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use git2::{Oid, Repository, Signature};
use serde::Serialize;

use super::format::{unsafe_path_reason, PatchFile};
use super::queue;
use crate::{backport, repo};

/// What to rebuild where.
#[derive(Clone, Debug)]
pub struct ApplyRequest {
    /// The repository's queue directory (`runtime-patches/<repo>`).
    pub queue: PathBuf,
    /// The repository to create the branch in.
    pub target: PathBuf,
    /// The base tag (or any revision) the series applies onto.
    pub base: String,
    /// The branch to create.
    pub onto: String,
    /// Replace `onto` when it exists (never when it is checked out).
    pub force: bool,
}

/// One applied patch.
#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
pub struct AppliedPatch {
    pub file: String,
    pub commit: String,
}

/// The result of `patches apply`.
#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
pub struct ApplyReport {
    pub target: PathBuf,
    pub onto: String,
    pub base: String,
    pub tip: String,
    pub tree: String,
    pub patches: Vec<AppliedPatch>,
}

/// A queue read from disk: series order, parsed patches.
pub struct LoadedQueue {
    pub dir: PathBuf,
    pub patches: Vec<(String, PatchFile)>,
}

/// Reads and parses every patch of a queue's series, refusing at the first problem.
pub fn load(dir: &Path) -> Result<LoadedQueue> {
    let entries = queue::series_of(dir)?;
    let mut patches = Vec::new();
    for e in entries {
        let path = dir.join(&e.path);
        let bytes = std::fs::read(&path).with_context(|| {
            format!(
                "{}:{}: the series lists `{}` but it cannot be read; restore it or remove the line",
                dir.join("series").display(),
                e.line,
                e.path
            )
        })?;
        let patch = PatchFile::parse(&bytes).map_err(|err| {
            anyhow::anyhow!(
                "{}:{}: {}; fix the file or export the queue again",
                path.display(),
                err.line,
                err.message
            )
        })?;
        for f in &patch.files {
            for p in &f.paths {
                if let Some(why) = unsafe_path_reason(p) {
                    bail!(
                        "{}:{}: the path `{p}` {why}; the patch is refused",
                        path.display(),
                        f.line
                    );
                }
            }
        }
        patches.push((e.path, patch));
    }
    Ok(LoadedQueue {
        dir: dir.to_path_buf(),
        patches,
    })
}

/// A patch that did not apply: its index in the series and libgit2's reason.
pub struct Failure {
    pub index: usize,
    pub reason: String,
}

/// Applies `patches` in order onto `base`, creating the commits (no ref). Returns each commit.
pub fn rebuild(
    repo: &Repository,
    base: Oid,
    patches: &[(String, PatchFile)],
) -> Result<Result<Vec<Oid>, Failure>> {
    let mut parent = repo.find_commit(base)?;
    let mut commits = Vec::new();
    let mut progress = crate::console::Progress::new(patches.len(), patches.len() < 20);
    for (index, (name, patch)) in patches.iter().enumerate() {
        progress.step(name);
        let tree = parent.tree()?;
        let new_tree = if patch.diff.is_empty() {
            tree.id()
        } else {
            match apply_one(repo, &tree, patch) {
                Ok(id) => id,
                Err(e) => {
                    return Ok(Err(Failure {
                        index,
                        reason: e.message().to_string(),
                    }))
                }
            }
        };
        let when = git2::Time::new(patch.date.seconds, patch.date.offset);
        let sig =
            Signature::new(&patch.author_name, &patch.author_email, &when).with_context(|| {
                format!(
                    "{name}: invalid author `{} <{}>`",
                    patch.author_name, patch.author_email
                )
            })?;
        let id = repo.commit(
            None,
            &sig,
            &sig,
            &patch.message(),
            &repo.find_tree(new_tree)?,
            &[&parent],
        )?;
        commits.push(id);
        parent = repo.find_commit(id)?;
    }
    Ok(Ok(commits))
}

/// Applies one patch to `tree`. libgit2 applies to a tree holding only the files the patch names
/// (so the cost follows the patch, not the tens of thousands of files of dotnet/runtime), and the
/// result is written back into the full tree.
fn apply_one(repo: &Repository, tree: &git2::Tree, patch: &PatchFile) -> Result<Oid, git2::Error> {
    let diff = git2::Diff::from_buffer(&patch.diff)?;
    let mut touched: Vec<&str> = patch
        .files
        .iter()
        .flat_map(|f| f.paths.iter().map(String::as_str))
        .collect();
    touched.sort_unstable();
    touched.dedup();
    let mut reduced = git2::build::TreeUpdateBuilder::new();
    for path in &touched {
        if let Ok(entry) = tree.get_path(Path::new(path)) {
            if entry.kind() != Some(git2::ObjectType::Tree) {
                reduced.upsert(*path, entry.id(), file_mode(entry.filemode()));
            }
        }
    }
    let empty = repo.find_tree(repo.treebuilder(None)?.write()?)?;
    let reduced = repo.find_tree(reduced.create_updated(repo, &empty)?)?;
    let result = repo.apply_to_tree(&reduced, &diff, None)?;
    // Every touched path is removed unless the result has it.
    let mut updates: BTreeMap<String, Option<(Oid, i32)>> =
        touched.iter().map(|p| (p.to_string(), None)).collect();
    for entry in result.iter() {
        let path = String::from_utf8_lossy(&entry.path).into_owned();
        updates.insert(path, Some((entry.id, entry.mode as i32)));
    }
    let mut update = git2::build::TreeUpdateBuilder::new();
    for (path, entry) in &updates {
        match entry {
            Some((id, mode)) => update.upsert(path.as_str(), *id, file_mode(*mode)),
            None => update.remove(path.as_str()),
        };
    }
    update.create_updated(repo, tree)
}

fn file_mode(mode: i32) -> git2::FileMode {
    [
        git2::FileMode::BlobExecutable,
        git2::FileMode::Link,
        git2::FileMode::Commit,
    ]
    .into_iter()
    .find(|m| i32::from(*m) == mode)
    .unwrap_or(git2::FileMode::Blob)
}

/// Rebuilds the branch `req.onto` from the base and the queue.
pub fn apply(req: &ApplyRequest) -> Result<ApplyReport> {
    let repo = repo::open(&req.target)?;
    if !repo.is_bare() {
        repo::ensure_no_operation_in_progress(&repo)?;
        repo::ensure_clean(&repo)?;
    }
    let full = format!("refs/heads/{}", req.onto);
    let existing = repo.refname_to_id(&full).ok();
    if existing.is_some() {
        if !req.force {
            bail!(
                "branch `{}` already exists in {}; name a new branch with --onto, or pass --force to replace it",
                req.onto,
                req.target.display()
            );
        }
        if repo::worktree_with_branch(&repo, &req.onto)?.is_some() {
            bail!(
                "branch `{}` is checked out in a worktree of {}; check out another branch before replacing it",
                req.onto,
                req.target.display()
            );
        }
    }
    let base = repo
        .revparse_single(&req.base)
        .and_then(|o| o.peel_to_commit())
        .with_context(|| {
            format!(
                "the base `{}` is not in {}; fetch it (`git fetch --tags`) or pass --base",
                req.base,
                req.target.display()
            )
        })?
        .id();
    let loaded = load(&req.queue)?;
    let rebuilt = backport::with_packed_writes(
        &repo,
        |scratch| rebuild(scratch, base, &loaded.patches),
        |rebuilt| backport::Created {
            from: base,
            tip: match rebuilt {
                Ok(commits) => commits.last().copied().unwrap_or(base),
                Err(_) => base,
            },
            extra: Vec::new(),
        },
    )?;
    let commits = match rebuilt {
        Ok(c) => c,
        Err(f) => {
            let (name, patch) = &loaded.patches[f.index];
            bail!(
                "{}:{}: the patch does not apply onto {} + the {} patch(es) before it ({}); nothing was changed — refresh the queue from the fork branch (`cargo xtask patches refresh`) or fix the patch",
                loaded.dir.join(name).display(),
                patch.diff_line,
                req.base,
                f.index,
                f.reason
            );
        }
    };
    let tip = commits.last().copied().unwrap_or(base);
    let log = format!(
        "els patches apply: {} patch(es) onto {}",
        commits.len(),
        req.base
    );
    match existing {
        Some(old) => repo.reference_matching(&full, tip, true, old, &log),
        None => repo.reference(&full, tip, false, &log),
    }
    .with_context(|| format!("cannot write {full}: it changed while the queue was applied"))?;
    let tree = repo.find_commit(tip)?.tree_id().to_string();
    Ok(ApplyReport {
        target: req.target.clone(),
        onto: req.onto.clone(),
        base: req.base.clone(),
        tip: tip.to_string(),
        tree,
        patches: loaded
            .patches
            .iter()
            .zip(&commits)
            .map(|((file, _), c)| AppliedPatch {
                file: file.clone(),
                commit: c.to_string(),
            })
            .collect(),
    })
}
