//! A repository's `series` file, the one reader of it: the order patches apply in, in quilt's
//! format (one patch path per line relative to the queue directory, optionally followed by
//! quilt's options such as `-p1`; `#` starts a comment line or a trailing comment; blank lines and
//! leading whitespace are ignored).

use std::path::Path;

use anyhow::{bail, Context, Result};

/// The one patch option the toolkit applies: strip one leading directory (`a/`, `b/`), the
/// layout of `git format-patch` output and quilt's default for such patches.
const STRIP_ONE: &str = "-p1";

/// One entry of a series, with its line number.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// The patch path relative to the queue directory.
    pub path: String,
    /// The 1-based line in the series file.
    pub line: usize,
    /// quilt's options after the path (`-p1`, `-p0`, `-R`), as written.
    pub options: Vec<String>,
}

impl Entry {
    /// The first option the toolkit cannot honour (it applies patches as `-p1`, forwards), if any.
    pub fn unsupported_option(&self) -> Option<&str> {
        self.options
            .iter()
            .map(String::as_str)
            .find(|o| *o != STRIP_ONE)
    }
}

/// Parses a series file the way quilt reads it: a line whose first character is `#` is a
/// comment; otherwise leading whitespace is dropped, the first word is the patch path, and the
/// words after it up to one that starts with `#` are options.
pub fn parse(text: &str) -> Vec<Entry> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.starts_with('#'))
        .filter_map(|(i, l)| {
            let mut words = l.split_whitespace();
            let path = words.next()?;
            let options = words
                .take_while(|w| !w.starts_with('#'))
                .map(str::to_string)
                .collect();
            Some(Entry {
                path: path.to_string(),
                line: i + 1,
                options,
            })
        })
        .collect()
}

/// Reads and parses `<queue_dir>/series`, refusing entries with options the toolkit cannot
/// honour (so every consumer sees the same patches, applied the same way).
pub fn read(queue_dir: &Path) -> Result<Vec<Entry>> {
    let path = queue_dir.join("series");
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("cannot read {}", path.display()))?;
    let entries = parse(&text);
    for e in &entries {
        if let Some(option) = e.unsupported_option() {
            bail!(
                "{}:{}: `{}` has the option `{option}`; the toolkit applies patches as `-p1` only, so regenerate the patch in that layout (`cargo xtask patches export`) or drop the option",
                path.display(),
                e.line,
                e.path
            );
        }
    }
    Ok(entries)
}

/// Renders a series: a comment saying what it is, then the paths.
pub fn render(repo: &str, base: &str, branch: &str, paths: &[String]) -> String {
    let mut out = format!(
        "# {repo}: apply in this order onto {base} to rebuild {branch} (cargo xtask patches apply)\n"
    );
    for p in paths {
        out.push_str(p);
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comments_and_blank_lines_are_skipped_with_line_numbers_kept() {
        let s = render(
            "runtime",
            "v6.0.36",
            "release/6.0-els",
            &["a/1.patch".into()],
        );
        let text = format!("{s}\n# later\nmisc/2.patch\n");
        let e = parse(&text);
        assert_eq!(e.len(), 2);
        assert_eq!((e[0].path.as_str(), e[0].line), ("a/1.patch", 2));
        assert_eq!((e[1].path.as_str(), e[1].line), ("misc/2.patch", 5));
    }

    #[test]
    fn quilt_options_and_trailing_comments_are_not_part_of_the_path() {
        let e = parse("  a/1.patch -p1 # the fix\nb/2.patch\t# why\nc/3.patch -p0 -R\n#x.patch\n");
        let got: Vec<(&str, Vec<&str>)> = e
            .iter()
            .map(|e| {
                (
                    e.path.as_str(),
                    e.options.iter().map(String::as_str).collect(),
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                ("a/1.patch", vec!["-p1"]),
                ("b/2.patch", vec![]),
                ("c/3.patch", vec!["-p0", "-R"])
            ]
        );
        assert_eq!(e[0].unsupported_option(), None);
        assert_eq!(e[2].unsupported_option(), Some("-p0"));
    }

    #[test]
    fn reading_refuses_options_it_cannot_honour_with_the_line() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("series"), "a.patch -p1\nb.patch -R\n").unwrap();
        let err = format!("{:#}", read(dir.path()).unwrap_err());
        assert!(err.contains("series:2") && err.contains("`-R`"), "{err}");
    }
}
