//! The APT side of the repository tree: `apt/pool/` and, per channel, `apt/dists/<channel>/` with
//! `main/binary-amd64/Packages{,.gz}`, `Release` (SHA-256 sums), `InRelease` and `Release.gpg`.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use sha2::{Digest, Sha256};

use super::{generation_name, switch_link, write_once, Added, Tree};
use crate::channel::Channel;
use crate::release::sign::{SignatureKind, Signer};
use crate::version::Version;

/// The index of a channel's packages, relative to `dists/<channel>/`.
pub const PACKAGES: &str = "main/binary-amd64/Packages";

/// A `.deb` with what its control file says.
#[derive(Clone, Debug)]
pub struct Deb {
    pub file: String,
    pub package: String,
    pub version: String,
    /// The control file's fields, without the trailing newline.
    pub control: String,
    pub bytes: Vec<u8>,
}

impl Deb {
    /// Reads a `.deb` and its control file.
    pub fn read(path: &Path) -> Result<Deb> {
        let bytes =
            std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
        let control = control_of(&bytes)
            .with_context(|| format!("{} is not a .deb package", path.display()))?;
        let fields = parse_stanza(&control);
        let field = |name: &str| {
            fields
                .get(name)
                .cloned()
                .with_context(|| format!("{}: the control file has no {name}", path.display()))
        };
        Ok(Deb {
            file: path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            package: field("Package")?,
            version: field("Version")?,
            control: control.trim_end().to_string(),
            bytes,
        })
    }

    /// Where the file lies in the tree (`pool/main/d/dotnet-host/<file>`), relative to `apt/`.
    pub fn pool_path(&self) -> String {
        let first = self.package.chars().next().unwrap_or('_');
        format!("pool/main/{first}/{}/{}", self.package, self.file)
    }

    fn stanza(&self) -> String {
        format!(
            "{}\nFilename: {}\nSize: {}\nMD5sum: {:x}\nSHA256: {}\n",
            self.control,
            self.pool_path(),
            self.bytes.len(),
            md5::Md5::digest(&self.bytes),
            hex(&Sha256::digest(&self.bytes)),
        )
    }
}

/// `./control` from a `.deb`'s `control.tar.gz`.
fn control_of(deb: &[u8]) -> Result<String> {
    let mut archive = ar::Archive::new(deb);
    while let Some(entry) = archive.next_entry() {
        let mut entry = entry?;
        if entry.header().identifier() != b"control.tar.gz" {
            continue;
        }
        let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(&mut entry));
        for member in tar.entries()? {
            let mut member = member?;
            if member.path()?.to_string_lossy().trim_start_matches("./") == "control" {
                let mut text = String::new();
                member.read_to_string(&mut text)?;
                return Ok(text);
            }
        }
    }
    bail!("no control.tar.gz with a control file")
}

/// The fields of one stanza (continuation lines joined with newlines).
pub fn parse_stanza(text: &str) -> BTreeMap<String, String> {
    let mut fields: BTreeMap<String, String> = BTreeMap::new();
    let mut last: Option<String> = None;
    for line in text.lines() {
        if line.starts_with(' ') || line.starts_with('\t') {
            if let Some(v) = last.as_ref().and_then(|k| fields.get_mut(k)) {
                v.push('\n');
                v.push_str(line);
            }
        } else if let Some((k, v)) = line.split_once(':') {
            fields.insert(k.trim().to_string(), v.trim().to_string());
            last = Some(k.trim().to_string());
        }
    }
    fields
}

/// The stanzas of a Packages file.
pub fn stanzas(text: &str) -> Vec<String> {
    text.split("\n\n")
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| format!("{s}\n"))
        .collect()
}

/// Lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// What a publish will write: new pool files and the channel's complete Packages index.
pub struct Plan {
    pool: Vec<(Deb, bool)>,
    /// (package, version) → stanza, for every package the channel will list.
    index: BTreeMap<(String, String), String>,
}

fn dists(tree: &Tree, channel: Channel) -> PathBuf {
    tree.dir.join("apt/dists").join(channel.as_str())
}

/// The channel's current index: (package, version) → stanza.
fn current_index(tree: &Tree, channel: Channel) -> Result<BTreeMap<(String, String), String>> {
    let path = dists(tree, channel).join(PACKAGES);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(BTreeMap::new()),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    let mut index = BTreeMap::new();
    for stanza in stanzas(&text) {
        let f = parse_stanza(&stanza);
        match (f.get("Package"), f.get("Version")) {
            (Some(p), Some(v)) => {
                index.insert((p.clone(), v.clone()), stanza);
            }
            _ => bail!(
                "{}: a stanza without Package or Version; the repository is damaged (run `cargo xtask repo verify`)",
                path.display()
            ),
        }
    }
    Ok(index)
}

/// Checks that `debs` can join `channel`: a package version the channel (or the pool) already
/// has must be byte-identical.
pub fn plan(tree: &Tree, channel: Channel, debs: Vec<Deb>) -> Result<Plan> {
    let mut index = current_index(tree, channel)?;
    let mut pool = Vec::new();
    for deb in debs {
        let stanza = deb.stanza();
        let key = (deb.package.clone(), deb.version.clone());
        if let Some(existing) = index.get(&key) {
            if parse_stanza(existing).get("SHA256") != parse_stanza(&stanza).get("SHA256") {
                bail!(
                    "{channel} already has {} {} with different bytes; a published package never changes (raise the version or the package revision)",
                    deb.package,
                    deb.version
                );
            }
        }
        let path = tree.dir.join("apt").join(deb.pool_path());
        let new = match std::fs::read(&path) {
            Ok(existing) if existing == deb.bytes => false,
            Ok(_) => bail!(
                "{} is already in the pool with different bytes; a published package never changes (raise the version or the package revision)",
                path.display()
            ),
            Err(_) => true,
        };
        index.insert(key, stanza);
        pool.push((deb, new));
    }
    Ok(Plan { pool, index })
}

/// Writes the pool files, then the channel's new signed metadata, switched in at once.
pub fn commit(tree: &Tree, channel: Channel, plan: Plan, signer: &Signer) -> Result<Vec<Added>> {
    if plan.pool.is_empty() {
        return Ok(Vec::new());
    }
    let mut added = Vec::new();
    for (deb, _) in &plan.pool {
        let rel = deb.pool_path();
        let new = write_once(&tree.dir.join("apt").join(&rel), &deb.bytes)?;
        added.push(Added {
            file: deb.file.clone(),
            path: format!("apt/{rel}"),
            new,
        });
    }
    let packages: String = plan
        .index
        .values()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .join("\n");
    let dists_dir = tree.dir.join("apt/dists");
    let generation = generation_name(channel.as_str());
    let gen_dir = dists_dir.join(&generation);
    let result = write_metadata(tree, channel, &gen_dir, &packages, signer)
        .and_then(|()| switch_link(&dists(tree, channel), &generation));
    if result.is_err() {
        let _ = std::fs::remove_dir_all(&gen_dir);
    }
    result?;
    Ok(added)
}

fn write_metadata(
    tree: &Tree,
    channel: Channel,
    dir: &Path,
    packages: &str,
    signer: &Signer,
) -> Result<()> {
    let gz = crate::package::deb::gzip(packages.as_bytes())?;
    let files: [(String, &[u8]); 2] = [
        (PACKAGES.to_string(), packages.as_bytes()),
        (format!("{PACKAGES}.gz"), &gz),
    ];
    let mut sums = String::new();
    for (name, bytes) in &files {
        crate::atomic::write(&dir.join(name), bytes)?;
        sums.push_str(&format!(
            " {} {} {name}\n",
            hex(&Sha256::digest(bytes)),
            bytes.len()
        ));
    }
    let date = jiff::Timestamp::now()
        .strftime("%a, %d %b %Y %H:%M:%S UTC")
        .to_string();
    let release = format!(
        "Origin: {vendor}\nLabel: {vendor}\nSuite: {channel}\nCodename: {channel}\nDate: {date}\nArchitectures: amd64\nComponents: main\nDescription: {vendor} .NET 6 packages, {channel} channel\nSHA256:\n{sums}",
        vendor = tree.vendor
    );
    let release_path = dir.join("Release");
    crate::atomic::write(&release_path, &release)?;
    crate::atomic::write(
        &dir.join("Release.gpg"),
        signer.sign_file(&release_path, SignatureKind::DetachedArmored, None)?,
    )?;
    crate::atomic::write(
        &dir.join("InRelease"),
        signer.sign_file(&release_path, SignatureKind::Clearsigned, None)?,
    )?;
    Ok(())
}

/// The `.deb` files of `version` listed in `channel`, read from the pool and checked against the
/// channel's index (size and SHA-256).
pub fn in_channel(tree: &Tree, channel: Channel, version: Version) -> Result<Vec<Deb>> {
    let prefix = format!("{version}-");
    let mut debs = Vec::new();
    for ((package, v), stanza) in current_index(tree, channel)? {
        if !v.starts_with(&prefix) {
            continue;
        }
        let fields = parse_stanza(&stanza);
        let filename = fields
            .get("Filename")
            .with_context(|| format!("{channel}: {package} {v} has no Filename"))?;
        let path = tree.dir.join("apt").join(filename);
        let deb = Deb::read(&path)?;
        if fields.get("SHA256").map(String::as_str)
            != Some(hex(&Sha256::digest(&deb.bytes)).as_str())
        {
            bail!(
                "{} does not match {channel}'s index (SHA-256); the repository is damaged: run `cargo xtask repo verify`",
                path.display()
            );
        }
        debs.push(deb);
    }
    Ok(debs)
}
