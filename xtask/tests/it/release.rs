//! `cargo xtask release`, `release sign` and `release verify` on a release built from a fixture
//! fork (and, for the complete release, the Windows leg's archives shaped from the real Windows
//! runtime files), with real GnuPG and a throwaway key in a temporary home.

use crate::support;

use std::path::{Path, PathBuf};

use xtask::compat::testenv;
use xtask::fixtures::official_build as fixture;
use xtask::official_build::{self, Arch, Os};
use xtask::release::sign::{self, GpgHome, SigningKey};
use xtask::release::verify::{verify, TrustedKey};
use xtask::release::{assemble, Options};

struct Released {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    dir: PathBuf,
    public_key: PathBuf,
    fingerprint: String,
}

fn openvex(statuses: &[(&str, &str)]) -> String {
    let statements: Vec<serde_json::Value> = statuses
        .iter()
        .map(|(cve, status)| {
            serde_json::json!({
                "vulnerability": {"name": cve},
                "products": [{"@id": "pkg:nuget/Microsoft.NETCore.App.Runtime.linux-x64@6.0.37"}],
                "status": status,
            })
        })
        .collect();
    serde_json::json!({
        "@context": "https://openvex.dev/ns/v0.2.0",
        "@id": "https://example.org/vex/6.0.37",
        "author": "net6-els",
        "timestamp": "2025-11-11T00:00:00Z",
        "version": 1,
        "statements": statements,
    })
    .to_string()
}

/// Bumps, builds, assembles (with a VEX document) and signs a fixture release; `windows` adds the
/// Windows leg's collection (runtime, ASP.NET Core and desktop runtime archives and the desktop
/// runtime pack) beside the Linux build's, as the release job finds it.
fn released(windows: bool) -> Released {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().to_path_buf();
    let f = fixture::create(&root).unwrap();
    let config = f.load_config().unwrap();
    xtask::bump::bump(&config, &Default::default()).unwrap();
    let options = official_build::Options {
        os: Os::Linux,
        arch: Arch::X64,
        repos: vec![],
        build_id: Some("20251111.1".parse().unwrap()),
        dry_run: false,
        quiet: true,
    };
    assert!(official_build::build(&config, &options).unwrap().succeeded);
    if windows {
        let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        let windows_root =
            testenv::ensure_windows(&testenv::cache_dir(&testenv::target_dir(workspace)))
                .unwrap_or_else(|e| {
                    panic!("the release test needs the Windows runtime files: {e:#}")
                });
        xtask::package::msi::windows_build_leg(
            &windows_root,
            "6.0.37".parse().unwrap(),
            "20251111.1",
            &config.artifacts_dir().join("6.0.37/win-x64"),
        )
        .unwrap();
    }
    let vex = root.join("vex.json");
    std::fs::write(
        &vex,
        openvex(&[
            ("CVE-2025-55248", "fixed"),
            ("CVE-2025-30399", "fixed"),
            ("CVE-2024-43498", "not_affected"),
        ]),
    )
    .unwrap();
    // One accepted public API difference, to be listed in the release notes.
    std::fs::write(
        config.root.join("apicompat.toml"),
        "[[accept]]\nassembly = \"System.Net.Mail\"\nkind = \"added\"\nitem = \"System.Net.Mail.SmtpClient.RequireStartTls(bool)\"\ncve = \"CVE-2025-55248\"\njustification = \"the STARTTLS fix lets callers refuse to send credentials without TLS\"\n",
    )
    .unwrap();
    let report = assemble(
        &config,
        &Options {
            vex: Some(vex),
            date: Some("2025-11-11".into()),
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(report.cves, ["CVE-2025-30399", "CVE-2025-55248"]);
    let home = GpgHome::temporary().unwrap();
    let (secret, public, fingerprint) =
        sign::throwaway_key(&home, "net6-els test <test@example.org>").unwrap();
    let signed = sign::sign(&report.dir, &SigningKey::Armored(secret), None).unwrap();
    assert_eq!(signed.fingerprint, fingerprint);
    assert_eq!(signed.signatures.len(), 4);
    let public_key = root.join("public.asc");
    std::fs::write(&public_key, public).unwrap();
    Released {
        _tmp: tmp,
        root,
        dir: report.dir,
        public_key,
        fingerprint,
    }
}

/// A copy of the release to tamper with.
fn copy_of(r: &Released, name: &str) -> PathBuf {
    let to = r.root.join(name);
    let status = std::process::Command::new("cp")
        .arg("-r")
        .arg(&r.dir)
        .arg(&to)
        .status()
        .unwrap();
    assert!(status.success());
    to
}

fn problems(dir: &Path, key: &Path) -> Vec<String> {
    verify(dir, &TrustedKey::File(key.to_path_buf()))
        .unwrap()
        .problems
}

#[test]
fn a_release_is_complete_readable_and_verifiable_with_standard_tools() {
    let r = released(true);
    let mut names: Vec<String> = std::fs::read_dir(&r.dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "Microsoft.AspNetCore.App.Runtime.linux-x64.6.0.37.nupkg",
            "Microsoft.NETCore.App.Host.linux-x64.6.0.37.nupkg",
            "Microsoft.NETCore.App.Ref.6.0.37.nupkg",
            "Microsoft.NETCore.App.Runtime.linux-x64.6.0.37.nupkg",
            "Microsoft.WindowsDesktop.App.Runtime.win-x64.6.0.37.nupkg",
            "SHA512SUMS",
            "SHA512SUMS.asc",
            "System.Security.Cryptography.Xml.6.0.1.1.nupkg",
            "aspnetcore-runtime-6.0.37-linux-x64.tar.gz",
            "aspnetcore-runtime-6.0.37-win-x64.zip",
            "dotnet-runtime-6.0.37-linux-x64.tar.gz",
            "dotnet-runtime-6.0.37-win-x64.zip",
            "manifest-linux-x64.json",
            "manifest-win-x64.json",
            "openvex.json",
            "openvex.json.asc",
            "release-notes.md",
            "release-notes.md.asc",
            "release.json",
            "release.json.asc",
            "windowsdesktop-runtime-6.0.37-win-x64.zip",
        ]
    );

    // release.json is valid against Microsoft's releases.json schema.
    let schema: serde_json::Value =
        serde_json::from_str(include_str!("../data/dotnet-releases.schema.json")).unwrap();
    let doc: serde_json::Value =
        serde_json::from_slice(&std::fs::read(r.dir.join("release.json")).unwrap()).unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let errors: Vec<String> = validator
        .iter_errors(&doc)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{errors:#?}");
    let release = &doc["releases"][0];
    assert_eq!(release["release-version"], "6.0.37");
    assert_eq!(release["release-date"], "2025-11-11");
    assert_eq!(release["security"], true);
    assert_eq!(release["cve-list"][0]["cve-id"], "CVE-2025-30399");
    assert_eq!(release["cve-list"][1]["cve-id"], "CVE-2025-55248");
    let runtime = release["runtime"]["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == "dotnet-runtime-linux-x64.tar.gz")
        .unwrap();
    assert_eq!(runtime["name"], "dotnet-runtime-linux-x64.tar.gz");
    assert_eq!(runtime["rid"], "linux-x64");
    assert_eq!(
        runtime["url"],
        "https://downloads.example.org/net6-els/6.0.37/dotnet-runtime-6.0.37-linux-x64.tar.gz"
    );
    let bytes = std::fs::read(r.dir.join("dotnet-runtime-6.0.37-linux-x64.tar.gz")).unwrap();
    assert_eq!(runtime["hash"], xtask::official_build::sha512_hex(&bytes));
    assert!(release["aspnetcore-runtime"]["files"]
        .as_array()
        .unwrap()
        .iter()
        .any(|f| f["name"] == "aspnetcore-runtime-linux-x64.tar.gz"));
    // The serviced out-of-band package and the reference pack are not RID-specific.
    let oob = release["runtime"]["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == "System.Security.Cryptography.Xml.6.0.1.1.nupkg")
        .unwrap();
    assert_eq!(oob["rid"], "");
    // The Windows leg: each archive under its component, the desktop runtime and its pack under
    // `windowsdesktop`, every one with the hash SHA512SUMS lists.
    let sums_text = std::fs::read_to_string(r.dir.join("SHA512SUMS")).unwrap();
    let listed_under = |component: &str, name: &str, rid: &str| {
        let file = release[component]["files"]
            .as_array()
            .unwrap_or_else(|| panic!("no {component} files in {release:#}"))
            .iter()
            .find(|f| f["url"].as_str().unwrap().ends_with(&format!("/{name}")))
            .unwrap_or_else(|| panic!("{name} is not listed under {component}"))
            .clone();
        assert_eq!(file["rid"], rid, "{name}");
        let hash = file["hash"].as_str().unwrap().to_string();
        assert!(
            sums_text.contains(&format!("{hash}  {name}\n")),
            "{name}: {sums_text}"
        );
        assert_eq!(
            hash,
            xtask::official_build::sha512_hex(&std::fs::read(r.dir.join(name)).unwrap())
        );
        file
    };
    listed_under("runtime", "dotnet-runtime-6.0.37-win-x64.zip", "win-x64");
    listed_under(
        "aspnetcore-runtime",
        "aspnetcore-runtime-6.0.37-win-x64.zip",
        "win-x64",
    );
    let desktop = listed_under(
        "windowsdesktop",
        "windowsdesktop-runtime-6.0.37-win-x64.zip",
        "win-x64",
    );
    assert_eq!(desktop["name"], "windowsdesktop-runtime-win-x64.zip");
    listed_under(
        "windowsdesktop",
        "Microsoft.WindowsDesktop.App.Runtime.win-x64.6.0.37.nupkg",
        "win-x64",
    );
    assert_eq!(release["windowsdesktop"]["version"], "6.0.37");

    // The notes list each CVE with its upstream fix and patch, and each accepted API change.
    let notes = std::fs::read_to_string(r.dir.join("release-notes.md")).unwrap();
    assert!(
        notes.contains("## Accepted public API changes")
            && notes.contains("| CVE-2025-55248 | System.Net.Mail | added | `System.Net.Mail.SmtpClient.RequireStartTls(bool)` | the STARTTLS fix lets callers refuse to send credentials without TLS |"),
        "{notes}"
    );
    for (cve, subject, url) in fixture::FIXED {
        let row = notes
            .lines()
            .find(|l| l.contains(cve))
            .unwrap_or_else(|| panic!("{cve} missing from:\n{notes}"));
        assert!(
            row.contains(subject)
                && row.contains(&format!("[upstream]({url})"))
                && row.contains(&format!("`runtime/{cve}/")),
            "{row}"
        );
    }

    // A patch without a CVE (the fork's own change) is listed too, under other changes.
    assert!(
        notes.contains("## Other changes\n\n| Change | Origin | Patch |\n| --- | --- | --- |\n| Reject duplicate Reference ids in SignedXml | vendor | `runtime/fork/0003-Reject-duplicate-Reference-ids-in-SignedXml.patch` |"),
        "{notes}"
    );
    let security =
        &notes[notes.find("## Security fixes").unwrap()..notes.find("## Other changes").unwrap()];
    assert!(!security.contains("SignedXml"), "{security}");

    // sha512sum and gpg verify the release on their own.
    let sums = std::process::Command::new("sha512sum")
        .args(["--check", "--strict", "SHA512SUMS"])
        .current_dir(&r.dir)
        .output()
        .unwrap();
    assert!(
        sums.status.success(),
        "{}",
        String::from_utf8_lossy(&sums.stdout)
    );
    let home = GpgHome::temporary().unwrap();
    home.run_ok(
        "import",
        &["--import", &r.public_key.display().to_string()],
        None,
    )
    .unwrap();
    let sums = r.dir.join("SHA512SUMS").display().to_string();
    home.run_ok("verify", &["--verify", &format!("{sums}.asc"), &sums], None)
        .unwrap();

    let report = verify(&r.dir, &TrustedKey::File(r.public_key.clone())).unwrap();
    assert_eq!(report.problems, Vec::<String>::new());
    assert_eq!(report.signer.as_deref(), Some(r.fingerprint.as_str()));
    assert_eq!(report.checked, 16);
}

#[test]
fn verify_catches_tampering() {
    let r = released(true);

    let flipped = copy_of(&r, "flipped");
    let target = flipped.join("dotnet-runtime-6.0.37-linux-x64.tar.gz");
    let mut bytes = std::fs::read(&target).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x01;
    std::fs::write(&target, bytes).unwrap();
    assert_eq!(
        problems(&flipped, &r.public_key),
        ["dotnet-runtime-6.0.37-linux-x64.tar.gz: SHA-512 does not match SHA512SUMS (the file was changed)"]
    );

    // A flipped byte in signed metadata breaks its signature too.
    let meta = copy_of(&r, "meta");
    let text = std::fs::read_to_string(meta.join("release.json"))
        .unwrap()
        .replacen("\"security\": true", "\"security\": false", 1);
    std::fs::write(meta.join("release.json"), text).unwrap();
    let p = problems(&meta, &r.public_key);
    assert!(
        p.contains(
            &"release.json: the signature does not match (the file was changed)".to_string()
        ),
        "{p:?}"
    );
    assert!(
        p.contains(
            &"release.json: SHA-512 does not match SHA512SUMS (the file was changed)".to_string()
        ),
        "{p:?}"
    );

    let removed = copy_of(&r, "removed");
    std::fs::remove_file(removed.join("Microsoft.NETCore.App.Host.linux-x64.6.0.37.nupkg"))
        .unwrap();
    let p = problems(&removed, &r.public_key);
    assert!(p.contains(&"Microsoft.NETCore.App.Host.linux-x64.6.0.37.nupkg is listed in SHA512SUMS but missing".to_string()), "{p:?}");

    let added = copy_of(&r, "added");
    std::fs::write(
        added.join("dotnet-runtime-6.0.37-osx-x64.tar.gz"),
        b"not from the build",
    )
    .unwrap();
    let p = problems(&added, &r.public_key);
    assert!(p.contains(&"dotnet-runtime-6.0.37-osx-x64.tar.gz is not listed in SHA512SUMS (added after the release was made?)".to_string()), "{p:?}");

    // The desktop runtime is checked like the others: its bytes against SHA512SUMS, and its
    // listing in release.json.
    let desktop = copy_of(&r, "desktop");
    let zip = desktop.join("windowsdesktop-runtime-6.0.37-win-x64.zip");
    let mut bytes = std::fs::read(&zip).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x01;
    std::fs::write(&zip, bytes).unwrap();
    assert_eq!(
        problems(&desktop, &r.public_key),
        ["windowsdesktop-runtime-6.0.37-win-x64.zip: SHA-512 does not match SHA512SUMS (the file was changed)"]
    );
    let unlisted = copy_of(&r, "unlisted");
    let path = unlisted.join("release.json");
    let mut doc: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    doc["releases"][0]["windowsdesktop"]["files"]
        .as_array_mut()
        .unwrap()
        .retain(|f| !f["url"].as_str().unwrap().ends_with(".nupkg"));
    std::fs::write(&path, serde_json::to_vec_pretty(&doc).unwrap()).unwrap();
    let p = problems(&unlisted, &r.public_key);
    assert!(p.contains(&"Microsoft.WindowsDesktop.App.Runtime.win-x64.6.0.37.nupkg is not listed in release.json".to_string()), "{p:?}");

    let unsigned = copy_of(&r, "unsigned");
    std::fs::remove_file(unsigned.join("release-notes.md.asc")).unwrap();
    assert_eq!(
        problems(&unsigned, &r.public_key),
        ["release-notes.md is not signed (release-notes.md.asc is missing)"]
    );
}

#[test]
fn verify_rejects_another_key() {
    let r = released(false);
    let home = GpgHome::temporary().unwrap();
    let (_, other_public, _) =
        sign::throwaway_key(&home, "someone else <else@example.org>").unwrap();
    let other = r.root.join("other.asc");
    std::fs::write(&other, other_public).unwrap();
    let p = problems(&r.dir, &other);
    assert_eq!(p.len(), 4, "{p:?}");
    assert!(
        p.contains(&"SHA512SUMS.asc was not made by the trusted key".to_string()),
        "{p:?}"
    );

    // Re-signed by the other key: still rejected against the publisher's key.
    let resigned = copy_of(&r, "resigned");
    let (other_secret, _, _) = {
        let home = GpgHome::temporary().unwrap();
        sign::throwaway_key(&home, "attacker <a@example.org>").unwrap()
    };
    sign::sign(&resigned, &SigningKey::Armored(other_secret), None).unwrap();
    assert_eq!(problems(&resigned, &r.public_key).len(), 4);

    // Through the command line: exit status 1 and the problem on stdout.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(["release", "verify"])
        .arg(&r.dir)
        .arg("--key")
        .arg(&other)
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout)
        .contains("FAIL SHA512SUMS.asc was not made by the trusted key"));
    let ok = std::process::Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(["release", "verify"])
        .arg(&r.dir)
        .arg("--key")
        .arg(&r.public_key)
        .output()
        .unwrap();
    assert_eq!(
        ok.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&ok.stdout)
    );
}

#[test]
fn sign_takes_the_key_from_the_environment_and_never_prints_it() {
    let r = released(false);
    let resigned = copy_of(&r, "env-signed");
    let home = GpgHome::temporary().unwrap();
    let (secret, public, fpr) = sign::throwaway_key(&home, "env key <env@example.org>").unwrap();
    let public_path = r.root.join("env.asc");
    std::fs::write(&public_path, public).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(["release", "sign"])
        .arg(&resigned)
        .current_dir(&r.root)
        .env("ELS_SIGNING_KEY", &secret)
        .output()
        .unwrap();
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{all}");
    assert!(all.contains(&format!("signed with {fpr}")), "{all}");
    assert!(!all.contains("PRIVATE KEY"), "{all}");
    assert!(problems(&resigned, &public_path).is_empty());
    // With --json: one document following schemas/release-sign.schema.json (validated by
    // `support::xtask`), naming the key and the signatures, still without the key.
    let out = support::xtask(
        &r.root,
        &["release", "sign", resigned.to_str().unwrap(), "--json"],
        &[("ELS_SIGNING_KEY", &secret)],
    );
    assert_eq!(support::code(&out), 0, "{}", support::stderr(&out));
    let report = support::json(&out);
    assert_eq!(report["fingerprint"], fpr.as_str(), "{report:#}");
    assert!(!report["signatures"].as_array().unwrap().is_empty());
    assert!(!support::stdout(&out).contains("PRIVATE KEY"));

    let out = std::process::Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(["release", "sign"])
        .arg(&resigned)
        .current_dir(&r.root)
        .env_remove("ELS_SIGNING_KEY")
        .env_remove("ELS_SIGNING_KEY_ID")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no signing key: set $ELS_SIGNING_KEY"));
}

#[test]
fn assemble_refuses_a_contradicting_vex_and_an_existing_release() {
    let tmp = tempfile::tempdir().unwrap();
    let f = fixture::create(tmp.path()).unwrap();
    let config = f.load_config().unwrap();
    let options = official_build::Options {
        os: Os::Linux,
        arch: Arch::X64,
        repos: vec![],
        build_id: Some("20251111.1".parse().unwrap()),
        dry_run: false,
        quiet: true,
    };
    assert!(official_build::build(&config, &options).unwrap().succeeded);
    let vex = tmp.path().join("vex.json");
    std::fs::write(
        &vex,
        openvex(&[
            ("CVE-2025-55248", "fixed"),
            ("CVE-2025-30399", "under_investigation"),
        ]),
    )
    .unwrap();
    let err = assemble(
        &config,
        &Options {
            vex: Some(vex.clone()),
            ..Default::default()
        },
    )
    .unwrap_err();
    assert!(
        format!("{err:#}").contains(
            "the queue fixes CVE-2025-30399 but the VEX statement says `under_investigation`"
        ),
        "{err:#}"
    );
    std::fs::write(&vex, openvex(&[("CVE-2025-55248", "fixed")])).unwrap();
    let err = assemble(
        &config,
        &Options {
            vex: Some(vex),
            ..Default::default()
        },
    )
    .unwrap_err();
    assert!(
        format!("{err:#}").contains("has no statement for it"),
        "{err:#}"
    );
    assert!(!tmp.path().join("artifacts/els/release").exists());

    // Through the command line, with --json: one document following schemas/release.schema.json
    // (validated by `support::xtask`).
    let out = support::xtask(tmp.path(), &["release", "--json"], &[]);
    assert_eq!(support::code(&out), 0, "{}", support::stderr(&out));
    let report = support::json(&out);
    assert!(
        Path::new(report["dir"].as_str().unwrap()).is_dir()
            && !report["files"].as_array().unwrap().is_empty(),
        "{report:#}"
    );
    let err = assemble(&config, &Options::default()).unwrap_err();
    assert!(format!("{err:#}").contains("already exists"), "{err:#}");
}

#[test]
fn a_patch_under_a_cve_directory_must_name_its_cve() {
    let tmp = tempfile::tempdir().unwrap();
    let f = fixture::create(tmp.path()).unwrap();
    let series = std::fs::read_to_string(f.patches.join("runtime/series")).unwrap();
    let first = series.lines().find(|l| l.starts_with("CVE-")).unwrap();
    let path = f.patches.join("runtime").join(first);
    let text = std::fs::read_to_string(&path)
        .unwrap()
        .replacen("CVE: CVE-2025-55248\n", "", 1);
    std::fs::write(&path, text).unwrap();
    let err = xtask::release::queue::read(&f.patches).unwrap_err();
    assert!(
        format!("{err}").contains("has no `CVE:` header field"),
        "{err}"
    );
}

#[test]
fn the_demo_stage_runs_end_to_end() {
    let tmp = tempfile::tempdir().unwrap();
    let report = xtask::release::demo::run_stage(tmp.path(), None).unwrap();
    assert_eq!(report.version, "6.0.37");
    assert_eq!(report.cves, ["CVE-2025-30399", "CVE-2025-55248"]);
    assert_eq!(report.log.len(), 5, "{:?}", report.log);
    assert!(report.release_dir.join("SHA512SUMS.asc").is_file());
}

#[test]
fn release_dates_are_validated_before_anything_is_written() {
    let tmp = tempfile::tempdir().unwrap();
    fixture::create(tmp.path()).unwrap();
    for (date, says) in [
        ("2025-13-45", "is not a real date"),
        ("2025-02-30", "is not a real date"),
        ("11/11/2025", "is not a date in the form YYYY-MM-DD"),
    ] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_xtask"))
            .args(["release", "--version", "6.0.37", "--date", date])
            .current_dir(tmp.path())
            .env("NO_COLOR", "1")
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{date}: {err}");
        assert!(
            err.contains(&format!("release date `{date}` {says}")),
            "{err}"
        );
        assert!(!tmp.path().join("artifacts/els/release").exists());
    }
}
