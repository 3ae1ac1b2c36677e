//! Writing a checked manifest into the build's trees without following any link.
//!
//! Three steps, so an entry is either restored or refused whole:
//! 1. **preflight**: every destination is looked at, component by component, with
//!    `O_NOFOLLOW` directory handles; a symlink or a non-directory on the way, a symlink at a
//!    path the entry writes (unless it is the very link the entry restores), or a type
//!    conflict refuses the entry before anything is written;
//! 2. **stage**: every file is copied from its blob into a private staging directory in its
//!    root while it is hashed; a wrong digest or size, or a missing blob, refuses the entry and
//!    the staging directory is removed;
//! 3. **commit**: staged files are renamed into place (`renameat`, which replaces a file or a
//!    link but never writes through one), links are made with `symlinkat` + rename, directory
//!    modes are set last. Failures here (a race with another writer) are reported per item.

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
}

impl Tree {
    fn open(dir: &std::path::Path) -> Result<Tree, String> {
        let root = rustix::fs::open(dir, OFlags::DIRECTORY | OFlags::RDONLY | OFlags::CLOEXEC, Mode::empty()).map_err(|e| format!("cannot open '{}': {e}", dir.display()))?;
        Ok(Tree { root, stack: Vec::new() })
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
                        Ok(()) | Err(Errno::EXIST) => {}
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
    let mut stages = Vec::new();
    let mut stats = Stats::default();
    let staged = (|| {
        for (kind, items) in &by_root {
            let tree = &trees[kind];
            let stage = Stage::new(&tree.root).map_err(|e| refuse(format!("cannot create a staging directory in {}: {e}", kind.name())))?;
            stages.push(stage);
            let stage = stages.last_mut().expect("just pushed");
            for (i, item) in items.iter().enumerate().filter(|(_, it)| it.kind == Kind::File) {
                stats.bytes += stage.put(i, item, blobs)?;
            }
        }
        Ok(())
    })();
    if let Err(refusal) = staged {
        for s in stages {
            s.remove();
        }
        return Err(refusal);
    }
    for ((kind, items), stage) in by_root.iter().zip(stages) {
        let tree = trees.get_mut(kind).expect("opened above");
        commit(tree, items, &stage, kind, &mut stats);
        stage.remove();
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

/// A private directory in a root where files are staged before they are renamed into place.
struct Stage {
    root: OwnedFd,
    name: String,
    fd: OwnedFd,
    staged: Vec<usize>,
}

impl Stage {
    fn new(root: &OwnedFd) -> Result<Stage, Errno> {
        let root = rustix::io::dup(root)?;
        loop {
            let name = format!(".kiln-cache-restore.{}.{}", std::process::id(), STAGE.fetch_add(1, Ordering::Relaxed));
            match rustix::fs::mkdirat(&root, name.as_str(), Mode::from_raw_mode(0o700)) {
                Ok(()) => {}
                Err(Errno::EXIST) => continue,
                Err(e) => return Err(e),
            }
            let fd = rustix::fs::openat(&root, name.as_str(), DIR_FLAGS, Mode::empty())?;
            return Ok(Stage { root, name, fd, staged: Vec::new() });
        }
    }

    /// Copies item `i`'s blob into the stage, checking its digest and size; returns the size.
    fn put(&mut self, i: usize, item: &Item, blobs: &dyn BlobStore) -> Result<u64, Refusal> {
        let digest = item.sha256.as_deref().unwrap_or_default();
        let shown = || format!("{}:{}", item.root, item.path.shown());
        let mut src = blobs.open(digest).map_err(|e| Refusal { reason: format!("blob {digest} of '{}' is missing or unreadable: {e}", shown()), corrupt: true, bad_blob: None })?;
        let flags = OFlags::CREATE | OFlags::EXCL | OFlags::WRONLY | OFlags::CLOEXEC | OFlags::NOFOLLOW;
        let fd = rustix::fs::openat(&self.fd, i.to_string(), flags, Mode::from_raw_mode(0o600)).map_err(|e| refuse(format!("cannot stage '{}': {e}", shown())))?;
        self.staged.push(i);
        let mut file = File::from(fd);
        let (got, size) = copy_hashing(&mut src, &mut file).map_err(|e| refuse(format!("cannot copy blob {digest} to '{}': {e}", shown())))?;
        if got != digest || Some(size) != item.size {
            return Err(Refusal {
                reason: format!("blob {digest} of '{}' is corrupt: its content hashes to {got} ({size} bytes, the manifest says {})", shown(), item.size.unwrap_or(0)),
                corrupt: true,
                bad_blob: Some(digest.to_string()),
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

    fn remove(self) {
        for i in &self.staged {
            let _ = rustix::fs::unlinkat(&self.fd, i.to_string(), AtFlags::empty());
        }
        let _ = rustix::fs::unlinkat(&self.root, self.name.as_str(), AtFlags::REMOVEDIR);
    }
}

fn commit(tree: &mut Tree, items: &[&Item], stage: &Stage, kind: &RootKind, stats: &mut Stats) {
    let mut dirs = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let (parent, name) = split(item);
        let fail = |reason: String| Skipped { path: format!("{}:{}", kind.name(), item.path.shown()), reason };
        let dir = match tree.dir(&parent, true) {
            Ok(Some(d)) => d,
            Ok(None) => continue,
            Err(e) => {
                stats.failed.push(fail(e));
                continue;
            }
        };
        let done = match item.kind {
            Kind::File => rustix::fs::renameat(&stage.fd, i.to_string(), dir, name).map(|()| stats.files += 1),
            Kind::Dir => match rustix::fs::mkdirat(dir, name, Mode::from_raw_mode(0o700)) {
                Ok(()) | Err(Errno::EXIST) => {
                    dirs.push(item);
                    stats.dirs += 1;
                    Ok(())
                }
                Err(e) => Err(e),
            },
            Kind::Symlink if same_link(dir, name, item) => {
                stats.symlinks += 1;
                Ok(())
            }
            Kind::Symlink => {
                let target = item.target.as_ref().map(|t| t.0.as_slice()).unwrap_or_default();
                let tmp = format!(".kiln-cache-link.{}.{}", std::process::id(), STAGE.fetch_add(1, Ordering::Relaxed));
                rustix::fs::symlinkat(target, dir, tmp.as_str())
                    .and_then(|()| rustix::fs::renameat(dir, tmp.as_str(), dir, name).inspect_err(|_| { let _ = rustix::fs::unlinkat(dir, tmp.as_str(), AtFlags::empty()); }))
                    .map(|()| stats.symlinks += 1)
            }
        };
        if let Err(e) = done {
            stats.failed.push(fail(format!("not restored: {e}")));
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
