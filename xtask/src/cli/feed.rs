use std::path::PathBuf;

use anyhow::Result;

use super::{Context, Outcome};
use crate::channel::Channel;
use crate::nuget_feed::{self, Feed};

/// Publish a release's nupkgs as a static NuGet V3 feed (lab, then stable by promotion), check a
/// feed, and print the nuget.config customers add.
///
/// Example: `cargo xtask feed publish --channel lab && cargo xtask feed config --channel lab > nuget.config`
#[derive(Debug, clap::Args)]
#[command(after_long_help = super::exit::by_subcommand())]
pub struct Args {
    #[command(subcommand)]
    pub action: Action,
}

/// Where the feeds are: flags shared by every feed command.
#[derive(Debug, clap::Args)]
pub struct Location {
    /// The directory holding one feed per channel (default: <artifacts-dir>/feed).
    #[arg(long, value_name = "DIR")]
    pub feed_dir: Option<PathBuf>,
    /// The public URL the feed directory is served at (default: [feed] base-url in els.toml).
    #[arg(long, value_name = "URL")]
    pub base_url: Option<String>,
}

/// How long a publication waits for another one on the same feed directory.
#[derive(Debug, clap::Args)]
pub struct Wait {
    /// Seconds to wait while another `feed publish`/`feed promote` holds the feed directory's
    /// lock; then exit 2, nothing changed.
    #[arg(long, value_name = "SECONDS", default_value_t = default_lock_timeout())]
    pub lock_timeout: u64,
}

fn default_lock_timeout() -> u64 {
    crate::publish_lock::DEFAULT_TIMEOUT.as_secs()
}

#[derive(Debug, clap::Subcommand)]
pub enum Action {
    /// Add the release's nupkgs (checked against its SHA512SUMS) to a channel's feed.
    ///
    /// Example: `cargo xtask feed publish --release artifacts/els/release/6.0.37 --channel lab`
    #[command(after_long_help = super::exit::plain("published (or already there)"))]
    Publish {
        /// The release directory (default: <artifacts-dir>/release/<current version>).
        #[arg(long, value_name = "DIR")]
        release: Option<PathBuf>,
        #[arg(long, default_value = "lab")]
        channel: Channel,
        #[command(flatten)]
        location: Location,
        #[command(flatten)]
        wait: Wait,
        #[arg(long)]
        json: bool,
    },
    /// Copy the release's packages from the lab feed to the stable feed, byte for byte.
    ///
    /// Example: `cargo xtask feed promote --release artifacts/els/release/6.0.37`
    #[command(after_long_help = super::exit::plain("promoted (or already there)"))]
    Promote {
        /// The release directory (default: <artifacts-dir>/release/<current version>).
        #[arg(long, value_name = "DIR")]
        release: Option<PathBuf>,
        #[command(flatten)]
        location: Location,
        #[command(flatten)]
        wait: Wait,
        #[arg(long)]
        json: bool,
    },
    /// Print the nuget.config that routes exactly the feed's package ids to it.
    ///
    /// Example: `cargo xtask feed config --channel stable > nuget.config`
    #[command(after_long_help = super::exit::plain("the nuget.config printed"))]
    Config {
        #[arg(long, default_value = "stable")]
        channel: Channel,
        #[command(flatten)]
        location: Location,
    },
    /// Check a feed's documents against its packages, and releases' nupkgs against their SHA512SUMS.
    ///
    /// Example: `cargo xtask feed verify --channel stable --release artifacts/els/release/6.0.37`
    #[command(after_long_help = super::exit::gate("the feed is consistent", "a problem in the feed (each printed)"))]
    Verify {
        #[arg(long, default_value = "stable")]
        channel: Channel,
        /// A release whose nupkgs must be in the feed unchanged (repeatable).
        #[arg(long, value_name = "DIR")]
        release: Vec<PathBuf>,
        #[command(flatten)]
        location: Location,
        #[arg(long)]
        json: bool,
    },
}

pub fn run(args: Args, ctx: &Context) -> Result<Outcome> {
    let config = ctx.require_config()?;
    let resolve = |p: Option<PathBuf>| p.map(|p| ctx.cwd().join(p));
    let options = |release: Option<PathBuf>, location: Location, wait: Wait| nuget_feed::Options {
        release: resolve(release),
        feed_dir: resolve(location.feed_dir),
        base_url: location.base_url,
        lock_timeout: Some(std::time::Duration::from_secs(wait.lock_timeout)),
    };
    let locate = |channel, location: Location| {
        Feed::locate(
            &config,
            channel,
            resolve(location.feed_dir).as_deref(),
            location.base_url.as_deref(),
        )
    };
    match args.action {
        Action::Publish {
            release,
            channel,
            location,
            wait,
            json,
        } => {
            let report = nuget_feed::publish(&config, channel, &options(release, location, wait))?;
            print_report(&report, json)
        }
        Action::Promote {
            release,
            location,
            wait,
            json,
        } => {
            let report = nuget_feed::promote(&config, &options(release, location, wait))?;
            print_report(&report, json)
        }
        Action::Config { channel, location } => {
            let feed = locate(channel, location)?;
            print!("{}", nuget_feed::client_config::render(&feed)?);
            Ok(Outcome::Success)
        }
        Action::Verify {
            channel,
            release,
            location,
            json,
        } => {
            let feed = locate(channel, location)?;
            let releases: Vec<PathBuf> = release.into_iter().map(|r| ctx.cwd().join(r)).collect();
            let report = nuget_feed::verify::verify(&feed, &releases)?;
            super::print_verification(&report, &report.problems, json, || {
                format!(
                    "{} packages, {} consistent",
                    report.packages, report.index_url
                )
            })
        }
    }
}

fn print_report(report: &nuget_feed::Report, json: bool) -> Result<Outcome> {
    if json {
        println!("{}", crate::schemas::to_json(report)?);
    } else {
        print!("{}", report.human());
    }
    Ok(Outcome::Success)
}
