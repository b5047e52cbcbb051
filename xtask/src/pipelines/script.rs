//! Finding `cargo xtask …` invocations in a `run:` script (bash, pwsh or cmd), and the `${{ }}`
//! expressions the runner would paste into it.

/// One `cargo xtask` invocation in a script.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Invocation {
    /// The script line (0-based) the command starts on.
    pub line: usize,
    /// The arguments after `cargo xtask`.
    pub args: Vec<String>,
    /// True when an argument is only known at run time (`$VAR`, `%VAR%`, `${{ … }}`).
    pub dynamic: bool,
}

/// A script line the shell-word splitter could not read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unreadable {
    pub line: usize,
    pub text: String,
}

/// Stands for a `${{ }}` expression while splitting words.
const EXPRESSION: &str = "${ELS_EXPRESSION}";

/// Every `cargo xtask` invocation in `script`, joining continued lines (`\` in bash, `` ` `` in
/// pwsh, `^` in cmd).
pub fn xtask_invocations(script: &str) -> (Vec<Invocation>, Vec<Unreadable>) {
    let mut found = Vec::new();
    let mut unreadable = Vec::new();
    for (line, text) in logical_lines(script) {
        if !text.contains("xtask") {
            continue;
        }
        let text = replace_expressions(&text);
        let Some(words) = shlex::split(&text) else {
            unreadable.push(Unreadable { line, text });
            continue;
        };
        let words: Vec<String> = words
            .into_iter()
            .take_while(|w| !w.starts_with('#'))
            .collect();
        let mut i = 0;
        while i + 1 < words.len() {
            let is_cargo =
                words[i] == "cargo" || words[i].ends_with("(cargo") || words[i] == "cargo.exe";
            if !(is_cargo && words[i + 1] == "xtask") {
                i += 1;
                continue;
            }
            let (args, next) = command_words(&words[i + 2..]);
            let dynamic = args
                .iter()
                .any(|a| a.contains('$') || (a.matches('%').count() >= 2));
            found.push(Invocation {
                line,
                args,
                dynamic,
            });
            i += 2 + next;
        }
    }
    (found, unreadable)
}

/// The words of one command, up to a shell operator; and how many words were consumed.
fn command_words(words: &[String]) -> (Vec<String>, usize) {
    let mut args = Vec::new();
    let mut i = 0;
    while i < words.len() {
        let w = words[i].as_str();
        if matches!(
            w,
            "&&" | "||" | "|" | ";" | "&" | ")" | "then" | "do" | "done" | "fi"
        ) {
            return (args, i + 1);
        }
        if is_redirection(w) {
            // `> file` takes the next word; `>file`, `2>&1` are whole.
            let bare = w.trim_start_matches(|c: char| c.is_ascii_digit() || c == '&');
            let alone = matches!(bare, ">" | ">>" | "<" | "<<");
            i += if alone { 2 } else { 1 };
            continue;
        }
        if let Some(stripped) = w.strip_suffix(';').or_else(|| w.strip_suffix(')')) {
            if !stripped.is_empty() {
                args.push(stripped.to_string());
            }
            return (args, i + 1);
        }
        args.push(w.to_string());
        i += 1;
    }
    (args, i)
}

fn is_redirection(w: &str) -> bool {
    let rest = w.trim_start_matches(|c: char| c.is_ascii_digit() || c == '&');
    rest.starts_with('>') || rest.starts_with('<')
}

/// Script lines with continuations joined, each with the 0-based line it starts on.
fn logical_lines(script: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut current: Option<(usize, String)> = None;
    for (n, raw) in script.lines().enumerate() {
        let trimmed = raw.trim_end();
        let (body, continued) = match trimmed
            .strip_suffix('\\')
            .or_else(|| trimmed.strip_suffix('`'))
            .or_else(|| trimmed.strip_suffix(" ^"))
        {
            Some(b) => (b, true),
            None => (trimmed, false),
        };
        let entry = current.get_or_insert_with(|| (n, String::new()));
        if !entry.1.is_empty() {
            entry.1.push(' ');
        }
        entry.1.push_str(body.trim());
        if !continued {
            out.extend(current.take());
        }
    }
    out.extend(current);
    out
}

fn replace_expressions(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("${{") {
        out.push_str(&rest[..start]);
        match rest[start..].find("}}") {
            Some(end) => {
                out.push_str(EXPRESSION);
                rest = &rest[start + end + 2..];
            }
            None => {
                rest = &rest[start..];
                break;
            }
        }
    }
    out.push_str(rest);
    out
}

/// A `${{ }}` expression in a script: the script line (0-based) and its text inside the braces.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Expression {
    pub line: usize,
    pub text: String,
}

/// Every `${{ … }}` in `script`.
pub fn expressions(script: &str) -> Vec<Expression> {
    let mut out = Vec::new();
    for (line, text) in script.lines().enumerate() {
        let mut rest = text;
        while let Some(start) = rest.find("${{") {
            let after = &rest[start + 3..];
            let Some(end) = after.find("}}") else { break };
            out.push(Expression {
                line,
                text: after[..end].trim().to_string(),
            });
            rest = &after[end + 2..];
        }
    }
    out
}

/// Contexts whose values a workflow's author or the runner controls, safe to paste into a
/// script. Everything else (`github.event.*`, `github.head_ref`, `inputs.*`, step and job
/// outputs, secrets) goes through `env:`.
const TRUSTED: &[&str] = &[
    "matrix.",
    "runner.",
    "strategy.",
    "env.",
    "github.workspace",
    "github.run_id",
    "github.run_number",
    "github.run_attempt",
    "github.sha",
    "github.repository",
    "github.repository_owner",
    "github.server_url",
    "github.api_url",
    "github.action_path",
    "github.workflow",
    "github.job",
    "github.event_name",
    "github.ref_type",
];

/// The context references in an expression that are not known to be safe in a script.
pub fn untrusted_references(expression: &str) -> Vec<String> {
    // Quoted literals ('windows-2022') are not references.
    let mut unquoted = String::new();
    let mut in_quote = false;
    for c in expression.chars() {
        if c == '\'' {
            in_quote = !in_quote;
        } else if !in_quote {
            unquoted.push(c);
        }
    }
    unquoted
        .split(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '*')))
        .filter(|w| w.contains('.') && w.starts_with(|c: char| c.is_ascii_alphabetic()))
        .filter(|w| {
            !TRUSTED
                .iter()
                .any(|t| w.starts_with(t) && (t.ends_with('.') || w.len() == t.len()))
        })
        .map(str::to_string)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(script: &str) -> Vec<Vec<String>> {
        xtask_invocations(script)
            .0
            .into_iter()
            .map(|i| i.args)
            .collect()
    }

    #[test]
    fn finds_invocations_across_continuations_and_operators() {
        let script = "set -e\ncargo xtask build \\\n  --os linux \\\n  --arch x64\ncargo xtask advisories --json > out.json && cargo xtask vex --product-version 6.0.37\n# cargo xtask not-this\necho \"cargo xtask nor-this\"\nx=$(cargo xtask advisories plan --json)\n";
        let (found, bad) = xtask_invocations(script);
        assert!(bad.is_empty());
        assert_eq!(
            found
                .iter()
                .map(|i| (i.line, i.args.join(" ")))
                .collect::<Vec<_>>(),
            vec![
                (1, "build --os linux --arch x64".to_string()),
                (4, "advisories --json".to_string()),
                (4, "vex --product-version 6.0.37".to_string()),
                (7, "advisories plan --json".to_string()),
            ]
        );
    }

    #[test]
    fn pwsh_backticks_and_dynamic_values() {
        let found = xtask_invocations(
            "cargo xtask compat `\n  --shard \"$env:SHARD\" --junit ${{ runner.temp }}/j.xml\n",
        )
        .0;
        assert_eq!(found.len(), 1);
        assert!(found[0].dynamic);
        assert_eq!(
            args("cargo xtask test -- --nocapture"),
            vec![vec!["test", "--", "--nocapture"]]
        );
    }

    #[test]
    fn flags_untrusted_contexts_only() {
        assert!(
            untrusted_references("matrix.os == 'windows-2022' && 'x' || runner.temp").is_empty()
        );
        assert_eq!(
            untrusted_references("github.event.pull_request.title"),
            vec!["github.event.pull_request.title"]
        );
        assert_eq!(
            untrusted_references("github.head_ref"),
            vec!["github.head_ref"]
        );
        assert_eq!(untrusted_references("secrets.TOKEN"), vec!["secrets.TOKEN"]);
        assert_eq!(
            untrusted_references("github.repository_owner"),
            Vec::<String>::new()
        );
        assert_eq!(
            untrusted_references("github.repositoryX"),
            vec!["github.repositoryX"]
        );
        let e = expressions("echo ${{ inputs.version }} and ${{matrix.os}}");
        assert_eq!(
            e.iter().map(|e| e.text.as_str()).collect::<Vec<_>>(),
            vec!["inputs.version", "matrix.os"]
        );
    }
}
