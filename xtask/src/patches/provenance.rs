//! Where a fork commit came from, for the DEP-3 `Origin` and `Applied-Upstream` fields: the
//! upstream commit its `(cherry picked from commit …)` trailer names, whether the fork's change is
//! exactly upstream's after path remapping (stable patch-ids compared, per file when they differ),
//! and the first upstream release tag that contains it.

use std::collections::BTreeMap;

use anyhow::Result;
use git2::{Commit, FileMode, Oid, Repository};

use crate::backport::PathMap;
use crate::config::{Config, RepoConfig};

/// Where a fork commit's change came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Origin {
    /// Exactly the upstream commit's change (after remapping).
    Upstream { url: String, commit: Oid },
    /// Picked from upstream but changed to apply, or not comparable.
    Backport {
        url: String,
        commit: Oid,
        deviation: Deviation,
    },
    /// A change of the fork's own.
    Vendor,
}

/// How a backport deviates from its upstream commit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Deviation {
    /// These fork paths carry a different change than upstream's (or only one side changes them).
    Files(Vec<String>),
    /// The upstream commit is not in the repository, so nothing could be compared.
    UpstreamMissing,
}

/// A file entry: blob (or link, submodule) id and mode.
type Entry = (Oid, i32);
/// A path's entries before and after a change.
type Sides = (Option<Entry>, Option<Entry>);
/// Path → its entries before and after a change.
type Change = BTreeMap<String, Sides>;

/// One upstream the fork takes fixes from: its `[[repo]]` entry and path map.
struct Source {
    upstream: String,
    map: PathMap,
}

/// Decides origins for one fork repository.
pub struct Provenance {
    /// The repository's own upstream first, then the other `[[repo]]` entries sharing its clone
    /// (dotnet/dotnet's `src/runtime/` feeds the runtime fork).
    sources: Vec<Source>,
    tags: Vec<ReleaseTag>,
}

struct ReleaseTag {
    version: (Vec<u64>, bool),
    name: String,
    commit: Oid,
    time: i64,
}

impl Provenance {
    /// Prepares origin decisions for `repo_config`'s clone `repo`.
    pub fn new(repo: &Repository, config: &Config, repo_config: &RepoConfig) -> Result<Provenance> {
        let path = config.resolve(&repo_config.path);
        let mut sources = vec![Source {
            upstream: repo_config.upstream.clone(),
            map: PathMap::new(&repo_config.remaps),
        }];
        for other in &config.repos {
            if other.name != repo_config.name && config.resolve(&other.path) == path {
                sources.push(Source {
                    upstream: other.upstream.clone(),
                    map: PathMap::new(&other.remaps),
                });
            }
        }
        Ok(Provenance {
            sources,
            tags: release_tags(repo)?,
        })
    }

    /// The origin of `commit` (compared with its first parent).
    pub fn origin(&self, repo: &Repository, commit: &Commit) -> Result<Origin> {
        let Some(picked) = cherry_picked_from(commit.message().unwrap_or("")) else {
            return Ok(Origin::Vendor);
        };
        let Ok(upstream) = repo.find_commit(picked) else {
            return Ok(Origin::Backport {
                url: commit_url(&self.sources[0].upstream, picked),
                commit: picked,
                deviation: Deviation::UpstreamMissing,
            });
        };
        let fork = change_of(repo, commit, &PathMap::default())?;
        let fork_id = patch_id(repo, &fork)?;
        let mut best: Option<(usize, &Source, Change)> = None;
        for source in &self.sources {
            let theirs = change_of(repo, &upstream, &source.map)?;
            if patch_id(repo, &theirs)? == fork_id {
                return Ok(Origin::Upstream {
                    url: commit_url(&source.upstream, picked),
                    commit: picked,
                });
            }
            let overlap = theirs.keys().filter(|p| fork.contains_key(*p)).count();
            if best.as_ref().is_none_or(|(n, _, _)| overlap > *n) {
                best = Some((overlap, source, theirs));
            }
        }
        let (_, source, theirs) = best.expect("there is always the repository's own upstream");
        let mut paths: Vec<&String> = fork.keys().chain(theirs.keys()).collect();
        paths.sort();
        paths.dedup();
        let mut differing = Vec::new();
        for path in paths {
            let one = |c: &Change| -> Change {
                c.get(path)
                    .map(|e| (path.clone(), *e))
                    .into_iter()
                    .collect()
            };
            if patch_id(repo, &one(&fork))? != patch_id(repo, &one(&theirs))? {
                differing.push(path.clone());
            }
        }
        Ok(Origin::Backport {
            url: commit_url(&source.upstream, picked),
            commit: picked,
            deviation: Deviation::Files(differing),
        })
    }

    /// The first upstream release (`v8.0.21` → `8.0.21`) whose tag contains `commit`.
    pub fn applied_upstream(&self, repo: &Repository, commit: Oid) -> Result<Option<String>> {
        let time = repo.find_commit(commit)?.time().seconds();
        for tag in &self.tags {
            // A release cut before the fix was committed cannot contain it.
            if tag.time < time {
                continue;
            }
            if tag.commit == commit || repo.graph_descendant_of(tag.commit, commit)? {
                return Ok(Some(tag.name.trim_start_matches('v').to_string()));
            }
        }
        Ok(None)
    }
}

/// Release tags `v<major>.<minor>.<patch>[-pre]`, lowest version first (pre-releases before the
/// release).
fn release_tags(repo: &Repository) -> Result<Vec<ReleaseTag>> {
    let mut tags = Vec::new();
    for name in repo.tag_names(Some("v[0-9]*"))?.iter().flatten() {
        let Some(version) = parse_version(name) else {
            continue;
        };
        let Ok(commit) = repo
            .revparse_single(&format!("refs/tags/{name}"))
            .and_then(|o| o.peel_to_commit())
        else {
            continue;
        };
        tags.push(ReleaseTag {
            version,
            name: name.to_string(),
            commit: commit.id(),
            time: commit.time().seconds(),
        });
    }
    tags.sort_by(|a, b| a.version.cmp(&b.version).then(a.name.cmp(&b.name)));
    Ok(tags)
}

fn parse_version(tag: &str) -> Option<(Vec<u64>, bool)> {
    let rest = tag.strip_prefix('v')?;
    let (numbers, pre) = match rest.split_once('-') {
        Some((n, _)) => (n, true),
        None => (rest, false),
    };
    let parts: Vec<u64> = numbers
        .split('.')
        .map(|p| p.parse().ok())
        .collect::<Option<_>>()?;
    (parts.len() >= 3).then_some((parts, !pre))
}

/// The commit named by the last `(cherry picked from commit …)` line of a message.
pub fn cherry_picked_from(message: &str) -> Option<Oid> {
    message
        .lines()
        .rev()
        .find_map(|l| l.trim().strip_prefix("(cherry picked from commit "))
        .and_then(|rest| Oid::from_str(rest.trim_end_matches(')')).ok())
}

/// The CVE ids of a message's `CVE:` trailers, in order, without repeats.
pub fn cve_trailers(message: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for line in message.lines() {
        if let Some(rest) = line.strip_prefix("CVE:") {
            for id in rest.split(',').map(str::trim).filter(|s| !s.is_empty()) {
                if !out.iter().any(|o| o == id) {
                    out.push(id.to_string());
                }
            }
        }
    }
    out
}

/// The web address of an upstream commit (`<repo URL>/commit/<id>`, as GitHub and GitLab serve
/// it), or DEP-3's `commit:<id>` when the upstream is not a web URL.
pub fn commit_url(upstream: &str, id: Oid) -> String {
    if upstream.starts_with("https://") || upstream.starts_with("http://") {
        let base = upstream.trim_end_matches('/').trim_end_matches(".git");
        format!("{base}/commit/{id}")
    } else {
        format!("commit:{id}")
    }
}

/// The upstream commit id an `Origin` value names (`…/commit/<id>` or `commit:<id>`).
pub fn origin_commit(origin: &str) -> Option<String> {
    let target = origin.split_once(',').map(|(_, t)| t.trim())?;
    let id = target
        .rsplit_once("/commit/")
        .map(|(_, id)| id)
        .or_else(|| target.strip_prefix("commit:"))?;
    let id = id.trim_end_matches('/');
    (id.len() >= 7 && id.bytes().all(|b| b.is_ascii_hexdigit())).then(|| id.to_string())
}

/// The change a commit makes relative to its first parent, in fork paths.
fn change_of(repo: &Repository, commit: &Commit, map: &PathMap) -> Result<Change> {
    let new = commit.tree()?;
    let old = match commit.parent(0) {
        Ok(p) => Some(p.tree()?),
        Err(_) => None,
    };
    let diff = repo.diff_tree_to_tree(old.as_ref(), Some(&new), None)?;
    let mut change = Change::new();
    for delta in diff.deltas() {
        for (file, is_new) in [(delta.old_file(), false), (delta.new_file(), true)] {
            let Some(path) = file.path().and_then(|p| p.to_str()) else {
                continue;
            };
            if file.id().is_zero() {
                continue;
            }
            let Some(fork_path) = map.to_fork(path) else {
                continue;
            };
            let entry = change.entry(fork_path).or_insert((None, None));
            let value = Some((file.id(), i32::from(file.mode())));
            if is_new {
                entry.1 = value;
            } else {
                entry.0 = value;
            }
        }
    }
    Ok(change)
}

/// The stable patch-id of a change (`None` when it changes nothing), computed on trees holding
/// only the changed files so both sides of a comparison hash the same way.
fn patch_id(repo: &Repository, change: &Change) -> Result<Option<Oid>> {
    if change.values().all(|(a, b)| a == b) {
        return Ok(None);
    }
    let tree = |side: fn(&Sides) -> Option<Entry>| -> Result<git2::Tree> {
        let empty = repo.find_tree(repo.treebuilder(None)?.write()?)?;
        let mut builder = git2::build::TreeUpdateBuilder::new();
        for (path, e) in change {
            if let Some((id, mode)) = side(e) {
                builder.upsert(path.as_str(), id, file_mode(mode));
            }
        }
        Ok(repo.find_tree(builder.create_updated(repo, &empty)?)?)
    };
    let old = tree(|e| e.0)?;
    let new = tree(|e| e.1)?;
    let diff = repo.diff_tree_to_tree(Some(&old), Some(&new), None)?;
    Ok(Some(diff.patchid(None)?))
}

fn file_mode(mode: i32) -> FileMode {
    [FileMode::BlobExecutable, FileMode::Link, FileMode::Commit]
        .into_iter()
        .find(|m| i32::from(*m) == mode)
        .unwrap_or(FileMode::Blob)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trailers_and_origins_are_read() {
        let id = "44527b9f0123456789abcdef0123456789abcdef";
        let msg = format!(
            "Fix\n\nBody\n\n(cherry picked from commit {id})\nCVE: CVE-2025-55248, CVE-2025-1\n"
        );
        assert_eq!(cherry_picked_from(&msg).unwrap().to_string(), id);
        assert_eq!(cve_trailers(&msg), vec!["CVE-2025-55248", "CVE-2025-1"]);
        let oid = Oid::from_str(id).unwrap();
        let url = commit_url("https://github.com/dotnet/runtime.git", oid);
        assert_eq!(
            url,
            format!("https://github.com/dotnet/runtime/commit/{id}")
        );
        assert_eq!(origin_commit(&format!("upstream, {url}")).unwrap(), id);
        assert_eq!(
            origin_commit(&format!("backport, {}", commit_url("../up", oid))).unwrap(),
            id
        );
        assert_eq!(origin_commit("vendor"), None);
        assert!(parse_version("v8.0.21").unwrap() > parse_version("v8.0.21-rc.1").unwrap());
        assert!(parse_version("v8.0.9").unwrap() < parse_version("v8.0.10").unwrap());
        assert!(parse_version("version").is_none());
    }
}
