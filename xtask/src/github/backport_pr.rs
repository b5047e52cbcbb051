//! `cargo xtask backport --open-pr`: publishes a backport as one pull request per CVE on the fork.
//!
//! The result is pushed to the deterministic branch `els/<CVE>/<first upstream short sha>` on the
//! fork's remote, and the pull request whose head is that branch is created, or — when one is
//! already open — updated (title, body, labels) instead of opening another.
//!
//! On a conflict the branch holds what was applied before the conflicting fix; when that is
//! nothing, an empty placeholder commit makes the pull request possible (GitHub refuses a PR
//! without commits). The PR is opened as a draft whose body lists the conflicted files, their
//! classes, the likely prerequisites and the commands that finish the backport; finishing it with
//! `--continue --open-pr` replaces the placeholder.
//!
//! The branch is only overwritten when it still holds what this tool pushed last (recorded in the
//! PR body) or the new result extends it: commits someone else pushed are never discarded.

use std::path::Path;

use anyhow::{Context, Result};
use git2::{Oid, Repository};
use serde::Deserialize;
use serde_json::json;

use super::{encode, GitHub, RepoSlug};
use crate::backport::report::{Published, Push};
use crate::backport::{FixStatus, Report};
use crate::config::{Config, GithubSettings};
use crate::error::ResultExt as _;
use crate::remote::Remote;
use crate::repo;
use crate::token::Token;

/// The label added while a backport waits for a person to resolve a conflict.
pub const CONFLICT_LABEL: &str = "backport-conflict";

/// The marker in the PR body recording the commit this tool last pushed.
const PUSHED_MARKER: &str = "<!-- net6-els pushed: ";

/// A pull request as the pulls endpoints answer it (the fields used).
#[derive(Clone, Debug, Deserialize)]
struct PullRequest {
    number: u64,
    html_url: String,
    draft: bool,
    /// Null when the description is empty.
    body: Option<String>,
    labels: Vec<Label>,
    head: Head,
}

#[derive(Clone, Debug, Deserialize)]
struct Label {
    name: String,
}

#[derive(Clone, Debug, Deserialize)]
struct Head {
    r#ref: String,
    /// Null when the head repository was deleted.
    repo: Option<HeadRepo>,
}

#[derive(Clone, Debug, Deserialize)]
struct HeadRepo {
    full_name: String,
}

/// Where a backport is published.
#[derive(Clone, Debug)]
pub struct Target {
    /// The fork's GitHub repository.
    pub slug: RepoSlug,
    /// The git remote of the fork clone that branches are pushed to.
    pub remote: String,
    pub labels: Vec<String>,
}

/// Works out where to publish a backport of repository `repo_name` from the clone at `fork`:
/// `[github.forks]` names the GitHub repository, else the push remote's URL does.
pub fn target(settings: &GithubSettings, repo_name: Option<&str>, fork: &Path) -> Result<Target> {
    let git = repo::open(fork)?;
    let remote = git.find_remote(&settings.remote).with_context(|| {
        format!(
            "the fork {} has no remote `{}` to push the backport branch to; add it (`git remote add {} <URL>`) or set [github] remote in els.toml",
            fork.display(),
            settings.remote,
            settings.remote
        )
    })?;
    let configured = repo_name.and_then(|n| settings.forks.get(n));
    let slug = match configured {
        Some(s) => RepoSlug::parse(s).context("in [github.forks] of els.toml")?,
        None => remote.url().and_then(RepoSlug::from_url).with_context(|| {
            format!(
                "cannot tell the fork's GitHub repository: remote `{}` of {} is {}; set it in els.toml: [github.forks] {} = \"OWNER/NAME\"",
                settings.remote,
                fork.display(),
                remote.url().unwrap_or("not a URL"),
                repo_name.unwrap_or("<repo>")
            )
        })?,
    };
    Ok(Target {
        slug,
        remote: settings.remote.clone(),
        labels: settings.labels.clone(),
    })
}

/// Pushes the backport and creates or updates its pull request. `None` when there is nothing to
/// propose (every fix was already on the branch).
pub fn publish(
    gh: &GitHub,
    target: &Target,
    fork: &Path,
    report: &Report,
    upstream_url: Option<&str>,
    details_markdown: &str,
) -> Result<Option<Published>> {
    let cve = report
        .cve
        .as_deref()
        .context("--open-pr needs --cve: the pull request and its branch are per advisory")?;
    let stopped = report.stopped();
    if !stopped && !report.fixes.iter().any(|f| f.status == FixStatus::Applied) {
        return Ok(None);
    }
    let first = report
        .fixes
        .first()
        .context("the backport report lists no fix")?;
    let branch = format!(
        "els/{cve}/{}",
        &first.upstream[..first.upstream.len().min(7)]
    );
    let slug = &target.slug;
    let existing = find_open_pull(gh, slug, &branch)?;
    let git = repo::open(fork)?;
    let head = branch_head(&git, report, cve)?;
    let recorded = existing
        .as_ref()
        .and_then(|p| p.body.as_deref())
        .and_then(recorded_push);
    let (push, head) = push_branch(&git, target, gh.token(), &branch, head, recorded)?;
    let title = title(report, cve);
    if push == Push::KeptOthersWork {
        let pull = existing.with_context(|| {
            format!(
                "branch {branch} on remote `{}` has commits net6-els did not push and no open pull request; delete the branch or open a pull request for it, then run again",
                target.remote
            )
        })?;
        return Ok(Some(published(slug, &branch, &pull, false, head, push)));
    }
    let body = body(report, cve, &branch, head, upstream_url, details_markdown);
    let (pull, created): (PullRequest, bool) = match existing {
        Some(pull) => {
            let number = pull.number;
            let updated = gh.patch(
                &format!("/repos/{slug}/pulls/{number}"),
                &json!({ "title": title, "body": body }),
                &format!("updating pull request #{number} of {slug}"),
            )?;
            (updated, false)
        }
        None => {
            let created = gh.post(
                &format!("/repos/{slug}/pulls"),
                &json!({
                    "title": title,
                    "head": branch,
                    "base": report.onto,
                    "body": body,
                    "draft": stopped,
                    "maintainer_can_modify": true,
                }),
                &format!(
                    "opening a pull request on {slug} from {branch} into {}",
                    report.onto
                ),
            )?;
            (created, true)
        }
    };
    let n = pull.number;
    let mut labels = target.labels.clone();
    if stopped {
        labels.push(CONFLICT_LABEL.to_string());
    }
    if !labels.is_empty() {
        // The answer is the pull request's labels now.
        let _: Vec<Label> = gh.post(
            &format!("/repos/{slug}/issues/{n}/labels"),
            &json!({ "labels": labels }),
            &format!("labelling pull request #{n} of {slug}"),
        )?;
    }
    let had_conflict_label = pull.labels.iter().any(|l| l.name == CONFLICT_LABEL);
    if !stopped && had_conflict_label {
        gh.delete_if_present(
            &format!("/repos/{slug}/issues/{n}/labels/{}", encode(CONFLICT_LABEL)),
            &format!("removing the {CONFLICT_LABEL} label from pull request #{n} of {slug}"),
        )?;
    }
    Ok(Some(published(slug, &branch, &pull, created, head, push)))
}

fn published(
    slug: &RepoSlug,
    branch: &str,
    pull: &PullRequest,
    created: bool,
    head: Oid,
    push: Push,
) -> Published {
    Published {
        repository: slug.to_string(),
        branch: branch.to_string(),
        number: pull.number,
        url: pull.html_url.clone(),
        created,
        draft: pull.draft,
        head: head.to_string(),
        push,
    }
}

/// The open pull request whose head is `branch` in the fork itself.
fn find_open_pull(gh: &GitHub, slug: &RepoSlug, branch: &str) -> Result<Option<PullRequest>> {
    let list: Vec<PullRequest> = gh.get_pages(
        &format!(
            "/repos/{slug}/pulls?state=open&head={}&per_page=100",
            encode(&format!("{}:{branch}", slug.owner))
        ),
        &format!("looking for an open pull request from {branch} in {slug}"),
        usize::MAX,
    )?;
    Ok(list.into_iter().find(|p| {
        p.head.r#ref == branch
            && p.head
                .repo
                .as_ref()
                .is_none_or(|r| r.full_name.eq_ignore_ascii_case(&slug.to_string()))
    }))
}

/// The commit the branch should hold: the branch as the backport left it, or on a conflict with
/// nothing applied, an empty placeholder commit on top (GitHub opens no PR without commits).
fn branch_head(git: &Repository, report: &Report, cve: &str) -> Result<Oid> {
    let tip = Oid::from_str(&report.tip)?;
    if !report.stopped() || report.tip != report.original_tip {
        return Ok(tip);
    }
    let parent = git.find_commit(tip)?;
    let conflicted = report
        .fixes
        .iter()
        .find(|f| f.status == FixStatus::Conflict)
        .map(|f| f.fix.as_str())
        .unwrap_or("the fix");
    let message = format!(
        "[placeholder] {cve}: {conflicted} needs a manual backport\n\nThis empty commit only lets the draft pull request exist; finishing the backport\nwith `cargo xtask backport --continue --open-pr` replaces it.\n"
    );
    // A fixed identity and the parent's time keep the placeholder's id stable across runs, so an
    // unchanged conflict does not push a new commit every day.
    let who = git2::Signature::new("net6-els", "net6-els@localhost", &parent.time())?;
    Ok(git.commit(None, &who, &who, &message, &parent.tree()?, &[&parent])?)
}

/// The commit the body says this tool pushed last.
fn recorded_push(body: &str) -> Option<Oid> {
    let start = body.find(PUSHED_MARKER)? + PUSHED_MARKER.len();
    let rest = &body[start..];
    Oid::from_str(rest.get(..40)?).ok()
}

/// Pushes `head` to `branch` on the remote unless that would discard someone else's commits;
/// returns what happened and the commit the branch holds afterwards.
fn push_branch(
    git: &Repository,
    target: &Target,
    token: Option<&Token>,
    branch: &str,
    head: Oid,
    recorded: Option<Oid>,
) -> Result<(Push, Oid)> {
    let full = format!("refs/heads/{branch}");
    let current = remote_tip(git, target, token, &full)?;
    let (push, force) = match current {
        None => (Push::Created, false),
        Some(t) if t == head => return Ok((Push::Unchanged, t)),
        // A re-run recreates the same picks with a new commit date: same content, no push.
        Some(t) if recorded == Some(t) && same_change(git, t, head) => {
            return Ok((Push::Unchanged, t))
        }
        Some(t) if recorded == Some(t) => (Push::Updated, true),
        Some(t) if git.find_commit(t).is_ok() && git.graph_descendant_of(head, t)? => {
            (Push::Updated, false)
        }
        Some(t) => return Ok((Push::KeptOthersWork, t)),
    };
    let refspec = format!("{}{head}:{full}", if force { "+" } else { "" });
    Remote::new(git.path(), &target.remote)
        .with_token(token)
        .push(&refspec)
        .with_context(|| {
            format!(
                "cannot push {branch} to remote `{}`; the token needs contents: write on the fork",
                target.remote
            )
        })
        // The backport is finished by now; the remote is the part that failed.
        .internal()?;
    Ok((push, head))
}

/// True when commits `a` and `b` (both known locally) have the same tree and the same parents.
fn same_change(git: &Repository, a: Oid, b: Oid) -> bool {
    match (git.find_commit(a), git.find_commit(b)) {
        (Ok(a), Ok(b)) => a.tree_id() == b.tree_id() && a.parent_ids().eq(b.parent_ids()),
        _ => false,
    }
}

/// The commit `full` points at on the remote, if the branch exists.
fn remote_tip(
    git: &Repository,
    target: &Target,
    token: Option<&Token>,
    full: &str,
) -> Result<Option<Oid>> {
    let refs = Remote::new(git.path(), &target.remote)
        .with_token(token)
        .refs(full)
        .with_context(|| format!("cannot reach the fork's remote `{}`", target.remote))?;
    Ok(refs
        .into_iter()
        .find(|(name, _)| name == full)
        .map(|(_, id)| id))
}

fn title(report: &Report, cve: &str) -> String {
    let subject = report
        .fixes
        .first()
        .map(|f| f.subject.as_str())
        .unwrap_or_default();
    let more = match report.fixes.len() {
        0 | 1 => String::new(),
        n => format!(" (+{} more)", n - 1),
    };
    let prefix = if report.stopped() { "[conflict] " } else { "" };
    format!(
        "{prefix}{cve}: backport \"{subject}\"{more} to {}",
        report.onto
    )
}

fn body(
    report: &Report,
    cve: &str,
    branch: &str,
    head: Oid,
    upstream_url: Option<&str>,
    details_markdown: &str,
) -> String {
    let web = upstream_url
        .filter(|u| u.starts_with("http://") || u.starts_with("https://"))
        .map(|u| u.trim_end_matches('/').trim_end_matches(".git").to_string());
    let mut out = format!(
        "Backport of the upstream fix for [{cve}](https://msrc.microsoft.com/update-guide/vulnerability/{cve}) to `{}`.\n\n**Upstream commits**\n\n",
        report.onto
    );
    for f in &report.fixes {
        let id = &f.upstream[..f.upstream.len().min(10)];
        let link = match &web {
            Some(w) => format!("[`{id}`]({w}/commit/{})", f.upstream),
            None => format!("`{id}`"),
        };
        let status = serde_json::to_value(f.status)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        out.push_str(&format!("- {link} {} — **{status}**\n", f.subject));
    }
    out.push('\n');
    out.push_str(details_markdown.trim_end());
    out.push_str("\n\n");
    if let Some(stuck) = report
        .fixes
        .iter()
        .find(|f| f.status == FixStatus::Conflict)
    {
        let fixes: Vec<&str> = report.fixes.iter().map(|f| f.fix.as_str()).collect();
        out.push_str(&format!(
            "### What to resolve\n\nThe backport stopped at `{}`: the files above conflict with the fork. This branch holds the fixes applied before it{}. On a clone of the fork:\n\n```sh\ncargo xtask backport --cve {cve} --open-pr {}\n# resolve the conflicted files (git status, git mergetool), `git add` each, then:\ncargo xtask backport --continue --open-pr\n```\n\n",
            stuck.fix,
            if report.tip == report.original_tip { " (none: it holds an empty placeholder commit that finishing replaces)" } else { "" },
            fixes.join(" ")
        ));
        if stuck.conflicts.iter().all(|c| c.class == "version-infra") {
            out.push_str("Only version/infrastructure files conflict: keeping the fork's side is usually right.\n\n");
        }
        out.push_str("Then mark this pull request ready for review.\n\n");
    }
    out.push_str(&format!(
        "---\nOpened by `cargo xtask backport --open-pr` (net6-els) from branch `{branch}`. Running it again updates this pull request.\n{PUSHED_MARKER}{head} -->\n"
    ));
    out
}

/// The GitHub side of `--open-pr`, prepared before the backport runs so that a missing token,
/// remote or repository is refused while nothing has changed yet.
pub struct Publisher {
    gh: GitHub,
    target: Target,
    fork: std::path::PathBuf,
    upstream_url: Option<String>,
}

impl Publisher {
    /// Connects (a token is required) and works out the target. `repo_name` is the configured
    /// repository; when `None` (`--continue`), the one whose clone is `fork`.
    pub fn prepare(
        config: Option<&Config>,
        repo_name: Option<&str>,
        fork: &Path,
        upstream_url: Option<String>,
    ) -> Result<Publisher> {
        let settings = settings(config);
        let gh = GitHub::connect(&settings, super::Auth::Required("--open-pr"))?;
        let repo_name = repo_name.map(str::to_string).or_else(|| {
            config.and_then(|c| {
                c.repos
                    .iter()
                    .find(|r| c.resolve(&r.path) == fork)
                    .map(|r| r.name.clone())
            })
        });
        let upstream_url = upstream_url.or_else(|| {
            let name = repo_name.as_deref()?;
            config
                .and_then(|c| c.repo(name).ok())
                .map(|r| r.upstream.clone())
        });
        let target = target(&settings, repo_name.as_deref(), fork)?;
        Ok(Publisher {
            gh,
            target,
            fork: fork.to_path_buf(),
            upstream_url,
        })
    }

    /// Publishes `report` (see [`publish`]); `details_markdown` is the report's table.
    pub fn publish(&self, report: &Report, details_markdown: &str) -> Result<Option<Published>> {
        publish(
            &self.gh,
            &self.target,
            &self.fork,
            report,
            self.upstream_url.as_deref(),
            details_markdown,
        )
    }
}

/// Reads `[github]` settings, or the defaults when there is no config file.
pub fn settings(config: Option<&Config>) -> GithubSettings {
    config.map(|c| c.github.clone()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_body_marker_round_trips() {
        let id = Oid::from_str("18e28d767acf44208afa6c4e2e67a10c65e9647e").unwrap();
        let body = format!("text\n{PUSHED_MARKER}{id} -->\n");
        assert_eq!(recorded_push(&body), Some(id));
        assert_eq!(recorded_push("no marker"), None);
        assert_eq!(recorded_push(&format!("{PUSHED_MARKER}xyz -->")), None);
    }
}
