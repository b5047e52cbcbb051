//! `app.toml`: what one corpus app covers, needs and is expected to do. The format is documented
//! in README.md ("Compatibility corpus"); every field has a default so a console app's manifest
//! can be two lines.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde::Deserialize;

/// The manifest's file name inside each app directory.
pub const FILE_NAME: &str = "app.toml";

/// The framework every app needs.
pub const NETCORE_APP: &str = "Microsoft.NETCore.App";

/// One parsed `app.toml`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Manifest {
    /// One line saying which line-of-business pattern the app is.
    pub description: String,
    /// Components the app exercises, named as directories of dotnet/runtime or aspnetcore
    /// (`System.Text.Json`, `System.Net.Mail`, …); `--affected-by` matches paths against them.
    #[serde(default)]
    pub covers: Vec<String>,
    /// Shared frameworks the app runs on.
    #[serde(default = "default_frameworks")]
    pub frameworks: Vec<String>,
    /// NuGet packages whose assemblies must sit next to the app (restored by `dotnet build`).
    #[serde(default)]
    pub packages: Vec<String>,
    /// Command-line arguments; `{port}` is replaced by a web app's port.
    #[serde(default)]
    pub args: Vec<String>,
    /// Environment variables for the app, on top of the runner's fixed isolation environment.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// Extra `configProperties` for the generated runtimeconfig (AppContext switches).
    #[serde(default)]
    pub runtime_config: serde_json::Map<String, serde_json::Value>,
    #[serde(default = "default_timeout")]
    pub timeout_secs: u64,
    #[serde(default)]
    pub exit_code: i32,
    /// The expected output, relative to the app directory.
    #[serde(default = "default_golden")]
    pub golden: PathBuf,
    /// Regexes replacing values that legitimately vary between runs.
    #[serde(default, rename = "scrub")]
    pub scrubs: Vec<Scrub>,
    /// Runtimes this app cannot run on, with the reason (reported as skipped, never passed).
    #[serde(default)]
    pub unsupported: Vec<Unsupported>,
    #[serde(default)]
    pub build: BuildSettings,
    /// Present for web apps: how to tell it is ready and what to ask it.
    pub web: Option<WebSettings>,
}

/// A scrubber: every match of `pattern` in the output becomes `replace`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scrub {
    pub pattern: String,
    pub replace: String,
}

/// A declared reason why an app cannot run on some runtime versions.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Unsupported {
    /// A version prefix: `3.1` matches 3.1.23.
    pub runtime: String,
    pub reason: String,
    /// The rule does not apply when this shared library is installed (e.g. `libssl.so.1.1`).
    pub unless_library: Option<String>,
}

/// How to compile the app without an SDK (the prebuilt layout made with Mono's `mcs`).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct BuildSettings {
    #[serde(default)]
    pub profile: BuildProfile,
    /// Extra assemblies for the `netfx` profile (`System.Xml.dll`, …).
    #[serde(default)]
    pub references: Vec<String>,
}

/// Which reference assemblies `mcs` compiles against.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum BuildProfile {
    /// The assemblies of a CoreCLR 3.1 shared framework (System.Text.Json, System.Data, …).
    #[default]
    Netcoreapp31,
    /// Mono's .NET Framework profile: a binary like a legacy netfx line-of-business app.
    Netfx,
    /// Needs reference assemblies only an SDK has (ASP.NET Core); only `dotnet build` builds it.
    SdkOnly,
}

/// A web app: readiness and the requests to send.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct WebSettings {
    /// A regex matched against each stdout line; without it the runner waits for the port to open.
    pub ready_line: Option<String>,
    /// The environment variable that tells the app its port.
    #[serde(default = "default_port_env")]
    pub port_env: String,
    /// A request (`METHOD /path`) that makes the app exit; without it the runner sends SIGTERM.
    pub stop_request: Option<String>,
    #[serde(default, rename = "request")]
    pub requests: Vec<WebRequest>,
}

/// One request a web app must answer.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct WebRequest {
    #[serde(default = "default_method")]
    pub method: String,
    pub path: String,
    #[serde(default)]
    pub body: String,
    #[serde(default = "default_status")]
    pub status: u16,
    pub body_contains: Option<String>,
}

fn default_frameworks() -> Vec<String> {
    vec![NETCORE_APP.to_string()]
}
fn default_timeout() -> u64 {
    30
}
fn default_golden() -> PathBuf {
    PathBuf::from("expected.txt")
}
fn default_port_env() -> String {
    "PORT".to_string()
}
fn default_method() -> String {
    "GET".to_string()
}
fn default_status() -> u16 {
    200
}

/// An app of a corpus: its name (the directory name), directory and manifest.
#[derive(Clone, Debug)]
pub struct App {
    pub name: String,
    pub dir: PathBuf,
    pub manifest: Manifest,
}

impl App {
    /// The golden output file.
    pub fn golden_path(&self) -> PathBuf {
        self.dir.join(&self.manifest.golden)
    }

    /// The manifest file.
    pub fn manifest_path(&self) -> PathBuf {
        self.dir.join(FILE_NAME)
    }

    /// The C# sources, sorted.
    pub fn sources(&self) -> Result<Vec<PathBuf>> {
        let mut sources = Vec::new();
        for entry in std::fs::read_dir(&self.dir)
            .with_context(|| format!("cannot list {}", self.dir.display()))?
        {
            let path = entry?.path();
            if path.extension().is_some_and(|e| e == "cs") {
                sources.push(path);
            }
        }
        sources.sort();
        Ok(sources)
    }
}

/// Parses a manifest; `origin` names the file in errors (with the line of the problem).
pub fn parse(text: &str, origin: &Path) -> Result<Manifest> {
    let manifest: Manifest = toml::from_str(text).map_err(|e| {
        let line = e.span().map(|s| text[..s.start].matches('\n').count() + 1);
        let place = match line {
            Some(l) => format!("{}:{l}", origin.display()),
            None => origin.display().to_string(),
        };
        anyhow::anyhow!(
            "{place}: {} (the format is described in README.md, \"Compatibility corpus\")",
            e.message().trim()
        )
    })?;
    if !manifest.frameworks.iter().any(|f| f == NETCORE_APP) {
        bail!(
            "{}: `frameworks` must include {NETCORE_APP}",
            origin.display()
        );
    }
    if manifest.timeout_secs == 0 {
        bail!("{}: `timeout-secs` must be at least 1", origin.display());
    }
    for scrub in &manifest.scrubs {
        regex::Regex::new(&scrub.pattern).with_context(|| {
            format!(
                "{}: scrub pattern `{}` is not a valid regex",
                origin.display(),
                scrub.pattern
            )
        })?;
    }
    if let Some(web) = &manifest.web {
        if let Some(ready) = &web.ready_line {
            regex::Regex::new(ready).with_context(|| {
                format!(
                    "{}: web.ready-line `{ready}` is not a valid regex",
                    origin.display()
                )
            })?;
        }
        if let Some(stop) = &web.stop_request {
            parse_request_line(stop)
                .with_context(|| format!("{}: web.stop-request", origin.display()))?;
        }
        for r in &web.requests {
            if !r.path.starts_with('/') {
                bail!(
                    "{}: web request path `{}` must start with `/`",
                    origin.display(),
                    r.path
                );
            }
        }
    }
    Ok(manifest)
}

/// Splits `METHOD /path` into its parts.
pub fn parse_request_line(line: &str) -> Result<(String, String)> {
    match line.split_once(' ') {
        Some((method, path)) if !method.is_empty() && path.starts_with('/') => {
            Ok((method.to_string(), path.to_string()))
        }
        _ => bail!("`{line}` is not `METHOD /path`"),
    }
}

/// Loads every app of a corpus directory: each subdirectory with an `app.toml`.
pub fn load_corpus(dir: &Path) -> Result<Vec<App>> {
    let entries = std::fs::read_dir(dir).with_context(|| {
        format!(
            "cannot read the app corpus {} (pass an existing directory to --apps)",
            dir.display()
        )
    })?;
    let mut apps = Vec::new();
    for entry in entries {
        let app_dir = entry?.path();
        let manifest_path = app_dir.join(FILE_NAME);
        if !manifest_path.is_file() {
            continue;
        }
        let text = std::fs::read_to_string(&manifest_path)
            .with_context(|| format!("cannot read {}", manifest_path.display()))?;
        let manifest = parse(&text, &manifest_path)?;
        let name = app_dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        apps.push(App {
            name,
            dir: app_dir,
            manifest,
        });
    }
    if apps.is_empty() {
        bail!(
            "{} holds no apps: each app is a directory with an {FILE_NAME}",
            dir.display()
        );
    }
    apps.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(apps)
}

/// Which apps a run covers: `--only`, `--affected-by` and `--shard` applied in that order.
#[derive(Clone, Debug, Default)]
pub struct Selection {
    pub only: Vec<String>,
    pub affected_by: Vec<String>,
    pub shard: Option<Shard>,
}

/// Shard `index` (1-based) of `count`, as in a GitHub Actions matrix.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
    pub index: usize,
    pub count: usize,
}

impl std::str::FromStr for Shard {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> Result<Shard> {
        let parsed = s
            .split_once('/')
            .and_then(|(i, n)| Some((i.trim().parse().ok()?, n.trim().parse().ok()?)));
        match parsed {
            Some((index, count)) if count >= 1 && (1..=count).contains(&index) => {
                Ok(Shard { index, count })
            }
            _ => bail!("--shard `{s}` must be INDEX/COUNT with 1 <= INDEX <= COUNT, e.g. 2/4"),
        }
    }
}

/// Paths under these prefixes change what every app runs on, so they select the whole corpus.
const EVERY_APP_PREFIXES: &[&str] = &[
    "src/coreclr/",
    "src/native/",
    "src/libraries/System.Private.CoreLib/",
    "src/installer/",
];

/// True when a change to `path` (relative to the runtime or aspnetcore repository) can affect
/// an app covering `component`: the component is one of the path's directories.
fn path_affects(path: &str, component: &str) -> bool {
    path.split('/').any(|segment| segment == component)
}

impl Selection {
    /// Applies the selection; unknown `--only` names are an error (a typo must not run nothing).
    pub fn apply(&self, apps: Vec<App>) -> Result<Vec<App>> {
        for name in &self.only {
            if !apps.iter().any(|a| &a.name == name) {
                let known: Vec<&str> = apps.iter().map(|a| a.name.as_str()).collect();
                bail!(
                    "--only names an unknown app `{name}` (apps: {})",
                    known.join(", ")
                );
            }
        }
        let mut selected: Vec<App> = apps
            .into_iter()
            .filter(|a| self.only.is_empty() || self.only.contains(&a.name))
            .filter(|a| {
                self.affected_by.is_empty()
                    || self.affected_by.iter().any(|p| {
                        let p = p.trim_start_matches("./");
                        EVERY_APP_PREFIXES
                            .iter()
                            .any(|prefix| p.starts_with(prefix))
                            || a.manifest.covers.iter().any(|c| path_affects(p, c))
                    })
            })
            .collect();
        if let Some(shard) = self.shard {
            selected = selected
                .into_iter()
                .enumerate()
                .filter(|(i, _)| i % shard.count == shard.index - 1)
                .map(|(_, a)| a)
                .collect();
        }
        Ok(selected)
    }
}
