//! `cargo xtask demo` runs every stage for real on its own sandbox and says so.

use std::process::Command;

#[test]
fn demo_runs_every_stage_on_a_fresh_sandbox() {
    let dir = tempfile::tempdir().unwrap();
    let sandbox = dir.path().join("sandbox");
    let out = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(["demo", "--dir", sandbox.to_str().unwrap()])
        .current_dir(dir.path())
        .env("NO_COLOR", "1")
        .env_remove("GITHUB_ACTIONS")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for expected in [
        "46 CVEs as of 2026-04-01",
        "cargo xtask backport --cve CVE-2025-55248 runtime@44527b9",
        "already-applied",
        "conflict",
        "eng/Versions.props",
        "aborted:",
        "(resolved by hand)",
        "recorded in the patch queue",
        "= the fork branch's",
        "verify: 10 files and their signatures check out",
        "$ cargo xtask feed publish --channel lab → 5 packages added",
        "<package pattern=\"System.Security.Cryptography.Xml\" />",
        "installed System.Security.Cryptography.Xml 6.0.1.1",
        "The demo ran every stage for real.",
    ] {
        assert!(text.contains(expected), "missing `{expected}` in:\n{text}");
    }
    assert!(
        sandbox.join("els.toml").is_file(),
        "--dir keeps the sandbox"
    );
    let again = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(["demo", "--dir", sandbox.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(again.status.code(), Some(2), "a non-empty --dir is refused");
}
