//! The NuGet feed stage of `cargo xtask demo`: the release's nupkgs published to the lab feed,
//! promoted to stable, verified, the customers' `nuget.config`, and an install from the served
//! feed with the real NuGet client (nuget.exe on Mono) when it is installed.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use super::serve::StaticServer;
use super::{client_config, verify, Feed, Options};
use crate::channel::Channel;
use crate::config::Config;

/// Environment variable naming nuget.exe (set by `cargo xtask test`).
pub const ENV_NUGET_EXE: &str = "ELS_NUGET_EXE";
/// Where `cargo xtask test` installs nuget.exe, under the Cargo target directory.
pub const NUGET_EXE_IN_TARGET: &str = "tools/npm/node_modules/nuget-exe/nuget-5.8.0.exe";

/// Publishes `release` of the fork whose els.toml is in `sandbox` to the lab feed under
/// `sandbox/feed`, promotes it to stable, verifies it, and installs the patched out-of-band
/// package from the served stable feed with nuget.exe (found as `cargo xtask test` installs it
/// for `workspace`). Returns the lines to print.
pub fn run_stage(sandbox: &Path, release: &Path, workspace: &Path) -> Result<Vec<String>> {
    let config = &Config::load(&sandbox.join(crate::config::FILE_NAME))?;
    let feed_dir = sandbox.join("feed");
    std::fs::create_dir_all(&feed_dir)?;
    let server = StaticServer::start(&feed_dir)?;
    let options = Options {
        release: Some(release.to_path_buf()),
        feed_dir: Some(feed_dir.clone()),
        base_url: Some(server.url.clone()),
        ..Options::default()
    };
    let mut log = Vec::new();
    let lab = super::publish(config, Channel::Lab, &options)?;
    log.push(format!(
        "$ cargo xtask feed publish --channel lab → {} packages added: {}",
        lab.added.len(),
        lab.added.join(", ")
    ));
    let stable = super::promote(config, &options)?;
    log.push(format!(
        "$ cargo xtask feed promote → {} packages in the stable feed, the lab bytes",
        stable.packages
    ));
    let feed = Feed::locate(config, Channel::Stable, Some(&feed_dir), Some(&server.url))?;
    let checked = verify::verify(&feed, &[release.to_path_buf()])?;
    if !checked.problems.is_empty() {
        bail!(
            "the fresh feed does not verify: {}",
            checked.problems.join("; ")
        );
    }
    log.push(format!(
        "$ cargo xtask feed verify --channel stable → ok, {} packages match SHA512SUMS",
        checked.packages
    ));
    log.push("$ cargo xtask feed config --channel stable".to_string());
    log.extend(
        client_config::render(&feed)?
            .lines()
            .map(|l| format!("  {l}")),
    );

    let Some(nuget) = nuget_exe(workspace) else {
        log.push(format!(
            "nuget.exe is not installed (`cargo xtask test` installs it; or set {ENV_NUGET_EXE}): no install shown"
        ));
        return Ok(log);
    };
    log.extend(install_patched_package(&nuget, sandbox, release, &feed)?);
    Ok(log)
}

/// Installs the release's patched out-of-band package (the one with the fork's four-part
/// version) from the served `feed` with nuget.exe, in a private NuGet home under `sandbox`, and
/// checks it got the release's bytes. Returns the lines to print.
fn install_patched_package(
    nuget: &Path,
    sandbox: &Path,
    release: &Path,
    feed: &Feed,
) -> Result<Vec<String>> {
    let packages = super::release_packages(release)?;
    let Some(patched) = packages
        .iter()
        .find(|p| p.nuspec.version.normalized().split('.').count() == 4)
    else {
        bail!(
            "{} has no patched out-of-band package (a 6.0.S.R version)",
            release.display()
        );
    };
    let (id, version) = (
        patched.nuspec.id.as_str(),
        patched.nuspec.version.normalized(),
    );
    let home = sandbox.join("nuget-home");
    let out = home.join("packages-out");
    let config_file = home.join("NuGet.Config");
    crate::atomic::write(
        &config_file,
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<configuration />\n",
    )?;
    let sh = xshell::Shell::new()?;
    let index = feed.index_url();
    let output = xshell::cmd!(
        sh,
        "mono {nuget} install {id} -Version {version} -Source {index} -OutputDirectory {out} -ConfigFile {config_file} -NonInteractive"
    )
    .env("HOME", &home)
    .env("NUGET_HTTP_CACHE_PATH", home.join("http-cache"))
    .env("NUGET_PACKAGES", home.join("global-packages"))
    .ignore_status()
    .output()
    .context("cannot run `mono nuget.exe` (install mono-complete)")?;
    if !output.status.success() {
        bail!(
            "nuget install {id} {version} from {index} failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stdout)
                .lines()
                .rev()
                .take(5)
                .collect::<Vec<_>>()
                .join(" | ")
        );
    }
    let installed = out
        .join(format!("{id}.{version}"))
        .join(format!("{id}.{version}.nupkg"));
    let bytes = std::fs::read(&installed).with_context(|| {
        format!(
            "nuget install reported success but {} is missing",
            installed.display()
        )
    })?;
    let original = std::fs::read(release.join(format!("{id}.{version}.nupkg")))?;
    if bytes != original {
        bail!("nuget.exe installed {id} {version} with other bytes than the release's");
    }
    Ok(vec![
        format!("$ mono nuget.exe install {id} -Version {version} -Source {index}"),
        format!(
            "  installed {id} {version} into {}: the release's bytes",
            out.display()
        ),
    ])
}

/// nuget.exe from `ELS_NUGET_EXE`, or where `cargo xtask test` installs it.
fn nuget_exe(workspace: &Path) -> Option<PathBuf> {
    std::env::var_os(ENV_NUGET_EXE)
        .map(PathBuf::from)
        .or_else(|| Some(workspace.join("target").join(NUGET_EXE_IN_TARGET)))
        .filter(|p| p.is_file())
}
