//! `cargo xtask demo`: a throwaway sandbox shaped like the fork — an upstream dotnet/runtime-like
//! repository with release/6.0 and a diverged release/8.0 carrying security fixes, and a fork
//! holding release/6.0-els — on which every stage of the loop runs for real.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use git2::{Oid, Repository};

use crate::sandbox::{self, csharp, edit, versions_props};

const SMTP_CLIENT: &str = "src/libraries/System.Net.Mail/src/System/Net/Mail/SmtpClient.cs";
const SIGNED_XML: &str = "src/libraries/System.Security.Cryptography.Xml/src/System/Security/Cryptography/Xml/SignedXml.cs";
const VERSIONS: &str = "eng/Versions.props";

/// The sandbox's config: the same schema as the repository's els.toml.
const DEMO_CONFIG: &str = r#"[fork]
name = ".NET 6 ELS (demo)"
base-version = "6.0.36"

[[repo]]
name = "runtime"
path = "fork/runtime"
branch = "release/6.0-els"
base = "v6.0.36"
upstream = "upstream/runtime"
upstream-branches = ["release/8.0"]
"#;

/// The sandbox: where things are and the upstream fixes it carries.
pub struct Sandbox {
    pub root: PathBuf,
    pub upstream: PathBuf,
    pub fork: PathBuf,
    /// A fix that applies cleanly (System.Security.Cryptography.Xml).
    pub clean_fix: Oid,
    /// A fix the fork already carries, picked earlier by hand.
    pub already_applied_fix: Oid,
    /// A fix that also bumps eng/Versions.props, which conflicts on the fork.
    pub versions_conflict_fix: Oid,
}

/// Builds the sandbox under `root` (which must be empty or absent) and writes an `els.toml` for
/// it, so every command runs there with no flags. The advisory snapshot and triage decisions
/// are copied from `toolkit` (this repository), so the sandbox starts from the real advisory table.
pub fn build(root: &Path, toolkit: &Path) -> Result<Sandbox> {
    std::fs::create_dir_all(root).with_context(|| format!("cannot create {}", root.display()))?;
    for file in ["advisories/snapshot.json", "advisories/triage.toml"] {
        let text = std::fs::read(toolkit.join(file))
            .with_context(|| format!("cannot read {}", toolkit.join(file).display()))?;
        crate::atomic::write(&root.join(file), text)?;
    }
    let upstream = root.join("upstream/runtime");
    let repo = sandbox::init(&upstream)?;
    let dev = sandbox::signature("Runtime Dev", "dev@example.com", 1_700_000_000);
    let sec = sandbox::signature("Security Dev", "security@example.com", 1_760_000_000);
    let files = [
        (VERSIONS, versions_props(6, 0, 36)),
        (SMTP_CLIENT, csharp("System.Net.Mail", "SmtpClient", 30)),
        (
            SIGNED_XML,
            csharp("System.Security.Cryptography.Xml", "SignedXml", 30),
        ),
    ];
    let changes: Vec<(&str, Option<&str>)> =
        files.iter().map(|(p, c)| (*p, Some(c.as_str()))).collect();
    let base = sandbox::commit(
        &repo,
        "release/6.0",
        &changes,
        "Update branding to 6.0.36",
        &dev,
    )?;
    repo.tag_lightweight("v6.0.36", &repo.find_object(base, None)?, false)?;
    sandbox::branch(&repo, "release/8.0", base)?;
    let at8 = |path: &str| -> Result<String> { read(&repo, "release/8.0", path) };
    sandbox::commit(
        &repo,
        "release/8.0",
        &[(VERSIONS, Some(&versions_props(8, 0, 20)))],
        "Update branding to 8.0.20",
        &dev,
    )?;
    let clean_fix = sandbox::commit(
        &repo,
        "release/8.0",
        &[(
            SIGNED_XML,
            Some(&edit(
                &at8(SIGNED_XML)?,
                "Step5() => 5;",
                "Step5() => ValidateReference(5);",
            )),
        )],
        "Merged PR 61885: [release/8.0] Validate references in SignedXml",
        &sec,
    )?;
    let already_applied_fix = sandbox::commit(
        &repo,
        "release/8.0",
        &[(
            SMTP_CLIENT,
            Some(&edit(
                &at8(SMTP_CLIENT)?,
                "Step7() => 7;",
                "Step7() => RequireStartTls(7);",
            )),
        )],
        "Merged PR 61887: [release/8.0] Require STARTTLS before sending credentials",
        &sec,
    )?;
    let bumped = edit(
        &edit(
            &at8(VERSIONS)?,
            "8.0.20</ProductVersion>",
            "8.0.21</ProductVersion>",
        ),
        "<PatchVersion>20<",
        "<PatchVersion>21<",
    );
    let versions_conflict_fix = sandbox::commit(
        &repo,
        "release/8.0",
        &[
            (
                SMTP_CLIENT,
                Some(&edit(
                    &at8(SMTP_CLIENT)?,
                    "Step20() => 20;",
                    "Step20() => EncodeHeader(20);",
                )),
            ),
            (VERSIONS, Some(&bumped)),
        ],
        "Merged PR 62030: [release/8.0] Encode SMTP headers",
        &sec,
    )?;

    // The fork has only release/6.0 (as release/6.0-els), so fixes must be fetched from upstream.
    let fork = root.join("fork/runtime");
    let fork_repo = sandbox::init(&fork)?;
    let mut remote = fork_repo.remote_anonymous(&upstream.display().to_string())?;
    remote.fetch(
        &[
            "+refs/heads/release/6.0:refs/heads/release/6.0-els",
            "+refs/tags/v6.0.36:refs/tags/v6.0.36",
        ],
        None,
        None,
    )?;
    drop(remote);
    let picked_message = format!(
        "Require STARTTLS before sending credentials\n\n(cherry picked from commit {already_applied_fix})\nCVE: CVE-2025-55248\n"
    );
    let fork_file = read(&fork_repo, "release/6.0-els", SMTP_CLIENT)?;
    sandbox::commit(
        &fork_repo,
        "release/6.0-els",
        &[(
            SMTP_CLIENT,
            Some(&edit(
                &fork_file,
                "Step7() => 7;",
                "Step7() => RequireTls(7);",
            )),
        )],
        &picked_message,
        &sec,
    )?;
    sandbox::checkout(&fork_repo, "release/6.0-els")?;

    crate::atomic::write(&root.join(crate::config::FILE_NAME), DEMO_CONFIG)?;
    Ok(Sandbox {
        root: root.to_path_buf(),
        upstream,
        fork,
        clean_fix,
        already_applied_fix,
        versions_conflict_fix,
    })
}

fn read(repo: &Repository, branch: &str, path: &str) -> Result<String> {
    let tree = repo.revparse_single(branch)?.peel_to_tree()?;
    let blob = repo.find_blob(tree.get_path(Path::new(path))?.id())?;
    Ok(String::from_utf8_lossy(blob.content()).into_owned())
}

/// The short form of a commit id as Microsoft writes it in cve.json (`runtime@abc1234`).
pub fn cve_json_key(repo: &str, id: Oid) -> String {
    format!("{repo}@{}", &id.to_string()[..7])
}

/// Resolves a conflicted path by keeping the fork's side, as `git checkout --ours PATH && git add
/// PATH` does.
pub fn keep_ours(worktree: &Path, path: &str) -> Result<()> {
    let repo = Repository::open(worktree)?;
    let ours = repo.head()?.peel_to_tree()?.get_path(Path::new(path))?;
    let blob = repo.find_blob(ours.id())?;
    std::fs::write(worktree.join(path), blob.content())?;
    let mut index = repo.index()?;
    index.add_path(Path::new(path))?;
    index.write()?;
    Ok(())
}
