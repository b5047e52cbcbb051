use anyhow::{bail, Result};

use super::{Context, Outcome};

/// Run the toolkit's test suite, after installing what the tests need.
///
/// Extra arguments after `--` go to `cargo test`.
///
/// Example: cargo xtask test
///
/// Example: cargo xtask test -- --test backport
#[derive(Debug, clap::Args)]
#[command(verbatim_doc_comment)]
pub struct Args {
    /// Arguments passed on to `cargo test`.
    #[arg(last = true)]
    pub cargo_args: Vec<String>,
}

pub fn run(args: Args, ctx: &Context) -> Result<Outcome> {
    let sh = xshell::Shell::new()?;
    sh.change_dir(ctx.cwd());
    let extra = &args.cargo_args;
    if xshell::cmd!(sh, "cargo test --workspace {extra...}")
        .run()
        .is_err()
    {
        bail!("the test suite failed (see the output above)");
    }
    Ok(Outcome::Success)
}
