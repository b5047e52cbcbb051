//! `cargo xtask pipelines check`: keeps the GitHub Actions workflows in `pipelines/` and
//! `.github/workflows/` honest. Every `cargo xtask …` they run parses with the real command line
//! (so a renamed flag breaks CI, not the next release), every action is pinned to a full commit
//! SHA, every job declares its `permissions`, and no `run:` script pastes untrusted `${{ }}` text.
//! `cargo xtask pipelines rehearse` runs them here (see [`rehearse`]).

pub mod expr;
pub mod rehearse;
mod script;
pub mod yaml;

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde::Serialize;

use crate::console::{paint, Style};
pub use script::{expressions, untrusted_references, xtask_invocations, Invocation};
use yaml::Node;

/// The workflow directories checked by default, relative to the repository root.
pub const DEFAULT_DIRS: &[&str] = &["pipelines", ".github/workflows"];

/// One problem in a workflow file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct Problem {
    pub file: PathBuf,
    pub line: usize,
    pub message: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}: {}", self.file.display(), self.line, self.message)
    }
}

/// The result of checking a set of workflow files.
#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
pub struct CheckReport {
    pub files: Vec<PathBuf>,
    /// How many `cargo xtask` invocations were parsed.
    pub invocations: usize,
    pub problems: Vec<Problem>,
}

/// The workflow files under `paths` (files, or directories whose `*.yml`/`*.yaml` are taken),
/// relative to `root`; by default the [`DEFAULT_DIRS`] that exist.
pub fn workflow_files(root: &Path, paths: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let defaults: Vec<PathBuf> = DEFAULT_DIRS.iter().map(PathBuf::from).collect();
    let explicit = !paths.is_empty();
    let mut files = Vec::new();
    for p in if explicit { paths } else { &defaults } {
        let full = root.join(p);
        if full.is_file() {
            files.push(full);
        } else if full.is_dir() {
            let mut here: Vec<PathBuf> = std::fs::read_dir(&full)
                .with_context(|| format!("cannot list {}", full.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.is_file() && p.extension().is_some_and(|e| e == "yml" || e == "yaml"))
                .collect();
            here.sort();
            files.extend(here);
        } else if explicit {
            bail!(
                "{} does not exist; name workflow files or directories",
                full.display()
            );
        }
    }
    if files.is_empty() {
        bail!(
            "no workflow files found under {} ({}); pass the files or directories to check",
            root.display(),
            DEFAULT_DIRS.join(", ")
        );
    }
    Ok(files)
}

/// Checks every workflow file; problem paths are shown relative to `root`.
/// `command_line` is the toolkit's command-line definition (`cli::Cli::command()`), which the
/// invocations are parsed with; it is passed in so that this engine does not depend on the CLI.
pub fn check(root: &Path, files: &[PathBuf], command_line: &clap::Command) -> Result<CheckReport> {
    let mut report = CheckReport {
        files: Vec::new(),
        invocations: 0,
        problems: Vec::new(),
    };
    for file in files {
        let text = std::fs::read_to_string(file)
            .with_context(|| format!("cannot read {}", file.display()))?;
        let shown = file.strip_prefix(root).unwrap_or(file).to_path_buf();
        let (problems, invocations) = check_text(&shown, &text, command_line);
        report.problems.extend(problems);
        report.invocations += invocations;
        report.files.push(shown);
    }
    report.problems.extend(stale_copies(root, files)?);
    Ok(report)
}

impl CheckReport {
    /// The problems and a summary line, for a person.
    pub fn human(&self) -> String {
        let mut out = String::new();
        for p in &self.problems {
            out.push_str(&format!("{} {p}\n", paint("error:", Style::Bad)));
        }
        let summary = format!(
            "{} workflow file(s), {} `cargo xtask` invocation(s), {} problem(s)",
            self.files.len(),
            self.invocations,
            self.problems.len()
        );
        let style = if self.problems.is_empty() {
            Style::Good
        } else {
            Style::Bad
        };
        out.push_str(&paint(&summary, style));
        out.push('\n');
        out
    }

    /// The problems as a Markdown table, for a GitHub step summary.
    pub fn markdown(&self) -> String {
        let mut out = String::from("### pipelines check\n\n| where | problem |\n|---|---|\n");
        for p in &self.problems {
            out.push_str(&format!(
                "| `{}:{}` | {} |\n",
                p.file.display(),
                p.line,
                p.message.replace('|', "\\|")
            ));
        }
        out
    }
}

/// A reusable workflow only runs from `.github/workflows/`, so a repository that runs
/// `pipelines/<name>.yml` keeps a copy there as `els-<name>.yml`; the copy must not drift.
fn stale_copies(root: &Path, files: &[PathBuf]) -> Result<Vec<Problem>> {
    let mut problems = Vec::new();
    for file in files {
        let in_pipelines = file
            .parent()
            .is_some_and(|d| d.file_name().is_some_and(|n| n == "pipelines"));
        let Some(name) = file.file_name().filter(|_| in_pipelines) else {
            continue;
        };
        let copy = root
            .join(".github/workflows")
            .join(format!("els-{}", name.to_string_lossy()));
        if !copy.is_file() {
            continue;
        }
        let read =
            |p: &Path| std::fs::read(p).with_context(|| format!("cannot read {}", p.display()));
        if read(file)? != read(&copy)? {
            let shown = |p: &Path| p.strip_prefix(root).unwrap_or(p).display().to_string();
            problems.push(Problem {
                file: copy.strip_prefix(root).unwrap_or(&copy).to_path_buf(),
                line: 1,
                message: format!(
                    "differs from {}, which it installs; copy it again: `cp {} {}`",
                    shown(file),
                    shown(file),
                    shown(&copy)
                ),
            });
        }
    }
    Ok(problems)
}

/// Checks one workflow's text against `command_line`; returns its problems and how many
/// invocations it has.
pub fn check_text(file: &Path, text: &str, command_line: &clap::Command) -> (Vec<Problem>, usize) {
    let mut c = Checker {
        command_line,
        file: file.to_path_buf(),
        problems: Vec::new(),
        invocations: 0,
    };
    match yaml::parse(text) {
        Ok(root) => c.workflow(&root),
        Err(e) => c.problem(e.line, format!("not valid YAML: {}", e.message)),
    }
    (c.problems, c.invocations)
}

struct Checker<'a> {
    command_line: &'a clap::Command,
    file: PathBuf,
    problems: Vec<Problem>,
    invocations: usize,
}

impl Checker<'_> {
    fn problem(&mut self, line: usize, message: String) {
        self.problems.push(Problem {
            file: self.file.clone(),
            line,
            message,
        });
    }

    fn workflow(&mut self, root: &Node) {
        let Some(jobs) = root.get("jobs") else {
            self.problem(root.line(), "no `jobs:`: not a workflow".to_string());
            return;
        };
        let pull_request_target = root.get("on").is_some_and(|on| {
            on.as_str() == Some("pull_request_target")
                || on.get("pull_request_target").is_some()
                || on
                    .items()
                    .iter()
                    .any(|t| t.as_str() == Some("pull_request_target"))
        });
        for (name, job) in jobs.entries() {
            let job_name = name.as_str().unwrap_or("?");
            if job.get("permissions").is_none() {
                self.problem(
                    name.line(),
                    format!("job `{job_name}` does not declare `permissions:`; give it the least it needs (e.g. `permissions: {{ contents: read }}`)"),
                );
            }
            if let Some(uses) = job.get("uses") {
                self.pinned(uses);
            }
            if let Some((key, secrets)) = job.entry("secrets") {
                if secrets.as_str() == Some("inherit") {
                    self.problem(key.line(), format!("job `{job_name}` passes `secrets: inherit`; pass only the secrets the called workflow needs"));
                }
            }
            for step in job.get("steps").map(Node::items).unwrap_or_default() {
                if let Some(uses) = step.get("uses") {
                    self.pinned(uses);
                    if pull_request_target
                        && uses
                            .as_str()
                            .is_some_and(|u| u.starts_with("actions/checkout@"))
                    {
                        let r = step
                            .get("with")
                            .and_then(|w| w.get("ref"))
                            .and_then(Node::as_str)
                            .unwrap_or("");
                        if r.contains("github.event.pull_request.head")
                            || r.contains("github.head_ref")
                        {
                            self.problem(uses.line(), "checks out the pull request's code in a `pull_request_target` workflow, which runs with the base repository's secrets; use `pull_request` instead".to_string());
                        }
                    }
                }
                if let Some(run) = step.get("run") {
                    self.script(run);
                }
            }
        }
    }

    /// `uses:` must be a local action, a docker image by digest, or pinned to a 40-hex SHA.
    fn pinned(&mut self, uses: &Node) {
        let Some(u) = uses.as_str() else { return };
        if u.starts_with("./") {
            return;
        }
        if let Some(image) = u.strip_prefix("docker://") {
            if !image.contains("@sha256:") {
                self.problem(
                    uses.line(),
                    format!(
                        "`{u}` is not pinned: use the image digest (`docker://IMAGE@sha256:…`)"
                    ),
                );
            }
            return;
        }
        let pinned = u
            .rsplit_once('@')
            .is_some_and(|(_, r)| r.len() == 40 && r.chars().all(|c| c.is_ascii_hexdigit()));
        if !pinned {
            self.problem(
                uses.line(),
                format!(
                    "`{u}` is not pinned to a full commit SHA; use `{}@<40-hex SHA> # vX.Y.Z`",
                    u.split('@').next().unwrap_or(u)
                ),
            );
        }
    }

    fn script(&mut self, run: &Node) {
        let Some(text) = run.as_str() else { return };
        for e in expressions(text) {
            let refs = untrusted_references(&e.text);
            if !refs.is_empty() {
                self.problem(
                    run.text_line(e.line),
                    format!("`${{{{ {} }}}}` is pasted into the script before the shell runs (script injection); pass {} through `env:` and use the variable", e.text, refs.join(", ")),
                );
            }
        }
        let (found, unreadable) = xtask_invocations(text);
        for u in unreadable {
            self.problem(
                run.text_line(u.line),
                format!(
                    "cannot split this line into shell words (unbalanced quotes?): {}",
                    u.text
                ),
            );
        }
        for inv in found {
            self.invocations += 1;
            if let Err(why) = parse_invocation(&inv, self.command_line) {
                self.problem(
                    run.text_line(inv.line),
                    format!(
                        "`cargo xtask {}` does not match the command line: {why}",
                        inv.args.join(" ")
                    ),
                );
            }
        }
    }
}

/// Parses an invocation with the real command-line definition. Values only known at run time
/// cannot be validated, so when there are any, every value parser accepts any text (flags,
/// subcommands, required arguments and arity are still checked).
pub fn parse_invocation(
    inv: &Invocation,
    command_line: &clap::Command,
) -> std::result::Result<(), String> {
    let argv = std::iter::once("cargo-xtask".to_string()).chain(inv.args.iter().cloned());
    let command_line = if inv.dynamic {
        relaxed(command_line.clone())
    } else {
        command_line.clone()
    };
    let result = command_line.try_get_matches_from(argv).map(drop);
    match result {
        Ok(()) => Ok(()),
        Err(e)
            if matches!(
                e.kind(),
                clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion
            ) =>
        {
            Ok(())
        }
        Err(e) => {
            let text = e.render().to_string();
            let first: Vec<&str> = text
                .lines()
                .take_while(|l| !l.trim().is_empty())
                .map(|l| l.trim().trim_start_matches("error: "))
                .collect();
            Err(first.join(" "))
        }
    }
}

fn relaxed(cmd: clap::Command) -> clap::Command {
    cmd.mut_args(|a| {
        if a.get_action().takes_values() {
            a.value_parser(clap::builder::ValueParser::string())
        } else {
            a
        }
    })
    .mut_subcommands(relaxed)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The part of the command line these workflows use: the rules are tested here, the real
    /// command line by `tests/it/pipelines.rs` against the real workflows.
    fn command_line() -> clap::Command {
        let flag = |name: &'static str| {
            clap::Arg::new(name)
                .long(name)
                .action(clap::ArgAction::SetTrue)
        };
        clap::Command::new("cargo-xtask")
            .subcommand_required(true)
            .subcommand(
                clap::Command::new("backport")
                    .arg(clap::Arg::new("cve").long("cve"))
                    .arg(flag("dry-run"))
                    .arg(clap::Arg::new("fix").num_args(1..)),
            )
            .subcommand(clap::Command::new("test"))
    }

    fn problems(yaml: &str) -> Vec<String> {
        check_text(Path::new("w.yml"), yaml, &command_line())
            .0
            .into_iter()
            .map(|p| format!("{}: {}", p.line, p.message))
            .collect()
    }

    #[test]
    fn a_clean_workflow_has_no_problems() {
        let ok = "on: push\npermissions: {}\njobs:\n  ci:\n    permissions:\n      contents: read\n    runs-on: ubuntu-22.04\n    steps:\n      - uses: actions/checkout@3d3c42e5aac5ba805825da76410c181273ba90b1 # v7.0.1\n      - uses: ./.github/actions/setup\n      - run: |\n          cargo xtask backport --cve CVE-2025-55248 runtime@44527b9 --dry-run\n          cargo xtask test\n";
        assert_eq!(problems(ok), Vec::<String>::new());
    }

    #[test]
    fn each_rule_reports_its_line() {
        let bad = "on: pull_request_target\njobs:\n  a:\n    runs-on: ubuntu-22.04\n    steps:\n      - uses: actions/checkout@v4\n        with:\n          ref: ${{ github.event.pull_request.head.sha }}\n      - run: |\n          echo \"${{ github.event.pull_request.title }}\"\n          cargo xtask backport --no-such-flag 44527b9\n";
        let got = problems(bad);
        assert!(
            got.iter()
                .any(|p| p.starts_with("3: job `a` does not declare")),
            "{got:#?}"
        );
        assert!(
            got.iter()
                .any(|p| p.starts_with("6: `actions/checkout@v4` is not pinned")),
            "{got:#?}"
        );
        assert!(
            got.iter()
                .any(|p| p.starts_with("6: checks out the pull request")),
            "{got:#?}"
        );
        assert!(
            got.iter()
                .any(|p| p.starts_with("10: `${{ github.event.pull_request.title }}`")),
            "{got:#?}"
        );
        assert!(
            got.iter().any(|p| p
                .starts_with("11: `cargo xtask backport --no-such-flag 44527b9` does not match")
                && p.contains("--no-such-flag")),
            "{got:#?}"
        );
        assert_eq!(got.len(), 5, "{got:#?}");
    }
}
