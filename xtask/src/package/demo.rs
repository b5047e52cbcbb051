//! The releases the package tests and the demo's package stages start from: a fixture fork's
//! release whose Linux archives are made from the real CoreCLR test runtime (its `dotnet` muxer,
//! hostfxr and framework), so what is packaged installs and runs (`repository::demo` publishes
//! it); and the Windows release the demo packages as MSIs (its win-x64 archives shaped from the
//! real Windows runtime files), with what each MSI installs as msitools read it back.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use crate::config::Config;
use crate::fixtures::official_build as fixture;
use crate::official_build::{self as build, Arch, Manifest, Os, MANIFEST};

/// A fixture fork in `root`, bumped, built and released on `date`; before the release is
/// assembled, the build's two Linux archives are replaced by archives of the real runtime at
/// `dotnet_root` (see `compat::testenv::release_archives`) and the build manifest updated, as if
/// the build had made them. Returns the config and the release directory.
pub fn release_from_test_runtime(
    root: &Path,
    dotnet_root: &Path,
    date: &str,
) -> Result<(Config, PathBuf)> {
    let f = fixture::create(root)?;
    let config = f.load_config()?;
    let xtask = format!("cargo xtask --config {}", f.config.display());
    crate::release::demo::bump_and_build(&config, &xtask, &mut Vec::new())?;
    let version = build::product_version(&config)?;
    let collected = config
        .artifacts_dir()
        .join(version.to_string())
        .join("linux-x64");
    crate::compat::testenv::release_archives(dotnet_root, &version.to_string(), &collected)?;
    let manifest_path = collected.join(MANIFEST);
    let mut manifest: Manifest = serde_json::from_slice(
        &std::fs::read(&manifest_path)
            .with_context(|| format!("cannot read {}", manifest_path.display()))?,
    )?;
    for file in &mut manifest.files {
        if file.name.ends_with(".tar.gz") {
            let bytes = std::fs::read(collected.join(&file.name))?;
            file.size = bytes.len() as u64;
            file.sha512 = build::sha512_hex(&bytes);
        }
    }
    crate::atomic::write(&manifest_path, serde_json::to_vec_pretty(&manifest)?)?;
    let release = assemble_on(&config, date)?;
    Ok((config, release))
}

/// Assembles the release of the collected artifacts, dated `date`; returns its directory.
fn assemble_on(config: &Config, date: &str) -> Result<PathBuf> {
    let release = crate::release::assemble(
        config,
        &crate::release::Options {
            date: Some(date.to_string()),
            ..Default::default()
        },
    )?;
    Ok(release.dir)
}

/// A fixture fork in `sandbox`, bumped, with the Windows build leg's collection (the three win-x64
/// archives and the desktop runtime pack shaped from the real Windows runtime files cached under
/// `cache`, see `msi::windows_build_leg`) assembled into a release on `date`: what
/// `cargo xtask package --formats msi` starts from. Writes to stderr the command lines that do the
/// same. Returns the release directory.
pub fn windows_release(cache: &Path, sandbox: &Path, date: &str) -> Result<PathBuf> {
    let windows_root = crate::compat::testenv::ensure_windows(cache)?;
    let f = fixture::create(sandbox)?;
    let config = f.load_config()?;
    let xtask = format!("cargo xtask --config {}", f.config.display());
    eprintln!("$ {xtask} bump");
    crate::bump::bump(&config, &crate::bump::Options::default())?;
    let version = build::product_version(&config)?;
    let collected = config
        .artifacts_dir()
        .join(version.to_string())
        .join(Os::Windows.rid(Arch::X64));
    eprintln!(
        "(the Windows build leg's archives, shaped from the real Windows runtime files, in {})",
        collected.display()
    );
    super::msi::windows_build_leg(
        &windows_root,
        version,
        &format!("{}.1", date.replace('-', "")),
        &collected,
    )?;
    eprintln!("$ {xtask} release --date {date}");
    assemble_on(&config, date)
}

/// What each MSI in `release` installs, as msitools read it back: `msiinfo export` of its
/// `Registry` table (the keys tools find installed runtimes by, with the registry view of each)
/// and `msiextract --list` of its files (the first few, and how many).
pub fn show_msis(release: &Path, out: &mut dyn Write) -> Result<()> {
    const SHOWN_FILES: usize = 4;
    let mut msis: Vec<PathBuf> = std::fs::read_dir(release)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "msi"))
        .collect();
    msis.sort();
    if msis.is_empty() {
        bail!("{} holds no MSI", release.display());
    }
    let sh = crate::process::shell()?;
    for msi in msis {
        writeln!(out, "  {}", msi.display())?;
        writeln!(out, "    $ msiinfo export {} Registry", msi.display())?;
        let registry =
            crate::process::read(sh.cmd("msiinfo").arg("export").arg(&msi).arg("Registry"))?;
        // A value's registry view is its component's: 64-bit when the attributes have 256.
        let components =
            crate::process::read(sh.cmd("msiinfo").arg("export").arg(&msi).arg("Component"))?;
        let sixty_four: Vec<&str> = components
            .lines()
            .skip(3)
            .filter_map(|row| {
                let fields: Vec<&str> = row.split('\t').collect();
                let attributes: u32 = fields.get(3)?.parse().ok()?;
                (attributes & 256 != 0).then_some(fields[0])
            })
            .collect();
        for row in registry.lines().skip(3) {
            let fields: Vec<&str> = row.split('\t').collect();
            if let [_, _, key, name, value, component, ..] = fields.as_slice() {
                let view = if sixty_four.contains(component) {
                    "64-bit"
                } else {
                    "32-bit"
                };
                writeln!(out, "      HKLM\\{key} {name} = {value}  ({view} view)")?;
            }
        }
        writeln!(out, "    $ msiextract --list {}", msi.display())?;
        let files = crate::process::read(sh.cmd("msiextract").arg("--list").arg(&msi))?;
        let files: Vec<&str> = files.lines().filter(|l| !l.trim().is_empty()).collect();
        for file in files.iter().take(SHOWN_FILES) {
            writeln!(out, "      {file}")?;
        }
        if files.len() > SHOWN_FILES {
            writeln!(out, "      … {} files in all", files.len())?;
        }
    }
    Ok(())
}
