//! The WIT versioning policy, enforced: every version folder listed in
//! `wit/kiln-plugin/frozen.sha256` must hash to the recorded digest (released versions are
//! frozen), and every version folder must be listed.

use sha2::{Digest, Sha256};
use std::path::Path;

/// sha256 over the folder's `.wit` files, sorted by name: name, NUL, content, NUL.
fn folder_digest(dir: &Path) -> String {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "wit"))
        .collect();
    files.sort();
    let mut h = Sha256::new();
    for f in files {
        h.update(f.file_name().unwrap().to_string_lossy().as_bytes());
        h.update([0]);
        h.update(std::fs::read(&f).unwrap());
        h.update([0]);
    }
    hex::encode(h.finalize())
}

#[test]
fn released_wit_versions_are_frozen() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../wit/kiln-plugin");
    let listed = std::fs::read_to_string(root.join("frozen.sha256")).unwrap();
    let mut versions = Vec::new();
    for line in listed
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
    {
        let (digest, version) = line.split_once("  ").expect("`<sha256>  <folder>` lines");
        let actual = folder_digest(&root.join(version));
        assert_eq!(
            actual, digest,
            "wit/kiln-plugin/{version} changed, but released WIT versions are frozen: put the change in a new \
             version folder (see wit/README.md). Before kiln's first release only, update frozen.sha256 instead."
        );
        versions.push(version.to_string());
    }
    for entry in std::fs::read_dir(&root).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_dir() {
            let name = entry.file_name().to_string_lossy().into_owned();
            assert!(
                versions.contains(&name),
                "wit/kiln-plugin/{name} is not listed in frozen.sha256"
            );
        }
    }
}
