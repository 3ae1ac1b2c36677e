//! Writing a checked manifest into the build's trees without following any link.
//!
//! Three steps, so an entry is either restored whole or refused with nothing left behind:
//! 1. **preflight**: every destination is looked at, component by component, with
//!    `O_NOFOLLOW` directory handles; a symlink or a non-directory on the way, a symlink at a
//!    path the entry writes (unless it is the very link the entry restores), or a type
//!    conflict refuses the entry before anything is written;
//! 2. **write**: directories are made, links created, and every file copied from its blob
//!    while it is hashed: a file that does not exist yet is created at its name
//!    (`O_CREAT | O_EXCL | O_NOFOLLOW`, so nothing planted since can be written through), one
//!    that exists is written to a temp name beside it. A wrong digest or size, or a missing
//!    blob, refuses the entry: everything this restore created is removed again (files,
//!    links, temp files, then the directories it made) and existing files are untouched;
//! 3. **commit**: temp files are renamed over the files they replace (`renameat` replaces a
//!    file but never writes through a link), directory modes are set last. Failures here (a
//!    race with another writer) are reported per item.
//!
//! Writing fresh files in place rather than staging them all and renaming each halves the
//! directory updates of a restore into an empty tree (the common case: a new working copy).

use std::collections::BTreeMap;
use std::fs::File;
use std::os::fd::{AsFd, OwnedFd};
use std::sync::atomic::{AtomicU64, Ordering};

use rustix::fs::{AtFlags, FileType, Mode, OFlags, Timespec, Timestamps};
use rustix::io::Errno;

use crate::Skipped;
use crate::blobs::{BlobStore, copy_hashing};
use crate::manifest::{Item, Kind, Manifest};
use crate::spec::{RootKind, Roots};

/// Why an entry was not restored.
#[derive(Debug)]
pub(crate) struct Refusal {
    pub reason: String,
    /// The store's copy is bad (blob or manifest): remove the entry.
    pub corrupt: bool,
    /// A blob whose content does not match its name.
    pub bad_blob: Option<String>,
}

/// What a restore wrote.
#[derive(Debug, Default)]
pub(crate) struct Stats {
    pub files: u64,
    pub dirs: u64,
    pub symlinks: u64,
    pub bytes: u64,
    pub failed: Vec<Skipped>,
}

static STAGE: AtomicU64 = AtomicU64::new(0);
const DIR_FLAGS: OFlags = OFlags::DIRECTORY.union(OFlags::RDONLY).union(OFlags::CLOEXEC).union(OFlags::NOFOLLOW);

fn refuse(reason: String) -> Refusal {
    Refusal { reason, corrupt: false, bad_blob: None }
}

/// Open directory handles along the current path of one root, reused across sorted items.
struct Tree {
    root: OwnedFd,
    stack: Vec<(Vec<u8>, OwnedFd)>,
    /// Directories this restore made, in the order made (for rollback).
    created: Vec<Vec<Vec<u8>>>,
}

impl Tree {
    fn open(dir: &std::path::Path) -> Result<Tree, String> {
        let root = rustix::fs::open(dir, OFlags::DIRECTORY | OFlags::RDONLY | OFlags::CLOEXEC, Mode::empty()).map_err(|e| format!("cannot open '{}': {e}", dir.display()))?;
        Ok(Tree { root, stack: Vec::new(), created: Vec::new() })
    }

    /// The handle of directory `comps`; `Ok(None)` when it does not exist and `create` is false;
    /// an error when a component is a symlink or not a directory.
    fn dir(&mut self, comps: &[&[u8]], create: bool) -> Result<Option<&OwnedFd>, String> {
        let keep = self.stack.iter().zip(comps).take_while(|((a, _), b)| a.as_slice() == **b).count();
        self.stack.truncate(keep);
        for i in keep..comps.len() {
            let name = comps[i];
            let parent = self.stack.last().map(|(_, fd)| fd).unwrap_or(&self.root);
            let fd = match rustix::fs::openat(parent, name, DIR_FLAGS, Mode::empty()) {
                Ok(fd) => fd,
                Err(Errno::NOENT) if create => {
                    match rustix::fs::mkdirat(parent, name, Mode::from_raw_mode(0o755)) {
                        Ok(()) => self.created.push(comps[..=i].iter().map(|c| c.to_vec()).collect()),
                        Err(Errno::EXIST) => {}
                        Err(e) => return Err(format!("cannot create directory '{}': {e}", shown(&comps[..=i]))),
                    }
                    rustix::fs::openat(parent, name, DIR_FLAGS, Mode::empty()).map_err(|e| not_dir(&comps[..=i], e))?
                }
                Err(Errno::NOENT) => return Ok(None),
                Err(e) => return Err(not_dir(&comps[..=i], e)),
            };
            self.stack.push((name.to_vec(), fd));
        }
        Ok(Some(self.stack.last().map(|(_, fd)| fd).unwrap_or(&self.root)))
    }
}

fn not_dir(comps: &[&[u8]], e: Errno) -> String {
    match e {
        Errno::LOOP | Errno::NOTDIR => format!("'{}' is a symlink or not a directory in the destination tree; not writing through it", shown(comps)),
        e => format!("cannot open directory '{}': {e}", shown(comps)),
    }
}

fn shown(comps: &[&[u8]]) -> String {
    String::from_utf8_lossy(&comps.join(&b'/')).escape_debug().to_string()
}

fn split(item: &Item) -> (Vec<&[u8]>, &[u8]) {
    let comps: Vec<&[u8]> = item.path.0.split(|b| *b == b'/').collect();
    let (name, parent) = comps.split_last().map(|(n, p)| (*n, p.to_vec())).unwrap_or((&[][..], Vec::new()));
    (parent, name)
}

/// What is at `name` in `dir` now, without following it.
fn existing(dir: &OwnedFd, name: &[u8]) -> Result<Option<FileType>, Errno> {
    match rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW) {
        Ok(st) => Ok(Some(FileType::from_raw_mode(st.st_mode))),
        Err(Errno::NOENT) => Ok(None),
        Err(e) => Err(e),
    }
}

fn same_link(dir: &OwnedFd, name: &[u8], item: &Item) -> bool {
    let target = item.target.as_ref().map(|t| t.0.as_slice()).unwrap_or_default();
    rustix::fs::readlinkat(dir, name, Vec::new()).is_ok_and(|t| t.as_bytes() == target)
}

/// Restores `m` (already [`Manifest::check`]ed against the request) into `roots`.
pub(crate) fn apply(m: &Manifest, roots: &Roots, blobs: &dyn BlobStore) -> Result<Stats, Refusal> {
    let mut by_root: BTreeMap<RootKind, Vec<&Item>> = BTreeMap::new();
    for item in &m.files {
        let kind = RootKind::parse(&item.root).ok_or_else(|| refuse(format!("unknown root '{}'", item.root)))?;
        by_root.entry(kind).or_default().push(item);
    }
    let mut trees = BTreeMap::new();
    for (kind, items) in &mut by_root {
        items.sort_by(|a, b| a.path.cmp(&b.path));
        let dir = kind.dir(roots).ok_or_else(|| refuse(format!("the entry restores into '{}', which this build does not allow", kind.name())))?;
        let mut tree = Tree::open(dir).map_err(refuse)?;
        preflight(&mut tree, items).map_err(|e| refuse(format!("{}:{e}", kind.name())))?;
        trees.insert(kind.clone(), tree);
    }
    let mut stats = Stats::default();
    let mut written: BTreeMap<RootKind, Written> = BTreeMap::new();
    for (kind, items) in &by_root {
        let tree = trees.get_mut(kind).expect("opened above");
        let w = written.entry(kind.clone()).or_default();
        if let Err(refusal) = write(tree, items, blobs, w, &mut stats) {
            for (k, w) in written {
                rollback(trees.get_mut(&k).expect("opened above"), w);
            }
            return Err(refusal);
        }
    }
    for (kind, items) in &by_root {
        let tree = trees.get_mut(kind).expect("opened above");
        commit(tree, items, written.remove(kind).unwrap_or_default(), kind, &mut stats);
    }
    Ok(stats)
}

fn preflight(tree: &mut Tree, items: &[&Item]) -> Result<(), String> {
    for item in items {
        let (parent, name) = split(item);
        let Some(dir) = tree.dir(&parent, false)? else { continue };
        let what = || String::from_utf8_lossy(&item.path.0).escape_debug().to_string();
        match (existing(dir, name).map_err(|e| format!("cannot inspect '{}': {e}", what()))?, item.kind) {
            (None, _) => {}
            (Some(FileType::Symlink), Kind::Symlink) if same_link(dir, name, item) => {}
            (Some(FileType::Symlink), _) => return Err(format!("'{}' is a symlink in the destination tree (planted by the build?); not writing through it", what())),
            (Some(FileType::Directory), Kind::Dir) => {}
            (Some(FileType::Directory), _) => return Err(format!("'{}' is a directory in the destination tree, the entry has a file or link there", what())),
            (Some(FileType::RegularFile), Kind::File | Kind::Symlink) => {}
            (Some(_), _) => return Err(format!("'{}' exists in the destination tree with another type", what())),
        }
    }
    Ok(())
}

/// What the write step made in one root: new files and links as (directory, name), removed
/// on rollback, and temp files that replace existing ones at commit, by item index.
#[derive(Default)]
struct Written {
    created: Vec<(Vec<Vec<u8>>, Vec<u8>)>,
    temps: BTreeMap<usize, (Vec<Vec<u8>>, Vec<u8>)>,
}

fn temp_name() -> String {
    format!(".kiln-cache-new.{}.{}", std::process::id(), STAGE.fetch_add(1, Ordering::Relaxed))
}

fn write(tree: &mut Tree, items: &[&Item], blobs: &dyn BlobStore, w: &mut Written, stats: &mut Stats) -> Result<(), Refusal> {
    for (i, item) in items.iter().enumerate() {
        let (parent, name) = split(item);
        let shown = || format!("{}:{}", item.root, item.path.shown());
        if item.kind == Kind::Dir {
            let comps: Vec<&[u8]> = item.path.0.split(|b| *b == b'/').collect();
            tree.dir(&comps, true).map_err(refuse)?;
            continue;
        }
        let dir = tree.dir(&parent, true).map_err(refuse)?.expect("created");
        let owned_parent: Vec<Vec<u8>> = parent.iter().map(|c| c.to_vec()).collect();
        if item.kind == Kind::Symlink {
            if same_link(dir, name, item) {
                continue;
            }
            let target = item.target.as_ref().map(|t| t.0.as_slice()).unwrap_or_default();
            match rustix::fs::symlinkat(target, dir, name) {
                Ok(()) => w.created.push((owned_parent, name.to_vec())),
                // A regular file is there: replaced at commit.
                Err(Errno::EXIST) => {
                    let tmp = temp_name();
                    rustix::fs::symlinkat(target, dir, tmp.as_str()).map_err(|e| refuse(format!("cannot create the link '{}': {e}", shown())))?;
                    w.temps.insert(i, (owned_parent, tmp.into_bytes()));
                }
                Err(e) => return Err(refuse(format!("cannot create the link '{}': {e}", shown()))),
            }
            continue;
        }
        let flags = OFlags::CREATE | OFlags::EXCL | OFlags::WRONLY | OFlags::CLOEXEC | OFlags::NOFOLLOW;
        let mode = Mode::from_raw_mode(0o600);
        let fd = match rustix::fs::openat(dir, name, flags, mode) {
            Ok(fd) => {
                w.created.push((owned_parent, name.to_vec()));
                fd
            }
            // A file is there (from the source, or an earlier restore): replaced at commit.
            Err(Errno::EXIST) => {
                let tmp = temp_name();
                let fd = rustix::fs::openat(dir, tmp.as_str(), flags, mode).map_err(|e| refuse(format!("cannot write '{}': {e}", shown())))?;
                w.temps.insert(i, (owned_parent, tmp.into_bytes()));
                fd
            }
            Err(e) => return Err(refuse(format!("cannot write '{}': {e}", shown()))),
        };
        stats.bytes += copy_verified(File::from(fd), item, blobs)?;
    }
    Ok(())
}

/// Copies the item's blob into `file`, checking digest and size, then sets mode and mtime.
fn copy_verified(mut file: File, item: &Item, blobs: &dyn BlobStore) -> Result<u64, Refusal> {
    let digest = item.sha256.as_deref().unwrap_or_default();
    let shown = || format!("{}:{}", item.root, item.path.shown());
    let mut src = blobs.open(digest).map_err(|e| Refusal { reason: format!("blob {digest} of '{}' is missing or unreadable: {e}", shown()), corrupt: true, bad_blob: None })?;
    let (got, size) = copy_hashing(&mut src, &mut file).map_err(|e| refuse(format!("cannot copy blob {digest} to '{}': {e}", shown())))?;
    if got != digest {
        return Err(Refusal {
            reason: format!("blob {digest} of '{}' is corrupt: its content hashes to {got} ({size} bytes)", shown()),
            corrupt: true,
            bad_blob: Some(digest.to_string()),
        });
    }
    // The blob is sound (its content matches its name), the manifest is not: keep the blob.
    if Some(size) != item.size {
        return Err(Refusal {
            reason: format!("corrupt manifest: '{}' is {} bytes by the manifest, its blob {digest} has {size}", shown(), item.size.unwrap_or(0)),
            corrupt: true,
            bad_blob: None,
        });
    }
    let err = |e: Errno| refuse(format!("cannot set the mode or time of '{}': {e}", shown()));
    rustix::fs::fchmod(&file, Mode::from_raw_mode(item.mode.unwrap_or(0o644) & 0o777)).map_err(err)?;
    if let Some((s, ns)) = item.mtime {
        let t = Timespec { tv_sec: s, tv_nsec: ns.into() };
        rustix::fs::futimens(&file, &Timestamps { last_access: t, last_modification: t }).map_err(err)?;
    }
    Ok(size)
}

/// Undoes the write step in one root: removes what it created, then the directories it made.
fn rollback(tree: &mut Tree, w: Written) {
    for (parent, name) in w.created.into_iter().chain(w.temps.into_values()) {
        let comps: Vec<&[u8]> = parent.iter().map(Vec::as_slice).collect();
        if let Ok(Some(dir)) = tree.dir(&comps, false) {
            let _ = rustix::fs::unlinkat(dir, name.as_slice(), AtFlags::empty());
        }
    }
    let created = std::mem::take(&mut tree.created);
    for comps in created.iter().rev() {
        let (name, parent) = comps.split_last().expect("non-empty");
        let parent: Vec<&[u8]> = parent.iter().map(Vec::as_slice).collect();
        if let Ok(Some(dir)) = tree.dir(&parent, false) {
            let _ = rustix::fs::unlinkat(dir, name.as_slice(), AtFlags::REMOVEDIR);
        }
    }
}

fn commit(tree: &mut Tree, items: &[&Item], w: Written, kind: &RootKind, stats: &mut Stats) {
    let temps = w.temps;
    let mut dirs = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let fail = |reason: String| Skipped { path: format!("{}:{}", kind.name(), item.path.shown()), reason };
        match item.kind {
            Kind::Dir => {
                dirs.push(item);
                stats.dirs += 1;
                continue;
            }
            Kind::File => stats.files += 1,
            Kind::Symlink => stats.symlinks += 1,
        }
        let Some((_, tmp)) = temps.get(&i) else { continue };
        let (parent, name) = split(item);
        match tree.dir(&parent, false) {
            Ok(Some(dir)) => {
                if let Err(e) = rustix::fs::renameat(dir, tmp.as_slice(), dir, name) {
                    let _ = rustix::fs::unlinkat(dir, tmp.as_slice(), AtFlags::empty());
                    stats.failed.push(fail(format!("not restored: {e}")));
                }
            }
            Ok(None) => stats.failed.push(fail("its directory vanished".into())),
            Err(e) => stats.failed.push(fail(e)),
        }
    }
    // Directory modes last and deepest first, so a read-only directory does not block its children.
    for item in dirs.iter().rev() {
        let comps: Vec<&[u8]> = item.path.0.split(|b| *b == b'/').collect();
        if let Ok(Some(fd)) = tree.dir(&comps, false) {
            let mode = item.mode.unwrap_or(0o755) & 0o777;
            if let Err(e) = rustix::fs::fchmod(fd.as_fd(), Mode::from_raw_mode(mode)) {
                stats.failed.push(Skipped { path: format!("{}:{}", kind.name(), item.path.shown()), reason: format!("cannot set the directory's mode: {e}") });
            }
        }
    }
}
