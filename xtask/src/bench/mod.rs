//! `cargo xtask bench`: the toolkit against the git CLI loops every other backport tool runs, on
//! a generated repository shaped like dotnet/runtime, side by side in the same run, with equal
//! outcomes checked before any time is reported.

mod measure;
mod report;
mod scenarios;

use std::path::{Path, PathBuf};

use anyhow::{ensure, Context, Result};
use git2::Repository;
use serde::Serialize;

use crate::fixtures::bench_history::{self, BenchRepo, FixKind, Shape};
pub use measure::{measure_into, Stats};
pub use report::{machine, write_results, Machine, NOTES_MARKER};
pub use scenarios::{BackportCase, Cache, Comparison, GitBackport, Subject, Tools};

/// What to run.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Files in the main repository's tree.
    pub files: usize,
    /// Upstream commits since the branches diverged.
    pub divergence: usize,
    /// Fixes backported in the main comparison.
    pub fixes: usize,
    /// Runs per comparison.
    pub runs: usize,
    pub seed: u64,
    /// Also measure how cost scales with fixes and with tree size.
    pub scaling: bool,
    /// Where generated repositories are cached.
    pub cache: PathBuf,
    /// The toolkit binary to measure.
    pub xtask: PathBuf,
    pub quiet: bool,
    /// Measure this real repository instead of generated ones.
    pub real: Option<Real>,
}

/// A real repository to run the cold and warm backport comparisons on.
#[derive(Clone, Debug)]
pub struct Real {
    /// A clone of it (bare or not; read only: every run clones it).
    pub repo: PathBuf,
    /// The tag or branch the fork branch starts at (e.g. `v6.0.36`).
    pub fork_ref: String,
    /// The upstream fix commits, in order.
    pub fixes: Vec<String>,
    /// Upstream fixes that conflict on the fork: the first is timed as the fork's first conflict
    /// stop, each later one as a later stop (the toolkit's worktree kept from the first).
    pub conflicts: Vec<String>,
}

impl Settings {
    /// The full benchmark: dotnet/runtime scale.
    pub fn full(cache: PathBuf, xtask: PathBuf) -> Settings {
        Settings {
            files: 50_000,
            divergence: 10_000,
            fixes: 50,
            runs: 5,
            seed: 1,
            scaling: true,
            cache,
            xtask,
            quiet: false,
            real: None,
        }
    }

    /// Seconds, not minutes: a small repository, one run, no scaling series. Checks outcomes.
    pub fn quick(cache: PathBuf, xtask: PathBuf) -> Settings {
        Settings {
            files: 2_000,
            divergence: 400,
            fixes: 20,
            runs: 1,
            seed: 1,
            scaling: false,
            cache,
            xtask,
            quiet: true,
            real: None,
        }
    }
}

/// Fixes in the cold and warm rows: a month of fixes is two to five.
const COLD_FIXES: usize = 4;
/// Fix counts of the scaling series.
const SCALING_FIXES: [usize; 3] = [10, 50, 200];
/// Tree sizes of the scaling series, as multiples of a fifth of `--files` (10k/50k/100k).
const SCALING_FILES: [usize; 3] = [1, 5, 10];

/// Everything one benchmark run measured.
#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
pub struct Results {
    pub machine: Machine,
    /// The real repository measured (`--real`), described; generated repositories otherwise.
    pub real: Option<String>,
    pub divergence: usize,
    pub seed: u64,
    pub runs: usize,
    /// Seconds spent generating repositories that were not cached yet.
    pub generation_seconds: f64,
    pub comparisons: Vec<Comparison>,
}

/// Runs the benchmark.
pub fn run(s: &Settings) -> Result<Results> {
    ensure!(s.runs >= 1, "--runs must be at least 1");
    if let Some(real) = &s.real {
        return run_real(s, real);
    }
    ensure!(s.fixes >= 1, "--fixes must be at least 1");
    ensure!(
        s.files >= 100,
        "--files must be at least 100 (got {})",
        s.files
    );
    let tools = Tools {
        xtask: s.xtask.clone(),
    };
    // A directory of this invocation's own: two benchmarks may share the cache.
    std::fs::create_dir_all(&s.cache)?;
    // Kept when a comparison fails, so that the disagreeing clones can be inspected.
    let work = tempfile::Builder::new()
        .prefix("work-")
        .tempdir_in(&s.cache)?
        .keep();
    let main = bench_history::cached(&s.cache, shape(s, s.files), s.quiet)?;
    let mut generation = main.generation_seconds;
    let mut comparisons = main_rows(s, &main, &tools, &work)?;
    if s.scaling {
        let (rows, seconds) = scaling_rows(s, &main, &comparisons[0], &tools, &work)?;
        comparisons.extend(rows);
        generation += seconds;
    }
    std::fs::remove_dir_all(&work).with_context(|| format!("cannot remove {}", work.display()))?;
    Ok(Results {
        machine: machine(),
        real: None,
        divergence: s.divergence,
        seed: s.seed,
        runs: s.runs,
        generation_seconds: generation,
        comparisons,
    })
}

/// The generated repository of `files` files: the same history and fix pool at every size (the
/// pool is the largest fix count the run needs).
fn shape(s: &Settings, files: usize) -> Shape {
    let pool = if s.scaling {
        s.fixes.max(*SCALING_FIXES.iter().max().unwrap_or(&0))
    } else {
        s.fixes
    };
    Shape {
        files,
        divergence: s.divergence,
        fixes: pool,
        seed: s.seed,
    }
}

/// Says on stderr which comparison runs now.
fn step(s: &Settings, what: &str) {
    if !s.quiet {
        eprintln!("bench: {what} …");
    }
}

/// Every comparison of the main repository: the backport (against git's loop and sequence), cold
/// and warm runs of a few fixes, the conflict stops, `cherry`, and the rebuild from the queue.
fn main_rows(
    s: &Settings,
    main: &BenchRepo,
    tools: &Tools,
    work: &Path,
) -> Result<Vec<Comparison>> {
    let subject = Subject::generated(main);
    let mut comparisons = Vec::new();
    step(s, &format!("backport {} fixes", s.fixes));
    comparisons.extend(scenarios::backport(
        &subject,
        &BackportCase::of(
            format!("backport {} fixes", s.fixes),
            &main.fixes[..s.fixes],
            &[GitBackport::Loop, GitBackport::Sequencer],
        ),
        s.runs,
        tools,
        work,
    )?);
    let few = COLD_FIXES.min(s.fixes);
    for cache in [Cache::Cold, Cache::Warm] {
        step(s, &format!("{} run, {few} fixes", cache.name()));
        let case = BackportCase {
            cache,
            ..BackportCase::of(
                format!("{}: {few} fixes, {}", cache.name(), cache.describe()),
                &main.fixes[..few],
                &[GitBackport::Loop],
            )
        };
        comparisons.extend(scenarios::backport(&subject, &case, s.runs, tools, work)?);
    }
    comparisons.extend(conflict_stops(
        &subject,
        &generated_conflicts(main),
        &GENERATED_CONFLICT_KINDS,
        s,
        tools,
        work,
        true,
    )?);
    step(s, "already-applied detection");
    comparisons.push(scenarios::cherry(main, s.runs, tools, work)?);
    step(s, &format!("rebuild from a {}-patch queue", s.fixes));
    comparisons.push(scenarios::patches(main, s.fixes, s.runs, tools, work)?);
    Ok(comparisons)
}

/// The scaling series: the first row's backport with other fix counts, then at other repository
/// sizes (with the conflict stop at the largest). Returns the rows and the seconds spent
/// generating repositories.
fn scaling_rows(
    s: &Settings,
    main: &BenchRepo,
    main_row: &Comparison,
    tools: &Tools,
    work: &Path,
) -> Result<(Vec<Comparison>, f64)> {
    let subject = Subject::generated(main);
    let mut comparisons = Vec::new();
    let mut generation = 0.0;
    for n in SCALING_FIXES {
        if n == s.fixes {
            comparisons.push(Comparison {
                scenario: format!("scaling: {n} fixes (the first row)"),
                ..main_row.clone()
            });
            continue;
        }
        step(s, &format!("scaling: {n} fixes"));
        comparisons.extend(scenarios::backport(
            &subject,
            &BackportCase::of(
                format!("scaling: {n} fixes"),
                &main.fixes[..n],
                &[GitBackport::Loop],
            ),
            s.runs,
            tools,
            work,
        )?);
    }
    for m in SCALING_FILES {
        let files = s.files / 5 * m;
        if files == s.files {
            comparisons.push(Comparison {
                scenario: format!("scaling: {files} files (the first row)"),
                ..main_row.clone()
            });
            continue;
        }
        let repo = bench_history::cached(&s.cache, shape(s, files), s.quiet)?;
        generation += repo.generation_seconds;
        let subject = Subject::generated(&repo);
        if m == *SCALING_FILES.last().unwrap_or(&m) {
            comparisons.extend(conflict_stops(
                &subject,
                &generated_conflicts(&repo),
                &GENERATED_CONFLICT_KINDS,
                s,
                tools,
                work,
                false,
            )?);
        }
        step(s, &format!("scaling: {files} files"));
        comparisons.extend(scenarios::backport(
            &subject,
            &BackportCase::of(
                format!("scaling: {files} files"),
                &repo.fixes[..s.fixes],
                &[GitBackport::Loop],
            ),
            s.runs,
            tools,
            work,
        )?);
    }
    Ok((comparisons, generation))
}

/// What the later conflicts of a generated repository change.
const GENERATED_CONFLICT_KINDS: [&str; 2] = ["version files only", "code"];

/// The conflicting fixes of a generated repository: the first of the fork, then one of each
/// kind (version files only, code).
fn generated_conflicts(repo: &BenchRepo) -> Vec<&str> {
    repo.fixes
        .iter()
        .filter(|f| f.kind == FixKind::Conflict)
        .map(|f| f.id.as_str())
        .take(3)
        .collect()
}

/// The conflict-stop comparisons: the fork's first conflict (`conflicts[0]`), and (with `later`)
/// each later one, labelled by `kinds`, with the toolkit's worktree kept from the first.
fn conflict_stops(
    subject: &Subject,
    conflicts: &[&str],
    kinds: &[&str],
    s: &Settings,
    tools: &Tools,
    work: &Path,
    later: bool,
) -> Result<Vec<Comparison>> {
    let Some(first) = conflicts.first() else {
        return Ok(Vec::new());
    };
    if !s.quiet {
        eprintln!("bench: stop at a conflict ({} files) …", subject.files);
    }
    let baseline = "`git worktree add` + `git cherry-pick -x`";
    let mut rows = vec![scenarios::conflict(
        subject,
        format!("conflict stop, the fork's first: `backport` vs {baseline}"),
        first,
        None,
        s.runs,
        tools,
        work,
    )?];
    if later {
        for (fix, kind) in conflicts.iter().skip(1).zip(kinds) {
            rows.push(scenarios::conflict(
                subject,
                format!(
                    "conflict stop, a later one ({kind}; worktree kept): `backport` vs {baseline}"
                ),
                fix,
                Some(first),
                s.runs,
                tools,
                work,
            )?);
        }
    }
    Ok(rows)
}

/// The branch of a real repository's clones that receives the fixes.
const REAL_FORK_BRANCH: &str = "els-bench-fork";

/// The cold and warm backport comparisons on a real repository.
fn run_real(s: &Settings, real: &Real) -> Result<Results> {
    ensure!(
        !real.fixes.is_empty() || !real.conflicts.is_empty(),
        "--real needs at least one commit in --fixes or --conflicts"
    );
    let source = open_real(real)?;
    let (fork, files) = resolve_fork(&source, real)?;
    let fixes = resolve_commits(&source, real, "--fixes", &real.fixes)?;
    let conflicts = resolve_commits(&source, real, "--conflicts", &real.conflicts)?;
    std::fs::create_dir_all(&s.cache)?;
    let work = tempfile::Builder::new()
        .prefix("real-")
        .tempdir_in(&s.cache)?
        .keep();
    // Every run clones this one (sharing the real repository's objects), which has the branch.
    let base = work.join("base.git");
    let sh = crate::process::shell()?;
    crate::process::output(
        sh.cmd("git")
            .args(["clone", "-q", "--bare", "--shared"])
            .arg(&real.repo)
            .arg(&base),
    )
    .with_context(|| format!("cannot clone {}", real.repo.display()))?;
    let clone = Repository::open(&base)?;
    clone.branch(REAL_FORK_BRANCH, &clone.find_commit(fork)?, true)?;
    let subject = Subject {
        path: &base,
        branch: REAL_FORK_BRANCH,
        files,
        expected: None,
    };
    let tools = Tools {
        xtask: s.xtask.clone(),
    };
    let mut comparisons = Vec::new();
    for cache in [Cache::Cold, Cache::Warm]
        .into_iter()
        .filter(|_| !fixes.is_empty())
    {
        if !s.quiet {
            eprintln!("bench: {} run on {} …", cache.name(), real.repo.display());
        }
        let case = BackportCase {
            label: format!(
                "{}: {} fixes onto {}, {}",
                cache.name(),
                fixes.len(),
                real.fork_ref,
                cache.describe()
            ),
            fixes: fixes.clone(),
            cache,
            variants: &[GitBackport::Loop],
        };
        comparisons.extend(scenarios::backport(&subject, &case, s.runs, &tools, &work)?);
    }
    let conflicts: Vec<&str> = conflicts.iter().map(String::as_str).collect();
    // A later row is named by its commit as given.
    let kinds: Vec<&str> = real.conflicts.iter().skip(1).map(String::as_str).collect();
    comparisons.extend(conflict_stops(
        &subject, &conflicts, &kinds, s, &tools, &work, true,
    )?);
    std::fs::remove_dir_all(&work).with_context(|| format!("cannot remove {}", work.display()))?;
    let mut described = format!(
        "{}, fork branch at `{}`",
        real.repo.display(),
        real.fork_ref
    );
    if !real.fixes.is_empty() {
        described.push_str(&format!(", fixes {}", real.fixes.join(" ")));
    }
    if !real.conflicts.is_empty() {
        described.push_str(&format!(", conflicts {}", real.conflicts.join(" ")));
    }
    Ok(Results {
        machine: machine(),
        real: Some(described),
        divergence: 0,
        seed: s.seed,
        runs: s.runs,
        generation_seconds: 0.0,
        comparisons,
    })
}

/// The real repository's fork commit, resolved with a clear error, and its number of files.
fn resolve_fork(source: &Repository, real: &Real) -> Result<(git2::Oid, usize)> {
    let fork = source
        .revparse_single(&real.fork_ref)
        .and_then(|o| o.peel_to_commit())
        .with_context(|| {
            format!(
                "--fork-ref {}: no such commit, tag or branch in {}",
                real.fork_ref,
                real.repo.display()
            )
        })?;
    let mut files = 0;
    fork.tree()?.walk(git2::TreeWalkMode::PreOrder, |_, e| {
        if e.kind() != Some(git2::ObjectType::Tree) {
            files += 1;
        }
        git2::TreeWalkResult::Ok
    })?;
    Ok((fork.id(), files))
}

/// The full ids of the commits given with `option`, each resolved with a clear error.
fn resolve_commits(
    source: &Repository,
    real: &Real,
    option: &str,
    commits: &[String],
) -> Result<Vec<String>> {
    commits
        .iter()
        .map(|f| {
            source
                .revparse_single(f)
                .and_then(|o| o.peel_to_commit())
                .map(|c| c.id().to_string())
                .with_context(|| format!("{option} {f}: no such commit in {}", real.repo.display()))
        })
        .collect()
}

fn open_real(real: &Real) -> Result<Repository> {
    Repository::open(&real.repo).with_context(|| {
        format!(
            "--real {}: not a git repository; give a clone (bare or not) of the real repository",
            real.repo.display()
        )
    })
}

/// The default cache: `target/bench-cache/` of this workspace (or `$CARGO_TARGET_DIR`).
pub fn default_cache() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"));
    target.join("bench-cache")
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

pub use report::markdown;
