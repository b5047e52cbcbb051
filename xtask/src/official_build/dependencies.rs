//! `eng/Version.Details.xml`: the packages a repository consumes, the repository each comes from,
//! and the `eng/Versions.props` property that pins its version, named as Maestro names them.

use anyhow::{bail, Result};

use crate::msbuild::XmlFile;

/// One `<Dependency>` of `eng/Version.Details.xml`.
#[derive(Clone, Debug)]
pub struct Dependency {
    /// The element's index in the document (to edit its `Version`).
    pub index: usize,
    pub line: usize,
    /// The package id (`Microsoft.NETCore.App.Ref`).
    pub name: String,
    pub version: String,
    /// The last segment of its `<Uri>`: `runtime`, `dotnet-runtime` (Microsoft's internal
    /// mirror), `winforms`, …
    pub repository: String,
}

impl Dependency {
    /// Whether it comes from dotnet/`repo` (on GitHub or Microsoft's internal `dotnet-<repo>`).
    pub fn comes_from(&self, repo: &str) -> bool {
        self.repository == repo || self.repository == format!("dotnet-{repo}")
    }

    /// The property of `props` that pins this package: `<Id>PackageVersion`, or `<Id>Version`
    /// as wpf names them (the id without `.` and `-`). Refuses, naming both files, when neither
    /// is defined.
    pub fn property(&self, details: &XmlFile, props: &XmlFile) -> Result<String> {
        let stem: String = self
            .name
            .chars()
            .filter(|c| c.is_ascii_alphanumeric())
            .collect();
        let candidates = [format!("{stem}PackageVersion"), format!("{stem}Version")];
        match candidates
            .iter()
            .find(|p| !props.definitions(p).is_empty())
        {
            Some(p) => Ok(p.clone()),
            None => bail!(
                "{}:{}: {} comes from {} but {} defines neither <{}> nor <{}>; add it so the build uses the fork's package",
                details.path().display(),
                self.line,
                self.name,
                self.repository,
                props.path().display(),
                candidates[0],
                candidates[1]
            ),
        }
    }
}

/// Every `<Dependency>` with a `Name` and a `Version`, in document order.
pub fn read(details: &XmlFile) -> Vec<Dependency> {
    let mut out = Vec::new();
    for (i, el) in details.elements().iter().enumerate() {
        if el.name != "Dependency" {
            continue;
        }
        let attribute = |name: &str| el.attribute(name).map(|a| details.slice(&a.value));
        let (Some(name), Some(version)) = (attribute("Name"), attribute("Version")) else {
            continue;
        };
        let uri = details
            .elements()
            .iter()
            .find(|c| c.parent == Some(i) && c.name == "Uri")
            .and_then(|c| c.text.as_ref())
            .map(|t| details.slice(t))
            .unwrap_or_default();
        let repository = uri
            .trim()
            .trim_end_matches('/')
            .rsplit('/')
            .next()
            .unwrap_or("")
            .to_string();
        out.push(Dependency {
            index: i,
            line: el.line,
            name,
            version,
            repository,
        });
    }
    out
}
