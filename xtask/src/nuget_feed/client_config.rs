//! The `nuget.config` a customer adds: our feed beside nuget.org, and `packageSourceMapping` that
//! sends exactly the ids our feed holds (patched out-of-band packages, runtime packs) to it and
//! everything else to nuget.org, so our feed can substitute nothing else.

use anyhow::{bail, Result};

use super::Feed;

/// nuget.org's service index.
pub const NUGET_ORG: &str = "https://api.nuget.org/v3/index.json";

/// The `nuget.config` for `feed`, mapping every id it holds to it.
pub fn render(feed: &Feed) -> Result<String> {
    let mut ids: Vec<String> = feed.packages()?.into_iter().map(|p| p.nuspec.id).collect();
    ids.sort_by_key(|id| id.to_lowercase());
    ids.dedup_by(|a, b| a.eq_ignore_ascii_case(b));
    if ids.is_empty() {
        bail!(
            "the {} feed in {} holds no packages; run `cargo xtask feed publish --channel {}` first",
            feed.channel,
            feed.root.display(),
            feed.channel
        );
    }
    let key = crate::official_build::nuget::FEED_KEY;
    let esc = |s: &str| quick_xml::escape::escape(s).into_owned();
    let mut xml = String::from("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<configuration>\n");
    xml.push_str("  <packageSources>\n    <clear />\n");
    xml.push_str(&format!(
        "    <add key=\"nuget.org\" value=\"{NUGET_ORG}\" protocolVersion=\"3\" />\n"
    ));
    xml.push_str(&format!(
        "    <add key=\"{key}\" value=\"{}\" protocolVersion=\"3\" />\n",
        esc(&feed.index_url())
    ));
    xml.push_str("  </packageSources>\n");
    xml.push_str("  <!-- NuGet 6.0+ (the .NET 6 SDK): the most specific pattern wins, so these ids come only from\n       the patched feed and nothing else can. -->\n");
    xml.push_str("  <packageSourceMapping>\n");
    xml.push_str("    <packageSource key=\"nuget.org\">\n      <package pattern=\"*\" />\n    </packageSource>\n");
    xml.push_str(&format!("    <packageSource key=\"{key}\">\n"));
    for id in &ids {
        xml.push_str(&format!("      <package pattern=\"{}\" />\n", esc(id)));
    }
    xml.push_str("    </packageSource>\n  </packageSourceMapping>\n</configuration>\n");
    Ok(xml)
}
