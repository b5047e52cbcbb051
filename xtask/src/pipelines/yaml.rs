//! A YAML document as a tree that remembers the line of every node, so each problem in a
//! workflow can be reported as file:line. Built from yaml-rust2's event parser (YAML 1.2, so
//! the workflow key `on` stays a string).

use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::Marker;

/// A YAML node and the 1-based line it starts on.
#[derive(Clone, Debug)]
pub enum Node {
    Scalar {
        value: String,
        line: usize,
    },
    Seq {
        items: Vec<Node>,
        line: usize,
    },
    Map {
        entries: Vec<(Node, Node)>,
        line: usize,
    },
}

impl Node {
    pub fn line(&self) -> usize {
        match self {
            Node::Scalar { line, .. } | Node::Seq { line, .. } | Node::Map { line, .. } => *line,
        }
    }

    /// The value of mapping key `key`.
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.entry(key).map(|(_, v)| v)
    }

    /// The key node and value of mapping key `key`.
    pub fn entry(&self, key: &str) -> Option<(&Node, &Node)> {
        match self {
            Node::Map { entries, .. } => entries
                .iter()
                .find(|(k, _)| k.as_str() == Some(key))
                .map(|(k, v)| (k, v)),
            _ => None,
        }
    }

    /// The mapping's entries (empty for other nodes).
    pub fn entries(&self) -> &[(Node, Node)] {
        match self {
            Node::Map { entries, .. } => entries,
            _ => &[],
        }
    }

    /// The sequence's items (empty for other nodes).
    pub fn items(&self) -> &[Node] {
        match self {
            Node::Seq { items, .. } => items,
            _ => &[],
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Node::Scalar { value, .. } => Some(value),
            _ => None,
        }
    }

    /// The line of the `i`-th line of a scalar's text (the parser marks a block scalar, `|` or
    /// `>`, at its first content line).
    pub fn text_line(&self, i: usize) -> usize {
        self.line() + i
    }
}

/// A parse error: its line and message.
#[derive(Debug)]
pub struct YamlError {
    pub line: usize,
    pub message: String,
}

/// Parses the first document of `text`.
pub fn parse(text: &str) -> Result<Node, YamlError> {
    let mut builder = Builder::default();
    Parser::new_from_str(text)
        .load(&mut builder, false)
        .map_err(|e| YamlError {
            line: e.marker().line(),
            message: e.info().to_string(),
        })?;
    builder.root.ok_or(YamlError {
        line: 1,
        message: "the file is empty".to_string(),
    })
}

#[derive(Default)]
struct Builder {
    stack: Vec<Node>,
    /// A key waiting for its value, per open mapping.
    keys: Vec<Option<Node>>,
    root: Option<Node>,
}

impl Builder {
    fn add(&mut self, node: Node) {
        match self.stack.last_mut() {
            None => {
                if self.root.is_none() {
                    self.root = Some(node);
                }
            }
            Some(Node::Seq { items, .. }) => items.push(node),
            Some(Node::Map { entries, .. }) => {
                if let Some(slot) = self.keys.last_mut() {
                    match slot.take() {
                        None => *slot = Some(node),
                        Some(key) => entries.push((key, node)),
                    }
                }
            }
            // Scalars are never pushed as open containers.
            Some(Node::Scalar { .. }) => {}
        }
    }
}

impl MarkedEventReceiver for Builder {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        let line = mark.line();
        match ev {
            Event::Scalar(value, ..) => self.add(Node::Scalar { value, line }),
            // Workflows do not use anchors; an alias is kept as an empty scalar.
            Event::Alias(_) => self.add(Node::Scalar {
                value: String::new(),
                line,
            }),
            Event::SequenceStart(..) => self.stack.push(Node::Seq {
                items: Vec::new(),
                line,
            }),
            Event::MappingStart(..) => {
                self.stack.push(Node::Map {
                    entries: Vec::new(),
                    line,
                });
                self.keys.push(None);
            }
            Event::SequenceEnd | Event::MappingEnd => {
                if let Some(node) = self.stack.pop() {
                    if matches!(node, Node::Map { .. }) {
                        self.keys.pop();
                    }
                    self.add(node);
                }
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_follow_the_source() {
        let doc = "on:\n  push:\njobs:\n  build:\n    steps:\n      - run: |\n          echo one\n          echo two\n";
        let root = parse(doc).unwrap();
        assert!(root.get("on").is_some());
        let step = &root
            .get("jobs")
            .unwrap()
            .get("build")
            .unwrap()
            .get("steps")
            .unwrap()
            .items()[0];
        let run = step.get("run").unwrap();
        assert_eq!(run.as_str(), Some("echo one\necho two\n"));
        assert_eq!(run.text_line(0), 7);
        assert_eq!(run.text_line(1), 8);
        assert_eq!(root.entry("jobs").unwrap().0.line(), 3);
    }

    #[test]
    fn errors_carry_their_line() {
        let err = parse("jobs:\n  a: [1, 2\n  b: 3\n").unwrap_err();
        assert!(err.line >= 2, "{err:?}");
    }
}
