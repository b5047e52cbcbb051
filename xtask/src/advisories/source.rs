//! Where Microsoft's release metadata comes from: a local directory (a clone of dotnet/core, or a
//! flat copy such as `shared/data/dotnet-core`) or GitHub's contents API (dotnet/core, branch
//! `release-index` for the timeline and `main` for `releases.json`).

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use base64::Engine;
use jiff::civil::Date;
use serde::Deserialize;

use super::feed::{Feed, FeedFile};
use crate::config::Config;
use crate::console::Progress;
use crate::github::{self, GitHub, RepoSlug};
use crate::token::Token;

/// A place to read the feed from.
#[derive(Clone, Debug)]
pub enum Source {
    /// A local directory in either layout (see [`read_dir`]).
    Dir(PathBuf),
    GitHub(GitHubSource),
}

/// dotnet/core (or a mirror) through the GitHub REST API.
#[derive(Clone, Debug)]
pub struct GitHubSource {
    /// API base URL, e.g. `https://api.github.com`.
    pub api_url: String,
    /// `owner/name`.
    pub repo: String,
    /// Branch with `release-notes/timeline/YYYY/MM/cve.json`.
    pub timeline_ref: String,
    /// Branch with `release-notes/<channel>/releases.json`.
    pub releases_ref: String,
    /// Sent as a bearer token when present; never printed.
    pub token: Option<Token>,
    /// The longest wait for a rate limit to reset, per request (`[github] max-wait-seconds`).
    pub max_wait: Duration,
}

impl Source {
    /// The source `els.toml` names: `[advisories] source` (resolved against the config file)
    /// unless `github` asks for GitHub; otherwise `[github] advisories-repo` through GitHub's API
    /// at `api_url` (default: `GITHUB_API_URL`, else `[github] api-url`) with the token from the
    /// environment.
    pub fn configured(config: Option<&Config>, github: bool, api_url: Option<String>) -> Source {
        let source = config.and_then(|c| c.advisories.source.as_ref());
        match (source, github) {
            (Some(dir), false) => Source::Dir(config.map_or(dir.clone(), |c| c.resolve(dir))),
            _ => {
                let settings = config.map(|c| c.github.clone()).unwrap_or_default();
                Source::GitHub(GitHubSource {
                    api_url: api_url.unwrap_or_else(|| GitHub::api_url(&settings)),
                    repo: settings.advisories_repo().to_string(),
                    timeline_ref: settings.advisories_timeline_branch().to_string(),
                    releases_ref: settings.advisories_releases_branch().to_string(),
                    token: Token::from_env(),
                    max_wait: Duration::from_secs(settings.max_wait_seconds),
                })
            }
        }
    }

    /// A short description for messages (never includes a token).
    pub fn describe(&self) -> String {
        match self {
            Source::Dir(dir) => dir.display().to_string(),
            Source::GitHub(gh) => format!("{} on {}", gh.repo, gh.api_url),
        }
    }

    /// Reads the timeline months from `since` on and the `releases.json` of `channels`.
    pub fn fetch(&self, since: Date, channels: &[String], quiet: bool) -> Result<Feed> {
        match self {
            Source::Dir(dir) => read_dir(dir, since, channels),
            Source::GitHub(gh) => fetch_github(gh, since, channels, quiet),
        }
    }
}

/// True when a timeline month (year, month) is on or after `since`'s month.
fn month_tracked(year: i16, month: i8, since: Date) -> bool {
    (year, month) >= (since.year(), since.month())
}

fn parse_year_month(year: &str, month: &str) -> Option<(i16, i8)> {
    if year.len() != 4 || month.len() != 2 {
        return None;
    }
    let y: i16 = year.parse().ok()?;
    let m: i8 = month.parse().ok()?;
    (1..=12).contains(&m).then_some((y, m))
}

/// Reads a local directory in one of two layouts:
/// - a dotnet/core clone: `release-notes/timeline/YYYY/MM/cve.json` and
///   `release-notes/<channel>/releases.json`;
/// - a flat copy: `timeline/YYYY-MM-cve.json` and `releases/<channel>-releases.json`.
pub fn read_dir(dir: &Path, since: Date, channels: &[String]) -> Result<Feed> {
    if !dir.is_dir() {
        bail!("the advisory source {} is not a directory; pass a clone of dotnet/core or use --github", dir.display());
    }
    let clone_layout = dir.join("release-notes").is_dir();
    let mut months: Vec<((i16, i8), PathBuf)> = Vec::new();
    if clone_layout {
        let timeline = dir.join("release-notes/timeline");
        for year in sorted_entries(&timeline)? {
            let Some(y) = year
                .file_name()
                .and_then(|n| n.to_str())
                .map(str::to_string)
            else {
                continue;
            };
            if !year.is_dir() {
                continue;
            }
            for month in sorted_entries(&year)? {
                let Some(m) = month.file_name().and_then(|n| n.to_str()) else {
                    continue;
                };
                if let Some(ym) = parse_year_month(&y, m) {
                    let file = month.join("cve.json");
                    if file.is_file() {
                        months.push((ym, file));
                    }
                }
            }
        }
    } else if dir.join("timeline").is_dir() {
        for file in sorted_entries(&dir.join("timeline"))? {
            let Some(name) = file.file_name().and_then(|n| n.to_str()) else {
                continue;
            };
            let Some(stem) = name.strip_suffix("-cve.json") else {
                continue;
            };
            if let Some((y, m)) = stem.split_once('-') {
                if let Some(ym) = parse_year_month(y, m) {
                    months.push((ym, file));
                }
            }
        }
    } else {
        bail!(
            "{} has neither release-notes/timeline/ (a dotnet/core clone) nor timeline/ (a flat copy); \
             point --source at a copy of Microsoft's release metadata",
            dir.display()
        );
    }

    let mut feed = Feed::default();
    for ((y, m), path) in months {
        if month_tracked(y, m, since) {
            feed.timelines.push(read_feed_file(&path)?);
        }
    }
    for channel in channels {
        let path = if clone_layout {
            dir.join("release-notes")
                .join(channel)
                .join("releases.json")
        } else {
            dir.join("releases")
                .join(format!("{channel}-releases.json"))
        };
        if !path.is_file() {
            bail!(
                "{} is missing, but channel {channel} is configured in [advisories] channels; \
                 remove the channel or use a complete copy",
                path.display()
            );
        }
        feed.releases
            .push((channel.clone(), read_feed_file(&path)?));
    }
    Ok(feed)
}

fn sorted_entries(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("cannot list {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    entries.sort();
    Ok(entries)
}

fn read_feed_file(path: &Path) -> Result<FeedFile> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    Ok(FeedFile {
        origin: path.display().to_string(),
        text,
    })
}

/// Reads the feed through GitHub's contents API: directory listings to find the months, file
/// contents as base64 JSON, and the raw media type for files over GitHub's 1 MB inline limit
/// (every `releases.json`).
pub fn fetch_github(
    gh: &GitHubSource,
    since: Date,
    channels: &[String],
    quiet: bool,
) -> Result<Feed> {
    let slug = RepoSlug::parse(&gh.repo).context("in [github] advisories-repo")?;
    let repo = Contents {
        client: GitHub::new(&gh.api_url, gh.token.clone(), gh.max_wait)?,
        slug,
    };

    let mut month_paths = Vec::new();
    for year in repo.list("release-notes/timeline", &gh.timeline_ref)? {
        if year.r#type != "dir" || year.name.len() != 4 {
            continue;
        }
        let Ok(y) = year.name.parse::<i16>() else {
            continue;
        };
        if y < since.year() {
            continue;
        }
        for month in repo.list(&year.path, &gh.timeline_ref)? {
            let Some((y, m)) = parse_year_month(&year.name, &month.name) else {
                continue;
            };
            if month.r#type == "dir" && month_tracked(y, m, since) {
                month_paths.push(month.path);
            }
        }
    }
    month_paths.sort();

    let mut progress = Progress::new(month_paths.len() + channels.len(), quiet);
    let mut feed = Feed::default();
    for month in month_paths {
        progress.step(&format!("{month}/cve.json"));
        let listing = repo.list(&month, &gh.timeline_ref)?;
        if let Some(file) = listing
            .into_iter()
            .find(|c| c.r#type == "file" && c.name == "cve.json")
        {
            feed.timelines
                .push(repo.file(&file.path, &gh.timeline_ref)?);
        }
    }
    for channel in channels {
        let path = format!("release-notes/{channel}/releases.json");
        progress.step(&path);
        feed.releases
            .push((channel.clone(), repo.file(&path, &gh.releases_ref)?));
    }
    Ok(feed)
}

/// One entry of a contents API answer: a directory listing is an array of them, a file is one.
#[derive(Debug, Deserialize)]
struct Content {
    name: String,
    path: String,
    r#type: String,
    size: u64,
    encoding: Option<String>,
    content: Option<String>,
}

/// A repository's files through the contents API.
struct Contents {
    client: GitHub,
    slug: RepoSlug,
}

impl Contents {
    fn url(&self, path: &str, r#ref: &str) -> String {
        let segments: Vec<String> = path.split('/').map(github::encode).collect();
        format!(
            "/repos/{}/{}/contents/{}?ref={}",
            github::encode(&self.slug.owner),
            github::encode(&self.slug.name),
            segments.join("/"),
            github::encode(r#ref)
        )
    }

    fn what(&self, path: &str, r#ref: &str) -> String {
        format!("reading {path} at {ref} in {}", self.slug)
    }

    /// A directory's entries.
    fn list(&self, path: &str, r#ref: &str) -> Result<Vec<Content>> {
        self.client
            .get_if_present(&self.url(path, r#ref), &self.what(path, r#ref))?
            .ok_or_else(|| self.not_found(path, r#ref))
    }

    fn not_found(&self, path: &str, r#ref: &str) -> anyhow::Error {
        anyhow!(
            "cannot read {path} at {ref} in {}: HTTP 404 (not found: check [github] advisories-repo and the advisories branches)",
            self.slug
        )
    }

    fn file(&self, path: &str, r#ref: &str) -> Result<FeedFile> {
        let origin = format!("github:{}@{}:{path}", self.slug, r#ref);
        let item: Content = self
            .client
            .get_if_present(&self.url(path, r#ref), &self.what(path, r#ref))?
            .ok_or_else(|| self.not_found(path, r#ref))?;
        if item.r#type != "file" {
            bail!(
                "{origin}: expected a file, GitHub answered a {} named {}",
                item.r#type,
                item.name
            );
        }
        let text = match (item.encoding.as_deref(), &item.content) {
            (Some("base64"), Some(content)) if !content.is_empty() || item.size == 0 => {
                let compact: Vec<u8> = content
                    .bytes()
                    .filter(|b| !b.is_ascii_whitespace())
                    .collect();
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(compact)
                    .map_err(|e| anyhow!("{origin}: `content` is not valid base64: {e}"))?;
                String::from_utf8(bytes).map_err(|_| anyhow!("{origin}: the file is not UTF-8"))?
            }
            // Files over 1 MB come without inline content; ask for the raw media type.
            _ => self
                .client
                .get_raw(&self.url(path, r#ref), &self.what(path, r#ref))?,
        };
        Ok(FeedFile { origin, text })
    }
}
