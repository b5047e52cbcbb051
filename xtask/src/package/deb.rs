//! `.deb` packages: an `ar` archive of `debian-binary`, `control.tar.gz` (control, md5sums) and
//! `data.tar.gz`, written byte for byte the same from the same inputs and `SOURCE_DATE_EPOCH`.

use std::io::Write;

use anyhow::{Context, Result};
use md5::{Digest, Md5};

use super::layout::{Entry, EntryKind, Spec};
use super::Identity;

/// The operating system libraries of `dotnet-runtime-deps-6.0` on Debian and Ubuntu
/// (dotnet/core `release-notes/6.0/linux-packages.md`); libicu as alternatives over the versions
/// of the supported releases (noble 74, bookworm 72, jammy 70, bullseye 67, focal 66, buster 63).
pub const SYSTEM_DEPENDENCIES: &[&str] = &[
    "libc6",
    "libgcc-s1 | libgcc1",
    "libgssapi-krb5-2",
    "libicu74 | libicu72 | libicu70 | libicu67 | libicu66 | libicu63",
    "libssl3 | libssl1.1",
    "libstdc++6",
    "zlib1g",
];

/// The Debian architecture of the packages.
pub const ARCH: &str = "amd64";

/// The package's version as dpkg sees it (`6.0.37-1.els`).
pub fn version(id: &Identity) -> String {
    format!("{}-{}", id.version, id.revision)
}

/// The file name Debian's tools give the package (`dotnet-host_6.0.37-1.els_amd64.deb`).
pub fn file_name(spec: &Spec, id: &Identity) -> String {
    format!("{}_{}_{ARCH}.deb", spec.name, version(id))
}

/// The package's control file.
pub fn control(spec: &Spec, id: &Identity) -> Result<String> {
    let v = version(id);
    let mut depends: Vec<String> = spec
        .requires
        .iter()
        .map(|p| format!("{p} (>= {v})"))
        .collect();
    if spec.system_dependencies {
        depends.extend(SYSTEM_DEPENDENCIES.iter().map(|d| d.to_string()));
    }
    let installed_kib: u64 = spec
        .entries
        .iter()
        .map(|e| match &e.kind {
            EntryKind::File { data, .. } => (data.len() as u64).div_ceil(1024),
            _ => 1,
        })
        .sum::<u64>()
        + doc_files(spec, id)?
            .iter()
            .map(|(_, d)| (d.len() as u64).div_ceil(1024))
            .sum::<u64>();
    let mut text = format!(
        "Package: {}\nVersion: {v}\nArchitecture: {ARCH}\nMaintainer: {}\nInstalled-Size: {installed_kib}\n",
        spec.name, id.maintainer
    );
    if !depends.is_empty() {
        text.push_str(&format!("Depends: {}\n", depends.join(", ")));
    }
    text.push_str("Section: libs\nPriority: optional\n");
    if let Some(home) = &id.homepage {
        text.push_str(&format!("Homepage: {home}\n"));
    }
    text.push_str(&format!(
        "Description: {}\n{}\n",
        spec.summary,
        description_lines(spec.description, &id.vendor)
    ));
    Ok(text)
}

/// The extended description, each line indented by one space (an empty line is ` .`).
fn description_lines(description: &str, vendor: &str) -> String {
    format!("{description}\n\nBuilt by {vendor}.")
        .lines()
        .map(|l| {
            if l.trim().is_empty() {
                " .".to_string()
            } else {
                format!(" {l}")
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The files Debian policy wants in every package: the copyright file and the changelog.
fn doc_files(spec: &Spec, id: &Identity) -> Result<Vec<(String, Vec<u8>)>> {
    let doc = format!("/usr/share/doc/{}", spec.name);
    let copyright = format!(
        "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\nUpstream-Name: dotnet\nSource: https://github.com/dotnet/runtime\n\nFiles: *\nCopyright: (c) .NET Foundation and Contributors\nLicense: MIT\n{}\n",
        spec.license_text
            .lines()
            .map(|l| if l.trim().is_empty() { " .".to_string() } else { format!(" {l}") })
            .collect::<Vec<_>>()
            .join("\n")
    );
    let date = jiff::Timestamp::from_second(id.source_date)
        .unwrap_or(jiff::Timestamp::UNIX_EPOCH)
        .strftime("%a, %d %b %Y %H:%M:%S +0000")
        .to_string();
    let changelog = format!(
        "{} ({}) stable; urgency=high\n\n  * {} {}: security fixes backported by {}.\n\n -- {}  {date}\n",
        spec.name,
        version(id),
        id.fork_name,
        id.version,
        id.vendor,
        id.maintainer
    );
    Ok(vec![
        (format!("{doc}/copyright"), copyright.into_bytes()),
        (
            format!("{doc}/changelog.Debian.gz"),
            gzip(changelog.as_bytes())?,
        ),
    ])
}

/// Builds the `.deb` of `spec`.
pub fn build(spec: &Spec, id: &Identity) -> Result<Vec<u8>> {
    let mtime = id.source_date.max(0) as u64;
    let docs = doc_files(spec, id)?;
    let mut entries: Vec<Entry> = spec.entries.clone();
    for (path, data) in &docs {
        entries.push(Entry {
            path: path.clone(),
            kind: EntryKind::File {
                mode: 0o644,
                data: data.clone(),
            },
        });
    }
    // Every directory on the way to each entry, as dpkg-deb writes them (lintian:
    // missing-intermediate-directory).
    let parents: Vec<Entry> = entries
        .iter()
        .flat_map(|e| {
            std::path::Path::new(&e.path)
                .ancestors()
                .skip(1)
                .filter(|p| p.as_os_str().len() > 1)
                .map(|p| Entry {
                    path: p.display().to_string(),
                    kind: EntryKind::Dir,
                })
                .collect::<Vec<_>>()
        })
        .collect();
    entries.extend(parents);
    entries.sort_by(|a, b| a.path.cmp(&b.path));
    entries.dedup_by(|a, b| a.path == b.path);

    let mut md5sums = String::new();
    let mut data = tar::Builder::new(Vec::new());
    for e in &entries {
        let (name, kind, mode, bytes): (String, tar::EntryType, u32, &[u8]) = match &e.kind {
            EntryKind::Dir => (
                format!(".{}/", e.path),
                tar::EntryType::Directory,
                0o755,
                &[],
            ),
            EntryKind::File { mode, data: bytes } => {
                md5sums.push_str(&format!(
                    "{:x}  {}\n",
                    Md5::digest(bytes),
                    e.path.trim_start_matches('/')
                ));
                (
                    format!(".{}", e.path),
                    tar::EntryType::Regular,
                    *mode,
                    bytes.as_slice(),
                )
            }
            EntryKind::Symlink { .. } => {
                (format!(".{}", e.path), tar::EntryType::Symlink, 0o777, &[])
            }
        };
        let mut header = tar_header(&name, kind, mode, bytes.len(), mtime)?;
        if let EntryKind::Symlink { target } = &e.kind {
            header.set_link_name(target)?;
            header.set_cksum();
        }
        data.append(&header, bytes)?;
    }
    let data = gzip(&data.into_inner()?)?;

    let mut control_tar = tar::Builder::new(Vec::new());
    for (name, kind, text, mode) in [
        ("./", tar::EntryType::Directory, String::new(), 0o755),
        (
            "./control",
            tar::EntryType::Regular,
            control(spec, id)?,
            0o644,
        ),
        ("./md5sums", tar::EntryType::Regular, md5sums, 0o644),
    ] {
        let header = tar_header(name, kind, mode, text.len(), mtime)?;
        control_tar.append(&header, text.as_bytes())?;
    }
    let control_tar = gzip(&control_tar.into_inner()?)?;

    let mut deb = ar::Builder::new(Vec::new());
    for (name, bytes) in [
        ("debian-binary", b"2.0\n".to_vec()),
        ("control.tar.gz", control_tar),
        ("data.tar.gz", data),
    ] {
        let mut header = ar::Header::new(name.as_bytes().to_vec(), bytes.len() as u64);
        header.set_mtime(mtime);
        header.set_mode(0o100644);
        deb.append(&header, bytes.as_slice())
            .with_context(|| format!("cannot write {name} into the .deb"))?;
    }
    Ok(deb.into_inner()?)
}

/// A ustar header for `name` written as given (`./usr/…`, as dpkg-deb writes them: the tar crate's
/// path setter drops the leading `./`, except on the long names it moves to an extension), the
/// part before the last fitting `/` in the ustar prefix when the name is over 100 bytes; owned by
/// root.
fn tar_header(
    name: &str,
    kind: tar::EntryType,
    mode: u32,
    size: usize,
    mtime: u64,
) -> Result<tar::Header> {
    let mut header = tar::Header::new_ustar();
    let (prefix, rest) = if name.len() <= 100 {
        ("", name)
    } else {
        let cut = name[..name.len() - 1]
            .char_indices()
            .filter(|&(i, c)| c == '/' && name.len() - i - 1 <= 100 && i <= 155)
            .map(|(i, _)| i)
            .next()
            .with_context(|| format!("{name}: too long for a tar header"))?;
        (&name[..cut], &name[cut + 1..])
    };
    let ustar = header
        .as_ustar_mut()
        .context("a ustar header without its fields")?;
    ustar.name[..rest.len()].copy_from_slice(rest.as_bytes());
    ustar.prefix[..prefix.len()].copy_from_slice(prefix.as_bytes());
    header.set_entry_type(kind);
    header.set_mode(mode);
    header.set_size(size as u64);
    header.set_mtime(mtime);
    header.set_uid(0);
    header.set_gid(0);
    header.set_username("root")?;
    header.set_groupname("root")?;
    header.set_cksum();
    Ok(header)
}

/// gzip with a zero timestamp and no file name, so the bytes depend only on the content.
pub fn gzip(bytes: &[u8]) -> Result<Vec<u8>> {
    let mut gz = flate2::GzBuilder::new().write(Vec::new(), flate2::Compression::best());
    gz.write_all(bytes)?;
    Ok(gz.finish()?)
}
