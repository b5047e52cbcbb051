//! Conflicts: naming each conflicted path's kind and class, writing the conflict into a worktree
//! the way `git cherry-pick` does (markers, index stages, CHERRY_PICK_HEAD, MERGE_MSG) so that
//! `git status`, `git mergetool` and an editor work.

use std::collections::BTreeSet;

use anyhow::{Context, Result};
use git2::{build::CheckoutBuilder, Commit, Index, IndexConflict, Repository};

/// A path left conflicted by a pick, in fork paths.
#[derive(
    Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema,
)]
pub struct ConflictedPath {
    pub path: String,
    /// What kind of conflict: `content`, `add/add`, `modify/delete`, `delete/modify`, `rename`.
    pub kind: String,
    /// `version-infra` (eng/Versions.props, eng/Version.Details.xml, NuGet.config, global.json,
    /// eng/common, pipelines), `tests`, or `code`.
    pub class: String,
}

/// Names a conflict from the stages present.
pub fn describe(c: &IndexConflict) -> ConflictedPath {
    let path_of = |e: &Option<git2::IndexEntry>| {
        e.as_ref()
            .map(|e| String::from_utf8_lossy(&e.path).into_owned())
    };
    let (anc, ours, theirs) = (path_of(&c.ancestor), path_of(&c.our), path_of(&c.their));
    let path = ours
        .clone()
        .or(theirs.clone())
        .or(anc.clone())
        .unwrap_or_default();
    let renamed = [&anc, &ours, &theirs]
        .iter()
        .filter_map(|p| p.as_ref())
        .any(|p| *p != path);
    let kind = match (&anc, &ours, &theirs) {
        _ if renamed => "rename",
        (Some(_), Some(_), Some(_)) => "content",
        (None, Some(_), Some(_)) => "add/add",
        (Some(_), None, Some(_)) => "modify/delete",
        (Some(_), Some(_), None) => "delete/modify",
        _ => "content",
    };
    ConflictedPath {
        class: classify(&path).to_string(),
        kind: kind.to_string(),
        path,
    }
}

/// The class of a path: version and infrastructure files (where most 8.0 → 6.0 conflicts are,
/// and which a maintainer resolves by keeping the fork's side), tests, or product code.
pub fn classify(path: &str) -> &'static str {
    let lower = path.to_ascii_lowercase();
    let name = lower.rsplit('/').next().unwrap_or(&lower);
    let infra_files = [
        "versions.props",
        "version.details.xml",
        "nuget.config",
        "global.json",
        "directory.build.props",
        "directory.build.targets",
        "directory.packages.props",
    ];
    let infra_dirs = [
        "eng/common/",
        "eng/pipelines/",
        ".github/",
        ".azure/",
        ".config/",
    ];
    if infra_files.contains(&name)
        || infra_dirs.iter().any(|d| lower.starts_with(d))
        || name.starts_with("azure-pipelines")
        || (lower.starts_with("eng/") && !lower[4..].contains('/'))
    {
        return "version-infra";
    }
    let segments: Vec<&str> = lower.split('/').collect();
    let test_dir =
        segments.iter().rev().skip(1).any(|s| {
            *s == "tests" || *s == "test" || s.ends_with(".tests") || s.ends_with(".test")
        });
    if test_dir || name.ends_with("tests.cs") || name.ends_with("test.cs") {
        return "tests";
    }
    "code"
}

/// Writes a conflicted pick into the worktree `wt` whose HEAD is the onto branch: the index gets
/// the merge result with conflict stages, files get standard markers, and CHERRY_PICK_HEAD and
/// MERGE_MSG are set as `git cherry-pick` sets them. Returns the paths written.
pub fn materialize(
    wt: &Repository,
    index: &mut Index,
    fix: &Commit,
    message: &str,
) -> Result<Vec<String>> {
    let mut repo_index = wt.index()?;
    repo_index.clear()?;
    let mut written = Vec::new();
    for e in index.iter() {
        if (e.flags >> 12) & 0x3 == 0 {
            repo_index.add(&e)?;
        }
    }
    for c in index.conflicts()? {
        let c = c?;
        // Entries keep their stage bits, so adding them records the conflict.
        for e in [&c.ancestor, &c.our, &c.their].into_iter().flatten() {
            written.push(String::from_utf8_lossy(&e.path).into_owned());
            repo_index.add(e)?;
        }
    }
    repo_index
        .write()
        .context("cannot write the worktree's index")?;
    crate::backport::failpoint("conflict-index-written");
    let label = their_label(fix)?;
    let mut checkout = CheckoutBuilder::new();
    checkout.force();
    wt.checkout_index(Some(&mut repo_index), Some(marked(&mut checkout, &label)))
        .context("cannot write the conflicted files")?;
    written.sort();
    written.dedup();
    write_cherry_pick_state(wt, fix, message, &written)?;
    Ok(written)
}

/// Writes a conflicted pick into the backport's own sparse worktree `wt` (see
/// [`conflict_worktree`](super::conflict_worktree)) as [`materialize`] does, with only the files
/// the pick writes (`needed`) on disk. Returns the paths written.
pub fn materialize_sparse(
    wt: &Repository,
    index: &Index,
    needed: &BTreeSet<String>,
    fix: &Commit,
    message: &str,
) -> Result<Vec<String>> {
    let label = their_label(fix)?;
    let mut checkout = CheckoutBuilder::new();
    let written =
        super::conflict_worktree::move_to(wt, index, needed, marked(&mut checkout, &label))?;
    let conflicted: Vec<String> = index
        .iter()
        .filter(|e| (e.flags >> 12) & 0x3 != 0)
        .map(|e| String::from_utf8_lossy(&e.path).into_owned())
        .collect();
    write_cherry_pick_state(wt, fix, message, &conflicted)?;
    Ok(written)
}

/// `<short id> (<subject>)`: how `git cherry-pick` labels the fix's side of a conflict.
fn their_label(fix: &Commit) -> Result<String> {
    let short = fix
        .as_object()
        .short_id()?
        .as_str()
        .unwrap_or_default()
        .to_string();
    Ok(format!("{short} ({})", fix.summary().unwrap_or_default()))
}

/// Conflicted files written with markers labelled as `git cherry-pick` labels them.
fn marked<'c, 'a>(
    checkout: &'c mut CheckoutBuilder<'a>,
    their_label: &'a str,
) -> &'c mut CheckoutBuilder<'a> {
    checkout
        .allow_conflicts(true)
        .conflict_style_merge(true)
        .our_label("HEAD")
        .their_label(their_label)
}

/// CHERRY_PICK_HEAD and MERGE_MSG (with the `# Conflicts:` list) as `git cherry-pick` leaves them.
fn write_cherry_pick_state(
    wt: &Repository,
    fix: &Commit,
    message: &str,
    conflicted: &[String],
) -> Result<()> {
    let gitdir = wt.path();
    crate::atomic::write(&gitdir.join("CHERRY_PICK_HEAD"), format!("{}\n", fix.id()))?;
    let mut merge_msg = message.trim_end().to_string();
    merge_msg.push_str("\n\n# Conflicts:\n");
    for path in conflicted.iter().collect::<BTreeSet<_>>() {
        merge_msg.push_str(&format!("#\t{path}\n"));
    }
    crate::atomic::write(&gitdir.join("MERGE_MSG"), merge_msg)
}

#[cfg(test)]
mod tests {
    use super::classify;

    #[test]
    fn classifies_version_files_tests_and_code() {
        for p in [
            "eng/Versions.props",
            "eng/Version.Details.xml",
            "NuGet.config",
            "global.json",
            "eng/common/tools.sh",
            "eng/pipelines/runtime.yml",
        ] {
            assert_eq!(classify(p), "version-infra", "{p}");
        }
        for p in [
            "src/libraries/System.Net.Mail/tests/Functional/SmtpClientTest.cs",
            "src/tests/JIT/x.cs",
        ] {
            assert_eq!(classify(p), "tests", "{p}");
        }
        for p in [
            "src/libraries/System.Net.Mail/src/System/Net/Mail/SmtpClient.cs",
            "src/coreclr/vm/jitinterface.cpp",
        ] {
            assert_eq!(classify(p), "code", "{p}");
        }
    }
}
