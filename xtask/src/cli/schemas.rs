use anyhow::Result;

use super::{Context, Outcome};
use crate::console::{paint, Style};
use crate::schemas;

/// Write the JSON Schema of every `--json` output into schemas/, or check that the checked-in
/// ones match the Rust types (--check).
///
/// The schemas are generated from the types the commands print; a change of shape shows up as a
/// changed file under schemas/ in review. With --check nothing is written and each missing,
/// stale or unregistered file is printed; exit status 1 when there is any.
///
/// Example: cargo xtask schemas --check
#[derive(Debug, clap::Args)]
#[command(verbatim_doc_comment, after_long_help = super::exit::gate("schemas/ matches the types (or was written)", "a schema file missing, stale or unregistered (each printed)"))]
pub struct Args {
    /// Only compare; write nothing.
    #[arg(long)]
    pub check: bool,
}

pub fn run(args: Args, ctx: &Context) -> Result<Outcome> {
    let root = super::pipelines::default_root(ctx.cwd());
    if args.check {
        let drift = schemas::check(&root)?;
        for d in &drift {
            println!(
                "{} {}: {}",
                paint("error:", Style::Bad),
                d.file.strip_prefix(&root).unwrap_or(&d.file).display(),
                d.problem
            );
        }
        if !drift.is_empty() {
            eprintln!("run `cargo xtask schemas` to regenerate them, and review the change");
        }
        println!(
            "{} schema(s), {} out of date",
            schemas::outputs().len(),
            drift.len()
        );
        return Ok(Outcome::of_problems(&drift));
    }
    let touched = schemas::write(&root)?;
    for path in &touched {
        println!(
            "wrote {}",
            path.strip_prefix(&root).unwrap_or(path).display()
        );
    }
    println!(
        "{} schema(s), {} updated",
        schemas::outputs().len(),
        touched.len()
    );
    Ok(Outcome::Success)
}
