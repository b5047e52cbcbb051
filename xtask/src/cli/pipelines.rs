use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context as _, Result};
use clap::CommandFactory as _;

use super::{Context, Outcome};
use crate::console::{self, paint, Annotation, Style};
use crate::pipelines::{self, rehearse};

/// Check the GitHub Actions workflows against the toolkit, or rehearse one here.
///
/// Example: cargo xtask pipelines check
#[derive(Debug, clap::Args)]
#[command(after_long_help = super::exit::by_subcommand())]
pub struct Args {
    #[command(subcommand)]
    pub command: PipelinesCommand,
}

#[derive(Debug, clap::Subcommand)]
pub enum PipelinesCommand {
    #[command(after_long_help = super::exit::gate("no problem", "a problem (each printed as file:line)"))]
    Check(CheckArgs),
    #[command(after_long_help = super::exit::gate("every rehearsed job passed", "a step failed (its log printed)"))]
    Rehearse(RehearseArgs),
}

/// Runs a workflow's jobs here before it is pushed: in `needs` order, each `run:` step in bash
/// with the runner's environment (GITHUB_OUTPUT, GITHUB_ENV, GITHUB_PATH, GITHUB_STEP_SUMMARY,
/// RUNNER_TEMP), `${{ }}` evaluated, matrices expanded from earlier jobs' outputs, local reusable
/// workflows followed. Actions are replaced by local equivalents: checkout = a copy of the sandbox
/// (or a clone of its repository `name` for `repository: owner/name`), setup-dotnet = the test
/// runtimes (8.0.4 also standing in for the fork's base 6.0.36), upload/download-artifact = a
/// directory of the run, attest and `gh` = recorded calls (`gh release create`/`download` keep
/// and serve the release's files; --gh-release gives one), rust-toolchain/cache = the host's.
/// `cargo xtask` runs this binary, `cargo fmt`/`clippy` the host's cargo; `cargo xtask build`
/// runs as `--dry-run` and `compat build --sdk` as `--mcs` (listed as stand-ins). A command left
/// out with --not-rehearsed makes its step NOT rehearsed, as are Windows/macOS jobs and
/// PowerShell steps. Stops at the
/// first failing step and prints its log; exit status 1 then. With --from JOB the rehearsal
/// starts at a later job: the jobs before it are listed as GIVEN (never as passed) and what they
/// would upload is given with --artifact.
///
/// The sandbox is the demo's (built on the fly) unless --config names an els.toml.
///
/// Example: cargo xtask pipelines rehearse pipelines/advisories-backport.yml --job plan
///
/// Example: cargo xtask --config els.toml pipelines rehearse .github/workflows/release.yml --input version=6.0.37 --context rehearsal.toml
///
/// Example: cargo xtask --config els.toml pipelines rehearse pipelines/release.yml --from assemble --artifact runtime-linux-x64=run/artifacts/runtime-linux-x64 --artifact runtime-win-x64-signed=win
///
/// Example: cargo xtask --config els.toml pipelines rehearse .github/workflows/promote.yml --input version=6.0.37 --gh-release v6.0.37=release-run/gh-releases/v6.0.37
///
/// Example: cargo xtask --config els.toml pipelines rehearse .github/workflows/ci.yml --not-rehearsed 'cargo clippy' --not-rehearsed 'cargo xtask test'
#[derive(Debug, clap::Args)]
#[command(verbatim_doc_comment)]
pub struct RehearseArgs {
    /// The workflow file.
    #[arg(value_name = "WORKFLOW")]
    pub workflow: PathBuf,
    /// Only this job (and the jobs it needs).
    #[arg(long, value_name = "JOB")]
    pub job: Option<String>,
    /// Start at this job: the jobs it needs are not run (listed as GIVEN) and what they upload
    /// is given with --artifact, e.g. a Windows job's output made elsewhere.
    #[arg(long, value_name = "JOB")]
    pub from: Option<String>,
    /// An artifact as if uploaded earlier in the run: its name and the directory holding its
    /// files (repeatable).
    #[arg(long = "artifact", value_name = "NAME=DIR")]
    pub artifacts: Vec<String>,
    /// A GitHub release as `gh release download TAG` finds it: its tag and the directory holding
    /// its files (repeatable), e.g. the `gh-releases/TAG` a rehearsal of the release workflow
    /// kept of its `gh release create`.
    #[arg(long = "gh-release", value_name = "TAG=DIR")]
    pub gh_releases: Vec<String>,
    /// An input of the workflow (repeatable).
    #[arg(long = "input", value_name = "NAME=VALUE")]
    pub inputs: Vec<String>,
    /// A TOML file with `[vars]` and `[secrets]` tables (the `vars` and `secrets` contexts).
    #[arg(long, value_name = "FILE")]
    pub context: Option<PathBuf>,
    /// Where the run keeps its workspaces, artifacts and summaries (default: a new temporary
    /// directory, kept and named on stderr).
    #[arg(long, value_name = "DIR")]
    pub workdir: Option<PathBuf>,
    /// The .NET root actions/setup-dotnet stands in for (default: ELS_TEST_DOTNET_ROOT).
    #[arg(long, value_name = "DIR", env = "ELS_TEST_DOTNET_ROOT")]
    pub dotnet_root: Option<PathBuf>,
    /// Run `cargo xtask build` for real instead of as its --dry-run: for a sandbox whose fork
    /// builds here (the release stage's fixture fork, whose build scripts behave like the real
    /// ones), so the build job's artifacts exist for the jobs after it.
    #[arg(long)]
    pub real_build: bool,
    /// A `cargo …` command (its first words, e.g. `cargo xtask test`) not to run: a step that
    /// reaches it is listed as NOT REHEARSED, naming it (repeatable).
    #[arg(long = "not-rehearsed", value_name = "COMMAND")]
    pub not_rehearsed: Vec<String>,
    /// Print the result as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

/// Every `cargo xtask …` in the workflows parses with the real command line, every action is
/// pinned to a full commit SHA, every job declares `permissions`, and no `run:` script pastes
/// untrusted `${{ }}` text. Each problem is printed as file:line; exit status 1 when any.
///
/// Example: cargo xtask pipelines check
///
/// Example: cargo xtask pipelines check --json pipelines/release.yml
#[derive(Debug, clap::Args)]
#[command(verbatim_doc_comment)]
pub struct CheckArgs {
    /// Workflow files or directories (default: pipelines/ and .github/workflows/).
    #[arg(value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// The repository root the paths are relative to (default: the nearest directory upwards
    /// that has pipelines/ or .github/).
    #[arg(long, value_name = "DIR")]
    pub root: Option<PathBuf>,
    /// Print the result as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: Args, ctx: &Context) -> Result<Outcome> {
    let args = match args.command {
        PipelinesCommand::Check(a) => a,
        PipelinesCommand::Rehearse(a) => return run_rehearse(a, ctx),
    };
    let root = match &args.root {
        Some(r) => ctx.cwd().join(r),
        None => default_root(ctx.cwd()),
    };
    let files = pipelines::workflow_files(&root, &args.paths)?;
    let report = pipelines::check(&root, &files, &super::Cli::command())?;
    if args.json {
        println!("{}", crate::schemas::to_json(&report)?);
    } else {
        print!("{}", report.human());
    }
    for p in &report.problems {
        console::annotate(
            Annotation::Error,
            Some(&p.file.display().to_string()),
            Some(p.line),
            &p.message,
        );
    }
    if !report.problems.is_empty() {
        console::step_summary(&report.markdown())?;
    }
    Ok(if report.problems.is_empty() {
        Outcome::Success
    } else {
        Outcome::Failure
    })
}

/// The repository root for `cwd`: the nearest directory upwards that has pipelines/ or .github/.
pub(super) fn default_root(cwd: &Path) -> PathBuf {
    cwd.ancestors()
        .find(|d| d.join("pipelines").is_dir() || d.join(".github").is_dir())
        .unwrap_or(cwd)
        .to_path_buf()
}

/// The `[vars]` and `[secrets]` of a rehearsal's context file.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ContextFile {
    #[serde(default)]
    vars: BTreeMap<String, String>,
    #[serde(default)]
    secrets: BTreeMap<String, String>,
}

fn run_rehearse(args: RehearseArgs, ctx: &Context) -> Result<Outcome> {
    let workflow = ctx.cwd().join(&args.workflow);
    if !workflow.is_file() {
        bail!("{} is not a workflow file", workflow.display());
    }
    let root = default_root(workflow.parent().unwrap_or(ctx.cwd()));
    let mut inputs = BTreeMap::new();
    for i in &args.inputs {
        let (k, v) = i
            .split_once('=')
            .ok_or_else(|| anyhow!("--input `{i}` is not NAME=VALUE"))?;
        inputs.insert(k.to_string(), v.to_string());
    }
    let artifacts = parse_named_dirs("artifact", &args.artifacts, ctx)?;
    let gh_releases = parse_named_dirs("gh-release", &args.gh_releases, ctx)?;
    let context = read_context(args.context.as_deref(), ctx)?;
    let workdir = match &args.workdir {
        Some(d) => ctx.cwd().join(d),
        None => tempfile::Builder::new()
            .prefix("els-rehearsal-")
            .tempdir()?
            .keep(),
    };
    let sandbox = match ctx.config_flag() {
        Some(config) => ctx
            .cwd()
            .join(config)
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| ctx.cwd().to_path_buf()),
        None => {
            let dir = workdir.join("sandbox");
            eprintln!(
                "{}",
                paint(
                    &format!("building the demo sandbox in {}", dir.display()),
                    Style::Dim
                )
            );
            crate::fixtures::sandbox::build(&dir, &super::demo::toolkit_root())?;
            dir
        }
    };
    eprintln!(
        "{}",
        paint(
            &format!(
                "rehearsing {} in {}",
                args.workflow.display(),
                workdir.display()
            ),
            Style::Dim
        )
    );
    let report = rehearse::rehearse(&rehearse::Plan {
        workflow,
        root,
        job: args.job,
        from: args.from,
        artifacts,
        gh_releases,
        sandbox,
        workdir,
        inputs,
        vars: context.vars,
        secrets: context.secrets,
        xtask: std::env::current_exe().context("cannot find the toolkit's own binary")?,
        dotnet_root: args.dotnet_root,
        real_build: args.real_build,
        left_out: left_out(&args.not_rehearsed)?,
    })?;
    if args.json {
        println!("{}", crate::schemas::to_json(&report)?);
    } else {
        print!("{}", report.table());
    }
    Ok(if report.passed() {
        Outcome::Success
    } else {
        Outcome::Failure
    })
}

/// `--not-rehearsed` values: `cargo …` commands, words separated by single spaces.
fn left_out(values: &[String]) -> Result<Vec<String>> {
    values
        .iter()
        .map(|v| {
            let words: Vec<&str> = v.split_whitespace().collect();
            if words.len() < 2 || words[0] != "cargo" {
                bail!("--not-rehearsed `{v}`: give a `cargo …` command, e.g. `cargo xtask test`; only the `cargo` the steps run can leave one out");
            }
            Ok(words.join(" "))
        })
        .collect()
}

/// `--context FILE`: the `vars` and `secrets` contexts (none when not given).
fn read_context(path: Option<&Path>, ctx: &Context) -> Result<ContextFile> {
    Ok(match path {
        None => ContextFile::default(),
        Some(p) => {
            let path = ctx.cwd().join(p);
            let text = std::fs::read_to_string(&path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            toml::from_str(&text).with_context(|| {
                format!(
                    "{} is not a rehearsal context ([vars] and [secrets] tables of strings)",
                    path.display()
                )
            })?
        }
    })
}

/// `--artifact NAME=DIR` or `--gh-release TAG=DIR` values (`flag` says which), directories
/// relative to the working directory.
fn parse_named_dirs(
    flag: &str,
    values: &[String],
    ctx: &Context,
) -> Result<Vec<(String, PathBuf)>> {
    values
        .iter()
        .map(|a| {
            let (name, dir) = a
                .split_once('=')
                .filter(|(n, d)| !n.is_empty() && !n.contains(['/', '\\']) && !d.is_empty())
                .ok_or_else(|| {
                    anyhow!("--{flag} `{a}` is not NAME=DIR (a name, without `/`, and a directory)")
                })?;
            Ok((name.to_string(), ctx.cwd().join(dir)))
        })
        .collect()
}
