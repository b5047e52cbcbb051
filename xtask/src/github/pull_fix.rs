//! `pr:<number>` as a FIX: an upstream pull request resolved through the GitHub API to the
//! commits that carry its change on the upstream branch.
//!
//! A merged pull request becomes:
//! - its **merge commit** when GitHub merged it with a merge commit (two parents); it is then picked
//!   against parent 1 (`--mainline 1`, the release branch), which the backport sets when not given;
//! - its **squash commit** when it was squash-merged (one commit whose message is not the last PR
//!   commit's);
//! - its **rebased commits**, oldest first, when it was rebase-merged (the merge commit is the last
//!   of the PR's commits replayed onto the branch, so it and its first-parent ancestors are taken).
//!
//! These are the commits on the upstream branch (what Microsoft lists in cve.json), so the
//! backport's already-applied detection recognises them. An open or closed-unmerged pull request
//! is refused: it is not a fix yet.

use anyhow::{bail, Context, Result};
use serde_json::Value;

use super::{GitHub, RepoSlug};
use crate::backport::FixSpec;

/// A FIX argument before resolution: a commit, or an upstream pull request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FixArg {
    Commit(FixSpec),
    PullRequest { repo: Option<String>, number: u64 },
}

impl FixArg {
    /// Parses `sha`, `repo@sha`, `pr:<number>` or `repo@pr:<number>`.
    pub fn parse(text: &str) -> Result<FixArg> {
        let (repo, rest) = match text.split_once('@') {
            Some((repo, rest)) if rest.starts_with("pr:") => (Some(repo), rest),
            _ => (None, text),
        };
        let Some(number) = rest.strip_prefix("pr:") else {
            return text.parse().map(FixArg::Commit);
        };
        let number: u64 = number
            .parse()
            .ok()
            .filter(|n| *n > 0)
            .with_context(|| format!("malformed FIX `{text}`: `{number}` is not a pull request number (expected pr:<number>, e.g. pr:118442)"))?;
        // Reuse FixSpec's repository-name rules for the prefix.
        let repo = match repo {
            Some(r) => Some(
                format!("{r}@0000")
                    .parse::<FixSpec>()
                    .map_err(|_| {
                        anyhow::anyhow!("malformed FIX `{text}`: `{r}` is not a repository name")
                    })?
                    .repo
                    .unwrap_or_default(),
            ),
            None => None,
        };
        Ok(FixArg::PullRequest { repo, number })
    }

    /// The `repo@` prefix, when given.
    pub fn repo(&self) -> Option<&str> {
        match self {
            FixArg::Commit(spec) => spec.repo.as_deref(),
            FixArg::PullRequest { repo, .. } => repo.as_deref(),
        }
    }
}

/// How a merged pull request landed upstream.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Landing {
    MergeCommit,
    Squash,
    Rebase,
}

/// A pull request resolved to upstream commits.
#[derive(Clone, Debug, serde::Serialize)]
pub struct ResolvedPull {
    pub number: u64,
    pub title: String,
    pub landing: Landing,
    /// Full commit ids on the upstream branch, in the order to apply them.
    pub commits: Vec<String>,
}

impl ResolvedPull {
    /// True when the commit must be picked relative to a parent (`--mainline`).
    pub fn needs_mainline(&self) -> bool {
        self.landing == Landing::MergeCommit
    }
}

/// Resolves pull request `number` of `upstream` to the commits that carry it.
pub fn resolve(gh: &GitHub, upstream: &RepoSlug, number: u64) -> Result<ResolvedPull> {
    let what = format!("reading pull request #{number} of {upstream}");
    let pull = gh.get(&format!("/repos/{upstream}/pulls/{number}"), &what)?;
    let title = text(&pull, "title").unwrap_or_default();
    let merged = pull.get("merged").and_then(Value::as_bool).unwrap_or(false)
        || pull.get("merged_at").is_some_and(|v| !v.is_null());
    if !merged {
        bail!(
            "pull request #{number} of {upstream} ({title:?}) is not merged (state: {}); only merged pull requests are fixes — wait for it to merge, or name its commits",
            text(&pull, "state").unwrap_or_else(|| "unknown".into())
        );
    }
    let merge_sha = text(&pull, "merge_commit_sha").with_context(|| {
        format!("GitHub's answer for pull request #{number} of {upstream} has no merge_commit_sha")
    })?;
    let merge = gh.get(
        &format!("/repos/{upstream}/commits/{merge_sha}"),
        &format!("reading the merge commit {merge_sha} of pull request #{number}"),
    )?;
    let parents = merge
        .get("parents")
        .and_then(Value::as_array)
        .map(Vec::len)
        .unwrap_or(1);
    if parents > 1 {
        return Ok(ResolvedPull {
            number,
            title,
            landing: Landing::MergeCommit,
            commits: vec![merge_sha],
        });
    }
    let pr_commits = pull_commits(gh, upstream, number)?;
    let last_message = pr_commits
        .last()
        .and_then(|c| c.pointer("/commit/message"))
        .and_then(Value::as_str)
        .map(str::trim);
    let merge_message = merge
        .pointer("/commit/message")
        .and_then(Value::as_str)
        .map(str::trim);
    if pr_commits.len() <= 1 || last_message != merge_message {
        return Ok(ResolvedPull {
            number,
            title,
            landing: Landing::Squash,
            commits: vec![merge_sha],
        });
    }
    // Rebase-merged: the merge commit and its first-parent ancestors are the replayed commits.
    let n = pr_commits.len();
    let replayed = gh.get(
        &format!("/repos/{upstream}/commits?sha={merge_sha}&per_page={n}"),
        &format!("listing the {n} commits pull request #{number} was rebased into"),
    )?;
    let mut commits: Vec<String> = replayed
        .as_array()
        .into_iter()
        .flatten()
        .take(n)
        .filter_map(|c| text(c, "sha"))
        .collect();
    if commits.len() != n {
        bail!("GitHub listed {} commits ending at {merge_sha}, expected the {n} commits of pull request #{number}", commits.len());
    }
    commits.reverse();
    Ok(ResolvedPull {
        number,
        title,
        landing: Landing::Rebase,
        commits,
    })
}

/// The pull request's own commits, oldest first (GitHub lists at most 250).
fn pull_commits(gh: &GitHub, upstream: &RepoSlug, number: u64) -> Result<Vec<Value>> {
    let mut all = Vec::new();
    for page in 1..=3 {
        let batch = gh.get(
            &format!("/repos/{upstream}/pulls/{number}/commits?per_page=100&page={page}"),
            &format!("listing the commits of pull request #{number} of {upstream}"),
        )?;
        let batch = batch.as_array().cloned().unwrap_or_default();
        let full = batch.len() == 100;
        all.extend(batch);
        if !full {
            break;
        }
    }
    Ok(all)
}

fn text(v: &Value, key: &str) -> Option<String> {
    v.get(key).and_then(Value::as_str).map(str::to_string)
}

/// Turns FIX arguments into commits, resolving `pr:<n>` through GitHub. `upstream` is the
/// upstream repository's URL (its owner/name is where the pull requests live). Returns the
/// commits and the resolved pull requests.
pub fn expand(
    args: Vec<FixArg>,
    upstream: Option<&str>,
    connect: impl FnOnce() -> Result<GitHub>,
) -> Result<(Vec<FixSpec>, Vec<ResolvedPull>)> {
    if !args.iter().any(|a| matches!(a, FixArg::PullRequest { .. })) {
        let specs = args
            .into_iter()
            .filter_map(|a| match a {
                FixArg::Commit(spec) => Some(spec),
                FixArg::PullRequest { .. } => None,
            })
            .collect();
        return Ok((specs, Vec::new()));
    }
    let slug = upstream.and_then(RepoSlug::from_url).with_context(|| {
        format!(
            "pr:<number> needs the upstream to be a GitHub repository URL, but it is {}; pass --upstream https://github.com/OWNER/REPO or set `upstream` in els.toml",
            upstream.map(|u| format!("`{u}`")).unwrap_or_else(|| "not set".into())
        )
    })?;
    let gh = connect()?;
    let mut specs = Vec::new();
    let mut pulls = Vec::new();
    for arg in args {
        match arg {
            FixArg::Commit(spec) => specs.push(spec),
            FixArg::PullRequest { repo, number } => {
                let pull = resolve(&gh, &slug, number)?;
                specs.extend(pull.commits.iter().map(|c| FixSpec {
                    repo: repo.clone(),
                    rev: c.clone(),
                }));
                pulls.push(pull);
            }
        }
    }
    Ok((specs, pulls))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_pull_requests_and_commits() {
        assert_eq!(
            FixArg::parse("pr:118442").unwrap(),
            FixArg::PullRequest {
                repo: None,
                number: 118442
            }
        );
        assert_eq!(
            FixArg::parse("runtime@pr:7").unwrap(),
            FixArg::PullRequest {
                repo: Some("runtime".into()),
                number: 7
            }
        );
        assert!(matches!(
            FixArg::parse("runtime@44527b9").unwrap(),
            FixArg::Commit(_)
        ));
        for bad in ["pr:", "pr:abc", "pr:0", "pr:-3", "bad name@pr:3"] {
            let err = FixArg::parse(bad).unwrap_err().to_string();
            assert!(err.contains("malformed FIX"), "{bad}: {err}");
        }
    }
}
