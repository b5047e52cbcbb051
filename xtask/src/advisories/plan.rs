//! The backport plan: for every pending CVE, the exact `cargo xtask backport` command per fork
//! repository. Microsoft lists one entry per product version band, each with its ordered fix
//! commits; entries on one branch are alternatives (SDK feature bands), so one entry is chosen:
//! the preferred branch first (`release/8.0`, the code closest to 6.0, then `release/9.0`, or
//! the repository's `upstream-branches`), the lowest fixed version within it. Only when no
//! per-repository fix exists does the plan fall back to the combined dotnet/dotnet repository.

use serde::Serialize;

use super::status::{Status, StatusReport};
use super::{compare_versions, Advisory, Snapshot};
use crate::config::Config;
use crate::cve::CveId;
use crate::upstream::COMBINED_REPO;

/// One upstream commit to pick.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct PlannedCommit {
    /// `repo@shortsha`, as the backport command takes it.
    pub key: String,
    pub hash: String,
}

/// One backport command: a CVE's fix for one repository.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct PlannedBackport {
    pub cve: CveId,
    pub repo: String,
    /// The upstream branch the commits come from.
    pub branch: String,
    /// In the order to pick them.
    pub commits: Vec<PlannedCommit>,
    /// The command line, ready to run.
    pub argv: Vec<String>,
}

impl PlannedBackport {
    /// The command as one shell line.
    pub fn command_line(&self) -> String {
        self.argv.join(" ")
    }
}

/// The plan and what it could not decide.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct Plan {
    pub backports: Vec<PlannedBackport>,
    pub warnings: Vec<String>,
}

/// A fix entry's commits in one repository.
struct Candidate<'a> {
    branch: &'a str,
    fixed: &'a str,
    keys: Vec<&'a str>,
}

fn candidates<'a>(advisory: &'a Advisory, repo: &str) -> Vec<Candidate<'a>> {
    let mut out: Vec<Candidate<'a>> = Vec::new();
    for fix in &advisory.fixes {
        let keys: Vec<&str> = fix
            .commits
            .iter()
            .filter(|k| advisory.commits.get(*k).is_some_and(|c| c.repo == repo))
            .map(String::as_str)
            .collect();
        let Some(first) = keys.first().and_then(|k| advisory.commits.get(*k)) else {
            continue;
        };
        if out.iter().any(|c| c.keys == keys) {
            continue;
        }
        out.push(Candidate {
            branch: &first.branch,
            fixed: &fix.fixed,
            keys,
        });
    }
    out
}

fn choose<'a>(mut list: Vec<Candidate<'a>>, preferred: &[String]) -> Option<Candidate<'a>> {
    list.sort_by(|a, b| compare_versions(a.fixed, b.fixed));
    for branch in preferred {
        if let Some(i) = list.iter().position(|c| c.branch == branch) {
            return Some(list.swap_remove(i));
        }
    }
    None
}

/// Plans every pending CVE of `report` (computed from `snapshot`).
pub fn plan(snapshot: &Snapshot, report: &StatusReport, config: Option<&Config>) -> Plan {
    let default_prefer = config
        .map(|c| c.advisories.prefer_branches.clone())
        .unwrap_or_else(|| crate::config::AdvisoriesSettings::default().prefer_branches);
    let preferred_for = |repo: &str| -> Vec<String> {
        match config.and_then(|c| c.repos.iter().find(|r| r.name == repo)) {
            Some(r) if !r.upstream_branches.is_empty() => r.upstream_branches.clone(),
            _ => default_prefer.clone(),
        }
    };
    let mut plan = Plan::default();
    for row in report.rows.iter().filter(|r| r.status == Status::Pending) {
        let Some(advisory) = snapshot.get(&row.id) else {
            continue;
        };
        let mut repos: Vec<&str> = advisory.commits.values().map(|c| c.repo.as_str()).collect();
        repos.sort();
        repos.dedup();
        let separate: Vec<&str> = repos
            .iter()
            .copied()
            .filter(|r| *r != COMBINED_REPO)
            .collect();

        let mut chosen: Vec<(&str, Candidate)> = Vec::new();
        for repo in &separate {
            let prefer = preferred_for(repo);
            let list = candidates(advisory, repo);
            let branches: Vec<&str> = list.iter().map(|c| c.branch).collect();
            match choose(list, &prefer) {
                Some(c) => chosen.push((repo, c)),
                None => plan.warnings.push(format!(
                    "{}: {repo} fixes exist only on {} (none of {}); pick the closest by hand or add the branch to \
                     the repository's upstream-branches",
                    advisory.id,
                    branches.join(", "),
                    prefer.join(", ")
                )),
            }
        }
        if separate.is_empty() && repos.contains(&COMBINED_REPO) {
            // The VMR's branches are named per band and preview; when none is preferred, the
            // lowest fixed version is the closest to 6.0 whichever branch it is on.
            let pick = choose(
                candidates(advisory, COMBINED_REPO),
                &preferred_for(COMBINED_REPO),
            )
            .or_else(|| {
                let mut all = candidates(advisory, COMBINED_REPO);
                all.sort_by(|a, b| compare_versions(a.fixed, b.fixed));
                all.into_iter().next()
            });
            if let Some(c) = pick {
                chosen.push((COMBINED_REPO, c));
            }
        }
        if chosen.is_empty() && repos.is_empty() {
            plan.warnings.push(format!(
                "{}: pending but Microsoft published no fix commits; backport by hand",
                advisory.id
            ));
        }
        for (repo, c) in chosen {
            if let Some(cfg) = config {
                if cfg.repo(repo).is_err() {
                    plan.warnings.push(format!(
                        "{}: {repo} is not a repository of the fork (no [[repo]] named `{repo}` in els.toml); \
                         add it before running this backport",
                        advisory.id
                    ));
                }
            }
            let commits: Vec<PlannedCommit> = c
                .keys
                .iter()
                .map(|k| PlannedCommit {
                    key: k.to_string(),
                    hash: advisory.commits[*k].hash.clone(),
                })
                .collect();
            let mut argv: Vec<String> = ["cargo", "xtask", "backport", "--cve"]
                .map(String::from)
                .to_vec();
            argv.push(advisory.id.to_string());
            argv.extend(commits.iter().map(|c| c.key.clone()));
            plan.backports.push(PlannedBackport {
                cve: advisory.id.clone(),
                repo: repo.to_string(),
                branch: c.branch.to_string(),
                commits,
                argv,
            });
        }
    }
    plan
}
