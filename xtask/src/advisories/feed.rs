//! Reading Microsoft's release metadata — the monthly timeline `cve.json` files and the
//! per-channel `releases.json` — into a [`Snapshot`].
//!
//! The same CVE appears in several months and channels; entries are merged without duplicates.
//! Input that cannot be understood is an error naming the file and the JSON path; input that
//! leaves a row still showable (an unknown product name, a commit key missing from `commits`)
//! becomes a [`Warning`]. Unknown extra fields are ignored, as Microsoft adds fields over time.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use anyhow::{anyhow, Result};
use jiff::civil::Date;
use serde::de::DeserializeOwned;
use serde::Deserialize;

use super::{compare_versions, Advisory, Cvss, Fix, FixCommit, FixKind, Snapshot, SNAPSHOT_FORMAT};
use crate::cve::CveId;

/// Product names cve.json uses; anything else is reported but kept.
pub const KNOWN_PRODUCTS: &[&str] = &[
    "dotnet-runtime",
    "dotnet-aspnetcore",
    "dotnet-sdk",
    "dotnet-windowsdesktop",
];

/// One file of the feed: where it came from (for messages) and its text.
#[derive(Clone, Debug)]
pub struct FeedFile {
    /// A path or URL-like name shown in errors, e.g. `release-notes/timeline/2025/10/cve.json`.
    pub origin: String,
    pub text: String,
}

/// Everything a source delivered.
#[derive(Clone, Debug, Default)]
pub struct Feed {
    /// Monthly `cve.json` files.
    pub timelines: Vec<FeedFile>,
    /// `releases.json` files with their channel (`8.0`).
    pub releases: Vec<(String, FeedFile)>,
}

/// Something unexpected in the feed that still let the row be shown.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Warning {
    pub origin: String,
    /// The JSON path, e.g. `products[3].name`.
    pub path: String,
    pub message: String,
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: at JSON path `{}`: {}",
            self.origin, self.path, self.message
        )
    }
}

#[derive(Deserialize)]
struct CveFile {
    #[serde(default)]
    disclosures: Vec<Option<Disclosure>>,
    #[serde(default)]
    products: Vec<Option<RawFix>>,
    #[serde(default)]
    packages: Vec<Option<RawFix>>,
    #[serde(default)]
    commits: Option<BTreeMap<String, Option<RawCommit>>>,
}

#[derive(Deserialize)]
struct Disclosure {
    id: String,
    problem: String,
    #[serde(default)]
    description: Vec<Option<String>>,
    #[serde(default)]
    cvss: Option<RawCvss>,
    timeline: RawTimeline,
    #[serde(default)]
    platforms: Vec<Option<String>>,
    #[serde(default)]
    references: Vec<Option<String>>,
    #[serde(default)]
    weakness: Option<String>,
}

#[derive(Deserialize)]
struct RawCvss {
    #[serde(default)]
    vector: String,
    score: f64,
    #[serde(default)]
    severity: String,
}

#[derive(Deserialize)]
struct RawTimeline {
    disclosure: RawEvent,
}

#[derive(Deserialize)]
struct RawEvent {
    date: Date,
}

#[derive(Deserialize)]
struct RawFix {
    cve_id: String,
    name: String,
    #[serde(default)]
    min_vulnerable: String,
    #[serde(default)]
    max_vulnerable: String,
    #[serde(default)]
    fixed: String,
    #[serde(default)]
    release: String,
    #[serde(default)]
    commits: Vec<Option<String>>,
}

#[derive(Deserialize)]
struct RawCommit {
    repo: String,
    branch: String,
    hash: String,
    #[serde(default)]
    url: String,
}

#[derive(Deserialize)]
struct ReleasesFile {
    releases: Vec<RawRelease>,
}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case")]
struct RawRelease {
    release_version: String,
    release_date: Date,
    #[serde(default)]
    cve_list: Option<Vec<RawCveRef>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case")]
struct RawCveRef {
    cve_id: String,
    #[serde(default)]
    cve_url: Option<String>,
}

fn parse_json<T: DeserializeOwned>(file: &FeedFile) -> Result<T> {
    let de = &mut serde_json::Deserializer::from_str(&file.text);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        anyhow!(
            "{}: at JSON path `{path}`: {}; fix or re-fetch the file",
            file.origin,
            e.inner()
        )
    })
}

fn cve_id(file: &FeedFile, path: &str, value: &str) -> Result<CveId> {
    value
        .parse()
        .map_err(|e| anyhow!("{}: at JSON path `{path}`: {e:#}", file.origin))
}

/// What the timeline says about one CVE, accumulated over months.
#[derive(Default)]
struct Accumulated {
    disclosure: Option<(Date, Disclosure)>,
    fixes: Vec<Fix>,
    commits: BTreeMap<String, FixCommit>,
    releases: BTreeMap<String, (Date, String)>,
    release_link: Option<String>,
    first_listed: Option<Date>,
}

/// Normalises a feed into a snapshot of every CVE disclosed on or after `since`.
pub fn build_snapshot(
    feed: &Feed,
    since: Date,
    channels: &[String],
) -> Result<(Snapshot, Vec<Warning>)> {
    let mut warnings = Vec::new();
    let mut by_id: BTreeMap<CveId, Accumulated> = BTreeMap::new();

    for file in &feed.timelines {
        read_timeline(file, &mut by_id, &mut warnings)?;
    }
    for (channel, file) in &feed.releases {
        read_releases(channel, file, &mut by_id)?;
    }

    let mut advisories = Vec::new();
    for (id, acc) in by_id {
        let Some(advisory) = finish(id, acc, &mut warnings) else {
            continue;
        };
        if advisory.disclosed >= since {
            advisories.push(advisory);
        }
    }
    let snapshot = Snapshot {
        format: SNAPSHOT_FORMAT,
        since,
        channels: channels.to_vec(),
        advisories,
    };
    Ok((snapshot, warnings))
}

fn read_timeline(
    file: &FeedFile,
    by_id: &mut BTreeMap<CveId, Accumulated>,
    warnings: &mut Vec<Warning>,
) -> Result<()> {
    let parsed: CveFile = parse_json(file)?;
    let warn = |warnings: &mut Vec<Warning>, path: String, message: String| {
        warnings.push(Warning {
            origin: file.origin.clone(),
            path,
            message,
        });
    };
    let commits = parsed.commits.unwrap_or_default();

    for (i, disclosure) in parsed.disclosures.into_iter().enumerate() {
        let Some(disclosure) = disclosure else {
            continue;
        };
        let id = cve_id(file, &format!("disclosures[{i}].id"), &disclosure.id)?;
        if disclosure.cvss.is_none() {
            warn(
                warnings,
                format!("disclosures[{i}].cvss"),
                format!("{id} has no CVSS score; its deadline uses the high-severity SLA"),
            );
        }
        let date = disclosure.timeline.disclosure.date;
        let acc = by_id.entry(id).or_default();
        // Keep the earliest disclosure date, but the newest text (later months may correct it).
        let earliest = acc
            .disclosure
            .as_ref()
            .map_or(date, |(d, _)| (*d).min(date));
        acc.disclosure = Some((earliest, disclosure));
    }

    for (kind, list, field) in [
        (FixKind::Product, parsed.products, "products"),
        (FixKind::Package, parsed.packages, "packages"),
    ] {
        for (i, raw) in list.into_iter().enumerate() {
            let Some(raw) = raw else { continue };
            let id = cve_id(file, &format!("{field}[{i}].cve_id"), &raw.cve_id)?;
            if kind == FixKind::Product && !KNOWN_PRODUCTS.contains(&raw.name.as_str()) {
                warn(
                    warnings,
                    format!("{field}[{i}].name"),
                    format!(
                        "unknown product `{}` for {id} (known: {}); shown as is",
                        raw.name,
                        KNOWN_PRODUCTS.join(", ")
                    ),
                );
            }
            let mut keys = Vec::new();
            for (j, key) in raw.commits.iter().enumerate() {
                let Some(key) = key else { continue };
                let path = format!("{field}[{i}].commits[{j}]");
                match commits.get(key) {
                    Some(Some(c)) => match resolve_commit(key, c) {
                        Ok(commit) => {
                            by_id
                                .entry(id.clone())
                                .or_default()
                                .commits
                                .insert(key.clone(), commit);
                            keys.push(key.clone());
                        }
                        Err(message) => warn(warnings, format!("commits.{key}"), message),
                    },
                    _ => warn(
                        warnings,
                        path,
                        format!("commit `{key}` of {id} is not in the `commits` map; left out"),
                    ),
                }
            }
            let fix = Fix {
                kind,
                component: raw.name,
                release: raw.release,
                min_vulnerable: raw.min_vulnerable,
                max_vulnerable: raw.max_vulnerable,
                fixed: raw.fixed,
                commits: keys,
            };
            let acc = by_id.entry(id).or_default();
            if !acc.fixes.contains(&fix) {
                acc.fixes.push(fix);
            }
        }
    }
    Ok(())
}

fn resolve_commit(key: &str, raw: &RawCommit) -> std::result::Result<FixCommit, String> {
    let Some((repo, short)) = key.split_once('@') else {
        return Err(format!("commit key `{key}` is not `repo@sha`; left out"));
    };
    let hex = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_hexdigit());
    if raw.hash.len() != 40 || !hex(&raw.hash) {
        return Err(format!(
            "`hash` of `{key}` is `{}`, not a 40-digit commit id; left out",
            raw.hash
        ));
    }
    if repo != raw.repo || !raw.hash.starts_with(short) {
        return Err(format!(
            "`{key}` does not match its repo `{}` and hash `{}`; left out",
            raw.repo, raw.hash
        ));
    }
    Ok(FixCommit {
        repo: raw.repo.clone(),
        branch: raw.branch.clone(),
        hash: raw.hash.to_ascii_lowercase(),
        url: raw.url.clone(),
    })
}

fn read_releases(
    channel: &str,
    file: &FeedFile,
    by_id: &mut BTreeMap<CveId, Accumulated>,
) -> Result<()> {
    let parsed: ReleasesFile = parse_json(file)?;
    for (i, release) in parsed.releases.into_iter().enumerate() {
        for (j, cve) in release.cve_list.unwrap_or_default().into_iter().enumerate() {
            let id = cve_id(
                file,
                &format!("releases[{i}].cve-list[{j}].cve-id"),
                &cve.cve_id,
            )?;
            let acc = by_id.entry(id).or_default();
            let date = release.release_date;
            let earlier = match acc.releases.get(channel) {
                Some((d, v)) => (date, &release.release_version) < (*d, v),
                None => true,
            };
            if earlier {
                acc.releases
                    .insert(channel.to_string(), (date, release.release_version.clone()));
            }
            acc.first_listed = Some(acc.first_listed.map_or(date, |d| d.min(date)));
            if acc.release_link.is_none() {
                acc.release_link = cve.cve_url.filter(|u| !u.is_empty());
            }
        }
    }
    Ok(())
}

fn finish(id: CveId, acc: Accumulated, warnings: &mut Vec<Warning>) -> Option<Advisory> {
    let releases: BTreeMap<String, String> = acc
        .releases
        .into_iter()
        .map(|(ch, (_, v))| (ch, v))
        .collect();
    let mut fixes = acc.fixes;
    fixes.sort_by(|a, b| {
        compare_versions(&a.release, &b.release)
            .then(a.kind.cmp(&b.kind))
            .then(a.component.cmp(&b.component))
            .then(compare_versions(&a.fixed, &b.fixed))
            .then(a.commits.cmp(&b.commits))
    });
    let referenced: BTreeSet<&String> = fixes.iter().flat_map(|f| &f.commits).collect();
    let commits = acc
        .commits
        .iter()
        .filter(|(k, _)| referenced.contains(k))
        .map(|(k, c)| (k.clone(), c.clone()))
        .collect();

    match acc.disclosure {
        Some((disclosed, d)) => {
            let description: Vec<String> = d
                .description
                .into_iter()
                .flatten()
                .filter(|s| !s.is_empty())
                .collect();
            Some(Advisory {
                id,
                title: Some(d.problem),
                description: (!description.is_empty()).then(|| description.join(" ")),
                disclosed,
                cvss: d.cvss.map(|c| Cvss {
                    score: c.score,
                    severity: c.severity.to_ascii_uppercase(),
                    vector: c.vector,
                }),
                weakness: d.weakness.filter(|w| !w.is_empty()),
                link: d
                    .references
                    .into_iter()
                    .flatten()
                    .next()
                    .or(acc.release_link),
                platforms: d.platforms.into_iter().flatten().collect(),
                fixes,
                commits,
                releases,
            })
        }
        None => match acc.first_listed {
            // Listed in a release but not (yet) in a timeline: a row that needs triage.
            Some(first) => Some(Advisory {
                id,
                title: None,
                description: None,
                disclosed: first,
                cvss: None,
                weakness: None,
                link: acc.release_link,
                platforms: Vec::new(),
                fixes,
                commits,
                releases,
            }),
            None => {
                warnings.push(Warning {
                    origin: "timeline".to_string(),
                    path: "products".to_string(),
                    message: format!("{id} has fix entries but no disclosure and is in no release's cve-list; left out"),
                });
                None
            }
        },
    }
}
