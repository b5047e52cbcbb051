//! Where Microsoft's release metadata comes from: a local directory (a clone of dotnet/core, or a
//! flat copy such as `shared/data/dotnet-core`) or GitHub's contents API (dotnet/core, branch
//! `release-index` for the timeline and `main` for `releases.json`).

use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};
use base64::Engine;
use jiff::civil::Date;

use super::feed::{Feed, FeedFile};
use crate::console::Progress;

/// A place to read the feed from.
#[derive(Clone, Debug)]
pub enum Source {
    /// A local directory in either layout (see [`read_dir`]).
    Dir(PathBuf),
    GitHub(GitHubSource),
}

/// dotnet/core (or a mirror) through the GitHub REST API.
#[derive(Clone)]
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
    pub token: Option<String>,
}

impl std::fmt::Debug for GitHubSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GitHubSource")
            .field("api_url", &self.api_url)
            .field("repo", &self.repo)
            .field("timeline_ref", &self.timeline_ref)
            .field("releases_ref", &self.releases_ref)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

impl Source {
    /// The source `els.toml` names: `[advisories] source` (resolved against the config file)
    /// unless `github` asks for GitHub; GitHub's API at `api_url` (default `[advisories.github]
    /// api-url`) with the token from the environment (`token::Token::from_env`) otherwise.
    pub fn configured(
        config: Option<&crate::config::Config>,
        github: bool,
        api_url: Option<String>,
    ) -> Source {
        let settings = config.map(|c| c.advisories.clone()).unwrap_or_default();
        match (&settings.source, github) {
            (Some(dir), false) => Source::Dir(config.map_or(dir.clone(), |c| c.resolve(dir))),
            _ => Source::GitHub(GitHubSource {
                api_url: api_url.unwrap_or(settings.github.api_url.clone()),
                repo: settings.github.repo.clone(),
                timeline_ref: settings.github.timeline_branch.clone(),
                releases_ref: settings.github.releases_branch.clone(),
                token: crate::token::Token::from_env().map(|t| t.expose().to_string()),
            }),
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
    let (owner, name) = gh
        .repo
        .split_once('/')
        .filter(|(o, n)| !o.is_empty() && !n.is_empty() && !n.contains('/'))
        .ok_or_else(|| {
            anyhow!(
                "GitHub repository `{}` is not `owner/name` ([advisories.github] repo)",
                gh.repo
            )
        })?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime for the GitHub client")?;
    runtime.block_on(async {
        let mut builder = octocrab::Octocrab::builder()
            .base_uri(gh.api_url.as_str())
            .map_err(|e| {
                anyhow!(
                    "GitHub API URL `{}` is not a valid URL: {}",
                    gh.api_url,
                    describe(&e)
                )
            })?;
        if let Some(token) = &gh.token {
            builder = builder.personal_token(token.clone());
        }
        let client = builder
            .build()
            .map_err(|e| anyhow!("cannot create the GitHub client: {}", describe(&e)))?;
        let repo = Repo {
            client: &client,
            owner,
            name,
            label: &gh.repo,
        };

        let mut month_paths = Vec::new();
        for year in repo
            .list("release-notes/timeline", &gh.timeline_ref)
            .await?
        {
            if year.r#type != "dir" || year.name.len() != 4 {
                continue;
            }
            let Ok(y) = year.name.parse::<i16>() else {
                continue;
            };
            if y < since.year() {
                continue;
            }
            for month in repo.list(&year.path, &gh.timeline_ref).await? {
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
            let listing = repo.list(&month, &gh.timeline_ref).await?;
            if let Some(file) = listing
                .into_iter()
                .find(|c| c.r#type == "file" && c.name == "cve.json")
            {
                feed.timelines
                    .push(repo.file(&file.path, &gh.timeline_ref).await?);
            }
        }
        for channel in channels {
            let path = format!("release-notes/{channel}/releases.json");
            progress.step(&path);
            feed.releases
                .push((channel.clone(), repo.file(&path, &gh.releases_ref).await?));
        }
        Ok(feed)
    })
}

struct Repo<'a> {
    client: &'a octocrab::Octocrab,
    owner: &'a str,
    name: &'a str,
    label: &'a str,
}

impl Repo<'_> {
    async fn list(&self, path: &str, r#ref: &str) -> Result<Vec<octocrab::models::repos::Content>> {
        let items = self
            .client
            .repos(self.owner, self.name)
            .get_content()
            .path(path)
            .r#ref(r#ref)
            .send()
            .await
            .map_err(|e| self.error(path, r#ref, &e))?;
        Ok(items.items)
    }

    async fn file(&self, path: &str, r#ref: &str) -> Result<FeedFile> {
        let origin = format!("github:{}@{}:{path}", self.label, r#ref);
        let mut items = self.list(path, r#ref).await?;
        let item = match items.len() {
            1 => items.remove(0),
            n => {
                bail!("{origin}: expected one file, GitHub listed {n} entries (is it a directory?)")
            }
        };
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
            _ => {
                let response = self
                    .client
                    .repos(self.owner, self.name)
                    .raw_file(r#ref.to_string(), path)
                    .await
                    .map_err(|e| self.error(path, r#ref, &e))?;
                let status = response.status();
                if !status.is_success() {
                    bail!("{origin}: GitHub answered HTTP {status} for the raw file");
                }
                self.client
                    .body_to_string(response)
                    .await
                    .map_err(|e| anyhow!("{origin}: {}", describe(&e)))?
            }
        };
        Ok(FeedFile { origin, text })
    }

    fn error(&self, path: &str, r#ref: &str, e: &octocrab::Error) -> anyhow::Error {
        let hint = match e {
            octocrab::Error::GitHub { source, .. } if source.status_code.as_u16() == 404 => {
                " (not found: check [advisories.github] repo and branches)"
            }
            octocrab::Error::GitHub { source, .. } if matches!(source.status_code.as_u16(), 401 | 403) => {
                " (set GITHUB_TOKEN or GH_TOKEN to a token that can read the repository, or wait for the rate limit)"
            }
            _ => "",
        };
        anyhow!(
            "cannot read {path} at {} in {}: {}{hint}",
            r#ref,
            self.label,
            describe(e)
        )
    }
}

/// An octocrab error as one line: the HTTP status and GitHub's message, without the backtrace
/// some variants print.
fn describe(e: &octocrab::Error) -> String {
    match e {
        octocrab::Error::GitHub { source, .. } => {
            format!("HTTP {}: {}", source.status_code.as_u16(), source.message)
        }
        other => {
            let text = other.to_string();
            text.split("\n\nFound at")
                .next()
                .unwrap_or(&text)
                .trim()
                .to_string()
        }
    }
}
