//! The release the package tests and the demo's package stage (`repository::demo`) start from: a
//! fixture fork's release whose Linux archives are made from the real CoreCLR test runtime (its
//! `dotnet` muxer, hostfxr and framework), so what is packaged installs and runs.

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
    crate::bump::bump(&config, &crate::bump::Options::default())?;
    let options = build::Options {
        os: Os::Linux,
        arch: Arch::X64,
        repos: Vec::new(),
        build_id: None,
        dry_run: false,
        quiet: true,
    };
    if !build::build(&config, &options)?.succeeded {
        bail!("the fixture build failed");
    }
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
    let release = crate::release::assemble(
        &config,
        &crate::release::Options {
            date: Some(date.to_string()),
            ..Default::default()
        },
    )?;
    Ok((config, release.dir))
}
