use std::path::PathBuf;

use anyhow::{bail, Context as _, Result};

use super::{Context, Outcome};
use crate::backport::{self, PathMap};
use crate::config::RepoConfig;

/// Which upstream commits the fork branch already has, like `git cherry`.
///
/// Lists the commits reachable from UPSTREAM but not from ONTO, oldest first and without merges
/// (as git cherry does): `-` when the fork already carries an equivalent (the same stable
/// patch-id after the configured path remaps, or, which git cherry cannot see, a
/// `(cherry picked from commit …)` trailer naming it), `+` when it does not. Fork and remaps
/// default from els.toml (the `[[repo]]` named by --repo, or the only one).
///
/// Example: cargo xtask cherry --fork ../runtime release/6.0-els refs/els/upstream/runtime/heads/release/8.0
#[derive(Debug, clap::Args)]
#[command(verbatim_doc_comment)]
#[command(after_long_help = super::exit::plain("the list printed"))]
pub struct Args {
    /// The fork branch (or any revision) to check against.
    #[arg(value_name = "ONTO")]
    pub onto: String,
    /// The upstream branch (or revision) whose commits are listed.
    #[arg(value_name = "UPSTREAM")]
    pub upstream: String,
    /// The fork's repository (default: the configured repo's `path`).
    #[arg(long, value_name = "PATH")]
    pub fork: Option<PathBuf>,
    /// The configured repository whose path and remaps to use.
    #[arg(long, value_name = "NAME")]
    pub repo: Option<String>,
    /// Print the list as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: Args, ctx: &Context) -> Result<Outcome> {
    let config = ctx.config()?;
    let repo_config: Option<&RepoConfig> = match (&config, &args.repo) {
        (Some(c), Some(name)) => Some(c.repo(name)?),
        (Some(c), None) if args.fork.is_none() && c.repos.len() == 1 => c.repos.first(),
        _ => None,
    };
    let (fork, repo) = match (&args.fork, repo_config, &config) {
        (Some(f), _, _) => {
            let fork = ctx.cwd().join(f);
            let repo = crate::repo::open(&fork)?;
            (fork, repo)
        }
        (None, Some(r), Some(c)) => (c.resolve(&r.path), crate::repo::open_fork(c, r)?),
        (None, _, Some(c)) if !c.repos.is_empty() => {
            let names: Vec<&str> = c.repos.iter().map(|r| r.name.as_str()).collect();
            bail!(
                "which fork? els.toml configures {} repositories ({}); name one with --repo NAME, or pass --fork PATH",
                names.len(),
                names.join(", ")
            )
        }
        _ => bail!("which fork? pass --fork PATH, or add a [[repo]] to els.toml (`cargo xtask init` writes one) and name it with --repo"),
    };
    crate::repo::MemoryBudget::HISTORY_WALK.apply()?;
    let rev = |spec: &str| {
        repo.revparse_single(spec)
            .and_then(|o| o.peel_to_commit())
            .map(|c| c.id())
            .with_context(|| {
                format!(
                    "unknown revision `{spec}` in {}; name a branch, tag or commit id",
                    fork.display()
                )
            })
    };
    let (onto, upstream) = (rev(&args.onto)?, rev(&args.upstream)?);
    let map = PathMap::new(repo_config.map(|r| r.remaps.as_slice()).unwrap_or_default());
    let entries = backport::cherry(&repo, onto, upstream, &map)?;
    // The process ends after printing, which frees everything at once: libgit2 freeing the
    // walk's object cache (every commit of the divergence) one object at a time was a tenth of
    // the command's time.
    std::mem::forget(repo);
    let report = backport::CherryReport { entries };
    if args.json {
        println!("{}", crate::schemas::to_json(&report)?);
    } else {
        print!("{}", report.human());
    }
    Ok(Outcome::Success)
}
