//! Finding fix commits: in the fork's object database, or fetched from the upstream (a URL or a
//! path) into the private ref namespace `refs/els/upstream/<repo>/…`, never touching the user's
//! branches or remotes.

use anyhow::{bail, Context, Result};
use git2::{Oid, Repository};

use super::fix::FixSpec;
use crate::remote::Remote;

/// Where fixes come from when the fork does not have them yet.
pub struct Upstream<'a> {
    /// A URL or a local path; `None` when fixes must already be in the fork.
    pub location: Option<&'a str>,
    /// The namespace under `refs/els/upstream/`.
    pub name: &'a str,
    /// Branches fetched to find abbreviated ids, preferred first.
    pub branches: &'a [String],
}

/// Resolves every FIX to a commit id, fetching from the upstream once for all missing ones.
pub fn resolve_all(
    repo: &Repository,
    fixes: &[FixSpec],
    upstream: &Upstream,
    quiet: bool,
) -> Result<Vec<Oid>> {
    let mut found: Vec<Option<Oid>> = fixes
        .iter()
        .map(|f| lookup(repo, f))
        .collect::<Result<_>>()?;
    let missing = |found: &[Option<Oid>]| -> Vec<&FixSpec> {
        fixes
            .iter()
            .zip(found)
            .filter(|(_, id)| id.is_none())
            .map(|(f, _)| f)
            .collect()
    };
    if missing(&found).is_empty() {
        return Ok(found.into_iter().flatten().collect());
    }
    let Some(location) = upstream.location else {
        let names: Vec<String> = missing(&found).iter().map(|f| f.to_string()).collect();
        bail!("commit {} is not in the fork; pass --upstream <URL|PATH> (or set `upstream` in els.toml) so it can be fetched", names.join(", "));
    };
    let ns = format!("refs/els/upstream/{}", upstream.name);
    let advertised = advertised_branches(repo, location)?;
    let wanted: Vec<&String> = upstream
        .branches
        .iter()
        .filter(|b| advertised.contains(*b))
        .collect();
    let full_ids: Vec<String> = missing(&found)
        .iter()
        .filter(|f| f.rev.len() == 40)
        .map(|f| f.rev.clone())
        .collect();
    let attempts: Vec<Vec<String>> = vec![
        full_ids
            .iter()
            .map(|id| format!("+{id}:{ns}/commits/{id}"))
            .collect(),
        wanted
            .iter()
            .map(|b| format!("+refs/heads/{b}:{ns}/heads/{b}"))
            .collect(),
        vec![format!("+refs/heads/*:{ns}/heads/*")],
    ];
    let mut last_error = None;
    for refspecs in attempts.into_iter().filter(|r| !r.is_empty()) {
        if let Err(e) = fetch(repo, location, &refspecs, quiet) {
            last_error = Some(e);
            continue;
        }
        for (fix, slot) in fixes.iter().zip(found.iter_mut()) {
            if slot.is_none() {
                *slot = lookup(repo, fix)?;
            }
        }
        if missing(&found).is_empty() {
            return Ok(found.into_iter().flatten().collect());
        }
    }
    let names: Vec<String> = missing(&found).iter().map(|f| f.to_string()).collect();
    let why = last_error
        .map(|e| format!(" (last fetch error: {e:#})"))
        .unwrap_or_default();
    bail!(
        "unknown commit {}: not in the fork and not found in {location}{why}; check the id",
        names.join(", ")
    )
}

/// The branch names the upstream advertises.
fn advertised_branches(repo: &Repository, location: &str) -> Result<Vec<String>> {
    let refs = Remote::new(repo.path(), location)
        .refs("refs/heads/")
        .with_context(|| format!("cannot reach the upstream {location}"))?;
    Ok(refs
        .into_iter()
        .map(|(name, _)| name["refs/heads/".len()..].to_string())
        .collect())
}

/// Looks a fix up in the fork's object database.
fn lookup(repo: &Repository, fix: &FixSpec) -> Result<Option<Oid>> {
    match repo.revparse_single(&fix.rev) {
        Ok(obj) => {
            let commit = obj.peel_to_commit().with_context(|| {
                format!(
                    "{fix} names a {}, not a commit",
                    obj.kind().map(|k| k.str()).unwrap_or("object")
                )
            })?;
            Ok(Some(commit.id()))
        }
        Err(e) if e.code() == git2::ErrorCode::Ambiguous => {
            bail!(
                "{fix} is ambiguous: several objects start with {}; give more digits",
                fix.rev
            )
        }
        Err(_) => Ok(None),
    }
}

fn fetch(repo: &Repository, location: &str, refspecs: &[String], quiet: bool) -> Result<()> {
    if !quiet {
        eprintln!("fetching from upstream {location} …");
    }
    Remote::new(repo.path(), location)
        .fetch(refspecs, quiet)
        .with_context(|| format!("fetching {} from {location}", refspecs.join(" ")))
}
