//! `cargo xtask feed verify`: a channel's feed is consistent — every document is what its packages
//! produce (so every listed package exists and every package is listed), the flat-container
//! version lists are lower-cased and sorted, every URL is under the feed's own base URL — and the
//! given releases' nupkgs are in it with the hashes of their `SHA512SUMS`.

use std::path::PathBuf;

use anyhow::{Context, Result};
use serde::Serialize;
use serde_json::Value;

use super::package_version::PackageVersion;
use super::{documents, Feed};

/// What a verification found.
#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
pub struct Report {
    pub feed: PathBuf,
    pub index_url: String,
    /// Packages checked.
    pub packages: usize,
    /// Every inconsistency, one sentence each; empty when the feed is sound.
    pub problems: Vec<String>,
}

/// Checks `feed`, and that each of `releases` is published in it unchanged.
pub fn verify(feed: &Feed, releases: &[PathBuf]) -> Result<Report> {
    let mut problems = Vec::new();
    let index_path = feed.root.join(documents::SERVICE_INDEX);
    let index: Value = serde_json::from_slice(&std::fs::read(&index_path).with_context(|| {
        format!(
            "{} has no feed (no {}); publish first",
            feed.root.display(),
            index_path.display()
        )
    })?)
    .with_context(|| format!("{} is not JSON", index_path.display()))?;
    let flat = index["resources"].as_array().and_then(|r| {
        r.iter()
            .find(|r| r["@type"] == "PackageBaseAddress/3.0.0")
            .and_then(|r| r["@id"].as_str())
    });
    // The documents carry the base URL they were published with; check them against it.
    let base = match flat.and_then(|f| f.strip_suffix(&format!("/{}/", documents::FLAT_CONTAINER)))
    {
        Some(b) => b.to_string(),
        None => {
            problems.push(format!(
                "{}: no PackageBaseAddress/3.0.0 resource ending in /{}/",
                index_path.display(),
                documents::FLAT_CONTAINER
            ));
            feed.base_url.clone()
        }
    };
    if base != feed.base_url {
        problems.push(format!(
            "the feed was published for {base}, not {} (the configured base URL); republish it",
            feed.base_url
        ));
    }
    let packages = feed.packages()?;
    for (rel, expected) in documents::all(&base, &packages) {
        let path = feed.root.join(&rel);
        match std::fs::read(&path) {
            Err(_) => problems.push(format!("{rel} is missing")),
            Ok(actual) if actual != expected => problems.push(format!(
                "{rel} does not match the packages in the feed ({})",
                describe(&rel, &actual)
            )),
            Ok(_) => {}
        }
    }
    for p in &packages {
        let rel = documents::nuspec(&p.id_lower(), &p.version_lower());
        if std::fs::read(feed.root.join(&rel)).ok().as_deref() != Some(p.nuspec.bytes.as_slice()) {
            problems.push(format!(
                "{rel} is missing or is not the manifest inside the package"
            ));
        }
    }
    check_registration_dirs(feed, &packages, &mut problems);
    for release in releases {
        for r in super::release_packages(release)? {
            match packages
                .iter()
                .find(|p| p.id_lower() == r.id_lower() && p.nuspec.version == r.nuspec.version)
            {
                None => problems.push(format!(
                    "{} of {} is not in the feed",
                    r.label(),
                    release.display()
                )),
                Some(p) if p.bytes != r.bytes => problems.push(format!(
                    "{} in the feed differs from the release's file (SHA512SUMS of {})",
                    r.label(),
                    release.display()
                )),
                Some(_) => {}
            }
        }
    }
    Ok(Report {
        feed: feed.root.clone(),
        index_url: feed.index_url(),
        packages: packages.len(),
        problems,
    })
}

/// What is wrong with a version list, when that is the document: the shape NuGet documents.
fn describe(rel: &str, actual: &[u8]) -> String {
    let Ok(doc) = serde_json::from_slice::<Value>(actual) else {
        return "not JSON".to_string();
    };
    if !rel.starts_with(documents::FLAT_CONTAINER) {
        return "stale or edited".to_string();
    }
    let versions: Vec<&str> = doc["versions"]
        .as_array()
        .map(|v| v.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    if versions.iter().any(|v| *v != v.to_lowercase()) {
        return "versions are not lower-cased".to_string();
    }
    let parsed: Vec<Option<PackageVersion>> = versions.iter().map(|v| v.parse().ok()).collect();
    if parsed.windows(2).any(|w| w[0] >= w[1]) {
        return "versions are not sorted".to_string();
    }
    "lists other versions than the packages present".to_string()
}

/// Registration documents of ids or versions the flat container does not hold.
fn check_registration_dirs(
    feed: &Feed,
    packages: &[super::FeedPackage],
    problems: &mut Vec<String>,
) {
    let Ok(ids) = std::fs::read_dir(feed.root.join(documents::REGISTRATION)) else {
        return;
    };
    for id in ids.filter_map(|e| e.ok()) {
        let id_name = id.file_name().to_string_lossy().into_owned();
        let Ok(files) = std::fs::read_dir(id.path()) else {
            continue;
        };
        for f in files.filter_map(|e| e.ok()) {
            let name = f.file_name().to_string_lossy().into_owned();
            let listed = name == "index.json" && packages.iter().any(|p| p.id_lower() == id_name)
                || packages.iter().any(|p| {
                    p.id_lower() == id_name && format!("{}.json", p.version_lower()) == name
                });
            if !listed {
                problems.push(format!(
                    "{}/{id_name}/{name} describes a package the feed does not hold",
                    documents::REGISTRATION
                ));
            }
        }
    }
}
