//! `cargo xtask build`: runs the fork's own build scripts (runtime `build.sh`/`build.cmd`,
//! aspnetcore `eng/build.sh`/`eng\build.cmd`) with the servicing arguments and an official build
//! id later than Microsoft's, streams each build's log to a file, and collects the shipping
//! artifacts into `<artifacts-dir>/<version>/<rid>/` with a manifest (name, size, SHA-512).

pub mod dependencies;
pub mod nuget;

use std::io::{IsTerminal, Read};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha512};

use crate::config::{Config, RepoConfig};
use crate::msbuild::XmlFile;
use crate::version::{BuildId, Version};

/// The operating system a build targets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Os {
    Linux,
    Windows,
}

/// The processor architecture a build targets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Arch {
    X64,
}

impl Os {
    /// The runtime identifier for this OS and `arch`: linux-x64, win-x64.
    pub fn rid(self, arch: Arch) -> String {
        let os = match self {
            Os::Linux => "linux",
            Os::Windows => "win",
        };
        let arch = match arch {
            Arch::X64 => "x64",
        };
        format!("{os}-{arch}")
    }

    fn archive(self) -> &'static str {
        match self {
            Os::Linux => "tar.gz",
            Os::Windows => "zip",
        }
    }
}

/// What to build.
#[derive(Clone, Debug)]
pub struct Options {
    pub os: Os,
    pub arch: Arch,
    /// Repositories to build, in order; empty means every configured product repository
    /// (runtime, then aspnetcore).
    pub repos: Vec<String>,
    /// The official build id; default today's date and the next counter.
    pub build_id: Option<BuildId>,
    /// Print the command lines and environment without running anything.
    pub dry_run: bool,
    /// No progress output on stderr.
    pub quiet: bool,
}

/// The result of a build.
#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
pub struct Report {
    pub version: String,
    pub rid: String,
    pub official_build_id: String,
    pub dry_run: bool,
    pub succeeded: bool,
    /// Prerequisites missing on this machine (a dry run reports them instead of refusing).
    pub missing_prerequisites: Vec<String>,
    pub repos: Vec<RepoBuild>,
    /// The collected manifest, after a successful build.
    pub manifest: Option<PathBuf>,
    /// Expected artifacts the build did not produce.
    pub missing_artifacts: Vec<String>,
}

/// One repository's build.
#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
pub struct RepoBuild {
    pub repo: String,
    pub dir: PathBuf,
    /// The program and its arguments, exactly as run.
    pub command: Vec<String>,
    /// Environment variables set for the build.
    pub env: Vec<(String, String)>,
    pub log: PathBuf,
    pub feeds: nuget::FeedChange,
    /// planned (dry run), succeeded, failed or skipped (an earlier repository failed).
    pub status: String,
    pub elapsed_secs: f64,
    /// The last error lines of the log when the build failed.
    pub error_tail: Vec<String>,
}

/// The artifact manifest of one build: `manifest.json` next to the collected files.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub struct Manifest {
    pub version: String,
    pub rid: String,
    pub official_build_id: String,
    pub files: Vec<ManifestFile>,
}

impl Manifest {
    /// Reads a build manifest; an error names the file and the JSON path that is wrong
    /// (`files[2].sha512`).
    pub fn parse(text: &str, origin: &Path) -> Result<Manifest> {
        let de = &mut serde_json::Deserializer::from_str(text);
        serde_path_to_error::deserialize(de).map_err(|e| {
            anyhow::anyhow!(
                "{} is not a build manifest: at `{}`: {}",
                origin.display(),
                e.path(),
                e.inner()
            )
        })
    }

    /// The manifest as the build writes it.
    pub fn to_json(&self) -> Result<Vec<u8>> {
        let mut json = serde_json::to_vec_pretty(self)?;
        json.push(b'\n');
        Ok(json)
    }
}

/// One collected artifact.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub struct ManifestFile {
    pub name: String,
    /// The repository whose build produced it.
    pub repo: String,
    pub size: u64,
    /// SHA-512, lowercase hex.
    pub sha512: String,
}

/// The manifest's file name inside `<artifacts-dir>/<version>/<rid>/`.
pub const MANIFEST: &str = "manifest.json";

/// Where builds put the files that ship, relative to the repository root.
pub const SHIPPING_DIR: &str = "artifacts/packages/Release/Shipping";

/// The file recording the last official build id handed out.
const BUILD_ID_FILE: &str = "last-official-build-id";

/// Builds the fork for one OS and architecture and collects the artifacts.
pub fn build(config: &Config, options: &Options) -> Result<Report> {
    let rid = options.os.rid(options.arch);
    let repos = selected_repos(config, options.os, &options.repos)?;
    for repo in &repos {
        crate::repo::open_fork(config, repo)?;
    }
    let version = product_version(config)?;
    let artifacts = config.artifacts_dir();
    let build_id = match options.build_id {
        Some(id) => id.check()?,
        None => BuildId::next(BuildId::today(), last_build_id(&artifacts)?)?,
    };
    let missing_prerequisites = missing_prerequisites(config, options.os);
    let host_os = if cfg!(windows) {
        Os::Windows
    } else {
        Os::Linux
    };
    if !options.dry_run {
        if options.os != host_os {
            bail!(
                "a {} build runs on a {} machine (the pipeline's job for it); run with --dry-run here to see its command lines",
                rid,
                if options.os == Os::Windows { "Windows" } else { "Linux" }
            );
        }
        if !missing_prerequisites.is_empty() {
            bail!(
                "{}",
                prerequisite_message(options.os, &missing_prerequisites)
            );
        }
    }

    let mut builds: Vec<RepoBuild> = Vec::new();
    for repo in &repos {
        let mut b = plan(config, repo, options.os, options.arch, build_id)?;
        b.command.extend(transport_packages(
            config, repo, &builds, version, build_id,
        )?);
        builds.push(b);
    }
    let mut report = Report {
        version: version.to_string(),
        rid: rid.clone(),
        official_build_id: build_id.to_string(),
        dry_run: options.dry_run,
        succeeded: true,
        missing_prerequisites,
        repos: Vec::new(),
        manifest: None,
        missing_artifacts: Vec::new(),
    };
    if options.dry_run {
        for b in &mut builds {
            b.feeds = nuget::replace_internal_feeds(
                &b.dir.join("NuGet.config"),
                config.build.feed.as_deref(),
                false,
            )?;
        }
        report.repos = builds;
        return Ok(report);
    }

    crate::atomic::write(&artifacts.join(BUILD_ID_FILE), format!("{build_id}\n"))?;
    for mut b in builds {
        if !report.succeeded {
            b.status = "skipped".to_string();
            report.repos.push(b);
            continue;
        }
        // The build needs the fork's feeds instead of Microsoft-internal ones, but the fork is
        // left as it was found: a modified NuGet.config would make the next `bump` refuse the
        // dirty worktree.
        let nuget_config = b.dir.join("NuGet.config");
        let original = std::fs::read(&nuget_config).ok();
        b.feeds = nuget::replace_internal_feeds(&nuget_config, config.build.feed.as_deref(), true)?;
        let ran = run(&mut b, options.quiet);
        if let Some(original) = original {
            crate::atomic::write(&nuget_config, original)?;
        }
        ran?;
        report.succeeded = b.status == "succeeded";
        report.repos.push(b);
    }
    if report.succeeded {
        let (manifest, missing) = collect(config, &repos, options.os, &rid, version, build_id)?;
        report.succeeded = missing.is_empty();
        report.missing_artifacts = missing;
        report.manifest = Some(manifest);
    }
    Ok(report)
}

/// The repositories a build covers, in the order they consume each other's packages: runtime
/// first; the Windows Desktop runtime only on Windows, winforms before wpf (which references
/// System.Windows.Forms) before windowsdesktop (which bundles both into
/// Microsoft.WindowsDesktop.App).
const LINUX_REPOS: [&str; 2] = ["runtime", "aspnetcore"];
const WINDOWS_REPOS: [&str; 5] = ["runtime", "aspnetcore", "winforms", "wpf", "windowsdesktop"];
/// The repositories that make the Windows Desktop runtime, in build order (the tail of
/// [`WINDOWS_REPOS`]).
pub const DESKTOP_REPOS: [&str; 3] = ["winforms", "wpf", "windowsdesktop"];

fn selected_repos<'c>(config: &'c Config, os: Os, names: &[String]) -> Result<Vec<&'c RepoConfig>> {
    let known: &[&str] = match os {
        Os::Linux => &LINUX_REPOS,
        Os::Windows => &WINDOWS_REPOS,
    };
    if names.is_empty() {
        let repos: Vec<&RepoConfig> = known.iter().filter_map(|n| config.repo(n).ok()).collect();
        if repos.is_empty() {
            bail!(
                "nothing to build: els.toml configures none of the {} [[repo]]s",
                known.join(", ")
            );
        }
        return Ok(repos);
    }
    for n in names {
        if !known.contains(&n.as_str()) {
            bail!(
                "cannot build `{n}` for {}: the build knows {}",
                os.rid(Arch::X64),
                known.join(", ")
            );
        }
    }
    // Whatever order the flags name them in, they build in dependency order.
    known
        .iter()
        .filter(|k| names.iter().any(|n| n == *k))
        .map(|n| config.repo(n))
        .collect()
}

/// The version the fork is branded with: runtime's `ProductVersion`.
pub fn product_version(config: &Config) -> Result<Version> {
    let path = config
        .resolve(&config.repo("runtime")?.path)
        .join("eng/Versions.props");
    let doc = XmlFile::read(&path)?;
    let p = doc.property("ProductVersion")?;
    p.value.parse().with_context(|| {
        format!(
            "{}:{}: <ProductVersion> is not a version",
            path.display(),
            p.line
        )
    })
}

fn last_build_id(artifacts: &Path) -> Result<Option<BuildId>> {
    let path = artifacts.join(BUILD_ID_FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) => text
            .trim()
            .parse()
            .map(Some)
            .with_context(|| format!("{} is corrupt; delete it", path.display())),
        Err(_) => Ok(None),
    }
}

fn missing_prerequisites(config: &Config, os: Os) -> Vec<String> {
    let wanted = match os {
        Os::Linux => &config.build.linux_prerequisites,
        Os::Windows => &config.build.windows_prerequisites,
    };
    let path = std::env::var_os("PATH").unwrap_or_default();
    let dirs: Vec<PathBuf> = std::env::split_paths(&path).collect();
    let exts: &[&str] = if cfg!(windows) {
        &["", ".exe", ".cmd", ".bat"]
    } else {
        &[""]
    };
    wanted
        .iter()
        .filter(|tool| {
            !dirs
                .iter()
                .any(|d| exts.iter().any(|e| d.join(format!("{tool}{e}")).is_file()))
        })
        .cloned()
        .collect()
}

fn prerequisite_message(os: Os, missing: &[String]) -> String {
    let how = match os {
        Os::Linux => "install them (Debian/Ubuntu: `apt-get install cmake clang llvm python3 curl libicu-dev libssl-dev \
                      libkrb5-dev zlib1g-dev liblttng-ust-dev`)",
        Os::Windows => "install Visual Studio 2022 with the C++ and .NET desktop workloads, CMake and Python, and enable long paths",
    };
    format!("the build needs {} on PATH; {how}", missing.join(", "))
}

/// The build script of `repo` (by name) for `os`, relative to the clone, and its arguments: each
/// repository's official build command line.
fn build_command(repo: &str, os: Os, arch: Arch, build_id: BuildId) -> (&'static str, Vec<String>) {
    let arch = match arch {
        Arch::X64 => "x64",
    };
    match repo {
        "runtime" => (
            if os == Os::Linux {
                "./build.sh"
            } else {
                "build.cmd"
            },
            [
                "-subset",
                "clr+libs+host+packs",
                "-c",
                "Release",
                "-arch",
                arch,
                "-ci",
            ]
            .iter()
            .map(|s| s.to_string())
            .chain([format!("/p:OfficialBuildId={build_id}")])
            .collect(),
        ),
        // Arcade's common build of the desktop repositories, as their official builds run it.
        "winforms" | "wpf" | "windowsdesktop" => (
            "build.cmd",
            [
                "-restore",
                "-build",
                "-pack",
                "-ci",
                "-configuration",
                "Release",
                "-platform",
                arch,
            ]
            .iter()
            .map(|s| s.to_string())
            .chain([format!("/p:OfficialBuildId={build_id}")])
            .collect(),
        ),
        _ => (
            if os == Os::Linux {
                "./eng/build.sh"
            } else {
                r"eng\build.cmd"
            },
            [
                "-c",
                "Release",
                "-arch",
                arch,
                "-ci",
                "-pack",
                "-all",
                "--no-build-java",
                "-p:OnlyPackPlatformSpecificPackages=true",
            ]
            .iter()
            .map(|s| s.to_string())
            .chain([format!("-p:OfficialBuildId={build_id}")])
            .collect(),
        ),
    }
}

fn plan(
    config: &Config,
    repo: &RepoConfig,
    os: Os,
    arch: Arch,
    build_id: BuildId,
) -> Result<RepoBuild> {
    let dir = config.resolve(&repo.path);
    let (script, args) = build_command(&repo.name, os, arch, build_id);
    let script_path = dir.join(script.trim_start_matches("./").replace('\\', "/"));
    if !script_path.is_file() {
        bail!(
            "{} not found; is {} a clone of dotnet/{}?",
            script_path.display(),
            dir.display(),
            repo.name
        );
    }
    let rid = os.rid(Arch::X64);
    Ok(RepoBuild {
        repo: repo.name.clone(),
        dir,
        command: std::iter::once(script.to_string()).chain(args).collect(),
        env: vec![
            ("DOTNET_CLI_TELEMETRY_OPTOUT".into(), "1".into()),
            ("DOTNET_NOLOGO".into(), "1".into()),
        ],
        log: config
            .artifacts_dir()
            .join("logs")
            .join(format!("{}-{rid}-{build_id}.log", repo.name)),
        feeds: nuget::FeedChange::default(),
        status: "planned".to_string(),
        elapsed_secs: 0.0,
        error_tail: Vec::new(),
    })
}

/// The desktop repositories consume each other's transport packages (Microsoft.Private.Winforms,
/// Microsoft.DotNet.Wpf.GitHub), which Arcade versions `6.0.N-<label>.<date>.<revision>` from the
/// official build id. Every repository of one build shares the id, so the versions the earlier
/// repositories of this build made are known: for each `<Dependency>` in `eng/Version.Details.xml`
/// that comes from one of them, the build gets `/p:<its Versions.props property>=<that version>`,
/// and NuGet restore gets those repositories' package folders as extra sources.
fn transport_packages(
    config: &Config,
    repo: &RepoConfig,
    earlier: &[RepoBuild],
    version: Version,
    build_id: BuildId,
) -> Result<Vec<String>> {
    let dir = config.resolve(&repo.path);
    let details_path = dir.join("eng/Version.Details.xml");
    if earlier.is_empty() || !details_path.is_file() {
        return Ok(Vec::new());
    }
    let details = XmlFile::read(&details_path)?;
    let props = XmlFile::read(&dir.join("eng/Versions.props"))?;
    let mut args = Vec::new();
    let mut sources = Vec::new();
    for dependency in dependencies::read(&details) {
        let Some(producer) = earlier
            .iter()
            .find(|b| b.repo != "runtime" && dependency.comes_from(&b.repo))
        else {
            continue;
        };
        let property = dependency.property(&details, &props)?;
        let label = XmlFile::read(&producer.dir.join("eng/Versions.props"))?
            .property("PreReleaseVersionLabel")?
            .value;
        args.push(format!(
            "/p:{property}={version}-{}",
            build_id.package_suffix(label.trim())
        ));
        let packages = producer.dir.join("artifacts/packages/Release/NonShipping");
        let packages = packages.display().to_string();
        if !sources.contains(&packages) {
            sources.push(packages);
        }
    }
    if !sources.is_empty() {
        args.push(format!(
            "/p:RestoreAdditionalProjectSources={}",
            sources.join("%3B")
        ));
    }
    Ok(args)
}

/// Runs one build with its output streamed to the log file (a growing log cannot be written
/// atomically; it is a record, not an input), reporting progress on stderr.
fn run(b: &mut RepoBuild, quiet: bool) -> Result<()> {
    let log_dir = b.log.parent().expect("log paths have a directory");
    std::fs::create_dir_all(log_dir)
        .with_context(|| format!("cannot create {}", log_dir.display()))?;
    let log = std::fs::File::create(&b.log)
        .with_context(|| format!("cannot create the build log {}", b.log.display()))?;
    let sh = crate::process::shell()?;
    sh.change_dir(&b.dir);
    let (program, args) = b.command.split_first().expect("a command has a program");
    let mut cmd = xshell::cmd!(sh, "{program} {args...}");
    for (k, v) in &b.env {
        cmd = cmd.env(k, v);
    }
    let mut command = std::process::Command::from(cmd);
    command
        .stdin(std::process::Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log);
    let started = Instant::now();
    let mut child = command
        .spawn()
        .with_context(|| format!("cannot start {program} in {}", b.dir.display()))?;
    let terminal = std::io::stderr().is_terminal();
    let every = if terminal {
        Duration::from_secs(1)
    } else {
        Duration::from_secs(60)
    };
    let mut next_report = every;
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        std::thread::sleep(Duration::from_millis(100));
        let elapsed = started.elapsed();
        if !quiet && elapsed >= next_report {
            next_report += every;
            let size = std::fs::metadata(&b.log).map(|m| m.len()).unwrap_or(0);
            let line = format!(
                "building {} … {} elapsed, log {} KiB",
                b.repo,
                clock(elapsed),
                size / 1024
            );
            if terminal {
                eprint!("\r{line}");
            } else {
                eprintln!("{line}");
            }
        }
    };
    b.elapsed_secs = started.elapsed().as_secs_f64();
    if !quiet && terminal && b.elapsed_secs >= 1.0 {
        eprintln!();
    }
    if status.success() {
        b.status = "succeeded".to_string();
    } else {
        b.status = "failed".to_string();
        b.error_tail = error_tail(&b.log)?;
    }
    Ok(())
}

fn clock(d: Duration) -> String {
    let s = d.as_secs();
    format!("{}:{:02}", s / 60, s % 60)
}

/// The last lines that mention an error, or the last lines of the log when none do.
fn error_tail(log: &Path) -> Result<Vec<String>> {
    const LINES: usize = 15;
    let mut text = Vec::new();
    std::fs::File::open(log)?.read_to_end(&mut text)?;
    let text = String::from_utf8_lossy(&text);
    let lines: Vec<&str> = text.lines().collect();
    let errors: Vec<&str> = lines
        .iter()
        .copied()
        .filter(|l| l.to_ascii_lowercase().contains("error"))
        .collect();
    let pick = if errors.is_empty() { &lines } else { &errors };
    Ok(pick[pick.len().saturating_sub(LINES)..]
        .iter()
        .map(|s| s.to_string())
        .collect())
}

/// Copies the shipping files of every built repository into `<artifacts>/<version>/<rid>/` and
/// writes the manifest. Returns the manifest path and the expected artifacts that were missing.
fn collect(
    config: &Config,
    repos: &[&RepoConfig],
    os: Os,
    rid: &str,
    version: Version,
    build_id: BuildId,
) -> Result<(PathBuf, Vec<String>)> {
    let out = config.artifacts_dir().join(version.to_string()).join(rid);
    let mut files = Vec::new();
    let mut missing = Vec::new();
    for repo in repos {
        let shipping = config.resolve(&repo.path).join(SHIPPING_DIR);
        let expected = config
            .build
            .expected
            .get(&repo.name)
            .cloned()
            .unwrap_or_default();
        for pattern in expected {
            let name = pattern
                .replace("{version}", &version.to_string())
                .replace("{rid}", rid)
                .replace("{archive}", os.archive());
            if !shipping.join(&name).is_file() {
                missing.push(format!("{}/{name}", shipping.display()));
            }
        }
        let Ok(entries) = std::fs::read_dir(&shipping) else {
            continue;
        };
        let mut names: Vec<String> = entries
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        for name in names.into_iter().filter(|n| is_shipping_file(n)) {
            let bytes = std::fs::read(shipping.join(&name))
                .with_context(|| format!("cannot read {}/{name}", shipping.display()))?;
            crate::atomic::write(&out.join(&name), &bytes)?;
            files.push(ManifestFile {
                name,
                repo: repo.name.clone(),
                size: bytes.len() as u64,
                sha512: sha512_hex(&bytes),
            });
        }
    }
    // A rebuild replaces the previous collection; stale files must not reach a release.
    if let Ok(entries) = std::fs::read_dir(&out) {
        for e in entries.filter_map(|e| e.ok()) {
            let name = e.file_name().to_string_lossy().into_owned();
            if name != MANIFEST && !files.iter().any(|f| f.name == name) {
                std::fs::remove_file(e.path())
                    .with_context(|| format!("cannot remove the stale {}", e.path().display()))?;
            }
        }
    }
    let manifest = Manifest {
        version: version.to_string(),
        rid: rid.to_string(),
        official_build_id: build_id.to_string(),
        files,
    };
    let path = out.join(MANIFEST);
    crate::atomic::write(&path, manifest.to_json()?)?;
    Ok((path, missing))
}

fn is_shipping_file(name: &str) -> bool {
    (name.ends_with(".nupkg") && !name.ends_with(".symbols.nupkg"))
        || name.ends_with(".tar.gz")
        || name.ends_with(".zip")
}

/// SHA-512 of `bytes` as lowercase hex, the form releases.json and `sha512sum` use.
pub fn sha512_hex(bytes: &[u8]) -> String {
    Sha512::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
