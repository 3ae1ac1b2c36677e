//! The store: layout, locks, save, restore lookup, and crash repair.
//!
//! ```text
//! <root>/gc.lock                          shared by saves and restores, exclusive for GC/eviction
//! <root>/commit.lock                      exclusive while manifests and index records change
//! <root>/cas/sha256/<hh>/<hex>            blobs (read-only files, written once; hh = first 2 hex digits)
//! <root>/entries/<version>/<name>.json    manifest; <name> = sha256(key), or `unkeyed`
//! <root>/entries/<version>/<name>.meta    index record (key, times, totals)
//! <root>/tmp/                             temp files, swept when nobody holds gc.lock
//! ```

use std::fs::{self, File};
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use rustix::fs::FlockOperation;

use crate::blobs::{BlobStore, CAS_DIR, FsBlobs, is_digest, sha256_hex};
use crate::manifest::{Manifest, Meta};
use crate::{CacheError, Limits, StoreOptions};

/// A held `flock`; released when dropped.
pub(crate) struct Lock(#[allow(dead_code)] File);

/// An opened cache store. Cheap to open; every operation takes the locks it needs, so one
/// store may be used from several threads and processes at once.
pub struct Store {
    pub(crate) root: PathBuf,
    pub(crate) blobs: Box<dyn BlobStore>,
    pub(crate) opts: StoreOptions,
    repairs: Vec<String>,
}

pub(crate) fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

/// The file name (without extension) of a key's entry.
pub(crate) fn entry_name(key: Option<&str>) -> String {
    match key {
        Some(k) => sha256_hex(k.as_bytes()),
        None => "unkeyed".into(),
    }
}

impl Store {
    /// Opens (creating if needed) the store at `root`. When no other process is using the
    /// store, repairs what a crash may have left: temp files are swept, index records are
    /// rebuilt from or removed with their manifests, unreadable manifests removed
    /// ([`Store::repairs`] lists what was done).
    pub fn open(root: &Path, opts: StoreOptions) -> Result<Store, CacheError> {
        let err = |source| CacheError::Store { path: root.to_path_buf(), source };
        for d in [CAS_DIR, "entries", "tmp"] {
            fs::create_dir_all(root.join(d)).map_err(err)?;
        }
        let _ = fs::set_permissions(root, std::os::unix::fs::PermissionsExt::from_mode(0o700));
        let blobs = FsBlobs::open(&root.join(CAS_DIR), &root.join("tmp")).map_err(err)?;
        let mut store = Store { root: root.to_path_buf(), blobs: Box::new(blobs), opts, repairs: Vec::new() };
        if let Some(_gc) = store.lock("gc.lock", true, false)? {
            let _commit = store.lock("commit.lock", true, true)?;
            store.repairs = store.repair().map_err(err)?;
        }
        Ok(store)
    }

    /// Replaces the blob layer (a remote store behind the same seam, or a test double).
    pub fn with_blobs(mut self, blobs: Box<dyn BlobStore>) -> Store {
        self.blobs = blobs;
        self
    }

    /// What [`Store::open`] repaired.
    pub fn repairs(&self) -> &[String] {
        &self.repairs
    }

    /// The store's root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Takes `name` shared or exclusive; `Ok(None)` when `wait` is false and it is busy.
    pub(crate) fn lock(&self, name: &str, exclusive: bool, wait: bool) -> Result<Option<Lock>, CacheError> {
        let path = self.root.join(name);
        let err = |source| CacheError::Store { path: path.clone(), source };
        let file = fs::OpenOptions::new().read(true).write(true).create(true).truncate(false).open(&path).map_err(err)?;
        let op = match (exclusive, wait) {
            (true, true) => FlockOperation::LockExclusive,
            (true, false) => FlockOperation::NonBlockingLockExclusive,
            (false, true) => FlockOperation::LockShared,
            (false, false) => FlockOperation::NonBlockingLockShared,
        };
        match rustix::fs::flock(&file, op) {
            Ok(()) => Ok(Some(Lock(file))),
            Err(rustix::io::Errno::WOULDBLOCK) if !wait => Ok(None),
            Err(e) => Err(err(e.into())),
        }
    }

    pub(crate) fn version_dir(&self, version: &str) -> PathBuf {
        self.root.join("entries").join(version)
    }

    /// Reads a manifest (bounded) and returns it with its bytes' sha256.
    pub(crate) fn read_manifest(&self, path: &Path) -> Result<(Manifest, String, u64), String> {
        let bytes = read_bounded(path, self.opts.limits.max_manifest_bytes).map_err(|e| format!("cannot read the manifest: {e}"))?;
        let m: Manifest = serde_json::from_slice(&bytes).map_err(|e| format!("corrupt manifest (line {}, column {}): {e}", e.line(), e.column()))?;
        Ok((m, sha256_hex(&bytes), bytes.len() as u64))
    }

    pub(crate) fn read_meta(&self, path: &Path) -> Option<Meta> {
        let bytes = read_bounded(path, 64 * 1024).ok()?;
        serde_json::from_slice::<Meta>(&bytes).ok().filter(|m| is_digest(&m.manifest_sha256))
    }

    /// Writes `bytes` to `dest` atomically: a temp file in `tmp/`, synced when `durable`,
    /// renamed over `dest`.
    pub(crate) fn write_atomic(&self, dest: &Path, bytes: &[u8], durable: bool) -> io::Result<()> {
        kiln_fs::write_atomic_in(&self.root.join("tmp"), dest, bytes, durable)
    }

    /// Every entry's index record with its paths, across versions.
    pub(crate) fn entries(&self) -> io::Result<Vec<(PathBuf, Meta)>> {
        let mut out = Vec::new();
        for v in read_dir_sorted(&self.root.join("entries"))? {
            for f in read_dir_sorted(&v)? {
                if f.extension().is_some_and(|e| e == "meta")
                    && let Some(meta) = self.read_meta(&f)
                {
                    out.push((f.with_extension("json"), meta));
                }
            }
        }
        Ok(out)
    }

    /// Removes an entry's manifest and index record (the caller holds commit.lock).
    pub(crate) fn remove_entry(&self, manifest: &Path) {
        let _ = fs::remove_file(manifest.with_extension("meta"));
        let _ = fs::remove_file(manifest);
        if let Some(dir) = manifest.parent() {
            let _ = fs::remove_dir(dir);
        }
    }

    /// Crash repair; the caller holds both locks exclusively.
    fn repair(&self) -> io::Result<Vec<String>> {
        let mut notes = Vec::new();
        let mut swept = 0;
        for f in read_dir_sorted(&self.root.join("tmp"))? {
            if fs::remove_file(&f).or_else(|_| fs::remove_dir_all(&f)).is_ok() {
                swept += 1;
            }
        }
        if swept > 0 {
            notes.push(format!("removed {swept} temp file(s) left by an interrupted save"));
        }
        for v in read_dir_sorted(&self.root.join("entries"))? {
            let vname = v.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            if !is_digest(&vname) {
                let _ = fs::remove_dir_all(&v).or_else(|_| fs::remove_file(&v));
                notes.push(format!("removed '{vname}' from entries/: not a cache version"));
                continue;
            }
            for f in read_dir_sorted(&v)? {
                let name = f.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
                let ext = f.extension().map(|e| e.to_string_lossy().into_owned()).unwrap_or_default();
                let stem = f.file_stem().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
                let known = (stem == "unkeyed" || is_digest(&stem)) && (ext == "json" || ext == "meta");
                if !known {
                    let _ = fs::remove_file(&f);
                    notes.push(format!("removed stray file entries/{vname}/{name}"));
                } else if ext == "meta" && !f.with_extension("json").exists() {
                    let _ = fs::remove_file(&f);
                    notes.push(format!("removed index record entries/{vname}/{name} whose manifest is gone"));
                } else if ext == "json" {
                    let meta_path = f.with_extension("meta");
                    let meta = self.read_meta(&meta_path);
                    match self.read_manifest(&f) {
                        Err(e) => {
                            self.remove_entry(&f);
                            notes.push(format!("removed entry entries/{vname}/{name}: {e}"));
                        }
                        Ok((m, sha, _)) if meta.as_ref().is_none_or(|x| x.manifest_sha256 != sha) => {
                            let last = meta.map(|x| x.last_used_ms).unwrap_or(m.created_ms);
                            let bytes = serde_json::to_vec(&m.meta(sha, last)).map_err(io::Error::other)?;
                            self.write_atomic(&meta_path, &bytes, false)?;
                            notes.push(format!("rebuilt the index record of entries/{vname}/{name}"));
                        }
                        Ok(_) => {}
                    }
                }
            }
            let _ = fs::remove_dir(&v);
        }
        Ok(notes)
    }

    /// Refuses a store inside any of the build's writable trees.
    pub(crate) fn check_outside(&self, roots: &crate::Roots) -> Result<(), CacheError> {
        let canon = |p: &Path| fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
        let store = canon(&self.root);
        let named = [("working copy", &roots.src), ("home", &roots.home)].into_iter().chain(roots.allowed.iter().map(|a| ("allowed directory", a)));
        for (root, dir) in named {
            let d = canon(dir);
            if store.starts_with(&d) {
                return Err(CacheError::StoreInsideBuild { store, root, dir: d });
            }
        }
        Ok(())
    }

    /// The limits in force.
    pub fn limits(&self) -> &Limits {
        &self.opts.limits
    }
}

/// Reads at most `limit` bytes of a regular file (never following a final symlink, never
/// blocking on a FIFO); more is an error.
pub(crate) fn read_bounded(path: &Path, limit: u64) -> io::Result<Vec<u8>> {
    use std::os::unix::fs::OpenOptionsExt;
    let file = fs::OpenOptions::new().read(true).custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK).open(path)?;
    if !file.metadata()?.is_file() {
        return Err(io::Error::new(io::ErrorKind::InvalidData, "not a regular file"));
    }
    let mut bytes = Vec::new();
    file.take(limit + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit {
        return Err(io::Error::new(io::ErrorKind::InvalidData, format!("larger than {limit} bytes")));
    }
    Ok(bytes)
}

pub(crate) fn read_dir_sorted(dir: &Path) -> io::Result<Vec<PathBuf>> {
    let mut v = match fs::read_dir(dir) {
        Ok(rd) => rd.filter_map(|e| e.ok().map(|e| e.path())).collect::<Vec<_>>(),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(e),
    };
    v.sort();
    Ok(v)
}
