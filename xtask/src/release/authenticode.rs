//! `cargo xtask release authenticode`: Authenticode signatures on the Windows files a release
//! ships — MSIs, and the `.exe`/`.dll` files inside the win-x64 zips — made before anything hashes
//! them, with `signtool` on Windows and `osslsigncode` elsewhere. The certificate (a PFX) and its
//! password come from the environment and are never printed or left on disk.

use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use base64::Engine as _;
use serde::Serialize;

use crate::config::ReleaseSettings;
use crate::official_build::{sha512_hex, Manifest, MANIFEST};

/// A code-signing certificate with its private key (PKCS#12) and the password protecting it.
pub struct Certificate {
    pfx: Vec<u8>,
    password: String,
}

impl std::fmt::Debug for Certificate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Certificate(<redacted>)")
    }
}

impl Certificate {
    /// The certificate from `pfx_file` when given, else the base64 PFX in the environment
    /// variable `[release] authenticode-pfx-env`; the password from `authenticode-password-env`.
    pub fn from_env(settings: &ReleaseSettings, pfx_file: Option<&Path>) -> Result<Certificate> {
        let pfx = match pfx_file {
            Some(path) => {
                std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?
            }
            None => {
                let name = &settings.authenticode_pfx_env;
                let text = std::env::var(name)
                    .ok()
                    .filter(|s| !s.trim().is_empty())
                    .with_context(|| {
                        format!("no Authenticode certificate: set ${name} to the base64 of a PFX (PKCS#12) file, or pass --pfx FILE")
                    })?;
                let compact: String = text.split_whitespace().collect();
                base64::engine::general_purpose::STANDARD
                    .decode(compact)
                    .map_err(|_| {
                        anyhow::anyhow!(
                            "${name} is not base64; set it to `base64 -w0 certificate.pfx`"
                        )
                    })?
            }
        };
        let password = std::env::var(&settings.authenticode_password_env).unwrap_or_default();
        Ok(Certificate { pfx, password })
    }

    /// A certificate from its parts (for tests and the demo's throwaway certificate).
    pub fn new(pfx: Vec<u8>, password: String) -> Certificate {
        Certificate { pfx, password }
    }
}

/// How to sign.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// The description shown in Windows' signature dialogs (`signtool /d`, `osslsigncode -n`).
    pub description: Option<String>,
    /// An RFC 3161 timestamp server, so signatures outlive the certificate.
    pub timestamp_url: Option<String>,
}

/// What was signed.
#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
pub struct Report {
    pub files: Vec<SignedFile>,
}

/// One signed file.
#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
pub struct SignedFile {
    pub path: PathBuf,
    /// The `.exe`/`.dll` files signed inside it (1 for an MSI or a PE file).
    pub signed: usize,
    /// `manifest.json` entries brought up to date with the new bytes.
    pub manifest_updated: bool,
    pub sha512: String,
}

/// What kind of file a path names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// An MSI or a PE file (`.exe`, `.dll`): signed as it is.
    Direct,
    /// A win-x64 zip: the PE files inside are signed and the zip rewritten.
    Zip,
}

fn kind(path: &Path) -> Result<Kind> {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default()
        .to_ascii_lowercase();
    if [".msi", ".exe", ".dll"].iter().any(|e| name.ends_with(e)) {
        Ok(Kind::Direct)
    } else if name.ends_with("-win-x64.zip") {
        Ok(Kind::Zip)
    } else {
        bail!(
            "{}: Authenticode signs MSIs, .exe and .dll files and win-x64 zips (their binaries); not this file",
            path.display()
        )
    }
}

fn is_pe(entry: &str) -> bool {
    let lower = entry.to_ascii_lowercase();
    lower.ends_with(".exe") || lower.ends_with(".dll")
}

/// Signs every file in `paths` in place. Refuses (nothing written) a path that is not an MSI, a
/// PE file or a win-x64 zip, or that a `SHA512SUMS` beside it already lists: a signature changes
/// the bytes, so signing comes before hashing. A build's `manifest.json` beside a signed file is
/// updated (size, SHA-512), so `cargo xtask release` accepts the signed artifact. Every file is
/// signed into a temporary directory first; only when all succeeded are they written.
pub fn sign(paths: &[PathBuf], certificate: &Certificate, options: &Options) -> Result<Report> {
    if paths.is_empty() {
        bail!("nothing to sign: name the MSIs, PE files or win-x64 zips");
    }
    let mut kinds = Vec::new();
    for path in paths {
        let k = kind(path)?;
        if !path.is_file() {
            bail!("{} does not exist", path.display());
        }
        refuse_hashed(path)?;
        kinds.push(k);
    }
    let work = tempfile::Builder::new()
        .prefix("els-authenticode-")
        .tempdir()
        .context("cannot create a temporary directory")?;
    let signer = Signer::new(work.path(), certificate, options)?;
    let mut signed = Vec::new();
    for (n, (path, k)) in paths.iter().zip(&kinds).enumerate() {
        let (bytes, count) = match k {
            Kind::Direct => (signer.sign_bytes(&std::fs::read(path)?, path, n)?, 1),
            Kind::Zip => sign_zip(&signer, path, n)?,
        };
        signed.push((path, bytes, count));
    }
    let mut files = Vec::new();
    for (path, bytes, count) in signed {
        crate::atomic::write(path, &bytes)?;
        let sha512 = sha512_hex(&bytes);
        let manifest_updated = update_manifest(path, bytes.len() as u64, &sha512)?;
        files.push(SignedFile {
            path: path.clone(),
            signed: count,
            manifest_updated,
            sha512,
        });
    }
    Ok(Report { files })
}

/// Refuses a file that a `SHA512SUMS` in its directory lists.
fn refuse_hashed(path: &Path) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let sums = dir.join(super::CHECKSUMS);
    let Ok(text) = std::fs::read_to_string(&sums) else {
        return Ok(());
    };
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    if text
        .lines()
        .filter_map(super::parse_checksum_line)
        .any(|(_, listed)| listed == name)
    {
        bail!(
            "{} is already listed in {}: sign it before it is hashed (the pipeline's authenticode step runs before `release` and `package` write checksums)",
            path.display(),
            sums.display()
        );
    }
    Ok(())
}

/// Signs every PE file inside a zip and rebuilds the zip with the same entries in the same order.
fn sign_zip(signer: &Signer, path: &Path, n: usize) -> Result<(Vec<u8>, usize)> {
    let file =
        std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let mut zip = zip::ZipArchive::new(file)
        .with_context(|| format!("{} is not a zip archive", path.display()))?;
    let mut out = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let mut count = 0;
    for i in 0..zip.len() {
        let mut entry = zip.by_index(i)?;
        let name = entry.name()?.to_string();
        let options = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated)
            .last_modified_time(entry.last_modified().unwrap_or_default());
        if entry.is_dir() {
            out.add_directory(name, options)?;
            continue;
        }
        let mut bytes = Vec::new();
        entry
            .read_to_end(&mut bytes)
            .with_context(|| format!("{}: cannot read `{name}`", path.display()))?;
        if is_pe(&name) {
            bytes = signer
                .sign_bytes(&bytes, &path.join(&name), n * 100_000 + i)
                .with_context(|| format!("{}: `{name}`", path.display()))?;
            count += 1;
        }
        out.start_file(name, options)?;
        std::io::Write::write_all(&mut out, &bytes)?;
    }
    if count == 0 {
        bail!(
            "{}: no .exe or .dll inside to sign; is it a win-x64 runtime archive?",
            path.display()
        );
    }
    Ok((out.finish()?.into_inner(), count))
}

/// Updates the entry of `path` in a build's `manifest.json` beside it, if it has one.
fn update_manifest(path: &Path, size: u64, sha512: &str) -> Result<bool> {
    let manifest_path = path.parent().unwrap_or(Path::new(".")).join(MANIFEST);
    let Ok(text) = std::fs::read_to_string(&manifest_path) else {
        return Ok(false);
    };
    let mut manifest: Manifest = serde_json::from_str(&text)
        .with_context(|| format!("{} is not a build manifest", manifest_path.display()))?;
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let Some(entry) = manifest.files.iter_mut().find(|f| f.name == name) else {
        return Ok(false);
    };
    entry.size = size;
    entry.sha512 = sha512.to_string();
    let mut json = serde_json::to_vec_pretty(&manifest)?;
    json.push(b'\n');
    crate::atomic::write(&manifest_path, json)?;
    Ok(true)
}

/// The signing tool with the certificate and password written to private files in `work`
/// (removed with it), so neither appears on a command line osslsigncode would show.
struct Signer<'a> {
    work: &'a Path,
    pfx: PathBuf,
    password: PathBuf,
    certificate: &'a Certificate,
    options: &'a Options,
}

impl<'a> Signer<'a> {
    fn new(work: &'a Path, certificate: &'a Certificate, options: &'a Options) -> Result<Self> {
        let pfx = work.join("certificate.pfx");
        let password = work.join("password");
        write_private(&pfx, &certificate.pfx)?;
        write_private(&password, certificate.password.as_bytes())?;
        Ok(Signer {
            work,
            pfx,
            password,
            certificate,
            options,
        })
    }

    /// Signs `bytes` (a file named like `shown`) and returns the signed bytes.
    fn sign_bytes(&self, bytes: &[u8], shown: &Path, n: usize) -> Result<Vec<u8>> {
        let file_name = shown.file_name().unwrap_or_default().to_string_lossy();
        let input = self.work.join(format!("{n}-in-{file_name}"));
        let output = self.work.join(format!("{n}-out-{file_name}"));
        std::fs::write(&input, bytes)
            .with_context(|| format!("cannot write {}", input.display()))?;
        let sh = crate::process::shell()?;
        let description = self.options.description.clone().unwrap_or_default();
        let result = if cfg!(windows) {
            std::fs::copy(&input, &output)?;
            let mut args: Vec<String> = vec![
                "sign".into(),
                "/f".into(),
                self.pfx.display().to_string(),
                "/p".into(),
                self.certificate.password.clone(),
                "/fd".into(),
                "SHA256".into(),
            ];
            if !description.is_empty() {
                args.extend(["/d".into(), description]);
            }
            if let Some(url) = &self.options.timestamp_url {
                args.extend(["/tr".into(), url.clone(), "/td".into(), "SHA256".into()]);
            }
            args.push(output.display().to_string());
            crate::process::output(xshell::cmd!(sh, "signtool {args...}").secret())
        } else {
            let mut args: Vec<String> = vec![
                "sign".into(),
                "-pkcs12".into(),
                self.pfx.display().to_string(),
                "-readpass".into(),
                self.password.display().to_string(),
                "-h".into(),
                "sha256".into(),
            ];
            if !description.is_empty() {
                args.extend(["-n".into(), description]);
            }
            if let Some(url) = &self.options.timestamp_url {
                args.extend(["-ts".into(), url.clone()]);
            }
            args.extend([
                "-in".into(),
                input.display().to_string(),
                "-out".into(),
                output.display().to_string(),
            ]);
            crate::process::output(xshell::cmd!(sh, "osslsigncode {args...}"))
        };
        result.with_context(|| {
            format!(
                "cannot sign {}; is the certificate a code-signing PFX and its password right? (the signing tool: {})",
                shown.display(),
                if cfg!(windows) { "signtool from the Windows SDK" } else { "osslsigncode, `apt-get install osslsigncode`" }
            )
        })?;
        let signed =
            std::fs::read(&output).with_context(|| format!("cannot read {}", output.display()))?;
        let _ = std::fs::remove_file(&input);
        let _ = std::fs::remove_file(&output);
        Ok(signed)
    }
}

fn write_private(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut open = std::fs::OpenOptions::new();
    open.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        open.mode(0o600);
    }
    let mut file = open
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    std::io::Write::write_all(&mut file, bytes)
        .with_context(|| format!("cannot write {}", path.display()))
}

/// The result of checking one file's signature.
#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
pub struct Checked {
    pub path: PathBuf,
    /// The PE files inside a zip that were checked (empty for an MSI or a PE file).
    pub entries: Vec<String>,
    /// What failed; empty when every signature verified.
    pub problems: Vec<String>,
}

/// Verifies the Authenticode signature of every file (of every PE file inside a zip) with
/// `osslsigncode verify` against the trusted certificates in `ca_file` (PEM), or with
/// `signtool verify /pa` against Windows' trust store. A file whose bytes changed after signing
/// fails.
/// `cargo xtask release authenticode --verify --json`: each file checked.
#[derive(Clone, Debug, serde::Serialize, schemars::JsonSchema)]
pub struct VerifyReport {
    pub files: Vec<Checked>,
}

pub fn verify(paths: &[PathBuf], ca_file: Option<&Path>) -> Result<Vec<Checked>> {
    let work = tempfile::Builder::new()
        .prefix("els-authenticode-")
        .tempdir()
        .context("cannot create a temporary directory")?;
    let mut results = Vec::new();
    for path in paths {
        let k = kind(path)?;
        let mut checked = Checked {
            path: path.clone(),
            entries: Vec::new(),
            problems: Vec::new(),
        };
        match k {
            Kind::Direct => {
                if let Err(e) = verify_file(path, ca_file) {
                    checked.problems.push(format!("{e:#}"));
                }
            }
            Kind::Zip => {
                let file = std::fs::File::open(path)
                    .with_context(|| format!("cannot open {}", path.display()))?;
                let mut zip = zip::ZipArchive::new(file)
                    .with_context(|| format!("{} is not a zip archive", path.display()))?;
                for i in 0..zip.len() {
                    let mut entry = zip.by_index(i)?;
                    let name = entry.name()?.to_string();
                    if entry.is_dir() || !is_pe(&name) {
                        continue;
                    }
                    let mut bytes = Vec::new();
                    entry.read_to_end(&mut bytes)?;
                    let base = Path::new(&name).file_name().unwrap_or_default();
                    let extracted = work.path().join(format!("{i}-{}", base.to_string_lossy()));
                    std::fs::write(&extracted, bytes)?;
                    if let Err(e) = verify_file(&extracted, ca_file) {
                        checked.problems.push(format!("{name}: {e:#}"));
                    }
                    checked.entries.push(name);
                }
                if checked.entries.is_empty() {
                    checked
                        .problems
                        .push("no .exe or .dll inside to verify".to_string());
                }
            }
        }
        results.push(checked);
    }
    Ok(results)
}

fn verify_file(path: &Path, ca_file: Option<&Path>) -> Result<()> {
    let sh = crate::process::shell()?;
    let out = if cfg!(windows) {
        crate::process::output_any_status(
            sh.cmd("signtool").args(["verify", "/pa", "/q"]).arg(path),
        )?
    } else {
        let mut cmd = sh.cmd("osslsigncode").arg("verify");
        if let Some(ca) = ca_file {
            cmd = cmd.arg("-CAfile").arg(ca);
        }
        crate::process::output_any_status(cmd.arg("-in").arg(path))?
    };
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if out.status.success() {
        return Ok(());
    }
    let reason: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| {
            let lower = l.to_ascii_lowercase();
            lower.contains("mismatch")
                || lower.contains("fail")
                || lower.contains("error")
                || lower.contains("no signature")
        })
        .take(4)
        .collect();
    bail!(
        "the Authenticode signature does not verify ({})",
        if reason.is_empty() {
            format!("exit status {}", out.status)
        } else {
            reason.join("; ")
        }
    )
}
