use std::path::PathBuf;

use anyhow::Result;

use super::{Context, Outcome};
use crate::apicompat::{self, suppressions};
use crate::console::{self, Annotation};

/// Compare the public API of two runtimes or assembly sets: servicing adds no public API.
///
/// Reads every managed assembly of the baseline and the candidate (a DOTNET_ROOT, optionally
/// @VERSION; a runtime archive; a targeting or runtime pack .nupkg; or a directory of assemblies)
/// and reports added, removed and changed public and protected types and members, and changed
/// assembly identities. Differences listed in apicompat.toml (with a CVE and a justification) are
/// accepted; any other difference, or a suppression that matches nothing, exits 1. Input that is
/// not an assembly set exits 2.
///
/// Example: cargo xtask apicompat --baseline /usr/share/dotnet@6.0.36 --candidate artifacts/dotnet-runtime-6.0.37-linux-x64.tar.gz --markdown apicompat.md
#[derive(Debug, clap::Args)]
#[command(verbatim_doc_comment)]
#[command(after_long_help = super::exit::gate("no public API difference outside apicompat.toml", "a difference apicompat.toml does not accept"))]
pub struct Args {
    /// The reference surface (Microsoft's 6.0.36): ROOT[@VERSION], archive, .nupkg or directory.
    #[arg(long, value_name = "SPEC")]
    pub baseline: String,
    /// The build under test, same forms as --baseline.
    #[arg(long, value_name = "SPEC")]
    pub candidate: String,
    /// The accepted differences (default: apicompat.toml beside els.toml, else in the current directory).
    #[arg(long, value_name = "FILE")]
    pub suppressions: Option<PathBuf>,
    /// Write the Markdown report here (it also goes to $GITHUB_STEP_SUMMARY in Actions).
    #[arg(long, value_name = "FILE")]
    pub markdown: Option<PathBuf>,
    /// Print the report as JSON on stdout.
    #[arg(long)]
    pub json: bool,
    /// Where archives and packages are unpacked (default: target/apicompat).
    #[arg(long, value_name = "DIR")]
    pub work_dir: Option<PathBuf>,
}

pub fn run(args: Args, ctx: &Context) -> Result<Outcome> {
    let root = match ctx.config()? {
        Some(config) => config.root.clone(),
        None => ctx.cwd().to_path_buf(),
    };
    let accepted = suppressions::Suppressions::load(
        &args
            .suppressions
            .unwrap_or_else(|| root.join(suppressions::FILE_NAME)),
    )?;
    let unpack = args
        .work_dir
        .unwrap_or_else(|| root.join("target/apicompat"));
    eprintln!("reading the baseline {}", args.baseline);
    let baseline = apicompat::load_set(&args.baseline, &unpack)?;
    eprintln!("reading the candidate {}", args.candidate);
    let candidate = apicompat::load_set(&args.candidate, &unpack)?;
    let report = apicompat::compare(&baseline, &candidate, &accepted);
    let markdown = report.to_markdown();
    if let Some(path) = &args.markdown {
        crate::atomic::write(path, &markdown)?;
    }
    console::step_summary(&markdown)?;
    for d in report.unsuppressed() {
        console::annotate(
            Annotation::Error,
            None,
            None,
            &format!(
                "apicompat: {} {} {} (not in apicompat.toml)",
                d.assembly,
                d.kind.as_str(),
                d.item
            ),
        );
    }
    for stale in &report.stale_suppressions {
        console::annotate(
            Annotation::Error,
            None,
            None,
            &format!("apicompat: stale suppression {stale}"),
        );
    }
    if args.json {
        println!("{}", crate::schemas::to_json(&report)?);
    } else {
        print!("{}", report.to_text());
    }
    Ok(if report.failed() {
        Outcome::Failure
    } else {
        Outcome::Success
    })
}
