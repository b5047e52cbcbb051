//! The results as Markdown (printed, and written to BENCHMARKS.md) with the machine they were
//! measured on.

use std::fmt::Write;

use serde::Serialize;

use super::Results;

/// The machine a benchmark ran on.
#[derive(Clone, Debug, Serialize)]
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
        std::process::Command::new(cmd)
            .args(args)
            .output()
            .ok()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .unwrap_or_else(|| "unknown".into())
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

/// The results as a Markdown document.
pub fn markdown(r: &Results) -> String {
    let m = &r.machine;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Machine: {} — {} cores, {:.1} GiB memory, {}, {}. Toolkit built in the {}.\n",
        m.cpu, m.cores, m.memory_gib, m.os, m.git, m.profile
    );
    let _ = writeln!(
        out,
        "Repository: generated (seed {}), {} upstream commits since the branches diverged; {} runs per row; wall time median (min–max), median CPU time (user + system, all processes), peak resident memory of the largest single process.\n",
        r.seed, r.divergence, r.runs
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
    out
}
