//! `els.toml`, the single source of truth for the fork: its repositories, branches, base tags,
//! upstreams, path remaps, SLA days, version scheme and signing identity. Every command reads it;
//! every flag only overrides it.
//!
//! The file is found by walking up from the current directory (like Cargo.toml), or named with
//! `--config` / `ELS_CONFIG`. Relative paths in it are relative to the file's directory.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde::Deserialize;

/// The config file's name at the repository root.
pub const FILE_NAME: &str = "els.toml";

/// The parsed `els.toml`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Config {
    /// The directory holding the config file; relative paths resolve against it.
    #[serde(skip)]
    pub root: PathBuf,
    #[serde(default)]
    pub fork: ForkSettings,
    /// The fork's repositories, one per upstream repository (runtime, aspnetcore, wpf, …).
    #[serde(default, rename = "repo")]
    pub repos: Vec<RepoConfig>,
    #[serde(default)]
    pub patches: PatchesSettings,
    #[serde(default)]
    pub build: BuildSettings,
    #[serde(default)]
    pub release: ReleaseSettings,
    #[serde(default)]
    pub advisories: AdvisoriesSettings,
    #[serde(default)]
    pub github: GithubSettings,
    #[serde(default)]
    pub feed: FeedSettings,
    #[serde(default)]
    pub packages: PackagesSettings,
}

/// The Linux packages (`cargo xtask package`) and their repositories (`cargo xtask repo`).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct PackagesSettings {
    /// Who builds the packages: the `.deb` Maintainer and the `.rpm` Packager.
    #[serde(default = "default_packages_maintainer")]
    pub maintainer: String,
    /// The `.rpm` Vendor and the name in the repositories' metadata (`Origin`, `Label`).
    #[serde(default = "default_packages_vendor")]
    pub vendor: String,
    /// The package revision appended to the version (`6.0.37-1.els`): it says the package is the
    /// fork's, not Microsoft's (whose packages are `6.0.36-1`).
    #[serde(default = "default_packages_revision")]
    pub revision: String,
    /// The project's web page, in the packages' `Homepage`/`URL`.
    #[serde(default)]
    pub homepage: Option<String>,
    /// The repository tree `cargo xtask repo` publishes to, relative to the config file
    /// (default `<artifacts-dir>/repo`).
    #[serde(default)]
    pub repo_dir: Option<PathBuf>,
    /// Where customers reach that tree (the `baseurl` of the `.repo` files and the APT source
    /// line); default a `file://` URL of `repo-dir`.
    #[serde(default)]
    pub repo_url: Option<String>,
}

impl Default for PackagesSettings {
    fn default() -> Self {
        PackagesSettings {
            maintainer: default_packages_maintainer(),
            vendor: default_packages_vendor(),
            revision: default_packages_revision(),
            homepage: None,
            repo_dir: None,
            repo_url: None,
        }
    }
}

fn default_packages_maintainer() -> String {
    "net6-els maintainers <net6-els@example.org>".to_string()
}

fn default_packages_vendor() -> String {
    "net6-els".to_string()
}

fn default_packages_revision() -> String {
    "1.els".to_string()
}

/// Settings that apply to the fork as a whole.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ForkSettings {
    /// A human name for the fork, used in reports and release notes.
    #[serde(default = "default_fork_name")]
    pub name: String,
    /// Microsoft's last official release the fork continues from.
    #[serde(default = "default_base_version")]
    pub base_version: String,
}

impl Default for ForkSettings {
    fn default() -> Self {
        ForkSettings {
            name: default_fork_name(),
            base_version: default_base_version(),
        }
    }
}

fn default_fork_name() -> String {
    ".NET 6 ELS".to_string()
}

fn default_base_version() -> String {
    "6.0.36".to_string()
}

/// Where the patch queue lives.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct PatchesSettings {
    /// The queue directory, relative to the config file.
    #[serde(default = "default_patches_dir")]
    pub dir: PathBuf,
}

impl Default for PatchesSettings {
    fn default() -> Self {
        PatchesSettings {
            dir: default_patches_dir(),
        }
    }
}

fn default_patches_dir() -> PathBuf {
    PathBuf::from("runtime-patches")
}

/// `[build]`: how `cargo xtask build` builds the fork and what a build must produce.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct BuildSettings {
    /// The NuGet feed that replaces Microsoft-internal `darc-int-*` feeds in `NuGet.config`.
    #[serde(default)]
    pub feed: Option<String>,
    /// Where collected artifacts, manifests, logs and releases go, relative to the config file.
    #[serde(default = "default_artifacts_dir")]
    pub artifacts_dir: PathBuf,
    /// Commands a Linux build needs on PATH.
    #[serde(default = "default_linux_prerequisites")]
    pub linux_prerequisites: Vec<String>,
    /// Commands a Windows build needs on PATH.
    #[serde(default = "default_windows_prerequisites")]
    pub windows_prerequisites: Vec<String>,
    /// Shipping files each repository's build must produce, per repository name. Patterns may
    /// use `{version}`, `{rid}` and `{archive}` (tar.gz on Linux, zip on Windows).
    #[serde(default = "default_expected_artifacts")]
    pub expected: std::collections::BTreeMap<String, Vec<String>>,
}

impl Default for BuildSettings {
    fn default() -> Self {
        BuildSettings {
            feed: None,
            artifacts_dir: default_artifacts_dir(),
            linux_prerequisites: default_linux_prerequisites(),
            windows_prerequisites: default_windows_prerequisites(),
            expected: default_expected_artifacts(),
        }
    }
}

fn default_artifacts_dir() -> PathBuf {
    PathBuf::from("artifacts/els")
}

fn default_linux_prerequisites() -> Vec<String> {
    ["bash", "git", "cmake", "clang", "python3", "curl"]
        .map(String::from)
        .to_vec()
}

fn default_windows_prerequisites() -> Vec<String> {
    ["git", "cmake", "python"].map(String::from).to_vec()
}

fn default_expected_artifacts() -> std::collections::BTreeMap<String, Vec<String>> {
    let runtime = [
        "dotnet-runtime-{version}-{rid}.{archive}",
        "Microsoft.NETCore.App.Runtime.{rid}.{version}.nupkg",
        "Microsoft.NETCore.App.Host.{rid}.{version}.nupkg",
    ];
    let aspnetcore = [
        "aspnetcore-runtime-{version}-{rid}.{archive}",
        "Microsoft.AspNetCore.App.Runtime.{rid}.{version}.nupkg",
    ];
    let windowsdesktop = [
        "windowsdesktop-runtime-{version}-{rid}.{archive}",
        "Microsoft.WindowsDesktop.App.Runtime.{rid}.{version}.nupkg",
    ];
    [
        ("runtime", runtime.as_slice()),
        ("aspnetcore", aspnetcore.as_slice()),
        ("windowsdesktop", windowsdesktop.as_slice()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.iter().map(|s| s.to_string()).collect()))
    .collect()
}

/// `[release]`: what `cargo xtask release` writes into release metadata and how it signs.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ReleaseSettings {
    /// Where published files will be downloadable: a URL template with `{version}` and `{name}`.
    #[serde(default)]
    pub download_url: Option<String>,
    /// The SDK customers build with; the fork ships runtimes only (releases.json requires `sdk`).
    #[serde(default = "default_sdk_version")]
    pub sdk_version: String,
    /// The environment variable holding the armored secret signing key.
    #[serde(default = "default_signing_key_env")]
    pub signing_key_env: String,
    /// The environment variable naming a key already in the GnuPG keyring or agent.
    #[serde(default = "default_signing_key_id_env")]
    pub signing_key_id_env: String,
    /// The environment variable holding the signing key's passphrase, if it has one.
    #[serde(default = "default_signing_passphrase_env")]
    pub signing_passphrase_env: String,
    /// The environment variable holding the Authenticode certificate: a PFX file, base64.
    #[serde(default = "default_authenticode_pfx_env")]
    pub authenticode_pfx_env: String,
    /// The environment variable holding the PFX's password.
    #[serde(default = "default_authenticode_password_env")]
    pub authenticode_password_env: String,
    /// An RFC 3161 timestamp server for Authenticode signatures (none: untimestamped).
    #[serde(default)]
    pub authenticode_timestamp_url: Option<String>,
}

impl Default for ReleaseSettings {
    fn default() -> Self {
        ReleaseSettings {
            download_url: None,
            sdk_version: default_sdk_version(),
            signing_key_env: default_signing_key_env(),
            signing_key_id_env: default_signing_key_id_env(),
            signing_passphrase_env: default_signing_passphrase_env(),
            authenticode_pfx_env: default_authenticode_pfx_env(),
            authenticode_password_env: default_authenticode_password_env(),
            authenticode_timestamp_url: None,
        }
    }
}

fn default_sdk_version() -> String {
    "6.0.428".to_string()
}

fn default_signing_key_env() -> String {
    "ELS_SIGNING_KEY".to_string()
}

fn default_signing_key_id_env() -> String {
    "ELS_SIGNING_KEY_ID".to_string()
}

fn default_signing_passphrase_env() -> String {
    "ELS_SIGNING_KEY_PASSPHRASE".to_string()
}

fn default_authenticode_pfx_env() -> String {
    "ELS_AUTHENTICODE_PFX".to_string()
}

fn default_authenticode_password_env() -> String {
    "ELS_AUTHENTICODE_PASSWORD".to_string()
}

/// `[advisories]`: the advisory feed, its files and the remediation deadlines.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct AdvisoriesSettings {
    /// CVEs disclosed on or after this date are tracked (6.0's end of support).
    #[serde(
        default = "default_advisories_since",
        deserialize_with = "date_or_string"
    )]
    pub since: jiff::civil::Date,
    /// The normalised snapshot `advisories sync` writes, relative to the config file.
    #[serde(default = "default_advisories_snapshot")]
    pub snapshot: PathBuf,
    /// The triage decisions (not-affected justifications), relative to the config file.
    #[serde(default = "default_advisories_triage")]
    pub triage: PathBuf,
    /// A local copy of dotnet/core to sync from by default; GitHub when unset.
    #[serde(default)]
    pub source: Option<PathBuf>,
    /// Release channels whose `releases.json` `cve-list` is read.
    #[serde(default = "default_advisories_channels")]
    pub channels: Vec<String>,
    /// Upstream branches fixes are taken from for repositories without a `[[repo]]`
    /// `upstream-branches` list, preferred first.
    #[serde(default = "default_upstream_branches")]
    pub prefer_branches: Vec<String>,
    /// Days from disclosure to the remediation deadline, by severity.
    #[serde(default)]
    pub sla_days: SlaDays,
    /// The deprecated `[advisories.github]` section; [`Config::parse`] folds it into `[github]`.
    #[serde(default)]
    pub github: Option<AdvisoriesGitHub>,
    /// The prefix of the OpenVEX document `@id`; the product version is appended.
    #[serde(default = "default_vex_id_prefix")]
    pub vex_id_prefix: String,
    /// The OpenVEX `author`; the fork's name when unset.
    #[serde(default)]
    pub vex_author: Option<String>,
}

impl Default for AdvisoriesSettings {
    fn default() -> Self {
        AdvisoriesSettings {
            since: default_advisories_since(),
            snapshot: default_advisories_snapshot(),
            triage: default_advisories_triage(),
            source: None,
            channels: default_advisories_channels(),
            prefer_branches: default_upstream_branches(),
            sla_days: SlaDays::default(),
            github: None,
            vex_id_prefix: default_vex_id_prefix(),
            vex_author: None,
        }
    }
}

/// Accepts a TOML date (`2024-11-12`) or a string (`"2024-11-12"`).
fn date_or_string<'de, D: serde::Deserializer<'de>>(
    de: D,
) -> std::result::Result<jiff::civil::Date, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum DateInput {
        Toml(toml::value::Datetime),
        Text(String),
    }
    let text = match DateInput::deserialize(de)? {
        DateInput::Toml(d) => d.to_string(),
        DateInput::Text(s) => s,
    };
    text.parse()
        .map_err(|e| serde::de::Error::custom(format!("`{text}` is not a date (YYYY-MM-DD): {e}")))
}

fn default_advisories_since() -> jiff::civil::Date {
    jiff::civil::date(2024, 11, 12)
}

fn default_advisories_snapshot() -> PathBuf {
    PathBuf::from("advisories/snapshot.json")
}

fn default_advisories_triage() -> PathBuf {
    PathBuf::from("advisories/triage.toml")
}

fn default_advisories_channels() -> Vec<String> {
    ["8.0", "9.0", "10.0"].map(String::from).to_vec()
}

fn default_vex_id_prefix() -> String {
    "urn:net6-els:vex:".to_string()
}

/// `[advisories.sla-days]`: remediation deadline in days after disclosure.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct SlaDays {
    /// CVSS >= 7.0 (high and critical), and CVEs without a score yet.
    #[serde(default = "default_sla_high")]
    pub high: u32,
    /// CVSS 4.0 to 6.9.
    #[serde(default = "default_sla_medium")]
    pub medium: u32,
    /// CVSS below 4.0.
    #[serde(default = "default_sla_low")]
    pub low: u32,
}

impl Default for SlaDays {
    fn default() -> Self {
        SlaDays {
            high: default_sla_high(),
            medium: default_sla_medium(),
            low: default_sla_low(),
        }
    }
}

fn default_sla_high() -> u32 {
    14
}

fn default_sla_medium() -> u32 {
    60
}

fn default_sla_low() -> u32 {
    90
}

/// `[advisories.github]`, deprecated: its keys now live in `[github]` (`api-url`,
/// `advisories-repo`, `advisories-timeline-branch`, `advisories-releases-branch`).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct AdvisoriesGitHub {
    pub api_url: Option<String>,
    pub repo: Option<String>,
    pub timeline_branch: Option<String>,
    pub releases_branch: Option<String>,
}

/// `[feed]`: the NuGet feeds `cargo xtask feed` publishes (one per channel).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct FeedSettings {
    /// The public URL the feed directory is served at; each channel's feed is
    /// `<base-url>/<channel>/index.json`. The absolute URLs in the feed's documents are built
    /// from it, so the same files can be served from any host that serves them at this URL.
    #[serde(default)]
    pub base_url: Option<String>,
}

/// `[github]`: how the toolkit talks to GitHub: `advisories sync --github`, `backport --open-pr`
/// and `pr:<number>` fixes.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct GithubSettings {
    /// The REST API root (GitHub Enterprise Server: `https://HOST/api/v3`). `GITHUB_API_URL`
    /// (set by Actions) overrides it; default `https://api.github.com`.
    pub api_url: Option<String>,
    /// The git remote of each fork clone that backport branches are pushed to.
    #[serde(default = "default_remote")]
    pub remote: String,
    /// Labels put on every backport pull request.
    #[serde(default = "default_labels")]
    pub labels: Vec<String>,
    /// The fork's GitHub repository (`owner/name`) per `[[repo]]` name, when it cannot be read
    /// from the push remote's URL.
    #[serde(default)]
    pub forks: std::collections::BTreeMap<String, String>,
    /// The longest a command waits for a rate limit to reset before giving up.
    #[serde(default = "default_max_wait_seconds")]
    pub max_wait_seconds: u64,
    /// The repository holding Microsoft's release metadata, `owner/name` (default dotnet/core);
    /// see [`GithubSettings::advisories_repo`].
    pub advisories_repo: Option<String>,
    /// The branch with `release-notes/timeline/YYYY/MM/cve.json` (default `release-index`).
    pub advisories_timeline_branch: Option<String>,
    /// The branch with `release-notes/<channel>/releases.json` (default `main`).
    pub advisories_releases_branch: Option<String>,
}

impl GithubSettings {
    /// Where `advisories sync --github` reads Microsoft's release metadata.
    pub fn advisories_repo(&self) -> &str {
        self.advisories_repo.as_deref().unwrap_or("dotnet/core")
    }

    /// The branch of [`Self::advisories_repo`] with the CVE timeline.
    pub fn advisories_timeline_branch(&self) -> &str {
        self.advisories_timeline_branch
            .as_deref()
            .unwrap_or("release-index")
    }

    /// The branch of [`Self::advisories_repo`] with each channel's `releases.json`.
    pub fn advisories_releases_branch(&self) -> &str {
        self.advisories_releases_branch.as_deref().unwrap_or("main")
    }

    /// Moves the deprecated `[advisories.github]` keys here, refusing a key set in both places.
    fn adopt(&mut self, old: AdvisoriesGitHub, origin: &Path) -> Result<()> {
        let moves = [
            (old.api_url, &mut self.api_url, "api-url", "api-url"),
            (
                old.repo,
                &mut self.advisories_repo,
                "repo",
                "advisories-repo",
            ),
            (
                old.timeline_branch,
                &mut self.advisories_timeline_branch,
                "timeline-branch",
                "advisories-timeline-branch",
            ),
            (
                old.releases_branch,
                &mut self.advisories_releases_branch,
                "releases-branch",
                "advisories-releases-branch",
            ),
        ];
        for (value, slot, old_key, new_key) in moves {
            let Some(value) = value else { continue };
            if slot.is_some() {
                bail!(
                    "{}: both [advisories.github] {old_key} and [github] {new_key} are set; remove [advisories.github] (its keys moved to [github])",
                    origin.display()
                );
            }
            *slot = Some(value);
        }
        Ok(())
    }
}

impl Default for GithubSettings {
    fn default() -> Self {
        GithubSettings {
            api_url: None,
            remote: default_remote(),
            labels: default_labels(),
            forks: Default::default(),
            max_wait_seconds: default_max_wait_seconds(),
            advisories_repo: None,
            advisories_timeline_branch: None,
            advisories_releases_branch: None,
        }
    }
}

fn default_remote() -> String {
    "origin".to_string()
}

fn default_labels() -> Vec<String> {
    vec!["security".to_string(), "backport".to_string()]
}

fn default_max_wait_seconds() -> u64 {
    60
}

/// One repository of the fork.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RepoConfig {
    /// The name Microsoft uses in cve.json's `repo@sha` keys: runtime, aspnetcore, wpf, …
    pub name: String,
    /// The fork's clone, relative to the config file.
    pub path: PathBuf,
    /// The fork branch that receives backports.
    pub branch: String,
    /// The tag of Microsoft's last official release the branch starts from.
    pub base: String,
    /// Where upstream fix commits live: a URL or a local path.
    pub upstream: String,
    /// Upstream branches fixes are taken from, preferred first.
    #[serde(default = "default_upstream_branches")]
    pub upstream_branches: Vec<String>,
    /// Path remaps applied to upstream changes before they are picked (old prefix → new prefix).
    #[serde(default, rename = "remap")]
    pub remaps: Vec<Remap>,
}

fn default_upstream_branches() -> Vec<String> {
    vec!["release/8.0".to_string(), "release/9.0".to_string()]
}

/// A path remap rule: an upstream path starting with `from` is applied at `to` + the rest.
#[derive(Clone, Debug, Deserialize, serde::Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Remap {
    pub from: String,
    pub to: String,
}

impl Config {
    /// Parses a config from text; `origin` names the file in error messages.
    pub fn parse(text: &str, origin: &Path) -> Result<Config> {
        let mut config: Config = toml::from_str(text).map_err(|e| {
            let place = match e.span() {
                Some(span) => {
                    let line = text[..span.start].matches('\n').count() + 1;
                    format!("{}:{line}", origin.display())
                }
                None => origin.display().to_string(),
            };
            anyhow::anyhow!("{place}: {}", e.message())
        })?;
        config.root = origin.parent().map(Path::to_path_buf).unwrap_or_default();
        if let Some(old) = config.advisories.github.take() {
            eprintln!(
                "{} {}: [advisories.github] is deprecated; move its keys to [github] (api-url, advisories-repo, advisories-timeline-branch, advisories-releases-branch)",
                crate::console::paint_err("warning:", crate::console::Style::Warn),
                origin.display()
            );
            config.github.adopt(old, origin)?;
        }
        config.validate(origin)?;
        Ok(config)
    }

    /// Reads the config file at `path`.
    pub fn load(path: &Path) -> Result<Config> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the config file {}", path.display()))?;
        Config::parse(&text, path)
    }

    /// Finds the config: `explicit` when given, else `els.toml` in `start` or an ancestor.
    /// Returns `None` when there is none, so commands can still run on flags alone.
    pub fn discover(explicit: Option<&Path>, start: &Path) -> Result<Option<Config>> {
        if let Some(path) = explicit {
            return Config::load(path).map(Some);
        }
        for dir in start.ancestors() {
            let candidate = dir.join(FILE_NAME);
            if candidate.is_file() {
                return Config::load(&candidate).map(Some);
            }
        }
        Ok(None)
    }

    fn validate(&self, origin: &Path) -> Result<()> {
        let mut seen = std::collections::HashSet::new();
        for repo in &self.repos {
            if !seen.insert(repo.name.as_str()) {
                bail!(
                    "{}: repository `{}` is configured twice; each [[repo]] needs its own name",
                    origin.display(),
                    repo.name
                );
            }
            for remap in &repo.remaps {
                if remap.from.is_empty() && remap.to.is_empty() {
                    bail!(
                        "{}: repository `{}` has a remap with empty `from` and `to`",
                        origin.display(),
                        repo.name
                    );
                }
            }
        }
        Ok(())
    }

    /// The repository named `name` (as in cve.json's `repo@sha`).
    pub fn repo(&self, name: &str) -> Result<&RepoConfig> {
        self.repos.iter().find(|r| r.name == name).with_context(|| {
            let known: Vec<&str> = self.repos.iter().map(|r| r.name.as_str()).collect();
            format!(
                "no repository named `{name}` in {} (configured: {}); add a [[repo]] section for it",
                self.root.join(FILE_NAME).display(),
                if known.is_empty() { "none".to_string() } else { known.join(", ") }
            )
        })
    }

    /// Resolves a path from the config against the config file's directory.
    pub fn resolve(&self, path: &Path) -> PathBuf {
        if path.is_absolute() {
            path.to_path_buf()
        } else {
            self.root.join(path)
        }
    }

    /// The patch queue directory.
    pub fn patches_dir(&self) -> PathBuf {
        self.resolve(&self.patches.dir)
    }

    /// Where builds collect artifacts and releases are assembled (`[build] artifacts-dir`).
    pub fn artifacts_dir(&self) -> PathBuf {
        self.resolve(&self.build.artifacts_dir)
    }

    /// The package repository tree `cargo xtask repo` publishes to.
    pub fn repo_dir(&self) -> PathBuf {
        match &self.packages.repo_dir {
            Some(dir) => self.resolve(dir),
            None => self.artifacts_dir().join("repo"),
        }
    }
}
