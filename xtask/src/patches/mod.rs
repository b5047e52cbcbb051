//! The patch queue `runtime-patches/`: base tag + ordered patches = fork branch. `export` and
//! `refresh` write it from the fork branch (one `git format-patch` file per commit with DEP-3
//! provenance, grouped by CVE), `apply` rebuilds the branch from it in memory, and `verify` is its
//! lint and CI gate. The format is documented in `runtime-patches/README.md`.

mod apply;
mod export;
pub(crate) mod format;
mod mail;
mod provenance;
mod queue;
pub mod series;
mod verify;

use anyhow::{bail, Result};
use serde::Serialize;

pub use apply::{apply, AppliedPatch, ApplyReport, ApplyRequest};
pub use export::{
    export_repo, export_with, refresh_repo, Change, ExportOptions, ExportSummary, ExportedPatch,
    RepoExport,
};
pub use format::{Field, ParseError, PatchFile};
pub use verify::{verify_repo, Against, Problem, VerifyReport, VerifySummary};

use crate::config::{Config, RepoConfig};

/// The configured repositories a queue command works on: `only` when given, else every
/// `[[repo]]` except one whose clone and branch an earlier entry already covers (an upstream-only
/// entry such as `dotnet`, which feeds the runtime fork from dotnet/dotnet).
pub fn selected_repos<'c>(config: &'c Config, only: &[String]) -> Result<Vec<&'c RepoConfig>> {
    if !only.is_empty() {
        return only.iter().map(|n| config.repo(n)).collect();
    }
    let mut out: Vec<&RepoConfig> = Vec::new();
    for rc in &config.repos {
        let same = |o: &&RepoConfig| {
            config.resolve(&o.path) == config.resolve(&rc.path) && o.branch == rc.branch
        };
        if !out.iter().any(same) {
            out.push(rc);
        }
    }
    if out.is_empty() {
        bail!(
            "{} configures no repository; add a [[repo]] section",
            config.root.join(crate::config::FILE_NAME).display()
        );
    }
    Ok(out)
}

/// True when `name` has a queue to read (also in the middle of an interrupted export).
pub fn has_queue(config: &Config, name: &str) -> bool {
    queue::QueueDir::new(&config.patches_dir(), name)
        .current()
        .is_some()
}

/// The `cargo xtask demo` stage: export the queue, verify it, rebuild the branch from it as
/// `<branch>-rebuilt` and compare the trees.
#[derive(Clone, Debug, Serialize)]
pub struct RoundTrip {
    pub export: RepoExport,
    pub verify: VerifyReport,
    pub apply: ApplyReport,
    /// The fork branch's tree, which the rebuilt branch's tree must equal.
    pub fork_tree: String,
}

impl RoundTrip {
    /// True when the rebuilt branch has exactly the fork branch's tree.
    pub fn identical(&self) -> bool {
        self.apply.tree == self.fork_tree
    }
}

impl std::fmt::Display for RoundTrip {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        writeln!(
            f,
            "exported {} patch(es) to {}",
            self.export.patches.len(),
            self.export.dir.display()
        )?;
        writeln!(
            f,
            "verify: {}",
            if self.verify.ok() {
                "ok".to_string()
            } else {
                format!("{} problem(s)", self.verify.problems.len())
            }
        )?;
        write!(
            f,
            "rebuilt `{}` from {} + series: tree {} {} the fork branch's",
            self.apply.onto,
            self.apply.base,
            self.apply.tree,
            if self.identical() {
                "="
            } else {
                "differs from"
            }
        )
    }
}

/// Runs export → verify → apply for `name` (see [`RoundTrip`]).
pub fn round_trip(config: &Config, name: &str) -> Result<RoundTrip> {
    let rc = config.repo(name)?;
    let export = export_repo(config, name)?;
    let verify = verify_repo(config, name, &Against::Configured)?;
    let fork = config.resolve(&rc.path);
    let apply = apply(&ApplyRequest {
        queue: export.dir.clone(),
        target: fork.clone(),
        base: rc.base.clone(),
        onto: format!("{}-rebuilt", rc.branch),
        force: true,
    })?;
    let repo = crate::repo::open(&fork)?;
    let fork_tree = repo
        .revparse_single(&format!("refs/heads/{}", rc.branch))?
        .peel_to_tree()?
        .id()
        .to_string();
    Ok(RoundTrip {
        export,
        verify,
        apply,
        fork_tree,
    })
}
