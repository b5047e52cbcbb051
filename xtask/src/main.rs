//! `cargo xtask`: the net6-els command line. Parsing and printing live in `xtask::cli`; this file
//! only turns the outcome into an exit status: 0 success, 1 the command ran and found a problem
//! (a conflict, a regression, an overdue CVE), 2 invalid input or environment.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    // Like other Unix filters, end quietly when the reader goes away (`cargo xtask … | head`)
    // instead of panicking on a broken pipe.
    #[cfg(unix)]
    // SAFETY: restoring the default disposition of SIGPIPE before any thread starts.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let cli = xtask::cli::Cli::parse();
    match xtask::cli::run(cli) {
        Ok(outcome) => outcome.into(),
        Err(err) => {
            eprintln!(
                "{} {err:#}",
                xtask::console::paint("error:", xtask::console::Style::Bad)
            );
            xtask::console::annotate(
                xtask::console::Annotation::Error,
                None,
                None,
                &format!("{err:#}"),
            );
            ExitCode::from(2)
        }
    }
}
