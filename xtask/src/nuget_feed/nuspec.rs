//! A nupkg's own manifest: finds the `.nuspec` at the package root and reads what the feed
//! documents are built from (id, version, descriptive fields, dependencies per target framework).

use std::io::Read;
use std::path::Path;

use anyhow::{bail, Context, Result};
use quick_xml::events::Event;

use super::package_version::PackageVersion;

/// One dependency of a package.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dependency {
    pub id: String,
    /// The version range in NuGet's interval notation (`6.0.0` becomes `[6.0.0, )`).
    pub range: String,
}

/// The dependencies for one target framework (`None`: the group without one).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DependencyGroup {
    pub target_framework: Option<String>,
    pub dependencies: Vec<Dependency>,
}

/// What a `.nuspec` says about its package.
#[derive(Clone, Debug)]
pub struct Nuspec {
    pub id: String,
    pub version: PackageVersion,
    pub authors: String,
    pub description: String,
    pub title: String,
    pub summary: String,
    pub tags: Vec<String>,
    pub project_url: String,
    pub license_url: String,
    pub license_expression: String,
    pub require_license_acceptance: bool,
    pub dependency_groups: Vec<DependencyGroup>,
    /// The manifest's bytes, served beside the package in the flat container.
    pub bytes: Vec<u8>,
}

/// Reads the manifest of a nupkg's `bytes`; `path` names the package in errors.
pub fn read_nupkg(bytes: &[u8], path: &Path) -> Result<Nuspec> {
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes))
        .with_context(|| format!("{} is not a nupkg (not a zip archive)", path.display()))?;
    let manifests: Vec<String> = zip
        .file_names()
        .filter_map(|n| n.ok().map(|n| n.into_owned()))
        .filter(|n| !n.contains('/') && n.to_ascii_lowercase().ends_with(".nuspec"))
        .collect();
    let name = match manifests.as_slice() {
        [one] => one.clone(),
        [] => bail!(
            "{} has no .nuspec at its root; a nupkg must carry its manifest (pack it with `dotnet pack` or `nuget pack`)",
            path.display()
        ),
        more => bail!(
            "{} has {} manifests at its root ({}); a nupkg carries exactly one",
            path.display(),
            more.len(),
            more.join(", ")
        ),
    };
    let mut manifest = Vec::new();
    zip.by_name(&name)
        .and_then(|mut f| f.read_to_end(&mut manifest).map_err(Into::into))
        .with_context(|| format!("cannot read {name} in {}", path.display()))?;
    parse(&manifest).with_context(|| format!("{name} in {}", path.display()))
}

/// Parses a `.nuspec` document.
pub fn parse(bytes: &[u8]) -> Result<Nuspec> {
    let text = std::str::from_utf8(bytes).context("the manifest is not UTF-8")?;
    let mut reader = quick_xml::Reader::from_str(text);
    let mut path: Vec<String> = Vec::new();
    let mut fields: std::collections::BTreeMap<String, String> = Default::default();
    let mut groups: Vec<DependencyGroup> = Vec::new();
    loop {
        let event = reader.read_event().with_context(|| {
            format!(
                "the manifest is not well-formed XML (at byte {})",
                reader.buffer_position()
            )
        })?;
        match event {
            Event::Start(e) => {
                element(&e, &path, &mut groups)?;
                path.push(String::from_utf8_lossy(e.local_name().as_ref()).into_owned());
            }
            Event::Empty(e) => element(&e, &path, &mut groups)?,
            Event::Text(t) if path.len() == 3 && path[1] == "metadata" => {
                let value = t.unescape().context("malformed text")?.trim().to_string();
                fields.entry(path[2].clone()).or_default().push_str(&value);
            }
            Event::End(_) => {
                path.pop();
            }
            Event::Eof => break,
            _ => {}
        }
    }
    let field = |name: &str| fields.get(name).cloned().unwrap_or_default();
    let id = field("id");
    if id.is_empty() {
        bail!("the manifest has no <id> under <metadata>");
    }
    let version_text = field("version");
    if version_text.is_empty() {
        bail!("the manifest has no <version> under <metadata>");
    }
    let version = version_text.parse()?;
    Ok(Nuspec {
        id,
        version,
        authors: field("authors"),
        description: field("description"),
        title: field("title"),
        summary: field("summary"),
        tags: field("tags")
            .split([' ', ',', ';'])
            .filter(|t| !t.is_empty())
            .map(str::to_string)
            .collect(),
        project_url: field("projectUrl"),
        license_url: field("licenseUrl"),
        license_expression: field("license"),
        require_license_acceptance: field("requireLicenseAcceptance").eq_ignore_ascii_case("true"),
        dependency_groups: groups,
        bytes: bytes.to_vec(),
    })
}

/// Records a `<group>` or `<dependency>` of `<dependencies>`; `path` names the open ancestors.
fn element(
    e: &quick_xml::events::BytesStart<'_>,
    path: &[String],
    groups: &mut Vec<DependencyGroup>,
) -> Result<()> {
    let attribute = |key: &str| -> Result<Option<String>> {
        for a in e.attributes() {
            let a = a.context("a malformed attribute")?;
            if a.key.local_name().as_ref() == key.as_bytes() {
                return Ok(Some(a.unescape_value()?.into_owned()));
            }
        }
        Ok(None)
    };
    let parent = path.last().map(String::as_str);
    let in_dependencies = parent == Some("dependencies");
    let in_group =
        parent == Some("group") && path.len() >= 2 && path[path.len() - 2] == "dependencies";
    match e.local_name().as_ref() {
        b"group" if in_dependencies => groups.push(DependencyGroup {
            target_framework: attribute("targetFramework")?,
            dependencies: Vec::new(),
        }),
        b"dependency" if in_dependencies || in_group => {
            let id = attribute("id")?.context("a <dependency> without an id")?;
            let version = attribute("version")?.unwrap_or_default();
            // Dependencies listed without groups apply to every framework: one group without one.
            if in_dependencies && groups.last().is_none_or(|g| g.target_framework.is_some()) {
                groups.push(DependencyGroup {
                    target_framework: None,
                    dependencies: Vec::new(),
                });
            }
            if let Some(group) = groups.last_mut() {
                group.dependencies.push(Dependency {
                    range: range(&version),
                    id,
                });
            }
        }
        _ => {}
    }
    Ok(())
}

/// A nuspec dependency version as a range: a bare version means "this version or later".
fn range(version: &str) -> String {
    let v = version.trim();
    if v.is_empty() {
        "(, )".to_string()
    } else if v.starts_with('[') || v.starts_with('(') {
        v.to_string()
    } else {
        format!("[{v}, )")
    }
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn reads_metadata_and_dependencies_per_framework() {
        let n = parse(
            br#"<?xml version="1.0"?>
<package xmlns="http://schemas.microsoft.com/packaging/2013/05/nuspec.xsd">
  <metadata minClientVersion="2.12">
    <id>System.Security.Cryptography.Xml</id>
    <version>6.0.1.1</version>
    <authors>.NET 6 ELS</authors>
    <description>XML &amp; signatures</description>
    <tags>els security</tags>
    <dependencies>
      <group targetFramework="net6.0" />
      <group targetFramework=".NETStandard2.0">
        <dependency id="System.Security.Cryptography.Pkcs" version="6.0.1.1" exclude="Build" />
        <dependency id="System.Memory" version="[4.5.4, 5.0.0)" />
      </group>
    </dependencies>
  </metadata>
</package>"#,
        )
        .unwrap();
        assert_eq!(n.id, "System.Security.Cryptography.Xml");
        assert_eq!(n.version.normalized(), "6.0.1.1");
        assert_eq!(n.description, "XML & signatures");
        assert_eq!(n.tags, ["els", "security"]);
        assert_eq!(n.dependency_groups.len(), 2);
        assert!(n.dependency_groups[0].dependencies.is_empty());
        let deps = &n.dependency_groups[1].dependencies;
        assert_eq!(
            (deps[0].range.as_str(), deps[1].range.as_str()),
            ("[6.0.1.1, )", "[4.5.4, 5.0.0)")
        );

        let flat = parse(br#"<package><metadata><id>A</id><version>1.0.0</version><dependencies><dependency id="B" version="2.0.0" /></dependencies></metadata></package>"#).unwrap();
        assert_eq!(flat.dependency_groups[0].target_framework, None);
        assert_eq!(flat.dependency_groups[0].dependencies[0].id, "B");

        let err = format!(
            "{:#}",
            parse(b"<package><metadata><version>1.0.0</version></metadata></package>").unwrap_err()
        );
        assert!(err.contains("no <id>"), "{err}");
        assert!(
            parse(b"<package><metadata><id>A</id><version>x.y</version></metadata></package>")
                .is_err()
        );
    }
}
