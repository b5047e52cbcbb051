//! `cargo xtask release`: assembles a release directory from the collected build artifacts and the
//! patch queue — the artifacts, a `SHA512SUMS` checksum file, a `release.json` in the schema of
//! Microsoft's `releases.json` (so existing tooling reads it), Markdown release notes listing each
//! CVE with its upstream fix and patch, and the OpenVEX document. `sign` adds detached OpenPGP
//! signatures; `verify` checks hashes, signatures and the consistency between the files.

pub mod authenticode;
pub mod demo;
pub mod queue;
pub mod sign;
pub mod verify;

use crate::apicompat::suppressions::{self, Suppressions};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde::Serialize;
use serde_json::{json, Value};

use crate::channel::CHANNELS_JSON;
use crate::config::Config;
use crate::official_build::{sha512_hex, Manifest, MANIFEST};
use crate::publish_lock::PublishLock;
use crate::version::Version;

/// The checksum file, in `sha512sum` format.
pub const CHECKSUMS: &str = "SHA512SUMS";
/// The release metadata in the shape of Microsoft's releases.json.
pub const RELEASE_JSON: &str = "release.json";
/// The release notes.
pub const NOTES: &str = "release-notes.md";
/// The OpenVEX document.
pub const VEX: &str = "openvex.json";
/// The metadata files that are signed (the VEX document too when present).
pub const SIGNED: [&str; 3] = [CHECKSUMS, RELEASE_JSON, NOTES];
/// The release.json components whose `files` list the release's archives and packages
/// (`windowsdesktop` appears when the release holds the Windows build's desktop runtime or its
/// MSI).
pub const FILE_COMPONENTS: [&str; 3] = ["runtime", "aspnetcore-runtime", "windowsdesktop"];
/// The endings of the files those components must list: the build's archives and NuGet
/// packages, and the packages `package` adds (its formats' extensions, a unit test there checks).
const LISTED_ENDINGS: [&str; 6] = [".nupkg", ".tar.gz", ".zip", ".deb", ".rpm", ".msi"];

/// Whether the release file `name` must be listed in release.json (`release verify`).
pub fn must_be_listed(name: &str) -> bool {
    LISTED_ENDINGS.iter().any(|ending| name.ends_with(ending))
}

/// What to release.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// The version; default the fork's current branding.
    pub version: Option<Version>,
    /// The OpenVEX document for this version (`cargo xtask vex --product-version 6.0.N`).
    pub vex: Option<PathBuf>,
    /// The release date (YYYY-MM-DD); default today.
    pub date: Option<String>,
    /// The release directory; default `<artifacts-dir>/release/<version>`.
    pub out: Option<PathBuf>,
}

/// What was assembled.
#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
pub struct Report {
    pub version: String,
    pub dir: PathBuf,
    pub cves: Vec<String>,
    pub files: Vec<String>,
    pub vex: bool,
    /// Artifacts built on more than one leg under the same name; the first rid's copy is kept.
    pub duplicates: Vec<String>,
}

/// An artifact going into the release.
struct Artifact {
    name: String,
    rid: String,
    repo: String,
    sha512: String,
    source: PathBuf,
}

/// Assembles the release directory. Refuses when the directory already exists (it may hold
/// signatures), when a collected artifact no longer matches its manifest, or when the VEX
/// document contradicts the queue.
pub fn assemble(config: &Config, options: &Options) -> Result<Report> {
    let version = match options.version {
        Some(v) => v,
        None => crate::official_build::product_version(config)?,
    };
    let date = options
        .date
        .clone()
        .unwrap_or_else(crate::version::today_iso);
    check_date(&date)?;
    let download_url = config.release.download_url.clone().with_context(|| {
        format!(
            "set `download-url` under [release] in {} (where the files will be published, e.g. \"https://downloads.example.com/net6-els/{{version}}/{{name}}\")",
            config.root.join(crate::config::FILE_NAME).display()
        )
    })?;
    let collected = config.artifacts_dir().join(version.to_string());
    let (manifests, artifacts, duplicates) = read_collected(&collected, version)?;
    let fixes = queue::read(&config.patches_dir())?;
    let cves = queue::cve_ids(&fixes);
    let vex = match &options.vex {
        Some(path) => Some(read_vex(path, &cves)?),
        None => None,
    };

    let out = options.out.clone().unwrap_or_else(|| {
        config
            .artifacts_dir()
            .join("release")
            .join(version.to_string())
    });
    if out.exists()
        && std::fs::read_dir(&out)
            .map(|mut d| d.next().is_some())
            .unwrap_or(true)
    {
        bail!(
            "the release directory {} already exists; remove it (or pass --out) to assemble again",
            out.display()
        );
    }
    for a in &artifacts {
        let bytes = std::fs::read(&a.source)
            .with_context(|| format!("cannot read {}", a.source.display()))?;
        crate::atomic::write(&out.join(&a.name), bytes)?;
    }
    for (rid, manifest) in &manifests {
        crate::atomic::write(
            &out.join(format!("manifest-{rid}.json")),
            serde_json::to_vec_pretty(manifest)?,
        )?;
    }
    if let Some(vex) = &vex {
        crate::atomic::write(&out.join(VEX), vex)?;
    }
    let release = release_json(config, version, &date, &cves, &artifacts, &download_url);
    crate::atomic::write(
        &out.join(RELEASE_JSON),
        serde_json::to_string_pretty(&release)? + "\n",
    )?;
    let accepted = Suppressions::load(&config.root.join(suppressions::FILE_NAME))?;
    let mut notes_text = notes(config, version, &date, &fixes, &artifacts, vex.is_some());
    notes_text.push_str(&accepted_api_changes(&accepted));
    crate::atomic::write(&out.join(NOTES), notes_text)?;
    let files = write_checksums(&out)?;
    Ok(Report {
        version: version.to_string(),
        dir: out,
        cves,
        files,
        vex: vex.is_some(),
        duplicates,
    })
}

fn check_date(date: &str) -> Result<()> {
    crate::version::parse_date(date, "release date").map(drop)
}

type Collected = (BTreeMap<String, Manifest>, Vec<Artifact>, Vec<String>);

/// Reads every `<rid>/manifest.json` under the version's artifact directory and checks that each
/// collected file still has the hash the build recorded.
fn read_collected(dir: &Path, version: Version) -> Result<Collected> {
    let mut manifests = BTreeMap::new();
    let entries = std::fs::read_dir(dir).with_context(|| {
        format!(
            "no collected artifacts for {version} in {}; run `cargo xtask build` first",
            dir.display()
        )
    })?;
    let mut rids: Vec<PathBuf> = entries
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.join(MANIFEST).is_file())
        .collect();
    rids.sort();
    if rids.is_empty() {
        bail!(
            "no build manifests under {}; run `cargo xtask build` first",
            dir.display()
        );
    }
    let mut artifacts: Vec<Artifact> = Vec::new();
    let mut duplicates = Vec::new();
    for rid_dir in rids {
        let path = rid_dir.join(MANIFEST);
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        let manifest = Manifest::parse(&text, &path)?;
        if manifest.version != version.to_string() {
            bail!(
                "{} is for version {}, not {version}",
                path.display(),
                manifest.version
            );
        }
        for f in &manifest.files {
            let source = rid_dir.join(&f.name);
            let bytes = std::fs::read(&source).with_context(|| {
                format!("{} lists {}, which is missing", path.display(), f.name)
            })?;
            if sha512_hex(&bytes) != f.sha512 {
                bail!("{} changed after the build collected it (its SHA-512 no longer matches {}); rebuild", source.display(), path.display());
            }
            if artifacts.iter().any(|a| a.name == f.name) {
                duplicates.push(format!("{} ({})", f.name, manifest.rid));
                continue;
            }
            let rid = if f.name.contains(&manifest.rid) {
                manifest.rid.clone()
            } else {
                String::new()
            };
            artifacts.push(Artifact {
                name: f.name.clone(),
                rid,
                repo: f.repo.clone(),
                sha512: f.sha512.clone(),
                source,
            });
        }
        manifests.insert(manifest.rid.clone(), manifest);
    }
    Ok((manifests, artifacts, duplicates))
}

/// Reads the OpenVEX document and checks it says "fixed" for every CVE the queue fixes.
fn read_vex(path: &Path, cves: &[String]) -> Result<Vec<u8>> {
    let bytes = std::fs::read(path)
        .with_context(|| format!("cannot read the VEX document {}", path.display()))?;
    let doc: Value = serde_json::from_slice(&bytes)
        .with_context(|| format!("{} is not JSON", path.display()))?;
    if !doc["@context"]
        .as_str()
        .is_some_and(|c| c.starts_with("https://openvex.dev/ns"))
    {
        bail!("{}: `@context` is not an OpenVEX context (https://openvex.dev/ns/…); pass the output of `cargo xtask vex`", path.display());
    }
    let statements = doc["statements"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    for cve in cves {
        let status = statements.iter().find_map(|s| {
            let name = s["vulnerability"]["name"]
                .as_str()
                .or(s["vulnerability"].as_str());
            (name == Some(cve.as_str())).then(|| s["status"].as_str().unwrap_or(""))
        });
        match status {
            Some("fixed") => {}
            Some(other) => bail!("{}: the queue fixes {cve} but the VEX statement says `{other}`; regenerate the VEX document", path.display()),
            None => bail!("{}: the queue fixes {cve} but the VEX document has no statement for it; regenerate it", path.display()),
        }
    }
    Ok(bytes)
}

/// The channel document, shaped like Microsoft's `release-notes/6.0/releases.json`, holding this
/// one release.
fn release_json(
    config: &Config,
    version: Version,
    date: &str,
    cves: &[String],
    artifacts: &[Artifact],
    url: &str,
) -> Value {
    let files = |repos: &[&str]| -> Vec<Value> {
        artifacts
            .iter()
            .filter(|a| repos.contains(&a.repo.as_str()))
            .map(|a| {
                json!({
                    "name": a.name.replace(&format!("-{version}"), ""),
                    "rid": a.rid,
                    "url": url.replace("{version}", &version.to_string()).replace("{name}", &a.name),
                    "hash": a.sha512,
                })
            })
            .collect()
    };
    let v = version.to_string();
    let sdk = &config.release.sdk_version;
    let mut release = json!({
        "release-date": date,
        "release-version": v,
        "security": !cves.is_empty(),
        "cve-list": cves.iter().map(|c| json!({"cve-id": c, "cve-url": format!("https://www.cve.org/CVERecord?id={c}")})).collect::<Vec<_>>(),
        "release-notes": url.replace("{version}", &v).replace("{name}", NOTES),
        "runtime": {"version": v, "version-display": v, "vs-version": "", "files": files(&["runtime"])},
        // The fork ships runtimes; customers keep building with Microsoft's last SDK.
        "sdk": {
            "version": sdk, "version-display": sdk, "runtime-version": config.fork.base_version,
            "vs-version": "", "vs-support": "", "csharp-version": "10.0", "fsharp-version": "6.0", "vb-version": "16.9",
            "files": [],
        },
        "sdks": [],
        "aspnetcore-runtime": {"version": v, "version-display": v, "version-aspnetcoremodule": [], "vs-version": "", "files": files(&["aspnetcore"])},
    });
    // The Windows build's desktop runtime (windowsdesktop bundles winforms' and wpf's packages),
    // as Microsoft's releases.json lists it; a release without a Windows leg has none.
    let desktop = files(&crate::official_build::DESKTOP_REPOS);
    if !desktop.is_empty() {
        release["windowsdesktop"] = json!({"version": v, "version-display": v, "files": desktop});
    }
    json!({
        "channel-version": version.channel(),
        "latest-release": v,
        "latest-release-date": date,
        "latest-release-security": !cves.is_empty(),
        "latest-runtime": v,
        "latest-sdk": sdk,
        "product": config.fork.name,
        "support-phase": "maintenance",
        "release-type": "lts",
        "eol-date": "2024-11-12",
        "lifecycle-policy": "https://dotnet.microsoft.com/platform/support/policy/",
        "patch-releases-index-uri": null,
        "supported-os-info-uri": null,
        "os-packages-info-uri": null,
        "releases": [release],
    })
}

fn notes(
    config: &Config,
    version: Version,
    date: &str,
    fixes: &[queue::QueuedFix],
    artifacts: &[Artifact],
    vex: bool,
) -> String {
    let mut md = format!("# {} {version} ({date})\n\n", config.fork.name);
    let (security, other): (Vec<&queue::QueuedFix>, Vec<&queue::QueuedFix>) =
        fixes.iter().partition(|f| !f.cves.is_empty());
    if security.is_empty() {
        md.push_str("This release fixes no CVEs.\n\n");
    } else {
        md.push_str(&format!(
            "This release fixes {} CVE(s) by backporting Microsoft's fixes from later .NET versions.\n\n",
            queue::cve_ids(fixes).len()
        ));
        md.push_str("## Security fixes\n\n| CVE | Fix | Upstream fix | Patch |\n| --- | --- | --- | --- |\n");
        for f in security {
            let cves: Vec<String> = f
                .cves
                .iter()
                .map(|c| format!("[{c}](https://www.cve.org/CVERecord?id={c})"))
                .collect();
            let kind = f.origin.split(',').next().unwrap_or("upstream").trim();
            let shipped = f
                .applied_upstream
                .as_deref()
                .map(|v| format!(", shipped upstream in {v}"))
                .unwrap_or_default();
            md.push_str(&format!(
                "| {} | {} | [{kind}]({}){shipped} | `{}` |\n",
                cves.join(", "),
                f.description.replace('|', "\\|"),
                queue::origin_url(&f.origin),
                f.patch
            ));
        }
        md.push('\n');
    }
    if !other.is_empty() {
        // Every patch the release ships is accounted for, not only the security fixes.
        md.push_str("## Other changes\n\n| Change | Origin | Patch |\n| --- | --- | --- |\n");
        for f in other {
            md.push_str(&format!(
                "| {} | {} | `{}` |\n",
                f.description.replace('|', "\\|"),
                f.origin.replace('|', "\\|"),
                f.patch
            ));
        }
        md.push('\n');
    }
    md.push_str("## Files\n\n| File | RID | SHA-512 |\n| --- | --- | --- |\n");
    for a in artifacts {
        md.push_str(&format!(
            "| {} | {} | `{}` |\n",
            a.name,
            if a.rid.is_empty() { "any" } else { &a.rid },
            a.sha512
        ));
    }
    md.push_str(&format!(
        "\n## Verifying\n\n`{CHECKSUMS}` lists the SHA-512 of every file; it and the metadata carry detached OpenPGP signatures (`.asc`).\n\n\
         ```\ngpg --verify {CHECKSUMS}.asc {CHECKSUMS} && sha512sum -c {CHECKSUMS}\n```\n\n\
         or `cargo xtask release verify <dir> --key <public key>`.{}\n",
        if vex { format!(" `{VEX}` states, per CVE, whether this release is affected (OpenVEX).") } else { String::new() }
    ));
    md
}

/// One `sha512sum` line: `(lowercase hex hash, file name)`, or `None` when it is not one.
pub fn parse_checksum_line(line: &str) -> Option<(String, String)> {
    let (hash, name) = line.split_once("  ").or_else(|| line.split_once(" *"))?;
    (hash.len() == 128 && hash.bytes().all(|b| b.is_ascii_hexdigit()))
        .then(|| (hash.to_ascii_lowercase(), name.to_string()))
}

/// The heading of the release notes' section of accepted public API differences.
pub const ACCEPTED_API_HEADING: &str = "## Accepted public API changes";

/// The release notes' section listing every public API difference apicompat.toml accepts, each
/// with its CVE and justification (empty when servicing changed no public API).
fn accepted_api_changes(accepted: &Suppressions) -> String {
    if accepted.entries.is_empty() {
        return String::new();
    }
    let mut md = format!("\n{ACCEPTED_API_HEADING}\n\nServicing adds no public API; these differences from Microsoft's release were accepted because a security fix needs them.\n\n| CVE | Assembly | Change | API | Justification |\n| --- | --- | --- | --- | --- |\n");
    for e in &accepted.entries {
        md.push_str(&format!(
            "| {} | {} | {} | `{}` | {} |\n",
            e.cve,
            e.assembly,
            e.kind.as_str(),
            e.item.replace('`', "'"),
            e.justification.replace('|', "\\|").replace('\n', " ")
        ));
    }
    md
}

/// Locks the release directory `dir` for a change to its files. `package`, `repo publish`/`promote`
/// and `feed publish`/`promote` all change a release after it was assembled; two at once would
/// lose a channel record or seal a half-written file. The lock file is beside the directory, so it
/// is never part of the release.
pub fn lock(dir: &Path) -> Result<PublishLock> {
    PublishLock::acquire_beside(
        dir,
        &format!("the release {}", dir.display()),
        crate::publish_lock::DEFAULT_TIMEOUT,
    )
}

/// Writes `SHA512SUMS` for every file in `dir` (except itself, signatures and the channel record,
/// which changes with every promotion); returns the names. Hold [`lock`] while calling it.
pub fn write_checksums(dir: &Path) -> Result<Vec<String>> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .with_context(|| format!("cannot list the release directory {}", dir.display()))?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n != CHECKSUMS && !n.ends_with(".asc") && n != CHANNELS_JSON)
        .collect();
    names.sort();
    let mut text = String::new();
    for name in &names {
        let path = dir.join(name);
        let bytes = std::fs::read(&path)
            .with_context(|| format!("cannot read {} to checksum it", path.display()))?;
        text.push_str(&format!("{}  {name}\n", sha512_hex(&bytes)));
    }
    crate::atomic::write(&dir.join(CHECKSUMS), text)?;
    Ok(names)
}

/// After files were added to a release: writes `SHA512SUMS` again and, when the release was
/// signed, signs its metadata again with `signer`. Returns whether it signed. Hold [`lock`].
pub fn reseal(dir: &Path, signer: &sign::Signer) -> Result<bool> {
    write_checksums(dir)?;
    let signed = SIGNED
        .iter()
        .any(|n| dir.join(format!("{n}.asc")).is_file());
    if signed {
        sign::sign_with(dir, signer)?;
    }
    Ok(signed)
}
