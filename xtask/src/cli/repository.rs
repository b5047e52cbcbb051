use std::path::PathBuf;

use anyhow::{Context as _, Result};

use super::{Context, Outcome};
use crate::channel::Channel;
use crate::release::sign::Signer;
use crate::repository::{self, PublishOptions, Tree};
use crate::version::Version;

/// Publish a release's packages to signed APT and DNF repositories with a `lab` and a `stable`
/// channel, promote a release from lab to stable, and verify the repositories.
///
/// Example: `cargo xtask repo publish --channel lab --release artifacts/els/release/6.0.37 && cargo xtask repo promote 6.0.37 --from lab --to stable`
#[derive(Debug, clap::Args)]
#[command(after_long_help = super::exit::by_subcommand())]
pub struct Args {
    #[command(subcommand)]
    pub action: Action,
}

/// Flags every repository command takes.
#[derive(Debug, clap::Args)]
pub struct TreeArgs {
    /// The repository tree (default: [packages] repo-dir, or <artifacts-dir>/repo).
    #[arg(long, value_name = "DIR")]
    pub repo_dir: Option<PathBuf>,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Flags of the commands that change a channel: `publish` and `promote`.
#[derive(Debug, clap::Args)]
pub struct Publication {
    /// The release directory, whose packages are published and where the channel is recorded
    /// (default: <artifacts-dir>/release/<version>).
    #[arg(long, value_name = "DIR")]
    pub release: Option<PathBuf>,
    /// The date recorded in the release's channels.json (default: today).
    #[arg(long, value_name = "YYYY-MM-DD")]
    pub date: Option<String>,
    #[command(flatten)]
    pub tree: TreeArgs,
}

impl Publication {
    fn options(&self) -> PublishOptions {
        PublishOptions {
            release: self.release.clone(),
            repo_dir: self.tree.repo_dir.clone(),
            date: self.date.clone(),
        }
    }
}

#[derive(Debug, clap::Subcommand)]
pub enum Action {
    /// Add a release's .deb and .rpm files to a channel and sign its metadata with the release key.
    ///
    /// Example: `ELS_SIGNING_KEY="$(cat key.asc)" cargo xtask repo publish --channel lab --release artifacts/els/release/6.0.37`
    #[command(after_long_help = super::exit::plain("published (or already there)"))]
    Publish {
        /// The channel: lab or stable.
        #[arg(long)]
        channel: Channel,
        #[command(flatten)]
        publication: Publication,
    },
    /// Put the exact package files of a release that are in one channel into another.
    ///
    /// Example: `ELS_SIGNING_KEY="$(cat key.asc)" cargo xtask repo promote 6.0.37 --from lab --to stable`
    #[command(after_long_help = super::exit::plain("promoted (or already there)"))]
    Promote {
        version: Version,
        #[arg(long, default_value = "lab")]
        from: Channel,
        #[arg(long, default_value = "stable")]
        to: Channel,
        #[command(flatten)]
        publication: Publication,
    },
    /// Check every signature, every hash in the metadata and every listed package; exit 1 on a problem.
    ///
    /// Example: `cargo xtask repo verify --channel stable --key net6-els.asc`
    #[command(after_long_help = super::exit::gate("every signature, hash and listed package checks out", "a problem (each printed)"))]
    Verify {
        /// Only this channel (default: every published channel).
        #[arg(long)]
        channel: Option<Channel>,
        /// The trusted public key (default: keys/net6-els.asc in the tree).
        #[arg(long, value_name = "FILE")]
        key: Option<PathBuf>,
        #[command(flatten)]
        tree: TreeArgs,
    },
}

pub fn run(args: Args, ctx: &Context) -> Result<Outcome> {
    let config = ctx.config()?.unwrap_or_default();
    match args.action {
        Action::Publish {
            channel,
            publication,
        } => {
            let signer = signer(&config)?;
            let report = repository::publish(&config, channel, &publication.options(), &signer)?;
            print_report(&report, publication.tree.json)
        }
        Action::Promote {
            version,
            from,
            to,
            publication,
        } => {
            let signer = signer(&config)?;
            let options = publication.options();
            let report = repository::promote(&config, version, from, to, &options, &signer)?;
            print_report(&report, publication.tree.json)
        }
        Action::Verify { channel, key, tree } => {
            let t = Tree::new(&config, tree.repo_dir.as_deref())?;
            let channels = match channel {
                Some(c) => vec![c],
                None => Channel::ALL.to_vec(),
            };
            let report = repository::verify::verify(&t, &channels, key.as_deref())?;
            super::print_verification(&report, &report.problems, tree.json, || {
                let names: Vec<&str> = report.channels.iter().map(|c| c.as_str()).collect();
                format!(
                    "{}: {} package files and every signature check out",
                    names.join(", "),
                    report.packages
                )
            })
        }
    }
}

/// The release key from the environment; the repository metadata is signed with it.
fn signer(config: &crate::config::Config) -> Result<Signer> {
    Signer::from_env(&config.release)
        .context("the repository metadata is signed with the release key")
}

fn print_report(report: &repository::Report, json: bool) -> Result<Outcome> {
    if json {
        println!("{}", crate::schemas::to_json(report)?);
    } else {
        print!("{}", report.human());
    }
    Ok(Outcome::Success)
}
