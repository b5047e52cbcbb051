//! The fork's version numbers: the `6.0.N` product version a release is branded with, and the
//! `yyyyMMdd.r` official build id Arcade derives file versions from. Both must keep rising past
//! Microsoft's last official 6.0 release, or installers and servicing tools see a downgrade.

use std::fmt;
use std::str::FromStr;

use anyhow::{bail, Context, Result};

/// Microsoft's last official build id for .NET 6 (6.0.36 was built as 20241014.21). Every fork
/// build id must sort after it.
pub const MICROSOFT_LAST_BUILD_ID: BuildId = BuildId {
    date: 20241014,
    revision: 21,
};

/// A product version `major.minor.patch`, e.g. 6.0.37.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Version {
    pub major: u32,
    pub minor: u32,
    pub patch: u32,
}

impl Version {
    /// The next patch release.
    pub fn next(self) -> Version {
        Version {
            patch: self.patch + 1,
            ..self
        }
    }

    /// The previous patch release, if any.
    pub fn previous(self) -> Option<Version> {
        self.patch
            .checked_sub(1)
            .map(|patch| Version { patch, ..self })
    }

    /// `major.minor`, the channel (`6.0`).
    pub fn channel(self) -> String {
        format!("{}.{}", self.major, self.minor)
    }
}

impl FromStr for Version {
    type Err = anyhow::Error;

    fn from_str(s: &str) -> Result<Version> {
        let parts: Vec<&str> = s.trim().split('.').collect();
        let [major, minor, patch] = parts.as_slice() else {
            bail!("`{s}` is not a version like 6.0.37 (major.minor.patch)");
        };
        let num = |p: &str| {
            p.parse::<u32>()
                .with_context(|| format!("`{s}` is not a version like 6.0.37 (major.minor.patch)"))
        };
        Ok(Version {
            major: num(major)?,
            minor: num(minor)?,
            patch: num(patch)?,
        })
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

/// Refuses a fork version that is not after Microsoft's last official release (`[fork]
/// base-version`): a fork 6.0.36 would collide with Microsoft's own 6.0.36.
pub fn ensure_fork_version(target: Version, config: &crate::config::Config) -> Result<()> {
    let microsoft: Version = config.fork.base_version.parse().with_context(|| {
        format!(
            "[fork] base-version in {} is not a version",
            config.root.join(crate::config::FILE_NAME).display()
        )
    })?;
    if target <= microsoft {
        bail!("{target} collides with Microsoft's releases (the last official one is {microsoft}); use {} or later", microsoft.next());
    }
    Ok(())
}

/// An official build id `yyyyMMdd.r`: the build date and that day's build counter.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct BuildId {
    /// The date as the number yyyyMMdd.
    pub date: u32,
    /// The day's counter, from 1.
    pub revision: u32,
}

impl BuildId {
    /// Arcade's pre-release suffix of the packages an official build with this id makes
    /// (`<label>.<yy*1000 + MM*50 + dd>.<revision>`, e.g. `servicing.24516.4` for 20241016.4):
    /// non-shipping packages keep it even in a stable build.
    pub fn package_suffix(self, label: &str) -> String {
        let (yy, mm, dd) = (
            self.date / 10000 % 100,
            self.date / 100 % 100,
            self.date % 100,
        );
        format!("{label}.{}.{}", yy * 1000 + mm * 50 + dd, self.revision)
    }

    /// The build id for `date` (yyyyMMdd) that follows `last` (the last one used, if any): the
    /// next revision on the same day, else revision 1. Refuses ids that would not sort after
    /// Microsoft's last official build.
    pub fn next(date: u32, last: Option<BuildId>) -> Result<BuildId> {
        let revision = match last {
            Some(l) if l.date == date => l.revision + 1,
            Some(l) if l.date > date => {
                bail!("the last build id {l} is dated after today ({date}); is the clock wrong?")
            }
            _ => 1,
        };
        BuildId { date, revision }.check()
    }

    /// Refuses a build id that does not sort after Microsoft's last official one.
    pub fn check(self) -> Result<BuildId> {
        if self <= MICROSOFT_LAST_BUILD_ID {
            bail!(
                "official build id {self} is not later than Microsoft's last 6.0 build ({MICROSOFT_LAST_BUILD_ID}); \
                 file versions would go backwards — use a later date"
            );
        }
        Ok(self)
    }

    /// Today's date (UTC, [`today_utc`]) as yyyyMMdd.
    pub fn today() -> u32 {
        let d = today_utc();
        // jiff dates are within years -9999..=9999 and months/days are positive.
        d.year().unsigned_abs() as u32 * 10000 + d.month() as u32 * 100 + d.day() as u32
    }
}

impl FromStr for BuildId {
    type Err = anyhow::Error;

    fn from_str(s: &str) -> Result<BuildId> {
        let bad =
            || anyhow::anyhow!("`{s}` is not an official build id like 20250114.1 (yyyyMMdd.r)");
        let (date, revision) = s.trim().split_once('.').ok_or_else(bad)?;
        if date.len() != 8 {
            return Err(bad());
        }
        let date: u32 = date.parse().map_err(|_| bad())?;
        let (month, day) = (date / 100 % 100, date % 100);
        if !(1..=12).contains(&month) || !(1..=31).contains(&day) {
            return Err(bad());
        }
        let revision: u32 = revision.parse().map_err(|_| bad())?;
        if revision == 0 {
            return Err(bad());
        }
        Ok(BuildId { date, revision })
    }
}

impl fmt::Display for BuildId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.date, self.revision)
    }
}

/// Today, the one clock every day boundary uses (SLA deadlines, build ids, release dates): the
/// date in UTC, so that a pipeline and a laptop in different time zones agree on it.
pub fn today_utc() -> jiff::civil::Date {
    jiff::Timestamp::now()
        .to_zoned(jiff::tz::TimeZone::UTC)
        .date()
}

/// Today's date (UTC) as YYYY-MM-DD, the format of `release-date` in releases.json.
pub fn today_iso() -> String {
    today_utc().to_string()
}

/// Parses a calendar date a user passed or a file holds: exactly YYYY-MM-DD and a real day
/// (`2025-13-45` and `2025-02-30` are refused). `what` names the value in the error.
pub fn parse_date(text: &str, what: &str) -> Result<jiff::civil::Date> {
    let well_formed = text.len() == 10
        && text.bytes().enumerate().all(|(i, b)| {
            if i == 4 || i == 7 {
                b == b'-'
            } else {
                b.is_ascii_digit()
            }
        });
    if !well_formed {
        bail!("{what} `{text}` is not a date in the form YYYY-MM-DD");
    }
    text.parse()
        .map_err(|e| anyhow::anyhow!("{what} `{text}` is not a real date: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn package_suffixes_are_arcades() {
        // Microsoft's 6.0.36 builds: 20241016.4 made Microsoft.Private.Winforms
        // 6.0.36-servicing.24516.4.
        let id: BuildId = "20241016.4".parse().unwrap();
        assert_eq!(id.package_suffix("servicing"), "servicing.24516.4");
        let id: BuildId = "20251231.12".parse().unwrap();
        assert_eq!(id.package_suffix("servicing"), "servicing.25631.12");
    }

    #[test]
    fn build_ids_must_follow_microsofts_last() {
        assert!(BuildId::next(20241014, None).is_err());
        assert_eq!(
            BuildId::next(20241015, None).unwrap().to_string(),
            "20241015.1"
        );
        let last: BuildId = "20250301.4".parse().unwrap();
        assert_eq!(
            BuildId::next(20250301, Some(last)).unwrap().to_string(),
            "20250301.5"
        );
        assert_eq!(
            BuildId::next(20250302, Some(last)).unwrap().to_string(),
            "20250302.1"
        );
        assert!(BuildId::next(20250228, Some(last)).is_err());
        assert!("20241014.22".parse::<BuildId>().unwrap().check().is_ok());
        assert!("2024101.1".parse::<BuildId>().is_err());
        assert!("20241314.1".parse::<BuildId>().is_err());
    }

    #[test]
    fn versions_parse_and_order() {
        let v: Version = "6.0.36".parse().unwrap();
        assert_eq!(v.next().to_string(), "6.0.37");
        assert!(v < "6.0.100".parse().unwrap());
        assert!("6.0".parse::<Version>().is_err());
        assert!("6.0.x".parse::<Version>().is_err());
    }
}
