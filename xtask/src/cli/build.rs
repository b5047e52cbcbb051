use anyhow::Result;

use super::{Context, Outcome};
use crate::console::{paint, paint_err, Style};
use crate::official_build::{build, Arch, Options, Os, RepoBuild};

/// Build the fork's runtime and ASP.NET Core (on Windows also winforms, wpf and windowsdesktop,
/// the Windows Desktop runtime) for one OS and architecture, then collect the
/// shipping artifacts with a manifest (name, size, SHA-512) into <artifacts-dir>/<version>/<rid>/.
///
/// Example: `cargo xtask build --os linux --arch x64` (or `--os windows --dry-run` to print the
/// build.cmd command lines)
#[derive(Debug, clap::Args)]
#[command(after_long_help = super::exit::gate("built and collected (or the plan printed)", "a build failed; its log is named"))]
pub struct Args {
    #[arg(long, value_enum)]
    pub os: Os,
    #[arg(long, value_enum, default_value = "x64")]
    pub arch: Arch,
    /// Build only these repositories (runtime, aspnetcore; on Windows also winforms, wpf,
    /// windowsdesktop); default all configured ones, in dependency order.
    #[arg(long = "repo", value_name = "NAME")]
    pub repos: Vec<String>,
    /// The official build id (yyyyMMdd.r); default today's date and the next counter.
    #[arg(long, value_name = "ID")]
    pub official_build_id: Option<crate::version::BuildId>,
    /// Print the command lines and environment without running anything.
    #[arg(long)]
    pub dry_run: bool,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: Args, ctx: &Context) -> Result<Outcome> {
    let config = ctx.require_config()?;
    let options = Options {
        os: args.os,
        arch: args.arch,
        repos: args.repos,
        build_id: args.official_build_id,
        dry_run: args.dry_run,
        quiet: args.json,
    };
    let report = build(&config, &options)?;
    let outcome = if report.succeeded {
        Outcome::Success
    } else {
        Outcome::Failure
    };
    if args.json {
        println!("{}", crate::schemas::to_json(&report)?);
        return Ok(outcome);
    }
    println!(
        "{} {} for {}, OfficialBuildId {}",
        if report.dry_run {
            "would build"
        } else {
            "built"
        },
        report.version,
        report.rid,
        report.official_build_id
    );
    for tool in &report.missing_prerequisites {
        println!(
            "{} {tool} is not on PATH here",
            paint("warning:", Style::Warn)
        );
    }
    for b in &report.repos {
        print_repo(b, report.rid.starts_with("win"));
    }
    for missing in &report.missing_artifacts {
        eprintln!(
            "{} the build did not produce the expected artifact {missing}",
            paint_err("error:", Style::Bad)
        );
    }
    if let Some(m) = &report.manifest {
        println!("artifacts: {}", m.display());
    }
    crate::console::step_summary(&format!(
        "### build {} {}\n{}\n",
        report.rid,
        report.version,
        report
            .repos
            .iter()
            .map(|b| format!("- {}: {} ({:.0}s)", b.repo, b.status, b.elapsed_secs))
            .collect::<Vec<_>>()
            .join("\n")
    ))?;
    Ok(outcome)
}

/// One repository's build: the command lines to paste into that OS's shell (cmd.exe for
/// `windows`), its feeds and log; a failure's last error lines go to stderr and the CI log.
fn print_repo(b: &RepoBuild, windows: bool) {
    println!("{} [{}]", paint(&b.repo, Style::Bold), b.status);
    // The lines a user pastes into that OS's shell: cmd.exe for Windows builds.
    if windows {
        println!("  cd /d {}", b.dir.display());
        for (k, v) in &b.env {
            println!("  set {k}={v}");
        }
    } else {
        println!("  cd {}", b.dir.display());
        for (k, v) in &b.env {
            println!("  {k}={v}");
        }
    }
    println!("  {}", b.command.join(" "));
    if !b.feeds.removed.is_empty() {
        let added = b
            .feeds
            .added
            .as_deref()
            .map(|f| format!("; added {f}"))
            .unwrap_or_default();
        println!(
            "  NuGet.config: removed internal feeds {}{added}",
            b.feeds.removed.join(", ")
        );
    }
    if b.status != "planned" {
        println!("  log: {} ({:.1}s)", b.log.display(), b.elapsed_secs);
    }
    if b.status == "failed" {
        let msg = format!(
            "the {} build failed; last error lines of {}:",
            b.repo,
            b.log.display()
        );
        eprintln!("{} {msg}", paint_err("error:", Style::Bad));
        for line in &b.error_tail {
            eprintln!("  {line}");
        }
        crate::console::annotate(
            crate::console::Annotation::Error,
            None,
            None,
            &format!("{msg}\n{}", b.error_tail.join("\n")),
        );
    }
}
