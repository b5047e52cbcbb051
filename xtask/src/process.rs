//! Running external programs: every program the toolkit starts is built as an xshell `Cmd` and
//! run here, and every failure has one shape (the command line, its exit status, its stderr tail).
//!
//! Repositories stay in-process with git2; this is for the tools the toolkit drives (git's network
//! side, gpg, mcs, dotnet, apt-get, pip, the measured benchmark commands). Children that must be
//! streamed or supervised (a build log, a runtime under a timeout) are still built from a `Cmd`
//! (so the environment and the command line come out the same way) and checked with [`check`].

use std::fmt;
use std::process::{ExitStatus, Output};

use anyhow::{Context as _, Result};
use xshell::{Cmd, Shell};

/// How many of the last lines of a failed program's stderr an error quotes.
const STDERR_TAIL_LINES: usize = 20;

/// An external program that ran and exited unsuccessfully.
#[derive(Debug)]
pub struct Failed {
    /// The command line as shown to the user (`<secret>` for commands marked secret).
    pub command: String,
    /// How it exited.
    pub status: ExitStatus,
    /// The last lines of its stderr (or of its stdout when stderr was empty).
    pub stderr_tail: String,
}

impl fmt::Display for Failed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "`{}` failed ({})", self.command, self.status)?;
        if self.stderr_tail.is_empty() {
            write!(f, " with no message")
        } else {
            write!(f, ":\n{}", self.stderr_tail)
        }
    }
}

impl std::error::Error for Failed {}

/// A shell to build commands in, started in the current directory; change its directory with
/// `Shell::change_dir` for commands that must run elsewhere.
pub fn shell() -> Result<Shell> {
    Shell::new().context("cannot start a shell for an external program")
}

/// Runs `cmd` to completion with its output captured; a non-zero exit is a [`Failed`] error.
pub fn output(cmd: Cmd<'_>) -> Result<Output> {
    let shown = cmd.to_string();
    let out = output_any_status(cmd)?;
    check(&shown, out.status, &out.stderr, &out.stdout)?;
    Ok(out)
}

/// Runs `cmd` and returns its stdout (lossy UTF-8, trailing newline removed); a non-zero exit is
/// a [`Failed`] error.
pub fn read(cmd: Cmd<'_>) -> Result<String> {
    let out = output(cmd)?;
    let text = String::from_utf8_lossy(&out.stdout);
    Ok(text.trim_end_matches(['\n', '\r']).to_string())
}

/// Runs `cmd` with its output captured, whatever its exit status (for callers that read the
/// status themselves). Only a program that cannot be started is an error.
pub fn output_any_status(cmd: Cmd<'_>) -> Result<Output> {
    let cmd = cmd.quiet().ignore_status();
    cmd.output().map_err(|err| not_started(&cmd, err))
}

/// Runs `cmd` with stdout and stderr inherited (the user sees its progress); a non-zero exit is
/// a [`Failed`] error, without a stderr tail since the user saw it.
pub fn run_visible(cmd: Cmd<'_>) -> Result<()> {
    let shown = cmd.to_string();
    let mut command = std::process::Command::from(cmd.quiet());
    let status = command
        .stdin(std::process::Stdio::null())
        .status()
        .with_context(|| format!("cannot run `{shown}`"))?;
    check(&shown, status, &[], &[])
}

/// The error for a finished program: `Ok` on success, else a [`Failed`] with the command line,
/// the status and the tail of `stderr` (or of `stdout` when stderr is empty). For children run
/// by hand (streamed or supervised), pass `cmd.to_string()` of the `Cmd` they were built from.
pub fn check(command: &str, status: ExitStatus, stderr: &[u8], stdout: &[u8]) -> Result<()> {
    if status.success() {
        return Ok(());
    }
    let message = if stderr.iter().all(u8::is_ascii_whitespace) {
        stdout
    } else {
        stderr
    };
    Err(Failed {
        command: command.to_string(),
        status,
        stderr_tail: tail(&String::from_utf8_lossy(message)),
    }
    .into())
}

/// Sends `signal` to a supervised child's process group (the child was started as its group
/// leader with `process_group(0)`), so everything it started goes too.
pub fn kill_group(child: &std::process::Child, signal: libc::c_int) {
    if let Ok(pid) = libc::pid_t::try_from(child.id()) {
        // SAFETY: kill(2) with a negative pid signals a process group; no memory is involved.
        unsafe {
            libc::kill(-pid, signal);
        }
    }
}

fn not_started(cmd: &Cmd<'_>, err: xshell::Error) -> anyhow::Error {
    anyhow::anyhow!("cannot run `{cmd}`: {err}")
}

/// The last [`STDERR_TAIL_LINES`] non-empty lines of `text`.
fn tail(text: &str) -> String {
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim_end)
        .filter(|l| !l.is_empty())
        .collect();
    let start = lines.len().saturating_sub(STDERR_TAIL_LINES);
    lines[start..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failure_names_the_command_its_status_and_the_stderr_tail() {
        let sh = shell().unwrap();
        let err = output(xshell::cmd!(
            sh,
            "sh -c 'for i in $(seq 1 30); do echo line$i >&2; done; exit 3'"
        ))
        .unwrap_err();
        let failed = err.downcast_ref::<Failed>().expect("a Failed error");
        assert_eq!(failed.status.code(), Some(3));
        assert!(failed.command.starts_with("sh -c "), "{}", failed.command);
        assert_eq!(failed.stderr_tail.lines().count(), STDERR_TAIL_LINES);
        assert!(failed.stderr_tail.ends_with("line30"));
        assert!(!failed.stderr_tail.contains("line10\n"));
    }

    #[test]
    fn a_secret_command_line_is_not_shown() {
        let sh = shell().unwrap();
        let err = output(xshell::cmd!(sh, "sh -c 'exit 1' token-value").secret()).unwrap_err();
        let text = format!("{err:#}");
        assert!(!text.contains("token-value"), "{text}");
        assert!(text.contains("<secret>"), "{text}");
    }

    #[test]
    fn a_missing_program_is_named() {
        let sh = shell().unwrap();
        let err = read(xshell::cmd!(sh, "els-no-such-program --version")).unwrap_err();
        assert!(
            format!("{err:#}").contains("els-no-such-program"),
            "{err:#}"
        );
    }
}
