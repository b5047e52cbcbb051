//! What a backport did: the report types (the `--json` contract), the exact next steps after a
//! conflict, and their renderings for a person (`human`) and for GitHub (`markdown`: step
//! summaries and pull request bodies).

use std::path::PathBuf;

use git2::Oid;
use serde::{Deserialize, Serialize};

use super::state::SavedState;
use super::{ConflictedPath, Evidence, Prerequisite};
use crate::console::{paint, Style};
use crate::table::{Column, Table};

/// What happened to the branch on the remote.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Push {
    /// The branch did not exist and was created.
    Created,
    /// The branch moved forward (or replaced this tool's own earlier push).
    Updated,
    /// The branch already held exactly this result.
    Unchanged,
    /// The branch has commits this tool did not push; it was left alone, and so was the PR.
    KeptOthersWork,
}

/// The published pull request (part of `backport --json` as `pull_request`).
#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
pub struct Published {
    pub repository: String,
    pub branch: String,
    pub number: u64,
    pub url: String,
    /// True when this run opened it (false: an open one was updated).
    pub created: bool,
    pub draft: bool,
    /// The commit the branch should hold.
    pub head: String,
    pub push: Push,
}

impl Published {
    /// One line saying what happened to the pull request, for the terminal and step summaries.
    pub fn summary_line(&self) -> String {
        let what = match (self.push, self.created) {
            (Push::KeptOthersWork, _) => {
                return format!(
                "pull request #{} ({}) left as it is: branch {} has commits net6-els did not push",
                self.number, self.url, self.branch
            )
            }
            (_, true) => "opened",
            (_, false) => "updated",
        };
        format!(
            "{what} {}pull request #{} {} (branch {})",
            if self.draft { "draft " } else { "" },
            self.number,
            self.url,
            self.branch
        )
    }
}

/// What happened to one fix.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum FixStatus {
    /// A new commit on the branch carries it.
    Applied,
    /// The branch already has it (see `evidence`).
    AlreadyApplied,
    /// It conflicts; the backport stopped here.
    Conflict,
    /// It conflicts and was left out (`--skip-conflicts`); the run went on without it.
    Skipped,
    /// The backport stopped before this fix.
    NotReached,
}

/// The report for one fix (part of the `--json` contract).
#[derive(Clone, Debug, Serialize, Deserialize, schemars::JsonSchema)]
pub struct FixReport {
    /// The FIX as given.
    pub fix: String,
    /// The full upstream commit id.
    pub upstream: String,
    pub subject: String,
    pub status: FixStatus,
    /// The new fork commit, when applied.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
    /// Why it counts as already applied.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub evidence: Option<Evidence>,
    /// The fork commit that already carries it (trailer or patch-id evidence).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub equivalent: Option<String>,
    /// True when a person resolved a conflict for it.
    #[serde(default)]
    pub resolved_by_hand: bool,
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub conflicts: Vec<ConflictedPath>,
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub prerequisites: Vec<Prerequisite>,
    /// The reference sources (public API) the upstream commit changes: such a fix is classed
    /// `public-api`, a decision to justify (servicing adds no public API; see `apicompat`).
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub public_api: Vec<String>,
}

/// The result of a backport run (the `--json` report).
#[derive(Clone, Debug, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Report {
    pub fork: PathBuf,
    pub onto: String,
    pub cve: Option<String>,
    pub dry_run: bool,
    /// The branch tip before the run.
    pub original_tip: String,
    /// The branch tip after the run (unchanged for a dry run).
    pub tip: String,
    pub fixes: Vec<FixReport>,
    /// Where the conflict waits to be resolved, when the run stopped.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub conflict_worktree: Option<PathBuf>,
    /// The exact commands to finish or cancel a stopped backport.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub next_steps: Vec<String>,
}

/// `cargo xtask backport --json`: the report, plus what `--open-pr` published and what the
/// patch queue recorded.
#[derive(Serialize, schemars::JsonSchema)]
pub struct Document<'a> {
    #[serde(flatten)]
    pub report: &'a Report,
    /// With `--open-pr`: the pull request, or null when every fix was already on the branch.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pull_request: Option<Option<&'a Published>>,
    /// The patch queue the result was recorded in.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub queue: Option<QueueRecord>,
}

/// What recording a backport in the patch queue wrote.
#[derive(Serialize, schemars::JsonSchema)]
pub struct QueueRecord {
    pub dir: PathBuf,
    /// Patches in the repository's queue.
    pub patches: usize,
    /// Patch files of the old queue that are gone.
    pub removed: Vec<String>,
    /// False when nothing changed.
    pub written: bool,
}

impl Report {
    /// True when the run stopped at a conflict.
    pub fn stopped(&self) -> bool {
        self.fixes.iter().any(|f| f.status == FixStatus::Conflict)
    }

    /// How many conflicting fixes `--skip-conflicts` left out.
    pub fn skipped(&self) -> usize {
        self.fixes
            .iter()
            .filter(|f| f.status == FixStatus::Skipped)
            .count()
    }
}

/// The report of a run that ended at `tip`; a stopped real run gets the commands to go on.
pub(super) fn report(
    fork: PathBuf,
    st: &SavedState,
    tip: Oid,
    dry_run: bool,
    conflict_worktree: Option<PathBuf>,
) -> Report {
    let stopped = st.fixes.iter().any(|f| f.status == FixStatus::Conflict);
    let next_steps = match (&conflict_worktree, stopped && !dry_run) {
        (Some(wt), true) => {
            let fork_q = shell_quote(&fork.display().to_string());
            let wt_q = shell_quote(&wt.display().to_string());
            let mut steps = vec![
                format!("cd {wt_q}"),
                "git status                      # the conflicted files".to_string(),
            ];
            if st.created_worktree.is_some() {
                steps.push(
                    "git sparse-checkout disable     # only the fix's files are checked out here; this checks out the rest (to build)"
                        .to_string(),
                );
            }
            steps.extend([
                "git mergetool                   # or edit them; then `git add <file>` each"
                    .to_string(),
                format!("cargo xtask backport --fork {fork_q} --continue"),
                format!(
                    "cargo xtask backport --fork {fork_q} --abort    # to give up and restore {}",
                    st.onto
                ),
            ]);
            steps
        }
        _ => Vec::new(),
    };
    Report {
        fork,
        onto: st.onto.clone(),
        cve: st.cve.clone(),
        dry_run,
        original_tip: st.original_tip.clone(),
        tip: tip.to_string(),
        fixes: st.fixes.clone(),
        conflict_worktree,
        next_steps,
    }
}

fn shell_quote(s: &str) -> String {
    if s.chars()
        .all(|c| c.is_ascii_alphanumeric() || "/._-+:@".contains(c))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

impl Report {
    /// The report for a person: one line per fix, its conflicts (a table fitted to `width` when
    /// there is one) and likely prerequisites, and what to do next.
    pub fn human(&self, width: Option<u16>) -> String {
        let report = self;
        let mut out = format!(
            "{} {} in {}{}{}\n",
            if report.dry_run {
                "dry run: backport onto"
            } else {
                "backport onto"
            },
            paint(&report.onto, Style::Bold),
            report.fork.display(),
            report
                .cve
                .as_deref()
                .map(|c| format!(" ({c})"))
                .unwrap_or_default(),
            if report.dry_run {
                " — nothing changed"
            } else {
                ""
            },
        );
        for f in &report.fixes {
            out.push_str(&format!(
                "  {} {} {} {}\n",
                status_label(f),
                f.fix,
                detail(f),
                paint(&f.subject, Style::Dim)
            ));
            if !f.public_api.is_empty() {
                out.push_str(&format!(
                    "      {} changes reference sources (servicing adds no public API): {}\n",
                    paint("public-api", Style::Warn),
                    f.public_api.join(", ")
                ));
            }
            if !f.conflicts.is_empty() {
                const INDENT: &str = "      ";
                let mut files = Table::new(&[
                    Column::whole("conflict"),
                    Column::whole("class"),
                    Column::wrapping("path"),
                ]);
                for c in &f.conflicts {
                    files.row(vec![
                        c.kind.to_string(),
                        c.class.to_string(),
                        c.path.clone(),
                    ]);
                }
                let width = width.map(|w| w.saturating_sub(INDENT.len() as u16));
                for line in files.render(width).lines() {
                    out.push_str(INDENT);
                    out.push_str(line);
                    out.push('\n');
                }
            }
            if matches!(f.status, FixStatus::Conflict | FixStatus::Skipped)
                && f.conflicts.iter().all(|c| c.class == "version-infra")
            {
                out.push_str("      only version/infrastructure files conflict: usually keep the fork's side (`git checkout --ours <file>`)\n");
            }
            if !f.prerequisites.is_empty() {
                out.push_str("      likely prerequisites (earlier upstream commits, not on the fork, that touched these files):\n");
                for p in &f.prerequisites {
                    out.push_str(&format!(
                        "        {} {} ({})\n",
                        short(&p.commit),
                        p.subject,
                        p.paths.join(", ")
                    ));
                }
            }
        }
        if !report.next_steps.is_empty() {
            out.push_str(&format!(
                "\n{}\n",
                paint("Stopped at a conflict. Next:", Style::Bold)
            ));
            for step in &report.next_steps {
                out.push_str(&format!("  {step}\n"));
            }
        } else if report.stopped() {
            out.push_str("\nA real run would stop at the conflict above.\n");
        }
        if report.skipped() > 0 {
            out.push_str(&format!(
                "\n{} conflicting fix(es) left out; backport each on its own to resolve it.\n",
                report.skipped()
            ));
        }
        out
    }

    /// The report as Markdown, for GitHub step summaries and pull request bodies.
    pub fn markdown(&self) -> String {
        let report = self;
        let mut out = format!(
            "### Backport onto `{}`{}\n\n",
            report.onto,
            report
                .cve
                .as_deref()
                .map(|c| format!(" ({c})"))
                .unwrap_or_default()
        );
        out.push_str("| fix | status | result | subject |\n|---|---|---|---|\n");
        for f in &report.fixes {
            let status = serde_json::to_value(f.status)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default();
            let class = if f.public_api.is_empty() {
                ""
            } else {
                " (public-api)"
            };
            out.push_str(&format!(
                "| `{}` | {status}{class} | {} | {} |\n",
                f.fix,
                detail(f),
                f.subject.replace('|', "\\|")
            ));
        }
        for f in report.fixes.iter().filter(|f| !f.conflicts.is_empty()) {
            out.push_str(&format!(
                "\n**Conflicts in `{}`**\n\n| path | kind | class |\n|---|---|---|\n",
                f.fix
            ));
            for c in &f.conflicts {
                out.push_str(&format!("| `{}` | {} | {} |\n", c.path, c.kind, c.class));
            }
            if !f.prerequisites.is_empty() {
                out.push_str("\nLikely prerequisites:\n\n");
                for p in &f.prerequisites {
                    out.push_str(&format!("- `{}` {}\n", short(&p.commit), p.subject));
                }
            }
        }
        out
    }
}

/// An abbreviated commit id.
pub(crate) fn short(id: &str) -> &str {
    &id[..id.len().min(10)]
}

/// A fix's status, padded and coloured for the table.
fn status_label(f: &FixReport) -> String {
    let (text, style) = match f.status {
        FixStatus::Applied => ("applied", Style::Good),
        FixStatus::AlreadyApplied => ("already-applied", Style::Dim),
        FixStatus::Conflict => ("conflict", Style::Bad),
        FixStatus::Skipped => ("skipped", Style::Bad),
        FixStatus::NotReached => ("not-reached", Style::Warn),
    };
    paint(&format!("{text:<16}"), style)
}

/// What became of a fix: the new commit, or why it counts as already applied.
fn detail(f: &FixReport) -> String {
    match (f.status, &f.evidence) {
        (FixStatus::Applied, _) => format!(
            "→ {}{}",
            short(f.commit.as_deref().unwrap_or("")),
            if f.resolved_by_hand {
                " (resolved by hand)"
            } else {
                ""
            }
        ),
        (FixStatus::AlreadyApplied, Some(e)) => {
            let why = match e {
                Evidence::Ancestor => "upstream commit is an ancestor".to_string(),
                Evidence::Trailer => format!(
                    "cherry-picked as {}",
                    short(f.equivalent.as_deref().unwrap_or(""))
                ),
                Evidence::PatchId => format!(
                    "same patch-id as {}",
                    short(f.equivalent.as_deref().unwrap_or(""))
                ),
                Evidence::Empty => "picking it changes nothing".to_string(),
            };
            format!("({why})")
        }
        _ => String::new(),
    }
}
