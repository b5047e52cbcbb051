//! Release channels: `lab` receives a release first, `stable` gets exactly the same bytes later by
//! promotion; and the record, kept in the release directory, of when each channel got a release.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;
use std::str::FromStr;

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

/// The file in a release directory that records when each channel got the release.
pub const CHANNELS_JSON: &str = "channels.json";

/// A distribution channel of the package repositories and the NuGet feed.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Channel {
    /// Receives every release first, for the customers' test machines.
    Lab,
    /// Receives a release by promotion from `lab`, byte for byte.
    Stable,
}

impl Channel {
    /// Every channel, in promotion order.
    pub const ALL: [Channel; 2] = [Channel::Lab, Channel::Stable];

    /// The channel's name as it appears in paths, URLs and metadata.
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Lab => "lab",
            Channel::Stable => "stable",
        }
    }
}

impl fmt::Display for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Channel {
    type Err = anyhow::Error;

    fn from_str(s: &str) -> Result<Channel> {
        match s {
            "lab" => Ok(Channel::Lab),
            "stable" => Ok(Channel::Stable),
            other => bail!("unknown channel `{other}`: the channels are `lab` and `stable`"),
        }
    }
}

/// What reached a channel: the Linux/Windows package repositories or the NuGet feed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Distribution {
    Packages,
    Feed,
}

/// When each channel got each distribution of one release: `channel → distribution → date`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    pub channels: BTreeMap<Channel, BTreeMap<Distribution, String>>,
}

impl Record {
    /// Reads `channels.json` from a release directory; an absent file is an empty record.
    pub fn read(release_dir: &Path) -> Result<Record> {
        let path = release_dir.join(CHANNELS_JSON);
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Record::default()),
            Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
        };
        let de = &mut serde_json::Deserializer::from_str(&text);
        serde_path_to_error::deserialize(de).with_context(|| {
            format!(
                "{} is not a channel record (expected {{\"channels\": {{\"lab\": {{\"packages\": \"YYYY-MM-DD\"}}}}}})",
                path.display()
            )
        })
    }

    /// The date `channel` got `distribution`, if it did.
    pub fn date(&self, channel: Channel, distribution: Distribution) -> Option<&str> {
        self.channels
            .get(&channel)
            .and_then(|d| d.get(&distribution))
            .map(String::as_str)
    }

    /// Records that `channel` got `distribution` on `date` (the first date is kept: a second
    /// publication of identical bytes does not move it) and writes the file atomically.
    /// Hold [`crate::release::lock`] while calling it: it reads, changes and writes the record.
    pub fn add(
        release_dir: &Path,
        channel: Channel,
        distribution: Distribution,
        date: &str,
    ) -> Result<Record> {
        let mut record = Record::read(release_dir)?;
        record
            .channels
            .entry(channel)
            .or_default()
            .entry(distribution)
            .or_insert_with(|| date.to_string());
        let mut json = serde_json::to_string_pretty(&record)?;
        json.push('\n');
        crate::atomic::write(&release_dir.join(CHANNELS_JSON), json)?;
        Ok(record)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_two_channels_and_refuses_anything_else() {
        assert_eq!("lab".parse::<Channel>().unwrap(), Channel::Lab);
        assert_eq!("stable".parse::<Channel>().unwrap(), Channel::Stable);
        for bad in ["", "Lab", "lab/../x", "beta"] {
            let err = bad.parse::<Channel>().unwrap_err().to_string();
            assert!(err.contains("`lab` and `stable`"), "{bad}: {err}");
        }
    }

    #[test]
    fn records_the_first_date_per_channel_and_distribution() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(Record::read(dir.path()).unwrap(), Record::default());
        Record::add(
            dir.path(),
            Channel::Lab,
            Distribution::Packages,
            "2026-11-01",
        )
        .unwrap();
        Record::add(
            dir.path(),
            Channel::Lab,
            Distribution::Packages,
            "2026-11-05",
        )
        .unwrap();
        let r = Record::add(
            dir.path(),
            Channel::Stable,
            Distribution::Feed,
            "2026-11-09",
        )
        .unwrap();
        assert_eq!(
            r.date(Channel::Lab, Distribution::Packages),
            Some("2026-11-01")
        );
        assert_eq!(
            r.date(Channel::Stable, Distribution::Feed),
            Some("2026-11-09")
        );
        assert_eq!(r.date(Channel::Stable, Distribution::Packages), None);
        assert_eq!(Record::read(dir.path()).unwrap(), r);
        std::fs::write(
            dir.path().join(CHANNELS_JSON),
            "{\"channels\": {\"beta\": {}}}",
        )
        .unwrap();
        let err = format!("{:#}", Record::read(dir.path()).unwrap_err());
        assert!(
            err.contains("channels.json") && err.contains("beta"),
            "{err}"
        );
    }
}
