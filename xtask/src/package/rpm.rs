//! `.rpm` packages, built with the `rpm` crate and signed (header signature) with the release key
//! through GnuPG; the same inputs and `SOURCE_DATE_EPOCH` give the same bytes.

use anyhow::{Context, Result};

use super::layout::{EntryKind, Spec};
use super::Identity;
use crate::release::sign::{SignatureKind, Signer};

/// The operating system libraries of `dotnet-runtime-deps-6.0` on RPM distributions
/// (dotnet/core `release-notes/6.0/linux-packages.md`; libicu is dlopen'ed, so it is named).
pub const SYSTEM_DEPENDENCIES: &[&str] = &[
    "glibc",
    "libgcc",
    "libstdc++",
    "zlib",
    "openssl-libs",
    "libicu",
    "krb5-libs",
];

/// The RPM architecture of the packages.
pub const ARCH: &str = "x86_64";

/// The file name rpm tools give the package (`dotnet-host-6.0.37-1.els.x86_64.rpm`).
pub fn file_name(spec: &Spec, id: &Identity) -> String {
    format!("{}-{}-{}.{ARCH}.rpm", spec.name, id.version, id.revision)
}

/// Signs RPM headers with the release key (a detached binary OpenPGP signature).
#[derive(Debug)]
struct HeaderSigner<'a>(&'a Signer);

impl rpm::signature::Signing for HeaderSigner<'_> {
    type Signature = Vec<u8>;

    fn sign(&self, mut data: impl std::io::Read, t: rpm::Timestamp) -> Result<Vec<u8>, rpm::Error> {
        let mut bytes = Vec::new();
        data.read_to_end(&mut bytes)?;
        self.0
            .sign_bytes(
                &bytes,
                SignatureKind::DetachedBinary,
                Some(i64::from(u32::from(t))),
            )
            .map_err(|e| rpm::Error::SignError(format!("{e:#}").into()))
    }
}

/// Builds the signed `.rpm` of `spec`.
pub fn build(spec: &Spec, id: &Identity, signer: &Signer) -> Result<Vec<u8>> {
    let v = id.version.to_string();
    let full = format!("{v}-{}", id.revision);
    let config = rpm::BuildConfig::v4()
        .compression(rpm::CompressionType::Gzip)
        .source_date(u32::try_from(id.source_date.max(0)).unwrap_or(u32::MAX));
    let mut builder = rpm::PackageBuilder::new(spec.name, &v, "MIT", ARCH, spec.summary);
    builder
        .using_config(config)
        .release(&id.revision)
        .description(format!("{}\n\nBuilt by {}.", spec.description, id.vendor))
        .vendor(&id.vendor)
        .packager(&id.maintainer)
        .group("Development/Languages")
        .build_host("net6-els");
    if let Some(home) = &id.homepage {
        builder.url(home);
    }
    for name in &spec.requires {
        builder.requires(rpm::Dependency::greater_eq(*name, &full));
    }
    if spec.system_dependencies {
        for name in SYSTEM_DEPENDENCIES {
            builder.requires(rpm::Dependency::any(*name));
        }
    }
    for e in &spec.entries {
        let path = e.path.as_str();
        match &e.kind {
            EntryKind::Dir => {
                builder.with_dir_entry(
                    rpm::FileOptions::dir(path)
                        .permissions(0o755)
                        .user("root")
                        .group("root"),
                )?;
            }
            EntryKind::File { mode, data } => {
                let mut options = rpm::FileOptions::new(path)
                    .mode(rpm::FileMode::regular(*mode as u16))
                    .user("root")
                    .group("root");
                if path.ends_with("LICENSE.txt") || path.ends_with("ThirdPartyNotices.txt") {
                    options = options.license();
                }
                builder.with_file_contents(data.clone(), options)?;
            }
            EntryKind::Symlink { target } => {
                builder.with_symlink(
                    rpm::FileOptions::symlink(path, target)
                        .user("root")
                        .group("root"),
                )?;
            }
        }
    }
    let package = builder
        .build_and_sign(HeaderSigner(signer))
        .with_context(|| format!("cannot build the RPM of {}", spec.name))?;
    let mut bytes = Vec::new();
    package.write(&mut bytes)?;
    Ok(bytes)
}
