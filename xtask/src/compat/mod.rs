//! The compatibility corpus runner: runs the line-of-business apps of `test-apps/` (and a
//! customer's own) on a candidate runtime and a baseline, and compares each with its golden
//! output and with the baseline. Owns the manifest format, runtime resolution, process isolation,
//! web-app driving, reports, the `mcs` prebuilt layout and the test-runtime setup.

pub mod build;
pub mod demo;
pub mod manifest;
pub mod report;
pub mod run;
pub mod runtime;
pub mod testenv;
pub mod web;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Mutex;

use anyhow::{bail, Result};

use manifest::App;
use report::{Case, Report, Role, Status};
use run::{RunContext, RunOutput};
use runtime::Runtime;

/// Everything one compat run needs; the CLI fills it from flags, tests build it directly.
pub struct Options {
    /// The selected apps.
    pub apps: Vec<App>,
    pub candidate: Runtime,
    pub baseline: Option<Runtime>,
    /// The prebuilt layout: `<binaries>/<app>/<app>.dll`.
    pub binaries: PathBuf,
    /// Private run directories and unpacked archives go here.
    pub work_dir: PathBuf,
    pub jobs: usize,
    /// Environment the machine needs (e.g. `CLR_ICU_VERSION_OVERRIDE=72`), from `--env`.
    pub extra_env: Vec<(String, String)>,
    /// Rewrite the golden files from the candidate's output.
    pub bless: bool,
    pub quiet: bool,
}

/// Why an app cannot run on a runtime, if it cannot.
pub fn skip_reason(app: &App, runtime: &Runtime, binaries: &std::path::Path) -> Option<String> {
    for framework in &app.manifest.frameworks {
        if runtime.framework_version(framework).is_none() {
            return Some(format!(
                "framework {framework} not present in {}",
                runtime.root.display()
            ));
        }
    }
    for rule in &app.manifest.unsupported {
        let matches = runtime.version == rule.runtime
            || runtime.version.starts_with(&format!("{}.", rule.runtime));
        let lifted = rule
            .unless_library
            .as_deref()
            .is_some_and(runtime::library_installed);
        if matches && !lifted {
            return Some(rule.reason.clone());
        }
    }
    for package in &app.manifest.packages {
        let dir = binaries.join(&app.name);
        if !dir.join(format!("{package}.dll")).is_file() {
            return Some(format!(
                "package {package} missing: {} has no {package}.dll (`dotnet build` restores it from NuGet)",
                dir.display()
            ));
        }
    }
    None
}

/// The outputs of the runs, by app name and role.
type Outputs = HashMap<(String, Role), RunOutput>;

/// One app on one runtime.
type Task<'a> = (&'a App, Role, &'a Runtime);

/// Runs the corpus and compares. Invalid input (missing binaries or golden files) is refused
/// before anything runs; golden files are only written (with `bless`) after every run finished.
pub fn run(opts: &Options) -> Result<Report> {
    let mut runtimes = vec![(Role::Candidate, &opts.candidate)];
    if let Some(b) = &opts.baseline {
        runtimes.push((Role::Baseline, b));
    }
    let mut tasks = Vec::new();
    let mut skipped = Vec::new();
    for app in &opts.apps {
        for &(role, runtime) in &runtimes {
            match skip_reason(app, runtime, &opts.binaries) {
                Some(reason) => skipped.push((app, role, reason)),
                None => tasks.push((app, role, runtime)),
            }
        }
    }
    ensure_runnable(opts, &tasks)?;
    let outputs = run_tasks(opts, &tasks)?;
    let goldens = goldens(opts, &outputs);

    let mut cases = Vec::new();
    for app in &opts.apps {
        for &(role, runtime) in &runtimes {
            if let Some((_, _, reason)) = skipped
                .iter()
                .find(|(a, r, _)| a.name == app.name && *r == role)
            {
                cases.push(Case {
                    app: app.name.clone(),
                    role,
                    version: runtime.version.clone(),
                    status: Status::Skipped,
                    skip_reason: Some(reason.clone()),
                    problems: Vec::new(),
                    exit_code: None,
                    duration_ms: 0,
                });
                continue;
            }
            let Some(out) = outputs.get(&(app.name.clone(), role)) else {
                continue;
            };
            let problems = compare((app, role, runtime), out, &goldens, &outputs, opts);
            cases.push(Case {
                app: app.name.clone(),
                role,
                version: runtime.version.clone(),
                status: if problems.is_empty() {
                    Status::Passed
                } else {
                    Status::Failed
                },
                skip_reason: None,
                problems,
                exit_code: Some(out.exit_code),
                duration_ms: out.duration.as_millis() as u64,
            });
        }
    }

    let blessed = if opts.bless {
        bless(opts, &outputs)?
    } else {
        Vec::new()
    };
    let label = |r: &Runtime| format!("{}@{}", r.root.display(), r.version);
    Ok(Report {
        candidate: label(&opts.candidate),
        baseline: opts.baseline.as_ref().map(label),
        cases,
        blessed,
    })
}

/// Refuses, before anything runs, an app that would run without its binary or (unless blessing)
/// without its golden file.
fn ensure_runnable(opts: &Options, tasks: &[Task]) -> Result<()> {
    for app in &opts.apps {
        if !tasks.iter().any(|(a, _, _)| a.name == app.name) {
            continue;
        }
        let binary = run::binary_path(&opts.binaries, app);
        if !binary.is_file() {
            bail!(
                "no binary for app `{}`: {} does not exist (build the corpus into {} first: `dotnet build`, or `cargo xtask compat build`)",
                app.name,
                binary.display(),
                opts.binaries.display()
            );
        }
        if !opts.bless && !app.golden_path().is_file() {
            bail!(
                "app `{}` has no golden file {} (declared in {}); create it with `cargo xtask compat --bless` on the baseline runtime",
                app.name,
                app.golden_path().display(),
                app.manifest_path().display()
            );
        }
    }
    Ok(())
}

/// Runs every task on `opts.jobs` threads, each taking the next task when it is free.
fn run_tasks(opts: &Options, tasks: &[Task]) -> Result<Outputs> {
    let ctx = RunContext {
        binaries: &opts.binaries,
        work_dir: &opts.work_dir,
        extra_env: &opts.extra_env,
    };
    let progress = Mutex::new(crate::console::Progress::new(tasks.len(), opts.quiet));
    let next = Mutex::new(0usize);
    let results: Mutex<Vec<(String, Role, Result<RunOutput>)>> = Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..opts.jobs.max(1) {
            scope.spawn(|| loop {
                let index = {
                    let mut n = next.lock().unwrap_or_else(|e| e.into_inner());
                    *n += 1;
                    *n - 1
                };
                let Some(&(app, role, runtime)) = tasks.get(index) else {
                    return;
                };
                progress
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .step(&format!("{} on {role} {}", app.name, runtime.version));
                let output = run::run_app(app, runtime, &ctx);
                results.lock().unwrap_or_else(|e| e.into_inner()).push((
                    app.name.clone(),
                    role,
                    output,
                ));
            });
        }
    });
    let mut outputs = HashMap::new();
    for (name, role, output) in results.into_inner().unwrap_or_else(|e| e.into_inner()) {
        outputs.insert((name, role), output?);
    }
    Ok(outputs)
}

/// The expected output per app: the golden file, or with `bless` the candidate's clean output.
fn goldens(opts: &Options, outputs: &Outputs) -> HashMap<String, String> {
    let mut goldens = HashMap::new();
    for app in &opts.apps {
        let candidate = outputs.get(&(app.name.clone(), Role::Candidate));
        if opts.bless {
            if let Some(out) = candidate.filter(|o| run_problems(app, o).is_empty()) {
                goldens.insert(app.name.clone(), out.output.clone());
                continue;
            }
        }
        if let Ok(text) = std::fs::read_to_string(app.golden_path()) {
            goldens.insert(app.name.clone(), text.replace("\r\n", "\n"));
        }
    }
    goldens
}

/// One run's problems: its own, a difference from the golden output, and for the candidate a
/// difference in behaviour from the baseline.
fn compare(
    task: Task,
    out: &RunOutput,
    goldens: &HashMap<String, String>,
    outputs: &Outputs,
    opts: &Options,
) -> Vec<String> {
    let (app, role, runtime) = task;
    let mut problems = run_problems(app, out);
    if let Some(golden) = goldens.get(&app.name) {
        if &out.output != golden {
            problems.push(format!(
                "output differs from the golden file {}:\n{}",
                app.golden_path().display(),
                report::diff(
                    "golden",
                    golden,
                    &format!("{role} {}", runtime.version),
                    &out.output
                )
            ));
        }
    }
    if role == Role::Candidate {
        if let (Some(base), Some(base_rt)) = (
            outputs.get(&(app.name.clone(), Role::Baseline)),
            &opts.baseline,
        ) {
            if base.output != out.output || base.exit_code != out.exit_code {
                problems.push(format!(
                    "behaviour differs from the baseline {} (exit {} vs {}):\n{}",
                    base_rt.version,
                    base.exit_code,
                    out.exit_code,
                    report::diff(
                        &format!("baseline {}", base_rt.version),
                        &base.output,
                        &format!("candidate {}", runtime.version),
                        &out.output
                    )
                ));
            }
        }
    }
    problems
}

/// Writes the candidate's clean outputs as the golden files that changed; returns their paths.
fn bless(opts: &Options, outputs: &Outputs) -> Result<Vec<String>> {
    let mut blessed = Vec::new();
    for app in &opts.apps {
        let fresh = outputs
            .get(&(app.name.clone(), Role::Candidate))
            .filter(|o| run_problems(app, o).is_empty());
        if let Some(out) = fresh {
            let path = app.golden_path();
            if std::fs::read_to_string(&path).ok().as_deref() != Some(out.output.as_str()) {
                crate::atomic::write(&path, &out.output)?;
                blessed.push(path.display().to_string());
            }
        }
    }
    Ok(blessed)
}

/// Problems visible without a golden file: timeout, wrong exit code, web checks.
fn run_problems(app: &App, out: &RunOutput) -> Vec<String> {
    let mut problems = Vec::new();
    let stderr = report::tail(&out.stderr, 20);
    if out.timed_out {
        problems.push(format!(
            "timed out after {} s; its whole process group was killed\nstderr (last lines):\n{stderr}",
            app.manifest.timeout_secs
        ));
    } else if out.exit_code != app.manifest.exit_code {
        problems.push(format!(
            "exited with code {} (expected {})\nstderr (last lines):\n{stderr}",
            out.exit_code, app.manifest.exit_code
        ));
    }
    problems.extend(out.web_problems.iter().cloned());
    problems
}
