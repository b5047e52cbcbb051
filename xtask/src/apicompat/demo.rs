//! The apicompat stage of `cargo xtask demo`: two servicing builds of a small library compiled
//! with `mcs`, one public API difference accepted in apicompat.toml (a CVE and a justification),
//! one reported, exactly as `cargo xtask apicompat` compares and reports them.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _, Result};

use super::suppressions::{self, Suppressions};
use crate::compat::testenv;

/// The library both builds compile: `System.Net.Mail` as Microsoft shipped it in 6.0.36.
const BASELINE: &str = r#"// System.Net.Mail as in 6.0.36 (a stand-in with the same shape).
[assembly: System.Reflection.AssemblyVersion("6.0.0.0")]

namespace System.Net.Mail
{
    public class SmtpClient
    {
        public string Host { get; set; }
        public bool EnableSsl { get; set; }

        public void Send(string from, string recipients, string subject, string body) { }
    }
}
"#;

/// What the fork's 6.0.37 adds to [`BASELINE`]: the CVE-2025-55248 fix needs a new public member
/// (accepted), and a backport from release/8.0 carried an extra public overload along with it
/// (not accepted).
const ADDED_MEMBERS: &str = r#"
        // Needed by the CVE-2025-55248 fix: callers can refuse to send without STARTTLS.
        public void RequireStartTls(bool required) { }

        // Came along with a backport from release/8.0: no fix needs it.
        public void Send(string from, string recipients, string subject, string body, int timeout) { }
"#;

/// The fork's 6.0.37: [`BASELINE`] with [`ADDED_MEMBERS`] after its last member.
fn candidate() -> String {
    let last_member = "string body) { }\n";
    BASELINE
        .replace("as in 6.0.36", "as the fork builds it for 6.0.37")
        .replace(last_member, &format!("{last_member}{ADDED_MEMBERS}"))
}

/// The difference apicompat.toml accepts, as the report names it.
pub const ACCEPTED_ITEM: &str = "System.Net.Mail.SmtpClient.RequireStartTls(bool)";
/// The difference left unaccepted, as the report names it.
pub const REJECTED_ITEM: &str =
    "System.Net.Mail.SmtpClient.Send(string, string, string, string, int)";

const SUPPRESSIONS: &str = r#"# Public API differences from Microsoft's 6.0.36 that this fork accepts (see README, "apicompat").
[[accept]]
assembly = "System.Net.Mail"
kind = "added"
item = "System.Net.Mail.SmtpClient.RequireStartTls(bool)"
cve = "CVE-2025-55248"
justification = "The STARTTLS fix lets callers refuse to send credentials without TLS; the new method is opt-in and changes nothing for existing callers."
"#;

/// Compiles both builds with `mcs` under `<fork_root>/apicompat-demo`, writes
/// `<fork_root>/apicompat.toml` (so the release notes list the accepted difference), compares the
/// builds as `cargo xtask apicompat` does and writes the command line (stderr) and the report
/// (`out`). Fails unless exactly the one accepted and the one reported difference are found.
pub fn demo(fork_root: &Path, out: &mut dyn Write) -> Result<()> {
    let mcs = testenv::installed_mcs().context(
        "the apicompat stage compiles two small assemblies with Mono's C# compiler: install mono-mcs (`cargo xtask test` does)",
    )?;
    let work = fork_root.join("apicompat-demo");
    let baseline = compile(&mcs, &work.join("6.0.36"), BASELINE)?;
    let candidate = compile(&mcs, &work.join("6.0.37"), &candidate())?;
    let accepted_file = fork_root.join(suppressions::FILE_NAME);
    crate::atomic::write(&accepted_file, SUPPRESSIONS)?;
    eprintln!(
        "$ cargo xtask apicompat --baseline {} --candidate {} --suppressions {}",
        baseline.display(),
        candidate.display(),
        accepted_file.display()
    );
    let unpack = work.join("unpacked");
    let report = super::compare(
        &super::load_set(&baseline.display().to_string(), &unpack)?,
        &super::load_set(&candidate.display().to_string(), &unpack)?,
        &Suppressions::load(&accepted_file)?,
    );
    write!(out, "{}", report.to_text())?;
    let accepted: Vec<&str> = report.accepted().map(|d| d.item.as_str()).collect();
    let rejected: Vec<&str> = report.unsuppressed().map(|d| d.item.as_str()).collect();
    if accepted != [ACCEPTED_ITEM]
        || rejected != [REJECTED_ITEM]
        || !report.stale_suppressions.is_empty()
    {
        bail!("the apicompat stage expected `{ACCEPTED_ITEM}` accepted and `{REJECTED_ITEM}` reported; got accepted {accepted:?}, reported {rejected:?}, stale {:?}", report.stale_suppressions);
    }
    writeln!(
        out,
        "(exit status 1, as expected: the extra overload is not in apicompat.toml, so a release gate would stop here; the accepted change goes into the release notes)"
    )?;
    Ok(())
}

/// Compiles `source` as `<dir>/System.Net.Mail.dll`; returns `dir`.
fn compile(mcs: &Path, dir: &Path, source: &str) -> Result<PathBuf> {
    let file = dir.join("System.Net.Mail.cs");
    crate::atomic::write(&file, source)?;
    let sh = crate::process::shell()?;
    let dll = dir.join("System.Net.Mail.dll");
    let out_arg = format!("-out:{}", dll.display());
    crate::process::read(xshell::cmd!(sh, "{mcs} -target:library {out_arg} {file}"))?;
    Ok(dir.to_path_buf())
}
