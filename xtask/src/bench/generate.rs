//! The benchmark repository: a deterministic, dotnet/runtime-shaped history written straight into
//! an in-memory object database and stored as one pack (no worktree, no loose objects), so that
//! 10,000 commits over 50,000 files take seconds, not hours. Each commit rewrites only the trees
//! on the path to the blobs it changes; every other subtree is shared.
//!
//! Every file is a list of numbered statements. Who edits which statements is fixed, so every fix
//! has a known outcome: upstream history edits statements 0–9, the fork's own servicing commits
//! 12–15, and fixes 20–31 (clean) or an upstream-edited statement (a conflict).

use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result};
use git2::{FileMode, Oid, Repository, Signature};
use serde::{Deserialize, Serialize};

use crate::sandbox::{signature, versions_props};

/// The old release branch: the fork branch that receives fixes.
pub const OLD: &str = "release/6.0";
/// The newer release branch that carries the fixes.
pub const NEW: &str = "release/8.0";
/// Bumped whenever the generator's output changes, so stale caches are not reused.
const GENERATOR_VERSION: u32 = 1;
const STATEMENTS: usize = 32;
const UPSTREAM_SLOTS: std::ops::Range<usize> = 0..10;
const FORK_SLOTS: std::ops::Range<usize> = 12..16;
const FIX_SLOTS: std::ops::Range<usize> = 20..32;
const VERSIONS: &str = "eng/Versions.props";
const ENG_FILES: [&str; 8] = [
    VERSIONS,
    "eng/Version.Details.xml",
    "global.json",
    "NuGet.config",
    "eng/common/build.sh",
    "eng/common/tools.ps1",
    "eng/pipelines/runtime.yml",
    "src/libraries/Directory.Build.props",
];
/// The kind of each fix, cycling: mostly clean, some following renames, some already on the
/// fork in rewritten form, some conflicting (in code, or only in `eng/Versions.props`).
const FIX_PATTERN: [FixKind; 10] = [
    FixKind::Clean,
    FixKind::Clean,
    FixKind::Renamed,
    FixKind::Clean,
    FixKind::AlreadyApplied,
    FixKind::Clean,
    FixKind::Conflict,
    FixKind::Clean,
    FixKind::Clean,
    FixKind::Renamed,
];

/// The size of a generated repository.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shape {
    /// Files in the base tree.
    pub files: usize,
    /// Commits on the newer branch since the branches diverged.
    pub divergence: usize,
    /// Fix commits among them.
    pub fixes: usize,
    pub seed: u64,
}

impl Shape {
    /// The cache directory name: every parameter, readable.
    pub fn key(&self) -> String {
        format!(
            "files{}-div{}-fixes{}-seed{}-v{GENERATOR_VERSION}",
            self.files, self.divergence, self.fixes, self.seed
        )
    }
}

/// What a fix is expected to do when picked onto the old branch.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FixKind {
    /// Applies cleanly.
    Clean,
    /// Changes a file the newer branch renamed; applies cleanly by following the rename.
    Renamed,
    /// The old branch already has it in rewritten form (same diff, another message).
    AlreadyApplied,
    /// Conflicts.
    Conflict,
}

/// A fix commit on the newer branch.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Fix {
    pub id: String,
    pub kind: FixKind,
}

/// A generated repository (bare), as cached.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct BenchRepo {
    pub shape: Shape,
    /// The bare repository.
    pub path: PathBuf,
    /// The fixes on the newer branch, oldest first.
    pub fixes: Vec<Fix>,
    /// Commits on the old branch since the branches diverged.
    pub fork_commits: usize,
    /// Files the newer branch renamed.
    pub renames: usize,
    /// How long generating took.
    pub generation_seconds: f64,
}

/// Returns the cached repository for `shape` under `cache`, generating it first when missing.
pub fn cached(cache: &Path, shape: Shape, quiet: bool) -> Result<BenchRepo> {
    let dir = cache.join(shape.key());
    let manifest = dir.join("bench-repo.json");
    if let Ok(text) = std::fs::read_to_string(&manifest) {
        if let Ok(repo) = serde_json::from_str::<BenchRepo>(&text) {
            if repo.shape == shape && repo.path.exists() {
                return Ok(repo);
            }
        }
    }
    if !quiet {
        eprintln!(
            "generating a repository with {} files, {} upstream commits, {} fixes (seed {}) …",
            shape.files, shape.divergence, shape.fixes, shape.seed
        );
    }
    let tmp = cache.join(format!("{}.tmp", shape.key()));
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp)
            .with_context(|| format!("cannot remove a stale {}", tmp.display()))?;
    }
    if dir.exists() {
        std::fs::remove_dir_all(&dir)
            .with_context(|| format!("cannot remove the stale cache {}", dir.display()))?;
    }
    let start = Instant::now();
    let mut repo = generate(&tmp.join("repo.git"), shape)?;
    repo.generation_seconds = start.elapsed().as_secs_f64();
    std::fs::rename(&tmp, &dir)
        .with_context(|| format!("cannot move {} to {}", tmp.display(), dir.display()))?;
    repo.path = dir.join("repo.git");
    crate::atomic::write(&manifest, serde_json::to_vec_pretty(&repo)?)?;
    if !quiet {
        eprintln!("  generated in {:.1}s", repo.generation_seconds);
    }
    Ok(repo)
}

/// Generates the repository into a new bare repository at `path`.
pub fn generate(path: &Path, shape: Shape) -> Result<BenchRepo> {
    let repo =
        Repository::init_bare(path).with_context(|| format!("cannot create {}", path.display()))?;
    let odb = repo.odb()?;
    let mempack = odb.add_new_mempack_backend(1000)?;
    let mut gen = Generator::new(&repo, shape)?;
    let (old_tip, new_tip) = gen.history()?;
    // One pack of exactly the objects written (libgit2's mempack dump walks every commit's
    // whole tree, which is quadratic here).
    let mut builder = repo.packbuilder()?;
    builder.set_threads(0);
    for id in &gen.objects {
        builder.insert_object(*id, None)?;
    }
    let mut pack = git2::Buf::new();
    builder.write_buf(&mut pack)?;
    drop(builder);
    crate::repo::with_whole_pack_windows(|| {
        let mut writer = odb.packwriter()?;
        writer.write_all(&pack)?;
        writer.commit()?;
        Ok(())
    })?;
    mempack.reset()?;
    odb.refresh()?;
    repo.reference(&format!("refs/heads/{OLD}"), old_tip, true, "bench")?;
    repo.reference(&format!("refs/heads/{NEW}"), new_tip, true, "bench")?;
    repo.reference("refs/tags/v6.0.0", gen.base, true, "bench")?;
    repo.set_head(&format!("refs/heads/{OLD}"))?;
    Ok(BenchRepo {
        shape,
        path: path.to_path_buf(),
        fixes: gen.fixes,
        fork_commits: gen.fork_commits,
        renames: gen.renamed.len(),
        generation_seconds: 0.0,
    })
}

/// SplitMix64: a tiny deterministic generator (the output must not change with a crate update).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// A statement edit: file index, statement, new value.
type Edit = (usize, usize, u64);

/// One branch being written: its tip, tree, and the state of the files it changed.
struct Branch {
    tip: Oid,
    tree: Oid,
    slots: HashMap<usize, [u64; STATEMENTS]>,
    paths: HashMap<usize, String>,
    version: (u32, u32),
}

struct Generator<'r> {
    repo: &'r Repository,
    shape: Shape,
    rng: Rng,
    /// Base paths; files added later are appended.
    paths: Vec<String>,
    /// The first file index that is not an `eng/` file.
    first_code: usize,
    base_files: usize,
    base: Oid,
    time: i64,
    renamed: HashSet<usize>,
    used_by_fix: HashSet<usize>,
    upstream_edits: Vec<(usize, usize)>,
    fixes: Vec<Fix>,
    /// Fixes the fork already has in rewritten form: (fix index, file edits, subject).
    already: Vec<(usize, Vec<Edit>, String)>,
    fork_commits: usize,
    /// Every object written, for the pack (each tree, blob and commit once).
    objects: Vec<Oid>,
    seen: HashSet<Oid>,
}

impl<'r> Generator<'r> {
    fn new(repo: &'r Repository, shape: Shape) -> Result<Generator<'r>> {
        let paths = layout(shape.files);
        Ok(Generator {
            repo,
            shape,
            rng: Rng(shape.seed ^ 0x6e65_7436_2d65_6c73),
            base_files: paths.len(),
            first_code: ENG_FILES.len(),
            paths,
            base: Oid::zero(),
            time: 1_600_000_000,
            renamed: HashSet::new(),
            used_by_fix: HashSet::new(),
            upstream_edits: Vec::new(),
            fixes: Vec::new(),
            already: Vec::new(),
            fork_commits: 0,
            objects: Vec::new(),
            seen: HashSet::new(),
        })
    }

    /// Writes the whole history; returns the old and new branch tips.
    fn history(&mut self) -> Result<(Oid, Oid)> {
        let shape_fixes = self.shape.fixes.max(1);
        let divergence = self.shape.divergence.max(2 * shape_fixes);
        let base = self.base_commit()?;
        self.base = base.tip;
        let mut new = Branch {
            version: (8, 0),
            ..base.clone_state()
        };
        let fix_at: HashMap<usize, usize> = (0..shape_fixes)
            .map(|i| {
                (
                    divergence / 2 + i * (divergence - divergence / 2) / shape_fixes,
                    i,
                )
            })
            .collect();
        for c in 0..divergence {
            match fix_at.get(&c) {
                Some(&i) => self.fix(&mut new, i)?,
                None => self.upstream_commit(&mut new, c)?,
            }
        }
        let mut old = base;
        let own = (divergence / 50).max(8);
        let already = std::mem::take(&mut self.already);
        let every = (own / already.len().max(1)).max(1);
        let mut pending = already.into_iter();
        for c in 0..own {
            self.fork_commit(&mut old, c)?;
            if c % every == every / 2 {
                if let Some(a) = pending.next() {
                    self.rewritten_pick(&mut old, a)?;
                }
            }
        }
        for a in pending {
            self.rewritten_pick(&mut old, a)?;
        }
        Ok((old.tip, new.tip))
    }

    fn base_commit(&mut self) -> Result<Branch> {
        let mut update = git2::build::TreeUpdateBuilder::new();
        for idx in 0..self.paths.len() {
            let text = if self.paths[idx] == VERSIONS {
                versions_props(6, 0, 0)
            } else {
                render(idx, &self.paths[idx], &initial_slots())
            };
            let blob = self.blob(&text)?;
            update.upsert(&self.paths[idx], blob, FileMode::Blob);
        }
        let empty = self.repo.treebuilder(None)?.write()?;
        let tree = update.create_updated(self.repo, &self.repo.find_tree(empty)?)?;
        self.record(tree);
        let mut trees = Vec::new();
        self.repo
            .find_tree(tree)?
            .walk(git2::TreeWalkMode::PreOrder, |_, e| {
                if e.kind() == Some(git2::ObjectType::Tree) {
                    trees.push(e.id());
                }
                git2::TreeWalkResult::Ok
            })?;
        for t in trees {
            self.record(t);
        }
        let sig = self.signature("Dev One", "dev1@example.com");
        let tip = self.repo.commit(
            None,
            &sig,
            &sig,
            "Initial servicing tree\n",
            &self.repo.find_tree(tree)?,
            &[],
        )?;
        self.record(tip);
        Ok(Branch {
            tip,
            tree,
            slots: HashMap::new(),
            paths: HashMap::new(),
            version: (6, 0),
        })
    }

    fn record(&mut self, id: Oid) {
        if self.seen.insert(id) {
            self.objects.push(id);
        }
    }

    fn blob(&mut self, text: &str) -> Result<Oid> {
        let id = self.repo.blob(text.as_bytes())?;
        self.record(id);
        Ok(id)
    }

    /// Records the trees on the way to each of `paths` in `tree`: the only new trees a commit
    /// writes.
    fn record_trees(&mut self, tree: Oid, paths: &[&str]) -> Result<()> {
        self.record(tree);
        let root = self.repo.find_tree(tree)?;
        for path in paths {
            let mut dir = String::new();
            for part in path
                .split('/')
                .collect::<Vec<_>>()
                .iter()
                .rev()
                .skip(1)
                .rev()
            {
                if !dir.is_empty() {
                    dir.push('/');
                }
                dir.push_str(part);
                match root.get_path(Path::new(&dir)) {
                    Ok(e) => self.record(e.id()),
                    Err(_) => break,
                }
            }
        }
        Ok(())
    }

    fn signature(&mut self, name: &str, email: &str) -> Signature<'static> {
        self.time += 60;
        signature(name, email, self.time)
    }

    fn path_on(&self, br: &Branch, idx: usize) -> String {
        br.paths
            .get(&idx)
            .cloned()
            .unwrap_or_else(|| self.paths[idx].clone())
    }

    /// The new blob of file `idx` on `br` after setting statement `slot` to `value`.
    fn edit(
        &mut self,
        br: &mut Branch,
        idx: usize,
        slot: usize,
        value: u64,
    ) -> Result<(String, Oid)> {
        let path = self.path_on(br, idx);
        let slots = br.slots.entry(idx).or_insert_with(initial_slots);
        slots[slot] = value;
        let text = render(idx, &path, slots);
        let blob = self.blob(&text)?;
        Ok((path, blob))
    }

    fn bump_version(&mut self, br: &mut Branch) -> Result<(String, Oid)> {
        br.version.1 += 1;
        let text = versions_props(br.version.0, 0, br.version.1);
        Ok((VERSIONS.to_string(), self.blob(&text)?))
    }

    fn commit(
        &mut self,
        br: &mut Branch,
        changes: &[(String, Option<Oid>)],
        message: &str,
        who: (&str, &str),
    ) -> Result<Oid> {
        let mut update = git2::build::TreeUpdateBuilder::new();
        for (path, blob) in changes {
            match blob {
                Some(b) => update.upsert(path, *b, FileMode::Blob),
                None => update.remove(path),
            };
        }
        let base = self.repo.find_tree(br.tree)?;
        br.tree = update.create_updated(self.repo, &base)?;
        let paths: Vec<&str> = changes.iter().map(|(p, _)| p.as_str()).collect();
        self.record_trees(br.tree, &paths)?;
        let sig = self.signature(who.0, who.1);
        let parent = self.repo.find_commit(br.tip)?;
        br.tip = self.repo.commit(
            None,
            &sig,
            &sig,
            message,
            &self.repo.find_tree(br.tree)?,
            &[&parent],
        )?;
        self.record(br.tip);
        Ok(br.tip)
    }

    /// A random code file of the base tree that no fix uses and the newer branch did not rename.
    fn fresh_file(&mut self) -> usize {
        loop {
            let idx = self.first_code + self.rng.below(self.base_files - self.first_code);
            if !self.renamed.contains(&idx) && !self.used_by_fix.contains(&idx) {
                return idx;
            }
        }
    }

    fn upstream_commit(&mut self, new: &mut Branch, c: usize) -> Result<()> {
        let dev = ("Dev One", "dev1@example.com");
        match self.rng.below(1000) {
            0..=9 => {
                let idx = self.fresh_file();
                self.rename(new, idx, c % 2 == 0)?;
            }
            10..=14 => {
                let idx = self.paths.len();
                let neighbour = self.fresh_file();
                let dir = parent_dir(&self.paths[neighbour]).to_string();
                let ext = self.paths[idx - 1].rsplit('.').next().unwrap_or("cs");
                let path = format!("{dir}/Added{idx}.{ext}");
                self.paths.push(path.clone());
                let blob = self.blob(&render(idx, &path, &initial_slots()))?;
                self.commit(
                    new,
                    &[(path.clone(), Some(blob))],
                    &format!("Add {}\n", file_name(&path)),
                    dev,
                )?;
            }
            15..=17 => {
                let (p, b) = self.bump_version(new)?;
                let v = new.version.1;
                self.commit(
                    new,
                    &[(p, Some(b))],
                    &format!("Update branding to 8.0.{v}\n"),
                    dev,
                )?;
            }
            r => {
                let files = if r % 5 == 0 { 2 } else { 1 };
                let mut changes = Vec::new();
                let mut touched = Vec::new();
                for _ in 0..files {
                    let idx = self.first_code + self.rng.below(self.base_files - self.first_code);
                    let slot = UPSTREAM_SLOTS.start + self.rng.below(UPSTREAM_SLOTS.len());
                    let value = self.rng.next() % 1_000_000 + 1000;
                    if touched.contains(&idx) {
                        continue;
                    }
                    touched.push(idx);
                    let (p, b) = self.edit(new, idx, slot, value)?;
                    self.upstream_edits.push((idx, slot));
                    changes.push((p, Some(b)));
                }
                let subject = format!("Refactor {} (#{})", file_name(&changes[0].0), 60_000 + c);
                self.commit(new, &changes, &format!("{subject}\n"), dev)?;
            }
        }
        Ok(())
    }

    /// Moves file `idx` on the newer branch: into a `Core/` subdirectory, or to a new name.
    fn rename(&mut self, new: &mut Branch, idx: usize, into_subdirectory: bool) -> Result<()> {
        let old_path = self.path_on(new, idx);
        let (dir, name) = (parent_dir(&old_path), file_name(&old_path));
        let new_path = if into_subdirectory {
            format!("{dir}/Core/{name}")
        } else {
            match name.rsplit_once('.') {
                Some((stem, ext)) => format!("{dir}/{stem}.Impl.{ext}"),
                None => format!("{dir}/{name}.Impl"),
            }
        };
        let slots = new.slots.get(&idx).copied().unwrap_or_else(initial_slots);
        let blob = self.blob(&render(idx, &old_path, &slots))?;
        new.paths.insert(idx, new_path.clone());
        self.renamed.insert(idx);
        self.commit(
            new,
            &[(old_path.clone(), None), (new_path.clone(), Some(blob))],
            &format!("Move {name} to {new_path}\n"),
            ("Dev Two", "dev2@example.com"),
        )?;
        Ok(())
    }

    fn fix(&mut self, new: &mut Branch, i: usize) -> Result<()> {
        let kind = FIX_PATTERN[i % FIX_PATTERN.len()];
        let slot = FIX_SLOTS.start + i % FIX_SLOTS.len();
        let value = 9_000_000 + i as u64;
        let mut edits: Vec<Edit> = Vec::new();
        let mut extra = Vec::new();
        match kind {
            FixKind::Clean | FixKind::AlreadyApplied => {
                let files = if i % 4 == 0 { 2 } else { 1 };
                for _ in 0..files {
                    let idx = self.fresh_file();
                    self.used_by_fix.insert(idx);
                    edits.push((idx, slot, value));
                }
            }
            FixKind::Renamed => {
                let idx = self.fresh_file();
                self.used_by_fix.insert(idx);
                self.rename(new, idx, i % 4 == 2)?;
                edits.push((idx, slot, value));
            }
            FixKind::Conflict if i % 20 == 16 => {
                // A code change that also bumps the version: conflicts only in eng/Versions.props.
                let idx = self.fresh_file();
                self.used_by_fix.insert(idx);
                edits.push((idx, slot, value));
                extra.push(self.bump_version(new)?);
            }
            FixKind::Conflict => {
                let candidate = self.upstream_edits.iter().rev().copied().find(|(idx, _)| {
                    !self.renamed.contains(idx) && !self.used_by_fix.contains(idx)
                });
                let (idx, upstream_slot) = match candidate {
                    Some(c) => c,
                    None => {
                        let idx = self.fresh_file();
                        let (p, b) = self.edit(new, idx, 0, 4242)?;
                        self.commit(
                            new,
                            &[(p, Some(b))],
                            "Refactor before fix\n",
                            ("Dev One", "dev1@example.com"),
                        )?;
                        (idx, 0)
                    }
                };
                self.used_by_fix.insert(idx);
                edits.push((idx, upstream_slot, value));
            }
        }
        let mut changes = Vec::new();
        for &(idx, slot, value) in &edits {
            let (p, b) = self.edit(new, idx, slot, value)?;
            changes.push((p, Some(b)));
        }
        changes.extend(extra.into_iter().map(|(p, b)| (p, Some(b))));
        let subject = format!(
            "Fix unbounded input handling in {} (#{})",
            file_name(&changes[0].0),
            90_000 + i
        );
        let message = format!(
            "{subject}\n\nValidate the length before reading.\n\nCo-authored-by: Reviewer <reviewer@example.com>\n"
        );
        let id = self.commit(new, &changes, &message, ("Security Dev", "sec@example.com"))?;
        if kind == FixKind::AlreadyApplied {
            self.already.push((i, edits, subject));
        }
        self.fixes.push(Fix {
            id: id.to_string(),
            kind,
        });
        Ok(())
    }

    fn fork_commit(&mut self, old: &mut Branch, c: usize) -> Result<()> {
        let who = ("ELS Maintainer", "els@example.com");
        if c % 5 == 4 {
            let (p, b) = self.bump_version(old)?;
            let v = old.version.1;
            self.commit(
                old,
                &[(p, Some(b))],
                &format!("Update branding to 6.0.{v}\n"),
                who,
            )?;
        } else {
            let idx = self.first_code + self.rng.below(self.base_files - self.first_code);
            let slot = FORK_SLOTS.start + self.rng.below(FORK_SLOTS.len());
            let value = self.rng.next() % 1_000_000 + 2_000_000;
            let (p, b) = self.edit(old, idx, slot, value)?;
            let message = format!("Fix the build of {}\n", file_name(&p));
            self.commit(old, &[(p, Some(b))], &message, who)?;
        }
        self.fork_commits += 1;
        Ok(())
    }

    /// The fork's own earlier backport of a fix: the same diff, with the `-x` trailer or with
    /// a rewritten message (as backport bots and hand-made picks do).
    fn rewritten_pick(
        &mut self,
        old: &mut Branch,
        (i, edits, subject): (usize, Vec<Edit>, String),
    ) -> Result<()> {
        let mut changes = Vec::new();
        for (idx, slot, value) in edits {
            let (p, b) = self.edit(old, idx, slot, value)?;
            changes.push((p, Some(b)));
        }
        let message = if i % 20 < 10 {
            format!(
                "{subject}\n\nValidate the length before reading.\n\n(cherry picked from commit {})\n",
                self.fixes[i].id
            )
        } else {
            format!("[release/6.0] {subject}\n\nBackport of the 8.0 fix.\n")
        };
        self.commit(old, &changes, &message, ("Security Dev", "sec@example.com"))?;
        self.fork_commits += 1;
        Ok(())
    }
}

impl Branch {
    fn clone_state(&self) -> Branch {
        Branch {
            tip: self.tip,
            tree: self.tree,
            slots: self.slots.clone(),
            paths: self.paths.clone(),
            version: self.version,
        }
    }
}

fn initial_slots() -> [u64; STATEMENTS] {
    std::array::from_fn(|k| k as u64)
}

fn parent_dir(path: &str) -> &str {
    path.rsplit_once('/').map(|(d, _)| d).unwrap_or("")
}

fn file_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

/// A file's text: every line names the file, so no two files look alike to rename detection.
fn render(idx: usize, path: &str, slots: &[u64; STATEMENTS]) -> String {
    let mut s = String::with_capacity(2400);
    if path.ends_with(".cs") {
        s.push_str(&format!(
            "namespace Bench.F{idx}\n{{\n    internal static class C{idx}\n    {{\n"
        ));
        for (k, v) in slots.iter().enumerate() {
            s.push_str(&format!(
                "        // C{idx} step {k}\n        internal static long S{idx}_{k}() => {v};\n"
            ));
        }
        s.push_str("    }\n}\n");
    } else if path.ends_with(".cpp") || path.ends_with(".c") || path.ends_with(".h") {
        s.push_str(&format!("// file {idx}\n#include <stdint.h>\n"));
        for (k, v) in slots.iter().enumerate() {
            s.push_str(&format!(
                "// f{idx} step {k}\nint64_t s{idx}_{k}(void) {{ return {v}; }}\n"
            ));
        }
    } else {
        s.push_str(&format!("# {path}\n"));
        for (k, v) in slots.iter().enumerate() {
            s.push_str(&format!("# f{idx} step {k}\nf{idx}_{k} = {v}\n"));
        }
    }
    s
}

const LIB_FIRST: [&str; 12] = [
    "Net",
    "Text",
    "Security",
    "IO",
    "Collections",
    "Runtime",
    "Data",
    "Xml",
    "Linq",
    "Threading",
    "Diagnostics",
    "Formats",
];
const LIB_SECOND: [&str; 12] = [
    "Http",
    "Json",
    "Cryptography",
    "Mail",
    "Sockets",
    "Primitives",
    "Pipelines",
    "Compression",
    "Channels",
    "Serialization",
    "Encoding",
    "Tar",
];
const AREAS: [&str; 5] = ["Core", "Internal", "Parsing", "Protocol", "Helpers"];
const NOUNS: [&str; 8] = [
    "Reader", "Writer", "Handler", "Parser", "Stream", "Buffer", "Client", "Encoder",
];
const CLR_AREAS: [&str; 10] = [
    "vm", "jit", "gc", "debug", "utilcode", "pal/src", "md", "binder", "inc", "tools",
];
const LIB_FILES: usize = 140;

/// The base tree's paths, shaped like dotnet/runtime: 70% `src/libraries/<Lib>/src|tests`, 20%
/// `src/coreclr`, 10% `src/native`, plus `eng/` and root files.
fn layout(files: usize) -> Vec<String> {
    let mut paths: Vec<String> = ENG_FILES.iter().map(|p| p.to_string()).collect();
    let (mut lib, mut clr, mut native) = (0usize, 0usize, 0usize);
    let mut i = 0usize;
    while paths.len() < files.max(ENG_FILES.len() + 1) {
        let path = match i % 10 {
            0..=6 => {
                let (n, k) = (lib / LIB_FILES, lib % LIB_FILES);
                lib += 1;
                let pairs = LIB_FIRST.len() * LIB_SECOND.len();
                let mut name = format!(
                    "System.{}.{}",
                    LIB_FIRST[n % LIB_FIRST.len()],
                    LIB_SECOND[(n / LIB_FIRST.len()) % LIB_SECOND.len()]
                );
                if n >= pairs {
                    name.push_str(&format!(".Part{}", n / pairs));
                }
                let noun = NOUNS[(n + k) % NOUNS.len()];
                if k < 100 {
                    format!(
                        "src/libraries/{name}/src/System/{}/{noun}{k}.cs",
                        AREAS[k / 20]
                    )
                } else {
                    format!("src/libraries/{name}/tests/{noun}{k}Tests.cs")
                }
            }
            7 | 8 => {
                let n = clr;
                clr += 1;
                format!(
                    "src/coreclr/{}/part{}/unit{n}.cpp",
                    CLR_AREAS[(n / 25) % CLR_AREAS.len()],
                    n / 250
                )
            }
            _ => {
                let n = native;
                native += 1;
                format!("src/native/libs/System.Native.{}/pal_{n}.c", n / 30)
            }
        };
        paths.push(path);
        i += 1;
    }
    paths
}
