//! OpenVEX v0.2.0 (https://openvex.dev) for a fork release: one statement per tracked CVE saying
//! whether the release is `fixed` (the patch queue carries the fix), `not_affected` (triaged,
//! with justification and the written statement), `affected` (pending backport) or
//! `under_investigation` (not triaged yet).

use std::collections::BTreeSet;

use anyhow::{bail, Result};
use serde::Serialize;

use super::status::{Status, StatusReport};
use super::triage::Triage;
use super::{Advisory, FixKind, Snapshot};

/// The JSON-LD context of OpenVEX v0.2.0.
pub const CONTEXT: &str = "https://openvex.dev/ns/v0.2.0";

/// An OpenVEX document.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Document {
    #[serde(rename = "@context")]
    pub context: String,
    #[serde(rename = "@id")]
    pub id: String,
    pub author: String,
    pub role: String,
    pub timestamp: String,
    pub version: u32,
    pub tooling: String,
    pub statements: Vec<Statement>,
}

/// One OpenVEX statement.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Statement {
    pub vulnerability: Vulnerability,
    pub products: Vec<Product>,
    pub status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub justification: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status_notes: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub action_statement: Option<String>,
}

/// The vulnerability a statement is about.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Vulnerability {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// A product of the fork release, identified by a package URL.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Product {
    #[serde(rename = "@id")]
    pub id: String,
    pub identifiers: Identifiers,
}

/// Software identifiers of a product.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Identifiers {
    pub purl: String,
}

/// What the document is about and who issues it.
pub struct VexInput<'a> {
    /// The fork release, `6.0.N`.
    pub product_version: &'a str,
    /// The revision of its Linux packages (`[packages] revision`, `1.els`): the products are also
    /// named by the packages' purls (`pkg:deb/…`, `pkg:rpm/…`), as scanners see them installed.
    pub package_revision: &'a str,
    pub author: &'a str,
    /// `@id` prefix; the product version is appended.
    pub id_prefix: &'a str,
    /// RFC 3339 issue time.
    pub timestamp: jiff::Timestamp,
}

/// Checks a fork release version: `6.0.N`, optionally with a `-suffix`.
pub fn check_product_version(version: &str) -> Result<()> {
    let core = version.split('-').next().unwrap_or(version);
    let parts: Vec<&str> = core.split('.').collect();
    let ok = parts.len() == 3
        && parts[0] == "6"
        && parts[1] == "0"
        && !parts[2].is_empty()
        && parts[2].bytes().all(|b| b.is_ascii_digit());
    if !ok {
        bail!("--product-version `{version}` is not a .NET 6 release version; expected 6.0.N, e.g. 6.0.37");
    }
    Ok(())
}

/// The fork products a CVE touches: cve.json products, packages mapped by their fix repository,
/// or the whole release when Microsoft has not said.
fn product_names(advisory: &Advisory) -> BTreeSet<&'static str> {
    let mut names = BTreeSet::new();
    for fix in &advisory.fixes {
        let name = match (fix.kind, fix.component.as_str()) {
            (FixKind::Product, "dotnet-runtime") => Some("dotnet-runtime"),
            (FixKind::Product, "dotnet-aspnetcore") => Some("dotnet-aspnetcore"),
            (FixKind::Product, "dotnet-sdk") => Some("dotnet-sdk"),
            (FixKind::Product, "dotnet-windowsdesktop") => Some("dotnet-windowsdesktop"),
            _ => None,
        };
        names.extend(name);
        if name.is_none() {
            for key in &fix.commits {
                let by_repo = match advisory.commits.get(key).map(|c| c.repo.as_str()) {
                    Some("runtime" | "dotnet") => Some("dotnet-runtime"),
                    Some("aspnetcore") => Some("dotnet-aspnetcore"),
                    Some("wpf" | "winforms") => Some("dotnet-windowsdesktop"),
                    Some("sdk" | "msbuild") => Some("dotnet-sdk"),
                    _ => None,
                };
                names.extend(by_repo);
            }
        }
    }
    if names.is_empty() {
        names.insert("dotnet");
    }
    names
}

/// Builds the document from the status report (which already joined triage and the queue).
pub fn document(
    snapshot: &Snapshot,
    report: &StatusReport,
    triage: &Triage,
    input: &VexInput,
) -> Result<Document> {
    check_product_version(input.product_version)?;
    if report.rows.is_empty() {
        bail!("the advisory snapshot tracks no CVEs, and OpenVEX needs at least one statement; run `cargo xtask advisories sync`");
    }
    let mut statements = Vec::new();
    for row in &report.rows {
        let Some(advisory) = snapshot.get(&row.id) else {
            continue;
        };
        let products = product_names(advisory)
            .into_iter()
            .flat_map(|name| {
                let generic = format!("pkg:generic/{name}@{}", input.product_version);
                let packages = crate::package::purl::packages_of(name)
                    .iter()
                    .flat_map(|p| {
                        crate::package::purl::purls(
                            p,
                            input.product_version,
                            input.package_revision,
                        )
                    });
                std::iter::once(generic).chain(packages)
            })
            .map(|purl| Product {
                id: purl.clone(),
                identifiers: Identifiers { purl },
            })
            .collect();
        let mut statement = Statement {
            vulnerability: Vulnerability {
                name: row.id.to_string(),
                description: row.title.clone(),
            },
            products,
            status: String::new(),
            justification: None,
            status_notes: None,
            action_statement: None,
        };
        match row.status {
            Status::Backported => {
                statement.status = "fixed".into();
                statement.status_notes =
                    Some(format!("Fixed by the fork's patch queue: {}", row.note));
            }
            Status::NotAffected => {
                let entry = triage.get(&row.id);
                statement.status = "not_affected".into();
                statement.justification = entry
                    .and_then(|e| e.justification)
                    .map(|j| j.as_str().to_string());
                statement.status_notes = entry.map(|e| e.statement.clone());
            }
            Status::Pending => {
                statement.status = "affected".into();
                let commits: Vec<&str> = row
                    .commits
                    .first()
                    .map(|b| b.commits.iter().map(String::as_str).collect())
                    .unwrap_or_default();
                statement.action_statement = Some(if commits.is_empty() {
                    format!(
                        "A fix is being backported; remediation deadline {}.",
                        row.deadline
                    )
                } else {
                    format!(
                        "Upstream fix {} is being backported; remediation deadline {}.",
                        commits.join(", "),
                        row.deadline
                    )
                });
            }
            Status::NeedsTriage => {
                statement.status = "under_investigation".into();
                statement.status_notes = Some(row.note.clone());
            }
        }
        statements.push(statement);
    }
    Ok(Document {
        context: CONTEXT.to_string(),
        id: format!("{}{}", input.id_prefix, input.product_version),
        author: input.author.to_string(),
        role: "Fork maintainer".to_string(),
        timestamp: input.timestamp.to_string(),
        version: 1,
        tooling: format!("net6-els cargo xtask vex {}", env!("CARGO_PKG_VERSION")),
        statements,
    })
}
