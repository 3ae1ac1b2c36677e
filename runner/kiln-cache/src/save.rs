//! Saving an entry: select, store blobs, commit the manifest.

use std::io::Read;
use std::os::unix::fs::{MetadataExt, PermissionsExt};

use crate::blobs::sha256_hex;
use crate::manifest::{Bytes, Item, Kind, MANIFEST_FORMAT, Manifest};
use crate::spec::{CachePaths, Roots, validate_key};
use crate::store::{Store, entry_name, now_ms};
use crate::walk::{FoundKind, open_file, open_root, rel_path, select, shown};
use crate::{CacheError, Skipped};

/// Files up to this size are read whole, hashed, and written only when their blob is new.
const SMALL: u64 = 1024 * 1024;

/// What to save.
#[derive(Debug, Clone, Copy)]
pub struct SaveRequest<'a> {
    /// `cache.paths`, mapped.
    pub paths: &'a CachePaths,
    /// `cache.key`, already expanded; `None` saves the one updatable entry of the version.
    pub key: Option<&'a str>,
    /// The build's trees.
    pub roots: &'a Roots,
}

/// How a save ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SaveOutcome {
    /// A new entry (or a new version of the unkeyed entry) was committed.
    Saved {
        /// Lowercase hex sha256 of the manifest.
        manifest_sha256: String,
        /// Regular files in the entry.
        files: u64,
        /// Their total size.
        bytes: u64,
        /// Blobs that were not in the store yet.
        new_blobs: u64,
        /// Bytes of those new blobs.
        new_bytes: u64,
    },
    /// The keyed entry exists already; keyed entries are never updated (CodeBuild: "a unique
    /// cache copy that will not be updated once created"). Nothing was written.
    AlreadyExists {
        /// The manifest digest of the existing entry.
        manifest_sha256: String,
    },
    /// The paths selected nothing; no entry was written (an unkeyed entry is kept as it was).
    Empty,
}

/// The result of [`Store::save`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SaveReport {
    /// The entry's key.
    pub key: Option<String>,
    /// The cache version.
    pub version: String,
    /// What happened.
    pub outcome: SaveOutcome,
    /// Paths and files left out, with why.
    pub skipped: Vec<Skipped>,
    /// Entries evicted afterwards to keep the store under its size limit (keys shown).
    pub evicted: Vec<String>,
}

impl Store {
    /// Saves what `req.paths` select under `req.roots` as the entry `req.key` of the paths'
    /// version. Call it only when the buildspec's `action` saves (see [`crate::Action`]).
    ///
    /// Symlinks are stored as links when their target stays inside the same root (absolute
    /// targets inside it are made relative), else skipped; sockets, FIFOs and devices are
    /// skipped; a file larger than [`crate::Limits::max_file_bytes`] is skipped; more items or
    /// bytes than the limits allow fail the save with [`CacheError::TooBig`] and write no entry.
    /// Afterwards entries are evicted, least recently used first, while the store is above
    /// [`StoreOptions::max_bytes`](crate::StoreOptions::max_bytes) (skipped when another build holds the store).
    pub fn save(&self, req: &SaveRequest) -> Result<SaveReport, CacheError> {
        if let Some(k) = req.key {
            validate_key(k)?;
        }
        self.check_outside(req.roots)?;
        let mut report = SaveReport { key: req.key.map(str::to_string), version: req.paths.version.clone(), outcome: SaveOutcome::Empty, skipped: req.paths.skipped.clone(), evicted: Vec::new() };
        let manifest_path = self.version_dir(&req.paths.version).join(format!("{}.json", entry_name(req.key)));
        {
            let _gc = self.lock("gc.lock", false, true)?;
            if req.key.is_some()
                && let Some(sha) = self.healthy(&manifest_path)
            {
                report.outcome = SaveOutcome::AlreadyExists { manifest_sha256: sha };
                return Ok(report);
            }
            let Some((manifest, new_blobs, new_bytes)) = self.collect(req, &mut report.skipped)? else {
                return Ok(report);
            };
            let bytes = serde_json::to_vec(&manifest).map_err(|e| CacheError::Store { path: manifest_path.clone(), source: std::io::Error::other(e) })?;
            let sha = sha256_hex(&bytes);
            let store_err = |source| CacheError::Store { path: manifest_path.clone(), source };
            let _commit = self.lock("commit.lock", true, true)?;
            if req.key.is_some()
                && let Some(existing) = self.healthy(&manifest_path)
            {
                report.outcome = SaveOutcome::AlreadyExists { manifest_sha256: existing };
                return Ok(report);
            }
            std::fs::create_dir_all(manifest_path.parent().expect("has a version dir")).map_err(store_err)?;
            self.write_atomic(&manifest_path, &bytes, true).map_err(store_err)?;
            let meta = manifest.meta(sha.clone(), now_ms());
            let meta_bytes = serde_json::to_vec(&meta).map_err(|e| store_err(std::io::Error::other(e)))?;
            self.write_atomic(&manifest_path.with_extension("meta"), &meta_bytes, false).map_err(store_err)?;
            report.outcome = SaveOutcome::Saved { manifest_sha256: sha, files: meta.files, bytes: meta.bytes, new_blobs, new_bytes };
        }
        if let Some(evicted) = self.try_evict(self.opts.max_bytes)? {
            report.evicted = evicted.removed.iter().map(|e| e.key.clone().unwrap_or_else(|| "(unkeyed)".into())).collect();
        }
        Ok(report)
    }

    /// The digest of the manifest at `path` when it parses and every blob it names is stored
    /// with the right size.
    fn healthy(&self, path: &std::path::Path) -> Option<String> {
        let (m, sha, _) = self.read_manifest(path).ok()?;
        let ok = m.files.iter().filter(|i| i.kind == Kind::File).all(|i| {
            let (Some(d), Some(size)) = (i.sha256.as_deref(), i.size) else { return false };
            self.blobs.stat(d).ok().flatten() == Some(size)
        });
        ok.then_some(sha)
    }

    /// Selects and stores the files; `None` when nothing was selected.
    fn collect(&self, req: &SaveRequest, skipped: &mut Vec<Skipped>) -> Result<Option<(Manifest, u64, u64)>, CacheError> {
        let limits = &self.opts.limits;
        let found = select(req.paths, req.roots, limits.max_files, skipped)?;
        if found.is_empty() {
            return Ok(None);
        }
        let mut items = Vec::with_capacity(found.len());
        let (mut total, mut new_blobs, mut new_bytes) = (0u64, 0u64, 0u64);
        let mut buf = Vec::new();
        let mut dirs = std::collections::BTreeMap::new();
        for ((kind, rel), what) in found {
            let item = |k: Kind| Item { root: kind.name(), path: Bytes(rel.clone()), kind: k, mode: None, size: None, sha256: None, mtime: None, target: None };
            match what {
                FoundKind::Dir { mode } => items.push(Item { mode: Some(mode), ..item(Kind::Dir) }),
                FoundKind::Symlink { target } => items.push(Item { target: Some(Bytes(target)), ..item(Kind::Symlink) }),
                FoundKind::File => {
                    let dir = kind.dir(req.roots).expect("select only returns allowed roots");
                    if !dirs.contains_key(&kind) {
                        let d = open_root(dir).map_err(|source| CacheError::Io { path: dir.to_path_buf(), source })?;
                        dirs.insert(kind.clone(), d);
                    }
                    let shown_path = shown(&kind, rel_path(&rel));
                    let skip = |reason: String| Skipped { path: shown_path.clone(), reason };
                    let mut file = match open_file(&dirs[&kind], rel_path(&rel)) {
                        Ok(f) => f,
                        Err(e) => {
                            skipped.push(skip(format!("cannot be read: {e}")));
                            continue;
                        }
                    };
                    let meta = file.metadata().map_err(|source| CacheError::Io { path: dir.join(rel_path(&rel)), source })?;
                    if meta.len() > limits.max_file_bytes {
                        skipped.push(skip(format!("{} bytes, larger than the per-file limit of {}", meta.len(), limits.max_file_bytes)));
                        continue;
                    }
                    let io_err = |source| CacheError::Io { path: dir.join(rel_path(&rel)), source };
                    let (digest, size, new) = if meta.len() <= SMALL {
                        buf.clear();
                        (&mut file).take(SMALL + 1).read_to_end(&mut buf).map_err(io_err)?;
                        let digest = sha256_hex(&buf);
                        let new = self.blobs.put_bytes(&digest, &buf).map_err(io_err)?;
                        (digest, buf.len() as u64, new)
                    } else {
                        let mut bounded = (&mut file).take(limits.max_file_bytes + 1);
                        self.blobs.put_reader(&mut bounded).map_err(io_err)?
                    };
                    if size > limits.max_file_bytes {
                        skipped.push(skip(format!("grew past the per-file limit of {} bytes while it was read", limits.max_file_bytes)));
                        continue;
                    }
                    total += size;
                    if total > limits.max_entry_bytes {
                        return Err(CacheError::TooBig { what: format!("more than {} bytes of files", limits.max_entry_bytes), help: "narrow cache.paths, or raise the limit".into() });
                    }
                    if new {
                        new_blobs += 1;
                        new_bytes += size;
                    }
                    let mtime = Some((meta.mtime(), meta.mtime_nsec().clamp(0, 999_999_999) as u32));
                    items.push(Item { mode: Some(meta.permissions().mode() & 0o7777), size: Some(size), sha256: Some(digest), mtime, ..item(Kind::File) });
                }
            }
        }
        if items.is_empty() {
            return Ok(None);
        }
        let manifest = Manifest {
            format: MANIFEST_FORMAT.into(),
            key: req.key.map(str::to_string),
            version: req.paths.version.clone(),
            paths: req.paths.canonical.clone(),
            created_ms: now_ms(),
            files: items,
        };
        Ok(Some((manifest, new_blobs, new_bytes)))
    }
}
