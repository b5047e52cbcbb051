//! Building the corpus into the prebuilt layout `<out>/<app>/<app>.dll` (+ runtimeconfig):
//! with a .NET SDK (`dotnet build`, the real path) or, where no SDK exists, with Mono's `mcs`
//! (cached by a hash of the sources, so a test run compiles the corpus once).

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use sha2::{Digest, Sha256};

use super::manifest::{App, BuildProfile};

/// The runtimeconfig beside an `mcs`-built binary: any runtime from 3.1 on may run it; the runner
/// pins the exact version per run.
const MCS_RUNTIMECONFIG: &str = r#"{"runtimeOptions":{"tfm":"netcoreapp3.1","rollForward":"LatestMajor","framework":{"name":"Microsoft.NETCore.App","version":"3.1.0"}}}"#;

/// `mcs` and the framework directory it compiles `netcoreapp3.1` apps against.
pub struct Mcs {
    pub mcs: PathBuf,
    /// A CoreCLR 3.1 `shared/Microsoft.NETCore.App/3.1.x` directory (mcs cannot read newer ones).
    pub reference_framework: PathBuf,
}

/// What an `mcs` build produced.
pub struct McsBuild {
    /// The prebuilt layout.
    pub dir: PathBuf,
    /// Apps that need an SDK (profile `sdk-only`) and were not built.
    pub not_built: Vec<String>,
    /// False when the layout came from the cache.
    pub compiled: bool,
}

/// Compiles every app with `mcs` into `<cache_root>/<hash of the inputs>`, reusing it when the
/// sources did not change. Builds into a temporary directory and renames it into place.
pub fn mcs_corpus(apps: &[App], mcs: &Mcs, cache_root: &Path, jobs: usize) -> Result<McsBuild> {
    let not_built: Vec<String> = apps
        .iter()
        .filter(|a| a.manifest.build.profile == BuildProfile::SdkOnly)
        .map(|a| a.name.clone())
        .collect();
    let buildable: Vec<&App> = apps
        .iter()
        .filter(|a| a.manifest.build.profile != BuildProfile::SdkOnly)
        .collect();
    let mut hasher = Sha256::new();
    hasher.update(b"mcs-layout-v1\0");
    hasher.update(mcs.mcs.to_string_lossy().as_bytes());
    hasher.update(mcs.reference_framework.to_string_lossy().as_bytes());
    for app in &buildable {
        hasher.update(app.name.as_bytes());
        hasher.update(std::fs::read(app.manifest_path())?);
        for source in app.sources()? {
            hasher.update(
                source
                    .file_name()
                    .unwrap_or_default()
                    .to_string_lossy()
                    .as_bytes(),
            );
            hasher.update(
                std::fs::read(&source)
                    .with_context(|| format!("cannot read {}", source.display()))?,
            );
        }
    }
    let hex: String = hasher
        .finalize()
        .iter()
        .take(8)
        .map(|b| format!("{b:02x}"))
        .collect();
    let dir = cache_root.join(hex);
    if dir.is_dir() {
        return Ok(McsBuild {
            dir,
            not_built,
            compiled: false,
        });
    }
    std::fs::create_dir_all(cache_root)
        .with_context(|| format!("cannot create {}", cache_root.display()))?;
    let tmp = tempfile::tempdir_in(cache_root)
        .with_context(|| format!("cannot create a directory in {}", cache_root.display()))?;
    compile_all(&buildable, mcs, tmp.path(), jobs)?;
    let tmp = tmp.keep();
    if std::fs::rename(&tmp, &dir).is_err() {
        // Another run finished the same layout first; theirs is identical.
        let _ = std::fs::remove_dir_all(&tmp);
        if !dir.is_dir() {
            bail!("cannot move the built corpus to {}", dir.display());
        }
    }
    Ok(McsBuild {
        dir,
        not_built,
        compiled: true,
    })
}

/// Compiles every app with `mcs` into the prebuilt layout `out` (`dotnet build -o <out>/<app>`'s
/// shape, as `compat build --sdk` writes it): each app is compiled into a temporary directory
/// beside `out` first, and an app's earlier output is replaced only once the whole corpus
/// compiled. Returns the apps that need an SDK and were not built.
pub fn mcs_layout(apps: &[App], mcs: &Mcs, out: &Path, jobs: usize) -> Result<Vec<String>> {
    let (buildable, not_built): (Vec<&App>, Vec<&App>) = apps
        .iter()
        .partition(|a| a.manifest.build.profile != BuildProfile::SdkOnly);
    let parent = out.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    let tmp = tempfile::tempdir_in(parent)
        .with_context(|| format!("cannot create a directory in {}", parent.display()))?;
    compile_all(&buildable, mcs, tmp.path(), jobs)?;
    for app in &buildable {
        let dest = out.join(&app.name);
        if dest.exists() {
            std::fs::remove_dir_all(&dest)
                .with_context(|| format!("cannot replace {}", dest.display()))?;
        }
        std::fs::rename(tmp.path().join(&app.name), &dest)
            .with_context(|| format!("cannot move the built app to {}", dest.display()))?;
    }
    Ok(not_built.iter().map(|a| a.name.clone()).collect())
}

/// Compiles `apps` into `layout/<app>/`, `jobs` at a time; every failure is reported.
fn compile_all(apps: &[&App], mcs: &Mcs, layout: &Path, jobs: usize) -> Result<()> {
    let next = std::sync::Mutex::new(0usize);
    let errors = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..jobs.max(1) {
            scope.spawn(|| loop {
                let i = {
                    let mut n = next.lock().unwrap_or_else(|e| e.into_inner());
                    *n += 1;
                    *n - 1
                };
                let Some(app) = apps.get(i) else { return };
                if let Err(e) = compile(app, mcs, layout) {
                    errors
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .push(format!("{e:#}"));
                }
            });
        }
    });
    let errors = errors.into_inner().unwrap_or_else(|e| e.into_inner());
    if !errors.is_empty() {
        bail!("{}", errors.join("\n"));
    }
    Ok(())
}

fn compile(app: &App, mcs: &Mcs, layout: &Path) -> Result<()> {
    let out_dir = layout.join(&app.name);
    std::fs::create_dir_all(&out_dir)?;
    let sh = crate::process::shell()?;
    let mut command = sh
        .cmd(&mcs.mcs)
        .arg("-langversion:7")
        .arg("-target:exe")
        .arg("-nowarn:1702")
        .arg(format!(
            "-out:{}",
            out_dir.join(format!("{}.dll", app.name)).display()
        ));
    match app.manifest.build.profile {
        BuildProfile::Netfx => {
            for r in &app.manifest.build.references {
                command = command.arg(format!("-r:{r}"));
            }
        }
        BuildProfile::Netcoreapp31 => {
            command = command.arg("-nostdlib").arg("-noconfig");
            let entries = std::fs::read_dir(&mcs.reference_framework).with_context(|| {
                format!(
                    "cannot read the reference framework {}",
                    mcs.reference_framework.display()
                )
            })?;
            let mut dlls: Vec<PathBuf> = entries
                .filter_map(|e| e.ok())
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "dll"))
                .collect();
            dlls.sort();
            for dll in dlls {
                command = command.arg(format!("-r:{}", dll.display()));
            }
        }
        BuildProfile::SdkOnly => bail!(
            "app `{}` needs an SDK to build (build.profile = \"sdk-only\")",
            app.name
        ),
    }
    crate::process::output(command.args(app.sources()?)).with_context(|| {
        format!(
            "mcs could not compile app `{}` ({})",
            app.name,
            app.dir.display()
        )
    })?;
    crate::atomic::write(
        &out_dir.join(format!("{}.runtimeconfig.json", app.name)),
        MCS_RUNTIMECONFIG,
    )
}

/// Builds every app with a .NET SDK (`dotnet build -c Release`) into `out`, the layout CI builds
/// once and hands to the runners.
pub fn sdk_corpus(apps: &[App], dotnet: &Path, out: &Path) -> Result<()> {
    for app in apps {
        let project = app.dir.join(format!("{}.csproj", app.name));
        if !project.is_file() {
            bail!(
                "app `{}` has no project file {}",
                app.name,
                project.display()
            );
        }
        let sh = crate::process::shell()?;
        crate::process::run_visible(
            sh.cmd(dotnet)
                .args(["build", "--nologo", "-c", "Release", "-o"])
                .arg(out.join(&app.name))
                .arg(&project)
                .env("DOTNET_CLI_TELEMETRY_OPTOUT", "1"),
        )
        .with_context(|| {
            format!(
                "cannot build {} (is {} a .NET SDK?)",
                project.display(),
                dotnet.display()
            )
        })?;
    }
    Ok(())
}
