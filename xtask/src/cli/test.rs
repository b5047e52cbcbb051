use anyhow::{bail, Result};

use super::{Context, Outcome};
use crate::compat::testenv;

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
    ensure_gnupg(&sh)?;
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

/// The release tests sign and verify with real GnuPG; install it when missing (CI starts bare).
fn ensure_gnupg(sh: &xshell::Shell) -> Result<()> {
    if xshell::cmd!(sh, "gpg --version")
        .quiet()
        .ignore_stdout()
        .run()
        .is_ok()
    {
        return Ok(());
    }
    eprintln!("installing GnuPG for the release tests (apt-get install gnupg)");
    // As root (CI containers) apt-get runs directly; otherwise through sudo.
    let root = xshell::cmd!(sh, "id -u")
        .quiet()
        .read()
        .is_ok_and(|u| u.trim() == "0");
    let apt = |args: &[&str]| {
        let (program, rest): (&str, Vec<&str>) = if root {
            ("apt-get", args.to_vec())
        } else {
            ("sudo", [&["apt-get"], args].concat())
        };
        xshell::cmd!(sh, "{program} {rest...}")
            .env("DEBIAN_FRONTEND", "noninteractive")
            .run()
    };
    if apt(&["update", "-q"]).is_err() || apt(&["install", "-y", "-q", "gnupg"]).is_err() {
        bail!("GnuPG (gpg) is needed by the release tests and could not be installed; install the `gnupg` package");
    }
    Ok(())
}
