use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _, Result};

use super::{Context, Outcome};
use crate::compat::{self, build, manifest, runtime, testenv};
use crate::console::{self, Annotation, Style};

/// Run the compatibility corpus on a candidate runtime and compare with golden outputs and a baseline.
///
/// Example: `cargo xtask compat --candidate artifacts/dotnet-runtime-6.0.37-linux-x64.tar.gz --baseline /opt/dotnet@6.0.36 --prebuilt out/test-apps --junit compat.xml`
#[derive(Debug, clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
#[command(after_long_help = super::exit::gate("no case failed", "a case failed (a golden output or the baseline differs)"))]
pub struct Args {
    #[command(subcommand)]
    pub action: Option<Action>,
    /// The runtime under test: a DOTNET_ROOT or a runtime archive, optionally `@VERSION`.
    #[arg(long, value_name = "ROOT|ARCHIVE[@VERSION]")]
    pub candidate: Option<String>,
    /// The runtime to compare with (Microsoft's 6.0.36), same forms as --candidate.
    #[arg(long, value_name = "ROOT|ARCHIVE[@VERSION]")]
    pub baseline: Option<String>,
    /// Take the apps' binaries from this prebuilt layout (`<dir>/<app>/<app>.dll`).
    #[arg(long, value_name = "DIR", conflicts_with = "sdk")]
    pub prebuilt: Option<PathBuf>,
    /// Build the apps with this .NET SDK's `dotnet` first (into <work-dir>/prebuilt-sdk).
    #[arg(long, value_name = "DOTNET")]
    pub sdk: Option<PathBuf>,
    /// An app corpus directory (repeatable); the project's test-apps/ is included unless --no-corpus.
    #[arg(long = "apps", value_name = "DIR")]
    pub app_dirs: Vec<PathBuf>,
    /// Leave out the project's own test-apps/ (run only --apps).
    #[arg(long)]
    pub no_corpus: bool,
    /// Run only these apps (comma-separated or repeated).
    #[arg(long, value_delimiter = ',', value_name = "APP")]
    pub only: Vec<String>,
    /// Run only the apps covering components these changed paths touch (e.g. from `git diff --name-only`).
    #[arg(long, value_delimiter = ',', value_name = "PATH")]
    pub affected_by: Vec<String>,
    /// Run shard INDEX of COUNT (1-based), for a CI matrix.
    #[arg(long, value_name = "INDEX/COUNT")]
    pub shard: Option<manifest::Shard>,
    /// Parallel app runs (default: number of cores).
    #[arg(short, long)]
    pub jobs: Option<usize>,
    /// Extra environment for every app, e.g. CLR_ICU_VERSION_OVERRIDE=72 (repeatable).
    #[arg(long, value_name = "KEY=VALUE")]
    pub env: Vec<String>,
    /// Write JUnit XML here (one test case per app × runtime).
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
    /// Write the Markdown summary here (it also goes to $GITHUB_STEP_SUMMARY in Actions).
    #[arg(long, value_name = "FILE")]
    pub markdown: Option<PathBuf>,
    /// Print the report as JSON on stdout.
    #[arg(long)]
    pub json: bool,
    /// Rewrite golden files from the candidate's output (run it on the baseline 6.0.36).
    #[arg(long)]
    pub bless: bool,
    /// Where run directories and unpacked archives go (default: target/compat).
    #[arg(long, value_name = "DIR")]
    pub work_dir: Option<PathBuf>,
}

/// Other compat actions.
#[derive(Debug, clap::Subcommand)]
pub enum Action {
    /// Compile the corpus into a prebuilt layout with an SDK or Mono's mcs.
    ///
    /// Example: `cargo xtask compat build --sdk ~/.dotnet/dotnet --out out/test-apps`
    #[command(after_long_help = super::exit::plain("the corpus compiled"))]
    Build(BuildArgs),
    /// Install the real test runtimes (mcs, CoreCLR 8.0.4 and 3.1.23) into target/test-runtimes.
    ///
    /// Example: `cargo xtask compat setup-test-runtimes`
    #[command(after_long_help = super::exit::plain("the runtimes installed"))]
    SetupTestRuntimes,
}

#[derive(Debug, clap::Args)]
pub struct BuildArgs {
    /// The output layout directory.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Build with this .NET SDK's `dotnet`.
    #[arg(long, value_name = "DOTNET", conflicts_with = "mcs")]
    pub sdk: Option<PathBuf>,
    /// Build with Mono's mcs against the test runtimes' 3.1.23 framework (installed if needed).
    #[arg(long)]
    pub mcs: bool,
    /// An app corpus directory (default: test-apps).
    #[arg(long = "apps", value_name = "DIR")]
    pub app_dirs: Vec<PathBuf>,
}

fn workspace(ctx: &Context) -> Result<PathBuf> {
    Ok(match ctx.config()? {
        Some(config) => config.root.clone(),
        None => ctx.cwd().to_path_buf(),
    })
}

fn parse_env(pairs: &[String]) -> Result<Vec<(String, String)>> {
    pairs
        .iter()
        .map(|p| match p.split_once('=') {
            Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
            _ => bail!("--env `{p}` must be KEY=VALUE"),
        })
        .collect()
}

pub fn run(args: Args, ctx: &Context) -> Result<Outcome> {
    let root = workspace(ctx)?;
    match args.action {
        Some(Action::SetupTestRuntimes) => return setup_test_runtimes(&root),
        Some(Action::Build(b)) => return build_corpus(b, &root),
        None => {}
    }
    let candidate = args.candidate.context(
        "--candidate is required (a DOTNET_ROOT or runtime archive, optionally @VERSION)",
    )?;
    let work_dir = args.work_dir.unwrap_or_else(|| root.join("target/compat"));
    let mut dirs = args.app_dirs.clone();
    if !args.no_corpus {
        dirs.insert(0, root.join("test-apps"));
    }
    let apps = load_apps(&dirs)?;
    let selection = manifest::Selection {
        only: args.only,
        affected_by: args.affected_by,
        shard: args.shard,
    };
    let apps = selection.apply(apps)?;
    let unpack = work_dir.join("runtimes");
    let candidate = runtime::resolve(&candidate, &unpack)?;
    let baseline = args
        .baseline
        .as_deref()
        .map(|b| runtime::resolve(b, &unpack))
        .transpose()?;
    let binaries = match (args.prebuilt, args.sdk) {
        (Some(dir), _) => dir,
        (None, Some(sdk)) => {
            let out = work_dir.join("prebuilt-sdk");
            build::sdk_corpus(&apps, &sdk, &out)?;
            out
        }
        (None, None) => {
            bail!("say where the apps' binaries come from: --prebuilt <DIR> or --sdk <dotnet>")
        }
    };
    let jobs = args.jobs.unwrap_or_else(|| {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2)
    });
    let opts = compat::Options {
        apps,
        candidate,
        baseline,
        binaries,
        work_dir: work_dir.join("runs"),
        jobs,
        extra_env: parse_env(&args.env)?,
        bless: args.bless,
        quiet: args.json,
    };
    let report = compat::run(&opts)?;
    print_report(
        &report,
        args.junit.as_deref(),
        args.markdown.as_deref(),
        args.json,
    )
}

/// Writes the JUnit and Markdown files asked for, annotates failures for CI, and prints the
/// report.
fn print_report(
    report: &compat::report::Report,
    junit: Option<&Path>,
    markdown_file: Option<&Path>,
    json: bool,
) -> Result<Outcome> {
    if let Some(path) = junit {
        crate::atomic::write(path, report.junit())?;
    }
    let markdown = report.markdown();
    if let Some(path) = markdown_file {
        crate::atomic::write(path, &markdown)?;
    }
    console::step_summary(&markdown)?;
    for c in report.failures() {
        let first = c
            .problems
            .first()
            .map(|p| p.lines().next().unwrap_or_default())
            .unwrap_or_default();
        console::annotate(
            Annotation::Error,
            None,
            None,
            &format!("compat: {} on {} {}: {first}", c.app, c.role, c.version),
        );
    }
    if json {
        println!("{}", crate::schemas::to_json(report)?);
    } else {
        print!("{}", report.table(&console::paint, console::stdout_width()));
        for path in &report.blessed {
            println!("blessed {path}");
        }
    }
    Ok(if report.failures().next().is_some() {
        Outcome::Failure
    } else {
        Outcome::Success
    })
}

/// Downloads (once) and prints the real runtimes and compiler the tests use.
fn setup_test_runtimes(root: &Path) -> Result<Outcome> {
    let rt = testenv::ensure(&testenv::cache_dir(&root.join("target")))?;
    println!(
        "DOTNET_ROOT {} (Microsoft.NETCore.App {} and {})",
        rt.dotnet_root.display(),
        testenv::CURRENT,
        testenv::OLDER
    );
    println!("mcs {}", rt.mcs.display());
    Ok(Outcome::Success)
}

/// `compat build`: the corpus built with a .NET SDK or with mcs.
fn build_corpus(b: BuildArgs, root: &Path) -> Result<Outcome> {
    let dirs = if b.app_dirs.is_empty() {
        vec![root.join("test-apps")]
    } else {
        b.app_dirs
    };
    let mut apps = Vec::new();
    for d in &dirs {
        apps.extend(manifest::load_corpus(d)?);
    }
    if let Some(sdk) = b.sdk {
        build::sdk_corpus(&apps, &sdk, &b.out)?;
    } else if b.mcs {
        // The runtimes `cargo xtask test` prepared (ELS_TEST_DOTNET_ROOT/ELS_TEST_MCS), else the
        // cache in the target directory.
        let rt = testenv::from_env_or_ensure(&testenv::cache_dir(&testenv::target_dir(root)))?;
        let not_built = build::mcs_layout(
            &apps,
            &build::Mcs {
                mcs: rt.mcs.clone(),
                reference_framework: rt.reference_framework(),
            },
            &b.out,
            2,
        )?;
        println!("{}", b.out.display());
        for name in not_built {
            eprintln!(
                "{} {name}: needs an SDK (ASP.NET Core reference assemblies); not built",
                console::paint_err("note:", Style::Warn)
            );
        }
    } else {
        bail!("say how to build: --sdk <dotnet> or --mcs");
    }
    Ok(Outcome::Success)
}

/// The apps of every corpus directory, in order; two apps with one name are refused.
fn load_apps(dirs: &[PathBuf]) -> Result<Vec<manifest::App>> {
    let mut apps: Vec<manifest::App> = Vec::new();
    for d in dirs {
        for app in manifest::load_corpus(d)? {
            if apps.iter().any(|a| a.name == app.name) {
                bail!(
                    "two apps are named `{}` ({} and an earlier corpus); app names must be unique",
                    app.name,
                    app.dir.display()
                );
            }
            apps.push(app);
        }
    }
    Ok(apps)
}
