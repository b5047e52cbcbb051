//! Byte-preserving edits of MSBuild XML (`eng/Versions.props`, `*.csproj`, `NuGet.config`,
//! `eng/Baseline.xml`). Reviewers read the diff of a branding commit, so an edit changes only the
//! bytes of the values it sets: comments, attribute order, conditions, whitespace, line endings and
//! a byte-order mark stay as they were. quick-xml finds where each value sits in the original
//! bytes; edits splice new bytes into exactly those ranges.

use std::ops::Range;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use quick_xml::events::{BytesStart, Event};

/// One element of the document, located in the original bytes.
#[derive(Clone, Debug)]
pub struct Element {
    pub name: String,
    /// Index of the enclosing element in [`XmlFile::elements`].
    pub parent: Option<usize>,
    /// 1-based line of the start tag.
    pub line: usize,
    /// From the `<` of the start tag to the `>` of the end tag.
    pub span: Range<usize>,
    /// The content between the tags when it is plain text (`<A>text</A>`, `<A></A>`); `None` for
    /// self-closing elements and elements holding children or comments.
    pub text: Option<Range<usize>>,
    pub attributes: Vec<Attribute>,
}

/// An attribute and where its raw value sits.
#[derive(Clone, Debug)]
pub struct Attribute {
    pub name: String,
    pub value: Range<usize>,
}

impl Element {
    /// The attribute named `name`, if present.
    pub fn attribute(&self, name: &str) -> Option<&Attribute> {
        self.attributes.iter().find(|a| a.name == name)
    }
}

/// A parsed MSBuild XML file plus the edits made to it so far.
#[derive(Clone, Debug)]
pub struct XmlFile {
    path: PathBuf,
    bytes: Vec<u8>,
    elements: Vec<Element>,
    edits: Vec<(Range<usize>, Vec<u8>)>,
}

/// A property definition that an edit may change: its element index and current value.
#[derive(Clone, Debug)]
pub struct Property {
    pub index: usize,
    pub value: String,
    pub line: usize,
}

impl XmlFile {
    /// Reads and parses `path`.
    pub fn read(path: &Path) -> Result<XmlFile> {
        let bytes =
            std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
        XmlFile::parse(path, bytes)
    }

    /// Parses `bytes`; `path` names the file in error messages.
    pub fn parse(path: &Path, bytes: Vec<u8>) -> Result<XmlFile> {
        let elements = scan(path, &bytes)?;
        Ok(XmlFile {
            path: path.to_path_buf(),
            bytes,
            elements,
            edits: Vec::new(),
        })
    }

    /// The file this document was read from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Every element in document order.
    pub fn elements(&self) -> &[Element] {
        &self.elements
    }

    /// The original text of a byte range (values are ASCII in practice; invalid UTF-8 is replaced).
    pub fn slice(&self, range: &Range<usize>) -> String {
        String::from_utf8_lossy(&self.bytes[range.clone()]).into_owned()
    }

    /// True when the element or an enclosing group only applies under a condition.
    pub fn is_conditional(&self, index: usize) -> bool {
        let mut at = Some(index);
        while let Some(i) = at {
            let el = &self.elements[i];
            if el.attribute("Condition").is_some() || el.name == "When" || el.name == "Otherwise" {
                return true;
            }
            at = el.parent;
        }
        false
    }

    /// Indexes of every definition of property `name` (elements directly inside a `PropertyGroup`).
    pub fn definitions(&self, name: &str) -> Vec<usize> {
        (0..self.elements.len())
            .filter(|&i| {
                let el = &self.elements[i];
                el.name == name
                    && el
                        .parent
                        .is_some_and(|p| self.elements[p].name == "PropertyGroup")
            })
            .collect()
    }

    /// The single unconditional definition of property `name`. Refuses when the property is
    /// missing, defined unconditionally more than once, or holds something other than text.
    pub fn property(&self, name: &str) -> Result<Property> {
        let all = self.definitions(name);
        let unconditional: Vec<usize> = all
            .iter()
            .copied()
            .filter(|&i| !self.is_conditional(i))
            .collect();
        let index = match unconditional.as_slice() {
            [one] => *one,
            [] if all.is_empty() => bail!(
                "{}: the property <{name}> is missing; add it to a <PropertyGroup> (see DOMAIN.md §4 for the expected shape)",
                self.path.display()
            ),
            [] => bail!(
                "{}:{}: the property <{name}> is only defined under a condition; it needs one unconditional definition",
                self.path.display(),
                self.elements[all[0]].line
            ),
            [first, second, ..] => bail!(
                "{}:{}: the property <{name}> is defined unconditionally more than once (lines {} and {}); remove the duplicate",
                self.path.display(),
                self.elements[*second].line,
                self.elements[*first].line,
                self.elements[*second].line
            ),
        };
        let el = &self.elements[index];
        let Some(text) = &el.text else {
            bail!(
                "{}:{}: the property <{name}> has no plain-text value to edit",
                self.path.display(),
                el.line
            );
        };
        Ok(Property {
            index,
            value: self.slice(text),
            line: el.line,
        })
    }

    /// A property whose value must be a non-negative integer.
    pub fn number_property(&self, name: &str) -> Result<(Property, u32)> {
        let p = self.property(name)?;
        let n = p.value.trim().parse::<u32>().map_err(|_| {
            anyhow::anyhow!(
                "{}:{}: the property <{name}> is `{}`, not a number; fix it by hand before bumping",
                self.path.display(),
                p.line,
                p.value
            )
        })?;
        Ok((p, n))
    }

    /// Replaces the text of element `index` with `value` (escaped as XML text).
    pub fn set_text(&mut self, index: usize, value: &str) -> Result<()> {
        let el = &self.elements[index];
        let Some(range) = el.text.clone() else {
            bail!(
                "{}:{}: <{}> has no plain-text value to edit",
                self.path.display(),
                el.line,
                el.name
            );
        };
        self.edits
            .push((range, quick_xml::escape::escape(value).as_bytes().to_vec()));
        Ok(())
    }

    /// Replaces the raw value of attribute `attribute` of element `index`.
    pub fn set_attribute(&mut self, index: usize, attribute: &str, value: &str) -> Result<()> {
        let el = &self.elements[index];
        let Some(attr) = el.attribute(attribute) else {
            bail!(
                "{}:{}: <{}> has no `{attribute}` attribute",
                self.path.display(),
                el.line,
                el.name
            );
        };
        self.edits.push((
            attr.value.clone(),
            quick_xml::escape::escape(value).as_bytes().to_vec(),
        ));
        Ok(())
    }

    /// Removes element `index`; when it sits alone on its line, the whole line goes.
    pub fn remove(&mut self, index: usize) {
        let span = self.elements[index].span.clone();
        let line_start = self.bytes[..span.start]
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |p| p + 1);
        let rest = &self.bytes[span.end..];
        let newline = rest.iter().position(|&b| b == b'\n');
        let alone_before = self.bytes[line_start..span.start]
            .iter()
            .all(|b| b.is_ascii_whitespace());
        let alone_after =
            newline.is_some_and(|n| rest[..n].iter().all(|b| b.is_ascii_whitespace()));
        let range = match newline {
            Some(n) if alone_before && alone_after => line_start..span.end + n + 1,
            _ => span,
        };
        self.edits.push((range, Vec::new()));
    }

    /// Inserts raw bytes right after the start tag of element `index`, on a new line indented
    /// like the element's first child (or one level deeper), with the file's own line ending.
    pub fn insert_child_line(&mut self, index: usize, line: &str) {
        let el = &self.elements[index];
        let after_tag = self.bytes[el.span.start..]
            .iter()
            .position(|&b| b == b'>')
            .map_or(el.span.end, |p| el.span.start + p + 1);
        let eol: &[u8] = if self.bytes.windows(2).any(|w| w == b"\r\n") {
            b"\r\n"
        } else {
            b"\n"
        };
        let child_indent = self
            .elements
            .iter()
            .find(|c| c.parent == Some(index))
            .map(|c| {
                let start = self.bytes[..c.span.start]
                    .iter()
                    .rposition(|&b| b == b'\n')
                    .map_or(0, |p| p + 1);
                String::from_utf8_lossy(&self.bytes[start..c.span.start]).into_owned()
            })
            .filter(|s| s.chars().all(|c| c == ' ' || c == '\t'))
            .unwrap_or_else(|| "    ".to_string());
        let mut bytes = eol.to_vec();
        bytes.extend_from_slice(child_indent.as_bytes());
        bytes.extend_from_slice(line.as_bytes());
        self.edits.push((after_tag..after_tag, bytes));
    }

    /// Inserts a new line holding `line` right after element `index`, indented like it.
    pub fn insert_line_after(&mut self, index: usize, line: &str) {
        let span = self.elements[index].span.clone();
        let line_start = self.bytes[..span.start]
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |p| p + 1);
        let indent = String::from_utf8_lossy(&self.bytes[line_start..span.start]).into_owned();
        let indent = if indent.chars().all(|c| c == ' ' || c == '\t') {
            indent
        } else {
            String::new()
        };
        let eol: &[u8] = if self.bytes.windows(2).any(|w| w == b"\r\n") {
            b"\r\n"
        } else {
            b"\n"
        };
        let mut bytes = eol.to_vec();
        bytes.extend_from_slice(indent.as_bytes());
        bytes.extend_from_slice(line.as_bytes());
        self.edits.push((span.end..span.end, bytes));
    }

    /// True when edits are pending.
    pub fn is_changed(&self) -> bool {
        !self.edits.is_empty()
    }

    /// The document's bytes with every edit applied.
    pub fn edited(&self) -> Vec<u8> {
        let mut edits: Vec<&(Range<usize>, Vec<u8>)> = self.edits.iter().collect();
        edits.sort_by_key(|(r, _)| (r.start, r.end));
        let mut out = Vec::with_capacity(self.bytes.len());
        let mut at = 0;
        for (range, bytes) in edits {
            let start = range.start.max(at);
            out.extend_from_slice(&self.bytes[at..start]);
            out.extend_from_slice(bytes);
            at = range.end.max(at);
        }
        out.extend_from_slice(&self.bytes[at..]);
        out
    }

    /// Writes the edited document back to its file atomically.
    pub fn write(&self) -> Result<()> {
        crate::atomic::write(&self.path, self.edited())
    }
}

/// Finds every element with its byte ranges. Positions come from the reader's offsets in the
/// original slice, so they stay exact whatever the whitespace, line endings or BOM.
fn scan(path: &Path, bytes: &[u8]) -> Result<Vec<Element>> {
    let line_of = |offset: usize| {
        bytes[..offset.min(bytes.len())]
            .iter()
            .filter(|&&b| b == b'\n')
            .count()
            + 1
    };
    let mut reader = quick_xml::Reader::from_reader(bytes);
    reader.config_mut().check_end_names = true;
    let mut elements: Vec<Element> = Vec::new();
    let mut open: Open = Vec::new();
    // The reader skips a UTF-8 byte-order mark and counts positions after it.
    let bom = if bytes.starts_with(b"\xEF\xBB\xBF") {
        3
    } else {
        0
    };
    loop {
        let before = reader.buffer_position() as usize + bom;
        let event = reader.read_event().map_err(|e| {
            let at = reader.error_position() as usize + bom;
            anyhow::anyhow!(
                "{}:{}: not well-formed XML: {e}",
                path.display(),
                line_of(at)
            )
        })?;
        let after = reader.buffer_position() as usize + bom;
        let (start, is_empty) = match event {
            Event::Start(start) => (Some(start), false),
            Event::Empty(start) => (Some(start), true),
            other => {
                handle_other(
                    path,
                    &other,
                    before,
                    after,
                    &mut open,
                    &mut elements,
                    &line_of,
                )?;
                if matches!(other, Event::Eof) {
                    break;
                }
                (None, false)
            }
        };
        if let Some(start) = start {
            if let Some(parent) = open.last_mut() {
                parent.2 = false;
            }
            let element = Element {
                name: String::from_utf8_lossy(start.name().as_ref()).into_owned(),
                parent: open.last().map(|o| o.0),
                line: line_of(before),
                span: before..after,
                text: None,
                attributes: attributes(path, bytes, &start, line_of(before))?,
            };
            elements.push(element);
            if !is_empty {
                open.push((elements.len() - 1, after, true));
            }
        }
    }
    if let Some((index, _, _)) = open.last() {
        bail!(
            "{}:{}: <{}> is never closed",
            path.display(),
            elements[*index].line,
            elements[*index].name
        );
    }
    Ok(elements)
}

/// Open elements: index, end of the start tag, whether only text was seen inside so far.
type Open = Vec<(usize, usize, bool)>;

fn handle_other(
    path: &Path,
    event: &Event<'_>,
    before: usize,
    after: usize,
    open: &mut Open,
    elements: &mut [Element],
    line_of: &dyn Fn(usize) -> usize,
) -> Result<()> {
    match event {
        Event::End(_) => {
            let Some((index, content_start, only_text)) = open.pop() else {
                bail!("{}:{}: unexpected end tag", path.display(), line_of(before));
            };
            let el = &mut elements[index];
            el.span.end = after;
            if only_text {
                el.text = Some(content_start..before);
            }
        }
        Event::Text(_) | Event::Eof => {}
        _ => {
            if let Some(parent) = open.last_mut() {
                parent.2 = false;
            }
        }
    }
    Ok(())
}

fn attributes(
    path: &Path,
    bytes: &[u8],
    start: &BytesStart<'_>,
    line: usize,
) -> Result<Vec<Attribute>> {
    let base = bytes.as_ptr() as usize;
    let mut out = Vec::new();
    for attr in start.attributes() {
        let attr = attr
            .map_err(|e| anyhow::anyhow!("{}:{line}: malformed attribute: {e}", path.display()))?;
        let value: &[u8] = match &attr.value {
            std::borrow::Cow::Borrowed(v) => v,
            std::borrow::Cow::Owned(_) => bail!(
                "{}:{line}: cannot locate an attribute value",
                path.display()
            ),
        };
        let offset = value.as_ptr() as usize - base;
        out.push(Attribute {
            name: String::from_utf8_lossy(attr.key.as_ref()).into_owned(),
            value: offset..offset + value.len(),
        });
    }
    Ok(out)
}
