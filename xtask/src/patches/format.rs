//! One patch file: `git format-patch` mail whose header also carries DEP-3 fields. Rendering is
//! deterministic (no tool version, no current date, a zero commit id in the `From` line so the file
//! does not change when the fork commit is merely rebased); parsing checks the structure strictly
//! — every hunk's line counts, the message separator, the signature — so a truncated or
//! hand-damaged file is reported with the line where it goes wrong.

use std::fmt;

use super::mail::{self, Time};

/// The mbox separator line `git format-patch --zero-commit` writes.
const MBOX_FROM: &str = "From 0000000000000000000000000000000000000000 Mon Sep 17 00:00:00 2001";
/// The signature after the diff (`git format-patch` writes its version here).
const SIGNATURE: &str = "net6-els";

/// A DEP-3 (or other extra) header field of a patch, with the line it starts on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Field {
    pub name: String,
    /// The value; continuation lines are joined with `\n`.
    pub value: String,
    pub line: usize,
}

/// A parsed or to-be-rendered patch file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PatchFile {
    pub author_name: String,
    pub author_email: String,
    pub date: Time,
    /// The commit subject (the first paragraph of the message, on one line).
    pub subject: String,
    /// Header fields after `Subject:` in order: DEP-3 fields and any others.
    pub fields: Vec<Field>,
    /// The commit message after the subject paragraph, empty or ending with a newline.
    pub body: String,
    /// The diffstat between `---` and the diff (informational).
    pub diffstat: String,
    /// The `diff --git` text, exactly what is applied.
    pub diff: Vec<u8>,
    /// The line number the diff starts on (for messages).
    pub diff_line: usize,
    /// The files the diff touches.
    pub files: Vec<DiffFile>,
}

/// One file section of the diff.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DiffFile {
    /// The line of its `diff --git` header.
    pub line: usize,
    /// Every path named for it (old and new, renames, copies), without `a/`/`b/` prefixes.
    pub paths: Vec<String>,
}

/// A problem at a line of a patch file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseError {
    pub line: usize,
    pub message: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

fn err<T>(line: usize, message: impl Into<String>) -> Result<T, ParseError> {
    Err(ParseError {
        line,
        message: message.into(),
    })
}

impl PatchFile {
    /// The first field named `name` (case-insensitive, as mail headers are).
    pub fn field(&self, name: &str) -> Option<&Field> {
        self.fields
            .iter()
            .find(|f| f.name.eq_ignore_ascii_case(name))
    }

    /// The CVE ids of the `CVE:` field (comma separated).
    pub fn cves(&self) -> Vec<String> {
        self.field("CVE")
            .map(|f| {
                f.value
                    .split(',')
                    .map(|c| c.trim().to_string())
                    .filter(|c| !c.is_empty())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The commit message the patch records: subject, blank line, body.
    pub fn message(&self) -> String {
        if self.body.is_empty() {
            format!("{}\n", self.subject)
        } else {
            format!("{}\n\n{}", self.subject, self.body)
        }
    }

    /// The file's bytes.
    pub fn render(&self) -> Vec<u8> {
        let mut out = String::new();
        out.push_str(MBOX_FROM);
        out.push('\n');
        out.push_str(&format!(
            "From: {}\n",
            mail::format_address(&self.author_name, &self.author_email)
        ));
        out.push_str(&format!("Date: {}\n", self.date.rfc2822()));
        out.push_str(&format!(
            "Subject: [PATCH] {}\n",
            mail::encode_header(&self.subject)
        ));
        for field in &self.fields {
            let mut lines = field.value.lines();
            out.push_str(&format!("{}: {}\n", field.name, lines.next().unwrap_or("")));
            for l in lines {
                out.push_str(&format!(" {l}\n"));
            }
        }
        out.push('\n');
        out.push_str(&self.body);
        out.push_str("---\n");
        out.push_str(&self.diffstat);
        out.push('\n');
        let mut bytes = out.into_bytes();
        bytes.extend_from_slice(&self.diff);
        bytes.extend_from_slice(format!("-- \n{SIGNATURE}\n\n").as_bytes());
        bytes
    }

    /// Parses a patch file, checking its whole structure.
    pub fn parse(bytes: &[u8]) -> Result<PatchFile, ParseError> {
        let lines = split_lines(bytes);
        if lines.is_empty() || !lines[0].starts_with(b"From ") {
            return err(1, "not a `git format-patch` mail: the first line must be `From <commit> Mon Sep 17 00:00:00 2001`");
        }
        let (header, mut i) = mail_header(&lines)?;
        let header_end = i + 1;
        let take = |name: &str| -> Result<Field, ParseError> {
            header
                .iter()
                .find(|f| f.name.eq_ignore_ascii_case(name))
                .cloned()
                .map_or_else(|| err(header_end, format!("the mail header has no `{name}:` field (git format-patch writes From, Date and Subject)")), Ok)
        };
        let from = take("From")?;
        let (author_name, author_email) =
            mail::parse_address(&from.value).or_else(|e| err(from.line, format!("From: {e}")))?;
        let date_field = take("Date")?;
        let date = Time::parse_rfc2822(&date_field.value)
            .or_else(|e| err(date_field.line, format!("Date: {e}")))?;
        let subject_field = take("Subject")?;
        let raw_subject = subject_field.value.replace('\n', " ");
        let raw_subject = strip_patch_prefix(&raw_subject);
        let subject = mail::decode_header(raw_subject)
            .or_else(|e| err(subject_field.line, format!("Subject: {e}")))?;
        let fields = header
            .into_iter()
            .filter(|f| {
                !["from", "date", "subject"].contains(&f.name.to_ascii_lowercase().as_str())
            })
            .collect();

        let (body, separator) = message_body(&lines, i + 1)?;
        i = separator;
        // The diffstat, up to the first diff or the signature.
        i += 1;
        let mut diffstat = String::new();
        while i < lines.len() && !lines[i].starts_with(b"diff --git ") && lines[i] != b"-- " {
            if !lines[i].is_empty() {
                diffstat.push_str(&String::from_utf8_lossy(lines[i]));
                diffstat.push('\n');
            }
            i += 1;
        }
        let diff_start = i;
        let (files, end) = parse_diff(&lines, i)?;
        let diff: Vec<u8> = lines[diff_start..end]
            .iter()
            .flat_map(|l| l.iter().copied().chain(std::iter::once(b'\n')))
            .collect();
        Ok(PatchFile {
            author_name,
            author_email,
            date,
            subject,
            fields,
            body,
            diffstat,
            diff,
            diff_line: diff_start + 1,
            files,
        })
    }
}

/// Line `i` as UTF-8 (the mail header and message must be).
fn utf8_line<'a>(lines: &[&'a [u8]], i: usize) -> Result<&'a str, ParseError> {
    std::str::from_utf8(lines[i])
        .or_else(|_| err(i + 1, "the mail header and message must be UTF-8"))
}

/// The mail header after the `From ` line, with folded continuation lines joined; the fields and
/// the index of the blank line that ends it.
fn mail_header(lines: &[&[u8]]) -> Result<(Vec<Field>, usize), ParseError> {
    let mut header: Vec<Field> = Vec::new();
    let mut i = 1;
    loop {
        if i >= lines.len() {
            return err(i, "the file ends inside the mail header (truncated?): a blank line must end the header, then the message, `---` and the diff");
        }
        let line = utf8_line(lines, i)?;
        if line.is_empty() {
            break;
        }
        if line.starts_with([' ', '\t']) {
            let Some(last) = header.last_mut() else {
                return err(i + 1, "a continuation line before any header field");
            };
            last.value.push('\n');
            last.value.push_str(line.trim());
        } else {
            let Some((name, value)) = line.split_once(':') else {
                return err(
                    i + 1,
                    format!("bad header line `{line}`: expected `Field: value`"),
                );
            };
            if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
                return err(i + 1, format!("bad header field name `{name}`"));
            }
            header.push(Field {
                name: name.to_string(),
                value: value.trim().to_string(),
                line: i + 1,
            });
        }
        i += 1;
    }
    Ok((header, i))
}

/// The commit message from line index `start` up to the `---` separator; the message and the
/// separator's index.
fn message_body(lines: &[&[u8]], start: usize) -> Result<(String, usize), ParseError> {
    let mut i = start;
    let mut body = String::new();
    loop {
        if i >= lines.len() {
            return err(i, "the file ends inside the commit message (truncated?): no `---` line separates it from the diff");
        }
        let line = utf8_line(lines, i)?;
        if line == "---" {
            break;
        }
        body.push_str(line);
        body.push('\n');
        i += 1;
    }
    Ok((body, i))
}

fn strip_patch_prefix(subject: &str) -> &str {
    match subject.strip_prefix('[') {
        // `[PATCH] ` before the subject; with an empty subject the header value is trimmed to
        // `[PATCH]`, which must read back as empty too.
        Some(rest) if rest.starts_with("PATCH") => match rest.split_once(']') {
            Some((_, s)) => s.strip_prefix(' ').unwrap_or(s),
            None => subject,
        },
        _ => subject,
    }
}

/// Lines without their `\n`; a final line without a newline is kept.
fn split_lines(bytes: &[u8]) -> Vec<&[u8]> {
    let mut lines: Vec<&[u8]> = bytes.split(|b| *b == b'\n').collect();
    if lines.last().is_some_and(|l| l.is_empty()) {
        lines.pop();
    }
    lines
}

/// Parses the diff from line index `start` up to the `-- ` signature, checking each hunk's line
/// counts. Returns the files and the index of the signature line.
fn parse_diff(lines: &[&[u8]], start: usize) -> Result<(Vec<DiffFile>, usize), ParseError> {
    let mut files: Vec<DiffFile> = Vec::new();
    let mut i = start;
    loop {
        let Some(line) = lines.get(i) else {
            return err(i, "the file ends without the `-- ` signature line after the diff: it is truncated; export it again");
        };
        let line = *line;
        if line == b"-- " {
            return Ok((files, i));
        }
        if let Some(rest) = line.strip_prefix(b"diff --git ") {
            files.push(DiffFile {
                line: i + 1,
                paths: git_line_paths(rest),
            });
            i += 1;
            continue;
        }
        let Some(file) = files.last_mut() else {
            return err(
                i + 1,
                "expected `diff --git` or the `-- ` signature after the diffstat",
            );
        };
        if line.starts_with(b"@@ ") {
            let Some((old, new)) = hunk_counts(line) else {
                return err(
                    i + 1,
                    format!("malformed hunk header `{}`", String::from_utf8_lossy(line)),
                );
            };
            i = hunk_end(lines, i, old, new)?;
            while lines.get(i).is_some_and(|l| l.starts_with(b"\\")) {
                i += 1;
            }
            continue;
        }
        let text = String::from_utf8_lossy(line);
        for prefix in [
            "--- ",
            "+++ ",
            "rename from ",
            "rename to ",
            "copy from ",
            "copy to ",
        ] {
            if let Some(p) = text.strip_prefix(prefix) {
                let p = unquote(p.trim_end_matches('\t'));
                if p != "/dev/null" {
                    let p = if prefix.starts_with("---") || prefix.starts_with("+++") {
                        p.split_once('/')
                            .map(|(_, rest)| rest.to_string())
                            .unwrap_or(p)
                    } else {
                        p
                    };
                    if !file.paths.contains(&p) {
                        file.paths.push(p);
                    }
                }
            }
        }
        i += 1;
    }
}

/// Checks the hunk whose header (`old` and `new` line counts) is at line index `header_index`
/// against its lines; the index after its last line.
fn hunk_end(
    lines: &[&[u8]],
    header_index: usize,
    old: usize,
    new: usize,
) -> Result<usize, ParseError> {
    let header = header_index + 1;
    let (mut old_left, mut new_left) = (old, new);
    let mut i = header_index + 1;
    while old_left > 0 || new_left > 0 {
        let Some(l) = lines.get(i) else {
            return err(header, format!("the hunk at line {header} is truncated: the file ends {old_left} old / {new_left} new line(s) early"));
        };
        match l.first() {
            Some(b' ') => {
                old_left = old_left.checked_sub(1).map_or_else(
                    || err(i + 1, "hunk has more lines than its header says"),
                    Ok,
                )?;
                new_left = new_left.checked_sub(1).map_or_else(
                    || err(i + 1, "hunk has more lines than its header says"),
                    Ok,
                )?;
            }
            Some(b'-') => {
                old_left = old_left.checked_sub(1).map_or_else(
                    || err(i + 1, "hunk removes more lines than its header says"),
                    Ok,
                )?
            }
            Some(b'+') => {
                new_left = new_left.checked_sub(1).map_or_else(
                    || err(i + 1, "hunk adds more lines than its header says"),
                    Ok,
                )?
            }
            Some(b'\\') => {}
            _ => {
                return err(i + 1, format!("the hunk at line {header} ends early: {old_left} old / {new_left} new line(s) missing (truncated or hand-edited patch)"));
            }
        }
        i += 1;
    }
    Ok(i)
}

/// The paths in `diff --git a/X b/Y` (quoted or not; unquoted ones split where `a/X` = `b/X`).
fn git_line_paths(rest: &[u8]) -> Vec<String> {
    let text = String::from_utf8_lossy(rest);
    let strip = |p: &str| {
        p.split_once('/')
            .map(|(_, r)| r.to_string())
            .unwrap_or_default()
    };
    if text.starts_with('"') {
        if let Some(end) = closing_quote(&text) {
            let a = unquote(&text[..=end]);
            let b = unquote(text[end + 1..].trim());
            return vec![strip(&a), strip(&b)];
        }
    }
    let n = text.len();
    // `a/P b/P`: the two halves are equal, so the split is in the middle.
    // Both ends must be character boundaries: a multi-byte character in the middle is not a split.
    if n % 2 == 1 && text.is_char_boundary(n / 2) && text.is_char_boundary(n / 2 + 1) {
        let (a, b) = (&text[..n / 2], &text[n / 2 + 1..]);
        if a.get(2..) == b.get(2..) {
            return vec![strip(a)];
        }
    }
    match text.split_once(" b/") {
        Some((a, b)) => vec![strip(a), b.to_string()],
        None => vec![strip(&text)],
    }
}

fn closing_quote(s: &str) -> Option<usize> {
    let bytes = s.as_bytes();
    let mut i = 1;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b'"' => return Some(i),
            _ => i += 1,
        }
    }
    None
}

/// Undoes git's C-style quoting of a path (`"a/t\303\244st"`); unquoted text is returned as is.
fn unquote(s: &str) -> String {
    let Some(inner) = s.strip_prefix('"').and_then(|r| r.strip_suffix('"')) else {
        return s.to_string();
    };
    let mut out = Vec::new();
    let bytes = inner.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'\\' || i + 1 == bytes.len() {
            out.push(bytes[i]);
            i += 1;
            continue;
        }
        let c = bytes[i + 1];
        i += 2;
        out.push(match c {
            b'n' => b'\n',
            b't' => b'\t',
            b'a' => 7,
            b'b' => 8,
            b'f' => 12,
            b'r' => b'\r',
            b'v' => 11,
            b'0'..=b'7' => {
                let digits = &inner[i - 1..(i + 2).min(inner.len())];
                i += 2;
                u8::from_str_radix(digits, 8).unwrap_or(b'?')
            }
            other => other,
        });
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The old and new line counts of `@@ -a[,b] +c[,d] @@`.
fn hunk_counts(line: &[u8]) -> Option<(usize, usize)> {
    let text = std::str::from_utf8(line).ok()?;
    let mut parts = text.strip_prefix("@@ ")?.split(' ');
    let count = |range: &str| -> Option<usize> {
        match range.split_once(',') {
            Some((start, n)) => {
                start.parse::<usize>().ok()?;
                n.parse().ok()
            }
            None => range.parse::<usize>().ok().map(|_| 1),
        }
    };
    let old = count(parts.next()?.strip_prefix('-')?)?;
    let new = count(parts.next()?.strip_prefix('+')?)?;
    (parts.next()? == "@@").then_some((old, new))
}

/// Why a path in a patch may not be applied: it leaves the repository or writes into `.git`.
pub fn unsafe_path_reason(path: &str) -> Option<&'static str> {
    if path.is_empty() {
        return Some("is empty");
    }
    if path.starts_with('/') || path.starts_with('\\') || path.as_bytes().get(1) == Some(&b':') {
        return Some("is absolute");
    }
    for part in path.split(['/', '\\']) {
        if part == ".." {
            return Some("climbs out of the repository with `..`");
        }
        if part.eq_ignore_ascii_case(".git") {
            return Some("writes into `.git`");
        }
        if part.is_empty() || part == "." {
            return Some("has an empty or `.` component");
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> PatchFile {
        PatchFile {
            author_name: "Sécurité, Dev".into(),
            author_email: "sec@example.com".into(),
            date: Time {
                seconds: 1_700_000_000,
                offset: 60,
            },
            subject: "Fix the thing".into(),
            fields: vec![
                Field {
                    name: "Description".into(),
                    value: "Fix the thing".into(),
                    line: 0,
                },
                Field {
                    name: "Backport-Note".into(),
                    value: "changed:\na.cs\nb.cs".into(),
                    line: 0,
                },
            ],
            body: "More words.\n\n(cherry picked from commit abc)\n".into(),
            diffstat: " a.cs | 2 +-\n 1 file changed\n".into(),
            diff: b"diff --git a/a.cs b/a.cs\nindex 1..2 100644\n--- a/a.cs\n+++ b/a.cs\n@@ -1,2 +1,2 @@\n x\n-y\n+z\n".to_vec(),
            diff_line: 0,
            files: vec![],
        }
    }

    #[test]
    fn subjects_a_reader_would_trim_read_back_as_themselves() {
        // Found by the property tests (parsers_fuzz): an empty subject came back as `[PATCH]`,
        // one with a trailing space came back trimmed.
        for subject in ["", " leading", "trailing ", "[PATCH]x", "a =?UTF-8?q?b?= c"] {
            let mut p = sample();
            p.subject = subject.to_string();
            let q = PatchFile::parse(&p.render()).unwrap();
            assert_eq!(q.subject, subject);
        }
    }

    #[test]
    fn render_parse_round_trip() {
        let p = sample();
        let bytes = p.render();
        let q = PatchFile::parse(&bytes).unwrap();
        assert_eq!(q.author_name, p.author_name);
        assert_eq!(q.subject, p.subject);
        assert_eq!(q.body, p.body);
        assert_eq!(q.diff, p.diff);
        assert_eq!(
            q.field("backport-note").unwrap().value,
            "changed:\na.cs\nb.cs"
        );
        assert_eq!(q.files[0].paths, vec!["a.cs".to_string()]);
        assert_eq!(
            q.message(),
            "Fix the thing\n\nMore words.\n\n(cherry picked from commit abc)\n"
        );
        let mut again = q.clone();
        again.diff_line = 0;
        again.files.clear();
        for f in &mut again.fields {
            f.line = 0;
        }
        assert_eq!(again.render(), bytes);
    }

    #[test]
    fn truncation_is_reported_at_its_line() {
        let bytes = sample().render();
        let text = String::from_utf8(bytes).unwrap();
        let cut = &text[..text.find("+z").unwrap()];
        let e = PatchFile::parse(cut.as_bytes()).unwrap_err();
        assert!(e.message.contains("truncated"), "{e}");
        let no_sig = &text[..text.find("-- \n").unwrap()];
        let e = PatchFile::parse(no_sig.as_bytes()).unwrap_err();
        assert!(e.message.contains("signature"), "{e}");
        let bad = text.replacen("Description: Fix", "Description Fix", 1);
        let e = PatchFile::parse(bad.as_bytes()).unwrap_err();
        assert_eq!(e.line, 5, "{e}");
    }

    #[test]
    fn diff_paths_are_found_and_unsafe_ones_named() {
        assert_eq!(git_line_paths(b"a/x y.cs b/x y.cs"), vec!["x y.cs"]);
        assert_eq!(
            git_line_paths(b"a/old.cs b/new.cs"),
            vec!["old.cs", "new.cs"]
        );
        assert_eq!(
            git_line_paths(b"\"a/t\\303\\244st\" \"b/t\\303\\244st\""),
            vec!["täst", "täst"]
        );
        assert!(unsafe_path_reason("../etc/passwd").is_some());
        assert!(unsafe_path_reason("/etc/passwd").is_some());
        assert!(unsafe_path_reason("src/.GIT/config").is_some());
        assert!(unsafe_path_reason("src/a.cs").is_none());
    }
}
