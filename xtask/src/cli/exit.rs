//! Exit statuses: the one place where a command's outcome or error becomes the process's exit
//! status (documented in the top-level `--help` by [`STATUSES`] and in README).

use std::process::ExitCode;

use super::Outcome;

/// The exit statuses, as the top-level `--help` lists them.
pub const STATUSES: &str = "Exit status:
  0  success
  1  the command ran and found a problem to act on (a conflict, a regression, an overdue CVE)
  2  invalid input or environment (flags, config, a dirty worktree, a missing tool or token);
     nothing was changed
  3  internal failure: the input was fine but the toolkit could not finish its work (an I/O
     error writing results, a push or queue update after a finished backport); what was done
     is kept and the message says how to finish";

/// The two statuses every command shares, after its own 0 (and 1, for a check).
const INVALID_AND_INTERNAL: &str = "2 invalid input or environment (nothing changed); 3 internal \
failure (what was done is kept; the message says how to finish)";

/// A command's `Exit status:` paragraph, for one that never stops on a problem to act on: it
/// either did its work or refused.
pub fn plain(done: &str) -> String {
    format!("Exit status: 0 {done}; {INVALID_AND_INTERNAL}.")
}

/// A command's `Exit status:` paragraph, for a check a pipeline gates on: status 1 is `problem`.
pub fn gate(success: &str, problem: &str) -> String {
    format!("Exit status: 0 {success}; 1 {problem}; {INVALID_AND_INTERNAL}.")
}

/// The `Exit status:` paragraph of a command whose subcommands each state their own.
pub fn by_subcommand() -> String {
    format!(
        "Exit status: 0 success; 1 (the checks) a problem to act on; {INVALID_AND_INTERNAL}. Each subcommand's --help says what 0 and 1 mean for it."
    )
}

/// Bad input or environment (also clap's status for a bad command line).
const INVALID: u8 = 2;
/// An [`crate::error::Internal`] failure.
const INTERNAL: u8 = 3;

/// The exit status for how a command ended.
pub fn status(result: &anyhow::Result<Outcome>) -> ExitCode {
    match result {
        Ok(Outcome::Success) => ExitCode::SUCCESS,
        Ok(Outcome::Failure) => ExitCode::from(1),
        Err(err) if crate::error::is_internal(err) => ExitCode::from(INTERNAL),
        Err(_) => ExitCode::from(INVALID),
    }
}

#[cfg(test)]
mod tests {
    use anyhow::{anyhow, Context as _};

    use super::*;
    use crate::error::ResultExt as _;

    #[test]
    fn each_ending_has_its_status() {
        let internal: anyhow::Result<Outcome> = Err(anyhow!("disk full"));
        let internal = internal.internal().context("the backport finished");
        for (result, code) in [
            (Ok(Outcome::Success), ExitCode::SUCCESS),
            (Ok(Outcome::Failure), ExitCode::from(1)),
            (Err(anyhow!("no such flag")), ExitCode::from(2)),
            (internal, ExitCode::from(3)),
        ] {
            assert_eq!(status(&result), code, "{result:?}");
        }
    }
}
