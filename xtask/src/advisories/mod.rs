//! The advisory feed: which CVEs published after .NET 6's end of support affect the fork, where
//! Microsoft's fixes are, what the fork has backported, what is late — and the OpenVEX document
//! auditors get.
//!
//! Data flows one way: [`source`] fetches Microsoft's release metadata (a local copy of
//! dotnet/core or GitHub's contents API), [`feed`] normalises it into a [`Snapshot`] that is
//! committed to the repository, and the reports ([`status`], [`plan`], [`vex`]) join the snapshot
//! with the triage decisions ([`triage`]) and the patch queue ([`queue`]) — offline and
//! reproducibly.

pub mod feed;
pub mod plan;
pub mod queue;
pub mod source;
pub mod status;
pub mod triage;
pub mod vex;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use jiff::civil::Date;
use serde::{Deserialize, Serialize};

use crate::config::Config;
use crate::cve::CveId;

/// The snapshot file format version; bump it when the layout changes incompatibly.
pub const SNAPSHOT_FORMAT: u32 = 1;

/// The normalised advisory database: every CVE published since the cut-off, merged across
/// months and channels. Serialised sorted and without timestamps so that re-syncing unchanged
/// data produces a byte-identical file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    pub format: u32,
    /// CVEs disclosed on or after this date are tracked.
    pub since: Date,
    /// Release channels whose `releases.json` was read.
    pub channels: Vec<String>,
    pub advisories: Vec<Advisory>,
}

/// One CVE as Microsoft describes it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Advisory {
    pub id: CveId,
    /// The short problem statement (`problem` in cve.json); absent for CVEs only listed in a
    /// `releases.json` `cve-list`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Public disclosure date (cve.json), or the first release that listed the CVE.
    pub disclosed: Date,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cvss: Option<Cvss>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weakness: Option<String>,
    /// The announcement (dotnet/announcements issue), or the CVE link from releases.json.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub platforms: Vec<String>,
    /// Vulnerable ranges and fixes, one per product or package and release band.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fixes: Vec<Fix>,
    /// The fix commits referenced by `fixes`, keyed `repo@shortsha` as in cve.json.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub commits: BTreeMap<String, FixCommit>,
    /// Per channel, the first release that lists the CVE in `releases.json` (e.g. 8.0 → 8.0.21).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub releases: BTreeMap<String, String>,
}

/// CVSS as published by Microsoft.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Cvss {
    pub score: f64,
    pub severity: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub vector: String,
}

/// Whether a fix entry names a shipped product (runtime, ASP.NET Core, SDK) or a NuGet package.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FixKind {
    Product,
    Package,
}

/// One `products[]` or `packages[]` entry: a vulnerable range, its fixed version and the ordered
/// commits that make up the fix. Several entries for one release are alternatives (SDK feature
/// bands), not a sequence.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fix {
    pub kind: FixKind,
    /// `dotnet-runtime`, `dotnet-aspnetcore`, `dotnet-sdk`, or a package id.
    pub component: String,
    /// The major release (`8.0`), empty when Microsoft gives none (some MSBuild packages).
    pub release: String,
    pub min_vulnerable: String,
    pub max_vulnerable: String,
    pub fixed: String,
    /// `repo@shortsha` keys into [`Advisory::commits`], in Microsoft's order.
    pub commits: Vec<String>,
}

/// A fix commit, resolved from cve.json's `commits` map.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FixCommit {
    pub repo: String,
    pub branch: String,
    pub hash: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub url: String,
}

impl Advisory {
    /// The products and packages this CVE touches, deduplicated, products first.
    pub fn components(&self) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        for kind in [FixKind::Product, FixKind::Package] {
            for fix in self.fixes.iter().filter(|f| f.kind == kind) {
                if !out.contains(&fix.component.as_str()) {
                    out.push(&fix.component);
                }
            }
        }
        out
    }

    /// The first fixed version in `release` (e.g. `8.0`): the release that listed the CVE in
    /// `releases.json`, else the lowest product fix version from cve.json.
    pub fn first_fixed(&self, release: &str) -> Option<String> {
        if let Some(v) = self.releases.get(release) {
            return Some(v.clone());
        }
        self.fixes
            .iter()
            .filter(|f| f.kind == FixKind::Product && f.release == release)
            .map(|f| f.fixed.clone())
            .min_by(|a, b| compare_versions(a, b))
    }

    /// The fix commits in the order a 6.0 backport prefers them: `release/8.0` (the closest
    /// code), `release/9.0`, other branches of the separate repositories, and the combined
    /// dotnet/dotnet repository last.
    pub fn commits_by_branch(&self) -> Vec<(&str, &FixCommit)> {
        let rank = |c: &FixCommit| match (c.repo.as_str(), c.branch.as_str()) {
            (crate::upstream::COMBINED_REPO, _) => 3,
            (_, "release/8.0") => 0,
            (_, "release/9.0") => 1,
            _ => 2,
        };
        let mut list: Vec<(&str, &FixCommit)> =
            self.commits.iter().map(|(k, c)| (k.as_str(), c)).collect();
        list.sort_by(|a, b| (rank(a.1), &a.1.branch, a.0).cmp(&(rank(b.1), &b.1.branch, b.0)));
        list
    }
}

/// Compares dotted versions numerically where both parts are numbers (`8.0.9` < `8.0.10`).
pub fn compare_versions(a: &str, b: &str) -> std::cmp::Ordering {
    let parts = |s: &str| -> Vec<(u64, String)> {
        s.split(['.', '-'])
            .map(|p| (p.parse::<u64>().unwrap_or(u64::MAX), p.to_string()))
            .collect()
    };
    parts(a).cmp(&parts(b))
}

impl Snapshot {
    /// Reads a snapshot written by `advisories sync`.
    pub fn load(path: &Path) -> Result<Snapshot> {
        let text = std::fs::read_to_string(path).with_context(|| {
            format!(
                "cannot read the advisory snapshot {}; run `cargo xtask advisories sync` first",
                path.display()
            )
        })?;
        let de = &mut serde_json::Deserializer::from_str(&text);
        let snapshot: Snapshot = serde_path_to_error::deserialize(de).map_err(|e| {
            anyhow::anyhow!(
                "{}: at JSON path `{}`: {}",
                path.display(),
                e.path(),
                e.inner()
            )
        })?;
        if snapshot.format != SNAPSHOT_FORMAT {
            bail!(
                "{}: snapshot format {} is not the supported format {SNAPSHOT_FORMAT}; re-run `cargo xtask advisories sync`",
                path.display(),
                snapshot.format
            );
        }
        Ok(snapshot)
    }

    /// The snapshot as written to disk: pretty JSON with a trailing newline.
    pub fn to_json(&self) -> String {
        let mut text = serde_json::to_string_pretty(self).expect("a snapshot always serialises");
        text.push('\n');
        text
    }

    /// The advisory with this id.
    pub fn get(&self, id: &CveId) -> Option<&Advisory> {
        self.advisories.iter().find(|a| &a.id == id)
    }
}

/// Where the advisory files live and the rules reports apply, resolved from `els.toml`
/// (`[advisories]`) or the defaults when there is no config.
#[derive(Clone, Debug)]
pub struct Paths {
    pub snapshot: PathBuf,
    pub triage: PathBuf,
    pub patches: PathBuf,
}

impl Paths {
    /// Resolves the configured paths against the config file's directory (or `cwd`).
    pub fn from_config(config: Option<&Config>, cwd: &Path) -> Paths {
        match config {
            Some(c) => Paths {
                snapshot: c.resolve(&c.advisories.snapshot),
                triage: c.resolve(&c.advisories.triage),
                patches: c.patches_dir(),
            },
            None => {
                let d = crate::config::AdvisoriesSettings::default();
                Paths {
                    snapshot: cwd.join(d.snapshot),
                    triage: cwd.join(d.triage),
                    patches: cwd.join("runtime-patches"),
                }
            }
        }
    }
}

/// What `advisories sync` did.
#[derive(Clone, Debug)]
pub struct SyncOutcome {
    pub snapshot: Snapshot,
    pub warnings: Vec<feed::Warning>,
    /// False when the file already had exactly this content.
    pub changed: bool,
}

/// `cargo xtask advisories sync --json`: what the sync wrote.
#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
pub struct SyncReport {
    /// The snapshot file.
    pub snapshot: PathBuf,
    /// How many CVEs it holds.
    pub advisories: usize,
    /// False when the file already had exactly this content.
    pub changed: bool,
    pub warnings: Vec<String>,
}

/// Fetches the feed from `source`, normalises it and writes the snapshot to `path` (atomically,
/// and only when it changed).
pub fn sync(
    source: &source::Source,
    settings: &crate::config::AdvisoriesSettings,
    path: &Path,
    quiet: bool,
) -> Result<SyncOutcome> {
    let feed = source.fetch(settings.since, &settings.channels, quiet)?;
    if feed.timelines.is_empty() {
        bail!(
            "{} has no timeline cve.json for any month since {}; is it the right copy or branch?",
            source.describe(),
            settings.since
        );
    }
    let (snapshot, warnings) = feed::build_snapshot(&feed, settings.since, &settings.channels)?;
    let text = snapshot.to_json();
    let changed = std::fs::read_to_string(path).map_or(true, |old| old != text);
    if changed {
        crate::atomic::write(path, &text)?;
    }
    Ok(SyncOutcome {
        snapshot,
        warnings,
        changed,
    })
}

/// The date the demo's advisory table is computed for, so its output never changes.
pub const DEMO_TODAY: &str = "2026-04-01";

/// The demo stage: the advisory status table from the committed snapshot and triage, joined with
/// the patch queue at `patches_dir`, as of [`DEMO_TODAY`]. Returns the rendered table and the
/// report (whose `needs_attention()` says whether a gate would fail).
pub fn demo(config: &Config, patches_dir: &Path) -> Result<(String, status::StatusReport)> {
    let snapshot = Snapshot::load(&config.resolve(&config.advisories.snapshot))?;
    let triage = triage::Triage::load(&config.resolve(&config.advisories.triage))?;
    let queue = queue::QueueCves::read(patches_dir)?;
    let today: Date = DEMO_TODAY.parse().context("DEMO_TODAY is a date")?;
    let report = status::StatusReport::compute(
        &snapshot,
        &triage,
        &queue,
        today,
        &config.advisories.sla_days,
    );
    Ok((
        status::render_table(&report, crate::console::stdout_width()),
        report,
    ))
}
