//! Concurrent savers, restorers and garbage collection on one store, from threads and from
//! two processes (this test binary re-run as a child).

mod common;

use std::fs;
use std::path::Path;
use std::process::Command;

use common::*;
use kiln_cache::{CachePaths, RestoreRequest, Roots, SaveRequest, Store, StoreOptions};

const ROUNDS: usize = 25;

/// One worker's loop: save a self-consistent tree under rotating keys (and unkeyed), restore
/// with fallbacks into fresh trees, and check every restore is one whole entry.
fn worker(store: &Store, base: &Path, name: &str, gc: bool) {
    let roots = fresh_roots(base, &format!("{name}-src"));
    let paths = CachePaths::new(&["d/**/*".to_string()], &roots).unwrap();
    for i in 0..ROUNDS {
        let token = format!("{name}-{i}-{}", "x".repeat(i * 37));
        write(&roots.src.join("d/a"), token.as_bytes(), 0o644);
        write(&roots.src.join("d/sub/b"), token.as_bytes(), 0o644);
        write(&roots.src.join("d/shared"), b"same in every entry", 0o644);
        let key = format!("k-{}", i % 4);
        store.save(&SaveRequest { paths: &paths, key: Some(&key), roots: &roots }).unwrap();
        store.save(&SaveRequest { paths: &paths, key: None, roots: &roots }).unwrap();
        let dest = fresh_roots(base, &format!("{name}-dest-{i}"));
        let fallback = vec!["k-".to_string()];
        let r = store.restore(&RestoreRequest { paths: &paths, key: Some("nope"), fallback_keys: &fallback, roots: &dest }).unwrap();
        assert!(r.rejected.is_empty(), "a concurrent writer or GC broke an entry: {r:?}");
        assert!(r.skipped.is_empty(), "{r:?}");
        // Eviction by another worker may have emptied the store: a miss is fine, a mix is not.
        if let Some(restored) = r.restored {
            assert_eq!(restored.files, 3);
            let a = fs::read(dest.src.join("d/a")).unwrap();
            assert_eq!(a, fs::read(dest.src.join("d/sub/b")).unwrap(), "files of two entries mixed");
        }
        let unkeyed = fresh_roots(base, &format!("{name}-u-{i}"));
        let r = store.restore(&RestoreRequest { paths: &paths, key: None, fallback_keys: &[], roots: &unkeyed }).unwrap();
        assert!(r.rejected.is_empty(), "{r:?}");
        if gc && i % 5 == 0 {
            store.gc().unwrap();
            store.prune(Some(1), None).unwrap();
        }
    }
}

#[test]
fn threads_share_one_store() {
    let env = Env::new();
    let base = env.dir.path().join("t");
    std::thread::scope(|s| {
        for t in 0..4 {
            let (store, base) = (&env.store, &base);
            s.spawn(move || worker(store, base, &format!("thread{t}"), t == 0));
        }
    });
    everything_restores(&env.store, &env.roots);
}

/// Run by [`two_processes_share_one_store`] in a child process; does nothing otherwise.
#[test]
fn child_worker() {
    let Ok(dir) = std::env::var("KILN_CACHE_TEST_CHILD") else { return };
    let store = Store::open(&Path::new(&dir).join("store"), StoreOptions::default()).unwrap();
    worker(&store, &Path::new(&dir).join("child"), "child", true);
}

#[test]
fn two_processes_share_one_store() {
    let env = Env::new();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "child_worker", "--nocapture", "--test-threads=1"])
        .env("KILN_CACHE_TEST_CHILD", env.dir.path())
        .spawn()
        .unwrap();
    // A second store handle in this process, as another kiln would open it.
    let store = Store::open(&env.store_dir(), StoreOptions::default()).unwrap();
    worker(&store, &env.dir.path().join("parent"), "parent", false);
    assert!(child.wait().unwrap().success(), "the child process failed");
    everything_restores(&store, &env.roots);
}

/// Every entry left in the store restores cleanly.
fn everything_restores(store: &Store, roots: &Roots) {
    let paths = CachePaths::new(&["d/**/*".to_string()], roots).unwrap();
    let entries = store.list().unwrap();
    assert!(!entries.is_empty());
    for (i, e) in entries.iter().enumerate() {
        let dest = fresh_roots(&roots.src.join(format!("../../final-{i}")), "x");
        let r = store.restore(&RestoreRequest { paths: &paths, key: e.key.as_deref(), fallback_keys: &[], roots: &dest }).unwrap();
        assert!(r.rejected.is_empty(), "{r:?}");
        assert_eq!(r.restored.unwrap().manifest_sha256, e.manifest_sha256);
    }
}
