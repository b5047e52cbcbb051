//! `cargo xtask init`: flags and printing for [`crate::init`].

use std::path::PathBuf;

use anyhow::Result;

use super::{Context, Outcome};
use crate::console::{paint, paint_err, Style};
use crate::init::{init, Options, DEFAULT_REPOS, DEFAULT_UPSTREAM_BASE};

/// Set a team up from nothing: fork clones, the ELS branch, els.toml, the advisory snapshot.
///
/// Clones (or reuses) each repository into `--dir`, creates `release/6.0-els` at Microsoft's last
/// 6.0 tag (v6.0.36; MSBuild's newest v17.3.N) fetching the tag when the clone lacks it, writes
/// els.toml with the branches that fit each repository, runs `advisories sync` and prints the
/// next commands. A second run changes nothing and says so. It never overwrites an els.toml or a
/// `release/6.0-els` branch that differs: it exits 2 naming what differs, with nothing changed.
///
/// Example: `cargo xtask init --owner contoso --repos runtime,aspnetcore`
#[derive(Debug, clap::Args)]
#[command(after_long_help = super::exit::plain("set up, or already set up"))]
pub struct Args {
    /// The GitHub organisation or user that owns the forks (https://github.com/<owner>/<repo>).
    #[arg(long, value_name = "ORG", conflicts_with = "fork_base")]
    pub owner: Option<String>,
    /// Where the forks are: a URL prefix, or a directory holding <repo> or <repo>.git.
    #[arg(long, value_name = "URL|DIR")]
    pub fork_base: Option<String>,
    /// Start the clones from the upstream repositories (the forks do not exist yet); the fork,
    /// when given, becomes the clone's `origin` remote to push to.
    #[arg(long)]
    pub from_upstream: bool,
    /// Where Microsoft's repositories are: a URL prefix, or a directory holding <repo> or
    /// <repo>.git.
    #[arg(long, value_name = "URL|DIR", default_value = DEFAULT_UPSTREAM_BASE)]
    pub upstream_base: String,
    /// The repositories to set up (runtime, aspnetcore, wpf, winforms, windowsdesktop, sdk,
    /// msbuild).
    #[arg(long, value_delimiter = ',', default_values = DEFAULT_REPOS)]
    pub repos: Vec<String>,
    /// The directory the clones go into, relative to the config file's directory.
    #[arg(long, value_name = "DIR", default_value = "..")]
    pub dir: PathBuf,
    /// A local copy of dotnet/core to record as `[advisories] source` and sync from (default:
    /// GitHub).
    #[arg(long, value_name = "DIR")]
    pub advisories_source: Option<PathBuf>,
    /// Print what was done as JSON.
    #[arg(long)]
    pub json: bool,
    /// No progress lines on stderr.
    #[arg(long, short)]
    pub quiet: bool,
}

pub fn run(args: Args, ctx: &Context) -> Result<Outcome> {
    let fork_base = match (args.owner, args.fork_base) {
        (Some(owner), _) => Some(format!("https://github.com/{owner}")),
        (None, base) => base.map(|b| absolute_if_dir(ctx, b)),
    };
    let options = Options {
        fork_base,
        from_upstream: args.from_upstream,
        upstream_base: absolute_if_dir(ctx, args.upstream_base),
        repos: args.repos,
        dir: args.dir,
        config_path: ctx.config_file(),
        advisories_source: args.advisories_source.map(|d| ctx.cwd().join(d)),
        quiet: args.quiet || args.json,
    };
    let report = init(&options)?;
    if args.json {
        println!("{}", crate::schemas::to_json(&report)?);
        return Ok(Outcome::Success);
    }
    for w in &report.warnings {
        eprintln!("{} {w}", paint_err("warning:", Style::Warn));
    }
    if report.unchanged() {
        println!("already set up; nothing changed");
    }
    for r in &report.repos {
        let clone = match &r.cloned_from {
            Some(from) => format!("cloned from {from}"),
            None => "existing clone".to_string(),
        };
        let branch = if r.created_branch {
            format!("created {} at {}", crate::init::ELS_BRANCH, r.base)
        } else {
            format!("{} already there", crate::init::ELS_BRANCH)
        };
        let tag = if r.fetched_tag {
            ", fetched the tag"
        } else {
            ""
        };
        println!(
            "{}  {}  {clone}{tag}, {branch}",
            paint(&r.name, Style::Bold),
            r.path.display()
        );
    }
    let config = if report.wrote_config {
        "wrote"
    } else {
        "unchanged:"
    };
    println!("{config} {}", report.config.display());
    let snapshot = if report.snapshot_changed {
        "wrote"
    } else {
        "unchanged:"
    };
    println!(
        "{snapshot} {} ({} CVEs)",
        report.snapshot.display(),
        report.advisories
    );
    println!("next:");
    for command in &report.next {
        println!("  $ {command}");
    }
    Ok(Outcome::Success)
}

/// A directory argument made absolute against the current directory, so els.toml works from
/// anywhere; URLs are left as they are.
fn absolute_if_dir(ctx: &Context, location: String) -> String {
    let path = ctx.cwd().join(&location);
    if path.is_dir() {
        path.display().to_string()
    } else {
        location
    }
}
