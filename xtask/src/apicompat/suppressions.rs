//! apicompat.toml: the accepted public API differences, each tied to a CVE with a written
//! justification; applying it marks covered differences and finds stale entries.

use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context as _, Result};
use serde::Deserialize;

use super::report::{Acceptance, Kind, Report};
use crate::cve::CveId;

/// The file name, beside els.toml.
pub const FILE_NAME: &str = "apicompat.toml";

/// One accepted difference.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Suppression {
    /// The assembly's simple name.
    pub assembly: String,
    /// The kind of difference accepted.
    pub kind: Kind,
    /// The item as the report names it (`Type.Member(params)`, a type, or the assembly).
    pub item: String,
    /// The CVE whose fix needs the change.
    pub cve: CveId,
    /// Why the change is acceptable.
    pub justification: String,
    /// The line of the entry in the file (for stale-entry errors).
    pub line: usize,
}

/// The parsed suppression file.
#[derive(Clone, Debug, Default)]
pub struct Suppressions {
    /// Where it was read from (`None`: no file).
    pub path: Option<PathBuf>,
    /// The entries in file order.
    pub entries: Vec<Suppression>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    accept: Vec<toml::Spanned<RawEntry>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEntry {
    assembly: String,
    kind: Kind,
    item: String,
    cve: String,
    justification: String,
}

impl Suppressions {
    /// Reads `path`; a missing file means nothing is accepted.
    pub fn load(path: &Path) -> Result<Suppressions> {
        if !path.exists() {
            return Ok(Suppressions::default());
        }
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        Suppressions::parse(&text, path)
    }

    /// Parses suppression text; `origin` names the file in errors, which carry the line.
    pub fn parse(text: &str, origin: &Path) -> Result<Suppressions> {
        let line_of = |offset: usize| text[..offset.min(text.len())].matches('\n').count() + 1;
        let raw: RawFile = toml::from_str(text).map_err(|e| {
            let place = e
                .span()
                .map(|s| format!(":{}", line_of(s.start)))
                .unwrap_or_default();
            anyhow!(
                "{}{place}: {} (each [[accept]] entry needs assembly, kind = added|removed|changed|identity, item, cve and justification)",
                origin.display(),
                e.message().trim()
            )
        })?;
        let mut entries = Vec::new();
        for spanned in raw.accept {
            let line = line_of(spanned.span().start);
            let entry = spanned.into_inner();
            let cve: CveId = entry
                .cve
                .parse()
                .map_err(|e| anyhow!("{}:{line}: cve {:?}: {e:#}", origin.display(), entry.cve))?;
            if entry.justification.trim().is_empty() {
                bail!(
                    "{}:{line}: the entry for {} has an empty justification; write why the change is acceptable (it goes into the release notes)",
                    origin.display(),
                    entry.item
                );
            }
            if entry.assembly.trim().is_empty() || entry.item.trim().is_empty() {
                bail!(
                    "{}:{line}: assembly and item must name the difference as the report shows it",
                    origin.display()
                );
            }
            entries.push(Suppression {
                assembly: entry.assembly,
                kind: entry.kind,
                item: entry.item,
                cve,
                justification: entry.justification.trim().to_string(),
                line,
            });
        }
        Ok(Suppressions {
            path: Some(origin.to_path_buf()),
            entries,
        })
    }

    /// Marks the differences the entries accept; returns the entries that matched nothing.
    pub fn apply(&self, report: &mut Report) -> Vec<&Suppression> {
        let mut stale = Vec::new();
        for entry in &self.entries {
            let mut matched = false;
            for d in report.differences.iter_mut().filter(|d| {
                d.assembly == entry.assembly && d.kind == entry.kind && d.item == entry.item
            }) {
                d.accepted = Some(Acceptance {
                    cve: entry.cve.to_string(),
                    justification: entry.justification.clone(),
                });
                matched = true;
            }
            if !matched {
                stale.push(entry);
            }
        }
        stale
    }

    /// `file:line` of an entry, for messages.
    pub fn place(&self, entry: &Suppression) -> String {
        format!(
            "{}:{}",
            self.path
                .as_deref()
                .map(|p| p.display().to_string())
                .unwrap_or_else(|| FILE_NAME.to_string()),
            entry.line
        )
    }
}
