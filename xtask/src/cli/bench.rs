use std::path::PathBuf;

use anyhow::{Context as _, Result};

use super::{Context, Outcome};
use crate::bench::{self, Settings};

/// Measure the toolkit against the git CLI on a dotnet/runtime-shaped repository.
///
/// Generates (once, cached under target/bench-cache/) a repository with an old and a newer
/// release branch, then runs each comparison side by side on fresh identical clones: backporting
/// fixes vs a `git cherry-pick -x` loop, `cargo xtask cherry` vs `git cherry`, and how the
/// backport scales with fixes and tree size. Outcomes must be identical or the bench fails.
///
/// Cold and warm rows: a month's few fixes on a fresh clone (the patch-id cache empty, as CI
/// starts) and again on a clone an earlier run left its cache in.
///
/// Conflict rows: stopping at a conflict on a bare fork, until `git status` shows it in a
/// worktree, vs `git worktree add` + `git cherry-pick -x`; the fork's first conflict and later
/// ones (the toolkit's worktree kept from the first).
///
/// With --real the cold and warm rows run on a real repository instead: each run clones it,
/// puts a fork branch at --fork-ref and backports the --fixes commits, side by side with a
/// `git cherry-pick -x` loop, outcomes checked equal; --conflicts adds the conflict rows there.
///
/// With --out the results replace the top of FILE; notes below its marker line are kept.
///
/// Example: cargo xtask bench --out BENCHMARKS.md
///
/// Example: cargo xtask bench --quick
///
/// Example: cargo xtask bench --real ../wpf.git --fork-ref v6.0.36 --fixes 8e957ff6d b832f823c
///
/// Example: cargo xtask bench --real ../wpf.git --fork-ref v6.0.36 --conflicts e962174a2
#[derive(Debug, clap::Args)]
#[command(verbatim_doc_comment)]
#[command(after_long_help = super::exit::gate("measured", "a measured command failed (--measure-into)"))]
pub struct Args {
    /// Files in the generated tree.
    #[arg(long, value_name = "N")]
    pub files: Option<usize>,
    /// Upstream commits since the branches diverged.
    #[arg(long, value_name = "N")]
    pub divergence: Option<usize>,
    /// Fixes to backport in the main comparison (a number); with --real, the upstream commits.
    #[arg(long, value_name = "N|COMMIT", num_args = 1..)]
    pub fixes: Vec<String>,
    /// A real repository (a clone, bare or not) to measure instead of generated ones.
    #[arg(long, value_name = "REPO", requires = "fork_ref")]
    pub real: Option<PathBuf>,
    /// With --real: the tag or branch the fork branch starts at.
    #[arg(long, value_name = "REF", requires = "real")]
    pub fork_ref: Option<String>,
    /// With --real: fixes that conflict on the fork. The first is timed as the fork's first
    /// conflict stop, each later one as a later stop (the toolkit's worktree kept from the first),
    /// against `git worktree add` + `git cherry-pick -x` on a bare clone.
    #[arg(long, value_name = "COMMIT", num_args = 1.., requires = "real")]
    pub conflicts: Vec<String>,
    /// Runs per comparison.
    #[arg(long, value_name = "N")]
    pub runs: Option<usize>,
    /// The generator's seed.
    #[arg(long, value_name = "S")]
    pub seed: Option<u64>,
    /// A small repository, one run, no scaling series: checks outcomes in seconds.
    #[arg(long)]
    pub quick: bool,
    /// Write the Markdown results to this file.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Print the results as JSON on stdout.
    #[arg(long)]
    pub json: bool,
    /// Internal: run COMMAND, and write its wall time, CPU time and peak memory to FILE.
    #[arg(long, hide = true, value_name = "FILE", requires = "command")]
    pub measure_into: Option<PathBuf>,
    /// Internal: the command `--measure-into` runs.
    #[arg(last = true, hide = true, value_name = "COMMAND")]
    pub command: Vec<String>,
}

pub fn run(args: Args, ctx: &Context) -> Result<Outcome> {
    if let Some(out) = &args.measure_into {
        let ok = bench::measure_into(&ctx.cwd().join(out), &args.command)?;
        return Ok(if ok {
            Outcome::Success
        } else {
            Outcome::Failure
        });
    }
    let xtask = std::env::current_exe().context("cannot find the xtask binary to measure")?;
    let cache = bench::default_cache();
    let mut s = if args.quick {
        Settings::quick(cache, xtask)
    } else {
        Settings::full(cache, xtask)
    };
    s.files = args.files.unwrap_or(s.files);
    s.divergence = args.divergence.unwrap_or(s.divergence);
    match (&args.real, args.fixes.as_slice()) {
        (Some(repo), fixes) => {
            s.real = Some(bench::Real {
                repo: ctx.cwd().join(repo),
                fork_ref: args.fork_ref.clone().unwrap_or_default(),
                fixes: fixes.to_vec(),
                conflicts: args.conflicts.clone(),
            })
        }
        (None, []) => {}
        (None, [n]) => {
            s.fixes = n.parse().with_context(|| {
                format!("--fixes {n}: not a number of fixes (commits go with --real)")
            })?
        }
        (None, _) => {
            anyhow::bail!("--fixes takes one number without --real (commits go with --real)")
        }
    }
    s.runs = args.runs.unwrap_or(s.runs);
    s.seed = args.seed.unwrap_or(s.seed);
    s.quiet = args.json && args.quick;
    let results = bench::run(&s)?;
    let markdown = bench::markdown(&results);
    if let Some(out) = &args.out {
        bench::write_results(&ctx.cwd().join(out), &markdown)?;
    }
    if args.json {
        println!("{}", crate::schemas::to_json(&results)?);
    } else {
        print!("{markdown}");
    }
    crate::console::step_summary(&markdown)?;
    Ok(Outcome::Success)
}
