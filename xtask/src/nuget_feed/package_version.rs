//! NuGet package versions: parsing, the normalized form clients use in URLs, and NuGet's ordering
//! (four numeric parts, then a release above any of its pre-releases).

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

use anyhow::{bail, Result};

/// A NuGet package version: `major.minor.patch[.revision][-prerelease][+metadata]`.
#[derive(Clone, Debug)]
pub struct PackageVersion {
    numbers: [u64; 4],
    /// The dot-separated pre-release labels, empty for a release.
    prerelease: Vec<String>,
}

impl PackageVersion {
    /// NuGet's normalized form: no leading zeros, the revision only when it is not 0, no build
    /// metadata (`6.0.01.0+abc` → `6.0.1`). Case is kept (the registration shows it).
    pub fn normalized(&self) -> String {
        let [major, minor, patch, revision] = self.numbers;
        let mut s = format!("{major}.{minor}.{patch}");
        if revision != 0 {
            s.push_str(&format!(".{revision}"));
        }
        if !self.prerelease.is_empty() {
            s.push('-');
            s.push_str(&self.prerelease.join("."));
        }
        s
    }

    /// The normalized form lower-cased: the version as it appears in flat-container paths.
    pub fn lower(&self) -> String {
        self.normalized().to_lowercase()
    }

    /// Whether this is a pre-release (it sorts below the same numbers without a label).
    pub fn is_prerelease(&self) -> bool {
        !self.prerelease.is_empty()
    }
}

impl FromStr for PackageVersion {
    type Err = anyhow::Error;

    fn from_str(text: &str) -> Result<PackageVersion> {
        let without_metadata = text.split_once('+').map_or(text, |(v, _)| v);
        let (release, prerelease) = match without_metadata.split_once('-') {
            Some((r, p)) => (r, Some(p)),
            None => (without_metadata, None),
        };
        let parts: Vec<&str> = release.split('.').collect();
        if parts.is_empty() || parts.len() > 4 {
            bail!(
                "`{text}` is not a NuGet version (expected 1 to 4 numbers, e.g. 6.0.1 or 6.0.1.1)"
            );
        }
        let mut numbers = [0u64; 4];
        for (slot, part) in numbers.iter_mut().zip(&parts) {
            if part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit()) {
                bail!("`{text}` is not a NuGet version: `{part}` is not a number");
            }
            *slot = part.parse().map_err(|_| {
                anyhow::anyhow!("`{text}` is not a NuGet version: `{part}` is too large")
            })?;
        }
        let prerelease = match prerelease {
            None => Vec::new(),
            Some(p) => {
                let labels: Vec<String> = p.split('.').map(str::to_string).collect();
                if labels.iter().any(|l| {
                    l.is_empty() || !l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                }) {
                    bail!("`{text}` is not a NuGet version: the pre-release `{p}` must be dot-separated labels of letters, digits and `-`");
                }
                labels
            }
        };
        Ok(PackageVersion {
            numbers,
            prerelease,
        })
    }
}

impl fmt::Display for PackageVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.normalized())
    }
}

impl PartialEq for PackageVersion {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for PackageVersion {}

impl PartialOrd for PackageVersion {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for PackageVersion {
    /// NuGet's order: the numbers; then a release above its pre-releases; then the labels one by
    /// one (numeric labels numerically and below alphanumeric ones, which compare ignoring case),
    /// a shorter list of equal labels first.
    fn cmp(&self, other: &Self) -> Ordering {
        self.numbers.cmp(&other.numbers).then_with(|| {
            match (self.prerelease.is_empty(), other.prerelease.is_empty()) {
                (true, true) => Ordering::Equal,
                (true, false) => Ordering::Greater,
                (false, true) => Ordering::Less,
                (false, false) => {
                    for (a, b) in self.prerelease.iter().zip(&other.prerelease) {
                        let order = match (a.parse::<u64>(), b.parse::<u64>()) {
                            (Ok(x), Ok(y)) => x.cmp(&y),
                            (Ok(_), Err(_)) => Ordering::Less,
                            (Err(_), Ok(_)) => Ordering::Greater,
                            (Err(_), Err(_)) => a.to_lowercase().cmp(&b.to_lowercase()),
                        };
                        if order != Ordering::Equal {
                            return order;
                        }
                    }
                    self.prerelease.len().cmp(&other.prerelease.len())
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::PackageVersion;

    fn v(s: &str) -> PackageVersion {
        s.parse().unwrap()
    }

    #[test]
    fn normalizes_like_nuget() {
        assert_eq!(v("6.0.01.0+sha.abc").normalized(), "6.0.1");
        assert_eq!(v("6.0.1.1").normalized(), "6.0.1.1");
        assert_eq!(v("6").normalized(), "6.0.0");
        assert_eq!(v("6.0.2-ELS.1").lower(), "6.0.2-els.1");
        for bad in [
            "",
            "6.0.x",
            "1.2.3.4.5",
            "6.0.1-",
            "6.0.1-a..b",
            "6.0.1-a_b",
        ] {
            assert!(bad.parse::<PackageVersion>().is_err(), "{bad}");
        }
    }

    #[test]
    fn orders_like_nuget() {
        let sorted = [
            "6.0.0",
            "6.0.1-alpha",
            "6.0.1-alpha.2",
            "6.0.1-alpha.10",
            "6.0.1-alpha.beta",
            "6.0.1-beta",
            "6.0.1",
            "6.0.1.1",
            "6.0.1.2",
            "6.0.2-els.1",
            "6.0.2",
            "6.0.10",
        ];
        for pair in sorted.windows(2) {
            assert!(v(pair[0]) < v(pair[1]), "{} < {}", pair[0], pair[1]);
        }
        assert_eq!(v("6.0.1.0"), v("6.0.1"));
        assert_eq!(v("6.0.1-Beta"), v("6.0.1-beta"));
    }
}
