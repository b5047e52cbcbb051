//! The comparisons: each runs the toolkit and the git CLI equivalent on identical fresh clones of
//! a generated repository (cloning is not timed), both as child processes including process
//! start, and checks that they reached the same outcome before a time is believed.
//!
//! Backport: one `cargo xtask backport --skip-conflicts <FIX>…` on a bare clone vs one
//! `git cherry-pick -x --empty=drop <FIX>` per fix in a worktree checked out on the old branch
//! (`git cherry-pick --abort` after a conflict), and vs git's sequencer with `--skip`. All skip a
//! conflicting fix and go on, so all end with the same branch and the same set of conflicts.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use anyhow::{bail, ensure, Context, Result};
use git2::{Oid, Repository};
use serde::Serialize;

use super::measure::{Sample, Stats};
use crate::backport::provenance_message;
use crate::fixtures::bench_history::{BenchRepo, Fix, FixKind, NEW, OLD};

/// One row of results: the toolkit and git on the same work.
#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
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
    let sh = crate::process::shell()?;
    sh.change_dir(cwd);
    crate::process::output(sh.cmd("git").args(args))
        .with_context(|| format!("in {}", cwd.display()))?;
    Ok(())
}

/// A bare clone sharing the cached repository's objects (what a CI job or mirror has).
fn bare_copy(repo: &BenchRepo, dir: &Path, name: &str) -> Result<PathBuf> {
    bare_clone(&repo.path, dir, name)
}

/// A fresh bare clone of `src` sharing its objects: nothing of the toolkit's (no patch-id cache).
fn bare_clone(src: &Path, dir: &Path, name: &str) -> Result<PathBuf> {
    let path = dir.join(name);
    let src = src.display().to_string();
    git(&["clone", "-q", "--bare", "--shared", &src, name], dir)?;
    configure(&path)?;
    Ok(path)
}

/// A clone of `src` with `branch` checked out (what a `git cherry-pick` loop needs).
fn worktree_copy(src: &Path, branch: &str, dir: &Path, name: &str) -> Result<PathBuf> {
    let path = dir.join(name);
    let src = src.display().to_string();
    git(&["clone", "-q", "--shared", "-b", branch, &src, name], dir)?;
    configure(&path)?;
    Ok(path)
}

/// Puts a worktree back at `tip` on `branch`, as freshly cloned (not timed).
fn reset_worktree(path: &Path, branch: &str, tip: &str) -> Result<()> {
    git(&["checkout", "-q", "-f", "-B", branch, tip], path)?;
    git(&["clean", "-q", "-f", "-d", "-x"], path)
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

/// Runs `script` under `sh` in `cwd` with `env`, measured by a `xtask bench --measure-into`
/// process in between (see `measure::measure_into`).
fn run_script(
    tools: &Tools,
    script: &str,
    cwd: &Path,
    env: &[(&str, &Path)],
    log: &Path,
) -> Result<Sample> {
    let sample_file = log.with_extension("sample");
    let sh = crate::process::shell()?;
    sh.change_dir(cwd);
    let mut cmd = sh
        .cmd(&tools.xtask)
        .arg("bench")
        .arg("--measure-into")
        .arg(&sample_file)
        .args(["--", "sh", "-c", script]);
    for (k, v) in env {
        cmd = cmd.env(k, v);
    }
    let cmd = cmd
        .env("NO_COLOR", "1")
        .env_remove("GITHUB_ACTIONS")
        .env_remove("GITHUB_STEP_SUMMARY")
        .env_remove("ELS_CONFIG");
    let err = log.with_extension("err");
    // Output goes to log files (kept for the reader), so the child is started by hand.
    let status = std::process::Command::from(cmd)
        .stdout(std::fs::File::create(log)?)
        .stderr(std::fs::File::create(&err)?)
        .status()
        .with_context(|| format!("cannot run {}", tools.xtask.display()))?;
    if !status.success() {
        bail!(
            "the measured command failed ({status}); see {}:\n{}",
            err.display(),
            std::fs::read_to_string(&err).unwrap_or_default()
        );
    }
    let text = std::fs::read_to_string(&sample_file)
        .with_context(|| format!("cannot read {}", sample_file.display()))?;
    Ok(serde_json::from_str(&text)?)
}

/// The toolkit, skipping conflicting fixes like the git loops do: one process for all fixes. The
/// list is read with shell builtins, as the git loops read it: a `$(cat …)` costs a fork and an
/// exec (about 2 ms of wall time here) that only this side would pay.
const TOOLKIT_BACKPORT: &str = r#"
set --
while read -r f; do set -- "$@" "$f"; done < "$FIXES"
"$XTASK" backport --fork "$FORK" --onto "$ONTO" --skip-conflicts --json "$@" > "$REPORT"
[ $? -le 1 ] || exit 5
"#;

/// What backport tools run: one `git cherry-pick -x` process per fix in a worktree.
const GIT_LOOP: &str = r#"
cd "$FORK" || exit 5
while read -r f; do
  if ! git cherry-pick -x --empty=drop "$f" >/dev/null 2>&1; then
    echo "$f" >> "$CONFLICTS"
    git cherry-pick --abort || exit 3
  fi
done < "$FIXES"
"#;

/// git's best: one `git cherry-pick -x` over every fix, `--skip` past each conflict (the list
/// read with builtins, as for the toolkit).
const GIT_SEQUENCER: &str = r#"
cd "$FORK" || exit 5
set --
while read -r f; do set -- "$@" "$f"; done < "$FIXES"
git cherry-pick -x --empty=drop "$@" >/dev/null 2>&1
while [ $? -ne 0 ]; do
  h=$(git rev-parse -q --verify CHERRY_PICK_HEAD) || exit 3
  echo "$h" >> "$CONFLICTS"
  git cherry-pick --skip >/dev/null 2>&1
done
"#;

/// The fixes a `backport --skip-conflicts --json` report left out, one per line.
fn skipped_fixes(report: &Path) -> Result<String> {
    let text = std::fs::read_to_string(report)
        .with_context(|| format!("cannot read {}", report.display()))?;
    let report: crate::backport::Report = serde_json::from_str(&text)
        .with_context(|| format!("{} is not a backport report", report.display()))?;
    Ok(report
        .fixes
        .iter()
        .filter(|f| f.status == crate::backport::FixStatus::Skipped)
        .map(|f| format!("{}\n", f.fix))
        .collect())
}

/// What a backport loop left: the tree after each applied fix and the conflicted fixes.
#[derive(Debug, PartialEq, Eq)]
struct BackportOutcome {
    applied: BTreeMap<String, Oid>,
    conflicts: BTreeSet<String>,
    tip_tree: Oid,
}

fn backport_outcome(
    fork: &Path,
    branch: &str,
    original: Oid,
    conflicts: &Path,
) -> Result<BackportOutcome> {
    let repo = Repository::open(fork)?;
    let tip = repo.refname_to_id(&format!("refs/heads/{branch}"))?;
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
            .find_map(|l| {
                l.strip_prefix("(cherry picked from commit ")?
                    .strip_suffix(')')
            })
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

/// The git side of a backport comparison.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum GitBackport {
    /// One `git cherry-pick -x` per fix (what backport tools run).
    Loop,
    /// One `git cherry-pick -x` over all fixes with `--skip` on conflicts (git's best).
    Sequencer,
}

impl GitBackport {
    fn script(self) -> &'static str {
        match self {
            GitBackport::Loop => GIT_LOOP,
            GitBackport::Sequencer => GIT_SEQUENCER,
        }
    }

    fn label(self) -> &'static str {
        match self {
            GitBackport::Loop => "`git cherry-pick -x` loop",
            GitBackport::Sequencer => "one `git cherry-pick -x` sequence, `--skip` on conflict",
        }
    }
}

/// The repository a backport comparison works on: `branch` of the bare repository `path`
/// receives the fixes.
pub struct Subject<'a> {
    pub path: &'a Path,
    pub branch: &'a str,
    /// Files in the branch's tree.
    pub files: usize,
    /// The generated fixes, when the outcome is known in advance (checked too).
    pub expected: Option<&'a [Fix]>,
}

impl<'a> Subject<'a> {
    /// The old branch of a generated repository, with the generator's fixes as expectations.
    pub fn generated(repo: &'a BenchRepo) -> Subject<'a> {
        Subject {
            path: &repo.path,
            branch: OLD,
            files: repo.shape.files,
            expected: Some(&repo.fixes),
        }
    }
}

/// What the toolkit's clone holds when its run starts.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Cache {
    /// A fresh clone: what CI and the scheduled pipeline start from.
    Cold,
    /// The toolkit ran on this clone before (untimed), so its patch-id cache is filled; the
    /// branch is put back first.
    Warm,
}

/// One backport comparison: which fixes, against which git variants, from which cache state.
pub struct BackportCase<'a> {
    /// The row's name (each git variant's label is appended).
    pub label: String,
    /// Upstream commit ids, in order.
    pub fixes: Vec<String>,
    pub cache: Cache,
    pub variants: &'a [GitBackport],
}

impl BackportCase<'_> {
    /// A cold comparison of generated `fixes` against `variants`.
    pub fn of<'v>(label: String, fixes: &[Fix], variants: &'v [GitBackport]) -> BackportCase<'v> {
        BackportCase {
            label,
            fixes: fixes.iter().map(|f| f.id.clone()).collect(),
            cache: Cache::Cold,
            variants,
        }
    }
}

impl Cache {
    /// The row's first word.
    pub fn name(self) -> &'static str {
        match self {
            Cache::Cold => "cold",
            Cache::Warm => "warm",
        }
    }

    /// What the toolkit starts from, for the row's name.
    pub fn describe(self) -> &'static str {
        match self {
            Cache::Cold => "a fresh clone per run",
            Cache::Warm => "the clone of an earlier run (patch-id cache kept)",
        }
    }
}

/// Backports the case's fixes with the toolkit and each git variant, `runs` times; one comparison
/// per git variant (the toolkit's samples are shared).
pub fn backport(
    subject: &Subject,
    case: &BackportCase,
    runs: usize,
    tools: &Tools,
    work: &Path,
) -> Result<Vec<Comparison>> {
    let BackportCase {
        label,
        fixes,
        cache,
        variants,
    } = case;
    let branch = subject.branch;
    let original =
        Repository::open(subject.path)?.refname_to_id(&format!("refs/heads/{branch}"))?;
    let mut toolkit = Vec::new();
    let mut git_samples: Vec<Vec<Sample>> = vec![Vec::new(); variants.len()];
    let mut outcome = String::new();
    // Checking out tens of thousands of files takes longer than the work measured, so each git
    // variant gets one worktree, put back exactly at the old branch's tip before every run.
    let worktrees = run_dir(work)?;
    let git_forks: Vec<PathBuf> = (0..variants.len())
        .map(|i| worktree_copy(subject.path, branch, worktrees.path(), &format!("git{i}")))
        .collect::<Result<_>>()?;
    for run in 0..runs {
        let dir = run_dir(work)?;
        let d = dir.path();
        let list = d.join("fixes");
        std::fs::write(&list, fixes.join("\n") + "\n")?;
        // Sides: None is the toolkit, Some(i) git variant i; the order rotates between runs.
        let mut sides: Vec<Option<usize>> = std::iter::once(None)
            .chain((0..variants.len()).map(Some))
            .collect();
        let n = sides.len();
        sides.rotate_left(run % n);
        let mut outcomes = Vec::new();
        for side in sides {
            let name = match side {
                None => "toolkit".to_string(),
                Some(i) => format!("git{i}"),
            };
            let fork = match side {
                None => bare_clone(subject.path, d, "toolkit.git")?,
                Some(i) => {
                    reset_worktree(&git_forks[i], branch, &original.to_string())?;
                    git_forks[i].clone()
                }
            };
            let conflicts = d.join(format!("{name}.conflicts"));
            let report = d.join(format!("{name}.json"));
            let onto = Path::new(branch);
            let env = [
                ("XTASK", tools.xtask.as_path()),
                ("FORK", fork.as_path()),
                ("ONTO", onto),
                ("FIXES", list.as_path()),
                ("CONFLICTS", conflicts.as_path()),
                ("REPORT", report.as_path()),
            ];
            if side.is_none() && *cache == Cache::Warm {
                run_script(tools, TOOLKIT_BACKPORT, d, &env, &d.join("warm-up.log"))?;
                let reference = format!("refs/heads/{branch}");
                git(&["update-ref", &reference, &original.to_string()], &fork)?;
            }
            let script = side.map_or(TOOLKIT_BACKPORT, |i| variants[i].script());
            let sample = run_script(tools, script, d, &env, &d.join(format!("{name}.log")))?;
            if side.is_none() {
                std::fs::write(&conflicts, skipped_fixes(&report)?)?;
            }
            match side {
                None => toolkit.push(sample),
                Some(i) => git_samples[i].push(sample),
            }
            outcomes.push((name, backport_outcome(&fork, branch, original, &conflicts)?));
        }
        let first = agreed_outcome(label, dir, &outcomes)?;
        outcome = describe(fixes, subject.expected, first)?;
    }
    Ok(variants
        .iter()
        .zip(git_samples)
        .map(|(v, samples)| Comparison {
            scenario: format!("{label} vs {}", v.label()),
            files: subject.files,
            fixes: fixes.len(),
            toolkit: Stats::of(&toolkit),
            git: Stats::of(&samples),
            outcome: outcome.clone(),
        })
        .collect())
}

/// The outcome every side of a run reached; when one differs, the run's directory is kept for
/// inspection and the difference named.
fn agreed_outcome<'o>(
    label: &str,
    dir: tempfile::TempDir,
    outcomes: &'o [(String, BackportOutcome)],
) -> Result<&'o BackportOutcome> {
    let (first_name, first) = &outcomes[0];
    for (name, other) in &outcomes[1..] {
        if other != first {
            bail!(
                "{label}: {first_name} and {name} disagree (kept for inspection in {}):\n{}",
                dir.keep().display(),
                difference(first, other)
            );
        }
    }
    Ok(first)
}

fn difference(tk: &BackportOutcome, gt: &BackportOutcome) -> String {
    let mut out = String::new();
    for (fix, tree) in &tk.applied {
        match gt.applied.get(fix) {
            Some(t) if t == tree => {}
            Some(t) => out.push_str(&format!("  {fix}: tree {tree} vs {t}\n")),
            None => out.push_str(&format!("  {fix}: applied by the first only\n")),
        }
    }
    for fix in gt.applied.keys().filter(|f| !tk.applied.contains_key(*f)) {
        out.push_str(&format!("  {fix}: applied by the second only\n"));
    }
    for fix in tk.conflicts.symmetric_difference(&gt.conflicts) {
        let who = if tk.conflicts.contains(fix) {
            "first"
        } else {
            "second"
        };
        out.push_str(&format!("  {fix}: conflict for the {who} only\n"));
    }
    if tk.tip_tree != gt.tip_tree {
        out.push_str(&format!(
            "  final trees differ: {} vs {}\n",
            tk.tip_tree, gt.tip_tree
        ));
    }
    out
}

/// Summarises an outcome both tools reached, and checks it against what the generator intended
/// when it is known.
fn describe(fixes: &[String], expected: Option<&[Fix]>, o: &BackportOutcome) -> Result<String> {
    let summary = format!(
        "{} applied, {} already applied, {} conflicts",
        o.applied.len(),
        fixes.len() - o.applied.len() - o.conflicts.len(),
        o.conflicts.len()
    );
    let Some(generated) = expected else {
        return Ok(format!("identical: {summary}"));
    };
    let mut unexpected = Vec::new();
    for f in generated.iter().filter(|f| fixes.contains(&f.id)) {
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
    let renamed = generated
        .iter()
        .filter(|f| f.kind == FixKind::Renamed && fixes.contains(&f.id))
        .count();
    Ok(format!("identical: {summary} ({renamed} via renames)"))
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
                let env = [
                    ("XTASK", tools.xtask.as_path()),
                    ("FORK", tk_fork.as_path()),
                ];
                toolkit.push(run_script(tools, script, d, &env, &d.join("toolkit.out"))?);
            } else {
                let script = r#"git -C "$FORK" cherry release/6.0 release/8.0"#;
                let env = [("FORK", git_fork.as_path())];
                git.push(run_script(tools, script, d, &env, &d.join("git.out"))?);
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
        scenario: "already-applied detection: `xtask cherry` vs `git cherry`".to_string(),
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
                (Some(m @ ("+" | "-")), Some(id)) => {
                    Ok((m.chars().next().unwrap_or('+'), id.to_string()))
                }
                _ => bail!("unexpected line in {}: {l}", path.display()),
            }
        })
        .collect()
}

/// The fork branch that the patch-queue comparison rebuilds.
const ELS_BRANCH: &str = "release/6.0-els";
const BASE_TAG: &str = "v6.0.36";

/// A patch queue of `patches` clean backports on top of the old branch (built once, not timed):
/// the fork as `<dir>/fork.git`, the config as `<dir>/els.toml`, the queue under
/// `<dir>/runtime-patches/runtime/`.
fn patch_queue(repo: &BenchRepo, patches: usize, dir: &Path) -> Result<(PathBuf, Vec<Oid>)> {
    let fork = bare_copy(repo, dir, "fork.git")?;
    git(&["tag", BASE_TAG, OLD], &fork)?;
    git(&["branch", ELS_BRANCH, OLD], &fork)?;
    let clean: Vec<crate::backport::FixSpec> = repo
        .fixes
        .iter()
        .filter(|f| matches!(f.kind, FixKind::Clean | FixKind::Renamed))
        .take(patches)
        .map(|f| f.id.parse())
        .collect::<Result<_>>()?;
    let report = crate::backport::backport(&crate::backport::Request {
        fork: fork.clone(),
        onto: ELS_BRANCH.to_string(),
        fixes: clean,
        quiet: true,
        ..Default::default()
    })?;
    ensure!(!report.stopped(), "the patch queue's backports conflicted");
    let config_text = format!(
        "[patches]\ndir = \"runtime-patches\"\n\n[[repo]]\nname = \"runtime\"\npath = \"fork.git\"\nbranch = \"{ELS_BRANCH}\"\nbase = \"{BASE_TAG}\"\nupstream = \"fork.git\"\n"
    );
    let config_path = dir.join("els.toml");
    std::fs::write(&config_path, config_text)?;
    let config = crate::config::Config::load(&config_path)?;
    crate::patches::export_repo(&config, "runtime")?;
    let trees = branch_trees(&fork, ELS_BRANCH, BASE_TAG)?;
    Ok((config_path, trees))
}

/// The trees of the commits on `branch` since `base`, oldest first.
fn branch_trees(repo: &Path, branch: &str, base: &str) -> Result<Vec<Oid>> {
    let repo = Repository::open(repo)?;
    let mut walk = repo.revwalk()?;
    walk.set_sorting(git2::Sort::TOPOLOGICAL | git2::Sort::REVERSE)?;
    walk.push_ref(&format!("refs/heads/{branch}"))?;
    walk.hide(repo.revparse_single(base)?.peel_to_commit()?.id())?;
    walk.map(|id| Ok(repo.find_commit(id?)?.tree_id()))
        .collect()
}

const TOOLKIT_PATCHES: &str = r#"
"$XTASK" --config "$CONFIG" patches apply --repo runtime --target "$FORK" --base v6.0.36 --onto rebuilt --json > /dev/null
"#;

const GIT_AM: &str = r#"
cd "$FORK" || exit 5
git am -q $(sed -e '/^#/d' -e '/^[[:space:]]*$/d' -e "s|^|$QUEUE/|" "$QUEUE/series")
"#;

/// Rebuilding the fork from the base tag and a queue of `patches` patches: `cargo xtask patches
/// apply` (in memory, onto a bare clone) vs `git am` in a worktree checked out at the base tag.
pub fn patches(
    repo: &BenchRepo,
    patches: usize,
    runs: usize,
    tools: &Tools,
    work: &Path,
) -> Result<Comparison> {
    let prep = run_dir(work)?;
    let (config, expected) = patch_queue(repo, patches, prep.path())?;
    let queue = prep.path().join("runtime-patches").join("runtime");
    let fork = prep.path().join("fork.git");
    let src = fork.display().to_string();
    let (mut toolkit, mut git_samples) = (Vec::new(), Vec::new());
    git(
        &["clone", "-q", "--shared", "-b", ELS_BRANCH, &src, "git"],
        prep.path(),
    )?;
    let git_copy = prep.path().join("git");
    configure(&git_copy)?;
    for run in 0..runs {
        let dir = run_dir(work)?;
        let d = dir.path();
        let mut sides = vec![true, false];
        if run % 2 == 1 {
            sides.reverse();
        }
        for is_toolkit in sides {
            let (copy, script) = if is_toolkit {
                git(
                    &["clone", "-q", "--bare", "--shared", &src, "toolkit.git"],
                    d,
                )?;
                (d.join("toolkit.git"), TOOLKIT_PATCHES)
            } else {
                reset_worktree(&git_copy, "rebuilt", BASE_TAG)?;
                (git_copy.clone(), GIT_AM)
            };
            let env = [
                ("XTASK", tools.xtask.as_path()),
                ("FORK", copy.as_path()),
                ("CONFIG", config.as_path()),
                ("QUEUE", queue.as_path()),
            ];
            let name = if is_toolkit { "toolkit" } else { "git" };
            let sample = run_script(tools, script, d, &env, &d.join(format!("{name}.log")))?;
            let trees = branch_trees(&copy, "rebuilt", BASE_TAG)?;
            if trees != expected {
                bail!(
                    "patches: {name} rebuilt a different branch than the fork's ({} commits, expected {}; kept in {})",
                    trees.len(),
                    expected.len(),
                    dir.keep().display()
                );
            }
            if is_toolkit {
                toolkit.push(sample);
            } else {
                git_samples.push(sample);
            }
        }
    }
    Ok(Comparison {
        scenario: "rebuild the fork from base + queue: `xtask patches apply` vs `git am`".into(),
        files: repo.shape.files,
        fixes: expected.len(),
        toolkit: Stats::of(&toolkit),
        git: Stats::of(&git_samples),
        outcome: format!(
            "identical: {} commits with the fork branch's trees, in order",
            expected.len()
        ),
    })
}

/// The toolkit stopping at a conflict on a bare fork: it writes the conflict into a worktree of
/// its own (exit status 1: stopped).
const TOOLKIT_CONFLICT: &str = r#"
"$XTASK" backport --fork "$FORK" --onto "$ONTO" --json "$FIX" > "$REPORT"
[ $? -eq 1 ] || exit 5
"#;

/// What a person does with git on the same bare fork: a worktree of the branch, then the pick,
/// which stops at the conflict.
const GIT_CONFLICT: &str = r#"
git -C "$FORK" worktree add -q "$WT" "$ONTO" || exit 5
cd "$WT" || exit 5
git cherry-pick -x "$FIX" >/dev/null 2>&1 && exit 6
git rev-parse -q --verify CHERRY_PICK_HEAD >/dev/null || exit 3
"#;

/// Ends a stopped backport as a person who keeps the fork's side would (untimed), so that the
/// branch is where it was and the toolkit's worktree is kept for the next conflict.
const TOOLKIT_RESOLVE_AS_OURS: &str = r#"
cd "$WT" || exit 5
# Each path the pick changed goes back to HEAD's version; one HEAD lacks (a file the fix adds,
# or a modify/delete conflict) is removed, as real fixes have both.
git diff --name-only HEAD | while IFS= read -r p; do
  if git cat-file -e "HEAD:$p" 2>/dev/null; then
    git checkout HEAD -- "$p" || exit 5
  else
    git rm -q -f --cached -- "$p" && rm -f -- "$p" || exit 5
  fi
done || exit 5
"$XTASK" backport --fork "$FORK" --continue --json > /dev/null || exit 5
"#;

/// What `git status` shows in a worktree stopped at a conflict, with the commit it stopped on.
fn conflict_state(worktree: &Path) -> Result<(String, String)> {
    let sh = crate::process::shell()?;
    let status = crate::process::read(
        sh.cmd("git")
            .arg("-C")
            .arg(worktree)
            .args(["status", "--porcelain"]),
    )?;
    let head = crate::process::read(sh.cmd("git").arg("-C").arg(worktree).args([
        "rev-parse",
        "HEAD",
        "CHERRY_PICK_HEAD",
    ]))?;
    Ok((status, head))
}

/// Stopping at the conflict of `fix` (an upstream commit that conflicts on the subject's branch):
/// the toolkit's `backport` on a bare clone vs `git worktree add` + `git cherry-pick -x` on
/// another; both end in a worktree where `git status` shows the conflict, checked equal (the
/// same status lines, HEAD and CHERRY_PICK_HEAD). With `earlier`, the toolkit stopped at that
/// fix's conflict on the same clone before (untimed, resolved by keeping the fork's side and
/// `--continue`), so it has its worktree from then; git's side is the same either way.
pub fn conflict(
    subject: &Subject,
    label: String,
    fix: &str,
    earlier: Option<&str>,
    runs: usize,
    tools: &Tools,
    work: &Path,
) -> Result<Comparison> {
    let (mut toolkit, mut git_samples) = (Vec::new(), Vec::new());
    let mut outcome = String::new();
    for run in 0..runs {
        let dir = run_dir(work)?;
        let d = dir.path();
        let mut states = Vec::new();
        let mut sides = vec![true, false];
        if run % 2 == 1 {
            sides.reverse();
        }
        for is_toolkit in sides {
            let name = if is_toolkit { "toolkit" } else { "git" };
            let fork = bare_clone(subject.path, d, &format!("{name}.git"))?;
            let report = d.join(format!("{name}.json"));
            let mut wt = d.join(format!("{name}.wt"));
            let onto = Path::new(subject.branch);
            let xtask = tools.xtask.as_path();
            if let (true, Some(first)) = (is_toolkit, earlier) {
                stop_and_resolve(tools, d, &fork, onto, first, &report)?;
            }
            let env = [
                ("XTASK", xtask),
                ("FORK", fork.as_path()),
                ("ONTO", onto),
                ("FIX", Path::new(fix)),
                ("REPORT", report.as_path()),
                ("WT", wt.as_path()),
            ];
            let script = if is_toolkit {
                TOOLKIT_CONFLICT
            } else {
                GIT_CONFLICT
            };
            let sample = run_script(tools, script, d, &env, &d.join(format!("{name}.log")))?;
            if is_toolkit {
                wt = stopped_worktree(&report)?;
                toolkit.push(sample);
            } else {
                git_samples.push(sample);
            }
            states.push((name, conflict_state(&wt)?));
        }
        let (_, first) = &states[0];
        let (_, second) = &states[1];
        if first != second {
            bail!(
                "{label}: the toolkit's and git's worktrees differ (kept for inspection in {}):\n{}: {:?}\n{}: {:?}",
                dir.keep().display(),
                states[0].0,
                first,
                states[1].0,
                second
            );
        }
        outcome = describe_conflict(&label, &first.0)?;
    }
    Ok(Comparison {
        scenario: label,
        files: subject.files,
        fixes: 1,
        toolkit: Stats::of(&toolkit),
        git: Stats::of(&git_samples),
        outcome,
    })
}

/// The toolkit's earlier stop on the same clone (untimed): backports `fix` to its conflict, then
/// resolves it by keeping the fork's side and `--continue`, so the clone keeps its worktree.
fn stop_and_resolve(
    tools: &Tools,
    d: &Path,
    fork: &Path,
    onto: &Path,
    fix: &str,
    report: &Path,
) -> Result<()> {
    let xtask = tools.xtask.as_path();
    let env = [
        ("XTASK", xtask),
        ("FORK", fork),
        ("ONTO", onto),
        ("FIX", Path::new(fix)),
        ("REPORT", report),
    ];
    run_script(tools, TOOLKIT_CONFLICT, d, &env, &d.join("earlier.log"))?;
    let kept = stopped_worktree(report)?;
    let env = [("XTASK", xtask), ("FORK", fork), ("WT", kept.as_path())];
    run_script(
        tools,
        TOOLKIT_RESOLVE_AS_OURS,
        d,
        &env,
        &d.join("resolve.log"),
    )?;
    Ok(())
}

/// The outcome of a conflict stop from its `git status --porcelain` lines, which must show at
/// least one conflicted path.
fn describe_conflict(label: &str, status: &str) -> Result<String> {
    let unmerged = status
        .lines()
        .filter(|l| {
            let code = l.get(..2).unwrap_or("");
            code.contains('U') || code == "AA" || code == "DD"
        })
        .count();
    ensure!(
        unmerged > 0,
        "{label}: `git status` shows no conflict:\n{status}"
    );
    Ok(format!(
        "identical `git status`: {unmerged} conflicted, {} staged",
        status.lines().count() - unmerged
    ))
}

/// The conflict worktree a stopped `backport --json` report names.
fn stopped_worktree(report: &Path) -> Result<PathBuf> {
    let text = std::fs::read_to_string(report)
        .with_context(|| format!("cannot read {}", report.display()))?;
    let report: crate::backport::Report = serde_json::from_str(&text)
        .with_context(|| format!("{} is not a backport report", report.display()))?;
    report
        .conflict_worktree
        .with_context(|| "the backport did not stop at a conflict")
}
