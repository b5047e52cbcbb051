//! `cargo xtask build` against fixture forks whose build scripts behave like the real ones.

use std::path::Path;

use xtask::fixtures::official_build as fixture;
use xtask::official_build::{build, Arch, Manifest, Options, Os};

fn options(os: Os, dry_run: bool) -> Options {
    Options {
        os,
        arch: Arch::X64,
        repos: Vec::new(),
        build_id: Some("20250114.3".parse().unwrap()),
        dry_run,
        quiet: true,
    }
}

fn cargo_xtask(dir: &Path, args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .output()
        .unwrap()
}

#[test]
fn dry_run_prints_the_exact_command_lines_for_both_oses() {
    let tmp = tempfile::tempdir().unwrap();
    let f = fixture::create(tmp.path()).unwrap();
    let config = f.load_config().unwrap();
    let linux = build(&config, &options(Os::Linux, true)).unwrap();
    assert_eq!(linux.rid, "linux-x64");
    assert_eq!(
        linux.repos[0].command.join(" "),
        "./build.sh -subset clr+libs+host+packs -c Release -arch x64 -ci /p:OfficialBuildId=20250114.3"
    );
    assert_eq!(
        linux.repos[1].command.join(" "),
        "./eng/build.sh -c Release -arch x64 -ci -pack -all --no-build-java -p:OnlyPackPlatformSpecificPackages=true -p:OfficialBuildId=20250114.3"
    );
    assert_eq!(
        linux.repos[0].feeds.removed,
        [
            "darc-int-dotnet-runtime-bca7acb",
            "darc-int-dotnet-emsdk-2bd0ca1"
        ]
    );

    let out = cargo_xtask(
        tmp.path(),
        &[
            "build",
            "--os",
            "windows",
            "--arch",
            "x64",
            "--dry-run",
            "--official-build-id",
            "20250114.3",
        ],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("would build 6.0.36 for win-x64, OfficialBuildId 20250114.3"),
        "{stdout}"
    );
    assert!(stdout.contains("  build.cmd -subset clr+libs+host+packs -c Release -arch x64 -ci /p:OfficialBuildId=20250114.3\n"), "{stdout}");
    assert!(stdout.contains(r"  eng\build.cmd -c Release -arch x64 -ci -pack -all --no-build-java -p:OnlyPackPlatformSpecificPackages=true -p:OfficialBuildId=20250114.3"), "{stdout}");
    // cmd.exe lines, not POSIX ones.
    assert!(
        stdout.contains("  set DOTNET_CLI_TELEMETRY_OPTOUT=1\n"),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!("  cd /d {}\n", f.runtime.display())),
        "{stdout}"
    );
    // The desktop repositories build on Windows only.
    let out = cargo_xtask(
        tmp.path(),
        &["build", "--os", "linux", "--dry-run", "--repo", "wpf"],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr)
        .contains("cannot build `wpf` for linux-x64: the build knows runtime, aspnetcore"));
    // A dry run changes nothing.
    assert!(std::fs::read_to_string(f.runtime.join("NuGet.config"))
        .unwrap()
        .contains("darc-int-"));
    assert!(!f.runtime.join("artifacts").exists());
}

#[test]
fn build_ids_must_follow_microsofts() {
    let tmp = tempfile::tempdir().unwrap();
    let f = fixture::create(tmp.path()).unwrap();
    let out = cargo_xtask(
        tmp.path(),
        &[
            "build",
            "--os",
            "linux",
            "--dry-run",
            "--official-build-id",
            "20241014.21",
        ],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr)
        .contains("not later than Microsoft's last 6.0 build (20241014.21)"));
    // Without an explicit id, today's date and a counter that rises with each build.
    let config = f.load_config().unwrap();
    let mut o = options(Os::Linux, false);
    o.build_id = None;
    let first = build(&config, &o).unwrap();
    let second = build(&config, &o).unwrap();
    let (d1, r1) = first.official_build_id.split_once('.').unwrap();
    let (d2, r2) = second.official_build_id.split_once('.').unwrap();
    assert_eq!(d1, d2);
    assert_eq!(r2.parse::<u32>().unwrap(), r1.parse::<u32>().unwrap() + 1);
    assert!(d1 > "20241014");
}

#[test]
fn a_successful_build_replaces_internal_feeds_and_collects_the_artifacts() {
    let tmp = tempfile::tempdir().unwrap();
    let f = fixture::create(tmp.path()).unwrap();
    let config = f.load_config().unwrap();
    let original = std::fs::read_to_string(f.runtime.join("NuGet.config")).unwrap();
    let report = build(&config, &options(Os::Linux, false)).unwrap();
    assert!(report.succeeded, "{report:#?}");
    assert!(report.repos.iter().all(|r| r.status == "succeeded"));

    // The fixture build fails while darc-int feeds remain, so success proves they were replaced
    // during the build; afterwards the fork is as it was found, so `bump` does not refuse it.
    assert!(!report.repos[0].feeds.removed.is_empty(), "{report:#?}");
    let nuget = std::fs::read_to_string(f.runtime.join("NuGet.config")).unwrap();
    assert_eq!(nuget, original);
    let status = std::process::Command::new("git")
        .args(["status", "--porcelain", "--untracked-files=no"])
        .current_dir(&f.runtime)
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&status.stdout),
        "",
        "the fork is left clean"
    );
    let bump = cargo_xtask(tmp.path(), &["bump", "--dry-run"]);
    assert_eq!(
        bump.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&bump.stderr)
    );

    let log = std::fs::read_to_string(&report.repos[0].log).unwrap();
    assert!(
        log.contains("OfficialBuildId 20250114.3") && log.contains("Build succeeded."),
        "{log}"
    );

    let dir = tmp.path().join("artifacts/els/6.0.36/linux-x64");
    let manifest: Manifest =
        serde_json::from_str(&std::fs::read_to_string(dir.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest.official_build_id, "20250114.3");
    let names: Vec<&str> = manifest.files.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "Microsoft.NETCore.App.Host.linux-x64.6.0.36.nupkg",
            "Microsoft.NETCore.App.Ref.6.0.36.nupkg",
            "Microsoft.NETCore.App.Runtime.linux-x64.6.0.36.nupkg",
            "dotnet-runtime-6.0.36-linux-x64.tar.gz",
            "Microsoft.AspNetCore.App.Runtime.linux-x64.6.0.36.nupkg",
            "aspnetcore-runtime-6.0.36-linux-x64.tar.gz",
        ]
    );
    for file in &manifest.files {
        let bytes = std::fs::read(dir.join(&file.name)).unwrap();
        assert_eq!(file.size, bytes.len() as u64);
        assert_eq!(file.sha512, xtask::official_build::sha512_hex(&bytes));
    }
    // The manifest's hash is the one sha512sum computes.
    let sum = std::process::Command::new("sha512sum")
        .arg(dir.join("dotnet-runtime-6.0.36-linux-x64.tar.gz"))
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&sum.stdout).starts_with(&manifest.files[3].sha512));
}

#[test]
fn a_failing_build_reports_the_error_lines_and_the_log() {
    let tmp = tempfile::tempdir().unwrap();
    fixture::create(tmp.path()).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args([
            "build",
            "--os",
            "linux",
            "--official-build-id",
            "20250114.3",
        ])
        .current_dir(tmp.path())
        .env("NO_COLOR", "1")
        .env("ELS_FIXTURE_FAIL", "1")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
    let log = tmp
        .path()
        .join("artifacts/els/logs/runtime-linux-x64-20250114.3.log");
    assert!(
        stderr.contains(&format!(
            "the runtime build failed; last error lines of {}:",
            log.display()
        )),
        "{stderr}"
    );
    assert!(
        stderr.contains("error CS0103: The name 'fixture' does not exist"),
        "{stderr}"
    );
    assert!(stdout.contains("aspnetcore [skipped]"), "{stdout}");
    assert!(!tmp.path().join("artifacts/els/6.0.36").exists());
}

#[test]
fn a_missing_expected_artifact_fails_the_build() {
    let tmp = tempfile::tempdir().unwrap();
    fixture::create(tmp.path()).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args([
            "build",
            "--os",
            "linux",
            "--official-build-id",
            "20250114.3",
            "--json",
        ])
        .current_dir(tmp.path())
        .env(
            "ELS_FIXTURE_SKIP",
            "Microsoft.NETCore.App.Host.linux-x64.6.0.36.nupkg",
        )
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["succeeded"], false);
    let missing = report["missing_artifacts"].as_array().unwrap();
    assert_eq!(missing.len(), 1);
    assert!(missing[0].as_str().unwrap().ends_with(
        "artifacts/packages/Release/Shipping/Microsoft.NETCore.App.Host.linux-x64.6.0.36.nupkg"
    ));
}

#[test]
fn missing_prerequisites_are_named_with_what_to_install() {
    let tmp = tempfile::tempdir().unwrap();
    let f = fixture::create(tmp.path()).unwrap();
    let toml = std::fs::read_to_string(&f.config)
        .unwrap()
        .replace("\"python3\"]", "\"python3\", \"els-no-such-tool\"]");
    std::fs::write(&f.config, toml).unwrap();
    let err = build(&f.load_config().unwrap(), &options(Os::Linux, false)).unwrap_err();
    assert!(
        format!("{err}").contains("the build needs els-no-such-tool on PATH; install them"),
        "{err}"
    );
    let err = build(&f.load_config().unwrap(), &options(Os::Windows, false)).unwrap_err();
    assert!(format!("{err}").contains("--dry-run"), "{err}");
}

#[test]
fn the_windows_plan_builds_the_desktop_runtime_on_the_forks_packages() {
    let tmp = tempfile::tempdir().unwrap();
    let f = fixture::create(tmp.path()).unwrap();
    let report = build(&f.load_config().unwrap(), &options(Os::Windows, true)).unwrap();
    let names: Vec<&str> = report.repos.iter().map(|r| r.repo.as_str()).collect();
    assert_eq!(
        names,
        ["runtime", "aspnetcore", "winforms", "wpf", "windowsdesktop"]
    );
    let arcade = "build.cmd -restore -build -pack -ci -configuration Release -platform x64 /p:OfficialBuildId=20250114.3";
    // Build 20250114.3 versions the transport packages 6.0.36-servicing.25064.3; wpf and
    // windowsdesktop restore them from the earlier repositories' package folders.
    let nonshipping = |dir: &Path| {
        dir.join("artifacts/packages/Release/NonShipping")
            .display()
            .to_string()
    };
    let expected = [
        (&f.winforms, arcade.to_string()),
        (
            &f.wpf,
            format!(
                "{arcade} /p:MicrosoftPrivateWinformsVersion=6.0.36-servicing.25064.3 /p:RestoreAdditionalProjectSources={}",
                nonshipping(&f.winforms)
            ),
        ),
        (
            &f.windowsdesktop,
            format!(
                "{arcade} /p:MicrosoftPrivateWinformsPackageVersion=6.0.36-servicing.25064.3 /p:MicrosoftDotNetWpfGitHubPackageVersion=6.0.36-servicing.25064.3 /p:RestoreAdditionalProjectSources={}%3B{}",
                nonshipping(&f.winforms),
                nonshipping(&f.wpf)
            ),
        ),
    ];
    for (b, (dir, command)) in report.repos[2..].iter().zip(expected) {
        assert_eq!(&b.dir, dir);
        assert_eq!(b.command.join(" "), command);
        // The same feed handling as runtime and aspnetcore: Microsoft's internal feeds go, the
        // fork's feed comes in (its runtime packages).
        assert_eq!(
            b.feeds.removed,
            [
                "darc-int-dotnet-runtime-bca7acb",
                "darc-int-dotnet-emsdk-2bd0ca1"
            ]
        );
        assert_eq!(
            b.feeds.added.as_deref(),
            Some("https://pkgs.example.org/net6-els/nuget/v3/index.json")
        );
    }

    // After a bump the desktop repositories consume the fork's 6.0.37 runtime and transport
    // packages; the CLI prints cmd.exe lines for all five.
    xtask::bump::bump(&f.load_config().unwrap(), &Default::default()).unwrap();
    let out = cargo_xtask(
        tmp.path(),
        &[
            "build",
            "--os",
            "windows",
            "--dry-run",
            "--official-build-id",
            "20250114.3",
        ],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    let mut at = 0;
    for (repo, dir) in [
        ("runtime", &f.runtime),
        ("aspnetcore", &f.aspnetcore),
        ("winforms", &f.winforms),
        ("wpf", &f.wpf),
        ("windowsdesktop", &f.windowsdesktop),
    ] {
        let line = format!("{repo} [planned]\n  cd /d {}\n", dir.display());
        let found = stdout[at..]
            .find(&line)
            .unwrap_or_else(|| panic!("{repo} not planned in order:\n{stdout}"));
        at += found + line.len();
    }
    assert!(
        stdout.contains("would build 6.0.37 for win-x64")
            && stdout.contains("/p:MicrosoftPrivateWinformsVersion=6.0.37-servicing.25064.3 "),
        "{stdout}"
    );
    for dir in [&f.winforms, &f.wpf, &f.windowsdesktop] {
        assert!(std::fs::read_to_string(dir.join("NuGet.config"))
            .unwrap()
            .contains("darc-int-"));
    }
}
