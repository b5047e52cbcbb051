//! Which CVEs the patch queue fixes: the `CVE:` mail-header field of every patch listed in a
//! `runtime-patches/<repo>/series` file (format: runtime-patches/README.md). Patches not listed
//! in a series are not applied, so they do not count.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};

use crate::cve::CveId;
use crate::patches::series;

/// A patch in the queue that names a CVE.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueuedPatch {
    /// The fork repository (the directory name under runtime-patches/).
    pub repo: String,
    /// The patch path relative to the repository's queue directory, as listed in `series`.
    pub patch: String,
}

/// CVE → the queued patches that fix it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct QueueCves {
    pub by_cve: BTreeMap<CveId, Vec<QueuedPatch>>,
}

impl QueueCves {
    /// Reads every `<dir>/<repo>/series`. A missing queue directory is an empty queue.
    pub fn read(dir: &Path) -> Result<QueueCves> {
        let mut queue = QueueCves::default();
        if !dir.exists() {
            return Ok(queue);
        }
        let mut repos: Vec<PathBuf> = std::fs::read_dir(dir)
            .with_context(|| format!("cannot list the patch queue {}", dir.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.join("series").is_file())
            .collect();
        repos.sort();
        for repo_dir in repos {
            let repo = repo_dir
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default()
                .to_string();
            let series = repo_dir.join("series");
            for entry in series::read(&repo_dir)? {
                let name = entry.path.as_str();
                let path = repo_dir.join(name);
                let patch = std::fs::read_to_string(&path).map_err(|e| {
                    anyhow!(
                        "{}:{}: lists `{name}`, which cannot be read ({e}); fix the series or restore the patch",
                        series.display(),
                        entry.line
                    )
                })?;
                for id in header_cves(&patch).map_err(|e| anyhow!("{}: {e:#}", path.display()))? {
                    queue.by_cve.entry(id).or_default().push(QueuedPatch {
                        repo: repo.clone(),
                        patch: name.to_string(),
                    });
                }
            }
        }
        Ok(queue)
    }

    /// The patches fixing `id`.
    pub fn patches(&self, id: &CveId) -> &[QueuedPatch] {
        self.by_cve.get(id).map(Vec::as_slice).unwrap_or(&[])
    }
}

/// The CVE ids in a patch's mail header (`CVE: CVE-…, CVE-…`). The header ends at the first
/// blank line; folded continuation lines (starting with whitespace) belong to the field above.
pub fn header_cves(patch: &str) -> Result<Vec<CveId>> {
    let mut fields: Vec<(String, String)> = Vec::new();
    for line in patch.lines() {
        if line.trim().is_empty() {
            break;
        }
        if line.starts_with([' ', '\t']) {
            if let Some((_, value)) = fields.last_mut() {
                value.push(' ');
                value.push_str(line.trim());
            }
            continue;
        }
        if let Some((name, value)) = line.split_once(':') {
            fields.push((name.trim().to_string(), value.trim().to_string()));
        }
    }
    let mut ids = Vec::new();
    for (_, value) in fields
        .iter()
        .filter(|(name, _)| name.eq_ignore_ascii_case("CVE"))
    {
        for part in value.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let id: CveId = part
                .parse()
                .with_context(|| format!("the `CVE:` header field has `{value}`"))?;
            if !ids.contains(&id) {
                ids.push(id);
            }
        }
    }
    if ids.is_empty()
        && fields
            .iter()
            .any(|(n, v)| n.eq_ignore_ascii_case("CVE") && v.is_empty())
    {
        bail!("the `CVE:` header field is empty; name the CVE or remove the field");
    }
    Ok(ids)
}
