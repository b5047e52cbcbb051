use std::path::PathBuf;

use anyhow::{bail, Result};
use clap::Parser;

use super::{Cli, Context, Outcome};
use crate::console::{paint, Style};
use crate::demo;

/// Run every stage of the loop for real on a throwaway sandbox shaped like the fork.
///
/// Builds an upstream dotnet/runtime-like repository (release/6.0, and release/8.0 with
/// security fixes) and a fork (release/6.0-els) with an els.toml, then runs the same commands a
/// maintainer runs, printing each command line and its real output.
///
/// Example: cargo xtask demo
///
/// Example: cargo xtask demo --dir /tmp/els-demo --keep
#[derive(Debug, clap::Args)]
#[command(verbatim_doc_comment)]
pub struct Args {
    /// Where to build the sandbox (default: a new temporary directory).
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// Keep the sandbox afterwards (always kept with --dir).
    #[arg(long)]
    pub keep: bool,
}

pub fn run(args: Args, ctx: &Context) -> Result<Outcome> {
    let temp;
    let root = match &args.dir {
        Some(dir) => {
            let dir = ctx.cwd().join(dir);
            if dir.exists() && std::fs::read_dir(&dir)?.next().is_some() {
                bail!(
                    "{} is not empty; give --dir a new or empty directory",
                    dir.display()
                );
            }
            dir
        }
        None => {
            temp = tempfile::Builder::new().prefix("els-demo-").tempdir()?;
            if args.keep {
                temp.keep()
            } else {
                temp.path().to_path_buf()
            }
        }
    };
    println!(
        "{}",
        paint(
            &format!("Building a sandbox in {}", root.display()),
            Style::Bold
        )
    );
    let sb = demo::build(&root)?;
    println!(
        "  upstream: {} (release/6.0, release/8.0 with 3 fixes)",
        sb.upstream.display()
    );
    println!(
        "  fork:     {} (release/6.0-els, one fix already picked by hand)",
        sb.fork.display()
    );
    println!(
        "  config:   {}\n",
        root.join(crate::config::FILE_NAME).display()
    );

    let clean = demo::cve_json_key("runtime", sb.clean_fix);
    let already = demo::cve_json_key("runtime", sb.already_applied_fix);
    let conflict = demo::cve_json_key("runtime", sb.versions_conflict_fix);
    let stages: Vec<(&str, Vec<String>, Outcome)> = vec![
        (
            "Decide every outcome first, changing nothing",
            words(&[
                "backport",
                "--dry-run",
                "--cve",
                "CVE-2025-55247",
                &clean,
                &already,
            ]),
            Outcome::Success,
        ),
        (
            "Backport a clean fix and one the fork already has",
            words(&["backport", "--cve", "CVE-2025-55247", &clean, &already]),
            Outcome::Success,
        ),
        (
            "A fix that also bumps eng/Versions.props stops at a conflict",
            words(&["backport", "--cve", "CVE-2025-55315", &conflict]),
            Outcome::Failure,
        ),
        (
            "Give up on it: the branch is restored exactly",
            words(&["backport", "--abort"]),
            Outcome::Success,
        ),
        (
            "Try again, to resolve it this time",
            words(&["backport", "--cve", "CVE-2025-55315", &conflict]),
            Outcome::Failure,
        ),
    ];
    for (title, argv, expected) in stages {
        stage(&root, title, argv, expected)?;
    }
    println!(
        "{}",
        paint(
            "== Resolve: keep the fork's eng/Versions.props (the code part merged)",
            Style::Bold
        )
    );
    println!("$ git checkout --ours eng/Versions.props && git add eng/Versions.props");
    demo::keep_ours(&sb.fork, "eng/Versions.props")?;
    println!();
    stage(
        &root,
        "Finish the backport",
        words(&["backport", "--continue"]),
        Outcome::Success,
    )?;
    println!(
        "{}",
        paint("The demo ran every stage for real.", Style::Good)
    );
    if args.keep || args.dir.is_some() {
        println!(
            "The sandbox stays in {}: try `cd {} && cargo xtask backport --help`.",
            root.display(),
            root.display()
        );
    }
    Ok(Outcome::Success)
}

fn words(w: &[&str]) -> Vec<String> {
    w.iter().map(|s| s.to_string()).collect()
}

/// Runs one command line in-process in the sandbox, as a user would type it there.
fn stage(root: &std::path::Path, title: &str, argv: Vec<String>, expected: Outcome) -> Result<()> {
    println!("{}", paint(&format!("== {title}"), Style::Bold));
    println!("$ cargo xtask {}", argv.join(" "));
    let cli = Cli::try_parse_from(
        std::iter::once("cargo xtask".to_string()).chain(argv.iter().cloned()),
    )?;
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
