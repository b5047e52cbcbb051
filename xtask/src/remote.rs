//! Talking to other repositories (listing their refs, fetching, pushing) through the git CLI.
//!
//! The network side goes through `git` rather than libgit2 on purpose: git brings the user's
//! credential helpers, proxies, ssh setup, protocol v2 and the `http.extraheader` that
//! `actions/checkout` configures, and it keeps TLS out of this process (libgit2 built with
//! OpenSSL parses the whole system CA bundle when it starts: ~20 ms in every command, network or
//! not). Everything else the toolkit does with repositories stays in-process with git2.

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};

use anyhow::{Context, Result};
use git2::Oid;
use xshell::Cmd;

use crate::token::Token;

/// The environment variable that carries a token to the credential helper below. Passing it in
/// the environment keeps it out of every command line (`ps`, /proc/<pid>/cmdline, logs).
const TOKEN_VARIABLE: &str = "ELS_GIT_TOKEN";

/// How the repository is reached: `location` is a remote's name in the repository's
/// configuration, a URL, or a path.
pub struct Remote<'a> {
    git_dir: &'a Path,
    location: &'a str,
    token: Option<&'a Token>,
}

impl<'a> Remote<'a> {
    /// `git_dir` is the local repository's git directory (`Repository::path()`: works for
    /// bare repositories, worktrees and linked worktrees alike).
    pub fn new(git_dir: &'a Path, location: &'a str) -> Remote<'a> {
        Remote {
            git_dir,
            location,
            token: None,
        }
    }

    /// Offers `token` (as user `x-access-token`, like `actions/checkout`) when an HTTPS server
    /// asks for credentials. Credentials the user's git already sends take precedence.
    pub fn with_token(mut self, token: Option<&'a Token>) -> Remote<'a> {
        self.token = token;
        self
    }

    /// The remote's refs under `prefix` (e.g. `refs/heads/`), with the prefix kept.
    pub fn refs(&self, prefix: &str) -> Result<Vec<(String, Oid)>> {
        let out = self.run(&["ls-remote", "--refs", self.location], false)?;
        let mut refs = Vec::new();
        for line in out.lines() {
            let Some((id, name)) = line.split_once('\t') else {
                continue;
            };
            if let (true, Ok(id)) = (name.starts_with(prefix), Oid::from_str(id)) {
                refs.push((name.to_string(), id));
            }
        }
        Ok(refs)
    }

    /// Fetches `refspecs` without tags. Unless `quiet`, git's own progress is shown on stderr.
    pub fn fetch(&self, refspecs: &[String], quiet: bool) -> Result<()> {
        let mut args = vec!["fetch", "--no-tags", "--no-write-fetch-head"];
        args.push(if quiet { "--quiet" } else { "--progress" });
        args.push(self.location);
        args.extend(refspecs.iter().map(String::as_str));
        self.run(&args, !quiet).map(drop)
    }

    /// Pushes one refspec; fails, with git's reason, when the remote rejects it.
    pub fn push(&self, refspec: &str) -> Result<()> {
        self.run(
            &["push", "--porcelain", "--quiet", self.location, refspec],
            false,
        )
        .map(drop)
    }

    /// Runs git, returning its stdout. Its stderr is forwarded as it comes when `show_progress`
    /// (fetch progress), and is kept for the error message either way.
    fn run(&self, args: &[&str], show_progress: bool) -> Result<String> {
        let sh = crate::process::shell()?;
        let mut cmd = sh
            .cmd("git")
            .arg("--git-dir")
            .arg(self.git_dir)
            .args(args)
            // Never wait for a password on a terminal nobody watches (CI, --json pipelines).
            .env("GIT_TERMINAL_PROMPT", "0")
            // The toolkit's own locale-independent reading of git's messages.
            .env("LC_ALL", "C");
        if let Some(token) = self.token {
            cmd = add_config(
                cmd,
                "credential.helper",
                &format!(
                    "!f() {{ test \"$1\" = get && echo username=x-access-token && echo \"password=${TOKEN_VARIABLE}\"; }}; f"
                ),
            )
            .env(TOKEN_VARIABLE, token.expose());
        }
        // Streamed (fetch progress), so started by hand; the location may be a URL with
        // credentials in it, so the error names only git's subcommand.
        let shown = format!("git {}", args.first().copied().unwrap_or_default());
        let mut child = Command::from(cmd)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .context("cannot run `git`: install git and make sure it is on PATH")?;
        let mut stderr = child.stderr.take().context("git's stderr")?;
        let forward = std::thread::spawn(move || -> String {
            let mut kept = Vec::new();
            let mut shown = 0;
            let mut buf = [0u8; 4096];
            while let Ok(n) = stderr.read(&mut buf) {
                if n == 0 {
                    break;
                }
                kept.extend_from_slice(&buf[..n]);
                // Whole progress lines only; errors go into the message instead, because a
                // failed attempt may be followed by one that works.
                while let Some(end) = kept[shown..]
                    .iter()
                    .position(|b| *b == b'\r' || *b == b'\n')
                {
                    let line = &kept[shown..=shown + end];
                    if show_progress && !line.starts_with(b"fatal:") && !line.starts_with(b"error:")
                    {
                        eprint!("{}", String::from_utf8_lossy(line));
                    }
                    shown += end + 1;
                }
            }
            String::from_utf8_lossy(&kept).into_owned()
        });
        let mut stdout = String::new();
        child
            .stdout
            .take()
            .context("git's stdout")?
            .read_to_string(&mut stdout)?;
        let status = child.wait()?;
        let stderr = forward.join().unwrap_or_default();
        if !status.success() {
            return Err(crate::process::Failed {
                command: shown,
                status,
                stderr_tail: reason(&stderr, &stdout),
            }
            .into());
        }
        Ok(stdout)
    }
}

/// Sets one configuration value for a single git invocation through the environment
/// (`GIT_CONFIG_COUNT`), after whatever the caller's environment already sets that way. An empty
/// `credential.helper` first clears inherited helpers, so only this token is tried.
fn add_config<'a>(mut cmd: Cmd<'a>, key: &str, value: &str) -> Cmd<'a> {
    let mut n: usize = std::env::var("GIT_CONFIG_COUNT")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    for v in ["", value] {
        cmd = cmd
            .env(format!("GIT_CONFIG_KEY_{n}"), key)
            .env(format!("GIT_CONFIG_VALUE_{n}"), v);
        n += 1;
    }
    cmd.env("GIT_CONFIG_COUNT", n.to_string())
}

/// The lines of git's output that say why it failed (progress lines dropped); for a rejected
/// push, the porcelain status line.
fn reason(stderr: &str, stdout: &str) -> String {
    let rejected: Vec<&str> = stdout
        .lines()
        .filter(|l| l.starts_with('!'))
        .map(|l| l.trim_start_matches('!').trim())
        .collect();
    if !rejected.is_empty() {
        return format!("rejected {}", rejected.join("; "));
    }
    let lines: Vec<&str> = stderr
        .split(['\n', '\r'])
        .map(str::trim)
        .filter(|l| {
            !l.is_empty()
                && !l.starts_with("remote: Counting")
                && !l.starts_with("remote: Compressing")
                && !l.starts_with("remote: Enumerating")
                && !l.starts_with("Receiving objects")
                && !l.starts_with("Resolving deltas")
        })
        .collect();
    match lines.as_slice() {
        [] => "no message from git".to_string(),
        lines => lines.join("; "),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rejected_push_reports_the_porcelain_reason() {
        let stdout = "To /tmp/remote.git\n!\trefs/heads/a:refs/heads/a\t[rejected] (non-fast-forward)\nDone\n";
        assert_eq!(
            reason("error: failed to push some refs\n", stdout),
            "rejected refs/heads/a:refs/heads/a\t[rejected] (non-fast-forward)"
        );
    }

    #[test]
    fn progress_lines_are_not_part_of_the_reason() {
        let stderr = "remote: Counting objects: 10% (1/10)\rremote: Counting objects: 100% (10/10)\nfatal: remote error: upload-pack: not our ref 0123\n";
        assert_eq!(
            reason(stderr, ""),
            "fatal: remote error: upload-pack: not our ref 0123"
        );
    }
}
