//! Save/restore round trips and CodeBuild's key, fallback-key and version semantics.

mod common;

use std::ffi::OsStr;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::time::Duration;

use common::*;
use kiln_cache::{CachePaths, Match, SaveOutcome, glob_search, hash_files};

#[test]
fn round_trip_keeps_content_modes_links_dirs_and_mtimes() {
    let env = Env::new();
    let src = &env.roots.src;
    write(&src.join("node_modules/a/index.js"), b"module.exports = 1\n", 0o644);
    write(&src.join("node_modules/a/bin/cli"), b"#!/bin/sh\necho hi\n", 0o755);
    write(&src.join("node_modules/b/big.bin"), &vec![7u8; 3 << 20], 0o600);
    link(&src.join("node_modules/.bin/cli"), "../a/bin/cli");
    fs::create_dir_all(src.join("node_modules/empty")).unwrap();
    fs::set_permissions(src.join("node_modules/a"), std::os::unix::fs::PermissionsExt::from_mode(0o750)).unwrap();
    write(&src.join("not-cached.txt"), b"x", 0o644);
    write(&env.roots.home.join(".npm/_cacache/index"), b"idx", 0o644);
    let old = fs::File::options().write(true).open(src.join("node_modules/a/index.js")).unwrap();
    old.set_modified(std::time::UNIX_EPOCH + Duration::from_secs(1_600_000_000)).unwrap();
    drop(old);

    let paths = env.paths(&["node_modules/**/*", "~/.npm/**/*"]);
    let saved = env.save(&paths, Some("npm-1"), &env.roots);
    let sha = saved_sha(&saved);
    assert!(matches!(saved.outcome, SaveOutcome::Saved { files: 4, new_blobs: 4, .. }), "{saved:?}");

    let b2 = env.next_build("build2");
    let r = env.restore(&paths, Some("npm-1"), &[], &b2);
    let restored = r.restored.clone().expect("hit");
    assert_eq!((restored.matched, restored.manifest_sha256.as_str(), restored.files, restored.symlinks), (Match::Exact, sha.as_str(), 4, 1));
    assert!(r.rejected.is_empty() && r.skipped.is_empty(), "{r:?}");
    let s2 = &b2.src;
    assert_eq!(fs::read(s2.join("node_modules/a/index.js")).unwrap(), b"module.exports = 1\n");
    assert_eq!(fs::read(s2.join("node_modules/b/big.bin")).unwrap().len(), 3 << 20);
    assert_eq!((mode(&s2.join("node_modules/a/bin/cli")), mode(&s2.join("node_modules/b/big.bin")), mode(&s2.join("node_modules/a"))), (0o755, 0o600, 0o750));
    assert_eq!(fs::read_link(s2.join("node_modules/.bin/cli")).unwrap().to_str(), Some("../a/bin/cli"));
    assert!(s2.join("node_modules/empty").is_dir());
    assert!(!s2.join("not-cached.txt").exists());
    assert_eq!(fs::read(b2.home.join(".npm/_cacache/index")).unwrap(), b"idx");
    let mtime = fs::metadata(s2.join("node_modules/a/index.js")).unwrap().modified().unwrap();
    assert_eq!(mtime, std::time::UNIX_EPOCH + Duration::from_secs(1_600_000_000));
    assert!(tree(s2).iter().all(|p| !p.contains(".kiln-cache")), "staging removed: {:?}", tree(s2));

    // A second save of identical content writes no new blob (dedup) for another key.
    let again = env.save(&paths, Some("npm-2"), &env.roots);
    assert!(matches!(again.outcome, SaveOutcome::Saved { new_blobs: 0, .. }), "{again:?}");
}

#[test]
fn links_out_of_the_root_and_special_files_are_skipped() {
    let env = Env::new();
    let src = &env.roots.src;
    write(&src.join("c/ok"), b"ok", 0o644);
    link(&src.join("c/etc"), "/etc");
    link(&src.join("c/up"), "../../outside");
    link(&src.join("c/abs-inside"), src.join("c/ok").to_str().unwrap());
    rustix::fs::mknodat(rustix::fs::CWD, src.join("c/fifo"), rustix::fs::FileType::Fifo, rustix::fs::Mode::from_raw_mode(0o644), 0).unwrap();
    let paths = env.paths(&["c/**/*", "/etc/**/*"]);
    let saved = env.save(&paths, None, &env.roots);
    let reasons: Vec<String> = saved.skipped.iter().map(|s| format!("{} {}", s.path, s.reason)).collect();
    assert!(reasons.iter().any(|r| r.contains("c/etc") && r.contains("outside")), "{reasons:?}");
    assert!(reasons.iter().any(|r| r.contains("c/up") && r.contains("outside")), "{reasons:?}");
    assert!(reasons.iter().any(|r| r.contains("c/fifo") && r.contains("FIFO")), "{reasons:?}");
    assert!(reasons.iter().any(|r| r.starts_with("/etc/**/*") && r.contains("allowed")), "{reasons:?}");
    let b2 = env.next_build("b2");
    let r = env.restore(&paths, None, &[], &b2);
    assert_eq!(r.restored.unwrap().symlinks, 1);
    assert_eq!(fs::read_link(b2.src.join("c/abs-inside")).unwrap().to_str(), Some("../c/ok"), "absolute link inside made relative");
    assert_eq!(tree(&b2.src), ["c", "c/abs-inside", "c/ok"]);
}

#[test]
fn a_symlinked_literal_prefix_is_not_followed() {
    let env = Env::new();
    let outside = env.dir.path().join("outside");
    write(&outside.join("secret"), b"s", 0o644);
    link(&env.roots.src.join("node_modules"), outside.to_str().unwrap());
    let paths = env.paths(&["node_modules/**/*"]);
    let saved = env.save(&paths, Some("k"), &env.roots);
    assert_eq!(saved.outcome, SaveOutcome::Empty);
    assert!(saved.skipped.iter().any(|s| s.reason.contains("symlink")), "{saved:?}");
}

#[test]
fn keys_fallbacks_and_versions() {
    let env = Env::new();
    let paths = env.paths(&["deps/**/*"]);
    for (key, body) in [("npm-aaa", "A"), ("npm-bbb", "B"), ("other-ccc", "C")] {
        write(&env.roots.src.join("deps/f"), body.as_bytes(), 0o644);
        env.save(&paths, Some(key), &env.roots);
        std::thread::sleep(Duration::from_millis(5));
    }
    let get = |key: &str, fb: &[&str], name: &str| {
        let b = env.next_build(name);
        let r = env.restore(&paths, Some(key), fb, &b);
        r.restored.map(|x| (x.key.unwrap(), x.matched, fs::read_to_string(b.src.join("deps/f")).unwrap()))
    };
    assert_eq!(get("npm-aaa", &["npm-"], "e1").unwrap().2, "A", "exact match first");
    let (k, m, body) = get("npm-zzz", &["nope-", "npm-"], "e2").unwrap();
    assert_eq!((k.as_str(), body.as_str()), ("npm-bbb", "B"), "newest entry matching the prefix wins");
    assert_eq!(m, Match::Fallback { index: 1, prefix: "npm-".into() });
    assert_eq!(get("npm", &[], "e3"), None, "the primary key is exact, not a prefix");
    assert_eq!(get("x", &["other"], "e4").unwrap().2, "C");
    // Without a key there is no fallback and no keyed entry matches.
    let b = env.next_build("e5");
    assert!(env.restore(&paths, None, &[], &b).restored.is_none());
    // Same key, other paths: another version, a miss.
    let other = env.paths(&["tmp/deps/**/*"]);
    assert_ne!(other.version, paths.version);
    let b = env.next_build("e6");
    assert!(env.restore(&other, Some("npm-aaa"), &["npm-"], &b).restored.is_none());
    // More than five fallback keys is an error.
    let six: Vec<String> = (0..6).map(|i| format!("k{i}")).collect();
    let err = env.store.restore(&kiln_cache::RestoreRequest { paths: &paths, key: Some("k"), fallback_keys: &six, roots: &env.roots }).unwrap_err();
    assert!(err.to_string().contains("at most 5"), "{err}");
}

#[test]
fn keyed_entries_are_write_once_and_unkeyed_is_updated() {
    let env = Env::new();
    let paths = env.paths(&["d/**/*"]);
    write(&env.roots.src.join("d/f"), b"one", 0o644);
    let first = saved_sha(&env.save(&paths, Some("k"), &env.roots));
    saved_sha(&env.save(&paths, None, &env.roots));
    write(&env.roots.src.join("d/f"), b"two", 0o644);
    let second = env.save(&paths, Some("k"), &env.roots);
    assert_eq!(second.outcome, SaveOutcome::AlreadyExists { manifest_sha256: first.clone() });
    env.save(&paths, None, &env.roots);
    let b = env.next_build("b");
    assert_eq!(env.restore(&paths, Some("k"), &[], &b).restored.unwrap().manifest_sha256, first);
    assert_eq!(fs::read(b.src.join("d/f")).unwrap(), b"one");
    let b = env.next_build("c");
    env.restore(&paths, None, &[], &b).restored.unwrap();
    assert_eq!(fs::read(b.src.join("d/f")).unwrap(), b"two", "the unkeyed entry was updated");
    assert_eq!(env.store.list().unwrap().len(), 2);
    // Nothing selected: no entry, the unkeyed one kept.
    let empty = env.paths(&["nothing/**/*"]);
    assert_eq!(env.save(&empty, None, &env.roots).outcome, SaveOutcome::Empty);
}

#[test]
fn restoring_replaces_files_the_source_already_has() {
    let env = Env::new();
    let paths = env.paths(&["d/**/*"]);
    write(&env.roots.src.join("d/f"), b"cached", 0o644);
    env.save(&paths, Some("k"), &env.roots);
    let b = env.next_build("b");
    write(&b.src.join("d/f"), b"from source", 0o644);
    env.restore(&paths, Some("k"), &[], &b).restored.unwrap();
    assert_eq!(fs::read(b.src.join("d/f")).unwrap(), b"cached");
}

#[test]
fn hostile_names_round_trip() {
    let env = Env::new();
    let src = &env.roots.src;
    let weird = OsStr::from_bytes(b"bad\xffname");
    write(&src.join("h/new\nline"), b"n", 0o644);
    write(&src.join("h").join(weird), b"w", 0o644);
    write(&src.join("h/sp ace/\"q\"\\"), b"q", 0o644);
    write(&src.join("h/\u{202e}rtl"), b"r", 0o644);
    let paths = env.paths(&["h/**/*"]);
    env.save(&paths, Some("weird"), &env.roots);
    let manifest = fs::read_to_string(env.manifest_path(&paths, Some("weird"))).unwrap();
    assert!(manifest.contains(r#"{"hex":"682f626164ff6e616d65"}"#), "non-UTF-8 path stored as hex");
    let b = env.next_build("b");
    let r = env.restore(&paths, Some("weird"), &[], &b);
    assert_eq!(r.restored.unwrap().files, 4);
    assert_eq!(fs::read(b.src.join("h/new\nline")).unwrap(), b"n");
    assert_eq!(fs::read(b.src.join("h").join(weird)).unwrap(), b"w");
    assert_eq!(fs::read(b.src.join("h/sp ace/\"q\"\\")).unwrap(), b"q");
}

#[test]
fn absolute_roots_only_when_allowed() {
    let env = Env::new();
    let allowed = env.dir.path().join("opt-cache");
    write(&allowed.join("x/f"), b"f", 0o644);
    let mut roots = env.roots.clone();
    roots.allowed.push(allowed.clone());
    let raw = vec![format!("{}/x/**/*", allowed.display())];
    let paths = CachePaths::new(&raw, &roots).unwrap();
    assert!(paths.skipped.is_empty());
    env.save(&paths, Some("abs"), &roots);
    fs::remove_dir_all(allowed.join("x")).unwrap();
    // A build that does not allow the root cannot restore into it.
    let r = env.restore(&paths, Some("abs"), &[], &env.roots);
    assert!(r.restored.is_none() && r.rejected[0].reason.contains("does not allow"), "{r:?}");
    assert!(!r.rejected[0].removed);
    let r = env.restore(&paths, Some("abs"), &[], &roots);
    assert_eq!(r.restored.unwrap().files, 1);
    assert_eq!(fs::read(allowed.join("x/f")).unwrap(), b"f");
}

#[test]
fn glob_search_and_hash_files() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(&root.join("package-lock.json"), b"{}", 0o644);
    write(&root.join("a/__tests__/x.js"), b"x", 0o644);
    write(&root.join("a/b/__tests__/y.js"), b"y", 0o644);
    write(&root.join("a/__tests__/z.txt"), b"z", 0o644);
    link(&root.join("a/__tests__/l.js"), "x.js");
    link(&root.join("a/__tests__/out.js"), "/etc/hostname");
    fs::create_dir_all(root.join("a/__tests__/dir.js")).unwrap();
    let g = |p: &[&str]| glob_search(root, &p.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap();
    let found = g(&["**/__tests__/*.js"]);
    let names: Vec<String> = found.files.iter().map(|p| p.display().to_string()).collect();
    assert_eq!(names, ["a/__tests__/l.js", "a/__tests__/x.js", "a/b/__tests__/y.js"]);
    assert!(found.skipped.iter().any(|s| s.path.contains("out.js")), "{found:?}");
    assert!(g(&["*.js"]).files.is_empty(), "* does not cross /");
    assert!(glob_search(root, &["../x".into()]).is_err());

    let h = |p: &[&str]| hash_files(root, &p.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap();
    let lock = h(&["package-lock.json"]).unwrap();
    assert_eq!(lock.len(), 64);
    assert_eq!(h(&["package-lock.json", "package-lock.json"]), Some(lock.clone()));
    assert_eq!(h(&["nothing"]), None);
    assert_eq!(h(&["**/*.js", "a/**/*"]), h(&["a/**/*", "**/*.js"]), "glob order does not matter");
    write(&root.join("package-lock.json"), b"{ }", 0o644);
    assert_ne!(h(&["package-lock.json"]).unwrap(), lock, "content changes the hash");
}

#[test]
fn a_store_inside_the_build_is_refused() {
    let env = Env::new();
    let inside = kiln_cache::Store::open(&env.roots.src.join(".cache"), Default::default()).unwrap();
    let paths = env.paths(&["d/**/*"]);
    let err = inside.save(&kiln_cache::SaveRequest { paths: &paths, key: None, roots: &env.roots }).unwrap_err();
    assert!(err.to_string().contains("inside the build's working copy"), "{err}");
    let err = inside.restore(&kiln_cache::RestoreRequest { paths: &paths, key: None, fallback_keys: &[], roots: &env.roots }).unwrap_err();
    assert!(matches!(err, kiln_cache::CacheError::StoreInsideBuild { .. }), "{err}");
}

#[test]
fn namespaces_keep_projects_apart() {
    let env = Env::new();
    write(&env.roots.src.join("node_modules/x"), b"project a", 0o644);
    let a = env.paths(&["node_modules/**/*"]).with_namespace("/projects/a");
    let b = env.paths(&["node_modules/**/*"]).with_namespace("/projects/b");
    env.save(&a, None, &env.roots);
    assert!(env.restore(&b, None, &[], &env.next_build("b")).restored.is_none(), "project b must not get project a's unkeyed entry");
    assert!(env.restore(&a, None, &[], &env.next_build("a")).restored.is_some());
}
