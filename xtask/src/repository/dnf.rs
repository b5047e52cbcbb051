//! The DNF/YUM side of the repository tree: `rpm/<channel>/x86_64/` with the `.rpm` files and
//! `repodata/` (`repomd.xml` + primary, filelists, other, made by `createrepo_c`), its signature
//! `repomd.xml.asc`, and the `.repo` file customers install.

use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use quick_xml::events::Event;
use sha2::{Digest, Sha256};

use super::apt::hex;
use super::{generation_name, switch_link, write_once, Added, Tree};
use crate::channel::Channel;
use crate::release::sign::{SignatureKind, Signer};
use crate::version::Version;

/// A channel's package directory, relative to the tree.
pub fn channel_dir(channel: Channel) -> String {
    format!("rpm/{channel}/x86_64")
}

/// What a publish will write.
pub struct Plan {
    rpms: Vec<(String, Vec<u8>)>,
}

/// Checks that `rpms` can join `channel`: a file the channel already has must be byte-identical.
pub fn plan(tree: &Tree, channel: Channel, rpms: &[PathBuf]) -> Result<Plan> {
    let dir = tree.dir.join(channel_dir(channel));
    let mut planned = Vec::new();
    for path in rpms {
        let bytes =
            std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if let Ok(existing) = std::fs::read(dir.join(&name)) {
            if existing != bytes {
                bail!(
                    "{channel} already has {name} with different bytes; a published package never changes (raise the version or the package revision)"
                );
            }
        }
        planned.push((name, bytes));
    }
    Ok(Plan { rpms: planned })
}

/// Writes the package files, then the channel's new signed metadata, switched in at once.
pub fn commit(tree: &Tree, channel: Channel, plan: Plan, signer: &Signer) -> Result<Vec<Added>> {
    if plan.rpms.is_empty() {
        return Ok(Vec::new());
    }
    let rel = channel_dir(channel);
    let dir = tree.dir.join(&rel);
    let mut added = Vec::new();
    for (name, bytes) in &plan.rpms {
        let new = write_once(&dir.join(name), bytes)?;
        added.push(Added {
            file: name.clone(),
            path: format!("{rel}/{name}"),
            new,
        });
    }
    let out = tempfile::Builder::new()
        .prefix(".createrepo-")
        .tempdir_in(&dir)
        .with_context(|| format!("cannot create a directory in {}", dir.display()))?;
    let sh = xshell::Shell::new()?;
    let (input, output) = (dir.display().to_string(), out.path().display().to_string());
    let run = xshell::cmd!(
        sh,
        "createrepo_c --quiet --no-database --outputdir {output} {input}"
    )
    .quiet()
    .ignore_status()
    .output()
    .context("cannot run createrepo_c; install it (Debian/Ubuntu: apt-get install createrepo-c)")?;
    if !run.status.success() {
        bail!(
            "`createrepo_c --outputdir {output} {input}` failed ({}): {}",
            run.status,
            tail(&run.stderr)
        );
    }
    let repomd = out.path().join("repodata/repomd.xml");
    crate::atomic::write(
        &out.path().join("repodata/repomd.xml.asc"),
        signer.sign_file(&repomd, SignatureKind::DetachedArmored, None)?,
    )?;
    let generation = generation_name("repodata");
    std::fs::rename(out.path().join("repodata"), dir.join(&generation))
        .with_context(|| format!("cannot move the new metadata into {}", dir.display()))?;
    if let Err(e) = switch_link(&dir.join("repodata"), &generation) {
        let _ = std::fs::remove_dir_all(dir.join(&generation));
        return Err(e);
    }
    Ok(added)
}

fn tail(stderr: &[u8]) -> String {
    let text = String::from_utf8_lossy(stderr);
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(10)..].join("\n")
}

/// Writes `rpm/<vendor>-<channel>.repo`, the file customers put in `/etc/yum.repos.d/`.
pub fn write_repo_file(tree: &Tree, channel: Channel) -> Result<PathBuf> {
    let id = format!("{}-{channel}", tree.vendor);
    let text = format!(
        "[{id}]\nname={vendor} .NET 6 packages ({channel})\nbaseurl={url}/rpm/{channel}/$basearch\nenabled=1\ngpgcheck=1\nrepo_gpgcheck=1\ngpgkey={url}/{key}\n",
        vendor = tree.vendor,
        url = tree.url,
        key = super::KEY_ASC,
    );
    let path = tree.dir.join(format!("rpm/{id}.repo"));
    if std::fs::read_to_string(&path).ok().as_deref() != Some(text.as_str()) {
        crate::atomic::write(&path, text)?;
    }
    Ok(path)
}

/// One `<data>` of `repomd.xml`.
#[derive(Clone, Debug)]
pub struct Data {
    pub kind: String,
    pub href: String,
    pub sha256: String,
}

/// One `<package>` of the primary metadata.
#[derive(Clone, Debug)]
pub struct Listed {
    pub name: String,
    pub version: String,
    pub href: String,
    pub sha256: String,
}

/// The `<data>` entries of a `repomd.xml`.
pub fn repomd(path: &Path) -> Result<Vec<Data>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut reader = quick_xml::Reader::from_str(&text);
    let mut out = Vec::new();
    let mut current: Option<Data> = None;
    let mut in_checksum = false;
    loop {
        match reader
            .read_event()
            .with_context(|| format!("{} is not XML", path.display()))?
        {
            Event::Start(e) if e.name().as_ref() == b"data" => {
                current = Some(Data {
                    kind: attr(&e, b"type"),
                    href: String::new(),
                    sha256: String::new(),
                });
            }
            Event::Start(e) if e.name().as_ref() == b"checksum" => in_checksum = true,
            Event::Empty(e) if e.name().as_ref() == b"location" => {
                if let Some(d) = current.as_mut() {
                    d.href = attr(&e, b"href");
                }
            }
            Event::Text(t) if in_checksum => {
                if let Some(d) = current.as_mut() {
                    d.sha256 = String::from_utf8_lossy(&t).trim().to_string();
                }
            }
            Event::End(e) if e.name().as_ref() == b"checksum" => in_checksum = false,
            Event::End(e) if e.name().as_ref() == b"data" => out.extend(current.take()),
            Event::Eof => break,
            _ => {}
        }
    }
    Ok(out)
}

/// The packages the (gzip-compressed) primary metadata at `path` lists.
pub fn primary(path: &Path) -> Result<Vec<Listed>> {
    let mut text = String::new();
    flate2::read::GzDecoder::new(
        std::fs::File::open(path).with_context(|| format!("cannot read {}", path.display()))?,
    )
    .read_to_string(&mut text)
    .with_context(|| format!("{} is not gzip-compressed XML", path.display()))?;
    let mut reader = quick_xml::Reader::from_str(&text);
    let mut out = Vec::new();
    let mut current: Option<Listed> = None;
    let mut in_checksum = false;
    let mut in_name = false;
    loop {
        match reader
            .read_event()
            .with_context(|| format!("{} is not XML", path.display()))?
        {
            Event::Start(e) if e.name().as_ref() == b"package" => {
                current = Some(Listed {
                    name: String::new(),
                    version: String::new(),
                    href: String::new(),
                    sha256: String::new(),
                });
            }
            Event::Start(e) if e.name().as_ref() == b"checksum" => in_checksum = true,
            Event::Start(e) if e.name().as_ref() == b"name" => in_name = true,
            Event::Empty(e) if e.name().as_ref() == b"version" => {
                if let Some(p) = current.as_mut() {
                    p.version = attr(&e, b"ver");
                }
            }
            Event::Empty(e) if e.name().as_ref() == b"location" => {
                if let Some(p) = current.as_mut() {
                    p.href = attr(&e, b"href");
                }
            }
            Event::Text(t) => {
                let value = String::from_utf8_lossy(&t).trim().to_string();
                if let Some(p) = current.as_mut() {
                    if in_checksum {
                        p.sha256 = value;
                    } else if in_name {
                        p.name = value;
                    }
                }
            }
            Event::End(e) if e.name().as_ref() == b"checksum" => in_checksum = false,
            Event::End(e) if e.name().as_ref() == b"name" => in_name = false,
            Event::End(e) if e.name().as_ref() == b"package" => out.extend(current.take()),
            Event::Eof => break,
            _ => {}
        }
    }
    Ok(out)
}

fn attr(e: &quick_xml::events::BytesStart, name: &[u8]) -> String {
    e.attributes()
        .filter_map(|a| a.ok())
        .find(|a| a.key.as_ref() == name)
        .map(|a| String::from_utf8_lossy(&a.value).into_owned())
        .unwrap_or_default()
}

/// The primary metadata file of the channel's current repodata.
pub fn primary_path(tree: &Tree, channel: Channel) -> Result<Option<PathBuf>> {
    let dir = tree.dir.join(channel_dir(channel));
    let repomd_path = dir.join("repodata/repomd.xml");
    if !repomd_path.is_file() {
        return Ok(None);
    }
    Ok(repomd(&repomd_path)?
        .into_iter()
        .find(|d| d.kind == "primary")
        .map(|d| dir.join(d.href)))
}

/// The `.rpm` files of `version` listed in `channel`, checked against its metadata (SHA-256).
pub fn in_channel(tree: &Tree, channel: Channel, version: Version) -> Result<Vec<PathBuf>> {
    let Some(primary_path) = primary_path(tree, channel)? else {
        return Ok(Vec::new());
    };
    let dir = tree.dir.join(channel_dir(channel));
    let mut out = Vec::new();
    for p in primary(&primary_path)? {
        if p.version != version.to_string() {
            continue;
        }
        let path = dir.join(&p.href);
        let bytes =
            std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
        if hex(&Sha256::digest(&bytes)) != p.sha256 {
            bail!(
                "{} does not match {channel}'s metadata (SHA-256); the repository is damaged: run `cargo xtask repo verify`",
                path.display()
            );
        }
        out.push(path);
    }
    Ok(out)
}
