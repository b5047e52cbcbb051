//! `cargo xtask bump` against fixture forks: exactly the intended bytes change, and each bad input
//! is refused with the file and line, leaving the repositories untouched.

use std::path::Path;

use xtask::bump::{bump, Options};
use xtask::fixtures::official_build as fixture;

use crate::support;
use support::git;

fn commit_all(dir: &Path, msg: &str) {
    git(
        dir,
        &[
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@example.com",
            "commit",
            "-qam",
            msg,
        ],
    );
}

/// Every byte outside the changed values is identical: removing the new values from the new
/// file and the old values from the old file yields the same bytes.
fn assert_only_values_changed(old: &[u8], new: &[u8], pairs: &[(&str, &str)]) {
    let mut a = String::from_utf8_lossy(old).into_owned();
    let mut b = String::from_utf8_lossy(new).into_owned();
    for (o, n) in pairs {
        a = a
            .replace(&format!(">{o}<"), "><")
            .replace(&format!("\"{o}\""), "\"\"");
        b = b
            .replace(&format!(">{n}<"), "><")
            .replace(&format!("\"{n}\""), "\"\"");
    }
    assert_eq!(a, b);
    assert_eq!(
        old.starts_with(b"\xEF\xBB\xBF"),
        new.starts_with(b"\xEF\xBB\xBF")
    );
}

#[test]
fn bump_changes_exactly_the_version_values_and_commits() {
    let tmp = tempfile::tempdir().unwrap();
    let f = fixture::create(tmp.path()).unwrap();
    // The real file's quirks: a BOM and CRLF line endings must survive.
    let props = f.runtime.join("eng/Versions.props");
    let crlf = xtask::fixtures::files::versions_props(6, 0, 36).replace('\n', "\r\n");
    std::fs::write(
        &props,
        [b"\xEF\xBB\xBF".as_slice(), crlf.as_bytes()].concat(),
    )
    .unwrap();
    commit_all(&f.runtime, "CRLF and BOM like the real file");
    let config = f.load_config().unwrap();
    let before_props = std::fs::read(&props).unwrap();
    let csproj = f.runtime.join("src/libraries/System.Security.Cryptography.Xml/src/System.Security.Cryptography.Xml.csproj");
    let before_csproj = std::fs::read(&csproj).unwrap();
    let before_baseline = std::fs::read(f.aspnetcore.join("eng/Baseline.xml")).unwrap();
    let before_designer = std::fs::read(f.aspnetcore.join("eng/Baseline.Designer.props")).unwrap();

    let report = bump(&config, &Options::default()).unwrap();
    assert_eq!(
        (report.from.as_str(), report.to.as_str()),
        ("6.0.36", "6.0.37")
    );

    let after = std::fs::read(&props).unwrap();
    assert_only_values_changed(&before_props, &after, &[("6.0.36", "6.0.37"), ("36", "37")]);
    assert!(String::from_utf8_lossy(&after).contains("<ProductVersion>6.0.37</ProductVersion>\r\n"));
    assert!(String::from_utf8_lossy(&after).contains("<PatchVersion>37</PatchVersion>"));
    // Only the out-of-band package whose sources a queued fix touched is serviced.
    let after_csproj = std::fs::read(&csproj).unwrap();
    let expected = String::from_utf8(before_csproj)
        .unwrap()
        .replace(
            "<GeneratePackageOnBuild>false<",
            "<GeneratePackageOnBuild>true<",
        )
        .replace("<ServicingVersion>1<", "<ServicingVersion>1.1<");
    assert_eq!(String::from_utf8(after_csproj).unwrap(), expected);
    let after_baseline = std::fs::read(f.aspnetcore.join("eng/Baseline.xml")).unwrap();
    assert_only_values_changed(&before_baseline, &after_baseline, &[("6.0.35", "6.0.36")]);
    assert!(!String::from_utf8_lossy(&after_baseline).contains("6.0.35"));
    let after_designer = std::fs::read(f.aspnetcore.join("eng/Baseline.Designer.props")).unwrap();
    assert_only_values_changed(&before_designer, &after_designer, &[("6.0.35", "6.0.36")]);
    let aspnet_props = std::fs::read_to_string(f.aspnetcore.join("eng/Versions.props")).unwrap();
    assert!(aspnet_props.contains("<AspNetCorePatchVersion>37</AspNetCorePatchVersion>"));

    for repo in [&f.runtime, &f.aspnetcore] {
        assert_eq!(
            git(repo, &["log", "-1", "--format=%s"]).trim(),
            "Update branding to 6.0.37"
        );
        assert_eq!(git(repo, &["status", "--porcelain"]), "");
    }
    let changed = git(&f.runtime, &["show", "--name-only", "--format=", "HEAD"]);
    let mut changed: Vec<&str> = changed.lines().collect();
    changed.sort();
    assert_eq!(changed, ["eng/Versions.props", "src/libraries/System.Security.Cryptography.Xml/src/System.Security.Cryptography.Xml.csproj"]);

    // The next bump sees no new source changes: the package is not serviced again.
    let second = bump(&config, &Options::default()).unwrap();
    assert_eq!(second.to, "6.0.38");
    let runtime = second.repos.iter().find(|r| r.repo == "runtime").unwrap();
    assert!(
        runtime
            .changes
            .iter()
            .all(|c| c.file == "eng/Versions.props"),
        "{:?}",
        runtime.changes
    );
}

#[test]
fn dry_run_reports_without_writing() {
    let tmp = tempfile::tempdir().unwrap();
    let f = fixture::create(tmp.path()).unwrap();
    let head = git(&f.runtime, &["rev-parse", "HEAD"]);
    let report = bump(
        &f.load_config().unwrap(),
        &Options {
            to: Some("6.0.40".parse().unwrap()),
            dry_run: true,
        },
    )
    .unwrap();
    assert_eq!(report.to, "6.0.40");
    let runtime = &report.repos[0];
    assert!(runtime.commit.is_none());
    let product = runtime
        .changes
        .iter()
        .find(|c| c.name == "ProductVersion")
        .unwrap();
    assert_eq!(
        (product.line, product.old.as_str(), product.new.as_str()),
        (3, "6.0.36", "6.0.40")
    );
    assert_eq!(git(&f.runtime, &["rev-parse", "HEAD"]), head);
    assert_eq!(git(&f.runtime, &["status", "--porcelain"]), "");
}

/// Rewrites runtime's Versions.props, commits, runs bump and returns the error text; checks both
/// repositories are unchanged afterwards.
fn refusal(edit: impl Fn(String) -> String, to: Option<&str>) -> String {
    let tmp = tempfile::tempdir().unwrap();
    let f = fixture::create(tmp.path()).unwrap();
    let props = f.runtime.join("eng/Versions.props");
    std::fs::write(&props, edit(std::fs::read_to_string(&props).unwrap())).unwrap();
    if !git(&f.runtime, &["status", "--porcelain"]).is_empty() {
        commit_all(&f.runtime, "edit");
    }
    let heads = (
        git(&f.runtime, &["rev-parse", "HEAD"]),
        git(&f.aspnetcore, &["rev-parse", "HEAD"]),
    );
    let err = bump(
        &f.load_config().unwrap(),
        &Options {
            to: to.map(|t| t.parse().unwrap()),
            dry_run: false,
        },
    )
    .unwrap_err();
    assert_eq!(
        heads,
        (
            git(&f.runtime, &["rev-parse", "HEAD"]),
            git(&f.aspnetcore, &["rev-parse", "HEAD"])
        )
    );
    assert_eq!(git(&f.runtime, &["status", "--porcelain"]), "");
    assert_eq!(git(&f.aspnetcore, &["status", "--porcelain"]), "");
    format!("{err:#}")
}

#[test]
fn refuses_a_missing_property() {
    let err = refusal(
        |s| s.replace("    <PatchVersion>36</PatchVersion>\n", ""),
        None,
    );
    assert!(
        err.contains("Versions.props") && err.contains("<PatchVersion> is missing"),
        "{err}"
    );
}

#[test]
fn refuses_an_unconditional_duplicate() {
    let err = refusal(
        |s| {
            s.replace(
                "<SdkBandVersion>",
                "<PatchVersion>36</PatchVersion>\n    <SdkBandVersion>",
            )
        },
        None,
    );
    assert!(
        err.contains("Versions.props:8") && err.contains("more than once (lines 7 and 8)"),
        "{err}"
    );
}

#[test]
fn a_conditional_duplicate_is_not_a_duplicate() {
    let tmp = tempfile::tempdir().unwrap();
    let f = fixture::create(tmp.path()).unwrap();
    let props = f.runtime.join("eng/Versions.props");
    let text = std::fs::read_to_string(&props).unwrap().replace(
        "<SdkBandVersion>",
        "<PatchVersion Condition=\"'$(DotNetBuildFromSource)' == 'true'\">0</PatchVersion>\n    <SdkBandVersion>",
    );
    std::fs::write(&props, text).unwrap();
    commit_all(&f.runtime, "conditional");
    bump(&f.load_config().unwrap(), &Options::default()).unwrap();
    let after = std::fs::read_to_string(&props).unwrap();
    assert!(
        after.contains("<PatchVersion>37</PatchVersion>")
            && after.contains("'true'\">0</PatchVersion>")
    );
}

#[test]
fn refuses_a_value_that_is_not_a_number() {
    let err = refusal(
        |s| s.replace("<PatchVersion>36<", "<PatchVersion>$(Patch)<"),
        None,
    );
    assert!(
        err.contains("Versions.props:7") && err.contains("not a number"),
        "{err}"
    );
}

#[test]
fn refuses_to_go_backwards_or_collide_with_microsoft() {
    let err = refusal(|s| s, Some("6.0.36"));
    assert!(err.contains("must go forward"), "{err}");
    let err = refusal(
        |s| s.replace("6.0.36", "6.0.30").replace(">36<", ">30<"),
        Some("6.0.35"),
    );
    assert!(err.contains("collides with Microsoft's"), "{err}");
    let err = refusal(|s| s, Some("7.0.1"));
    assert!(err.contains("stays on 6.0.x"), "{err}");
}

#[test]
fn refuses_a_dirty_worktree() {
    let tmp = tempfile::tempdir().unwrap();
    let f = fixture::create(tmp.path()).unwrap();
    std::fs::write(f.aspnetcore.join("notes.txt"), "work in progress").unwrap();
    let err = bump(&f.load_config().unwrap(), &Options::default()).unwrap_err();
    assert!(
        format!("{err:#}").contains("uncommitted changes"),
        "{err:#}"
    );
    assert!(
        std::fs::read_to_string(f.runtime.join("eng/Versions.props"))
            .unwrap()
            .contains("<ProductVersion>6.0.36<")
    );
}

#[test]
fn the_desktop_repositories_are_branded_and_consume_the_forks_runtime() {
    let tmp = tempfile::tempdir().unwrap();
    let f = fixture::create(tmp.path()).unwrap();
    let desktop = [&f.winforms, &f.wpf, &f.windowsdesktop];
    let before: Vec<(Vec<u8>, Vec<u8>)> = desktop
        .iter()
        .map(|d| {
            (
                std::fs::read(d.join("eng/Versions.props")).unwrap(),
                std::fs::read(d.join("eng/Version.Details.xml")).unwrap(),
            )
        })
        .collect();
    let report = bump(&f.load_config().unwrap(), &Options::default()).unwrap();
    let names: Vec<&str> = report.repos.iter().map(|r| r.repo.as_str()).collect();
    assert_eq!(
        names,
        ["runtime", "aspnetcore", "winforms", "wpf", "windowsdesktop"]
    );
    for (dir, (props, details)) in desktop.iter().zip(&before) {
        let after_props = std::fs::read(dir.join("eng/Versions.props")).unwrap();
        let after_details = std::fs::read(dir.join("eng/Version.Details.xml")).unwrap();
        // Exactly the branding and runtime's packages move; out-of-band packages (6.0.0), Arcade
        // and the transport packages of other desktop repositories keep their versions.
        assert_only_values_changed(props, &after_props, &[("36", "37"), ("6.0.36", "6.0.37")]);
        assert_only_values_changed(details, &after_details, &[("6.0.36", "6.0.37")]);
        let text = String::from_utf8(after_props).unwrap();
        assert!(text.contains("<PatchVersion>37</PatchVersion>"), "{text}");
        assert!(
            text.contains(">6.0.0</MicrosoftWin32SystemEvents"),
            "{text}"
        );
        let details = String::from_utf8(after_details).unwrap();
        assert!(
            details.contains("<Dependency Name=\"Microsoft.NETCore.App.Ref\" Version=\"6.0.37\">")
                && details.contains(
                    "<Dependency Name=\"Microsoft.NETCore.App.Runtime.win-x64\" Version=\"6.0.37\">"
                ),
            "{details}"
        );
        assert_eq!(
            git(dir, &["log", "-1", "--format=%s"]).trim(),
            "Update branding to 6.0.37"
        );
        assert_eq!(git(dir, &["status", "--porcelain"]), "");
    }
    let wpf = std::fs::read_to_string(f.wpf.join("eng/Versions.props")).unwrap();
    assert!(
        wpf.contains("<MicrosoftNETCoreAppRefVersion>6.0.37</MicrosoftNETCoreAppRefVersion>")
            && wpf.contains("<MicrosoftPrivateWinformsVersion>6.0.36-servicing.24516.4<"),
        "{wpf}"
    );
    let windowsdesktop = report
        .repos
        .iter()
        .find(|r| r.repo == "windowsdesktop")
        .unwrap();
    let changed: Vec<&str> = windowsdesktop
        .changes
        .iter()
        .map(|c| c.name.as_str())
        .collect();
    assert_eq!(
        changed,
        [
            "PatchVersion",
            "Dependency[Microsoft.NETCore.App.Ref]@Version",
            "MicrosoftNETCoreAppRefPackageVersion",
            "Dependency[Microsoft.NETCore.App.Runtime.win-x64]@Version",
            "MicrosoftNETCoreAppRuntimewinx64PackageVersion"
        ]
    );
}

#[test]
fn a_desktop_dependency_without_its_property_is_refused_and_nothing_changes() {
    let tmp = tempfile::tempdir().unwrap();
    let f = fixture::create(tmp.path()).unwrap();
    let props = f.wpf.join("eng/Versions.props");
    let text = std::fs::read_to_string(&props).unwrap().replace(
        "    <MicrosoftNETCoreAppRuntimewinx64Version>6.0.36</MicrosoftNETCoreAppRuntimewinx64Version>\n",
        "",
    );
    std::fs::write(&props, text).unwrap();
    commit_all(&f.wpf, "drop a property");
    let heads: Vec<String> = [&f.runtime, &f.aspnetcore, &f.winforms, &f.wpf]
        .iter()
        .map(|d| git(d, &["rev-parse", "HEAD"]))
        .collect();
    let err = format!(
        "{:#}",
        bump(&f.load_config().unwrap(), &Options::default()).unwrap_err()
    );
    assert!(
        err.contains("wpf/eng/Version.Details.xml:")
            && err.contains("Microsoft.NETCore.App.Runtime.win-x64 comes from dotnet-runtime")
            && err.contains("<MicrosoftNETCoreAppRuntimewinx64Version>"),
        "{err}"
    );
    let after: Vec<String> = [&f.runtime, &f.aspnetcore, &f.winforms, &f.wpf]
        .iter()
        .map(|d| git(d, &["rev-parse", "HEAD"]))
        .collect();
    assert_eq!(heads, after);
    for d in [&f.runtime, &f.aspnetcore, &f.winforms, &f.wpf] {
        assert_eq!(git(d, &["status", "--porcelain"]), "");
    }
}
