//! Pull requests as GitHub's REST API keeps them, for the local test servers: list by head,
//! create (422 for a second open one from the same branch), update, add and remove labels, with
//! GitHub's JSON shapes and error bodies. `github_server` and `tests/github.rs` both answer with it.

use serde_json::{json, Value};

/// GitHub's error body.
pub fn error(message: &str, status: &str) -> Value {
    json!({
        "message": message,
        "documentation_url": "https://docs.github.com/rest",
        "status": status
    })
}

/// A repository as pull requests embed it (`head.repo`, `base.repo`).
pub fn repo_json(full_name: &str) -> Value {
    let (owner, name) = full_name.split_once('/').unwrap_or((full_name, ""));
    json!({
        "id": 210716005, "node_id": "MDEwOlJlcG9zaXRvcnkyMTA3MTYwMDU=", "name": name,
        "full_name": full_name, "private": false,
        "owner": {"login": owner, "id": 9141961, "type": "Organization"},
        "html_url": format!("https://github.com/{full_name}"), "default_branch": "main"
    })
}

/// The pull request endpoints on `pulls`: (HTTP status, JSON answer); 404 for any other route.
pub fn answer(
    pulls: &mut Vec<Value>,
    method: &str,
    route: &str,
    query: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let parts: Vec<&str> = route.trim_start_matches('/').split('/').collect();
    let not_found = || (404, error("Not Found", "404"));
    let find = |pulls: &mut Vec<Value>, full: &str, n: &str| -> Option<usize> {
        pulls.iter().position(|p| {
            p["base"]["repo"]["full_name"] == full && p["number"].as_u64() == n.parse().ok()
        })
    };
    let b = body.unwrap_or_default();
    match (method, parts.as_slice()) {
        ("GET", ["repos", o, r, "pulls"]) => {
            let full = format!("{o}/{r}");
            let head = query_value(query, "head").unwrap_or_default();
            let list: Vec<Value> = pulls
                .iter()
                .filter(|p| p["state"] == "open" && p["base"]["repo"]["full_name"] == full.as_str())
                .filter(|p| head.is_empty() || p["head"]["label"] == head.as_str())
                .cloned()
                .collect();
            (200, Value::Array(list))
        }
        ("POST", ["repos", o, r, "pulls"]) => {
            let full = format!("{o}/{r}");
            let (Some(head), Some(base)) = (b["head"].as_str(), b["base"].as_str()) else {
                return (
                    422,
                    error("Validation Failed: head and base are required", "422"),
                );
            };
            if pulls.iter().any(|p| {
                p["state"] == "open"
                    && p["base"]["repo"]["full_name"] == full.as_str()
                    && p["head"]["ref"] == head
            }) {
                return (
                    422,
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
            let pr = json!({
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
            (201, pr)
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
                (200, p.clone())
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
                            labels.push(json!({"id": id, "node_id": "LA_kwDOAbCdEf8AAAABc", "name": name, "color": "d73a4a", "default": false, "description": null}));
                        }
                    }
                    (200, Value::Array(labels.clone()))
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
                        (404, error("Label does not exist", "404"))
                    } else {
                        (200, Value::Array(labels.clone()))
                    }
                }
                None => not_found(),
            }
        }
        _ => not_found(),
    }
}

pub fn query_value(query: &str, key: &str) -> Option<String> {
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
