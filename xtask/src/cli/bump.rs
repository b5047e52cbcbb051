use anyhow::Result;

use super::{Context, Outcome};
use crate::bump::{bump, Options};

/// Brand the fork with its next patch version and commit "Update branding to 6.0.N".
///
/// Edits runtime `eng/Versions.props` (ProductVersion, PatchVersion), aspnetcore's
/// AspNetCorePatchVersion and package baseline, and the ServicingVersion of out-of-band packages
/// whose sources changed; every other byte of those files stays as it was.
///
/// Example: `cargo xtask bump --to 6.0.37 --dry-run`
#[derive(Debug, clap::Args)]
#[command(after_long_help = super::exit::plain("bumped and committed (or the change printed with --dry-run)"))]
pub struct Args {
    /// The version to brand (default: the current one plus one).
    #[arg(long, value_name = "6.0.N")]
    pub to: Option<crate::version::Version>,
    /// Show the changes without writing or committing.
    #[arg(long)]
    pub dry_run: bool,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: Args, ctx: &Context) -> Result<Outcome> {
    let config = ctx.require_config()?;
    let report = bump(
        &config,
        &Options {
            to: args.to,
            dry_run: args.dry_run,
        },
    )?;
    if args.json {
        println!("{}", crate::schemas::to_json(&report)?);
        return Ok(Outcome::Success);
    }
    let verb = if report.dry_run {
        "would bump"
    } else {
        "bumped"
    };
    println!("{verb} {} → {}", report.from, report.to);
    for repo in &report.repos {
        let commit = repo
            .commit
            .as_deref()
            .map(|c| format!(" ({})", &c[..12.min(c.len())]))
            .unwrap_or_default();
        println!(
            "{}{commit}",
            crate::console::paint(&repo.repo, crate::console::Style::Bold)
        );
        for c in &repo.changes {
            println!("  {}:{}  {}  {} → {}", c.file, c.line, c.name, c.old, c.new);
        }
    }
    Ok(Outcome::Success)
}
