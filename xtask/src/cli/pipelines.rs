use std::path::{Path, PathBuf};

use anyhow::Result;

use super::{Context, Outcome};
use crate::console::{self, paint, Annotation, Style};
use crate::pipelines::{self, CheckReport};

/// Check the GitHub Actions workflows against the toolkit.
///
/// Example: cargo xtask pipelines check
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub command: PipelinesCommand,
}

#[derive(Debug, clap::Subcommand)]
pub enum PipelinesCommand {
    Check(CheckArgs),
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
    let PipelinesCommand::Check(args) = args.command;
    let root = match &args.root {
        Some(r) => ctx.cwd().join(r),
        None => default_root(ctx.cwd()),
    };
    let files = pipelines::workflow_files(&root, &args.paths)?;
    let report = pipelines::check(&root, &files)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", human(&report));
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
        console::step_summary(&markdown(&report))?;
    }
    Ok(if report.problems.is_empty() {
        Outcome::Success
    } else {
        Outcome::Failure
    })
}

fn default_root(cwd: &Path) -> PathBuf {
    cwd.ancestors()
        .find(|d| d.join("pipelines").is_dir() || d.join(".github").is_dir())
        .unwrap_or(cwd)
        .to_path_buf()
}

fn human(report: &CheckReport) -> String {
    let mut out = String::new();
    for p in &report.problems {
        out.push_str(&format!("{} {p}\n", paint("error:", Style::Bad)));
    }
    let summary = format!(
        "{} workflow file(s), {} `cargo xtask` invocation(s), {} problem(s)",
        report.files.len(),
        report.invocations,
        report.problems.len()
    );
    let style = if report.problems.is_empty() {
        Style::Good
    } else {
        Style::Bad
    };
    out.push_str(&paint(&summary, style));
    out.push('\n');
    out
}

fn markdown(report: &CheckReport) -> String {
    let mut out = String::from("### pipelines check\n\n| where | problem |\n|---|---|\n");
    for p in &report.problems {
        out.push_str(&format!(
            "| `{}:{}` | {} |\n",
            p.file.display(),
            p.line,
            p.message.replace('|', "\\|")
        ));
    }
    out
}
