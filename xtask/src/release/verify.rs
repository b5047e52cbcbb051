//! `cargo xtask release verify`: checks a release directory against a trusted signing key — every
//! signature, every hash in `SHA512SUMS`, no file missing, unlisted or unsigned, and agreement
//! between the checksum file, the build manifests, release.json, the notes and the VEX document.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde::Serialize;
use serde_json::Value;

use super::sign::GpgHome;
use super::{CHECKSUMS, FILE_COMPONENTS, NOTES, RELEASE_JSON, SIGNED, VEX};
use crate::channel::CHANNELS_JSON;
use crate::official_build::{sha512_hex, Manifest};

/// The key releases must be signed with.
#[derive(Clone, Debug)]
pub enum TrustedKey {
    /// A public key file (armored or binary).
    File(PathBuf),
    /// A fingerprint of a key in the user's GnuPG keyring.
    Fingerprint(String),
}

/// The outcome of a verification.
#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
pub struct Report {
    pub dir: PathBuf,
    /// The fingerprint that made the valid signatures.
    pub signer: Option<String>,
    /// Files whose hash was checked.
    pub checked: usize,
    /// Everything wrong; empty means the release verifies.
    pub problems: Vec<String>,
}

/// Verifies the release in `dir` against `key`. Problems with the release are collected in the
/// report; an error means verification could not run (no directory, unusable key, no gpg).
pub fn verify(dir: &Path, key: &TrustedKey) -> Result<Report> {
    if !dir.is_dir() {
        bail!("{} is not a release directory", dir.display());
    }
    let home = GpgHome::temporary()?;
    let trusted = import_trusted_key(&home, key)?;
    let mut report = Report {
        dir: dir.to_path_buf(),
        signer: None,
        checked: 0,
        problems: Vec::new(),
    };
    let mut names: Vec<String> = Vec::new();
    for e in std::fs::read_dir(dir)?.filter_map(|e| e.ok()) {
        let name = e.file_name().to_string_lossy().into_owned();
        if e.path().is_dir() {
            report
                .problems
                .push(format!("{name}/: a release holds no directories"));
        } else {
            names.push(name);
        }
    }
    names.sort();

    check_signatures(&home, dir, &names, &trusted, &mut report)?;
    let sums = check_hashes(dir, &names, &mut report)?;
    check_manifests(dir, &names, &sums, &mut report);
    check_release_json(dir, &names, &sums, &mut report);
    Ok(report)
}

/// Imports `key` into `home`; its primary-key fingerprints.
fn import_trusted_key(home: &GpgHome, key: &TrustedKey) -> Result<Vec<String>> {
    let public = match key {
        TrustedKey::File(path) => std::fs::read(path)
            .with_context(|| format!("cannot read the trusted key {}", path.display()))?,
        TrustedKey::Fingerprint(fpr) => {
            let out = GpgHome::user().run_ok("export the trusted key", &["--export", fpr], None)?;
            if out.is_empty() {
                bail!("no key with fingerprint {fpr} in your GnuPG keyring; import the publisher's public key first");
            }
            out
        }
    };
    home.run_ok("import the trusted key", &["--import"], Some(&public))?;
    let trusted = home.fingerprints(false)?;
    if trusted.is_empty() {
        bail!("the trusted key holds no public key");
    }
    if let TrustedKey::Fingerprint(fpr) = key {
        let fpr = fpr.replace(' ', "").to_uppercase();
        if !trusted.contains(&fpr) {
            bail!("{fpr} is not a full primary-key fingerprint in your keyring; pass the 40-hex-digit fingerprint");
        }
    }

    Ok(trusted)
}

/// Every metadata file signed, every signature valid and made by the trusted key, and no
/// signature of anything else.
fn check_signatures(
    home: &GpgHome,
    dir: &Path,
    names: &[String],
    trusted: &[String],
    report: &mut Report,
) -> Result<()> {
    let mut signed: Vec<&str> = SIGNED.to_vec();
    if names.iter().any(|n| n == VEX) {
        signed.push(VEX);
    }
    for name in &signed {
        if !names.iter().any(|n| n == name) {
            report.problems.push(format!("{name} is missing"));
        } else if !names.iter().any(|n| *n == format!("{name}.asc")) {
            report
                .problems
                .push(format!("{name} is not signed ({name}.asc is missing)"));
        } else {
            check_signature(home, dir, name, trusted, report)?;
        }
    }
    for sig in names.iter().filter(|n| n.ends_with(".asc")) {
        let target = sig.trim_end_matches(".asc");
        if !signed.contains(&target) {
            report.problems.push(format!(
                "{sig} signs {target}, which is not part of the release"
            ));
        }
    }
    Ok(())
}

/// The checksum file covers every other file and every hash matches; the checksums.
fn check_hashes(
    dir: &Path,
    names: &[String],
    report: &mut Report,
) -> Result<BTreeMap<String, String>> {
    let sums = read_checksums(dir, report)?;
    for name in names
        .iter()
        .filter(|n| *n != CHECKSUMS && !n.ends_with(".asc") && *n != CHANNELS_JSON)
    {
        if !sums.contains_key(name) {
            report.problems.push(format!(
                "{name} is not listed in {CHECKSUMS} (added after the release was made?)"
            ));
        }
    }
    for (name, hash) in &sums {
        match std::fs::read(dir.join(name)) {
            Ok(bytes) => {
                report.checked += 1;
                if sha512_hex(&bytes) != *hash {
                    report.problems.push(format!(
                        "{name}: SHA-512 does not match {CHECKSUMS} (the file was changed)"
                    ));
                }
            }
            Err(_) => report
                .problems
                .push(format!("{name} is listed in {CHECKSUMS} but missing")),
        }
    }
    Ok(sums)
}

fn check_signature(
    home: &GpgHome,
    dir: &Path,
    name: &str,
    trusted: &[String],
    report: &mut Report,
) -> Result<()> {
    let sig = dir.join(format!("{name}.asc")).display().to_string();
    let data = dir.join(name).display().to_string();
    let out = home.run(&["--status-fd", "1", "--verify", &sig, &data], None)?;
    let status = String::from_utf8_lossy(&out.stdout);
    // VALIDSIG <fpr> … <primary-key-fpr>: the last field names the primary key.
    let valid = status
        .lines()
        .find_map(|l| l.strip_prefix("[GNUPG:] VALIDSIG "))
        .map(|rest| {
            let fields: Vec<&str> = rest.split_whitespace().collect();
            fields.last().copied().unwrap_or_default().to_string()
        });
    match valid {
        Some(fpr) if out.status.success() && trusted.contains(&fpr) => report.signer = Some(fpr),
        Some(fpr) if out.status.success() => report.problems.push(format!(
            "{name}.asc is signed by {fpr}, not the trusted key"
        )),
        _ if status.contains("NO_PUBKEY") => report
            .problems
            .push(format!("{name}.asc was not made by the trusted key")),
        _ if status.contains("BADSIG") => report.problems.push(format!(
            "{name}: the signature does not match (the file was changed)"
        )),
        _ => report.problems.push(format!(
            "{name}.asc does not verify: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )),
    }
    Ok(())
}

fn read_checksums(dir: &Path, report: &mut Report) -> Result<BTreeMap<String, String>> {
    let mut sums = BTreeMap::new();
    let Ok(text) = std::fs::read_to_string(dir.join(CHECKSUMS)) else {
        return Ok(sums);
    };
    for (n, line) in text.lines().enumerate() {
        match super::parse_checksum_line(line) {
            Some((hash, name)) => {
                sums.insert(name, hash);
            }
            None => report.problems.push(format!(
                "{CHECKSUMS}:{}: not a `<sha512>  <file>` line",
                n + 1
            )),
        }
    }
    Ok(sums)
}

fn check_manifests(
    dir: &Path,
    names: &[String],
    sums: &BTreeMap<String, String>,
    report: &mut Report,
) {
    for name in names
        .iter()
        .filter(|n| n.starts_with("manifest-") && n.ends_with(".json"))
    {
        let manifest: Manifest = match std::fs::read(dir.join(name))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
        {
            Some(m) => m,
            None => {
                report
                    .problems
                    .push(format!("{name} is not a build manifest"));
                continue;
            }
        };
        for f in &manifest.files {
            match sums.get(&f.name) {
                Some(h) if *h == f.sha512 => {}
                Some(_) if names.contains(&f.name) => {
                    // A rid-agnostic file built on several legs: the release keeps one copy.
                    if !f.name.contains(&manifest.rid) {
                        continue;
                    }
                    report.problems.push(format!(
                        "{name}: {} has a different SHA-512 than in {CHECKSUMS}",
                        f.name
                    ));
                }
                _ => report.problems.push(format!(
                    "{name} lists {}, which the release does not contain",
                    f.name
                )),
            }
        }
    }
}

/// Checks `release.json` against the checksums, the notes and the VEX document; each problem
/// names the file and the JSON path or line it is about.
pub(crate) fn check_release_json(
    dir: &Path,
    names: &[String],
    sums: &BTreeMap<String, String>,
    report: &mut Report,
) {
    let Ok(bytes) = std::fs::read(dir.join(RELEASE_JSON)) else {
        if names.iter().any(|n| n == RELEASE_JSON) {
            report
                .problems
                .push(format!("{RELEASE_JSON} is listed but cannot be read"));
        }
        return;
    };
    let doc: Value = match serde_json::from_slice(&bytes) {
        Ok(d) => d,
        Err(e) => {
            // serde_json's message ends with the line and column.
            report
                .problems
                .push(format!("{RELEASE_JSON} is not JSON: {e}"));
            return;
        }
    };
    let release = &doc["releases"][0];
    let mut listed = Vec::new();
    for component in FILE_COMPONENTS {
        for (i, f) in release[component]["files"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default()
            .iter()
            .enumerate()
        {
            let url = f["url"].as_str().unwrap_or_default();
            let file = url.rsplit('/').next().unwrap_or_default();
            let at = format!("{RELEASE_JSON}: releases[0].{component}.files[{i}]");
            match sums.get(file) {
                Some(h) if Some(h.as_str()) == f["hash"].as_str() => listed.push(file.to_string()),
                Some(_) => report
                    .problems
                    .push(format!("{at}: the hash of {file} differs from {CHECKSUMS}")),
                None => report
                    .problems
                    .push(format!("{at}: {file} is not in the release")),
            }
        }
    }
    for name in sums.keys().filter(|n| super::must_be_listed(n)) {
        if !listed.contains(name) {
            report
                .problems
                .push(format!("{name} is not listed in {RELEASE_JSON}"));
        }
    }
    let notes = std::fs::read_to_string(dir.join(NOTES)).unwrap_or_default();
    let vex: Option<Value> = std::fs::read(dir.join(VEX))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok());
    for cve in release["cve-list"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
    {
        let id = cve["cve-id"].as_str().unwrap_or_default();
        if !notes.contains(id) {
            report
                .problems
                .push(format!("{id} is in {RELEASE_JSON} but not in {NOTES}"));
        }
        if let Some(vex) = &vex {
            let fixed = vex["statements"]
                .as_array()
                .map(Vec::as_slice)
                .unwrap_or_default()
                .iter()
                .any(|s| {
                    (s["vulnerability"]["name"].as_str() == Some(id)
                        || s["vulnerability"].as_str() == Some(id))
                        && s["status"] == "fixed"
                });
            if !fixed {
                report.problems.push(format!(
                    "{id} is in {RELEASE_JSON} but {VEX} does not say it is fixed"
                ));
            }
        }
    }
}
