//! The command layer: clap definitions and printing. Each command is a file here with an `Args`
//! struct and a `run` function that calls the library and prints its result. `pipelines check`
//! parses workflow invocations with the real command line, which this layer passes to it.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};
use clap::{Parser, Subcommand};

use crate::config::Config;

mod advisories;
mod apicompat;
mod backport;
mod bench;
mod build;
mod bump;
mod cherry;
mod compat;
mod demo;
pub mod exit;
mod feed;
mod init;
mod package;
mod patches;
mod pipelines;
mod release;
mod repository;
mod schemas;
mod test;
mod vex;

/// net6-els: keep a .NET 6 fork secure after Microsoft's end of support.
#[derive(Debug, Parser)]
#[command(name = "cargo xtask", bin_name = "cargo xtask", version, about, long_about = None, after_help = exit::STATUSES)]
pub struct Cli {
    /// The config file (default: els.toml in the current directory or an ancestor).
    #[arg(long, global = true, env = "ELS_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// When to colour output, per stream: auto (a terminal; NO_COLOR and CLICOLOR_FORCE are
    /// honoured), always, never.
    #[arg(long, global = true, value_enum, default_value_t, value_name = "WHEN")]
    pub color: crate::console::ColorWhen,
    #[command(subcommand)]
    pub command: Command,
}

/// Every `cargo xtask` command.
#[derive(Debug, Subcommand)]
pub enum Command {
    Advisories(advisories::Args),
    Apicompat(apicompat::Args),
    Backport(backport::Args),
    Bench(bench::Args),
    Build(build::Args),
    Bump(bump::Args),
    Compat(Box<compat::Args>),
    Cherry(cherry::Args),
    Demo(demo::Args),
    Feed(feed::Args),
    Init(init::Args),
    Package(package::Args),
    Patches(patches::Args),
    Pipelines(pipelines::Args),
    Release(release::Args),
    Repo(repository::Args),
    Schemas(schemas::Args),
    Test(test::Args),
    Vex(vex::Args),
}

/// How a command that ran to completion ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Everything succeeded.
    Success,
    /// The command ran and found a problem the caller must act on (exit status 1).
    Failure,
}

impl Outcome {
    /// A check's outcome: a failure when it found any problem.
    pub fn of_problems<T>(problems: &[T]) -> Outcome {
        if problems.is_empty() {
            Outcome::Success
        } else {
            Outcome::Failure
        }
    }
}

/// Prints a check's problems as `FAIL` rows (each also an error annotation in Actions) and
/// returns the check's outcome.
fn print_problems(problems: &[String]) -> Outcome {
    for p in problems {
        println!(
            "{} {p}",
            crate::console::paint("FAIL", crate::console::Style::Bad)
        );
        crate::console::annotate(crate::console::Annotation::Error, None, None, p);
    }
    Outcome::of_problems(problems)
}

/// Prints a verification's result: its JSON document, or each problem (FAIL, and a CI annotation)
/// and, when there is none, `ok` and `summary`. Exit 1 on a problem.
fn print_verification<T: crate::schemas::JsonOutput>(
    report: &T,
    problems: &[String],
    json: bool,
    summary: impl FnOnce() -> String,
) -> Result<Outcome> {
    if json {
        println!("{}", crate::schemas::to_json(report)?);
        return Ok(Outcome::of_problems(problems));
    }
    let outcome = print_problems(problems);
    if outcome == Outcome::Success {
        println!(
            "{} {}",
            crate::console::paint("ok", crate::console::Style::Good),
            summary()
        );
    }
    Ok(outcome)
}

/// Runs a parsed command line.
pub fn run(cli: Cli) -> Result<Outcome> {
    crate::console::set_color(cli.color);
    let cwd = std::env::current_dir()?;
    let ctx = Context {
        config_path: cli.config,
        cwd,
    };
    dispatch(cli.command, &ctx)
}

/// Runs one command with a given context (the demo runs commands in its sandbox this way).
fn dispatch(command: Command, ctx: &Context) -> Result<Outcome> {
    match command {
        Command::Advisories(args) => advisories::run(args, ctx),
        Command::Apicompat(args) => apicompat::run(args, ctx),
        Command::Backport(args) => backport::run(args, ctx),
        Command::Bench(args) => bench::run(args, ctx),
        Command::Build(args) => build::run(args, ctx),
        Command::Compat(args) => compat::run(*args, ctx),
        Command::Bump(args) => bump::run(args, ctx),
        Command::Cherry(args) => cherry::run(args, ctx),
        Command::Demo(args) => demo::run(args, ctx),
        Command::Feed(args) => feed::run(args, ctx),
        Command::Init(args) => init::run(args, ctx),
        Command::Package(args) => package::run(args, ctx),
        Command::Patches(args) => patches::run(args, ctx),
        Command::Pipelines(args) => pipelines::run(args, ctx),
        Command::Release(args) => release::run(args, ctx),
        Command::Repo(args) => repository::run(args, ctx),
        Command::Schemas(args) => schemas::run(args, ctx),
        Command::Test(args) => test::run(args, ctx),
        Command::Vex(args) => vex::run(args, ctx),
    }
}

/// What every command gets besides its own flags.
pub struct Context {
    config_path: Option<PathBuf>,
    cwd: PathBuf,
}

impl Context {
    /// The config, if there is one (`--config`, `ELS_CONFIG`, or els.toml found upwards).
    pub fn config(&self) -> Result<Option<Config>> {
        Config::discover(self.config_path.as_deref(), &self.cwd)
    }

    /// The config, for commands that cannot run without one.
    pub fn require_config(&self) -> Result<Config> {
        self.config()?.with_context(|| {
            format!(
                "no els.toml found in {} or its parents; run from the fork's toolkit checkout, pass --config FILE, or set a team up with `cargo xtask init`",
                self.cwd.display()
            )
        })
    }

    /// The config file named by `--config`/`ELS_CONFIG`, if any (not one found upwards).
    pub fn config_flag(&self) -> Option<&Path> {
        self.config_path.as_deref()
    }

    /// The config file a command that writes one writes: `--config` / `ELS_CONFIG`, else the
    /// els.toml found upwards, else els.toml in the current directory.
    pub fn config_file(&self) -> PathBuf {
        if let Some(path) = &self.config_path {
            return self.cwd.join(path);
        }
        self.cwd
            .ancestors()
            .map(|dir| dir.join(crate::config::FILE_NAME))
            .find(|candidate| candidate.is_file())
            .unwrap_or_else(|| self.cwd.join(crate::config::FILE_NAME))
    }

    /// The current directory the command was started in.
    pub fn cwd(&self) -> &Path {
        &self.cwd
    }
}
