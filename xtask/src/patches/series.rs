//! A repository's `series` file: the order patches apply in, one path per line relative to the
//! repository's queue directory, `#` comments and blank lines ignored (quilt's format).

/// One entry of a series, with its line number.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub path: String,
    pub line: usize,
}

/// Parses a series file.
pub fn parse(text: &str) -> Vec<Entry> {
    text.lines()
        .enumerate()
        .filter_map(|(i, l)| {
            let l = l.trim();
            (!l.is_empty() && !l.starts_with('#')).then(|| Entry {
                path: l.to_string(),
                line: i + 1,
            })
        })
        .collect()
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
    #[test]
    fn comments_and_blank_lines_are_skipped_with_line_numbers_kept() {
        let s = super::render(
            "runtime",
            "v6.0.36",
            "release/6.0-els",
            &["a/1.patch".into()],
        );
        let text = format!("{s}\n# later\nmisc/2.patch\n");
        let e = super::parse(&text);
        assert_eq!(e.len(), 2);
        assert_eq!((e[0].path.as_str(), e[0].line), ("a/1.patch", 2));
        assert_eq!((e[1].path.as_str(), e[1].line), ("misc/2.patch", 5));
    }
}
