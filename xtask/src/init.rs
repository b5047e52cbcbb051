//! `init`: sets a team up from nothing — a clone of each fork repository, the ELS branch at
//! Microsoft's last release tag, an `els.toml` that fits each repository, and the first advisory
//! snapshot. Idempotent, and it never overwrites a branch or a config file that differs.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use git2::{BranchType, Repository};
use serde::Serialize;

use crate::config::{Config, RepoConfig};
use crate::upstream::{
    known_repo_names, BaseTag, KnownRepo, COMBINED_BRANCHES, COMBINED_REPO, KNOWN_REPOS,
};

/// The branch that receives backports in every fork repository.
pub const ELS_BRANCH: &str = "release/6.0-els";

/// Where GitHub's dotnet repositories are, the default upstream of every fork repository.
pub const DEFAULT_UPSTREAM_BASE: &str = "https://github.com/dotnet";

/// The repositories a team starts with when `--repos` is not given.
pub const DEFAULT_REPOS: [&str; 3] = ["runtime", "aspnetcore", "wpf"];

/// What `init` is asked to do.
#[derive(Clone, Debug)]
pub struct Options {
    /// Where the team's forks are (`https://github.com/<owner>` or a directory holding
    /// `<repo>` or `<repo>.git`); `None` with `from_upstream` when the forks do not exist yet.
    pub fork_base: Option<String>,
    /// Start the clones from the upstream repositories instead of the forks.
    pub from_upstream: bool,
    /// Where Microsoft's repositories are (a URL or a directory holding `<repo>` or `<repo>.git`).
    pub upstream_base: String,
    /// The repositories to set up, by the names cve.json uses.
    pub repos: Vec<String>,
    /// The directory the clones go into, as written into els.toml (relative to the config file).
    pub dir: PathBuf,
    /// The config file to write.
    pub config_path: PathBuf,
    /// A local copy of dotnet/core to write as `[advisories] source` and sync from.
    pub advisories_source: Option<PathBuf>,
    /// No progress lines on stderr.
    pub quiet: bool,
}

/// What happened to one repository.
#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
pub struct RepoReport {
    pub name: String,
    pub path: PathBuf,
    /// Where the clone came from; `None` when an existing clone was reused.
    pub cloned_from: Option<String>,
    /// The base tag the ELS branch starts from.
    pub base: String,
    /// True when the base tag had to be fetched.
    pub fetched_tag: bool,
    /// True when the ELS branch was created (false: it was there already).
    pub created_branch: bool,
}

/// What `init` did.
#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
pub struct Report {
    pub repos: Vec<RepoReport>,
    pub config: PathBuf,
    /// True when the config file was written (false: it already configured these repositories).
    pub wrote_config: bool,
    pub snapshot: PathBuf,
    pub advisories: usize,
    pub snapshot_changed: bool,
    /// Warnings from the advisory sync.
    pub warnings: Vec<String>,
    /// The commands to run next.
    pub next: Vec<String>,
}

impl Report {
    /// True when the run changed nothing (a second run of the same `init`).
    pub fn unchanged(&self) -> bool {
        !self.wrote_config
            && !self.snapshot_changed
            && self
                .repos
                .iter()
                .all(|r| r.cloned_from.is_none() && !r.fetched_tag && !r.created_branch)
    }
}

/// One repository as `init` will configure it.
struct Plan {
    known: &'static KnownRepo,
    /// The tag the ELS branch starts from.
    base: String,
    /// The clone, absolute.
    path: PathBuf,
    /// The clone, as written into els.toml.
    config_path: PathBuf,
    upstream: String,
    fork: Option<String>,
}

/// Sets the team up; see the module documentation. Refuses (with nothing changed) when a config
/// file or an ELS branch exists and differs from what it would write or create.
pub fn init(options: &Options) -> Result<Report> {
    let config_dir = options
        .config_path
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default();
    let plans = plan(options, &config_dir)?;
    let wanted = config_text(options, &plans);
    let existing = if options.config_path.exists() {
        Some(Config::load(&options.config_path)?)
    } else {
        None
    };
    let wanted_config = Config::parse(&wanted, &options.config_path)
        .context("the els.toml init would write does not parse (a bug in init)")?;
    if let Some(existing) = &existing {
        let differences = config_differences(existing, &wanted_config);
        if !differences.is_empty() {
            bail!(
                "{} exists and differs from what init would write:\n  {}\nleave it as it is and \
                 pass --config FILE to write another file, or edit it by hand",
                options.config_path.display(),
                differences.join("\n  ")
            );
        }
    }
    // Every check that can refuse runs before anything changes.
    for p in &plans {
        if p.path.exists() {
            check_existing_clone(p)?;
        }
    }

    let mut repos = Vec::new();
    for p in &plans {
        repos.push(set_up(p, options)?);
    }
    let wrote_config = existing.is_none();
    if wrote_config {
        crate::atomic::write(&options.config_path, &wanted)?;
    }
    let config = Config::load(&options.config_path)?;
    let source = crate::advisories::source::Source::configured(Some(&config), false, None);
    let snapshot = config.resolve(&config.advisories.snapshot);
    if !options.quiet {
        eprintln!("reading advisories from {}", source.describe());
    }
    let synced = crate::advisories::sync(&source, &config.advisories, &snapshot, options.quiet)
        .with_context(|| {
            format!(
                "advisories sync from {} failed (the forks and {} are set up; re-run init or \
                 `cargo xtask advisories sync` when the source is reachable)",
                source.describe(),
                options.config_path.display()
            )
        })?;
    let next = next_commands(&config, &synced.snapshot, &options.config_path)?;
    Ok(Report {
        repos,
        config: options.config_path.clone(),
        wrote_config,
        snapshot,
        advisories: synced.snapshot.advisories.len(),
        snapshot_changed: synced.changed,
        warnings: synced.warnings.iter().map(ToString::to_string).collect(),
        next,
    })
}

/// The three commands a new team runs next: the status table, the backport plan, and a dry run
/// of the plan's first backport (or, with nothing pending, the periodic sync).
fn next_commands(
    config: &Config,
    snapshot: &crate::advisories::Snapshot,
    config_path: &Path,
) -> Result<Vec<String>> {
    let flag = format!("--config {}", config_path.display());
    let triage =
        crate::advisories::triage::Triage::load(&config.resolve(&config.advisories.triage))?;
    let queue = crate::advisories::queue::QueueCves::read(&config.patches_dir())?;
    let today = jiff::Timestamp::now()
        .to_zoned(jiff::tz::TimeZone::UTC)
        .date();
    let report = crate::advisories::status::StatusReport::compute(
        snapshot,
        &triage,
        &queue,
        today,
        &config.advisories.sla_days,
    );
    let plan = crate::advisories::plan::plan(snapshot, &report, Some(config));
    let third = match plan.backports.first() {
        Some(first) => format!("{} {flag} --dry-run", first.command_line()),
        None => format!("cargo xtask advisories sync {flag}"),
    };
    Ok(vec![
        format!("cargo xtask advisories {flag}"),
        format!("cargo xtask advisories plan {flag}"),
        third,
    ])
}

fn plan(options: &Options, config_dir: &Path) -> Result<Vec<Plan>> {
    if options.repos.is_empty() {
        bail!(
            "--repos is empty; name at least one of {}",
            known_repo_names().join(", ")
        );
    }
    if options.fork_base.is_none() && !options.from_upstream {
        bail!("say where the forks are (--owner ORG or --fork-base URL|DIR), or start them from the upstream repositories with --from-upstream");
    }
    let mut plans = Vec::new();
    for name in &options.repos {
        let known = KNOWN_REPOS
            .iter()
            .find(|k| k.name == name)
            .with_context(|| {
                format!(
                    "--repos: `{name}` is not a repository init knows (known: {}); add its \
                     [[repo]] section to els.toml by hand",
                    known_repo_names().join(", ")
                )
            })?;
        if plans.iter().any(|p: &Plan| p.known.name == known.name) {
            bail!("--repos names `{name}` twice");
        }
        let config_path = options.dir.join(name);
        let upstream = location(&options.upstream_base, name);
        plans.push(Plan {
            known,
            base: resolve_base(known, &upstream)?,
            path: config_dir.join(&config_path),
            config_path,
            upstream,
            fork: options.fork_base.as_deref().map(|b| location(b, name)),
        });
    }
    Ok(plans)
}

/// `<base>/<name>`: for a local directory the `<name>` or `<name>.git` inside it (absolute, so
/// that the config works from anywhere), otherwise a URL.
fn location(base: &str, name: &str) -> String {
    let dir = Path::new(base);
    if dir.is_dir() {
        let absolute = std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf());
        let bare = absolute.join(format!("{name}.git"));
        let chosen = if bare.exists() {
            bare
        } else {
            absolute.join(name)
        };
        return chosen.display().to_string();
    }
    format!("{}/{name}", base.trim_end_matches('/'))
}

/// True when `location` (from [`location`]) names something that exists; URLs are assumed to.
fn reachable(location: &str) -> bool {
    !Path::new(location).is_absolute() || Path::new(location).exists()
}

fn config_text(options: &Options, plans: &[Plan]) -> String {
    let quote = |s: &str| toml::Value::String(s.to_string()).to_string();
    let list = |items: &[&str]| {
        let quoted: Vec<String> = items.iter().map(|s| quote(s)).collect();
        format!("[{}]", quoted.join(", "))
    };
    let mut text = String::from(
        "# net6-els configuration, written by `cargo xtask init`. Every command reads it; flags only\n\
         # override it. Relative paths are relative to this file. See README.md, \"The config file\".\n\n\
         [fork]\nname = \".NET 6 ELS\"\nbase-version = \"6.0.36\"\n\n\
         [patches]\ndir = \"runtime-patches\"\n\n\
         [advisories]\nsince = 2024-11-12\nsnapshot = \"advisories/snapshot.json\"\n\
         triage = \"advisories/triage.toml\"\n",
    );
    if let Some(source) = &options.advisories_source {
        text.push_str(&format!(
            "source = {}\n",
            quote(&source.display().to_string())
        ));
    }
    for p in plans {
        text.push_str(&format!(
            "\n[[repo]]\nname = {}\npath = {}\nbranch = {}\nbase = {}\nupstream = {}\nupstream-branches = {}\n",
            quote(p.known.name),
            quote(&p.config_path.display().to_string()),
            quote(ELS_BRANCH),
            quote(&p.base),
            quote(&p.upstream),
            list(p.known.upstream_branches),
        ));
    }
    let combined = location(&options.upstream_base, COMBINED_REPO);
    if let Some(runtime) = plans.iter().find(|p| p.known.name == "runtime") {
        if reachable(&combined) {
            text.push_str(&format!(
                "\n# Fixes published only in the combined repository dotnet/dotnet (from .NET 10 on) live under\n\
                 # `src/runtime/`; this remap takes that subtree as the runtime repository's root.\n\
                 [[repo]]\nname = {}\npath = {}\nbranch = {}\nbase = {}\nupstream = {}\nupstream-branches = {}\n\
                 [[repo.remap]]\nfrom = \"src/runtime/\"\nto = \"\"\n",
                quote(COMBINED_REPO),
                quote(&runtime.config_path.display().to_string()),
                quote(ELS_BRANCH),
                quote(&runtime.base),
                quote(&combined),
                list(COMBINED_BRANCHES),
            ));
        }
    }
    text
}

/// The base tag of `known` in `upstream`: fixed, or the newest release tag with the prefix that
/// the upstream has (`git ls-remote`), so the config names a tag that exists.
fn resolve_base(known: &KnownRepo, upstream: &str) -> Result<String> {
    let prefix = match known.base {
        BaseTag::Fixed(tag) => return Ok(tag.to_string()),
        BaseTag::NewestWithPrefix(prefix) => prefix,
    };
    let listing = git_output(None, &["ls-remote", "--tags", "--refs", upstream])?;
    listing
        .lines()
        .filter_map(|l| l.split_once("refs/tags/").map(|(_, t)| t))
        .filter_map(|t| {
            let patch: u32 = t.strip_prefix(prefix)?.parse().ok()?;
            Some((patch, t.to_string()))
        })
        .max()
        .map(|(_, t)| t)
        .with_context(|| {
            format!(
                "{upstream} has no release tag {prefix}N to start the {} fork from",
                known.name
            )
        })
}

/// What differs between an existing config and the one init would write, one line per key.
/// Repositories the existing file has beyond those init configures are left alone.
fn config_differences(existing: &Config, wanted: &Config) -> Vec<String> {
    let mut out = Vec::new();
    for w in &wanted.repos {
        let Some(e) = existing.repos.iter().find(|e| e.name == w.name) else {
            out.push(format!("[[repo]] `{}` is missing", w.name));
            continue;
        };
        let mut differ = |key: &str, have: String, want: String| {
            if have != want {
                out.push(format!(
                    "[[repo]] `{}` {key}: the file has `{have}`, init would write `{want}`",
                    w.name
                ));
            }
        };
        differ(
            "path",
            existing.resolve(&e.path).display().to_string(),
            wanted.resolve(&w.path).display().to_string(),
        );
        differ("branch", e.branch.clone(), w.branch.clone());
        differ("base", e.base.clone(), w.base.clone());
        differ("upstream", e.upstream.clone(), w.upstream.clone());
        differ(
            "upstream-branches",
            e.upstream_branches.join(", "),
            w.upstream_branches.join(", "),
        );
        differ("remap", remaps(e), remaps(w));
    }
    if let Some(want) = &wanted.advisories.source {
        let want = wanted.resolve(want).display().to_string();
        let have = existing
            .advisories
            .source
            .as_ref()
            .map(|s| existing.resolve(s).display().to_string())
            .unwrap_or_else(|| "(unset: GitHub)".to_string());
        if have != want {
            out.push(format!(
                "[advisories] source: the file has `{have}`, init would write `{want}`"
            ));
        }
    }
    out
}

fn remaps(repo: &RepoConfig) -> String {
    let rules: Vec<String> = repo
        .remaps
        .iter()
        .map(|r| format!("{} -> {}", r.from, r.to))
        .collect();
    rules.join(", ")
}

/// Refuses when an existing clone cannot be used: not a repository, or an ELS branch that does
/// not contain the base tag (someone else's branch of that name).
fn check_existing_clone(p: &Plan) -> Result<()> {
    let repo = crate::repo::open(&p.path).with_context(|| {
        format!(
            "{} exists but is not a clone init can use; move it away or pass another --dir",
            p.path.display()
        )
    })?;
    let base = p.base.clone();
    let Ok(branch) = repo.find_branch(ELS_BRANCH, BranchType::Local) else {
        return Ok(());
    };
    let Some(tag) = tag_commit(&repo, &base)? else {
        // The tag is fetched before the branch is used; checked again then.
        return Ok(());
    };
    let tip = branch.get().peel_to_commit()?.id();
    if tip != tag && !repo.graph_descendant_of(tip, tag)? {
        bail!(
            "{}: branch {ELS_BRANCH} exists and does not start from {base} (its tip {} does not \
             contain {base}'s commit {}); init does not overwrite it: rename it or use another --dir",
            p.path.display(),
            &tip.to_string()[..12],
            &tag.to_string()[..12]
        );
    }
    Ok(())
}

/// The commit a tag points at, if the repository has the tag.
fn tag_commit(repo: &Repository, tag: &str) -> Result<Option<git2::Oid>> {
    match repo.revparse_single(&format!("refs/tags/{tag}")) {
        Ok(obj) => Ok(Some(obj.peel_to_commit()?.id())),
        Err(e) if e.code() == git2::ErrorCode::NotFound => Ok(None),
        Err(e) => Err(e.into()),
    }
}

fn progress(options: &Options, what: &str) {
    if !options.quiet {
        eprintln!(
            "{}",
            crate::console::paint_err(what, crate::console::Style::Dim)
        );
    }
}

/// Clones (or reuses) one repository, fetches its base tag when missing and creates the ELS
/// branch.
fn set_up(p: &Plan, options: &Options) -> Result<RepoReport> {
    let base = p.base.clone();
    let mut cloned_from = None;
    if !p.path.exists() {
        let (source, remote) = if options.from_upstream {
            (&p.upstream, "upstream")
        } else {
            (p.fork.as_ref().context("no fork location")?, "origin")
        };
        progress(
            options,
            &format!("cloning {source} into {}", p.path.display()),
        );
        git(
            None,
            &[
                "clone",
                "--no-checkout",
                "--origin",
                remote,
                source,
                &path_arg(&p.path),
            ],
        )?;
        if options.from_upstream {
            if let Some(fork) = &p.fork {
                git(Some(&p.path), &["remote", "add", "origin", fork])?;
            }
        }
        cloned_from = Some(source.clone());
    }
    let repo = crate::repo::open(&p.path)?;
    let mut fetched_tag = false;
    if tag_commit(&repo, &base)?.is_none() {
        let refspec = format!("refs/tags/{base}:refs/tags/{base}");
        let mut tried = Vec::new();
        for location in p.fork.iter().chain([&p.upstream]) {
            progress(options, &format!("fetching tag {base} from {location}"));
            match crate::remote::Remote::new(repo.path(), location)
                .fetch(std::slice::from_ref(&refspec), options.quiet)
            {
                Ok(()) => {
                    fetched_tag = true;
                    break;
                }
                Err(e) => tried.push(format!("{location}: {e:#}")),
            }
        }
        if !fetched_tag {
            bail!(
                "{}: tag {base} is not in the clone and could not be fetched ({}); fetch it by hand \
                 (`git fetch <upstream> tag {base}`) and re-run init",
                p.path.display(),
                tried.join("; ")
            );
        }
    }
    let tag = tag_commit(&repo, &base)?.context("the tag was just fetched")?;
    let mut created_branch = false;
    if repo.find_branch(ELS_BRANCH, BranchType::Local).is_err() {
        // A fork that already has the branch continues it; otherwise it starts at the tag.
        let start = match repo.find_branch(&format!("origin/{ELS_BRANCH}"), BranchType::Remote) {
            Ok(remote) if !options.from_upstream => remote.get().peel_to_commit()?,
            _ => repo.find_commit(tag)?,
        };
        repo.branch(ELS_BRANCH, &start, false)?;
        created_branch = true;
    }
    check_existing_clone(p)?;
    if cloned_from.is_some() && !repo.is_bare() {
        progress(
            options,
            &format!("checking out {ELS_BRANCH} in {}", p.path.display()),
        );
        git(Some(&p.path), &["checkout", "--quiet", ELS_BRANCH])?;
    }
    Ok(RepoReport {
        name: p.known.name.to_string(),
        path: p.path.clone(),
        cloned_from,
        base,
        fetched_tag,
        created_branch,
    })
}

fn path_arg(path: &Path) -> String {
    path.display().to_string()
}

/// Runs git (in `dir` when given) with the toolkit's usual environment; the error names the
/// command, its exit status and the end of its stderr.
fn git(dir: Option<&Path>, args: &[&str]) -> Result<()> {
    git_output(dir, args).map(drop)
}

/// [`git`], returning its stdout.
fn git_output(dir: Option<&Path>, args: &[&str]) -> Result<String> {
    let sh = crate::process::shell()?;
    if let Some(dir) = dir {
        sh.change_dir(dir);
    }
    let out =
        crate::process::output(xshell::cmd!(sh, "git {args...}").env("GIT_TERMINAL_PROMPT", "0"))?;
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}
