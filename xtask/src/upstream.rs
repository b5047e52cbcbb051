//! Microsoft's repositories the toolkit knows, by the names cve.json uses: where each one's 6.0
//! release is tagged, which upstream branches carry the fixes to backport, and the combined
//! repository dotnet/dotnet. `init` sets forks up from it; `advisories plan` and `backport` name
//! repositories by it.

/// What the toolkit knows about one of Microsoft's repositories: where 6.0's last release is
/// tagged and which upstream branches carry the fixes to backport, preferred first.
pub struct KnownRepo {
    /// The name cve.json uses (and `--repos` accepts).
    pub name: &'static str,
    /// Where 6.0's last release is tagged.
    pub base: BaseTag,
    /// The upstream branches whose fixes are backported, preferred first.
    pub upstream_branches: &'static [&'static str],
}

/// How a repository's base tag is found.
pub enum BaseTag {
    /// A fixed tag (runtime and the desktop repositories tag every release `v6.0.N`).
    Fixed(&'static str),
    /// The newest release tag (no `-preview`) starting with this prefix: MSBuild is versioned
    /// with Visual Studio, and SDK 6.0.4xx (the last band, 6.0.428) ships MSBuild 17.3.
    NewestWithPrefix(&'static str),
}

const RELEASE_BRANCHES: &[&str] = &["release/8.0", "release/9.0"];

/// Every repository the toolkit can set up and backport into.
pub const KNOWN_REPOS: &[KnownRepo] = &[
    KnownRepo {
        name: "runtime",
        base: BaseTag::Fixed("v6.0.36"),
        upstream_branches: RELEASE_BRANCHES,
    },
    KnownRepo {
        name: "aspnetcore",
        base: BaseTag::Fixed("v6.0.36"),
        upstream_branches: RELEASE_BRANCHES,
    },
    KnownRepo {
        name: "wpf",
        base: BaseTag::Fixed("v6.0.36"),
        upstream_branches: RELEASE_BRANCHES,
    },
    KnownRepo {
        name: "winforms",
        base: BaseTag::Fixed("v6.0.36"),
        upstream_branches: RELEASE_BRANCHES,
    },
    KnownRepo {
        name: "windowsdesktop",
        base: BaseTag::Fixed("v6.0.36"),
        upstream_branches: RELEASE_BRANCHES,
    },
    KnownRepo {
        name: "sdk",
        base: BaseTag::Fixed("v6.0.428"),
        upstream_branches: &["release/8.0.1xx", "release/9.0.1xx"],
    },
    // MSBuild's servicing branches are Visual Studio's (cve.json names vs17.8 … vs17.14 for
    // CVE-2025-55247), not release/8.0.
    KnownRepo {
        name: "msbuild",
        base: BaseTag::NewestWithPrefix("v17.3."),
        upstream_branches: &["vs17.8", "vs17.10", "vs17.11", "vs17.12", "vs17.14"],
    },
];

/// The combined repository (dotnet/dotnet, the "VMR"), as cve.json names it, that fixes land in
/// from .NET 10 on; its `src/runtime/` fixes apply to the runtime fork.
pub const COMBINED_REPO: &str = "dotnet";
/// The combined repository's branches whose `src/runtime/` fixes are backported.
pub const COMBINED_BRANCHES: &[&str] = &["release/10.0.1xx"];

/// The names `--repos` accepts.
pub fn known_repo_names() -> Vec<&'static str> {
    KNOWN_REPOS.iter().map(|k| k.name).collect()
}
