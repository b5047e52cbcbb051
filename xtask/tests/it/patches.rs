//! The patch queue on real repositories shaped like dotnet/runtime: fixes are backported with the
//! real engine (clean, remapped, a conflict resolved by hand) onto a fork that also has its own
//! commits (a feed change, a binary key and an executable script), the queue is exported, checked
//! and rebuilt in a fresh clone — by `patches apply` and by `git am` — and must give the fork
//! branch's tree. Verify is fed one defect at a time and must name the file and line.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use git2::{Oid, Repository};
use serde_json::Value;
use xtask::backport::{self, FixSpec, FixStatus, Request};
use xtask::config::{Config, Remap};
use xtask::fixtures::files::{csharp, edit, versions_props};
use xtask::fixtures::history;
use xtask::patches;

use crate::support;
use support::{
    file, release_8_0, JSON_READER, SIGNED_XML, SMTP_CONNECTION, SMTP_CONNECTION_8, VERSIONS,
};

const BRANCH: &str = "release/6.0-els";

/// Upstream (release/6.0, release/8.0 with three fixes, tags), a fork with its own commits and
/// the fixes backported, and an els.toml naming them.
struct World {
    _dir: tempfile::TempDir,
    root: PathBuf,
    upstream: PathBuf,
    fork: PathBuf,
    ids: BTreeMap<&'static str, Oid>,
}

impl World {
    fn new() -> World {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().to_path_buf();
        let upstream = root.join("upstream");
        let repo = history::init(&upstream).unwrap();
        let dev = history::signature("Dev One", "dev1@example.com", 1_600_000_000);
        let sec = history::signature("Security Dev", "sec@example.com", 1_700_000_000);
        let mut ids = BTreeMap::new();
        let files = [
            (VERSIONS, versions_props(6, 0, 36)),
            (
                SMTP_CONNECTION,
                csharp("System.Net.Mail", "SmtpConnection", 40),
            ),
            (
                JSON_READER,
                csharp("System.Text.Json", "Utf8JsonReader", 40),
            ),
            (
                SIGNED_XML,
                csharp("System.Security.Cryptography.Xml", "SignedXml", 40),
            ),
            ("NuGet.config", "<configuration />\n".to_string()),
        ];
        let base = history::commit_files(
            &repo,
            "release/6.0",
            &files,
            "Initial .NET 6 servicing tree",
            &dev,
        )
        .unwrap();
        tag(&repo, "v6.0.36", base);
        let (branding, _) = release_8_0(&repo, base);
        tag(&repo, "v8.0.10", branding);
        let mut fix = |name: &'static str, path: &str, from: &str, to: &str, msg: &str| {
            let content = edit(&file(&repo, "release/8.0", path), from, to);
            ids.insert(
                name,
                history::commit(&repo, "release/8.0", &[(path, Some(&content))], msg, &sec)
                    .unwrap(),
            );
        };
        fix(
            "conflict",
            JSON_READER,
            "Step20() => 20 + 0;",
            "Step20() => CheckDepth(20 + 0);",
            "Limit Utf8JsonReader depth",
        );
        fix(
            "clean",
            SIGNED_XML,
            "Step5() => 5;",
            "Step5() => CheckReference(5);",
            "Validate references in SignedXml\n\nReject references to external documents.",
        );
        fix(
            "remapped",
            SMTP_CONNECTION_8,
            "Step7() => 7;",
            "Step7() => RequireTls(7);",
            "Require TLS before AUTH in SmtpConnection",
        );
        tag(&repo, "v8.0.11", ids["remapped"]);

        let fork = root.join("fork");
        git(
            &root,
            &[
                "clone",
                "-q",
                "--no-local",
                "--single-branch",
                "--branch",
                "release/6.0",
                upstream.to_str().unwrap(),
                "fork",
            ],
        );
        // The fork knows upstream's release tags (a full clone of dotnet/runtime has them).
        git(
            &fork,
            &[
                "fetch",
                "-q",
                upstream.to_str().unwrap(),
                "refs/tags/*:refs/tags/*",
            ],
        );
        git(&fork, &["checkout", "-q", "-b", BRANCH, "v6.0.36"]);
        let fork_repo = Repository::open(&fork).unwrap();
        history::commit(
            &fork_repo,
            BRANCH,
            &[(
                "NuGet.config",
                Some("<configuration>\n  <add key=\"els\" />\n</configuration>\n"),
            )],
            "Use the fork's own package feed",
            &dev,
        )
        .unwrap();
        commit_binary(&fork_repo);
        history::checkout(&fork_repo, BRANCH).unwrap();
        std::fs::write(
            root.join("els.toml"),
            format!(
                "[patches]\ndir = \"queue\"\n\n[[repo]]\nname = \"runtime\"\npath = \"fork\"\nbranch = \"{BRANCH}\"\nbase = \"v6.0.36\"\nupstream = \"https://github.com/dotnet/runtime\"\n[[repo.remap]]\nfrom = \"{SMTP_CONNECTION_8}\"\nto = \"{SMTP_CONNECTION}\"\n"
            ),
        )
        .unwrap();
        let w = World {
            _dir: dir,
            root,
            upstream,
            fork,
            ids,
        };
        w.backport_all();
        w
    }

    fn config(&self) -> Config {
        Config::load(&self.root.join("els.toml")).unwrap()
    }

    fn request(&self, fix: &str, cve: &str) -> Request {
        Request {
            fork: self.fork.clone(),
            onto: BRANCH.into(),
            repo_name: Some("runtime".into()),
            upstream: Some(self.upstream.display().to_string()),
            upstream_branches: vec!["release/8.0".into()],
            remaps: vec![Remap {
                from: SMTP_CONNECTION_8.into(),
                to: SMTP_CONNECTION.into(),
            }],
            fixes: vec![self.ids[fix].to_string().parse::<FixSpec>().unwrap()],
            cve: Some(cve.into()),
            quiet: true,
            ..Request::default()
        }
    }

    /// The conflict first (resolved by hand), then the clean and the remapped fix.
    fn backport_all(&self) {
        let report = backport::backport(&self.request("conflict", "CVE-2025-0003")).unwrap();
        assert_eq!(report.fixes[0].status, FixStatus::Conflict);
        let resolved = edit(
            &file(&self.fork_repo(), BRANCH, JSON_READER),
            "Step20() => 20;",
            "Step20() => CheckDepth(20);",
        );
        std::fs::write(self.fork.join(JSON_READER), resolved).unwrap();
        git(&self.fork, &["add", JSON_READER]);
        let report = backport::continue_backport(&self.fork, true).unwrap();
        assert_eq!(report.fixes[0].status, FixStatus::Applied);
        for (fix, cve) in [("clean", "CVE-2025-0001"), ("remapped", "CVE-2025-0002")] {
            let report = backport::backport(&self.request(fix, cve)).unwrap();
            assert_eq!(report.fixes[0].status, FixStatus::Applied, "{fix}");
        }
        assert_eq!(status(&self.fork), "");
    }

    fn fork_repo(&self) -> Repository {
        Repository::open(&self.fork).unwrap()
    }

    fn tree_of(&self, dir: &Path, rev: &str) -> String {
        stdout(&git(dir, &["rev-parse", &format!("{rev}^{{tree}}")]))
            .trim()
            .to_string()
    }

    fn queue(&self) -> PathBuf {
        self.root.join("queue/runtime")
    }

    fn series(&self) -> Vec<String> {
        std::fs::read_to_string(self.queue().join("series"))
            .unwrap()
            .lines()
            .filter(|l| !l.starts_with('#'))
            .map(str::to_string)
            .collect()
    }

    fn patch(&self, n: usize) -> (PathBuf, String) {
        let rel = &self.series()[n - 1];
        let path = self.queue().join(rel);
        let text = std::fs::read_to_string(&path).unwrap();
        (path, text)
    }

    /// A clone of upstream's release/6.0 (with the base tag) in which to rebuild the fork.
    fn fresh_clone(&self, name: &str) -> PathBuf {
        git(
            &self.root,
            &[
                "clone",
                "-q",
                "--no-local",
                "--single-branch",
                "--branch",
                "release/6.0",
                self.upstream.to_str().unwrap(),
                name,
            ],
        );
        self.root.join(name)
    }

    fn xtask(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_xtask"));
        cmd.args(args)
            .current_dir(&self.root)
            .env("NO_COLOR", "1")
            .env_remove("ELS_CONFIG")
            .env_remove("ELS_FAILPOINT")
            .env_remove("GITHUB_ACTIONS")
            .env_remove("GITHUB_STEP_SUMMARY");
        for (k, v) in env {
            cmd.env(k, v);
        }
        let out = cmd.output().unwrap();
        support::check_json_output(args, &out);
        out
    }
}

fn tag(repo: &Repository, name: &str, id: Oid) {
    repo.tag_lightweight(name, &repo.find_object(id, None).unwrap(), false)
        .unwrap();
}

/// A fork-only commit adding a binary file and an executable script.
fn commit_binary(repo: &Repository) {
    let key: Vec<u8> = (0..=255u8).chain([0, 0, 255, 1]).collect();
    let parent = repo
        .find_commit(repo.refname_to_id(&format!("refs/heads/{BRANCH}")).unwrap())
        .unwrap();
    let mut update = git2::build::TreeUpdateBuilder::new();
    update.upsert(
        "eng/els.snk",
        repo.blob(&key).unwrap(),
        git2::FileMode::Blob,
    );
    update.upsert(
        "eng/els-build.sh",
        repo.blob(b"#!/bin/sh\nexec ./build.sh \"$@\"\n").unwrap(),
        git2::FileMode::BlobExecutable,
    );
    // The feed config moves next to the key: a deletion and an addition.
    let feed = parent
        .tree()
        .unwrap()
        .get_path(Path::new("NuGet.config"))
        .unwrap()
        .id();
    update.remove("NuGet.config");
    update.upsert("eng/NuGet.config", feed, git2::FileMode::Blob);
    let tree = repo
        .find_tree(
            update
                .create_updated(repo, &parent.tree().unwrap())
                .unwrap(),
        )
        .unwrap();
    let sig = history::signature("ELS Maintainer", "els@example.com", 1_710_000_000);
    repo.commit(
        Some(&format!("refs/heads/{BRANCH}")),
        &sig,
        &sig,
        "Add the fork's signing key\n\nThe key signs the fork's assemblies; the feed config moves next to it.\n",
        &tree,
        &[&parent],
    )
    .unwrap();
}

fn git(dir: &Path, args: &[&str]) -> Output {
    let out = git_env(dir, args, &[]);
    assert!(
        out.status.success(),
        "git {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn git_env(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    Command::new("git")
        .args(["-c", "user.name=Tester", "-c", "user.email=t@example.com"])
        .args(args)
        .envs(env.iter().copied())
        .current_dir(dir)
        .output()
        .unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn code(o: &Output) -> i32 {
    o.status.code().unwrap_or(-1)
}

fn json(o: &Output) -> Value {
    serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}\nstderr: {}", stdout(o), stderr(o)))
}

fn status(dir: &Path) -> String {
    stdout(&git(dir, &["status", "--porcelain"]))
}

/// Every file under `dir` with its bytes.
fn snapshot(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    walkdir::WalkDir::new(dir)
        .into_iter()
        .map(|e| e.unwrap())
        .filter(|e| e.file_type().is_file())
        .map(|e| {
            (
                e.path().strip_prefix(dir).unwrap().display().to_string(),
                std::fs::read(e.path()).unwrap(),
            )
        })
        .collect()
}

fn header(text: &str, name: &str) -> Option<String> {
    let head = &text[..text.find("\n\n").unwrap()];
    head.lines()
        .find_map(|l| l.strip_prefix(&format!("{name}: ")))
        .map(str::to_string)
}

#[test]
fn export_groups_by_cve_and_records_provenance() {
    let w = World::new();
    let out = w.xtask(&["patches", "export", "--json"], &[]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let report = json(&out);
    assert_eq!(report["repos"][0]["written"], true);
    assert_eq!(
        w.series(),
        [
            "misc/0001-Use-the-fork-s-own-package-feed.patch",
            "misc/0002-Add-the-fork-s-signing-key.patch",
            "CVE-2025-0003/0003-Limit-Utf8JsonReader-depth.patch",
            "CVE-2025-0001/0004-Validate-references-in-SignedXml.patch",
            "CVE-2025-0002/0005-Require-TLS-before-AUTH-in-SmtpConnection.patch",
        ]
    );
    let (_, vendor) = w.patch(1);
    assert!(vendor.starts_with("From 0000000000000000000000000000000000000000 Mon Sep 17 00:00:00 2001\nFrom: Dev One <dev1@example.com>\nDate: Sun, 13 Sep 2020 12:26:40 +0000\nSubject: [PATCH] Use the fork's own package feed\nDescription: Use the fork's own package feed\nOrigin: vendor\n"), "{vendor}");
    assert_eq!(header(&vendor, "CVE"), None);
    let (_, binary) = w.patch(2);
    assert!(binary.contains("GIT binary patch"), "{binary}");
    assert!(binary.contains("new file mode 100755"), "{binary}");
    assert!(binary.contains("deleted file mode 100644"), "{binary}");

    let (_, conflict) = w.patch(3);
    assert_eq!(
        header(&conflict, "Origin").unwrap(),
        format!(
            "backport, https://github.com/dotnet/runtime/commit/{}",
            w.ids["conflict"]
        )
    );
    assert!(conflict.contains(&format!("Backport-Note: changed to apply on {BRANCH}; the change differs from upstream's in:\n {JSON_READER}\n")), "{conflict}");
    assert_eq!(header(&conflict, "CVE").unwrap(), "CVE-2025-0003");

    let (_, clean) = w.patch(4);
    assert_eq!(
        header(&clean, "Origin").unwrap(),
        format!(
            "upstream, https://github.com/dotnet/runtime/commit/{}",
            w.ids["clean"]
        )
    );
    assert_eq!(
        header(&clean, "Bug").unwrap(),
        "https://www.cve.org/CVERecord?id=CVE-2025-0001"
    );
    assert_eq!(header(&clean, "CVE").unwrap(), "CVE-2025-0001");
    assert_eq!(header(&clean, "Applied-Upstream").unwrap(), "8.0.11");
    assert_eq!(header(&clean, "Backport-Note"), None);
    assert!(clean.contains(&format!("\nReject references to external documents.\n\n(cherry picked from commit {})\nCVE: CVE-2025-0001\n---\n", w.ids["clean"])), "{clean}");

    // Remapped by the config rule: the change is exactly upstream's, in the fork's path.
    let (_, remapped) = w.patch(5);
    assert_eq!(
        header(&remapped, "Origin").unwrap(),
        format!(
            "upstream, https://github.com/dotnet/runtime/commit/{}",
            w.ids["remapped"]
        )
    );
    assert!(remapped.contains(&format!(
        "diff --git a/{SMTP_CONNECTION} b/{SMTP_CONNECTION}"
    )));

    let verify = w.xtask(&["patches", "verify"], &[]);
    assert_eq!(code(&verify), 0, "{}{}", stdout(&verify), stderr(&verify));
    assert!(
        stdout(&verify).contains(&format!("= branch `{BRANCH}`")),
        "{}",
        stdout(&verify)
    );
}

#[test]
fn apply_in_a_fresh_clone_rebuilds_the_fork_tree_reproducibly() {
    let w = World::new();
    patches::export_repo(&w.config(), "runtime").unwrap();
    let fresh = w.fresh_clone("fresh");
    let out = w.xtask(
        &[
            "patches", "apply", "--target", "fresh", "--onto", "rebuilt", "--json",
        ],
        &[],
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let report = json(&out);
    assert_eq!(report["patches"].as_array().unwrap().len(), 5);
    let fork_tree = w.tree_of(&w.fork, BRANCH);
    assert_eq!(w.tree_of(&fresh, "rebuilt"), fork_tree);
    assert_eq!(report["tree"], fork_tree.as_str());
    // Same authors, dates and messages as the fork; nothing else in the clone changed.
    let log = |dir: &Path, rev: &str| {
        stdout(&git(
            dir,
            &[
                "log",
                "--format=%an <%ae> %at%n%s%n%b--",
                &format!("v6.0.36..{rev}"),
            ],
        ))
    };
    assert_eq!(log(&fresh, "rebuilt"), log(&w.fork, BRANCH));
    assert_eq!(status(&fresh), "");
    assert_eq!(
        stdout(&git(&fresh, &["rev-parse", "--abbrev-ref", "HEAD"])).trim(),
        "release/6.0"
    );
    // A second rebuild gives the very same commits.
    let again = w.xtask(
        &[
            "patches",
            "apply",
            "--target",
            "fresh",
            "--onto",
            "rebuilt-2",
            "--json",
        ],
        &[],
    );
    assert_eq!(code(&again), 0, "{}", stderr(&again));
    assert_eq!(json(&again)["tip"], report["tip"]);

    // Never overwrite a branch without --force; refuse a dirty target; change nothing.
    let refs = stdout(&git(&fresh, &["for-each-ref"]));
    let exists = w.xtask(
        &["patches", "apply", "--target", "fresh", "--onto", "rebuilt"],
        &[],
    );
    assert_eq!(code(&exists), 2);
    assert!(
        stderr(&exists).contains("branch `rebuilt` already exists"),
        "{}",
        stderr(&exists)
    );
    std::fs::write(fresh.join("scratch.txt"), "work in progress").unwrap();
    let dirty = w.xtask(
        &[
            "patches",
            "apply",
            "--target",
            "fresh",
            "--onto",
            "rebuilt-3",
        ],
        &[],
    );
    assert_eq!(code(&dirty), 2);
    assert!(
        stderr(&dirty).contains("uncommitted changes"),
        "{}",
        stderr(&dirty)
    );
    assert_eq!(stdout(&git(&fresh, &["for-each-ref"])), refs);
    std::fs::remove_file(fresh.join("scratch.txt")).unwrap();
    let forced = w.xtask(
        &[
            "patches", "apply", "--target", "fresh", "--onto", "rebuilt", "--force",
        ],
        &[],
    );
    assert_eq!(code(&forced), 0, "{}", stderr(&forced));
}

#[test]
fn git_am_accepts_the_queue_and_gives_the_same_tree() {
    let w = World::new();
    patches::export_repo(&w.config(), "runtime").unwrap();
    let fresh = w.fresh_clone("am");
    git(&fresh, &["checkout", "-q", "-b", "am", "v6.0.36"]);
    let files: Vec<String> = w
        .series()
        .iter()
        .map(|p| w.queue().join(p).display().to_string())
        .collect();
    let mut args = vec!["am", "-q"];
    args.extend(files.iter().map(String::as_str));
    git(&fresh, &args);
    assert_eq!(w.tree_of(&fresh, "HEAD"), w.tree_of(&w.fork, BRANCH));
    let subjects = |dir: &Path, rev: &str| {
        stdout(&git(
            dir,
            &["log", "--format=%s%n%b", &format!("v6.0.36..{rev}")],
        ))
    };
    assert_eq!(subjects(&fresh, "HEAD"), subjects(&w.fork, BRANCH));
}

#[test]
fn export_is_deterministic_and_a_rebase_changes_no_file() {
    let w = World::new();
    let config = w.config();
    patches::export_repo(&config, "runtime").unwrap();
    let first = snapshot(&w.queue());
    let second = patches::export_repo(&config, "runtime").unwrap();
    assert!(!second.written && !second.changed());
    assert_eq!(snapshot(&w.queue()), first);
    std::fs::remove_dir_all(w.root.join("queue")).unwrap();
    patches::export_repo(&config, "runtime").unwrap();
    assert_eq!(
        snapshot(&w.queue()),
        first,
        "a fresh export gives the same bytes"
    );

    // Rebasing rewrites every commit (new committer dates and ids) but no change.
    let before = w
        .fork_repo()
        .refname_to_id(&format!("refs/heads/{BRANCH}"))
        .unwrap();
    let later = [("GIT_COMMITTER_DATE", "2030-01-01T00:00:00Z")];
    let out = git_env(
        &w.fork,
        &["rebase", "-q", "--force-rebase", "v6.0.36"],
        &later,
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_ne!(
        w.fork_repo()
            .refname_to_id(&format!("refs/heads/{BRANCH}"))
            .unwrap(),
        before
    );
    let out = w.xtask(&["patches", "refresh", "--json"], &[]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let report = json(&out);
    assert!(
        report["repos"][0]["patches"]
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p["change"] == "unchanged"),
        "{report}"
    );
    assert_eq!(snapshot(&w.queue()), first);
}

#[test]
fn a_hand_edited_pick_becomes_a_backport_on_refresh() {
    let w = World::new();
    patches::export_repo(&w.config(), "runtime").unwrap();
    let before = snapshot(&w.queue());
    // The maintainer amends the last pick by hand.
    let path = w.fork.join(SMTP_CONNECTION);
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(
        &path,
        edit(&text, "Step9() => 9;", "Step9() => RequireTls(9);"),
    )
    .unwrap();
    git(&w.fork, &["commit", "-q", "-a", "--amend", "--no-edit"]);

    let dry = w.xtask(&["patches", "refresh", "--dry-run"], &[]);
    assert_eq!(code(&dry), 1, "the queue is out of date: {}", stdout(&dry));
    assert!(
        stdout(&dry)
            .contains("updated CVE-2025-0002/0005-Require-TLS-before-AUTH-in-SmtpConnection.patch"),
        "{}",
        stdout(&dry)
    );
    assert_eq!(snapshot(&w.queue()), before, "a dry run writes nothing");

    let out = w.xtask(&["patches", "refresh", "--json"], &[]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let report = json(&out);
    let changes: Vec<&str> = report["repos"][0]["patches"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["change"].as_str().unwrap())
        .collect();
    assert_eq!(
        changes,
        [
            "unchanged",
            "unchanged",
            "unchanged",
            "unchanged",
            "updated"
        ]
    );
    let (_, edited) = w.patch(5);
    assert_eq!(
        header(&edited, "Origin").unwrap(),
        format!(
            "backport, https://github.com/dotnet/runtime/commit/{}",
            w.ids["remapped"]
        )
    );
    assert!(edited.contains(&format!("Backport-Note: changed to apply on {BRANCH}; the change differs from upstream's in:\n {SMTP_CONNECTION}\n")), "{edited}");
    let after = snapshot(&w.queue());
    for (path, bytes) in &before {
        if !path.contains("0005") {
            assert_eq!(after.get(path), Some(bytes), "{path} must not change");
        }
    }
    let verify = w.xtask(&["patches", "verify"], &[]);
    assert_eq!(code(&verify), 0, "{}", stdout(&verify));
}

#[test]
fn an_interrupted_export_leaves_the_old_queue_intact() {
    let w = World::new();
    patches::export_repo(&w.config(), "runtime").unwrap();
    let old = snapshot(&w.queue());
    git(
        &w.fork,
        &[
            "commit",
            "-q",
            "--allow-empty",
            "-m",
            "Record the ELS release process",
        ],
    );
    for point in ["patches-before-swap", "patches-mid-swap"] {
        let out = w.xtask(&["patches", "export"], &[("ELS_FAILPOINT", point)]);
        assert!(
            !out.status.success(),
            "{point}: the failpoint must stop the export"
        );
        assert!(
            stderr(&out).contains(&format!("failpoint {point}")),
            "{}",
            stderr(&out)
        );
        let readable = if w.queue().is_dir() {
            w.queue()
        } else {
            w.root.join("queue/.runtime.old")
        };
        assert_eq!(
            snapshot(&readable),
            old,
            "{point}: the old queue is complete"
        );
        let verify = w.xtask(&["patches", "verify", "--no-compare"], &[]);
        assert_eq!(code(&verify), 0, "{point}: {}", stdout(&verify));
    }
    let out = w.xtask(&["patches", "export"], &[]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let names: Vec<String> = std::fs::read_dir(w.root.join("queue"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["runtime"]);
    assert_eq!(w.series().len(), 6);
    assert_eq!(code(&w.xtask(&["patches", "verify"], &[])), 0);
}

/// Applies `mutate` to the exported queue, runs verify, restores the queue and the fork.
fn defect(w: &World, mutate: impl FnOnce(&World)) -> Vec<(String, usize, String)> {
    let queue = snapshot(&w.queue());
    let tip = w
        .fork_repo()
        .refname_to_id(&format!("refs/heads/{BRANCH}"))
        .unwrap();
    mutate(w);
    let out = w.xtask(
        &["patches", "verify", "--json"],
        &[("GITHUB_ACTIONS", "true")],
    );
    std::fs::remove_dir_all(w.queue()).unwrap();
    for (rel, bytes) in &queue {
        let p = w.queue().join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, bytes).unwrap();
    }
    git(&w.fork, &["reset", "-q", "--hard", &tip.to_string()]);
    assert_eq!(
        code(&out),
        1,
        "verify must fail: {}{}",
        stdout(&out),
        stderr(&out)
    );
    // In Actions the annotations go to stderr; stdout holds exactly the JSON report.
    assert!(
        stderr(&out).contains("::error file=queue/runtime/"),
        "{}",
        stderr(&out)
    );
    let text = stdout(&out);
    let report: Value = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("stdout is not one JSON document ({e}): {text}"));
    report["repos"][0]["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["file"].as_str().unwrap().to_string(),
                p["line"].as_u64().unwrap() as usize,
                p["message"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn line_of(text: &str, needle: &str) -> usize {
    text[..text
        .find(needle)
        .unwrap_or_else(|| panic!("`{needle}` not in {text}"))]
        .matches('\n')
        .count()
        + 1
}

fn has(problems: &[(String, usize, String)], file: &str, line: usize, message: &str) -> bool {
    problems
        .iter()
        .any(|(f, l, m)| f.ends_with(file) && *l == line && m.contains(message))
}

#[test]
fn verify_requires_an_api_change_line_for_reference_sources() {
    let w = World::new();
    patches::export_repo(&w.config(), "runtime").unwrap();
    let (clean_path, clean) = w.patch(4);
    let clean_rel = w.series()[3].clone();
    let diff_line = clean
        .lines()
        .find(|l| l.starts_with("diff --git a/"))
        .unwrap();
    let touched = diff_line["diff --git a/".len()..]
        .split(" b/")
        .next()
        .unwrap()
        .to_string();
    let reference = "src/libraries/System.Net.Mail/ref/System.Net.Mail.cs";
    let on_ref = clean.replace(&touched, reference);
    let at = line_of(&on_ref, "\ndiff --git") + 1;
    // Verify with the given patch text, then put the clean patch back.
    let problems = |text: &str| -> Vec<String> {
        std::fs::write(&clean_path, text).unwrap();
        let out = w.xtask(&["patches", "verify", "--json"], &[]);
        std::fs::write(&clean_path, &clean).unwrap();
        assert_eq!(code(&out), 1, "{}{}", stdout(&out), stderr(&out));
        let report: Value = serde_json::from_str(&stdout(&out)).unwrap();
        report["repos"][0]["problems"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|p| p["file"].as_str().unwrap().ends_with(&clean_rel))
            .map(|p| format!("{}: {}", p["line"], p["message"].as_str().unwrap()))
            .collect()
    };
    let p = problems(&on_ref);
    let want = format!("{at}: changes the reference source `{reference}` (public API) but the header has no `API-Change:` field");
    assert!(p.iter().any(|m| m.starts_with(&want)), "{p:?}");
    let justified = on_ref.replacen(
        "\nOrigin:",
        "\nAPI-Change: the fix needs a new overload (accepted in apicompat.toml)\nOrigin:",
        1,
    );
    let p = problems(&justified);
    assert!(!p.iter().any(|m| m.contains("API-Change")), "{p:?}");
}

#[test]
fn verify_names_file_and_line_of_each_defect() {
    let w = World::new();
    patches::export_repo(&w.config(), "runtime").unwrap();
    assert_eq!(code(&w.xtask(&["patches", "verify"], &[])), 0);
    let (clean_path, clean) = w.patch(4);
    let clean_rel = w.series()[3].clone();
    let rewrite = |text: String| {
        let p = clean_path.clone();
        move |_: &World| std::fs::write(p, text).unwrap()
    };

    let hunk = line_of(&clean, "\n@@ ") + 1;
    let cut = clean[..clean.find("\n@@ ").unwrap() + 1].to_string()
        + &clean[clean.find("\n@@ ").unwrap() + 1..]
            .lines()
            .take(3)
            .collect::<Vec<_>>()
            .join("\n")
        + "\n";
    let p = defect(&w, rewrite(cut));
    assert!(
        has(
            &p,
            &clean_rel,
            hunk,
            &format!("the hunk at line {hunk} is truncated")
        ),
        "{p:?}"
    );

    let p = defect(
        &w,
        rewrite(clean.replacen("Description: ", "Description ", 1)),
    );
    assert!(
        has(&p, &clean_rel, 5, "bad header line `Description Validate"),
        "{p:?}"
    );

    let origin = line_of(&clean, "\nOrigin:") + 1;
    let p = defect(
        &w,
        rewrite(clean.replacen(
            &format!(
                "Origin: upstream, https://github.com/dotnet/runtime/commit/{}\n",
                w.ids["clean"]
            ),
            "",
            1,
        )),
    );
    assert!(has(&p, &clean_rel, 1, "no `Origin:` field"), "{p:?}");

    let p = defect(
        &w,
        rewrite(clean.replacen("\nOrigin: upstream,", "\nOrigin: backport,", 1)),
    );
    assert!(
        has(&p, &clean_rel, origin, "add a `Backport-Note:` field"),
        "{p:?}"
    );

    let p = defect(
        &w,
        rewrite(clean.replacen("CVE: CVE-2025-0001\nApplied", "Applied", 1)),
    );
    assert!(
        has(
            &p,
            &clean_rel,
            1,
            "is under CVE-2025-0001/ but has no `CVE:` field"
        ),
        "{p:?}"
    );

    let series_len = std::fs::read_to_string(w.queue().join("series"))
        .unwrap()
        .lines()
        .count();
    let p = defect(&w, |w| {
        let s = std::fs::read_to_string(w.queue().join("series")).unwrap();
        std::fs::write(
            w.queue().join("series"),
            s + "CVE-2025-0009/0006-Gone.patch\n",
        )
        .unwrap();
    });
    assert!(
        has(
            &p,
            "series",
            series_len + 1,
            "lists `CVE-2025-0009/0006-Gone.patch` but there is no such file"
        ),
        "{p:?}"
    );

    let p = defect(&w, |w| {
        std::fs::write(w.queue().join("misc/0099-Stray.patch"), "stray").unwrap()
    });
    assert!(
        has(&p, "misc/0099-Stray.patch", 1, "is not listed in series"),
        "{p:?}"
    );

    // A context line that is not in the base: the patch does not apply (no fuzz).
    let diff_line = line_of(&clean, "\ndiff --git") + 1;
    let at = clean.find("\n@@ ").unwrap();
    let broken = clean[..at].to_string()
        + &clean[at..].replacen(
            "// SignedXml statement 4\n",
            "// SignedXml statement four\n",
            1,
        );
    let p = defect(&w, rewrite(broken));
    assert!(
        has(
            &p,
            &clean_rel,
            diff_line,
            "does not apply onto v6.0.36 + the 3 patch(es) before it"
        ),
        "{p:?}"
    );

    for (escape, why) in [
        ("../../evil.cs", "climbs out of the repository"),
        ("/etc/evil.cs", "is absolute"),
        (".git/hooks/post-checkout", "writes into `.git`"),
    ] {
        let p = defect(&w, rewrite(clean.replace(SIGNED_XML, escape)));
        assert!(has(&p, &clean_rel, diff_line, why), "{escape}: {p:?}");
    }

    let p = defect(&w, |w| {
        std::fs::write(w.queue().join("CVE-2025-0001/0006-Again.patch"), &clean).unwrap();
        let s = std::fs::read_to_string(w.queue().join("series")).unwrap();
        std::fs::write(
            w.queue().join("series"),
            s + "CVE-2025-0001/0006-Again.patch\n",
        )
        .unwrap();
    });
    assert!(
        has(
            &p,
            "CVE-2025-0001/0006-Again.patch",
            origin,
            &format!(
                "takes upstream commit {} again (already in `{clean_rel}`)",
                w.ids["clean"]
            )
        ),
        "{p:?}"
    );

    let p = defect(&w, |w| {
        history::commit(
            &w.fork_repo(),
            BRANCH,
            &[("NuGet.config", Some("<configuration />\n"))],
            "Unexported change",
            &history::signature("A", "a@example.com", 1_720_000_000),
        )
        .unwrap();
    });
    assert!(
        has(&p, "series", 1, &format!("but branch `{BRANCH}` has tree")),
        "{p:?}"
    );
    assert!(
        p.iter()
            .any(|(_, _, m)| m.contains("they differ in NuGet.config")),
        "{p:?}"
    );
}

#[test]
fn apply_refuses_escaping_and_non_applying_patches_and_changes_nothing() {
    let w = World::new();
    patches::export_repo(&w.config(), "runtime").unwrap();
    let fresh = w.fresh_clone("fresh");
    let refs = stdout(&git(&fresh, &["for-each-ref"]));
    let (path, clean) = w.patch(4);
    let rel = w.series()[3].clone();
    let diff_line = line_of(&clean, "\ndiff --git") + 1;

    std::fs::write(&path, clean.replace(SIGNED_XML, "../outside.cs")).unwrap();
    let out = w.xtask(&["patches", "apply", "--target", "fresh"], &[]);
    assert_eq!(code(&out), 2);
    assert!(
        stderr(&out).contains(&format!(
            "{rel}:{diff_line}: the path `../outside.cs` climbs out of the repository"
        )),
        "{}",
        stderr(&out)
    );
    assert!(!w.root.join("outside.cs").exists() && !fresh.join("../outside.cs").exists());

    let at = clean.find("\n@@ ").unwrap();
    std::fs::write(
        &path,
        clean[..at].to_string()
            + &clean[at..].replacen(
                "// SignedXml statement 4\n",
                "// SignedXml statement four\n",
                1,
            ),
    )
    .unwrap();
    let out = w.xtask(&["patches", "apply", "--target", "fresh"], &[]);
    assert_eq!(code(&out), 2);
    assert!(
        stderr(&out).contains(&format!(
            "{rel}:{diff_line}: the patch does not apply onto v6.0.36 + the 3 patch(es) before it"
        )),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        stdout(&git(&fresh, &["for-each-ref"])),
        refs,
        "no branch is created"
    );
}

#[test]
fn round_trip_stage_rebuilds_the_fork_branch() {
    let w = World::new();
    let rt = patches::round_trip(&w.config(), "runtime").unwrap();
    assert!(rt.verify.ok(), "{:?}", rt.verify.problems);
    assert!(rt.identical());
    assert!(
        rt.to_string()
            .contains(&format!("tree {} = the fork branch's", rt.fork_tree)),
        "{rt}"
    );
    assert_eq!(rt.apply.onto, format!("{BRANCH}-rebuilt"));
    assert_eq!(
        w.tree_of(&w.fork, &format!("{BRANCH}-rebuilt")),
        w.tree_of(&w.fork, BRANCH)
    );
}
