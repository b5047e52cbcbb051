use std::path::PathBuf;

use anyhow::{Context as _, Result};

use super::{Context, Outcome};
use crate::package::Format;

/// Build installable packages (`.deb`, `.rpm`) from a release's Linux archives, split like
/// Microsoft's (dotnet-host, dotnet-hostfxr-6.0, dotnet-runtime-deps-6.0, dotnet-runtime-6.0,
/// aspnetcore-runtime-6.0), into the release directory (SHA512SUMS and release.json updated;
/// a signed release is signed again). RPMs are signed with the key from $ELS_SIGNING_KEY or
/// $ELS_SIGNING_KEY_ID. SOURCE_DATE_EPOCH fixes every timestamp (default: the release date).
///
/// Example: `ELS_SIGNING_KEY="$(cat key.asc)" cargo xtask package --release artifacts/els/release/6.0.37 --formats deb,rpm`
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The release directory (default: <artifacts-dir>/release/<current version>).
    #[arg(long, value_name = "DIR")]
    pub release: Option<PathBuf>,
    /// The formats to build, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "deb,rpm")]
    pub formats: Vec<Format>,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: Args, ctx: &Context) -> Result<Outcome> {
    let config = ctx.require_config()?;
    let source_date = match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(v) if !v.trim().is_empty() => Some(v.trim().parse::<i64>().with_context(|| {
            format!("SOURCE_DATE_EPOCH=`{v}` is not a number of seconds since 1970")
        })?),
        _ => None,
    };
    let options = crate::package::Options {
        release: args.release,
        formats: args.formats,
        source_date,
        quiet: false,
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
    println!(
        "next: cargo xtask repo publish --channel lab --release {}",
        report.dir.display()
    );
    Ok(Outcome::Success)
}
