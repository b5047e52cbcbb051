//! `cargo xtask repo verify`: every signature of a channel's metadata against the trusted key,
//! every hash in the metadata, every listed package present and matching.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::apt::{hex, parse_stanza, stanzas, PACKAGES};
use super::dnf;
use super::Tree;
use crate::channel::Channel;
use crate::release::sign::GpgHome;

/// The outcome of a verification.
#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
pub struct Report {
    pub repo_dir: PathBuf,
    pub channels: Vec<Channel>,
    /// Package files whose hash was checked.
    pub packages: usize,
    /// Everything wrong; empty means the repository verifies.
    pub problems: Vec<String>,
}

/// Verifies `channels` of the tree against the public key `key` (default: the tree's own
/// `keys/net6-els.asc`). A channel that was never published is skipped unless named alone.
pub fn verify(tree: &Tree, channels: &[Channel], key: Option<&Path>) -> Result<Report> {
    let key_path = key
        .map(Path::to_path_buf)
        .unwrap_or_else(|| tree.dir.join(super::KEY_ASC));
    let public = std::fs::read(&key_path)
        .with_context(|| format!("cannot read the trusted key {}", key_path.display()))?;
    let home = GpgHome::temporary()?;
    home.run_ok("import the trusted key", &["--import"], Some(&public))?;
    let trusted = home.fingerprints(false)?;
    if trusted.is_empty() {
        bail!("{} holds no public key", key_path.display());
    }
    let mut report = Report {
        repo_dir: tree.dir.clone(),
        channels: Vec::new(),
        packages: 0,
        problems: Vec::new(),
    };
    for &channel in channels {
        let apt_dir = tree.dir.join("apt/dists").join(channel.as_str());
        let rpm_dir = tree.dir.join(dnf::channel_dir(channel));
        let published = apt_dir.exists() || rpm_dir.join("repodata").exists();
        if !published {
            if channels.len() == 1 {
                report
                    .problems
                    .push(format!("{channel}: nothing was published to this channel"));
            }
            continue;
        }
        report.channels.push(channel);
        if apt_dir.exists() {
            verify_apt(tree, channel, &apt_dir, &home, &trusted, &mut report)?;
        }
        if rpm_dir.join("repodata").exists() {
            verify_dnf(channel, &rpm_dir, &home, &trusted, &mut report)?;
        }
    }
    Ok(report)
}

/// Checks a detached or clearsigned signature; returns a problem, if any.
fn check_signature(
    home: &GpgHome,
    trusted: &[String],
    args: &[&str],
    what: &str,
) -> Result<Option<String>> {
    let mut full = vec!["--status-fd", "1", "--verify"];
    full.extend(args);
    let out = home.run(&full, None)?;
    let status = String::from_utf8_lossy(&out.stdout);
    let signer = status
        .lines()
        .find_map(|l| l.strip_prefix("[GNUPG:] VALIDSIG "))
        .and_then(|rest| rest.split_whitespace().last().map(str::to_string));
    Ok(match signer {
        Some(fpr) if out.status.success() && trusted.contains(&fpr) => None,
        Some(fpr) if out.status.success() => {
            Some(format!("{what}: signed by {fpr}, not the trusted key"))
        }
        _ if status.contains("BADSIG") => Some(format!(
            "{what}: the signature does not match (changed after signing)"
        )),
        _ if status.contains("NO_PUBKEY") => Some(format!("{what}: not signed by the trusted key")),
        _ => Some(format!(
            "{what}: the signature does not verify: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )),
    })
}

fn verify_apt(
    tree: &Tree,
    channel: Channel,
    dir: &Path,
    home: &GpgHome,
    trusted: &[String],
    report: &mut Report,
) -> Result<()> {
    let at = |name: &str| format!("apt/dists/{channel}/{name}");
    let release_path = dir.join("Release");
    let Ok(release) = std::fs::read_to_string(&release_path) else {
        report
            .problems
            .push(format!("{} is missing", at("Release")));
        return Ok(());
    };
    apt_signatures(dir, &release, home, trusted, &at, report)?;
    release_sums(dir, &release, &at, report);
    let Ok(packages) = std::fs::read_to_string(dir.join(PACKAGES)) else {
        report.problems.push(format!("{} is missing", at(PACKAGES)));
        return Ok(());
    };
    apt_packages(tree, &packages, &at, report);
    Ok(())
}

/// Release.gpg and InRelease verify with a trusted key, and InRelease signs Release's text.
fn apt_signatures(
    dir: &Path,
    release: &str,
    home: &GpgHome,
    trusted: &[String],
    at: &dyn Fn(&str) -> String,
    report: &mut Report,
) -> Result<()> {
    let release_path = dir.join("Release");
    for (name, args) in [
        (
            "Release.gpg",
            vec![
                dir.join("Release.gpg").display().to_string(),
                release_path.display().to_string(),
            ],
        ),
        (
            "InRelease",
            vec![dir.join("InRelease").display().to_string()],
        ),
    ] {
        if !dir.join(name).is_file() {
            report.problems.push(format!("{} is missing", at(name)));
            continue;
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        if let Some(p) = check_signature(home, trusted, &args, &at(name))? {
            report.problems.push(p);
        }
    }
    // InRelease must sign the same text as Release.
    if let Ok(inrelease) = std::fs::read_to_string(dir.join("InRelease")) {
        let signed_text = inrelease
            .split_once("\n\n")
            .and_then(|(_, rest)| rest.split_once("\n-----BEGIN PGP SIGNATURE-----"))
            .map(|(text, _)| text.replace("\n- ", "\n"));
        if signed_text.as_deref().map(str::trim_end) != Some(release.trim_end()) {
            report.problems.push(format!(
                "{}: does not hold the same text as Release",
                at("InRelease")
            ));
        }
    }
    Ok(())
}

/// Every file Release lists has the SHA-256 and size it gives.
fn release_sums(dir: &Path, release: &str, at: &dyn Fn(&str) -> String, report: &mut Report) {
    let fields = parse_stanza(release);
    let sums = fields.get("SHA256").cloned().unwrap_or_default();
    if sums.trim().is_empty() {
        report
            .problems
            .push(format!("{}: no SHA256 list", at("Release")));
    }
    for line in sums.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let parts: Vec<&str> = line.split_whitespace().collect();
        let [hash, size, name] = parts.as_slice() else {
            report.problems.push(format!(
                "{}: `{line}` is not `<sha256> <size> <file>`",
                at("Release")
            ));
            continue;
        };
        match std::fs::read(dir.join(name)) {
            Ok(bytes) => {
                if hex(&Sha256::digest(&bytes)) != *hash || bytes.len().to_string() != *size {
                    report.problems.push(format!(
                        "{}: does not match its SHA-256 or size in Release (changed after signing)",
                        at(name)
                    ));
                }
            }
            Err(_) => report
                .problems
                .push(format!("{} is listed in Release but missing", at(name))),
        }
    }
}

/// Every package Packages lists is in the pool with the SHA-256 and size it gives.
fn apt_packages(tree: &Tree, packages: &str, at: &dyn Fn(&str) -> String, report: &mut Report) {
    for stanza in stanzas(packages) {
        let f = parse_stanza(&stanza);
        let name = format!(
            "{} {}",
            f.get("Package").map(String::as_str).unwrap_or("?"),
            f.get("Version").map(String::as_str).unwrap_or("?")
        );
        let Some(filename) = f.get("Filename") else {
            report
                .problems
                .push(format!("{}: {name} has no Filename", at(PACKAGES)));
            continue;
        };
        match std::fs::read(tree.dir.join("apt").join(filename)) {
            Ok(bytes) => {
                report.packages += 1;
                if f.get("SHA256").map(String::as_str)
                    != Some(hex(&Sha256::digest(&bytes)).as_str())
                    || f.get("Size").map(String::as_str) != Some(bytes.len().to_string().as_str())
                {
                    report.problems.push(format!(
                        "apt/{filename}: does not match its SHA-256 or size in {}",
                        at(PACKAGES)
                    ));
                }
            }
            Err(_) => report.problems.push(format!(
                "apt/{filename} ({name}) is listed in {} but missing",
                at(PACKAGES)
            )),
        }
    }
}

fn verify_dnf(
    channel: Channel,
    dir: &Path,
    home: &GpgHome,
    trusted: &[String],
    report: &mut Report,
) -> Result<()> {
    let rel = dnf::channel_dir(channel);
    let repomd_path = dir.join("repodata/repomd.xml");
    let sig = dir.join("repodata/repomd.xml.asc");
    if !repomd_path.is_file() {
        report
            .problems
            .push(format!("{rel}/repodata/repomd.xml is missing"));
        return Ok(());
    }
    if !sig.is_file() {
        report
            .problems
            .push(format!("{rel}/repodata/repomd.xml.asc is missing"));
    } else if let Some(p) = check_signature(
        home,
        trusted,
        &[
            &sig.display().to_string(),
            &repomd_path.display().to_string(),
        ],
        &format!("{rel}/repodata/repomd.xml.asc"),
    )? {
        report.problems.push(p);
    }
    let data = match dnf::repomd(&repomd_path) {
        Ok(d) => d,
        Err(e) => {
            report.problems.push(format!("{e:#}"));
            return Ok(());
        }
    };
    for d in &data {
        match std::fs::read(dir.join(&d.href)) {
            Ok(bytes) if hex(&Sha256::digest(&bytes)) == d.sha256 => {}
            Ok(_) => report.problems.push(format!(
                "{rel}/{}: does not match its checksum in repomd.xml (changed after signing)",
                d.href
            )),
            Err(_) => report.problems.push(format!(
                "{rel}/{} is listed in repomd.xml but missing",
                d.href
            )),
        }
    }
    let Some(primary) = data.iter().find(|d| d.kind == "primary") else {
        report.problems.push(format!(
            "{rel}/repodata/repomd.xml lists no primary metadata"
        ));
        return Ok(());
    };
    let listed = match dnf::primary(&dir.join(&primary.href)) {
        Ok(l) => l,
        Err(e) => {
            report.problems.push(format!("{e:#}"));
            return Ok(());
        }
    };
    for p in listed {
        match std::fs::read(dir.join(&p.href)) {
            Ok(bytes) => {
                report.packages += 1;
                if hex(&Sha256::digest(&bytes)) != p.sha256 {
                    report.problems.push(format!(
                        "{rel}/{}: does not match its SHA-256 in the primary metadata",
                        p.href
                    ));
                }
            }
            Err(_) => report.problems.push(format!(
                "{rel}/{} ({} {}) is listed in the primary metadata but missing",
                p.href, p.name, p.version
            )),
        }
    }
    Ok(())
}
