//! Reading which CVEs the patch queue fixes: every `runtime-patches/<repo>/series` and the DEP-3
//! mail-header fields (`CVE:`, `Description:`, `Origin:`, `Bug:`) of each patch it lists.

use std::path::Path;

use anyhow::{bail, Context, Result};
use serde::Serialize;

use crate::cve::CveId;
use crate::patches::series;

/// One queued patch: a security fix (the CVEs it fixes) or another change of the fork (no CVE).
#[derive(Clone, Debug, Serialize)]
pub struct QueuedFix {
    pub repo: String,
    /// The patch file relative to the queue directory.
    pub patch: String,
    pub cves: Vec<String>,
    pub description: String,
    /// The `Origin:` field: `upstream, <url>`, `backport, <url>` or `vendor` (the fork's own).
    pub origin: String,
    pub bug: Option<String>,
    pub applied_upstream: Option<String>,
}

/// Reads every series in `queue_dir` and returns its patches in order: those with a `CVE:` field
/// are the release's security fixes; the others (no CVE, `Origin:` `vendor` when absent) are listed
/// as other changes, so the notes account for every patch the release ships.
pub fn read(queue_dir: &Path) -> Result<Vec<QueuedFix>> {
    let mut fixes = Vec::new();
    let entries = std::fs::read_dir(queue_dir).with_context(|| {
        format!(
            "cannot read the patch queue {} (`[patches] dir` in els.toml)",
            queue_dir.display()
        )
    })?;
    let mut repos: Vec<String> = entries
        .filter_map(|e| e.ok())
        .filter(|e| e.path().join("series").is_file())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    repos.sort();
    for repo in repos {
        let series_path = queue_dir.join(&repo).join("series");
        for entry in series::read(&queue_dir.join(&repo))? {
            let entry_path = entry.path.as_str();
            let path = queue_dir.join(&repo).join(entry_path);
            let text = std::fs::read_to_string(&path).map_err(|e| {
                anyhow::anyhow!(
                    "{}:{}: cannot read the listed patch {entry_path}: {e}",
                    series_path.display(),
                    entry.line
                )
            })?;
            let fields = header_fields(&text);
            let field = |name: &str| {
                fields
                    .iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case(name))
                    .map(|(_, v)| v.clone())
            };
            let cve = field("CVE");
            if cve.is_none() && entry_path.starts_with("CVE-") {
                bail!(
                    "{}: the patch is filed under a CVE directory but has no `CVE:` header field",
                    path.display()
                );
            }
            let cve = cve.unwrap_or_default();
            let cves: Vec<String> = cve
                .split(',')
                .map(|c| c.trim().to_string())
                .filter(|c| !c.is_empty())
                .collect();
            if let Some(bad) = cves.iter().find(|c| !CveId::is_valid(c)) {
                bail!(
                    "{}: `CVE: {cve}` names `{bad}`, which is not a CVE id like CVE-2025-55248",
                    path.display()
                );
            }
            let description = field("Description").or_else(|| {
                field("Subject").map(|s| s.trim_start_matches("[PATCH]").trim().to_string())
            });
            let origin = match field("Origin") {
                Some(origin) => origin,
                None if cves.is_empty() => "vendor".to_string(),
                None => bail!(
                    "{}: a CVE patch needs an `Origin:` header field",
                    path.display()
                ),
            };
            fixes.push(QueuedFix {
                repo: repo.clone(),
                patch: format!("{repo}/{entry_path}"),
                cves,
                description: description.unwrap_or_default(),
                origin,
                bug: field("Bug"),
                applied_upstream: field("Applied-Upstream"),
            });
        }
    }
    Ok(fixes)
}

/// The CVE ids the fixes cover, sorted and unique.
pub fn cve_ids(fixes: &[QueuedFix]) -> Vec<String> {
    let mut ids: Vec<String> = fixes.iter().flat_map(|f| f.cves.iter().cloned()).collect();
    ids.sort();
    ids.dedup();
    ids
}

/// The upstream commit URL in an `Origin:` field (`upstream, <url>`).
pub fn origin_url(origin: &str) -> &str {
    origin.split_once(',').map_or(origin, |(_, url)| url).trim()
}

/// The mail header's fields (up to the first blank line), with folded lines joined.
fn header_fields(text: &str) -> Vec<(String, String)> {
    let mut fields: Vec<(String, String)> = Vec::new();
    for line in text.lines().skip_while(|l| l.starts_with("From ")) {
        if line.is_empty() {
            break;
        }
        if line.starts_with([' ', '\t']) {
            if let Some(last) = fields.last_mut() {
                last.1.push(' ');
                last.1.push_str(line.trim());
            }
        } else if let Some((k, v)) = line.split_once(':') {
            fields.push((k.trim().to_string(), v.trim().to_string()));
        }
    }
    fields
}
