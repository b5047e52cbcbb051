//! Atomic file writes: every file the toolkit produces is written to a temporary file in the same
//! directory and renamed into place, so an interrupted run never leaves a half-written file.
//! A write that fails is an internal failure (exit status 3): the input was already accepted.

use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result};

use crate::error::ResultExt as _;

/// Writes `contents` to `path` atomically, creating parent directories as needed.
pub fn write(path: &Path, contents: impl AsRef<[u8]>) -> Result<()> {
    write_file(path, contents.as_ref()).internal()
}

fn write_file(path: &Path, contents: &[u8]) -> Result<()> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    std::fs::create_dir_all(dir)
        .with_context(|| format!("cannot create directory {}", dir.display()))?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir)
        .with_context(|| format!("cannot create a temporary file in {}", dir.display()))?;
    tmp.write_all(contents)
        .and_then(|()| tmp.as_file().sync_all())
        .with_context(|| format!("cannot write {}", path.display()))?;
    tmp.persist(path)
        .map_err(|e| e.error)
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}
