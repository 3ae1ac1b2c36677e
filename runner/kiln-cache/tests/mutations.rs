//! Deterministic mutations of a real manifest (the `fuzz/` target's invariants, run in CI):
//! whatever a tampered manifest says, restoring it never panics, never writes outside the
//! build's trees, never writes through a link, and never deletes a sound blob.

mod common;

use std::fs;

use common::*;
use serde_json::{Value, json};

const HOSTILE_PATHS: &[&str] = &["../x", "/etc/x", "d/../../x", "", "d/./x", "d//x", "x\u{0}y", "d/", "d/l/x", "d/sub/b/c", "d/a/x", ".", "..", "d/.."];
const HOSTILE_TARGETS: &[&str] = &["/etc", "../../..", "..", "../..", "a", "", "sub/../../..", "/proc/self/root"];

fn hostile_value(field: &str, n: u64) -> Value {
    let pick = |v: &[&str]| json!(v[(n as usize) % v.len()]);
    match field {
        "path" if n.is_multiple_of(7) => json!({ "hex": "2e2e2f6f7574" }),
        "path" => pick(HOSTILE_PATHS),
        "target" if n.is_multiple_of(5) => json!({ "hex": "2f657463" }),
        "target" => pick(HOSTILE_TARGETS),
        "kind" => pick(&["file", "dir", "symlink", "fifo", ""]),
        "root" => pick(&["src", "home", "/", "/etc", "", "/tmp", "src/.."]),
        "sha256" => pick(&["0000000000000000000000000000000000000000000000000000000000000000", "../../../../etc/passwd", "AB", "x"]),
        "size" => [json!(0), json!(1), json!(u64::MAX), json!(-1)][(n % 4) as usize].clone(),
        "mode" => [json!(0o7777), json!(0o170000), json!(-1), json!(4_294_967_295u64)][(n % 4) as usize].clone(),
        _ => [json!([1, 2_000_000_000]), json!(null), json!([-1, 0])][(n % 3) as usize].clone(),
    }
}

#[test]
fn tampered_manifests_never_escape() {
    let env = Env::new();
    write(&env.roots.src.join("d/a"), b"aaaa", 0o644);
    write(&env.roots.src.join("d/sub/b"), b"bbbb", 0o755);
    link(&env.roots.src.join("d/l"), "a");
    let paths = env.paths(&["d/**/*"]);
    saved_sha(&env.save(&paths, Some("k"), &env.roots));
    let manifest_path = env.manifest_path(&paths, Some("k"));
    let original = fs::read(&manifest_path).unwrap();
    let blobs_before = env.blob_count();
    let victim = env.dir.path().join("victim");
    fs::create_dir_all(victim.join("etc")).unwrap();
    let fields = ["path", "target", "kind", "root", "sha256", "size", "mode", "mtime"];
    let mut seed = 0x1234_5678_9abc_def0u64;
    let mut rand = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let mut restored = 0;
    for round in 0..600u64 {
        let mut v: Value = serde_json::from_slice(&original).unwrap();
        let count = v["files"].as_array().unwrap().len();
        for _ in 0..=(rand() % 2) {
            let item = (rand() as usize) % count;
            let field = fields[(rand() as usize) % fields.len()];
            v["files"][item][field] = hostile_value(field, rand());
        }
        if round % 10 == 0 {
            let extra = json!({"root": "src", "path": hostile_value("path", rand()), "kind": "symlink", "target": hostile_value("target", rand())});
            v["files"].as_array_mut().unwrap().push(extra);
        }
        let mut bytes = serde_json::to_vec(&v).unwrap();
        if round % 7 == 3 {
            let at = (rand() as usize) % bytes.len();
            bytes[at] = rand() as u8;
        }
        fs::create_dir_all(manifest_path.parent().unwrap()).unwrap();
        fs::write(&manifest_path, &bytes).unwrap();
        let dest = env.next_build(&format!("m{round}"));
        let r = env.restore(&paths, Some("k"), &[], &dest);
        if r.restored.is_some() {
            restored += 1;
        } else {
            assert_eq!(r.rejected.len(), 1, "{r:?}");
        }
        assert_eq!(tree(&victim), ["etc"], "round {round}: wrote outside the build");
        assert_eq!(tree(&dest.home), Vec::<String>::new(), "round {round}: wrote into another root");
        for p in tree(&dest.src) {
            assert!(p == "d" || p.starts_with("d/"), "round {round}: wrote '{p}' outside the cache paths");
            let meta = fs::symlink_metadata(dest.src.join(&p)).unwrap();
            if meta.file_type().is_symlink() {
                let t = fs::read_link(dest.src.join(&p)).unwrap();
                assert!(!kiln_artifacts::link_escapes(std::path::Path::new(&p), &t), "round {round}: link out {p} -> {t:?}");
            }
        }
        assert_eq!(env.blob_count(), blobs_before, "round {round}: a sound blob was deleted ({r:?})");
    }
    assert!(restored > 0, "some mutations are harmless (e.g. an mtime) and restore");
}
