//! Results of a compat run: one case per app × runtime, rendered as a terminal table, JUnit XML
//! (one test case per app × runtime), JSON for pipelines and Markdown for a step summary. Each
//! regression carries a readable diff.

use std::fmt::Write as _;
use std::time::Duration;

use serde::Serialize;

/// Which side of the comparison a runtime is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Baseline,
    Candidate,
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Role::Baseline => "baseline",
            Role::Candidate => "candidate",
        })
    }
}

/// How one app fared on one runtime.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Passed,
    Failed,
    /// The app cannot run on this runtime for a declared reason.
    Skipped,
}

/// One app on one runtime.
#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
pub struct Case {
    pub app: String,
    pub role: Role,
    /// The Microsoft.NETCore.App version it ran on.
    pub version: String,
    pub status: Status,
    /// Why it was skipped.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skip_reason: Option<String>,
    /// What went wrong, each a paragraph (diffs included).
    pub problems: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    pub duration_ms: u64,
}

/// The whole run.
#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
pub struct Report {
    pub candidate: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub baseline: Option<String>,
    pub cases: Vec<Case>,
    /// Golden files rewritten by `--bless`.
    pub blessed: Vec<String>,
}

impl Report {
    /// Cases that failed.
    pub fn failures(&self) -> impl Iterator<Item = &Case> {
        self.cases.iter().filter(|c| c.status == Status::Failed)
    }

    /// Counts of passed, failed and skipped cases.
    pub fn counts(&self) -> (usize, usize, usize) {
        let count = |s: Status| self.cases.iter().filter(|c| c.status == s).count();
        (
            count(Status::Passed),
            count(Status::Failed),
            count(Status::Skipped),
        )
    }

    /// The terminal table: one row per case (fitted to `width` when there is one: the notes
    /// wrap), then each failure's problems.
    pub fn table(
        &self,
        paint: &dyn Fn(&str, crate::console::Style) -> String,
        width: Option<u16>,
    ) -> String {
        use crate::console::Style;
        use crate::table::{Column, Table};
        let mut table = Table::new(&[
            Column::whole("app"),
            Column::whole("runtime"),
            Column::whole("version"),
            Column::whole("result"),
            Column::whole("time").right(),
            Column::wrapping("note"),
        ]);
        for c in &self.cases {
            let (label, style) = match c.status {
                Status::Passed => ("pass", Style::Good),
                Status::Failed => ("FAIL", Style::Bad),
                Status::Skipped => ("skip", Style::Warn),
            };
            let note = match (&c.skip_reason, c.problems.first()) {
                (Some(reason), _) => reason.clone(),
                (None, Some(p)) => p.lines().next().unwrap_or_default().to_string(),
                (None, None) => String::new(),
            };
            table.row(vec![
                c.app.clone(),
                c.role.to_string(),
                c.version.clone(),
                paint(label, style),
                format!("{:.1}s", Duration::from_millis(c.duration_ms).as_secs_f64()),
                note,
            ]);
        }
        let mut out = table.render(width);
        for c in self.failures() {
            let _ = writeln!(
                out,
                "\n{} on {} {}:",
                paint(&c.app, Style::Bold),
                c.role,
                c.version
            );
            for p in &c.problems {
                let _ = writeln!(out, "{p}");
            }
        }
        let (passed, failed, skipped) = self.counts();
        let _ = writeln!(out, "\n{passed} passed, {failed} failed, {skipped} skipped");
        out
    }

    /// JUnit XML: a suite per runtime, a test case per app × runtime.
    pub fn junit(&self) -> String {
        use quick_xml::escape::escape;
        let mut out = String::from(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"compat\">\n",
        );
        for role in [Role::Candidate, Role::Baseline] {
            let cases: Vec<&Case> = self.cases.iter().filter(|c| c.role == role).collect();
            let Some(first) = cases.first() else { continue };
            let failures = cases.iter().filter(|c| c.status == Status::Failed).count();
            let skipped = cases.iter().filter(|c| c.status == Status::Skipped).count();
            let time: u64 = cases.iter().map(|c| c.duration_ms).sum();
            let _ = writeln!(
                out,
                "  <testsuite name=\"{role} {}\" tests=\"{}\" failures=\"{failures}\" skipped=\"{skipped}\" time=\"{:.3}\">",
                escape(first.version.as_str()),
                cases.len(),
                time as f64 / 1000.0
            );
            for c in cases {
                let _ = write!(
                    out,
                    "    <testcase classname=\"compat.{role}\" name=\"{} on {role} {}\" time=\"{:.3}\"",
                    escape(c.app.as_str()),
                    escape(c.version.as_str()),
                    c.duration_ms as f64 / 1000.0
                );
                match c.status {
                    Status::Passed => out.push_str("/>\n"),
                    Status::Skipped => {
                        let reason = c.skip_reason.as_deref().unwrap_or_default();
                        let _ = writeln!(
                            out,
                            ">\n      <skipped message=\"{}\"/>\n    </testcase>",
                            escape(reason)
                        );
                    }
                    Status::Failed => {
                        let first = c
                            .problems
                            .first()
                            .map(|p| p.lines().next().unwrap_or_default())
                            .unwrap_or_default();
                        let _ = writeln!(
                            out,
                            ">\n      <failure message=\"{}\">{}</failure>\n    </testcase>",
                            escape(first),
                            escape(c.problems.join("\n\n").as_str())
                        );
                    }
                }
            }
            out.push_str("  </testsuite>\n");
        }
        out.push_str("</testsuites>\n");
        out
    }

    /// Markdown for `$GITHUB_STEP_SUMMARY`: a table and each failure's diff.
    pub fn markdown(&self) -> String {
        let (passed, failed, skipped) = self.counts();
        let mut out = format!("## Compatibility corpus\n\ncandidate `{}`", self.candidate);
        if let Some(b) = &self.baseline {
            let _ = write!(out, ", baseline `{b}`");
        }
        let _ = writeln!(
            out,
            ": **{passed} passed, {failed} failed, {skipped} skipped**\n"
        );
        out.push_str("| app | runtime | result | note |\n|---|---|---|---|\n");
        for c in &self.cases {
            let result = match c.status {
                Status::Passed => "✅ pass",
                Status::Failed => "❌ fail",
                Status::Skipped => "⏭️ skip",
            };
            let note = c.skip_reason.clone().or_else(|| {
                c.problems
                    .first()
                    .map(|p| p.lines().next().unwrap_or_default().to_string())
            });
            let _ = writeln!(
                out,
                "| {} | {} {} | {result} | {} |",
                c.app,
                c.role,
                c.version,
                note.unwrap_or_default().replace('|', "\\|")
            );
        }
        for c in self.failures() {
            let _ = writeln!(
                out,
                "\n<details><summary>{} on {} {}</summary>\n\n```diff\n{}\n```\n</details>",
                c.app,
                c.role,
                c.version,
                c.problems.join("\n\n")
            );
        }
        out
    }
}

/// A unified diff of two outputs, with invisible characters (no-break spaces, control
/// characters) spelled out so a difference never looks like no difference.
pub fn diff(old_label: &str, old: &str, new_label: &str, new: &str) -> String {
    let text = similar::TextDiff::from_lines(old, new);
    let mut out = String::new();
    let _ = writeln!(out, "--- {old_label}\n+++ {new_label}");
    for group in text.grouped_ops(2) {
        for op in group {
            for change in text.iter_changes(&op) {
                let sign = match change.tag() {
                    similar::ChangeTag::Delete => '-',
                    similar::ChangeTag::Insert => '+',
                    similar::ChangeTag::Equal => ' ',
                };
                let line = change.value().strip_suffix('\n').unwrap_or(change.value());
                let _ = writeln!(out, "{sign}{}", visible(line));
            }
        }
        out.push_str("@@\n");
    }
    out.trim_end_matches("@@\n").trim_end().to_string()
}

fn visible(line: &str) -> String {
    line.chars()
        .map(|c| {
            if (c.is_whitespace() && c != ' ' && c != '\t') || (c.is_control() && c != '\t') {
                format!("<U+{:04X}>", c as u32)
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// The last `n` lines of a stream, for crash reports.
pub fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}
