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
