//! Opening the fork's repositories and the safety checks every writing command makes before it
//! changes anything: the repository exists, the worktree and index are clean, and no git
//! operation (merge, rebase, cherry-pick, …) is half-finished.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use git2::{Repository, RepositoryState, StatusOptions};

/// Opens the repository at `path` (a worktree or a bare repository) with a clear error.
pub fn open(path: &Path) -> Result<Repository> {
    if !path.exists() {
        bail!("repository not found: {} does not exist", path.display());
    }
    // Like git, trust the object database instead of re-hashing every object read (libgit2's
    // default, with collision-detecting SHA-1, costs a fifth of a backport's CPU time).
    git2::opts::strict_hash_verification(false);
    // Once per process, so that a command's own budget (`cherry`'s) is not reset by the next
    // repository it opens.
    static DEFAULT_BUDGET: std::sync::Once = std::sync::Once::new();
    let mut applied = Ok(());
    DEFAULT_BUDGET.call_once(|| applied = MemoryBudget::DEFAULT.apply());
    applied?;
    Repository::open(path).map_err(|e| {
        anyhow::anyhow!(
            "{} is not a git repository ({})",
            path.display(),
            e.message()
        )
    })
}

/// Opens the clone of a configured fork repository. When it is missing, the error names the
/// repository, the config key that points at it and how to create it (`cargo xtask init`).
pub fn open_fork(
    config: &crate::config::Config,
    repo: &crate::config::RepoConfig,
) -> Result<Repository> {
    let path = config.resolve(&repo.path);
    let file = config.root.join(crate::config::FILE_NAME);
    if !path.exists() {
        bail!(
            "this command needs the `{}` fork, and its clone {} does not exist (`path` of its \
             [[repo]] in {}); clone the fork there, or set the forks up with `cargo xtask init`",
            repo.name,
            path.display(),
            file.display()
        );
    }
    open(&path).with_context(|| {
        format!(
            "the `{}` fork's clone ({}, `path` of its [[repo]] in {}) cannot be opened",
            repo.name,
            path.display(),
            file.display()
        )
    })
}

/// How much memory libgit2 may hold for every repository in the process.
#[derive(Clone, Copy, Debug)]
pub struct MemoryBudget {
    /// libgit2's object cache (its default is 256 MiB).
    pub object_cache: usize,
    /// How much of a pack is mapped per window, and at most at once (libgit2's defaults map
    /// whole packs, up to 8 GiB: a walk across a long divergence would keep every page of a
    /// dotnet/runtime pack resident).
    pub pack_window: usize,
    pub pack_mapped: usize,
    /// libgit2's cache of the bases it resolved deltas from (16 MiB upstream, a constant there;
    /// the vendored libgit2 takes it at run time: vendor/README.md).
    pub delta_base_cache: usize,
}

impl MemoryBudget {
    /// What every command gets. The toolkit's walks keep what they reuse themselves
    /// (`backport::changes`, `backport::commit_graph`), so small caches cost little time. On the
    /// benchmark's 10,000-file repository the delta-base cache at upstream's 16 MiB was the
    /// largest part of every peak: at 2 MiB the fork's first conflict stop peaks at 23 MiB
    /// instead of 29, a 50-fix backport at 28–31 instead of 43, in the same CPU time there and
    /// at 50,000 files (BENCHMARKS.md, "fourth round"). A 1 MiB object cache peaked at 40 MiB
    /// where 4 MiB did at 44. Pack windows smaller than 1 MiB (4 MiB mapped) cost a tenth more
    /// CPU for 2 MiB. What is left is mostly the binary's pages and the pack index.
    pub const DEFAULT: MemoryBudget = MemoryBudget {
        object_cache: 1 << 20,
        pack_window: 1 << 20,
        pack_mapped: 4 << 20,
        delta_base_cache: 2 << 20,
    };

    /// For one long walk that reads every commit several times (`cherry`): the commits of the
    /// divergence fit the object cache (with 8 MiB instead of 16, `cherry` takes a fifth more
    /// CPU on the benchmark). The mapped pack stays small: every page of a mapped window that
    /// the walk touches counts as the process's memory, and with 32 MiB the whole pack of the
    /// 10,000-file benchmark (20 MiB) stayed resident (83 MiB against `git cherry`'s 56; 61 MiB
    /// now) at no gain in time, there or at 50,000 files.
    pub const HISTORY_WALK: MemoryBudget = MemoryBudget {
        object_cache: 16 << 20,
        pack_window: 1 << 20,
        pack_mapped: 8 << 20,
        delta_base_cache: 16 << 20,
    };

    /// Applies the budget (process-wide).
    pub fn apply(self) -> Result<()> {
        let cache = libc::ssize_t::try_from(self.object_cache).context("object cache too large")?;
        // SAFETY: GIT_OPT_SET_CACHE_MAX_SIZE takes one ssize_t. libgit2 is initialised: `open`
        // calls a git2 option setter (which initialises it) before applying the default budget.
        let rc = unsafe {
            libgit2_sys::git_libgit2_opts(
                libgit2_sys::GIT_OPT_SET_CACHE_MAX_SIZE as libc::c_int,
                cache,
            )
        };
        if rc < 0 {
            bail!("libgit2 refused an object cache budget of {cache} bytes");
        }
        // SAFETY: a plain setter of a global size (the vendored libgit2's addition).
        unsafe { git_pack__els_set_cache_memory_limit(self.delta_base_cache) };
        set_pack_windows(self.pack_window, self.pack_mapped)
    }
}

extern "C" {
    /// Sets the delta-base cache's budget and returns the previous one (vendor/README.md).
    fn git_pack__els_set_cache_memory_limit(limit: usize) -> usize;
}

/// The largest commit or tree libgit2's object cache stores (`git_cache__max_object_size`): its
/// default, which the toolkit leaves as it is.
const LIBGIT2_CACHED_OBJECT_LIMIT: usize = 4096;

/// Reads an object without storing it in libgit2's object cache, for the walks that keep what
/// they reuse themselves (`backport::changes`, `backport::commit_graph`). Over its budget, the
/// cache evicts on every store, each time scanning its table from the start: with those walks'
/// reads stored too, that scan was a fifth of a 50-fix backport's instructions. An object
/// already in the cache is still read from there.
pub fn read_uncached<'o>(odb: &'o git2::Odb, id: git2::Oid) -> Result<git2::OdbObject<'o>> {
    set_cached_object_limit(0)?;
    let object = odb.read(id);
    set_cached_object_limit(LIBGIT2_CACHED_OBJECT_LIMIT)?;
    Ok(object?)
}

fn set_cached_object_limit(limit: usize) -> Result<()> {
    for kind in [git2::ObjectType::Commit, git2::ObjectType::Tree] {
        // SAFETY: a plain setter of a global size.
        unsafe { git2::opts::set_cache_object_limit(kind, limit)? };
    }
    Ok(())
}

fn set_pack_windows(window: usize, mapped: usize) -> Result<()> {
    // SAFETY: plain setters of global sizes.
    unsafe {
        git2::opts::set_mwindow_size(window)?;
        git2::opts::set_mwindow_mapped_limit(mapped)?;
    }
    Ok(())
}

/// Runs `write` (which writes a pack) with libgit2's default pack windows, whole packs up to
/// 8 GiB: libgit2's indexer fails ("unexpected data at the end of the pack") when it indexes a
/// pack larger than the bounded windows of a `MemoryBudget`.
pub fn with_whole_pack_windows<T>(write: impl FnOnce() -> Result<T>) -> Result<T> {
    // SAFETY: plain getters of global sizes.
    let (window, mapped) = unsafe {
        (
            git2::opts::get_mwindow_size()?,
            git2::opts::get_mwindow_mapped_limit()?,
        )
    };
    set_pack_windows(1 << 30, 8 << 30)?;
    let result = write();
    set_pack_windows(window, mapped)?;
    result
}

/// Refuses when a git operation is half-finished in `repo`'s worktree.
pub fn ensure_no_operation_in_progress(repo: &Repository) -> Result<()> {
    let what = match repo.state() {
        RepositoryState::Clean => return Ok(()),
        RepositoryState::Merge => "a merge",
        RepositoryState::Revert | RepositoryState::RevertSequence => "a revert",
        RepositoryState::CherryPick | RepositoryState::CherryPickSequence => "a cherry-pick",
        RepositoryState::Bisect => "a bisect",
        RepositoryState::Rebase
        | RepositoryState::RebaseInteractive
        | RepositoryState::RebaseMerge => "a rebase",
        RepositoryState::ApplyMailbox | RepositoryState::ApplyMailboxOrRebase => "a `git am`",
    };
    bail!(
        "{what} is in progress in {}; finish it or abort it with git first (`git status` says how)",
        workdir_or_gitdir(repo).display()
    )
}

/// Refuses when the worktree or index has changes: modified, staged, deleted or untracked files.
/// Ignored files do not count.
pub fn ensure_clean(repo: &Repository) -> Result<()> {
    if repo.is_bare() {
        return Ok(());
    }
    let mut opts = StatusOptions::new();
    opts.include_untracked(true)
        .recurse_untracked_dirs(false)
        .include_ignored(false)
        .exclude_submodules(true);
    let statuses = repo
        .statuses(Some(&mut opts))
        .context("cannot read the worktree status")?;
    if statuses.is_empty() {
        return Ok(());
    }
    // libgit2 reports a file that a sparse checkout left out on purpose (skip-worktree) as
    // deleted; git does not, and neither does this check.
    let index = repo.index().context("cannot read the index")?;
    let changed: Vec<String> = statuses
        .iter()
        .filter_map(|s| s.path().map(|p| (s.status(), p.to_string())))
        .filter(|(status, p)| !(*status == git2::Status::WT_DELETED && left_out(&index, p)))
        .map(|(_, p)| p)
        .collect();
    if changed.is_empty() {
        return Ok(());
    }
    let mut paths: Vec<String> = changed.iter().take(5).cloned().collect();
    if changed.len() > paths.len() {
        paths.push(format!("… and {} more", changed.len() - paths.len()));
    }
    bail!(
        "the worktree {} has uncommitted changes ({}); commit or stash them (`git stash -u`) first",
        workdir_or_gitdir(repo).display(),
        paths.join(", ")
    )
}

/// True when `path` is marked skip-worktree in `index`: left out of the worktree on purpose, as
/// `git sparse-checkout` leaves files out.
pub fn left_out(index: &git2::Index, path: &str) -> bool {
    index
        .get_path(Path::new(path), 0)
        .is_some_and(|e| e.flags_extended & git2::IndexEntryExtendedFlag::SKIP_WORKTREE.bits() != 0)
}

/// The worktree directory, or the git directory of a bare repository.
pub fn workdir_or_gitdir(repo: &Repository) -> PathBuf {
    repo.workdir().unwrap_or_else(|| repo.path()).to_path_buf()
}

/// Finds the worktree (main or linked) where `branch` is checked out, if any.
pub fn worktree_with_branch(repo: &Repository, branch: &str) -> Result<Option<Repository>> {
    let full = format!("refs/heads/{branch}");
    if !repo.is_bare() && head_is(repo, &full) {
        return Repository::open(repo.workdir().unwrap_or(repo.path()))
            .map(Some)
            .map_err(Into::into);
    }
    for name in repo.worktrees()?.iter().flatten() {
        let wt = repo.find_worktree(name)?;
        if wt.validate().is_err() {
            continue;
        }
        let linked = Repository::open_from_worktree(&wt)?;
        if head_is(&linked, &full) {
            return Ok(Some(linked));
        }
    }
    Ok(None)
}

fn head_is(repo: &Repository, full_ref: &str) -> bool {
    repo.find_reference("HEAD")
        .ok()
        .and_then(|h| h.symbolic_target().map(|t| t == full_ref))
        .unwrap_or(false)
}

/// The committer identity for commits the toolkit makes: git's configured identity, or a
/// recognisable default when none is configured (as in CI).
pub fn committer(repo: &Repository) -> git2::Signature<'static> {
    repo.signature().map(|s| s.to_owned()).unwrap_or_else(|_| {
        git2::Signature::now("net6-els", "net6-els@localhost").expect("static signature is valid")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn git(dir: &Path, args: &[&str]) {
        let sh = crate::process::shell().unwrap();
        crate::process::output(sh.cmd("git").arg("-C").arg(dir).args(args)).unwrap();
    }

    fn commit(dir: &Path, message: &str) {
        git(
            dir,
            &[
                "-c",
                "user.name=t",
                "-c",
                "user.email=t@t",
                "commit",
                "-qm",
                message,
            ],
        );
    }

    #[test]
    fn a_sparse_checkout_is_clean_but_a_change_inside_it_or_a_deleted_file_is_not() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        git(dir, &["init", "-q", "-b", "main"]);
        for f in ["kept/a.txt", "left/b.txt", "left/c.txt"] {
            std::fs::create_dir_all(dir.join(f).parent().unwrap()).unwrap();
            std::fs::write(dir.join(f), f).unwrap();
        }
        git(dir, &["add", "."]);
        commit(dir, "files");
        git(dir, &["sparse-checkout", "set", "kept"]);
        assert!(!dir.join("left/b.txt").exists());
        ensure_clean(&open(dir).unwrap()).unwrap();

        std::fs::write(dir.join("kept/a.txt"), "changed").unwrap();
        let err = ensure_clean(&open(dir).unwrap()).unwrap_err().to_string();
        assert!(err.contains("uncommitted changes (kept/a.txt)"), "{err}");

        git(dir, &["checkout", "--", "kept/a.txt"]);
        std::fs::remove_file(dir.join("kept/a.txt")).unwrap();
        let err = ensure_clean(&open(dir).unwrap()).unwrap_err().to_string();
        assert!(err.contains("uncommitted changes (kept/a.txt)"), "{err}");
    }

    /// The vendored libgit2's delta-base budget (vendor/README.md): objects read through long
    /// delta chains come out whole whatever the budget, down to nothing cached at all (upstream's
    /// loop would spin forever on a budget smaller than one base).
    #[test]
    fn objects_read_alike_whatever_the_delta_base_budget() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        git(dir, &["init", "-q", "-b", "main"]);
        let mut versions = Vec::new();
        let mut text = String::new();
        for i in 0..40 {
            text.push_str(&format!("line {i}: {}\n", "x".repeat(300)));
            std::fs::write(dir.join("file.txt"), &text).unwrap();
            git(dir, &["add", "file.txt"]);
            commit(dir, "more");
            versions.push(text.clone().into_bytes());
        }
        git(dir, &["repack", "-adfq", "--depth=50", "--window=50"]);
        let sh = crate::process::shell().unwrap();
        let pack = std::fs::read_dir(dir.join(".git/objects/pack"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| p.extension().is_some_and(|x| x == "idx"))
            .unwrap();
        let listing =
            crate::process::read(sh.cmd("git").arg("verify-pack").arg("-v").arg(&pack)).unwrap();
        assert!(
            listing.contains("chain length = 2"),
            "no delta chains:\n{listing}"
        );
        let expected: Vec<(git2::Oid, &[u8])> = versions
            .iter()
            .map(|v| {
                (
                    git2::Oid::hash_object(git2::ObjectType::Blob, v).unwrap(),
                    &v[..],
                )
            })
            .collect();
        for budget in [0, 1, 400, MemoryBudget::DEFAULT.delta_base_cache] {
            // SAFETY: a plain setter of a global size; other tests only ever set budgets too.
            let previous = unsafe { git_pack__els_set_cache_memory_limit(budget) };
            {
                let repo = Repository::open(dir).unwrap();
                let odb = repo.odb().unwrap();
                for (id, bytes) in &expected {
                    let data = odb.read(*id).unwrap().data().to_vec();
                    assert_eq!(&data[..], *bytes, "{id} with a budget of {budget}");
                }
            }
            // SAFETY: as above.
            unsafe { git_pack__els_set_cache_memory_limit(previous) };
        }
    }
}
