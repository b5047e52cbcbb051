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
    pub github: GithubSettings,
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

/// How the toolkit talks to GitHub: `backport --open-pr` and `pr:<number>` fixes.
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
}

impl Default for GithubSettings {
    fn default() -> Self {
        GithubSettings {
            api_url: None,
            remote: default_remote(),
            labels: default_labels(),
            forks: Default::default(),
            max_wait_seconds: default_max_wait_seconds(),
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
}
