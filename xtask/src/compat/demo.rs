//! The compat stage of `cargo xtask demo`: the corpus on the real test runtimes when they are
//! installed (3.1.23 standing in for the baseline, 8.0.4 for the candidate), else how to get them.

use std::io::Write;
use std::path::Path;

use anyhow::Result;

use super::{build, manifest, runtime, testenv, Options};

/// Runs the corpus of `<workspace>/test-apps` on the installed test runtimes
/// ([`testenv::installed`]) and writes the report to `out`, saying in the table's context that
/// 3.1.23 stands in for Microsoft's 6.0.36, so its FAIL rows are the real differences the stage
/// exists to find. Installs nothing: without the runtimes it says how to get them and returns
/// `false` (the stage did not run).
pub fn demo(workspace: &Path, out: &mut dyn Write) -> Result<bool> {
    let target = testenv::target_dir(workspace);
    let Some(runtimes) = testenv::installed(&target) else {
        writeln!(
            out,
            "compat: NOT RUN: the test runtimes are not installed; `cargo xtask compat setup-test-runtimes` (or `cargo xtask test`) installs them into {}",
            testenv::cache_dir(&target).display()
        )?;
        return Ok(false);
    };
    let apps = manifest::load_corpus(&workspace.join("test-apps"))?;
    let work = target.join("compat");
    let prebuilt = work.join("prebuilt");
    let built = build::mcs_corpus(
        &apps,
        &build::Mcs {
            mcs: runtimes.mcs.clone(),
            reference_framework: runtimes.reference_framework(),
        },
        &prebuilt,
        2,
    )?;
    let spec = |v: &str| format!("{}@{v}", runtimes.dotnet_root.display());
    eprintln!(
        "$ cargo xtask compat --baseline {} --candidate {} --prebuilt {}",
        spec(testenv::OLDER),
        spec(testenv::CURRENT),
        built.dir.display()
    );
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
        extra_env: runtimes.env,
        bless: false,
        quiet: true,
    };
    let report = super::run(&opts)?;
    writeln!(
        out,
        "No .NET 6 runtime can be installed here, so CoreCLR {} stands in for Microsoft's 6.0.36 (the\nbaseline) and CoreCLR {} for the fork's build (the candidate). Each FAIL row below is a real\nbehaviour difference between those two runtimes: the kind of break this stage exists to catch\nbefore a release. Against a real 6.0.36 the fork's build is expected to pass.\n",
        testenv::OLDER,
        testenv::CURRENT
    )?;
    write!(
        out,
        "{}",
        report.table(&|s, _| s.to_string(), crate::console::stdout_width())
    )?;
    let (_, failed, _) = report.counts();
    if failed > 0 {
        writeln!(
            out,
            "({failed} failed, as expected here: {} → {} differences, the stage working, not a broken demo)",
            testenv::OLDER,
            testenv::CURRENT
        )?;
    }
    Ok(true)
}
