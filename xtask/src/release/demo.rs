//! The bump → build → release → sign → verify stage of `cargo xtask demo`, run on a fixture fork in
//! a sandbox with a throwaway signing key.

use std::path::{Path, PathBuf};

use anyhow::{bail, Result};

use super::sign::{self, GpgHome, SigningKey};
use super::verify::{self, TrustedKey};
use crate::fixtures::official_build as fixture;
use crate::official_build::{self, Arch, Os};

/// What the stage produced.
#[derive(Clone, Debug)]
pub struct StageReport {
    pub version: String,
    pub release_dir: PathBuf,
    pub cves: Vec<String>,
    pub signer: String,
    /// One line per step, for the demo to print.
    pub log: Vec<String>,
    /// The release notes' "Accepted public API changes" section (empty when apicompat.toml
    /// beside the fixture's els.toml accepts nothing).
    pub accepted_api_changes: String,
}

/// Runs the stage under `sandbox` (created if needed): creates a fixture fork, bumps it, builds
/// linux-x64 with the fixture build scripts, assembles the release (with `vex` when given),
/// signs it with a throwaway key and verifies it against that key's public half. Before each step
/// it writes to stderr the `cargo xtask` command line that does the same, to re-run it by hand.
pub fn run_stage(sandbox: &Path, vex: Option<&Path>) -> Result<StageReport> {
    let mut log = Vec::new();
    let f = fixture::create(sandbox)?;
    let config = f.load_config()?;
    let xtask = format!("cargo xtask --config {}", f.config.display());
    bump_and_build(&config, &xtask, &mut log)?;
    let vex_arg = vex
        .map(|v| format!(" --vex {}", v.display()))
        .unwrap_or_default();
    eprintln!("$ {xtask} release{vex_arg}");
    let release = super::assemble(
        &config,
        &super::Options {
            vex: vex.map(Path::to_path_buf),
            ..Default::default()
        },
    )?;
    log.push(format!(
        "release: {} files, fixes {}",
        release.files.len(),
        release.cves.join(", ")
    ));
    let signer = sign_and_verify(sandbox, &release.dir, &xtask, &mut log)?;
    let notes = std::fs::read_to_string(release.dir.join(super::NOTES))?;
    let accepted_api_changes = notes
        .split_once(super::ACCEPTED_API_HEADING)
        .map(|(_, section)| {
            let end = section.find("\n## ").unwrap_or(section.len());
            format!("{}{}", super::ACCEPTED_API_HEADING, &section[..end])
        })
        .unwrap_or_default();
    Ok(StageReport {
        accepted_api_changes,
        version: release.version,
        release_dir: release.dir,
        cves: release.cves,
        signer,
        log,
    })
}

/// Bumps the fixture fork and builds linux-x64 with its build scripts, writing the command lines
/// (spelled with `xtask`) to stderr and what each did to `log`.
pub(crate) fn bump_and_build(
    config: &crate::config::Config,
    xtask: &str,
    log: &mut Vec<String>,
) -> Result<()> {
    eprintln!("$ {xtask} bump");
    let bumped = crate::bump::bump(config, &crate::bump::Options::default())?;
    log.push(format!(
        "bump: {} → {} in {} repositories",
        bumped.from,
        bumped.to,
        bumped.repos.len()
    ));
    let options = official_build::Options {
        os: Os::Linux,
        arch: Arch::X64,
        repos: Vec::new(),
        build_id: None,
        dry_run: false,
        quiet: true,
    };
    eprintln!("$ {xtask} build --os linux --arch x64");
    let built = official_build::build(config, &options)?;
    if !built.succeeded {
        bail!(
            "the fixture build failed: {:?} {:?}",
            built.missing_artifacts,
            built
                .repos
                .iter()
                .map(|r| &r.error_tail)
                .collect::<Vec<_>>()
        );
    }
    log.push(format!(
        "build: linux-x64, OfficialBuildId {}",
        built.official_build_id
    ));
    Ok(())
}

/// Signs the release with a throwaway key and verifies it against the key's public half (written
/// into `sandbox`); returns the signer's fingerprint.
fn sign_and_verify(
    sandbox: &Path,
    release_dir: &Path,
    xtask: &str,
    log: &mut Vec<String>,
) -> Result<String> {
    let home = GpgHome::temporary()?;
    let (secret, public, _) = sign::throwaway_key(&home, "net6-els demo <demo@example.org>")?;
    eprintln!(
        "$ ELS_SIGNING_KEY=\"$(cat <a throwaway key>)\" {xtask} release sign {}",
        release_dir.display()
    );
    let signed = sign::sign(release_dir, &SigningKey::Armored(secret), None)?;
    log.push(format!(
        "sign: {} signatures by {}",
        signed.signatures.len(),
        signed.fingerprint
    ));
    let public_key = sandbox.join("signing-key.pub.asc");
    crate::atomic::write(&public_key, public)?;
    eprintln!(
        "$ {xtask} release verify {} --key {}",
        release_dir.display(),
        public_key.display()
    );
    let verified = verify::verify(release_dir, &TrustedKey::File(public_key))?;
    if !verified.problems.is_empty() {
        bail!(
            "the fresh release does not verify: {}",
            verified.problems.join("; ")
        );
    }
    log.push(format!(
        "verify: {} files and their signatures check out",
        verified.checked
    ));
    Ok(signed.fingerprint)
}
