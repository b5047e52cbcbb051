//! Windows installers: one MSI per product (the runtime with host and hostfxr, ASP.NET Core, the
//! Windows Desktop runtime) from a release's win-x64 archives, as WiX source built by msitools'
//! `wixl`, installing under `%ProgramFiles%\dotnet` and registering like Microsoft's.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use quick_xml::escape::escape;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::version::Version;

/// The namespace of our upgrade codes (a fixed random UUID of this toolkit), so that a vendor's
/// codes are stable across builds and never collide with Microsoft's.
const UPGRADE_CODE_NAMESPACE: uuid::Uuid = uuid::uuid!("6b1f3c2e-9d4a-5e7b-8c10-2f6a4d8e9b31");

/// Where Windows records installed .NET versions (dotnet/designs
/// `accepted/2020/install-locations.md`): `InstallLocation` and `sharedfx` in the 32-bit registry
/// view, which tools such as Visual Studio read; `sharedhost` in the 64-bit view, where
/// Microsoft's x64 host MSI writes it.
const INSTALLED_VERSIONS: &str = r"SOFTWARE\dotnet\Setup\InstalledVersions\x64";

/// Microsoft's component GUID of `dotnet.exe` (`cmpCoreHost` in dotnet/runtime
/// `src/installer/pkg/sfx/installers/host.wxs`, the same in 6.0 and later). The muxer is one file
/// shared by every .NET host installed under `%ProgramFiles%\dotnet`: Windows Installer keeps a
/// file while any installed product still holds a component of the same GUID, so ours must be
/// Microsoft's or uninstalling ours would delete the muxer Microsoft's 6.0.36 still needs.
pub const MUXER_COMPONENT_GUID: &str = "{45399BBB-DDA5-4386-A2E9-618FB3C54A18}";

/// Microsoft's component GUID of `LICENSE.txt` (key path) with `ThirdPartyNotices.txt`
/// (`cmpLicenseFiles` in the same host.wxs): shared like the muxer.
pub const LICENSE_COMPONENT_GUID: &str = "{A61CBE5B-1282-4F29-90AD-63597AA2372E}";

/// WiX's namespace for the component GUIDs it derives from a key path (`Guid="*"`; wixtoolset
/// `Binder.WixComponentGuidNamespace`). Microsoft's registry components are `Guid="*"`, so
/// sharing them means deriving their GUIDs exactly as WiX does, see [`wix_registry_guid`].
const WIX_COMPONENT_GUID_NAMESPACE: uuid::Uuid =
    uuid::uuid!("3064E5C6-FB63-4FE9-AC49-E446A792EFA5");

/// A Windows product the release ships an MSI for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Product {
    /// `dotnet.exe`, hostfxr and Microsoft.NETCore.App.
    Runtime,
    /// Microsoft.AspNetCore.App.
    AspNetCore,
    /// Microsoft.WindowsDesktop.App (WinForms and WPF).
    WindowsDesktop,
}

impl Product {
    /// Every product, in the order an administrator installs them.
    pub const ALL: [Product; 3] = [
        Product::Runtime,
        Product::AspNetCore,
        Product::WindowsDesktop,
    ];

    /// The file name prefix of the product's archive and MSI (`dotnet-runtime`, …).
    pub fn file_prefix(self) -> &'static str {
        match self {
            Product::Runtime => "dotnet-runtime",
            Product::AspNetCore => "aspnetcore-runtime",
            Product::WindowsDesktop => "windowsdesktop-runtime",
        }
    }

    /// The shared framework the product installs.
    pub fn framework(self) -> &'static str {
        match self {
            Product::Runtime => "Microsoft.NETCore.App",
            Product::AspNetCore => "Microsoft.AspNetCore.App",
            Product::WindowsDesktop => "Microsoft.WindowsDesktop.App",
        }
    }

    fn title(self) -> &'static str {
        match self {
            Product::Runtime => "Runtime",
            Product::AspNetCore => "ASP.NET Core Runtime",
            Product::WindowsDesktop => "Windows Desktop Runtime",
        }
    }

    /// The release.json component whose `files` list the product's MSI.
    pub fn release_component(self) -> &'static str {
        match self {
            Product::Runtime => "runtime",
            Product::AspNetCore => "aspnetcore-runtime",
            Product::WindowsDesktop => "windowsdesktop",
        }
    }

    /// The release archive this product is built from.
    pub fn archive_name(self, version: Version) -> String {
        format!("{}-{version}-win-x64.zip", self.file_prefix())
    }

    /// The MSI's file name, named like the archive.
    pub fn msi_name(self, version: Version) -> String {
        format!("{}-{version}-win-x64.msi", self.file_prefix())
    }

    /// The product's upgrade code: a name-based UUID from the vendor, the product and the major
    /// version, so 6.0.38 upgrades 6.0.37 in place while 7.0 (or another vendor) stays apart.
    pub fn upgrade_code(self, vendor: &str, major: u32) -> String {
        let name = format!("{vendor}\n{}\n{major}", self.file_prefix());
        uuid::Uuid::new_v5(&UPGRADE_CODE_NAMESPACE, name.as_bytes())
            .braced()
            .to_string()
            .to_ascii_uppercase()
    }

    fn from_archive_name(name: &str) -> Option<(Product, &str)> {
        let rest = name.strip_suffix("-win-x64.zip")?;
        Product::ALL.into_iter().find_map(|p| {
            let version = rest.strip_prefix(p.file_prefix())?.strip_prefix('-')?;
            Some((p, version))
        })
    }
}

/// Who the MSIs say made them, and the version they must be above.
#[derive(Clone, Debug)]
pub struct Options {
    /// The Manufacturer of every MSI and the seed of the upgrade codes (e.g. the fork's name).
    pub vendor: String,
    /// Microsoft's last release: every MSI's version must be above it, in the same major.minor.
    pub base_version: Version,
}

/// One examined archive: its product, version and the files the product's MSI installs.
#[derive(Clone, Debug)]
pub struct Archive {
    pub product: Product,
    pub version: Version,
    pub path: PathBuf,
    /// The commit the framework was built from (first line of its `.version` file), if recorded.
    pub commit: Option<String>,
    /// The files the MSI installs: path inside the archive (`/`-separated) → contents.
    pub files: BTreeMap<String, Vec<u8>>,
}

/// A built MSI.
#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
pub struct BuiltMsi {
    pub product: Product,
    pub version: String,
    pub name: String,
    pub path: PathBuf,
    pub product_name: String,
    pub upgrade_code: String,
    /// The archive it was built from.
    pub archive: PathBuf,
    /// How many files it installs.
    pub files: usize,
    pub size: u64,
}

/// Examines a win-x64 archive named like Microsoft's (`dotnet-runtime-6.0.N-win-x64.zip`, …):
/// it must hold `dotnet.exe`, one version of every framework (and hostfxr) which agrees with its
/// name, and that version must be above `base_version` in its major.minor.
pub fn examine(path: &Path, base_version: Version) -> Result<Archive> {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .with_context(|| format!("{} is not an archive file name", path.display()))?;
    let (product, named_version) = Product::from_archive_name(name).with_context(|| {
        format!(
            "{}: not a Windows runtime archive; expected dotnet-runtime-, aspnetcore-runtime- or windowsdesktop-runtime-6.0.N-win-x64.zip",
            path.display()
        )
    })?;
    let all = zip_entries(path)?;
    if !all.contains_key("dotnet.exe") {
        bail!(
            "{}: no dotnet.exe at the top; a {} archive holds the dotnet.exe muxer beside host\\ and shared\\",
            path.display(),
            product.file_prefix()
        );
    }
    let own = format!("shared/{}", product.framework());
    let found = framework_version(path, product, &all)?;
    let version: Version = found.parse().with_context(|| {
        format!(
            "{}: {own}/{found}/ is not a 6.0.N version directory",
            path.display()
        )
    })?;
    if found != named_version {
        bail!(
            "{}: the name says {named_version} but the archive holds {own}/{found}/; rename or rebuild it",
            path.display()
        );
    }
    if version.major != base_version.major
        || version.minor != base_version.minor
        || version <= base_version
    {
        bail!(
            "{}: version {version} is not above Microsoft's {base_version} in {}; Windows Installer would not replace Microsoft's runtime with it",
            path.display(),
            base_version.channel()
        );
    }
    let commit = recorded_commit(path, &all, &own, &found)?;
    let files = all
        .into_iter()
        .filter(|(entry, _)| installs(product, entry))
        .collect();
    Ok(Archive {
        product,
        version,
        path: path.to_path_buf(),
        commit,
        files,
    })
}

/// The files of a zip archive by entry name; every name must be a plain relative path, unique
/// when case is ignored (as Windows does).
fn zip_entries(path: &Path) -> Result<BTreeMap<String, Vec<u8>>> {
    let file =
        std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let mut zip = zip::ZipArchive::new(file)
        .with_context(|| format!("{} is not a zip archive", path.display()))?;
    let mut all = BTreeMap::new();
    let mut lowercase = BTreeSet::new();
    for i in 0..zip.len() {
        let mut entry = zip.by_index(i)?;
        if entry.is_dir() {
            continue;
        }
        let entry_name = entry.name()?.to_string();
        if entry_name.starts_with('/')
            || entry_name.contains('\\')
            || entry_name.contains(':')
            || entry_name
                .split('/')
                .any(|p| p.is_empty() || p == "." || p == "..")
        {
            bail!(
                "{}: entry `{entry_name}` is not a plain relative path; rebuild the archive",
                path.display()
            );
        }
        if !lowercase.insert(entry_name.to_ascii_lowercase()) {
            bail!(
                "{}: `{entry_name}` appears twice when case is ignored, as Windows does",
                path.display()
            );
        }
        let mut bytes = Vec::new();
        entry
            .read_to_end(&mut bytes)
            .with_context(|| format!("{}: cannot read `{entry_name}`", path.display()))?;
        all.insert(entry_name, bytes);
    }
    Ok(all)
}

/// The one version every framework (and hostfxr) in the archive carries; the product's own
/// framework must be there.
fn framework_version(
    path: &Path,
    product: Product,
    all: &BTreeMap<String, Vec<u8>>,
) -> Result<String> {
    // Every framework and hostfxr in the archive, each with the versions it carries.
    let mut versions: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for entry in all.keys() {
        let parts: Vec<&str> = entry.split('/').collect();
        match parts.as_slice() {
            ["shared", framework, version, _, ..] => {
                versions
                    .entry(format!("shared/{framework}"))
                    .or_default()
                    .insert(version.to_string());
            }
            ["host", "fxr", version, _, ..] => {
                versions
                    .entry("host/fxr".to_string())
                    .or_default()
                    .insert(version.to_string());
            }
            _ => {}
        }
    }
    let own = format!("shared/{}", product.framework());
    if !versions.contains_key(&own) {
        bail!(
            "{}: no {own}/<version>/ in the archive; is it a {} archive?",
            path.display(),
            product.file_prefix()
        );
    }
    let distinct: BTreeSet<&String> = versions.values().flatten().collect();
    if distinct.len() != 1 {
        let found: Vec<String> = versions
            .iter()
            .map(|(dir, v)| {
                format!(
                    "{dir} {}",
                    v.iter().cloned().collect::<Vec<_>>().join(" and ")
                )
            })
            .collect();
        bail!(
            "{}: the frameworks in one archive must share one version, found {}; rebuild it from one build",
            path.display(),
            found.join(", ")
        );
    }
    let version = distinct.into_iter().next().expect("one version").clone();
    Ok(version)
}

/// The commit the framework's `.version` file records (its first line), if any; its second
/// line, when present, must be the version `found`.
fn recorded_commit(
    path: &Path,
    all: &BTreeMap<String, Vec<u8>>,
    own: &str,
    found: &str,
) -> Result<Option<String>> {
    let version_file = format!("{own}/{found}/.version");
    Ok(match all.get(&version_file) {
        Some(bytes) => {
            let text = String::from_utf8_lossy(bytes);
            let mut lines = text.lines().map(str::trim);
            let commit = lines.next().unwrap_or_default().to_string();
            if let Some(recorded) = lines.next().filter(|l| !l.is_empty()) {
                if recorded != found {
                    bail!(
                        "{}: {version_file} records version {recorded}, the directory says {found}",
                        path.display()
                    );
                }
            }
            Some(commit).filter(|c| !c.is_empty())
        }
        None => None,
    })
}

/// Whether the product's MSI installs an archive entry: the runtime installs everything but other
/// frameworks (muxer, licence files, hostfxr, Microsoft.NETCore.App), the others their framework.
fn installs(product: Product, entry: &str) -> bool {
    match product {
        Product::Runtime => match entry.strip_prefix("shared/") {
            Some(rest) => rest.starts_with("Microsoft.NETCore.App/"),
            None => true,
        },
        _ => entry.starts_with(&format!("shared/{}/", product.framework())),
    }
}

/// The WiX source of a product's MSI; `source_dir` holds the archive's files on disk, relative
/// to the directory `wixl` runs in (it does not take absolute source paths).
pub fn wix_source(archive: &Archive, options: &Options, source_dir: &Path) -> String {
    let product = archive.product;
    let version = archive.version;
    let product_name = product_name(options, product, version);
    let mut dirs = DirTree::default();
    for entry in archive.files.keys() {
        dirs.add(entry);
    }
    let mut components = Vec::new();
    let mut body = String::new();
    dirs.write(&mut body, "", source_dir, &mut components, 5);
    let registry = registry_components(archive);
    let mut reg = String::new();
    write_registry(&mut reg, &registry);
    let mut properties = vec![
        ("ARPNOMODIFY", "1".to_string()),
        ("ELS_FRAMEWORK_NAME", product.framework().to_string()),
        ("ELS_FRAMEWORK_VERSION", version.to_string()),
        ("ELS_VENDOR", options.vendor.clone()),
    ];
    if let Some(commit) = &archive.commit {
        properties.push(("ELS_COMMIT", commit.clone()));
    }
    let props: String = properties
        .iter()
        .map(|(k, v)| {
            format!(
                "    <Property Id=\"{k}\" Value=\"{}\"/>\n",
                escape(v.as_str())
            )
        })
        .collect();
    let refs: String = components
        .iter()
        .map(String::as_str)
        .chain(registry.iter().map(|c| c.id))
        .map(|c| format!("      <ComponentRef Id=\"{c}\"/>\n"))
        .collect();
    format!(
        r#"<?xml version="1.0" encoding="utf-8"?>
<!-- Generated by net6-els (cargo xtask package, MSI format) from {archive}. -->
<Wix xmlns="http://schemas.microsoft.com/wix/2006/wi">
  <Product Id="*" Name="{name}" Language="1033" Version="{version}" Manufacturer="{vendor}" UpgradeCode="{upgrade}">
    <Package InstallerVersion="500" Compressed="yes" InstallScope="perMachine" Description="{name}" Comments="{framework} {version} from {vendor}"/>
    <MajorUpgrade DowngradeErrorMessage="A newer version of {name_prefix} is already installed; uninstall it first to roll back."/>
    <Media Id="1" Cabinet="product.cab" EmbedCab="yes"/>
{props}    <Directory Id="TARGETDIR" Name="SourceDir">
{reg}      <Directory Id="ProgramFiles64Folder">
        <Directory Id="DOTNETHOME" Name="dotnet">
{body}        </Directory>
      </Directory>
    </Directory>
    <Feature Id="Main" Level="1" Title="{name}">
{refs}    </Feature>
  </Product>
</Wix>
"#,
        archive = escape(
            archive
                .path
                .file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .as_ref()
        ),
        name = escape(product_name.as_str()),
        name_prefix = escape(format!("{} {}", options.vendor, product.title()).as_str()),
        vendor = escape(options.vendor.as_str()),
        upgrade = product.upgrade_code(&options.vendor, version.major),
        framework = product.framework(),
    )
}

/// The product name shown in Apps & features: `<vendor> <title> - 6.0.N (x64)`, like
/// Microsoft's "Microsoft .NET Runtime - 6.0.36 (x64)".
fn product_name(options: &Options, product: Product, version: Version) -> String {
    format!("{} {} - {version} (x64)", options.vendor, product.title())
}

/// The GUID WiX gives a `Guid="*"` component whose key path is a registry value: a name-based
/// (SHA-1) UUID in [`WIX_COMPONENT_GUID_NAMESPACE`] of `[64]<root>\<key>\<name>` in lower case,
/// encoded as UTF-16LE (wixtoolset `Binder.cs` and `Uuid.NewUuid`; HKLM is root 2, `64` marks a
/// 64-bit component). Debian's `wixl` derives `*` GUIDs differently (its own namespace and the
/// component's path), so the generated source gives these GUIDs explicitly.
pub fn wix_registry_guid(win64: bool, key: &str, name: &str) -> String {
    let path = format!("{}2\\{key}\\{name}", if win64 { "64" } else { "" }).to_lowercase();
    let utf16: Vec<u8> = path.encode_utf16().flat_map(u16::to_le_bytes).collect();
    uuid::Uuid::new_v5(&WIX_COMPONENT_GUID_NAMESPACE, &utf16)
        .braced()
        .to_string()
        .to_ascii_uppercase()
}

/// One registry value of a product (HKLM).
struct RegistryValue {
    key: String,
    name: String,
    /// The WiX type: `string` or `integer`.
    kind: &'static str,
    value: String,
}

/// A component holding registry values, the first its key path, as Microsoft's MSIs author it.
struct RegistryComponent {
    id: &'static str,
    /// In the 64-bit registry view (else the 32-bit `WOW6432Node` view).
    win64: bool,
    values: Vec<RegistryValue>,
    /// Appends `[DOTNETHOME]` to the system `PATH` with the component, as Microsoft's host does
    /// (added by [`add_path_entry`]: Debian's `wixl` 0.101 has no `Environment` element).
    path_entry: bool,
}

impl RegistryComponent {
    /// The GUID WiX derives from the key path, so the host's components are the very ones of
    /// Microsoft's MSIs and Windows Installer counts both products as their clients.
    fn guid(&self) -> String {
        wix_registry_guid(self.win64, &self.values[0].key, &self.values[0].name)
    }
}

/// The registry a product writes, component by component as in Microsoft's MSIs (dotnet/runtime
/// `src/installer/pkg/sfx/installers/host.wxs`, Arcade's `registrykeys.wxs`): every product one
/// value per framework version under `sharedfx` (32-bit view); the runtime, which carries the
/// host and hostfxr, also `sharedhost` `Version` and `Path` (64-bit view; `Path` with the `PATH`
/// entry), `hostfxr` `Version` (Microsoft's hostfxr MSI, `RegKeyNugetVersionValue`) and the 32-bit
/// view's `InstallLocation`.
fn registry_components(archive: &Archive) -> Vec<RegistryComponent> {
    let version = archive.version.to_string();
    let value = |key: String, name: &str, kind: &'static str, value: &str| RegistryValue {
        key,
        name: name.to_string(),
        kind,
        value: value.to_string(),
    };
    let mut components = vec![RegistryComponent {
        id: "regSharedFramework",
        win64: false,
        values: vec![value(
            format!(
                r"{INSTALLED_VERSIONS}\sharedfx\{}",
                archive.product.framework()
            ),
            &version,
            "integer",
            "1",
        )],
        path_entry: false,
    }];
    if archive.product == Product::Runtime {
        let sharedhost = format!(r"{INSTALLED_VERSIONS}\sharedhost");
        components.push(RegistryComponent {
            id: "regSharedHostVersion",
            win64: true,
            values: vec![value(sharedhost.clone(), "Version", "string", &version)],
            path_entry: false,
        });
        components.push(RegistryComponent {
            id: "regSharedHostPath",
            win64: true,
            values: vec![value(sharedhost, "Path", "string", "[DOTNETHOME]")],
            path_entry: true,
        });
        components.push(RegistryComponent {
            id: "regHostFxrVersion",
            win64: false,
            values: vec![value(
                format!(r"{INSTALLED_VERSIONS}\hostfxr"),
                "Version",
                "string",
                &version,
            )],
            path_entry: false,
        });
        components.push(RegistryComponent {
            id: "regInstallLocation",
            win64: false,
            values: vec![value(
                INSTALLED_VERSIONS.to_string(),
                "InstallLocation",
                "string",
                "[DOTNETHOME]",
            )],
            path_entry: false,
        });
    }
    components
}

/// The WiX source of the registry components, under `TARGETDIR`.
fn write_registry(out: &mut String, components: &[RegistryComponent]) {
    for c in components {
        let _ = writeln!(
            out,
            r#"      <Component Id="{}" Guid="{}" Win64="{}">"#,
            c.id,
            c.guid(),
            if c.win64 { "yes" } else { "no" }
        );
        for (i, v) in c.values.iter().enumerate() {
            let _ = writeln!(
                out,
                r#"        <RegistryValue Root="HKLM" Key="{}" Name="{}" Type="{}" Value="{}"{}/>"#,
                escape(v.key.as_str()),
                escape(v.name.as_str()),
                v.kind,
                escape(v.value.as_str()),
                if i == 0 { r#" KeyPath="yes""# } else { "" },
            );
        }
        let _ = writeln!(out, "      </Component>");
    }
}

/// The files at the top of `%ProgramFiles%\dotnet` that every .NET host MSI installs, in
/// Microsoft's components (id, GUID, files; the first file is the key path): one component GUID
/// per file set, so Windows Installer counts Microsoft's host and ours as clients of the same
/// component and removes the files only with the last of them.
const SHARED_ROOT_COMPONENTS: [(&str, &str, &[&str]); 2] = [
    ("cmpCoreHost", MUXER_COMPONENT_GUID, &["dotnet.exe"]),
    (
        "cmpLicenseFiles",
        LICENSE_COMPONENT_GUID,
        &["LICENSE.txt", "ThirdPartyNotices.txt"],
    ),
];

/// The directories of the installed files, to write as nested `<Directory>` elements.
#[derive(Default)]
struct DirTree {
    files: Vec<String>,
    dirs: BTreeMap<String, DirTree>,
}

impl DirTree {
    fn add(&mut self, entry: &str) {
        match entry.split_once('/') {
            Some((dir, rest)) => self.dirs.entry(dir.to_string()).or_default().add(rest),
            None => self.files.push(entry.to_string()),
        }
    }

    /// Writes this directory's files (one component each, as Microsoft's harvested installers
    /// have, but the host's shared files in Microsoft's own components, see
    /// [`SHARED_ROOT_COMPONENTS`]) and subdirectories; `prefix` is the directory's path inside
    /// the archive.
    fn write(
        &self,
        out: &mut String,
        prefix: &str,
        source_dir: &Path,
        components: &mut Vec<String>,
        depth: usize,
    ) {
        let pad = "  ".repeat(depth);
        let file_element = |file: &str, key_path: bool| {
            let entry = format!("{prefix}{file}");
            format!(
                r#"<File Id="f{}" Name="{}" Source="{}"{}/>"#,
                identifier(&entry),
                escape(file),
                escape(source_dir.join(&entry).to_string_lossy().as_ref()),
                if key_path { r#" KeyPath="yes""# } else { "" },
            )
        };
        let mut shared: Vec<&str> = Vec::new();
        if prefix.is_empty() {
            for (id, guid, files) in SHARED_ROOT_COMPONENTS {
                if !files.iter().all(|f| self.files.iter().any(|own| own == f)) {
                    continue;
                }
                let elements: String = files
                    .iter()
                    .enumerate()
                    .map(|(i, f)| file_element(f, i == 0))
                    .collect();
                let _ = writeln!(
                    out,
                    r#"{pad}<Component Id="{id}" Guid="{guid}" Win64="yes">{elements}</Component>"#
                );
                components.push(id.to_string());
                shared.extend(files);
            }
        }
        for file in self.files.iter().filter(|f| !shared.contains(&f.as_str())) {
            let id = identifier(&format!("{prefix}{file}"));
            let _ = writeln!(
                out,
                r#"{pad}<Component Id="c{id}" Guid="*" Win64="yes">{}</Component>"#,
                file_element(file, true),
            );
            components.push(format!("c{id}"));
        }
        for (name, sub) in &self.dirs {
            let path = format!("{prefix}{name}/");
            let _ = writeln!(
                out,
                r#"{pad}<Directory Id="d{}" Name="{}">"#,
                identifier(&path),
                escape(name.as_str())
            );
            sub.write(out, &path, source_dir, components, depth + 1);
            let _ = writeln!(out, "{pad}</Directory>");
        }
    }
}

/// A stable MSI identifier for an archive path (identifiers are limited to 72 characters).
fn identifier(path: &str) -> String {
    Sha256::digest(path.as_bytes())[..16]
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect()
}

/// Builds one MSI per archive into `out_dir`. Every archive is examined before anything is
/// written: a bad one (no `dotnet.exe`, a version not above the base, frameworks of different
/// versions, two archives for one product) fails the whole call with nothing written.
pub fn build(archives: &[PathBuf], options: &Options, out_dir: &Path) -> Result<Vec<BuiltMsi>> {
    if archives.is_empty() {
        bail!("no win-x64 archives to package (dotnet-runtime-6.0.N-win-x64.zip, …)");
    }
    let mut examined: Vec<Archive> = Vec::new();
    for path in archives {
        let archive = examine(path, options.base_version)?;
        if let Some(other) = examined.iter().find(|a| a.product == archive.product) {
            bail!(
                "two {} archives: {} and {}; package one release at a time",
                archive.product.file_prefix(),
                other.path.display(),
                archive.path.display()
            );
        }
        examined.push(archive);
    }
    if let Some(a) = examined.iter().find(|a| a.version != examined[0].version) {
        bail!(
            "{} is version {}, {} is {}; package one release at a time",
            a.path.display(),
            a.version,
            examined[0].path.display(),
            examined[0].version
        );
    }
    examined.sort_by_key(|a| a.product);

    let work = tempfile::tempdir().context("cannot create a temporary directory")?;
    let mut built = Vec::new();
    for archive in &examined {
        built.push(build_one(archive, options, work.path())?);
    }
    let mut results = Vec::new();
    for (archive, msi) in examined.iter().zip(built) {
        let name = archive.product.msi_name(archive.version);
        let path = out_dir.join(&name);
        let bytes =
            std::fs::read(&msi).with_context(|| format!("cannot read {}", msi.display()))?;
        crate::atomic::write(&path, &bytes)?;
        results.push(BuiltMsi {
            product: archive.product,
            version: archive.version.to_string(),
            name,
            path,
            product_name: product_name(options, archive.product, archive.version),
            upgrade_code: archive
                .product
                .upgrade_code(&options.vendor, archive.version.major),
            archive: archive.path.clone(),
            files: archive.files.len(),
            size: bytes.len() as u64,
        });
    }
    Ok(results)
}

/// Stages one archive's files, writes its WiX source and runs `wixl`; returns the MSI's path in
/// `work`.
fn build_one(archive: &Archive, options: &Options, work: &Path) -> Result<PathBuf> {
    let prefix = archive.product.file_prefix();
    let staging = work.join(prefix);
    for (entry, bytes) in &archive.files {
        let path = staging.join(entry);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
        }
        std::fs::write(&path, bytes).with_context(|| format!("cannot write {}", path.display()))?;
    }
    let wxs = work.join(format!("{prefix}.wxs"));
    std::fs::write(&wxs, wix_source(archive, options, Path::new(prefix)))
        .with_context(|| format!("cannot write {}", wxs.display()))?;
    let msi = work.join(format!("{prefix}.msi"));
    let sh = crate::process::shell()?;
    sh.change_dir(work);
    crate::process::output(
        sh.cmd("wixl")
            .args(["--arch", "x64", "-o"])
            .arg(&msi)
            .arg(&wxs),
    )
    .context(
        "wixl (msitools) could not build the MSI; install it with `apt-get install wixl msitools`",
    )?;
    if let Some(c) = registry_components(archive).iter().find(|c| c.path_entry) {
        add_path_entry(&msi, c.id)?;
    }
    Ok(msi)
}

/// Adds to a built MSI what WiX writes for `<Environment Name="PATH" Value="[DOTNETHOME]"
/// Part="last" Action="set" System="yes"/>` in `component` (Microsoft's host.wxs `E_PATH`): the
/// `Environment` row that appends `%ProgramFiles%\dotnet\` to the system `PATH` while the
/// component is installed, and the actions that write and remove it. `wixl` 0.101 has no
/// `Environment` element, so msitools' `msibuild` edits the database.
pub fn add_path_entry(msi: &Path, component: &str) -> Result<()> {
    let dir = tempfile::tempdir().context("cannot create a temporary directory")?;
    // An `.idt` table (msiexport's format): columns, their types, the table's key, the rows.
    let idt = format!(
        "Environment\tName\tValue\tComponent_\ns72\tl255\tL255\ts72\nEnvironment\tEnvironment\nE_PATH\t=*PATH\t[~];[DOTNETHOME]\t{component}\n"
    );
    std::fs::write(dir.path().join("Environment.idt"), idt)
        .context("cannot write the Environment table")?;
    let sh = crate::process::shell()?;
    sh.change_dir(dir.path());
    let sequence = |action: &str, number: u32| {
        format!(
            "INSERT INTO `InstallExecuteSequence` (`Action`, `Sequence`) VALUES ('{action}', {number})"
        )
    };
    crate::process::output(
        sh.cmd("msibuild")
            .arg(msi)
            .args(["-i", "Environment.idt", "-q"])
            .arg(sequence("RemoveEnvironmentStrings", 3300))
            .arg("-q")
            .arg(sequence("WriteEnvironmentStrings", 5200)),
    )
    .context("msibuild (msitools) could not add the PATH entry; install it with `apt-get install msitools`")?;
    Ok(())
}

/// Shapes a release archive like Microsoft's `<product>-<version>-win-x64.zip` in `out_dir` from
/// the Windows test runtime root
/// ([`ensure_windows`](crate::compat::testenv::ensure_windows)): `dotnet.exe`, the licence files, hostfxr
/// and Microsoft.NETCore.App (8.0.4's files) under `version`. No registry ships the Windows files
/// of ASP.NET Core or the desktop runtime, so for those products the real Windows files of the
/// 3.1.23 framework stand in under the product's framework name, as `version`.
pub fn archive_from_test_runtime(
    root: &Path,
    product: Product,
    version: Version,
    out_dir: &Path,
) -> Result<PathBuf> {
    use crate::compat::testenv::{CURRENT, OLDER};
    let v = version.to_string();
    let mut entries: Vec<(String, PathBuf)> = vec![
        ("dotnet.exe".into(), root.join("dotnet.exe")),
        ("LICENSE.txt".into(), root.join("LICENSE.txt")),
        (
            "ThirdPartyNotices.txt".into(),
            root.join("ThirdPartyNotices.txt"),
        ),
        (
            format!("host/fxr/{v}/hostfxr.dll"),
            root.join(format!("host/fxr/{CURRENT}/hostfxr.dll")),
        ),
    ];
    let mut add_dir = |from: &Path, to: &str| -> Result<()> {
        for e in walkdir::WalkDir::new(from).sort_by_file_name() {
            let e = e?;
            if e.file_type().is_file() {
                let rel = e
                    .path()
                    .strip_prefix(from)?
                    .to_string_lossy()
                    .replace('\\', "/");
                entries.push((format!("{to}/{rel}"), e.path().to_path_buf()));
            }
        }
        Ok(())
    };
    let netcore = root.join("shared/Microsoft.NETCore.App");
    add_dir(
        &netcore.join(CURRENT),
        &format!("shared/Microsoft.NETCore.App/{v}"),
    )?;
    if product != Product::Runtime {
        add_dir(
            &netcore.join(OLDER),
            &format!("shared/{}/{v}", product.framework()),
        )?;
    }
    std::fs::create_dir_all(out_dir)
        .with_context(|| format!("cannot create {}", out_dir.display()))?;
    let path = out_dir.join(product.archive_name(version));
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .compression_level(Some(1));
    for (name, source) in entries {
        let mut bytes =
            std::fs::read(&source).with_context(|| format!("cannot read {}", source.display()))?;
        // `.version` records the commit and the version; the archive's version is the shaped one.
        if name.ends_with("/.version") {
            let text = String::from_utf8_lossy(&bytes).into_owned();
            let commit = text.lines().next().unwrap_or_default();
            bytes = format!("{commit}\n{v}\n").into_bytes();
        }
        zip.start_file(name, options)?;
        std::io::Write::write_all(&mut zip, &bytes)?;
    }
    crate::atomic::write(&path, zip.finish()?.into_inner())?;
    Ok(path)
}

/// Writes into `collected` (`<artifacts-dir>/<version>/win-x64/`) what the Windows build leg
/// collects, shaped from the Windows test runtime root: the three archives of
/// [`archive_from_test_runtime`], the desktop runtime's pack
/// `Microsoft.WindowsDesktop.App.Runtime.win-x64.<version>.nupkg` (its framework's files under
/// `runtimes/win-x64/lib/net6.0/`, with a nuspec) and the build manifest naming the repository of
/// each. Returns the manifest.
pub fn windows_build_leg(
    root: &Path,
    version: Version,
    official_build_id: &str,
    collected: &Path,
) -> Result<crate::official_build::Manifest> {
    use crate::official_build::{sha512_hex, Manifest, ManifestFile, MANIFEST};
    let mut files = Vec::new();
    let mut add = |name: String, repo: &str, bytes: &[u8]| {
        files.push(ManifestFile {
            name,
            repo: repo.to_string(),
            size: bytes.len() as u64,
            sha512: sha512_hex(bytes),
        });
    };
    for (product, repo) in [
        (Product::Runtime, "runtime"),
        (Product::AspNetCore, "aspnetcore"),
        (Product::WindowsDesktop, "windowsdesktop"),
    ] {
        let archive = archive_from_test_runtime(root, product, version, collected)?;
        let bytes = std::fs::read(&archive)?;
        add(product.archive_name(version), repo, &bytes);
    }
    let id = "Microsoft.WindowsDesktop.App.Runtime.win-x64";
    let pack_name = format!("{id}.{version}.nupkg");
    let framework = format!("shared/{}/{version}/", Product::WindowsDesktop.framework());
    let desktop_zip = collected.join(Product::WindowsDesktop.archive_name(version));
    let mut archive = zip::ZipArchive::new(std::fs::File::open(&desktop_zip)?)?;
    let mut pack = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default();
    pack.start_file(format!("{id}.nuspec"), options)?;
    std::io::Write::write_all(
        &mut pack,
        format!("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<package xmlns=\"http://schemas.microsoft.com/packaging/2013/05/nuspec.xsd\"><metadata><id>{id}</id><version>{version}</version><authors>Microsoft</authors><description>Internal implementation package not meant for direct consumption.</description></metadata></package>\n").as_bytes(),
    )?;
    for i in 0..archive.len() {
        let mut entry = archive.by_index(i)?;
        let Some(rel) = entry.name()?.strip_prefix(&framework).map(str::to_string) else {
            continue;
        };
        let mut bytes = Vec::new();
        entry.read_to_end(&mut bytes)?;
        pack.start_file(format!("runtimes/win-x64/lib/net6.0/{rel}"), options)?;
        std::io::Write::write_all(&mut pack, &bytes)?;
    }
    let pack_bytes = pack.finish()?.into_inner();
    crate::atomic::write(&collected.join(&pack_name), &pack_bytes)?;
    add(pack_name, "windowsdesktop", &pack_bytes);
    let manifest = Manifest {
        version: version.to_string(),
        rid: "win-x64".to_string(),
        official_build_id: official_build_id.to_string(),
        files,
    };
    crate::atomic::write(&collected.join(MANIFEST), manifest.to_json()?)?;
    Ok(manifest)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The GUIDs WiX derives for Microsoft's registry components, computed independently (Python:
    /// SHA-1 of the namespace's bytes and the UTF-16LE lower-case key path, version 5).
    #[test]
    fn registry_guids_are_the_ones_wix_derives() {
        let key = INSTALLED_VERSIONS;
        let cases = [
            (
                true,
                format!(r"{key}\sharedhost"),
                "Version",
                "{EA9C3F98-F9B1-5212-8980-CFEAF2B15E0D}",
            ),
            (
                true,
                format!(r"{key}\sharedhost"),
                "Path",
                "{CE35924C-AD31-51DF-B84A-A8052ED08400}",
            ),
            (
                false,
                key.to_string(),
                "InstallLocation",
                "{E4E008C8-57A8-5040-BB34-03024B15B6C5}",
            ),
            (
                false,
                format!(r"{key}\hostfxr"),
                "Version",
                "{8EC524B8-7864-5ACE-B320-2D36216EBC12}",
            ),
            (
                false,
                format!(r"{key}\sharedfx\Microsoft.NETCore.App"),
                "6.0.36",
                "{3413BF8A-704D-59C0-B227-B6A1DB496314}",
            ),
        ];
        for (win64, key, name, guid) in cases {
            assert_eq!(wix_registry_guid(win64, &key, name), guid, "{key} {name}");
        }
    }
}
