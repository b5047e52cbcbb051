//! A repository's queue directory on disk, `<queue>/<repo>/`, and how it is replaced as a whole:
//! the new queue is written beside it (`.<repo>.new`), then swapped in with two renames through
//! `.<repo>.old`. A run interrupted at any point leaves either the old or the new queue complete;
//! the next export finishes or undoes the swap, and readers use the old queue meanwhile.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use super::series;

/// The queue of one repository.
pub struct QueueDir {
    /// The queue root (`runtime-patches/`).
    pub root: PathBuf,
    /// The repository's name: its directory under the root.
    pub name: String,
}

impl QueueDir {
    pub fn new(root: &Path, name: &str) -> QueueDir {
        QueueDir {
            root: root.to_path_buf(),
            name: name.to_string(),
        }
    }

    /// `<root>/<repo>`.
    pub fn path(&self) -> PathBuf {
        self.root.join(&self.name)
    }

    fn staging(&self) -> PathBuf {
        self.root.join(format!(".{}.new", self.name))
    }

    fn backup(&self) -> PathBuf {
        self.root.join(format!(".{}.old", self.name))
    }

    /// The directory to read: the queue, or during an interrupted swap its complete backup.
    pub fn current(&self) -> Option<PathBuf> {
        [self.path(), self.backup()]
            .into_iter()
            .find(|p| p.is_dir())
    }

    /// Finishes or undoes a swap an earlier run did not complete, and drops a stale staging
    /// directory.
    pub fn recover(&self) -> Result<()> {
        let (path, backup, staging) = (self.path(), self.backup(), self.staging());
        if backup.is_dir() {
            if path.is_dir() {
                remove_dir(&backup)?;
            } else {
                std::fs::rename(&backup, &path).with_context(|| {
                    format!(
                        "cannot restore the queue {} from {}",
                        path.display(),
                        backup.display()
                    )
                })?;
            }
        }
        if staging.exists() {
            remove_dir(&staging)?;
        }
        Ok(())
    }

    /// Writes `files` (relative path → bytes) as the new queue and swaps it in.
    pub fn replace(&self, files: &[(String, Vec<u8>)]) -> Result<()> {
        self.recover()?;
        let (path, backup, staging) = (self.path(), self.backup(), self.staging());
        for (rel, bytes) in files {
            crate::atomic::write(&staging.join(rel), bytes)?;
        }
        std::fs::create_dir_all(&staging)
            .with_context(|| format!("cannot create {}", staging.display()))?;
        crate::backport::failpoint("patches-before-swap");
        if path.is_dir() {
            std::fs::rename(&path, &backup)
                .with_context(|| format!("cannot move the old queue {} aside", path.display()))?;
        }
        crate::backport::failpoint("patches-mid-swap");
        std::fs::rename(&staging, &path)
            .with_context(|| format!("cannot move the new queue into {}", path.display()))?;
        if backup.is_dir() {
            remove_dir(&backup)?;
        }
        Ok(())
    }
}

fn remove_dir(p: &Path) -> Result<()> {
    std::fs::remove_dir_all(p).with_context(|| format!("cannot remove {}", p.display()))
}

/// What a queue directory holds.
pub struct Contents {
    /// The series text, when there is a `series` file.
    pub series: Option<String>,
    /// Every `*.patch` file, relative to the directory with `/` separators, sorted.
    pub patches: Vec<String>,
    /// Every other file (kept as is by export): relative path and bytes.
    pub others: Vec<(String, Vec<u8>)>,
}

/// Reads a queue directory.
pub fn read(dir: &Path) -> Result<Contents> {
    let mut contents = Contents {
        series: None,
        patches: Vec::new(),
        others: Vec::new(),
    };
    for entry in walkdir::WalkDir::new(dir).sort_by_file_name() {
        let entry = entry.with_context(|| format!("cannot read {}", dir.display()))?;
        if !entry.file_type().is_file() {
            continue;
        }
        let rel = entry
            .path()
            .strip_prefix(dir)?
            .components()
            .map(|c| c.as_os_str().to_string_lossy())
            .collect::<Vec<_>>()
            .join("/");
        if rel == "series" {
            let text = std::fs::read_to_string(entry.path())
                .with_context(|| format!("cannot read {}", entry.path().display()))?;
            contents.series = Some(text);
        } else if rel.ends_with(".patch") {
            contents.patches.push(rel);
        } else {
            let bytes = std::fs::read(entry.path())
                .with_context(|| format!("cannot read {}", entry.path().display()))?;
            contents.others.push((rel, bytes));
        }
    }
    Ok(contents)
}

/// The series entries of a queue directory, or an error saying how to create one.
pub fn series_of(dir: &Path) -> Result<Vec<series::Entry>> {
    let path = dir.join("series");
    if !path.is_file() {
        bail!(
            "cannot read {}: the queue has no series; create it with `cargo xtask patches export`",
            path.display()
        );
    }
    series::read(dir)
}
