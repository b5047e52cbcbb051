//! `cargo xtask release sign`: detached, ASCII-armored OpenPGP signatures (GnuPG) of the checksum
//! file and the metadata. The key comes from the environment — an armored secret key imported
//! into a private, temporary GnuPG home, or the id of a key already in the keyring or agent — and
//! is never printed or written anywhere else.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde::Serialize;

use super::{SIGNED, VEX};
use crate::config::ReleaseSettings;

/// What was signed and with which key.
#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
pub struct Report {
    /// The signing key's fingerprint (public information).
    pub fingerprint: String,
    pub signatures: Vec<PathBuf>,
}

/// A GnuPG home directory: a private temporary one, or the user's (`None`).
pub struct GpgHome {
    temp: Option<tempfile::TempDir>,
}

impl GpgHome {
    /// A fresh private home, removed (and its agent stopped) on drop.
    pub fn temporary() -> Result<GpgHome> {
        let dir = tempfile::Builder::new()
            .prefix("els-gpg-")
            .tempdir()
            .context("cannot create a temporary GnuPG home")?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700))?;
        }
        Ok(GpgHome { temp: Some(dir) })
    }

    /// The user's own GnuPG home (`GNUPGHOME` or `~/.gnupg`) with its keyring and agent.
    pub fn user() -> GpgHome {
        GpgHome { temp: None }
    }

    /// Runs gpg with `args` (batch mode, this home), feeding `stdin`; returns stdout, or an error
    /// carrying gpg's stderr. Never echoes the command line, which may name secrets' files.
    pub fn run(&self, args: &[&str], stdin: Option<&[u8]>) -> Result<std::process::Output> {
        let sh = crate::process::shell()?;
        let mut full: Vec<String> = vec!["--batch".into(), "--no-tty".into()];
        if let Some(t) = &self.temp {
            full.push("--homedir".into());
            full.push(t.path().display().to_string());
        }
        full.extend(args.iter().map(|s| s.to_string()));
        let mut cmd = xshell::cmd!(sh, "gpg {full...}").secret();
        if let Some(input) = stdin {
            cmd = cmd.stdin(input);
        }
        crate::process::output_any_status(cmd)
            .context("cannot run gpg; install GnuPG (Debian/Ubuntu: apt-get install gnupg)")
    }

    /// Like [`GpgHome::run`] but fails on a non-zero exit, quoting gpg's message.
    pub fn run_ok(&self, what: &str, args: &[&str], stdin: Option<&[u8]>) -> Result<Vec<u8>> {
        let out = self.run(args, stdin)?;
        crate::process::check("gpg", out.status, &out.stderr, &out.stdout)
            .with_context(|| format!("gpg could not {what}"))?;
        Ok(out.stdout)
    }

    /// Fingerprints of the keys in this home (secret keys when `secret`).
    pub fn fingerprints(&self, secret: bool) -> Result<Vec<String>> {
        let list = if secret {
            "--list-secret-keys"
        } else {
            "--list-keys"
        };
        let out = self.run_ok("list keys", &["--with-colons", "--fingerprint", list], None)?;
        let text = String::from_utf8_lossy(&out);
        // The fingerprint of each primary key is the `fpr` record right after its `pub`/`sec` record.
        let mut fprs = Vec::new();
        let mut after_primary = false;
        for line in text.lines() {
            let fields: Vec<&str> = line.split(':').collect();
            match fields.first() {
                Some(&"pub") | Some(&"sec") => after_primary = true,
                Some(&"fpr") if after_primary => {
                    fprs.push(fields.get(9).unwrap_or(&"").to_string());
                    after_primary = false;
                }
                _ => after_primary = false,
            }
        }
        Ok(fprs)
    }
}

impl Drop for GpgHome {
    fn drop(&mut self) {
        if let Some(t) = &self.temp {
            let home = t.path().display().to_string();
            // Best effort: a leftover agent only costs a process, and Drop cannot report.
            if let Ok(sh) = crate::process::shell() {
                let _ = crate::process::output_any_status(xshell::cmd!(
                    sh,
                    "gpgconf --homedir {home} --kill gpg-agent"
                ));
            }
        }
    }
}

/// The key to sign with.
pub enum SigningKey {
    /// An armored secret key, imported into a private temporary GnuPG home.
    Armored(String),
    /// The id or fingerprint of a key in the user's GnuPG keyring or agent.
    KeyId(String),
}

impl std::fmt::Debug for SigningKey {
    // Never show key material, even in debug output.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SigningKey::Armored(_) => f.write_str("SigningKey::Armored(<redacted>)"),
            SigningKey::KeyId(id) => write!(f, "SigningKey::KeyId({id})"),
        }
    }
}

/// The signing key and passphrase named by the environment variables in `[release]`.
pub fn key_from_env(settings: &ReleaseSettings) -> Result<(SigningKey, Option<String>)> {
    let secret = std::env::var(&settings.signing_key_env)
        .ok()
        .filter(|s| !s.trim().is_empty());
    let key_id = std::env::var(&settings.signing_key_id_env)
        .ok()
        .filter(|s| !s.trim().is_empty());
    let passphrase = std::env::var(&settings.signing_passphrase_env).ok();
    let key = match (secret, key_id) {
        (Some(secret), _) => SigningKey::Armored(secret),
        (None, Some(id)) => SigningKey::KeyId(id),
        (None, None) => bail!(
            "no signing key: set ${} to an armored secret key, or ${} to the id of a key in your GnuPG keyring or agent",
            settings.signing_key_env,
            settings.signing_key_id_env
        ),
    };
    Ok((key, passphrase))
}

/// A throwaway Ed25519 key without passphrase, generated in `home`, for demos and tests: returns
/// (armored secret key, armored public key, fingerprint).
pub fn throwaway_key(home: &GpgHome, user_id: &str) -> Result<(String, String, String)> {
    home.run_ok(
        "generate a key",
        &[
            "--passphrase",
            "",
            "--quick-gen-key",
            user_id,
            "ed25519",
            "sign",
            "never",
        ],
        None,
    )?;
    let fpr = home
        .fingerprints(true)?
        .pop()
        .context("gpg generated no key")?;
    let secret = home.run_ok(
        "export the key",
        &["--armor", "--export-secret-keys", &fpr],
        None,
    )?;
    let public = home.run_ok("export the key", &["--armor", "--export", &fpr], None)?;
    Ok((String::from_utf8(secret)?, String::from_utf8(public)?, fpr))
}

/// How a signature is made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SignatureKind {
    /// A detached, ASCII-armored signature (`.asc`, `Release.gpg`, `repomd.xml.asc`).
    DetachedArmored,
    /// A detached binary signature packet (an RPM header signature).
    DetachedBinary,
    /// The data with its signature inline (APT's `InRelease`).
    Clearsigned,
}

/// A signing key made ready for use: an armored key imported into a private temporary GnuPG home,
/// or a key of the user's keyring or agent. The secret never leaves GnuPG.
pub struct Signer {
    home: GpgHome,
    key: String,
    passphrase: Option<String>,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Signer({})", self.key)
    }
}

impl Signer {
    /// Imports `key` (when armored) and checks it holds exactly one secret key.
    pub fn new(key: &SigningKey, passphrase: Option<&str>) -> Result<Signer> {
        let (home, key) = match key {
            SigningKey::Armored(secret) => {
                let home = GpgHome::temporary()?;
                home.run_ok(
                    "import the signing key",
                    &["--import"],
                    Some(secret.as_bytes()),
                )
                .context(
                    "the signing key could not be imported; it must be an armored OpenPGP secret key",
                )?;
                let fprs = home.fingerprints(true)?;
                let [fpr] = fprs.as_slice() else {
                    bail!(
                        "the signing key must hold exactly one secret key (found {})",
                        fprs.len()
                    );
                };
                let fpr = fpr.clone();
                (home, fpr)
            }
            SigningKey::KeyId(id) => (GpgHome::user(), id.clone()),
        };
        Ok(Signer {
            home,
            key,
            passphrase: passphrase.map(str::to_string),
        })
    }

    /// The signing key named by the environment variables of `[release]`.
    pub fn from_env(settings: &ReleaseSettings) -> Result<Signer> {
        let (key, passphrase) = key_from_env(settings)?;
        Signer::new(&key, passphrase.as_deref())
    }

    /// The full fingerprint of the signing key (public information).
    pub fn fingerprint(&self) -> Result<String> {
        let wanted = self.key.replace(' ', "").to_uppercase();
        Ok(self
            .home
            .fingerprints(true)?
            .into_iter()
            .find(|f| f.ends_with(&wanted))
            .unwrap_or_else(|| self.key.clone()))
    }

    /// The public half of the key, armored or binary (a keyring for APT's `signed-by`).
    pub fn public_key(&self, armored: bool) -> Result<Vec<u8>> {
        let mut args = vec!["--export"];
        if armored {
            args.insert(0, "--armor");
        }
        args.push(&self.key);
        let key = self.home.run_ok("export the public key", &args, None)?;
        if key.is_empty() {
            bail!("gpg exported no public key for {}", self.key);
        }
        Ok(key)
    }

    /// Signs the file at `path`. With `time` (Unix seconds) the signature carries that creation
    /// time instead of now, so that a reproducible build (`SOURCE_DATE_EPOCH`) signs identically.
    pub fn sign_file(
        &self,
        path: &Path,
        kind: SignatureKind,
        time: Option<i64>,
    ) -> Result<Vec<u8>> {
        let file = path.display().to_string();
        let mut args: Vec<String> = Vec::new();
        match kind {
            SignatureKind::DetachedArmored => {
                args.extend(["--armor".into(), "--detach-sign".into()])
            }
            SignatureKind::DetachedBinary => args.push("--detach-sign".into()),
            SignatureKind::Clearsigned => args.push("--clearsign".into()),
        }
        // SHA-256: what rpm and apt expect (gpg's default digest for older keys is SHA-1).
        args.extend(["--digest-algo".into(), "SHA256".into()]);
        if let Some(t) = time {
            // The key may be younger than the fixed date: that is not a clock problem here.
            args.extend([
                "--faked-system-time".into(),
                format!("{t}!"),
                "--ignore-time-conflict".into(),
            ]);
        }
        args.extend([
            "--local-user".into(),
            self.key.clone(),
            "--output".into(),
            "-".into(),
        ]);
        if self.passphrase.is_some() {
            args.extend(["--pinentry-mode", "loopback", "--passphrase-fd", "0"].map(String::from));
        }
        args.push(file.clone());
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        self.home.run_ok(
            &format!("sign {file}"),
            &args,
            self.passphrase.as_deref().map(str::as_bytes),
        )
    }

    /// Signs `data` (through a private temporary file) like [`Signer::sign_file`].
    pub fn sign_bytes(
        &self,
        data: &[u8],
        kind: SignatureKind,
        time: Option<i64>,
    ) -> Result<Vec<u8>> {
        let mut tmp = tempfile::NamedTempFile::new().context("cannot create a temporary file")?;
        std::io::Write::write_all(&mut tmp, data)?;
        self.sign_file(tmp.path(), kind, time)
    }
}

/// Signs the checksum file, release.json, the release notes and the VEX document (when present)
/// in `dir`, writing `<file>.asc` next to each.
pub fn sign(dir: &Path, key: &SigningKey, passphrase: Option<&str>) -> Result<Report> {
    sign_with(dir, &Signer::new(key, passphrase)?)
}

/// Like [`sign`] with a key already made ready.
pub fn sign_with(dir: &Path, signer: &Signer) -> Result<Report> {
    let mut targets: Vec<PathBuf> = SIGNED.iter().map(|n| dir.join(n)).collect();
    if dir.join(VEX).is_file() {
        targets.push(dir.join(VEX));
    }
    if let Some(missing) = targets.iter().find(|p| !p.is_file()) {
        bail!(
            "{} is missing; assemble the release with `cargo xtask release` first",
            missing.display()
        );
    }
    let mut signatures = Vec::new();
    for target in &targets {
        let sig = signer.sign_file(target, SignatureKind::DetachedArmored, None)?;
        let out = PathBuf::from(format!("{}.asc", target.display()));
        crate::atomic::write(&out, sig)?;
        signatures.push(out);
    }
    Ok(Report {
        fingerprint: signer.fingerprint()?,
        signatures,
    })
}
