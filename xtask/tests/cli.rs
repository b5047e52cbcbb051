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
