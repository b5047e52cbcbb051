use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _, Result};

use super::{Context, Outcome};
use crate::backport::report::short;
use crate::backport::report::{Published, Push};
use crate::backport::{self, Report, Request};
use crate::config::{Config, RepoConfig};
use crate::console::{self, Annotation};
use crate::cve::CveId;
use crate::error::ResultExt as _;
use crate::github::{self, backport_pr, pull_fix, pull_fix::FixArg};
use crate::patches;

/// Bring upstream fix commits onto the fork branch.
///
/// Each FIX is a full or abbreviated commit id, `repo@shortsha` as Microsoft writes it in
/// cve.json, or `pr:<number>` (an upstream pull request, resolved through the GitHub API to its
/// merge, squash or rebased commits); several are applied in order. Fork, branch, upstream and
/// remaps default from els.toml (the `[[repo]]` named by `repo@`, or `--repo`).
///
/// Example: cargo xtask backport --cve CVE-2025-55248 runtime@44527b9
///
/// With --skip-conflicts every FIX that applies is applied and each conflicting one is reported
/// (files, prerequisites) and left out, as `git cherry-pick --skip` would: triage for a month's
/// worth of fixes. Add --dry-run to only find out which ones apply.
///
/// Example: cargo xtask backport --skip-conflicts --dry-run 44527b9 8e957ff 0c2f1b7
///
/// With --open-pr the result is pushed to `els/<CVE>/<sha>` on the fork's remote and one pull
/// request per CVE is opened or updated (a draft explaining the conflict when it stops).
///
/// Example: cargo xtask backport --cve CVE-2025-55248 --open-pr runtime@pr:118442
///
/// Example: cargo xtask backport --fork ../runtime --onto release/6.0-els --upstream https://github.com/dotnet/runtime 44527b9
#[derive(Debug, clap::Args)]
#[command(verbatim_doc_comment)]
#[command(after_long_help = super::exit::gate("every FIX applied or already present", "stopped at a conflict (state saved: resolve, then --continue, or --abort), or skipped one with --skip-conflicts"))]
pub struct Args {
    /// Upstream fixes: `<sha>`, `<repo>@<sha>` or `[<repo>@]pr:<number>`, applied in order.
    #[arg(value_name = "FIX", required_unless_present_any = ["continue_", "abort"])]
    pub fixes: Vec<String>,
    /// The fork's repository (default: the configured repo's `path`).
    #[arg(long, value_name = "PATH")]
    pub fork: Option<PathBuf>,
    /// The branch that receives the fixes (default: the configured repo's `branch`).
    #[arg(long, value_name = "BRANCH")]
    pub onto: Option<String>,
    /// Where FIX commits live when the fork lacks them: a URL or a path (default: `upstream`).
    #[arg(long, value_name = "URL|PATH")]
    pub upstream: Option<String>,
    /// The configured repository to use when FIXes carry no `repo@` prefix.
    #[arg(long, value_name = "NAME")]
    pub repo: Option<String>,
    /// The advisory these fixes belong to, recorded as a `CVE:` trailer.
    #[arg(long, value_name = "ID", value_parser = str::parse::<CveId>)]
    pub cve: Option<CveId>,
    /// Pick merge commits relative to this parent (1 = the release branch's own history).
    #[arg(long, short = 'm', value_name = "N")]
    pub mainline: Option<u32>,
    /// Decide every outcome in memory and change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Leave out each FIX that conflicts (reported as `skipped`, with its files and likely
    /// prerequisites) and go on with the next, instead of stopping at it.
    #[arg(long, conflicts_with_all = ["continue_", "abort", "open_pr"])]
    pub skip_conflicts: bool,
    /// Print the report as JSON on stdout.
    #[arg(long)]
    pub json: bool,
    /// Where to put a worktree for a conflict when the branch is not checked out anywhere.
    #[arg(long, value_name = "PATH")]
    pub worktree: Option<PathBuf>,
    /// Finish a backport that stopped at a conflict, after resolving it.
    #[arg(long = "continue", conflicts_with_all = ["abort", "fixes", "dry_run"])]
    pub continue_: bool,
    /// Cancel a stopped or interrupted backport and restore the branch exactly.
    #[arg(long, conflicts_with_all = ["fixes", "dry_run"])]
    pub abort: bool,
    /// Push the result to `els/<CVE>/<sha>` on the fork's remote and open or update its pull
    /// request (needs --cve and GITHUB_TOKEN/GH_TOKEN).
    #[arg(long, conflicts_with_all = ["abort", "dry_run"])]
    pub open_pr: bool,
    /// Do not record the result in the patch queue (by default a finished backport on a
    /// configured repository runs `patches export` for it).
    #[arg(long)]
    pub no_export: bool,
}

pub fn run(args: Args, ctx: &Context) -> Result<Outcome> {
    let config = ctx.config()?;
    if args.continue_ || args.abort {
        let fork = fork_for_resume(&args, config.as_ref(), ctx.cwd())?;
        if args.abort {
            let r = backport::abort_backport(&fork)?;
            if args.json {
                println!("{}", crate::schemas::to_json(&r)?);
            } else {
                println!(
                    "aborted: `{}` restored to {} (was {})",
                    r.onto,
                    short(&r.restored_tip),
                    short(&r.abandoned_tip)
                );
            }
            return Ok(Outcome::Success);
        }
        let publisher = args
            .open_pr
            .then(|| backport_pr::Publisher::prepare(config.as_ref(), None, &fork, None))
            .transpose()?;
        let report = backport::continue_backport(&fork, args.json)?;
        let queue = record_in_queue(&report, config.as_ref(), args.no_export)?;
        return finish(&report, queue, publisher, args.json);
    }
    if args.open_pr && args.cve.is_none() {
        bail!("--open-pr needs --cve <ID>: the branch and pull request are per advisory");
    }
    let (req, upstream_url) = request(&args, config.as_ref(), ctx.cwd())?;
    // Everything --open-pr needs (token, remote, repository) is checked before anything changes.
    let publisher = args
        .open_pr
        .then(|| {
            backport_pr::Publisher::prepare(
                config.as_ref(),
                req.repo_name.as_deref(),
                &req.fork,
                upstream_url,
            )
        })
        .transpose()?;
    let report = backport::backport(&req)?;
    let queue = record_in_queue(&report, config.as_ref(), args.no_export)?;
    finish(&report, queue, publisher, args.json)
}

/// Records a finished backport in the patch queue (`patches export` for the configured repository
/// that owns the fork clone and branch), so the queue never lags the branch. Nothing is recorded
/// for a dry run, a run that stopped at a conflict (`--continue` records it), `--no-export`, or a
/// fork that els.toml does not configure.
fn record_in_queue(
    report: &Report,
    config: Option<&Config>,
    no_export: bool,
) -> Result<Option<patches::RepoExport>> {
    let Some(config) = config else {
        return Ok(None);
    };
    if no_export || report.dry_run || report.stopped() {
        return Ok(None);
    }
    let same_place = |p: &Path| match (p.canonicalize(), report.fork.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    };
    let Some(owner) = config
        .repos
        .iter()
        .find(|r| r.branch == report.onto && same_place(&config.resolve(&r.path)))
    else {
        return Ok(None);
    };
    patches::export_repo(config, &owner.name)
        .map(Some)
        .with_context(|| {
            format!(
                "the backport finished (`{}` is at {}), but recording it in the patch queue failed; fix the cause and run `cargo xtask patches export --repo {}`",
                report.onto,
                short(&report.tip),
                owner.name
            )
        })
        .internal()
}

/// Publishes the pull request when asked, then prints the report.
fn finish(
    report: &Report,
    queue: Option<patches::RepoExport>,
    publisher: Option<backport_pr::Publisher>,
    json: bool,
) -> Result<Outcome> {
    let Some(p) = publisher else {
        return render(report, queue.as_ref(), None, json);
    };
    let published = p.publish(report, &report.markdown()).with_context(|| {
        format!(
            "the backport itself finished (branch `{}` is at {}), but publishing it failed",
            report.onto,
            short(&report.tip)
        )
    })?;
    render(report, queue.as_ref(), Some(published), json)
}

/// Builds the request from flags over the config, resolving `pr:<n>` fixes through GitHub.
/// Also returns the upstream's URL as given (for links and pull request lookups).
fn request(args: &Args, config: Option<&Config>, cwd: &Path) -> Result<(Request, Option<String>)> {
    let fix_args: Vec<FixArg> = args
        .fixes
        .iter()
        .map(|f| FixArg::parse(f))
        .collect::<Result<_>>()?;
    let mut names: Vec<&str> = fix_args.iter().filter_map(FixArg::repo).collect();
    names.sort();
    names.dedup();
    if names.len() > 1 {
        bail!(
            "the FIXes name several repositories ({}); run one backport per repository",
            names.join(", ")
        );
    }
    let name = match (names.first(), args.repo.as_deref()) {
        (Some(a), Some(b)) if *a != b => bail!("--repo {b} disagrees with FIX prefix `{a}@`"),
        (Some(a), _) => Some(a.to_string()),
        (None, Some(b)) => Some(b.to_string()),
        (None, None) => None,
    };
    let repo_config: Option<&RepoConfig> = match (config, name.as_deref()) {
        (Some(c), Some(n)) if args.fork.is_none() || c.repos.iter().any(|r| r.name == n) => {
            Some(c.repo(n)?)
        }
        (Some(c), None) if c.repos.len() == 1 => c.repos.first(),
        _ => None,
    };
    let root = config.map(|c| c.root.as_path()).unwrap_or(cwd);
    let fork = match (&args.fork, repo_config) {
        (Some(f), _) => cwd.join(f),
        (None, Some(r)) => root.join(&r.path),
        (None, None) => bail!("which fork? pass --fork <PATH> (and --onto), or configure a [[repo]] in els.toml and name it with repo@sha or --repo"),
    };
    if let Some(prefix) = names.first() {
        crate::backport::ensure_fix_fits_fork(prefix, &fork, config)?;
    }
    let onto = match (&args.onto, repo_config) {
        (Some(b), _) => b.clone(),
        (None, Some(r)) => r.branch.clone(),
        (None, None) => bail!("which branch? pass --onto <BRANCH> or set `branch` in els.toml"),
    };
    let upstream = match (&args.upstream, repo_config) {
        (Some(u), _) => Some(local_or_url(u, cwd)),
        (None, Some(r)) => Some(local_or_url(&r.upstream, root)),
        (None, None) => None,
    };
    let (fixes, pulls) = pull_fix::expand(fix_args, upstream.as_deref(), || {
        github::GitHub::connect(&backport_pr::settings(config), github::Auth::Optional)
    })?;
    for p in &pulls {
        if !args.json {
            eprintln!(
                "pr:{} ({:?}) → {} commit(s), {:?}",
                p.number,
                p.title,
                p.commits.len(),
                p.landing
            );
        }
    }
    let mainline = match args.mainline {
        Some(m) => Some(m),
        // A merge-committed pull request is picked against the release branch, its parent 1.
        None if pulls.iter().any(|p| p.needs_mainline()) => Some(1),
        None => None,
    };
    let request = Request {
        fork,
        onto,
        repo_name: name.or_else(|| repo_config.map(|r| r.name.clone())),
        upstream: upstream.clone(),
        upstream_branches: repo_config
            .map(|r| r.upstream_branches.clone())
            .unwrap_or_else(|| vec!["release/8.0".into(), "release/9.0".into()]),
        remaps: repo_config.map(|r| r.remaps.clone()).unwrap_or_default(),
        fixes,
        cve: args.cve.as_ref().map(CveId::to_string),
        mainline,
        dry_run: args.dry_run,
        skip_conflicts: args.skip_conflicts,
        conflict_worktree: args.worktree.as_ref().map(|w| cwd.join(w)),
        quiet: args.json,
    };
    Ok((request, upstream))
}

/// A URL stays as is; anything else is a path, made absolute against `base`.
fn local_or_url(location: &str, base: &Path) -> String {
    if location.contains("://") || location.starts_with("git@") {
        location.to_string()
    } else {
        base.join(location).display().to_string()
    }
}

/// The fork to continue or abort: `--fork`, or the configured repository with a backport in
/// progress.
fn fork_for_resume(args: &Args, config: Option<&Config>, cwd: &Path) -> Result<PathBuf> {
    if let Some(f) = &args.fork {
        return Ok(cwd.join(f));
    }
    let Some(config) = config else {
        bail!("which fork? pass --fork <PATH>")
    };
    if let Some(name) = &args.repo {
        return Ok(config.resolve(&config.repo(name)?.path));
    }
    let in_progress: Vec<PathBuf> = config
        .repos
        .iter()
        .map(|r| config.resolve(&r.path))
        .filter(|p| {
            git2::Repository::open(p)
                .is_ok_and(|repo| repo.commondir().join("els/backport-state.json").exists())
        })
        .collect();
    match in_progress.as_slice() {
        [one] => Ok(one.clone()),
        [] => bail!("no backport is in progress in any configured repository"),
        many => bail!(
            "backports are in progress in several repositories ({}); name one with --fork",
            many.iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

fn render(
    report: &Report,
    queue: Option<&patches::RepoExport>,
    published: Option<Option<Published>>,
    json: bool,
) -> Result<Outcome> {
    if json {
        let document = backport::Document {
            report,
            pull_request: published.as_ref().map(Option::as_ref),
            queue: queue.map(|q| backport::QueueRecord {
                dir: q.dir.clone(),
                patches: q.patches.len(),
                removed: q.removed.clone(),
                written: q.written,
            }),
        };
        println!("{}", crate::schemas::to_json(&document)?);
    } else {
        print!("{}", report.human(crate::console::stdout_width()));
        if let Some(q) = queue {
            println!(
                "recorded in the patch queue {}: {} patch(es){}",
                q.dir.display(),
                q.patches.len(),
                if q.written { "" } else { ", unchanged" }
            );
        }
        match &published {
            Some(Some(p)) => println!("\n{}", p.summary_line()),
            Some(None) => println!(
                "\nno pull request: every fix is already on `{}`",
                report.onto
            ),
            None => {}
        }
    }
    if let Some(Some(p)) = &published {
        if p.push == Push::KeptOthersWork {
            console::annotate(Annotation::Warning, None, None, &p.summary_line());
        }
        console::step_summary(&format!("{}\n", p.summary_line()))?;
    }
    for f in &report.fixes {
        for path in &f.public_api {
            console::annotate(
                Annotation::Warning,
                Some(path),
                None,
                &format!(
                    "{} is public-api: it changes this reference source; servicing adds no public API (justify it with API-Change: and apicompat.toml, or leave the API part out)",
                    f.fix
                ),
            );
        }
        for c in &f.conflicts {
            console::annotate(
                Annotation::Error,
                Some(&c.path),
                None,
                &format!(
                    "{} conflicts here ({} conflict, {})",
                    f.fix, c.kind, c.class
                ),
            );
        }
    }
    console::step_summary(&report.markdown())?;
    Ok(if report.stopped() || report.skipped() > 0 {
        Outcome::Failure
    } else {
        Outcome::Success
    })
}
