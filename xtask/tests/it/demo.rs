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
    let commands = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{text}\n{commands}");
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
        "would build 6.0.37 for win-x64",
        "windowsdesktop [planned]",
        "/p:MicrosoftPrivateWinformsPackageVersion=6.0.37-servicing.",
        // The compat stage ran, and says why its FAIL rows are expected.
        "CoreCLR 3.1.23 stands in for Microsoft's 6.0.36",
        "failed, as expected here: 3.1.23 → 8.0.4 differences",
        // apicompat: one difference accepted with its CVE, one reported; the notes list the first.
        "System.Net.Mail.SmtpClient.RequireStartTls(bool required) (accepted: CVE-2025-55248: The STARTTLS fix",
        "  public void System.Net.Mail.SmtpClient.Send(string from, string recipients, string subject, string body, int timeout)\n",
        "1 assemblies compared: 2 differences, 1 accepted by apicompat.toml, 1 not accepted",
        "(exit status 1, as expected",
        "| CVE-2025-55248 | System.Net.Mail | added | `System.Net.Mail.SmtpClient.RequireStartTls(bool)` |",
        "The demo ran every stage for real. The compat FAIL rows and apicompat's exit 1",
        // Windows: the MSIs are made by `package --formats msi` from the release's win-x64
        // archives, and msitools show what they register and install.
        "msi windowsdesktop-runtime",
        "windowsdesktop-runtime-6.0.37-win-x64.msi\n",
        "HKLM\\SOFTWARE\\dotnet\\Setup\\InstalledVersions\\x64\\sharedfx\\Microsoft.WindowsDesktop.App 6.0.37 = #1  (32-bit view)",
        "HKLM\\SOFTWARE\\dotnet\\Setup\\InstalledVersions\\x64\\sharedhost Version = 6.0.37  (64-bit view)",
        "next: publish the release directory (the MSIs are in its SHA512SUMS and release.json)",
        "$ msiextract --list ",
        "dotnet/shared/Microsoft.WindowsDesktop.App/6.0.37/",
        "files in all",
    ] {
        assert!(text.contains(expected), "missing `{expected}` in:\n{text}");
    }
    // Every stage's command line goes to stderr, so it can be re-run by hand; the sandbox's fixes
    // carry the CVEs whose real fixes they stand in for.
    for expected in [
        "$ cargo xtask backport --cve CVE-2025-55248 runtime@",
        "$ cargo xtask backport --cve CVE-2025-30399 runtime@",
        "$ cargo xtask backport --cve CVE-2025-21172 runtime@",
        "$ cargo xtask compat --baseline ",
        "$ cargo xtask apicompat --baseline ",
        " bump\n",
        " build --os linux --arch x64\n",
        " release\n",
        " release sign ",
        " release verify ",
        "msi-stage/els.toml release --date ",
        "$ cargo xtask package --release ",
        " --formats msi\n",
    ] {
        assert!(
            commands.contains(expected),
            "missing `{expected}` in stderr:\n{commands}"
        );
    }
    for mislabelled in ["--cve CVE-2025-55247", "--cve CVE-2025-55315"] {
        assert!(!commands.contains(mislabelled), "{commands}");
    }
    assert!(
        sandbox.join("els.toml").is_file(),
        "--dir keeps the sandbox"
    );
    // The MSIs went into the Windows release like a user's `package` run puts them: hashed in
    // SHA512SUMS and listed in release.json beside the desktop runtime archive they come from.
    let release = sandbox.join("msi-stage/artifacts/els/release/6.0.37");
    let sums = std::fs::read_to_string(release.join("SHA512SUMS")).unwrap();
    let doc: serde_json::Value =
        serde_json::from_slice(&std::fs::read(release.join("release.json")).unwrap()).unwrap();
    let desktop: Vec<&str> = doc["releases"][0]["windowsdesktop"]["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["url"].as_str().unwrap().rsplit('/').next().unwrap())
        .collect();
    for name in [
        "windowsdesktop-runtime-6.0.37-win-x64.zip",
        "windowsdesktop-runtime-6.0.37-win-x64.msi",
    ] {
        assert!(sums.contains(&format!("  {name}\n")), "{name}: {sums}");
        assert!(desktop.contains(&name), "{name}: {desktop:?}");
    }
    let again = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(["demo", "--dir", sandbox.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(again.status.code(), Some(2), "a non-empty --dir is refused");
}
