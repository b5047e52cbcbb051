//! The comparisons: each runs the toolkit and the git CLI equivalent on identical fresh clones of
//! a generated repository (cloning is not timed), both as child processes including process
//! start, and checks that they reached the same outcome before a time is believed.
//!
//! Backport: one `cargo xtask backport <FIX>` per fix on a bare clone (`--abort` after a
//! conflict) vs one `git cherry-pick -x --empty=drop <FIX>` per fix in a worktree checked out on
//! the old branch (`git cherry-pick --abort` after a conflict). Both skip a conflicting fix and go
//! on, so both end with the same branch and the same set of conflicts.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, ensure, Context, Result};
use git2::{Oid, Repository};
use serde::Serialize;

use super::generate::{BenchRepo, Fix, FixKind, NEW, OLD};
use super::measure::{measure, Sample, Stats};
use crate::backport::provenance_message;

/// One row of results: the toolkit and git on the same work.
#[derive(Clone, Debug, Serialize)]
pub struct Comparison {
    pub scenario: String,
    /// Files in the tree and fixes (or commits) involved.
    pub files: usize,
    pub fixes: usize,
    pub toolkit: Stats,
    pub git: Stats,
    /// What both produced (checked equal).
    pub outcome: String,
}

impl Comparison {
    /// Toolkit wall time over git's (medians).
    pub fn ratio(&self) -> f64 {
        self.toolkit.median / self.git.median
    }
}

/// The programs compared.
pub struct Tools {
    /// The `xtask` binary (the toolkit, as `cargo xtask` runs it).
    pub xtask: PathBuf,
}

/// Where a scenario works: a fresh directory per run under `work`.
fn run_dir(work: &Path) -> Result<tempfile::TempDir> {
    std::fs::create_dir_all(work)?;
    tempfile::Builder::new()
        .prefix("run-")
        .tempdir_in(work)
        .with_context(|| format!("cannot create a directory in {}", work.display()))
}

fn git(args: &[&str], cwd: &Path) -> Result<()> {
    let out = Command::new("git")
        .args(args)
        .current_dir(cwd)
        .output()
        .context("cannot run git; is it installed?")?;
    ensure!(
        out.status.success(),
        "git {} failed in {}: {}",
        args.join(" "),
        cwd.display(),
        String::from_utf8_lossy(&out.stderr).trim()
    );
    Ok(())
}

/// A bare clone sharing the cached repository's objects (what a CI job or mirror has).
fn bare_copy(repo: &BenchRepo, dir: &Path, name: &str) -> Result<PathBuf> {
    let path = dir.join(name);
    let src = repo.path.display().to_string();
    git(&["clone", "-q", "--bare", "--shared", &src, name], dir)?;
    configure(&path)?;
    Ok(path)
}

/// A clone with the old branch checked out (what a `git cherry-pick` loop needs).
fn worktree_copy(repo: &BenchRepo, dir: &Path, name: &str) -> Result<PathBuf> {
    let path = dir.join(name);
    let src = repo.path.display().to_string();
    git(&["clone", "-q", "--shared", "-b", OLD, &src, name], dir)?;
    configure(&path)?;
    Ok(path)
}

fn configure(path: &Path) -> Result<()> {
    for (k, v) in [
        ("user.name", "ELS Maintainer"),
        ("user.email", "els@example.com"),
        ("gc.auto", "0"),
    ] {
        git(&["config", k, v], path)?;
    }
    Ok(())
}

/// Runs `script` under `sh` in `cwd` with `env`, measured.
fn run_script(script: &str, cwd: &Path, env: &[(&str, &Path)], log: &Path) -> Result<Sample> {
    let mut cmd = Command::new("sh");
    cmd.arg("-c").arg(script).current_dir(cwd);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.env("NO_COLOR", "1")
        .env_remove("GITHUB_ACTIONS")
        .env_remove("GITHUB_STEP_SUMMARY")
        .env_remove("ELS_CONFIG")
        .stdout(std::fs::File::create(log)?)
        .stderr(std::fs::File::create(log.with_extension("err"))?);
    let (sample, status) = measure(&mut cmd)?;
    if !status.success() {
        bail!(
            "the measured command failed ({status}); see {}:\n{}",
            log.with_extension("err").display(),
            std::fs::read_to_string(log.with_extension("err")).unwrap_or_default()
        );
    }
    Ok(sample)
}

const TOOLKIT_BACKPORT: &str = r#"
while read -r f; do
  "$XTASK" backport --fork "$FORK" --onto release/6.0 --json "$f" >/dev/null
  rc=$?
  if [ "$rc" -eq 1 ]; then
    echo "$f" >> "$CONFLICTS"
    "$XTASK" backport --fork "$FORK" --abort >/dev/null || exit 3
  elif [ "$rc" -ne 0 ]; then
    exit 4
  fi
done < "$FIXES"
"#;

const GIT_BACKPORT: &str = r#"
cd "$FORK" || exit 5
while read -r f; do
  if ! git cherry-pick -x --empty=drop "$f" >/dev/null 2>&1; then
    echo "$f" >> "$CONFLICTS"
    git cherry-pick --abort || exit 3
  fi
done < "$FIXES"
"#;

/// What a backport loop left: the tree after each applied fix and the conflicted fixes.
#[derive(Debug, PartialEq, Eq)]
struct BackportOutcome {
    applied: BTreeMap<String, Oid>,
    conflicts: BTreeSet<String>,
    tip_tree: Oid,
}

fn backport_outcome(fork: &Path, original: Oid, conflicts: &Path) -> Result<BackportOutcome> {
    let repo = Repository::open(fork)?;
    let tip = repo.refname_to_id(&format!("refs/heads/{OLD}"))?;
    let mut walk = repo.revwalk()?;
    walk.push(tip)?;
    walk.hide(original)?;
    let mut applied = BTreeMap::new();
    for id in walk {
        let commit = repo.find_commit(id?)?;
        let message = String::from_utf8_lossy(commit.message_bytes()).into_owned();
        let upstream = message
            .lines()
            .rev()
            .find_map(|l| l.strip_prefix("(cherry picked from commit ")?.strip_suffix(')'))
            .with_context(|| format!("commit {} has no provenance trailer", commit.id()))?;
        // The message must be exactly what `git cherry-pick -x` writes.
        let original = repo.find_commit(Oid::from_str(upstream)?)?;
        ensure!(
            message == provenance_message(&original, None),
            "commit {} in {} has an unexpected message:\n{message}",
            commit.id(),
            fork.display()
        );
        applied.insert(upstream.to_string(), commit.tree_id());
    }
    let conflicts = std::fs::read_to_string(conflicts)
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect();
    let tip_tree = repo.find_commit(tip)?.tree_id();
    Ok(BackportOutcome {
        applied,
        conflicts,
        tip_tree,
    })
}

/// Backports `fixes` with both tools `runs` times.
pub fn backport(
    repo: &BenchRepo,
    fixes: &[Fix],
    runs: usize,
    tools: &Tools,
    work: &Path,
    scenario: &str,
) -> Result<Comparison> {
    let original = Repository::open(&repo.path)?.refname_to_id(&format!("refs/heads/{OLD}"))?;
    let (mut toolkit, mut git) = (Vec::new(), Vec::new());
    let mut outcome = String::new();
    for run in 0..runs {
        let dir = run_dir(work)?;
        let d = dir.path();
        let list = d.join("fixes");
        let ids: Vec<&str> = fixes.iter().map(|f| f.id.as_str()).collect();
        std::fs::write(&list, ids.join("\n") + "\n")?;
        let tk_fork = bare_copy(repo, d, "toolkit.git")?;
        let git_fork = worktree_copy(repo, d, "git")?;
        let (tk_conflicts, git_conflicts) = (d.join("toolkit.conflicts"), d.join("git.conflicts"));
        let mut sides: Vec<(bool, &str)> = vec![(true, TOOLKIT_BACKPORT), (false, GIT_BACKPORT)];
        if run % 2 == 1 {
            sides.reverse();
        }
        for (is_toolkit, script) in sides {
            let (fork, conflicts, log) = if is_toolkit {
                (&tk_fork, &tk_conflicts, d.join("toolkit.log"))
            } else {
                (&git_fork, &git_conflicts, d.join("git.log"))
            };
            let env = [
                ("XTASK", tools.xtask.as_path()),
                ("FORK", fork.as_path()),
                ("FIXES", list.as_path()),
                ("CONFLICTS", conflicts.as_path()),
            ];
            let sample = run_script(script, d, &env, &log)?;
            if is_toolkit {
                toolkit.push(sample);
            } else {
                git.push(sample);
            }
        }
        let tk = backport_outcome(&tk_fork, original, &tk_conflicts)?;
        let gt = backport_outcome(&git_fork, original, &git_conflicts)?;
        if tk != gt {
            bail!(
                "{scenario}: the toolkit and git disagree (kept for inspection in {}):\n{}",
                dir.keep().display(),
                difference(&tk, &gt)
            );
        }
        outcome = describe(fixes, &tk)?;
    }
    Ok(Comparison {
        scenario: scenario.to_string(),
        files: repo.shape.files,
        fixes: fixes.len(),
        toolkit: Stats::of(&toolkit),
        git: Stats::of(&git),
        outcome,
    })
}

fn difference(tk: &BackportOutcome, gt: &BackportOutcome) -> String {
    let mut out = String::new();
    for (fix, tree) in &tk.applied {
        match gt.applied.get(fix) {
            Some(t) if t == tree => {}
            Some(t) => out.push_str(&format!("  {fix}: toolkit tree {tree}, git tree {t}\n")),
            None => out.push_str(&format!("  {fix}: applied by the toolkit only\n")),
        }
    }
    for fix in gt.applied.keys().filter(|f| !tk.applied.contains_key(*f)) {
        out.push_str(&format!("  {fix}: applied by git only\n"));
    }
    for fix in tk.conflicts.symmetric_difference(&gt.conflicts) {
        let who = if tk.conflicts.contains(fix) { "the toolkit" } else { "git" };
        out.push_str(&format!("  {fix}: conflict for {who} only\n"));
    }
    out
}

/// Summarises an outcome both tools reached, and checks it against what the generator intended.
fn describe(fixes: &[Fix], o: &BackportOutcome) -> Result<String> {
    let mut unexpected = Vec::new();
    for f in fixes {
        let got = if o.conflicts.contains(&f.id) {
            FixKind::Conflict
        } else if o.applied.contains_key(&f.id) {
            FixKind::Clean
        } else {
            FixKind::AlreadyApplied
        };
        let want = match f.kind {
            FixKind::Renamed => FixKind::Clean,
            k => k,
        };
        if got != want {
            unexpected.push(format!("{} ({:?} but {:?})", f.id, f.kind, got));
        }
    }
    ensure!(
        unexpected.is_empty(),
        "both tools agree, but not with the generated fixes: {}",
        unexpected.join(", ")
    );
    let renamed = fixes.iter().filter(|f| f.kind == FixKind::Renamed).count();
    Ok(format!(
        "identical: {} applied ({renamed} via renames), {} already applied, {} conflicts",
        o.applied.len(),
        fixes.len() - o.applied.len() - o.conflicts.len(),
        o.conflicts.len()
    ))
}

/// Already-applied detection over the newer branch: `cargo xtask cherry` vs `git cherry`.
pub fn cherry(repo: &BenchRepo, runs: usize, tools: &Tools, work: &Path) -> Result<Comparison> {
    let (mut toolkit, mut git) = (Vec::new(), Vec::new());
    let mut outcome = String::new();
    let mut listed = 0;
    for run in 0..runs {
        let dir = run_dir(work)?;
        let d = dir.path();
        let tk_fork = bare_copy(repo, d, "toolkit.git")?;
        let git_fork = bare_copy(repo, d, "git.git")?;
        let mut sides = vec![true, false];
        if run % 2 == 1 {
            sides.reverse();
        }
        for is_toolkit in sides {
            if is_toolkit {
                let script = r#""$XTASK" cherry --fork "$FORK" release/6.0 release/8.0"#;
                let env = [("XTASK", tools.xtask.as_path()), ("FORK", tk_fork.as_path())];
                toolkit.push(run_script(script, d, &env, &d.join("toolkit.out"))?);
            } else {
                let script = r#"git -C "$FORK" cherry release/6.0 release/8.0"#;
                let env = [("FORK", git_fork.as_path())];
                git.push(run_script(script, d, &env, &d.join("git.out"))?);
            }
        }
        let tk = cherry_marks(&d.join("toolkit.out"))?;
        let gt = cherry_marks(&d.join("git.out"))?;
        if tk != gt {
            let differ: Vec<String> = tk
                .iter()
                .zip(&gt)
                .filter(|(a, b)| a != b)
                .take(10)
                .map(|(a, b)| format!("  toolkit {} {}, git {} {}", a.0, a.1, b.0, b.1))
                .collect();
            bail!(
                "cherry: the toolkit and git disagree ({} vs {} commits; kept in {}):\n{}",
                tk.len(),
                gt.len(),
                dir.keep().display(),
                differ.join("\n")
            );
        }
        let present = tk.iter().filter(|(m, _)| *m == '-').count();
        let expected: BTreeSet<&str> = repo
            .fixes
            .iter()
            .filter(|f| f.kind == FixKind::AlreadyApplied)
            .map(|f| f.id.as_str())
            .collect();
        let found: BTreeSet<&str> = tk
            .iter()
            .filter(|(m, _)| *m == '-')
            .map(|(_, id)| id.as_str())
            .collect();
        ensure!(
            found == expected,
            "cherry: both tools agree, but not with the generated fixes (found {found:?}, expected {expected:?})"
        );
        listed = tk.len();
        outcome = format!("identical: {listed} {NEW} commits listed, {present} already on {OLD}");
    }
    Ok(Comparison {
        scenario: format!("already-applied detection (`cherry` vs `git cherry`)"),
        files: repo.shape.files,
        fixes: listed,
        toolkit: Stats::of(&toolkit),
        git: Stats::of(&git),
        outcome,
    })
}

/// `(mark, commit)` from `git cherry`-style lines.
fn cherry_marks(path: &Path) -> Result<Vec<(char, String)>> {
    let text = std::fs::read_to_string(path)?;
    text.lines()
        .map(|l| {
            let mut parts = l.split_whitespace();
            match (parts.next(), parts.next()) {
                (Some(m @ ("+" | "-")), Some(id)) => Ok((m.chars().next().unwrap_or('+'), id.to_string())),
                _ => bail!("unexpected line in {}: {l}", path.display()),
            }
        })
        .collect()
}
