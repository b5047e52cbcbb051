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

/// Signs the checksum file, release.json, the release notes and the VEX document (when present)
/// in `dir`, writing `<file>.asc` next to each.
pub fn sign(dir: &Path, key: &SigningKey, passphrase: Option<&str>) -> Result<Report> {
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
    let mut signatures = Vec::new();
    for target in &targets {
        let file = target.display().to_string();
        let mut args = vec![
            "--armor",
            "--detach-sign",
            "--local-user",
            key.as_str(),
            "--output",
            "-",
        ];
        if passphrase.is_some() {
            args.extend(["--pinentry-mode", "loopback", "--passphrase-fd", "0"]);
        }
        args.push(&file);
        let sig = home.run_ok(
            &format!("sign {file}"),
            &args,
            passphrase.map(str::as_bytes),
        )?;
        let out = PathBuf::from(format!("{file}.asc"));
        crate::atomic::write(&out, sig)?;
        signatures.push(out);
    }
    let fingerprint = home
        .fingerprints(true)?
        .into_iter()
        .find(|f| f.ends_with(&key.replace(' ', "").to_uppercase()))
        .unwrap_or(key);
    Ok(Report {
        fingerprint,
        signatures,
    })
}
