use std::path::PathBuf;

use anyhow::{bail, Context as _, Result};

use super::{Context, Outcome};
use crate::config::Config;
use crate::console::{self, paint, Annotation, Style};
use crate::patches::{self, Against, ExportOptions, RepoExport};

/// Keep the patch queue (runtime-patches/): base tag + series = fork branch.
///
/// `export` writes the queue from the fork branches, `refresh` updates it after a rebase or a
/// hand-resolved conflict, `apply` rebuilds a branch from it, `verify` is its lint and CI gate.
/// Repositories, branches and base tags come from els.toml.
///
/// Example: cargo xtask patches export && cargo xtask patches verify
#[derive(Debug, clap::Args)]
#[command(verbatim_doc_comment)]
#[command(after_long_help = super::exit::by_subcommand())]
pub struct Args {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    #[command(after_long_help = super::exit::plain("the queue written"))]
    Export(ExportArgs),
    #[command(after_long_help = super::exit::gate("the queue refreshed (or, with --dry-run, up to date)", "with --dry-run, the queue is out of date"))]
    Refresh(RefreshArgs),
    #[command(after_long_help = super::exit::plain("the branch rebuilt from the queue"))]
    Apply(ApplyArgs),
    #[command(after_long_help = super::exit::gate("the queue is sound", "a problem in the queue (each printed)"))]
    Verify(VerifyArgs),
}

/// Write each fork branch's commits since its base tag as the repository's patch queue.
///
/// One `git format-patch` file per commit with DEP-3 fields (Origin upstream/backport/vendor,
/// CVE, Bug, Applied-Upstream, Last-Update), under `<repo>/<CVE>/` or `<repo>/misc/`, plus an
/// ordered `series`. The queue is replaced as a whole; exporting twice gives identical bytes.
///
/// Example: cargo xtask patches export --repo runtime
#[derive(Debug, clap::Args)]
#[command(verbatim_doc_comment)]
pub struct ExportArgs {
    /// Only these configured repositories (default: all).
    #[arg(long, value_name = "NAME")]
    pub repo: Vec<String>,
    /// Print the report as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

/// Update an existing queue after the fork branch was rebased or a conflict resolved by hand.
///
/// Patches whose change no longer equals upstream's become `Origin: backport` with a note
/// listing the files that differ; unchanged patches keep their bytes and Last-Update.
/// With --dry-run nothing is written and the exit status is 1 when the queue is out of date.
///
/// Example: cargo xtask patches refresh --repo runtime --dry-run
#[derive(Debug, clap::Args)]
#[command(verbatim_doc_comment)]
pub struct RefreshArgs {
    /// Only these configured repositories (default: all that have a queue).
    #[arg(long, value_name = "NAME")]
    pub repo: Vec<String>,
    /// Report what would change, write nothing; exit 1 when something would.
    #[arg(long)]
    pub dry_run: bool,
    /// Print the report as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

/// Rebuild a branch from the base tag and the series, in memory, without fuzz.
///
/// Creates a new branch (default `<branch>-rebuilt`) and never overwrites one unless --force;
/// refuses a dirty target. Commits get the patch's author, date and message (author as
/// committer), so rebuilding twice gives the same commit ids.
///
/// Example: cargo xtask patches apply --repo runtime --target ../runtime-clean --onto release/6.0-els
#[derive(Debug, clap::Args)]
#[command(verbatim_doc_comment)]
pub struct ApplyArgs {
    /// The configured repository whose queue to apply (needed when several are configured).
    #[arg(long, value_name = "NAME")]
    pub repo: Option<String>,
    /// The repository to create the branch in (default: the configured clone).
    #[arg(long, value_name = "PATH")]
    pub target: Option<PathBuf>,
    /// The revision to apply onto (default: the configured base tag).
    #[arg(long, value_name = "TAG")]
    pub base: Option<String>,
    /// The branch to create (default: `<branch>-rebuilt`).
    #[arg(long, value_name = "BRANCH")]
    pub onto: Option<String>,
    /// Replace the branch when it exists (never one that is checked out).
    #[arg(long)]
    pub force: bool,
    /// Print the report as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

/// Check the queue: parses, headers, series, safe paths, no duplicates, applies, matches the fork.
///
/// Each problem is printed as `file:line: message` (and as a GitHub annotation in Actions);
/// exit status 1 when there is any.
///
/// Example: cargo xtask patches verify --repo runtime --against release/6.0-els
#[derive(Debug, clap::Args)]
#[command(verbatim_doc_comment)]
pub struct VerifyArgs {
    /// Only these configured repositories (default: all that have a queue).
    #[arg(long, value_name = "NAME")]
    pub repo: Vec<String>,
    /// Compare the rebuilt tree with this branch (default: the configured branch, if present).
    #[arg(long, value_name = "BRANCH", conflicts_with = "no_compare")]
    pub against: Option<String>,
    /// Do not compare the rebuilt tree with any branch.
    #[arg(long)]
    pub no_compare: bool,
    /// Print the report as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: Args, ctx: &Context) -> Result<Outcome> {
    let config = ctx.require_config()?;
    match args.command {
        Command::Export(a) => export(&config, &a.repo, ExportOptions::default(), a.json),
        Command::Refresh(a) => {
            let opts = ExportOptions {
                dry_run: a.dry_run,
                require_existing: true,
            };
            export(&config, &with_queue(&config, a.repo)?, opts, a.json)
        }
        Command::Apply(a) => apply(&config, a),
        Command::Verify(a) => verify(&config, a),
    }
}

/// `only`, or every selected repository that has a queue directory.
fn with_queue(config: &Config, only: Vec<String>) -> Result<Vec<String>> {
    if !only.is_empty() {
        return Ok(only);
    }
    let names: Vec<String> = patches::selected_repos(config, &[])?
        .into_iter()
        .filter(|rc| patches::has_queue(config, &rc.name))
        .map(|rc| rc.name.clone())
        .collect();
    if names.is_empty() {
        bail!(
            "there is no queue in {}; create it with `cargo xtask patches export`",
            config.patches_dir().display()
        );
    }
    Ok(names)
}

fn export(config: &Config, only: &[String], opts: ExportOptions, json: bool) -> Result<Outcome> {
    let mut reports = Vec::new();
    for rc in patches::selected_repos(config, only)? {
        reports.push(patches::export_with(config, &rc.name, opts)?);
    }
    if json {
        println!(
            "{}",
            crate::schemas::to_json(&patches::ExportSummary {
                repos: reports.clone()
            })?
        );
    } else {
        for r in &reports {
            print!("{}", r.human(opts.dry_run));
        }
    }
    let stale = opts.dry_run && reports.iter().any(RepoExport::changed);
    Ok(if stale {
        Outcome::Failure
    } else {
        Outcome::Success
    })
}

fn apply(config: &Config, a: ApplyArgs) -> Result<Outcome> {
    let only: Vec<String> = a.repo.iter().cloned().collect();
    let repos = patches::selected_repos(config, &only)?;
    let [rc] = repos[..] else {
        let names: Vec<&str> = repos.iter().map(|r| r.name.as_str()).collect();
        bail!(
            "several repositories are configured ({}); name one with --repo",
            names.join(", ")
        );
    };
    let target = match &a.target {
        Some(t) => std::env::current_dir()?.join(t),
        None => config.resolve(&rc.path),
    };
    let req = patches::ApplyRequest {
        queue: config.patches_dir().join(&rc.name),
        target,
        base: a.base.clone().unwrap_or_else(|| rc.base.clone()),
        onto: a
            .onto
            .clone()
            .unwrap_or_else(|| format!("{}-rebuilt", rc.branch)),
        force: a.force,
    };
    let report =
        patches::apply(&req).with_context(|| format!("cannot apply the `{}` queue", rc.name))?;
    if a.json {
        println!("{}", crate::schemas::to_json(&report)?);
    } else {
        println!(
            "{} {} patch(es) onto {} as `{}` in {}: commit {}, tree {}",
            paint("applied", Style::Good),
            report.patches.len(),
            report.base,
            report.onto,
            report.target.display(),
            report.tip,
            report.tree
        );
    }
    Ok(Outcome::Success)
}

fn verify(config: &Config, a: VerifyArgs) -> Result<Outcome> {
    let against = match (&a.against, a.no_compare) {
        (Some(b), _) => Against::Branch(b.clone()),
        (None, true) => Against::Nothing,
        (None, false) => Against::Configured,
    };
    let mut reports = Vec::new();
    for name in with_queue(config, a.repo)? {
        reports.push(patches::verify_repo(config, &name, &against)?);
    }
    let mut summary =
        String::from("### Patch queue\n\n| repository | patches | result |\n| --- | --- | --- |\n");
    for r in &reports {
        for p in &r.problems {
            console::annotate(Annotation::Error, Some(&p.file), Some(p.line), &p.message);
        }
        summary.push_str(&format!(
            "| {} | {} | {} |\n",
            r.repo,
            r.patches,
            if r.ok() {
                "ok".to_string()
            } else {
                format!("{} problem(s)", r.problems.len())
            }
        ));
    }
    console::step_summary(&summary)?;
    if a.json {
        println!(
            "{}",
            crate::schemas::to_json(&patches::VerifySummary {
                repos: reports.clone()
            })?
        );
    } else {
        for r in &reports {
            for p in &r.problems {
                println!(
                    "{}:{}: {} {}",
                    p.file,
                    p.line,
                    paint("error:", Style::Bad),
                    p.message
                );
            }
            let status = if r.ok() {
                paint("ok", Style::Good)
            } else {
                paint(&format!("{} problem(s)", r.problems.len()), Style::Bad)
            };
            let detail = match (&r.tree, &r.against, r.applied) {
                (Some(t), Some(b), _) if r.ok() => format!("; rebuilds tree {t} = branch `{b}`"),
                (Some(t), None, _) => format!("; rebuilds tree {t}"),
                (_, _, false) => "; not applied until the problems above are fixed".to_string(),
                _ => String::new(),
            };
            println!(
                "{}: {} patch(es), {status}{detail}",
                paint(&r.repo, Style::Bold),
                r.patches
            );
        }
    }
    Ok(if reports.iter().all(|r| r.ok()) {
        Outcome::Success
    } else {
        Outcome::Failure
    })
}
