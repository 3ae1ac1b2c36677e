//! Helpers shared by the integration tests: a store and a build's trees in temp dirs.
#![allow(dead_code)]

use std::fs;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};

use kiln_cache::{CachePaths, RestoreReport, RestoreRequest, Roots, SaveOutcome, SaveReport, SaveRequest, Store, StoreOptions};

/// A store plus one build's working copy and home.
pub struct Env {
    pub dir: tempfile::TempDir,
    pub store: Store,
    pub roots: Roots,
}

impl Env {
    pub fn new() -> Env {
        Env::with(StoreOptions::default())
    }

    pub fn with(opts: StoreOptions) -> Env {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("store"), opts).unwrap();
        let roots = fresh_roots(dir.path(), "build1");
        Env { dir, store, roots }
    }

    pub fn store_dir(&self) -> PathBuf {
        self.dir.path().join("store")
    }

    /// A new build's trees (empty working copy and home) next to the first.
    pub fn next_build(&self, name: &str) -> Roots {
        fresh_roots(self.dir.path(), name)
    }

    pub fn paths(&self, paths: &[&str]) -> CachePaths {
        CachePaths::new(&paths.iter().map(|s| s.to_string()).collect::<Vec<_>>(), &self.roots).unwrap()
    }

    pub fn save(&self, paths: &CachePaths, key: Option<&str>, roots: &Roots) -> SaveReport {
        self.store.save(&SaveRequest { paths, key, roots }).unwrap()
    }

    pub fn restore(&self, paths: &CachePaths, key: Option<&str>, fallback: &[&str], roots: &Roots) -> RestoreReport {
        let fallback_keys: Vec<String> = fallback.iter().map(|s| s.to_string()).collect();
        self.store.restore(&RestoreRequest { paths, key, fallback_keys: &fallback_keys, roots }).unwrap()
    }

    /// The manifest file of the entry saved under `key` (the only one of its version).
    pub fn manifest_path(&self, paths: &CachePaths, key: Option<&str>) -> PathBuf {
        let name = match key {
            Some(k) => kiln_cache::sha256_hex(k.as_bytes()),
            None => "unkeyed".into(),
        };
        self.store_dir().join("entries").join(&paths.version).join(format!("{name}.json"))
    }

    pub fn blob_path(&self, digest: &str) -> PathBuf {
        self.store_dir().join(kiln_cache::CAS_DIR).join(&digest[..2]).join(digest)
    }

    /// Number of blob files in the store.
    pub fn blob_count(&self) -> usize {
        walkdir::WalkDir::new(self.store_dir().join(kiln_cache::CAS_DIR)).into_iter().filter(|e| e.as_ref().unwrap().file_type().is_file()).count()
    }
}

pub fn fresh_roots(base: &Path, name: &str) -> Roots {
    let src = base.join(name).join("src");
    let home = base.join(name).join("home");
    fs::create_dir_all(&src).unwrap();
    fs::create_dir_all(&home).unwrap();
    Roots { src, home, allowed: Vec::new() }
}

pub fn write(path: &Path, content: &[u8], mode: u32) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, content).unwrap();
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
}

pub fn link(path: &Path, target: &str) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    symlink(target, path).unwrap();
}

pub fn mode(path: &Path) -> u32 {
    fs::symlink_metadata(path).unwrap().permissions().mode() & 0o7777
}

pub fn saved_sha(r: &SaveReport) -> String {
    match &r.outcome {
        SaveOutcome::Saved { manifest_sha256, .. } => manifest_sha256.clone(),
        other => panic!("expected a saved entry, got {other:?}"),
    }
}

/// Every path below `dir`, relative, sorted (to prove nothing was written).
pub fn tree(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = walkdir::WalkDir::new(dir).min_depth(1).into_iter().map(|e| e.unwrap().path().strip_prefix(dir).unwrap().display().to_string()).collect();
    v.sort();
    v
}
