//! `cargo xtask bump`: brands the fork with its next patch version and commits it as
//! "Update branding to 6.0.N" in each product repository — runtime `eng/Versions.props`
//! (`ProductVersion`, `PatchVersion`), aspnetcore (`AspNetCorePatchVersion` and the package
//! baseline it checks against), the desktop repositories winforms, wpf and windowsdesktop
//! (`PatchVersion`, and the runtime packages they consume moved to the fork's new runtime in
//! `eng/Versions.props` and `eng/Version.Details.xml`), and the `ServicingVersion` of every
//! out-of-band package whose sources changed since the last branding (to the fork's own
//! four-part package version).
//! Edits keep every other byte of the files.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use git2::Repository;
use serde::Serialize;

use crate::config::{Config, RepoConfig};
use crate::msbuild::XmlFile;
use crate::official_build::dependencies::{self, Dependency};
use crate::version::Version;

/// The subject of a branding commit; the version follows it.
pub const COMMIT_PREFIX: &str = "Update branding to ";

/// What to bump to.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// The target version; default the current one plus one.
    pub to: Option<Version>,
    /// Compute and report the changes without writing or committing.
    pub dry_run: bool,
}

/// What a bump changed.
#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
pub struct Report {
    pub from: String,
    pub to: String,
    pub dry_run: bool,
    pub repos: Vec<RepoBump>,
}

/// The changes in one repository and the commit that holds them.
#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
pub struct RepoBump {
    pub repo: String,
    /// The branding commit; `None` on a dry run.
    pub commit: Option<String>,
    pub changes: Vec<Change>,
}

/// One value changed in one file.
#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
pub struct Change {
    /// Path relative to the repository root.
    pub file: String,
    pub line: usize,
    /// The property, or `Element@Attribute` for an attribute value.
    pub name: String,
    pub old: String,
    pub new: String,
}

/// Files edited in one repository, with the changes they carry.
struct RepoPlan<'c> {
    config: &'c RepoConfig,
    repo: Repository,
    root: PathBuf,
    files: Vec<XmlFile>,
    changes: Vec<Change>,
}

impl RepoPlan<'_> {
    fn set_property(&mut self, file: usize, name: &str, new: &str) -> Result<()> {
        let doc = &mut self.files[file];
        let p = doc.property(name)?;
        doc.set_text(p.index, new)?;
        let rel = relative(&self.root, doc.path());
        self.changes.push(Change {
            file: rel,
            line: p.line,
            name: name.to_string(),
            old: p.value,
            new: new.to_string(),
        });
        Ok(())
    }

    /// Reads `eng/Versions.props` into the plan and moves its patch-number property `name` to
    /// `target`'s patch, refusing to go backwards; returns the file's index in the plan.
    fn bump_patch_property(&mut self, name: &str, target: Version) -> Result<usize> {
        let props = self.files.len();
        self.files
            .push(XmlFile::read(&self.root.join("eng/Versions.props"))?);
        let doc = &self.files[props];
        let (p, current) = doc.number_property(name)?;
        if current >= target.patch {
            bail!(
                "{}:{}: <{name}> is already {current}; bumping to {target} would go backwards",
                doc.path().display(),
                p.line
            );
        }
        self.set_property(props, name, &target.patch.to_string())?;
        Ok(props)
    }
}

/// Brands the fork's product repositories with the next version and commits the change.
/// Checks every repository (clean, no operation in progress, on its fork branch) and plans every
/// edit before writing anything, so a refusal leaves all repositories untouched.
pub fn bump(config: &Config, options: &Options) -> Result<Report> {
    let runtime_config = config.repo("runtime")?;
    let mut runtime = open_checked(config, runtime_config)?;
    let props = runtime.files.len();
    runtime
        .files
        .push(XmlFile::read(&runtime.root.join("eng/Versions.props"))?);
    let doc = &runtime.files[props];
    let product = doc.property("ProductVersion")?;
    let current: Version = product.value.parse().with_context(|| {
        format!(
            "{}:{}: <ProductVersion> is not a version",
            doc.path().display(),
            product.line
        )
    })?;
    let (patch, patch_number) = doc.number_property("PatchVersion")?;
    if patch_number != current.patch {
        bail!(
            "{}:{}: <PatchVersion> is {patch_number} but <ProductVersion> is {current}; make them agree before bumping",
            doc.path().display(),
            patch.line
        );
    }
    let target = target_version(config, current, options.to)?;
    runtime.set_property(props, "ProductVersion", &target.to_string())?;
    runtime.set_property(props, "PatchVersion", &target.patch.to_string())?;
    plan_out_of_band_packages(&mut runtime)?;

    let mut plans = vec![runtime];
    if let Ok(aspnetcore_config) = config.repo("aspnetcore") {
        let mut aspnetcore = open_checked(config, aspnetcore_config)?;
        plan_aspnetcore(&mut aspnetcore, target)?;
        plans.push(aspnetcore);
    }
    // The repositories of the Windows Desktop runtime are branded like runtime.
    for name in crate::official_build::DESKTOP_REPOS {
        if let Ok(desktop_config) = config.repo(name) {
            let mut desktop = open_checked(config, desktop_config)?;
            plan_desktop(&mut desktop, current, target)?;
            plans.push(desktop);
        }
    }

    let mut repos = Vec::new();
    for plan in plans {
        let commit = if options.dry_run {
            None
        } else {
            Some(commit(&plan, target)?)
        };
        repos.push(RepoBump {
            repo: plan.config.name.clone(),
            commit,
            changes: plan.changes,
        });
    }
    Ok(Report {
        from: current.to_string(),
        to: target.to_string(),
        dry_run: options.dry_run,
        repos,
    })
}

fn target_version(
    config: &Config,
    current: Version,
    requested: Option<Version>,
) -> Result<Version> {
    let target = requested.unwrap_or_else(|| current.next());
    if (target.major, target.minor) != (current.major, current.minor) {
        bail!(
            "cannot bump {current} to {target}: a servicing bump stays on {}.x",
            current.channel()
        );
    }
    if target <= current {
        bail!(
            "cannot bump {current} to {target}: versions must go forward (next is {})",
            current.next()
        );
    }
    crate::version::ensure_fork_version(target, config)
        .with_context(|| format!("cannot bump to {target}"))?;
    Ok(target)
}

fn open_checked<'c>(config: &Config, repo_config: &'c RepoConfig) -> Result<RepoPlan<'c>> {
    let root = config.resolve(&repo_config.path);
    let repo = crate::repo::open_fork(config, repo_config)?;
    crate::repo::ensure_no_operation_in_progress(&repo)?;
    crate::repo::ensure_clean(&repo)?;
    let head = repo
        .head()
        .with_context(|| format!("{} has no commits", root.display()))?
        .shorthand()
        .map(str::to_string);
    if head.as_deref() != Some(repo_config.branch.as_str()) {
        bail!(
            "{} is on `{}`, not the fork branch `{}`; check out the fork branch first",
            root.display(),
            head.as_deref().unwrap_or("a detached HEAD"),
            repo_config.branch
        );
    }
    Ok(RepoPlan {
        config: repo_config,
        repo,
        root,
        files: Vec::new(),
        changes: Vec::new(),
    })
}

/// Out-of-band packages (packable libraries outside the shared framework) are only rebuilt in
/// servicing when their project asks for it; any whose sources changed since the last branding
/// (or the base tag) get `GeneratePackageOnBuild` true and the fork's next revision of
/// `ServicingVersion` ([`next_servicing_version`]).
fn plan_out_of_band_packages(plan: &mut RepoPlan<'_>) -> Result<()> {
    let changed = changed_since_last_branding(&plan.repo, &plan.config.base)?;
    let mut libraries: Vec<&str> = changed
        .iter()
        .filter_map(|p| p.strip_prefix("src/libraries/"))
        .filter_map(|rest| rest.split_once("/src/").map(|(name, _)| name))
        .collect();
    libraries.sort_unstable();
    libraries.dedup();
    for name in libraries {
        let project = plan
            .root
            .join(format!("src/libraries/{name}/src/{name}.csproj"));
        if !project.is_file() {
            continue;
        }
        let doc = XmlFile::read(&project)?;
        let packable = doc.definitions("IsPackable").into_iter().any(|i| {
            doc.elements()[i]
                .text
                .as_ref()
                .is_some_and(|t| doc.slice(t).trim().eq_ignore_ascii_case("true"))
        });
        if !packable {
            continue;
        }
        let servicing = doc.property("ServicingVersion")?;
        let next = next_servicing_version(&servicing.value).with_context(|| {
            format!(
                "{}:{}: <ServicingVersion>",
                doc.path().display(),
                servicing.line
            )
        })?;
        doc.property("GeneratePackageOnBuild")?;
        let index = plan.files.len();
        plan.files.push(doc);
        plan.set_property(index, "ServicingVersion", &next)?;
        plan.set_property(index, "GeneratePackageOnBuild", "true")?;
    }
    Ok(())
}

/// The fork's next `ServicingVersion` of an out-of-band package. The runtime's packaging makes
/// the package version `$(MajorVersion).$(MinorVersion).$(ServicingVersion)`; Microsoft's are
/// three-part (`6.0.1`). The fork keeps Microsoft's last servicing number and adds a fourth,
/// revision part of its own: `1` → `1.1` → `1.2`, so packages are `6.0.1.1`, `6.0.1.2`. In
/// NuGet's order `6.0.1` < `6.0.1.1` < `6.0.1.2` < `6.0.2`: ours are preferred over
/// Microsoft's last 6.0 package, are stable versions (a pre-release such as `6.0.2-els.1` would
/// sort below a `6.0.2` and make every package depending on it a pre-release), and can never be a
/// version Microsoft publishes, since Microsoft's 6.0 packages never carry a revision.
pub fn next_servicing_version(current: &str) -> Result<String> {
    let current = current.trim();
    let number = |s: &str| s.parse::<u32>().ok().filter(|_| !s.is_empty());
    match current.split_once('.') {
        None => match number(current) {
            Some(n) => Ok(format!("{n}.1")),
            None => bail!("`{current}` is not a number; fix it by hand before bumping"),
        },
        Some((microsoft, ours)) => match (number(microsoft), number(ours)) {
            (Some(m), Some(r)) => Ok(format!("{m}.{}", r + 1)),
            _ => bail!("`{current}` is not Microsoft's servicing number with the fork's revision (e.g. `1.2`); fix it by hand before bumping"),
        },
    }
}

/// Paths changed between the last branding commit on HEAD (or the base tag when there is none)
/// and HEAD.
fn changed_since_last_branding(repo: &Repository, base_tag: &str) -> Result<Vec<String>> {
    let head = repo.head()?.peel_to_commit()?;
    let base = repo
        .revparse_single(&format!("refs/tags/{base_tag}"))
        .ok()
        .and_then(|o| o.peel_to_commit().ok());
    let mut walk = repo.revwalk()?;
    walk.push(head.id())?;
    if let Some(base) = &base {
        walk.hide(base.id())?;
    }
    let mut since = None;
    for id in walk {
        let commit = repo.find_commit(id?)?;
        if commit
            .summary()
            .is_some_and(|s| s.starts_with(COMMIT_PREFIX))
        {
            since = Some(commit);
            break;
        }
    }
    let Some(since) = since.or(base) else {
        bail!(
            "cannot tell which sources changed: no \"{COMMIT_PREFIX}…\" commit and no base tag `{base_tag}` in {}; fetch the tag",
            crate::repo::workdir_or_gitdir(repo).display()
        );
    };
    let diff = repo.diff_tree_to_tree(Some(&since.tree()?), Some(&head.tree()?), None)?;
    Ok(diff
        .deltas()
        .filter_map(|d| {
            d.new_file()
                .path()
                .or(d.old_file().path())
                .map(|p| p.to_string_lossy().replace('\\', "/"))
        })
        .collect())
}

/// aspnetcore: `AspNetCorePatchVersion`, and the package baseline moved to the previous release
/// (`eng/Baseline.xml`, `eng/Baseline.Designer.props`), or its build fails with "The package
/// baseline … is out of date".
fn plan_aspnetcore(plan: &mut RepoPlan<'_>, target: Version) -> Result<()> {
    plan.bump_patch_property("AspNetCorePatchVersion", target)?;

    let Some(previous) = target.previous() else {
        return Ok(());
    };
    let previous = previous.to_string();
    let baseline_path = plan.root.join("eng/Baseline.xml");
    let mut baseline = XmlFile::read(&baseline_path)?;
    let Some(root) = baseline
        .elements()
        .iter()
        .position(|e| e.name == "Baseline" && e.attribute("Version").is_some())
    else {
        bail!(
            "{}: no <Baseline Version=\"…\"> element; is this aspnetcore's eng/Baseline.xml?",
            baseline_path.display()
        );
    };
    let old = baseline.slice(
        &baseline.elements()[root]
            .attribute("Version")
            .expect("checked above")
            .value,
    );
    if old == previous {
        return Ok(());
    }
    let rel = relative(&plan.root, &baseline_path);
    let hits: Vec<(usize, usize)> = baseline
        .elements()
        .iter()
        .enumerate()
        .filter(|(_, e)| {
            e.attribute("Version")
                .is_some_and(|a| baseline.slice(&a.value) == old)
        })
        .map(|(i, e)| (i, e.line))
        .collect();
    for (i, line) in hits {
        baseline.set_attribute(i, "Version", &previous)?;
        let name = format!("{}@Version", baseline.elements()[i].name);
        plan.changes.push(Change {
            file: rel.clone(),
            line,
            name,
            old: old.clone(),
            new: previous.clone(),
        });
    }
    plan.files.push(baseline);

    let designer_path = plan.root.join("eng/Baseline.Designer.props");
    let designer = plan.files.len();
    plan.files.push(XmlFile::read(&designer_path)?);
    plan.set_property(designer, "AspNetCoreBaselineVersion", &previous)?;
    let doc = &plan.files[designer];
    let rel = relative(&plan.root, &designer_path);
    let hits: Vec<(usize, usize)> = doc
        .definitions("BaselinePackageVersion")
        .into_iter()
        .filter(|&i| {
            doc.elements()[i]
                .text
                .as_ref()
                .is_some_and(|t| doc.slice(t) == old)
        })
        .map(|i| (i, doc.elements()[i].line))
        .collect();
    for (i, line) in hits {
        plan.files[designer].set_text(i, &previous)?;
        let name = "BaselinePackageVersion".to_string();
        plan.changes.push(Change {
            file: rel.clone(),
            line,
            name,
            old: old.clone(),
            new: previous.clone(),
        });
    }
    Ok(())
}

/// A desktop repository: `PatchVersion`, and every package it consumes from runtime at the
/// runtime's `current` version moved to `target` — the `<Dependency>` in `eng/Version.Details.xml`
/// and its property in `eng/Versions.props` (`…PackageVersion`, or `…Version` as wpf names them),
/// as Maestro's dependency flow would — so the desktop runtime is built against the fork's own
/// runtime packages. Out-of-band packages at their own versions (6.0.0) keep them; the transport
/// packages between desktop repositories carry their build's id and are set by the build.
fn plan_desktop(plan: &mut RepoPlan<'_>, current: Version, target: Version) -> Result<()> {
    let props = plan.bump_patch_property("PatchVersion", target)?;

    let details_path = plan.root.join("eng/Version.Details.xml");
    let mut details = XmlFile::read(&details_path)?;
    let current = current.to_string();
    let target = target.to_string();
    let details_rel = relative(&plan.root, &details_path);
    let moved: Vec<Dependency> = dependencies::read(&details)
        .into_iter()
        .filter(|d| d.version == current && d.comes_from("runtime"))
        .collect();
    for dependency in moved {
        details.set_attribute(dependency.index, "Version", &target)?;
        let name = &dependency.name;
        plan.changes.push(Change {
            file: details_rel.clone(),
            line: dependency.line,
            name: format!("Dependency[{name}]@Version"),
            old: current.clone(),
            new: target.clone(),
        });
        let doc = &plan.files[props];
        let property = dependency.property(&details, doc)?;
        let value = doc.property(&property)?;
        if value.value.trim() != current {
            bail!(
                "{}:{}: <{property}> is {} but eng/Version.Details.xml says {name} {current}; make them agree before bumping",
                doc.path().display(),
                value.line,
                value.value
            );
        }
        plan.set_property(props, &property, &target)?;
    }
    plan.files.push(details);
    Ok(())
}

fn commit(plan: &RepoPlan<'_>, target: Version) -> Result<String> {
    let mut index = plan.repo.index()?;
    for doc in plan.files.iter().filter(|d| d.is_changed()) {
        doc.write()?;
        index.add_path(Path::new(&relative(&plan.root, doc.path())))?;
    }
    index.write()?;
    let tree = plan.repo.find_tree(index.write_tree()?)?;
    let parent = plan.repo.head()?.peel_to_commit()?;
    let who = crate::repo::committer(&plan.repo);
    let message = format!("{COMMIT_PREFIX}{target}\n");
    let id = plan
        .repo
        .commit(Some("HEAD"), &who, &who, &message, &tree, &[&parent])
        .with_context(|| format!("cannot commit the branding in {}", plan.root.display()))?;
    Ok(id.to_string())
}

fn relative(root: &Path, path: &Path) -> String {
    path.strip_prefix(root)
        .unwrap_or(path)
        .to_string_lossy()
        .replace('\\', "/")
}

#[cfg(test)]
mod tests {
    use super::next_servicing_version;

    #[test]
    fn the_fork_adds_its_own_revision_to_microsofts_servicing_number() {
        assert_eq!(next_servicing_version("1").unwrap(), "1.1");
        assert_eq!(next_servicing_version(" 1.1 ").unwrap(), "1.2");
        assert_eq!(next_servicing_version("3.9").unwrap(), "3.10");
        for bad in ["", "x", "1.", "1.x", "1.2.3"] {
            assert!(next_servicing_version(bad).is_err(), "{bad}");
        }
    }
}
