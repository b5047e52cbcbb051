//! The release archives read as package contents: the version and files found in
//! `dotnet-runtime-6.0.N-linux-x64.tar.gz` and `aspnetcore-runtime-6.0.N-linux-x64.tar.gz`, split
//! into Microsoft's Linux packages (`dotnet-host`, `dotnet-hostfxr-6.0`, `dotnet-runtime-deps-6.0`,
//! `dotnet-runtime-6.0`, `aspnetcore-runtime-6.0`) under Microsoft's install root.

use std::collections::BTreeSet;
use std::io::Read;
use std::path::Path;

use anyhow::{bail, Context, Result};

use crate::version::Version;

/// Where Microsoft's packages install .NET; ours replace them, so the same root.
pub const INSTALL_ROOT: &str = "/usr/share/dotnet";

/// The shared framework of the runtime archive.
const NETCORE_APP: &str = "shared/Microsoft.NETCore.App";
/// The shared framework of the ASP.NET Core archive.
const ASPNETCORE_APP: &str = "shared/Microsoft.AspNetCore.App";
/// hostfxr's directory.
const HOST_FXR: &str = "host/fxr";

/// One file system entry of a package, at its installed path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// The absolute installed path (`/usr/share/dotnet/dotnet`).
    pub path: String,
    pub kind: EntryKind,
}

/// What an entry is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EntryKind {
    /// A regular file with its permission bits (as in the archive) and bytes.
    File { mode: u32, data: Vec<u8> },
    /// A directory the package owns.
    Dir,
    /// A symbolic link to `target`.
    Symlink { target: String },
}

/// One package to build, independent of the format.
#[derive(Clone, Debug)]
pub struct Spec {
    /// The package name, the same as Microsoft's.
    pub name: &'static str,
    pub summary: &'static str,
    pub description: &'static str,
    /// Entries sorted by path.
    pub entries: Vec<Entry>,
    /// Our other packages this one needs at `>=` the same version.
    pub requires: Vec<&'static str>,
    /// Whether this package carries the operating system's libraries as dependencies (only
    /// `dotnet-runtime-deps-6.0`).
    pub system_dependencies: bool,
    /// The licence text, for the Debian copyright file.
    pub license_text: String,
}

/// The release's packages and the version the archives carry.
#[derive(Clone, Debug)]
pub struct Layout {
    pub version: Version,
    pub specs: Vec<Spec>,
}

/// The release archive of the runtime for `version`.
pub fn runtime_archive(version: Version) -> String {
    format!("dotnet-runtime-{version}-linux-x64.tar.gz")
}

/// The release archive of ASP.NET Core for `version`.
pub fn aspnetcore_archive(version: Version) -> String {
    format!("aspnetcore-runtime-{version}-linux-x64.tar.gz")
}

/// One member of an archive, its path relative to the archive's root.
struct Member {
    path: String,
    kind: EntryKind,
}

/// Reads the release's two Linux archives from `dir` (named for `version`) and splits them into
/// packages. The version inside the archives must be `version`, the same in every framework and
/// hostfxr directory, and above `base` (Microsoft's last release), or nothing is built.
pub fn read(dir: &Path, version: Version, base: Version) -> Result<Layout> {
    let runtime_path = dir.join(runtime_archive(version));
    let aspnet_path = dir.join(aspnetcore_archive(version));
    let runtime = read_archive(&runtime_path)?;
    let aspnet = read_archive(&aspnet_path)?;
    check_versions(
        &runtime,
        &runtime_path,
        &aspnet,
        &aspnet_path,
        version,
        base,
    )?;
    let license_text = runtime_license(&runtime, &runtime_path)?;
    let specs = specs(&runtime, &aspnet, version, license_text);
    Ok(Layout { version, specs })
}

/// The frameworks and hostfxr in the archives are `version`, which is above `base`.
fn check_versions(
    runtime: &[Member],
    runtime_path: &Path,
    aspnet: &[Member],
    aspnet_path: &Path,
    version: Version,
    base: Version,
) -> Result<()> {
    let runtime_version = framework_version(runtime, NETCORE_APP, runtime_path)?;
    let fxr_version = framework_version(runtime, HOST_FXR, runtime_path)?;
    let aspnet_version = framework_version(aspnet, ASPNETCORE_APP, aspnet_path)?;
    for (what, found, path) in [
        (NETCORE_APP, runtime_version, runtime_path),
        (HOST_FXR, fxr_version, runtime_path),
        (ASPNETCORE_APP, aspnet_version, aspnet_path),
    ] {
        if found != version {
            bail!(
                "{}: {what}/{found} does not match the release version {version} (the archive's name); package the archive of this release",
                path.display()
            );
        }
    }
    if version <= base {
        bail!(
            "version {version} is not above Microsoft's last release {base}: apt and dnf would not upgrade to it (set the fork's version with `cargo xtask bump`)"
        );
    }
    Ok(())
}

/// The runtime archive's licence text; the archive must also hold the `dotnet` muxer.
fn runtime_license(runtime: &[Member], runtime_path: &Path) -> Result<String> {
    if !runtime.iter().any(|m| m.path == "dotnet") {
        bail!(
            "{}: no `dotnet` muxer at the archive's root",
            runtime_path.display()
        );
    }
    runtime
        .iter()
        .find_map(|m| match (&m.kind, m.path.as_str()) {
            (EntryKind::File { data, .. }, "LICENSE.txt") => {
                Some(String::from_utf8_lossy(data).into_owned())
            }
            _ => None,
        })
        .with_context(|| {
            format!(
                "{}: no LICENSE.txt at the archive's root",
                runtime_path.display()
            )
        })
}

/// The packages: the muxer, hostfxr, the runtime's system dependencies, the runtime and
/// ASP.NET Core, each with the archive members it installs.
fn specs(
    runtime: &[Member],
    aspnet: &[Member],
    version: Version,
    license_text: String,
) -> Vec<Spec> {
    let v = version.to_string();
    let fxr_dir = format!("{HOST_FXR}/{v}");
    let netcore_dir = format!("{NETCORE_APP}/{v}");
    let aspnet_dir = format!("{ASPNETCORE_APP}/{v}");
    let host_files = |m: &Member| {
        matches!(
            m.path.as_str(),
            "dotnet" | "LICENSE.txt" | "ThirdPartyNotices.txt"
        )
    };
    let under = |dir: &str| {
        let prefix = format!("{dir}/");
        move |m: &Member| m.path.starts_with(&prefix)
    };

    let mut host = install(runtime, host_files, &[]);
    host.push(Entry {
        path: "/usr/bin/dotnet".into(),
        kind: EntryKind::Symlink {
            target: "../share/dotnet/dotnet".into(),
        },
    });
    host.push(Entry {
        path: INSTALL_ROOT.into(),
        kind: EntryKind::Dir,
    });
    vec![
        Spec {
            name: "dotnet-host",
            summary: "Microsoft .NET Host - the dotnet muxer",
            description: "The `dotnet` command that starts .NET applications and finds the\ninstalled runtimes.",
            entries: sorted(host),
            requires: vec![],
            system_dependencies: false,
            license_text: license_text.clone(),
        },
        Spec {
            name: "dotnet-hostfxr-6.0",
            summary: "Microsoft .NET 6.0 Host FX Resolver",
            description: "hostfxr, which resolves the .NET 6.0 framework an application runs on.",
            entries: sorted(install(runtime, under(&fxr_dir), &["host", HOST_FXR, &fxr_dir])),
            requires: vec!["dotnet-host"],
            system_dependencies: false,
            license_text: license_text.clone(),
        },
        Spec {
            name: "dotnet-runtime-deps-6.0",
            summary: "Dependencies of the .NET 6.0 runtime",
            description: "The operating system libraries the .NET 6.0 runtime needs.",
            entries: vec![],
            requires: vec![],
            system_dependencies: true,
            license_text: license_text.clone(),
        },
        Spec {
            name: "dotnet-runtime-6.0",
            summary: "Microsoft .NET 6.0 runtime",
            description: "The shared framework Microsoft.NETCore.App, with security fixes\nbackported after the end of Microsoft's support.",
            entries: sorted(install(
                runtime,
                under(&netcore_dir),
                &["shared", NETCORE_APP, &netcore_dir],
            )),
            requires: vec!["dotnet-runtime-deps-6.0", "dotnet-hostfxr-6.0"],
            system_dependencies: false,
            license_text: license_text.clone(),
        },
        Spec {
            name: "aspnetcore-runtime-6.0",
            summary: "Microsoft ASP.NET Core 6.0 shared framework",
            description: "The shared framework Microsoft.AspNetCore.App, with security fixes\nbackported after the end of Microsoft's support.",
            entries: sorted(install(
                aspnet,
                under(&aspnet_dir),
                &[ASPNETCORE_APP, &aspnet_dir],
            )),
            requires: vec!["dotnet-runtime-6.0"],
            system_dependencies: false,
            license_text,
        },
    ]
}

/// The members `select` picks, at their installed paths, plus the directories `owned` (relative
/// to the root) and every directory below them that holds a picked member.
fn install(members: &[Member], select: impl Fn(&Member) -> bool, owned: &[&str]) -> Vec<Entry> {
    let mut entries = Vec::new();
    let mut dirs: BTreeSet<String> = owned.iter().map(|d| d.to_string()).collect();
    for m in members.iter().filter(|m| select(m)) {
        match &m.kind {
            EntryKind::Dir => {
                dirs.insert(m.path.clone());
            }
            kind => entries.push(Entry {
                path: format!("{INSTALL_ROOT}/{}", m.path),
                kind: kind.clone(),
            }),
        }
        if let Some(owner) = owned.last() {
            let mut parent = Path::new(&m.path).parent();
            while let Some(p) = parent.and_then(Path::to_str) {
                if p.len() <= owner.len() {
                    break;
                }
                dirs.insert(p.to_string());
                parent = Path::new(p).parent();
            }
        }
    }
    entries.extend(dirs.into_iter().map(|d| Entry {
        path: format!("{INSTALL_ROOT}/{d}"),
        kind: EntryKind::Dir,
    }));
    entries
}

fn sorted(mut entries: Vec<Entry>) -> Vec<Entry> {
    entries.sort_by(|a, b| a.path.cmp(&b.path));
    entries.dedup_by(|a, b| a.path == b.path);
    entries
}

/// The single version directory under `dir` in the archive (`shared/Microsoft.NETCore.App/6.0.37`).
fn framework_version(members: &[Member], dir: &str, archive: &Path) -> Result<Version> {
    let prefix = format!("{dir}/");
    let found: BTreeSet<&str> = members
        .iter()
        .filter_map(|m| m.path.strip_prefix(&prefix)?.split('/').next())
        .filter(|v| !v.is_empty())
        .collect();
    match found.into_iter().collect::<Vec<_>>().as_slice() {
        [] => bail!(
            "{}: no {dir}/<version>/ in the archive; this is not a .NET runtime archive of the expected shape",
            archive.display()
        ),
        [one] => one.parse().with_context(|| {
            format!("{}: {dir}/{one} is not a version directory", archive.display())
        }),
        many => bail!(
            "{}: {dir} holds several versions ({}); a release archive holds one",
            archive.display(),
            many.join(", ")
        ),
    }
}

/// Every member of a `.tar.gz`, with its mode and bytes, paths relative to the root.
fn read_archive(path: &Path) -> Result<Vec<Member>> {
    let file = std::fs::File::open(path).with_context(|| {
        format!(
            "cannot read {}; the release must hold the Linux archives (run `cargo xtask release` first)",
            path.display()
        )
    })?;
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(file));
    let mut members = Vec::new();
    let entries = archive
        .entries()
        .with_context(|| format!("{} is not a .tar.gz archive", path.display()))?;
    for entry in entries {
        let mut entry = entry
            .with_context(|| format!("{} is not a readable .tar.gz archive", path.display()))?;
        let raw = entry.path()?.to_string_lossy().into_owned();
        let rel = raw
            .trim_start_matches("./")
            .trim_end_matches('/')
            .to_string();
        if rel.is_empty() {
            continue;
        }
        if rel.split('/').any(|c| c == ".." || c.is_empty()) || rel.starts_with('/') {
            bail!(
                "{}: member `{raw}` escapes the archive's root",
                path.display()
            );
        }
        let mode = entry.header().mode()? & 0o7777;
        let kind = match entry.header().entry_type() {
            tar::EntryType::Directory => EntryKind::Dir,
            tar::EntryType::Symlink => EntryKind::Symlink {
                target: entry
                    .link_name()?
                    .map(|t| t.to_string_lossy().into_owned())
                    .unwrap_or_default(),
            },
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                let mut data = Vec::new();
                entry
                    .read_to_end(&mut data)
                    .with_context(|| format!("{}: cannot read {rel}", path.display()))?;
                EntryKind::File { mode, data }
            }
            other => bail!(
                "{}: member {rel} is a {other:?}; a runtime archive holds only files, directories and symbolic links",
                path.display()
            ),
        };
        members.push(Member { path: rel, kind });
    }
    Ok(members)
}
