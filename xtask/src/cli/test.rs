use anyhow::{bail, Result};

use super::{Context, Outcome};
use crate::compat::testenv;

/// Run the toolkit's test suite, after installing what the tests need.
///
/// Example: `cargo xtask test` (extra arguments go to `cargo test`: `cargo xtask test -- backport`)
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Arguments passed on to `cargo test`.
    #[arg(last = true)]
    pub cargo_args: Vec<String>,
}

pub fn run(args: Args, ctx: &Context) -> Result<Outcome> {
    let sh = xshell::Shell::new()?;
    sh.change_dir(ctx.cwd());
    // The compat tests run the corpus on real runtimes: install (or reuse) them first.
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| ctx.cwd().join("target"));
    let runtimes = testenv::ensure(&testenv::cache_dir(&target))?;
    sh.set_var(testenv::ENV_DOTNET_ROOT, &runtimes.dotnet_root);
    sh.set_var(testenv::ENV_MCS, &runtimes.mcs);
    let extra = &args.cargo_args;
    if xshell::cmd!(sh, "cargo test --workspace {extra...}")
        .run()
        .is_err()
    {
        bail!("the test suite failed (see the output above)");
    }
    Ok(Outcome::Success)
}
