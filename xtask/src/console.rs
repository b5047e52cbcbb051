//! What a person or a CI log sees: colours decided per stream (`--color`, `NO_COLOR`,
//! `CLICOLOR_FORCE`, a terminal or not, through anstream),
//! progress lines on stderr, and GitHub Actions workflow commands (annotations, step summaries)
//! when running inside Actions. This module is the only writer of workflow commands and step
//! summaries: they go to stderr and `$GITHUB_STEP_SUMMARY`, never to stdout, so stdout carries
//! only the command's result (exactly one JSON document with `--json`), in Actions or not.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, Result};

/// A style for a piece of terminal output.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Style {
    Good,
    Warn,
    Bad,
    Dim,
    Bold,
}

impl Style {
    fn anstyle(self) -> anstyle::Style {
        use anstyle::{AnsiColor, Effects};
        match self {
            Style::Good => AnsiColor::Green.on_default(),
            Style::Warn => AnsiColor::Yellow.on_default(),
            Style::Bad => AnsiColor::Red.on_default(),
            Style::Dim => anstyle::Style::new().effects(Effects::DIMMED),
            Style::Bold => anstyle::Style::new().effects(Effects::BOLD),
        }
    }
}

/// `--color`: `auto` (the default) colours a stream when it is a terminal and the environment
/// allows it (`NO_COLOR` turns colours off, `CLICOLOR_FORCE` on, also when piped); `always` and
/// `never` override both.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum ColorWhen {
    #[default]
    Auto,
    Always,
    Never,
}

/// Applies `--color` for the rest of the process.
pub fn set_color(when: ColorWhen) {
    let choice = match when {
        ColorWhen::Auto => anstream::ColorChoice::Auto,
        ColorWhen::Always => anstream::ColorChoice::Always,
        ColorWhen::Never => anstream::ColorChoice::Never,
    };
    choice.write_global();
}

/// True when text for stdout is coloured: decided for stdout itself by anstream from `--color`,
/// `NO_COLOR`, `CLICOLOR_FORCE`, `CLICOLOR`, `TERM` and whether it is a terminal.
pub fn color_enabled() -> bool {
    anstream::AutoStream::choice(&std::io::stdout()) != anstream::ColorChoice::Never
}

/// The same decision for stderr, which may be a terminal while stdout is piped (or the reverse).
pub fn color_enabled_on_stderr() -> bool {
    anstream::AutoStream::choice(&std::io::stderr()) != anstream::ColorChoice::Never
}

/// The width tables on stdout fit in: the terminal's (`COLUMNS` when set, else asked of the
/// terminal) when stdout is a terminal; none when it is piped, so nothing is wrapped or cut.
pub fn stdout_width() -> Option<u16> {
    use std::io::IsTerminal as _;
    if !std::io::stdout().is_terminal() {
        return None;
    }
    let from_env = std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.trim().parse::<u16>().ok())
        .filter(|&c| c > 0);
    from_env.or_else(|| terminal_size::terminal_size().map(|(w, _)| w.0))
}

fn styled(text: &str, style: Style, enabled: bool) -> String {
    if enabled {
        let s = style.anstyle();
        format!("{s}{text}{s:#}")
    } else {
        text.to_string()
    }
}

/// `text` in `style` for printing on stdout (plain unless stdout gets colours).
pub fn paint(text: &str, style: Style) -> String {
    styled(text, style, color_enabled())
}

/// `text` in `style` for printing on stderr (plain unless stderr gets colours).
pub fn paint_err(text: &str, style: Style) -> String {
    styled(text, style, color_enabled_on_stderr())
}

/// True when running as a GitHub Actions step.
pub fn in_github_actions() -> bool {
    std::env::var("GITHUB_ACTIONS").is_ok_and(|v| v == "true")
}

/// Severity of a GitHub Actions annotation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Annotation {
    Error,
    Warning,
    Notice,
}

/// Emits a GitHub Actions annotation (`::error file=…,line=…::message`) on stderr when running in
/// Actions (the runner reads workflow commands from both streams; stdout is the result's);
/// does nothing elsewhere, so callers need not check.
pub fn annotate(kind: Annotation, file: Option<&str>, line: Option<usize>, message: &str) {
    if !in_github_actions() {
        return;
    }
    eprint!("{}", annotation_line(kind, file, line, message));
}

/// The workflow-command text of an annotation, escaped as the runner expects.
pub fn annotation_line(
    kind: Annotation,
    file: Option<&str>,
    line: Option<usize>,
    message: &str,
) -> String {
    let name = match kind {
        Annotation::Error => "error",
        Annotation::Warning => "warning",
        Annotation::Notice => "notice",
    };
    let mut props = Vec::new();
    if let Some(f) = file {
        props.push(format!("file={}", escape_property(f)));
    }
    if let Some(l) = line {
        props.push(format!("line={l}"));
    }
    let props = if props.is_empty() {
        String::new()
    } else {
        format!(" {}", props.join(","))
    };
    format!("::{name}{props}::{}\n", escape_data(message))
}

fn escape_data(s: &str) -> String {
    s.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

fn escape_property(s: &str) -> String {
    escape_data(s).replace(':', "%3A").replace(',', "%2C")
}

/// Appends Markdown to the job's step summary (`$GITHUB_STEP_SUMMARY`) when it is set. Skipped
/// when stdout already is that file (a step ran `cargo xtask … --markdown >> "$GITHUB_STEP_SUMMARY"`),
/// so the summary never holds the same table twice.
pub fn step_summary(markdown: &str) -> Result<()> {
    let Some(path) = std::env::var_os("GITHUB_STEP_SUMMARY").map(PathBuf::from) else {
        return Ok(());
    };
    if stdout_is(&path) {
        return Ok(());
    }
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .with_context(|| format!("cannot open the step summary {}", path.display()))?;
    writeln!(f, "{markdown}")
        .with_context(|| format!("cannot write the step summary {}", path.display()))
}

/// True when stdout is the file at `path` (same device and inode).
#[cfg(unix)]
fn stdout_is(path: &std::path::Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (std::fs::metadata("/dev/stdout"), std::fs::metadata(path)) {
        (Ok(out), Ok(file)) => out.dev() == file.dev() && out.ino() == file.ino(),
        _ => false,
    }
}

/// Windows runners have no `/dev/stdout`; a step there appends the summary itself or not at all.
#[cfg(not(unix))]
fn stdout_is(_path: &std::path::Path) -> bool {
    false
}

/// A progress reporter for work longer than a few seconds: one line per step on stderr, so it
/// never mixes with `--json` on stdout. Silent when `quiet`.
pub struct Progress {
    total: usize,
    done: usize,
    quiet: bool,
    started: std::time::Instant,
}

impl Progress {
    pub fn new(total: usize, quiet: bool) -> Progress {
        Progress {
            total,
            done: 0,
            quiet,
            started: std::time::Instant::now(),
        }
    }

    /// Reports that the next item starts.
    pub fn step(&mut self, what: &str) {
        self.done += 1;
        if !self.quiet {
            let elapsed = self.started.elapsed().as_secs_f64();
            eprintln!(
                "{}",
                paint_err(
                    &format!("[{}/{}] {what} ({elapsed:.1}s)", self.done, self.total),
                    Style::Dim
                )
            );
        }
    }
}
