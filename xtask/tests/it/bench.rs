//! `cargo xtask bench --quick` as CI runs it: every comparison on a small generated repository,
//! with the toolkit's outcome checked against git's (and against what the generator intended).
//! No timing is asserted; the benchmark itself fails when outcomes differ.

use crate::support;

use xtask::bench::{self, Settings};
use xtask::fixtures::bench_history::{self, Shape};

fn settings(cache: &std::path::Path) -> Settings {
    Settings::quick(cache.to_path_buf(), env!("CARGO_BIN_EXE_xtask").into())
}

#[test]
fn quick_bench_reaches_the_same_outcomes_as_git() {
    let cache = tempfile::tempdir().unwrap();
    let results = bench::run(&settings(cache.path())).unwrap();
    let scenarios: Vec<&str> = results
        .comparisons
        .iter()
        .map(|c| c.scenario.as_str())
        .collect();
    for wanted in [
        "vs `git cherry-pick -x` loop",
        "vs one `git cherry-pick -x` sequence",
        "`xtask cherry` vs `git cherry`",
        "`xtask patches apply` vs `git am`",
        "cold: 4 fixes, a fresh clone per run vs `git cherry-pick -x` loop",
        "warm: 4 fixes, the clone of an earlier run (patch-id cache kept) vs",
        "conflict stop, the fork's first: `backport` vs `git worktree add` + `git cherry-pick -x`",
        "conflict stop, a later one (version files only; worktree kept)",
    ] {
        assert!(
            scenarios.iter().any(|s| s.contains(wanted)),
            "no `{wanted}` comparison in {scenarios:?}"
        );
    }
    for c in &results.comparisons {
        assert!(
            c.outcome.starts_with("identical"),
            "{}: {}",
            c.scenario,
            c.outcome
        );
        assert_eq!(c.toolkit.runs, 1);
        assert_eq!(c.git.runs, 1);
        assert!(c.toolkit.max_rss_kib > 0 && c.git.max_rss_kib > 0);
    }
    let backport = &results.comparisons[0];
    assert!(
        backport.outcome.contains("2 conflicts") && backport.outcome.contains("2 already applied"),
        "{}",
        backport.outcome
    );
    let markdown = bench::markdown(&results);
    assert!(markdown.contains(&results.machine.git));
    // The goals are checked against the rows that measure them (no scaling series here).
    for goal in [
        "### Against the goals",
        "| backport vs the `git cherry-pick -x` loop | ≤ 0.5×",
        "| backport vs one `git cherry-pick -x` sequence | ≤ 0.2×",
        "| already-applied detection vs `git cherry` | ≤ 0.5×",
        "| cold backport (a fresh clone, few fixes) vs the `git cherry-pick -x` loop | ≤ 1×",
        "| stop at the fork's first conflict vs `git worktree add` + `git cherry-pick -x` | ≤ 0.5×",
        "| stop at a later conflict (the slowest kind) vs `git worktree add` + `git cherry-pick -x` | ≤ 0.1×",
        "| rebuild from the queue vs `git am` | ≤ 0.5×",
        "| peak memory, every row | ≤ 1.25×",
    ] {
        assert!(markdown.contains(goal), "no `{goal}` in\n{markdown}");
    }
    assert!(!markdown.contains("flat cost in tree size"));
    assert_eq!(
        markdown.matches("identical").count(),
        results.comparisons.len()
    );
}

#[test]
fn a_real_repository_gets_cold_warm_and_conflict_rows_checked_against_git() {
    let cache = tempfile::tempdir().unwrap();
    let shape = Shape {
        files: 300,
        divergence: 60,
        fixes: 20,
        seed: 3,
    };
    // Any clone will do as the "real" repository: here a generated one, read through --real.
    let repo = bench_history::cached(cache.path(), shape, true).unwrap();
    // Through the command line, as a team runs it on its own clone: `support::xtask` validates
    // the --json output against schemas/bench.schema.json.
    let fixes: Vec<&str> = repo.fixes.iter().take(4).map(|f| f.id.as_str()).collect();
    let markdown_file = cache.path().join("bench.md");
    let mut args = vec![
        "bench",
        "--quick",
        "--json",
        "--real",
        repo.path.to_str().unwrap(),
        "--fork-ref",
        "release/6.0",
        "--out",
        markdown_file.to_str().unwrap(),
        "--fixes",
    ];
    args.extend(&fixes);
    let conflicts: Vec<&str> = repo
        .fixes
        .iter()
        .filter(|f| f.kind == bench_history::FixKind::Conflict)
        .map(|f| f.id.as_str())
        .collect();
    assert_eq!(conflicts.len(), 2, "the generator's pattern changed");
    args.push("--conflicts");
    args.extend(&conflicts);
    let out = support::xtask(cache.path(), &args, &[]);
    assert_eq!(support::code(&out), 0, "{}", support::stderr(&out));
    let results = support::json(&out);
    let comparisons = results["comparisons"].as_array().unwrap();
    let scenarios: Vec<&str> = comparisons
        .iter()
        .map(|c| c["scenario"].as_str().unwrap())
        .collect();
    assert_eq!(scenarios.len(), 4, "{scenarios:?}");
    assert!(scenarios[0].starts_with("cold: 4 fixes onto release/6.0, a fresh clone per run"));
    assert!(scenarios[1].starts_with("warm: 4 fixes onto release/6.0"));
    assert!(scenarios[2].starts_with("conflict stop, the fork's first"));
    assert!(scenarios[3].starts_with("conflict stop, a later one"));
    for c in &comparisons[..2] {
        let outcome = c["outcome"].as_str().unwrap();
        assert!(outcome.starts_with("identical: "), "{outcome}");
    }
    // A conflict row holds only when both worktrees show the same conflict in `git status`.
    for c in &comparisons[2..] {
        let outcome = c["outcome"].as_str().unwrap();
        assert!(outcome.starts_with("identical `git status`: "), "{outcome}");
        assert!(!outcome.contains(": 0 conflicted"), "{outcome}");
    }
    for c in comparisons {
        assert_eq!(c["files"], 300);
    }
    let markdown = std::fs::read_to_string(&markdown_file).unwrap();
    assert!(
        markdown.contains("fork branch at `release/6.0`"),
        "{markdown}"
    );
    // A ref the repository lacks is a clear error, not a panic.
    let mut s = settings(cache.path());
    s.real = Some(bench::Real {
        repo: repo.path.clone(),
        fork_ref: "v0.0.0-none".into(),
        fixes: fixes.iter().map(|f| f.to_string()).collect(),
        conflicts: Vec::new(),
    });
    let err = bench::run(&s).unwrap_err().to_string();
    assert!(err.contains("--fork-ref v0.0.0-none"), "{err}");
    // So is a conflict commit it lacks.
    s.real = Some(bench::Real {
        repo: repo.path.clone(),
        fork_ref: "release/6.0".into(),
        fixes: Vec::new(),
        conflicts: vec!["0000000000000000000000000000000000000bad".into()],
    });
    let err = bench::run(&s).unwrap_err().to_string();
    assert!(
        err.contains("--conflicts 0000000000000000000000000000000000000bad"),
        "{err}"
    );
}

#[test]
fn generated_repositories_are_reproducible_and_cached() {
    let cache = tempfile::tempdir().unwrap();
    let shape = Shape {
        files: 500,
        divergence: 120,
        fixes: 10,
        seed: 7,
    };
    let a = bench_history::generate(&cache.path().join("a.git"), shape).unwrap();
    let b = bench_history::generate(&cache.path().join("b.git"), shape).unwrap();
    let tips = |p: &std::path::Path| {
        let repo = git2::Repository::open(p).unwrap();
        ["refs/heads/release/6.0", "refs/heads/release/8.0"].map(|r| repo.refname_to_id(r).unwrap())
    };
    assert_eq!(tips(&a.path), tips(&b.path));
    let ids =
        |r: &bench_history::BenchRepo| r.fixes.iter().map(|f| f.id.clone()).collect::<Vec<_>>();
    assert_eq!(ids(&a), ids(&b));
    assert_eq!(a.fixes.len(), 10);

    let other =
        bench_history::generate(&cache.path().join("c.git"), Shape { seed: 8, ..shape }).unwrap();
    assert_ne!(tips(&a.path), tips(&other.path));

    let first = bench_history::cached(cache.path(), shape, true).unwrap();
    let again = bench_history::cached(cache.path(), shape, true).unwrap();
    assert_eq!(first.path, again.path);
    assert_eq!(
        again.generation_seconds, first.generation_seconds,
        "the second call must reuse the cache"
    );
    assert_eq!(tips(&first.path), tips(&a.path));
}

/// Far enough into a long divergence, the newer branch has renamed so many files that a fix to a
/// file it renamed *and* gave a new name (`Reader5.cs` → `Reader5.Impl.cs`) has well over 50
/// same-extension rename candidates on the fork; git still follows the rename, so must the
/// toolkit (an earlier cut at 50 candidates turned these fixes into conflicts).
#[test]
fn renamed_files_deep_into_a_long_divergence_are_followed_like_git() {
    let cache = tempfile::tempdir().unwrap();
    let s = Settings {
        files: 2_000,
        divergence: 8_000,
        fixes: 100,
        ..settings(cache.path())
    };
    let results = bench::run(&s).unwrap();
    let backport = &results.comparisons[0];
    assert!(
        backport.outcome.contains("via renames") && backport.outcome.starts_with("identical"),
        "{}",
        backport.outcome
    );
}
