//! The test that keeps ARCHITECTURE.md's "Module dependencies" true: no import circles between
//! the library's modules, neither between files nor between top-level modules.
//!
//! It reads the sources as text. Every `crate::…`, `super::…` and `self::…` path (and its
//! `{…}` group) and every use of a child module declared with `mod x;` becomes an edge from the
//! file's module to the longest module the path names. A module using its own ancestors' items
//! is not an edge (a child may use its parent's re-exports); `#[cfg(test)]` modules and
//! comments are left out. Then the graph of files and the graph of top-level modules (the
//! first segment of each path) must have no strongly connected component of more than one
//! module.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// A module path, `[]` for the crate root.
type Module = Vec<String>;

/// Module → (module it uses → the text that made the edge).
type Graph = BTreeMap<Module, BTreeMap<Module, String>>;

/// The library's modules: module path → its source without comments and test modules.
fn sources(src: &Path) -> BTreeMap<Module, String> {
    let mut modules = BTreeMap::new();
    for entry in walkdir::WalkDir::new(src).sort_by_file_name() {
        let entry = entry.unwrap();
        let path = entry.path();
        if path.extension().is_none_or(|e| e != "rs") || path == src.join("main.rs") {
            continue;
        }
        let relative = path.strip_prefix(src).unwrap().with_extension("");
        let mut module: Module = relative
            .iter()
            .map(|s| s.to_string_lossy().into_owned())
            .collect();
        if matches!(module.last().map(String::as_str), Some("mod" | "lib")) {
            module.pop();
        }
        let text = std::fs::read_to_string(path).unwrap();
        modules.insert(module, without_tests_and_comments(&text));
    }
    modules
}

fn without_tests_and_comments(text: &str) -> String {
    let tests =
        regex::Regex::new(r"#\[cfg\(test\)\]\s*(pub(\([^)]*\))?\s+)?mod\s+\w+\s*\{").unwrap();
    let code = match tests.find(text) {
        Some(m) => &text[..m.start()],
        None => text,
    };
    code.lines()
        .map(|line| line.split_once("//").map_or(line, |(before, _)| before))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The items of a `use` group body (`a, b::c, d::{e, f}` → `a`, `b::c`, `d`), without `self`
/// and renames.
fn group_items(body: &str) -> Vec<Vec<String>> {
    let mut items = vec![String::new()];
    let mut depth = 0;
    for c in body.chars() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => items.push(String::new()),
            _ if depth == 0 => items.last_mut().unwrap().push(c),
            _ => {}
        }
    }
    items
        .iter()
        .map(|item| {
            let path = item.split(" as ").next().unwrap_or_default();
            path.split("::")
                .map(str::trim)
                .filter(|s| !s.is_empty() && *s != "self")
                .map(String::from)
                .collect()
        })
        .collect()
}

fn graph(modules: &BTreeMap<Module, String>) -> Graph {
    let path = regex::Regex::new(r"\b(crate|super|self)((?:::\w+)*)(::\{)?").unwrap();
    let child = regex::Regex::new(r"(?m)^\s*(?:pub(?:\([^)]*\))?\s+)?mod\s+(\w+)\s*;").unwrap();
    let longest = |segments: &[String]| {
        (0..=segments.len())
            .rev()
            .map(|n| segments[..n].to_vec())
            .find(|m| modules.contains_key(m))
    };
    let mut graph = Graph::new();
    for (module, code) in modules {
        let edges = graph.entry(module.clone()).or_default();
        let mut add = |segments: Vec<String>, why: &str| {
            if let Some(target) = longest(&segments) {
                if !module.starts_with(&target) {
                    edges.insert(target, why.to_string());
                }
            }
        };
        for m in path.captures_iter(code) {
            let mut base = match &m[1] {
                "crate" => Vec::new(),
                "super" => module[..module.len().saturating_sub(1)].to_vec(),
                _ => module.clone(),
            };
            let mut rest: Vec<String> = m[2]
                .split("::")
                .filter(|s| !s.is_empty())
                .map(String::from)
                .collect();
            while rest.first().is_some_and(|s| s == "super") {
                base.pop();
                rest.remove(0);
            }
            base.extend(rest);
            if m.get(3).is_some() {
                let body = &code[m.get(0).unwrap().end()..];
                let mut depth = 1;
                let end = body
                    .char_indices()
                    .find(|&(_, c)| {
                        depth += match c {
                            '{' => 1,
                            '}' => -1,
                            _ => 0,
                        };
                        depth == 0
                    })
                    .map_or(body.len(), |(i, _)| i);
                for item in group_items(&body[..end]) {
                    add([base.clone(), item].concat(), &m[0]);
                }
            } else {
                add(base, &m[0]);
            }
        }
        for declared in child.captures_iter(code) {
            let name = &declared[1];
            let used = regex::Regex::new(&format!(r"(^|[^\w:]){name}::(\w+)")).unwrap();
            for u in used.captures_iter(code) {
                let mut target = module.clone();
                target.extend([name.to_string(), u[2].to_string()]);
                add(target, &format!("{name}::{}", &u[2]));
            }
        }
    }
    graph
}

/// The strongly connected components of more than one module (Tarjan's algorithm).
fn circles(graph: &BTreeMap<Module, BTreeSet<Module>>) -> Vec<Vec<Module>> {
    struct Search<'a> {
        graph: &'a BTreeMap<Module, BTreeSet<Module>>,
        index: BTreeMap<&'a Module, usize>,
        low: BTreeMap<&'a Module, usize>,
        stack: Vec<&'a Module>,
        found: Vec<Vec<Module>>,
    }
    impl<'a> Search<'a> {
        fn visit(&mut self, v: &'a Module) {
            let i = self.index.len();
            self.index.insert(v, i);
            self.low.insert(v, i);
            self.stack.push(v);
            for w in self.graph.get(v).into_iter().flatten() {
                if !self.index.contains_key(w) {
                    self.visit(w);
                    let low = self.low[v].min(self.low[w]);
                    self.low.insert(v, low);
                } else if self.stack.contains(&w) {
                    let low = self.low[v].min(self.index[w]);
                    self.low.insert(v, low);
                }
            }
            if self.low[v] == self.index[v] {
                let at = self.stack.iter().position(|m| *m == v).unwrap();
                let component: Vec<Module> = self.stack.drain(at..).cloned().collect();
                if component.len() > 1 {
                    self.found.push(component);
                }
            }
        }
    }
    let mut search = Search {
        graph,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        found: Vec::new(),
    };
    for v in graph.keys() {
        if !search.index.contains_key(v) {
            search.visit(v);
        }
    }
    search.found
}

/// The circles of `graph` with the edges inside each, one per line, for the failure message.
fn describe(graph: &Graph, by: impl Fn(&Module) -> Module) -> Vec<String> {
    let mut edges: BTreeMap<Module, BTreeSet<Module>> = BTreeMap::new();
    let mut why: BTreeMap<(Module, Module), Vec<String>> = BTreeMap::new();
    for (from, targets) in graph {
        for (to, text) in targets {
            let (a, b) = (by(from), by(to));
            if a != b && !a.is_empty() && !b.is_empty() {
                edges.entry(a.clone()).or_default().insert(b.clone());
                why.entry((a, b))
                    .or_default()
                    .push(format!("{} uses {text}", from.join("::")));
            }
        }
    }
    circles(&edges)
        .iter()
        .map(|circle| {
            let mut lines = vec![format!(
                "circle: {}",
                circle
                    .iter()
                    .map(|m| m.join("::"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )];
            for ((a, b), texts) in &why {
                if circle.contains(a) && circle.contains(b) {
                    lines.extend(texts.iter().map(|t| format!("  {t}")));
                }
            }
            lines.join("\n")
        })
        .collect()
}

#[test]
fn no_module_imports_a_module_that_imports_it_back() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let graph = graph(&sources(&src));
    assert!(
        graph.contains_key(&vec!["backport".to_string(), "report".to_string()]),
        "the sources were not read"
    );
    let files = describe(&graph, Module::clone);
    assert!(files.is_empty(), "{}", files.join("\n"));
    let top = describe(&graph, |m| m.iter().take(1).cloned().collect());
    assert!(top.is_empty(), "{}", top.join("\n"));
}

#[test]
fn a_circle_is_found_with_the_uses_that_make_it() {
    let modules: BTreeMap<Module, String> = [
        (vec![], "mod a;\nmod b;".to_string()),
        (vec!["a".into()], "use crate::b::{self, Thing};".to_string()),
        (vec!["a".into(), "x".into()], String::new()),
        (vec!["b".into()], "use super::{a::Y, c};".to_string()),
    ]
    .into_iter()
    .collect();
    let graph = graph(&modules);
    let circles = describe(&graph, Module::clone);
    assert_eq!(circles.len(), 1, "{circles:?}");
    assert!(circles[0].contains("b uses super::{"), "{}", circles[0]);
    assert!(circles[0].contains("a uses crate::b::{"), "{}", circles[0]);
    let top = describe(&graph, |m| m.iter().take(1).cloned().collect());
    assert_eq!(top.len(), 1, "{top:?}");
    let test_only = without_tests_and_comments(
        "use crate::a; // crate::b\n#[cfg(test)]\nmod tests {\n use crate::c;\n}",
    );
    assert_eq!(test_only.trim(), "use crate::a;");
}
