//! Verify: the queue's lint and CI gate. Every problem names a file and a line: series entries
//! without a file, patch files missing from the series, patches that do not parse (truncated,
//! bad header), missing or malformed DEP-3 fields, a security patch not naming its CVE, paths
//! leaving the repository, the same upstream commit twice, a patch that does not apply in order
//! on the base, and a rebuilt tree that differs from the fork branch.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde::Serialize;

use super::apply::rebuild;
use super::export::base_commit;
use super::format::{unsafe_path_reason, PatchFile};
use super::provenance::{cherry_picked_from, origin_commit};
use super::queue::{self, QueueDir};
use super::series;
use crate::config::Config;
use crate::cve::CveId;
use crate::repo;

/// One problem, at a file and line.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct Problem {
    /// The file, relative to the config file's directory when it is inside it.
    pub file: String,
    pub line: usize,
    pub message: String,
}

/// Which fork branch the rebuilt tree is compared with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Against {
    /// The configured branch, when the repository has it.
    Configured,
    /// This branch (it must exist).
    Branch(String),
    /// No comparison.
    Nothing,
}

/// `cargo xtask patches verify --json`: one report per repository.
#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
pub struct VerifySummary {
    pub repos: Vec<VerifyReport>,
}

/// The result of verifying one repository's queue.
#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
pub struct VerifyReport {
    pub repo: String,
    pub dir: PathBuf,
    /// Patches listed in the series.
    pub patches: usize,
    /// The tree the queue rebuilds, when every patch applied.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tree: Option<String>,
    /// The branch the tree was compared with.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub against: Option<String>,
    /// False when structural problems kept the patches from being applied.
    pub applied: bool,
    pub problems: Vec<Problem>,
}

impl VerifyReport {
    pub fn ok(&self) -> bool {
        self.problems.is_empty()
    }
}

/// Verifies `name`'s queue.
pub fn verify_repo(config: &Config, name: &str, against: &Against) -> Result<VerifyReport> {
    let rc = config.repo(name)?;
    let queue_dir = QueueDir::new(&config.patches_dir(), name);
    let Some(dir) = queue_dir.current() else {
        bail!(
            "there is no queue for `{name}` in {}; create it with `cargo xtask patches export --repo {name}`",
            queue_dir.path().display()
        );
    };
    let mut found = Findings {
        root: &config.root,
        problems: Vec::new(),
        blocked: false,
    };
    let contents = queue::read(&dir)?;
    let series_path = dir.join("series");
    let entries = match &contents.series {
        Some(text) => series::parse(text),
        None => {
            found.block(&series_path, 1, "there is no series file; export the queue (`cargo xtask patches export`) or write one listing the patches in order".into());
            Vec::new()
        }
    };
    let listed = check_series(entries, &dir, &mut found);
    let listed_paths: BTreeMap<&str, usize> =
        listed.iter().map(|e| (e.path.as_str(), e.line)).collect();
    for p in &contents.patches {
        if !listed_paths.contains_key(p.as_str()) {
            let series_shown = found.show(&series_path);
            found.add(
                &dir.join(p),
                1,
                format!("`{p}` is not listed in series; add it at its place in {series_shown} or delete it"),
            );
        }
    }
    let parsed = parse_listed(&dir, &listed, &mut found)?;
    let mut report = VerifyReport {
        repo: name.to_string(),
        dir: dir.clone(),
        patches: listed.len(),
        tree: None,
        against: None,
        applied: false,
        problems: Vec::new(),
    };
    if found.blocked {
        report.problems = found.problems;
        return Ok(report);
    }
    let fork = config.resolve(&rc.path);
    let repo = repo::open(&fork)?;
    let base = base_commit(&repo, rc)?;
    // Verification creates objects in memory only.
    let odb = repo.odb()?;
    let _mempack = odb.add_new_mempack_backend(1000)?;
    report.applied = true;
    match rebuild(&repo, base, &parsed)? {
        Err(f) => {
            let (file, patch) = &parsed[f.index];
            found.add(&dir.join(file), patch.diff_line, format!("does not apply onto {} + the {} patch(es) before it ({}); refresh the queue (`cargo xtask patches refresh`) or fix the patch", rc.base, f.index, f.reason));
        }
        Ok(commits) => {
            let tip = commits.last().copied().unwrap_or(base);
            let tree = repo.find_commit(tip)?.tree()?;
            report.tree = Some(tree.id().to_string());
            let branch = match against {
                Against::Nothing => None,
                Against::Configured => repo
                    .find_branch(&rc.branch, git2::BranchType::Local)
                    .ok()
                    .map(|_| rc.branch.clone()),
                Against::Branch(b) => Some(b.clone()),
            };
            if let Some(branch) = branch {
                if let Some(differ) = compare_with_branch(&repo, &fork, &tree, &branch)? {
                    found.add(&series_path, 1, format!("{differ}; run `cargo xtask patches refresh --repo {name}` to export the branch again"));
                }
                report.against = Some(branch);
            }
        }
    }
    report.problems = found.problems;
    Ok(report)
}

/// The problems found so far, and whether one of them keeps the patches from being applied.
struct Findings<'a> {
    /// The config file's directory, which shown paths are relative to.
    root: &'a Path,
    problems: Vec<Problem>,
    blocked: bool,
}

impl Findings<'_> {
    /// `p` relative to the config file's directory, with `/` separators.
    fn show(&self, p: &Path) -> String {
        p.strip_prefix(self.root)
            .unwrap_or(p)
            .components()
            .map(|c| c.as_os_str().to_string_lossy())
            .collect::<Vec<_>>()
            .join("/")
    }

    fn add(&mut self, file: &Path, line: usize, message: String) {
        self.problems.push(Problem {
            file: self.show(file),
            line,
            message,
        });
    }

    /// A problem that keeps the queue from being applied at all.
    fn block(&mut self, file: &Path, line: usize, message: String) {
        self.add(file, line, message);
        self.blocked = true;
    }
}

/// The series entries that name a patch file the toolkit can apply, in order; every other entry
/// (a quilt option other than `-p1`, an unsafe path, a duplicate, a missing file) is a problem.
fn check_series(
    entries: Vec<series::Entry>,
    dir: &Path,
    found: &mut Findings,
) -> Vec<series::Entry> {
    let series_path = dir.join("series");
    let mut listed: Vec<series::Entry> = Vec::new();
    let mut lines: BTreeMap<String, usize> = BTreeMap::new();
    for e in entries {
        if let Some(option) = e.unsupported_option() {
            found.block(
                &series_path,
                e.line,
                format!(
                    "`{}` has the option `{option}`; the toolkit applies patches as `-p1` only: regenerate the patch (`cargo xtask patches export`) or drop the option",
                    e.path
                ),
            );
        } else if let Some(why) = unsafe_path_reason(&e.path) {
            found.block(
                &series_path,
                e.line,
                format!("the entry `{}` {why}", e.path),
            );
        } else if let Some(first) = lines.get(&e.path) {
            found.block(
                &series_path,
                e.line,
                format!(
                    "`{}` is listed twice (first at line {first}); remove one",
                    e.path
                ),
            );
        } else if !dir.join(&e.path).is_file() {
            found.block(
                &series_path,
                e.line,
                format!(
                    "lists `{}` but there is no such file; restore it or remove the line",
                    e.path
                ),
            );
        } else {
            lines.insert(e.path.clone(), e.line);
            listed.push(e);
        }
    }
    listed
}

/// Reads and parses each listed patch, checking its DEP-3 fields, its paths and that no two
/// patches take the same upstream commit; returns the ones that parse.
fn parse_listed(
    dir: &Path,
    listed: &[series::Entry],
    found: &mut Findings,
) -> Result<Vec<(String, PatchFile)>> {
    let mut parsed = Vec::new();
    let mut upstreams: BTreeMap<String, String> = BTreeMap::new();
    for e in listed {
        let path = dir.join(&e.path);
        let bytes =
            std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
        let patch = match PatchFile::parse(&bytes) {
            Ok(p) => p,
            Err(err) => {
                found.block(
                    &path,
                    err.line,
                    format!("{}; fix the file or export the queue again", err.message),
                );
                continue;
            }
        };
        for (line, message) in field_problems(&patch, &e.path) {
            found.add(&path, line, message);
        }
        for f in &patch.files {
            for p in &f.paths {
                if let Some(why) = unsafe_path_reason(p) {
                    found.block(
                        &path,
                        f.line,
                        format!("the path `{p}` {why}; such a patch is never applied"),
                    );
                }
            }
        }
        let origin = patch.field("Origin");
        let upstream = origin
            .and_then(|o| origin_commit(&o.value))
            .or_else(|| cherry_picked_from(&patch.body).map(|id| id.to_string()));
        if let Some(up) = upstream {
            let line = origin.map_or(1, |o| o.line);
            match upstreams.get(&up) {
                Some(first) => found.add(&path, line, format!("takes upstream commit {up} again (already in `{first}`); drop one of the two patches")),
                None => {
                    upstreams.insert(up, e.path.clone());
                }
            }
        }
        parsed.push((e.path.clone(), patch));
    }
    Ok(parsed)
}

/// How the rebuilt `tree` differs from `branch`'s tree (up to ten paths), or `None` when they
/// are the same.
fn compare_with_branch(
    repo: &git2::Repository,
    fork: &Path,
    tree: &git2::Tree,
    branch: &str,
) -> Result<Option<String>> {
    let other = repo
        .revparse_single(&format!("refs/heads/{branch}"))
        .and_then(|o| o.peel_to_tree())
        .with_context(|| {
            format!(
                "no branch `{branch}` in {} to compare the queue with",
                fork.display()
            )
        })?;
    if other.id() == tree.id() {
        return Ok(None);
    }
    let diff = repo.diff_tree_to_tree(Some(tree), Some(&other), None)?;
    let mut paths: Vec<String> = diff
        .deltas()
        .filter_map(|d| {
            d.new_file()
                .path()
                .or(d.old_file().path())
                .map(|p| p.display().to_string())
        })
        .collect();
    let more = paths.len().saturating_sub(10);
    paths.truncate(10);
    let paths = paths.join(", ")
        + &if more > 0 {
            format!(" and {more} more")
        } else {
            String::new()
        };
    Ok(Some(format!(
        "the queue rebuilds tree {} but branch `{branch}` has tree {}; they differ in {paths}",
        tree.id(),
        other.id()
    )))
}

/// Required and well-formed DEP-3 fields, and the CVE a patch's directory promises.
fn field_problems(patch: &PatchFile, rel: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    if patch.field("Description").is_none() {
        out.push((
            1,
            "the header has no `Description:` field (DEP-3: what the patch does)".to_string(),
        ));
    }
    match patch.field("Origin") {
        None => out.push((1, "the header has no `Origin:` field (DEP-3: `upstream, <commit URL>`, `backport, <commit URL>` or `vendor`)".to_string())),
        Some(o) => {
            let (kind, target) = o.value.split_once(',').map_or((o.value.trim(), ""), |(k, t)| (k.trim(), t.trim()));
            match kind {
                "upstream" | "backport" if target.is_empty() => out.push((o.line, format!("`Origin: {kind}` needs the upstream commit: `{kind}, <commit URL>`"))),
                "backport" if patch.field("Backport-Note").is_none() => out.push((o.line, "a backport must say how it differs from upstream: add a `Backport-Note:` field".to_string())),
                "upstream" | "backport" | "vendor" | "other" => {}
                _ => out.push((o.line, format!("`Origin: {}` does not start with upstream, backport, vendor or other", o.value))),
            }
        }
    }
    match patch.field("Last-Update") {
        None => out.push((
            1,
            "the header has no `Last-Update:` field (YYYY-MM-DD)".to_string(),
        )),
        Some(f) if !is_date(&f.value) => out.push((
            f.line,
            format!("`Last-Update: {}` is not a date YYYY-MM-DD", f.value),
        )),
        Some(_) => {}
    }
    let cves = patch.cves();
    let line = patch.field("CVE").map_or(1, |f| f.line);
    for c in cves.iter().filter(|c| !CveId::is_valid(c)) {
        out.push((
            line,
            format!("`{c}` in the `CVE:` field is not a CVE id (CVE-YYYY-NNNN…)"),
        ));
    }
    let dir = rel.split('/').next().unwrap_or("");
    if CveId::is_valid(dir) {
        if cves.is_empty() {
            out.push((1, format!("the patch is under {dir}/ but has no `CVE:` field; a security patch must name its CVE (`CVE: {dir}`)")));
        } else if !cves.iter().any(|c| c == dir) {
            out.push((line, format!("the patch is under {dir}/ but its `CVE:` field names {}; move it or fix the field", cves.join(", "))));
        }
    } else if let Some(first) = cves.first() {
        out.push((line, format!("the patch fixes {first} but is under {dir}/; move it to {first}/ so the queue can be browsed by CVE")));
    }
    // Servicing adds no public API: a change to reference sources is a decision to justify.
    let api_change = patch
        .field("API-Change")
        .filter(|f| !f.value.trim().is_empty());
    if api_change.is_none() {
        let touched = patch.files.iter().find_map(|f| {
            f.paths
                .iter()
                .find(|p| crate::apicompat::is_reference_source(p))
                .map(|p| (f.line, p))
        });
        if let Some((line, path)) = touched {
            out.push((line, format!("changes the reference source `{path}` (public API) but the header has no `API-Change:` field; servicing adds no public API: revert the API part, or add `API-Change: <justification>` and accept the difference in apicompat.toml")));
        }
    }
    out
}

fn is_date(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && b.iter()
            .enumerate()
            .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit())
}
