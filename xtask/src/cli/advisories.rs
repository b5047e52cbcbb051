use std::path::PathBuf;

use anyhow::{Context as _, Result};
use jiff::civil::Date;

use super::{Context, Outcome};
use crate::advisories::plan::plan;
use crate::advisories::queue::QueueCves;
use crate::advisories::source::Source;
use crate::advisories::status::{render_markdown, render_table, Status, StatusReport};
use crate::advisories::triage::Triage;
use crate::advisories::{sync, Paths, Snapshot};
use crate::config::{AdvisoriesSettings, Config};
use crate::console::{self, Annotation};

/// The CVEs published after .NET 6's end of support: status (the default), sync, plan.
///
/// Without a subcommand, prints the status table: one row per CVE with its fixes, the fork's
/// status and the remediation deadline. Exits 1 when a CVE is overdue or needs triage.
///
/// Example: `cargo xtask advisories --today 2026-04-01 --markdown`
#[derive(Debug, clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
#[command(after_long_help = super::exit::gate("no CVE needs attention", "a CVE is overdue or needs triage"))]
pub struct Args {
    #[command(subcommand)]
    pub command: Option<Sub>,
    #[command(flatten)]
    pub status: StatusArgs,
}

#[derive(Debug, clap::Subcommand)]
pub enum Sub {
    #[command(after_long_help = super::exit::plain("the snapshot written (or unchanged)"))]
    Sync(SyncArgs),
    #[command(after_long_help = super::exit::plain("the plan printed"))]
    Plan(PlanArgs),
}

/// Where the advisory files are; each flag overrides `[advisories]` / `[patches]` in els.toml.
#[derive(Debug, clap::Args)]
pub struct FileArgs {
    /// The advisory snapshot (default: `[advisories] snapshot`, advisories/snapshot.json).
    #[arg(long, value_name = "FILE")]
    pub snapshot: Option<PathBuf>,
    /// The triage file (default: `[advisories] triage`, advisories/triage.toml).
    #[arg(long, value_name = "FILE")]
    pub triage: Option<PathBuf>,
    /// The patch queue whose `CVE:` fields mark CVEs backported (default: `[patches] dir`).
    #[arg(long, value_name = "DIR")]
    pub patches: Option<PathBuf>,
}

/// Print the advisory status table.
#[derive(Debug, clap::Args)]
pub struct StatusArgs {
    #[command(flatten)]
    pub files: FileArgs,
    /// The date deadlines are checked against (default: today in UTC), YYYY-MM-DD.
    #[arg(long, value_name = "YYYY-MM-DD")]
    pub today: Option<Date>,
    /// Print the report as JSON.
    #[arg(long, conflicts_with = "markdown")]
    pub json: bool,
    /// Print the report as Markdown (what goes into a GitHub step summary).
    #[arg(long)]
    pub markdown: bool,
}

/// Read Microsoft's release metadata and write the advisory snapshot.
///
/// Reads the timeline cve.json files from the `[advisories] since` month on and the releases.json
/// of each configured channel, from a local directory (a dotnet/core clone or a flat copy) or
/// from GitHub. The token comes from GH_TOKEN, else GITHUB_TOKEN, when set.
///
/// Example: `cargo xtask advisories sync --source ../dotnet-core`
#[derive(Debug, clap::Args)]
pub struct SyncArgs {
    /// A local copy of dotnet/core's release metadata (default: `[advisories] source`).
    #[arg(long, value_name = "DIR", conflicts_with = "github")]
    pub source: Option<PathBuf>,
    /// Read from GitHub's contents API instead of a local directory.
    #[arg(long)]
    pub github: bool,
    /// The GitHub API base URL (default: `[github] api-url`).
    #[arg(long, env = "GITHUB_API_URL", value_name = "URL")]
    pub api_url: Option<String>,
    /// The snapshot to write (default: `[advisories] snapshot`).
    #[arg(long, value_name = "FILE")]
    pub snapshot: Option<PathBuf>,
    /// Print what was synced as JSON.
    #[arg(long)]
    pub json: bool,
    /// No progress lines on stderr.
    #[arg(long, short)]
    pub quiet: bool,
}

/// Print the `cargo xtask backport` commands for every pending CVE.
///
/// One command per CVE and repository, commits in pick order, taken from release/8.0 first,
/// then release/9.0, then the combined dotnet/dotnet repository.
///
/// Example: `cargo xtask advisories plan --json`
#[derive(Debug, clap::Args)]
pub struct PlanArgs {
    #[command(flatten)]
    pub files: FileArgs,
    /// Print the plan as JSON.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: Args, ctx: &Context) -> Result<Outcome> {
    let config = ctx.config()?;
    match args.command {
        None => run_status(args.status, config.as_ref(), ctx),
        Some(Sub::Sync(a)) => run_sync(a, config.as_ref(), ctx),
        Some(Sub::Plan(a)) => run_plan(a, config.as_ref(), ctx),
    }
}

/// The inputs every report joins, with flag overrides applied.
pub(super) struct Inputs {
    pub snapshot: Snapshot,
    pub triage: Triage,
    pub queue: QueueCves,
}

impl Inputs {
    /// The status of every tracked CVE on `today`.
    pub fn status(&self, today: Date, sla_days: &crate::config::SlaDays) -> StatusReport {
        StatusReport::compute(&self.snapshot, &self.triage, &self.queue, today, sla_days)
    }
}

pub(super) fn load_inputs(
    files: &FileArgs,
    config: Option<&Config>,
    ctx: &Context,
) -> Result<Inputs> {
    let defaults = Paths::from_config(config, ctx.cwd());
    let pick = |flag: &Option<PathBuf>, default: PathBuf| {
        flag.as_ref().map(|p| ctx.cwd().join(p)).unwrap_or(default)
    };
    Ok(Inputs {
        snapshot: Snapshot::load(&pick(&files.snapshot, defaults.snapshot))?,
        triage: Triage::load(&pick(&files.triage, defaults.triage))?,
        queue: QueueCves::read(&pick(&files.patches, defaults.patches))?,
    })
}

pub(super) fn settings(config: Option<&Config>) -> AdvisoriesSettings {
    config.map(|c| c.advisories.clone()).unwrap_or_default()
}

pub(super) fn today(flag: Option<Date>) -> Date {
    flag.unwrap_or_else(crate::version::today_utc)
}

fn run_status(args: StatusArgs, config: Option<&Config>, ctx: &Context) -> Result<Outcome> {
    let inputs = load_inputs(&args.files, config, ctx)?;
    let settings = settings(config);
    let report = inputs.status(today(args.today), &settings.sla_days);
    if args.json {
        println!("{}", crate::schemas::to_json(&report)?);
    } else if args.markdown {
        print!("{}", render_markdown(&report));
    } else {
        print!("{}", render_table(&report, crate::console::stdout_width()));
    }
    if console::in_github_actions() {
        for row in &report.rows {
            if let Some(days) = row.overdue_days {
                let msg = format!(
                    "{} is {days} days past its remediation deadline {} ({})",
                    row.id,
                    row.deadline,
                    row.status.as_str()
                );
                console::annotate(Annotation::Error, None, None, &msg);
            } else if row.status == Status::NeedsTriage {
                console::annotate(
                    Annotation::Warning,
                    None,
                    None,
                    &format!("{} needs triage: {}", row.id, row.note),
                );
            }
        }
        console::step_summary(&render_markdown(&report))?;
    }
    Ok(if report.needs_attention() {
        Outcome::Failure
    } else {
        Outcome::Success
    })
}

fn run_sync(args: SyncArgs, config: Option<&Config>, ctx: &Context) -> Result<Outcome> {
    let settings = settings(config);
    let defaults = Paths::from_config(config, ctx.cwd());
    let snapshot_path = args
        .snapshot
        .map(|p| ctx.cwd().join(p))
        .unwrap_or(defaults.snapshot);
    let source = match &args.source {
        Some(dir) => Source::Dir(ctx.cwd().join(dir)),
        None => Source::configured(config, args.github, args.api_url),
    };
    let quiet = args.quiet || args.json;
    if !quiet {
        eprintln!(
            "{}",
            console::paint_err(
                &format!("reading {}", source.describe()),
                console::Style::Dim
            )
        );
    }
    let outcome = sync(&source, &settings, &snapshot_path, quiet).with_context(|| {
        format!(
            "advisories sync from {} failed; the snapshot was not changed",
            source.describe()
        )
    })?;
    for w in &outcome.warnings {
        eprintln!(
            "{} {w}",
            console::paint_err("warning:", console::Style::Warn)
        );
        console::annotate(Annotation::Warning, None, None, &w.to_string());
    }
    let count = outcome.snapshot.advisories.len();
    if args.json {
        let report = crate::advisories::SyncReport {
            snapshot: snapshot_path.clone(),
            advisories: count,
            changed: outcome.changed,
            warnings: outcome.warnings.iter().map(ToString::to_string).collect(),
        };
        println!("{}", crate::schemas::to_json(&report)?);
    } else {
        let what = if outcome.changed {
            "wrote"
        } else {
            "unchanged:"
        };
        println!(
            "{what} {} ({count} CVEs since {})",
            snapshot_path.display(),
            settings.since
        );
    }
    Ok(Outcome::Success)
}

fn run_plan(args: PlanArgs, config: Option<&Config>, ctx: &Context) -> Result<Outcome> {
    let inputs = load_inputs(&args.files, config, ctx)?;
    let settings = settings(config);
    let report = inputs.status(today(None), &settings.sla_days);
    let plan = plan(&inputs.snapshot, &report, config);
    for w in &plan.warnings {
        eprintln!(
            "{} {w}",
            console::paint_err("warning:", console::Style::Warn)
        );
        console::annotate(Annotation::Warning, None, None, w);
    }
    if args.json {
        println!("{}", crate::schemas::to_json(&plan)?);
    } else {
        for b in &plan.backports {
            println!("{}", b.command_line());
        }
    }
    Ok(Outcome::Success)
}
