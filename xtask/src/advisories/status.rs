//! The advisory status report: one row per tracked CVE with the fork's status, the remediation
//! deadline (disclosure date + SLA days by severity) and whether it is overdue. Rendered as a
//! terminal table, JSON, or Markdown for a GitHub step summary.

use jiff::civil::Date;
use serde::Serialize;

use super::queue::QueueCves;
use super::triage::{Decision, Triage};
use super::{Advisory, Snapshot};
use crate::config::SlaDays;
use crate::console::{paint, Style};
use crate::cve::CveId;

/// The fork's status for one CVE.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    /// A patch in runtime-patches/ names the CVE.
    Backported,
    /// Affects the fork and is not yet backported.
    Pending,
    /// Triaged as not affecting .NET 6, with a written justification.
    NotAffected,
    /// Nobody has decided yet whether it affects .NET 6.
    NeedsTriage,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Backported => "backported",
            Status::Pending => "pending",
            Status::NotAffected => "not-affected",
            Status::NeedsTriage => "needs-triage",
        }
    }

    fn style(self) -> Style {
        match self {
            Status::Backported => Style::Good,
            Status::Pending => Style::Warn,
            Status::NotAffected => Style::Dim,
            Status::NeedsTriage => Style::Bad,
        }
    }

    /// Whether the remediation deadline still applies.
    fn open(self) -> bool {
        matches!(self, Status::Pending | Status::NeedsTriage)
    }
}

/// Upstream fix commits on one branch.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct BranchCommits {
    pub branch: String,
    /// `repo@shortsha` keys.
    pub commits: Vec<String>,
}

/// One row of the report.
#[derive(Clone, Debug, PartialEq, Serialize, schemars::JsonSchema)]
pub struct Row {
    pub id: CveId,
    pub title: Option<String>,
    pub score: Option<f64>,
    pub severity: Option<String>,
    pub components: Vec<String>,
    pub fixed_8_0: Option<String>,
    pub fixed_9_0: Option<String>,
    /// `release/8.0` first.
    pub commits: Vec<BranchCommits>,
    pub status: Status,
    /// Why: the triage statement, the backport patches, or what triage needs to look at.
    pub note: String,
    pub link: Option<String>,
    pub disclosed: Date,
    pub deadline: Date,
    /// Days past the deadline for open CVEs; absent when not overdue.
    pub overdue_days: Option<i32>,
}

/// The whole report, as of `today`.
#[derive(Clone, Debug, PartialEq, Serialize, schemars::JsonSchema)]
pub struct StatusReport {
    pub today: Date,
    pub rows: Vec<Row>,
}

/// How many days the SLA gives a CVE: by CVSS score; unscored CVEs get the strictest.
pub fn sla_days(score: Option<f64>, sla: &SlaDays) -> u32 {
    match score {
        Some(s) if s < 4.0 => sla.low,
        Some(s) if s < 7.0 => sla.medium,
        _ => sla.high,
    }
}

/// Decides the status of one advisory and explains it.
pub fn classify(advisory: &Advisory, triage: &Triage, queue: &QueueCves) -> (Status, String) {
    let patches = queue.patches(&advisory.id);
    if !patches.is_empty() {
        let list: Vec<String> = patches
            .iter()
            .map(|p| format!("{}/{}", p.repo, p.patch))
            .collect();
        return (Status::Backported, list.join(", "));
    }
    if let Some(entry) = triage.get(&advisory.id) {
        return match entry.status {
            Decision::NotAffected => {
                let why = entry.justification.map(|j| j.as_str()).unwrap_or_default();
                (Status::NotAffected, format!("{why}: {}", entry.statement))
            }
            Decision::Affected => (Status::Pending, entry.statement.clone()),
        };
    }
    if advisory.title.is_none() {
        return (
            Status::NeedsTriage,
            "listed in releases.json but not (yet) in a cve.json; read the advisory".to_string(),
        );
    }
    if advisory.fixes.iter().any(|f| f.release == "8.0") {
        return (
            Status::Pending,
            "8.0 is affected, so 6.0 most likely is".to_string(),
        );
    }
    let releases: Vec<&str> = {
        let mut r: Vec<&str> = advisory
            .fixes
            .iter()
            .map(|f| f.release.as_str())
            .filter(|r| !r.is_empty())
            .collect();
        r.sort();
        r.dedup();
        r
    };
    let what = if releases.is_empty() {
        "no release".to_string()
    } else {
        releases.join(", ")
    };
    (
        Status::NeedsTriage,
        format!("only {what} listed as affected; check whether the code exists in 6.0"),
    )
}

fn branch_commits(advisory: &Advisory) -> Vec<BranchCommits> {
    let mut out: Vec<BranchCommits> = Vec::new();
    for (key, commit) in advisory.commits_by_branch() {
        match out.iter_mut().find(|b| b.branch == commit.branch) {
            Some(b) => b.commits.push(key.to_string()),
            None => out.push(BranchCommits {
                branch: commit.branch.clone(),
                commits: vec![key.to_string()],
            }),
        }
    }
    out
}

impl StatusReport {
    /// Joins the snapshot with triage and the patch queue.
    pub fn compute(
        snapshot: &Snapshot,
        triage: &Triage,
        queue: &QueueCves,
        today: Date,
        sla: &SlaDays,
    ) -> StatusReport {
        let rows = snapshot
            .advisories
            .iter()
            .map(|a| {
                let (status, note) = classify(a, triage, queue);
                let score = a.cvss.as_ref().map(|c| c.score);
                let deadline = a
                    .disclosed
                    .saturating_add(jiff::Span::new().days(i64::from(sla_days(score, sla))));
                let late = (today - deadline).get_days();
                Row {
                    id: a.id.clone(),
                    title: a.title.clone(),
                    score,
                    severity: a.cvss.as_ref().map(|c| c.severity.clone()),
                    components: a.components().into_iter().map(str::to_string).collect(),
                    fixed_8_0: a.first_fixed("8.0"),
                    fixed_9_0: a.first_fixed("9.0"),
                    commits: branch_commits(a),
                    status,
                    note,
                    link: a.link.clone(),
                    disclosed: a.disclosed,
                    deadline,
                    overdue_days: (status.open() && late > 0).then_some(late),
                }
            })
            .collect();
        StatusReport { today, rows }
    }

    /// Rows with this status.
    pub fn count(&self, status: Status) -> usize {
        self.rows.iter().filter(|r| r.status == status).count()
    }

    /// Rows past their deadline.
    pub fn overdue(&self) -> usize {
        self.rows
            .iter()
            .filter(|r| r.overdue_days.is_some())
            .count()
    }

    /// True when CI should fail: something is overdue or nobody has triaged it.
    pub fn needs_attention(&self) -> bool {
        self.overdue() > 0 || self.count(Status::NeedsTriage) > 0
    }

    /// One line of totals.
    pub fn summary(&self) -> String {
        format!(
            "{} CVEs as of {}: {} backported, {} pending, {} not affected, {} need triage; {} overdue",
            self.rows.len(),
            self.today,
            self.count(Status::Backported),
            self.count(Status::Pending),
            self.count(Status::NotAffected),
            self.count(Status::NeedsTriage),
            self.overdue()
        )
    }
}

fn short_component(c: &str) -> &str {
    c.strip_prefix("dotnet-").unwrap_or(c)
}

fn score_text(row: &Row) -> String {
    match (row.score, &row.severity) {
        (Some(s), Some(sev)) => format!("{s:.1} {sev}"),
        (Some(s), None) => format!("{s:.1}"),
        _ => "-".to_string(),
    }
}

/// The commits shown in a table cell: `release/8.0` ones, else the first branch's, marked.
fn commits_cell(row: &Row) -> String {
    match row.commits.first() {
        None => "-".to_string(),
        Some(b) if b.branch == "release/8.0" => b.commits.join(" "),
        Some(b) => format!("{} ({})", b.commits.join(" "), b.branch),
    }
}

fn deadline_text(row: &Row) -> String {
    match row.overdue_days {
        Some(days) => format!("{} OVERDUE {days}d", row.deadline),
        None => row.deadline.to_string(),
    }
}

/// The terminal table (colours only when stdout gets them), fitted to `width` when there is one
/// (a terminal's; scores, components, titles, commits and deadlines wrap between words), followed by the totals.
pub fn render_table(report: &StatusReport, width: Option<u16>) -> String {
    use crate::table::{Column, Table};
    let mut table = Table::new(&[
        Column::whole("CVE"),
        Column::wrapping("CVSS"),
        Column::wrapping("component"),
        Column::wrapping("title"),
        Column::whole("8.0"),
        Column::whole("9.0"),
        Column::wrapping("fix commits"),
        Column::whole("status"),
        Column::wrapping("deadline"),
    ]);
    for r in &report.rows {
        let components: Vec<&str> = r.components.iter().map(|c| short_component(c)).collect();
        let deadline = deadline_text(r);
        table.row(vec![
            r.id.to_string(),
            score_text(r),
            components.join(", "),
            r.title
                .as_deref()
                .unwrap_or("(not in cve.json yet)")
                .to_string(),
            r.fixed_8_0.clone().unwrap_or_else(|| "-".into()),
            r.fixed_9_0.clone().unwrap_or_else(|| "-".into()),
            commits_cell(r),
            paint(r.status.as_str(), r.status.style()),
            match r.overdue_days {
                Some(_) => paint(&deadline, Style::Bad),
                None => deadline,
            },
        ]);
    }
    let mut out = table.render(width);
    out.push('\n');
    out.push_str(&report.summary());
    out.push('\n');
    out
}

fn md_escape(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

/// Markdown for a GitHub step summary: totals, then the full table.
pub fn render_markdown(report: &StatusReport) -> String {
    let mut out = String::new();
    out.push_str(&format!("### Advisories as of {}\n\n", report.today));
    out.push_str(&format!("{}\n\n", report.summary()));
    out.push_str(
        "| CVE | CVSS | component | title | 8.0 | 9.0 | fix commits | status | deadline | note |\n",
    );
    out.push_str("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n");
    for r in &report.rows {
        let id = match &r.link {
            Some(link) => format!("[{}]({link})", r.id),
            None => r.id.to_string(),
        };
        let commits: Vec<String> = r
            .commits
            .iter()
            .map(|b| {
                format!(
                    "{}: {}",
                    b.branch,
                    b.commits
                        .iter()
                        .map(|c| format!("`{c}`"))
                        .collect::<Vec<_>>()
                        .join(" ")
                )
            })
            .collect();
        let status = match r.status {
            Status::Backported => "✅ backported".to_string(),
            Status::NotAffected => "➖ not-affected".to_string(),
            Status::Pending => "⏳ pending".to_string(),
            Status::NeedsTriage => "❓ needs-triage".to_string(),
        };
        let deadline = match r.overdue_days {
            Some(d) => format!("**{} — overdue {d} days**", r.deadline),
            None => r.deadline.to_string(),
        };
        out.push_str(&format!(
            "| {id} | {} | {} | {} | {} | {} | {} | {status} | {deadline} | {} |\n",
            score_text(r),
            md_escape(&r.components.join(", ")),
            md_escape(r.title.as_deref().unwrap_or("")),
            r.fixed_8_0.as_deref().unwrap_or("-"),
            r.fixed_9_0.as_deref().unwrap_or("-"),
            md_escape(&commits.join("<br>")),
            md_escape(&r.note),
        ));
    }
    out
}
