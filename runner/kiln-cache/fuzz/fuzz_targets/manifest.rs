#![no_main]
//! Any bytes as a manifest: reading and checking must not panic, and a manifest the check
//! accepts never names an absolute path, a `..` component, or a link that leaves its root.

use kiln_cache::{CachePaths, Kind, Manifest, Roots};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(m) = serde_json::from_slice::<Manifest>(data) else { return };
    let roots = Roots { src: "/w/src".into(), home: "/w/home".into(), allowed: vec!["/opt/c".into()] };
    let paths = CachePaths::new(&["d/**/*".into(), "~/.npm/**/*".into(), "/opt/c/**/*".into()], &roots).unwrap();
    // The fuzzer cannot guess the version hash: accept the manifest's own for the check.
    let m = Manifest { version: paths.version.clone(), paths: paths.canonical.clone(), ..m };
    if m.check(&paths, 1 << 20, 1 << 40).is_err() {
        return;
    }
    for item in &m.files {
        let p = &item.path.0;
        assert!(!p.starts_with(b"/") && p.split(|b| *b == b'/').all(|c| c != b".." && c != b"." && !c.is_empty()), "{item:?}");
        if item.kind == Kind::Symlink {
            let t = &item.target.as_ref().unwrap().0;
            let mut depth = p.split(|b| *b == b'/').count() as i64 - 1;
            assert!(!t.starts_with(b"/"));
            for c in t.split(|b| *b == b'/') {
                match c {
                    b".." => depth -= 1,
                    b"" | b"." => {}
                    _ => depth += 1,
                }
                assert!(depth >= 0, "link out: {item:?}");
            }
        }
    }
});
