//! `cargo xtask feed`: publishes a release's nupkgs (runtime packs, patched out-of-band packages)
//! as a static NuGet V3 feed per channel — files only, servable by any web server or object
//! store — promotes them from `lab` to `stable` byte for byte, checks a feed, and prints the
//! `nuget.config` customers add.
//!
//! A feed directory is `<feed-dir>/<channel>/`, served at `<base-url>/<channel>/`. The nupkgs in
//! its flat container are the source of truth; every JSON document is regenerated from them on
//! each publication.

pub mod client_config;
pub mod demo;
pub mod documents;
pub mod nuspec;
pub mod package_version;
pub mod serve;
pub mod verify;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use base64::Engine as _;
use serde::Serialize;
use sha2::{Digest, Sha512};

use crate::channel::{Channel, Distribution, Record};
use crate::config::Config;
use nuspec::Nuspec;

/// A package held by (or going into) a feed.
#[derive(Clone, Debug)]
pub struct FeedPackage {
    pub nuspec: Nuspec,
    pub bytes: Vec<u8>,
    /// When the package reached this feed (RFC 3339); kept across publications.
    pub published: String,
}

impl FeedPackage {
    /// The id lower-cased, as in URLs.
    pub fn id_lower(&self) -> String {
        self.nuspec.id.to_lowercase()
    }

    /// The normalized version lower-cased, as in URLs.
    pub fn version_lower(&self) -> String {
        self.nuspec.version.lower()
    }

    /// `id version`, for reports.
    pub fn label(&self) -> String {
        format!("{} {}", self.nuspec.id, self.nuspec.version)
    }

    /// The SHA-512 of the nupkg, base64 (the catalog's `packageHash`).
    pub fn sha512_base64(&self) -> String {
        base64::engine::general_purpose::STANDARD.encode(Sha512::digest(&self.bytes))
    }
}

/// Where a channel's feed lives on disk and where it is served.
#[derive(Clone, Debug)]
pub struct Feed {
    pub channel: Channel,
    /// The channel's directory: `<feed-dir>/<channel>`.
    pub root: PathBuf,
    /// The channel's public URL (no trailing slash): `<base-url>/<channel>`.
    pub base_url: String,
}

impl Feed {
    /// The channel's feed from the config, with the flags' overrides.
    pub fn locate(
        config: &Config,
        channel: Channel,
        feed_dir: Option<&Path>,
        base_url: Option<&str>,
    ) -> Result<Feed> {
        let dir = feed_dir
            .map(Path::to_path_buf)
            .unwrap_or_else(|| config.artifacts_dir().join("feed"));
        let base = match base_url.or(config.feed.base_url.as_deref()) {
            Some(b) => b.trim_end_matches('/').to_string(),
            None => bail!(
                "set `base-url` under [feed] in {} (where the feeds are served, e.g. \"https://pkgs.example.com/net6-els/nuget\"), or pass --base-url",
                config.root.join(crate::config::FILE_NAME).display()
            ),
        };
        if !(base.starts_with("https://") || base.starts_with("http://")) {
            bail!("the feed base URL `{base}` is not an http(s) URL; NuGet clients follow absolute URLs built from it");
        }
        Ok(Feed {
            channel,
            root: dir.join(channel.as_str()),
            base_url: format!("{base}/{channel}"),
        })
    }

    /// The URL customers configure: the service index.
    pub fn index_url(&self) -> String {
        format!("{}/{}", self.base_url, documents::SERVICE_INDEX)
    }

    /// Every package in the feed, read from the flat container.
    pub fn packages(&self) -> Result<Vec<FeedPackage>> {
        let flat = self.root.join(documents::FLAT_CONTAINER);
        let mut packages = Vec::new();
        let Ok(ids) = std::fs::read_dir(&flat) else {
            return Ok(packages);
        };
        let mut dirs: Vec<PathBuf> = ids.filter_map(|e| e.ok()).map(|e| e.path()).collect();
        dirs.sort();
        for id_dir in dirs.into_iter().filter(|d| d.is_dir()) {
            let id = file_name(&id_dir);
            let mut versions: Vec<PathBuf> = std::fs::read_dir(&id_dir)
                .with_context(|| format!("cannot read {}", id_dir.display()))?
                .filter_map(|e| e.ok())
                .map(|e| e.path())
                .filter(|p| p.is_dir())
                .collect();
            versions.sort();
            for version_dir in versions {
                let version = file_name(&version_dir);
                let path = self.root.join(documents::nupkg(&id, &version));
                let bytes = std::fs::read(&path).with_context(|| {
                    format!(
                        "{} has no package {}",
                        version_dir.display(),
                        path.display()
                    )
                })?;
                let nuspec = nuspec::read_nupkg(&bytes, &path)?;
                if nuspec.id.to_lowercase() != id || nuspec.version.lower() != version {
                    bail!(
                        "{} holds {} {}, which belongs elsewhere in the feed; remove it",
                        path.display(),
                        nuspec.id,
                        nuspec.version
                    );
                }
                let published = self.published(&id, &version)?;
                packages.push(FeedPackage {
                    nuspec,
                    bytes,
                    published: published.unwrap_or_default(),
                });
            }
        }
        Ok(packages)
    }

    /// The publication time recorded in a version's registration leaf, if it has one.
    fn published(&self, id_lower: &str, version_lower: &str) -> Result<Option<String>> {
        let path = self
            .root
            .join(documents::registration_leaf(id_lower, version_lower));
        let Ok(text) = std::fs::read_to_string(&path) else {
            return Ok(None);
        };
        let leaf: serde_json::Value = serde_json::from_str(&text)
            .with_context(|| format!("{} is not JSON", path.display()))?;
        Ok(leaf["published"].as_str().map(str::to_string))
    }
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// What to publish or promote.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// The release directory; default `<artifacts-dir>/release/<current version>`.
    pub release: Option<PathBuf>,
    /// The directory holding the channels' feeds; default `<artifacts-dir>/feed`.
    pub feed_dir: Option<PathBuf>,
    /// Overrides `[feed] base-url`.
    pub base_url: Option<String>,
    /// How long to wait for another publication of the same feed directory (default
    /// [`crate::publish_lock::DEFAULT_TIMEOUT`]).
    pub lock_timeout: Option<std::time::Duration>,
}

impl Options {
    /// Takes the feed directory's publish lock (one publication or promotion at a time), once
    /// the release has been read and checked, so bad input is refused without waiting.
    fn lock(&self, feed: &Feed) -> Result<crate::publish_lock::PublishLock> {
        let dir = feed.root.parent().unwrap_or(&feed.root);
        crate::publish_lock::PublishLock::acquire(
            dir,
            &format!("the feed directory {}", dir.display()),
            self.lock_timeout
                .unwrap_or(crate::publish_lock::DEFAULT_TIMEOUT),
        )
    }
}

/// What a publication or promotion did.
#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
pub struct Report {
    pub channel: Channel,
    pub release: PathBuf,
    pub feed: PathBuf,
    /// The service index URL customers configure.
    pub index_url: String,
    /// Packages added (`id version`).
    pub added: Vec<String>,
    /// Packages the feed already held with identical bytes.
    pub unchanged: Vec<String>,
    /// How many packages the feed holds now.
    pub packages: usize,
    /// When the channel first got this release's feed packages (YYYY-MM-DD).
    pub date: String,
}

impl Report {
    /// What a person reads: the feed's new state and the packages added.
    pub fn human(&self) -> String {
        let mut text = format!(
            "{} feed {}: {} added, {} already there, {} packages in all\n",
            self.channel,
            self.index_url,
            self.added.len(),
            self.unchanged.len(),
            self.packages
        );
        for a in &self.added {
            text.push_str(&format!("  + {a}\n"));
        }
        text.push_str(&format!("  files: {}\n", self.feed.display()));
        text
    }
}

/// The release directory: the given one, or the current version's under the artifacts directory.
pub fn release_dir(config: &Config, release: Option<&Path>) -> Result<PathBuf> {
    match release {
        Some(dir) => Ok(dir.to_path_buf()),
        None => Ok(config
            .artifacts_dir()
            .join("release")
            .join(crate::official_build::product_version(config)?.to_string())),
    }
}

/// Adds the release's nupkgs to `channel`'s feed. Every package is checked against the release's
/// `SHA512SUMS` and its own manifest, and against the feed (the same id and version with other
/// bytes is refused) before anything is written.
pub fn publish(config: &Config, channel: Channel, options: &Options) -> Result<Report> {
    let release = release_dir(config, options.release.as_deref())?;
    let feed = Feed::locate(
        config,
        channel,
        options.feed_dir.as_deref(),
        options.base_url.as_deref(),
    )?;
    let incoming = release_packages(&release)?;
    let _lock = options.lock(&feed)?;
    add(&feed, &release, incoming)
}

/// Copies the release's packages from the `lab` feed to the `stable` feed: the bytes lab serves,
/// which must be the release's own (`SHA512SUMS`); never a rebuild.
pub fn promote(config: &Config, options: &Options) -> Result<Report> {
    let release = release_dir(config, options.release.as_deref())?;
    let lab = Feed::locate(
        config,
        Channel::Lab,
        options.feed_dir.as_deref(),
        options.base_url.as_deref(),
    )?;
    let stable = Feed::locate(
        config,
        Channel::Stable,
        options.feed_dir.as_deref(),
        options.base_url.as_deref(),
    )?;
    if Record::read(&release)?
        .date(Channel::Lab, Distribution::Feed)
        .is_none()
    {
        bail!(
            "{} has not been published to the lab feed ({} records no lab feed date); run `cargo xtask feed publish --channel lab` first",
            release.display(),
            crate::channel::CHANNELS_JSON
        );
    }
    let wanted = release_packages(&release)?;
    let _lock = options.lock(&stable)?;
    let in_lab = lab.packages()?;
    let mut promoted = Vec::new();
    for p in wanted {
        let Some(found) = in_lab
            .iter()
            .find(|l| l.id_lower() == p.id_lower() && l.version_lower() == p.version_lower())
        else {
            bail!(
                "{} is not in the lab feed {}; publish the release to lab first",
                p.label(),
                lab.root.display()
            );
        };
        if found.bytes != p.bytes {
            bail!(
                "the lab feed's {} differs from the release's file (SHA512SUMS); the lab feed was changed after publication — republish it",
                p.label()
            );
        }
        promoted.push(FeedPackage {
            published: String::new(),
            ..found.clone()
        });
    }
    add(&stable, &release, promoted)
}

/// Validates `incoming` against `feed`, then writes the new packages and every document.
fn add(feed: &Feed, release: &Path, incoming: Vec<FeedPackage>) -> Result<Report> {
    let mut packages = feed.packages()?;
    let now = jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string();
    let mut added = Vec::new();
    let mut unchanged = Vec::new();
    let mut new = Vec::new();
    for p in incoming {
        match packages
            .iter()
            .find(|q| q.id_lower() == p.id_lower() && q.nuspec.version == p.nuspec.version)
        {
            Some(existing) if existing.bytes == p.bytes => unchanged.push(p.label()),
            Some(_) => bail!(
                "{} {} already holds {} with different bytes; a published version never changes — give the rebuilt package a new version",
                feed.channel,
                feed.root.display(),
                p.label()
            ),
            None => {
                added.push(p.label());
                new.push(FeedPackage {
                    published: now.clone(),
                    ..p
                });
            }
        }
    }
    // Package files first: nothing lists them until the documents below are written.
    for p in &new {
        let (id, version) = (p.id_lower(), p.version_lower());
        crate::atomic::write(&feed.root.join(documents::nupkg(&id, &version)), &p.bytes)?;
        crate::atomic::write(
            &feed.root.join(documents::nuspec(&id, &version)),
            &p.nuspec.bytes,
        )?;
    }
    packages.extend(new);
    for p in &mut packages {
        if p.published.is_empty() {
            p.published = now.clone();
        }
    }
    for (rel, bytes) in documents::all(&feed.base_url, &packages) {
        let path = feed.root.join(&rel);
        if std::fs::read(&path).ok().as_deref() != Some(bytes.as_slice()) {
            crate::atomic::write(&path, bytes)?;
        }
    }
    let _release_lock = crate::release::lock(release)?;
    let record = Record::add(
        release,
        feed.channel,
        Distribution::Feed,
        &crate::version::today_iso(),
    )?;
    Ok(Report {
        channel: feed.channel,
        release: release.to_path_buf(),
        feed: feed.root.clone(),
        index_url: feed.index_url(),
        added,
        unchanged,
        packages: packages.len(),
        date: record
            .date(feed.channel, Distribution::Feed)
            .unwrap_or_default()
            .to_string(),
    })
}

/// The release's nupkgs (symbol packages aside), each checked against `SHA512SUMS` and its name
/// against its manifest.
pub fn release_packages(release: &Path) -> Result<Vec<FeedPackage>> {
    let sums = read_checksums(release)?;
    let entries = std::fs::read_dir(release)
        .with_context(|| format!("cannot read the release directory {}", release.display()))?;
    let mut names: Vec<String> = entries
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".nupkg") && !n.ends_with(".symbols.nupkg"))
        .collect();
    names.sort();
    if names.is_empty() {
        bail!(
            "{} holds no nupkgs; is it a release directory (`cargo xtask release`)?",
            release.display()
        );
    }
    let mut packages: Vec<FeedPackage> = Vec::new();
    for name in names {
        let path = release.join(&name);
        let bytes =
            std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
        match sums.get(&name) {
            None => bail!(
                "{} is not listed in {}; only the release's own files are published",
                path.display(),
                release.join(crate::release::CHECKSUMS).display()
            ),
            Some(sum) if *sum != crate::official_build::sha512_hex(&bytes) => bail!(
                "{} does not match its SHA-512 in {}; the file changed after the release was assembled",
                path.display(),
                release.join(crate::release::CHECKSUMS).display()
            ),
            Some(_) => {}
        }
        let nuspec = nuspec::read_nupkg(&bytes, &path)?;
        let expected = format!("{}.{}.nupkg", nuspec.id, nuspec.version);
        if !name.eq_ignore_ascii_case(&expected) {
            bail!(
                "{}: its manifest says {} {}, so the file should be named {expected}; a nupkg whose name and manifest disagree is refused",
                path.display(),
                nuspec.id,
                nuspec.version
            );
        }
        if let Some(twin) = packages.iter().find(|p| {
            p.id_lower() == nuspec.id.to_lowercase() && p.nuspec.version == nuspec.version
        }) {
            bail!(
                "{} and another file of the release are both {}",
                path.display(),
                twin.label()
            );
        }
        packages.push(FeedPackage {
            nuspec,
            bytes,
            published: String::new(),
        });
    }
    Ok(packages)
}

/// `SHA512SUMS` of a release: file name → lowercase hex.
fn read_checksums(release: &Path) -> Result<BTreeMap<String, String>> {
    let path = release.join(crate::release::CHECKSUMS);
    let text = std::fs::read_to_string(&path).with_context(|| {
        format!(
            "cannot read {}; publish from a release directory assembled by `cargo xtask release`",
            path.display()
        )
    })?;
    let mut sums = BTreeMap::new();
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let Some((hash, name)) = crate::release::parse_checksum_line(line) else {
            bail!(
                "{}:{}: `{line}` is not `<sha512>  <file>`",
                path.display(),
                n + 1
            );
        };
        sums.insert(name, hash);
    }
    Ok(sums)
}
