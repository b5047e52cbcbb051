//! The publish lock: one publication at a time per published directory (a NuGet feed directory,
//! a package repository, a release directory), so two `publish`/`promote`/`package` runs never
//! interleave their writes.
//!
//! It is an advisory lock of the operating system (`flock` on Unix, `LockFileEx` on Windows) on a
//! file beside the channels' trees. The system releases it when the holder's process ends, however
//! it ends, so a killed publisher never leaves a stale lock behind; the lock file itself stays and
//! means nothing on its own.

use std::fs::{File, TryLockError};
use std::io::{Read as _, Seek as _, Write as _};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

/// The lock file's name inside the locked directory.
pub const FILE_NAME: &str = ".publish-lock";

/// How long a publisher waits for another one by default (a publication of a release takes
/// seconds to minutes; a CI job that waits longer is better told).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(600);

/// How often a waiting publisher tries again.
const RETRY: Duration = Duration::from_millis(200);

/// A held publish lock; dropping it releases the lock.
#[derive(Debug)]
pub struct PublishLock {
    file: File,
    path: PathBuf,
}

impl PublishLock {
    /// Locks `dir` (created if missing) for publishing `what` (for the messages). When another
    /// process holds the lock, says so on stderr and waits up to `timeout`, then fails (exit 2)
    /// naming the holder.
    pub fn acquire(dir: &Path, what: &str, timeout: Duration) -> Result<PublishLock> {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        PublishLock::acquire_file(dir.join(FILE_NAME), what, timeout)
    }

    /// Locks `dir` with a lock file beside it (`.<name>.publish-lock` in its parent) rather than
    /// in it: for a directory whose every file is published, such as a release directory.
    pub fn acquire_beside(dir: &Path, what: &str, timeout: Duration) -> Result<PublishLock> {
        let name = dir
            .file_name()
            .with_context(|| format!("{} names no directory to lock", dir.display()))?;
        let parent = match dir.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        let path = parent.join(format!(".{}{FILE_NAME}", name.to_string_lossy()));
        PublishLock::acquire_file(path, what, timeout)
    }

    fn acquire_file(path: PathBuf, what: &str, timeout: Duration) -> Result<PublishLock> {
        let file = File::options()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .with_context(|| format!("cannot open the publish lock {}", path.display()))?;
        let started = Instant::now();
        let mut announced = false;
        loop {
            match file.try_lock() {
                Ok(()) => break,
                Err(TryLockError::WouldBlock) => {}
                Err(TryLockError::Error(e)) => {
                    return Err(e).with_context(|| format!("cannot lock {}", path.display()));
                }
            }
            let holder = holder(&file);
            if started.elapsed() >= timeout {
                bail!(
                    "another publication of {what} ({holder}) still holds {} after {}s; wait for it to finish and run again (a killed publisher releases the lock by itself)",
                    path.display(),
                    timeout.as_secs()
                );
            }
            if !announced {
                eprintln!(
                    "{}",
                    crate::console::paint_err(
                        &format!(
                            "waiting for another publication of {what} ({holder}) to finish (lock {}, up to {}s)",
                            path.display(),
                            timeout.as_secs()
                        ),
                        crate::console::Style::Dim
                    )
                );
                announced = true;
            }
            std::thread::sleep(RETRY.min(timeout.saturating_sub(started.elapsed())));
        }
        let mut lock = PublishLock { file, path };
        lock.record_holder()
            .with_context(|| format!("cannot write the publish lock {}", lock.path.display()))?;
        Ok(lock)
    }

    /// Writes who holds the lock into the lock file, for the message a waiting publisher prints.
    fn record_holder(&mut self) -> std::io::Result<()> {
        let args: Vec<String> = std::env::args().skip(1).collect();
        self.file.set_len(0)?;
        self.file.rewind()?;
        writeln!(self.file, "pid {}: {}", std::process::id(), args.join(" "))
    }
}

/// Who holds the lock, as the holder recorded it.
fn holder(file: &File) -> String {
    let mut text = String::new();
    let mut reader = file;
    let recorded = reader
        .rewind()
        .and_then(|()| reader.read_to_string(&mut text))
        .is_ok();
    match text.lines().next() {
        Some(line) if recorded && !line.is_empty() => line.to_string(),
        _ => "a process that has not recorded itself yet".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_waits_then_fails_naming_the_holder_and_a_released_lock_is_free() {
        let dir = tempfile::tempdir().unwrap();
        let first = PublishLock::acquire(dir.path(), "the feed", DEFAULT_TIMEOUT).unwrap();
        let err = PublishLock::acquire(dir.path(), "the feed", Duration::from_millis(300))
            .unwrap_err()
            .to_string();
        assert!(err.contains("another publication of the feed"), "{err}");
        assert!(
            err.contains(&format!("pid {}", std::process::id())),
            "{err}"
        );
        assert!(!crate::error::is_internal(&anyhow::anyhow!(err)));
        drop(first);
        PublishLock::acquire(dir.path(), "the feed", Duration::ZERO).unwrap();
    }

    #[test]
    fn a_lock_beside_a_directory_puts_nothing_in_it_and_excludes_a_second_holder() {
        let parent = tempfile::tempdir().unwrap();
        let release = parent.path().join("6.0.37");
        std::fs::create_dir(&release).unwrap();
        let first = PublishLock::acquire_beside(&release, "the release", DEFAULT_TIMEOUT).unwrap();
        assert_eq!(std::fs::read_dir(&release).unwrap().count(), 0);
        assert!(parent.path().join(".6.0.37.publish-lock").is_file());
        let err = PublishLock::acquire_beside(&release, "the release", Duration::ZERO)
            .unwrap_err()
            .to_string();
        assert!(err.contains("another publication of the release"), "{err}");
        drop(first);
        PublishLock::acquire_beside(&release, "the release", Duration::ZERO).unwrap();
    }
}
