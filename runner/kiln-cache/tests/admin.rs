//! `ls`/`rm`/`prune`, least-recently-used eviction, garbage collection and crash repair.

mod common;

use std::fs;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::*;
use kiln_cache::{CachePaths, SaveOutcome, SaveRequest, Store, StoreOptions, Which};

fn keys(store: &Store) -> Vec<String> {
    let mut k: Vec<String> = store.list().unwrap().into_iter().map(|e| e.key.unwrap_or_default()).collect();
    k.sort();
    k
}

fn save_entry(env: &Env, paths: &CachePaths, key: &str, fill: u8) {
    write(&env.roots.src.join("d/blob"), &vec![fill; 100_000], 0o644);
    saved_sha(&env.save(paths, Some(key), &env.roots));
    std::thread::sleep(Duration::from_millis(5));
}

#[test]
fn least_recently_used_entries_are_evicted_first() {
    let env = Env::with(StoreOptions { max_bytes: 350_000, ..Default::default() });
    let paths = env.paths(&["d/**/*"]);
    save_entry(&env, &paths, "e1", 1);
    save_entry(&env, &paths, "e2", 2);
    save_entry(&env, &paths, "e3", 3);
    // Using e1 makes e2 the least recently used.
    env.restore(&paths, Some("e1"), &[], &env.next_build("use")).restored.unwrap();
    std::thread::sleep(Duration::from_millis(5));
    write(&env.roots.src.join("d/blob"), &vec![4u8; 100_000], 0o644);
    let r = env.save(&paths, Some("e4"), &env.roots);
    assert_eq!(r.evicted, ["e2"], "{r:?}");
    assert_eq!(keys(&env.store), ["e1", "e3", "e4"]);
    assert!(env.store.disk_usage().unwrap() <= 350_000);
    // Listing is most recently used first.
    let ls = env.store.list().unwrap();
    assert_eq!(ls[0].key.as_deref(), Some("e4"));
    assert_eq!((ls[0].files, ls[0].bytes, ls[0].version.as_str()), (1, 100_000, paths.version.as_str()));
}

#[test]
fn rm_and_prune() {
    let env = Env::new();
    let paths = env.paths(&["d/**/*"]);
    save_entry(&env, &paths, "a", 1);
    save_entry(&env, &paths, "b", 2);
    write(&env.roots.src.join("d/blob"), b"unkeyed", 0o644);
    env.save(&paths, None, &env.roots);
    let r = env.store.remove(&Which::Key("a".into())).unwrap();
    assert_eq!((r.removed.len(), r.blobs_removed, r.bytes_freed), (1, 1, 100_000));
    assert_eq!(keys(&env.store), ["", "b"]);
    let r = env.store.remove(&Which::Unkeyed).unwrap();
    assert_eq!(r.removed.len(), 1);
    // older-than keeps entries used recently.
    assert!(env.store.prune(None, Some(Duration::from_secs(3600))).unwrap().removed.is_empty());
    std::thread::sleep(Duration::from_millis(20));
    let r = env.store.prune(None, Some(Duration::from_millis(10))).unwrap();
    assert_eq!(r.removed.len(), 1);
    save_entry(&env, &paths, "c", 3);
    save_entry(&env, &paths, "d", 4);
    assert_eq!(env.store.prune(Some(150_000), None).unwrap().removed[0].key.as_deref(), Some("c"));
    env.store.remove(&Which::All).unwrap();
    assert!(env.store.list().unwrap().is_empty());
    assert_eq!(env.blob_count(), 0, "all blobs collected");
}

#[test]
fn crash_leftovers_are_repaired_on_open() {
    let env = Env::new();
    let paths = env.paths(&["d/**/*"]);
    save_entry(&env, &paths, "kept", 1);
    save_entry(&env, &paths, "no-meta", 2);
    let store = env.store_dir();
    // A save killed while writing a blob, or before its manifest: temp files and orphan blobs.
    fs::write(store.join("tmp/blob.999.0.tmp"), b"partial").unwrap();
    fs::write(store.join("tmp/write.abc.tmp"), b"{\"format\":").unwrap();
    let orphan = kiln_cache::sha256_hex(b"orphan");
    fs::create_dir_all(env.blob_path(&orphan).parent().unwrap()).unwrap();
    fs::write(env.blob_path(&orphan), b"orphan").unwrap();
    fs::write(store.join(kiln_cache::CAS_DIR).join("not-a-digest"), b"x").unwrap();
    // Killed between the manifest and its index record.
    fs::remove_file(env.manifest_path(&paths, Some("no-meta")).with_extension("meta")).unwrap();
    // An index record whose manifest is gone, and a half-written manifest.
    let vdir = store.join("entries").join(&paths.version);
    fs::write(vdir.join(format!("{}.meta", kiln_cache::sha256_hex(b"ghost"))), b"{}").unwrap();
    fs::write(vdir.join(format!("{}.json", kiln_cache::sha256_hex(b"half"))), b"{\"format\":\"kiln-ca").unwrap();

    let reopened = Store::open(&store, StoreOptions::default()).unwrap();
    let notes = reopened.repairs().join("\n");
    for expect in ["2 temp file", "rebuilt the index record", "whose manifest is gone", "corrupt manifest"] {
        assert!(notes.contains(expect), "missing '{expect}' in:\n{notes}");
    }
    assert_eq!(fs::read_dir(store.join("tmp")).unwrap().count(), 0);
    assert_eq!(keys(&reopened), ["kept", "no-meta"]);
    let b = env.next_build("after");
    assert!(env.restore(&paths, Some("zzz"), &["no-"], &b).restored.is_some(), "fallback lookup uses the rebuilt record");
    let gc = reopened.gc().unwrap();
    assert_eq!(gc.blobs_removed, 1, "the orphan blob");
    assert!(!store.join(kiln_cache::CAS_DIR).join("not-a-digest").exists());
    assert_eq!(env.blob_count(), 2);
}

#[test]
fn a_manifest_whose_blobs_are_gone_is_ignored_and_replaced() {
    let env = Env::new();
    let paths = env.paths(&["d/**/*"]);
    save_entry(&env, &paths, "k", 1);
    for b in walkdir::WalkDir::new(env.store_dir().join(kiln_cache::CAS_DIR)).into_iter().map(Result::unwrap).filter(|e| e.file_type().is_file()) {
        fs::remove_file(b.path()).unwrap();
    }
    // A keyed save does not count a broken entry as existing: it is replaced.
    write(&env.roots.src.join("d/blob"), b"new content", 0o644);
    assert!(matches!(env.save(&paths, Some("k"), &env.roots).outcome, SaveOutcome::Saved { .. }));
    let b = env.next_build("b");
    assert_eq!(env.restore(&paths, Some("k"), &[], &b).restored.unwrap().files, 1);
    assert_eq!(fs::read(b.src.join("d/blob")).unwrap(), b"new content");
}

/// Run by [`kill_9_during_a_save_leaves_a_usable_store`] in a child process: saves forever,
/// changing 200 files before each save, and counts completed saves in `done`.
#[test]
fn child_saver() {
    let Ok(dir) = std::env::var("KILN_CACHE_TEST_SAVER") else { return };
    let dir = Path::new(&dir);
    let store = Store::open(&dir.join("store"), StoreOptions::default()).unwrap();
    let roots = fresh_roots(dir, "big");
    let paths = CachePaths::new(&["m/**/*".to_string()], &roots).unwrap();
    for i in 0.. {
        for j in 0..200 {
            fs::write(roots.src.join(format!("m/p{}/f{j}", j % 40)), format!("round {i} file {j}")).unwrap();
        }
        fs::write(dir.join("saving"), i.to_string()).unwrap();
        store.save(&SaveRequest { paths: &paths, key: Some(&format!("k{i}")), roots: &roots }).unwrap();
    }
}

fn saving(dir: &Path) -> Option<u32> {
    fs::read_to_string(dir.join("saving")).ok().and_then(|s| s.parse().ok())
}

#[test]
fn kill_9_during_a_save_leaves_a_usable_store() {
    let env = Env::new();
    let roots = fresh_roots(env.dir.path(), "big");
    for i in 0..1500 {
        write(&roots.src.join(format!("m/p{}/f{i}", i % 40)), format!("file {i} {}", "y".repeat(i % 700)).as_bytes(), 0o644);
    }
    let paths = CachePaths::new(&["m/**/*".to_string()], &roots).unwrap();
    let mut interrupted = 0;
    // Kill a few milliseconds after a save started (the second save of each run: the first
    // writes 1,500 blobs, later ones 200).
    for delay in [0, 3, 8, 15, 30] {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "child_saver", "--nocapture", "--test-threads=1"])
            .env("KILN_CACHE_TEST_SAVER", env.dir.path())
            .spawn()
            .unwrap();
        let _ = fs::remove_file(env.dir.path().join("saving"));
        let t = std::time::Instant::now();
        while saving(env.dir.path()) != Some(1) && t.elapsed() < Duration::from_secs(120) {
            std::thread::sleep(Duration::from_millis(1));
        }
        std::thread::sleep(Duration::from_millis(delay));
        child.kill().unwrap();
        child.wait().unwrap();
        let store = Store::open(&env.store_dir(), StoreOptions::default()).unwrap();
        assert_eq!(fs::read_dir(env.store_dir().join("tmp")).unwrap().count(), 0, "temp files swept");
        for e in store.list().unwrap() {
            let dest = fresh_roots(env.dir.path(), &format!("r{delay}-{}", e.key.clone().unwrap()));
            let r = store.restore(&kiln_cache::RestoreRequest { paths: &paths, key: e.key.as_deref(), fallback_keys: &[], roots: &dest }).unwrap();
            assert!(r.rejected.is_empty(), "a committed entry must be whole after kill -9: {r:?}");
            assert_eq!(r.restored.unwrap().files, e.files);
        }
        // Leftovers prove the kill hit a save in progress (temp files or blobs without a manifest).
        if !store.repairs().is_empty() || store.gc().unwrap().blobs_removed > 0 {
            interrupted += 1;
        }
    }
    let store = Store::open(&env.store_dir(), StoreOptions::default()).unwrap();
    assert!(!store.list().unwrap().is_empty(), "a save completed");
    assert!(interrupted > 0, "no kill landed inside a save");
}
