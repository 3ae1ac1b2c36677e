//! `kiln cache ls | rm | prune` as library calls, size-limit eviction and blob garbage collection.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::time::Duration;

use crate::store::{Lock, Store, now_ms, read_dir_sorted};
use crate::{CacheError, manifest::Meta};

/// One entry as `kiln cache ls` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryInfo {
    /// The key; `None` for a version's unkeyed entry.
    pub key: Option<String>,
    /// The cache version (hash of the paths).
    pub version: String,
    /// Sum of the entry's file sizes (blobs shared with other entries counted in each).
    pub bytes: u64,
    /// Regular files in the entry.
    pub files: u64,
    /// Creation time, ms since the epoch.
    pub created_ms: u64,
    /// Last save or restore, ms since the epoch.
    pub last_used_ms: u64,
    /// Lowercase hex sha256 of the manifest.
    pub manifest_sha256: String,
}

impl From<&Meta> for EntryInfo {
    fn from(m: &Meta) -> Self {
        EntryInfo { key: m.key.clone(), version: m.version.clone(), bytes: m.bytes, files: m.files, created_ms: m.created_ms, last_used_ms: m.last_used_ms, manifest_sha256: m.manifest_sha256.clone() }
    }
}

/// Which entries [`Store::remove`] deletes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Which {
    /// Every entry with exactly this key (in every cache version).
    Key(String),
    /// The unkeyed entries (one per cache version).
    Unkeyed,
    /// Everything.
    All,
}

/// What [`Store::remove`], [`Store::prune`] or eviction removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Removal {
    /// The removed entries, least recently used first.
    pub removed: Vec<EntryInfo>,
    /// Blobs deleted because no remaining manifest references them.
    pub blobs_removed: u64,
    /// Bytes those blobs held.
    pub bytes_freed: u64,
}

impl Store {
    /// All entries, most recently used first.
    pub fn list(&self) -> Result<Vec<EntryInfo>, CacheError> {
        let _gc = self.lock("gc.lock", false, true)?;
        let mut v: Vec<EntryInfo> = self.entries().map_err(|source| CacheError::Store { path: self.root.clone(), source })?.iter().map(|(_, m)| m.into()).collect();
        v.sort_by(|a, b| b.last_used_ms.cmp(&a.last_used_ms).then_with(|| a.key.cmp(&b.key)));
        Ok(v)
    }

    /// Bytes the store holds: blobs plus manifests.
    pub fn disk_usage(&self) -> Result<u64, CacheError> {
        let _gc = self.lock("gc.lock", false, true)?;
        self.usage()
    }

    fn usage(&self) -> Result<u64, CacheError> {
        let err = |source| CacheError::Store { path: self.root.clone(), source };
        let blobs: u64 = self.blobs.list().map_err(err)?.iter().map(|(_, _, s)| s).sum();
        let manifests: u64 = self.entries().map_err(err)?.iter().filter_map(|(p, _)| std::fs::metadata(p).ok()).map(|m| m.len()).sum();
        Ok(blobs + manifests)
    }

    /// `kiln cache rm KEY | --all`: deletes entries, then the blobs nothing references.
    pub fn remove(&self, which: &Which) -> Result<Removal, CacheError> {
        let (_gc, _commit) = self.exclusive(true)?.expect("waited for the locks");
        let mut removal = Removal::default();
        for (path, meta) in self.sorted_entries()? {
            let hit = match which {
                Which::All => true,
                Which::Unkeyed => meta.key.is_none(),
                Which::Key(k) => meta.key.as_deref() == Some(k.as_str()),
            };
            if hit {
                self.remove_entry(&path);
                removal.removed.push((&meta).into());
            }
        }
        self.collect_garbage(&mut removal)?;
        Ok(removal)
    }

    /// `kiln cache prune [--older-than D] [--max-size N]`: deletes entries not used for
    /// `older_than`, then least recently used entries while the store is larger than
    /// `max_bytes`, then unreferenced blobs and leftover temp files.
    pub fn prune(&self, max_bytes: Option<u64>, older_than: Option<Duration>) -> Result<Removal, CacheError> {
        let (_gc, _commit) = self.exclusive(true)?.expect("waited for the locks");
        let mut removal = Removal::default();
        if let Some(age) = older_than {
            let cutoff = now_ms().saturating_sub(age.as_millis() as u64);
            for (path, meta) in self.sorted_entries()? {
                if meta.last_used_ms < cutoff {
                    self.remove_entry(&path);
                    removal.removed.push((&meta).into());
                }
            }
        }
        if let Some(max) = max_bytes {
            self.evict_locked(max, &mut removal)?;
        }
        self.collect_garbage(&mut removal)?;
        Ok(removal)
    }

    /// Garbage collection alone: blobs no manifest references, temp files.
    pub fn gc(&self) -> Result<Removal, CacheError> {
        self.prune(None, None)
    }

    /// Eviction after a save: only when no other build is using the store (never waits).
    pub(crate) fn try_evict(&self, max_bytes: u64) -> Result<Option<Removal>, CacheError> {
        let Some(_locks) = self.exclusive(false)? else { return Ok(None) };
        let mut removal = Removal::default();
        self.evict_locked(max_bytes, &mut removal)?;
        if removal.removed.is_empty() {
            return Ok(None);
        }
        self.collect_garbage(&mut removal)?;
        Ok(Some(removal))
    }

    fn exclusive(&self, wait: bool) -> Result<Option<(Lock, Lock)>, CacheError> {
        let Some(gc) = self.lock("gc.lock", true, wait)? else { return Ok(None) };
        let commit = self.lock("commit.lock", true, true)?.expect("waited");
        Ok(Some((gc, commit)))
    }

    fn sorted_entries(&self) -> Result<Vec<(PathBuf, Meta)>, CacheError> {
        let mut v = self.entries().map_err(|source| CacheError::Store { path: self.root.clone(), source })?;
        v.sort_by(|a, b| a.1.last_used_ms.cmp(&b.1.last_used_ms).then_with(|| a.0.cmp(&b.0)));
        Ok(v)
    }

    /// Removes least recently used entries until blobs + manifests fit in `max_bytes`.
    fn evict_locked(&self, max_bytes: u64, removal: &mut Removal) -> Result<(), CacheError> {
        let err = |source| CacheError::Store { path: self.root.clone(), source };
        let sizes: HashMap<String, u64> = self.blobs.list().map_err(err)?.into_iter().filter_map(|(d, _, s)| d.map(|d| (d, s))).collect();
        let mut entries = Vec::new();
        let mut refs: HashMap<String, u32> = HashMap::new();
        for (path, meta) in self.sorted_entries()? {
            let (blobs, msize) = match self.read_manifest(&path) {
                Ok((m, _, n)) => (m.blobs().map(str::to_string).collect::<HashSet<_>>(), n),
                Err(_) => (HashSet::new(), 0),
            };
            for b in &blobs {
                *refs.entry(b.clone()).or_default() += 1;
            }
            entries.push((path, meta, blobs, msize));
        }
        let mut total: u64 = refs.keys().filter_map(|d| sizes.get(d)).sum::<u64>() + entries.iter().map(|e| e.3).sum::<u64>();
        for (path, meta, blobs, msize) in entries {
            if total <= max_bytes {
                break;
            }
            self.remove_entry(&path);
            total = total.saturating_sub(msize);
            for b in blobs {
                let n = refs.get_mut(&b).expect("counted above");
                *n -= 1;
                if *n == 0 {
                    total = total.saturating_sub(sizes.get(&b).copied().unwrap_or(0));
                }
            }
            removal.removed.push((&meta).into());
        }
        Ok(())
    }

    /// Deletes blobs no manifest references, and temp files (the caller holds both locks).
    fn collect_garbage(&self, removal: &mut Removal) -> Result<(), CacheError> {
        let err = |source| CacheError::Store { path: self.root.clone(), source };
        let mut live = HashSet::new();
        for v in read_dir_sorted(&self.root.join("entries")).map_err(err)? {
            for f in read_dir_sorted(&v).map_err(err)? {
                if f.extension().is_none_or(|e| e != "json") {
                    continue;
                }
                match self.read_manifest(&f) {
                    Ok((m, _, _)) => live.extend(m.blobs().map(str::to_string)),
                    // An unreadable manifest is useless: drop it rather than keep its blobs.
                    Err(_) => self.remove_entry(&f),
                }
            }
        }
        for (digest, name, size) in self.blobs.list().map_err(err)? {
            match digest {
                Some(d) if live.contains(&d) => {}
                Some(d) => {
                    self.blobs.remove(&d).map_err(err)?;
                    removal.blobs_removed += 1;
                    removal.bytes_freed += size;
                }
                None => {
                    let stray = self.root.join(crate::blobs::CAS_DIR).join(name);
                    let _ = std::fs::remove_file(&stray).or_else(|_| std::fs::remove_dir_all(&stray));
                }
            }
        }
        for f in read_dir_sorted(&self.root.join("tmp")).map_err(err)? {
            let _ = std::fs::remove_file(&f).or_else(|_| std::fs::remove_dir_all(&f));
        }
        Ok(())
    }
}
