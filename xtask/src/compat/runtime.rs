//! Runtimes to run the corpus on: a DOTNET_ROOT directory or a runtime archive
//! (`dotnet-runtime-<ver>-linux-x64.tar.gz`, `-win-x64.zip`) unpacked to a private root, and
//! the exact Microsoft.NETCore.App version to use, never whatever happens to be installed.

use std::fs::File;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use sha2::{Digest, Sha256};

use super::manifest::NETCORE_APP;

/// A resolved runtime: a root with a `dotnet` muxer and the exact framework version to run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Runtime {
    /// The DOTNET_ROOT.
    pub root: PathBuf,
    /// The Microsoft.NETCore.App version, e.g. `6.0.36`.
    pub version: String,
}

impl Runtime {
    /// The muxer that starts apps.
    pub fn muxer(&self) -> PathBuf {
        self.root.join("dotnet")
    }

    /// Versions of a shared framework present in this root.
    pub fn framework_versions(&self, framework: &str) -> Vec<String> {
        framework_versions(&self.root, framework)
    }

    /// The version of `framework` to run beside this runtime: the same version for
    /// Microsoft.NETCore.App, else the newest with the same major.minor.
    pub fn framework_version(&self, framework: &str) -> Option<String> {
        if framework == NETCORE_APP {
            return Some(self.version.clone());
        }
        let band = major_minor(&self.version);
        let mut versions: Vec<String> = self
            .framework_versions(framework)
            .into_iter()
            .filter(|v| major_minor(v) == band)
            .collect();
        versions.sort_by_key(|v| version_key(v));
        versions.pop()
    }
}

fn major_minor(v: &str) -> String {
    v.split('.').take(2).collect::<Vec<_>>().join(".")
}

fn version_key(v: &str) -> Vec<u64> {
    v.split(['.', '-'])
        .map(|p| p.parse().unwrap_or(0))
        .collect()
}

/// Versions of `framework` under `<root>/shared/`, oldest first.
pub fn framework_versions(root: &Path, framework: &str) -> Vec<String> {
    let mut versions: Vec<String> = std::fs::read_dir(root.join("shared").join(framework))
        .map(|entries| {
            entries
                .filter_map(|e| e.ok())
                .filter(|e| e.path().is_dir())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    versions.sort_by_key(|v| version_key(v));
    versions
}

/// Resolves `spec` (`PATH` or `PATH@VERSION`, PATH a DOTNET_ROOT or a runtime archive); archives
/// are unpacked once under `unpack_dir`.
pub fn resolve(spec: &str, unpack_dir: &Path) -> Result<Runtime> {
    let (path, version) = split_spec(spec);
    if !path.exists() {
        bail!("unknown runtime path {}: give a DOTNET_ROOT directory or a dotnet-runtime-*.tar.gz/.zip archive", path.display());
    }
    let root = if path.is_dir() {
        path.clone()
    } else {
        unpack(&path, unpack_dir)?
    };
    // Apps run in their own directory, so the root must not be relative.
    let root = std::fs::canonicalize(&root)
        .with_context(|| format!("cannot resolve {}", root.display()))?;
    let versions = framework_versions(&root, NETCORE_APP);
    if versions.is_empty() {
        bail!(
            "{} is not a .NET runtime: it has no shared/{NETCORE_APP}/<version> directory (give a DOTNET_ROOT or a runtime archive)",
            path.display()
        );
    }
    if !root.join("dotnet").is_file() {
        if root.join("dotnet.exe").is_file() {
            bail!(
                "{} is a Windows runtime (dotnet.exe); run the corpus on it on a Windows runner",
                path.display()
            );
        }
        bail!(
            "{} has no `dotnet` muxer at its root; a runtime archive or DOTNET_ROOT always has one",
            path.display()
        );
    }
    let version = pick_version(&path, &versions, version.as_deref())?;
    Ok(Runtime { root, version })
}

/// A runtime spec split into its path and the `@VERSION` that picks one framework version.
pub fn split_spec(spec: &str) -> (PathBuf, Option<String>) {
    match spec.rsplit_once('@') {
        Some((p, v))
            if !v.is_empty()
                && v.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-') =>
        {
            (PathBuf::from(p), Some(v.to_string()))
        }
        _ => (PathBuf::from(spec), None),
    }
}

/// The `Microsoft.NETCore.App` version to use among `versions` (found under `path`): the one
/// asked for with `@VERSION`, or the only one there is.
pub fn pick_version(path: &Path, versions: &[String], wanted: Option<&str>) -> Result<String> {
    match wanted {
        Some(v) if versions.iter().any(|x| x == v) => Ok(v.to_string()),
        Some(v) => bail!(
            "{} has no {NETCORE_APP} {v} (it has {})",
            path.display(),
            versions.join(", ")
        ),
        None if versions.len() == 1 => Ok(versions[0].clone()),
        None => bail!(
            "{} has several {NETCORE_APP} versions ({}); pick one with {}@VERSION",
            path.display(),
            versions.join(", "),
            path.display()
        ),
    }
}

/// Unpacks a runtime archive into `<unpack_dir>/<archive name>-<sha256 prefix>`, reusing an
/// earlier unpack of the same bytes. Unpacks into a temporary directory first, so an interrupted
/// or rejected archive leaves nothing behind.
fn unpack(archive: &Path, unpack_dir: &Path) -> Result<PathBuf> {
    unpack_archive(archive, unpack_dir, &|dir| {
        if framework_versions(dir, NETCORE_APP).is_empty() {
            bail!(
                "{} is not a .NET runtime archive: it has no shared/{NETCORE_APP}/<version> directory",
                archive.display()
            );
        }
        Ok(())
    })
}

/// Unpacks a `.tar.gz`/`.tgz` or `.zip`/`.nupkg` archive into
/// `<unpack_dir>/<archive name>-<sha256 prefix>` (reused when the same bytes were unpacked
/// before); `check` judges the unpacked tree before it is kept, so a rejected or interrupted
/// archive leaves nothing behind.
pub fn unpack_archive(
    archive: &Path,
    unpack_dir: &Path,
    check: &dyn Fn(&Path) -> Result<()>,
) -> Result<PathBuf> {
    let name = archive
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let is_tar = name.ends_with(".tar.gz") || name.ends_with(".tgz");
    let is_zip = name.ends_with(".zip") || name.ends_with(".nupkg");
    if !is_tar && !is_zip {
        bail!(
            "{} is neither a directory nor a runtime archive (.tar.gz or .zip)",
            archive.display()
        );
    }
    let digest = sha256_file(archive)?;
    let hex: String = digest.iter().take(8).map(|b| format!("{b:02x}")).collect();
    let dest = unpack_dir.join(format!("{name}-{hex}"));
    if dest.is_dir() {
        return Ok(dest);
    }
    std::fs::create_dir_all(unpack_dir)
        .with_context(|| format!("cannot create {}", unpack_dir.display()))?;
    let tmp = tempfile::tempdir_in(unpack_dir)
        .with_context(|| format!("cannot create a directory in {}", unpack_dir.display()))?;
    let result = if is_tar {
        File::open(archive)
            .map_err(anyhow::Error::from)
            .and_then(
                |f| Ok(tar::Archive::new(flate2::read::GzDecoder::new(f)).unpack(tmp.path())?),
            )
    } else {
        File::open(archive)
            .map_err(anyhow::Error::from)
            .and_then(|f| {
                let mut zip = zip::ZipArchive::new(f)?;
                zip.extract(tmp.path())?;
                Ok(())
            })
    };
    result.with_context(|| {
        format!(
            "{} is not a readable runtime archive or package",
            archive.display()
        )
    })?;
    check(tmp.path())?;
    let tmp = tmp.keep();
    std::fs::rename(&tmp, &dest)
        .with_context(|| format!("cannot move the unpacked runtime to {}", dest.display()))?;
    Ok(dest)
}

/// The SHA-256 of a file's bytes.
pub fn sha256_file(path: &Path) -> Result<Vec<u8>> {
    use std::io::Read;
    let mut file = File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = file
            .read(&mut buf)
            .with_context(|| format!("cannot read {}", path.display()))?;
        if n == 0 {
            return Ok(hasher.finalize().to_vec());
        }
        hasher.update(&buf[..n]);
    }
}

/// True when a shared library is installed in one of the system's library directories.
pub fn library_installed(name: &str) -> bool {
    [
        "/usr/lib/x86_64-linux-gnu",
        "/lib/x86_64-linux-gnu",
        "/usr/lib64",
        "/usr/lib",
        "/lib",
        "/usr/local/lib",
    ]
    .iter()
    .any(|dir| Path::new(dir).join(name).exists())
}
