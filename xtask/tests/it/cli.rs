//! The command line as a whole: every command documents itself with an example, and user errors
//! are reported without panics or backtraces.

use clap::CommandFactory;
use xtask::cli::Cli;

fn all_commands(cmd: &clap::Command, prefix: &str, out: &mut Vec<(String, clap::Command)>) {
    for sub in cmd.get_subcommands() {
        let name = format!("{prefix} {}", sub.get_name()).trim().to_string();
        out.push((name.clone(), sub.clone()));
        all_commands(sub, &name, out);
    }
}

#[test]
fn every_command_has_help_with_an_example() {
    let mut commands = Vec::new();
    all_commands(&Cli::command(), "", &mut commands);
    assert!(commands.len() >= 20, "{} commands", commands.len());
    for (name, mut cmd) in commands {
        let help = cmd.render_long_help().to_string();
        let example = help
            .lines()
            .any(|l| l.contains("Example:") && l.contains("cargo xtask"));
        assert!(
            example,
            "`cargo xtask {name} --help` has no example:\n{help}"
        );
    }
}

/// Every command states its exit statuses in its own help (a pipeline gates on them), in the
/// words of `cli::exit`: 2 and 3 mean the same everywhere.
#[test]
fn every_command_states_its_exit_statuses() {
    let mut commands = Vec::new();
    all_commands(&Cli::command(), "", &mut commands);
    for (name, mut cmd) in commands {
        if name == "help" || name.ends_with(" help") {
            continue;
        }
        let help = cmd.render_long_help().to_string();
        let statuses = help.split("Exit status:").nth(1).unwrap_or_else(|| {
            panic!("`cargo xtask {name} --help` states no exit status:\n{help}")
        });
        // Help is wrapped to the terminal: compare the words.
        let statuses = statuses.split_whitespace().collect::<Vec<_>>().join(" ");
        assert!(
            statuses.starts_with("0 ")
                && statuses.contains("2 invalid input or environment (nothing changed)")
                && statuses.contains("3 internal failure"),
            "`cargo xtask {name} --help`:\n{help}"
        );
    }
}

#[test]
fn the_cli_definition_is_consistent() {
    Cli::command().debug_assert();
}

#[test]
fn unknown_flags_exit_2_with_usage() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(["backport", "--no-such-flag"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--no-such-flag") && err.contains("Usage:"),
        "{err}"
    );
}

/// Colours are decided per stream by `--color`, `NO_COLOR` and `CLICOLOR_FORCE` (both streams are
/// pipes here, so `auto` alone gives none).
#[test]
fn colours_follow_color_no_color_and_clicolor_force_per_stream() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let run = |args: &[&str], env: &[(&str, &str)]| {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_xtask"));
        cmd.args(args)
            .current_dir(&root)
            .env_remove("NO_COLOR")
            .env_remove("CLICOLOR_FORCE")
            .env_remove("CLICOLOR")
            .env_remove("GITHUB_ACTIONS");
        for (k, v) in env {
            cmd.env(k, v);
        }
        let out = cmd.output().unwrap();
        (
            out.stdout.contains(&0x1b),
            out.stderr.contains(&0x1b),
            out.status.code(),
        )
    };
    let table = ["advisories", "--today", "2026-04-01"];
    let error = ["release", "--date", "2025-13-45", "--version", "6.0.37"];
    assert!(!run(&table, &[]).0, "a pipe gets no colours");
    assert!(!run(&error, &[]).1, "a pipe gets no colours");
    assert!(run(&table, &[("CLICOLOR_FORCE", "1")]).0);
    assert!(run(&error, &[("CLICOLOR_FORCE", "1")]).1);
    let always = ["--color", "always", "advisories", "--today", "2026-04-01"];
    assert!(run(&always, &[("NO_COLOR", "1")]).0, "--color always wins");
    let never = ["--color", "never", "advisories", "--today", "2026-04-01"];
    assert!(
        !run(&never, &[("CLICOLOR_FORCE", "1")]).0,
        "--color never wins"
    );
    let (_, stderr_coloured, status) = run(
        &[
            "--color",
            "always",
            "release",
            "--date",
            "2025-13-45",
            "--version",
            "6.0.37",
        ],
        &[],
    );
    assert!(stderr_coloured);
    assert_eq!(status, Some(2));
}

/// Tables fit a terminal's width (here a real pseudo-terminal from util-linux's `script`, 120
/// columns wide), wrapping long cells between words, and are printed whole when piped.
#[test]
fn tables_fit_the_terminal_and_are_whole_when_piped() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let bin = env!("CARGO_BIN_EXE_xtask");
    let args = "advisories --today 2026-04-01 --color never";
    let piped = std::process::Command::new(bin)
        .args(args.split(' '))
        .current_dir(&root)
        .env_remove("COLUMNS")
        .output()
        .unwrap();
    assert_eq!(piped.status.code(), Some(1), "overdue CVEs");
    let piped = String::from_utf8(piped.stdout).unwrap();
    let widest = piped.lines().map(|l| l.chars().count()).max().unwrap();
    assert!(widest > 120, "the piped table is {widest} wide:\n{piped}");
    assert!(piped.contains(
        "sdk, Microsoft.Build, Microsoft.Build.Tasks.Core, Microsoft.Build.Utilities.Core"
    ));

    let on_terminal = std::process::Command::new("script")
        .args([
            "-qec",
            &format!("stty rows 40 cols 120; '{bin}' {args}"),
            "/dev/null",
        ])
        .current_dir(&root)
        .env_remove("COLUMNS")
        .output()
        .expect("script runs (util-linux)");
    let text = String::from_utf8(on_terminal.stdout)
        .unwrap()
        .replace('\r', "");
    for line in text.lines() {
        assert!(
            line.chars().count() <= 120,
            "{line:?} is wider than the terminal:\n{text}"
        );
    }
    // Nothing is lost, only wrapped: the same characters (a word too long for its column is
    // split), and every CVE id whole.
    let characters = |t: &str| {
        let mut c: Vec<char> = t.chars().filter(|c| !c.is_whitespace()).collect();
        c.sort_unstable();
        c
    };
    assert!(text.lines().count() > piped.lines().count(), "{text}");
    assert_eq!(characters(&text), characters(&piped), "{text}");
    for id in piped.split_whitespace().filter(|w| w.starts_with("CVE-")) {
        assert!(text.contains(id), "{id} was split:\n{text}");
    }
}
