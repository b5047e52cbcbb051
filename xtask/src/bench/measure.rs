//! Running one side of a comparison as a child process and measuring it: wall time from spawn to
//! exit, and peak resident memory from `wait4` (the largest of the process and every descendant
//! it waited for, so a shell loop reports its biggest `git` or `xtask` child).

use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Command, ExitStatus};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

/// One measured run.
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
pub struct Sample {
    /// Wall time.
    pub seconds: f64,
    /// User plus system CPU time of the process and its descendants.
    pub cpu_seconds: f64,
    pub max_rss_kib: u64,
}

/// Runs `cmd` to completion and measures it.
pub fn measure(cmd: &mut Command) -> Result<(Sample, ExitStatus)> {
    let start = Instant::now();
    let child = cmd
        .spawn()
        .with_context(|| format!("cannot start {:?}", cmd.get_program()))?;
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: rusage is plain old data; wait4 fills it for our own child.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: `pid` is a child of this process that nothing else waits for.
        let r = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
        if r == pid {
            break;
        }
        let err = std::io::Error::last_os_error();
        if err.kind() != std::io::ErrorKind::Interrupted {
            bail!("cannot wait for {:?}: {err}", cmd.get_program());
        }
    }
    let seconds = start.elapsed().as_secs_f64();
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    Ok((
        Sample {
            seconds,
            cpu_seconds: secs(usage.ru_utime) + secs(usage.ru_stime),
            // Linux reports ru_maxrss in KiB.
            max_rss_kib: usage.ru_maxrss as u64,
        },
        ExitStatus::from_raw(status),
    ))
}

/// Measures `command` (inheriting stdio) and writes the sample as JSON to `out`: run as a
/// separate small process by the benchmark, because a child's peak memory as the kernel reports
/// it includes the memory of the process that started it (the benchmark holds repositories).
/// Returns whether the command succeeded.
pub fn measure_into(out: &Path, command: &[String]) -> Result<bool> {
    let Some((program, args)) = command.split_first() else {
        bail!("no command to measure");
    };
    let sh = crate::process::shell()?;
    // Started by hand (not through `process::output`): wait4 must reap it to read its usage.
    let (sample, status) = measure(&mut Command::from(sh.cmd(program).args(args)))?;
    crate::atomic::write(out, serde_json::to_vec(&sample)?)?;
    Ok(status.success())
}

/// Median, minimum and maximum wall time, median CPU time and peak memory over several runs.
#[derive(Clone, Copy, Debug, Serialize, schemars::JsonSchema)]
pub struct Stats {
    pub runs: usize,
    pub median: f64,
    pub min: f64,
    pub max: f64,
    /// Median CPU time (user + system), steadier than wall time on a shared machine.
    pub cpu_median: f64,
    /// The largest peak resident set of any run, in KiB.
    pub max_rss_kib: u64,
}

impl Stats {
    /// Summarises samples (at least one).
    pub fn of(samples: &[Sample]) -> Stats {
        let mut times: Vec<f64> = samples.iter().map(|s| s.seconds).collect();
        times.sort_by(f64::total_cmp);
        let n = times.len();
        let median = if n % 2 == 1 {
            times[n / 2]
        } else {
            (times[n / 2 - 1] + times[n / 2]) / 2.0
        };
        let mut cpu: Vec<f64> = samples.iter().map(|s| s.cpu_seconds).collect();
        cpu.sort_by(f64::total_cmp);
        let cpu_median = if n % 2 == 1 {
            cpu[n / 2]
        } else {
            (cpu[n / 2 - 1] + cpu[n / 2]) / 2.0
        };
        Stats {
            runs: n,
            cpu_median,
            median,
            min: times[0],
            max: times[n - 1],
            max_rss_kib: samples.iter().map(|s| s.max_rss_kib).max().unwrap_or(0),
        }
    }
}
