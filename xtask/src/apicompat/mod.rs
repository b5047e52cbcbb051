//! `apicompat`: servicing adds no public API. Reads the public surface of every managed assembly
//! of a baseline and a candidate (a DOTNET_ROOT, a runtime archive, a targeting or runtime pack, or
//! a directory of assemblies), compares them, and applies the accepted differences of apicompat.toml.

pub mod demo;
pub mod metadata;
pub mod report;
pub mod suppressions;
pub mod surface;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _, Result};

use crate::compat::manifest::NETCORE_APP;
use crate::compat::runtime;
use report::Report;
use surface::AssemblySurface;

/// True when a repository path is a reference source, the declared public API: the `ref/`
/// projects' C# (`src/libraries/*/ref/*.cs` in dotnet/runtime, `src/*/ref/*.cs` in other
/// repositories) and the public API baselines of analyzers (`PublicAPI.Shipped.txt`,
/// `PublicAPI.Unshipped.txt`).
pub fn is_reference_source(path: &str) -> bool {
    let mut parts: Vec<&str> = path.split('/').collect();
    let Some(file) = parts.pop() else {
        return false;
    };
    matches!(file, "PublicAPI.Shipped.txt" | "PublicAPI.Unshipped.txt")
        || (file.ends_with(".cs") && parts.contains(&"ref"))
}

/// Reads one assembly's public surface; errors name the file.
pub fn read_assembly(path: &Path) -> std::result::Result<AssemblySurface, AssemblyError> {
    let bytes = std::fs::read(path).map_err(|e| AssemblyError {
        path: path.to_path_buf(),
        error: metadata::ReadError::Malformed(format!("cannot read the file: {e}")),
    })?;
    read_assembly_bytes(&bytes).map_err(|error| AssemblyError {
        path: path.to_path_buf(),
        error,
    })
}

/// Reads an assembly's public surface from its bytes (the reader's entry point, fuzzed by tests).
pub fn read_assembly_bytes(bytes: &[u8]) -> metadata::Result<AssemblySurface> {
    let root = metadata::cli_metadata(bytes)?;
    surface::read(&metadata::Metadata::parse(root)?)
}

/// A file that could not be read as an assembly.
#[derive(Debug)]
pub struct AssemblyError {
    /// The file.
    pub path: PathBuf,
    /// What was wrong with it.
    pub error: metadata::ReadError,
}

impl std::fmt::Display for AssemblyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.path.display(), self.error)
    }
}

impl std::error::Error for AssemblyError {}

/// The managed assemblies of one side.
#[derive(Debug)]
pub struct AssemblySet {
    /// What was given (`/opt/dotnet@6.0.36`).
    pub spec: String,
    /// The directory the assemblies were read from.
    pub dir: PathBuf,
    /// Surfaces by assembly name.
    pub assemblies: BTreeMap<String, AssemblySurface>,
    /// Native libraries (PE files without CLI metadata) that were passed over.
    pub native: Vec<PathBuf>,
}

/// Resolves `spec` to a directory of assemblies and reads every `*.dll` in it. `spec` is a
/// DOTNET_ROOT (optionally `@VERSION`), a runtime archive, a targeting or runtime pack `.nupkg`,
/// or a directory of assemblies; archives are unpacked once under `unpack_dir`.
pub fn load_set(spec: &str, unpack_dir: &Path) -> Result<AssemblySet> {
    let dir = assembly_dir(spec, unpack_dir)?;
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .with_context(|| format!("cannot list {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file() && p.extension().is_some_and(|x| x.eq_ignore_ascii_case("dll")))
        .collect();
    files.sort();
    let mut assemblies = BTreeMap::new();
    let mut native = Vec::new();
    for file in files {
        match read_assembly(&file) {
            Ok(surface) => {
                if let Some(other) = assemblies.insert(surface.name.clone(), surface) {
                    bail!(
                        "{} holds assembly {} twice (again in {}); give one assembly set",
                        dir.display(),
                        other.name,
                        file.display()
                    );
                }
            }
            // Windows runtimes keep native libraries (coreclr.dll, …) beside the assemblies.
            Err(AssemblyError {
                error: metadata::ReadError::NoCliMetadata,
                ..
            }) => native.push(file),
            Err(e) => return Err(e.into()),
        }
    }
    if assemblies.is_empty() {
        match native.first() {
            Some(file) => bail!(
                "{spec}: no managed assemblies; {} is a PE file without CLI metadata (a native library, not an assembly)",
                file.display()
            ),
            None => bail!("{spec}: no managed assemblies (*.dll) in {}", dir.display()),
        }
    }
    Ok(AssemblySet {
        spec: spec.to_string(),
        dir,
        assemblies,
        native,
    })
}

/// The directory holding a spec's assemblies.
fn assembly_dir(spec: &str, unpack_dir: &Path) -> Result<PathBuf> {
    let (path, version) = runtime::split_spec(spec);
    if !path.exists() {
        bail!(
            "{} does not exist: give a DOTNET_ROOT[@VERSION], a runtime archive, a .nupkg or a directory of assemblies",
            path.display()
        );
    }
    let root = if path.is_dir() {
        path.clone()
    } else if path.to_string_lossy().ends_with(".nupkg") {
        let unpacked = runtime::unpack_archive(&path, unpack_dir, &|dir| {
            pack_assembly_dir(dir, &path).map(|_| ())
        })?;
        return pack_assembly_dir(&unpacked, &path);
    } else {
        runtime::unpack_archive(&path, unpack_dir, &|dir| {
            if runtime::framework_versions(dir, NETCORE_APP).is_empty() {
                bail!(
                    "{} is not a .NET runtime archive: it has no shared/{NETCORE_APP}/<version> directory",
                    path.display()
                );
            }
            Ok(())
        })?
    };
    let versions = runtime::framework_versions(&root, NETCORE_APP);
    if versions.is_empty() {
        if version.is_some() {
            bail!(
                "{} is not a DOTNET_ROOT (no shared/{NETCORE_APP}), so @VERSION does not apply",
                path.display()
            );
        }
        return Ok(root);
    }
    let version = runtime::pick_version(&path, &versions, version.as_deref())?;
    Ok(root.join("shared").join(NETCORE_APP).join(version))
}

/// The one assembly directory of an unpacked targeting pack (`ref/<tfm>/`) or runtime pack
/// (`runtimes/<rid>/lib/<tfm>/`).
fn pack_assembly_dir(unpacked: &Path, package: &Path) -> Result<PathBuf> {
    let mut candidates = Vec::new();
    for pattern in [&["ref"][..], &["runtimes", "*", "lib"], &["lib"]] {
        let mut dirs = vec![unpacked.to_path_buf()];
        for part in pattern {
            dirs = dirs
                .into_iter()
                .flat_map(|d| {
                    if *part == "*" {
                        subdirs(&d)
                    } else {
                        vec![d.join(part)]
                    }
                })
                .filter(|d| d.is_dir())
                .collect();
        }
        for tfm_parent in dirs {
            for tfm in subdirs(&tfm_parent) {
                let has_dll = std::fs::read_dir(&tfm).is_ok_and(|entries| {
                    entries
                        .filter_map(|e| e.ok())
                        .any(|e| e.path().extension().is_some_and(|x| x == "dll"))
                });
                if has_dll {
                    candidates.push(tfm);
                }
            }
        }
        if !candidates.is_empty() {
            break;
        }
    }
    match candidates.len() {
        1 => Ok(candidates.remove(0)),
        0 => bail!(
            "{} is not a targeting or runtime pack: it has no ref/<tfm>/ or runtimes/<rid>/lib/<tfm>/ with assemblies",
            package.display()
        ),
        _ => bail!(
            "{} holds several assembly sets ({}); unpack it and give the directory",
            package.display(),
            candidates
                .iter()
                .map(|c| c.strip_prefix(unpacked).unwrap_or(c).display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

fn subdirs(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.is_dir())
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

/// Compares two assembly sets and applies the accepted differences; stale suppressions are
/// recorded in the report.
pub fn compare(
    baseline: &AssemblySet,
    candidate: &AssemblySet,
    accepted: &suppressions::Suppressions,
) -> Report {
    let (assemblies_compared, differences) =
        report::compare(&baseline.assemblies, &candidate.assemblies);
    let mut report = Report {
        baseline: baseline.spec.clone(),
        candidate: candidate.spec.clone(),
        assemblies_compared,
        differences,
        stale_suppressions: Vec::new(),
    };
    let stale: Vec<String> = accepted
        .apply(&mut report)
        .into_iter()
        .map(|s| {
            format!(
                "{}: {} {} {} ({}) matches no difference",
                accepted.place(s),
                s.assembly,
                s.kind.as_str(),
                s.item,
                s.cve
            )
        })
        .collect();
    report.stale_suppressions = stale;
    report
}
