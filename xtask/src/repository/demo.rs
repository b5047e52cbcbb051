//! The package → publish lab → promote → verify stage of `cargo xtask demo`: Linux packages of a
//! release made from the real test runtime ([`crate::package::demo`]), published to signed APT
//! and DNF repositories, promoted and verified.

use std::io::Write;
use std::path::Path;

use anyhow::{bail, Result};

use crate::channel::Channel;
use crate::release::sign::{self, GpgHome, Signer, SigningKey};

/// Packages a release made from the real test runtime (cached under `<workspace>/target`, set up
/// when missing), publishes it to `lab`, promotes it to `stable` and verifies both channels, in
/// `sandbox`, with a throwaway key; tells `out` where the repositories and the key are.
pub fn demo(workspace: &Path, sandbox: &Path, out: &mut dyn Write) -> Result<()> {
    let runtimes = crate::compat::testenv::from_env_or_ensure(&crate::compat::testenv::cache_dir(
        &workspace.join("target"),
    ))?;
    let (config, release) = crate::package::demo::release_from_test_runtime(
        sandbox,
        &runtimes.dotnet_root,
        &crate::version::today_iso(),
    )?;
    let home = GpgHome::temporary()?;
    let (secret, _, _) = sign::throwaway_key(&home, "net6-els demo <demo@example.org>")?;
    let signer = Signer::new(&SigningKey::Armored(secret), None)?;
    let packaged = crate::package::package(
        &config,
        &crate::package::Options {
            release: Some(release.clone()),
            quiet: true,
            ..Default::default()
        },
        Some(&signer),
    )?;
    let mut log = vec![format!(
        "package: {} packages of {} ({})",
        packaged.packages.len(),
        packaged.version,
        packaged.package_version
    )];
    let version = packaged.version.parse()?;
    let options = super::PublishOptions {
        release: Some(release),
        ..Default::default()
    };
    let lab = super::publish(&config, Channel::Lab, &options, &signer)?;
    log.push(format!(
        "publish lab: {} .deb and {} .rpm",
        lab.apt.len(),
        lab.rpm.len()
    ));
    let stable = super::promote(
        &config,
        version,
        Channel::Lab,
        Channel::Stable,
        &options,
        &signer,
    )?;
    log.push(format!(
        "promote lab → stable: {} files, identical bytes",
        stable.apt.len() + stable.rpm.len()
    ));
    let tree = super::Tree::new(&config, None)?;
    let verified = super::verify::verify(&tree, &Channel::ALL, None)?;
    if !verified.problems.is_empty() {
        bail!(
            "the demo repository does not verify: {}",
            verified.problems.join("; ")
        );
    }
    log.push(format!(
        "verify: {} package files and every signature check out",
        verified.packages
    ));
    for line in &log {
        writeln!(out, "  {line}")?;
    }
    writeln!(out, "  repositories: {}", lab.repo_dir.display())?;
    writeln!(out, "  APT source:   {}", lab.apt_source)?;
    writeln!(out, "  DNF .repo:    {}", stable.dnf_repo_file.display())?;
    writeln!(out, "  public key:   {}", lab.public_key.display())?;
    Ok(())
}
