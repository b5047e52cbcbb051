//! The fork's `NuGet.config`: the last public 6.0 configs name Microsoft-internal `darc-int-*`
//! feeds that fail outside Microsoft. They are removed and the feed from `[build] feed` added.

use std::path::Path;

use anyhow::Result;
use serde::Serialize;

use crate::msbuild::XmlFile;

/// The key the fork's own feed is added under.
pub const FEED_KEY: &str = "net6-els";

/// What happened (or, on a dry run, would happen) to a `NuGet.config`.
#[derive(Clone, Debug, Default, Serialize, schemars::JsonSchema)]
pub struct FeedChange {
    /// Keys of the internal feeds removed.
    pub removed: Vec<String>,
    /// The feed URL added, if one was.
    pub added: Option<String>,
}

/// Removes `darc-int-*` feeds (and their `disabledPackageSources` entries) from `path` and adds
/// `feed` when internal feeds were found and it is not present yet. Writes only when `write`.
pub fn replace_internal_feeds(path: &Path, feed: Option<&str>, write: bool) -> Result<FeedChange> {
    if !path.is_file() {
        return Ok(FeedChange::default());
    }
    let mut doc = XmlFile::read(path)?;
    let parent_is = |doc: &XmlFile, i: usize, name: &str| {
        doc.elements()[i]
            .parent
            .is_some_and(|p| doc.elements()[p].name == name)
    };
    let key = |doc: &XmlFile, i: usize| {
        doc.elements()[i]
            .attribute("key")
            .map(|a| doc.slice(&a.value))
    };
    let mut change = FeedChange::default();
    let mut internal = Vec::new();
    for i in 0..doc.elements().len() {
        let el = &doc.elements()[i];
        if el.name != "add"
            || !(parent_is(&doc, i, "packageSources")
                || parent_is(&doc, i, "disabledPackageSources"))
        {
            continue;
        }
        if let Some(k) = key(&doc, i).filter(|k| k.starts_with("darc-int-")) {
            if parent_is(&doc, i, "packageSources") {
                change.removed.push(k);
            }
            internal.push(i);
        }
    }
    for i in internal {
        doc.remove(i);
    }
    if let (false, Some(feed)) = (change.removed.is_empty(), feed) {
        let present = doc.elements().iter().any(|e| {
            e.name == "add"
                && e.attribute("value")
                    .is_some_and(|a| doc.slice(&a.value) == feed)
        });
        if let (false, Some(sources)) = (
            present,
            doc.elements()
                .iter()
                .position(|e| e.name == "packageSources"),
        ) {
            let line = format!(
                "<add key=\"{FEED_KEY}\" value=\"{}\" />",
                quick_xml::escape::escape(feed)
            );
            match doc
                .elements()
                .iter()
                .position(|e| e.name == "clear" && e.parent == Some(sources))
            {
                Some(clear) => doc.insert_line_after(clear, &line),
                None => doc.insert_child_line(sources, &line),
            }
            change.added = Some(feed.to_string());
        }
    }
    if write && doc.is_changed() {
        doc.write()?;
    }
    Ok(change)
}
