use std::path::PathBuf;

use anyhow::Result;

use super::{Context, Outcome};
use crate::console::{paint, Style};
use crate::release::verify::TrustedKey;

/// Assemble a release directory (artifacts, SHA512SUMS, release.json, release notes, OpenVEX)
/// from the collected build artifacts and the patch queue; `sign` and `verify` it.
///
/// Example: `cargo xtask release --vex vex-6.0.37.json && cargo xtask release sign artifacts/els/release/6.0.37`
#[derive(Debug, clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
#[command(after_long_help = super::exit::plain("the release directory assembled"))]
pub struct Args {
    #[command(subcommand)]
    pub action: Option<Action>,
    #[command(flatten)]
    pub assemble: AssembleArgs,
}

/// Flags of the assembling form (`cargo xtask release`).
#[derive(Debug, clap::Args)]
pub struct AssembleArgs {
    /// The version to release (default: the fork's current branding).
    #[arg(long, value_name = "6.0.N")]
    pub version: Option<crate::version::Version>,
    /// The OpenVEX document for this version (from `cargo xtask vex --product-version 6.0.N`).
    #[arg(long, value_name = "FILE")]
    pub vex: Option<PathBuf>,
    /// The release date, YYYY-MM-DD (default: today in UTC).
    #[arg(long)]
    pub date: Option<String>,
    /// The release directory (default: <artifacts-dir>/release/<version>).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, clap::Subcommand)]
pub enum Action {
    /// Sign SHA512SUMS and the metadata with the key from $ELS_SIGNING_KEY or $ELS_SIGNING_KEY_ID.
    ///
    /// Example: `ELS_SIGNING_KEY="$(cat key.asc)" cargo xtask release sign artifacts/els/release/6.0.37`
    #[command(after_long_help = super::exit::plain("signed"))]
    Sign {
        dir: PathBuf,
        #[arg(long)]
        json: bool,
    },
    /// Sign MSIs and Windows binaries (.exe, .dll, and those inside win-x64 zips) with Authenticode,
    /// in place, before anything hashes them; with --verify, check their signatures instead.
    ///
    /// The certificate is a PFX, base64 in $ELS_AUTHENTICODE_PFX (or --pfx FILE), its password in
    /// $ELS_AUTHENTICODE_PASSWORD; neither is printed. signtool signs on Windows, osslsigncode
    /// elsewhere. A build's manifest.json beside a signed zip gets the new size and SHA-512; a file
    /// already listed in a SHA512SUMS beside it is refused.
    ///
    /// Example: `cargo xtask release authenticode artifacts/els/6.0.37/win-x64/dotnet-runtime-6.0.37-win-x64.zip`
    ///
    /// Example: `cargo xtask release authenticode --verify --ca codesign.pem release/*.msi`
    #[command(verbatim_doc_comment, after_long_help = super::exit::gate("signed (with --verify: every signature checks out)", "with --verify, a file whose signature does not verify (each printed)"))]
    Authenticode {
        /// The files to sign (or verify).
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
        /// Read the certificate from this PFX file instead of $ELS_AUTHENTICODE_PFX.
        #[arg(long, value_name = "FILE", conflicts_with = "verify")]
        pfx: Option<PathBuf>,
        /// Check the signatures instead of signing.
        #[arg(long)]
        verify: bool,
        /// The trusted certificates (PEM) to verify against (osslsigncode; signtool uses the
        /// Windows certificate store).
        #[arg(long, value_name = "FILE", requires = "verify")]
        ca: Option<PathBuf>,
        #[arg(long)]
        json: bool,
    },
    /// Check every hash and signature and the consistency between files, manifests and release.json.
    ///
    /// Example: `cargo xtask release verify artifacts/els/release/6.0.37 --key net6-els-signing.asc`
    #[command(after_long_help = super::exit::gate("every hash and signature checks out", "a problem (each printed)"))]
    Verify {
        dir: PathBuf,
        /// The trusted public key file.
        #[arg(long, value_name = "FILE", required_unless_present = "fingerprint")]
        key: Option<PathBuf>,
        /// Or the fingerprint of a trusted key in your GnuPG keyring.
        #[arg(long, value_name = "FPR", conflicts_with = "key")]
        fingerprint: Option<String>,
        #[arg(long)]
        json: bool,
    },
}

pub fn run(args: Args, ctx: &Context) -> Result<Outcome> {
    match args.action {
        None => assemble(args.assemble, ctx),
        Some(Action::Sign { dir, json }) => {
            let settings = ctx.config()?.map(|c| c.release).unwrap_or_default();
            let (key, passphrase) = crate::release::sign::key_from_env(&settings)?;
            let report = crate::release::sign::sign(&dir, &key, passphrase.as_deref())?;
            if json {
                println!("{}", crate::schemas::to_json(&report)?);
            } else {
                println!("signed with {}", report.fingerprint);
                for s in &report.signatures {
                    println!("  {}", s.display());
                }
            }
            Ok(Outcome::Success)
        }
        Some(Action::Authenticode {
            files,
            pfx,
            verify,
            ca,
            json,
        }) => authenticode(files, pfx, verify, ca, json, ctx),
        Some(Action::Verify {
            dir,
            key,
            fingerprint,
            json,
        }) => {
            let key = match (key, fingerprint) {
                (Some(k), _) => TrustedKey::File(k),
                (None, Some(f)) => TrustedKey::Fingerprint(f),
                (None, None) => {
                    anyhow::bail!("pass --key <public key file> or --fingerprint <fingerprint>")
                }
            };
            let report = crate::release::verify::verify(&dir, &key)?;
            super::print_verification(&report, &report.problems, json, || {
                format!(
                    "{} files, signed by {}",
                    report.checked,
                    report.signer.as_deref().unwrap_or("?")
                )
            })
        }
    }
}

fn authenticode(
    files: Vec<PathBuf>,
    pfx: Option<PathBuf>,
    verify: bool,
    ca: Option<PathBuf>,
    json: bool,
    ctx: &Context,
) -> Result<Outcome> {
    use crate::release::authenticode;
    let files: Vec<PathBuf> = files.iter().map(|f| ctx.cwd().join(f)).collect();
    if verify {
        let ca = ca.map(|c| ctx.cwd().join(c));
        let checked = authenticode::verify(&files, ca.as_deref())?;
        let problems: Vec<String> = checked
            .iter()
            .flat_map(|c| {
                c.problems
                    .iter()
                    .map(move |p| format!("{}: {p}", c.path.display()))
            })
            .collect();
        if json {
            println!(
                "{}",
                crate::schemas::to_json(&authenticode::VerifyReport {
                    files: checked.clone()
                })?
            );
            return Ok(Outcome::of_problems(&problems));
        }
        let outcome = super::print_problems(&problems);
        for c in checked.iter().filter(|c| c.problems.is_empty()) {
            let inside = match c.entries.len() {
                0 => String::new(),
                n => format!(" ({n} binaries inside)"),
            };
            println!("{} {}{inside}", paint("ok", Style::Good), c.path.display());
        }
        return Ok(outcome);
    }
    let settings = ctx.config()?.map(|c| c.release).unwrap_or_default();
    let pfx = pfx.map(|p| ctx.cwd().join(p));
    let certificate = authenticode::Certificate::from_env(&settings, pfx.as_deref())?;
    let options = authenticode::Options {
        description: ctx.config()?.map(|c| c.fork.name),
        timestamp_url: settings.authenticode_timestamp_url.clone(),
    };
    let report = authenticode::sign(&files, &certificate, &options)?;
    if json {
        println!("{}", crate::schemas::to_json(&report)?);
    } else {
        for f in &report.files {
            let what = if f.signed == 1 && !f.path.to_string_lossy().ends_with(".zip") {
                String::new()
            } else {
                format!(" ({} binaries inside)", f.signed)
            };
            let manifest = if f.manifest_updated {
                "; manifest.json updated"
            } else {
                ""
            };
            println!("signed {}{what}{manifest}", f.path.display());
        }
    }
    Ok(Outcome::Success)
}

fn assemble(args: AssembleArgs, ctx: &Context) -> Result<Outcome> {
    let config = ctx.require_config()?;
    let options = crate::release::Options {
        version: args.version,
        vex: args.vex,
        date: args.date,
        out: args.out,
    };
    let report = crate::release::assemble(&config, &options)?;
    if args.json {
        println!("{}", crate::schemas::to_json(&report)?);
        return Ok(Outcome::Success);
    }
    println!(
        "release {} assembled in {}",
        report.version,
        report.dir.display()
    );
    println!(
        "  fixes: {}",
        if report.cves.is_empty() {
            "none".to_string()
        } else {
            report.cves.join(", ")
        }
    );
    println!(
        "  {} files{}",
        report.files.len(),
        if report.vex {
            ", with the OpenVEX document"
        } else {
            ""
        }
    );
    if !report.vex {
        println!(
            "{} no --vex given: the release has no OpenVEX document",
            paint("warning:", Style::Warn)
        );
    }
    for d in &report.duplicates {
        println!("  kept one copy of {d}");
    }
    println!("next: cargo xtask release sign {}", report.dir.display());
    Ok(Outcome::Success)
}
