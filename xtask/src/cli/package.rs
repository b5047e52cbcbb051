use std::path::PathBuf;

use anyhow::{Context as _, Result};

use super::{Context, Outcome};
use crate::package::Format;

/// Build installable packages (`.deb`, `.rpm`) from a release's Linux archives, split like
/// Microsoft's (dotnet-host, dotnet-hostfxr-6.0, dotnet-runtime-deps-6.0, dotnet-runtime-6.0,
/// aspnetcore-runtime-6.0), and with `--formats msi` one Windows installer per win-x64 archive
/// (dotnet-runtime, aspnetcore-runtime, windowsdesktop-runtime; built with msitools' wixl),
/// into the release directory (SHA512SUMS and release.json updated; a signed release is signed
/// again). RPMs are signed with the key from $ELS_SIGNING_KEY or $ELS_SIGNING_KEY_ID; sign MSIs
/// with `release authenticode` before the release is hashed and signed. SOURCE_DATE_EPOCH fixes
/// every timestamp (default: the release date).
///
/// Example: `ELS_SIGNING_KEY="$(cat key.asc)" cargo xtask package --release artifacts/els/release/6.0.37 --formats deb,rpm`
#[derive(Debug, clap::Args)]
#[command(after_long_help = super::exit::plain("the packages written into the release directory"))]
pub struct Args {
    /// The release directory (default: <artifacts-dir>/release/<current version>).
    #[arg(long, value_name = "DIR")]
    pub release: Option<PathBuf>,
    /// The formats to build, comma-separated: deb, rpm, msi (MSIs only when named).
    #[arg(long, value_delimiter = ',', default_value = "deb,rpm")]
    pub formats: Vec<Format>,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
}

/// The Authenticode certificate for the MSIs when `msi` is built and one is in the environment
/// (a certificate that is set but unreadable is an error); unsigned MSIs get a warning.
fn authenticode_certificate(
    formats: &[Format],
    config: &crate::config::Config,
) -> Result<Option<std::sync::Arc<crate::release::authenticode::Certificate>>> {
    if !formats.contains(&Format::Msi) {
        return Ok(None);
    }
    let variable = &config.release.authenticode_pfx_env;
    if std::env::var(variable).map_or(true, |v| v.trim().is_empty()) {
        eprintln!(
            "{} ${variable} is not set: the MSIs are not Authenticode-signed (Windows will warn whoever installs them)",
            crate::console::paint_err("warning:", crate::console::Style::Warn)
        );
        return Ok(None);
    }
    let certificate = crate::release::authenticode::Certificate::from_env(&config.release, None)?;
    Ok(Some(std::sync::Arc::new(certificate)))
}

pub fn run(args: Args, ctx: &Context) -> Result<Outcome> {
    let config = ctx.require_config()?;
    let source_date = match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(v) if !v.trim().is_empty() => Some(v.trim().parse::<i64>().with_context(|| {
            format!("SOURCE_DATE_EPOCH=`{v}` is not a number of seconds since 1970")
        })?),
        _ => None,
    };
    let authenticode = authenticode_certificate(&args.formats, &config)?;
    let options = crate::package::Options {
        release: args.release,
        formats: args.formats,
        source_date,
        quiet: false,
        authenticode,
    };
    // The key is needed only for RPMs and a signed release; the library says so when it is.
    let signer = crate::release::sign::Signer::from_env(&config.release).ok();
    let report = crate::package::package(&config, &options, signer.as_ref())?;
    if args.json {
        println!("{}", crate::schemas::to_json(&report)?);
        return Ok(Outcome::Success);
    }
    println!(
        "{} packages of {} ({}) in {}",
        report.packages.len(),
        report.version,
        report.package_version,
        report.dir.display()
    );
    for p in &report.packages {
        println!("  {:<4} {:<26} {}", p.format, p.name, p.file);
    }
    if let Some(fpr) = &report.signer {
        println!("signed with {fpr}");
    }
    if report.resigned {
        println!("the release's metadata was signed again (SHA512SUMS changed)");
    }
    // APT and DNF repositories take the .deb/.rpm files; the MSIs ship with the release itself.
    if report
        .packages
        .iter()
        .any(|p| p.format != crate::package::Format::Msi)
    {
        println!(
            "next: cargo xtask repo publish --channel lab --release {}",
            report.dir.display()
        );
    } else {
        println!(
            "next: publish the release directory (the MSIs are in its SHA512SUMS and release.json)"
        );
    }
    Ok(Outcome::Success)
}
