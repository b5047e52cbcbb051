//! `cargo xtask`: the net6-els command line. Parsing and printing live in `xtask::cli`; this file
//! only reports an error and exits with the status `xtask::cli::exit` gives the outcome.

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
    // glibc raises its mmap threshold each time a large block is freed, after which blocks of up
    // to 32 MiB come from the heap and stay resident once freed: `patches apply` on the
    // benchmark's 10,000-file repository peaked at 22 MiB with 2 MiB in use. A fixed threshold
    // returns them (16 MiB peak; BENCHMARKS.md, "fourth round").
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: a plain allocator setting, made before anything is allocated on another thread.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 512 << 10);
    }
    let cli = xtask::cli::Cli::parse();
    let result = xtask::cli::run(cli);
    if let Err(err) = &result {
        eprintln!(
            "{} {err:#}",
            xtask::console::paint_err("error:", xtask::console::Style::Bad)
        );
        xtask::console::annotate(
            xtask::console::Annotation::Error,
            None,
            None,
            &format!("{err:#}"),
        );
    }
    xtask::cli::exit::status(&result)
}
