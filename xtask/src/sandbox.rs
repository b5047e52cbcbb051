//! Throwaway git repositories shaped like dotnet/runtime — an old release branch and a newer one
//! that diverged from it, `eng/Versions.props`, `src/libraries/…` — built with git2 without a
//! worktree. `cargo xtask demo`, the tests and the benchmarks all use them.

use std::path::Path;

use anyhow::{Context, Result};
use git2::{Oid, Repository, Signature, Time};

/// A file change for [`commit`]: a path and its new content, or `None` to delete it.
pub type FileChange<'a> = (&'a str, Option<&'a str>);

/// A deterministic signature at a fixed time (seconds since the epoch), so generated repositories
/// are reproducible.
pub fn signature(name: &str, email: &str, time: i64) -> Signature<'static> {
    Signature::new(name, email, &Time::new(time, 0)).expect("name and email without angle brackets")
}

/// Creates an empty non-bare repository at `path` with a fixed identity configured.
pub fn init(path: &Path) -> Result<Repository> {
    let repo = Repository::init(path)
        .with_context(|| format!("cannot create a repository at {}", path.display()))?;
    let mut config = repo.config()?;
    config.set_str("user.name", "ELS Maintainer")?;
    config.set_str("user.email", "els@example.com")?;
    Ok(repo)
}

/// Commits `changes` on top of `branch` (created from `parent` when it does not exist yet, or as
/// a root commit when there is no parent) without touching the worktree. Returns the commit id.
pub fn commit(
    repo: &Repository,
    branch: &str,
    changes: &[FileChange],
    message: &str,
    author: &Signature,
) -> Result<Oid> {
    let full = format!("refs/heads/{branch}");
    let parent = repo
        .refname_to_id(&full)
        .ok()
        .map(|id| repo.find_commit(id))
        .transpose()?;
    let parents: Vec<git2::Commit> = parent.into_iter().collect();
    commit_with_parents(repo, Some(&full), &parents, changes, message, author)
}

/// Commits `changes` applied to the first parent's tree with the given parents (a merge commit
/// when there are several), moving `reference` when given.
pub fn commit_with_parents(
    repo: &Repository,
    reference: Option<&str>,
    parents: &[git2::Commit],
    changes: &[FileChange],
    message: &str,
    author: &Signature,
) -> Result<Oid> {
    let base = match parents.first() {
        Some(p) => p.tree()?,
        None => repo.find_tree(repo.treebuilder(None)?.write()?)?,
    };
    let mut update = git2::build::TreeUpdateBuilder::new();
    for (path, content) in changes {
        match content {
            Some(text) => update.upsert(*path, repo.blob(text.as_bytes())?, git2::FileMode::Blob),
            None => update.remove(*path),
        };
    }
    let tree = repo.find_tree(update.create_updated(repo, &base)?)?;
    let parent_refs: Vec<&git2::Commit> = parents.iter().collect();
    Ok(repo.commit(reference, author, author, message, &tree, &parent_refs)?)
}

/// Creates `branch` at `target` (overwriting it).
pub fn branch(repo: &Repository, branch: &str, target: Oid) -> Result<()> {
    repo.reference(&format!("refs/heads/{branch}"), target, true, "sandbox")?;
    Ok(())
}

/// Points HEAD at `branch` and makes the worktree and index match it.
pub fn checkout(repo: &Repository, branch: &str) -> Result<()> {
    repo.set_head(&format!("refs/heads/{branch}"))?;
    repo.checkout_head(Some(git2::build::CheckoutBuilder::new().force()))?;
    Ok(())
}

/// A runtime-shaped `eng/Versions.props` for `major.minor.patch`.
pub fn versions_props(major: u32, minor: u32, patch: u32) -> String {
    format!(
        r#"<Project>
  <PropertyGroup>
    <ProductVersion>{major}.{minor}.{patch}</ProductVersion>
    <!-- The .NET product branding version -->
    <MajorVersion>{major}</MajorVersion>
    <MinorVersion>{minor}</MinorVersion>
    <PatchVersion>{patch}</PatchVersion>
    <SdkBandVersion>{major}.{minor}.100</SdkBandVersion>
    <PreReleaseVersionLabel>servicing</PreReleaseVersionLabel>
    <PreReleaseVersionIteration></PreReleaseVersionIteration>
    <StabilizePackageVersion Condition="'$(StabilizePackageVersion)' == ''">true</StabilizePackageVersion>
    <AssemblyVersion>$(MajorVersion).$(MinorVersion).0.0</AssemblyVersion>
  </PropertyGroup>
</Project>
"#
    )
}

/// A C# source file of `lines` numbered statements in a class, so line-level edits are easy to
/// make and merge.
pub fn csharp(namespace: &str, class: &str, lines: usize) -> String {
    let mut s = format!("namespace {namespace}\n{{\n    internal sealed class {class}\n    {{\n");
    for i in 1..=lines {
        s.push_str(&format!(
            "        // {class} statement {i}\n        internal static int Step{i}() => {i};\n"
        ));
    }
    s.push_str("    }\n}\n");
    s
}

/// Replaces the first occurrence of `from` with `to`, panicking when absent (generator bug).
pub fn edit(text: &str, from: &str, to: &str) -> String {
    assert!(text.contains(from), "sandbox edit: `{from}` not found");
    text.replacen(from, to, 1)
}
