//! GitHub's REST API, through octocrab: the client (API root from `GITHUB_API_URL` or
//! `[github] api-url`, token from `GITHUB_TOKEN`/`GH_TOKEN`), answers decoded into the types the
//! callers declare (an answer of another shape is an error naming the endpoint and the JSON path,
//! never a default), pagination by the `Link` header, and the errors a person can act on —
//! missing token, bad token, missing permission, rate limit (waited out when the wait is short),
//! not found. Built on it: `pr:<number>` fixes ([`pull_fix`]) and backport pull requests
//! ([`backport_pr`]).
//!
//! octocrab is async; the toolkit is not. Each client owns a current-thread tokio runtime and
//! blocks on one request at a time, which is all a command needs.

pub mod backport_pr;
pub mod pull_fix;

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{anyhow, bail, Context, Result};
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::config::GithubSettings;
use crate::token::Token;

/// The public API root, used when neither `GITHUB_API_URL` nor `[github] api-url` is set.
pub const DEFAULT_API_URL: &str = "https://api.github.com";

/// How many times one request is retried after a rate-limit wait.
const MAX_RATE_LIMIT_RETRIES: u32 = 3;

/// The most pages one listing follows; GitHub's own lists end long before (a pull request's
/// commits stop at 250), so more means the `Link` headers go round in circles.
const MAX_PAGES: usize = 100;

/// Whether a command can work without a token.
#[derive(Clone, Copy, Debug)]
pub enum Auth {
    /// Writes (pushing, opening pull requests) need a token; the text says what for.
    Required(&'static str),
    /// Reads of public repositories work anonymously, with a lower rate limit.
    Optional,
}

/// A GitHub owner/repository pair.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RepoSlug {
    pub owner: String,
    pub name: String,
}

impl RepoSlug {
    /// Parses `owner/name`.
    pub fn parse(text: &str) -> Result<RepoSlug> {
        let valid = |s: &str| {
            !s.is_empty()
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        };
        match text.split_once('/') {
            Some((owner, name)) if valid(owner) && valid(name) => Ok(RepoSlug {
                owner: owner.to_string(),
                name: name.to_string(),
            }),
            _ => bail!(
                "`{text}` is not a GitHub repository (expected owner/name, e.g. dotnet/runtime)"
            ),
        }
    }

    /// Reads the owner/name from a clone URL: `https://github.com/dotnet/runtime(.git)`,
    /// `git@github.com:dotnet/runtime.git`, `ssh://git@host/owner/name`. `None` for local paths.
    pub fn from_url(url: &str) -> Option<RepoSlug> {
        let path = if let Some((_, rest)) = url.split_once("://") {
            rest.split_once('/')?.1
        } else if let Some((host, rest)) = url.split_once(':') {
            if !host.contains('@') || host.contains('/') {
                return None;
            }
            rest
        } else {
            return None;
        };
        let path = path.trim_end_matches('/').trim_end_matches(".git");
        let mut parts = path.rsplitn(2, '/');
        let name = parts.next()?;
        let owner = parts.next()?.rsplit('/').next()?;
        RepoSlug::parse(&format!("{owner}/{name}")).ok()
    }
}

impl fmt::Display for RepoSlug {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.owner, self.name)
    }
}

/// A GitHub REST client.
pub struct GitHub {
    api_url: String,
    token: Option<Token>,
    max_wait: Duration,
    runtime: tokio::runtime::Runtime,
    client: octocrab::Octocrab,
}

impl fmt::Debug for GitHub {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GitHub")
            .field("api_url", &self.api_url)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("max_wait", &self.max_wait)
            .finish()
    }
}

/// One failed or successful exchange, as the decoding and the error mapping need it. The
/// rate-limit and `Link` headers stay text until they matter, so a malformed one is reported by
/// name instead of being read as absent.
struct Answer {
    /// `GET /repos/…`, for errors.
    endpoint: String,
    status: u16,
    retry_after: Option<String>,
    ratelimit_remaining: Option<String>,
    ratelimit_reset: Option<String>,
    accepted_permissions: Option<String>,
    link: Option<String>,
    body: String,
}

impl GitHub {
    /// The API root: `GITHUB_API_URL` (set by Actions, also on GitHub Enterprise Server), else
    /// `[github] api-url`, else api.github.com.
    pub fn api_url(settings: &GithubSettings) -> String {
        std::env::var("GITHUB_API_URL")
            .ok()
            .filter(|v| !v.trim().is_empty())
            .or_else(|| settings.api_url.clone())
            .unwrap_or_else(|| DEFAULT_API_URL.to_string())
            .trim_end_matches('/')
            .to_string()
    }

    /// A client for the configured API root with the token from the environment.
    pub fn connect(settings: &GithubSettings, auth: Auth) -> Result<GitHub> {
        let token = Token::from_env();
        if let (None, Auth::Required(what)) = (&token, auth) {
            bail!("{what} needs a GitHub token: set GITHUB_TOKEN or GH_TOKEN (in Actions: `env: GH_TOKEN: ${{{{ secrets.… }}}}`, with contents: write and pull-requests: write on the fork)");
        }
        GitHub::new(
            &GitHub::api_url(settings),
            token,
            Duration::from_secs(settings.max_wait_seconds),
        )
    }

    /// A client for `api_url` sending `token` (anonymous without one), waiting out rate limits
    /// up to `max_wait` in total per request.
    pub fn new(api_url: &str, token: Option<Token>, max_wait: Duration) -> Result<GitHub> {
        let api_url = api_url.trim_end_matches('/').to_string();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("cannot start the async runtime for the GitHub client")?;
        let client = {
            // octocrab's service stack spawns onto the ambient runtime while it is built.
            let _entered = runtime.enter();
            let mut builder = octocrab::Octocrab::builder()
                .base_uri(api_url.as_str())
                .with_context(|| format!("`{api_url}` is not a valid GitHub API URL (GITHUB_API_URL or [github] api-url)"))?
                .set_connect_timeout(Some(Duration::from_secs(30)))
                .set_read_timeout(Some(Duration::from_secs(120)));
            if let Some(t) = &token {
                builder = builder.personal_token(t.expose().to_string());
            }
            builder.build().context("cannot build the GitHub client")?
        };
        Ok(GitHub {
            api_url,
            token,
            max_wait,
            runtime,
            client,
        })
    }

    /// The token, for pushing over HTTPS.
    pub fn token(&self) -> Option<&Token> {
        self.token.as_ref()
    }

    /// `GET path` (relative to the API root) decoded as `T`; `what` names the operation in errors.
    pub fn get<T: DeserializeOwned>(&self, path: &str, what: &str) -> Result<T> {
        self.call(Method::Get, path, None, what)
    }

    /// `GET path` decoded as `T`; `Ok(None)` when GitHub answers 404, for callers that say
    /// better than a generic message what is missing.
    pub fn get_if_present<T: DeserializeOwned>(&self, path: &str, what: &str) -> Result<Option<T>> {
        match self.exchange(Method::Get, path, None, what)? {
            a if a.status == 404 => Ok(None),
            a => self.decode(&a, what).map(Some),
        }
    }

    /// `GET path`, a listing, and the pages its `Link: <…>; rel="next"` headers lead to, until
    /// `limit` items are in hand or there is no next page. Every page is an array of `T`.
    pub fn get_pages<T: DeserializeOwned>(
        &self,
        path: &str,
        what: &str,
        limit: usize,
    ) -> Result<Vec<T>> {
        let mut items = Vec::new();
        let mut next = Some(path.to_string());
        let mut pages = 0;
        while let Some(page) = next.take() {
            pages += 1;
            if pages > MAX_PAGES {
                bail!("GitHub kept paginating {what} past {MAX_PAGES} pages (GET {path}); its `Link` headers lead round in circles");
            }
            let answer = self.exchange(Method::Get, &page, None, what)?;
            let batch: Vec<T> = self.decode(&answer, what)?;
            items.extend(batch);
            if items.len() >= limit {
                items.truncate(limit);
                break;
            }
            next = self.next_page(&answer, what)?;
        }
        Ok(items)
    }

    /// `GET path` in the raw media type: a file's bytes as text, for contents over the 1 MB that
    /// GitHub inlines as base64.
    pub fn get_raw(&self, path: &str, what: &str) -> Result<String> {
        let answer = self.exchange(Method::GetRaw, path, None, what)?;
        if !(200..300).contains(&answer.status) {
            return Err(self.error(&answer, what));
        }
        Ok(answer.body)
    }

    /// `POST path` with a JSON body; the answer decoded as `T`.
    pub fn post<T: DeserializeOwned>(&self, path: &str, body: &Value, what: &str) -> Result<T> {
        self.call(Method::Post, path, Some(body), what)
    }

    /// `PATCH path` with a JSON body; the answer decoded as `T`.
    pub fn patch<T: DeserializeOwned>(&self, path: &str, body: &Value, what: &str) -> Result<T> {
        self.call(Method::Patch, path, Some(body), what)
    }

    /// `DELETE path`; `Ok(false)` when GitHub answers 404 (already gone).
    pub fn delete_if_present(&self, path: &str, what: &str) -> Result<bool> {
        match self.exchange(Method::Delete, path, None, what)? {
            a if (200..300).contains(&a.status) => Ok(true),
            a if a.status == 404 => Ok(false),
            a => Err(self.error(&a, what)),
        }
    }

    fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        what: &str,
    ) -> Result<T> {
        let answer = self.exchange(method, path, body, what)?;
        self.decode(&answer, what)
    }

    /// A success answer's JSON body as `T`; an error saying what to do otherwise. A body of
    /// another shape (a missing field, a wrong type, not JSON at all) names the endpoint and the
    /// JSON path where it differs.
    fn decode<T: DeserializeOwned>(&self, answer: &Answer, what: &str) -> Result<T> {
        if !(200..300).contains(&answer.status) {
            return Err(self.error(answer, what));
        }
        let de = &mut serde_json::Deserializer::from_str(&answer.body);
        serde_path_to_error::deserialize(&mut *de)
            .map_err(|e| {
                let at = e.path().to_string();
                anyhow!(
                    "GitHub's answer to {what} ({} on {}) is not what its API documents: at JSON path `{at}`: {}",
                    answer.endpoint,
                    self.api_url,
                    e.inner()
                )
            })
            .and_then(|value| {
                de.end().map_err(|e| {
                    anyhow!(
                        "GitHub's answer to {what} ({} on {}) has more after its JSON: {e}",
                        answer.endpoint,
                        self.api_url
                    )
                })?;
                Ok(value)
            })
    }

    /// The next page's path (relative to the API root) from the answer's `Link` header; `None`
    /// on the last page. A link elsewhere than the API root is refused: the token goes with it.
    fn next_page(&self, answer: &Answer, what: &str) -> Result<Option<String>> {
        let Some(header) = &answer.link else {
            return Ok(None);
        };
        let bad = |why: &str| {
            anyhow!(
                "GitHub's `Link` header for {what} ({}) {why}: `{header}`",
                answer.endpoint
            )
        };
        let mut next = None;
        for link in header.split(',').filter(|l| !l.trim().is_empty()) {
            let (target, params) = link
                .trim()
                .strip_prefix('<')
                .and_then(|l| l.split_once('>'))
                .ok_or_else(|| bad("is not a list of `<url>; rel=\"…\"` links"))?;
            let is_next = params
                .split(';')
                .filter_map(|p| p.trim().strip_prefix("rel="))
                .any(|rel| {
                    rel.trim_matches('"')
                        .split_whitespace()
                        .any(|r| r == "next")
                });
            if is_next {
                next = Some(target.to_string());
            }
        }
        let Some(url) = next else {
            return Ok(None);
        };
        match url.strip_prefix(&self.api_url) {
            Some(rest) if rest.starts_with('/') => Ok(Some(rest.to_string())),
            _ => Err(bad(&format!(
                "leads outside {} (the token is not sent elsewhere)",
                self.api_url
            ))),
        }
    }

    /// Sends a request, waiting out rate limits up to `max_wait` in total.
    fn exchange(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        what: &str,
    ) -> Result<Answer> {
        let mut waited = Duration::ZERO;
        let mut attempt = 0;
        loop {
            let answer = self.send_once(method, path, body, what)?;
            let Some(wait) = rate_limit_wait(&answer, what)? else {
                return Ok(answer);
            };
            attempt += 1;
            if attempt > MAX_RATE_LIMIT_RETRIES || waited + wait > self.max_wait {
                bail!(
                    "GitHub's rate limit stopped {what} ({}: {} {}): it asks to wait {}s, longer than the {}s this command waits ([github] max-wait-seconds){}; try again later{}",
                    answer.endpoint,
                    answer.status,
                    message(&answer.body),
                    wait.as_secs(),
                    self.max_wait.as_secs(),
                    if waited.is_zero() { String::new() } else { format!(" after already waiting {}s", waited.as_secs()) },
                    if self.token.is_none() { ", or set GITHUB_TOKEN/GH_TOKEN for a higher limit" } else { "" }
                );
            }
            eprintln!(
                "GitHub rate limit reached during {what}; waiting {}s as it asks",
                wait.as_secs()
            );
            std::thread::sleep(wait);
            waited += wait;
        }
    }

    fn send_once(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        what: &str,
    ) -> Result<Answer> {
        let c = &self.client;
        let unreachable = || {
            format!(
                "cannot reach GitHub at {} for {what} ({})",
                self.api_url,
                method.endpoint(path)
            )
        };
        self.runtime.block_on(async {
            let response = match method {
                Method::Get => c._get(path).await,
                Method::GetRaw => {
                    let mut headers = http::HeaderMap::new();
                    headers.insert(
                        http::header::ACCEPT,
                        http::HeaderValue::from_static("application/vnd.github.raw"),
                    );
                    c._get_with_headers(path, Some(headers)).await
                }
                Method::Post => c._post(path, body).await,
                Method::Patch => c._patch(path, body).await,
                Method::Delete => c._delete(path, None::<&()>).await,
            }
            .map_err(|e| anyhow!("{e}"))
            .with_context(unreachable)?;
            let header = |name: &str| {
                response
                    .headers()
                    .get(name)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string)
            };
            let status = response.status().as_u16();
            let retry_after = header("retry-after");
            let ratelimit_remaining = header("x-ratelimit-remaining");
            let ratelimit_reset = header("x-ratelimit-reset");
            let accepted_permissions = header("x-accepted-github-permissions");
            let link = header("link");
            let body = match c.body_to_string(response).await {
                Ok(body) => body,
                Err(octocrab::Error::InvalidUtf8 { .. }) => bail!(
                    "GitHub's answer to {what} ({} on {}) is not UTF-8 text",
                    method.endpoint(path),
                    self.api_url
                ),
                Err(e) => return Err(anyhow!("{e}")).with_context(unreachable),
            };
            Ok(Answer {
                endpoint: method.endpoint(path),
                status,
                retry_after,
                ratelimit_remaining,
                ratelimit_reset,
                accepted_permissions,
                link,
                body,
            })
        })
    }

    /// The error for a non-success answer, saying what to do about it.
    fn error(&self, a: &Answer, what: &str) -> anyhow::Error {
        let what = &format!("{what} ({})", a.endpoint);
        let msg = message(&a.body);
        match a.status {
            401 if self.token.is_none() => anyhow::anyhow!(
                "GitHub requires authentication for {what} (401 {msg}): set GITHUB_TOKEN or GH_TOKEN"
            ),
            401 => anyhow::anyhow!(
                "GitHub rejected the token for {what} (401 {msg}): the token in GH_TOKEN (else GITHUB_TOKEN) is invalid or expired; create a new one"
            ),
            403 => anyhow::anyhow!(
                "GitHub refused {what} (403 {msg}): the token lacks a permission{}; grant it (fine-grained token or GitHub App: repository permissions; Actions: the job's `permissions:`)",
                a.accepted_permissions
                    .as_deref()
                    .filter(|p| !p.is_empty())
                    .map(|p| format!(" — this call needs `{p}`"))
                    .unwrap_or_default()
            ),
            404 => anyhow::anyhow!(
                "{what}: not found on GitHub (404 {msg}); check the repository and number (a private repository also answers 404 when the token cannot see it)"
            ),
            422 => anyhow::anyhow!("GitHub rejected {what} (422 {msg}{})", validation_errors(&a.body)),
            s => anyhow::anyhow!("GitHub answered {s} to {what}: {msg}"),
        }
    }
}

#[derive(Clone, Copy, Debug)]
enum Method {
    Get,
    /// `GET` asking for the raw media type instead of JSON.
    GetRaw,
    Post,
    Patch,
    Delete,
}

impl Method {
    /// `GET /repos/…`: the endpoint as errors name it.
    fn endpoint(self, path: &str) -> String {
        let verb = match self {
            Method::Get | Method::GetRaw => "GET",
            Method::Post => "POST",
            Method::Patch => "PATCH",
            Method::Delete => "DELETE",
        };
        format!("{verb} {path}")
    }
}

/// How long GitHub asks us to wait, when the answer is a rate limit: 429, or 403 with
/// `retry-after` (secondary limit) or `x-ratelimit-remaining: 0` (primary limit, until
/// `x-ratelimit-reset`). A rate-limit header that is not what GitHub documents is an error naming
/// it: guessing a wait could retry for hours or not at all.
fn rate_limit_wait(a: &Answer, what: &str) -> Result<Option<Duration>> {
    let bad = |name: &str, value: &str, expected: &str| {
        anyhow!(
            "GitHub answered {what} ({}) with status {} and a `{name}` header `{value}` that is not {expected}",
            a.endpoint,
            a.status
        )
    };
    let seconds = |name: &str, value: &Option<String>| -> Result<Option<u64>> {
        value
            .as_deref()
            .map(|v| {
                v.trim()
                    .parse::<u64>()
                    .map_err(|_| bad(name, v, "a whole number"))
            })
            .transpose()
    };
    let now = || {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0)
    };
    if a.status != 429 && a.status != 403 {
        return Ok(None);
    }
    let remaining = seconds("x-ratelimit-remaining", &a.ratelimit_remaining)?;
    // `Retry-After` is seconds on GitHub; HTTP also allows a date (RFC 9110 §10.2.3).
    let retry_after = match a.retry_after.as_deref() {
        None => None,
        Some(v) => Some(match v.trim().parse::<u64>() {
            Ok(secs) => secs,
            Err(_) => {
                let at = jiff::fmt::rfc2822::parse(v.trim())
                    .map_err(|_| bad("retry-after", v, "seconds or an HTTP date"))?;
                u64::try_from(at.timestamp().as_second())
                    .unwrap_or(0)
                    .saturating_sub(now())
            }
        }),
    };
    let primary_exhausted = remaining == Some(0);
    if a.status == 403 && retry_after.is_none() && !primary_exhausted {
        return Ok(None);
    }
    if let Some(secs) = retry_after {
        return Ok(Some(Duration::from_secs(secs)));
    }
    if let (true, Some(reset)) = (
        primary_exhausted,
        seconds("x-ratelimit-reset", &a.ratelimit_reset)?,
    ) {
        return Ok(Some(Duration::from_secs(reset.saturating_sub(now()) + 1)));
    }
    // GitHub's guidance when it gives no hint: wait at least a minute.
    Ok(Some(Duration::from_secs(60)))
}

/// GitHub's `message` field, or the start of the body when it is not the usual error JSON.
fn message(body: &str) -> String {
    serde_json::from_str::<Value>(body)
        .ok()
        .and_then(|v| v.get("message").and_then(Value::as_str).map(str::to_string))
        .unwrap_or_else(|| body.chars().take(200).collect())
}

fn validation_errors(body: &str) -> String {
    let Ok(v) = serde_json::from_str::<Value>(body) else {
        return String::new();
    };
    let details: Vec<String> = v
        .get("errors")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|e| {
            e.get("message")
                .and_then(Value::as_str)
                .map(str::to_string)
                .unwrap_or_else(|| e.to_string())
        })
        .collect();
    if details.is_empty() {
        String::new()
    } else {
        format!(": {}", details.join("; "))
    }
}

/// Percent-encodes one URL path segment or query value.
pub fn encode(text: &str) -> String {
    let mut out = String::new();
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_come_from_clone_urls_but_not_paths() {
        let want = Some(RepoSlug::parse("dotnet/runtime").unwrap());
        for url in [
            "https://github.com/dotnet/runtime",
            "https://github.com/dotnet/runtime.git",
            "https://github.com/dotnet/runtime/",
            "git@github.com:dotnet/runtime.git",
            "ssh://git@github.com/dotnet/runtime.git",
        ] {
            assert_eq!(RepoSlug::from_url(url), want, "{url}");
        }
        for path in [
            "../runtime",
            "/srv/git/runtime.git",
            "runtime",
            "C:/src/runtime",
        ] {
            assert_eq!(RepoSlug::from_url(path), None, "{path}");
        }
    }

    #[test]
    fn rate_limit_waits_follow_the_headers() {
        let answer = |status, retry_after: Option<&str>, remaining: Option<&str>| Answer {
            endpoint: "GET /repos/dotnet/runtime/pulls/7".into(),
            status,
            retry_after: retry_after.map(str::to_string),
            ratelimit_remaining: remaining.map(str::to_string),
            ratelimit_reset: None,
            accepted_permissions: None,
            link: None,
            body: String::new(),
        };
        let wait = |a: Answer| rate_limit_wait(&a, "reading").unwrap();
        assert_eq!(
            wait(answer(429, Some("7"), None)),
            Some(Duration::from_secs(7))
        );
        assert_eq!(
            wait(answer(403, Some("3"), Some("10"))),
            Some(Duration::from_secs(3))
        );
        assert_eq!(
            wait(answer(403, None, Some("0"))),
            Some(Duration::from_secs(60))
        );
        assert_eq!(
            wait(answer(429, Some("Wed, 21 Oct 2015 07:28:00 GMT"), None)),
            Some(Duration::ZERO)
        );
        assert_eq!(wait(answer(403, None, Some("12"))), None);
        assert_eq!(wait(answer(404, None, None)), None);
        // A rate limit whose headers cannot be read names the header instead of guessing.
        let err = rate_limit_wait(&answer(429, Some("soon"), None), "reading")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("`retry-after` header `soon`")
                && err.contains("GET /repos/dotnet/runtime/pulls/7"),
            "{err}"
        );
    }
}
