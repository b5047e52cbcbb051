//! `cargo xtask pipelines rehearse`: runs a workflow's jobs here, in `needs` order, the way a
//! Linux runner would: each `run:` step in bash with the runner's environment (`GITHUB_ACTIONS`,
//! `GITHUB_OUTPUT`, `GITHUB_ENV`, `GITHUB_PATH`, `GITHUB_STEP_SUMMARY`, `RUNNER_TEMP`), `${{ }}`
//! evaluated, matrices expanded from earlier jobs' real outputs, local reusable workflows
//! followed, and each `uses:` action replaced by a declared local equivalent. What cannot run
//! here (a Windows or macOS runner, a PowerShell step, host package installs, a command left out
//! with `--not-rehearsed`) is reported as not rehearsed, never as passed; a command that runs in
//! a local form (`cargo xtask build` as its `--dry-run`, `compat build --sdk` as `--mcs`) is
//! listed as a stand-in. The rehearsal stops at the first failing step and reports it with its
//! log.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};
use serde::Serialize;
use serde_json::{json, Map, Value};

use super::expr::{self, Scope};
use super::yaml::{self, Node};
use crate::console::{paint, Style};

/// What a rehearsal starts from.
pub struct Plan {
    /// The workflow file.
    pub workflow: PathBuf,
    /// The repository root local `uses: ./…` paths are relative to.
    pub root: PathBuf,
    /// Only this job (and the jobs it needs).
    pub job: Option<String>,
    /// Start at this job: the jobs it needs (directly or not) do not run and are listed as
    /// given; what they would have uploaded comes from `artifacts`.
    pub from: Option<String>,
    /// Artifacts as if uploaded earlier in the run: `(name, directory)`.
    pub artifacts: Vec<(String, PathBuf)>,
    /// GitHub releases `gh release download` finds: `(tag, directory of its files)`.
    pub gh_releases: Vec<(String, PathBuf)>,
    /// The sandbox a checkout of this repository stands in for (it holds els.toml); a checkout of
    /// `owner/name` clones the sandbox repository named `name` in its els.toml.
    pub sandbox: PathBuf,
    /// Where the run keeps its workspaces, artifacts, summaries and recorded calls.
    pub workdir: PathBuf,
    /// `inputs` of the called workflow.
    pub inputs: BTreeMap<String, String>,
    /// `vars` and `secrets` contexts.
    pub vars: BTreeMap<String, String>,
    pub secrets: BTreeMap<String, String>,
    /// The toolkit binary `cargo xtask` runs.
    pub xtask: PathBuf,
    /// `DOTNET_ROOT` that `actions/setup-dotnet` stands in for (the test runtimes).
    pub dotnet_root: Option<PathBuf>,
    /// `cargo …` commands (word prefixes, e.g. `cargo xtask test`) the `cargo` shim does not run:
    /// a step that reaches one is listed as not rehearsed, naming it, never as passed.
    pub left_out: Vec<String>,
    /// Run `cargo xtask build` for real: the sandbox's fork builds here (a fixture fork whose
    /// build scripts behave like the real ones). Otherwise it runs as its `--dry-run`.
    pub real_build: bool,
}

/// How a job or step ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    Passed,
    Failed,
    /// Its `if:` was false, or a job it needs failed.
    Skipped,
    /// Cannot run on this machine; listed so nobody takes it for a pass.
    NotRehearsed,
    /// Not run: the rehearsal started at a later job (`--from`), and what this job makes was
    /// given (`--artifact`). Its dependents run as after a success.
    Given,
}

/// One step's result.
#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
pub struct StepResult {
    pub name: String,
    pub status: Status,
    /// What ran in its place: `bash`, or the local equivalent of an action.
    pub how: String,
    /// The output (tail) of a failing or not-rehearsed step.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log: Option<String>,
}

/// One job (or one matrix leg) and its steps.
#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
pub struct JobResult {
    /// `job`, `job (leg)` or `caller/called` for a reusable workflow's jobs.
    pub name: String,
    pub status: Status,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub steps: Vec<StepResult>,
    pub outputs: BTreeMap<String, String>,
    /// The job's step summary, as `$GITHUB_STEP_SUMMARY` received it.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub summary: String,
}

/// The whole rehearsal.
#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
pub struct Report {
    pub workflow: PathBuf,
    pub workdir: PathBuf,
    pub jobs: Vec<JobResult>,
    /// Calls recorded instead of made (attestations, `gh release create`).
    pub recorded_calls: Vec<String>,
    /// Commands that ran in a declared local form instead of as written (the source build as
    /// its `--dry-run`, the corpus compiled with Mono's `mcs` instead of a .NET SDK).
    pub stand_ins: Vec<String>,
}

impl JobResult {
    /// Takes a finished step's status into the job's; true when the step failed.
    fn add_step_status(&mut self, status: Status) -> bool {
        match status {
            Status::Failed => {
                self.status = Status::Failed;
                true
            }
            Status::NotRehearsed if self.status == Status::Passed => {
                self.status = Status::NotRehearsed;
                self.reason = Some(format!(
                    "step `{}` was not rehearsed",
                    self.steps.last().map_or("", |s| s.name.as_str())
                ));
                false
            }
            _ => false,
        }
    }
}

impl Report {
    /// True when no job failed.
    pub fn passed(&self) -> bool {
        self.jobs.iter().all(|j| j.status != Status::Failed)
    }

    /// One line per job and step (with the log of a step that did not pass), the calls recorded
    /// instead of made, and a summary line.
    pub fn table(&self) -> String {
        let report = self;
        let word = |s: Status| match s {
            Status::Passed => paint("passed", Style::Good),
            Status::Failed => paint("FAILED", Style::Bad),
            Status::Skipped => paint("skipped", Style::Dim),
            Status::NotRehearsed => paint("NOT REHEARSED", Style::Warn),
            Status::Given => paint("GIVEN", Style::Warn),
        };
        let mut out = String::new();
        for job in &report.jobs {
            out.push_str(&format!("{} {}", word(job.status), job.name));
            if let Some(reason) = &job.reason {
                out.push_str(&format!(" ({reason})"));
            }
            out.push('\n');
            for step in &job.steps {
                out.push_str(&format!("  {} {}", word(step.status), step.name));
                if !step.how.is_empty() && step.how != "bash" {
                    out.push_str(&format!(" [{}]", step.how));
                }
                out.push('\n');
                if let Some(log) = step.log.as_ref().filter(|_| step.status != Status::Passed) {
                    for line in log.lines() {
                        out.push_str(&format!("    | {line}\n"));
                    }
                }
            }
        }
        for call in &report.recorded_calls {
            out.push_str(&format!("recorded: {call}\n"));
        }
        for stand_in in &report.stand_ins {
            out.push_str(&format!("stand-in: {stand_in}\n"));
        }
        let count = |status| report.jobs.iter().filter(|j| j.status == status).count();
        let not = count(Status::NotRehearsed);
        let given = match count(Status::Given) {
            0 => String::new(),
            n => format!("; {n} given, not run"),
        };
        let summary = format!(
            "{} job(s): {}; {not} not rehearsed{given}",
            report.jobs.len(),
            if report.passed() {
                "no failure"
            } else {
                "FAILED"
            }
        );
        out.push_str(&paint(
            &summary,
            if report.passed() {
                Style::Good
            } else {
                Style::Bad
            },
        ));
        out.push('\n');
        out
    }
}

/// Rehearses `plan.workflow`; stops at the first failing step.
pub fn rehearse(plan: &Plan) -> Result<Report> {
    std::fs::create_dir_all(&plan.workdir)
        .with_context(|| format!("cannot create {}", plan.workdir.display()))?;
    let shims = plan.workdir.join("shims");
    write_shims(&shims, plan)?;
    for (name, dir) in &plan.artifacts {
        if !dir.is_dir() {
            bail!(
                "--artifact {name}={}: not a directory; give the directory holding the artifact's files",
                dir.display()
            );
        }
        copy_tree(dir, &plan.workdir.join("artifacts").join(name))?;
    }
    for (tag, dir) in &plan.gh_releases {
        if !dir.is_dir() {
            bail!(
                "--gh-release {tag}={}: not a directory; give the directory holding the release's files",
                dir.display()
            );
        }
        copy_tree(dir, &plan.workdir.join(GH_RELEASES).join(tag))?;
    }
    let mut run = Run {
        plan,
        shims,
        jobs: Vec::new(),
        stopped: false,
        legs: 0,
    };
    let inputs: Map<String, Value> = plan
        .inputs
        .iter()
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .collect();
    let secrets: Map<String, Value> = plan
        .secrets
        .iter()
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .collect();
    run.workflow(&plan.workflow, "", inputs, secrets, plan.job.as_deref())?;
    let log_lines = |name: &str| -> Vec<String> {
        let mut lines: Vec<String> = Vec::new();
        for line in std::fs::read_to_string(plan.workdir.join(name))
            .unwrap_or_default()
            .lines()
        {
            if !lines.iter().any(|l| l == line) {
                lines.push(line.to_string());
            }
        }
        lines
    };
    Ok(Report {
        workflow: plan.workflow.clone(),
        workdir: plan.workdir.clone(),
        jobs: run.jobs,
        recorded_calls: log_lines(CALLS_LOG),
        stand_ins: log_lines(STAND_INS_LOG),
    })
}

/// The file the shims record the calls they stand in for (`gh`, `sudo`), one a line.
const CALLS_LOG: &str = "calls.log";
/// The directory of the GitHub releases the `gh` shim serves and creates, one directory a tag.
const GH_RELEASES: &str = "gh-releases";
/// The variable naming the step's file where the `cargo` shim lists the commands it left out.
const LEFT_OUT_ENV: &str = "ELS_REHEARSAL_LEFT_OUT";
/// The file the `cargo` shim records each command it ran in another form, one a line.
const STAND_INS_LOG: &str = "stand-ins.log";

/// `cargo` runs the toolkit binary for `cargo xtask`: a real build job's source build as its
/// `--dry-run` unless `real_build`, and `compat build --sdk` (no .NET SDK here) as `--mcs` on the
/// test runtimes, each such change recorded; `gh` and `sudo` record what they were asked to do,
/// and `gh release create`/`download` keep and serve the release's files in `gh-releases/TAG`.
fn write_shims(dir: &Path, plan: &Plan) -> Result<()> {
    let quote = |p: &Path| shlex::try_quote(&p.to_string_lossy()).map(|q| q.into_owned());
    let xtask = quote(&plan.xtask)?;
    let calls = quote(&plan.workdir.join(CALLS_LOG))?;
    let stand_ins = quote(&plan.workdir.join(STAND_INS_LOG))?;
    let dry_run_build = if plan.real_build {
        String::new()
    } else {
        format!("if [ \"$1\" = build ]; then\n  case \" $* \" in *' --dry-run '*) ;; *)\n    set -- \"$@\" --dry-run\n    echo 'rehearsal: the source build runs as its --dry-run form' >&2\n    echo 'cargo xtask build ran as its --dry-run (the real source build does not run here)' >> {stand_ins};;\n  esac\nfi\n")
    };
    let mcs_corpus = match &plan.dotnet_root {
        None => String::new(),
        Some(root) => format!(
            r#"if [ "$1" = compat ] && [ "$2" = build ]; then
  shift 2
  rest=() sdk=""
  while [ $# -gt 0 ]; do
    case "$1" in
      --sdk) sdk=$2; shift 2 ;;
      --sdk=*) sdk=${{1#--sdk=}}; shift ;;
      *) rest+=("$1"); shift ;;
    esac
  done
  if [ -n "$sdk" ]; then
    echo "rehearsal: there is no .NET SDK here; the corpus is compiled with Mono's mcs, as the compat tests do" >&2
    echo "cargo xtask compat build --sdk ran as --mcs (no .NET SDK here: Mono's mcs against the test runtimes, as the compat tests build the corpus)" >> {stand_ins}
    set -- compat build --mcs "${{rest[@]}}"
  else
    set -- compat build "${{rest[@]}}"
  fi
  export ELS_TEST_DOTNET_ROOT={root}
  ELS_TEST_MCS=${{ELS_TEST_MCS:-$(command -v mcs || true)}}
  export ELS_TEST_MCS
fi
"#,
            root = quote(root)?
        ),
    };
    let mut left_out = String::new();
    for prefix in &plan.left_out {
        let prefix = shlex::try_quote(prefix)?;
        left_out.push_str(&format!(
            "case \"cargo $* \" in {prefix}' '*) echo \"cargo $*\" >> \"${LEFT_OUT_ENV}\"; echo \"rehearsal: not rehearsed (--not-rehearsed): cargo $*\" >&2; exit 0 ;; esac\n"
        ));
    }
    let host_cargo = host_cargo()?;
    let cargo = format!(
        "#!/usr/bin/env bash\n{left_out}{host_cargo}if [ \"$1\" != xtask ]; then echo \"rehearsal: only 'cargo xtask', 'cargo fmt' and 'cargo clippy' run here, not 'cargo $1' (leave it out with --not-rehearsed)\" >&2; exit 127; fi\nshift\n{dry_run_build}{mcs_corpus}exec {xtask} \"$@\"\n"
    );
    let record = |tool: &str| {
        format!("#!/usr/bin/env bash\nprintf '{tool}' >> {calls}\nprintf ' %q' \"$@\" >> {calls}\necho >> {calls}\n")
    };
    let releases = quote(&plan.workdir.join(GH_RELEASES))?;
    // Assets are flat and named by their file name, as on GitHub: a second asset of one name
    // fails the creation, and a download of a release nobody created or gave fails.
    let gh = format!(
        r#"{record}if [ "$1 $2" = "release create" ]; then
  tag=$3; shift 3
  mkdir -p {releases}/"$tag"
  while [ $# -gt 0 ]; do
    case "$1" in
      --repo|-R|--title|-t|--notes|-n|--notes-file|-F|--target|--discussion-category) shift 2 ;;
      -*) shift ;;
      *) asset=${{1%%#*}}
         if [ -e {releases}/"$tag"/"$(basename "$asset")" ]; then
           echo "gh (rehearsal): the release $tag already has an asset named $(basename "$asset")" >&2; exit 1
         fi
         cp -- "$asset" {releases}/"$tag"/ || exit 1
         shift ;;
    esac
  done
elif [ "$1 $2" = "release download" ]; then
  tag=$3; shift 3; dir=.
  while [ $# -gt 0 ]; do
    case "$1" in
      --dir|-D) dir=$2; shift 2 ;;
      --repo|-R) shift 2 ;;
      *) echo "gh (rehearsal): \`release download\` stands in for TAG [--repo R] [--dir DIR] only, not $1" >&2; exit 2 ;;
    esac
  done
  if [ ! -d {releases}/"$tag" ]; then
    echo "gh (rehearsal): release not found: $tag (no earlier step created it; give it with --gh-release $tag=DIR)" >&2; exit 1
  fi
  mkdir -p "$dir" && cp -R {releases}/"$tag"/. "$dir"/
fi
"#,
        record = record("gh")
    );
    for (name, text) in [("cargo", cargo), ("gh", gh), ("sudo", record("sudo"))] {
        let path = dir.join(name);
        crate::atomic::write(&path, text)?;
        make_executable(&path)?;
    }
    Ok(())
}

/// The shim's lines that run `cargo fmt` and `cargo clippy` (checks that change nothing outside
/// the workspace) with the host's cargo and toolchain: a job's `HOME` is its own, so the host's
/// `CARGO_HOME` and `RUSTUP_HOME` are named. Empty when the host has no cargo.
fn host_cargo() -> Result<String> {
    let Some(cargo) = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|d| d.join("cargo"))
            .find(|p| p.is_file())
    }) else {
        return Ok(String::new());
    };
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_default();
    let dir_of = |var: &str, default: &str| {
        std::env::var_os(var)
            .map(PathBuf::from)
            .unwrap_or_else(|| home.join(default))
    };
    let mut exports = String::new();
    for (var, dir) in [
        ("CARGO_HOME", dir_of("CARGO_HOME", ".cargo")),
        ("RUSTUP_HOME", dir_of("RUSTUP_HOME", ".rustup")),
    ] {
        if dir.is_dir() {
            exports.push_str(&format!(
                " {var}={}",
                shlex::try_quote(&dir.to_string_lossy())?
            ));
        }
    }
    let cargo = shlex::try_quote(&cargo.to_string_lossy())?.into_owned();
    Ok(format!(
        "case \"$1\" in fmt|clippy) exec env{exports} {cargo} \"$@\" ;; esac\n"
    ))
}

#[cfg(unix)]
fn make_executable(path: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))
        .with_context(|| format!("cannot make {} executable", path.display()))
}

#[cfg(not(unix))]
fn make_executable(_path: &Path) -> Result<()> {
    bail!("rehearsals run bash steps and need a Unix machine")
}

struct Run<'a> {
    plan: &'a Plan,
    shims: PathBuf,
    jobs: Vec<JobResult>,
    stopped: bool,
    /// Numbers each job run's directory.
    legs: usize,
}

/// A finished job's `result` and `outputs`, as `needs.<job>` shows them.
#[derive(Clone)]
struct Finished {
    result: Status,
    outputs: Map<String, Value>,
}

impl Run<'_> {
    fn workflow(
        &mut self,
        file: &Path,
        prefix: &str,
        mut inputs: Map<String, Value>,
        secrets: Map<String, Value>,
        only: Option<&str>,
    ) -> Result<()> {
        let text = std::fs::read_to_string(file)
            .with_context(|| format!("cannot read {}", file.display()))?;
        let root = yaml::parse(&text).map_err(|e| {
            anyhow!(
                "{}:{}: not valid YAML: {}",
                file.display(),
                e.line,
                e.message
            )
        })?;
        let jobs = root
            .get("jobs")
            .ok_or_else(|| anyhow!("{}: no `jobs:`: not a workflow", file.display()))?;
        add_input_defaults(&root, &mut inputs);
        let order = job_order(file, jobs, only)?;
        // `--from` names a job of the workflow the rehearsal was started on, not of the ones
        // it calls.
        let given = match self.plan.from.as_deref().filter(|_| prefix.is_empty()) {
            Some(from) => upstream_of(file, jobs, from)?,
            None => Vec::new(),
        };
        let mut finished: BTreeMap<String, Finished> = BTreeMap::new();
        for name in order {
            if self.stopped {
                break;
            }
            let job = jobs.get(&name).expect("ordered from these jobs");
            if given.contains(&name) {
                self.jobs.push(given_job(
                    &format!("{prefix}{name}"),
                    self.plan.from.as_deref().unwrap_or_default(),
                ));
                finished.insert(
                    name,
                    Finished {
                        result: Status::Given,
                        outputs: Map::new(),
                    },
                );
                continue;
            }
            let needs = needs_of(job);
            let mut needs_ctx = Map::new();
            for n in &needs {
                let f = finished.get(n).cloned().unwrap_or(Finished {
                    result: Status::Skipped,
                    outputs: Map::new(),
                });
                needs_ctx.insert(
                    n.clone(),
                    json!({"result": result_word(f.result), "outputs": f.outputs}),
                );
            }
            let needs_failed = needs.iter().any(|n| {
                finished
                    .get(n)
                    .is_none_or(|f| !matches!(f.result, Status::Passed | Status::Given))
            });
            let contexts = self.contexts(&inputs, &secrets, needs_ctx, Value::Null);
            let full = format!("{prefix}{name}");
            let condition = job.get("if").and_then(Node::as_str);
            let run_it = match condition {
                Some(c) if mentions_status_function(c) => self.condition(c, &contexts, false)?,
                Some(c) => !needs_failed && self.condition(c, &contexts, false)?,
                None => !needs_failed,
            };
            if !run_it {
                self.jobs.push(skipped(&full, condition, needs_failed));
                finished.insert(
                    name,
                    Finished {
                        result: Status::Skipped,
                        outputs: Map::new(),
                    },
                );
                continue;
            }
            let result = if let Some(uses) = job.get("uses").and_then(Node::as_str) {
                self.called_workflow(&full, job, uses, &contexts)?
            } else {
                self.matrix_job(&full, job, &contexts)?
            };
            finished.insert(name, result);
        }
        Ok(())
    }

    fn contexts(
        &self,
        inputs: &Map<String, Value>,
        secrets: &Map<String, Value>,
        needs: Map<String, Value>,
        matrix: Value,
    ) -> Map<String, Value> {
        let mut vars = Map::new();
        for (k, v) in &self.plan.vars {
            vars.insert(k.clone(), Value::String(v.clone()));
        }
        let token = secrets
            .get("GITHUB_TOKEN")
            .cloned()
            .unwrap_or_else(|| Value::String("rehearsal-github-token".into()));
        let mut map = Map::new();
        map.insert("inputs".into(), Value::Object(inputs.clone()));
        map.insert("secrets".into(), Value::Object(secrets.clone()));
        map.insert("vars".into(), Value::Object(vars));
        map.insert("needs".into(), Value::Object(needs));
        map.insert("matrix".into(), matrix);
        map.insert(
            "github".into(),
            json!({
                "token": token,
                "repository": "els/rehearsal",
                "ref_name": self.plan.inputs.get("version").cloned().unwrap_or_else(|| "main".into()),
                "event_name": "workflow_dispatch",
                "head_ref": "",
            }),
        );
        map.insert("runner".into(), json!({"os": "Linux", "arch": "X64"}));
        map.insert("steps".into(), Value::Object(Map::new()));
        map.insert("env".into(), Value::Object(Map::new()));
        map.insert("job".into(), json!({"status": "success"}));
        map
    }

    fn condition(&self, text: &str, contexts: &Map<String, Value>, failed: bool) -> Result<bool> {
        let inner = text
            .trim()
            .strip_prefix("${{")
            .and_then(|t| t.strip_suffix("}}"))
            .unwrap_or(text);
        let scope = Scope { contexts, failed };
        let v = expr::evaluate(inner, &scope).with_context(|| format!("in `if: {text}`"))?;
        Ok(expr::truthy(&v))
    }

    /// A job that calls a reusable workflow: `with:` becomes its inputs, `secrets:` its secrets.
    fn called_workflow(
        &mut self,
        name: &str,
        job: &Node,
        uses: &str,
        contexts: &Map<String, Value>,
    ) -> Result<Finished> {
        let Some(local) = uses.strip_prefix("./") else {
            self.jobs.push(JobResult {
                name: name.to_string(),
                status: Status::NotRehearsed,
                reason: Some(format!("`{uses}` is a remote reusable workflow")),
                steps: Vec::new(),
                outputs: BTreeMap::new(),
                summary: String::new(),
            });
            return Ok(Finished {
                result: Status::NotRehearsed,
                outputs: Map::new(),
            });
        };
        let scope = Scope {
            contexts,
            failed: false,
        };
        let mut inputs = Map::new();
        for (k, v) in job.get("with").map(Node::entries).unwrap_or_default() {
            let value = expr::interpolate(v.as_str().unwrap_or_default(), &scope)?;
            inputs.insert(k.as_str().unwrap_or_default().to_string(), value);
        }
        let mut secrets = Map::new();
        for (k, v) in job.get("secrets").map(Node::entries).unwrap_or_default() {
            let value = expr::interpolate(v.as_str().unwrap_or_default(), &scope)?;
            secrets.insert(k.as_str().unwrap_or_default().to_string(), value);
        }
        let before = self.jobs.len();
        self.workflow(
            &self.plan.root.join(local),
            &format!("{name}/"),
            inputs,
            secrets,
            None,
        )?;
        let result = aggregate(self.jobs[before..].iter().map(|j| j.status));
        Ok(Finished {
            result,
            outputs: Map::new(),
        })
    }

    /// Runs every leg of a job's matrix (or the job once); outputs are the last leg's, as in
    /// Actions.
    fn matrix_job(
        &mut self,
        name: &str,
        job: &Node,
        contexts: &Map<String, Value>,
    ) -> Result<Finished> {
        let legs = match job.get("strategy").and_then(|s| s.get("matrix")) {
            None => vec![Value::Null],
            Some(m) => expand_matrix(&node_value(m, contexts)?)?,
        };
        let mut statuses = Vec::new();
        let mut outputs = Map::new();
        for leg in legs {
            if self.stopped {
                break;
            }
            let mut ctx = contexts.clone();
            ctx.insert("matrix".into(), leg.clone());
            let leg_name = match &leg {
                Value::Object(m) if !m.is_empty() => format!(
                    "{name} ({})",
                    m.values().map(expr::to_text).collect::<Vec<_>>().join(", ")
                ),
                _ => name.to_string(),
            };
            let result = self.job(&leg_name, job, ctx)?;
            statuses.push(result.status);
            for (k, v) in &result.outputs {
                outputs.insert(k.clone(), Value::String(v.clone()));
            }
            self.jobs.push(result);
        }
        Ok(Finished {
            result: aggregate(statuses.into_iter()),
            outputs,
        })
    }

    fn job(&mut self, name: &str, job: &Node, mut ctx: Map<String, Value>) -> Result<JobResult> {
        let mut result = JobResult {
            name: name.to_string(),
            status: Status::Passed,
            reason: None,
            steps: Vec::new(),
            outputs: BTreeMap::new(),
            summary: String::new(),
        };
        if let Some(reason) = not_on_linux(job, &ctx)? {
            result.status = Status::NotRehearsed;
            result.reason = Some(reason);
            return Ok(result);
        }
        self.legs += 1;
        let dirs = JobDirs::create(&self.plan.workdir.join(format!("job-{}", self.legs)))?;
        let mut path_prepend: Vec<String> = vec![self.shims.to_string_lossy().into_owned()];
        // `defaults.run.working-directory`
        let default_dir = job
            .get("defaults")
            .and_then(|d| d.get("run")?.get("working-directory")?.as_str());
        let mut env = evaluate_entries(job.get("env"), &ctx)?;
        let mut steps_ctx = Map::new();
        let mut failed = false;
        for (i, step) in job
            .get("steps")
            .map(Node::items)
            .unwrap_or_default()
            .iter()
            .enumerate()
        {
            ctx.insert("steps".into(), Value::Object(steps_ctx.clone()));
            ctx.insert(
                "env".into(),
                Value::Object(
                    env.iter()
                        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                        .collect(),
                ),
            );
            let step_name = step_label(step, i);
            let condition = step.get("if").and_then(Node::as_str);
            let run_it = match condition {
                Some(c) if mentions_status_function(c) => self.condition(c, &ctx, failed)?,
                Some(c) => !failed && self.condition(c, &ctx, failed)?,
                None => !failed,
            };
            if !run_it {
                result.steps.push(StepResult {
                    name: step_name,
                    status: Status::Skipped,
                    how: String::new(),
                    log: None,
                });
                continue;
            }
            let mut step_env = env.clone();
            step_env.extend(evaluate_entries(step.get("env"), &ctx)?);
            let outcome = self.step(
                step,
                &StepPlace {
                    index: i,
                    name: &step_name,
                    default_dir,
                    env: &step_env,
                    path_prepend: &path_prepend,
                    dirs: &dirs,
                },
                &ctx,
                failed,
            )?;
            let status = outcome.status;
            for (k, v) in &outcome.env {
                env.insert(k.clone(), v.clone());
            }
            path_prepend.splice(1..1, outcome.path.iter().cloned());
            if let Some(id) = step.get("id").and_then(Node::as_str) {
                steps_ctx.insert(
                    id.to_string(),
                    json!({"outputs": outcome.outputs, "outcome": result_word(status), "conclusion": result_word(status)}),
                );
            }
            result.steps.push(StepResult {
                name: step_name,
                status,
                how: outcome.how,
                log: outcome.log,
            });
            if result.add_step_status(status) {
                failed = true;
                // The first failing step ends the rehearsal (after this job's `if: failure()`
                // steps, which run on a real runner too).
                self.stopped = true;
            }
        }
        ctx.insert("steps".into(), Value::Object(steps_ctx));
        result.outputs = evaluate_entries(job.get("outputs"), &ctx)?;
        result.summary = std::fs::read_to_string(&dirs.summary).unwrap_or_default();
        Ok(result)
    }

    /// Runs one step that is not skipped: a `run:` script in its shell, or an action's local
    /// equivalent.
    fn step(
        &self,
        step: &Node,
        place: &StepPlace,
        ctx: &Map<String, Value>,
        failed: bool,
    ) -> Result<StepOutcome> {
        let scope = Scope {
            contexts: ctx,
            failed,
        };
        if let Some(script) = step.get("run").and_then(Node::as_str) {
            let shell = step.get("shell").and_then(Node::as_str).unwrap_or("bash");
            let dir_text = step
                .get("working-directory")
                .and_then(Node::as_str)
                .or(place.default_dir);
            let cwd = match dir_text {
                Some(d) => place
                    .dirs
                    .workspace
                    .join(expr::to_text(&expr::interpolate(d, &scope)?)),
                None => place.dirs.workspace.clone(),
            };
            let script = expr::to_text(&expr::interpolate(script, &scope)?);
            self.run_step(&RunStep {
                script: &script,
                shell,
                cwd: &cwd,
                env: place.env,
                path_prepend: place.path_prepend,
                workspace: &place.dirs.workspace,
                temp: &place.dirs.temp,
                home: &place.dirs.home,
                dir: &place.dirs.root.join(format!("step-{}", place.index)),
                summary: &place.dirs.summary,
            })
        } else if let Some(uses) = step.get("uses").and_then(Node::as_str) {
            let with = evaluate_entries(step.get("with"), ctx)?;
            Ok(self.action(uses, &with, &place.dirs.workspace))
        } else {
            bail!("step `{}` has neither `run:` nor `uses:`", place.name);
        }
    }

    fn run_step(&self, s: &RunStep) -> Result<StepOutcome> {
        if s.shell != "bash" && s.shell != "sh" {
            return Ok(StepOutcome::not_rehearsed(
                s.shell,
                format!("a `shell: {}` step needs a Windows runner", s.shell),
            ));
        }
        std::fs::create_dir_all(s.dir)
            .with_context(|| format!("cannot create {}", s.dir.display()))?;
        let files = ["output", "env", "path", "summary", "left-out"].map(|f| s.dir.join(f));
        for f in &files {
            crate::atomic::write(f, "")?;
        }
        let host_path = std::env::var("PATH").unwrap_or_default();
        let sh = crate::process::shell()?;
        sh.change_dir(s.cwd);
        let cmd = sh
            .cmd("bash")
            .args(["--noprofile", "--norc", "-eo", "pipefail", "-c", s.script])
            .envs(s.env)
            .env("PATH", format!("{}:{host_path}", s.path_prepend.join(":")))
            .env("GITHUB_ACTIONS", "true")
            .env("CI", "true")
            .env("RUNNER_OS", "Linux")
            .env("RUNNER_TEMP", s.temp)
            .env("HOME", s.home)
            .env("GITHUB_WORKSPACE", s.workspace)
            .env("GITHUB_REPOSITORY", "els/rehearsal")
            .env("GITHUB_OUTPUT", &files[0])
            .env("GITHUB_ENV", &files[1])
            .env("GITHUB_PATH", &files[2])
            .env("GITHUB_STEP_SUMMARY", &files[3])
            .env(LEFT_OUT_ENV, &files[4]);
        if !s.cwd.is_dir() {
            return Ok(StepOutcome::failed(
                "bash",
                format!("the working directory {} does not exist", s.cwd.display()),
            ));
        }
        // The step's exit status is the rehearsal's finding, not an error.
        let out = crate::process::output_any_status(cmd)
            .with_context(|| format!("cannot run bash in {}", s.cwd.display()))?;
        let log = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let summary = std::fs::read_to_string(&files[3]).unwrap_or_default();
        if !summary.is_empty() {
            let mut all = std::fs::read_to_string(s.summary).unwrap_or_default();
            all.push_str(&summary);
            crate::atomic::write(s.summary, all)?;
        }
        let read = |p: &Path| std::fs::read_to_string(p).unwrap_or_default();
        let left_out = read(&files[4]);
        let (status, log) = if !out.status.success() {
            (
                Status::Failed,
                Some(format!(
                    "exit status {}\n{}",
                    out.status.code().map_or("signal".into(), |c| c.to_string()),
                    tail(&log, 60)
                )),
            )
        } else if !left_out.is_empty() {
            (
                Status::NotRehearsed,
                Some(format!(
                    "left out of the rehearsal (--not-rehearsed), the rest of the step ran:\n{left_out}"
                )),
            )
        } else {
            (Status::Passed, None)
        };
        let outcome = StepOutcome {
            status,
            how: "bash".into(),
            log,
            outputs: parse_commands_file(&read(&files[0]))?,
            env: parse_commands_file(&read(&files[1]))?
                .into_iter()
                .map(|(k, v)| (k, expr::to_text(&v)))
                .collect(),
            path: read(&files[2])
                .lines()
                .filter(|l| !l.trim().is_empty())
                .map(str::to_string)
                .collect(),
        };
        Ok(outcome)
    }

    /// The local equivalent of a `uses:` action.
    fn action(&self, uses: &str, with: &BTreeMap<String, String>, workspace: &Path) -> StepOutcome {
        let action = uses.split('@').next().unwrap_or(uses);
        let result = match action {
            "actions/checkout" => self.checkout(with, workspace),
            "dtolnay/rust-toolchain" | "actions/cache" => {
                Ok(("the host's toolchain (nothing to do)".to_string(), None))
            }
            "actions/setup-dotnet" => self.setup_dotnet(with),
            "actions/upload-artifact" => self.upload(with, workspace),
            "actions/download-artifact" => self.download(with, workspace),
            "actions/attest-build-provenance" => self.attest(with, workspace),
            _ => {
                return StepOutcome::failed(
                    action,
                    format!("`{uses}` has no local equivalent in a rehearsal"),
                )
            }
        };
        match result {
            Ok((how, dotnet)) => {
                let mut outcome = StepOutcome::passed(&how);
                if let Some(root) = dotnet {
                    outcome.env.insert("DOTNET_ROOT".into(), root.clone());
                    outcome.path.push(root);
                }
                outcome
            }
            Err(e) => StepOutcome::failed(action, format!("{e:#}")),
        }
    }

    /// A checkout of this repository is a clone (or copy) of the sandbox; of `owner/name`, a clone
    /// of the sandbox repository `name` at `ref`.
    fn checkout(
        &self,
        with: &BTreeMap<String, String>,
        workspace: &Path,
    ) -> Result<(String, Option<String>)> {
        let dest = match with.get("path").filter(|p| !p.is_empty()) {
            Some(p) => workspace.join(p),
            None => workspace.to_path_buf(),
        };
        match with.get("repository").filter(|r| !r.is_empty()) {
            None if self.plan.sandbox.join(".git").exists() => {
                let n = copy_worktree(&self.plan.sandbox, &dest)?;
                Ok((
                    format!(
                        "a copy of the {n} files of the work tree {} that git does not ignore",
                        self.plan.sandbox.display()
                    ),
                    None,
                ))
            }
            None => {
                copy_tree(&self.plan.sandbox, &dest)?;
                Ok((
                    format!("a copy of the sandbox {}", self.plan.sandbox.display()),
                    None,
                ))
            }
            Some(repository) => {
                let name = repository.rsplit('/').next().unwrap_or(repository);
                let source = self.sandbox_repo(name)?;
                let mut args = vec!["clone".to_string(), "--quiet".into()];
                if let Some(r) = with.get("ref").filter(|r| !r.is_empty()) {
                    args.extend(["--branch".into(), r.clone()]);
                }
                args.push(source.to_string_lossy().into_owned());
                args.push(dest.to_string_lossy().into_owned());
                let sh = xshell::Shell::new()?;
                xshell::cmd!(sh, "git {args...}")
                    .quiet()
                    .ignore_stdout()
                    .run()
                    .with_context(|| {
                        format!("cannot clone {} for `{repository}`", source.display())
                    })?;
                Ok((format!("a clone of {}", source.display()), None))
            }
        }
    }

    /// The test runtimes, with Microsoft's runtime of the fork's base version (`[fork]
    /// base-version`, the workflows' baseline) stood in for by the 8.0.4 runtime under that
    /// version; no SDK. A `dotnet-version` of another .NET line is refused.
    fn setup_dotnet(&self, with: &BTreeMap<String, String>) -> Result<(String, Option<String>)> {
        let Some(root) = &self.plan.dotnet_root else {
            bail!("actions/setup-dotnet stands in for the test runtimes, and none are prepared: give --dotnet-root or set ELS_TEST_DOTNET_ROOT");
        };
        let base = self.sandbox_config()?.fork.base_version;
        let line = |v: &str| v.split('.').take(2).collect::<Vec<_>>().join(".");
        let wanted = with.get("dotnet-version").map_or("", String::as_str);
        if !wanted.is_empty() && line(wanted) != line(&base) {
            bail!(
                "`dotnet-version: {wanted}` is not of the .NET {} line of the fork's base-version {base}; the rehearsal can stand in only for that runtime",
                line(&base)
            );
        }
        let dest = crate::compat::testenv::root_with_alias(
            root,
            &base,
            &self.plan.workdir.join(format!("dotnet-{base}")),
        )?;
        Ok((
            format!(
                "the test runtimes in {}: Microsoft.NETCore.App {} and {}, and {} standing in for {base} (no .NET 6 runtime or SDK exists here)",
                dest.display(),
                crate::compat::testenv::OLDER,
                crate::compat::testenv::CURRENT,
                crate::compat::testenv::CURRENT
            ),
            Some(dest.to_string_lossy().into_owned()),
        ))
    }

    fn sandbox_config(&self) -> Result<crate::config::Config> {
        crate::config::Config::load(&self.plan.sandbox.join("els.toml"))
    }

    fn sandbox_repo(&self, name: &str) -> Result<PathBuf> {
        let config_path = self.plan.sandbox.join("els.toml");
        let config = self.sandbox_config()?;
        config
            .repos
            .iter()
            .find(|r| r.name == name)
            .map(|r| config.resolve(&r.path))
            .ok_or_else(|| {
                anyhow!(
                    "the sandbox's {} has no [[repo]] named `{name}` to stand in for the checkout",
                    config_path.display()
                )
            })
    }

    fn artifact_dir(&self, name: &str) -> PathBuf {
        self.plan.workdir.join("artifacts").join(name)
    }

    fn upload(
        &self,
        with: &BTreeMap<String, String>,
        workspace: &Path,
    ) -> Result<(String, Option<String>)> {
        let name = with.get("name").map_or("artifact", String::as_str);
        let dest = self.artifact_dir(name);
        let sources: Vec<PathBuf> = with
            .get("path")
            .map_or("", String::as_str)
            .lines()
            .map(|l| workspace.join(l.trim().trim_end_matches('/')))
            .filter(|p| p.exists())
            .collect();
        // As upload-artifact keeps them: relative to the least common ancestor of the paths
        // (of a directory, the directory itself; of a file, its parent).
        let mut root: Option<PathBuf> = None;
        for source in &sources {
            let dir = if source.is_dir() {
                source.as_path()
            } else {
                source.parent().unwrap_or(workspace)
            };
            root = Some(match root {
                None => dir.to_path_buf(),
                Some(r) => r
                    .components()
                    .zip(dir.components())
                    .take_while(|(a, b)| a == b)
                    .map(|(a, _)| a)
                    .collect(),
            });
        }
        let mut found = 0;
        for source in &sources {
            let rel = source
                .strip_prefix(root.as_deref().unwrap_or(workspace))
                .unwrap_or(source);
            if source.is_dir() {
                found += copy_tree(source, &dest.join(rel))?;
            } else {
                let to = dest.join(rel);
                std::fs::create_dir_all(to.parent().unwrap_or(&dest))?;
                std::fs::copy(source, &to).with_context(|| {
                    format!("cannot copy {} to {}", source.display(), to.display())
                })?;
                found += 1;
            }
        }
        if found == 0 && with.get("if-no-files-found").map_or("warn", String::as_str) == "error" {
            bail!(
                "no files at `{}` for the artifact `{name}`",
                with.get("path").map_or("", String::as_str).trim()
            );
        }
        Ok((
            format!("{found} file(s) kept as the artifact `{name}`"),
            None,
        ))
    }

    fn download(
        &self,
        with: &BTreeMap<String, String>,
        workspace: &Path,
    ) -> Result<(String, Option<String>)> {
        let name = with.get("name").map_or("artifact", String::as_str);
        let source = self.artifact_dir(name);
        if !source.is_dir() {
            bail!("no artifact `{name}` was uploaded earlier in this run");
        }
        let dest = workspace.join(with.get("path").map_or(".", String::as_str));
        let n = copy_tree(&source, &dest)?;
        Ok((format!("{n} file(s) from the artifact `{name}`"), None))
    }

    /// Records the attestation it would ask for, with the subjects that exist.
    fn attest(
        &self,
        with: &BTreeMap<String, String>,
        workspace: &Path,
    ) -> Result<(String, Option<String>)> {
        let mut subjects = Vec::new();
        for entry in walkdir::WalkDir::new(workspace)
            .into_iter()
            .filter_map(std::result::Result::ok)
            .filter(|e| e.file_type().is_file())
        {
            let rel = entry.path().strip_prefix(workspace).unwrap_or(entry.path());
            let rel = rel.to_string_lossy();
            let wanted = with
                .get("subject-path")
                .map_or("", String::as_str)
                .lines()
                .filter_map(|p| p.trim().rsplit_once('*'))
                .any(|(dir, ext)| {
                    rel.starts_with(dir.trim_end_matches("**/").trim_end_matches('*'))
                        && rel.ends_with(ext)
                });
            if wanted {
                subjects.push(rel.into_owned());
            }
        }
        if subjects.is_empty() {
            bail!("no file matches the attestation's subject-path");
        }
        let calls = self.plan.workdir.join(CALLS_LOG);
        let mut text = std::fs::read_to_string(&calls).unwrap_or_default();
        text.push_str(&format!("attest-build-provenance {}\n", subjects.join(" ")));
        crate::atomic::write(&calls, text)?;
        Ok((
            format!("recorded an attestation of {} file(s)", subjects.len()),
            None,
        ))
    }
}

/// The directories of one job (or matrix leg) in the run's work directory.
struct JobDirs {
    root: PathBuf,
    workspace: PathBuf,
    temp: PathBuf,
    /// The job's own home, as on a fresh runner: a step's `git config --global` stays there.
    home: PathBuf,
    /// The job's step summary, which each step's is appended to.
    summary: PathBuf,
}

impl JobDirs {
    fn create(root: &Path) -> Result<JobDirs> {
        let dirs = JobDirs {
            root: root.to_path_buf(),
            workspace: root.join("workspace"),
            temp: root.join("temp"),
            home: root.join("home"),
            summary: root.join("summary.md"),
        };
        for d in [&dirs.workspace, &dirs.temp, &dirs.home] {
            std::fs::create_dir_all(d).with_context(|| format!("cannot create {}", d.display()))?;
        }
        Ok(dirs)
    }
}

/// Where a step runs in its job, and with what.
struct StepPlace<'a> {
    index: usize,
    name: &'a str,
    /// `defaults.run.working-directory` of the job.
    default_dir: Option<&'a str>,
    env: &'a BTreeMap<String, String>,
    path_prepend: &'a [String],
    dirs: &'a JobDirs,
}

struct RunStep<'a> {
    script: &'a str,
    shell: &'a str,
    cwd: &'a Path,
    env: &'a BTreeMap<String, String>,
    path_prepend: &'a [String],
    workspace: &'a Path,
    temp: &'a Path,
    /// `HOME` (the job's, not the host's).
    home: &'a Path,
    /// The step's own directory (its command files).
    dir: &'a Path,
    /// The job's step summary, which each step's is appended to.
    summary: &'a Path,
}

struct StepOutcome {
    status: Status,
    how: String,
    log: Option<String>,
    outputs: Map<String, Value>,
    env: BTreeMap<String, String>,
    path: Vec<String>,
}

impl StepOutcome {
    fn passed(how: &str) -> StepOutcome {
        StepOutcome {
            status: Status::Passed,
            how: how.to_string(),
            log: None,
            outputs: Map::new(),
            env: BTreeMap::new(),
            path: Vec::new(),
        }
    }

    fn failed(how: &str, log: String) -> StepOutcome {
        StepOutcome {
            status: Status::Failed,
            log: Some(log),
            ..StepOutcome::passed(how)
        }
    }

    fn not_rehearsed(how: &str, why: String) -> StepOutcome {
        StepOutcome {
            status: Status::NotRehearsed,
            log: Some(why),
            ..StepOutcome::passed(how)
        }
    }
}

/// `name=value` lines and `name<<DELIMITER` blocks, as the runner reads `$GITHUB_OUTPUT`/`$GITHUB_ENV`.
fn parse_commands_file(text: &str) -> Result<Map<String, Value>> {
    let mut out = Map::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        if line.trim().is_empty() {
            continue;
        }
        if let Some((name, delimiter)) = line.split_once("<<") {
            let mut value = Vec::new();
            loop {
                match lines.next() {
                    Some(l) if l == delimiter => break,
                    Some(l) => value.push(l),
                    None => bail!("`{name}<<{delimiter}` is never closed by a `{delimiter}` line"),
                }
            }
            out.insert(name.to_string(), Value::String(value.join("\n")));
        } else if let Some((name, value)) = line.split_once('=') {
            out.insert(name.to_string(), Value::String(value.to_string()));
        } else {
            bail!("`{line}` is neither `name=value` nor `name<<DELIMITER`");
        }
    }
    Ok(out)
}

/// A YAML node as a JSON value with every `${{ }}` in its strings evaluated.
fn node_value(node: &Node, contexts: &Map<String, Value>) -> Result<Value> {
    let scope = Scope {
        contexts,
        failed: false,
    };
    Ok(match node {
        Node::Scalar { value, .. } => expr::interpolate(value, &scope)?,
        Node::Seq { items, .. } => Value::Array(
            items
                .iter()
                .map(|i| node_value(i, contexts))
                .collect::<Result<_>>()?,
        ),
        Node::Map { entries, .. } => {
            let mut m = Map::new();
            for (k, v) in entries {
                m.insert(
                    k.as_str().unwrap_or_default().to_string(),
                    node_value(v, contexts)?,
                );
            }
            Value::Object(m)
        }
    })
}

/// The legs of a matrix: the product of its axes, then `include` (extending matching legs or
/// adding its own), then `exclude` removed.
fn expand_matrix(matrix: &Value) -> Result<Vec<Value>> {
    let Value::Object(m) = matrix else {
        bail!("the matrix is not a mapping: {matrix}");
    };
    let mut legs: Vec<Map<String, Value>> = vec![Map::new()];
    let mut axes = false;
    for (axis, values) in m {
        if axis == "include" || axis == "exclude" {
            continue;
        }
        axes = true;
        let Value::Array(values) = values else {
            bail!("the matrix axis `{axis}` is not a list");
        };
        legs = legs
            .into_iter()
            .flat_map(|leg| {
                values.iter().map(move |v| {
                    let mut l = leg.clone();
                    l.insert(axis.clone(), v.clone());
                    l
                })
            })
            .collect();
    }
    if !axes {
        legs.clear();
    }
    let matches = |leg: &Map<String, Value>, pattern: &Map<String, Value>, keys_only_axes: bool| {
        pattern.iter().all(|(k, v)| match leg.get(k) {
            Some(x) => x == v,
            None => !keys_only_axes,
        })
    };
    if let Some(Value::Array(includes)) = m.get("include") {
        for include in includes {
            let Value::Object(inc) = include else {
                bail!("a matrix `include` entry is not a mapping: {include}");
            };
            let original: Vec<String> = m
                .keys()
                .filter(|k| *k != "include" && *k != "exclude")
                .cloned()
                .collect();
            let axis_part: Map<String, Value> = inc
                .iter()
                .filter(|(k, _)| original.contains(k))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            let mut extended = false;
            if axes {
                for leg in legs.iter_mut() {
                    if matches(leg, &axis_part, true) {
                        for (k, v) in inc {
                            if !original.contains(k) {
                                leg.insert(k.clone(), v.clone());
                            }
                        }
                        extended = true;
                    }
                }
            }
            if !extended {
                legs.push(inc.clone());
            }
        }
    }
    if let Some(Value::Array(excludes)) = m.get("exclude") {
        for exclude in excludes {
            if let Value::Object(ex) = exclude {
                legs.retain(|leg| !matches(leg, ex, true));
            }
        }
    }
    Ok(legs.into_iter().map(Value::Object).collect())
}

/// The jobs to run in `needs` order (only `only` and what it needs, when given).
fn job_order(file: &Path, jobs: &Node, only: Option<&str>) -> Result<Vec<String>> {
    let names: Vec<String> = jobs
        .entries()
        .iter()
        .filter_map(|(k, _)| k.as_str().map(str::to_string))
        .collect();
    let mut wanted: Vec<String> = match only {
        None => names.clone(),
        Some(j) => {
            if !names.iter().any(|n| n == j) {
                bail!(
                    "{} has no job `{j}`; its jobs are: {}",
                    file.display(),
                    names.join(", ")
                );
            }
            let mut w = vec![j.to_string()];
            let mut i = 0;
            while i < w.len() {
                for n in jobs.get(&w[i]).map(needs_of).unwrap_or_default() {
                    if !w.contains(&n) {
                        w.push(n);
                    }
                }
                i += 1;
            }
            w
        }
    };
    let mut order: Vec<String> = Vec::new();
    while order.len() < wanted.len() {
        // The first job in file order whose needs have all run.
        let next = names.iter().find(|n| {
            wanted.contains(n)
                && !order.contains(n)
                && jobs
                    .get(n)
                    .map(needs_of)
                    .unwrap_or_default()
                    .iter()
                    .all(|d| order.contains(d) || !wanted.contains(d))
        });
        let Some(next) = next else {
            wanted.retain(|n| !order.contains(n));
            bail!(
                "{}: the jobs {} need each other in a cycle",
                file.display(),
                wanted.join(", ")
            );
        };
        order.push(next.clone());
    }
    Ok(order)
}

/// The jobs `from` needs, directly or through others.
fn upstream_of(file: &Path, jobs: &Node, from: &str) -> Result<Vec<String>> {
    if jobs.get(from).is_none() {
        let names: Vec<&str> = jobs
            .entries()
            .iter()
            .filter_map(|(k, _)| k.as_str())
            .collect();
        bail!(
            "--from {from}: {} has no job `{from}`; its jobs are: {}",
            file.display(),
            names.join(", ")
        );
    }
    let mut upstream: Vec<String> = jobs.get(from).map(needs_of).unwrap_or_default();
    let mut i = 0;
    while i < upstream.len() {
        for n in jobs.get(&upstream[i]).map(needs_of).unwrap_or_default() {
            if !upstream.contains(&n) {
                upstream.push(n);
            }
        }
        i += 1;
    }
    Ok(upstream)
}

fn needs_of(job: &Node) -> Vec<String> {
    match job.get("needs") {
        None => Vec::new(),
        Some(n) => match n.as_str() {
            Some(one) => vec![one.to_string()],
            None => n
                .items()
                .iter()
                .filter_map(|i| i.as_str().map(str::to_string))
                .collect(),
        },
    }
}

fn mentions_status_function(condition: &str) -> bool {
    ["always()", "failure()", "cancelled()"]
        .iter()
        .any(|f| condition.contains(f))
}

fn result_word(s: Status) -> &'static str {
    match s {
        Status::Passed | Status::Given => "success",
        Status::Failed => "failure",
        Status::Skipped | Status::NotRehearsed => "skipped",
    }
}

fn aggregate(statuses: impl Iterator<Item = Status>) -> Status {
    let mut all = Status::Skipped;
    for s in statuses {
        all = match (all, s) {
            (Status::Failed, _) | (_, Status::Failed) => Status::Failed,
            (Status::NotRehearsed, _) | (_, Status::NotRehearsed) => Status::NotRehearsed,
            (Status::Passed, _) | (_, Status::Passed) => Status::Passed,
            _ => Status::Skipped,
        };
    }
    all
}

/// Why a job is not rehearsed here: it runs on a runner other than Linux.
fn not_on_linux(job: &Node, contexts: &Map<String, Value>) -> Result<Option<String>> {
    let runs_on = match job.get("runs-on") {
        Some(n) => expr::to_text(&node_value(n, contexts)?),
        None => String::new(),
    };
    Ok((!runs_on.contains("ubuntu") && !runs_on.contains("linux"))
        .then(|| format!("runs on `{runs_on}`; only Linux runners are rehearsed here")))
}

/// A mapping (`outputs:`, `with:`) with each value's expressions evaluated, as text.
fn evaluate_entries(
    node: Option<&Node>,
    contexts: &Map<String, Value>,
) -> Result<BTreeMap<String, String>> {
    let mut values = BTreeMap::new();
    for (k, v) in node.map(Node::entries).unwrap_or_default() {
        values.insert(
            k.as_str().unwrap_or_default().to_string(),
            expr::to_text(&node_value(v, contexts)?),
        );
    }
    Ok(values)
}

/// Declared inputs take their defaults when not given.
fn add_input_defaults(workflow: &Node, inputs: &mut Map<String, Value>) {
    let Some(on) = workflow.get("on") else {
        return;
    };
    for trigger in ["workflow_call", "workflow_dispatch"] {
        for (name, spec) in on
            .get(trigger)
            .and_then(|t| t.get("inputs"))
            .map(Node::entries)
            .unwrap_or_default()
        {
            let key = name.as_str().unwrap_or_default().to_string();
            if !inputs.contains_key(&key) {
                let default = spec.get("default").and_then(Node::as_str).unwrap_or("");
                inputs.insert(key, Value::String(default.to_string()));
            }
        }
    }
}

/// A job before `--from`: listed, not run.
fn given_job(name: &str, from: &str) -> JobResult {
    JobResult {
        name: name.to_string(),
        status: Status::Given,
        reason: Some(format!(
            "not run: the rehearsal starts at `{from}`; its artifacts are the ones given with --artifact"
        )),
        steps: Vec::new(),
        outputs: BTreeMap::new(),
        summary: String::new(),
    }
}

fn skipped(name: &str, condition: Option<&str>, needs_failed: bool) -> JobResult {
    JobResult {
        name: name.to_string(),
        status: Status::Skipped,
        reason: Some(if needs_failed {
            "a job it needs did not pass".to_string()
        } else {
            format!("`if: {}` is false", condition.unwrap_or_default())
        }),
        steps: Vec::new(),
        outputs: BTreeMap::new(),
        summary: String::new(),
    }
}

fn step_label(step: &Node, index: usize) -> String {
    step.get("name")
        .and_then(Node::as_str)
        .or_else(|| step.get("uses").and_then(Node::as_str))
        .or_else(|| {
            step.get("run")
                .and_then(Node::as_str)
                .and_then(|r| r.lines().next())
        })
        .map_or_else(|| format!("step {}", index + 1), str::to_string)
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// Copies the files of the git work tree `from` that a checkout has (tracked, or new and not
/// ignored: no `target/`) into `to`, uncommitted changes included; returns how many.
fn copy_worktree(from: &Path, to: &Path) -> Result<usize> {
    let sh = crate::process::shell()?;
    sh.change_dir(from);
    let listed = crate::process::output(sh.cmd("git").args([
        "ls-files",
        "-z",
        "--cached",
        "--others",
        "--exclude-standard",
    ]))
    .with_context(|| format!("cannot list the files of {}", from.display()))?;
    let mut n = 0;
    for rel in listed.stdout.split(|b| *b == 0).filter(|r| !r.is_empty()) {
        let rel = Path::new(std::str::from_utf8(rel).context("a file name that is not UTF-8")?);
        let source = from.join(rel);
        // Tracked but deleted in the work tree: a checkout of this state does not have it.
        if !source.is_file() {
            continue;
        }
        let dest = to.join(rel);
        std::fs::create_dir_all(dest.parent().unwrap_or(to))
            .with_context(|| format!("cannot create the directory of {}", dest.display()))?;
        std::fs::copy(&source, &dest)
            .with_context(|| format!("cannot copy {} to {}", source.display(), dest.display()))?;
        n += 1;
    }
    Ok(n)
}

/// Copies `from` into `to` (symlinks kept as links); returns how many files.
fn copy_tree(from: &Path, to: &Path) -> Result<usize> {
    let mut n = 0;
    for entry in walkdir::WalkDir::new(from) {
        let entry = entry.with_context(|| format!("cannot read {}", from.display()))?;
        let rel = entry.path().strip_prefix(from).unwrap_or(entry.path());
        let dest = to.join(rel);
        let kind = entry.file_type();
        if kind.is_dir() {
            std::fs::create_dir_all(&dest)
                .with_context(|| format!("cannot create {}", dest.display()))?;
        } else if kind.is_symlink() {
            let target = std::fs::read_link(entry.path())?;
            std::os::unix::fs::symlink(target, &dest)
                .with_context(|| format!("cannot link {}", dest.display()))?;
        } else {
            std::fs::copy(entry.path(), &dest).with_context(|| {
                format!(
                    "cannot copy {} to {}",
                    entry.path().display(),
                    dest.display()
                )
            })?;
            n += 1;
        }
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matrices_expand_like_actions() {
        let m = json!({
            "runner": ["ubuntu-22.04", "windows-2022"],
            "shard": [1, 2],
            "include": [
                {"runner": "ubuntu-22.04", "rid": "linux-x64"},
                {"runner": "windows-2022", "rid": "win-x64"},
            ],
        });
        let legs = expand_matrix(&m).unwrap();
        assert_eq!(legs.len(), 4);
        assert_eq!(
            legs[0],
            json!({"runner": "ubuntu-22.04", "shard": 1, "rid": "linux-x64"})
        );
        let only_include = json!({"include": [{"cve": "CVE-1"}, {"cve": "CVE-2"}]});
        assert_eq!(expand_matrix(&only_include).unwrap().len(), 2);
        assert!(expand_matrix(&json!({"include": []})).unwrap().is_empty());
    }

    #[test]
    fn command_files_take_both_forms() {
        let got = parse_commands_file("a=1\nb<<EOF\nx\ny\nEOF\n").unwrap();
        assert_eq!(got["a"], "1");
        assert_eq!(got["b"], "x\ny");
        assert!(parse_commands_file("c<<EOF\nnever closed\n").is_err());
    }
}
