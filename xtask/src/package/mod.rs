//! `cargo xtask package`: turns a release's archives into installable packages (`.deb`, `.rpm`,
//! `.msi`) written into the release directory, listed in `SHA512SUMS` and `release.json` (`files`
//! entries with `rid`), so that `release verify` covers them; re-signs the release metadata when
//! the release was already signed. One builder module per format.

pub mod deb;
pub mod demo;
pub mod layout;
pub mod msi;
pub mod purl;
pub mod rpm;

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use anyhow::{bail, Context, Result};
use serde::Serialize;
use serde_json::{json, Value};

use crate::config::Config;
use crate::official_build::sha512_hex;
use crate::release::sign::Signer;
use crate::release::{RELEASE_JSON, SIGNED};
use crate::version::Version;

/// The runtime identifier of every Linux package (`files[].rid` in release.json).
pub const LINUX_RID: &str = "linux-x64";
/// The runtime identifier of every Windows installer.
pub const WINDOWS_RID: &str = "win-x64";

/// A package format `cargo xtask package` builds.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// Debian and Ubuntu (`dpkg`, `apt`).
    Deb,
    /// Red Hat, Fedora, SUSE (`rpm`, `dnf`).
    Rpm,
    /// Windows Installer (`msiexec`), from the win-x64 archives.
    Msi,
}

impl Format {
    /// Every format.
    pub const ALL: [Format; 3] = [Format::Deb, Format::Rpm, Format::Msi];
    /// The formats built when none are named: the Linux packages. MSIs are opt-in because the
    /// release job signs them with Authenticode before they are hashed.
    pub const DEFAULT: [Format; 2] = [Format::Deb, Format::Rpm];

    /// The name on the command line and the file extension.
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Deb => "deb",
            Format::Rpm => "rpm",
            Format::Msi => "msi",
        }
    }

    /// The runtime identifier of the format's packages (`files[].rid` in release.json).
    pub fn rid(self) -> &'static str {
        match self {
            Format::Deb | Format::Rpm => LINUX_RID,
            Format::Msi => WINDOWS_RID,
        }
    }

    /// Whether the format's packages are built from the Linux archives.
    fn linux(self) -> bool {
        self.rid() == LINUX_RID
    }

    /// Whether the format's packages carry a signature (and so need the release key).
    pub fn signed(self) -> bool {
        match self {
            Format::Deb | Format::Msi => false,
            Format::Rpm => true,
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Format {
    type Err = anyhow::Error;

    fn from_str(s: &str) -> Result<Format> {
        Format::ALL
            .into_iter()
            .find(|f| f.as_str() == s)
            .with_context(|| {
                let names: Vec<&str> = Format::ALL.iter().map(|f| f.as_str()).collect();
                format!(
                    "unknown package format `{s}`: the formats are {}",
                    names.join(", ")
                )
            })
    }
}

/// Who built the packages and which version they carry: what every format writes into its
/// metadata.
#[derive(Clone, Debug)]
pub struct Identity {
    /// The product version, from the archives.
    pub version: Version,
    /// The package revision (`1.els`).
    pub revision: String,
    pub maintainer: String,
    pub vendor: String,
    pub homepage: Option<String>,
    /// The fork's name (`.NET 6 ELS`).
    pub fork_name: String,
    /// Every timestamp in the packages (`SOURCE_DATE_EPOCH`, else the release date).
    pub source_date: i64,
}

/// What to package.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// The release directory; default `<artifacts-dir>/release/<version>`.
    pub release: Option<PathBuf>,
    /// The formats; empty means [`Format::DEFAULT`].
    pub formats: Vec<Format>,
    /// The timestamp of every file and signature; default the release date at midnight UTC.
    pub source_date: Option<i64>,
    /// No progress lines on stderr.
    pub quiet: bool,
    /// The certificate that signs the MSIs with Authenticode before they are hashed; without
    /// one they are written unsigned.
    pub authenticode: Option<std::sync::Arc<crate::release::authenticode::Certificate>>,
}

/// One package written into the release.
#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
pub struct Package {
    /// The package name (`dotnet-runtime-6.0`; an MSI's product, `dotnet-runtime`).
    pub name: String,
    pub format: Format,
    /// The file name in the release directory.
    pub file: String,
    /// The release.json component listing it (`runtime`, `aspnetcore-runtime`, `windowsdesktop`).
    pub component: String,
    pub sha512: String,
    pub size: u64,
}

/// What was packaged.
#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
pub struct Report {
    pub version: String,
    /// The full package version (`6.0.37-1.els`).
    pub package_version: String,
    pub dir: PathBuf,
    pub packages: Vec<Package>,
    /// The signing key's fingerprint, when RPMs were signed or the metadata re-signed.
    pub signer: Option<String>,
    /// Whether the release's metadata signatures were made again (the release was signed).
    pub resigned: bool,
}

/// The release directory `options` name, and its version (from release.json).
pub fn release_dir(config: &Config, release: Option<&Path>) -> Result<(PathBuf, Version)> {
    let dir = match release {
        Some(d) => d.to_path_buf(),
        None => config
            .artifacts_dir()
            .join("release")
            .join(crate::official_build::product_version(config)?.to_string()),
    };
    let path = dir.join(RELEASE_JSON);
    let text = std::fs::read_to_string(&path).with_context(|| {
        format!(
            "cannot read {}; assemble the release first (`cargo xtask release`) or pass --release DIR",
            path.display()
        )
    })?;
    let doc: Value =
        serde_json::from_str(&text).with_context(|| format!("{} is not JSON", path.display()))?;
    let version = doc["releases"][0]["release-version"]
        .as_str()
        .with_context(|| format!("{}: no releases[0].release-version", path.display()))?
        .parse()
        .with_context(|| format!("{}: releases[0].release-version", path.display()))?;
    Ok((dir, version))
}

/// Builds the packages of the release in `options.release` and adds them to it, signing RPMs (and
/// a signed release's metadata) with `signer`. Everything is built (and the key checked) before
/// the first file is written.
pub fn package(config: &Config, options: &Options, signer: Option<&Signer>) -> Result<Report> {
    let (dir, version) = release_dir(config, options.release.as_deref())?;
    let mut formats = if options.formats.is_empty() {
        Format::DEFAULT.to_vec()
    } else {
        options.formats.clone()
    };
    formats.sort();
    formats.dedup();
    // Held from reading release.json to resealing it, so a concurrent publication cannot lose an
    // update.
    let _release_lock = crate::release::lock(&dir)?;
    let release_doc = read_release_json(&dir)?;
    let signed_release = SIGNED
        .iter()
        .any(|n| dir.join(format!("{n}.asc")).is_file());
    if signer.is_none() && (signed_release || formats.iter().any(|f| f.signed())) {
        bail!(
            "no signing key: RPMs and a signed release's metadata are signed with the release key; set ${} to an armored secret key or ${} to the id of a key in your GnuPG keyring",
            config.release.signing_key_env,
            config.release.signing_key_id_env
        );
    }
    // Checked before the build, which takes minutes, rather than after it.
    let url = config.release.download_url.clone().with_context(|| {
        format!(
            "set `download-url` under [release] in {} (where the files will be published)",
            config.root.join(crate::config::FILE_NAME).display()
        )
    })?;
    let source_date = match options.source_date {
        Some(t) => t,
        None => release_date_epoch(&release_doc, &dir)?,
    };
    let id = identity(config, version, source_date)?;
    let built = build_packages(config, options, &dir, &formats, &id, signer)?;
    let doc = with_package_files(release_doc, &built, &formats, version, &url);
    let resigned = add_to_release(&dir, &doc, &built, signer)?;
    Ok(Report {
        version: version.to_string(),
        package_version: format!("{version}-{}", id.revision),
        dir,
        packages: built.into_iter().map(|(p, _)| p).collect(),
        signer: match signer {
            Some(s) => Some(s.fingerprint()?),
            None => None,
        },
        resigned,
    })
}

/// Who and what the packages of `version` say they are, from els.toml.
fn identity(config: &Config, version: Version, source_date: i64) -> Result<Identity> {
    let id = Identity {
        version,
        revision: config.packages.revision.clone(),
        maintainer: config.packages.maintainer.clone(),
        vendor: config.packages.vendor.clone(),
        homepage: config.packages.homepage.clone(),
        fork_name: config.fork.name.clone(),
        source_date,
    };
    check_revision(&id.revision)?;
    Ok(id)
}

/// Builds every package of the release in `dir` in `formats`, in memory, with progress (RPMs
/// signed with `signer`).
fn build_packages(
    config: &Config,
    options: &Options,
    dir: &Path,
    formats: &[Format],
    id: &Identity,
    signer: Option<&Signer>,
) -> Result<Vec<(Package, Vec<u8>)>> {
    let base: Version = config.fork.base_version.parse().with_context(|| {
        format!(
            "[fork] base-version `{}` in els.toml",
            config.fork.base_version
        )
    })?;
    let layout = if formats.iter().any(|f| f.linux()) {
        Some(layout::read(dir, id.version, base)?)
    } else {
        None
    };
    let specs = layout
        .as_ref()
        .map(|l| l.specs.as_slice())
        .unwrap_or_default();
    let windows_archives = if formats.contains(&Format::Msi) {
        windows_archives(dir, id.version)?
    } else {
        Vec::new()
    };
    let linux_formats = formats.iter().filter(|f| f.linux()).count();
    let mut progress = crate::console::Progress::new(
        linux_formats * specs.len() + windows_archives.len(),
        options.quiet,
    );
    let mut built = linux_packages(formats, specs, id, signer, &mut progress)?;
    if !windows_archives.is_empty() {
        built.extend(msi_packages(
            config,
            options,
            &windows_archives,
            id,
            base,
            &mut progress,
        )?);
    }
    Ok(built)
}

/// Writes the packages and the new release.json into the release `dir`, then its checksums (and,
/// with `signer`, its signatures). Returns whether it signed.
fn add_to_release(
    dir: &Path,
    doc: &Value,
    built: &[(Package, Vec<u8>)],
    signer: Option<&Signer>,
) -> Result<bool> {
    for (p, bytes) in built {
        crate::atomic::write(&dir.join(&p.file), bytes)?;
    }
    crate::atomic::write(
        &dir.join(RELEASE_JSON),
        serde_json::to_string_pretty(doc)? + "\n",
    )?;
    match signer {
        Some(signer) => crate::release::reseal(dir, signer),
        None => {
            crate::release::write_checksums(dir)?;
            Ok(false)
        }
    }
}

/// The `.deb` and `.rpm` files of `specs` in the Linux `formats`, with their release.json facts.
fn linux_packages(
    formats: &[Format],
    specs: &[layout::Spec],
    id: &Identity,
    signer: Option<&Signer>,
    progress: &mut crate::console::Progress,
) -> Result<Vec<(Package, Vec<u8>)>> {
    let mut built = Vec::new();
    for format in formats.iter().filter(|f| f.linux()) {
        for spec in specs {
            let (file, bytes) = match format {
                Format::Deb => (deb::file_name(spec, id), deb::build(spec, id)?),
                Format::Rpm => {
                    let signer = signer.context("RPMs need the release key")?;
                    (rpm::file_name(spec, id), rpm::build(spec, id, signer)?)
                }
                // Built from the Windows archives below.
                Format::Msi => continue,
            };
            progress.step(&format!("built {file}"));
            let component = if spec.name.starts_with("aspnetcore") {
                "aspnetcore-runtime"
            } else {
                "runtime"
            };
            built.push((
                Package {
                    name: spec.name.to_string(),
                    format: *format,
                    file,
                    component: component.to_string(),
                    sha512: sha512_hex(&bytes),
                    size: bytes.len() as u64,
                },
                bytes,
            ));
        }
    }
    Ok(built)
}

/// The MSIs of the release's Windows archives, Authenticode-signed when `options` carry a
/// certificate, with their release.json facts.
fn msi_packages(
    config: &Config,
    options: &Options,
    windows_archives: &[PathBuf],
    id: &Identity,
    base: Version,
    progress: &mut crate::console::Progress,
) -> Result<Vec<(Package, Vec<u8>)>> {
    let mut built = Vec::new();
    let work = tempfile::tempdir().context("cannot create a temporary directory")?;
    let msi_options = msi::Options {
        vendor: id.fork_name.clone(),
        base_version: base,
    };
    let msis = msi::build(windows_archives, &msi_options, work.path())?;
    if let Some(certificate) = &options.authenticode {
        // A signature changes the bytes, so it is made before anything hashes them.
        let paths: Vec<PathBuf> = msis.iter().map(|m| m.path.clone()).collect();
        let signing = crate::release::authenticode::Options {
            description: Some(config.fork.name.clone()),
            timestamp_url: config.release.authenticode_timestamp_url.clone(),
        };
        crate::release::authenticode::sign(&paths, certificate, &signing)?;
    }
    for built_msi in msis {
        let bytes = std::fs::read(&built_msi.path)
            .with_context(|| format!("cannot read {}", built_msi.path.display()))?;
        progress.step(&format!("built {}", built_msi.name));
        built.push((
            Package {
                name: built_msi.product.file_prefix().to_string(),
                format: Format::Msi,
                file: built_msi.name,
                component: built_msi.product.release_component().to_string(),
                sha512: sha512_hex(&bytes),
                size: bytes.len() as u64,
            },
            bytes,
        ));
    }
    Ok(built)
}

/// A revision both dpkg and rpm accept: letters, digits, `.` and `+`, starting with a digit.
fn check_revision(revision: &str) -> Result<()> {
    let ok = revision.starts_with(|c: char| c.is_ascii_digit())
        && revision
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '+');
    if !ok {
        bail!("[packages] revision `{revision}` in els.toml must start with a digit and hold only letters, digits, `.` and `+` (e.g. \"1.els\")");
    }
    Ok(())
}

fn read_release_json(dir: &Path) -> Result<Value> {
    let path = dir.join(RELEASE_JSON);
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("cannot read {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("{} is not JSON", path.display()))
}

/// Midnight UTC of the release date in release.json, in Unix seconds.
fn release_date_epoch(doc: &Value, dir: &Path) -> Result<i64> {
    let date = doc["releases"][0]["release-date"]
        .as_str()
        .unwrap_or_default();
    let parsed: jiff::civil::Date = date.parse().with_context(|| {
        format!(
            "{}: releases[0].release-date `{date}` is not YYYY-MM-DD",
            dir.join(RELEASE_JSON).display()
        )
    })?;
    Ok(parsed
        .to_zoned(jiff::tz::TimeZone::UTC)?
        .timestamp()
        .as_second())
}

/// release.json with one `files` entry per package (replacing entries of earlier runs for the
/// same formats), under the component that ships it.
fn with_package_files(
    mut doc: Value,
    built: &[(Package, Vec<u8>)],
    formats: &[Format],
    version: Version,
    url: &str,
) -> Value {
    let v = version.to_string();
    for component in crate::release::FILE_COMPONENTS {
        let release = &mut doc["releases"][0];
        let packaged = built.iter().any(|(p, _)| p.component == component);
        if release.get(component).is_none() && !packaged {
            continue;
        }
        let files = &mut release[component]["files"];
        let mut kept: Vec<Value> = files
            .as_array()
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .filter(|f| {
                let file = f["url"].as_str().unwrap_or_default();
                !formats
                    .iter()
                    .any(|fmt| file.ends_with(&format!(".{}", fmt.as_str())))
            })
            .collect();
        for (p, _) in built.iter().filter(|(p, _)| p.component == component) {
            kept.push(json!({
                "name": format!("{}-{}.{}", p.name, p.format.rid(), p.format),
                "rid": p.format.rid(),
                "url": url.replace("{version}", &v).replace("{name}", &p.file),
                "hash": p.sha512,
            }));
        }
        *files = Value::Array(kept);
    }
    doc
}

/// The win-x64 archives of `version` in the release directory `dir`, one per Windows product:
/// the runtime's is required, ASP.NET Core's and the desktop runtime's are packaged when present.
fn windows_archives(dir: &Path, version: Version) -> Result<Vec<PathBuf>> {
    let runtime = dir.join(msi::Product::Runtime.archive_name(version));
    if !runtime.is_file() {
        bail!(
            "{} is missing: MSIs are built from the release's win-x64 archives; build for Windows (`cargo xtask build --os windows`) and assemble the release again, or leave out `msi`",
            runtime.display()
        );
    }
    Ok(msi::Product::ALL
        .iter()
        .map(|p| dir.join(p.archive_name(version)))
        .filter(|p| p.is_file())
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_parse_and_refuse_unknown_names() {
        assert_eq!("deb".parse::<Format>().unwrap(), Format::Deb);
        assert_eq!("rpm".parse::<Format>().unwrap(), Format::Rpm);
        assert_eq!("msi".parse::<Format>().unwrap(), Format::Msi);
        let err = "apk".parse::<Format>().unwrap_err().to_string();
        assert!(err.contains("deb, rpm, msi"), "{err}");
    }

    #[test]
    fn release_verify_requires_every_format_listed() {
        for format in Format::ALL {
            let name = format!("dotnet-runtime-6.0.37.{format}");
            assert!(crate::release::must_be_listed(&name), "{name}");
        }
    }

    #[test]
    fn revisions_must_suit_dpkg_and_rpm() {
        check_revision("1.els").unwrap();
        check_revision("2+els").unwrap();
        for bad in ["", "els1", "1-els", "1 els", "1~els"] {
            assert!(check_revision(bad).is_err(), "{bad}");
        }
    }
}
