use std::path::{Path, PathBuf};

use anyhow::{bail, Result};
use clap::Parser;

use super::{Cli, Context, Outcome};
use crate::console::{paint, Style};
use crate::fixtures::sandbox;

/// Run every stage of the loop for real on a throwaway sandbox shaped like the fork.
///
/// Builds an upstream dotnet/runtime-like repository (release/6.0, and release/8.0 with
/// security fixes) and a fork (release/6.0-els) with an els.toml, then runs the same commands a
/// maintainer runs — advisories, backport (clean, already applied, conflict, abort, resolve,
/// continue), the patch queue, VEX, the compat corpus on real runtimes, apicompat (one accepted
/// and one rejected public API difference), bump → build → release → sign → verify, the NuGet
/// feed, the Windows build's plan (runtime, aspnetcore, winforms, wpf, windowsdesktop) and
/// MSIs — printing each stage's `cargo xtask` command line (to stderr, to re-run it by
/// hand) and its real output. The sandbox's fixes stand in for the real release/8.0 commits
/// of CVE-2025-55248, CVE-2025-30399 and CVE-2025-21172.
///
/// Example: cargo xtask demo
///
/// Example: cargo xtask demo --dir /tmp/els-demo
#[derive(Debug, clap::Args)]
#[command(verbatim_doc_comment)]
#[command(after_long_help = super::exit::plain("every stage ran (the stages' own findings, such as overdue CVEs, are the demo's point)"))]
pub struct Args {
    /// Where to build the sandbox (default: a new temporary directory); it is kept.
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// Keep the temporary sandbox afterwards.
    #[arg(long)]
    pub keep: bool,
}

pub fn run(args: Args, ctx: &Context) -> Result<Outcome> {
    // Removed at the end of the run unless kept.
    let (root, _temp) = sandbox_dir(&args, ctx)?;
    heading(&format!("Building a sandbox in {}", root.display()));
    let toolkit = toolkit_root();
    let sb = sandbox::build(&root, &toolkit)?;
    println!(
        "  upstream: {} (release/6.0; release/8.0 with 3 fixes)",
        sb.upstream.display()
    );
    println!(
        "  fork:     {} (release/6.0-els; one fix already picked by hand)",
        sb.fork.display()
    );
    println!(
        "  config:   {}\n",
        root.join(crate::config::FILE_NAME).display()
    );

    advisories_backport_and_queue_stages(&root, &sb)?;
    let compat_ran = release_stages(&root, &toolkit)?;

    let summary = match compat_ran {
        true => "The demo ran every stage for real. The compat FAIL rows and apicompat's exit 1 above are the differences those stages exist to find.",
        false => "The demo ran every other stage for real; the compatibility stage did NOT run (the test runtimes are not installed, see above).",
    };
    println!("{}", paint(summary, Style::Good));
    if args.keep || args.dir.is_some() {
        println!(
            "The sandbox stays in {}: try `cd {} && cargo xtask backport --help`.",
            root.display(),
            root.display()
        );
    }
    Ok(Outcome::Success)
}

/// The sandbox's directory: `--dir` (new or empty), or a new temporary directory, returned too
/// so that it lives as long as the run when it is not kept.
fn sandbox_dir(args: &Args, ctx: &Context) -> Result<(PathBuf, Option<tempfile::TempDir>)> {
    if let Some(dir) = &args.dir {
        let dir = ctx.cwd().join(dir);
        if dir.exists() && std::fs::read_dir(&dir)?.next().is_some() {
            bail!(
                "{} is not empty; give --dir a new or empty directory",
                dir.display()
            );
        }
        return Ok((dir, None));
    }
    let temp = tempfile::Builder::new().prefix("els-demo-").tempdir()?;
    Ok(match args.keep {
        true => (temp.keep(), None),
        false => (temp.path().to_path_buf(), Some(temp)),
    })
}

/// Patch Tuesday in the sandbox: the advisories, the plan, the backports (clean, already
/// applied, a conflict aborted, then resolved and continued), the queue's round trip and VEX.
fn advisories_backport_and_queue_stages(root: &Path, sb: &sandbox::Sandbox) -> Result<()> {
    let clean = sandbox::cve_json_key("runtime", sb.clean_fix);
    let already = sandbox::cve_json_key("runtime", sb.already_applied_fix);
    let conflict = sandbox::cve_json_key("runtime", sb.versions_conflict_fix);
    let (clean_cve, already_cve, conflict_cve) = (
        sandbox::CLEAN_FIX_CVE,
        sandbox::ALREADY_APPLIED_CVE,
        sandbox::VERSIONS_CONFLICT_CVE,
    );
    use Outcome::{Failure, Success};
    let run = |title: &str, argv: &[&str], expected: Outcome| command(root, title, argv, expected);

    let config = crate::config::Config::load(&root.join(crate::config::FILE_NAME))?;
    heading("Patch Tuesday: every .NET CVE since 6.0's end of support, and ours");
    eprintln!(
        "$ cargo xtask advisories --today {}",
        crate::advisories::DEMO_TODAY
    );
    let (table, status) = crate::advisories::demo(&config, &config.patches_dir())?;
    println!("{table}");
    if !status.needs_attention() {
        bail!(
            "the demo's advisory table should show overdue CVEs as of {}",
            crate::advisories::DEMO_TODAY
        );
    }
    println!("(exit status 1: some CVEs are overdue or need triage)\n");
    run(
        "The backports to run for the pending ones",
        &["advisories", "plan"],
        Success,
    )?;
    run(
        "In the sandbox (its fixes stand in for the real ones): decide every outcome first, changing nothing",
        &["backport", "--dry-run", &clean, &already],
        Success,
    )?;
    run(
        "Backport the STARTTLS fix: it applies cleanly",
        &["backport", "--cve", clean_cve, &clean],
        Success,
    )?;
    run(
        "Backport the apphost fix: the fork already picked it by hand",
        &["backport", "--cve", already_cve, &already],
        Success,
    )?;
    run(
        "The msdia140.dll update in eng/Versions.props stops at a conflict",
        &["backport", "--cve", conflict_cve, &conflict],
        Failure,
    )?;
    run(
        "Give up on it: the branch is restored exactly",
        &["backport", "--abort"],
        Success,
    )?;
    run(
        "Try again, to resolve it this time",
        &["backport", "--cve", conflict_cve, &conflict],
        Failure,
    )?;
    heading("Resolve: the fork's eng/Versions.props (its 6.0 branding) with the new DIA version");
    eprintln!("$ {}", sandbox::RESOLVE_BY_HAND);
    sandbox::resolve_versions_conflict(&sb.fork)?;
    println!();
    run(
        "Finish the backport; it is recorded in the patch queue",
        &["backport", "--continue"],
        Success,
    )?;
    heading("The queue is the source of truth: base tag + series = the fork branch, byte for byte");
    eprintln!("$ cargo xtask patches export && cargo xtask patches verify && cargo xtask patches apply --onto release/6.0-els-rebuilt --force");
    let round_trip = crate::patches::round_trip(&config, "runtime")?;
    println!("{round_trip}\n");
    if !round_trip.verify.ok() || !round_trip.identical() {
        bail!("the demo's patch queue did not rebuild the fork branch");
    }
    run(
        "What auditors get: an OpenVEX statement per CVE for the next release",
        &["vex", "--product-version", "6.0.37", "--output", "vex.json"],
        Success,
    )?;

    Ok(())
}

/// The stages after the backports: compat, apicompat, bump → build → release → sign → verify,
/// the NuGet feed, the Windows build and MSIs, and the Linux package repositories. Returns
/// whether the compat stage ran (it needs the test runtimes).
fn release_stages(root: &Path, toolkit: &Path) -> Result<bool> {
    heading("Compatibility: the legacy app corpus on two real runtimes");
    let compat_ran = crate::compat::demo::demo(toolkit, &mut std::io::stdout())?;
    println!();
    heading("Servicing adds no public API: one difference accepted in apicompat.toml, one not");
    crate::apicompat::demo::demo(&root.join("release-stage"), &mut std::io::stdout())?;
    println!();
    heading("Bump → build (a fixture fork whose build scripts behave like the real ones) → release → sign → verify");
    let release = crate::release::demo::run_stage(&root.join("release-stage"), None)?;
    for line in &release.log {
        println!("  {line}");
    }
    println!("  release directory: {}", release.release_dir.display());
    println!("  release notes (from apicompat.toml):");
    for line in release.accepted_api_changes.trim().lines() {
        println!("    {line}");
    }
    println!();
    heading("The NuGet feed: lab → stable, the customers' nuget.config, an install with nuget.exe");
    let feed = crate::nuget_feed::demo::run_stage(
        &root.join("release-stage"),
        &release.release_dir,
        toolkit,
    )?;
    println!("{}\n", feed.join("\n"));
    command(
        &root.join("release-stage"),
        "Windows (in release-stage/, whose els.toml adds the desktop forks winforms, wpf, windowsdesktop): the build's cmd.exe lines",
        &["build", "--os", "windows", "--dry-run"],
        Outcome::Success,
    )?;
    heading("Windows: a release with the win-x64 archives (shaped from real Windows runtime files) in msi-stage/");
    let msi_stage = root.join("msi-stage");
    let windows_release = crate::package::demo::windows_release(
        &crate::compat::testenv::cache_dir(&crate::compat::testenv::target_dir(toolkit)),
        &msi_stage,
        &crate::version::today_iso(),
    )?;
    println!("  release directory: {}\n", windows_release.display());
    let windows_release_arg = windows_release.display().to_string();
    command(
        &msi_stage,
        "MSIs like Microsoft's, one per product, added to the release (wixl)",
        &[
            "package",
            "--release",
            &windows_release_arg,
            "--formats",
            "msi",
        ],
        Outcome::Success,
    )?;
    heading("What the MSIs install and register, read back with msitools");
    crate::package::demo::show_msis(&windows_release, &mut std::io::stdout())?;
    println!();
    heading("Linux packages → signed APT/DNF repositories: package → publish lab → promote to stable → verify");
    crate::repository::demo::demo(toolkit, &root.join("package-stage"), &mut std::io::stdout())?;

    Ok(compat_ran)
}

/// This repository: the demo copies its advisory snapshot and runs its app corpus.
pub(super) fn toolkit_root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().unwrap_or(manifest).to_path_buf()
}

fn heading(text: &str) {
    println!("{}", paint(&format!("== {text}"), Style::Bold));
}

/// Runs one command line in-process in the sandbox, as a user would type it there, and checks it
/// ended as expected.
fn command(root: &Path, title: &str, argv: &[&str], expected: Outcome) -> Result<()> {
    heading(title);
    eprintln!("$ cargo xtask {}", argv.join(" "));
    let cli = Cli::try_parse_from(std::iter::once("cargo xtask").chain(argv.iter().copied()))?;
    let ctx = Context {
        config_path: Some(root.join(crate::config::FILE_NAME)),
        cwd: root.to_path_buf(),
    };
    let outcome = super::dispatch(cli.command, &ctx)?;
    if outcome != expected {
        bail!("demo stage `{title}` ended with {outcome:?}, expected {expected:?}");
    }
    println!();
    Ok(())
}
