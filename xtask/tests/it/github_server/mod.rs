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
//! It also holds the pull requests of any other repository, as `backport --open-pr` uses them
//! ([`pulls`]: list by head, create, update, label); writes without a token get GitHub's 401.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use base64::Engine;

pub mod pulls;

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
    let r#ref = pulls::query_value(query, "ref");
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
            (401, pulls::error("Requires authentication", "401"))
        } else {
            pulls::answer(&mut pulls.lock().unwrap(), &method, route, query, body)
        };
        (
            status_line(status),
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

fn status_line(status: u16) -> &'static str {
    match status {
        200 => "200 OK",
        201 => "201 Created",
        401 => "401 Unauthorized",
        422 => "422 Unprocessable Entity",
        _ => "404 Not Found",
    }
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
