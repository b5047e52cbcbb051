//! The declared JSON shapes: the checked-in `schemas/` equal what the Rust types generate
//! (`cargo xtask schemas --check`, which also catches a stale or stray file), every `--json`
//! output goes through the registry, and the real outputs of the loop's commands on the demo
//! sandbox and the release stage validate against their schemas with a JSON Schema validator.
//! (The other test binaries validate every `--json` output they run through `support`.)

use crate::support;

use std::path::Path;

use support::{code, json, stderr, stdout, validate, workspace, xtask};

#[test]
fn the_checked_in_schemas_are_the_generated_ones() {
    let o = xtask(&workspace(), &["schemas", "--check"], &[]);
    assert_eq!(
        code(&o),
        0,
        "schemas/ drifted from the Rust types; run `cargo xtask schemas` and review the change:\n{}{}",
        stdout(&o),
        stderr(&o)
    );
    let count = xtask::schemas::outputs().len();
    assert!(stdout(&o).contains(&format!("{count} schema(s), 0 out of date")));
    // Every schema is a valid JSON Schema, with the version as a required constant.
    for output in xtask::schemas::outputs() {
        let schema = (output.schema)();
        jsonschema::validator_for(&schema)
            .unwrap_or_else(|e| panic!("{}: not a valid JSON Schema: {e}", output.name));
        assert_eq!(
            schema["properties"]["schema_version"]["const"],
            output.version
        );
        assert!(
            schema["required"]
                .as_array()
                .unwrap()
                .contains(&"schema_version".into()),
            "{}",
            output.name
        );
    }
}

#[test]
fn a_changed_missing_or_stray_schema_fails_the_check_and_regenerating_fixes_it() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::create_dir_all(root.join("pipelines")).unwrap();
    std::fs::create_dir_all(root.join("schemas")).unwrap();
    for entry in std::fs::read_dir(workspace().join("schemas")).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, root.join("schemas").join(path.file_name().unwrap())).unwrap();
    }
    // A reviewer's view of a shape change: a field renamed in the file but not in the type.
    let plan = root.join("schemas/advisories-plan.schema.json");
    let text = std::fs::read_to_string(&plan).unwrap();
    std::fs::write(&plan, text.replace("\"backports\"", "\"pending\"")).unwrap();
    std::fs::remove_file(root.join("schemas/bump.schema.json")).unwrap();
    std::fs::write(root.join("schemas/gone.schema.json"), "{}\n").unwrap();

    let o = xtask(root, &["schemas", "--check"], &[]);
    assert_eq!(code(&o), 1, "{}{}", stdout(&o), stderr(&o));
    let text = stdout(&o);
    for expected in [
        "schemas/advisories-plan.schema.json: differs from the schema generated from the Rust type of `advisories-plan`",
        "schemas/bump.schema.json: missing",
        "schemas/gone.schema.json: no registered output has this schema",
        "3 out of date",
    ] {
        assert!(text.contains(expected), "missing `{expected}` in\n{text}");
    }
    assert!(stderr(&o).contains("cargo xtask schemas"), "{}", stderr(&o));

    let o = xtask(root, &["schemas"], &[]);
    assert_eq!(code(&o), 0, "{}{}", stdout(&o), stderr(&o));
    assert!(stdout(&o).contains("3 updated"), "{}", stdout(&o));
    assert!(!root.join("schemas/gone.schema.json").exists());
    let o = xtask(root, &["schemas", "--check"], &[]);
    assert_eq!(code(&o), 0, "{}{}", stdout(&o), stderr(&o));
}

#[test]
fn every_json_output_is_printed_through_the_registry() {
    // A document printed with serde_json directly would have no schema_version and no schema.
    let cli = workspace().join("xtask/src/cli");
    for entry in std::fs::read_dir(&cli).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        // `vex` prints an OpenVEX document, whose schema is OpenVEX's own.
        if path.file_name().unwrap() == "vex.rs" {
            continue;
        }
        for (i, line) in text.lines().enumerate() {
            assert!(
                !line.contains("serde_json::to_string"),
                "{}:{}: print JSON with crate::schemas::to_json (register the type in xtask/src/schemas.rs)",
                path.display(),
                i + 1
            );
        }
    }
}

/// Runs `args` in `dir` expecting `status`, and validates its `--json` output against `schema`.
fn checked(dir: &Path, args: &[&str], status: i32, schema: &str) -> serde_json::Value {
    let o = xtask(dir, args, &[]);
    assert_eq!(code(&o), status, "{args:?}: {}{}", stdout(&o), stderr(&o));
    assert_eq!(support::schema_name(args).as_deref(), Some(schema));
    let document = json(&o);
    validate(schema, &document);
    assert_eq!(document["schema_version"], 1, "{document:#}");
    document
}

#[test]
fn the_loop_commands_on_the_demo_sandbox_print_what_their_schemas_declare() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let sb = xtask::fixtures::sandbox::build(root, &workspace()).unwrap();
    let clean = xtask::fixtures::sandbox::cve_json_key("runtime", sb.clean_fix);
    let already = xtask::fixtures::sandbox::cve_json_key("runtime", sb.already_applied_fix);
    let conflict = xtask::fixtures::sandbox::cve_json_key("runtime", sb.versions_conflict_fix);

    // Overdue CVEs as of the demo's day: exit status 1, still one valid document.
    checked(
        root,
        &[
            "advisories",
            "--json",
            "--today",
            xtask::advisories::DEMO_TODAY,
        ],
        1,
        "advisories",
    );
    let plan = checked(
        root,
        &["advisories", "plan", "--json"],
        0,
        "advisories-plan",
    );
    assert!(
        !plan["backports"].as_array().unwrap().is_empty(),
        "{plan:#}"
    );
    checked(
        root,
        &[
            "backport",
            "--dry-run",
            "--json",
            "--cve",
            "CVE-2025-55247",
            &clean,
            &already,
        ],
        0,
        "backport",
    );
    let done = checked(
        root,
        &[
            "backport",
            "--json",
            "--cve",
            "CVE-2025-55247",
            &clean,
            &already,
        ],
        0,
        "backport",
    );
    assert!(done["queue"]["patches"].as_u64().unwrap() > 0, "{done:#}");
    checked(
        root,
        &["backport", "--json", "--cve", "CVE-2025-55315", &conflict],
        1,
        "backport",
    );
    checked(
        root,
        &["backport", "--abort", "--json"],
        0,
        "backport-abort",
    );
    checked(root, &["patches", "export", "--json"], 0, "patches-export");
    let verified = checked(root, &["patches", "verify", "--json"], 0, "patches-verify");
    assert_eq!(verified["repos"][0]["repo"], "runtime", "{verified:#}");
    checked(
        root,
        &[
            "patches",
            "apply",
            "--onto",
            "release/6.0-els-rebuilt",
            "--json",
        ],
        0,
        "patches-apply",
    );
    checked(
        &workspace(),
        &["pipelines", "check", "--json"],
        0,
        "pipelines-check",
    );
}

#[test]
fn the_release_stage_commands_print_what_their_schemas_declare() {
    let dir = tempfile::tempdir().unwrap();
    let stage = dir.path().join("stage");
    let report = xtask::release::demo::run_stage(&stage, None).unwrap();
    let config = stage.join("els.toml");
    let config = config.to_str().unwrap();
    let release = report.release_dir.to_str().unwrap();
    let key = stage.join("signing-key.pub.asc");
    let verified = checked(
        &stage,
        &[
            "release",
            "verify",
            release,
            "--key",
            key.to_str().unwrap(),
            "--json",
        ],
        0,
        "release-verify",
    );
    assert_eq!(verified["problems"], serde_json::json!([]), "{verified:#}");
    checked(
        &stage,
        &["--config", config, "bump", "--dry-run", "--json"],
        0,
        "bump",
    );
    checked(
        &stage,
        &[
            "--config",
            config,
            "build",
            "--os",
            "linux",
            "--arch",
            "x64",
            "--dry-run",
            "--json",
        ],
        0,
        "build",
    );
}
