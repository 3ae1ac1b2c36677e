//! Restoring: finding the entry (`key`, then `fallback-keys` as prefixes) and checking it.

use std::path::PathBuf;

use crate::manifest::Meta;
use crate::restore::apply;
use crate::spec::{CachePaths, MAX_FALLBACK_KEYS, Roots, validate_key};
use crate::store::{Store, entry_name, now_ms, read_dir_sorted};
use crate::{CacheError, Skipped};

/// What to restore.
#[derive(Debug, Clone, Copy)]
pub struct RestoreRequest<'a> {
    /// `cache.paths`, mapped: the version to look in, and what an entry may contain.
    pub paths: &'a CachePaths,
    /// `cache.key`, expanded: matched exactly. `None`: the version's unkeyed entry.
    pub key: Option<&'a str>,
    /// `cache.fallback-keys`, expanded: each a prefix, tried in order after `key` misses
    /// (newest matching entry first); ignored without `key`, as in CodeBuild. At most 5.
    pub fallback_keys: &'a [String],
    /// The build's trees to restore into.
    pub roots: &'a Roots,
}

/// How the restored entry was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Match {
    /// `key` matched exactly.
    Exact,
    /// The fallback key (a prefix) at this index of `fallback_keys` matched.
    Fallback {
        /// Index in `fallback_keys`.
        index: usize,
        /// The prefix.
        prefix: String,
    },
    /// No key: the version's one updatable entry.
    Unkeyed,
}

/// The entry that was restored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Restored {
    /// The entry's key (`None` for the unkeyed entry).
    pub key: Option<String>,
    /// How it was found.
    pub matched: Match,
    /// Lowercase hex sha256 of its manifest: what a provenance lists in `resolvedDependencies`.
    pub manifest_sha256: String,
    /// The cache version.
    pub version: String,
    /// Regular files written.
    pub files: u64,
    /// Directories made or kept.
    pub dirs: u64,
    /// Symlinks made.
    pub symlinks: u64,
    /// Bytes of file content written.
    pub bytes: u64,
}

/// An entry that was found but not restored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejected {
    /// Its key.
    pub key: Option<String>,
    /// Its manifest digest when it could be read.
    pub manifest_sha256: Option<String>,
    /// Why it was refused (corrupt or tampered entry, unsafe destination).
    pub reason: String,
    /// Whether the entry was removed from the store (corrupt store content).
    pub removed: bool,
}

/// The result of [`Store::restore`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestoreReport {
    /// The restored entry; `None` is a cache miss.
    pub restored: Option<Restored>,
    /// Entries found but refused, in the order they were tried. Nothing of them was written.
    pub rejected: Vec<Rejected>,
    /// Paths that could not be used, and items of the restored entry that could not be
    /// written after the entry was checked (a race with another writer), with why.
    pub skipped: Vec<Skipped>,
}

impl Store {
    /// Restores the best entry for `req` into `req.roots`. Call it only when the buildspec's
    /// `action` restores (see [`crate::Action`]).
    ///
    /// Candidates: the exact `key`, then for each fallback key in order the entries whose key
    /// starts with it, newest first (all within the paths' cache version); without a key, the
    /// version's unkeyed entry. A candidate whose manifest is corrupt, is for other paths,
    /// names a path outside the cache paths or with `..`/absolute components, holds a symlink
    /// out of its root, or references a blob that is missing or whose digest is wrong is
    /// refused whole and removed from the store; one whose destination holds a symlink or a
    /// conflicting type at a path it writes is refused whole (the build's tree is never
    /// written through). Either way the next candidate is tried.
    pub fn restore(&self, req: &RestoreRequest) -> Result<RestoreReport, CacheError> {
        if let Some(k) = req.key {
            validate_key(k)?;
        }
        if req.fallback_keys.len() > MAX_FALLBACK_KEYS {
            return Err(CacheError::TooManyFallbackKeys { count: req.fallback_keys.len() });
        }
        for k in req.fallback_keys {
            validate_key(k)?;
        }
        self.check_outside(req.roots)?;
        let mut report = RestoreReport { restored: None, rejected: Vec::new(), skipped: req.paths.skipped.clone() };
        let _gc = self.lock("gc.lock", false, true)?;
        for (path, matched, expect) in self.candidates(req)? {
            let (manifest, sha, _) = match self.read_manifest(&path) {
                Ok(m) => m,
                Err(reason) => {
                    let removed = self.drop_entry(&path, None);
                    report.rejected.push(Rejected { key: expect.key, manifest_sha256: None, reason, removed });
                    continue;
                }
            };
            let key_ok = match &matched {
                Match::Exact => manifest.key.as_deref() == req.key,
                Match::Fallback { prefix, .. } => manifest.key.as_deref().is_some_and(|k| k.starts_with(prefix.as_str())),
                Match::Unkeyed => manifest.key.is_none(),
            };
            let limits = &self.opts.limits;
            let checked = if key_ok { manifest.check(req.paths, limits.max_files, limits.max_entry_bytes) } else { Err("the manifest's key does not match its place in the store".into()) };
            if let Err(reason) = checked {
                let removed = self.drop_entry(&path, None);
                report.rejected.push(Rejected { key: manifest.key, manifest_sha256: Some(sha), reason: format!("tampered or corrupt entry: {reason}"), removed });
                continue;
            }
            match apply(&manifest, req.roots, self.blobs.as_ref()) {
                Ok(stats) => {
                    self.touch(&path, &sha);
                    report.skipped.extend(stats.failed);
                    report.restored = Some(Restored { key: manifest.key, matched, manifest_sha256: sha, version: manifest.version, files: stats.files, dirs: stats.dirs, symlinks: stats.symlinks, bytes: stats.bytes });
                    return Ok(report);
                }
                Err(refusal) => {
                    let removed = refusal.corrupt && self.drop_entry(&path, refusal.bad_blob.as_deref());
                    report.rejected.push(Rejected { key: manifest.key, manifest_sha256: Some(sha), reason: refusal.reason, removed });
                }
            }
        }
        Ok(report)
    }

    /// Manifests to try, in order, with how each matched and its index record.
    fn candidates(&self, req: &RestoreRequest) -> Result<Vec<(PathBuf, Match, Meta)>, CacheError> {
        let dir = self.version_dir(&req.paths.version);
        let placeholder = |key: Option<&str>| Meta { format: String::new(), key: key.map(str::to_string), version: req.paths.version.clone(), manifest_sha256: String::new(), created_ms: 0, last_used_ms: 0, files: 0, bytes: 0 };
        let Some(key) = req.key else {
            let path = dir.join("unkeyed.json");
            return Ok(if path.exists() { vec![(path, Match::Unkeyed, placeholder(None))] } else { Vec::new() });
        };
        let mut out = Vec::new();
        let exact = dir.join(format!("{}.json", entry_name(Some(key))));
        if exact.exists() {
            out.push((exact.clone(), Match::Exact, placeholder(Some(key))));
        }
        let mut metas = Vec::new();
        for f in read_dir_sorted(&dir).map_err(|source| CacheError::Store { path: dir.clone(), source })? {
            if f.extension().is_some_and(|e| e == "meta")
                && let Some(m) = self.read_meta(&f)
                && m.key.is_some()
            {
                metas.push((f.with_extension("json"), m));
            }
        }
        metas.sort_by(|a, b| b.1.created_ms.cmp(&a.1.created_ms).then_with(|| a.0.cmp(&b.0)));
        for (index, prefix) in req.fallback_keys.iter().enumerate() {
            for (path, m) in &metas {
                let hit = m.key.as_deref().is_some_and(|k| k.starts_with(prefix.as_str()));
                if hit && !out.iter().any(|(p, _, _)| p == path) {
                    out.push((path.clone(), Match::Fallback { index, prefix: prefix.clone() }, m.clone()));
                }
            }
        }
        Ok(out)
    }

    /// Records a use of the entry (for least-recently-used eviction).
    fn touch(&self, manifest: &std::path::Path, sha: &str) {
        let Ok(Some(_commit)) = self.lock("commit.lock", true, true) else { return };
        let meta_path = manifest.with_extension("meta");
        if let Some(mut meta) = self.read_meta(&meta_path).filter(|m| m.manifest_sha256 == sha) {
            meta.last_used_ms = now_ms().max(meta.last_used_ms);
            if let Ok(bytes) = serde_json::to_vec(&meta) {
                let _ = self.write_atomic(&meta_path, &bytes, false);
            }
        }
    }

    /// Removes a corrupt entry (and a blob whose content does not match its name) so a later
    /// save can replace it. Returns whether it was removed.
    fn drop_entry(&self, manifest: &std::path::Path, bad_blob: Option<&str>) -> bool {
        let Ok(Some(_commit)) = self.lock("commit.lock", true, true) else { return false };
        if let Some(b) = bad_blob {
            let _ = self.blobs.remove(b);
        }
        self.remove_entry(manifest);
        !manifest.exists()
    }
}
