//! `cargo xtask apicompat` on real assemblies: the CoreCLR 8.0.4 and 3.1.23 shared frameworks
//! (installed by `testenv`, as `cargo xtask test` does), v1/v2 libraries compiled with Mono's
//! `mcs`, suppression files, and damaged input (property tests: the reader never panics).

use crate::support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use serde_json::Value;
use support::{code, json, stderr, stdout, target, xtask};
use xtask::apicompat::{self, metadata::ReadError, suppressions::Suppressions};
use xtask::compat::testenv;

struct Setup {
    runtimes: testenv::TestRuntimes,
    /// `v1/Lib.dll` and `v2/Lib.dll`, compiled once.
    pair: PathBuf,
}

fn setup() -> &'static Setup {
    static SETUP: OnceLock<Setup> = OnceLock::new();
    SETUP.get_or_init(|| {
        let runtimes =
            testenv::from_env_or_ensure(&testenv::cache_dir(&target())).unwrap_or_else(|e| {
                panic!("the apicompat tests need the real test runtimes and mcs: {e:#}")
            });
        let pair = target().join("apicompat-test/pair");
        let sources = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/apicompat");
        for version in ["v1", "v2"] {
            let out = pair.join(version);
            std::fs::create_dir_all(&out).unwrap();
            let status = Command::new(&runtimes.mcs)
                .arg("-target:library")
                .arg(format!("-out:{}", out.join("Lib.dll").display()))
                .arg(sources.join(version).join("Lib.cs"))
                .output()
                .unwrap();
            assert!(
                status.status.success(),
                "mcs failed on {version}: {}{}",
                String::from_utf8_lossy(&status.stdout),
                String::from_utf8_lossy(&status.stderr)
            );
        }
        Setup { runtimes, pair }
    })
}

fn root_at(version: &str) -> String {
    format!("{}@{version}", setup().runtimes.dotnet_root.display())
}

fn run(dir: &Path, args: &[&str]) -> std::process::Output {
    xtask(dir, &[&["apicompat"], args].concat(), &[])
}

/// (kind, item) of every difference in a JSON report.
fn differences(report: &Value) -> Vec<(String, String, String)> {
    report["differences"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["assembly"].as_str().unwrap().to_string(),
                d["kind"].as_str().unwrap().to_string(),
                d["item"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn the_same_runtime_has_no_differences() {
    let dir = tempfile::tempdir().unwrap();
    let spec = root_at(testenv::CURRENT);
    let out = run(
        dir.path(),
        &["--baseline", &spec, "--candidate", &spec, "--json"],
    );
    assert_eq!(code(&out), 0, "{}{}", stdout(&out), stderr(&out));
    let report = json(&out);
    assert!(report["assemblies_compared"].as_u64().unwrap() > 150);
    assert_eq!(differences(&report), Vec::new());
}

#[test]
fn an_older_runtime_against_a_newer_one_reports_added_api_and_versions_but_not_moved_types() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(
        dir.path(),
        &[
            "--baseline",
            &root_at(testenv::OLDER),
            "--candidate",
            &root_at(testenv::CURRENT),
            "--json",
        ],
    );
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    let report = json(&out);
    let all = differences(&report);
    assert!(all.len() > 1000, "only {} differences", all.len());
    let has = |assembly: &str, kind: &str, item: &str| {
        all.iter()
            .filter(|(a, k, i)| a == assembly && k == kind && i == item)
            .count()
    };
    assert_eq!(
        has(
            "System.Linq",
            "added",
            "System.Linq.Enumerable.Chunk``1(System.Collections.Generic.IEnumerable<TSource>, int)"
        ),
        1
    );
    assert_eq!(has("System.Linq", "identity", "System.Linq"), 1);
    let linq_identity = report["differences"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["assembly"] == "System.Linq" && d["kind"] == "identity")
        .unwrap();
    assert_eq!(
        linq_identity["baseline"],
        "System.Linq, Version=4.2.2.0, Culture=neutral, PublicKeyToken=b03f5f7f11d50a3a"
    );
    assert_eq!(
        linq_identity["candidate"],
        "System.Linq, Version=8.0.0.0, Culture=neutral, PublicKeyToken=b03f5f7f11d50a3a"
    );
    // System.Action`10 is defined in 3.1's System.Runtime and forwarded to CoreLib by 8.0's:
    // the type only moved behind a forward, which is no change of System.Runtime's surface
    // (CoreLib, a separate assembly, did gain it).
    assert!(
        !all.iter()
            .any(|(a, _, i)| a == "System.Runtime" && i.starts_with("System.Action`10")),
        "a type that only moved behind a forward was reported"
    );
    assert_eq!(
        has("System.Private.CoreLib", "added", "System.Action`10"),
        1
    );
    assert!(
        !all.iter()
            .any(|(a, k, _)| a == "System.Runtime" && (k == "removed" || k == "changed")),
        "System.Runtime's forwards hide where types live; nothing of it is removed or changed"
    );
    // The Markdown report groups by assembly and kind.
    let md_dir = tempfile::tempdir().unwrap();
    let md = md_dir.path().join("apicompat.md");
    let out = run(
        dir.path(),
        &[
            "--baseline",
            &root_at(testenv::OLDER),
            "--candidate",
            &root_at(testenv::CURRENT),
            "--markdown",
            md.to_str().unwrap(),
        ],
    );
    assert_eq!(code(&out), 1);
    let text = std::fs::read_to_string(&md).unwrap();
    assert!(text.contains("### System.Linq: added"), "{text:.500}");
    assert!(stdout(&out).contains("System.Linq — added"));
}

fn pair_report(suppressions: Option<&Path>) -> std::process::Output {
    let s = setup();
    let dir = tempfile::tempdir().unwrap();
    let v1 = s.pair.join("v1");
    let v2 = s.pair.join("v2");
    let mut args = vec![
        "--baseline".to_string(),
        v1.display().to_string(),
        "--candidate".to_string(),
        v2.display().to_string(),
        "--json".to_string(),
    ];
    if let Some(p) = suppressions {
        args.push("--suppressions".into());
        args.push(p.display().to_string());
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    run(dir.path(), &args)
}

/// The differences between v1 and v2 of the fixture library, each with its kind.
const PAIR_DIFFERENCES: [(&str, &str); 7] = [
    ("added", "Acme.Color.Blue"),
    ("added", "Acme.Widget.Stop()"),
    ("removed", "Acme.Gadget"),
    ("removed", "Acme.Widget.Paint()"),
    ("changed", "Acme.Widget.Limit"),
    ("changed", "Acme.Widget.Resize(long)"),
    ("identity", "Lib"),
];

#[test]
fn each_kind_of_change_in_a_compiled_pair_is_reported_once_with_its_kind() {
    let out = pair_report(None);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    let report = json(&out);
    let mut got: Vec<(String, String)> = differences(&report)
        .into_iter()
        .map(|(a, k, i)| {
            assert_eq!(a, "Lib");
            (k, i)
        })
        .collect();
    got.sort();
    let mut want: Vec<(String, String)> = PAIR_DIFFERENCES
        .iter()
        .map(|(k, i)| (k.to_string(), i.to_string()))
        .collect();
    want.sort();
    assert_eq!(got, want, "private-only changes must not be reported");
    let find = |item: &str| {
        report["differences"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["item"] == item)
            .unwrap()
            .clone()
    };
    assert_eq!(
        find("Acme.Widget.Limit")["baseline"],
        "public const int Acme.Widget.Limit = 10"
    );
    assert_eq!(
        find("Acme.Widget.Limit")["candidate"],
        "public const int Acme.Widget.Limit = 20"
    );
    assert_eq!(
        find("Acme.Widget.Resize(long)")["baseline"],
        "public void Acme.Widget.Resize(int size)"
    );
    assert_eq!(
        find("Acme.Widget.Paint()")["baseline"],
        "protected void Acme.Widget.Paint()"
    );
    assert_eq!(find("Acme.Color.Blue")["candidate"], "Acme.Color.Blue = 2");
}

fn suppressions_file(dir: &Path, entries: &[(&str, &str)], extra: &str) -> PathBuf {
    let mut text = String::from("# accepted differences\n");
    for (kind, item) in entries {
        text.push_str(&format!(
            "\n[[accept]]\nassembly = \"Lib\"\nkind = \"{kind}\"\nitem = \"{item}\"\ncve = \"CVE-2025-21172\"\njustification = \"the fix needs it\"\n"
        ));
    }
    text.push_str(extra);
    let path = dir.join("apicompat.toml");
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn accepted_differences_pass_and_are_marked_with_their_cve() {
    let dir = tempfile::tempdir().unwrap();
    let file = suppressions_file(dir.path(), &PAIR_DIFFERENCES, "");
    let out = pair_report(Some(&file));
    assert_eq!(code(&out), 0, "{}{}", stdout(&out), stderr(&out));
    let report = json(&out);
    for d in report["differences"].as_array().unwrap() {
        assert_eq!(d["accepted"]["cve"], "CVE-2025-21172", "{d}");
        assert_eq!(d["accepted"]["justification"], "the fix needs it");
    }
    // One left out fails the run; the rest stay accepted.
    let file = suppressions_file(dir.path(), &PAIR_DIFFERENCES[1..], "");
    let out = pair_report(Some(&file));
    assert_eq!(code(&out), 1);
    let report = json(&out);
    let unaccepted: Vec<&Value> = report["differences"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d.get("accepted").is_none())
        .collect();
    assert_eq!(unaccepted.len(), 1);
    assert_eq!(unaccepted[0]["item"], "Acme.Color.Blue");
}

#[test]
fn a_stale_suppression_fails_and_names_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let stale = "\n[[accept]]\nassembly = \"Lib\"\nkind = \"removed\"\nitem = \"Acme.Widget.Run()\"\ncve = \"CVE-2025-21172\"\njustification = \"no longer true\"\n";
    let file = suppressions_file(dir.path(), &PAIR_DIFFERENCES, stale);
    let out = pair_report(Some(&file));
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    let report = json(&out);
    let stale = report["stale_suppressions"].as_array().unwrap();
    assert_eq!(stale.len(), 1);
    let line = 2 + 7 * 7 + 1;
    let text = stale[0].as_str().unwrap();
    assert!(
        text.contains(&format!("apicompat.toml:{line}:")) && text.contains("Acme.Widget.Run()"),
        "{text}"
    );
}

#[test]
fn a_malformed_suppression_names_file_and_line_and_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let bad_kind = "\n[[accept]]\nassembly = \"Lib\"\nkind = \"renamed\"\nitem = \"X\"\ncve = \"CVE-2025-21172\"\njustification = \"j\"\n";
    let file = suppressions_file(dir.path(), &PAIR_DIFFERENCES[..1], bad_kind);
    let out = pair_report(Some(&file));
    assert_eq!(code(&out), 2);
    assert!(
        stderr(&out).contains("apicompat.toml:12:") && stderr(&out).contains("renamed"),
        "{}",
        stderr(&out)
    );
    assert!(stdout(&out).is_empty());
    let no_justification = "\n[[accept]]\nassembly = \"Lib\"\nkind = \"added\"\nitem = \"X\"\ncve = \"CVE-2025-21172\"\njustification = \" \"\n";
    let text =
        std::fs::read_to_string(suppressions_file(dir.path(), &[], no_justification)).unwrap();
    let err = Suppressions::parse(&text, Path::new("apicompat.toml"))
        .unwrap_err()
        .to_string();
    assert!(err.starts_with("apicompat.toml:3:"), "{err}");
    assert!(err.contains("empty justification"), "{err}");
    let bad_cve = text.replace("CVE-2025-21172", "CVE-25");
    let err = Suppressions::parse(&bad_cve, Path::new("apicompat.toml"))
        .unwrap_err()
        .to_string();
    assert!(err.starts_with("apicompat.toml:3:"), "{err}");
}

#[test]
fn a_targeting_pack_is_read_like_a_directory() {
    let s = setup();
    let dir = tempfile::tempdir().unwrap();
    let nupkg = dir.path().join("Lib.Ref.1.0.0.nupkg");
    let mut zip = zip::ZipWriter::new(std::fs::File::create(&nupkg).unwrap());
    zip.start_file(
        "ref/net6.0/Lib.dll",
        zip::write::SimpleFileOptions::default(),
    )
    .unwrap();
    std::io::copy(
        &mut std::fs::File::open(s.pair.join("v2/Lib.dll")).unwrap(),
        &mut zip,
    )
    .unwrap();
    zip.finish().unwrap();
    let from_pack =
        apicompat::load_set(nupkg.to_str().unwrap(), &dir.path().join("unpack")).unwrap();
    let from_dir = apicompat::load_set(
        s.pair.join("v2").to_str().unwrap(),
        &dir.path().join("unpack"),
    )
    .unwrap();
    assert_eq!(from_pack.assemblies, from_dir.assemblies);
}

fn bad_input(name: &str, bytes: &[u8]) -> (i32, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad");
    std::fs::create_dir(&bad).unwrap();
    std::fs::write(bad.join(name), bytes).unwrap();
    let out = run(
        dir.path(),
        &[
            "--baseline",
            bad.to_str().unwrap(),
            "--candidate",
            setup().pair.join("v1").to_str().unwrap(),
        ],
    );
    (code(&out), stdout(&out), stderr(&out))
}

/// Zeroes the CLI header's data directory entry: a PE file without CLI metadata.
fn without_cli_header(mut pe: Vec<u8>) -> Vec<u8> {
    let nt = u32::from_le_bytes(pe[0x3c..0x40].try_into().unwrap()) as usize;
    let optional = nt + 24;
    let dirs = match u16::from_le_bytes([pe[optional], pe[optional + 1]]) {
        0x10b => optional + 96,
        _ => optional + 112,
    };
    pe[dirs + 14 * 8..dirs + 15 * 8].fill(0);
    pe
}

/// Offset and length of an assembly's metadata in its file.
fn metadata_span(pe: &[u8]) -> (usize, usize) {
    let root = apicompat::metadata::cli_metadata(pe).unwrap();
    (root.as_ptr() as usize - pe.as_ptr() as usize, root.len())
}

#[test]
fn bad_input_is_a_clear_error_naming_the_file() {
    let lib = std::fs::read(setup().pair.join("v1/Lib.dll")).unwrap();
    let (status, out, err) = bad_input("Text.dll", b"this is not an assembly\n");
    assert_eq!(status, 2, "{err}");
    assert!(out.is_empty());
    assert!(
        err.contains("Text.dll") && err.contains("not a PE file"),
        "{err}"
    );
    let (status, _, err) = bad_input("Native.dll", &without_cli_header(lib.clone()));
    assert_eq!(status, 2, "{err}");
    assert!(
        err.contains("Native.dll") && err.contains("without CLI metadata"),
        "{err}"
    );
    // Cut in the middle of the metadata.
    let (start, len) = metadata_span(&lib);
    let (status, _, err) = bad_input("Truncated.dll", &lib[..start + len / 2]);
    assert_eq!(status, 2, "{err}");
    assert!(
        err.contains("Truncated.dll") && err.contains("damaged or truncated"),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
    // Not an assembly set at all.
    let dir = tempfile::tempdir().unwrap();
    let out = run(
        dir.path(),
        &[
            "--baseline",
            "/nonexistent/dotnet",
            "--candidate",
            "/nonexistent/b",
        ],
    );
    assert_eq!(code(&out), 2);
    assert!(stderr(&out).contains("/nonexistent/dotnet does not exist"));
}

#[test]
fn native_libraries_beside_assemblies_are_passed_over() {
    let dir = tempfile::tempdir().unwrap();
    let lib = std::fs::read(setup().pair.join("v1/Lib.dll")).unwrap();
    std::fs::write(dir.path().join("Lib.dll"), &lib).unwrap();
    std::fs::write(dir.path().join("coreclr.dll"), without_cli_header(lib)).unwrap();
    let set = apicompat::load_set(dir.path().to_str().unwrap(), dir.path()).unwrap();
    assert_eq!(set.assemblies.keys().collect::<Vec<_>>(), ["Lib"]);
    assert_eq!(set.native, [dir.path().join("coreclr.dll")]);
}

/// Damaged assemblies (bytes overwritten, truncated, spliced) are errors, never panics or huge
/// allocations: the reader's entry point on real assemblies, mutated.
#[test]
fn the_metadata_reader_never_panics_on_damaged_assemblies() {
    let linq = std::fs::read(
        setup()
            .runtimes
            .dotnet_root
            .join("shared/Microsoft.NETCore.App")
            .join(testenv::CURRENT)
            .join("System.Linq.dll"),
    )
    .unwrap();
    let lib = std::fs::read(setup().pair.join("v2/Lib.dll")).unwrap();
    assert!(apicompat::read_assembly_bytes(&linq).is_ok());
    assert!(apicompat::read_assembly_bytes(&lib).is_ok());
    // The metadata is where damage matters: aim half the mutations there.
    for original in [lib, linq] {
        let (start, len) = metadata_span(&original);
        arbtest::arbtest(|u| {
            let mut bytes = original.clone();
            let mutations = u.int_in_range(1..=16)?;
            for _ in 0..mutations {
                let in_metadata: bool = u.arbitrary()?;
                let at = if in_metadata {
                    start + u.choose_index(len)?
                } else {
                    u.choose_index(bytes.len())?
                };
                bytes[at] = u.arbitrary()?;
            }
            if u.ratio(1, 4)? {
                let keep = u.choose_index(bytes.len())?;
                bytes.truncate(keep);
            }
            match apicompat::read_assembly_bytes(&bytes) {
                Ok(_) | Err(ReadError::NotPe | ReadError::NoCliMetadata) => {}
                Err(ReadError::Malformed(what)) => assert!(!what.is_empty()),
            }
            Ok(())
        })
        .budget_ms(3_000);
    }
    // Arbitrary bytes, not derived from an assembly.
    arbtest::arbtest(|u| {
        let bytes: Vec<u8> = u.arbitrary()?;
        let _ = apicompat::read_assembly_bytes(&bytes);
        let _ = apicompat::metadata::Metadata::parse(&bytes);
        Ok(())
    })
    .budget_ms(1_000);
}
