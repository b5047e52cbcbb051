//! The advisory feed against Microsoft's real release metadata (trimmed copies of dotnet/core's
//! timeline cve.json and releases.json in tests/fixtures/dotnet-core), a generated patch queue,
//! a local HTTP server speaking GitHub's contents API, and the OpenVEX JSON schema.

use crate::github_server;

use crate::support;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use jiff::civil::{date, Date};
use serde_json::Value;
use xtask::advisories::feed::{build_snapshot, Feed, FeedFile};
use xtask::advisories::plan::plan;
use xtask::advisories::queue::QueueCves;
use xtask::advisories::source::{read_dir, GitHubSource, Source};
use xtask::advisories::status::{Status, StatusReport};
use xtask::advisories::triage::Triage;
use xtask::advisories::vex::{document, VexInput};
use xtask::advisories::{sync, Snapshot};
use xtask::config::{AdvisoriesSettings, Config, SlaDays};
use xtask::cve::CveId;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/dotnet-core")
}

fn since() -> Date {
    date(2024, 11, 12)
}

fn channels() -> Vec<String> {
    AdvisoriesSettings::default().channels
}

fn real_snapshot() -> Snapshot {
    let feed = read_dir(&fixtures(), since(), &channels()).unwrap();
    let (snapshot, warnings) = build_snapshot(&feed, since(), &channels()).unwrap();
    assert!(
        warnings.is_empty(),
        "Microsoft's real data should give no warnings: {warnings:?}"
    );
    snapshot
}

fn id(s: &str) -> CveId {
    s.parse().unwrap()
}

fn read_json(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// Every CVE the raw files name, computed independently of the feed code.
fn expected_ids() -> BTreeSet<String> {
    let mut ids = BTreeSet::new();
    for entry in std::fs::read_dir(fixtures().join("timeline")).unwrap() {
        let doc = read_json(&entry.unwrap().path());
        for d in doc["disclosures"].as_array().unwrap() {
            if d["timeline"]["disclosure"]["date"].as_str().unwrap() >= "2024-11-12" {
                ids.insert(d["id"].as_str().unwrap().to_string());
            }
        }
    }
    for ch in ["8.0", "9.0", "10.0"] {
        let doc = read_json(&fixtures().join(format!("releases/{ch}-releases.json")));
        for r in doc["releases"].as_array().unwrap() {
            if r["release-date"].as_str().unwrap() < "2024-11-12" {
                continue;
            }
            for c in r["cve-list"].as_array().into_iter().flatten() {
                ids.insert(c["cve-id"].as_str().unwrap().to_string());
            }
        }
    }
    ids
}

#[test]
fn every_cve_since_end_of_support_is_in_the_snapshot_with_its_commits() {
    let snapshot = real_snapshot();
    let got: BTreeSet<String> = snapshot
        .advisories
        .iter()
        .map(|a| a.id.to_string())
        .collect();
    assert_eq!(got, expected_ids());
    // 2024-10's CVEs predate the cut-off and were fixed in 6.0.35.
    assert!(snapshot.get(&id("CVE-2024-43485")).is_none());

    // Every commit a timeline entry references is resolved to a full hash.
    for entry in std::fs::read_dir(fixtures().join("timeline")).unwrap() {
        let doc = read_json(&entry.unwrap().path());
        for p in doc["products"]
            .as_array()
            .unwrap()
            .iter()
            .chain(doc["packages"].as_array().unwrap())
        {
            let Some(advisory) = snapshot.get(&id(p["cve_id"].as_str().unwrap())) else {
                continue;
            };
            for key in p["commits"].as_array().unwrap() {
                let key = key.as_str().unwrap();
                let commit = &advisory.commits[key];
                assert_eq!(commit.hash, doc["commits"][key]["hash"].as_str().unwrap());
                assert_eq!(
                    commit.branch,
                    doc["commits"][key]["branch"].as_str().unwrap()
                );
            }
        }
    }
}

#[test]
fn known_facts_hold() {
    let snapshot = real_snapshot();
    let smtp = snapshot.get(&id("CVE-2025-55248")).unwrap();
    let c = &smtp.commits["runtime@44527b9"];
    assert_eq!(
        (c.repo.as_str(), c.branch.as_str()),
        ("runtime", "release/8.0")
    );
    assert_eq!(c.hash, "44527b9ed8427463578126a4494c3654dda11866");
    assert_eq!(smtp.first_fixed("8.0").as_deref(), Some("8.0.21"));
    assert_eq!(smtp.first_fixed("9.0").as_deref(), Some("9.0.10"));
    assert_eq!(
        smtp.commits_by_branch()[0].0,
        "runtime@44527b9",
        "release/8.0 comes first"
    );

    let kestrel = snapshot.get(&id("CVE-2025-55315")).unwrap();
    let cvss = kestrel.cvss.as_ref().unwrap();
    assert_eq!((cvss.score, cvss.severity.as_str()), (9.9, "CRITICAL"));
    assert_eq!(kestrel.components(), vec!["dotnet-aspnetcore"]);
    assert_eq!(
        kestrel.link.as_deref(),
        Some("https://github.com/dotnet/announcements/issues/371")
    );

    // Only in releases.json: a row with the link, no title, disclosed on the first release.
    let later = snapshot.get(&id("CVE-2026-50651")).unwrap();
    assert!(later.title.is_none());
    assert_eq!(later.disclosed, date(2026, 7, 14));
    assert_eq!(later.first_fixed("8.0").as_deref(), Some("8.0.29"));
    assert!(later.link.as_deref().unwrap().contains("CVE-2026-50651"));

    // A package-only CVE (COSE) still gets its component and commits.
    let cose = snapshot.get(&id("CVE-2026-21218")).unwrap();
    assert_eq!(cose.components(), vec!["System.Security.Cryptography.Cose"]);
    assert_eq!(cose.commits["runtime@9e1f70e"].branch, "release/8.0");
}

/// The committed snapshot is what the normaliser makes of the committed fixtures: a change to the
/// normalisation must come with a re-sync (and a re-sync from newer data with refreshed fixtures).
#[test]
fn the_committed_snapshot_parses_and_covers_the_fixtures() {
    let committed =
        Snapshot::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../advisories/snapshot.json"))
            .unwrap();
    let fresh = real_snapshot();
    for advisory in &fresh.advisories {
        assert_eq!(
            committed.get(&advisory.id),
            Some(advisory),
            "{} differs from a fresh sync",
            advisory.id
        );
    }
}

#[test]
fn sync_is_deterministic_and_rewrites_only_on_change() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("advisories/snapshot.json");
    let settings = AdvisoriesSettings::default();
    let source = Source::Dir(fixtures());
    let first = sync(&source, &settings, &path, true).unwrap();
    assert!(first.changed);
    let text = std::fs::read_to_string(&path).unwrap();
    let second = sync(&source, &settings, &path, true).unwrap();
    assert!(!second.changed);
    assert_eq!(std::fs::read_to_string(&path).unwrap(), text);
    assert_eq!(Snapshot::load(&path).unwrap(), first.snapshot);
    // Sorted by CVE year and number.
    let ids: Vec<&CveId> = first.snapshot.advisories.iter().map(|a| &a.id).collect();
    let mut sorted = ids.clone();
    sorted.sort();
    assert_eq!(ids, sorted);
}

/// Lays the flat fixtures out like a dotnet/core clone.
fn clone_layout(dir: &Path) {
    for entry in std::fs::read_dir(fixtures().join("timeline")).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap();
        let (year, month) = (&name[0..4], &name[5..7]);
        let target = dir.join(format!("release-notes/timeline/{year}/{month}"));
        std::fs::create_dir_all(&target).unwrap();
        std::fs::copy(&path, target.join("cve.json")).unwrap();
        std::fs::write(target.join("index.json"), "{}").unwrap();
    }
    for ch in ["8.0", "9.0", "10.0"] {
        let target = dir.join(format!("release-notes/{ch}"));
        std::fs::create_dir_all(&target).unwrap();
        std::fs::copy(
            fixtures().join(format!("releases/{ch}-releases.json")),
            target.join("releases.json"),
        )
        .unwrap();
    }
}

#[test]
fn a_dotnet_core_clone_reads_the_same_as_the_flat_copy() {
    let tmp = tempfile::tempdir().unwrap();
    clone_layout(tmp.path());
    let feed = read_dir(tmp.path(), since(), &channels()).unwrap();
    let (snapshot, _) = build_snapshot(&feed, since(), &channels()).unwrap();
    assert_eq!(snapshot, real_snapshot());
}

fn month(origin: &str, text: &str) -> FeedFile {
    FeedFile {
        origin: origin.to_string(),
        text: text.to_string(),
    }
}

const MINIMAL_MONTH: &str = r#"{
  "disclosures": [{
    "id": "CVE-2025-55248", "problem": "p", "description": ["d"],
    "cvss": {"version": "3.1", "vector": "v", "score": 4.8, "severity": "MEDIUM"},
    "timeline": {"disclosure": {"date": "2025-10-14", "description": "x"}},
    "platforms": ["all"], "architectures": ["all"], "references": ["https://example.org/a"],
    "brand_new_field": {"ignored": true}
  }],
  "products": [{"cve_id": "CVE-2025-55248", "name": "dotnet-runtime", "min_vulnerable": "8.0.0",
    "max_vulnerable": "8.0.20", "fixed": "8.0.21", "release": "8.0", "commits": ["runtime@44527b9"]}],
  "packages": [],
  "commits": {"runtime@44527b9": {"repo": "runtime", "branch": "release/8.0",
    "hash": "44527b9ed8427463578126a4494c3654dda11866", "org": "dotnet", "url": "u"}}
}"#;

#[test]
fn the_same_cve_in_several_months_and_channels_is_merged_without_duplicates() {
    let real = std::fs::read_to_string(fixtures().join("timeline/2025-10-cve.json")).unwrap();
    let feed = Feed {
        timelines: vec![
            month("a/cve.json", &real),
            month("b/cve.json", &real),
            month("c/cve.json", MINIMAL_MONTH),
        ],
        releases: Vec::new(),
    };
    let (snapshot, warnings) = build_snapshot(&feed, since(), &channels()).unwrap();
    assert!(warnings.is_empty(), "{warnings:?}");
    assert_eq!(snapshot.advisories.len(), 3);
    let smtp = snapshot.get(&id("CVE-2025-55248")).unwrap();
    assert_eq!(
        smtp.fixes.len(),
        2,
        "one 8.0 and one 9.0 entry: {:?}",
        smtp.fixes
    );
    // The newest month's text wins.
    assert_eq!(smtp.title.as_deref(), Some("p"));
}

#[test]
fn malformed_json_names_the_file_and_the_json_path() {
    let bad_id = MINIMAL_MONTH.replace(r#""id": "CVE-2025-55248""#, r#""id": "CVE-25-1""#);
    let feed = Feed {
        timelines: vec![month("timeline/2025/10/cve.json", &bad_id)],
        releases: Vec::new(),
    };
    let err = format!(
        "{:#}",
        build_snapshot(&feed, since(), &channels()).unwrap_err()
    );
    assert!(
        err.contains("timeline/2025/10/cve.json")
            && err.contains("disclosures[0].id")
            && err.contains("CVE-25-1"),
        "{err}"
    );

    let missing = MINIMAL_MONTH.replace(r#""problem": "p","#, "");
    let feed = Feed {
        timelines: vec![month("m.json", &missing)],
        releases: Vec::new(),
    };
    let err = format!(
        "{:#}",
        build_snapshot(&feed, since(), &channels()).unwrap_err()
    );
    assert!(
        err.contains("m.json") && err.contains("disclosures[0]") && err.contains("problem"),
        "{err}"
    );

    let bad_date = MINIMAL_MONTH.replace("2025-10-14", "14/10/2025");
    let feed = Feed {
        timelines: vec![month("m.json", &bad_date)],
        releases: Vec::new(),
    };
    let err = format!(
        "{:#}",
        build_snapshot(&feed, since(), &channels()).unwrap_err()
    );
    assert!(
        err.contains("disclosures[0].timeline.disclosure.date"),
        "{err}"
    );

    let bad_release = r#"{"releases": [{"release-version": "8.0.21", "release-date": "2025-10-14",
        "cve-list": [{"cve-id": "CVE-2025-55248"}, {"cve-id": "not-a-cve"}]}]}"#;
    let feed = Feed {
        timelines: Vec::new(),
        releases: vec![("8.0".into(), month("8.0/releases.json", bad_release))],
    };
    let err = format!(
        "{:#}",
        build_snapshot(&feed, since(), &channels()).unwrap_err()
    );
    assert!(
        err.contains("8.0/releases.json") && err.contains("releases[0].cve-list[1].cve-id"),
        "{err}"
    );

    let not_json = Feed {
        timelines: vec![month("broken.json", "{\"disclosures\": [")],
        releases: Vec::new(),
    };
    assert!(format!(
        "{:#}",
        build_snapshot(&not_json, since(), &channels()).unwrap_err()
    )
    .contains("broken.json"));
}

#[test]
fn rows_that_can_still_be_shown_only_warn() {
    let odd = MINIMAL_MONTH
        .replace(r#""name": "dotnet-runtime""#, r#""name": "dotnet-mystery""#)
        .replace(
            r#""commits": ["runtime@44527b9"]"#,
            r#""commits": ["runtime@44527b9", "runtime@0000000"]"#,
        );
    let feed = Feed {
        timelines: vec![month("odd.json", &odd)],
        releases: Vec::new(),
    };
    let (snapshot, warnings) = build_snapshot(&feed, since(), &channels()).unwrap();
    let text: Vec<String> = warnings.iter().map(ToString::to_string).collect();
    assert_eq!(warnings.len(), 2, "{text:?}");
    assert!(text[0].contains("products[0].name") && text[0].contains("dotnet-mystery"));
    assert!(text[1].contains("products[0].commits[1]") && text[1].contains("runtime@0000000"));
    let row = snapshot.get(&id("CVE-2025-55248")).unwrap();
    assert_eq!(row.fixes[0].commits, vec!["runtime@44527b9"]);
}

/// Writes a patch queue like `patches export` does: series files and DEP-3 headed patches.
fn write_queue(dir: &Path, repo: &str, patches: &[(&str, Option<&str>)]) {
    let repo_dir = dir.join(repo);
    let mut series = String::from("# generated by the test\n");
    for (i, (cve, listed)) in patches.iter().enumerate() {
        let name = format!("{cve}/{:04}-fix.patch", i + 1);
        std::fs::create_dir_all(repo_dir.join(cve)).unwrap();
        let header = format!(
            "From 44527b9ed8427463578126a4494c3654dda11866 Mon Sep 17 00:00:00 2001\nFrom: A <a@example.com>\n\
             Date: Tue, 14 Oct 2025 10:00:00 +0000\nSubject: [PATCH] Fix\nDescription: Fix\n\
             Origin: upstream, https://github.com/dotnet/runtime/commit/44527b9\nCVE: {cve}\n\
             Applied-Upstream: 8.0.21\n\nbody\n---\n"
        );
        std::fs::write(repo_dir.join(&name), header).unwrap();
        if listed.is_some() {
            series.push_str(&name);
            series.push('\n');
        }
    }
    std::fs::write(repo_dir.join("series"), series).unwrap();
}

#[test]
fn status_joins_the_patch_queue_triage_and_deadlines() {
    let snapshot = real_snapshot();
    let tmp = tempfile::tempdir().unwrap();
    // CVE-2025-55315 has a patch file that the series does not list: not applied, not counted.
    write_queue(tmp.path(), "runtime", &[("CVE-2025-55248", Some("listed"))]);
    write_queue(tmp.path(), "aspnetcore", &[("CVE-2025-55315", None)]);
    let queue = QueueCves::read(tmp.path()).unwrap();
    let triage =
        Triage::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../advisories/triage.toml"))
            .unwrap();
    let sla = SlaDays::default();

    let report = StatusReport::compute(&snapshot, &triage, &queue, date(2025, 10, 20), &sla);
    let row = |s: &str| report.rows.iter().find(|r| r.id == id(s)).unwrap().clone();
    assert_eq!(row("CVE-2025-55248").status, Status::Backported);
    assert!(row("CVE-2025-55248")
        .note
        .contains("runtime/CVE-2025-55248/0001-fix.patch"));
    assert_eq!(row("CVE-2025-55315").status, Status::Pending);
    assert_eq!(row("CVE-2026-21218").status, Status::NotAffected);
    assert!(row("CVE-2026-21218")
        .note
        .starts_with("component_not_present"));
    assert_eq!(row("CVE-2024-43499").status, Status::NotAffected);
    assert_eq!(
        row("CVE-2025-21171").status,
        Status::NeedsTriage,
        "only 9.0 is affected"
    );
    assert_eq!(
        row("CVE-2026-50651").status,
        Status::NeedsTriage,
        "not in a cve.json yet"
    );
    assert!(report.needs_attention());

    // CVSS 9.9: 14 days from 2025-10-14; CVSS 4.8 (medium): 60 days.
    assert_eq!(row("CVE-2025-55315").deadline, date(2025, 10, 28));
    let on_time = StatusReport::compute(&snapshot, &triage, &queue, date(2025, 10, 28), &sla);
    let late = StatusReport::compute(&snapshot, &triage, &queue, date(2025, 10, 29), &sla);
    let of =
        |r: &StatusReport, s: &str| r.rows.iter().find(|x| x.id == id(s)).unwrap().overdue_days;
    assert_eq!(of(&on_time, "CVE-2025-55315"), None);
    assert_eq!(of(&late, "CVE-2025-55315"), Some(1));
    // Backported and not-affected CVEs are never overdue.
    assert_eq!(of(&late, "CVE-2025-55248"), None);
    assert_eq!(of(&late, "CVE-2026-21218"), None);

    let unqueued = StatusReport::compute(
        &snapshot,
        &triage,
        &QueueCves::default(),
        date(2025, 12, 14),
        &sla,
    );
    let medium = unqueued
        .rows
        .iter()
        .find(|r| r.id == id("CVE-2025-55248"))
        .unwrap();
    assert_eq!(
        (medium.deadline, medium.overdue_days),
        (date(2025, 12, 13), Some(1))
    );

    let custom = SlaDays {
        high: 30,
        medium: 60,
        low: 90,
    };
    let relaxed = StatusReport::compute(&snapshot, &triage, &queue, date(2025, 10, 29), &custom);
    assert_eq!(of(&relaxed, "CVE-2025-55315"), None);
}

#[test]
fn a_series_naming_a_missing_patch_is_an_error_with_its_line() {
    let tmp = tempfile::tempdir().unwrap();
    write_queue(tmp.path(), "runtime", &[("CVE-2025-55248", Some("listed"))]);
    let series = tmp.path().join("runtime/series");
    let mut text = std::fs::read_to_string(&series).unwrap();
    text.push_str("CVE-2025-55248/0002-gone.patch\n");
    std::fs::write(&series, text).unwrap();
    let err = format!("{:#}", QueueCves::read(tmp.path()).unwrap_err());
    assert!(
        err.contains("runtime/series:3") && err.contains("0002-gone.patch"),
        "{err}"
    );
}

#[test]
fn every_consumer_sees_the_same_cve_to_patch_map_from_a_quilt_series() {
    let snapshot = real_snapshot();
    let tmp = tempfile::tempdir().unwrap();
    let cves = ["CVE-2025-55248", "CVE-2025-55315", "CVE-2025-21171"];
    write_queue(tmp.path(), "runtime", &cves.map(|c| (c, Some("listed"))));
    // quilt's syntax: an option, trailing comments, leading whitespace, blank lines, and a
    // commented-out patch that must not count.
    std::fs::write(
        tmp.path().join("runtime/series"),
        "# the queue\nCVE-2025-55248/0001-fix.patch -p1 # the SmtpClient fix\n\n  \
         CVE-2025-55315/0002-fix.patch\t# Kestrel\n#CVE-2025-21171/0003-fix.patch\n",
    )
    .unwrap();
    let expected: BTreeSet<(String, String)> = [
        ("CVE-2025-55248", "runtime/CVE-2025-55248/0001-fix.patch"),
        ("CVE-2025-55315", "runtime/CVE-2025-55315/0002-fix.patch"),
    ]
    .map(|(c, p)| (c.to_string(), p.to_string()))
    .into();

    let queue = QueueCves::read(tmp.path()).unwrap();
    let status_join: BTreeSet<(String, String)> = queue
        .by_cve
        .iter()
        .flat_map(|(id, patches)| {
            patches
                .iter()
                .map(move |p| (id.to_string(), format!("{}/{}", p.repo, p.patch)))
        })
        .collect();
    assert_eq!(status_join, expected, "status join");

    let release_notes: BTreeSet<(String, String)> = xtask::release::queue::read(tmp.path())
        .unwrap()
        .into_iter()
        .flat_map(|f| f.cves.into_iter().map(move |c| (c, f.patch.clone())))
        .collect();
    assert_eq!(release_notes, expected, "release notes");

    let triage =
        Triage::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../advisories/triage.toml"))
            .unwrap();
    let report = StatusReport::compute(
        &snapshot,
        &triage,
        &queue,
        date(2026, 4, 1),
        &SlaDays::default(),
    );
    let input = VexInput {
        product_version: "6.0.37",
        package_revision: "1.els",
        author: ".NET 6 ELS",
        id_prefix: "urn:net6-els:vex:",
        timestamp: "2026-04-01T12:00:00Z".parse().unwrap(),
    };
    let doc = serde_json::to_value(document(&snapshot, &report, &triage, &input).unwrap()).unwrap();
    let fixed: BTreeSet<(String, String)> = doc["statements"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["status"] == "fixed")
        .flat_map(|s| {
            let cve = s["vulnerability"]["name"].as_str().unwrap().to_string();
            let notes = s["status_notes"].as_str().unwrap_or_default();
            let patches: Vec<String> = notes
                .split([' ', ',', ';', '(', ')'])
                .filter(|w| w.ends_with(".patch"))
                .map(str::to_string)
                .collect();
            assert!(!patches.is_empty(), "{cve}: {notes}");
            patches.into_iter().map(move |p| (cve.clone(), p))
        })
        .collect();
    assert_eq!(fixed, expected, "VEX");
}

#[test]
fn triage_errors_name_the_line() {
    let err = Triage::parse(
        "[CVE-2026-21218]\nstatus = \"not-affected\"\nstatement = \"x\"\n",
        Path::new("t.toml"),
    )
    .unwrap_err();
    assert!(
        format!("{err:#}").contains("t.toml:1") && format!("{err:#}").contains("justification"),
        "{err:#}"
    );
    let err = Triage::parse(
        "\n[CVE-26-1]\nstatus = \"affected\"\nstatement = \"x\"\n",
        Path::new("t.toml"),
    )
    .unwrap_err();
    assert!(
        format!("{err:#}").contains("t.toml:2") && format!("{err:#}").contains("CVE-26-1"),
        "{err:#}"
    );
    let err = Triage::parse(
        "[CVE-2026-21218]\nstatus = \"maybe\"\nstatement = \"x\"\n",
        Path::new("t.toml"),
    )
    .unwrap_err();
    assert!(format!("{err:#}").contains("t.toml:2"), "{err:#}");
}

fn fork_config(root: &Path) -> Config {
    let text =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../els.toml")).unwrap();
    Config::parse(&text, &root.join("els.toml")).unwrap()
}

#[test]
fn plan_prefers_release_8_0_then_9_0_then_the_combined_repository() {
    let snapshot = real_snapshot();
    let tmp = tempfile::tempdir().unwrap();
    write_queue(tmp.path(), "runtime", &[("CVE-2025-55248", Some("listed"))]);
    let queue = QueueCves::read(tmp.path()).unwrap();
    let triage = Triage::parse(
        "[CVE-2025-21171]\nstatus = \"affected\"\nstatement = \"checked: present in 6.0\"\n\
         [CVE-2026-26131]\nstatus = \"affected\"\nstatement = \"checked: present in 6.0\"\n",
        Path::new("triage.toml"),
    )
    .unwrap();
    let config = fork_config(tmp.path());
    let report = StatusReport::compute(
        &snapshot,
        &triage,
        &queue,
        date(2026, 4, 1),
        &config.advisories.sla_days,
    );
    let plan = plan(&snapshot, &report, Some(&config));
    let lines: Vec<String> = plan.backports.iter().map(|b| b.command_line()).collect();
    let has = |l: &str| lines.iter().any(|x| x == l);

    assert!(
        has("cargo xtask backport --cve CVE-2025-55315 aspnetcore@61794b7"),
        "{lines:#?}"
    );
    assert!(
        !lines.iter().any(|l| l.contains("CVE-2025-55248")),
        "backported CVEs are not planned"
    );
    assert!(
        has("cargo xtask backport --cve CVE-2025-21171 runtime@9da8c6a"),
        "9.0 fallback: {lines:#?}"
    );
    assert!(
        has("cargo xtask backport --cve CVE-2026-26131 dotnet@80d3e14"),
        "combined repo fallback: {lines:#?}"
    );
    // SDK feature bands are alternatives: one command with one band's commit, not all three.
    let sdk: Vec<&String> = lines
        .iter()
        .filter(|l| l.contains("CVE-2025-21173"))
        .collect();
    assert_eq!(
        sdk,
        vec!["cargo xtask backport --cve CVE-2025-21173 sdk@7034fd9"]
    );
    assert!(plan
        .warnings
        .iter()
        .any(|w| w.contains("CVE-2025-21173") && w.contains("no [[repo]] named `sdk`")));
    assert!(plan
        .warnings
        .iter()
        .any(|w| w.contains("CVE-2025-55247") && w.contains("vs17.8")));
    // One command per (CVE, repo).
    let mut pairs: Vec<(String, String)> = plan
        .backports
        .iter()
        .map(|b| (b.cve.to_string(), b.repo.clone()))
        .collect();
    let n = pairs.len();
    pairs.dedup();
    assert_eq!(pairs.len(), n);
}

#[test]
fn plan_keeps_a_multi_commit_fix_in_microsofts_order() {
    let two = MINIMAL_MONTH.replace(r#""commits": ["runtime@44527b9"]"#, r#""commits": ["runtime@c2891d3", "runtime@132fb31"]"#).replace(
        r#""commits": {"runtime@44527b9": {"repo": "runtime", "branch": "release/8.0",
    "hash": "44527b9ed8427463578126a4494c3654dda11866", "org": "dotnet", "url": "u"}}"#,
        r#""commits": {
          "runtime@132fb31": {"repo": "runtime", "branch": "release/8.0", "hash": "132fb31d6c0e8a4a3e6c9bd5b6f0a4ff1e0d0a3a"},
          "runtime@c2891d3": {"repo": "runtime", "branch": "release/8.0", "hash": "c2891d3a1f14b4bd1b7ef2b6d8fe8b0c4d3b2a19"}}"#,
    );
    let feed = Feed {
        timelines: vec![month("two.json", &two)],
        releases: Vec::new(),
    };
    let (snapshot, warnings) = build_snapshot(&feed, since(), &channels()).unwrap();
    assert!(warnings.is_empty(), "{warnings:?}");
    let report = StatusReport::compute(
        &snapshot,
        &Triage::default(),
        &QueueCves::default(),
        date(2025, 10, 20),
        &SlaDays::default(),
    );
    let plan = plan(&snapshot, &report, None);
    assert_eq!(plan.backports.len(), 1);
    assert_eq!(
        plan.backports[0].command_line(),
        "cargo xtask backport --cve CVE-2025-55248 runtime@c2891d3 runtime@132fb31"
    );
}

fn openvex_validator() -> jsonschema::Validator {
    let schema = read_json(
        &Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/openvex_json_schema_0.2.0.json"),
    );
    jsonschema::options()
        .should_validate_formats(true)
        .build(&schema)
        .unwrap()
}

#[test]
fn vex_document_validates_against_the_openvex_schema() {
    let snapshot = real_snapshot();
    let tmp = tempfile::tempdir().unwrap();
    write_queue(tmp.path(), "runtime", &[("CVE-2025-55248", Some("listed"))]);
    let queue = QueueCves::read(tmp.path()).unwrap();
    let triage =
        Triage::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../advisories/triage.toml"))
            .unwrap();
    let report = StatusReport::compute(
        &snapshot,
        &triage,
        &queue,
        date(2026, 4, 1),
        &SlaDays::default(),
    );
    let input = VexInput {
        product_version: "6.0.37",
        package_revision: "1.els",
        author: ".NET 6 ELS",
        id_prefix: "urn:net6-els:vex:",
        timestamp: "2026-04-01T12:00:00Z".parse().unwrap(),
    };
    let doc = serde_json::to_value(document(&snapshot, &report, &triage, &input).unwrap()).unwrap();
    let validator = openvex_validator();
    let errors: Vec<String> = validator
        .iter_errors(&doc)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{errors:#?}");

    let statements = doc["statements"].as_array().unwrap();
    assert_eq!(statements.len(), snapshot.advisories.len());
    let of = |cve: &str| {
        statements
            .iter()
            .find(|s| s["vulnerability"]["name"] == cve)
            .unwrap()
    };
    assert_eq!(of("CVE-2025-55248")["status"], "fixed");
    assert_eq!(
        of("CVE-2025-55248")["products"][0]["@id"],
        "pkg:generic/dotnet-runtime@6.0.37"
    );
    // Beside the generic purl, the Linux packages that carry the runtime, as scanners name them.
    let purls: Vec<&str> = of("CVE-2025-55248")["products"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["identifiers"]["purl"].as_str().unwrap())
        .collect();
    for purl in [
        "pkg:deb/debian/dotnet-runtime-6.0@6.0.37-1.els?arch=amd64&distro=debian-12",
        "pkg:deb/ubuntu/dotnet-hostfxr-6.0@6.0.37-1.els?arch=amd64&distro=ubuntu-22.04",
        "pkg:rpm/redhat/dotnet-runtime-6.0@6.0.37-1.els?arch=x86_64&distro=rhel-9",
    ] {
        assert!(purls.contains(&purl), "{purl} not in {purls:?}");
    }
    assert!(
        !purls.iter().any(|p| p.contains("aspnetcore-runtime")),
        "a runtime fix names no ASP.NET Core package: {purls:?}"
    );
    assert_eq!(of("CVE-2026-21218")["status"], "not_affected");
    assert_eq!(
        of("CVE-2026-21218")["justification"],
        "component_not_present"
    );
    assert_eq!(of("CVE-2025-55315")["status"], "affected");
    assert!(of("CVE-2025-55315")["action_statement"]
        .as_str()
        .unwrap()
        .contains("aspnetcore@61794b7"));
    assert_eq!(of("CVE-2026-50651")["status"], "under_investigation");
    assert_eq!(doc["@id"], "urn:net6-els:vex:6.0.37");

    // The schema is live: a not_affected statement without a justification is rejected.
    let mut broken = doc.clone();
    let i = statements
        .iter()
        .position(|s| s["status"] == "not_affected")
        .unwrap();
    broken["statements"][i]
        .as_object_mut()
        .unwrap()
        .remove("justification");
    assert!(!validator.is_valid(&broken));

    assert!(format!(
        "{:#}",
        document(
            &snapshot,
            &report,
            &triage,
            &VexInput {
                product_version: "8.0.1",
                ..input
            }
        )
        .unwrap_err()
    )
    .contains("6.0.N"));
}

#[test]
fn gh_token_wins_over_the_jobs_ambient_github_token() {
    // The gh CLI's convention: a fork token a step gives as GH_TOKEN beats the job's GITHUB_TOKEN.
    let server = github_server::Server::start(fixtures(), 9_000);
    let tmp = sandbox();
    let out = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(["advisories", "sync", "--github", "--quiet", "--api-url"])
        .arg(server.url())
        .args(["--snapshot", "snapshot.json"])
        .current_dir(tmp.path())
        .env_remove("GITHUB_ACTIONS")
        .env("GITHUB_TOKEN", "ambient-job-token")
        .env("GH_TOKEN", "fork-token")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let requests = server.requests();
    assert!(!requests.is_empty());
    for r in &requests {
        assert_eq!(
            r.authorization.as_deref(),
            Some("Bearer fork-token"),
            "{r:?}"
        );
        // The sync only reads.
        assert_eq!(r.method, "GET", "{r:?}");
    }
    assert!(server.pulls().is_empty());
}

#[test]
fn the_old_advisories_github_section_still_works_with_a_deprecation_warning() {
    let server = github_server::Server::start(fixtures(), 9_000);
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(
        tmp.path().join("els.toml"),
        format!(
            "[advisories.github]\napi-url = \"{}\"\nrepo = \"dotnet/core\"\ntimeline-branch = \"release-index\"\nreleases-branch = \"main\"\n",
            server.url()
        ),
    )
    .unwrap();
    let sync_github = |dir: &Path| {
        Command::new(env!("CARGO_BIN_EXE_xtask"))
            .args(["advisories", "sync", "--github", "--quiet"])
            .args(["--snapshot", "snapshot.json"])
            .current_dir(dir)
            .env_remove("GITHUB_ACTIONS")
            .env_remove("GITHUB_API_URL")
            .env("NO_COLOR", "1")
            .output()
            .unwrap()
    };
    let out = sync_github(tmp.path());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("[advisories.github] is deprecated")
            && stderr.contains("move its keys to [github]"),
        "{stderr}"
    );
    assert!(
        !String::from_utf8_lossy(&out.stdout).contains("deprecated"),
        "the warning stays off stdout"
    );
    assert_eq!(
        Snapshot::load(&tmp.path().join("snapshot.json")).unwrap(),
        real_snapshot(),
        "the old section's API root, repository and branches were used"
    );
    assert!(!server.requests().is_empty());

    // The same key in both places is refused rather than silently picking one.
    let both = sandbox();
    let mut text = std::fs::read_to_string(both.path().join("els.toml")).unwrap();
    text.push_str("\n[advisories.github]\nrepo = \"contoso/core\"\n");
    std::fs::write(both.path().join("els.toml"), text).unwrap();
    let out = sync_github(both.path());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("[advisories.github] repo") && stderr.contains("[github] advisories-repo"),
        "{stderr}"
    );
    assert!(!both.path().join("snapshot.json").exists());
}

#[test]
fn github_source_reads_the_same_feed_through_the_contents_api() {
    // GitHub inlines files up to 1 MB; the trimmed fixtures are smaller, so the server's limit is
    // lowered to make the releases.json files take the raw-media-type path real ones take.
    let server = github_server::Server::start(fixtures(), 9_000);
    let gh = GitHubSource {
        api_url: server.url(),
        repo: "dotnet/core".into(),
        timeline_ref: "release-index".into(),
        releases_ref: "main".into(),
        token: Some("test-token-123".into()),
        max_wait: std::time::Duration::from_secs(60),
    };
    assert!(
        !format!("{gh:?}").contains("test-token-123"),
        "the token is never printed"
    );
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("snapshot.json");
    let outcome = sync(
        &Source::GitHub(gh.clone()),
        &AdvisoriesSettings::default(),
        &path,
        true,
    )
    .unwrap();
    assert_eq!(outcome.snapshot, real_snapshot());

    let requests = server.requests();
    assert!(
        requests
            .iter()
            .all(|r| r.authorization.as_deref() == Some("Bearer test-token-123")),
        "{requests:#?}"
    );
    assert!(
        requests
            .iter()
            .any(|r| r.raw && r.path.ends_with("releases.json")),
        "large files are fetched raw"
    );
    assert!(
        requests
            .iter()
            .any(|r| !r.raw && r.path.ends_with("cve.json")),
        "small files come inline"
    );
    assert!(
        !requests.iter().any(|r| r.path.contains("/2023/")),
        "years before the cut-off are not listed"
    );
    for r in &requests {
        let branch = if r.path.starts_with("release-notes/timeline") {
            "release-index"
        } else {
            "main"
        };
        assert_eq!(r.r#ref.as_deref(), Some(branch), "{r:?}");
    }

    let wrong_branch = GitHubSource {
        timeline_ref: "no-such-branch".into(),
        ..gh
    };
    let err = format!(
        "{:#}",
        sync(
            &Source::GitHub(wrong_branch),
            &AdvisoriesSettings::default(),
            &path,
            true
        )
        .unwrap_err()
    );
    assert!(
        err.contains("HTTP 404")
            && err.contains("no-such-branch")
            && !err.contains("test-token-123"),
        "{err}"
    );
    assert_eq!(
        Snapshot::load(&path).unwrap(),
        outcome.snapshot,
        "a failed sync leaves the snapshot alone"
    );
}

/// Runs the real binary in `dir` with `args`.
fn xtask(dir: &Path, args: &[&str]) -> std::process::Output {
    let out = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(args)
        .current_dir(dir)
        .env_remove("GITHUB_ACTIONS")
        .env_remove("GITHUB_STEP_SUMMARY")
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    support::check_json_output(args, &out);
    out
}

fn sandbox() -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    std::fs::copy(root.join("els.toml"), tmp.path().join("els.toml")).unwrap();
    std::fs::create_dir_all(tmp.path().join("advisories")).unwrap();
    std::fs::copy(
        root.join("advisories/triage.toml"),
        tmp.path().join("advisories/triage.toml"),
    )
    .unwrap();
    tmp
}

#[test]
fn the_command_line_syncs_reports_and_gates() {
    let tmp = sandbox();
    let dir = tmp.path();
    let fixtures = fixtures();
    let out = xtask(
        dir,
        &[
            "advisories",
            "sync",
            "--source",
            fixtures.to_str().unwrap(),
            "--json",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let synced: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        synced["advisories"].as_u64().unwrap() as usize,
        expected_ids().len()
    );

    let out = xtask(dir, &["advisories", "--today", "2026-04-01"]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "overdue and untriaged CVEs fail the gate"
    );
    let table = String::from_utf8(out.stdout).unwrap();
    assert!(
        table.contains("CVE-2025-55315")
            && table.contains("OVERDUE")
            && table.contains("need triage"),
        "{table}"
    );

    let out = xtask(dir, &["advisories", "--today", "2026-04-01", "--json"]);
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let rows = report["rows"].as_array().unwrap();
    let kestrel = rows.iter().find(|r| r["id"] == "CVE-2025-55315").unwrap();
    assert_eq!(kestrel["status"], "pending");
    assert_eq!(kestrel["commits"][0]["branch"], "release/8.0");
    assert_eq!(kestrel["commits"][0]["commits"][0], "aspnetcore@61794b7");

    let out = xtask(dir, &["advisories", "--today", "2026-04-01", "--markdown"]);
    let md = String::from_utf8(out.stdout).unwrap();
    assert!(
        md.contains("| [CVE-2025-55315](https://github.com/dotnet/announcements/issues/371) |"),
        "{md}"
    );

    // In Actions the Markdown also lands in the step summary, and overdue CVEs are annotated.
    let summary = dir.join("summary.md");
    let out = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(["advisories", "--today", "2026-04-01"])
        .current_dir(dir)
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_STEP_SUMMARY", &summary)
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("::error::CVE-2025-55315 is"));
    assert!(!String::from_utf8_lossy(&out.stdout).contains("::"));
    assert!(std::fs::read_to_string(&summary)
        .unwrap()
        .contains("### Advisories as of 2026-04-01"));

    // Workflow commands never reach stdout: with --json it is one JSON document, in Actions too.
    for args in [
        &["advisories", "--today", "2026-04-01", "--json"][..],
        &["advisories", "plan", "--json"][..],
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_xtask"))
            .args(args)
            .current_dir(dir)
            .env("GITHUB_ACTIONS", "true")
            .env("GITHUB_STEP_SUMMARY", dir.join("json-summary.md"))
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            serde_json::from_str::<Value>(&stdout).is_ok(),
            "{args:?} in Actions printed more than one JSON document:\n{stdout}"
        );
    }

    // The workflow's `advisories --markdown >> "$GITHUB_STEP_SUMMARY"` gets the table once, and
    // no workflow command lands in the summary.
    let summary = dir.join("appended-summary.md");
    let out = Command::new("bash")
        .arg("-c")
        .arg(format!(
            "{} advisories --today 2026-04-01 --markdown >> \"$GITHUB_STEP_SUMMARY\"",
            env!("CARGO_BIN_EXE_xtask")
        ))
        .current_dir(dir)
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_STEP_SUMMARY", &summary)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let text = std::fs::read_to_string(&summary).unwrap();
    assert_eq!(
        text.matches("### Advisories as of 2026-04-01").count(),
        1,
        "{text}"
    );
    assert!(!text.contains("::error::"), "{text}");

    let out = xtask(dir, &["advisories", "plan"]);
    assert!(out.status.success());
    assert!(String::from_utf8(out.stdout)
        .unwrap()
        .contains("cargo xtask backport --cve CVE-2025-55315 aspnetcore@61794b7\n"));

    let out = xtask(
        dir,
        &[
            "vex",
            "--product-version",
            "6.0.37",
            "--timestamp",
            "2026-04-01T00:00:00Z",
            "-o",
            "vex.json",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc = read_json(&dir.join("vex.json"));
    assert!(openvex_validator().is_valid(&doc));

    // Microsoft's own 6.0.36 (and anything before it) is not a fork release, as for `bump`.
    let before = std::fs::read(dir.join("vex.json")).unwrap();
    for version in ["6.0.36", "6.0.2"] {
        let out = xtask(
            dir,
            &["vex", "--product-version", version, "-o", "vex.json"],
        );
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert!(err.contains("collides with Microsoft's releases"), "{err}");
    }
    assert_eq!(std::fs::read(dir.join("vex.json")).unwrap(), before);

    let out = xtask(dir, &["advisories", "--today", "yesterday"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn the_gate_passes_when_everything_is_triaged_backported_and_on_time() {
    let tmp = sandbox();
    let dir = tmp.path();
    // A feed of one month: the October 2025 CVEs only.
    let feed_dir = dir.join("feed");
    std::fs::create_dir_all(feed_dir.join("timeline")).unwrap();
    std::fs::copy(
        fixtures().join("timeline/2025-10-cve.json"),
        feed_dir.join("timeline/2025-10-cve.json"),
    )
    .unwrap();
    std::fs::create_dir_all(feed_dir.join("releases")).unwrap();
    for ch in ["8.0", "9.0", "10.0"] {
        std::fs::write(
            feed_dir.join(format!("releases/{ch}-releases.json")),
            r#"{"releases": []}"#,
        )
        .unwrap();
    }
    let out = xtask(dir, &["advisories", "sync", "--source", "feed", "-q"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    write_queue(
        &dir.join("runtime-patches"),
        "runtime",
        &[("CVE-2025-55248", Some("listed"))],
    );
    write_queue(
        &dir.join("runtime-patches"),
        "aspnetcore",
        &[("CVE-2025-55315", Some("listed"))],
    );
    // CVE-2025-55247 (MSBuild, HIGH) is still pending: on time on day 14, overdue on day 15.
    assert_eq!(
        xtask(dir, &["advisories", "--today", "2025-10-28"])
            .status
            .code(),
        Some(0)
    );
    assert_eq!(
        xtask(dir, &["advisories", "--today", "2025-10-29"])
            .status
            .code(),
        Some(1)
    );
}

#[test]
fn sync_refuses_a_directory_that_is_not_a_feed_and_keeps_the_snapshot() {
    let tmp = sandbox();
    let out = xtask(
        tmp.path(),
        &["advisories", "sync", "--source", "advisories"],
    );
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.contains("neither release-notes/timeline/")
            && err.contains("the snapshot was not changed"),
        "{err}"
    );
    assert!(!tmp.path().join("advisories/snapshot.json").exists());
}

#[test]
fn demo_stage_renders_the_committed_table() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let config = Config::load(&root.join("els.toml")).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    write_queue(tmp.path(), "runtime", &[("CVE-2025-55248", Some("listed"))]);
    let (table, report) = xtask::advisories::demo(&config, tmp.path()).unwrap();
    assert!(table.contains("CVE-2025-55248") && table.contains("backported"));
    assert_eq!(report.today.to_string(), xtask::advisories::DEMO_TODAY);
}

/// dotnet/core's feed through the contents API (listings, inline base64 files, a raw
/// releases.json), with one answer per case mutated by a proxy between the real client and the
/// local GitHub server — its body, a header (rate limit, `Link`, content type) or its status.
/// Never a panic; a failure names what was being read, an answer of the wrong shape names the
/// endpoint and the JSON path, and a feed that was read builds its snapshot or says which file
/// is wrong.
#[test]
fn github_answers_for_the_feed_never_crash_and_bad_ones_name_endpoint_and_json_path() {
    let server = github_server::Server::start(fixtures(), 9_000);
    let proxy = support::tamper::Proxy::start(&server.url());
    let source = GitHubSource {
        api_url: proxy.url(),
        repo: "dotnet/core".into(),
        timeline_ref: "release-index".into(),
        releases_ref: "main".into(),
        token: None,
        max_wait: std::time::Duration::ZERO,
    };
    // Two timeline months and one channel keep each case to a handful of exchanges.
    let since = date(2026, 2, 1);
    let channels = vec!["8.0".to_string()];
    let fetch = || Source::GitHub(source.clone()).fetch(since, &channels, true);
    let (truth, _) = build_snapshot(&fetch().unwrap(), since, &channels).unwrap();
    let exchanges = proxy.relayed();
    assert!(exchanges >= 6, "{exchanges} exchanges");
    let mut shapes = 0;
    let n = support::fuzz::cases("GitHub answers for the advisory feed", |u| {
        proxy.tamper(u.int_in_range(0..=exchanges - 1)?, u.arbitrary()?);
        let result = fetch();
        let tampered = proxy.finish();
        match result {
            Ok(feed) => match build_snapshot(&feed, since, &channels) {
                Ok((snapshot, _)) if !tampered => assert_eq!(snapshot, truth),
                Ok(_) => {}
                Err(e) => {
                    let e = format!("{e:#}");
                    assert!(tampered, "an untampered feed does not build: {e}");
                    assert!(e.contains("github:dotnet/core@"), "which file? {e}");
                }
            },
            Err(e) => {
                let e = format!("{e:#}");
                assert!(tampered, "an exchange nobody tampered with failed: {e}");
                assert!(
                    e.contains("dotnet/core") && e.contains("release-notes"),
                    "what was being read? {e}"
                );
                if e.contains("is not what its API documents") {
                    shapes += 1;
                    assert!(
                        e.contains("at JSON path `")
                            && e.contains("GET /repos/dotnet/core/contents/"),
                        "no endpoint or JSON path: {e}"
                    );
                }
            }
        }
        Ok(())
    });
    eprintln!("{n} cases, {shapes} answers of the wrong shape reported with their JSON path");
}

/// Copies `from` (a directory tree) into `to`.
fn copy_tree(from: &Path, to: &Path) {
    for entry in walkdir::WalkDir::new(from) {
        let entry = entry.unwrap();
        let target = to.join(entry.path().strip_prefix(from).unwrap());
        if entry.file_type().is_dir() {
            std::fs::create_dir_all(&target).unwrap();
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// A fix in the desktop repositories is planned like runtime's: on the fork's `wpf` and
/// `winforms` `[[repo]]`s (els.toml), from their preferred branches, one command per repository.
/// The feed is Microsoft's real April 2025 file with its two fix commits moved to dotnet/wpf
/// (release/8.0) and dotnet/winforms (release/9.0): Microsoft published no desktop fix after
/// 6.0's end of support to test with.
#[test]
fn plan_backports_wpf_and_winforms_fixes_to_the_forks_desktop_repositories() {
    let tmp = tempfile::tempdir().unwrap();
    let feed_dir = tmp.path().join("dotnet-core");
    copy_tree(&fixtures(), &feed_dir);
    let april = feed_dir.join("timeline/2025-04-cve.json");
    let text = std::fs::read_to_string(&april)
        .unwrap()
        .replace("aspnetcore@d6605eb", "wpf@d6605eb")
        .replace("aspnetcore@d5933a9", "winforms@d5933a9")
        .replacen(r#""repo": "aspnetcore""#, r#""repo": "wpf""#, 1)
        .replacen(r#""repo": "aspnetcore""#, r#""repo": "winforms""#, 1)
        .replacen("dotnet/aspnetcore/commit", "dotnet/wpf/commit", 1)
        .replacen("dotnet/aspnetcore/commit", "dotnet/winforms/commit", 1);
    assert!(!text.contains(r#""repo": "aspnetcore""#));
    std::fs::write(&april, text).unwrap();
    let feed = read_dir(&feed_dir, since(), &channels()).unwrap();
    let (snapshot, _) = build_snapshot(&feed, since(), &channels()).unwrap();
    let config = fork_config(tmp.path());
    let queue_dir = tmp.path().join("queue");
    std::fs::create_dir_all(queue_dir.join("runtime")).unwrap();
    write_queue(&queue_dir, "runtime", &[]);
    let report = StatusReport::compute(
        &snapshot,
        &Triage::default(),
        &QueueCves::read(&queue_dir).unwrap(),
        date(2026, 4, 1),
        &config.advisories.sla_days,
    );
    let plan = plan(&snapshot, &report, Some(&config));
    let desktop: Vec<(String, String, String)> = plan
        .backports
        .iter()
        .filter(|b| b.cve.to_string() == "CVE-2025-26682")
        .map(|b| (b.repo.clone(), b.branch.clone(), b.command_line()))
        .collect();
    assert_eq!(
        desktop,
        [
            (
                "winforms".to_string(),
                "release/9.0".to_string(),
                "cargo xtask backport --cve CVE-2025-26682 winforms@d5933a9".to_string()
            ),
            (
                "wpf".to_string(),
                "release/8.0".to_string(),
                "cargo xtask backport --cve CVE-2025-26682 wpf@d6605eb".to_string()
            ),
        ],
        "{plan:#?}"
    );
    assert!(
        !plan.warnings.iter().any(|w| w.contains("CVE-2025-26682")),
        "{:?}",
        plan.warnings
    );
}
