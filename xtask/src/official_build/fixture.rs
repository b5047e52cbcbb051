//! A small stand-in for the fork, for the demo and the tests: runtime and aspnetcore git
//! repositories shaped like the real ones (version files, `NuGet.config` with Microsoft-internal
//! feeds, an out-of-band package project), whose build scripts take the real arguments, refuse
//! wrong ones, fail while `darc-int-*` feeds remain, write the real artifact layout, and fail on
//! demand (`ELS_FIXTURE_FAIL=1`) or leave one artifact out (`ELS_FIXTURE_SKIP=<file name>`).
//! Also writes a patch queue whose patches carry DEP-3 and `CVE:` headers, and an `els.toml`.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

/// The branch and base tag of the fixture repositories.
pub const BRANCH: &str = "release/6.0-els";
pub const BASE_TAG: &str = "v6.0.36";

/// The CVEs the fixture queue fixes, with the upstream commit each patch came from.
pub const FIXED: [(&str, &str, &str); 2] = [
    (
        "CVE-2025-55248",
        "Fix STARTTLS downgrade in SmtpClient",
        "https://github.com/dotnet/runtime/commit/44527b9f2a9d5a1b1d8c0e1e6a3a8f7d2f0c1b11",
    ),
    (
        "CVE-2026-21218",
        "Validate references before computing SignedXml digests",
        "https://github.com/dotnet/runtime/commit/9e1f70e56f7d49f64c61b2a24984e4a0193a0229",
    ),
];

/// Where a fixture fork lives.
#[derive(Clone, Debug)]
pub struct Fixture {
    pub root: PathBuf,
    pub config: PathBuf,
    pub runtime: PathBuf,
    pub aspnetcore: PathBuf,
    pub patches: PathBuf,
}

/// Creates the fixture under `root`: `runtime/`, `aspnetcore/`, `runtime-patches/`, `els.toml`.
/// The runtime branch carries the queued fixes on top of the base tag.
pub fn create(root: &Path) -> Result<Fixture> {
    let fixture = Fixture {
        root: root.to_path_buf(),
        config: root.join("els.toml"),
        runtime: root.join("runtime"),
        aspnetcore: root.join("aspnetcore"),
        patches: root.join("runtime-patches"),
    };
    write(&fixture.config, ELS_TOML)?;
    create_runtime(&fixture)?;
    create_aspnetcore(&fixture.aspnetcore)?;
    Ok(fixture)
}

/// runtime's `eng/Versions.props` at `version`, shaped like the real 6.0 file.
pub fn runtime_versions_props(version: &str) -> String {
    let patch = version.rsplit('.').next().unwrap_or("0");
    RUNTIME_VERSIONS_PROPS
        .replace("@VERSION@", version)
        .replace("@PATCH@", patch)
}

fn create_runtime(f: &Fixture) -> Result<()> {
    let dir = &f.runtime;
    write(
        &dir.join("eng/Versions.props"),
        runtime_versions_props("6.0.36"),
    )?;
    write(
        &dir.join("NuGet.config"),
        NUGET_CONFIG.replace("@REPO@", "runtime"),
    )?;
    write(&dir.join("build.sh"), build_script(true))?;
    write(
        &dir.join("build.cmd"),
        BUILD_CMD.replace("@PS1@", "eng\\build.ps1"),
    )?;
    write(
        &dir.join("global.json"),
        "{\n  \"sdk\": { \"version\": \"6.0.428\" }\n}\n",
    )?;
    write(&dir.join(".gitignore"), "/artifacts/\n")?;
    let xml = "src/libraries/System.Security.Cryptography.Xml/src";
    write(
        &dir.join(format!("{xml}/System.Security.Cryptography.Xml.csproj")),
        CRYPTO_XML_CSPROJ,
    )?;
    write(
        &dir.join(format!(
            "{xml}/System/Security/Cryptography/Xml/SignedXml.cs"
        )),
        "// SignedXml\nnamespace System.Security.Cryptography.Xml { }\n",
    )?;
    let mail = "src/libraries/System.Net.Mail/src";
    write(
        &dir.join(format!("{mail}/System.Net.Mail.csproj")),
        "<Project Sdk=\"Microsoft.NET.Sdk\">\n</Project>\n",
    )?;
    write(
        &dir.join(format!("{mail}/System/Net/Mail/SmtpClient.cs")),
        "// SmtpClient\nnamespace System.Net.Mail { }\n",
    )?;
    git_init(dir)?;

    let queue = f.patches.join("runtime");
    let mut series = String::from("# runtime patch queue, applied in order onto v6.0.36\n");
    let files = [
        format!("{mail}/System/Net/Mail/SmtpClient.cs"),
        format!("{xml}/System/Security/Cryptography/Xml/SignedXml.cs"),
    ];
    for (n, ((cve, subject, origin), file)) in FIXED.iter().zip(&files).enumerate() {
        let path = dir.join(file);
        let mut text = std::fs::read_to_string(&path)?;
        text.push_str(&format!("// {subject}\n"));
        write(&path, text)?;
        let message = format!(
            "{subject}\n\n(cherry picked from commit {})\nCVE: {cve}\n",
            origin.rsplit('/').next().unwrap_or("")
        );
        git(dir, &["commit", "-qam", &message])?;
        let patch = git(dir, &["format-patch", "-1", "--stdout", "HEAD"])?;
        let header = format!(
            "Description: {subject}\nOrigin: upstream, {origin}\nBug: https://github.com/dotnet/announcements/issues/{}\nCVE: {cve}\nApplied-Upstream: 8.0.21\nLast-Update: 2025-10-20\n",
            370 + n
        );
        let patch = insert_dep3(&patch, &header);
        let rel = format!("{cve}/{:04}-{}.patch", n + 1, slug(subject));
        write(&queue.join(&rel), patch)?;
        series.push_str(&rel);
        series.push('\n');
    }
    write(&queue.join("series"), series)?;
    Ok(())
}

fn create_aspnetcore(dir: &Path) -> Result<()> {
    write(&dir.join("eng/Versions.props"), ASPNETCORE_VERSIONS_PROPS)?;
    write(&dir.join("eng/Baseline.xml"), ASPNETCORE_BASELINE_XML)?;
    write(
        &dir.join("eng/Baseline.Designer.props"),
        ASPNETCORE_BASELINE_DESIGNER,
    )?;
    write(
        &dir.join("NuGet.config"),
        NUGET_CONFIG.replace("@REPO@", "aspnetcore"),
    )?;
    write(&dir.join("eng/build.sh"), build_script(false))?;
    write(
        &dir.join("eng/build.cmd"),
        BUILD_CMD.replace("@PS1@", "build.ps1"),
    )?;
    write(&dir.join(".gitignore"), "/artifacts/\n")?;
    git_init(dir)
}

/// Puts DEP-3 fields into the mail header of `git format-patch` output, after `Subject:`.
fn insert_dep3(patch: &str, fields: &str) -> String {
    let mut out = String::new();
    let mut done = false;
    let mut in_subject = false;
    for line in patch.split_inclusive('\n') {
        if !done && in_subject && !line.starts_with(' ') {
            out.push_str(fields);
            done = true;
        }
        in_subject =
            !done && (line.starts_with("Subject:") || (in_subject && line.starts_with(' ')));
        out.push_str(line);
    }
    out
}

fn slug(subject: &str) -> String {
    let s: String = subject
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    s.split('-')
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join("-")
}

fn git_init(dir: &Path) -> Result<()> {
    git(dir, &["init", "-q", "-b", BRANCH])?;
    git(dir, &["add", "-A"])?;
    git(dir, &["commit", "-qm", "Microsoft's .NET 6.0.36 release"])?;
    git(dir, &["tag", BASE_TAG])?;
    Ok(())
}

/// Runs git in `dir` with a fixed identity, returning stdout.
fn git(dir: &Path, args: &[&str]) -> Result<String> {
    let sh = crate::process::shell()?;
    sh.change_dir(dir);
    let out = crate::process::read(
        xshell::cmd!(sh, "git {args...}")
            .env("GIT_AUTHOR_NAME", "Fixture Author")
            .env("GIT_AUTHOR_EMAIL", "author@example.com")
            .env("GIT_COMMITTER_NAME", "Fixture Author")
            .env("GIT_COMMITTER_EMAIL", "author@example.com"),
    )
    .with_context(|| format!("in {}", dir.display()))?;
    Ok(out + "\n")
}

fn write(path: &Path, text: impl AsRef<[u8]>) -> Result<()> {
    crate::atomic::write(path, text)?;
    #[cfg(unix)]
    if path.extension().is_some_and(|e| e == "sh") {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))?;
    }
    Ok(())
}

const ELS_TOML: &str = r#"# A fixture fork for the demo and the tests.
[fork]
base-version = "6.0.36"

[patches]
dir = "runtime-patches"

[[repo]]
name = "runtime"
path = "runtime"
branch = "release/6.0-els"
base = "v6.0.36"
upstream = "https://github.com/dotnet/runtime"

[[repo]]
name = "aspnetcore"
path = "aspnetcore"
branch = "release/6.0-els"
base = "v6.0.36"
upstream = "https://github.com/dotnet/aspnetcore"

[build]
feed = "https://pkgs.example.org/net6-els/nuget/v3/index.json"
linux-prerequisites = ["bash", "git", "tar", "python3"]

[release]
download-url = "https://downloads.example.org/net6-els/{version}/{name}"
"#;

const RUNTIME_VERSIONS_PROPS: &str = r#"<Project>
  <PropertyGroup>
    <ProductVersion>@VERSION@</ProductVersion>
    <!-- File version numbers -->
    <MajorVersion>6</MajorVersion>
    <MinorVersion>0</MinorVersion>
    <PatchVersion>@PATCH@</PatchVersion>
    <SdkBandVersion>6.0.100</SdkBandVersion>
    <PreReleaseVersionLabel>servicing</PreReleaseVersionLabel>
    <PreReleaseVersionIteration></PreReleaseVersionIteration>
    <!-- Set assembly version to align with major and minor version,
         as for the patches and revisions should be manually updated per assembly if it is serviced. -->
    <AssemblyVersion>$(MajorVersion).$(MinorVersion).0.0</AssemblyVersion>
    <!-- Enable to remove prerelease label. -->
    <StabilizePackageVersion Condition="'$(StabilizePackageVersion)' == ''">true</StabilizePackageVersion>
    <DotNetFinalVersionKind Condition="'$(StabilizePackageVersion)' == 'true'">release</DotNetFinalVersionKind>
    <!-- Opt-in/out repo features -->
    <UsingToolMicrosoftNetCompilers>true</UsingToolMicrosoftNetCompilers>
  </PropertyGroup>
  <PropertyGroup>
    <!-- Arcade dependencies -->
    <MicrosoftDotNetApiCompatVersion>6.0.0-beta.24516.2</MicrosoftDotNetApiCompatVersion>
  </PropertyGroup>
</Project>
"#;

const CRYPTO_XML_CSPROJ: &str = r#"<Project Sdk="Microsoft.NET.Sdk">
  <PropertyGroup>
    <TargetFrameworks>$(NetCoreAppCurrent);netstandard2.0;net461</TargetFrameworks>
    <IsPackable>true</IsPackable>
    <GeneratePackageOnBuild>false</GeneratePackageOnBuild>
    <ServicingVersion>1</ServicingVersion>
    <PackageDescription>Provides classes to support the creation and validation of XML digital signatures.</PackageDescription>
  </PropertyGroup>
</Project>
"#;

const NUGET_CONFIG: &str = r#"<?xml version="1.0" encoding="utf-8"?>
<configuration>
  <packageSources>
    <clear />
    <!--Begin: Package sources managed by Dependency Flow automation. Do not edit the sources below.-->
    <add key="darc-int-dotnet-@REPO@-bca7acb" value="https://pkgs.dev.azure.com/dnceng/_packaging/darc-int-dotnet-@REPO@-bca7acb3/nuget/v3/index.json" />
    <add key="darc-int-dotnet-emsdk-2bd0ca1" value="https://pkgs.dev.azure.com/dnceng/_packaging/darc-int-dotnet-emsdk-2bd0ca1c/nuget/v3/index.json" />
    <!--End: Package sources managed by Dependency Flow automation. Do not edit the sources above.-->
    <add key="dotnet-public" value="https://pkgs.dev.azure.com/dnceng/public/_packaging/dotnet-public/nuget/v3/index.json" />
    <add key="dotnet6" value="https://pkgs.dev.azure.com/dnceng/public/_packaging/dotnet6/nuget/v3/index.json" />
  </packageSources>
  <disabledPackageSources>
    <clear />
    <add key="darc-int-dotnet-@REPO@-bca7acb" value="true" />
  </disabledPackageSources>
</configuration>
"#;

const ASPNETCORE_VERSIONS_PROPS: &str = r#"<!--

  This file defines the versions of external dependencies used by ASP.NET Core.

-->
<Project>
  <PropertyGroup Label="Version settings">
    <AspNetCoreMajorVersion>6</AspNetCoreMajorVersion>
    <AspNetCoreMinorVersion>0</AspNetCoreMinorVersion>
    <AspNetCorePatchVersion>36</AspNetCorePatchVersion>
    <PreReleasePreviewNumber>0</PreReleasePreviewNumber>
    <!--
        When StabilizePackageVersion is set to 'true', this branch will produce stable outputs for 'Shipping' packages
    -->
    <StabilizePackageVersion Condition="'$(StabilizePackageVersion)' == ''">true</StabilizePackageVersion>
    <DotNetFinalVersionKind Condition="'$(StabilizePackageVersion)' == 'true'">release</DotNetFinalVersionKind>
    <PreReleaseVersionLabel>servicing</PreReleaseVersionLabel>
    <PreReleaseBrandingLabel>Servicing $(PreReleaseVersionIteration)</PreReleaseBrandingLabel>
  </PropertyGroup>
</Project>
"#;

const ASPNETCORE_BASELINE_XML: &str = r#"<!--

This file contains a list of all the packages and their versions which were released in ASP.NET Core 6.0.x.

-->
<Baselines>
  <Baseline Version="6.0.35">
    <Package Id="dotnet-ef" Version="6.0.35" />
    <Package Id="Microsoft.AspNetCore.App.Ref" Version="6.0.35" />
    <Package Id="Microsoft.AspNetCore.Authentication.Negotiate" Version="6.0.35" />
    <Package Id="Microsoft.Extensions.Identity.Core" Version="6.0.35" />
  </Baseline>
</Baselines>
"#;

const ASPNETCORE_BASELINE_DESIGNER: &str = r#"<?xml version="1.0" encoding="utf-8"?>
<!-- Auto generated. Do not edit manually, use eng/tools/BaselineGenerator/ to recreate. -->
<Project>
  <PropertyGroup>
    <MSBuildAllProjects>$(MSBuildAllProjects);$(MSBuildThisFileFullPath)</MSBuildAllProjects>
    <AspNetCoreBaselineVersion>6.0.35</AspNetCoreBaselineVersion>
  </PropertyGroup>
  <!-- Package: dotnet-ef-->
  <PropertyGroup Condition=" '$(PackageId)' == 'dotnet-ef' ">
    <BaselinePackageVersion>6.0.35</BaselinePackageVersion>
  </PropertyGroup>
  <!-- Package: Microsoft.AspNetCore.Authentication.Negotiate-->
  <PropertyGroup Condition=" '$(PackageId)' == 'Microsoft.AspNetCore.Authentication.Negotiate' ">
    <BaselinePackageVersion>6.0.35</BaselinePackageVersion>
  </PropertyGroup>
</Project>
"#;

const BUILD_CMD: &str = "@echo off\r\nsetlocal\r\n\r\nset _args=%*\r\nif \"%~1\"==\"-?\" set _args=-help\r\n\r\npowershell -ExecutionPolicy ByPass -NoProfile -command \"& \"\"\"%~dp0@PS1@\"\"\" %_args%\"\r\nexit /b %ERRORLEVEL%\r\n";

/// Shared by both build scripts: writes real archives and nupkgs (zip files with a nuspec).
const BUILD_FUNCTIONS: &str = r#"
fail() { echo "$*" >&2; exit 1; }
check_common() {
  [[ "$config" == Release ]] || fail "error : this servicing build expects -c Release, got '$config'"
  [[ "$arch" == x64 ]] || fail "error : unsupported -arch '$arch'"
  [[ -n "$ci" ]] || fail "error : official builds pass -ci"
  [[ "$build_id" =~ ^[0-9]{8}\.[0-9]+$ ]] || fail "error : OfficialBuildId '$build_id' is not yyyyMMdd.r"
  if grep -q 'darc-int-' NuGet.config; then
    fail "error NU1301: Unable to load the service index for source https://pkgs.dev.azure.com/dnceng/_packaging/$(grep -o 'darc-int-[a-z0-9-]*' NuGet.config | head -1)/nuget/v3/index.json."
  fi
}
maybe_fail() {
  if [[ -n "${ELS_FIXTURE_FAIL:-}" ]]; then
    echo "  CSC : warning CS8002: Referenced assembly 'Fixture' does not have a strong name."
    echo "$PWD/src/Fixture.cs(42,13): error CS0103: The name 'fixture' does not exist in the current context"
    echo ""
    echo "Build FAILED."
    echo "    1 Error(s)"
    exit 1
  fi
}
out=artifacts/packages/Release/Shipping
skip() { [[ "${ELS_FIXTURE_SKIP:-}" == "$1" ]]; }
archive() { # archive <file> <shared-framework-name> <version>
  skip "$1" && return 0
  local stage=artifacts/obj/stage-$2
  rm -rf "$stage"; mkdir -p "$stage/shared/$2/$3"
  printf '{"runtimeTarget":{"name":".NETCoreApp,Version=v6.0"},"version":"%s"}\n' "$3" > "$stage/shared/$2/$3/$2.deps.json"
  tar -czf "$out/$1" -C "$stage" .
  echo "  Created $out/$1"
}
nupkg() { # nupkg <id> <version>
  skip "$1.$2.nupkg" && return 0
  python3 - "$out/$1.$2.nupkg" "$1" "$2" <<'PY'
import sys, zipfile
path, pid, ver = sys.argv[1:]
# The parts `nuget pack` writes: the manifest, the OPC content types and relationships, a file.
with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
    z.writestr(pid + ".nuspec", '<?xml version="1.0" encoding="utf-8"?>\n<package xmlns="http://schemas.microsoft.com/packaging/2013/05/nuspec.xsd"><metadata><id>%s</id><version>%s</version><authors>Microsoft</authors><description>%s built by the fork</description></metadata></package>\n' % (pid, ver, pid))
    z.writestr("[Content_Types].xml", '<?xml version="1.0" encoding="utf-8"?>\n<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml" /><Default Extension="nuspec" ContentType="application/octet" /><Default Extension="txt" ContentType="application/octet" /></Types>\n')
    z.writestr("_rels/.rels", '<?xml version="1.0" encoding="utf-8"?>\n<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Type="http://schemas.microsoft.com/packaging/2010/07/manifest" Target="/%s.nuspec" Id="R1" /></Relationships>\n' % pid)
    z.writestr("build-info.txt", "%s %s\n" % (pid, ver))
PY
  echo "  Created $out/$1.$2.nupkg"
}
"#;

const RUNTIME_BUILD_SH: &str = r#"#!/usr/bin/env bash
# Stand-in for dotnet/runtime's build.sh: the same arguments and the same output layout.
set -euo pipefail
cd "$(dirname "$0")"
subset="" config="" arch="" ci="" build_id=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    -subset) subset="$2"; shift 2 ;;
    -c|-configuration) config="$2"; shift 2 ;;
    -arch) arch="$2"; shift 2 ;;
    -ci) ci=1; shift ;;
    /p:OfficialBuildId=*) build_id="${1#/p:OfficialBuildId=}"; shift ;;
    *) echo "error : Unknown argument '$1'" >&2; exit 1 ;;
  esac
done
@FUNCTIONS@
check_common
[[ "$subset" == "clr+libs+host+packs" ]] || fail "error : unexpected -subset '$subset'"
version=$(sed -n 's:.*<ProductVersion>\(.*\)</ProductVersion>.*:\1:p' eng/Versions.props)
echo "  Determining projects to restore..."
echo "  Building subset $subset ($config|$arch), version $version, OfficialBuildId $build_id"
maybe_fail
mkdir -p "$out"
rid=linux-x64
archive "dotnet-runtime-$version-$rid.tar.gz" Microsoft.NETCore.App "$version"
nupkg "Microsoft.NETCore.App.Runtime.$rid" "$version"
nupkg "Microsoft.NETCore.App.Host.$rid" "$version"
nupkg "Microsoft.NETCore.App.Ref" "$version"
nupkg "Microsoft.NETCore.App.Runtime.$rid" "$version.symbols"
xml=src/libraries/System.Security.Cryptography.Xml/src/System.Security.Cryptography.Xml.csproj
if grep -q '<GeneratePackageOnBuild>true</GeneratePackageOnBuild>' "$xml"; then
  servicing=$(sed -n 's:.*<ServicingVersion>\(.*\)</ServicingVersion>.*:\1:p' "$xml")
  nupkg System.Security.Cryptography.Xml "6.0.$servicing"
fi
echo "Build succeeded."
"#;

const ASPNETCORE_BUILD_SH: &str = r#"#!/usr/bin/env bash
# Stand-in for dotnet/aspnetcore's eng/build.sh: the same arguments and the same output layout.
set -euo pipefail
cd "$(dirname "$0")/.."
config="" arch="" ci="" build_id="" pack="" all="" nojava="" platform_only=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    -c|-configuration) config="$2"; shift 2 ;;
    -arch) arch="$2"; shift 2 ;;
    -ci) ci=1; shift ;;
    -pack) pack=1; shift ;;
    -all) all=1; shift ;;
    --no-build-java) nojava=1; shift ;;
    -p:OnlyPackPlatformSpecificPackages=true) platform_only=1; shift ;;
    -p:OfficialBuildId=*) build_id="${1#-p:OfficialBuildId=}"; shift ;;
    *) echo "error : Unknown argument '$1'" >&2; exit 1 ;;
  esac
done
@FUNCTIONS@
check_common
[[ -n "$pack" && -n "$all" && -n "$nojava" && -n "$platform_only" ]] || fail "error : expected -pack -all --no-build-java -p:OnlyPackPlatformSpecificPackages=true"
patch=$(sed -n 's:.*<AspNetCorePatchVersion>\(.*\)</AspNetCorePatchVersion>.*:\1:p' eng/Versions.props)
version="6.0.$patch"
baseline=$(sed -n 's:.*<AspNetCoreBaselineVersion>\(.*\)</AspNetCoreBaselineVersion>.*:\1:p' eng/Baseline.Designer.props)
[[ "$baseline" == "6.0.$((patch - 1))" ]] || fail "error : The package baseline ($baseline) is out of date with the current package version $version. Update eng/Baseline.xml."
echo "  Building ASP.NET Core $version ($config|$arch), OfficialBuildId $build_id"
maybe_fail
mkdir -p "$out"
rid=linux-x64
archive "aspnetcore-runtime-$version-$rid.tar.gz" Microsoft.AspNetCore.App "$version"
nupkg "Microsoft.AspNetCore.App.Runtime.$rid" "$version"
echo "Build succeeded."
"#;

impl Fixture {
    /// Loads the fixture's config.
    pub fn load_config(&self) -> Result<crate::config::Config> {
        crate::config::Config::load(&self.config)
    }
}

/// A build script with the shared helper functions spliced in.
fn build_script(runtime: bool) -> String {
    let script = if runtime {
        RUNTIME_BUILD_SH
    } else {
        ASPNETCORE_BUILD_SH
    };
    script.replace("@FUNCTIONS@", BUILD_FUNCTIONS)
}
