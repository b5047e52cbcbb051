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

/// A full commit id as GitHub writes it: 40 lowercase hex digits. Anything else fails decoding
/// at its JSON path instead of reaching git as a revision.
#[derive(Debug)]
struct CommitId(String);

impl<'de> serde::Deserialize<'de> for CommitId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let text = <String as serde::Deserialize>::deserialize(d)?;
        if text.len() == 40 && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            Ok(CommitId(text))
        } else {
            Err(serde::de::Error::custom(format!(
                "`{text}` is not a full commit id (40 hex digits)"
            )))
        }
    }
}

/// A pull request as `GET /repos/{owner}/{repo}/pulls/{number}` answers it (the fields used).
#[derive(Debug, serde::Deserialize)]
struct PullRequest {
    title: String,
    state: String,
    merged: bool,
    /// Null until it merges.
    merge_commit_sha: Option<CommitId>,
}

/// A commit as the commits endpoints answer it (the fields used).
#[derive(Debug, serde::Deserialize)]
struct Commit {
    sha: CommitId,
    commit: CommitDetail,
    parents: Vec<Parent>,
}

#[derive(Debug, serde::Deserialize)]
struct CommitDetail {
    message: String,
}

#[derive(Debug, serde::Deserialize)]
struct Parent {
    // Only counted; decoded so that a parent without its commit id is an error.
    #[serde(rename = "sha")]
    _sha: CommitId,
}

/// The most commits GitHub lists for one pull request.
const MAX_PULL_COMMITS: usize = 250;

/// Resolves pull request `number` of `upstream` to the commits that carry it.
pub fn resolve(gh: &GitHub, upstream: &RepoSlug, number: u64) -> Result<ResolvedPull> {
    let what = format!("reading pull request #{number} of {upstream}");
    let pull: PullRequest = gh.get(&format!("/repos/{upstream}/pulls/{number}"), &what)?;
    let title = pull.title;
    if !pull.merged {
        bail!(
            "pull request #{number} of {upstream} ({title:?}) is not merged (state: {}); only merged pull requests are fixes — wait for it to merge, or name its commits",
            pull.state
        );
    }
    let merge_sha = pull.merge_commit_sha.map(|c| c.0).with_context(|| {
        format!("GitHub's answer for pull request #{number} of {upstream} says it is merged but has no merge_commit_sha")
    })?;
    let merge: Commit = gh.get(
        &format!("/repos/{upstream}/commits/{merge_sha}"),
        &format!("reading the merge commit {merge_sha} of pull request #{number}"),
    )?;
    if merge.parents.len() > 1 {
        return Ok(ResolvedPull {
            number,
            title,
            landing: Landing::MergeCommit,
            commits: vec![merge_sha],
        });
    }
    let pr_commits: Vec<Commit> = gh.get_pages(
        &format!("/repos/{upstream}/pulls/{number}/commits?per_page=100"),
        &format!("listing the commits of pull request #{number} of {upstream}"),
        MAX_PULL_COMMITS,
    )?;
    let last_message = pr_commits.last().map(|c| c.commit.message.trim());
    if pr_commits.len() <= 1 || last_message != Some(merge.commit.message.trim()) {
        return Ok(ResolvedPull {
            number,
            title,
            landing: Landing::Squash,
            commits: vec![merge_sha],
        });
    }
    // Rebase-merged: the merge commit and its first-parent ancestors are the replayed commits.
    let n = pr_commits.len();
    let replayed: Vec<Commit> = gh.get_pages(
        &format!(
            "/repos/{upstream}/commits?sha={merge_sha}&per_page={}",
            n.min(100)
        ),
        &format!("listing the {n} commits pull request #{number} was rebased into"),
        n,
    )?;
    let mut commits: Vec<String> = replayed.into_iter().map(|c| c.sha.0).collect();
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
