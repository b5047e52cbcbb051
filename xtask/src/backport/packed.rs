//! Writing a run's new objects as one pack instead of hundreds of loose objects.
//!
//! Picking fixes or applying patches in memory creates many objects: throwaway trees that only
//! feed a merge, and the trees, files and commits the branch keeps. libgit2 writes each one as a
//! loose object (a file, a fan-out directory and a rename each, plus a rescan of the pack
//! directory on every write), which costs more than the picks themselves. So the work runs on a
//! second handle whose writes stay in memory, and afterwards exactly the objects the new commits
//! need are written as one pack, the way `git fast-import` does.

use anyhow::{Context, Result};
use git2::{Oid, Repository};

use super::changes::{PathHistory, TreeDiff};

/// What the work created that the repository must keep.
pub struct Created {
    /// The new commits run from `from` (exclusive) to `tip` along first parents (or down to a
    /// root commit).
    pub from: Oid,
    pub tip: Oid,
    /// Further objects to keep (e.g. merged files a conflicted index refers to).
    pub extra: Vec<Oid>,
}

/// Runs `work` on a second handle of `repo` whose object writes stay in memory, then writes the
/// objects `created` names (with every tree and file the new commits introduced) into `repo` as
/// one pack. Nothing is written when `work` fails.
pub fn with_packed_writes<T>(
    repo: &Repository,
    work: impl FnOnce(&Repository) -> Result<T>,
    created: impl FnOnce(&T) -> Created,
) -> Result<T> {
    let scratch = crate::repo::open(repo.path())?;
    let odb = scratch.odb()?;
    let mempack = odb.add_new_mempack_backend(1000)?;
    let result = work(&scratch)?;
    write_pack(&scratch, &odb, created(&result))?;
    mempack.reset()?;
    Ok(result)
}

fn write_pack(scratch: &Repository, odb: &git2::Odb, created: Created) -> Result<()> {
    let mut ids: std::collections::BTreeSet<Oid> = created.extra.into_iter().collect();
    let mut paths = PathHistory::new(scratch)?;
    let mut diff = TreeDiff::new(scratch)?;
    let mut commit = scratch.find_commit(created.tip)?;
    while commit.id() != created.from {
        let parent = commit.parents().next();
        ids.insert(commit.id());
        ids.insert(commit.tree_id());
        let old_tree = parent.as_ref().map(|p| p.tree_id());
        let changes = diff.changed_files(old_tree, Some(commit.tree_id()))?;
        for path in changes.keys() {
            ids.extend(paths.ids_along(commit.tree_id(), path)?);
        }
        match parent {
            Some(p) => commit = p,
            None => break,
        }
    }
    if ids.is_empty() {
        return Ok(());
    }
    let pack = pack_of(odb, &ids)?;
    crate::repo::with_whole_pack_windows(|| {
        let mut writer = odb.packwriter()?;
        std::io::Write::write_all(&mut writer, &pack)
            .and_then(|()| writer.commit().map(drop).map_err(std::io::Error::other))
            .context("cannot write the new objects into the repository")
    })
}

/// A pack of `ids`, each stored whole and compressed fast, as `git cherry-pick` writes its loose
/// objects (a later `git gc` finds deltas for both). libgit2's pack builder searched the new
/// trees for deltas and compressed them hard: on dotnet/wpf's big directory trees that was a
/// third of a four-fix backport's instructions.
fn pack_of(odb: &git2::Odb, ids: &std::collections::BTreeSet<Oid>) -> Result<Vec<u8>> {
    use sha1::{Digest, Sha1};
    use std::io::Write;
    let count = u32::try_from(ids.len()).context("too many objects for one pack")?;
    let mut pack = Vec::new();
    pack.extend_from_slice(b"PACK");
    pack.extend_from_slice(&2u32.to_be_bytes());
    pack.extend_from_slice(&count.to_be_bytes());
    for &id in ids {
        let object = odb.read(id)?;
        let kind: usize = match object.kind() {
            git2::ObjectType::Commit => 1,
            git2::ObjectType::Tree => 2,
            git2::ObjectType::Blob => 3,
            git2::ObjectType::Tag => 4,
            other => anyhow::bail!("cannot pack object {id} of kind {other}"),
        };
        let data = object.data();
        // The entry header: the kind and the size's low 4 bits, then 7 bits a byte.
        let mut size = data.len() >> 4;
        let mut byte = ((kind << 4) | (data.len() & 0x0f)) as u8;
        while size > 0 {
            pack.push(byte | 0x80);
            byte = (size & 0x7f) as u8;
            size >>= 7;
        }
        pack.push(byte);
        let mut zlib = flate2::write::ZlibEncoder::new(&mut pack, flate2::Compression::fast());
        zlib.write_all(data)?;
        zlib.finish()?;
    }
    let checksum = Sha1::digest(&pack);
    pack.extend_from_slice(&checksum);
    Ok(pack)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_root_commit_and_a_file_larger_than_a_pack_window_land_in_one_pack() {
        let dir = tempfile::tempdir().unwrap();
        Repository::init_bare(dir.path()).unwrap();
        // `open` bounds the pack windows to a few MiB; the file is larger. (The bench's generated
        // repositories, in tests/it/bench.rs, are the packs that need `with_whole_pack_windows`.)
        let repo = crate::repo::open(dir.path()).unwrap();
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        let noise: Vec<u8> = (0..6 << 20)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state as u8
            })
            .collect();
        let commit = with_packed_writes(
            &repo,
            |scratch| {
                let blob = scratch.blob(&noise)?;
                let mut tree = scratch.treebuilder(None)?;
                tree.insert("noise.bin", blob, 0o100644)?;
                let tree = scratch.find_tree(tree.write()?)?;
                let who = git2::Signature::now("t", "t@example.com")?;
                Ok(scratch.commit(None, &who, &who, "noise", &tree, &[])?)
            },
            |&tip| Created {
                from: Oid::zero(),
                tip,
                extra: Vec::new(),
            },
        )
        .unwrap();
        let reopened = Repository::open_bare(dir.path()).unwrap();
        let packs = std::fs::read_dir(dir.path().join("objects/pack"))
            .unwrap()
            .count();
        assert_eq!(packs, 2, "one .pack and its .idx");
        let tree = reopened.find_commit(commit).unwrap().tree().unwrap();
        let blob = reopened.find_blob(tree.get(0).unwrap().id()).unwrap();
        assert_eq!(blob.content().len(), noise.len());
    }
}
