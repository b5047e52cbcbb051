//! Path remapping between upstream and fork layouts: a file that moved between 6.0 and 8.0, or the
//! combined dotnet/dotnet repository whose `src/runtime/` is the runtime repository's root.

use crate::config::Remap;

/// The remap rules of one repository, applied longest `from` first.
#[derive(Clone, Debug, Default)]
pub struct PathMap {
    rules: Vec<Remap>,
}

impl PathMap {
    pub fn new(rules: &[Remap]) -> PathMap {
        let mut rules = rules.to_vec();
        rules.sort_by_key(|r| std::cmp::Reverse(r.from.len()));
        PathMap { rules }
    }

    /// True when there are no rules.
    pub fn is_identity(&self) -> bool {
        self.rules.is_empty()
    }

    /// The upstream directory that is the fork's root, when a rule maps one onto the root: the fork
    /// is then a subdirectory of the upstream repository (dotnet/dotnet's `src/runtime/`), and
    /// upstream paths outside every rule do not exist in the fork.
    pub fn subdirectory_prefix(&self) -> Option<&str> {
        self.rules
            .iter()
            .find(|r| r.to.trim_matches('/').is_empty())
            .map(|r| r.from.trim_end_matches('/'))
    }

    /// The fork path for an upstream path, or `None` when the path has no place in the fork.
    pub fn to_fork(&self, upstream: &str) -> Option<String> {
        for rule in &self.rules {
            if let Some(rest) = strip_path_prefix(upstream, &rule.from) {
                return Some(join(&rule.to, rest));
            }
        }
        self.subdirectory_prefix()
            .is_none()
            .then(|| upstream.to_string())
    }

    /// The upstream path for a fork path (the inverse of [`PathMap::to_fork`]).
    pub fn to_upstream(&self, fork: &str) -> String {
        for rule in &self.rules {
            if let Some(rest) = strip_path_prefix(fork, &rule.to) {
                return join(&rule.from, rest);
            }
        }
        fork.to_string()
    }
}

/// Matches `prefix` against whole path components: `src/a` matches `src/a` and `src/a/x`, not
/// `src/ab`. Returns the remainder without a leading slash.
fn strip_path_prefix<'a>(path: &'a str, prefix: &str) -> Option<&'a str> {
    let prefix = prefix.trim_end_matches('/');
    if prefix.is_empty() {
        return Some(path);
    }
    let rest = path.strip_prefix(prefix)?;
    if rest.is_empty() {
        Some("")
    } else {
        rest.strip_prefix('/')
    }
}

fn join(prefix: &str, rest: &str) -> String {
    let prefix = prefix.trim_end_matches('/');
    match (prefix.is_empty(), rest.is_empty()) {
        (true, _) => rest.to_string(),
        (false, true) => prefix.to_string(),
        (false, false) => format!("{prefix}/{rest}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(from: &str, to: &str) -> Remap {
        Remap {
            from: from.into(),
            to: to.into(),
        }
    }

    #[test]
    fn moves_files_and_directories_on_component_boundaries() {
        let map = PathMap::new(&[
            rule("src/libraries/New.cs", "src/libraries/Old.cs"),
            rule("src/new/", "src/old/"),
        ]);
        assert_eq!(
            map.to_fork("src/libraries/New.cs").as_deref(),
            Some("src/libraries/Old.cs")
        );
        assert_eq!(
            map.to_fork("src/new/a/b.cs").as_deref(),
            Some("src/old/a/b.cs")
        );
        assert_eq!(
            map.to_fork("src/newer/b.cs").as_deref(),
            Some("src/newer/b.cs")
        );
        assert_eq!(map.to_upstream("src/old/a/b.cs"), "src/new/a/b.cs");
    }

    #[test]
    fn a_subdirectory_rule_drops_everything_outside_it() {
        let map = PathMap::new(&[rule("src/runtime/", "")]);
        assert_eq!(
            map.to_fork("src/runtime/eng/Versions.props").as_deref(),
            Some("eng/Versions.props")
        );
        assert_eq!(map.to_fork("src/aspnetcore/eng/Versions.props"), None);
        assert_eq!(
            map.to_upstream("eng/Versions.props"),
            "src/runtime/eng/Versions.props"
        );
    }
}
