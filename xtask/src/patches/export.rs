//! Export and refresh: the fork branch's commits since the base tag become the repository's patch
//! queue, one `git format-patch` file per commit with DEP-3 provenance, written as a whole (see
//! [`super::queue`]). Exporting is deterministic: the bytes depend only on the commits and, for
//! `Last-Update`, on the queue being replaced — a patch whose content did not change keeps its
//! date, so rebasing the branch does not touch every file.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use git2::{Commit, DiffFormat, DiffOptions, DiffStatsFormat, Oid, Repository, Sort};
use serde::Serialize;

use super::format::{Field, PatchFile};
use super::mail::Time;
use super::provenance::{self, Deviation, Origin, Provenance};
use super::queue::{self, QueueDir};
use super::series;
use crate::config::{Config, RepoConfig};
use crate::console::{paint, Style};
use crate::cve::CveId;
use crate::repo;

/// How an exported patch compares with the queue it replaced.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Change {
    Added,
    Updated,
    Unchanged,
}

/// One exported patch.
#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
pub struct ExportedPatch {
    /// The file, relative to the repository's queue directory.
    pub file: String,
    /// The fork commit it was exported from.
    pub commit: String,
    pub subject: String,
    /// `upstream`, `backport` or `vendor`.
    pub origin: String,
    /// The upstream commit, for `upstream` and `backport`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub upstream: Option<String>,
    /// The fork paths whose change differs from upstream's (for `backport`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub deviating_paths: Vec<String>,
    pub cves: Vec<String>,
    pub change: Change,
}

/// `cargo xtask patches export --json` and `patches refresh --json`: one export per repository.
#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
pub struct ExportSummary {
    pub repos: Vec<RepoExport>,
}

/// The result of exporting (or refreshing) one repository's queue.
#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
pub struct RepoExport {
    pub repo: String,
    /// The repository's queue directory.
    pub dir: PathBuf,
    pub base: String,
    pub branch: String,
    pub patches: Vec<ExportedPatch>,
    /// Patch files of the old queue that are gone.
    pub removed: Vec<String>,
    /// False when nothing changed or for a dry run: no file was written.
    pub written: bool,
}

impl RepoExport {
    /// What a person reads: the counts, then each added, updated and removed patch (with where a
    /// backport differs from upstream). `dry_run`: nothing was written.
    pub fn human(&self, dry_run: bool) -> String {
        let count = |c: Change| self.patches.iter().filter(|p| p.change == c).count();
        let verb = match (dry_run, self.written) {
            (true, _) => "would write",
            (false, true) => "wrote",
            (false, false) => "unchanged:",
        };
        let mut out = format!(
            "{}: {verb} {} patch(es) in {} ({} added, {} updated, {} unchanged, {} removed)\n",
            paint(&self.repo, Style::Bold),
            self.patches.len(),
            self.dir.display(),
            count(Change::Added),
            count(Change::Updated),
            count(Change::Unchanged),
            self.removed.len()
        );
        for p in self
            .patches
            .iter()
            .filter(|p| p.change != Change::Unchanged)
        {
            let change = match p.change {
                Change::Added => paint("added  ", Style::Good),
                _ => paint("updated", Style::Warn),
            };
            let origin = if p.origin == "backport" && !p.deviating_paths.is_empty() {
                format!(
                    "backport (differs from upstream in {})",
                    p.deviating_paths.join(", ")
                )
            } else {
                p.origin.clone()
            };
            out.push_str(&format!(
                "  {change} {}  {}\n",
                p.file,
                paint(&origin, Style::Dim)
            ));
        }
        for f in &self.removed {
            out.push_str(&format!("  {} {f}\n", paint("removed", Style::Bad)));
        }
        out
    }
}

impl RepoExport {
    /// True when the queue on disk differs (or, for a dry run, would differ) from the export.
    pub fn changed(&self) -> bool {
        !self.removed.is_empty() || self.patches.iter().any(|p| p.change != Change::Unchanged)
    }
}

/// Export options.
#[derive(Clone, Copy, Debug, Default)]
pub struct ExportOptions {
    /// Compute and report, write nothing.
    pub dry_run: bool,
    /// Refuse when the repository has no queue yet (`refresh`).
    pub require_existing: bool,
}

/// Exports `name`'s fork branch into its queue: the library call behind `patches export`, also
/// meant to run after a successful backport.
pub fn export_repo(config: &Config, name: &str) -> Result<RepoExport> {
    export_with(config, name, ExportOptions::default())
}

/// Exports with options (see [`ExportOptions`]).
pub fn export_with(config: &Config, name: &str, opts: ExportOptions) -> Result<RepoExport> {
    let rc = config.repo(name)?;
    let path = config.resolve(&rc.path);
    let repo = repo::open_fork(config, rc)?;
    let base = base_commit(&repo, rc)?;
    let tip = branch_tip(&repo, rc)?;
    if base != tip && !repo.graph_descendant_of(tip, base)? {
        bail!(
            "branch `{}` in {} does not start from the base tag `{}`; the queue is base + patches, so rebase the branch onto {} (or fix `base` in els.toml)",
            rc.branch, path.display(), rc.base, rc.base
        );
    }
    let queue_dir = QueueDir::new(&config.patches_dir(), name);
    let old = match queue_dir.current() {
        Some(dir) => Some(queue::read(&dir)?),
        None if opts.require_existing => bail!(
            "there is no queue for `{name}` in {} to refresh; create it with `cargo xtask patches export --repo {name}`",
            queue_dir.path().display()
        ),
        None => None,
    };
    let mut old_patches: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    if let (Some(old), Some(dir)) = (&old, queue_dir.current()) {
        for rel in &old.patches {
            let bytes = std::fs::read(dir.join(rel))
                .with_context(|| format!("cannot read {}", dir.join(rel).display()))?;
            old_patches.insert(rel.clone(), bytes);
        }
    }
    let kept_dates: BTreeMap<Vec<u8>, String> = old_patches
        .values()
        .filter_map(|b| {
            let (key, date) = without_last_update(b);
            date.map(|d| (key, d))
        })
        .collect();

    let provenance = Provenance::new(&repo, config, rc)?;
    let commits = first_parent_commits(&repo, base, tip)?;
    let mut progress = crate::console::Progress::new(commits.len(), commits.len() < 20);
    let mut files: Vec<(String, Vec<u8>)> = Vec::new();
    let mut patches = Vec::new();
    let mut paths = Vec::new();
    for (i, id) in commits.iter().enumerate() {
        let commit = repo.find_commit(*id)?;
        progress.step(commit.summary().unwrap_or(""));
        let (patch, exported) = patch_of(&repo, &commit, &provenance, rc, i + 1)?;
        let mut bytes = patch.render();
        let (key, _) = without_last_update(&bytes);
        if let Some(date) = kept_dates.get(&key) {
            bytes = with_last_update(&key, date);
        }
        let change = match old_patches.get(&exported.file) {
            Some(b) if *b == bytes => Change::Unchanged,
            Some(_) => Change::Updated,
            None => Change::Added,
        };
        paths.push(exported.file.clone());
        files.push((exported.file.clone(), bytes));
        patches.push(ExportedPatch { change, ..exported });
    }
    let series_text = series::render(name, &rc.base, &rc.branch, &paths);
    let removed: Vec<String> = old_patches
        .keys()
        .filter(|p| !paths.contains(p))
        .cloned()
        .collect();
    let series_changed =
        old.as_ref().and_then(|o| o.series.as_deref()) != Some(series_text.as_str());
    let mut report = RepoExport {
        repo: name.to_string(),
        dir: queue_dir.path(),
        base: rc.base.clone(),
        branch: rc.branch.clone(),
        patches,
        removed,
        written: false,
    };
    if opts.dry_run || !(report.changed() || series_changed) {
        return Ok(report);
    }
    files.push(("series".to_string(), series_text.into_bytes()));
    if let Some(old) = old {
        files.extend(old.others);
    }
    queue_dir.replace(&files)?;
    report.written = true;
    Ok(report)
}

/// Refreshes an existing queue after the branch was rebased or a conflict resolved by hand.
pub fn refresh_repo(config: &Config, name: &str, dry_run: bool) -> Result<RepoExport> {
    export_with(
        config,
        name,
        ExportOptions {
            dry_run,
            require_existing: true,
        },
    )
}

/// The base tag's commit.
pub fn base_commit(repo: &Repository, rc: &RepoConfig) -> Result<Oid> {
    repo.revparse_single(&format!("refs/tags/{}", rc.base))
        .or_else(|_| repo.revparse_single(&rc.base))
        .and_then(|o| o.peel_to_commit())
        .map(|c| c.id())
        .with_context(|| {
            format!(
                "the base `{}` of `{}` is not in {}; fetch it (`git fetch --tags`) or fix `base` in els.toml",
                rc.base,
                rc.name,
                repo::workdir_or_gitdir(repo).display()
            )
        })
}

fn branch_tip(repo: &Repository, rc: &RepoConfig) -> Result<Oid> {
    repo.find_branch(&rc.branch, git2::BranchType::Local)
        .ok()
        .and_then(|b| b.get().target())
        .with_context(|| {
            format!(
                "the fork branch `{}` of `{}` is not in {}; check `branch` in els.toml",
                rc.branch,
                rc.name,
                repo::workdir_or_gitdir(repo).display()
            )
        })
}

/// `base..tip` along first parents, oldest first.
fn first_parent_commits(repo: &Repository, base: Oid, tip: Oid) -> Result<Vec<Oid>> {
    let mut walk = repo.revwalk()?;
    walk.push(tip)?;
    walk.hide(base)?;
    walk.simplify_first_parent()?;
    walk.set_sorting(Sort::TOPOLOGICAL | Sort::REVERSE)?;
    Ok(walk.collect::<Result<_, _>>()?)
}

/// The patch file for one commit, and its report entry (`change` to be filled in).
fn patch_of(
    repo: &Repository,
    commit: &Commit,
    provenance: &Provenance,
    rc: &RepoConfig,
    number: usize,
) -> Result<(PatchFile, ExportedPatch)> {
    let message = String::from_utf8_lossy(commit.message_bytes()).into_owned();
    let (subject, body) = split_message(&message);
    let cves = provenance::cve_trailers(&message);
    if let Some(bad) = cves.iter().find(|c| !CveId::is_valid(c)) {
        bail!(
            "commit {} (`{subject}`) has a `CVE:` trailer `{bad}` that is not a CVE id (CVE-YYYY-NNNN…); fix the commit message and export again",
            commit.id()
        );
    }
    let origin = provenance.origin(repo, commit)?;
    let mut fields = vec![field("Description", &subject)];
    let (kind, upstream, deviating) = origin_fields(&origin, rc, &mut fields);
    if let Some(cve) = cves.first() {
        fields.push(field(
            "Bug",
            &format!("https://www.cve.org/CVERecord?id={cve}"),
        ));
        fields.push(field("CVE", &cves.join(", ")));
    }
    if let Some(up) = upstream.filter(|up| repo.find_commit(*up).is_ok()) {
        if let Some(release) = provenance.applied_upstream(repo, up)? {
            fields.push(field("Applied-Upstream", &release));
        }
    }
    let committed = commit.committer().when();
    fields.push(field(
        "Last-Update",
        &Time {
            seconds: committed.seconds(),
            offset: committed.offset_minutes(),
        }
        .date(),
    ));
    let (diff, diffstat) = diff_of(repo, commit)?;
    let author = commit.author();
    let when = author.when();
    let patch = PatchFile {
        author_name: String::from_utf8_lossy(author.name_bytes()).into_owned(),
        author_email: String::from_utf8_lossy(author.email_bytes()).into_owned(),
        date: Time {
            seconds: when.seconds(),
            offset: when.offset_minutes(),
        },
        subject: subject.clone(),
        fields,
        body,
        diffstat,
        diff,
        diff_line: 0,
        files: Vec::new(),
    };
    let dir = cves.first().map(String::as_str).unwrap_or("misc");
    let file = format!("{dir}/{number:04}-{}.patch", slug(&subject));
    Ok((
        patch,
        ExportedPatch {
            file,
            commit: commit.id().to_string(),
            subject,
            origin: kind.to_string(),
            upstream: upstream.map(|u| u.to_string()),
            deviating_paths: deviating,
            cves,
            change: Change::Added,
        },
    ))
}

/// The DEP-3 `Origin` (and `Backport-Note`) fields of `origin`, added to `fields`; the origin's
/// kind, its upstream commit and the paths where a backport differs from it.
fn origin_fields(
    origin: &Origin,
    rc: &RepoConfig,
    fields: &mut Vec<Field>,
) -> (&'static str, Option<Oid>, Vec<String>) {
    match origin {
        Origin::Upstream { url, commit } => {
            fields.push(field("Origin", &format!("upstream, {url}")));
            ("upstream", Some(*commit), Vec::new())
        }
        Origin::Backport {
            url,
            commit: up,
            deviation,
        } => {
            fields.push(field("Origin", &format!("backport, {url}")));
            let (note, paths) = match deviation {
                Deviation::Files(paths) => {
                    let mut note = format!("changed to apply on {}; the change differs from upstream's in:", rc.branch);
                    for p in paths {
                        note.push('\n');
                        note.push_str(p);
                    }
                    (note, paths.clone())
                }
                Deviation::UpstreamMissing => (
                    format!("upstream commit {up} is not in this repository, so the change could not be compared with it; fetch it and run `cargo xtask patches refresh`"),
                    Vec::new(),
                ),
            };
            fields.push(field("Backport-Note", &note));
            ("backport", Some(*up), paths)
        }
        Origin::Vendor => {
            fields.push(field("Origin", "vendor"));
            ("vendor", None, Vec::new())
        }
    }
}

fn field(name: &str, value: &str) -> Field {
    Field {
        name: name.to_string(),
        value: value.to_string(),
        line: 0,
    }
}

/// Splits a commit message into the subject (its first paragraph on one line, as `git
/// format-patch` writes it) and the rest.
fn split_message(message: &str) -> (String, String) {
    let message = message.trim_start_matches('\n');
    let (first, rest) = message.split_once("\n\n").unwrap_or((message, ""));
    let subject = first.lines().map(str::trim).collect::<Vec<_>>().join(" ");
    let rest = rest.trim_start_matches('\n').trim_end();
    let body = if rest.is_empty() {
        String::new()
    } else {
        format!("{rest}\n")
    };
    (subject, body)
}

/// The file-name part git derives from a subject: letters, digits, `.` and `_` kept, other runs
/// turned into one `-`, at most 52 characters.
fn slug(subject: &str) -> String {
    let mut out = String::new();
    for c in subject.chars() {
        if c.is_ascii_alphanumeric() || c == '.' || c == '_' {
            out.push(c);
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    let mut out: String = out.trim_matches(['-', '.']).chars().take(52).collect();
    while out.ends_with(['-', '.']) {
        out.pop();
    }
    if out.is_empty() {
        "patch".to_string()
    } else {
        out
    }
}

/// The commit's diff against its first parent as `git format-patch --full-index --binary` writes
/// it, and its diffstat.
fn diff_of(repo: &Repository, commit: &Commit) -> Result<(Vec<u8>, String)> {
    let new = commit.tree()?;
    let old = match commit.parent(0) {
        Ok(p) => Some(p.tree()?),
        Err(_) => None,
    };
    let mut opts = DiffOptions::new();
    opts.show_binary(true)
        .id_abbrev(40)
        .indent_heuristic(true)
        .context_lines(3);
    let diff = repo.diff_tree_to_tree(old.as_ref(), Some(&new), Some(&mut opts))?;
    let mut text = Vec::new();
    diff.print(DiffFormat::Patch, |_, _, line| {
        if matches!(line.origin(), '+' | '-' | ' ') {
            text.push(line.origin() as u8);
        }
        text.extend_from_slice(line.content());
        true
    })?;
    let stats = diff
        .stats()?
        .to_buf(DiffStatsFormat::FULL | DiffStatsFormat::INCLUDE_SUMMARY, 72)?;
    Ok((text, String::from_utf8_lossy(&stats).into_owned()))
}

const LAST_UPDATE: &[u8] = b"Last-Update: ";

/// The file with its header's `Last-Update` value blanked, and that value.
fn without_last_update(bytes: &[u8]) -> (Vec<u8>, Option<String>) {
    let header_end = bytes
        .windows(2)
        .position(|w| w == b"\n\n")
        .unwrap_or(bytes.len());
    let mut start = 0;
    while start < header_end {
        let end = bytes[start..]
            .iter()
            .position(|b| *b == b'\n')
            .map_or(bytes.len(), |n| start + n);
        if bytes[start..end].starts_with(LAST_UPDATE) {
            let value =
                String::from_utf8_lossy(&bytes[start + LAST_UPDATE.len()..end]).into_owned();
            let mut key = bytes[..start + LAST_UPDATE.len()].to_vec();
            key.extend_from_slice(&bytes[end..]);
            return (key, Some(value));
        }
        start = end + 1;
    }
    (bytes.to_vec(), None)
}

/// The inverse of [`without_last_update`]: fills the blank header value in.
fn with_last_update(key: &[u8], date: &str) -> Vec<u8> {
    let needle = b"\nLast-Update: \n";
    match key.windows(needle.len()).position(|w| w == needle) {
        Some(p) => {
            let at = p + needle.len() - 1;
            [&key[..at], date.as_bytes(), &key[at..]].concat()
        }
        None => key.to_vec(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_split_like_format_patch() {
        assert_eq!(
            split_message("Fix it\nacross lines\n\nBody\n\nTrailer: x\n"),
            ("Fix it across lines".into(), "Body\n\nTrailer: x\n".into())
        );
        assert_eq!(
            split_message("One line\n"),
            ("One line".into(), String::new())
        );
        assert_eq!(
            slug("Fix STARTTLS downgrade (SmtpClient)!"),
            "Fix-STARTTLS-downgrade-SmtpClient"
        );
        assert_eq!(slug("..."), "patch");
    }

    #[test]
    fn last_update_is_blanked_and_restored() {
        let file =
            b"From x\nSubject: s\nLast-Update: 2025-01-02\n\nbody\nLast-Update: 1999-01-01\n";
        let (key, date) = without_last_update(file);
        assert_eq!(date.as_deref(), Some("2025-01-02"));
        assert!(key.starts_with(b"From x\nSubject: s\nLast-Update: \n\n"));
        assert_eq!(with_last_update(&key, "2025-01-02"), file.to_vec());
    }
}
