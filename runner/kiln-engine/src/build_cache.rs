//! The buildspec's `cache:` in a build, over `kiln-cache` (which holds the semantics): restored
//! in DOWNLOAD_SOURCE once the working copy is there (CodeBuild logs its cache download in that
//! phase, before INSTALL), saved in UPLOAD_ARTIFACTS after a build that succeeded (or also after
//! a failed one with `kiln: cache: save-on-failure`), never with `--no-cache`.
//!
//! - `key`, `fallback-keys` and `paths` are expanded in the build's shell (`$VAR`, `$(cmd)`,
//!   e.g. `npm-$(codebuild-hash-files package-lock.json)`) once, when the cache is first used;
//!   the save uses the same key (CodeBuild does not say when it evaluates the key; evaluating
//!   it once keeps a restore and its save on one entry).
//! - Paths map to the working copy, the build's home (`~/…`, `/root/…`) and the directories the
//!   operator let the build write (`--writable`); the cache version is scoped to the project
//!   (CodeBuild keeps projects' caches apart) or to `kiln: cache: namespace:` (its
//!   `cacheNamespace`).
//! - What was restored (key, how it matched, the manifest's sha256) goes into the record and,
//!   through it, into the provenance's `resolvedDependencies`; refused (corrupt or tampered)
//!   entries are warnings and never restored.
//! - The store is hidden from the build's commands (`Policy::hidden`).

use std::path::{Path, PathBuf};

use kiln_cache::{Action, CachePaths, RestoreRequest, Roots, SaveOutcome, SaveRequest, Store, StoreOptions};
use serde::Serialize;

/// What the record says about the cache.
#[derive(Clone, Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CacheRecord {
    /// The store used.
    pub store: String,
    /// `key` as expanded (absent: the version's one updatable entry).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// The cache version (a hash of the paths and the namespace).
    pub version: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub restored: Option<CacheRestored>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub saved: Option<CacheSaved>,
    /// Entries found but refused, and paths or files left out, with why.
    pub warnings: Vec<String>,
}

/// The entry a build restored.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CacheRestored {
    pub key: Option<String>,
    /// `exact`, `fallback:<prefix>` or `unkeyed`.
    pub matched: String,
    pub manifest_sha256: String,
    pub files: u64,
    pub bytes: u64,
}

/// What a build saved.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CacheSaved {
    /// `saved`, `exists` (a keyed entry is written once, as in CodeBuild) or `empty`.
    pub outcome: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub manifest_sha256: Option<String>,
    pub files: u64,
    pub bytes: u64,
    pub new_bytes: u64,
}

/// A build's cache, between its restore and its save.
pub struct BuildCache {
    store_dir: PathBuf,
    action: Action,
    namespace: String,
    /// Expanded `key`, `fallback-keys` and `paths`, once evaluated.
    expanded: Option<(Option<String>, Vec<String>, Vec<String>)>,
    pub record: CacheRecord,
}

/// The store location: `--cache-dir`, else `~/.cache/kiln/build-cache` of kiln's user.
pub fn store_dir(opt: Option<&Path>) -> Option<PathBuf> {
    opt.map(Path::to_path_buf).or_else(|| std::env::var_os("HOME").map(|h| kiln_cache::default_root(Path::new(&h))))
}

impl BuildCache {
    /// The cache of a build, or `None` when the buildspec has none or `--no-cache` is given.
    pub fn new(spec: &kiln_spec::BuildSpec, opts: &crate::BuildOptions, project: &str) -> Option<BuildCache> {
        let cache = spec.cache.as_ref().filter(|c| !c.paths.is_empty())?;
        if opts.no_cache {
            return None;
        }
        let store_dir = store_dir(opts.cache_dir.as_deref())?;
        let action = Action::parse(cache.action.as_ref().map(|a| a.value.as_str())).unwrap_or_default();
        let namespace = spec.kiln.cache.namespace.as_ref().map(|n| n.value.clone()).unwrap_or_else(|| project.to_string());
        Some(BuildCache { store_dir: store_dir.clone(), action, namespace, expanded: None, record: CacheRecord { store: store_dir.display().to_string(), ..Default::default() } })
    }

    /// Where the store is (hidden from the build).
    pub fn store_dir(&self) -> &Path {
        &self.store_dir
    }

    /// Whether this build restores / saves.
    pub fn restores(&self) -> bool {
        self.action.restores()
    }

    pub fn saves(&self) -> bool {
        self.action.saves()
    }

    /// The words to expand in the build's shell: key, fallback keys, paths.
    pub fn words(spec: &kiln_spec::Cache) -> Vec<String> {
        let mut w = vec![spec.key.as_ref().map(|k| k.value.clone()).unwrap_or_default()];
        w.extend(spec.fallback_keys.iter().map(|k| k.value.clone()));
        w.extend(spec.paths.iter().map(|p| p.value.clone()));
        w
    }

    /// Keep the expanded words (see [`BuildCache::words`]).
    pub fn set_expanded(&mut self, spec: &kiln_spec::Cache, words: Vec<String>) {
        let key = spec.key.as_ref().map(|_| words[0].clone());
        let nf = spec.fallback_keys.len();
        let fallback = words[1..1 + nf].to_vec();
        let paths = words[1 + nf..].to_vec();
        self.record.key = key.clone();
        self.expanded = Some((key, fallback, paths));
    }

    pub fn is_expanded(&self) -> bool {
        self.expanded.is_some()
    }

    fn paths(&self, roots: &Roots) -> Result<CachePaths, String> {
        let (_, _, paths) = self.expanded.as_ref().ok_or("the cache settings were not expanded")?;
        let mapped = CachePaths::new(paths, roots).map_err(|e| e.to_string())?.with_namespace(&self.namespace);
        Ok(mapped)
    }

    fn open(&self) -> Result<Store, String> {
        Store::open(&self.store_dir, StoreOptions::default()).map_err(|e| e.to_string())
    }

    /// Restore the newest matching entry into the build's trees. Returns what to log.
    pub fn restore(&mut self, roots: &Roots) -> Vec<String> {
        let mut log = Vec::new();
        let result = (|| {
            let paths = self.paths(roots)?;
            self.record.version = paths.version.clone();
            self.record.warnings.extend(paths.skipped.iter().map(|s| format!("cache path {} left out: {}", s.path, s.reason)));
            let store = self.open()?;
            let (key, fallback, _) = self.expanded.as_ref().ok_or("not expanded")?;
            store.restore(&RestoreRequest { paths: &paths, key: key.as_deref(), fallback_keys: fallback, roots }).map_err(|e| e.to_string())
        })();
        match result {
            Ok(report) => {
                for r in &report.rejected {
                    let w = format!("cache entry {} refused and not restored: {}{}", r.key.as_deref().unwrap_or("(unkeyed)"), r.reason, if r.removed { " (removed from the store)" } else { "" });
                    self.record.warnings.push(w);
                }
                match report.restored {
                    Some(r) => {
                        let matched = match &r.matched {
                            kiln_cache::Match::Exact => "exact".to_string(),
                            kiln_cache::Match::Fallback { prefix, .. } => format!("fallback:{prefix}"),
                            kiln_cache::Match::Unkeyed => "unkeyed".to_string(),
                        };
                        log.push(format!("cache restored: {} ({matched}), {} files, {} bytes, manifest sha256:{}", r.key.as_deref().unwrap_or("unkeyed entry"), r.files, r.bytes, r.manifest_sha256));
                        self.record.restored = Some(CacheRestored { key: r.key, matched, manifest_sha256: r.manifest_sha256, files: r.files, bytes: r.bytes });
                    }
                    None => log.push(format!("cache miss: no entry for {}", self.record.key.as_deref().unwrap_or("the unkeyed cache"))),
                }
            }
            Err(e) => self.record.warnings.push(format!("cache not restored: {e}")),
        }
        log.extend(self.record.warnings.iter().map(|w| format!("warning: {w}")));
        log
    }

    /// Save the build's cache paths. Returns what to log.
    pub fn save(&mut self, roots: &Roots) -> Vec<String> {
        let before = self.record.warnings.len();
        let result = (|| {
            let paths = self.paths(roots)?;
            self.record.version = paths.version.clone();
            let store = self.open()?;
            let key = self.expanded.as_ref().and_then(|(k, _, _)| k.clone());
            store.save(&SaveRequest { paths: &paths, key: key.as_deref(), roots }).map_err(|e| e.to_string())
        })();
        let mut log = Vec::new();
        match result {
            Ok(report) => {
                self.record.warnings.extend(report.skipped.iter().map(|s| format!("not cached: {}: {}", s.path, s.reason)));
                let saved = match report.outcome {
                    SaveOutcome::Saved { manifest_sha256, files, bytes, new_bytes, .. } => {
                        log.push(format!("cache saved: {} ({files} files, {bytes} bytes, {new_bytes} new), manifest sha256:{manifest_sha256}", report.key.as_deref().unwrap_or("unkeyed entry")));
                        CacheSaved { outcome: "saved".into(), manifest_sha256: Some(manifest_sha256), files, bytes, new_bytes }
                    }
                    SaveOutcome::AlreadyExists { manifest_sha256 } => {
                        log.push(format!("cache not saved: the entry {} exists, and a keyed entry is written once (as in CodeBuild)", report.key.as_deref().unwrap_or("unkeyed")));
                        CacheSaved { outcome: "exists".into(), manifest_sha256: Some(manifest_sha256), files: 0, bytes: 0, new_bytes: 0 }
                    }
                    SaveOutcome::Empty => {
                        log.push("cache not saved: the cache paths selected no file".into());
                        CacheSaved { outcome: "empty".into(), manifest_sha256: None, files: 0, bytes: 0, new_bytes: 0 }
                    }
                };
                if !report.evicted.is_empty() {
                    log.push(format!("cache: {} least recently used entr(y/ies) evicted to keep the store under its size limit", report.evicted.len()));
                }
                self.record.saved = Some(saved);
            }
            Err(e) => self.record.warnings.push(format!("cache not saved: {e}")),
        }
        log.extend(self.record.warnings[before..].iter().map(|w| format!("warning: {w}")));
        log
    }
}
