//! `cargo xtask repo publish|promote|verify`: static, signed APT and DNF repositories with a `lab`
//! and a `stable` channel, in a tree any web server or object store can serve.
//!
//! The tree (`repo-dir`): `keys/` (the public key, armored and as an APT keyring), `apt/pool/`
//! (every `.deb`, shared by the channels) and `apt/dists/<channel>` (Packages, Release, InRelease,
//! Release.gpg), `rpm/<channel>/x86_64/` (the `.rpm` files and `repodata/`) with
//! `rpm/net6-els-<channel>.repo`. Package files are written once and never change; a channel's
//! metadata is built complete in a new directory and switched in by renaming a symbolic link,
//! so a reader sees the old or the new metadata, never a mix, and a failure leaves the old.

pub mod apt;
pub mod demo;
pub mod dnf;
pub mod verify;

use crate::publish_lock::{PublishLock, DEFAULT_TIMEOUT};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde::Serialize;

use crate::channel::{Channel, Distribution, Record};
use crate::config::Config;
use crate::release::sign::Signer;
use crate::version::Version;

/// The public key file names under `keys/`.
pub const KEY_ASC: &str = "keys/net6-els.asc";
/// The public key as a binary keyring, for APT's `signed-by`.
pub const KEY_GPG: &str = "keys/net6-els.gpg";

/// One package file added to (or already in) a channel.
#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
pub struct Added {
    pub file: String,
    /// Where it lies in the tree, relative to the repository directory.
    pub path: String,
    /// False when the channel already had the identical file.
    pub new: bool,
}

/// What a publish or promote did.
#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
pub struct Report {
    pub channel: Channel,
    pub version: String,
    pub repo_dir: PathBuf,
    pub apt: Vec<Added>,
    pub rpm: Vec<Added>,
    /// The signing key's fingerprint.
    pub signer: String,
    /// The date recorded in the release's channels.json.
    pub date: String,
    /// What customers put in their configuration.
    pub apt_source: String,
    pub dnf_repo_file: PathBuf,
    pub public_key: PathBuf,
}

impl Report {
    /// What a person reads: the channel's new state and what customers configure.
    pub fn human(&self) -> String {
        let new = self.apt.iter().chain(&self.rpm).filter(|a| a.new).count();
        format!(
            "{} {} in {}: {} .deb, {} .rpm ({new} new files), signed by {}\n  APT:  {}\n  DNF:  {}\n  key:  {}\n  recorded in channels.json: {} on {}\n",
            self.version,
            self.channel,
            self.repo_dir.display(),
            self.apt.len(),
            self.rpm.len(),
            self.signer,
            self.apt_source,
            self.dnf_repo_file.display(),
            self.public_key.display(),
            self.channel,
            self.date
        )
    }
}

/// Where the tree lies and how customers reach it.
#[derive(Clone, Debug)]
pub struct Tree {
    pub dir: PathBuf,
    /// The URL the tree is served at (`file://…` by default).
    pub url: String,
    /// The repository's name in metadata (`Origin`, `Label`, `.repo` id).
    pub vendor: String,
}

impl Tree {
    /// The tree named by `--repo-dir` or the config.
    pub fn new(config: &Config, repo_dir: Option<&Path>) -> Result<Tree> {
        let dir = match repo_dir {
            Some(d) => d.to_path_buf(),
            None => config.repo_dir(),
        };
        let dir = if dir.is_absolute() {
            dir
        } else {
            std::env::current_dir()?.join(dir)
        };
        let url = match &config.packages.repo_url {
            Some(u) => u.trim_end_matches('/').to_string(),
            None => format!("file://{}", dir.display()),
        };
        Ok(Tree {
            dir,
            url,
            vendor: config.packages.vendor.clone(),
        })
    }

    /// The APT source line for `channel` (deb822 one-line style with `signed-by`).
    pub fn apt_source(&self, channel: Channel, keyring: &str) -> String {
        format!(
            "deb [arch=amd64 signed-by={keyring}] {}/apt {channel} main",
            self.url
        )
    }
}

/// Options of publish.
#[derive(Clone, Debug, Default)]
pub struct PublishOptions {
    /// The release directory; default `<artifacts-dir>/release/<version>`.
    pub release: Option<PathBuf>,
    pub repo_dir: Option<PathBuf>,
    /// The date recorded (YYYY-MM-DD); default today.
    pub date: Option<String>,
}

/// The release's package files, checked against its `SHA512SUMS`.
struct ReleasePackages {
    dir: PathBuf,
    version: Version,
    debs: Vec<PathBuf>,
    rpms: Vec<PathBuf>,
}

fn release_packages(config: &Config, release: Option<&Path>) -> Result<ReleasePackages> {
    let (dir, version) = crate::package::release_dir(config, release)?;
    let sums_path = dir.join(crate::release::CHECKSUMS);
    let sums = std::fs::read_to_string(&sums_path)
        .with_context(|| format!("cannot read {}", sums_path.display()))?;
    let mut debs = Vec::new();
    let mut rpms = Vec::new();
    for line in sums.lines() {
        let Some((hash, name)) = line.split_once("  ") else {
            continue;
        };
        let is_deb = name.ends_with(".deb");
        if !is_deb && !name.ends_with(".rpm") {
            continue;
        }
        let path = dir.join(name);
        let bytes = std::fs::read(&path)
            .with_context(|| format!("{} lists {name}, which is missing", sums_path.display()))?;
        if crate::official_build::sha512_hex(&bytes) != hash {
            bail!(
                "{} does not match {} (changed after packaging); run `cargo xtask package` again",
                path.display(),
                sums_path.display()
            );
        }
        if is_deb {
            debs.push(path);
        } else {
            rpms.push(path);
        }
    }
    if debs.is_empty() && rpms.is_empty() {
        bail!(
            "{} holds no packages; run `cargo xtask package --release {}` first",
            dir.display(),
            dir.display()
        );
    }
    Ok(ReleasePackages {
        dir,
        version,
        debs,
        rpms,
    })
}

/// Adds a release's packages to `channel`, re-signs that channel's metadata and records the date
/// in the release's channels.json.
pub fn publish(
    config: &Config,
    channel: Channel,
    options: &PublishOptions,
    signer: &Signer,
) -> Result<Report> {
    let tree = Tree::new(config, options.repo_dir.as_deref())?;
    let release = release_packages(config, options.release.as_deref())?;
    let date = check_date(options.date.clone())?;
    let _lock = PublishLock::acquire(&tree.dir, "the package repository", DEFAULT_TIMEOUT)?;
    let mut debs = Vec::new();
    for path in &release.debs {
        debs.push(apt::Deb::read(path)?);
    }
    let apt_plan = apt::plan(&tree, channel, debs)?;
    let rpm_plan = dnf::plan(&tree, channel, &release.rpms)?;
    finish(&tree, channel, &release, apt_plan, rpm_plan, signer, date)
}

/// Puts the exact package files of `version` that are in `from` into `to` (their hashes checked
/// against `from`'s signed metadata), re-signs `to` and records the date in channels.json.
pub fn promote(
    config: &Config,
    version: Version,
    from: Channel,
    to: Channel,
    options: &PublishOptions,
    signer: &Signer,
) -> Result<Report> {
    if from == to {
        bail!("--from and --to are both `{from}`; promote moves a release from one channel to another");
    }
    let tree = Tree::new(config, options.repo_dir.as_deref())?;
    let release_dir = match &options.release {
        Some(d) => d.clone(),
        None => config
            .artifacts_dir()
            .join("release")
            .join(version.to_string()),
    };
    let release = ReleasePackages {
        dir: release_dir,
        version,
        debs: vec![],
        rpms: vec![],
    };
    if !release.dir.join(crate::release::RELEASE_JSON).is_file() {
        bail!(
            "{} is not the release directory of {version} (no {}); pass --release DIR: the promotion is recorded there",
            release.dir.display(),
            crate::release::RELEASE_JSON
        );
    }
    let date = check_date(options.date.clone())?;
    let _lock = PublishLock::acquire(&tree.dir, "the package repository", DEFAULT_TIMEOUT)?;
    let debs = apt::in_channel(&tree, from, version)?;
    let rpms = dnf::in_channel(&tree, from, version)?;
    if debs.is_empty() && rpms.is_empty() {
        bail!("{from} holds no packages of {version}; publish it there first (`cargo xtask repo publish --channel {from}`)");
    }
    let apt_plan = apt::plan(&tree, to, debs)?;
    let rpm_plan = dnf::plan(&tree, to, &rpms)?;
    finish(&tree, to, &release, apt_plan, rpm_plan, signer, date)
}

/// Writes the planned files and metadata, the keys and the customer files, then records the date.
fn finish(
    tree: &Tree,
    channel: Channel,
    release: &ReleasePackages,
    apt_plan: apt::Plan,
    rpm_plan: dnf::Plan,
    signer: &Signer,
    date: String,
) -> Result<Report> {
    // Everything that can fail on bad input has failed by now; what follows only writes.
    write_keys(tree, signer)?;
    let apt = apt::commit(tree, channel, apt_plan, signer)?;
    let rpm = dnf::commit(tree, channel, rpm_plan, signer)?;
    let dnf_repo_file = dnf::write_repo_file(tree, channel)?;
    let _release_lock = crate::release::lock(&release.dir)?;
    let record = Record::add(&release.dir, channel, Distribution::Packages, &date)?;
    let date = record
        .date(channel, Distribution::Packages)
        .unwrap_or(&date)
        .to_string();
    crate::release::reseal(&release.dir, signer)?;
    Ok(Report {
        channel,
        version: release.version.to_string(),
        repo_dir: tree.dir.clone(),
        apt,
        rpm,
        signer: signer.fingerprint()?,
        date,
        apt_source: tree.apt_source(channel, "/usr/share/keyrings/net6-els.gpg"),
        dnf_repo_file,
        public_key: tree.dir.join(KEY_ASC),
    })
}

/// The public key, armored and as a binary keyring (written only when it changed).
fn write_keys(tree: &Tree, signer: &Signer) -> Result<()> {
    for (name, armored) in [(KEY_ASC, true), (KEY_GPG, false)] {
        let key = signer.public_key(armored)?;
        let path = tree.dir.join(name);
        if std::fs::read(&path).ok().as_deref() != Some(key.as_slice()) {
            crate::atomic::write(&path, key)?;
        }
    }
    Ok(())
}

fn check_date(date: Option<String>) -> Result<String> {
    let date = date.unwrap_or_else(crate::version::today_iso);
    date.parse::<jiff::civil::Date>()
        .with_context(|| format!("date `{date}` is not YYYY-MM-DD"))?;
    Ok(date)
}

/// Switches the symbolic link `link` to `target` (a sibling directory's name) atomically, and
/// removes the directory it pointed to before.
pub(crate) fn switch_link(link: &Path, target: &str) -> Result<()> {
    let parent = link.parent().context("a link without a parent")?;
    let previous = std::fs::read_link(link).ok();
    if link.exists() && previous.is_none() {
        bail!(
            "{} is a directory, not the link this tool maintains; it was not made by `cargo xtask repo`",
            link.display()
        );
    }
    let tmp = parent.join(format!(".{target}.link"));
    let _ = std::fs::remove_file(&tmp);
    std::os::unix::fs::symlink(target, &tmp)
        .with_context(|| format!("cannot create {}", tmp.display()))?;
    std::fs::rename(&tmp, link).with_context(|| format!("cannot switch {}", link.display()))?;
    if let Some(old) = previous {
        if old != Path::new(target) {
            let _ = std::fs::remove_dir_all(parent.join(old));
        }
    }
    Ok(())
}

/// A fresh, unique generation directory name for `what` (`.lab-<n>`).
pub(crate) fn generation_name(what: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    format!(".{what}-{nanos:x}-{}", std::process::id())
}

/// Writes `bytes` to `path` unless the same bytes are there; refuses different bytes (a published
/// file never changes). Returns whether it was written.
pub(crate) fn write_once(path: &Path, bytes: &[u8]) -> Result<bool> {
    match std::fs::read(path) {
        Ok(existing) if existing == bytes => Ok(false),
        Ok(_) => bail!(
            "{} is already published with different bytes; a published package never changes (raise the version or the package revision)",
            path.display()
        ),
        Err(_) => {
            crate::atomic::write(path, bytes)?;
            Ok(true)
        }
    }
}
