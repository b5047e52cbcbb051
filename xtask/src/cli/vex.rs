use std::path::PathBuf;

use anyhow::{anyhow, Result};
use jiff::civil::Date;

use super::advisories::{load_inputs, settings, today, FileArgs};
use super::{Context, Outcome};
use crate::advisories::vex::{document, VexInput};

/// Write the OpenVEX (v0.2.0) document for a fork release.
///
/// One statement per tracked CVE: `fixed` (the patch queue fixes it), `not_affected` (triaged,
/// with justification), `affected` (backport pending) or `under_investigation` (needs triage).
///
/// Example: `cargo xtask vex --product-version 6.0.37 --output vex.json`
#[derive(Debug, clap::Args)]
#[command(after_long_help = super::exit::plain("the document written"))]
pub struct Args {
    /// The fork release the document is about, 6.0.N, after Microsoft's last (`[fork]
    /// base-version`, 6.0.36).
    #[arg(long, value_name = "6.0.N")]
    pub product_version: crate::version::Version,
    /// Write the document here instead of stdout.
    #[arg(long, short, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// The document's issue time, RFC 3339 (default: now).
    #[arg(long, value_name = "TIME")]
    pub timestamp: Option<String>,
    /// The date remediation deadlines are computed against (default: today in UTC), YYYY-MM-DD.
    #[arg(long, value_name = "YYYY-MM-DD")]
    pub today: Option<Date>,
    #[command(flatten)]
    pub files: FileArgs,
}

pub fn run(args: Args, ctx: &Context) -> Result<Outcome> {
    let config = ctx.config()?;
    let fork_defaults = crate::config::Config::default();
    crate::version::ensure_fork_version(
        args.product_version,
        config.as_ref().unwrap_or(&fork_defaults),
    )
    .map_err(|e| anyhow!("--product-version: {e}"))?;
    let product_version = args.product_version.to_string();
    let settings = settings(config.as_ref());
    let timestamp = match &args.timestamp {
        Some(t) => t.parse::<jiff::Timestamp>().map_err(|e| {
            anyhow!("--timestamp `{t}` is not an RFC 3339 time such as 2026-04-14T12:00:00Z: {e}")
        })?,
        None => jiff::Timestamp::now().round(jiff::Unit::Second)?,
    };
    let inputs = load_inputs(&args.files, config.as_ref(), ctx)?;
    let report = inputs.status(today(args.today), &settings.sla_days);
    let fork_name = config
        .as_ref()
        .map(|c| c.fork.name.clone())
        .unwrap_or_else(|| ".NET 6 ELS".to_string());
    let package_revision = config
        .as_ref()
        .unwrap_or(&fork_defaults)
        .packages
        .revision
        .clone();
    let input = VexInput {
        product_version: &product_version,
        package_revision: &package_revision,
        author: settings.vex_author.as_deref().unwrap_or(&fork_name),
        id_prefix: &settings.vex_id_prefix,
        timestamp,
    };
    let doc = document(&inputs.snapshot, &report, &inputs.triage, &input)?;
    let mut text = serde_json::to_string_pretty(&doc)?;
    text.push('\n');
    match &args.output {
        Some(path) => {
            let path = ctx.cwd().join(path);
            crate::atomic::write(&path, &text)?;
            eprintln!(
                "wrote {} ({} statements)",
                path.display(),
                doc.statements.len()
            );
        }
        None => print!("{text}"),
    }
    Ok(Outcome::Success)
}
