//! The backport engine on real repositories shaped like dotnet/runtime: an upstream with
//! release/6.0 and a diverged release/8.0 carrying fixes, and a fork cloned from release/6.0 only
//! (so fixes must be fetched). Every outcome is checked through the real binary, and clean picks
//! are compared with what `git cherry-pick` commits on the same input.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use git2::{Oid, Repository};
use xtask::fixtures::files::{csharp, edit, versions_props};
use xtask::fixtures::history;

use crate::support;
use support::*;

/// An upstream repository with release/6.0 and release/8.0, and a fork cloned from release/6.0.
struct World {
    _dir: tempfile::TempDir,
    root: PathBuf,
    upstream: PathBuf,
    fork: PathBuf,
    /// Named upstream commits (fixes and their prerequisites).
    ids: HashMap<&'static str, Oid>,
}

impl World {
    fn new() -> World {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().to_path_buf();
        let upstream = root.join("upstream");
        let repo = history::init(&upstream).unwrap();
        let dev = history::signature("Dev One", "dev1@example.com", 1_600_000_000);
        let sec = history::signature("Security Dev", "sec@example.com", 1_700_000_000);
        let mut ids = HashMap::new();

        let base_files = [
            (VERSIONS, versions_props(6, 0, 36)),
            ("NuGet.config", "<configuration>\n  <packageSources>\n    <add key=\"dotnet-public\" value=\"https://pkgs.dev.azure.com/dnceng/public/_packaging/dotnet-public/nuget/v3/index.json\" />\n  </packageSources>\n</configuration>\n".to_string()),
            (SMTP_CLIENT, csharp("System.Net.Mail", "SmtpClient", 40)),
            (SMTP_CONNECTION, csharp("System.Net.Mail", "SmtpConnection", 40)),
            (JSON_READER, csharp("System.Text.Json", "Utf8JsonReader", 40)),
            (JSON_TESTS, csharp("System.Text.Json.Tests", "Utf8JsonReaderTests", 10)),
            (SIGNED_XML, csharp("System.Security.Cryptography.Xml", "SignedXml", 40)),
        ];
        let base = history::commit_files(
            &repo,
            "release/6.0",
            &base_files,
            "Initial .NET 6 servicing tree",
            &dev,
        )
        .unwrap();
        repo.tag_lightweight("v6.0.36", &repo.find_object(base, None).unwrap(), false)
            .unwrap();
        let (_, prereq) = release_8_0(&repo, base);
        ids.insert("prereq", prereq);
        let f = |p: &str| file(&repo, "release/8.0", p);

        let fix = |ids: &mut HashMap<&'static str, Oid>,
                   name: &'static str,
                   changes: &[(&str, Option<&str>)],
                   msg: &str| {
            ids.insert(
                name,
                history::commit(&repo, "release/8.0", changes, msg, &sec).unwrap(),
            );
        };
        fix(
            &mut ids,
            "clean",
            &[(
                SIGNED_XML,
                Some(&edit(
                    &f(SIGNED_XML),
                    "Step5() => 5;",
                    "Step5() => CheckReference(5);",
                )),
            )],
            "Validate references in SignedXml\n\nReject references to external documents.",
        );
        fix(
            &mut ids,
            "renamed",
            &[(
                SMTP_CONNECTION_8,
                Some(&edit(
                    &f(SMTP_CONNECTION_8),
                    "Step7() => 7;",
                    "Step7() => RequireTls(7);",
                )),
            )],
            "Require TLS before AUTH in SmtpConnection",
        );
        fix(
            &mut ids,
            "code-conflict",
            &[(
                JSON_READER,
                Some(&edit(
                    &f(JSON_READER),
                    "Step20() => 20 + 0;",
                    "Step20() => CheckDepth(20 + 0);",
                )),
            )],
            "Limit Utf8JsonReader depth",
        );
        let mut v = edit(
            &f(VERSIONS),
            "<ProductVersion>8.0.10</ProductVersion>",
            "<ProductVersion>8.0.11</ProductVersion>",
        );
        v = edit(
            &v,
            "<PatchVersion>10</PatchVersion>",
            "<PatchVersion>11</PatchVersion>",
        );
        fix(
            &mut ids,
            "versions-conflict",
            &[
                (
                    SMTP_CLIENT,
                    Some(&edit(
                        &f(SMTP_CLIENT),
                        "Step3() => 3;",
                        "Step3() => Sanitize(3);",
                    )),
                ),
                (VERSIONS, Some(&v)),
            ],
            "Sanitize SMTP envelope addresses",
        );
        fix(
            &mut ids,
            "by-trailer",
            &[(
                SIGNED_XML,
                Some(&edit(
                    &f(SIGNED_XML),
                    "Step25() => 25;",
                    "Step25() => Canonical(25);",
                )),
            )],
            "Canonicalize before digest",
        );
        fix(
            &mut ids,
            "by-patch-id",
            &[(
                SIGNED_XML,
                Some(&edit(
                    &f(SIGNED_XML),
                    "Step30() => 30;",
                    "Step30() => Limit(30);",
                )),
            )],
            "Limit transform chain length",
        );
        fix(
            &mut ids,
            "empty",
            &[(
                SIGNED_XML,
                Some(&edit(
                    &f(SIGNED_XML),
                    "Step35() => 35;",
                    "Step35() => Strict(35);",
                )),
            )],
            "Strict key info parsing",
        );
        fix(
            &mut ids,
            "multi-1",
            &[(
                SMTP_CLIENT,
                Some(&edit(
                    &f(SMTP_CLIENT),
                    "Step15() => 15;",
                    "Step15() => Guard(15);\n        private static int Guard(int x) => x;",
                )),
            )],
            "Add Guard helper",
        );
        fix(&mut ids, "multi-2", &[(SMTP_CLIENT, Some(&edit(&f(SMTP_CLIENT), "private static int Guard(int x) => x;", "private static int Guard(int x) => x < 0 ? throw new System.ArgumentException() : x;")))], "Guard rejects negative values");
        fix(
            &mut ids,
            "test-only",
            &[(
                JSON_TESTS,
                Some(&edit(
                    &f(JSON_TESTS),
                    "Step2() => 2;",
                    "Step2() => 2; // depth test",
                )),
            )],
            "Test reader depth",
        );

        // "Merging internal commits for release/8.0": a merge of an internal branch.
        let r8 = repo
            .find_commit(repo.refname_to_id("refs/heads/release/8.0").unwrap())
            .unwrap();
        history::branch(&repo, "internal/release/8.0", r8.id()).unwrap();
        let internal = history::commit(
            &repo,
            "internal/release/8.0",
            &[(
                SMTP_CLIENT,
                Some(&edit(
                    &f(SMTP_CLIENT),
                    "Step12() => 12;",
                    "Step12() => Encode(12);",
                )),
            )],
            "Merged PR 61885: [release/8.0] Encode SMTP headers",
            &sec,
        )
        .unwrap();
        history::commit(
            &repo,
            "release/8.0",
            &[(
                JSON_READER,
                Some(&edit(
                    &f(JSON_READER),
                    "Step38() => 38;",
                    "Step38() => 38 + 0;",
                )),
            )],
            "Unrelated public change",
            &dev,
        )
        .unwrap();
        let r8 = repo
            .find_commit(repo.refname_to_id("refs/heads/release/8.0").unwrap())
            .unwrap();
        let internal_c = repo.find_commit(internal).unwrap();
        let merged_reader = file(&repo, "release/8.0", JSON_READER);
        let merged_client = edit(
            &file(&repo, "release/8.0", SMTP_CLIENT),
            "Step12() => 12;",
            "Step12() => Encode(12);",
        );
        let merge = history::commit_with_parents(
            &repo,
            Some("refs/heads/release/8.0"),
            &[r8, internal_c],
            &[
                (JSON_READER, Some(&merged_reader)),
                (SMTP_CLIENT, Some(&merged_client)),
            ],
            "Merging internal commits for release/8.0",
            &sec,
        )
        .unwrap();
        ids.insert("merge", merge);

        // The fork: release/6.0 only, so release/8.0's objects must be fetched.
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
        git(
            &fork,
            &["checkout", "-q", "-b", "release/6.0-els", "v6.0.36"],
        );
        let fork_repo = Repository::open(&fork).unwrap();
        history::commit(
            &fork_repo,
            "release/6.0-els",
            &[(NUGET_CONFIG_PATH, Some(FORK_NUGET))],
            "Use the fork's own package feed",
            &dev,
        )
        .unwrap();
        let ff = |p: &str| file(&fork_repo, "release/6.0-els", p);
        let trailer_msg = format!(
            "Canonicalize before digest\n\n(cherry picked from commit {})\nCVE: CVE-2025-0001\n",
            ids["by-trailer"]
        );
        // The same fix picked earlier by hand, in a different form: only the trailer says so.
        history::commit(
            &fork_repo,
            "release/6.0-els",
            &[(
                SIGNED_XML,
                Some(&edit(
                    &ff(SIGNED_XML),
                    "Step25() => 25;",
                    "Step25() => CanonicalForm(25);",
                )),
            )],
            &trailer_msg,
            &sec,
        )
        .unwrap();
        history::commit(
            &fork_repo,
            "release/6.0-els",
            &[(
                SIGNED_XML,
                Some(&edit(
                    &ff(SIGNED_XML),
                    "Step30() => 30;",
                    "Step30() => Limit(30);",
                )),
            )],
            "Port transform limit",
            &sec,
        )
        .unwrap();
        let both = edit(
            &edit(
                &ff(SIGNED_XML),
                "Step35() => 35;",
                "Step35() => Strict(35);",
            ),
            "Step36() => 36;",
            "Step36() => Strict(36);",
        );
        history::commit(
            &fork_repo,
            "release/6.0-els",
            &[(SIGNED_XML, Some(&both))],
            "Strict key info parsing (6.0 variant)",
            &sec,
        )
        .unwrap();
        history::checkout(&fork_repo, "release/6.0-els").unwrap();
        World {
            _dir: dir,
            root,
            upstream,
            fork,
            ids,
        }
    }

    fn id(&self, name: &str) -> String {
        self.ids[name].to_string()
    }

    fn fork_repo(&self) -> Repository {
        Repository::open(&self.fork).unwrap()
    }

    /// The tree of the onto branch's tip.
    fn tip_tree(&self) -> String {
        let repo = self.fork_repo();
        let tree = repo.find_commit(self.tip()).unwrap().tree_id();
        tree.to_string()
    }

    fn tip(&self) -> Oid {
        self.fork_repo()
            .refname_to_id("refs/heads/release/6.0-els")
            .unwrap()
    }

    /// Runs `cargo xtask backport` against the fork with the upstream path.
    fn backport(&self, extra: &[&str]) -> Output {
        self.backport_with_env(extra, &[])
    }

    fn backport_with_env(&self, extra: &[&str], env: &[(&str, &str)]) -> Output {
        let mut args = vec![
            "backport",
            "--fork",
            self.fork.to_str().unwrap(),
            "--onto",
            "release/6.0-els",
            "--upstream",
            self.upstream.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        xtask(&self.root, &args, env)
    }

    /// Runs a backport of the named fixes that crashes at the failpoint `point`.
    fn killed_at(&self, point: &str, fixes: &[&str]) {
        let ids: Vec<String> = fixes.iter().map(|f| self.id(f)).collect();
        let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
        let out = self.backport_with_env(&ids, &[("ELS_FAILPOINT", point)]);
        assert!(
            !out.status.success() && out.status.code() != Some(1),
            "{point}: the run was killed"
        );
    }

    fn resume(&self, flag: &str) -> Output {
        xtask(
            &self.root,
            &[
                "backport",
                "--fork",
                self.fork.to_str().unwrap(),
                flag,
                "--json",
            ],
            &[],
        )
    }

    /// The tree `git cherry-pick` commits for `fix` on top of `onto`, in a scratch clone.
    fn git_cherry_pick_tree(&self, onto: Oid, fix: &str, extra: &[&str]) -> Option<String> {
        let scratch = self.root.join(format!("scratch-{}", &fix[..8]));
        let _ = std::fs::remove_dir_all(&scratch);
        git(
            &self.root,
            &[
                "clone",
                "-q",
                "--no-checkout",
                self.fork.to_str().unwrap(),
                scratch.to_str().unwrap(),
            ],
        );
        git(
            &scratch,
            &[
                "fetch",
                "-q",
                self.fork.to_str().unwrap(),
                &format!("{onto}:refs/heads/onto"),
            ],
        );
        git(
            &scratch,
            &[
                "fetch",
                "-q",
                self.upstream.to_str().unwrap(),
                "release/8.0",
            ],
        );
        git(&scratch, &["checkout", "-q", "onto"]);
        let mut args = vec![
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@example.com",
            "cherry-pick",
            "-x",
        ];
        args.extend_from_slice(extra);
        args.push(fix);
        let ok = Command::new("git")
            .args(&args)
            .current_dir(&scratch)
            .output()
            .unwrap()
            .status
            .success();
        ok.then(|| {
            (git(&scratch, &["rev-parse", "HEAD^{tree}"]))
                .trim()
                .to_string()
        })
    }
}

const NUGET_CONFIG_PATH: &str = "NuGet.config";
const FORK_NUGET: &str = "<configuration>\n  <packageSources>\n    <add key=\"els\" value=\"https://nuget.example.com/els/index.json\" />\n  </packageSources>\n</configuration>\n";

/// One field of every fix in a JSON report, in order.
fn fields<'r>(report: &'r serde_json::Value, field: &str) -> Vec<&'r str> {
    report["fixes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f[field].as_str().unwrap())
        .collect()
}

/// All refs of a repository with their targets, to prove "nothing changed".
fn refs(repo_dir: &Path) -> String {
    git(
        repo_dir,
        &["for-each-ref", "--format=%(refname) %(objectname)"],
    )
}

fn status(dir: &Path) -> String {
    git(dir, &["status", "--porcelain"])
}

#[test]
fn clean_pick_matches_git_cherry_pick_and_records_provenance() {
    let w = World::new();
    let before = w.tip();
    let out = w.backport(&["--cve", "CVE-2025-55248", "--json", &w.id("clean")]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let report = json(&out);
    assert_eq!(report["fixes"][0]["status"], "applied");
    assert_eq!(report["fixes"][0]["upstream"], w.id("clean"));
    let new = Oid::from_str(report["fixes"][0]["commit"].as_str().unwrap()).unwrap();
    assert_eq!(w.tip(), new);
    let repo = w.fork_repo();
    let commit = repo.find_commit(new).unwrap();
    assert_eq!(commit.parent_id(0).unwrap(), before);
    assert_eq!(commit.author().name(), Some("Security Dev"));
    assert_eq!(
        commit.author().when().seconds(),
        repo.find_commit(w.ids["clean"])
            .unwrap()
            .author()
            .when()
            .seconds()
    );
    let msg = commit.message().unwrap();
    assert!(
        msg.starts_with(
            "Validate references in SignedXml\n\nReject references to external documents.\n\n"
        ),
        "{msg}"
    );
    assert!(
        msg.contains(&format!(
            "(cherry picked from commit {})\nCVE: CVE-2025-55248\n",
            w.id("clean")
        )),
        "{msg}"
    );
    let expected = w
        .git_cherry_pick_tree(before, &w.id("clean"), &[])
        .expect("git cherry-pick succeeds");
    assert_eq!(commit.tree_id().to_string(), expected);
    // The branch is checked out: worktree and index follow, nothing left dirty.
    assert_eq!(status(&w.fork), "");
    assert!(std::fs::read_to_string(w.fork.join(SIGNED_XML))
        .unwrap()
        .contains("CheckReference(5)"));
    // Fetched objects live in the private namespace; the user's refs are untouched.
    let all_refs = refs(&w.fork);
    assert!(
        all_refs.contains(&format!(
            "refs/els/upstream/default/commits/{}",
            w.id("clean")
        )),
        "{all_refs}"
    );
    assert!(
        !all_refs.contains("refs/remotes/origin/release/8.0"),
        "{all_refs}"
    );
}

#[test]
fn rename_between_branches_is_followed_like_git() {
    let w = World::new();
    let before = w.tip();
    let out = w.backport(&["--json", &w.id("renamed")]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let content = std::fs::read_to_string(w.fork.join(SMTP_CONNECTION)).unwrap();
    assert!(
        content.contains("RequireTls(7)"),
        "the fix landed in the fork's old file name"
    );
    assert!(!w.fork.join(SMTP_CONNECTION_8).exists());
    let expected = w
        .git_cherry_pick_tree(before, &w.id("renamed"), &[])
        .unwrap();
    assert_eq!(w.tip_tree(), expected);
}

#[test]
fn already_applied_by_ancestry_trailer_patch_id_and_empty_pick() {
    let w = World::new();
    let before = w.tip();
    let base = w
        .fork_repo()
        .revparse_single("v6.0.36")
        .unwrap()
        .id()
        .to_string();
    let out = w.backport(&[
        "--json",
        &base,
        &w.id("by-trailer"),
        &w.id("by-patch-id"),
        &w.id("empty"),
    ]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let r = json(&out);
    assert_eq!(
        fields(&r, "evidence"),
        ["ancestor", "trailer", "patch-id", "empty"]
    );
    assert!(r["fixes"]
        .as_array()
        .unwrap()
        .iter()
        .all(|f| f["status"] == "already-applied"));
    assert_eq!(w.tip(), before, "no empty commits");
    let equivalent = r["fixes"][1]["equivalent"].as_str().unwrap();
    assert!(w
        .fork_repo()
        .find_commit(Oid::from_str(equivalent).unwrap())
        .unwrap()
        .message()
        .unwrap()
        .contains("Canonicalize"));
}

/// `git patch-id --stable` of a commit in `repo`, as git computes it from `git show`.
fn git_patch_id(repo: &Path, commit: &str) -> String {
    use std::io::Write;
    let diff = git(repo, &["show", "--no-renames", commit]);
    let mut child = Command::new("git")
        .args(["patch-id", "--stable"])
        .current_dir(repo)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(diff.as_bytes())
        .unwrap();
    let out = stdout(&child.wait_with_output().unwrap());
    out.split_whitespace().next().unwrap().to_string()
}

#[test]
fn patch_ids_agree_with_git_patch_id_stable() {
    let w = World::new();
    // The fork's "Port transform limit" commit and the upstream fix have the same patch-id in git.
    let git_pid = git_patch_id(&w.upstream, &w.id("by-patch-id"));
    let fork_commit = git(
        &w.fork,
        &[
            "log",
            "--format=%H",
            "--grep=Port transform limit",
            "release/6.0-els",
        ],
    );
    let git_fork_pid = git_patch_id(&w.fork, fork_commit.trim());
    assert_eq!(git_pid, git_fork_pid, "git agrees they are the same patch");
    // And the toolkit's cache holds git's value for the fork commit.
    let out = w.backport(&["--json", &w.id("by-patch-id")]);
    assert_eq!(json(&out)["fixes"][0]["evidence"], "patch-id");
    let cache = std::fs::read_to_string(w.fork.join(".git/els/patch-ids")).unwrap();
    let line = cache
        .lines()
        .find(|l| l.starts_with(fork_commit.trim()))
        .expect("cached");
    assert_eq!(
        line.split(' ').nth(1),
        git_fork_pid.split_whitespace().next()
    );
}

#[test]
fn a_fix_with_the_patch_id_of_one_picked_earlier_in_the_run_is_already_applied() {
    let w = World::new();
    // release/8.0 reverts the "clean" fix and applies it again, without a trailer: the same
    // patch as "clean" in another commit.
    let repo = Repository::open(&w.upstream).unwrap();
    let clean = repo
        .find_commit(Oid::from_str(&w.id("clean")).unwrap())
        .unwrap();
    let content = |commit: &git2::Commit| {
        let entry = commit
            .tree()
            .unwrap()
            .get_path(Path::new(SIGNED_XML))
            .unwrap();
        let blob = repo.find_blob(entry.id()).unwrap();
        String::from_utf8(blob.content().to_vec()).unwrap()
    };
    let (before, after) = (content(&clean.parent(0).unwrap()), content(&clean));
    let sec = history::signature("Security Dev", "sec@example.com", 1_710_000_000);
    history::commit(
        &repo,
        "release/8.0",
        &[(SIGNED_XML, Some(before.as_str()))],
        "Revert reference validation",
        &sec,
    )
    .unwrap();
    let again = history::commit(
        &repo,
        "release/8.0",
        &[(SIGNED_XML, Some(after.as_str()))],
        "Validate references in SignedXml, again",
        &sec,
    )
    .unwrap();
    let out = w.backport(&["--json", &w.id("clean"), &again.to_string()]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let r = json(&out);
    assert_eq!(fields(&r, "status"), ["applied", "already-applied"]);
    assert_eq!(r["fixes"][1]["evidence"], "patch-id");
    assert_eq!(r["fixes"][1]["equivalent"], r["fixes"][0]["commit"]);
}

/// The files a commit changes against its first parent, as git lists them.
fn changed_files(repo: &Path, commit: &str) -> Vec<String> {
    let out = git(
        repo,
        &["diff-tree", "--no-commit-id", "--name-only", "-r", commit],
    );
    out.lines().map(str::to_string).collect()
}

#[test]
fn patch_ids_are_computed_only_for_fork_commits_changing_exactly_the_fix_files() {
    let w = World::new();
    let out = w.backport(&["--json", &w.id("by-patch-id")]);
    assert_eq!(json(&out)["fixes"][0]["evidence"], "patch-id");
    let fix_files = changed_files(&w.upstream, &w.id("by-patch-id"));
    let cache = std::fs::read_to_string(w.fork.join(".git/els/patch-ids")).unwrap();
    let mut lines = cache.lines();
    assert!(lines.next().unwrap().starts_with("# els patch-ids v2"));
    let cached: Vec<&str> = lines.map(|l| l.split(' ').next().unwrap()).collect();
    assert!(!cached.is_empty());
    for commit in &cached {
        let files = changed_files(&w.fork, commit);
        assert_eq!(
            files, fix_files,
            "{commit} changes other files than the fix: no patch-id needed"
        );
    }
    let fork_commits = git(
        &w.fork,
        &[
            "rev-list",
            "--no-merges",
            "--count",
            "v6.0.36..release/6.0-els",
        ],
    );
    assert!(
        cached.len() < fork_commits.trim().parse::<usize>().unwrap(),
        "a patch-id for every fork commit: {cache}"
    );
}

#[test]
fn a_patch_id_cache_of_another_format_is_ignored_and_rewritten() {
    let w = World::new();
    let fork_commit = git(
        &w.fork,
        &[
            "log",
            "--format=%H",
            "--grep=Port transform limit",
            "release/6.0-els",
        ],
    );
    let fork_commit = fork_commit.trim();
    // A file without the header (an older toolkit's, or a wrong restore) claiming that the
    // matching fork commit has some other patch-id.
    let cache_path = w.fork.join(".git/els/patch-ids");
    std::fs::create_dir_all(cache_path.parent().unwrap()).unwrap();
    std::fs::write(&cache_path, format!("{fork_commit} {}\n", "1".repeat(40))).unwrap();
    let out = w.backport(&["--json", &w.id("by-patch-id")]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let r = json(&out);
    assert_eq!(r["fixes"][0]["evidence"], "patch-id");
    assert_eq!(r["fixes"][0]["equivalent"], fork_commit);
    let cache = std::fs::read_to_string(&cache_path).unwrap();
    assert!(cache.starts_with("# els patch-ids v2"), "{cache}");
    assert!(!cache.contains(&"1".repeat(40)), "{cache}");
}

#[test]
fn code_conflict_stops_with_state_markers_and_prerequisites() {
    let w = World::new();
    let before = w.tip();
    let out = w.backport(&[
        "--json",
        "--cve",
        "CVE-2025-30399",
        &w.id("clean"),
        &w.id("code-conflict"),
        &w.id("renamed"),
    ]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    let r = json(&out);
    assert_eq!(fields(&r, "status"), ["applied", "conflict", "not-reached"]);
    let conflict = &r["fixes"][1];
    assert_eq!(conflict["conflicts"][0]["path"], JSON_READER);
    assert_eq!(conflict["conflicts"][0]["kind"], "content");
    assert_eq!(conflict["conflicts"][0]["class"], "code");
    assert_eq!(conflict["prerequisites"][0]["commit"], w.id("prereq"));
    assert!(r["next_steps"]
        .as_array()
        .unwrap()
        .iter()
        .any(|s| s.as_str().unwrap().contains("--continue")));
    // Nothing half-committed: the branch holds only the clean pick.
    let repo = w.fork_repo();
    let tip = repo.find_commit(w.tip()).unwrap();
    assert_eq!(tip.parent_id(0).unwrap(), before);
    assert!(tip.tree().unwrap().get_path(Path::new(JSON_READER)).is_ok());
    let committed = file(&repo, "release/6.0-els", JSON_READER);
    assert!(
        !committed.contains("<<<<<<<"),
        "no conflict markers committed"
    );
    // git sees a cherry-pick with a conflict: markers on disk, stages in the index.
    let on_disk = std::fs::read_to_string(w.fork.join(JSON_READER)).unwrap();
    assert!(
        on_disk.contains("<<<<<<< HEAD")
            && on_disk.contains(">>>>>>> ")
            && on_disk.contains("CheckDepth(20 + 0)"),
        "{on_disk}"
    );
    assert_eq!(status(&w.fork).trim(), format!("UU {JSON_READER}"));
    let stages = git(&w.fork, &["ls-files", "-u"]);
    assert_eq!(stages.lines().count(), 3, "{stages}");
    // Every object the conflict's index names is in the repository.
    git(&w.fork, &["fsck", "--strict", "--no-dangling"]);
    for stage in stages.lines() {
        let id = stage.split_whitespace().nth(1).unwrap();
        git(&w.fork, &["cat-file", "-e", id]);
    }
    assert!(stdout(
        &Command::new("git")
            .args(["status"])
            .current_dir(&w.fork)
            .output()
            .unwrap()
    )
    .contains("cherry-pick"));
    // A second backport is refused while this one waits.
    let again = w.backport(&[&w.id("test-only")]);
    assert_eq!(code(&again), 2);
    assert!(
        stderr(&again).contains("already in progress"),
        "{}",
        stderr(&again)
    );
    // Continue refuses while conflicts remain.
    let early = w.resume("--continue");
    assert_eq!(code(&early), 2);
    assert!(
        stderr(&early).contains("conflicts remain"),
        "{}",
        stderr(&early)
    );

    // Resolve by hand (keep upstream's intent on the fork's line), git add, continue.
    let resolved = file(&repo, "release/6.0-els", JSON_READER)
        .replace("Step20() => 20;", "Step20() => CheckDepth(20);");
    std::fs::write(w.fork.join(JSON_READER), resolved).unwrap();
    git(&w.fork, &["add", JSON_READER]);
    let done = w.resume("--continue");
    assert_eq!(code(&done), 0, "{}", stderr(&done));
    let r = json(&done);
    assert_eq!(fields(&r, "status"), ["applied", "applied", "applied"]);
    assert_eq!(r["fixes"][1]["resolved_by_hand"], true);
    let repo = w.fork_repo();
    let resolved_commit = repo
        .find_commit(Oid::from_str(r["fixes"][1]["commit"].as_str().unwrap()).unwrap())
        .unwrap();
    assert!(resolved_commit.message().unwrap().contains(&format!(
        "(cherry picked from commit {})\nCVE: CVE-2025-30399",
        w.id("code-conflict")
    )));
    assert_eq!(resolved_commit.author().name(), Some("Security Dev"));
    assert_eq!(status(&w.fork), "");
    assert!(!w.fork.join(".git/CHERRY_PICK_HEAD").exists());
    assert!(!w.fork.join(".git/els/backport-state.json").exists());
    assert!(std::fs::read_to_string(w.fork.join(SMTP_CONNECTION))
        .unwrap()
        .contains("RequireTls(7)"));
}

#[test]
fn conflict_only_in_versions_props_is_classified_as_infrastructure() {
    let w = World::new();
    let out = w.backport(&["--json", &w.id("versions-conflict")]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    let r = json(&out);
    let conflicts = r["fixes"][0]["conflicts"].as_array().unwrap();
    assert_eq!(conflicts.len(), 1, "{conflicts:?}");
    assert_eq!(conflicts[0]["path"], VERSIONS);
    assert_eq!(conflicts[0]["class"], "version-infra");
    // The code part merged and is staged.
    let staged = git(&w.fork, &["diff", "--cached", "--name-only"]);
    assert!(staged.contains(SMTP_CLIENT), "{staged}");
    let human = w.backport(&[]);
    assert_eq!(code(&human), 2, "a FIX is required");
    let abort = w.resume("--abort");
    assert_eq!(code(&abort), 0, "{}", stderr(&abort));
}

#[test]
fn abort_restores_the_branch_and_worktree_exactly() {
    let w = World::new();
    let before = w.tip();
    let out = w.backport(&["--json", &w.id("clean"), &w.id("code-conflict")]);
    assert_eq!(code(&out), 1);
    assert_ne!(w.tip(), before);
    let abort = w.resume("--abort");
    assert_eq!(code(&abort), 0, "{}", stderr(&abort));
    assert_eq!(w.tip(), before);
    assert_eq!(status(&w.fork), "");
    assert!(!w.fork.join(".git/CHERRY_PICK_HEAD").exists());
    assert_eq!(code(&w.resume("--abort")), 2, "nothing left to abort");
}

#[test]
fn conflict_on_a_branch_not_checked_out_uses_a_linked_worktree() {
    let w = World::new();
    git(&w.fork, &["checkout", "-q", "-b", "work", "v6.0.36"]);
    let before = w.tip();
    let wt = w.root.join("conflict-wt");
    let out = w.backport(&[
        "--json",
        "--worktree",
        wt.to_str().unwrap(),
        &w.id("code-conflict"),
    ]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    assert_eq!(json(&out)["conflict_worktree"], wt.to_str().unwrap());
    assert_eq!(status(&wt).trim(), format!("UU {JSON_READER}"));
    assert_eq!(status(&w.fork), "", "the user's own worktree is untouched");
    assert_eq!((git(&w.fork, &["branch", "--show-current"])).trim(), "work");
    let abort = w.resume("--abort");
    assert_eq!(code(&abort), 0, "{}", stderr(&abort));
    assert!(!wt.exists());
    assert_eq!(w.tip(), before);
    assert!(!(git(&w.fork, &["worktree", "list"])).contains("conflict-wt"));
}

/// `git status --porcelain` after `git cherry-pick -x <fix>` onto `tip` in a full worktree of
/// the fork (what a person does with git), for comparison.
fn git_conflict_status(w: &World, tip: Oid, fix: &str, name: &str) -> String {
    let full = w.root.join(name);
    let path = full.to_str().unwrap();
    git(
        &w.fork,
        &["worktree", "add", "-q", "--detach", path, &tip.to_string()],
    );
    let picked = Command::new("git")
        .args(["-c", "user.name=t", "-c", "user.email=t@example.com"])
        .args(["cherry-pick", "-x", fix])
        .current_dir(&full)
        .output()
        .unwrap();
    assert!(
        !picked.status.success(),
        "git must stop at the conflict too"
    );
    let out = status(&full);
    git(&w.fork, &["worktree", "remove", "--force", path]);
    out
}

#[test]
fn the_conflict_worktree_is_sparse_kept_and_moved_for_the_next_conflict() {
    let w = World::new();
    git(&w.fork, &["checkout", "-q", "-b", "work", "v6.0.36"]);
    let before = w.tip();
    let out = w.backport(&["--json", &w.id("code-conflict")]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    let r = json(&out);
    let wt = PathBuf::from(r["conflict_worktree"].as_str().unwrap());
    // git sees the same conflict as its own cherry-pick leaves in a full worktree.
    let expected = git_conflict_status(&w, before, &w.id("code-conflict"), "git-first");
    assert_eq!(status(&wt), expected);
    assert_eq!(status(&wt).trim(), format!("UU {JSON_READER}"));
    assert!(std::fs::read_to_string(wt.join(JSON_READER))
        .unwrap()
        .contains("<<<<<<< HEAD"));
    // Only the fix's files are on disk; git knows the rest is left out on purpose.
    assert!(!wt.join(SMTP_CLIENT).exists());
    let listed = git(&wt, &["ls-files", "-t", SMTP_CLIENT]);
    assert_eq!(listed.trim(), format!("S {SMTP_CLIENT}"));
    assert!(r["next_steps"].as_array().unwrap().iter().any(|s| s
        .as_str()
        .unwrap()
        .starts_with("git sparse-checkout disable")));

    // Resolved and continued: the worktree stays, detached, holding no branch.
    let resolved = file(&w.fork_repo(), "release/6.0-els", JSON_READER)
        .replace("Step20() => 20;", "Step20() => CheckDepth(20);");
    std::fs::write(wt.join(JSON_READER), resolved).unwrap();
    git(&wt, &["add", JSON_READER]);
    let done = w.resume("--continue");
    assert_eq!(code(&done), 0, "{}", stderr(&done));
    let resolved_tip = w.tip();
    assert_ne!(resolved_tip, before);
    assert_eq!(status(&wt), "");
    assert_eq!(
        git(&wt, &["rev-parse", "HEAD"]).trim(),
        resolved_tip.to_string()
    );
    assert!(git(&wt, &["status"]).contains("HEAD detached"));
    let inode = |p: &Path| std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(p).unwrap());
    let kept = inode(&wt.join(JSON_READER));

    // The next conflict moves the same worktree: only what differs is written.
    let out = w.backport(&["--json", &w.id("versions-conflict")]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    assert_eq!(json(&out)["conflict_worktree"], wt.to_str().unwrap());
    let expected = git_conflict_status(&w, resolved_tip, &w.id("versions-conflict"), "git-second");
    assert_eq!(status(&wt), expected);
    assert!(expected.contains(&format!("UU {VERSIONS}")), "{expected}");
    assert_eq!(
        inode(&wt.join(JSON_READER)),
        kept,
        "an unchanged file is not rewritten"
    );
    assert!(
        wt.join(SMTP_CLIENT).exists(),
        "the fix's merged file is on disk"
    );
    // git fills in the rest on request, and the conflict stays as it was.
    git(&wt, &["sparse-checkout", "disable"]);
    assert!(wt.join(SIGNED_XML).exists());
    assert_eq!(status(&wt), expected);
    let abort = w.resume("--abort");
    assert_eq!(code(&abort), 0, "{}", stderr(&abort));
    assert_eq!(w.tip(), resolved_tip);
    assert!(!wt.exists());
    assert_eq!(status(&w.fork), "", "the user's own worktree is untouched");
}

#[test]
fn a_kept_conflict_worktree_with_changes_is_left_alone() {
    let w = World::new();
    git(&w.fork, &["checkout", "-q", "-b", "work", "v6.0.36"]);
    let out = w.backport(&["--json", &w.id("code-conflict")]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    let wt = PathBuf::from(json(&out)["conflict_worktree"].as_str().unwrap());
    git(&wt, &["checkout", "--ours", "--", JSON_READER]);
    git(&wt, &["add", JSON_READER]);
    let done = w.resume("--continue");
    assert_eq!(code(&done), 0, "{}", stderr(&done));
    assert_eq!(json(&done)["fixes"][0]["status"], "already-applied");
    // Someone edits a file in the kept worktree: that work is never touched.
    std::fs::write(wt.join(JSON_READER), "// notes\n").unwrap();
    let out = w.backport(&["--json", &w.id("versions-conflict")]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    let other = PathBuf::from(json(&out)["conflict_worktree"].as_str().unwrap());
    assert_ne!(other, wt);
    assert!(stderr(&out).contains("has changes"), "{}", stderr(&out));
    assert_eq!(
        std::fs::read_to_string(wt.join(JSON_READER)).unwrap(),
        "// notes\n"
    );
    assert!(status(&other).contains(&format!("UU {VERSIONS}")));
    let abort = w.resume("--abort");
    assert_eq!(code(&abort), 0, "{}", stderr(&abort));
    assert!(!other.exists());
    assert!(wt.exists());
}

#[test]
fn merge_commit_needs_mainline_and_then_matches_git() {
    let w = World::new();
    let before = w.tip();
    let refs_before = refs(&w.fork);
    let out = w.backport(&[&w.id("merge")]);
    assert_eq!(code(&out), 2);
    assert!(
        stderr(&out).contains("is a merge commit") && stderr(&out).contains("--mainline"),
        "{}",
        stderr(&out)
    );
    assert_eq!(w.tip(), before);
    assert_eq!(
        refs(&w.fork)
            .lines()
            .filter(|l| l.contains("refs/heads"))
            .collect::<Vec<_>>(),
        refs_before
            .lines()
            .filter(|l| l.contains("refs/heads"))
            .collect::<Vec<_>>()
    );
    let out = w.backport(&["--json", "--mainline", "1", &w.id("merge")]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(std::fs::read_to_string(w.fork.join(SMTP_CLIENT))
        .unwrap()
        .contains("Encode(12)"));
    let expected = w
        .git_cherry_pick_tree(before, &w.id("merge"), &["-m", "1"])
        .unwrap();
    assert_eq!(w.tip_tree(), expected);
}

#[test]
fn multi_commit_fix_applies_in_order() {
    let w = World::new();
    let alone = w.backport(&["--dry-run", "--json", &w.id("multi-2")]);
    assert_eq!(code(&alone), 1, "the second commit alone conflicts");
    let out = w.backport(&["--json", &w.id("multi-1"), &w.id("multi-2")]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let r = json(&out);
    let first = Oid::from_str(r["fixes"][0]["commit"].as_str().unwrap()).unwrap();
    let repo = w.fork_repo();
    let second = repo
        .find_commit(Oid::from_str(r["fixes"][1]["commit"].as_str().unwrap()).unwrap())
        .unwrap();
    assert_eq!(second.parent_id(0).unwrap(), first);
    assert!(std::fs::read_to_string(w.fork.join(SMTP_CLIENT))
        .unwrap()
        .contains("throw new System.ArgumentException()"));
    let expected = w
        .git_cherry_pick_tree(first, &w.id("multi-2"), &[])
        .unwrap();
    assert_eq!(second.tree_id().to_string(), expected);
    // Running the same backport again finds both by trailer.
    let again = w.backport(&["--json", &w.id("multi-1"), &w.id("multi-2")]);
    assert!(json(&again)["fixes"]
        .as_array()
        .unwrap()
        .iter()
        .all(|f| f["evidence"] == "trailer"));
}

#[test]
fn skip_conflicts_applies_every_other_fix_and_reports_the_skipped_one() {
    let w = World::new();
    let before = w.tip();
    let fixes = [w.id("clean"), w.id("code-conflict"), w.id("renamed")];
    let args = |extra: &[&'static str]| -> Vec<String> {
        let mut a: Vec<String> = vec!["--skip-conflicts".into(), "--json".into()];
        a.extend(extra.iter().map(|s| s.to_string()));
        a.extend(fixes.iter().cloned());
        a
    };
    let run = |extra: &[&'static str]| {
        let a = args(extra);
        w.backport(&a.iter().map(String::as_str).collect::<Vec<_>>())
    };
    // A dry run decides the same outcomes and changes nothing.
    let dry = run(&["--dry-run"]);
    assert_eq!(code(&dry), 1, "{}", stderr(&dry));
    assert_eq!(
        fields(&json(&dry), "status"),
        ["applied", "skipped", "applied"]
    );
    assert_eq!(w.tip(), before);

    // (loose objects, packs)
    let objects = || {
        let counts = git(&w.fork, &["count-objects", "-v"]);
        let field = |name: &str| -> u64 {
            counts
                .lines()
                .find_map(|l| l.strip_prefix(name)?.trim().parse().ok())
                .unwrap()
        };
        (field("count:"), field("packs:"))
    };
    let (loose_before, packs_before) = objects();
    let out = run(&[]);
    assert_eq!(
        code(&out),
        1,
        "exit 1: a fix was left out; {}",
        stderr(&out)
    );
    let r = json(&out);
    assert_eq!(fields(&r, "status"), ["applied", "skipped", "applied"]);
    let skipped = &r["fixes"][1];
    assert_eq!(skipped["conflicts"][0]["path"], JSON_READER);
    assert!(skipped.get("commit").is_none());
    // The branch holds the other two, exactly as git's sequencer with --skip leaves it.
    let after_clean = w.git_cherry_pick_tree(before, &w.id("clean"), &[]).unwrap();
    let fork = w.fork_repo();
    let first = fork.find_commit(w.tip()).unwrap().parent(0).unwrap();
    assert_eq!(first.tree_id().to_string(), after_clean);
    let expected = w
        .git_cherry_pick_tree(first.id(), &w.id("renamed"), &[])
        .unwrap();
    assert_eq!(w.tip_tree(), expected);
    assert_eq!(first.parent_id(0).unwrap(), before);
    // The new objects arrived as one pack, not as loose objects, and the repository is sound.
    assert_eq!(objects(), (loose_before, packs_before + 1));
    git(&w.fork, &["fsck", "--strict", "--no-dangling"]);
    // Nothing is left half-done: no saved state, no conflict in the worktree.
    assert_eq!(status(&w.fork), "");
    assert!(!w.fork.join(".git/els/backport-state.json").exists());
    assert!(!w.fork.join(".git/CHERRY_PICK_HEAD").exists());
    let again = w.resume("--continue");
    assert_eq!(code(&again), 2, "nothing to continue: {}", stderr(&again));
    // Human output says what was left out.
    let human = w.backport(&["--skip-conflicts", "--dry-run", &w.id("code-conflict")]);
    assert!(
        stdout(&human).contains("skipped")
            && stdout(&human).contains("1 conflicting fix(es) left out"),
        "{}",
        stdout(&human)
    );
}

#[test]
fn cherry_marks_what_the_fork_has_like_git_cherry() {
    let w = World::new();
    // One fix through the toolkit (found by its trailer), one with a plain `git cherry-pick`
    // (no trailer: found by patch-id), with a fork commit in between.
    assert_eq!(code(&w.backport(&[&w.id("clean")])), 0);
    let upstream = w.upstream.to_str().unwrap();
    git(
        &w.fork,
        &[
            "fetch",
            "-q",
            upstream,
            "release/8.0:refs/remotes/up/release/8.0",
        ],
    );
    let test_only = w.id("test-only");
    git(
        &w.fork,
        &[
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@example.com",
            "cherry-pick",
            &test_only,
        ],
    );
    let fork = w.fork.to_str().unwrap();
    let args = [
        "cherry",
        "--fork",
        fork,
        "release/6.0-els",
        "up/release/8.0",
    ];
    let human = xtask(&w.root, &args, &[]);
    assert_eq!(code(&human), 0, "{}", stderr(&human));
    let marks = |text: &str| -> Vec<(String, String)> {
        text.lines()
            .map(|l| {
                let mut parts = l.split_whitespace();
                let mark = parts.next().unwrap().to_string();
                (mark, parts.next().unwrap().to_string())
            })
            .collect()
    };
    let theirs = git(&w.fork, &["cherry", "release/6.0-els", "up/release/8.0"]);
    let ours = marks(&stdout(&human));
    let theirs = marks(&theirs);
    // The same commits (the sandbox's equal commit dates leave git's order among them open).
    let (mut ours, mut theirs) = (ours, theirs);
    ours.sort_by(|a, b| a.1.cmp(&b.1));
    theirs.sort_by(|a, b| a.1.cmp(&b.1));
    let commits = |m: &[(String, String)]| m.iter().map(|(_, c)| c.clone()).collect::<Vec<_>>();
    assert_eq!(commits(&ours), commits(&theirs));
    let listed = json(&xtask(&w.root, &[&args[..], &["--json"]].concat(), &[]));
    let evidence = |id: &str| {
        listed["entries"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["commit"] == id)
            .map(|e| e["evidence"].clone())
            .unwrap()
    };
    // The same marks, except that a trailer also tells the toolkit what git cannot see.
    for ((mark, commit), (git_mark, _)) in ours.iter().zip(&theirs) {
        if mark != git_mark {
            assert_eq!(
                (mark.as_str(), evidence(commit)),
                ("-", "trailer".into()),
                "{commit}"
            );
        }
    }
    assert!(ours.iter().any(|(m, _)| m == "-"));
    assert_eq!(evidence(&w.id("clean")), "trailer");
    assert_eq!(evidence(&test_only), "patch-id");
    assert!(evidence(&w.id("code-conflict")).is_null());
}

#[test]
fn dry_run_decides_everything_and_changes_nothing() {
    let w = World::new();
    let dry_run = || {
        w.backport(&[
            "--dry-run",
            "--json",
            &w.id("clean"),
            &w.id("renamed"),
            &w.id("code-conflict"),
            &w.id("test-only"),
        ])
    };
    // Once first, so that fetching the fixes (into refs/els/upstream/) is not the difference.
    assert_eq!(code(&dry_run()), 1);
    let refs_before = refs(&w.fork);
    let objects_before = git(&w.fork, &["count-objects"]);
    let out = dry_run();
    assert_eq!(code(&out), 1);
    let r = json(&out);
    assert_eq!(r["dry_run"], true);
    assert_eq!(
        fields(&r, "status"),
        ["applied", "applied", "conflict", "not-reached"]
    );
    assert_eq!(refs(&w.fork), refs_before);
    assert_eq!(
        (git(&w.fork, &["count-objects"])),
        objects_before,
        "no objects written"
    );
    assert_eq!(status(&w.fork), "");
    assert!(!w.fork.join(".git/els/backport-state.json").exists());
}

#[test]
fn remapped_combined_repository_fix_is_fetched_and_applied() {
    let w = World::new();
    // A dotnet/dotnet-style repository: runtime under src/runtime/, other products beside it.
    let vmr_dir = w.root.join("dotnet");
    let vmr = history::init(&vmr_dir).unwrap();
    let sig = history::signature("VMR Dev", "vmr@example.com", 1_750_000_000);
    let signed = file(&w.fork_repo(), "v6.0.36", SIGNED_XML);
    let vmr_path = format!("src/runtime/{SIGNED_XML}");
    history::commit(
        &vmr,
        "main",
        &[
            (&vmr_path, Some(&signed)),
            ("src/aspnetcore/eng/Versions.props", Some("<Project />\n")),
        ],
        "Initial VMR",
        &sig,
    )
    .unwrap();
    let fix = history::commit(
        &vmr,
        "main",
        &[
            (
                &vmr_path,
                Some(&edit(&signed, "Step9() => 9;", "Step9() => Vmr(9);")),
            ),
            (
                "src/aspnetcore/eng/Versions.props",
                Some("<Project><!-- bump --></Project>\n"),
            ),
        ],
        "Fix in the combined repository",
        &sig,
    )
    .unwrap();
    let config = "[[repo]]\nname = \"dotnet\"\npath = \"fork\"\nbranch = \"release/6.0-els\"\nbase = \"v6.0.36\"\nupstream = \"dotnet\"\nupstream-branches = [\"main\"]\n[[repo.remap]]\nfrom = \"src/runtime/\"\nto = \"\"\n";
    std::fs::write(w.root.join("els.toml"), config).unwrap();
    let short = &fix.to_string()[..7];
    let before = w.tip();
    let out = xtask(
        &w.root,
        &["backport", "--json", &format!("dotnet@{short}")],
        &[],
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let repo = w.fork_repo();
    let tip = repo.find_commit(w.tip()).unwrap();
    assert_eq!(tip.parent_id(0).unwrap(), before);
    let diff = git(
        &w.fork,
        &[
            "diff",
            "--name-only",
            &format!("{before}"),
            &tip.id().to_string(),
        ],
    );
    assert_eq!(
        diff.trim(),
        SIGNED_XML,
        "only the runtime part, at the fork's path"
    );
    assert!(refs(&w.fork).contains("refs/els/upstream/dotnet/heads/main"));
}

#[test]
fn explicit_remap_rule_moves_a_file_git_cannot_match() {
    let w = World::new();
    // Upstream moved SignedXml.cs to a new file and left a shim at the old path: a copy, which
    // rename detection cannot pair, so only an explicit rule finds the fork's file.
    let up = Repository::open(&w.upstream).unwrap();
    let sig = history::signature("Dev", "dev@example.com", 1_760_000_000);
    let new_path = "src/libraries/System.Security.Cryptography.Xml/src/System/Security/Cryptography/Xml/Signing/SignedXml.cs";
    let moved = file(&up, "release/8.0", SIGNED_XML);
    let shim = "// moved to Signing/SignedXml.cs\n";
    history::commit(
        &up,
        "release/8.0",
        &[(SIGNED_XML, Some(shim)), (new_path, Some(&moved))],
        "Move SignedXml into Signing/",
        &sig,
    )
    .unwrap();
    let fix = history::commit(
        &up,
        "release/8.0",
        &[(
            new_path,
            Some(&edit(
                &moved,
                "Step12() => 12;",
                "Step12() => Verified(12);",
            )),
        )],
        "Fix verification",
        &sig,
    )
    .unwrap();
    let without = w.backport(&["--dry-run", "--json", &fix.to_string()]);
    assert_eq!(
        code(&without),
        1,
        "without a rule the fix cannot find its file: {}",
        stdout(&without)
    );
    std::fs::write(
        w.root.join("els.toml"),
        format!("[[repo]]\nname = \"runtime\"\npath = \"fork\"\nbranch = \"release/6.0-els\"\nbase = \"v6.0.36\"\nupstream = \"upstream\"\n[[repo.remap]]\nfrom = \"{new_path}\"\nto = \"{SIGNED_XML}\"\n"),
    )
    .unwrap();
    let out = xtask(
        &w.root,
        &[
            "backport",
            "--json",
            &format!("runtime@{}", &fix.to_string()[..10]),
        ],
        &[],
    );
    assert_eq!(code(&out), 0, "{}{}", stdout(&out), stderr(&out));
    let now = std::fs::read_to_string(w.fork.join(SIGNED_XML)).unwrap();
    assert!(
        now.contains("Verified(12)") && now.contains("CanonicalForm(25)"),
        "remapped onto the fork's file"
    );
    assert!(!w.fork.join(new_path).exists());
}

#[test]
fn refusals_exit_2_and_change_nothing() {
    let w = World::new();
    let before = refs(&w.fork);
    let cases: Vec<(Vec<String>, &str)> = vec![
        (vec!["not-a-sha".into()], "malformed FIX"),
        (vec!["runtime@zzzz".into()], "malformed FIX"),
        (vec!["deadbeefdeadbeef".into()], "unknown commit"),
        (
            vec!["--cve".into(), "CVE-25-1".into(), w.id("clean")],
            "not a CVE id",
        ),
    ];
    for (args, expected) in cases {
        let a: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = w.backport(&a);
        assert_eq!(code(&out), 2, "{args:?}: {}", stderr(&out));
        assert!(
            stderr(&out).contains(expected),
            "{args:?}: {}",
            stderr(&out)
        );
        assert!(!stderr(&out).contains("panicked") && !stderr(&out).contains("RUST_BACKTRACE"));
    }
    let fork = w.fork.to_str().unwrap();
    let out = xtask(
        &w.root,
        &[
            "backport",
            "--fork",
            fork,
            "--onto",
            "release/9.9-els",
            "abcdef1",
        ],
        &[],
    );
    assert_eq!(code(&out), 2);
    assert!(
        stderr(&out).contains("unknown branch `release/9.9-els`"),
        "{}",
        stderr(&out)
    );
    let out = xtask(
        &w.root,
        &[
            "backport",
            "--fork",
            "does-not-exist",
            "--onto",
            "x",
            "abcdef1",
        ],
        &[],
    );
    assert_eq!(code(&out), 2);
    assert!(
        stderr(&out).contains("repository not found"),
        "{}",
        stderr(&out)
    );

    // A FIX prefixed with another repository than the fork's is refused, whether els.toml or
    // the fork's remotes say which repository the fork is.
    let short = &w.id("clean")[..10];
    let before_fix = refs(&w.fork);
    support::git(
        &w.fork,
        &[
            "config",
            "remote.origin.url",
            "https://github.com/contoso/runtime.git",
        ],
    );
    let out = w.backport(&[&format!("aspnetcore@{short}")]);
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert!(
        stderr(&out)
            .contains("FIX `aspnetcore@…` is a fix in the aspnetcore repository, but the fork"),
        "{}",
        stderr(&out)
    );
    assert!(
        stderr(&out).contains("is the runtime repository (its remotes point at runtime)"),
        "{}",
        stderr(&out)
    );
    support::git(&w.fork, &["config", "--unset", "remote.origin.url"]);
    std::fs::write(
        w.root.join("els.toml"),
        "[[repo]]\nname = \"runtime\"\npath = \"fork\"\nbranch = \"release/6.0-els\"\nbase = \"v6.0.36\"\nupstream = \"upstream\"\n\n[[repo]]\nname = \"aspnetcore\"\npath = \"aspnetcore\"\nbranch = \"release/6.0-els\"\nbase = \"v6.0.36\"\nupstream = \"upstream\"\n",
    )
    .unwrap();
    let out = w.backport(&[&format!("aspnetcore@{short}")]);
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("els.toml configures it as runtime"),
        "{}",
        stderr(&out)
    );
    std::fs::remove_file(w.root.join("els.toml")).unwrap();
    assert_eq!(refs(&w.fork), before_fix, "nothing changed");

    // Dirty worktree: modified file.
    std::fs::write(w.fork.join(SIGNED_XML), "local edit\n").unwrap();
    let out = w.backport(&[&w.id("clean")]);
    assert_eq!(code(&out), 2);
    assert!(
        stderr(&out).contains("uncommitted changes"),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        std::fs::read_to_string(w.fork.join(SIGNED_XML)).unwrap(),
        "local edit\n",
        "the user's edit survives"
    );
    git(&w.fork, &["checkout", "--", SIGNED_XML]);

    // A git cherry-pick in progress.
    git(
        &w.fork,
        &["fetch", "-q", w.upstream.to_str().unwrap(), "release/8.0"],
    );
    let failed = Command::new("git")
        .args([
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@e",
            "cherry-pick",
            &w.id("code-conflict"),
        ])
        .current_dir(&w.fork)
        .output()
        .unwrap();
    assert!(!failed.status.success());
    let out = w.backport(&[&w.id("clean")]);
    assert_eq!(code(&out), 2);
    assert!(
        stderr(&out).contains("a cherry-pick is in progress"),
        "{}",
        stderr(&out)
    );
    git(&w.fork, &["cherry-pick", "--abort"]);
    let after: Vec<String> = refs(&w.fork)
        .lines()
        .filter(|l| !l.contains("refs/els/"))
        .map(str::to_string)
        .collect();
    let before: Vec<String> = before
        .lines()
        .filter(|l| !l.contains("refs/els/"))
        .map(str::to_string)
        .collect();
    assert_eq!(after, before);
}

#[test]
fn interrupted_runs_are_aborted_back_to_the_exact_branch() {
    for point in [
        "state-saved",
        "before-ref-update",
        "after-ref-update",
        "conflict-index-written",
    ] {
        let w = World::new();
        let before = w.tip();
        w.killed_at(point, &["clean", "renamed", "code-conflict"]);
        let cont = w.resume("--continue");
        assert_eq!(code(&cont), 2, "{point}: {}", stderr(&cont));
        let abort = w.resume("--abort");
        assert_eq!(code(&abort), 0, "{point}: {}", stderr(&abort));
        assert_eq!(w.tip(), before, "{point}: branch restored");
        assert_eq!(status(&w.fork), "", "{point}: worktree restored");
        assert!(!w.fork.join(".git/CHERRY_PICK_HEAD").exists(), "{point}");
        // And the backport can be run again from scratch.
        let again = w.backport(&["--json", &w.id("clean")]);
        assert_eq!(code(&again), 0, "{point}: {}", stderr(&again));
    }
}

#[test]
fn an_interrupted_run_on_a_branch_checked_out_nowhere_is_untouched_or_finished() {
    // No worktree to update: moving the branch (against the tip the run started from) is the
    // run's one change, so no state is saved and there is never anything to `--abort`.
    for (point, finished) in [
        ("state-saved", false),
        ("before-ref-update", false),
        ("after-ref-update", true),
    ] {
        let w = World::new();
        git(&w.fork, &["checkout", "-q", "-b", "work", "v6.0.36"]);
        let before = w.tip();
        w.killed_at(point, &["clean", "renamed"]);
        assert!(
            !w.fork.join(".git/els/backport-state.json").exists(),
            "{point}: no state saved"
        );
        assert_eq!(code(&w.resume("--abort")), 2, "{point}: nothing to abort");
        let tip = w.tip();
        if finished {
            let repo = w.fork_repo();
            let first = repo.find_commit(tip).unwrap().parent(0).unwrap();
            assert_eq!(
                first.parent_id(0).unwrap(),
                before,
                "{point}: both fixes on top"
            );
        } else {
            assert_eq!(tip, before, "{point}: branch untouched");
        }
        assert_eq!(
            status(&w.fork),
            "",
            "{point}: the user's worktree untouched"
        );
        let again = w.backport(&["--json", &w.id("clean"), &w.id("renamed")]);
        assert_eq!(code(&again), 0, "{point}: {}", stderr(&again));
        let want = if finished {
            "already-applied"
        } else {
            "applied"
        };
        assert_eq!(fields(&json(&again), "status"), [want, want], "{point}");
    }
}

#[test]
fn human_output_names_outcomes_and_next_steps() {
    let w = World::new();
    let out = w.backport(&[&w.id("clean"), &w.id("code-conflict")]);
    assert_eq!(code(&out), 1);
    let text = stdout(&out);
    assert!(
        text.contains("applied") && text.contains("conflict") && text.contains(JSON_READER),
        "{text}"
    );
    assert!(
        text.contains("likely prerequisites") && text.contains("Refactor Utf8JsonReader step 20"),
        "{text}"
    );
    assert!(
        text.contains("git mergetool") && text.contains("--continue") && text.contains("--abort"),
        "{text}"
    );
    assert!(
        !text.contains('\x1b'),
        "no colours when NO_COLOR is set / not a terminal"
    );
}

#[test]
fn a_fix_changing_reference_sources_is_classed_public_api() {
    let w = World::new();
    let upstream = Repository::open(&w.upstream).unwrap();
    let sec = history::signature("Security Dev", "sec@example.com", 1_700_000_100);
    let reference =
        "src/libraries/System.Security.Cryptography.Xml/ref/System.Security.Cryptography.Xml.cs";
    let fix = history::commit(
        &upstream,
        "release/8.0",
        &[(
            reference,
            Some("namespace System.Security.Cryptography.Xml { public partial class SignedXml { public bool CheckReference(int i) { throw null; } } }\n"),
        )],
        "Add SignedXml.CheckReference",
        &sec,
    )
    .unwrap()
    .to_string();
    let summary = w.root.join("summary.md");
    let fork = w.fork.to_str().unwrap().to_string();
    let upstream_dir = w.upstream.to_str().unwrap().to_string();
    let args = [
        "backport",
        "--fork",
        &fork,
        "--onto",
        "release/6.0-els",
        "--upstream",
        &upstream_dir,
        "--dry-run",
    ];
    let out = xtask(
        &w.root,
        &[&args[..], &["--json", &w.id("clean"), &fix]].concat(),
        &[],
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let report = json(&out);
    assert!(report["fixes"][0].get("public_api").is_none());
    assert_eq!(report["fixes"][1]["public_api"][0], reference);
    let out = xtask(
        &w.root,
        &[&args[..], &[&fix]].concat(),
        &[
            ("GITHUB_ACTIONS", "true"),
            ("GITHUB_STEP_SUMMARY", summary.to_str().unwrap()),
        ],
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    // Workflow commands go to stderr only: stdout carries the command's result.
    let annotations = stderr(&out);
    assert!(
        annotations.contains(&format!("::warning file={reference}::"))
            && annotations.contains("is public-api"),
        "{annotations}"
    );
    assert!(!stdout(&out).contains("::warning"), "{}", stdout(&out));
    assert!(
        stdout(&out).contains("public-api changes reference sources"),
        "{}",
        stdout(&out)
    );
    let md = std::fs::read_to_string(&summary).unwrap();
    assert!(md.contains("(public-api)"), "{md}");
}

#[test]
fn github_actions_get_annotations_and_a_step_summary() {
    let w = World::new();
    let summary = w.root.join("summary.md");
    let fork = w.fork.to_str().unwrap().to_string();
    let upstream = w.upstream.to_str().unwrap().to_string();
    let out = xtask(
        &w.root,
        &[
            "backport",
            "--fork",
            &fork,
            "--onto",
            "release/6.0-els",
            "--upstream",
            &upstream,
            &w.id("versions-conflict"),
        ],
        &[
            ("GITHUB_ACTIONS", "true"),
            ("GITHUB_STEP_SUMMARY", summary.to_str().unwrap()),
        ],
    );
    assert_eq!(code(&out), 1);
    // Workflow commands go to stderr: stdout carries only the result.
    assert!(
        stderr(&out).contains(&format!("::error file={VERSIONS}::")),
        "{}",
        stderr(&out)
    );
    let md = std::fs::read_to_string(&summary).unwrap();
    assert!(
        md.contains("| `eng/Versions.props` | content | version-infra |"),
        "{md}"
    );
}

#[test]
fn continue_accepts_a_resolution_committed_with_git_cherry_pick_continue() {
    let w = World::new();
    let out = w.backport(&[
        "--json",
        "--cve",
        "CVE-2025-30399",
        &w.id("code-conflict"),
        &w.id("clean"),
    ]);
    assert_eq!(code(&out), 1);
    let stopped = w.tip();
    let repo = w.fork_repo();
    let resolved = file(&repo, "release/6.0-els", JSON_READER)
        .replace("Step20() => 20;", "Step20() => CheckDepth(20);");
    std::fs::write(w.fork.join(JSON_READER), resolved).unwrap();
    git(&w.fork, &["add", JSON_READER]);
    // git itself finishes the pick with the message the toolkit prepared (MERGE_MSG).
    let done = Command::new("git")
        .args([
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@example.com",
            "-c",
            "core.editor=true",
            "cherry-pick",
            "--continue",
        ])
        .current_dir(&w.fork)
        .output()
        .unwrap();
    assert!(done.status.success(), "{}", stderr(&done));
    let by_git = repo.find_commit(w.tip()).unwrap();
    assert_eq!(by_git.parent_id(0).unwrap(), stopped);
    assert!(by_git.message().unwrap().contains(&format!(
        "(cherry picked from commit {})",
        w.id("code-conflict")
    )));
    let out = w.resume("--continue");
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let r = json(&out);
    assert_eq!(r["fixes"][0]["commit"], by_git.id().to_string());
    assert_eq!(r["fixes"][1]["status"], "applied");
    assert_eq!(status(&w.fork), "");
}

#[test]
fn a_finished_backport_is_recorded_in_the_patch_queue() {
    let w = World::new();
    std::fs::write(
        w.root.join("els.toml"),
        "[[repo]]\nname = \"runtime\"\npath = \"fork\"\nbranch = \"release/6.0-els\"\nbase = \"v6.0.36\"\nupstream = \"upstream\"\nupstream-branches = [\"release/8.0\"]\n",
    )
    .unwrap();
    let skipped = xtask(
        &w.root,
        &[
            "backport",
            "--no-export",
            "--cve",
            "CVE-2025-55248",
            &format!("runtime@{}", &w.id("clean")[..7]),
        ],
        &[],
    );
    assert_eq!(code(&skipped), 0, "{}", stderr(&skipped));
    assert!(
        !w.root.join("runtime-patches").exists(),
        "--no-export records nothing"
    );
    let out = xtask(
        &w.root,
        &[
            "backport",
            "--json",
            "--cve",
            "CVE-2025-30399",
            &format!("runtime@{}", &w.id("renamed")[..7]),
        ],
        &[],
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let r = json(&out);
    assert_eq!(r["queue"]["written"], true, "{r}");
    let series = std::fs::read_to_string(w.root.join("runtime-patches/runtime/series")).unwrap();
    let entry = series
        .lines()
        .find(|l| l.starts_with("CVE-2025-30399/"))
        .unwrap_or_else(|| panic!("{series}"));
    let patch =
        std::fs::read_to_string(w.root.join("runtime-patches/runtime").join(entry)).unwrap();
    assert!(
        patch.contains("CVE: CVE-2025-30399")
            && patch.contains(&format!("(cherry picked from commit {})", w.id("renamed"))),
        "{patch}"
    );
    assert!(
        series.lines().any(|l| l.starts_with("CVE-2025-55248/")),
        "the earlier pick is recorded too: {series}"
    );
    // A dry run or a stopped run leaves the queue alone.
    let before = std::fs::read_to_string(w.root.join("runtime-patches/runtime/series")).unwrap();
    let stopped = xtask(
        &w.root,
        &[
            "backport",
            "--cve",
            "CVE-2025-10001",
            &format!("runtime@{}", &w.id("code-conflict")[..7]),
        ],
        &[],
    );
    assert_eq!(code(&stopped), 1);
    assert_eq!(
        std::fs::read_to_string(w.root.join("runtime-patches/runtime/series")).unwrap(),
        before
    );
}
