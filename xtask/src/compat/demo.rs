//! The compat stage of `cargo xtask demo`: the corpus on the real test runtimes when they are
//! installed (3.1.23 standing in for the baseline, 8.0.4 for the candidate), else how to get them.

use std::io::Write;
use std::path::Path;

use anyhow::Result;

use super::{build, manifest, runtime, testenv, Options};

/// Runs the corpus of `<workspace>/test-apps` on the cached test runtimes of
/// `<workspace>/target/test-runtimes` and writes the report to `out`. Installs nothing: without
/// the runtimes it says how to get them and returns Ok.
pub fn demo(workspace: &Path, out: &mut dyn Write) -> Result<()> {
    let cache = testenv::cache_dir(&workspace.join("target"));
    let root = cache.join("dotnet");
    let mcs = std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
        .map(|d| d.join("mcs"))
        .find(|p| p.is_file());
    let (Some(mcs), true) = (
        mcs,
        root.join("shared/Microsoft.NETCore.App")
            .join(testenv::OLDER)
            .is_dir(),
    ) else {
        writeln!(
            out,
            "compat: the test runtimes are not installed; `cargo xtask compat setup-test-runtimes` (or `cargo xtask test`) installs them into {}",
            cache.display()
        )?;
        return Ok(());
    };
    let apps = manifest::load_corpus(&workspace.join("test-apps"))?;
    let work = workspace.join("target/compat");
    let built = build::mcs_corpus(
        &apps,
        &build::Mcs {
            mcs,
            reference_framework: root
                .join("shared/Microsoft.NETCore.App")
                .join(testenv::OLDER),
        },
        &work.join("prebuilt"),
        2,
    )?;
    let spec = |v: &str| format!("{}@{v}", root.display());
    let opts = Options {
        apps,
        candidate: runtime::resolve(&spec(testenv::CURRENT), &work.join("runtimes"))?,
        baseline: Some(runtime::resolve(
            &spec(testenv::OLDER),
            &work.join("runtimes"),
        )?),
        binaries: built.dir,
        work_dir: work.join("runs"),
        jobs: 2,
        extra_env: testenv::machine_env(),
        bless: false,
        quiet: true,
    };
    let report = super::run(&opts)?;
    write!(
        out,
        "{}",
        report.table(&|s, _| s.to_string(), crate::console::stdout_width())
    )?;
    Ok(())
}
