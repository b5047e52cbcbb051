//! Parsing a FIX argument: a commit id, or `repo@shortsha` exactly as Microsoft writes it in
//! cve.json.

use std::fmt;
use std::str::FromStr;

use anyhow::bail;

/// One upstream fix to bring onto the fork, as the user named it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FixSpec {
    /// The upstream repository (`runtime`, `aspnetcore`, …) when given as `repo@sha`.
    pub repo: Option<String>,
    /// A full or abbreviated commit id.
    pub rev: String,
}

impl FromStr for FixSpec {
    type Err = anyhow::Error;

    fn from_str(s: &str) -> anyhow::Result<FixSpec> {
        let (repo, rev) = match s.split_once('@') {
            Some((repo, rev)) => {
                let valid_repo = !repo.is_empty()
                    && repo
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
                if !valid_repo {
                    bail!("malformed FIX `{s}`: `{repo}` is not a repository name (expected repo@sha, e.g. runtime@44527b9)");
                }
                (Some(repo.to_string()), rev)
            }
            None => (None, s),
        };
        if !(4..=40).contains(&rev.len()) || !rev.chars().all(|c| c.is_ascii_hexdigit()) {
            bail!("malformed FIX `{s}`: expected a commit id of 4 to 40 hex digits, or repo@sha as in cve.json (e.g. runtime@44527b9)");
        }
        Ok(FixSpec {
            repo,
            rev: rev.to_ascii_lowercase(),
        })
    }
}

impl fmt::Display for FixSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.repo {
            Some(repo) => write!(f, "{repo}@{}", self.rev),
            None => f.write_str(&self.rev),
        }
    }
}

/// Refuses a FIX whose `repo@` prefix names another repository than the fork's: an upstream
/// that happens to have the commit must not put, say, an aspnetcore fix onto the runtime fork.
/// The fork's repositories are the `[[repo]]` sections whose clone is `fork` (runtime and the
/// combined `dotnet` share one), else the Microsoft repository its `origin` / `upstream` remotes
/// end in; a fork known by neither is not checked.
pub fn ensure_fix_fits_fork(
    prefix: &str,
    fork: &std::path::Path,
    config: Option<&crate::config::Config>,
) -> anyhow::Result<()> {
    let same = |a: &std::path::Path| {
        let canonical = |p: &std::path::Path| std::fs::canonicalize(p).unwrap_or(p.to_path_buf());
        canonical(a) == canonical(fork)
    };
    let mut names: Vec<String> = config
        .map(|c| {
            c.repos
                .iter()
                .filter(|r| same(&c.resolve(&r.path)))
                .map(|r| r.name.clone())
                .collect()
        })
        .unwrap_or_default();
    let how = if names.is_empty() {
        // The combined repository holds every other one under src/<repo>/, so without a
        // config saying otherwise its fixes may fit any fork.
        if prefix == crate::upstream::COMBINED_REPO {
            return Ok(());
        }
        names = remote_repository_names(fork);
        "its remotes point at"
    } else {
        "els.toml configures it as"
    };
    if names.is_empty() || names.iter().any(|n| n == prefix) {
        return Ok(());
    }
    bail!(
        "FIX `{prefix}@…` is a fix in the {prefix} repository, but the fork {} is the {} repository \
         ({how} {}); nothing was changed — run it against the {prefix} fork (--repo {prefix})",
        fork.display(),
        names[0],
        names.join(", ")
    )
}

/// The repository names the clone's `origin` and `upstream` remote URLs end in
/// (`https://github.com/dotnet/runtime.git` → runtime).
fn remote_repository_names(fork: &std::path::Path) -> Vec<String> {
    let Ok(repo) = git2::Repository::open(fork) else {
        return Vec::new();
    };
    let mut names = Vec::new();
    for remote in ["origin", "upstream"] {
        let Ok(r) = repo.find_remote(remote) else {
            continue;
        };
        let Some(url) = r.url() else { continue };
        let last = url
            .trim_end_matches('/')
            .rsplit(['/', ':'])
            .next()
            .unwrap_or_default();
        let name = last.strip_suffix(".git").unwrap_or(last);
        // Only Microsoft's repository names say which repository a clone is; a remote called
        // `upstream.git` or `fork` says nothing.
        let known = crate::upstream::known_repo_names().contains(&name);
        if known && !names.iter().any(|n| n == name) {
            names.push(name.to_string());
        }
    }
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_cve_json_keys_and_plain_ids() {
        let fix: FixSpec = "runtime@44527B9".parse().unwrap();
        assert_eq!(
            fix,
            FixSpec {
                repo: Some("runtime".into()),
                rev: "44527b9".into()
            }
        );
        assert_eq!(fix.to_string(), "runtime@44527b9");
        let full = "18e28d767acf44208afa6c4e2e67a10c65e9647e";
        assert_eq!(full.parse::<FixSpec>().unwrap().repo, None);
    }

    #[test]
    fn rejects_malformed_fixes_with_the_value() {
        for bad in [
            "",
            "abc",
            "runtime@",
            "@abcd",
            "runtime@xyz1234",
            "run time@abcd",
            &"a".repeat(41),
        ] {
            let err = bad.parse::<FixSpec>().unwrap_err().to_string();
            assert!(err.contains("malformed FIX"), "{bad}: {err}");
        }
    }
}
