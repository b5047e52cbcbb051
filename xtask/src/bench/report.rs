//! The results as Markdown (printed, and written to BENCHMARKS.md) with the machine they were
//! measured on.

use std::fmt::Write;
use std::path::Path;

use anyhow::Result;

use serde::Serialize;

use super::{Comparison, Results};

/// The machine a benchmark ran on.
#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
pub struct Machine {
    pub cpu: String,
    pub cores: usize,
    pub memory_gib: f64,
    pub os: String,
    pub git: String,
    /// How the measured toolkit binary was compiled.
    pub profile: String,
}

/// Describes this machine (fields that cannot be read say `unknown`).
pub fn machine() -> Machine {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpu = cpuinfo
        .lines()
        .find_map(|l| {
            l.strip_prefix("model name")?
                .split_once(':')
                .map(|(_, v)| v.trim().to_string())
        })
        .unwrap_or_else(|| "unknown".into());
    let memory_gib = std::fs::read_to_string("/proc/meminfo")
        .unwrap_or_default()
        .lines()
        .find_map(|l| {
            l.strip_prefix("MemTotal:")?
                .trim()
                .strip_suffix("kB")?
                .trim()
                .parse::<f64>()
                .ok()
        })
        .map(|kib| kib / 1024.0 / 1024.0)
        .unwrap_or(0.0);
    let output = |cmd: &str, args: &[&str]| {
        crate::process::shell()
            .and_then(|sh| crate::process::read(sh.cmd(cmd).args(args)))
            .map(|o| o.trim().to_string())
            .unwrap_or_else(|_| "unknown".into())
    };
    Machine {
        cpu,
        cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
        memory_gib,
        os: output("uname", &["-sr"]),
        git: output("git", &["--version"]),
        profile: if cfg!(debug_assertions) {
            "dev profile (as `cargo xtask` runs it: opt-level 1, dependencies opt-level 2)".into()
        } else {
            "release profile".into()
        },
    }
}

fn mib(kib: u64) -> String {
    format!("{:.0} MiB", kib as f64 / 1024.0)
}

/// `write_results` replaces everything above this line and keeps everything from it on.
pub const NOTES_MARKER: &str = "<!-- cargo xtask bench --out keeps the notes below this line. -->";

/// Writes `markdown` as the results file at `path`, keeping the notes a person wrote below
/// `NOTES_MARKER` in the file already there (what dominates, what changed).
pub fn write_results(path: &Path, markdown: &str) -> Result<()> {
    let notes = std::fs::read_to_string(path)
        .ok()
        .and_then(|old| old.find(NOTES_MARKER).map(|i| old[i..].to_string()))
        .unwrap_or_else(|| format!("{NOTES_MARKER}\n"));
    crate::atomic::write(path, format!("# Benchmarks\n\n{markdown}\n{notes}"))
}

/// The results as a Markdown document.
pub fn markdown(r: &Results) -> String {
    let m = &r.machine;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Machine: {} — {} cores, {:.1} GiB memory, {}, {}. Toolkit built in the {}.\n",
        m.cpu, m.cores, m.memory_gib, m.os, m.git, m.profile
    );
    let repository = match &r.real {
        Some(real) => format!("{real} (each toolkit run on a fresh bare clone)"),
        None => format!(
            "generated (seed {}), {} upstream commits since the branches diverged",
            r.seed, r.divergence
        ),
    };
    let _ = writeln!(
        out,
        "Repository: {repository}; {} runs per row; wall time median (min–max), median CPU time (user + system, all processes), peak resident memory of the largest single process.\n",
        r.runs
    );
    out.push_str("| scenario | files | n | toolkit wall | git wall | wall toolkit / git | CPU toolkit / git | peak memory toolkit / git | outcome (checked equal) |\n");
    out.push_str("|---|---:|---:|---|---|---:|---:|---:|---|\n");
    for c in &r.comparisons {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {:.2} s ({:.2}–{:.2}) | {:.2} s ({:.2}–{:.2}) | **{:.2}×** | {:.2} s / {:.2} s = {:.2}× | {} / {} | {} |",
            c.scenario,
            c.files,
            c.fixes,
            c.toolkit.median,
            c.toolkit.min,
            c.toolkit.max,
            c.git.median,
            c.git.min,
            c.git.max,
            c.ratio(),
            c.toolkit.cpu_median,
            c.git.cpu_median,
            c.toolkit.cpu_median / c.git.cpu_median.max(1e-9),
            mib(c.toolkit.max_rss_kib),
            mib(c.git.max_rss_kib),
            c.outcome
        );
    }
    out.push_str(&goals(r));
    out
}

/// The most peak memory a row may take, as a multiple of git's.
const MEMORY_GOAL: f64 = 1.25;

/// The issues' goals, each checked against the rows that measure it.
fn goals(r: &Results) -> String {
    let find = |prefix: &str| {
        r.comparisons
            .iter()
            .find(|c| c.scenario.starts_with(prefix))
    };
    let mut rows = Vec::new();
    let mut ratio_goal = |what: &str, c: Option<&Comparison>, limit: f64| {
        if let Some(c) = c {
            let verdict = if c.ratio() <= limit {
                "met"
            } else {
                "**not met**"
            };
            rows.push(format!(
                "| {what} | ≤ {limit}× git's wall time | {:.2}× | {verdict} |",
                c.ratio()
            ));
        }
    };
    ratio_goal(
        "backport vs the `git cherry-pick -x` loop",
        find("backport ").filter(|c| c.scenario.ends_with("loop")),
        0.5,
    );
    ratio_goal(
        "backport vs one `git cherry-pick -x` sequence",
        r.comparisons
            .iter()
            .find(|c| c.scenario.starts_with("backport ") && c.scenario.ends_with("on conflict")),
        0.2,
    );
    ratio_goal(
        "cold backport (a fresh clone, few fixes) vs the `git cherry-pick -x` loop",
        find("cold:"),
        1.0,
    );
    ratio_goal(
        "stop at the fork's first conflict vs `git worktree add` + `git cherry-pick -x`",
        find("conflict stop, the fork's first"),
        0.5,
    );
    let later = r
        .comparisons
        .iter()
        .filter(|c| c.scenario.starts_with("conflict stop, a later one"))
        .max_by(|a, b| a.ratio().total_cmp(&b.ratio()));
    ratio_goal(
        "stop at a later conflict (the slowest kind) vs `git worktree add` + `git cherry-pick -x`",
        later,
        0.1,
    );
    ratio_goal(
        "already-applied detection vs `git cherry`",
        find("already-applied"),
        0.5,
    );
    ratio_goal("rebuild from the queue vs `git am`", find("rebuild "), 0.5);
    rows.extend(memory_goal(r));
    rows.extend(flat_cost_goal(r));
    if rows.is_empty() {
        return String::new();
    }
    format!(
        "\n### Against the goals\n\n| goal | target | measured | |\n|---|---|---:|---|\n{}\n",
        rows.join("\n")
    )
}

/// The memory goal's row: the worst ratio of peak memory to git's across every row.
fn memory_goal(r: &Results) -> Option<String> {
    let worst = r
        .comparisons
        .iter()
        .map(|c| {
            (
                c.toolkit.max_rss_kib as f64 / c.git.max_rss_kib.max(1) as f64,
                c,
            )
        })
        .max_by(|a, b| a.0.total_cmp(&b.0));
    let (ratio, c) = worst?;
    let verdict = if ratio <= MEMORY_GOAL {
        "met"
    } else {
        "**not met**"
    };
    Some(format!(
        "| peak memory, every row | ≤ {MEMORY_GOAL}× git's | at most {ratio:.2}× ({}: {} / {}) | {verdict} |",
        c.scenario,
        mib(c.toolkit.max_rss_kib),
        mib(c.git.max_rss_kib)
    ))
}

/// The flat-cost goal's row: how the backport's time grows from the smallest to the largest
/// repository of the scaling series.
fn flat_cost_goal(r: &Results) -> Option<String> {
    let mut by_size: Vec<&Comparison> = r
        .comparisons
        .iter()
        .filter(|c| c.scenario.starts_with("scaling:") && c.scenario.contains(" files"))
        .collect();
    by_size.sort_by_key(|c| c.files);
    let (small, large) = (by_size.first()?, by_size.last()?);
    let growth = |s: f64, l: f64| l / s.max(1e-9);
    let toolkit = growth(small.toolkit.median, large.toolkit.median);
    let git = growth(small.git.median, large.git.median);
    let verdict = if toolkit <= 1.5 { "met" } else { "**not met**" };
    Some(format!(
        "| flat cost in tree size | under 1.5× from {} to {} files | toolkit {toolkit:.2}× (git {git:.2}×) | {verdict} |",
        small.files, large.files
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rewriting_the_results_keeps_the_notes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("BENCHMARKS.md");
        write_results(&path, "| first |\n").unwrap();
        let first = std::fs::read_to_string(&path).unwrap();
        assert!(first.starts_with("# Benchmarks\n\n| first |") && first.contains(NOTES_MARKER));
        let notes = format!("{NOTES_MARKER}\n\n## What dominates\n\nthe prerequisite walks\n");
        std::fs::write(&path, format!("# Benchmarks\n\n| first |\n\n{notes}")).unwrap();
        write_results(&path, "| second |\n").unwrap();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            format!("# Benchmarks\n\n| second |\n\n{notes}")
        );
    }
}
