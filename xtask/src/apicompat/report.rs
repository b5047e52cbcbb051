//! The apicompat report: differences between two surfaces grouped by assembly and kind, whether
//! each is accepted by a suppression, and its text, Markdown and JSON renderings.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use serde::Serialize;

use super::surface::{AssemblySurface, TypeSurface};

/// What kind of difference.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    serde::Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    /// Present in the candidate only.
    Added,
    /// Present in the baseline only.
    Removed,
    /// Present in both with a different declaration.
    Changed,
    /// The assembly's identity (name, version, culture, public key token) differs.
    Identity,
}

impl Kind {
    /// The kind as written in reports and in apicompat.toml.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Added => "added",
            Kind::Removed => "removed",
            Kind::Changed => "changed",
            Kind::Identity => "identity",
        }
    }
}

/// One difference in the public surface.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct Difference {
    /// The assembly's simple name.
    pub assembly: String,
    /// The kind of difference.
    pub kind: Kind,
    /// What differs: a type's full name, a member's identity (`Type.Method(int, string)`), or the
    /// assembly name for identity and whole-assembly differences.
    pub item: String,
    /// The baseline's declaration, when it has the item.
    pub baseline: Option<String>,
    /// The candidate's declaration, when it has the item.
    pub candidate: Option<String>,
    /// The accepting suppression's CVE and justification, when one covers this difference.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub accepted: Option<Acceptance>,
}

/// Why a difference is accepted: the entry of apicompat.toml that covers it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct Acceptance {
    /// The CVE the change fixes.
    pub cve: String,
    /// The written justification.
    pub justification: String,
}

/// The outcome of comparing two assembly sets.
#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
pub struct Report {
    /// What the baseline was (as given on the command line).
    pub baseline: String,
    /// What the candidate was.
    pub candidate: String,
    /// Number of assemblies compared (present in both).
    pub assemblies_compared: usize,
    /// Every difference, sorted by assembly, kind and item.
    pub differences: Vec<Difference>,
    /// Suppressions that matched no difference (`file:line: …`): each fails the run too.
    pub stale_suppressions: Vec<String>,
}

impl Report {
    /// Differences no suppression covers: each fails the run.
    pub fn unsuppressed(&self) -> impl Iterator<Item = &Difference> {
        self.differences.iter().filter(|d| d.accepted.is_none())
    }

    /// True when the run must fail: an unaccepted difference or a stale suppression.
    pub fn failed(&self) -> bool {
        self.unsuppressed().next().is_some() || !self.stale_suppressions.is_empty()
    }

    /// Differences a suppression accepts.
    pub fn accepted(&self) -> impl Iterator<Item = &Difference> {
        self.differences.iter().filter(|d| d.accepted.is_some())
    }

    /// The plain-text report for a terminal.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        let mut current = ("", None);
        for d in &self.differences {
            if current != (d.assembly.as_str(), Some(d.kind)) {
                let _ = writeln!(out, "{} — {}", d.assembly, d.kind.as_str());
                current = (d.assembly.as_str(), Some(d.kind));
            }
            let _ = writeln!(out, "  {}{}", describe(d), accepted_note(d));
        }
        let unsuppressed = self.unsuppressed().count();
        let _ = writeln!(
            out,
            "{} assemblies compared: {} differences, {} accepted by apicompat.toml, {unsuppressed} not accepted",
            self.assemblies_compared,
            self.differences.len(),
            self.accepted().count()
        );
        for stale in &self.stale_suppressions {
            let _ = writeln!(out, "stale suppression {stale}");
        }
        out
    }

    /// The Markdown report (CI step summaries, release reviews).
    pub fn to_markdown(&self) -> String {
        let mut out = format!(
            "## API compatibility: `{}` against `{}`\n\n{} assemblies compared, {} differences, {} accepted, {} not accepted.\n",
            self.candidate,
            self.baseline,
            self.assemblies_compared,
            self.differences.len(),
            self.accepted().count(),
            self.unsuppressed().count()
        );
        let mut groups: BTreeMap<(&str, Kind), Vec<&Difference>> = BTreeMap::new();
        for d in &self.differences {
            groups.entry((&d.assembly, d.kind)).or_default().push(d);
        }
        for ((assembly, kind), items) in groups {
            let _ = writeln!(out, "\n### {assembly}: {}\n", kind.as_str());
            for d in items {
                let _ = writeln!(
                    out,
                    "- `{}`{}",
                    describe(d).replace('`', "'"),
                    accepted_note(d)
                );
            }
        }
        if !self.stale_suppressions.is_empty() {
            out.push_str("\n### Stale suppressions (they match no difference: remove them)\n\n");
            for stale in &self.stale_suppressions {
                let _ = writeln!(out, "- {stale}");
            }
        }
        out
    }
}

fn describe(d: &Difference) -> String {
    match (&d.baseline, &d.candidate) {
        (Some(b), Some(c)) => format!("{b}  →  {c}"),
        (Some(b), None) => b.clone(),
        (None, Some(c)) => c.clone(),
        (None, None) => d.item.clone(),
    }
}

fn accepted_note(d: &Difference) -> String {
    match &d.accepted {
        Some(a) => format!(" (accepted: {}: {})", a.cve, a.justification),
        None => String::new(),
    }
}

/// Compares two sets of surfaces (by assembly name).
pub fn compare(
    baseline: &BTreeMap<String, AssemblySurface>,
    candidate: &BTreeMap<String, AssemblySurface>,
) -> (usize, Vec<Difference>) {
    let mut out = Vec::new();
    let mut compared = 0;
    let names: BTreeSet<&String> = baseline.keys().chain(candidate.keys()).collect();
    for name in names {
        let identity = |kind, b: Option<&AssemblySurface>, c: Option<&AssemblySurface>| {
            difference(
                name,
                kind,
                name,
                b.map(|a| a.identity.as_str()),
                c.map(|a| a.identity.as_str()),
            )
        };
        match (baseline.get(name), candidate.get(name)) {
            (Some(b), Some(c)) => {
                compared += 1;
                if b.identity != c.identity {
                    out.push(identity(Kind::Identity, Some(b), Some(c)));
                }
                compare_types(name, b, c, &mut out);
            }
            (Some(b), None) => out.push(identity(Kind::Removed, Some(b), None)),
            (None, Some(c)) => out.push(identity(Kind::Added, None, Some(c))),
            (None, None) => {}
        }
    }
    out.sort_by(|a, b| (&a.assembly, a.kind, &a.item).cmp(&(&b.assembly, b.kind, &b.item)));
    (compared, out)
}

fn difference(
    assembly: &str,
    kind: Kind,
    item: &str,
    baseline: Option<&str>,
    candidate: Option<&str>,
) -> Difference {
    Difference {
        assembly: assembly.to_string(),
        kind,
        item: item.to_string(),
        baseline: baseline.map(str::to_string),
        candidate: candidate.map(str::to_string),
        accepted: None,
    }
}

fn compare_types(
    assembly: &str,
    b: &AssemblySurface,
    c: &AssemblySurface,
    out: &mut Vec<Difference>,
) {
    let names: BTreeSet<&String> = b.types.keys().chain(c.types.keys()).collect();
    for name in names {
        match (b.types.get(name), c.types.get(name)) {
            (Some(bt), Some(ct)) => {
                // A forwarded type is the forwarding assembly's surface by name only: where it is
                // implemented is not a change.
                if bt.forwarded || ct.forwarded {
                    continue;
                }
                if bt.declaration != ct.declaration {
                    out.push(difference(
                        assembly,
                        Kind::Changed,
                        name,
                        Some(&bt.declaration),
                        Some(&ct.declaration),
                    ));
                }
                compare_members(assembly, bt, ct, out);
            }
            (Some(bt), None) => out.push(difference(
                assembly,
                Kind::Removed,
                name,
                Some(&type_label(name, bt)),
                None,
            )),
            (None, Some(ct)) => out.push(difference(
                assembly,
                Kind::Added,
                name,
                None,
                Some(&type_label(name, ct)),
            )),
            (None, None) => {}
        }
    }
}

fn type_label(name: &str, t: &TypeSurface) -> String {
    if t.forwarded {
        format!("type forward {name}")
    } else {
        t.declaration.clone()
    }
}

/// Members of a type present in both: removed and added overloads of one name pair into one
/// change when there is exactly one of each (a changed parameter type is one difference).
fn compare_members(assembly: &str, b: &TypeSurface, c: &TypeSurface, out: &mut Vec<Difference>) {
    let mut removed: BTreeMap<&str, Vec<&String>> = BTreeMap::new();
    let mut added: BTreeMap<&str, Vec<&String>> = BTreeMap::new();
    for (key, member) in &b.members {
        match c.members.get(key) {
            Some(other) if other.declaration != member.declaration => out.push(difference(
                assembly,
                Kind::Changed,
                key,
                Some(&member.declaration),
                Some(&other.declaration),
            )),
            Some(_) => {}
            None => removed.entry(&member.name).or_default().push(key),
        }
    }
    for (key, member) in &c.members {
        if !b.members.contains_key(key) {
            added.entry(&member.name).or_default().push(key);
        }
    }
    for (name, keys) in &removed {
        match added.get(name) {
            Some(new) if keys.len() == 1 && new.len() == 1 => out.push(difference(
                assembly,
                Kind::Changed,
                new[0],
                Some(&b.members[keys[0]].declaration),
                Some(&c.members[new[0]].declaration),
            )),
            _ => {
                for key in keys {
                    out.push(difference(
                        assembly,
                        Kind::Removed,
                        key,
                        Some(&b.members[*key].declaration),
                        None,
                    ));
                }
            }
        }
    }
    for (name, keys) in &added {
        if matches!(removed.get(name), Some(old) if old.len() == 1 && keys.len() == 1) {
            continue;
        }
        for key in keys {
            out.push(difference(
                assembly,
                Kind::Added,
                key,
                None,
                Some(&c.members[*key].declaration),
            ));
        }
    }
}
