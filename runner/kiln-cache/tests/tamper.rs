//! A corrupt or tampered entry, or a hostile destination tree, is detected, reported and
//! ignored whole: nothing of it is written.

mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt;

use common::*;
use kiln_cache::{CachePaths, Roots};
use serde_json::{Value, json};

/// A store holding entry "k" of `d/**/*`: `d/a`, `d/sub/b`, `d/l -> a`.
fn saved() -> (Env, CachePaths, String) {
    let env = Env::new();
    write(&env.roots.src.join("d/a"), b"aaaa", 0o644);
    write(&env.roots.src.join("d/sub/b"), b"bbbb", 0o644);
    link(&env.roots.src.join("d/l"), "a");
    let paths = env.paths(&["d/**/*"]);
    let sha = saved_sha(&env.save(&paths, Some("k"), &env.roots));
    (env, paths, sha)
}

fn edit_manifest(env: &Env, paths: &CachePaths, f: impl FnOnce(&mut Value)) {
    let p = env.manifest_path(paths, Some("k"));
    let mut v: Value = serde_json::from_slice(&fs::read(&p).unwrap()).unwrap();
    f(&mut v);
    fs::write(&p, serde_json::to_vec(&v).unwrap()).unwrap();
}

fn blob_of(env: &Env, paths: &CachePaths, path: &str) -> String {
    let m: Value = serde_json::from_slice(&fs::read(env.manifest_path(paths, Some("k"))).unwrap()).unwrap();
    let item = m["files"].as_array().unwrap().iter().find(|i| i["path"] == path).unwrap();
    item["sha256"].as_str().unwrap().to_string()
}

fn overwrite_blob(env: &Env, digest: &str, content: &[u8]) {
    let p = env.blob_path(digest);
    fs::set_permissions(&p, fs::Permissions::from_mode(0o644)).unwrap();
    fs::write(&p, content).unwrap();
}

/// Restores "k" into a fresh build and checks it was refused for `why`, nothing was written,
/// and whether the entry was removed from the store.
fn refused(env: &Env, paths: &CachePaths, why: &str, removed: bool) -> Roots {
    let b = env.next_build(&format!("b{}", rand_suffix()));
    let r = env.restore(paths, Some("k"), &[], &b);
    assert!(r.restored.is_none(), "restored a bad entry: {r:?}");
    assert_eq!(r.rejected.len(), 1, "{r:?}");
    assert!(r.rejected[0].reason.contains(why), "expected '{why}' in: {}", r.rejected[0].reason);
    assert_eq!(r.rejected[0].removed, removed, "{r:?}");
    assert_eq!(tree(&b.src), Vec::<String>::new(), "nothing may be written");
    assert_eq!(env.manifest_path(paths, Some("k")).exists(), !removed);
    b
}

fn rand_suffix() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

#[test]
fn blob_with_a_wrong_digest() {
    let (env, paths, _) = saved();
    let d = blob_of(&env, &paths, "d/sub/b");
    overwrite_blob(&env, &d, b"evil");
    refused(&env, &paths, "corrupt", true);
    assert!(!env.blob_path(&d).exists(), "the bad blob is removed so a later save rewrites it");
    // The store heals: saving the same content again brings back a good entry.
    saved_sha(&env.save(&paths, Some("k"), &env.roots));
    let b = env.next_build("healed");
    assert_eq!(env.restore(&paths, Some("k"), &[], &b).restored.unwrap().files, 2);
    assert_eq!(fs::read(b.src.join("d/sub/b")).unwrap(), b"bbbb");
}

#[test]
fn truncated_blob() {
    let (env, paths, _) = saved();
    let d = blob_of(&env, &paths, "d/a");
    overwrite_blob(&env, &d, b"aa");
    refused(&env, &paths, "corrupt", true);
}

#[test]
fn missing_blob() {
    let (env, paths, _) = saved();
    fs::remove_file(env.blob_path(&blob_of(&env, &paths, "d/a"))).unwrap();
    refused(&env, &paths, "missing", true);
}

#[test]
fn manifest_naming_a_parent_escape_or_an_absolute_path() {
    for (bad, why) in [("../../etc/x", "'..'"), ("/etc/x", "absolute"), ("d/../../etc/x", "'..'"), ("d//a", "empty"), ("other/x", "not selected by the cache paths")] {
        let (env, paths, _) = saved();
        edit_manifest(&env, &paths, |m| m["files"][0]["path"] = json!(bad));
        refused(&env, &paths, why, true);
    }
}

#[test]
fn manifest_adding_a_symlink_out() {
    for target in ["/etc", "../../../etc", "sub/../../.."] {
        let (env, paths, _) = saved();
        edit_manifest(&env, &paths, |m| m["files"].as_array_mut().unwrap().push(json!({"root": "src", "path": "d/evil", "kind": "symlink", "target": target})));
        refused(&env, &paths, "points outside its root", true);
    }
}

#[test]
fn manifest_writing_through_its_own_link() {
    let (env, paths, _) = saved();
    let digest = blob_of(&env, &paths, "d/a");
    edit_manifest(&env, &paths, |m| m["files"].as_array_mut().unwrap().push(json!({"root": "src", "path": "d/l/x", "kind": "file", "mode": 420, "size": 4, "sha256": digest})));
    refused(&env, &paths, "below a file or symlink", true);
}

#[test]
fn manifest_with_another_root_or_bad_fields() {
    let (env, paths, _) = saved();
    edit_manifest(&env, &paths, |m| m["files"][0]["root"] = json!("/etc"));
    refused(&env, &paths, "not selected", true);
    let (env, paths, _) = saved();
    edit_manifest(&env, &paths, |m| m["files"][0]["sha256"] = json!("../../../../etc/passwd"));
    refused(&env, &paths, "sha256", true);
    let (env, paths, _) = saved();
    edit_manifest(&env, &paths, |m| m["files"][0]["extra"] = json!(1));
    refused(&env, &paths, "corrupt manifest", true);
}

#[test]
fn truncated_manifest() {
    let (env, paths, _) = saved();
    let p = env.manifest_path(&paths, Some("k"));
    let bytes = fs::read(&p).unwrap();
    fs::write(&p, &bytes[..bytes.len() / 2]).unwrap();
    refused(&env, &paths, "corrupt manifest", true);
}

#[test]
fn planted_symlink_directory_in_the_destination() {
    let (env, paths, _) = saved();
    let b = env.next_build("planted");
    let outside = env.dir.path().join("victim");
    fs::create_dir_all(&outside).unwrap();
    link(&b.src.join("d"), outside.to_str().unwrap());
    let r = env.restore(&paths, Some("k"), &[], &b);
    assert!(r.restored.is_none(), "{r:?}");
    assert!(r.rejected[0].reason.contains("symlink") && !r.rejected[0].removed, "{r:?}");
    assert_eq!(tree(&outside), Vec::<String>::new(), "nothing written through the link");
    assert!(env.manifest_path(&paths, Some("k")).exists(), "a hostile destination does not cost the entry");
}

#[test]
fn planted_symlink_at_a_file_the_entry_restores() {
    let (env, paths, _) = saved();
    let b = env.next_build("planted2");
    let victim = env.dir.path().join("victim-file");
    fs::write(&victim, b"precious").unwrap();
    link(&b.src.join("d/sub/b"), victim.to_str().unwrap());
    let r = env.restore(&paths, Some("k"), &[], &b);
    assert!(r.restored.is_none() && r.rejected[0].reason.contains("symlink"), "{r:?}");
    assert_eq!(fs::read(&victim).unwrap(), b"precious");
    assert_eq!(tree(&b.src), ["d", "d/sub", "d/sub/b"], "nothing else written");
}

#[test]
fn a_refused_candidate_falls_through_to_the_next() {
    let (env, paths, good) = saved();
    write(&env.roots.src.join("d/a"), b"newer", 0o644);
    env.save(&paths, Some("k-newer"), &env.roots);
    // Corrupt "k-newer", keep "k": a fallback prefix "k" finds the newer first, refuses it, then "k".
    let newer = env.manifest_path(&paths, Some("k-newer"));
    let mut v: Value = serde_json::from_slice(&fs::read(&newer).unwrap()).unwrap();
    v["files"][0]["path"] = json!("../x");
    fs::write(&newer, serde_json::to_vec(&v).unwrap()).unwrap();
    let b = env.next_build("fall");
    let r = env.restore(&paths, Some("missing"), &["k"], &b);
    assert_eq!(r.rejected.len(), 1, "{r:?}");
    assert_eq!(r.restored.unwrap().manifest_sha256, good);
    assert_eq!(fs::read(b.src.join("d/a")).unwrap(), b"aaaa");
}

#[test]
fn a_refused_entry_leaves_existing_files_untouched() {
    let (env, paths, _) = saved();
    overwrite_blob(&env, &blob_of(&env, &paths, "d/sub/b"), b"evil");
    let b = env.next_build("existing");
    write(&b.src.join("d/a"), b"from the source", 0o644);
    write(&b.src.join("keep/x"), b"x", 0o644);
    let r = env.restore(&paths, Some("k"), &[], &b);
    assert!(r.restored.is_none() && r.rejected[0].reason.contains("corrupt"), "{r:?}");
    assert_eq!(fs::read(b.src.join("d/a")).unwrap(), b"from the source");
    assert_eq!(tree(&b.src), ["d", "d/a", "keep", "keep/x"], "no temp file, link or directory left");
}
