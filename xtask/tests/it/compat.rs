//! The compat runner on real runtimes: the corpus compiled with Mono's `mcs`, run on CoreCLR
//! 8.0.4 and 3.1.23 (installed and verified by `testenv`, as `cargo xtask test` does).

use crate::support;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use xtask::compat::manifest::{self, App, Selection, Shard};
use xtask::compat::report::{Report, Role, Status};
use xtask::compat::{build, run, runtime, testenv, Options};

use support::{target, workspace};

struct Setup {
    runtimes: testenv::TestRuntimes,
    corpus: Vec<App>,
    prebuilt: PathBuf,
    fixtures: Vec<App>,
    fixtures_prebuilt: PathBuf,
}

/// Installs (or reuses) the real runtimes and compiles the corpus and the fixtures once.
fn setup() -> &'static Setup {
    static SETUP: OnceLock<Setup> = OnceLock::new();
    SETUP.get_or_init(|| {
        let runtimes =
            testenv::from_env_or_ensure(&testenv::cache_dir(&target())).unwrap_or_else(|e| {
                panic!(
                    "the compat tests need the real test runtimes and could not set them up: {e:#}"
                )
            });
        let mcs = build::Mcs {
            mcs: runtimes.mcs.clone(),
            reference_framework: runtimes.reference_framework(),
        };
        let corpus = manifest::load_corpus(&workspace().join("test-apps")).unwrap();
        let prebuilt = build::mcs_corpus(&corpus, &mcs, &target().join("compat-test/prebuilt"), 2)
            .unwrap()
            .dir;
        let fixtures =
            manifest::load_corpus(&workspace().join("xtask/tests/fixtures/compat-apps")).unwrap();
        let fixtures_prebuilt =
            build::mcs_corpus(&fixtures, &mcs, &target().join("compat-test/fixtures"), 2)
                .unwrap()
                .dir;
        Setup {
            runtimes,
            corpus,
            prebuilt,
            fixtures,
            fixtures_prebuilt,
        }
    })
}

fn rt(version: &str) -> runtime::Runtime {
    let s = setup();
    runtime::resolve(
        &format!("{}@{version}", s.runtimes.dotnet_root.display()),
        &target().join("compat-test/runtimes"),
    )
    .unwrap()
}

fn options(apps: Vec<App>, binaries: &Path, candidate: &str, baseline: Option<&str>) -> Options {
    Options {
        apps,
        candidate: rt(candidate),
        baseline: baseline.map(rt),
        binaries: binaries.to_path_buf(),
        work_dir: target().join("compat-test/runs"),
        jobs: 2,
        extra_env: setup().runtimes.env.clone(),
        bless: false,
        quiet: true,
    }
}

fn case<'a>(report: &'a Report, app: &str, role: Role) -> &'a xtask::compat::report::Case {
    report
        .cases
        .iter()
        .find(|c| c.app == app && c.role == role)
        .unwrap_or_else(|| panic!("no case for {app} {role}"))
}

#[test]
fn same_runtime_as_baseline_and_candidate_passes_every_runnable_app() {
    let s = setup();
    let report = xtask::compat::run(&options(
        s.corpus.clone(),
        &s.prebuilt,
        testenv::CURRENT,
        Some(testenv::CURRENT),
    ))
    .unwrap();
    let failures: Vec<String> = report
        .failures()
        .map(|c| format!("{} {}: {}", c.app, c.role, c.problems.join("\n")))
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    assert_eq!(report.cases.len(), s.corpus.len() * 2);
    let kestrel = case(&report, "web-api-kestrel", Role::Candidate);
    assert_eq!(kestrel.status, Status::Skipped);
    let expected = format!(
        "framework Microsoft.AspNetCore.App not present in {}",
        rt(testenv::CURRENT).root.display()
    );
    assert_eq!(kestrel.skip_reason.as_deref(), Some(expected.as_str()));
    let signed = case(&report, "signed-xml", Role::Candidate);
    assert!(signed
        .skip_reason
        .as_deref()
        .unwrap()
        .starts_with("package System.Security.Cryptography.Xml missing"));
    let passed = report
        .cases
        .iter()
        .filter(|c| c.status == Status::Passed)
        .count();
    assert_eq!(
        passed,
        (s.corpus.len() - 2) * 2,
        "every other app passes on both sides"
    );
    // The web app was really driven: its golden holds the answers to the manifest's requests.
    let golden =
        std::fs::read_to_string(workspace().join("test-apps/web-httplistener/expected.txt"))
            .unwrap();
    assert!(golden.contains("> GET /api/invoices/7\n< 200\n{\"id\":7,\"total\":87.5"));
    let junit = report.junit();
    assert_eq!(junit.matches("<testcase ").count(), s.corpus.len() * 2);
    assert_eq!(junit.matches("<skipped ").count(), 4);
}

#[test]
fn the_command_line_prints_one_report_that_follows_its_schema() {
    // As the compat job runs it: a shard of the prebuilt corpus, candidate and baseline given as
    // ROOT@VERSION; `support::xtask` validates the --json output against schemas/compat.schema.json.
    let s = setup();
    let root = s.runtimes.dotnet_root.display().to_string();
    let current = format!("{root}@{}", testenv::CURRENT);
    let work = target().join("compat-test/cli");
    let mut args: Vec<String> = [
        "compat",
        "--candidate",
        &current,
        "--baseline",
        &current,
        "--prebuilt",
        s.prebuilt.to_str().unwrap(),
        "--only",
        "csv-import,timezones",
        "--work-dir",
        work.to_str().unwrap(),
        "--json",
    ]
    .map(String::from)
    .to_vec();
    for (k, v) in &s.runtimes.env {
        args.extend(["--env".into(), format!("{k}={v}")]);
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = support::xtask(&workspace(), &args, &[]);
    assert_eq!(support::code(&out), 0, "{}", support::stderr(&out));
    let report = support::json(&out);
    let cases = report["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 4, "{report:#}");
    assert!(cases.iter().all(|c| c["status"] == "passed"), "{report:#}");
}

#[test]
fn older_baseline_shows_real_behaviour_differences_with_readable_diffs() {
    let s = setup();
    let report = xtask::compat::run(&options(
        s.corpus.clone(),
        &s.prebuilt,
        testenv::CURRENT,
        Some(testenv::OLDER),
    ))
    .unwrap();
    let failed: Vec<&str> = report
        .failures()
        .filter(|c| c.role == Role::Candidate)
        .map(|c| c.app.as_str())
        .collect();
    assert_eq!(
        failed,
        ["csv-import", "json-dtos", "smtp-mail", "timezones"]
    );
    let problems = |app: &str| case(&report, app, Role::Candidate).problems.join("\n");
    let csv = problems("csv-import");
    assert!(
        csv.contains("behaviour differs from the baseline 3.1.23"),
        "{csv}"
    );
    assert!(
        csv.contains("\n-IndexOf(\"\\n\") culture=-1 ordinal=6\n"),
        "{csv}"
    );
    assert!(
        csv.contains("\n+IndexOf(\"\\n\") culture=6 ordinal=6\n"),
        "{csv}"
    );
    let json = problems("json-dtos");
    assert!(json.contains("-payment terms after round trip: 00:00:00\n-int-keyed dictionary: NotSupportedException"), "{json}");
    let tz = problems("timezones");
    // 8.0 puts a narrow no-break space before PM; the diff spells it out.
    assert!(
        tz.contains("-en-US  short=2/29/2024 | long=Thursday, February 29, 2024 | time=1:05PM"),
        "{tz}"
    );
    assert!(tz.contains("time=1:05<U+202F>PM"), "{tz}");
    assert!(
        tz.contains("+windows id W. Europe Standard Time -> W. Europe Standard Time"),
        "{tz}"
    );
    // Apps whose behaviour is the same on both pass on both; crypto cannot run on 3.1 here.
    for app in ["invoicing", "regex-timeouts", "zip-archives"] {
        assert_eq!(
            case(&report, app, Role::Candidate).status,
            Status::Passed,
            "{app}"
        );
        assert_eq!(
            case(&report, app, Role::Baseline).status,
            Status::Passed,
            "{app}"
        );
    }
    let crypto = case(&report, "crypto", Role::Baseline);
    assert_eq!(crypto.status, Status::Skipped);
    assert!(crypto
        .skip_reason
        .as_deref()
        .unwrap()
        .contains("OpenSSL 1.1"));
    let baseline_json = case(&report, "json-dtos", Role::Baseline)
        .problems
        .join("\n");
    assert!(
        baseline_json.starts_with("output differs from the golden file"),
        "{baseline_json}"
    );
    let markdown = report.markdown();
    assert!(markdown.contains("<summary>csv-import on candidate 8.0.4</summary>"));
    let json: serde_json::Value = serde_json::to_value(&report).unwrap();
    assert_eq!(json["cases"].as_array().unwrap().len(), s.corpus.len() * 2);
}

#[test]
fn hanging_app_is_killed_at_its_timeout_with_its_children() {
    let s = setup();
    let app = s.fixtures.iter().find(|a| a.name == "hang").unwrap();
    let ctx = run::RunContext {
        binaries: &s.fixtures_prebuilt,
        work_dir: &target().join("compat-test/runs"),
        extra_env: &s.runtimes.env,
    };
    let out = run::run_app(app, &rt(testenv::CURRENT), &ctx).unwrap();
    assert!(out.timed_out);
    assert!(out.duration.as_secs() >= 3, "ran {:?}", out.duration);
    assert_eq!(out.exit_code, 128 + libc::SIGKILL);
    let pid: u32 = out
        .output
        .trim()
        .strip_prefix("child ")
        .unwrap_or_else(|| panic!("output: {}", out.output))
        .parse()
        .unwrap();
    // The `sleep` the app started must be gone (or at most an unreaped zombie), not running.
    std::thread::sleep(std::time::Duration::from_millis(200));
    let state = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok();
    let alive = state.as_deref().is_some_and(|s| {
        !s.rsplit(')')
            .next()
            .unwrap_or("")
            .trim_start()
            .starts_with('Z')
    });
    assert!(!alive, "child {pid} survived: {state:?}");

    let report = xtask::compat::run(&options(
        vec![app.clone()],
        &s.fixtures_prebuilt,
        testenv::CURRENT,
        None,
    ))
    .unwrap();
    assert!(case(&report, "hang", Role::Candidate).problems[0]
        .starts_with("timed out after 3 s; its whole process group was killed"));
}

#[test]
fn crashing_app_is_reported_with_exit_code_and_stderr_tail() {
    let s = setup();
    let app = s
        .fixtures
        .iter()
        .find(|a| a.name == "crash")
        .unwrap()
        .clone();
    let report = xtask::compat::run(&options(
        vec![app],
        &s.fixtures_prebuilt,
        testenv::CURRENT,
        None,
    ))
    .unwrap();
    let c = case(&report, "crash", Role::Candidate);
    assert_eq!(c.status, Status::Failed);
    assert_eq!(c.exit_code, Some(134));
    let p = &c.problems[0];
    assert!(
        p.starts_with("exited with code 134 (expected 0)\nstderr (last lines):"),
        "{p}"
    );
    assert!(
        p.contains("System.InvalidOperationException: ledger out of balance by 0.01"),
        "{p}"
    );
    let table = report.table(&|s, _| s.to_string(), None);
    assert!(
        table.lines().any(|l| l.split_whitespace().take(4).eq([
            "crash",
            "candidate",
            "8.0.4",
            "FAIL"
        ])),
        "{table}"
    );
}

#[test]
fn web_app_request_checks_fail_when_the_answer_is_wrong() {
    let s = setup();
    let mut app = s
        .corpus
        .iter()
        .find(|a| a.name == "web-httplistener")
        .unwrap()
        .clone();
    let web = app.manifest.web.as_mut().unwrap();
    web.requests[0].status = 503;
    web.requests[1].body_contains = Some("\"total\":88".to_string());
    let report =
        xtask::compat::run(&options(vec![app], &s.prebuilt, testenv::CURRENT, None)).unwrap();
    let problems = case(&report, "web-httplistener", Role::Candidate)
        .problems
        .join("\n");
    assert!(
        problems.contains("GET /health answered 200 (expected 503)"),
        "{problems}"
    );
    assert!(
        problems.contains("GET /api/invoices/7: body does not contain `\"total\":88`"),
        "{problems}"
    );
}

#[test]
fn shards_partition_the_corpus_exactly() {
    let corpus = manifest::load_corpus(&workspace().join("test-apps")).unwrap();
    assert!(corpus.len() >= 14);
    for count in 1..=5 {
        let mut seen = Vec::new();
        for index in 1..=count {
            let sel = Selection {
                shard: Some(Shard { index, count }),
                ..Selection::default()
            };
            let part: Vec<String> = sel
                .apply(corpus.clone())
                .unwrap()
                .into_iter()
                .map(|a| a.name)
                .collect();
            assert!(
                part.len() >= corpus.len() / count && part.len() <= corpus.len().div_ceil(count)
            );
            seen.extend(part);
        }
        seen.sort();
        let all: Vec<String> = corpus.iter().map(|a| a.name.clone()).collect();
        assert_eq!(seen, all, "{count} shards");
    }
    for bad in ["0/3", "4/3", "1/0", "x", "1-2"] {
        let err = bad.parse::<Shard>().unwrap_err().to_string();
        assert!(err.contains("INDEX/COUNT"), "{bad}: {err}");
    }
}

#[test]
fn affected_by_selects_the_apps_covering_a_changed_component() {
    let corpus = manifest::load_corpus(&workspace().join("test-apps")).unwrap();
    let select = |paths: &[&str]| -> Vec<String> {
        let sel = Selection {
            affected_by: paths.iter().map(|p| p.to_string()).collect(),
            ..Selection::default()
        };
        sel.apply(corpus.clone())
            .unwrap()
            .into_iter()
            .map(|a| a.name)
            .collect()
    };
    assert_eq!(
        select(&[
            "src/libraries/System.Text.Json/src/System/Text/Json/Serialization/JsonSerializer.cs"
        ]),
        ["json-dtos"]
    );
    assert_eq!(
        select(&["src/libraries/System.Net.Mail/src/System/Net/Mail/SmtpClient.cs"]),
        ["smtp-mail"]
    );
    assert_eq!(
        select(&["src/coreclr/vm/jitinterface.cpp"]).len(),
        corpus.len()
    );
    assert!(select(&["docs/README.md"]).is_empty());
    let err = Selection {
        only: vec!["nope".into()],
        ..Selection::default()
    }
    .apply(corpus)
    .unwrap_err()
    .to_string();
    assert!(err.contains("unknown app `nope`"), "{err}");
}

#[test]
fn bad_input_gets_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let app_dir = dir.path().join("broken");
    std::fs::create_dir_all(&app_dir).unwrap();
    std::fs::write(
        app_dir.join("app.toml"),
        "description = \"x\"\ntimeout-secs = \"soon\"\n",
    )
    .unwrap();
    let err = format!("{:#}", manifest::load_corpus(dir.path()).unwrap_err());
    assert!(
        err.contains(&format!("{}:2", app_dir.join("app.toml").display())),
        "{err}"
    );
    std::fs::write(
        app_dir.join("app.toml"),
        "description = \"x\"\nframeworks = [\"Microsoft.AspNetCore.App\"]\n",
    )
    .unwrap();
    let err = format!("{:#}", manifest::load_corpus(dir.path()).unwrap_err());
    assert!(err.contains("must include Microsoft.NETCore.App"), "{err}");

    // A missing golden file is refused before anything runs.
    let s = setup();
    let mut app = s
        .corpus
        .iter()
        .find(|a| a.name == "invoicing")
        .unwrap()
        .clone();
    app.manifest.golden = PathBuf::from("missing.txt");
    let err = format!(
        "{:#}",
        xtask::compat::run(&options(vec![app], &s.prebuilt, testenv::CURRENT, None)).unwrap_err()
    );
    assert!(
        err.contains("has no golden file") && err.contains("missing.txt"),
        "{err}"
    );

    let unpack = dir.path().join("unpack");
    let err = format!(
        "{:#}",
        runtime::resolve("/no/such/dotnet", &unpack).unwrap_err()
    );
    assert!(
        err.contains("unknown runtime path /no/such/dotnet"),
        "{err}"
    );
    let err = format!(
        "{:#}",
        runtime::resolve(
            &format!("{}@6.0.36", s.runtimes.dotnet_root.display()),
            &unpack
        )
        .unwrap_err()
    );
    assert!(
        err.contains("has no Microsoft.NETCore.App 6.0.36 (it has 3.1.23, 8.0.4)"),
        "{err}"
    );
    let err = format!(
        "{:#}",
        runtime::resolve(&s.runtimes.dotnet_root.display().to_string(), &unpack).unwrap_err()
    );
    assert!(err.contains("pick one with"), "{err}");

    // An archive that is not a runtime: a real gzip'd tar of a source tree.
    let archive = dir.path().join("dotnet-runtime-6.0.37-linux-x64.tar.gz");
    let file = std::fs::File::create(&archive).unwrap();
    let mut tar = tar::Builder::new(flate2::write::GzEncoder::new(
        file,
        flate2::Compression::fast(),
    ));
    tar.append_dir_all("test-apps", workspace().join("test-apps/invoicing"))
        .unwrap();
    tar.into_inner().unwrap().finish().unwrap();
    let err = format!(
        "{:#}",
        runtime::resolve(&archive.display().to_string(), &unpack).unwrap_err()
    );
    assert!(
        err.contains("is not a .NET runtime archive")
            && err.contains("dotnet-runtime-6.0.37-linux-x64.tar.gz"),
        "{err}"
    );
    assert_eq!(
        std::fs::read_dir(&unpack).unwrap().count(),
        0,
        "nothing half-unpacked is left"
    );
    let garbage = dir.path().join("runtime.zip");
    std::fs::write(&garbage, b"not a zip").unwrap();
    let err = format!(
        "{:#}",
        runtime::resolve(&garbage.display().to_string(), &unpack).unwrap_err()
    );
    assert!(
        err.contains("runtime.zip is not a readable runtime archive"),
        "{err}"
    );
}
