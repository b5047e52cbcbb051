//! The GitHub side of the toolkit against a local HTTP server (127.0.0.1, random port) that
//! speaks the REST endpoints the toolkit uses, with GitHub's response shapes and headers:
//! `backport --open-pr` (create, update instead of duplicate, draft on conflict, someone else's
//! commits kept), `pr:<number>` fixes (merge commit, squash, rebase, not merged), and each error
//! (missing token, 401, 403 permission, 429 retry-after waited out or too long, 404).
//! The fork, its push remote (a bare repository) and the upstream are real git repositories.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};

use git2::{Oid, Repository};
use serde_json::{json, Value};
use xtask::fixtures::files::{csharp, edit, versions_props};
use xtask::fixtures::history;

use crate::github_server::pulls;
use crate::support;

const TOKEN: &str = "ghs_testTokenThatMustNeverBePrinted0001";
const CVE: &str = "CVE-2025-55248";
const SMTP: &str = "src/libraries/System.Net.Mail/src/System/Net/Mail/SmtpClient.cs";
const JSON_READER: &str =
    "src/libraries/System.Text.Json/src/System/Text/Json/Reader/Utf8JsonReader.cs";
const VERSIONS: &str = "eng/Versions.props";

// ---------------------------------------------------------------------------------------------
// The fake GitHub.

/// One request the server received.
#[derive(Clone, Debug)]
struct Seen {
    method: String,
    url: String,
    body: Option<Value>,
}

/// A canned answer served instead of the normal one for the next request matching method+path.
struct Injected {
    method: &'static str,
    path_prefix: String,
    status: u16,
    headers: Vec<(&'static str, String)>,
    body: Value,
}

#[derive(Default)]
struct State {
    /// Pull requests on the fork repository.
    pulls: Vec<Value>,
    /// The upstream repository's pull requests, commits and commit lists.
    upstream_pulls: Vec<Value>,
    upstream_pull_commits: Vec<(u64, Vec<Value>)>,
    upstream_commits: Vec<Value>,
    seen: Vec<Seen>,
    injected: VecDeque<Injected>,
    /// The most items one page of a listing holds (GitHub's cap is 100; 0 means that cap).
    page_size: usize,
}

/// A local HTTP server (127.0.0.1, random port) and the thread answering it; dropping it stops
/// both.
struct Served {
    url: String,
    server: Arc<tiny_http::Server>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Served {
    fn start(mut answer: impl FnMut(tiny_http::Request) + Send + 'static) -> Served {
        let server = Arc::new(tiny_http::Server::http("127.0.0.1:0").unwrap());
        let url = format!("http://{}", server.server_addr().to_ip().unwrap());
        let s = server.clone();
        let thread = std::thread::spawn(move || {
            while let Ok(request) = s.recv() {
                answer(request);
            }
        });
        Served {
            url,
            server,
            thread: Some(thread),
        }
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        self.server.unblock();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

struct FakeGitHub {
    state: Arc<Mutex<State>>,
    served: Served,
}

fn rate_headers() -> Vec<(&'static str, String)> {
    let reset = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 3600;
    vec![
        ("Content-Type", "application/json; charset=utf-8".into()),
        ("X-GitHub-Api-Version-Selected", "2022-11-28".into()),
        ("X-RateLimit-Limit", "5000".into()),
        ("X-RateLimit-Remaining", "4987".into()),
        ("X-RateLimit-Reset", reset.to_string()),
        ("X-RateLimit-Used", "13".into()),
        ("X-RateLimit-Resource", "core".into()),
        (
            "X-GitHub-Request-Id",
            "C0DE:1F2E:3A4B5C:6D7E8F:65A1B2C3".into(),
        ),
    ]
}

fn not_found() -> (u16, Value) {
    (404, pulls::error("Not Found", "404"))
}

impl FakeGitHub {
    fn start() -> FakeGitHub {
        let state = Arc::new(Mutex::new(State::default()));
        let st = state.clone();
        let served = Served::start(move |mut request| {
            let mut text = String::new();
            let _ = request.as_reader().read_to_string(&mut text);
            let header = |name: &'static str| {
                request
                    .headers()
                    .iter()
                    .find(|h| h.field.equiv(name))
                    .map(|h| h.value.as_str().to_string())
            };
            let auth = header("Authorization");
            let host = header("Host").unwrap_or_default();
            let method = request.method().as_str().to_string();
            let url = request.url().to_string();
            let body: Option<Value> = serde_json::from_str(&text).ok();
            let (status, headers, answer) =
                st.lock()
                    .unwrap()
                    .answer(&method, &url, &host, body, auth.as_deref());
            let mut response =
                tiny_http::Response::from_string(answer.to_string()).with_status_code(status);
            for (k, v) in headers {
                response
                    .add_header(tiny_http::Header::from_bytes(k.as_bytes(), v.as_bytes()).unwrap());
            }
            let _ = request.respond(response);
        });
        FakeGitHub { state, served }
    }

    fn with<R>(&self, f: impl FnOnce(&mut State) -> R) -> R {
        f(&mut self.state.lock().unwrap())
    }

    fn inject(
        &self,
        method: &'static str,
        path_prefix: &str,
        status: u16,
        headers: Vec<(&'static str, String)>,
        body: Value,
    ) {
        self.with(|s| {
            s.injected.push_back(Injected {
                method,
                path_prefix: path_prefix.to_string(),
                status,
                headers,
                body,
            })
        });
    }

    fn seen(&self, method: &str, path_prefix: &str) -> Vec<Seen> {
        self.with(|s| {
            s.seen
                .iter()
                .filter(|r| r.method == method && r.url.starts_with(path_prefix))
                .cloned()
                .collect()
        })
    }
}

impl State {
    fn answer(
        &mut self,
        method: &str,
        url: &str,
        host: &str,
        body: Option<Value>,
        auth: Option<&str>,
    ) -> (u16, Vec<(&'static str, String)>, Value) {
        self.seen.push(Seen {
            method: method.to_string(),
            url: url.to_string(),
            body: body.clone(),
        });
        let mut headers = rate_headers();
        if let Some(pos) = self
            .injected
            .iter()
            .position(|i| i.method == method && url.starts_with(&i.path_prefix))
        {
            let i = self.injected.remove(pos).unwrap();
            headers.retain(|(k, _)| !i.headers.iter().any(|(n, _)| n.eq_ignore_ascii_case(k)));
            headers.extend(i.headers);
            return (i.status, headers, i.body);
        }
        match auth {
            Some(a) if a == format!("Bearer {TOKEN}") => {}
            Some(_) => {
                return (
                    401,
                    headers,
                    json!({"message": "Bad credentials", "documentation_url": "https://docs.github.com/rest", "status": "401"}),
                )
            }
            None if method != "GET" => {
                return (
                    401,
                    headers,
                    json!({"message": "Requires authentication", "documentation_url": "https://docs.github.com/rest", "status": "401"}),
                )
            }
            None => {}
        }
        let (path, query) = url.split_once('?').unwrap_or((url, ""));
        let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        let (status, value) = match (method, parts.as_slice()) {
            ("GET", ["repos", _, _, "pulls", n]) => {
                match self
                    .upstream_pulls
                    .iter()
                    .find(|p| p["number"].as_u64() == n.parse().ok())
                {
                    Some(p) => (200, p.clone()),
                    None => not_found(),
                }
            }
            ("GET", ["repos", _, _, "pulls", n, "commits"]) => {
                match self
                    .upstream_pull_commits
                    .iter()
                    .find(|(k, _)| Some(*k) == n.parse().ok())
                {
                    Some((_, list)) => {
                        let list = list.clone();
                        return self.page(host, path, query, list, headers);
                    }
                    None => not_found(),
                }
            }
            ("GET", ["repos", _, _, "commits", sha]) => {
                match self.upstream_commits.iter().find(|c| c["sha"] == *sha) {
                    Some(c) => (200, c.clone()),
                    None => (
                        422,
                        json!({"message": format!("No commit found for SHA: {sha}"), "documentation_url": "https://docs.github.com/rest", "status": "422"}),
                    ),
                }
            }
            ("GET", ["repos", _, _, "commits"]) => {
                // First-parent history from `sha`, newest first, by pages.
                let mut sha = pulls::query_value(query, "sha").unwrap_or_default();
                let mut list = Vec::new();
                while let Some(c) = self
                    .upstream_commits
                    .iter()
                    .find(|c| c["sha"] == sha.as_str())
                {
                    list.push(c.clone());
                    match c["parents"][0]["sha"].as_str() {
                        Some(p) => sha = p.to_string(),
                        None => break,
                    }
                }
                return self.page(host, path, query, list, headers);
            }
            _ => pulls::answer(&mut self.pulls, method, path, query, body),
        };
        (status, headers, value)
    }

    /// One page of `list` as GitHub serves listings: `per_page` (at most 100, or the page size
    /// this server was given) items of page `page`, with a `Link` header to the next and last
    /// pages, absolute URLs on the host the client called.
    fn page(
        &self,
        host: &str,
        path: &str,
        query: &str,
        list: Vec<Value>,
        mut headers: Vec<(&'static str, String)>,
    ) -> (u16, Vec<(&'static str, String)>, Value) {
        let cap = if self.page_size == 0 {
            100
        } else {
            self.page_size
        };
        let per_page = pulls::query_value(query, "per_page")
            .and_then(|v| v.parse().ok())
            .unwrap_or(30usize)
            .clamp(1, cap);
        let page = pulls::query_value(query, "page")
            .and_then(|v| v.parse().ok())
            .unwrap_or(1usize)
            .max(1);
        let last = list.len().div_ceil(per_page).max(1);
        let others: Vec<&str> = query
            .split('&')
            .filter(|kv| !kv.is_empty() && !kv.starts_with("page=") && !kv.starts_with("per_page="))
            .collect();
        let link = |n: usize, rel: &str| {
            let mut q = others.clone();
            let (pp, pg) = (format!("per_page={per_page}"), format!("page={n}"));
            q.push(&pp);
            q.push(&pg);
            format!("<http://{host}{path}?{}>; rel=\"{rel}\"", q.join("&"))
        };
        if last > 1 {
            let mut links = Vec::new();
            if page < last {
                links.push(link(page + 1, "next"));
                links.push(link(last, "last"));
            }
            if page > 1 {
                links.push(link(1, "first"));
                links.push(link(page - 1, "prev"));
            }
            headers.push(("Link", links.join(", ")));
        }
        let items: Vec<Value> = list
            .into_iter()
            .skip((page - 1) * per_page)
            .take(per_page)
            .collect();
        (200, headers, json!(items))
    }
}

/// A commit as GET /repos/{o}/{r}/commits/{sha} returns it (trimmed to the fields that matter).
fn commit_json(repo: &Repository, id: Oid) -> Value {
    let c = repo.find_commit(id).unwrap();
    json!({
        "sha": id.to_string(),
        "node_id": "C_kwDOAbCdEfoAKDE4ZTI4ZDc2",
        "commit": {
            "author": {"name": c.author().name(), "email": c.author().email(), "date": "2025-09-30T17:02:11Z"},
            "committer": {"name": "GitHub", "email": "noreply@github.com", "date": "2025-09-30T17:02:11Z"},
            "message": c.message().unwrap(),
            "tree": {"sha": c.tree_id().to_string()},
            "comment_count": 0,
            "verification": {"verified": true, "reason": "valid"}
        },
        "html_url": format!("https://github.com/dotnet/runtime/commit/{id}"),
        "parents": c.parent_ids().map(|p| json!({"sha": p.to_string(), "url": format!("https://api.github.com/repos/dotnet/runtime/commits/{p}")})).collect::<Vec<_>>()
    })
}

/// An upstream pull request as GET /repos/{o}/{r}/pulls/{n} returns it.
fn upstream_pull(number: u64, title: &str, merged: Option<Oid>, state: &str) -> Value {
    json!({
        "url": format!("https://api.github.com/repos/dotnet/runtime/pulls/{number}"),
        "id": 2_100_000_000u64 + number,
        "html_url": format!("https://github.com/dotnet/runtime/pull/{number}"),
        "number": number,
        "state": state,
        "locked": false,
        "title": title,
        "user": {"login": "dotnet-bot", "id": 3082000, "type": "User"},
        "body": "Backport of a security fix.",
        "labels": [{"name": "Servicing-approved"}],
        "created_at": "2025-09-20T10:00:00Z",
        "merged_at": merged.map(|_| "2025-09-30T17:02:11Z"),
        "merge_commit_sha": merged.map(|m| m.to_string()),
        "draft": false,
        "head": {"label": "dotnet:backport/pr-1", "ref": "backport/pr-1", "sha": "1111111111111111111111111111111111111111", "repo": pulls::repo_json("dotnet/runtime")},
        "base": {"label": "dotnet:release/8.0", "ref": "release/8.0", "sha": "2222222222222222222222222222222222222222", "repo": pulls::repo_json("dotnet/runtime")},
        "merged": merged.is_some(),
        "mergeable": null,
        "commits": 1
    })
}

// ---------------------------------------------------------------------------------------------
// A git server over smart HTTP, as GitHub serves pushes: `git http-backend` behind a local HTTP
// server that answers 401 until a request carries Basic credentials `x-access-token:<TOKEN>`.

struct GitHttpServer {
    /// The `Authorization` header of every request, `None` where there was none.
    auth_seen: Arc<Mutex<Vec<Option<String>>>>,
    served: Served,
}

impl GitHttpServer {
    /// Serves the repositories under `root` to clients that authenticate with `token`.
    fn start(root: &Path, token: &str) -> GitHttpServer {
        use base64::Engine as _;
        use std::io::Write as _;
        let expected = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("x-access-token:{token}"))
        );
        let auth_seen = Arc::new(Mutex::new(Vec::new()));
        let (seen, root) = (auth_seen.clone(), root.to_path_buf());
        let served = Served::start(move |mut request| {
            let headers: Vec<(String, String)> = request
                .headers()
                .iter()
                .map(|h| (h.field.to_string(), h.value.to_string()))
                .collect();
            let header = |name: &str| {
                headers
                    .iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case(name))
                    .map(|(_, v)| v.clone())
            };
            let auth = header("Authorization");
            seen.lock().unwrap().push(auth.clone());
            if auth.as_deref() != Some(expected.as_str()) {
                let response = tiny_http::Response::from_string("Unauthorized")
                    .with_status_code(401)
                    .with_header(
                        tiny_http::Header::from_bytes("WWW-Authenticate", "Basic realm=\"GitHub\"")
                            .unwrap(),
                    );
                let _ = request.respond(response);
                return;
            }
            let (path, query) = request
                .url()
                .split_once('?')
                .map(|(p, q)| (p.to_string(), q.to_string()))
                .unwrap_or((request.url().to_string(), String::new()));
            let mut body = Vec::new();
            request.as_reader().read_to_end(&mut body).unwrap();
            let mut cgi = Command::new("git")
                .arg("http-backend")
                .env("GIT_PROJECT_ROOT", &root)
                .env("GIT_HTTP_EXPORT_ALL", "1")
                .env("REMOTE_USER", "x-access-token")
                .env("REMOTE_ADDR", "127.0.0.1")
                .env("REQUEST_METHOD", request.method().as_str())
                .env("PATH_INFO", &path)
                .env("QUERY_STRING", &query)
                .env("CONTENT_TYPE", header("Content-Type").unwrap_or_default())
                .env("CONTENT_LENGTH", body.len().to_string())
                .env(
                    "HTTP_CONTENT_ENCODING",
                    header("Content-Encoding").unwrap_or_default(),
                )
                .env("GIT_PROTOCOL", header("Git-Protocol").unwrap_or_default())
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .spawn()
                .unwrap();
            cgi.stdin.take().unwrap().write_all(&body).unwrap();
            let output = cgi.wait_with_output().unwrap();
            let split = output
                .stdout
                .windows(4)
                .position(|w| w == b"\r\n\r\n")
                .map(|i| (i, 4))
                .or_else(|| {
                    output
                        .stdout
                        .windows(2)
                        .position(|w| w == b"\n\n")
                        .map(|i| (i, 2))
                })
                .expect("CGI headers");
            let head = String::from_utf8_lossy(&output.stdout[..split.0]).to_string();
            let mut response =
                tiny_http::Response::from_data(output.stdout[split.0 + split.1..].to_vec());
            for line in head.lines() {
                let (k, v) = line.split_once(':').unwrap();
                if k.eq_ignore_ascii_case("Status") {
                    let code = v.trim().split(' ').next().unwrap().parse::<u16>().unwrap();
                    response = response.with_status_code(code);
                } else {
                    response.add_header(tiny_http::Header::from_bytes(k.trim(), v.trim()).unwrap());
                }
            }
            let _ = request.respond(response);
        });
        GitHttpServer { auth_seen, served }
    }
}

// ---------------------------------------------------------------------------------------------
// The repositories.

/// An upstream with release/6.0 and release/8.0 (fixes), a fork clone with `release/6.0-els`
/// checked out, its push remote `origin` (a bare repository), and els.toml naming them.
struct World {
    _dir: tempfile::TempDir,
    root: PathBuf,
    fork: PathBuf,
    remote: PathBuf,
    upstream: Repository,
    clean: Oid,
    clean2: Oid,
    conflict: Oid,
}

/// git's stdout, trimmed.
fn git(dir: &Path, args: &[&str]) -> String {
    support::git(dir, args).trim().to_string()
}

impl World {
    fn new() -> World {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().to_path_buf();
        let up_dir = root.join("upstream");
        let upstream = history::init(&up_dir).unwrap();
        let dev = history::signature("Dev One", "dev1@example.com", 1_600_000_000);
        let sec = history::signature("Security Dev", "sec@example.com", 1_700_000_000);
        let smtp = csharp("System.Net.Mail", "SmtpClient", 30);
        let reader = csharp("System.Text.Json", "Utf8JsonReader", 30);
        let base = history::commit(
            &upstream,
            "release/6.0",
            &[
                (VERSIONS, Some(&versions_props(6, 0, 36))),
                (SMTP, Some(&smtp)),
                (JSON_READER, Some(&reader)),
            ],
            "Initial .NET 6 servicing tree",
            &dev,
        )
        .unwrap();
        upstream
            .tag_lightweight("v6.0.36", &upstream.find_object(base, None).unwrap(), false)
            .unwrap();
        history::branch(&upstream, "release/8.0", base).unwrap();
        history::commit(
            &upstream,
            "release/8.0",
            &[(VERSIONS, Some(&versions_props(8, 0, 10)))],
            "Update branding to 8.0.10",
            &dev,
        )
        .unwrap();
        let smtp_fixed = edit(&smtp, "Step3() => 3;", "Step3() => Validate(3);");
        let clean = history::commit(
            &upstream,
            "release/8.0",
            &[(SMTP, Some(&smtp_fixed))],
            "Validate SMTP replies before use",
            &sec,
        )
        .unwrap();
        let smtp_fixed2 = edit(&smtp_fixed, "Step20() => 20;", "Step20() => Validate(20);");
        let clean2 = history::commit(
            &upstream,
            "release/8.0",
            &[(SMTP, Some(&smtp_fixed2))],
            "Validate SMTP replies in DATA too",
            &sec,
        )
        .unwrap();
        let reader_fixed = edit(&reader, "Step5() => 5;", "Step5() => Checked(5);");
        let conflict = history::commit(
            &upstream,
            "release/8.0",
            &[(JSON_READER, Some(&reader_fixed))],
            "Bound Utf8JsonReader depth",
            &sec,
        )
        .unwrap();

        let fork = root.join("fork");
        git(
            &root,
            &[
                "clone",
                "-q",
                "--no-local",
                up_dir.to_str().unwrap(),
                "fork",
            ],
        );
        git(&fork, &["config", "user.name", "ELS Maintainer"]);
        git(&fork, &["config", "user.email", "els@example.com"]);
        git(
            &fork,
            &["checkout", "-q", "-b", "release/6.0-els", "v6.0.36"],
        );
        // The fork changed the line the conflicting fix touches.
        let forked = edit(&reader, "Step5() => 5;", "Step5() => Fork(5);");
        std::fs::write(fork.join(JSON_READER), forked).unwrap();
        git(
            &fork,
            &["commit", "-q", "-am", "Fork-specific reader change"],
        );
        // Every upstream fix is in the fork's object database (fetched along with the clone).
        git(&fork, &["fetch", "-q", "origin", "release/8.0"]);
        let remote = root.join("remote.git");
        git(&root, &["init", "-q", "--bare", "remote.git"]);
        git(
            &fork,
            &["remote", "set-url", "origin", remote.to_str().unwrap()],
        );
        git(&fork, &["push", "-q", "origin", "release/6.0-els"]);
        std::fs::write(
            root.join("els.toml"),
            "[[repo]]\nname = \"runtime\"\npath = \"fork\"\nbranch = \"release/6.0-els\"\nbase = \"v6.0.36\"\nupstream = \"https://github.com/dotnet/runtime\"\n\n[github]\nmax-wait-seconds = 5\nforks = { runtime = \"contoso/runtime\" }\n",
        )
        .unwrap();
        World {
            _dir: dir,
            root,
            fork,
            remote,
            upstream,
            clean,
            clean2,
            conflict,
        }
    }

    fn run(&self, gh: &FakeGitHub, token: Option<&str>, args: &[&str]) -> Output {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_xtask"));
        cmd.arg("--config")
            .arg(self.root.join("els.toml"))
            .args(args)
            .current_dir(&self.root)
            .env("NO_COLOR", "1")
            .env("GITHUB_API_URL", &gh.served.url)
            .env_remove("GITHUB_TOKEN")
            .env_remove("GH_TOKEN")
            .env_remove("GITHUB_ACTIONS")
            .env_remove("GITHUB_STEP_SUMMARY");
        if let Some(t) = token {
            cmd.env("GITHUB_TOKEN", t);
        }
        let out = cmd.output().unwrap();
        support::check_json_output(args, &out);
        out
    }

    /// `cargo xtask backport --cve CVE --open-pr runtime@<fix>`.
    fn open_pr(&self, gh: &FakeGitHub, token: Option<&str>, fix: Oid) -> Output {
        let fix = format!("runtime@{}", short(fix));
        self.run(gh, token, &["backport", "--cve", CVE, "--open-pr", &fix])
    }

    fn remote_branch(&self, branch: &str) -> Option<Oid> {
        let remote = Repository::open_bare(&self.remote).unwrap();
        let id = remote.refname_to_id(&format!("refs/heads/{branch}")).ok();
        id
    }

    fn fork_tip(&self) -> Oid {
        Repository::open(&self.fork)
            .unwrap()
            .refname_to_id("refs/heads/release/6.0-els")
            .unwrap()
    }
}

fn xtask_file(repo: &Repository, commit: Oid, path: &str) -> String {
    let tree = repo.find_commit(commit).unwrap().tree().unwrap();
    let blob = repo
        .find_blob(tree.get_path(Path::new(path)).unwrap().id())
        .unwrap();
    String::from_utf8(blob.content().to_vec()).unwrap()
}

fn short(id: Oid) -> String {
    id.to_string()[..7].to_string()
}

fn out(o: &Output) -> String {
    format!(
        "stdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn json_out(o: &Output) -> Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {}", out(o)))
}

fn assert_no_token(o: &Output) {
    assert!(!out(o).contains(TOKEN), "the token was printed: {}", out(o));
}

// ---------------------------------------------------------------------------------------------
// --open-pr

#[test]
fn open_pr_creates_the_pull_request_then_updates_it_instead_of_opening_another() {
    let w = World::new();
    let gh = FakeGitHub::start();
    let fix = format!("runtime@{}", short(w.clean));
    let o = w.run(
        &gh,
        Some(TOKEN),
        &["backport", "--cve", CVE, "--open-pr", "--json", &fix],
    );
    assert_eq!(o.status.code(), Some(0), "{}", out(&o));
    assert_no_token(&o);
    let report = json_out(&o);
    let branch = format!("els/{CVE}/{}", short(w.clean));
    assert_eq!(report["pull_request"]["branch"], branch.as_str());
    assert_eq!(report["pull_request"]["created"], true);
    assert_eq!(report["pull_request"]["draft"], false);
    assert_eq!(report["pull_request"]["push"], "created");
    assert_eq!(
        report["pull_request"]["url"],
        "https://github.com/contoso/runtime/pull/1"
    );
    // The remote branch holds exactly the backported branch.
    assert_eq!(w.remote_branch(&branch), Some(w.fork_tip()));
    let created = gh.seen("POST", "/repos/contoso/runtime/pulls");
    assert_eq!(created.len(), 1);
    let body = created[0].body.clone().unwrap();
    assert_eq!(body["head"], branch.as_str());
    assert_eq!(body["base"], "release/6.0-els");
    assert_eq!(body["draft"], false);
    assert!(body["title"].as_str().unwrap().starts_with(&format!(
        "{CVE}: backport \"Validate SMTP replies before use\""
    )));
    let text = body["body"].as_str().unwrap();
    assert!(
        text.contains(&format!(
            "https://msrc.microsoft.com/update-guide/vulnerability/{CVE}"
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "https://github.com/dotnet/runtime/commit/{}",
            w.clean
        )),
        "{text}"
    );
    assert!(text.contains("**applied**"), "{text}");
    assert!(
        text.contains(&format!("<!-- net6-els pushed: {} -->", w.fork_tip())),
        "{text}"
    );
    let labels = gh.seen("POST", "/repos/contoso/runtime/issues/1/labels");
    assert_eq!(
        labels[0].body.clone().unwrap()["labels"],
        json!(["security", "backport"])
    );

    // Again, with a second fix for the same CVE: same branch, same pull request, updated.
    let fix2 = format!("runtime@{}", short(w.clean2));
    let o = w.run(
        &gh,
        Some(TOKEN),
        &["backport", "--cve", CVE, "--open-pr", &fix, &fix2],
    );
    assert_eq!(o.status.code(), Some(0), "{}", out(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("updated pull request #1"),
        "{}",
        out(&o)
    );
    assert_eq!(
        gh.seen("POST", "/repos/contoso/runtime/pulls").len(),
        1,
        "a second pull request was opened"
    );
    let patched = gh.seen("PATCH", "/repos/contoso/runtime/pulls/1");
    assert_eq!(patched.len(), 1);
    let text = patched[0].body.clone().unwrap()["body"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        text.contains("**already-applied**") && text.contains("Validate SMTP replies in DATA too"),
        "{text}"
    );
    assert_eq!(w.remote_branch(&branch), Some(w.fork_tip()));
    assert_eq!(gh.with(|s| s.pulls.len()), 1);
}

#[test]
fn a_conflict_opens_a_draft_that_explains_what_to_resolve() {
    let w = World::new();
    let gh = FakeGitHub::start();
    let before = w.fork_tip();
    let fix = format!("runtime@{}", short(w.conflict));
    let o = w.run(
        &gh,
        Some(TOKEN),
        &["backport", "--cve", CVE, "--open-pr", &fix],
    );
    assert_eq!(o.status.code(), Some(1), "{}", out(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("opened draft pull request #1"),
        "{}",
        out(&o)
    );
    let created = gh.seen("POST", "/repos/contoso/runtime/pulls");
    let body = created[0].body.clone().unwrap();
    assert_eq!(body["draft"], true);
    assert!(body["title"].as_str().unwrap().starts_with("[conflict] "));
    let text = body["body"].as_str().unwrap();
    assert!(text.contains("### What to resolve"), "{text}");
    assert!(text.contains(JSON_READER), "{text}");
    assert!(
        text.contains("cargo xtask backport --continue --open-pr"),
        "{text}"
    );
    let labels = gh.seen("POST", "/repos/contoso/runtime/issues/1/labels")[0]
        .body
        .clone()
        .unwrap();
    assert_eq!(
        labels["labels"],
        json!(["security", "backport", "backport-conflict"])
    );
    // Nothing was applied, so the branch is the fork branch plus an empty placeholder commit.
    let branch = format!("els/{CVE}/{}", short(w.conflict));
    let pushed = w.remote_branch(&branch).expect("branch pushed");
    let remote = Repository::open_bare(&w.remote).unwrap();
    let placeholder = remote.find_commit(pushed).unwrap();
    assert_eq!(placeholder.parent_id(0).unwrap(), before);
    assert_eq!(
        placeholder.tree_id(),
        remote.find_commit(before).unwrap().tree_id()
    );
    assert!(placeholder.summary().unwrap().starts_with("[placeholder]"));
}

#[test]
fn continuing_after_the_resolution_replaces_the_placeholder_and_clears_the_conflict() {
    let w = World::new();
    let gh = FakeGitHub::start();
    let fix = format!("runtime@{}", short(w.conflict));
    let o = w.run(
        &gh,
        Some(TOKEN),
        &["backport", "--cve", CVE, "--open-pr", &fix],
    );
    assert_eq!(o.status.code(), Some(1), "{}", out(&o));
    let branch = format!("els/{CVE}/{}", short(w.conflict));
    let placeholder = w.remote_branch(&branch).unwrap();
    // The maintainer resolves the conflict in the fork's worktree and continues.
    let resolved = xtask_file(&w.upstream, w.conflict, JSON_READER)
        .replace("Step5() => Checked(5);", "Step5() => Checked(Fork(5));");
    std::fs::write(w.fork.join(JSON_READER), resolved).unwrap();
    git(&w.fork, &["add", JSON_READER]);
    let o = w.run(
        &gh,
        Some(TOKEN),
        &["backport", "--continue", "--open-pr", "--json"],
    );
    assert_eq!(o.status.code(), Some(0), "{}", out(&o));
    let report = json_out(&o);
    assert_eq!(report["pull_request"]["push"], "updated");
    assert_eq!(report["pull_request"]["created"], false);
    // The placeholder is gone: the branch is the fork branch with the resolved fix.
    let tip = w.fork_tip();
    assert_eq!(w.remote_branch(&branch), Some(tip));
    assert_ne!(tip, placeholder);
    let patched = gh.seen("PATCH", "/repos/contoso/runtime/pulls/1");
    let body = patched[0].body.clone().unwrap();
    assert!(!body["title"].as_str().unwrap().starts_with("[conflict]"));
    assert!(!body["body"].as_str().unwrap().contains("What to resolve"));
    assert_eq!(
        gh.seen(
            "DELETE",
            "/repos/contoso/runtime/issues/1/labels/backport-conflict"
        )
        .len(),
        1
    );
    assert_eq!(
        gh.with(|s| s.pulls[0]["labels"].as_array().unwrap().len()),
        2
    );
    assert_eq!(gh.seen("POST", "/repos/contoso/runtime/pulls").len(), 1);
}

#[test]
fn a_rerun_that_recreates_the_same_change_pushes_nothing() {
    let w = World::new();
    let gh = FakeGitHub::start();
    let fix = format!("runtime@{}", short(w.clean));
    let o = w.run(
        &gh,
        Some(TOKEN),
        &["backport", "--cve", CVE, "--open-pr", &fix],
    );
    assert_eq!(o.status.code(), Some(0), "{}", out(&o));
    let branch = format!("els/{CVE}/{}", short(w.clean));
    let first = w.remote_branch(&branch).unwrap();
    // A fresh fork branch (as in the next scheduled run); the pick gets a later commit date.
    git(&w.fork, &["reset", "-q", "--hard", "HEAD~1"]);
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let o = w.run(
        &gh,
        Some(TOKEN),
        &["backport", "--cve", CVE, "--open-pr", "--json", &fix],
    );
    assert_eq!(o.status.code(), Some(0), "{}", out(&o));
    assert_ne!(w.fork_tip(), first, "the re-run made a new commit");
    let report = json_out(&o);
    assert_eq!(report["pull_request"]["push"], "unchanged");
    assert_eq!(report["pull_request"]["head"], first.to_string().as_str());
    assert_eq!(w.remote_branch(&branch), Some(first));
    let body = gh.seen("PATCH", "/repos/contoso/runtime/pulls/1")[0]
        .body
        .clone()
        .unwrap();
    assert!(body["body"]
        .as_str()
        .unwrap()
        .contains(&format!("<!-- net6-els pushed: {first} -->")));
}

#[test]
fn commits_someone_else_pushed_to_the_branch_are_never_overwritten() {
    let w = World::new();
    let gh = FakeGitHub::start();
    let fix = format!("runtime@{}", short(w.clean));
    let o = w.run(
        &gh,
        Some(TOKEN),
        &["backport", "--cve", CVE, "--open-pr", &fix],
    );
    assert_eq!(o.status.code(), Some(0), "{}", out(&o));
    let branch = format!("els/{CVE}/{}", short(w.clean));
    // A maintainer pushes their own commit onto the PR branch from another clone.
    let other = w.root.join("other");
    git(
        &w.root,
        &[
            "clone",
            "-q",
            w.remote.to_str().unwrap(),
            "other",
            "-b",
            &branch,
        ],
    );
    std::fs::write(other.join("NOTES.md"), "reviewed\n").unwrap();
    git(&other, &["add", "NOTES.md"]);
    git(
        &other,
        &[
            "-c",
            "user.name=M",
            "-c",
            "user.email=m@example.com",
            "commit",
            "-q",
            "-m",
            "Reviewer note",
        ],
    );
    git(&other, &["push", "-q", "origin", &branch]);
    let theirs = w.remote_branch(&branch).unwrap();
    // The next run starts from a fresh fork branch (as a CI clone does) and backports again.
    git(&w.fork, &["reset", "-q", "--hard", "HEAD~1"]);
    let o = w.run(
        &gh,
        Some(TOKEN),
        &["backport", "--cve", CVE, "--open-pr", "--json", &fix],
    );
    assert_eq!(o.status.code(), Some(0), "{}", out(&o));
    assert_eq!(json_out(&o)["pull_request"]["push"], "kept-others-work");
    assert_eq!(w.remote_branch(&branch), Some(theirs));
    assert!(gh
        .seen("PATCH", "/repos/contoso/runtime/pulls/1")
        .is_empty());
}

// ---------------------------------------------------------------------------------------------
// pr:<number>

#[test]
fn pull_requests_resolve_to_their_merge_or_squash_commit() {
    let w = World::new();
    let gh = FakeGitHub::start();
    // #101 landed with a merge commit; #102 was squash-merged as `clean`.
    let up = &w.upstream;
    let dev = history::signature("Dev One", "dev1@example.com", 1_700_000_100);
    let tip = up
        .find_commit(up.refname_to_id("refs/heads/release/8.0").unwrap())
        .unwrap();
    let smtp = xtask_file(up, w.clean2, SMTP);
    let guarded = edit(&smtp, "Step25() => 25;", "Step25() => Guarded(25);");
    let topic = history::commit_with_parents(
        up,
        Some("refs/heads/topic"),
        std::slice::from_ref(&tip),
        &[(SMTP, Some(&guarded))],
        "Guard SMTP step 25",
        &dev,
    )
    .unwrap();
    let topic = up.find_commit(topic).unwrap();
    let merge = history::commit_with_parents(
        up,
        Some("refs/heads/release/8.0"),
        &[tip, topic.clone()],
        &[(SMTP, Some(&guarded))],
        "Merge pull request #101 from dotnet/guard",
        &dev,
    )
    .unwrap();
    git(
        &w.fork,
        &[
            "fetch",
            "-q",
            w.root.join("upstream").to_str().unwrap(),
            "release/8.0",
        ],
    );
    let squash_original = history::commit_with_parents(
        up,
        None,
        &[up.find_commit(w.clean).unwrap().parent(0).unwrap()],
        &[(SMTP, Some("x"))],
        "WIP validate replies",
        &dev,
    )
    .unwrap();
    gh.with(|s| {
        s.upstream_pulls.push(upstream_pull(
            101,
            "Guard SMTP step 25",
            Some(merge),
            "closed",
        ));
        s.upstream_pulls.push(upstream_pull(
            102,
            "Validate SMTP replies before use",
            Some(w.clean),
            "closed",
        ));
        s.upstream_pulls
            .push(upstream_pull(103, "Still in review", None, "open"));
        s.upstream_pull_commits
            .push((102, vec![commit_json(up, squash_original)]));
        for id in [merge, w.clean] {
            s.upstream_commits.push(commit_json(up, id));
        }
    });
    // Anonymous reads are allowed for public upstreams.
    let o = w.run(
        &gh,
        None,
        &[
            "backport",
            "--dry-run",
            "--json",
            "runtime@pr:101",
            "runtime@pr:102",
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{}", out(&o));
    let report = json_out(&o);
    let fixes = report["fixes"].as_array().unwrap();
    assert_eq!(fixes[0]["upstream"], merge.to_string().as_str());
    assert_eq!(
        fixes[0]["status"], "applied",
        "merge commit picked against parent 1"
    );
    assert_eq!(fixes[1]["upstream"], w.clean.to_string().as_str());

    let o = w.run(&gh, None, &["backport", "--dry-run", "runtime@pr:103"]);
    assert_eq!(o.status.code(), Some(2), "{}", out(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("is not merged (state: open)"),
        "{}",
        out(&o)
    );
}

/// Pull request #104 rebase-merged as `clean` then `clean2` on release/8.0 (its own commits are
/// the originals before the replay), served one item per page so every listing is paginated.
fn rebased_pull(w: &World, gh: &FakeGitHub) {
    let up = &w.upstream;
    let originals: Vec<Oid> = [w.clean, w.clean2]
        .iter()
        .map(|id| {
            let c = up.find_commit(*id).unwrap();
            let author = c.author().to_owned();
            let replayed = history::commit_with_parents(
                up,
                None,
                &[c.parent(0).unwrap()],
                &[],
                c.message().unwrap(),
                &author,
            )
            .unwrap();
            replayed
        })
        .collect();
    gh.with(|s| {
        s.page_size = 1;
        s.upstream_pulls.push(upstream_pull(
            104,
            "Validate SMTP replies",
            Some(w.clean2),
            "closed",
        ));
        s.upstream_pull_commits
            .push((104, originals.iter().map(|o| commit_json(up, *o)).collect()));
        for id in [w.clean2, w.clean] {
            s.upstream_commits.push(commit_json(up, id));
        }
    });
}

#[test]
fn a_rebased_pull_request_resolves_to_its_replayed_commits_in_order() {
    let w = World::new();
    let gh = FakeGitHub::start();
    rebased_pull(&w, &gh);
    let o = w.run(
        &gh,
        None,
        &["backport", "--dry-run", "--json", "runtime@pr:104"],
    );
    assert_eq!(o.status.code(), Some(0), "{}", out(&o));
    let ids: Vec<String> = json_out(&o)["fixes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["upstream"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ids, vec![w.clean.to_string(), w.clean2.to_string()]);
    // Both listings were followed through their `Link: rel="next"` headers.
    for listing in [
        "/repos/dotnet/runtime/pulls/104/commits",
        "/repos/dotnet/runtime/commits?",
    ] {
        let pages: Vec<String> = gh.seen("GET", listing).into_iter().map(|r| r.url).collect();
        assert_eq!(pages.len(), 2, "{pages:?}");
        assert!(pages[1].contains("page=2"), "{pages:?}");
    }
}

/// GitHub's answers to `pr:<number>` (the pull request, its merge commit, its commits and the
/// branch's commits, each listing over two pages), with one answer per case mutated by a proxy
/// between the real client and the fake GitHub — its body, a header (rate limit, `Link`,
/// content type) or its status. Never a panic; a failure names the request, and an answer of the
/// wrong shape names the endpoint and the JSON path; an answer that decodes gives full commit ids.
#[test]
fn github_answers_to_pr_fixes_never_crash_and_bad_ones_name_endpoint_and_json_path() {
    let w = World::new();
    let gh = FakeGitHub::start();
    rebased_pull(&w, &gh);
    let proxy = support::tamper::Proxy::start(&gh.served.url);
    let client = xtask::github::GitHub::new(&proxy.url(), None, std::time::Duration::ZERO).unwrap();
    let upstream = xtask::github::RepoSlug::parse("dotnet/runtime").unwrap();
    let resolve = || xtask::github::pull_fix::resolve(&client, &upstream, 104);
    let truth = resolve().unwrap().commits;
    assert_eq!(truth, [w.clean.to_string(), w.clean2.to_string()]);
    let exchanges = proxy.relayed();
    let mut shapes = 0;
    let n = support::fuzz::cases("GitHub answers to pr:<number>", |u| {
        proxy.tamper(u.int_in_range(0..=exchanges - 1)?, u.arbitrary()?);
        let result = resolve();
        let tampered = proxy.finish();
        match result {
            Ok(pull) => {
                assert!(
                    pull.commits
                        .iter()
                        .all(|c| c.len() == 40 && c.bytes().all(|b| b.is_ascii_hexdigit())),
                    "{:?}",
                    pull.commits
                );
                if !tampered {
                    assert_eq!(pull.commits, truth);
                }
            }
            Err(e) => {
                let e = format!("{e:#}");
                assert!(tampered, "an exchange nobody tampered with failed: {e}");
                assert!(e.contains("pull request #104"), "which request? {e}");
                if e.contains("is not what its API documents") {
                    shapes += 1;
                    assert!(
                        e.contains("at JSON path `") && e.contains(" /repos/dotnet/runtime/"),
                        "no endpoint or JSON path: {e}"
                    );
                }
                assert!(!e.contains("panicked"), "{e}");
            }
        }
        Ok(())
    });
    eprintln!("{n} cases, {shapes} answers of the wrong shape reported with their JSON path");
}

#[test]
fn pushing_over_https_hands_the_token_to_git_and_never_shows_it() {
    let w = World::new();
    let gh = FakeGitHub::start();
    let server = GitHttpServer::start(&w.root, TOKEN);
    let url = format!("{}/remote.git", server.served.url);
    git(&w.fork, &["remote", "set-url", "origin", &url]);
    let o = w.open_pr(&gh, Some(TOKEN), w.clean);
    assert_eq!(o.status.code(), Some(0), "{}", out(&o));
    assert_no_token(&o);
    let branch = format!("els/{CVE}/{}", short(w.clean));
    assert_eq!(w.remote_branch(&branch), Some(w.fork_tip()));
    // git asks anonymously first, then with the token the toolkit's credential helper gave it.
    let seen = server.auth_seen.lock().unwrap().clone();
    assert_eq!(seen.first(), Some(&None), "{seen:?}");
    assert!(
        seen.iter()
            .any(|a| a.as_deref().is_some_and(|a| a.starts_with("Basic "))),
        "{seen:?}"
    );
}

#[test]
fn a_push_the_git_server_refuses_fails_with_its_reason_and_without_a_prompt() {
    let w = World::new();
    let gh = FakeGitHub::start();
    // The server wants another token than the one the toolkit has (a token without write access
    // to the fork looks the same to git).
    let server = GitHttpServer::start(&w.root, "ghs_someOtherTokenTheToolkitDoesNotHave");
    git(
        &w.fork,
        &[
            "remote",
            "set-url",
            "origin",
            &format!("{}/remote.git", server.served.url),
        ],
    );
    let o = w.open_pr(&gh, Some(TOKEN), w.clean);
    assert_eq!(o.status.code(), Some(2), "{}", out(&o));
    assert_no_token(&o);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(
        stderr.contains("cannot reach the fork's remote `origin`")
            && stderr.contains("Authentication failed"),
        "{}",
        out(&o)
    );
    assert!(
        git(
            &w.root.join("remote.git"),
            &["for-each-ref", "refs/heads/els"]
        )
        .is_empty(),
        "nothing was pushed"
    );
}

// ---------------------------------------------------------------------------------------------
// Errors

#[test]
fn missing_token_is_refused_before_anything_changes() {
    let w = World::new();
    let gh = FakeGitHub::start();
    let before = w.fork_tip();
    let o = w.open_pr(&gh, None, w.clean);
    assert_eq!(o.status.code(), Some(2), "{}", out(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr)
            .contains("--open-pr needs a GitHub token: set GITHUB_TOKEN or GH_TOKEN"),
        "{}",
        out(&o)
    );
    assert_eq!(w.fork_tip(), before);
    assert!(gh.with(|s| s.seen.is_empty()));
}

#[test]
fn a_bad_token_gets_a_401_message_without_the_token() {
    let w = World::new();
    let gh = FakeGitHub::start();
    let bad = "ghp_badTokenValueThatMustNotAppear9999";
    let o = w.open_pr(&gh, Some(bad), w.clean);
    assert_eq!(o.status.code(), Some(2), "{}", out(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("GitHub rejected the token") && err.contains("401 Bad credentials"),
        "{err}"
    );
    assert!(!out(&o).contains(bad));
}

#[test]
fn a_missing_permission_names_what_the_call_needs() {
    let w = World::new();
    let gh = FakeGitHub::start();
    gh.inject(
        "POST",
        "/repos/contoso/runtime/pulls",
        403,
        vec![("X-Accepted-GitHub-Permissions", "pull_requests=write".into())],
        json!({"message": "Resource not accessible by integration", "documentation_url": "https://docs.github.com/rest/pulls/pulls#create-a-pull-request", "status": "403"}),
    );
    let o = w.open_pr(&gh, Some(TOKEN), w.clean);
    assert_eq!(o.status.code(), Some(2), "{}", out(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("403 Resource not accessible by integration")
            && err.contains("`pull_requests=write`"),
        "{err}"
    );
    assert!(err.contains("the backport itself finished"), "{err}");
}

#[test]
fn rate_limits_are_waited_out_when_short_and_reported_when_long() {
    let w = World::new();
    let gh = FakeGitHub::start();
    gh.inject(
        "GET",
        "/repos/contoso/runtime/pulls",
        429,
        vec![("Retry-After", "1".into())],
        json!({"message": "You have exceeded a secondary rate limit. Please wait a few minutes before you try again.", "documentation_url": "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api", "status": "429"}),
    );
    let o = w.open_pr(&gh, Some(TOKEN), w.clean);
    assert_eq!(o.status.code(), Some(0), "{}", out(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("waiting 1s"),
        "{}",
        out(&o)
    );
    assert_eq!(gh.seen("GET", "/repos/contoso/runtime/pulls?").len(), 2);

    let w = World::new();
    gh.inject(
        "GET",
        "/repos/contoso/runtime/pulls",
        429,
        vec![("Retry-After", "3600".into())],
        json!({"message": "You have exceeded a secondary rate limit.", "status": "429"}),
    );
    let o = w.open_pr(&gh, Some(TOKEN), w.clean);
    assert_eq!(o.status.code(), Some(2), "{}", out(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("rate limit")
            && err.contains("wait 3600s")
            && err.contains("max-wait-seconds"),
        "{err}"
    );

    // The primary limit: 403 with x-ratelimit-remaining: 0 until a reset an hour away.
    gh.inject(
        "GET",
        "/repos/dotnet/runtime/pulls/7",
        403,
        vec![("X-RateLimit-Remaining", "0".into())],
        json!({"message": "API rate limit exceeded for 203.0.113.7.", "documentation_url": "https://docs.github.com/rest/overview/resources-in-the-rest-api#rate-limiting"}),
    );
    let o = w.run(&gh, None, &["backport", "--dry-run", "runtime@pr:7"]);
    assert_eq!(o.status.code(), Some(2), "{}", out(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("API rate limit exceeded")
            && err.contains("GITHUB_TOKEN/GH_TOKEN for a higher limit"),
        "{err}"
    );
}

#[test]
fn an_unknown_pull_request_is_not_found() {
    let w = World::new();
    let gh = FakeGitHub::start();
    let o = w.run(
        &gh,
        Some(TOKEN),
        &["backport", "--dry-run", "runtime@pr:999999"],
    );
    assert_eq!(o.status.code(), Some(2), "{}", out(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains(
            "reading pull request #999999 of dotnet/runtime (GET /repos/dotnet/runtime/pulls/999999): not found on GitHub (404 Not Found)"
        ),
        "{err}"
    );
}
