//! Triage decisions kept in the repository (`advisories/triage.toml`): for a CVE, whether the
//! fork is `not-affected` (with an OpenVEX justification and a written statement — that is
//! what a VEX statement and an auditor need) or `affected` (forcing it into the backport plan
//! when Microsoft's data alone would leave it in `needs-triage`).
//!
//! ```toml
//! [CVE-2026-21218]
//! status = "not-affected"
//! justification = "component_not_present"
//! statement = "System.Security.Cryptography.Cose is new in .NET 7; .NET 6 has no COSE code."
//! ```

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{anyhow, bail, Context, Result};
use serde::{Deserialize, Serialize};

use crate::cve::CveId;

/// A triage decision's outcome.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Decision {
    NotAffected,
    Affected,
}

/// Why a product is not affected, as OpenVEX v0.2.0 spells it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Justification {
    ComponentNotPresent,
    VulnerableCodeNotPresent,
    VulnerableCodeNotInExecutePath,
    VulnerableCodeCannotBeControlledByAdversary,
    InlineMitigationsAlreadyExist,
}

impl Justification {
    /// The OpenVEX enum value.
    pub fn as_str(self) -> &'static str {
        match self {
            Justification::ComponentNotPresent => "component_not_present",
            Justification::VulnerableCodeNotPresent => "vulnerable_code_not_present",
            Justification::VulnerableCodeNotInExecutePath => "vulnerable_code_not_in_execute_path",
            Justification::VulnerableCodeCannotBeControlledByAdversary => {
                "vulnerable_code_cannot_be_controlled_by_adversary"
            }
            Justification::InlineMitigationsAlreadyExist => "inline_mitigations_already_exist",
        }
    }
}

/// One CVE's triage.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    pub status: Decision,
    /// Required for `not-affected`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub justification: Option<Justification>,
    /// The written reasoning, shown in reports and published in the VEX document.
    pub statement: String,
}

/// All triage decisions, by CVE.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Triage {
    pub entries: BTreeMap<CveId, Entry>,
}

impl Triage {
    /// Reads the triage file; a missing file means no decisions yet.
    pub fn load(path: &Path) -> Result<Triage> {
        if !path.exists() {
            return Ok(Triage::default());
        }
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the triage file {}", path.display()))?;
        Triage::parse(&text, path)
    }

    /// Parses triage text; `origin` names the file in errors, which carry its line number.
    pub fn parse(text: &str, origin: &Path) -> Result<Triage> {
        let line_of = |offset: usize| text[..offset.min(text.len())].matches('\n').count() + 1;
        let raw: BTreeMap<toml::Spanned<String>, toml::Spanned<Entry>> = toml::from_str(text)
            .map_err(|e| {
                let place = e
                    .span()
                    .map(|s| format!(":{}", line_of(s.start)))
                    .unwrap_or_default();
                anyhow!("{}{place}: {}", origin.display(), e.message().trim())
            })?;
        let mut entries = BTreeMap::new();
        for (key, entry) in raw {
            let line = line_of(key.span().start);
            let id: CveId = key.get_ref().parse().map_err(|e| {
                anyhow!(
                    "{}:{line}: table [{}]: {e:#}",
                    origin.display(),
                    key.get_ref()
                )
            })?;
            let entry = entry.into_inner();
            if entry.status == Decision::NotAffected && entry.justification.is_none() {
                bail!(
                    "{}:{line}: [{id}] is not-affected but has no `justification`; add one of component_not_present, \
                     vulnerable_code_not_present, vulnerable_code_not_in_execute_path, \
                     vulnerable_code_cannot_be_controlled_by_adversary, inline_mitigations_already_exist",
                    origin.display()
                );
            }
            if entry.statement.trim().is_empty() {
                bail!(
                    "{}:{line}: [{id}] has an empty `statement`; write why (auditors read it)",
                    origin.display()
                );
            }
            entries.insert(id, entry);
        }
        Ok(Triage { entries })
    }

    /// The decision for `id`, if any.
    pub fn get(&self, id: &CveId) -> Option<&Entry> {
        self.entries.get(id)
    }
}
