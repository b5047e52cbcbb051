//! A local HTTP server speaking the part of GitHub's REST API that `advisories sync --github`
//! uses: `GET /repos/{owner}/{repo}/contents/{path}?ref={branch}` answering directory listings
//! (JSON arrays), files as JSON with base64 `content` (or `encoding: "none"` and no content
//! above the inline size limit, as GitHub does for files over 1 MB), the raw media type when
//! asked for it, and GitHub's 404 body for unknown paths and branches.
//!
//! It serves the flat fixture copy laid out as dotnet/core has it: the timeline on branch
//! `release-index` (`release-notes/timeline/YYYY/MM/{cve.json,index.json}`), `releases.json` on
//! `main` (`release-notes/<channel>/releases.json`).
//!
//! It also holds the pull requests of any other repository, as `backport --open-pr` uses them:
//! `GET /repos/{owner}/{repo}/pulls?state=open&head=owner:branch`, `POST …/pulls` (201 with
//! GitHub's pull request shape), `PATCH …/pulls/{n}`, `POST …/issues/{n}/labels` and
//! `DELETE …/issues/{n}/labels/{name}`; writes without a token get GitHub's 401.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use base64::Engine;

/// One request the server saw.
#[derive(Clone, Debug)]
pub struct Request {
    pub method: String,
    /// The contents path under `/repos/dotnet/core/contents/`, or the whole route of any other
    /// request.
    pub path: String,
    pub r#ref: Option<String>,
    /// Asked for the raw media type.
    pub raw: bool,
    pub authorization: Option<String>,
}

enum Node {
    Dir,
    File(Vec<u8>),
}

pub struct Server {
    addr: std::net::SocketAddr,
    requests: Arc<Mutex<Vec<Request>>>,
    pulls: Arc<Mutex<Vec<serde_json::Value>>>,
}

impl Server {
    /// Serves `fixtures` (the flat layout) with files above `inline_limit` bytes served without
    /// inline content.
    pub fn start(fixtures: PathBuf, inline_limit: usize) -> Server {
        let tree = Arc::new(build_tree(&fixtures));
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let pulls = Arc::new(Mutex::new(Vec::new()));
        let (seen, opened) = (Arc::clone(&requests), Arc::clone(&pulls));
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let tree = Arc::clone(&tree);
                let seen = Arc::clone(&seen);
                let opened = Arc::clone(&opened);
                std::thread::spawn(move || handle(stream, &tree, &seen, &opened, inline_limit));
            }
        });
        Server {
            addr,
            requests,
            pulls,
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn requests(&self) -> Vec<Request> {
        self.requests.lock().unwrap().clone()
    }

    /// The pull requests opened on the server, as GitHub would now return them (labels and
    /// edits applied), in the order they were opened.
    pub fn pulls(&self) -> Vec<serde_json::Value> {
        self.pulls.lock().unwrap().clone()
    }
}

/// (branch, path) → node.
fn build_tree(fixtures: &std::path::Path) -> BTreeMap<(String, String), Node> {
    let mut tree = BTreeMap::new();
    let dir = |tree: &mut BTreeMap<(String, String), Node>, branch: &str, path: &str| {
        tree.insert((branch.to_string(), path.to_string()), Node::Dir);
    };
    let timeline = "release-index";
    dir(&mut tree, timeline, "release-notes");
    dir(&mut tree, timeline, "release-notes/timeline");
    // An old year the sync must not descend into.
    dir(&mut tree, timeline, "release-notes/timeline/2023");
    dir(&mut tree, timeline, "release-notes/timeline/2023/11");
    tree.insert(
        (
            timeline.into(),
            "release-notes/timeline/2023/11/index.json".into(),
        ),
        Node::File(b"{}".to_vec()),
    );
    for entry in std::fs::read_dir(fixtures.join("timeline")).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap().to_string();
        let (year, month) = (&name[0..4], &name[5..7]);
        dir(
            &mut tree,
            timeline,
            &format!("release-notes/timeline/{year}"),
        );
        dir(
            &mut tree,
            timeline,
            &format!("release-notes/timeline/{year}/{month}"),
        );
        let base = format!("release-notes/timeline/{year}/{month}");
        tree.insert(
            (timeline.into(), format!("{base}/cve.json")),
            Node::File(std::fs::read(&path).unwrap()),
        );
        tree.insert(
            (timeline.into(), format!("{base}/index.json")),
            Node::File(b"{}".to_vec()),
        );
    }
    // A month with an index but no cve.json, as most months are.
    dir(&mut tree, timeline, "release-notes/timeline/2025/02");
    tree.insert(
        (
            timeline.into(),
            "release-notes/timeline/2025/02/index.json".into(),
        ),
        Node::File(b"{}".to_vec()),
    );

    dir(&mut tree, "main", "release-notes");
    for entry in std::fs::read_dir(fixtures.join("releases")).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap().to_string();
        let channel = name.strip_suffix("-releases.json").unwrap();
        dir(&mut tree, "main", &format!("release-notes/{channel}"));
        tree.insert(
            (
                "main".into(),
                format!("release-notes/{channel}/releases.json"),
            ),
            Node::File(std::fs::read(&path).unwrap()),
        );
    }
    tree
}

fn fake_sha(path: &str) -> String {
    let mut h: u64 = 0xcbf29ce484222325;
    for b in path.bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(0x100000001b3);
    }
    format!("{h:016x}{h:016x}{:08x}", h as u32)
}

fn entry_json(base: &str, branch: &str, path: &str, node: &Node) -> serde_json::Value {
    let name = path.rsplit('/').next().unwrap();
    let url = format!("{base}/repos/dotnet/core/contents/{path}?ref={branch}");
    let html = format!("https://github.com/dotnet/core/blob/{branch}/{path}");
    let git = format!("{base}/repos/dotnet/core/git/blobs/{}", fake_sha(path));
    let (kind, size, download) = match node {
        Node::Dir => ("dir", 0, serde_json::Value::Null),
        Node::File(bytes) => (
            "file",
            bytes.len(),
            serde_json::Value::String(format!(
                "https://raw.githubusercontent.com/dotnet/core/{branch}/{path}"
            )),
        ),
    };
    serde_json::json!({
        "name": name, "path": path, "sha": fake_sha(path), "size": size,
        "url": url, "html_url": html, "git_url": git, "download_url": download, "type": kind,
        "_links": {"self": url, "git": git, "html": html}
    })
}

fn handle(
    stream: TcpStream,
    tree: &BTreeMap<(String, String), Node>,
    seen: &Mutex<Vec<Request>>,
    pulls: &Mutex<Vec<serde_json::Value>>,
    inline_limit: usize,
) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).is_err() {
        return;
    }
    let mut headers = BTreeMap::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 || line.trim().is_empty() {
            break;
        }
        if let Some((k, v)) = line.split_once(':') {
            headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
        }
    }
    let length: usize = headers
        .get("content-length")
        .and_then(|l| l.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; length];
    if reader.read_exact(&mut body).is_err() {
        return;
    }
    let mut words = request_line.split_whitespace();
    let method = words.next().unwrap_or("GET").to_string();
    let target = words.next().unwrap_or("/").to_string();
    let (route, query) = target.split_once('?').unwrap_or((&target, ""));
    let contents = route.strip_prefix("/repos/dotnet/core/contents/");
    let r#ref = query_value(query, "ref");
    let raw = headers.get("accept").is_some_and(|a| a.contains("raw"));
    let path = contents.unwrap_or(route).trim_end_matches('/').to_string();
    let body: Option<serde_json::Value> = serde_json::from_slice(&body).ok();
    let authorization = headers.get("authorization").cloned();
    let anonymous = authorization.is_none();
    seen.lock().unwrap().push(Request {
        method: method.clone(),
        path: path.clone(),
        r#ref: r#ref.clone(),
        raw,
        authorization,
    });

    let base = format!(
        "http://{}",
        headers.get("host").cloned().unwrap_or_default()
    );
    let (status, content_type, body) = if contents.is_some() {
        let branch = r#ref.unwrap_or_else(|| "main".to_string());
        serve_contents(tree, &base, &branch, &path, raw, inline_limit)
    } else {
        // GitHub answers an anonymous write with 401.
        let (status, value) = if method != "GET" && anonymous {
            ("401 Unauthorized", error("Requires authentication", "401"))
        } else {
            answer_pulls(&mut pulls.lock().unwrap(), &method, route, query, body)
        };
        (
            status,
            "application/json; charset=utf-8",
            value.to_string().into_bytes(),
        )
    };
    let mut stream = stream;
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let _ = stream
        .write_all(head.as_bytes())
        .and_then(|()| stream.write_all(&body));
    let _ = stream.flush();
}

fn error(message: &str, status: &str) -> serde_json::Value {
    serde_json::json!({
        "message": message,
        "documentation_url": "https://docs.github.com/rest",
        "status": status
    })
}

/// A file, a directory listing or GitHub's 404 from the dotnet/core fixture tree.
fn serve_contents(
    tree: &BTreeMap<(String, String), Node>,
    base: &str,
    branch: &str,
    path: &str,
    raw: bool,
    inline_limit: usize,
) -> (&'static str, &'static str, Vec<u8>) {
    match tree.get(&(branch.to_string(), path.to_string())) {
        None => (
            "404 Not Found",
            "application/json; charset=utf-8",
            serde_json::json!({
                "message": "Not Found",
                "documentation_url": "https://docs.github.com/rest/repos/contents#get-repository-content",
                "status": "404"
            })
            .to_string()
            .into_bytes(),
        ),
        Some(Node::File(bytes)) if raw => ("200 OK", "application/vnd.github.raw; charset=utf-8", bytes.clone()),
        Some(node @ Node::File(bytes)) => {
            let mut json = entry_json(base, branch, path, node);
            if bytes.len() <= inline_limit {
                let encoded = base64::engine::general_purpose::STANDARD.encode(bytes);
                // GitHub wraps base64 content at 60 characters.
                let wrapped: Vec<&str> = encoded.as_bytes().chunks(60).map(|c| std::str::from_utf8(c).unwrap()).collect();
                json["content"] = serde_json::Value::String(wrapped.join("\n") + "\n");
                json["encoding"] = "base64".into();
            } else {
                json["content"] = "".into();
                json["encoding"] = "none".into();
            }
            ("200 OK", "application/json; charset=utf-8", json.to_string().into_bytes())
        }
        Some(Node::Dir) => {
            let prefix = format!("{path}/");
            let children: Vec<serde_json::Value> = tree
                .iter()
                .filter(|((b, p), _)| b == branch && p.strip_prefix(&prefix).is_some_and(|rest| !rest.contains('/')))
                .map(|((_, p), n)| entry_json(base, branch, p, n))
                .collect();
            ("200 OK", "application/json; charset=utf-8", serde_json::Value::Array(children).to_string().into_bytes())
        }
    }
}

fn repo_json(full_name: &str) -> serde_json::Value {
    let (owner, name) = full_name.split_once('/').unwrap_or((full_name, ""));
    serde_json::json!({
        "id": 210716005, "node_id": "MDEwOlJlcG9zaXRvcnkyMTA3MTYwMDU=", "name": name,
        "full_name": full_name, "private": false,
        "owner": {"login": owner, "id": 9141961, "type": "Organization"},
        "html_url": format!("https://github.com/{full_name}"), "default_branch": "main"
    })
}

/// The pull request endpoints on `pulls`: (status line, JSON answer).
fn answer_pulls(
    pulls: &mut Vec<serde_json::Value>,
    method: &str,
    route: &str,
    query: &str,
    body: Option<serde_json::Value>,
) -> (&'static str, serde_json::Value) {
    let parts: Vec<&str> = route.trim_start_matches('/').split('/').collect();
    let not_found = || ("404 Not Found", error("Not Found", "404"));
    let find = |pulls: &mut Vec<serde_json::Value>, full: &str, n: &str| -> Option<usize> {
        pulls.iter().position(|p| {
            p["base"]["repo"]["full_name"] == full && p["number"].as_u64() == n.parse().ok()
        })
    };
    let b = body.unwrap_or_default();
    match (method, parts.as_slice()) {
        ("GET", ["repos", o, r, "pulls"]) => {
            let full = format!("{o}/{r}");
            let head = query_value(query, "head").unwrap_or_default();
            let list: Vec<serde_json::Value> = pulls
                .iter()
                .filter(|p| p["state"] == "open" && p["base"]["repo"]["full_name"] == full.as_str())
                .filter(|p| head.is_empty() || p["head"]["label"] == head.as_str())
                .cloned()
                .collect();
            ("200 OK", serde_json::Value::Array(list))
        }
        ("POST", ["repos", o, r, "pulls"]) => {
            let full = format!("{o}/{r}");
            let (Some(head), Some(base)) = (b["head"].as_str(), b["base"].as_str()) else {
                return (
                    "422 Unprocessable Entity",
                    error("Validation Failed: head and base are required", "422"),
                );
            };
            if pulls.iter().any(|p| {
                p["state"] == "open"
                    && p["base"]["repo"]["full_name"] == full.as_str()
                    && p["head"]["ref"] == head
            }) {
                return (
                    "422 Unprocessable Entity",
                    error(
                        &format!(
                            "Validation Failed: A pull request already exists for {o}:{head}."
                        ),
                        "422",
                    ),
                );
            }
            let number = pulls
                .iter()
                .filter(|p| p["base"]["repo"]["full_name"] == full.as_str())
                .count() as u64
                + 1;
            let pr = serde_json::json!({
                "url": format!("https://api.github.com/repos/{full}/pulls/{number}"),
                "id": 1_800_000_000u64 + number,
                "node_id": "PR_kwDOAbCdEf5rQ1Zx",
                "html_url": format!("https://github.com/{full}/pull/{number}"),
                "number": number,
                "state": "open",
                "locked": false,
                "title": b["title"],
                "user": {"login": "els-bot", "id": 41898282, "type": "Bot"},
                "body": b["body"],
                "labels": [],
                "created_at": "2025-10-15T06:17:03Z",
                "updated_at": "2025-10-15T06:17:03Z",
                "closed_at": null,
                "merged_at": null,
                "merge_commit_sha": null,
                "draft": b["draft"].as_bool().unwrap_or(false),
                "head": {"label": format!("{o}:{head}"), "ref": head, "sha": "0000000000000000000000000000000000000000", "repo": repo_json(&full)},
                "base": {"label": format!("{o}:{base}"), "ref": base, "sha": "0000000000000000000000000000000000000000", "repo": repo_json(&full)},
                "author_association": "NONE",
                "merged": false,
                "mergeable": null,
                "maintainer_can_modify": b["maintainer_can_modify"],
                "commits": 1, "additions": 1, "deletions": 1, "changed_files": 1
            });
            pulls.push(pr.clone());
            ("201 Created", pr)
        }
        ("PATCH", ["repos", o, r, "pulls", n]) => match find(pulls, &format!("{o}/{r}"), n) {
            Some(i) => {
                let p = &mut pulls[i];
                for key in ["title", "body", "state"] {
                    if !b[key].is_null() {
                        p[key] = b[key].clone();
                    }
                }
                p["updated_at"] = "2025-10-16T06:17:03Z".into();
                ("200 OK", p.clone())
            }
            None => not_found(),
        },
        ("POST", ["repos", o, r, "issues", n, "labels"]) => {
            match find(pulls, &format!("{o}/{r}"), n) {
                Some(i) => {
                    let labels = pulls[i]["labels"].as_array_mut().unwrap();
                    for name in b["labels"].as_array().into_iter().flatten() {
                        if !labels.iter().any(|l| l["name"] == *name) {
                            let id = 5_000_000 + labels.len();
                            labels.push(serde_json::json!({"id": id, "node_id": "LA_kwDOAbCdEf8AAAABc", "name": name, "color": "d73a4a", "default": false, "description": null}));
                        }
                    }
                    ("200 OK", serde_json::Value::Array(labels.clone()))
                }
                None => not_found(),
            }
        }
        ("DELETE", ["repos", o, r, "issues", n, "labels", name]) => {
            match find(pulls, &format!("{o}/{r}"), n) {
                Some(i) => {
                    let labels = pulls[i]["labels"].as_array_mut().unwrap();
                    let name = percent_decode(name);
                    let before = labels.len();
                    labels.retain(|l| l["name"] != name.as_str());
                    if labels.len() == before {
                        ("404 Not Found", error("Label does not exist", "404"))
                    } else {
                        ("200 OK", serde_json::Value::Array(labels.clone()))
                    }
                }
                None => not_found(),
            }
        }
        _ => not_found(),
    }
}

fn query_value(query: &str, key: &str) -> Option<String> {
    query.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=')?;
        (k == key).then(|| percent_decode(v))
    })
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b'+', _) => {
                out.push(b' ');
                i += 1;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}
