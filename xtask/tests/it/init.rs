//! `cargo xtask init` on local repositories shaped like Microsoft's (a v6.0.36 tag among other
//! 6.0 tags, release/6.0, release/8.0 and release/9.0 branches; MSBuild with v17.3.N tags and
//! vs17.x branches), with the advisory data in tests/fixtures/dotnet-core. The result is judged
//! with git itself and by running the toolkit's own commands on the config init wrote.

use crate::support;

use std::path::{Path, PathBuf};

use git2::{Oid, Repository};
use support::{code, git, json, stderr, stdout, xtask};
use xtask::fixtures::upstreams;

fn dotnet_core() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/dotnet-core")
}

/// A bare repository `<dir>/<name>.git` whose history has one commit per tag and branch;
/// returns the commit of its base tag (`v6.0.36`, or MSBuild's `v17.3.1`).
fn upstream(dir: &Path, name: &str, tags: &[&str], branches: &[&str]) -> Oid {
    let tagged = upstreams::bare(dir, name, tags, branches).unwrap();
    tagged
        .get("v6.0.36")
        .or_else(|| tagged.get("v17.3.1"))
        .copied()
        .unwrap_or_else(Oid::zero)
}

struct World {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    upstreams: PathBuf,
    runtime_base: Oid,
    msbuild_base: Oid,
}

fn world() -> World {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().to_path_buf();
    let upstreams = root.join("dotnet");
    std::fs::create_dir_all(&upstreams).unwrap();
    let six = ["v6.0.0", "v6.0.35", "v6.0.36"];
    let releases = ["release/6.0", "release/8.0", "release/9.0"];
    let runtime_base = upstream(&upstreams, "runtime", &six, &releases);
    upstream(&upstreams, "wpf", &six, &releases);
    let msbuild_base = upstream(
        &upstreams,
        "msbuild",
        &["v17.3.0-preview-22226-04", "v17.3.0", "v17.3.1", "v17.4.0"],
        &[
            "vs17.3", "vs17.8", "vs17.10", "vs17.11", "vs17.12", "vs17.14",
        ],
    );
    std::fs::create_dir_all(root.join("toolkit")).unwrap();
    World {
        _tmp: tmp,
        root,
        upstreams,
        runtime_base,
        msbuild_base,
    }
}

fn init(w: &World, extra: &[&str]) -> std::process::Output {
    let upstreams = w.upstreams.display().to_string();
    let source = dotnet_core().display().to_string();
    let mut args = vec![
        "init",
        "--config",
        "els.toml",
        "--from-upstream",
        "--upstream-base",
        upstreams.as_str(),
        "--advisories-source",
        source.as_str(),
    ];
    if !extra.contains(&"--repos") {
        args.extend(["--repos", "runtime,wpf,msbuild"]);
    }
    args.extend_from_slice(extra);
    xtask(&w.root.join("toolkit"), &args, &[])
}

fn branch_tip(clone: &Path) -> Oid {
    let repo = Repository::open(clone).unwrap();
    let tip = repo
        .find_branch("release/6.0-els", git2::BranchType::Local)
        .unwrap()
        .get()
        .peel_to_commit()
        .unwrap()
        .id();
    tip
}

#[test]
fn init_from_upstream_sets_up_forks_config_and_snapshot_and_a_second_run_changes_nothing() {
    let w = world();
    let out = init(&w, &[]);
    assert_eq!(code(&out), 0, "{}{}", stdout(&out), stderr(&out));
    let text = stdout(&out);
    for next in [
        "$ cargo xtask advisories --config",
        "$ cargo xtask advisories plan",
        "$ cargo xtask backport --cve",
    ] {
        assert!(text.contains(next), "{text}");
    }

    // git says: each clone is on the ELS branch, at the base tag, with a clean worktree.
    let wpf_base = git(
        &w.upstreams.join("wpf.git"),
        &["rev-parse", "v6.0.36^{commit}"],
    );
    let wpf_base = Oid::from_str(wpf_base.trim()).unwrap();
    for (name, base) in [("runtime", w.runtime_base), ("wpf", wpf_base)] {
        let clone = w.root.join(name);
        assert_eq!(
            git(&clone, &["rev-parse", "--abbrev-ref", "HEAD"]).trim(),
            "release/6.0-els"
        );
        assert_eq!(git(&clone, &["rev-parse", "HEAD"]).trim(), base.to_string());
        assert_eq!(
            git(&clone, &["rev-parse", "v6.0.36^{commit}"]).trim(),
            base.to_string()
        );
        assert_eq!(git(&clone, &["status", "--porcelain"]), "");
        assert!(git(&clone, &["remote"]).contains("upstream"));
    }
    assert_eq!(
        branch_tip(&w.root.join("msbuild")),
        w.msbuild_base,
        "msbuild starts at v17.3.1, its newest 17.3 release"
    );

    // The config parses, names the right branches per repository, and the toolkit reads it.
    let config = xtask::config::Config::load(&w.root.join("toolkit/els.toml")).unwrap();
    let msbuild = config.repo("msbuild").unwrap();
    assert_eq!(msbuild.base, "v17.3.1");
    assert_eq!(
        msbuild.upstream_branches,
        ["vs17.8", "vs17.10", "vs17.11", "vs17.12", "vs17.14"]
    );
    let runtime = config.repo("runtime").unwrap();
    assert_eq!(runtime.base, "v6.0.36");
    assert_eq!(runtime.upstream_branches, ["release/8.0", "release/9.0"]);
    assert_eq!(
        config.resolve(&runtime.path),
        w.root.join("toolkit/../runtime")
    );
    assert!(
        config.repos.iter().all(|r| r.name != "dotnet"),
        "no dotnet/dotnet in a local upstream base that lacks it"
    );
    let snapshot: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(w.root.join("toolkit/advisories/snapshot.json")).unwrap(),
    )
    .unwrap();
    assert!(!snapshot["advisories"].as_array().unwrap().is_empty());
    let status = xtask(
        &w.root.join("toolkit"),
        &["advisories", "--json", "--today", "2026-04-01"],
        &[],
    );
    assert!(matches!(code(&status), 0 | 1), "{}", stderr(&status));
    assert!(!json(&status)["rows"].as_array().unwrap().is_empty());

    // Idempotent: nothing changes, and it says so.
    let before = std::fs::read(w.root.join("toolkit/els.toml")).unwrap();
    let again = init(&w, &["--json"]);
    assert_eq!(code(&again), 0, "{}", stderr(&again));
    let report = json(&again);
    assert_eq!(report["wrote_config"], false);
    assert_eq!(report["snapshot_changed"], false);
    for r in report["repos"].as_array().unwrap() {
        assert_eq!(r["cloned_from"], serde_json::Value::Null);
        assert_eq!(r["created_branch"], false);
        assert_eq!(r["fetched_tag"], false);
    }
    assert_eq!(
        std::fs::read(w.root.join("toolkit/els.toml")).unwrap(),
        before
    );
    let third = init(&w, &[]);
    assert!(
        stdout(&third).contains("already set up; nothing changed"),
        "{}",
        stdout(&third)
    );
}

#[test]
fn init_refuses_a_differing_config_and_a_foreign_branch_with_nothing_changed() {
    let w = world();
    let toolkit = w.root.join("toolkit");
    let theirs = "[[repo]]\nname = \"runtime\"\npath = \"../elsewhere/runtime\"\nbranch = \"release/6.0-els\"\nbase = \"v6.0.36\"\nupstream = \"https://github.com/dotnet/runtime\"\n";
    std::fs::write(toolkit.join("els.toml"), theirs).unwrap();
    let out = init(&w, &[]);
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("els.toml exists and differs"), "{err}");
    assert!(err.contains("`runtime` path"), "{err}");
    assert!(err.contains("`wpf` is missing"), "{err}");
    assert!(err.contains("--config FILE"), "{err}");
    assert_eq!(
        std::fs::read_to_string(toolkit.join("els.toml")).unwrap(),
        theirs
    );
    assert!(
        !w.root.join("runtime").exists() && !w.root.join("wpf").exists(),
        "nothing cloned"
    );

    // A clone whose release/6.0-els does not contain v6.0.36 is someone else's branch.
    std::fs::remove_file(toolkit.join("els.toml")).unwrap();
    let clone = w.root.join("wpf");
    git(
        &w.root,
        &[
            "clone",
            "--quiet",
            &w.upstreams.join("wpf.git").display().to_string(),
            "wpf",
        ],
    );
    git(&clone, &["branch", "release/6.0-els", "v6.0.35"]);
    git(
        &clone,
        &[
            "commit",
            "--quiet",
            "--allow-empty",
            "-m",
            "not from v6.0.36",
        ],
    );
    git(&clone, &["branch", "-f", "release/6.0-els", "HEAD"]);
    let foreign = branch_tip(&clone);
    let out = init(&w, &[]);
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("branch release/6.0-els exists and does not start from v6.0.36"),
        "{}",
        stderr(&out)
    );
    assert_eq!(branch_tip(&clone), foreign, "the branch is untouched");
    assert!(!toolkit.join("els.toml").exists(), "no config written");
    assert!(!w.root.join("runtime").exists(), "nothing cloned");
}

#[test]
fn init_from_a_fork_continues_its_els_branch_and_fetches_a_missing_tag() {
    let w = world();
    // The team's fork: runtime with release/6.0-els two commits past v6.0.36 and no tags.
    let forks = w.root.join("contoso");
    std::fs::create_dir_all(&forks).unwrap();
    let fork = forks.join("runtime.git");
    git(
        &w.root,
        &[
            "clone",
            "--quiet",
            "--bare",
            "--no-tags",
            &w.upstreams.join("runtime.git").display().to_string(),
            &fork.display().to_string(),
        ],
    );
    let work = w.root.join("work");
    git(
        &w.root,
        &["clone", "--quiet", &fork.display().to_string(), "work"],
    );
    git(
        &work,
        &[
            "checkout",
            "--quiet",
            "-b",
            "release/6.0-els",
            &w.runtime_base.to_string(),
        ],
    );
    git(
        &work,
        &[
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@t",
            "commit",
            "--quiet",
            "--allow-empty",
            "-m",
            "ELS fix",
        ],
    );
    git(&work, &["push", "--quiet", "origin", "release/6.0-els"]);
    assert!(git(&fork, &["tag"]).is_empty());
    let tip = git(&work, &["rev-parse", "HEAD"]).trim().to_string();

    let upstreams = w.upstreams.display().to_string();
    let out = xtask(
        &w.root.join("toolkit"),
        &[
            "init",
            "--fork-base",
            &forks.display().to_string(),
            "--upstream-base",
            &upstreams,
            "--advisories-source",
            &dotnet_core().display().to_string(),
            "--repos",
            "runtime",
            "--dir",
            "../clones",
        ],
        &[],
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let clone = w.root.join("clones/runtime");
    assert_eq!(
        branch_tip(&clone).to_string(),
        tip,
        "continues the fork's branch"
    );
    assert_eq!(
        git(&clone, &["rev-parse", "v6.0.36^{commit}"]).trim(),
        w.runtime_base.to_string(),
        "tag fetched from upstream"
    );
    assert!(stdout(&out).contains("fetched the tag"), "{}", stdout(&out));
    assert!(git(&clone, &["remote", "get-url", "origin"]).contains("contoso/runtime.git"));
}

#[test]
fn init_names_unknown_repositories_and_missing_fork_locations() {
    let w = world();
    let out = init(&w, &["--repos", "runtime,coreclr"]);
    assert_eq!(code(&out), 2);
    assert!(
        stderr(&out).contains("`coreclr` is not a repository init knows"),
        "{}",
        stderr(&out)
    );
    let out = xtask(
        &w.root.join("toolkit"),
        &["init", "--config", "els.toml"],
        &[],
    );
    assert_eq!(code(&out), 2);
    assert!(
        stderr(&out).contains("--owner ORG or --fork-base"),
        "{}",
        stderr(&out)
    );
    assert!(!w.root.join("toolkit/els.toml").exists());
}

/// A trial on a real clone of dotnet/wpf (a read-only bare snapshot, see README.md "init on a
/// real repository"), which CI cannot fetch: `ELS_WPF_SNAPSHOT=<bare clone> cargo xtask test`
/// runs it with the suite (and without the variable says it did not); the test fails rather than
/// pass silently when the variable is missing.
#[test]
#[ignore = "needs a real dotnet/wpf clone: ELS_WPF_SNAPSHOT=<bare clone>"]
fn init_on_a_real_dotnet_wpf_clone() {
    let snapshot = std::env::var("ELS_WPF_SNAPSHOT")
        .expect("set ELS_WPF_SNAPSHOT to a bare clone of dotnet/wpf");
    let tmp = tempfile::tempdir().unwrap();
    let upstreams = tmp.path().join("dotnet");
    std::fs::create_dir_all(&upstreams).unwrap();
    std::os::unix::fs::symlink(&snapshot, upstreams.join("wpf.git")).unwrap();
    std::fs::create_dir_all(tmp.path().join("toolkit")).unwrap();
    let args = [
        "init",
        "--config",
        "els.toml",
        "--from-upstream",
        "--upstream-base",
        &upstreams.display().to_string(),
        "--advisories-source",
        &dotnet_core().display().to_string(),
        "--repos",
        "wpf",
    ];
    let out = xtask(&tmp.path().join("toolkit"), &args, &[]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let clone = tmp.path().join("wpf");
    let tag = git(Path::new(&snapshot), &["rev-parse", "v6.0.36^{commit}"]);
    assert_eq!(git(&clone, &["rev-parse", "release/6.0-els"]), tag);
    assert_eq!(git(&clone, &["status", "--porcelain"]), "");
    let again = xtask(&tmp.path().join("toolkit"), &args, &[]);
    assert!(
        stdout(&again).contains("already set up; nothing changed"),
        "{}",
        stdout(&again)
    );
    let cherry = xtask(
        &tmp.path().join("toolkit"),
        &[
            "cherry",
            "--repo",
            "wpf",
            "--json",
            "release/6.0-els",
            "upstream/release/8.0",
        ],
        &[],
    );
    assert!(matches!(code(&cherry), 0 | 1), "{}", stderr(&cherry));
}

/// Before `init` (or with a wrong `path`), every command that needs a fork says which fork is
/// missing, where els.toml expects it and how to create it, instead of suggesting flags the
/// command does not have.
#[test]
fn commands_that_need_a_fork_say_which_one_is_missing_and_how_to_create_it() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(
        tmp.path().join("els.toml"),
        "[[repo]]\nname = \"runtime\"\npath = \"../runtime\"\nbranch = \"release/6.0-els\"\nbase = \"v6.0.36\"\nupstream = \"https://github.com/dotnet/runtime\"\n\n[[repo]]\nname = \"aspnetcore\"\npath = \"../aspnetcore\"\nbranch = \"release/6.0-els\"\nbase = \"v6.0.36\"\nupstream = \"https://github.com/dotnet/aspnetcore\"\n",
    )
    .unwrap();
    for args in [
        &["patches", "export", "--repo", "runtime"][..],
        &["bump", "--dry-run"],
        &["build", "--os", "linux", "--dry-run"],
        &[
            "cherry",
            "--repo",
            "runtime",
            "release/6.0-els",
            "release/8.0",
        ],
    ] {
        let out = xtask(tmp.path(), args, &[]);
        let err = stderr(&out);
        assert_eq!(code(&out), 2, "{args:?}: {err}");
        assert!(
            err.contains("this command needs the `runtime` fork"),
            "{args:?}: {err}"
        );
        assert!(err.contains("cargo xtask init"), "{args:?}: {err}");
        assert!(
            !err.contains("--fork"),
            "{args:?} suggests a flag it does not have: {err}"
        );
    }
    let out = xtask(
        tmp.path(),
        &["cherry", "release/6.0-els", "release/8.0"],
        &[],
    );
    assert_eq!(code(&out), 2);
    assert!(
        stderr(&out).contains(
            "els.toml configures 2 repositories (runtime, aspnetcore); name one with --repo NAME"
        ),
        "{}",
        stderr(&out)
    );
}
