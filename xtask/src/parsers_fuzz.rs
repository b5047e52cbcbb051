//! Property tests for every parser of outside input: mutations of real files (the repository's
//! els.toml, triage.toml, test-apps manifests, advisory snapshot, Microsoft's cve.json and
//! releases.json copies in tests/fixtures, the fixture fork's patches, series and MSBuild files,
//! a build manifest as the build writes it, the release.json of a release assembled for real)
//! must never panic, errors must name the file and a line or JSON path, and where the toolkit
//! writes the format, parse → write → parse gives the same thing. Each parser runs for a bounded
//! time (`ELS_FUZZ_MS` milliseconds, default 1500); `ELS_FUZZ_SEED` replays one case. GitHub's
//! API answers are fuzzed through the real client in tests/it/github.rs and tests/it/advisories.rs.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

// The one fuzzing harness of the tests (the GitHub answer tests use it too).
#[path = "../tests/it/support/fuzz.rs"]
mod harness;

/// Runs `check` on mutations of the seeds for the time budget and returns the cases run.
fn fuzz(name: &str, seeds: &[(String, Vec<u8>)], check: impl Fn(&str, &[u8])) -> usize {
    assert!(!seeds.is_empty(), "{name}: no seed files");
    harness::cases(name, |u| {
        let (origin, seed) = u.choose(seeds)?;
        let input = harness::mutate(u, seed)?;
        check(origin, &input);
        Ok(())
    })
}

fn manifest_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(path: &Path) -> (String, Vec<u8>) {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("seed {}: {e}", path.display()));
    (path.display().to_string(), bytes)
}

/// The files in `dir` whose name ends with `suffix`, recursively.
fn seeds_in(dir: &Path, suffix: &str) -> Vec<(String, Vec<u8>)> {
    let mut seeds: Vec<(String, Vec<u8>)> = walkdir::WalkDir::new(dir)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file() && e.file_name().to_string_lossy().ends_with(suffix))
        .map(|e| read(e.path()))
        .collect();
    seeds.sort();
    seeds
}

/// Asserts that an error names `origin` and says where in it (a line or a JSON path).
fn assert_located(err: &str, origin: &str, input: &[u8]) {
    assert!(
        err.contains(origin),
        "error does not name {origin}: {err}\ninput: {:?}",
        String::from_utf8_lossy(input)
    );
}

#[test]
fn els_toml_never_panics_and_errors_name_file_and_line() {
    let seeds = vec![read(&manifest_dir().join("../els.toml"))];
    fuzz("els.toml", &seeds, |origin, input| {
        let text = String::from_utf8_lossy(input);
        if let Err(e) = crate::config::Config::parse(&text, Path::new(origin)) {
            assert_located(&format!("{e:#}"), origin, input);
        }
    });
}

#[test]
fn triage_toml_never_panics_and_errors_name_file() {
    let seeds = vec![read(&manifest_dir().join("../advisories/triage.toml"))];
    fuzz("triage.toml", &seeds, |origin, input| {
        let text = String::from_utf8_lossy(input);
        if let Err(e) = crate::advisories::triage::Triage::parse(&text, Path::new(origin)) {
            assert_located(&format!("{e:#}"), origin, input);
        }
    });
}

#[test]
fn app_toml_never_panics_and_errors_name_file() {
    let seeds = seeds_in(&manifest_dir().join("../test-apps"), "app.toml");
    fuzz("app.toml", &seeds, |origin, input| {
        let text = String::from_utf8_lossy(input);
        if let Err(e) = crate::compat::manifest::parse(&text, Path::new(origin)) {
            assert_located(&format!("{e:#}"), origin, input);
        }
    });
}

#[test]
fn microsoft_feed_files_never_panic_and_errors_name_file() {
    let dir = manifest_dir().join("tests/fixtures/dotnet-core");
    let timelines = seeds_in(&dir.join("timeline"), "cve.json");
    let releases = seeds_in(&dir.join("releases"), "releases.json");
    let since = jiff::civil::date(2024, 11, 12);
    let channels: Vec<String> = ["8.0", "9.0", "10.0"].map(String::from).to_vec();
    let file = |origin: &str, text: String| crate::advisories::feed::FeedFile {
        origin: origin.to_string(),
        text,
    };
    let untouched_releases: Vec<(String, crate::advisories::feed::FeedFile)> = releases
        .iter()
        .zip(&channels)
        .map(|((o, b), c)| (c.clone(), file(o, String::from_utf8_lossy(b).into_owned())))
        .collect();
    let all: Vec<(String, Vec<u8>)> = timelines.iter().chain(&releases).cloned().collect();
    fuzz("cve.json/releases.json", &all, |origin, input| {
        let text = String::from_utf8_lossy(input).into_owned();
        let mut feed = crate::advisories::feed::Feed::default();
        if origin.ends_with("cve.json") {
            feed.timelines.push(file(origin, text));
            feed.releases = untouched_releases.clone();
        } else {
            let (_, seed) = &timelines[0];
            feed.timelines.push(file(
                &timelines[0].0,
                String::from_utf8_lossy(seed).into_owned(),
            ));
            feed.releases = untouched_releases
                .iter()
                .map(|(c, f)| {
                    if f.origin == origin {
                        (c.clone(), file(origin, text.clone()))
                    } else {
                        (c.clone(), f.clone())
                    }
                })
                .collect();
        }
        if let Err(e) = crate::advisories::feed::build_snapshot(&feed, since, &channels) {
            assert_located(&format!("{e:#}"), origin, input);
        }
    });
}

#[test]
fn the_advisory_snapshot_round_trips_and_mutations_name_the_json_path() {
    let path = manifest_dir().join("../advisories/snapshot.json");
    let snapshot = crate::advisories::Snapshot::load(&path).unwrap();
    let written = snapshot.to_json();
    let tmp = tempfile::tempdir().unwrap();
    let copy = tmp.path().join("snapshot.json");
    std::fs::write(&copy, &written).unwrap();
    assert_eq!(
        crate::advisories::Snapshot::load(&copy).unwrap().to_json(),
        written
    );
    let seeds = vec![read(&path)];
    let n = AtomicUsize::new(0);
    fuzz("snapshot.json", &seeds, |_, input| {
        let file = tmp.path().join(format!(
            "case-{}.json",
            n.fetch_add(1, Ordering::Relaxed) % 8
        ));
        std::fs::write(&file, input).unwrap();
        match crate::advisories::Snapshot::load(&file) {
            Ok(parsed) => {
                let again = parsed.to_json();
                std::fs::write(&file, &again).unwrap();
                assert_eq!(
                    crate::advisories::Snapshot::load(&file).unwrap().to_json(),
                    again
                );
            }
            Err(e) => assert_located(&format!("{e:#}"), &file.display().to_string(), input),
        }
    });
}

/// The fixture fork's queue and MSBuild files: patches with DEP-3 and `CVE:` headers written by
/// the toolkit's own export, and runtime/aspnetcore version files shaped like the real ones.
fn fixture_files() -> (tempfile::TempDir, crate::fixtures::official_build::Fixture) {
    let tmp = tempfile::tempdir().unwrap();
    let fixture = crate::fixtures::official_build::create(tmp.path()).unwrap();
    (tmp, fixture)
}

#[test]
fn patch_files_never_panic_name_the_line_and_round_trip() {
    let (_tmp, fixture) = fixture_files();
    let seeds = seeds_in(&fixture.patches, ".patch");
    for (origin, bytes) in &seeds {
        let parsed = crate::patches::format::PatchFile::parse(bytes)
            .unwrap_or_else(|e| panic!("{origin}: {e}"));
        // git's own file (commit id, git version signature) is normalised once; from then on
        // the toolkit's rendering reads back to itself.
        let rendered = parsed.render();
        let again = crate::patches::format::PatchFile::parse(&rendered).unwrap();
        assert!(again.render() == rendered, "{origin} does not round-trip");
    }
    fuzz(
        "format-patch/DEP-3",
        &seeds,
        |_, input| match crate::patches::format::PatchFile::parse(input) {
            Ok(parsed) => {
                let rendered = parsed.render();
                let again = crate::patches::format::PatchFile::parse(&rendered)
                    .unwrap_or_else(|e| panic!("a rendered patch does not parse: {e}"));
                assert!(
                    again.render() == rendered,
                    "a rendered patch renders differently"
                );
            }
            Err(e) => assert!(e.line >= 1 && e.to_string().starts_with("line "), "{e}"),
        },
    );
}

#[test]
fn series_files_never_panic_and_keep_line_numbers() {
    let (_tmp, fixture) = fixture_files();
    let seeds = seeds_in(&fixture.patches, "series");
    fuzz("series", &seeds, |_, input| {
        let text = String::from_utf8_lossy(input);
        let lines: Vec<&str> = text.lines().collect();
        for entry in crate::patches::series::parse(&text) {
            // The entry's line holds its path (main's series reader may drop trailing comments).
            assert!(
                lines[entry.line - 1].contains(entry.path.as_str()),
                "line {}",
                entry.line
            );
        }
    });
}

#[test]
fn msbuild_files_never_panic_and_errors_name_file() {
    let (_tmp, fixture) = fixture_files();
    let mut seeds = seeds_in(&fixture.runtime.join("eng"), ".props");
    seeds.extend(seeds_in(&fixture.runtime.join("eng"), ".xml"));
    seeds.extend(seeds_in(&fixture.aspnetcore.join("eng"), ".xml"));
    seeds.extend(seeds_in(&fixture.aspnetcore.join("eng"), ".props"));
    fuzz(
        "Versions.props/Version.Details.xml/Baseline.xml",
        &seeds,
        |origin, input| match crate::msbuild::XmlFile::parse(Path::new(origin), input.to_vec()) {
            Ok(doc) => {
                if let Err(e) = doc.property("ProductVersion") {
                    assert_located(&format!("{e:#}"), origin, input);
                }
            }
            Err(e) => assert_located(&format!("{e:#}"), origin, input),
        },
    );
}

/// A build manifest as `cargo xtask build` writes it for linux-x64, with the real artifact names.
fn manifest_seed() -> (String, Vec<u8>) {
    let file = |name: &str, repo: &str, size: u64| crate::official_build::ManifestFile {
        name: name.to_string(),
        repo: repo.to_string(),
        size,
        sha512: crate::official_build::sha512_hex(name.as_bytes()),
    };
    let manifest = crate::official_build::Manifest {
        version: "6.0.37".into(),
        rid: "linux-x64".into(),
        official_build_id: "20261130.1".into(),
        files: vec![
            file(
                "dotnet-runtime-6.0.37-linux-x64.tar.gz",
                "runtime",
                31_457_280,
            ),
            file(
                "Microsoft.NETCore.App.Runtime.linux-x64.6.0.37.nupkg",
                "runtime",
                32_505_856,
            ),
            file(
                "System.Security.Cryptography.Xml.6.0.2.nupkg",
                "runtime",
                262_144,
            ),
            file(
                "aspnetcore-runtime-6.0.37-linux-x64.tar.gz",
                "aspnetcore",
                9_437_184,
            ),
        ],
    };
    (
        "artifacts/els/6.0.37/linux-x64/manifest.json".into(),
        manifest.to_json().unwrap(),
    )
}

#[test]
fn release_manifests_never_panic_name_the_json_path_and_round_trip() {
    let seeds = vec![manifest_seed()];
    fuzz("build manifest", &seeds, |origin, input| {
        let text = String::from_utf8_lossy(input);
        match crate::official_build::Manifest::parse(&text, Path::new(origin)) {
            Ok(manifest) => {
                let written = manifest.to_json().unwrap();
                let again = crate::official_build::Manifest::parse(
                    std::str::from_utf8(&written).unwrap(),
                    Path::new(origin),
                )
                .unwrap();
                assert_eq!(again, manifest);
                assert_eq!(again.to_json().unwrap(), written);
            }
            Err(e) => {
                let e = format!("{e:#}");
                assert_located(&e, origin, input);
                assert!(e.contains("at `"), "no JSON path: {e}");
            }
        }
    });
}

#[test]
fn release_json_on_verify_never_panics_and_problems_say_where() {
    // The release.json `cargo xtask release` writes for the demo's release (a fixture fork bumped,
    // built, assembled, signed and verified for real), and its checksums.
    let tmp = tempfile::tempdir().unwrap();
    let release = crate::release::demo::run_stage(tmp.path(), None)
        .unwrap()
        .release_dir;
    let seed = std::fs::read(release.join(crate::release::RELEASE_JSON)).unwrap();
    let sums_text = std::fs::read_to_string(release.join(crate::release::CHECKSUMS)).unwrap();
    let sums: std::collections::BTreeMap<String, String> = sums_text
        .lines()
        .filter_map(crate::release::parse_checksum_line)
        .map(|(hash, name)| (name, hash))
        .collect();
    let names: Vec<String> = sums.keys().cloned().collect();
    let empty_report = || crate::release::verify::Report {
        dir: release.clone(),
        signer: None,
        checked: 0,
        problems: Vec::new(),
    };
    let mut clean = empty_report();
    crate::release::verify::check_release_json(&release, &names, &sums, &mut clean);
    assert_eq!(clean.problems, Vec::<String>::new(), "the seed verifies");
    let seeds = vec![(crate::release::RELEASE_JSON.to_string(), seed)];
    fuzz("release.json on verify", &seeds, |origin, input| {
        std::fs::write(release.join(origin), input).unwrap();
        let mut report = empty_report();
        crate::release::verify::check_release_json(&release, &names, &sums, &mut report);
        for problem in &report.problems {
            assert!(
                problem.contains(crate::release::RELEASE_JSON)
                    || problem.contains(crate::release::NOTES)
                    || problem.contains(crate::release::VEX),
                "{problem} does not say where"
            );
            if problem.contains("is not JSON") {
                assert!(problem.contains(" line "), "{problem} has no line");
            }
        }
    });
}
