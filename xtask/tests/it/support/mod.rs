//! Helpers shared by the integration tests: runtime-shaped paths, running git and the real
//! binary, reading their output.

pub mod fuzz;
pub mod tamper;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use git2::{Oid, Repository};
use serde_json::Value;
use xtask::fixtures::files::{edit, versions_props};
use xtask::fixtures::history;

pub const SMTP_CLIENT: &str = "src/libraries/System.Net.Mail/src/System/Net/Mail/SmtpClient.cs";
pub const SMTP_CONNECTION: &str =
    "src/libraries/System.Net.Mail/src/System/Net/Mail/SmtpConnection.cs";
pub const SMTP_CONNECTION_8: &str =
    "src/libraries/System.Net.Mail/src/System/Net/Mail/SmtpConnection.Auth.cs";
pub const JSON_READER: &str =
    "src/libraries/System.Text.Json/src/System/Text/Json/Reader/Utf8JsonReader.cs";
pub const JSON_TESTS: &str = "src/libraries/System.Text.Json/tests/Utf8JsonReaderTests.cs";
pub const SIGNED_XML: &str = "src/libraries/System.Security.Cryptography.Xml/src/System/Security/Cryptography/Xml/SignedXml.cs";
pub const VERSIONS: &str = "eng/Versions.props";

/// Upstream's release/8.0, branched from `base` (release/6.0 at v6.0.36), as the backport and
/// the patch queue tests share it: the 8.0 branding, SmtpConnection.cs moved to its 8.0 name with
/// an edit, and Utf8JsonReader's step 20 refactored (a later fix's prerequisite). Returns the
/// branding commit and the refactoring.
pub fn release_8_0(repo: &Repository, base: Oid) -> (Oid, Oid) {
    let dev = history::signature("Dev One", "dev1@example.com", 1_600_000_000);
    history::branch(repo, "release/8.0", base).unwrap();
    let f = |p: &str| file(repo, "release/8.0", p);
    let branding = history::commit(
        repo,
        "release/8.0",
        &[(VERSIONS, Some(&versions_props(8, 0, 10)))],
        "Update branding to 8.0.10",
        &dev,
    )
    .unwrap();
    let moved = edit(&f(SMTP_CONNECTION), "statement 40", "statement 40 (auth)");
    history::commit(
        repo,
        "release/8.0",
        &[(SMTP_CONNECTION, None), (SMTP_CONNECTION_8, Some(&moved))],
        "Split SmtpConnection authentication",
        &dev,
    )
    .unwrap();
    let reader = edit(&f(JSON_READER), "Step20() => 20;", "Step20() => 20 + 0;");
    let refactoring = history::commit(
        repo,
        "release/8.0",
        &[(JSON_READER, Some(&reader))],
        "Refactor Utf8JsonReader step 20",
        &dev,
    )
    .unwrap();
    (branding, refactoring)
}

/// The toolkit's repository root (where `Cargo.lock`, `test-apps/` and `pipelines/` are).
pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// Cargo's target directory, where `cargo xtask test` caches the test runtimes and tools.
pub fn target() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace().join("target"))
}

/// The content of `path` at `rev` in `repo`.
pub fn file(repo: &Repository, rev: &str, path: &str) -> String {
    let tree = repo.revparse_single(rev).unwrap().peel_to_tree().unwrap();
    let blob = repo
        .find_blob(tree.get_path(Path::new(path)).unwrap().id())
        .unwrap();
    String::from_utf8(blob.content().to_vec()).unwrap()
}

/// Runs git in `dir`, asserting success; returns its stdout.
pub fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "git {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs the real `cargo xtask` binary in `dir`, outside GitHub Actions and without colours.
pub fn xtask(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_xtask"));
    cmd.args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .env_remove("GITHUB_ACTIONS")
        .env_remove("GITHUB_STEP_SUMMARY");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    check_json_output(args, &out);
    out
}

/// The schema (`schemas/<name>.schema.json`) of a `--json` command line's output: the command's
/// words decide it, as `xtask/src/schemas.rs` registers them. `None` for outputs with a standard
/// schema of their own (`vex`: OpenVEX).
pub fn schema_name(args: &[&str]) -> Option<String> {
    let mut words = Vec::new();
    let mut i = 0;
    while i < args.len() {
        match args[i] {
            "--config" | "--color" => i += 1,
            a if !a.starts_with('-') && words.len() < 2 => words.push(a),
            _ => {}
        }
        i += 1;
    }
    let second = words.get(1).copied().unwrap_or("");
    let name = match words.first().copied()? {
        "vex" => return None,
        "advisories" if matches!(second, "sync" | "plan") => format!("advisories-{second}"),
        "backport" if args.contains(&"--abort") => "backport-abort".into(),
        "patches" if second == "refresh" => "patches-export".into(),
        "patches" | "pipelines" => format!("{}-{second}", words[0]),
        "feed" | "repo" if second == "verify" => format!("{}-verify", words[0]),
        "release" if second == "authenticode" && args.contains(&"--verify") => {
            "release-authenticode-verify".into()
        }
        "release" if second == "authenticode" => "release-authenticode".into(),
        "release" if matches!(second, "sign" | "verify") => format!("release-{second}"),
        first => first.into(),
    };
    Some(name)
}

/// Validates `document` against the checked-in `schemas/<name>.schema.json` with a JSON Schema
/// validator; panics with every violation.
pub fn validate(name: &str, document: &Value) {
    let path = workspace().join(format!("schemas/{name}.schema.json"));
    let schema: Value = serde_json::from_str(
        &std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("no schema {} ({e})", path.display())),
    )
    .unwrap();
    let validator = jsonschema::validator_for(&schema)
        .unwrap_or_else(|e| panic!("{} is not a valid JSON Schema: {e}", path.display()));
    let errors: Vec<String> = validator
        .iter_errors(document)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "the `{name}` output does not follow {}:\n{}\n{document:#}",
        path.display(),
        errors.join("\n")
    );
}

/// With `--json`, a command that ran (exit status 0 or 1) printed exactly one JSON document that
/// follows its checked-in schema.
pub fn check_json_output(args: &[&str], out: &Output) {
    if !args.contains(&"--json") || !matches!(out.status.code(), Some(0 | 1)) {
        return;
    }
    let Some(name) = schema_name(args) else {
        return;
    };
    validate(&name, &json(out));
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Stdout parsed as JSON, with both streams in the panic message when it is not.
pub fn json(o: &Output) -> Value {
    serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}\nstderr: {}", stdout(o), stderr(o)))
}

/// The exit status (-1 when killed by a signal).
pub fn code(o: &Output) -> i32 {
    o.status.code().unwrap_or(-1)
}

/// A throwaway self-signed code-signing certificate made with openssl: (PFX bytes, PEM path).
pub fn throwaway_certificate(dir: &Path, password: &str) -> (Vec<u8>, PathBuf) {
    let key = dir.join("key.pem");
    let cert = dir.join("cert.pem");
    let pfx = dir.join("cert.pfx");
    let (key_arg, cert_arg, pfx_arg) = (
        key.to_str().unwrap(),
        cert.to_str().unwrap(),
        pfx.to_str().unwrap(),
    );
    let pass = format!("pass:{password}");
    for args in [
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            key_arg,
            "-out",
            cert_arg,
            "-days",
            "2",
            "-subj",
            "/CN=net6-els test code signing",
            "-addext",
            "extendedKeyUsage=codeSigning",
        ][..],
        &[
            "pkcs12", "-export", "-out", pfx_arg, "-inkey", key_arg, "-in", cert_arg, "-passout",
            &pass,
        ][..],
    ] {
        let out = Command::new("openssl")
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("cannot run openssl (is it installed?): {e}"));
        assert!(
            out.status.success(),
            "openssl {args:?} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    (std::fs::read(&pfx).unwrap(), cert)
}
