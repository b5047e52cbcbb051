//! CVE identifiers (`CVE-2025-55248`): the one parser and type every reader of CVE ids uses
//! (the advisory feed, patch headers and commit trailers, the release notes, `backport --cve`).

use std::fmt;
use std::str::FromStr;

use anyhow::Result;
use serde::{Deserialize, Serialize};

/// A CVE identifier such as `CVE-2025-55248`, validated and ordered by year then number.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(try_from = "String", into = "String")]
pub struct CveId {
    year: u16,
    number: u32,
}

impl CveId {
    /// The year part, e.g. 2025 for `CVE-2025-55248`.
    pub fn year(&self) -> u16 {
        self.year
    }

    /// Whether `s` is a CVE id, for text that keeps ids as written (patch headers, trailers).
    pub fn is_valid(s: &str) -> bool {
        s.parse::<CveId>().is_ok()
    }
}

impl FromStr for CveId {
    type Err = anyhow::Error;

    fn from_str(s: &str) -> Result<CveId> {
        let bad = || {
            anyhow::anyhow!("`{s}` is not a CVE id (expected CVE-YYYY-NNNN, e.g. CVE-2025-55248)")
        };
        let rest = s.strip_prefix("CVE-").ok_or_else(bad)?;
        let (year, number) = rest.split_once('-').ok_or_else(bad)?;
        let digits = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
        if year.len() != 4 || !digits(year) || number.len() < 4 || !digits(number) {
            return Err(bad());
        }
        Ok(CveId {
            year: year.parse().map_err(|_| bad())?,
            number: number.parse().map_err(|_| bad())?,
        })
    }
}

impl TryFrom<String> for CveId {
    type Error = anyhow::Error;
    fn try_from(s: String) -> Result<CveId> {
        s.parse()
    }
}

impl From<CveId> for String {
    fn from(id: CveId) -> String {
        id.to_string()
    }
}

impl fmt::Display for CveId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CVE-{}-{:04}", self.year, self.number)
    }
}

impl Ord for CveId {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.year, self.number).cmp(&(other.year, other.number))
    }
}

impl PartialOrd for CveId {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

#[cfg(test)]
mod tests {
    use super::CveId;

    #[test]
    fn ids_parse_print_and_order_by_year_then_number() {
        let a: CveId = "CVE-2025-55248".parse().unwrap();
        let b: CveId = "CVE-2026-0042".parse().unwrap();
        assert_eq!(a.to_string(), "CVE-2025-55248");
        assert_eq!(b.to_string(), "CVE-2026-0042");
        assert!(a < b);
        assert_eq!(a.year(), 2025);
        for bad in [
            "CVE-25-1",
            "CVE-2025-123",
            "cve-2025-55248",
            "CVE-2025-55248-1",
            "GHSA-x",
        ] {
            assert!(!CveId::is_valid(bad), "{bad}");
        }
    }
}
