//! Issue 11, item 9 (first half): a secret value used in an artifact's file names. The record
//! always showed the names masked; the artifact kiln wrote (the directory's entries, the zip's
//! entry names, a kept symlink's target) carried the value itself. kiln now writes every entry
//! under its masked path (`***`, as the logs and build.json show it).

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use common::*;

/// The secrets-manager value; a valid file name, long enough to be masked.
const TOKEN: &str = "tok-5e1f0a9c7d3b42e8";

fn spec(commands: &str, artifacts: &str) -> String {
    format!("version: 0.2\nenv:\n  secrets-manager:\n    TOKEN: prod/api:token\nphases:\n  build:\n    commands:\n{commands}artifacts:\n{artifacts}")
}

/// `kiln build --secrets-file <side file> <args>` on `buildspec`.
fn build(buildspec: &str, args: &[&str]) -> (Project, Build) {
    let p = Project::new(buildspec);
    let secrets = p.side_dir("conf").join("secrets.yml");
    std::fs::write(&secrets, format!("secrets:\n  prod/api:\n    token: \"{TOKEN}\"\n")).unwrap();
    std::fs::set_permissions(&secrets, std::fs::Permissions::from_mode(0o600)).unwrap();
    let mut all = vec!["--secrets-file", secrets.to_str().unwrap()];
    all.extend_from_slice(args);
    let b = p.build(&all);
    (p, b)
}

/// Every path under `dir` (directories, files and symlinks, which are not followed), and the
/// target text of each symlink.
fn all_paths(dir: &Path) -> Vec<(PathBuf, Option<PathBuf>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let e = e.unwrap();
            let ft = e.file_type().unwrap();
            let target = ft.is_symlink().then(|| std::fs::read_link(e.path()).unwrap());
            if ft.is_dir() {
                stack.push(e.path());
            }
            out.push((e.path(), target));
        }
    }
    out.sort();
    out
}

fn assert_no_path_carries_the_secret(b: &Build) {
    let record_dir = b.record_dir();
    let paths = all_paths(&record_dir);
    assert!(paths.iter().any(|(p, _)| p.starts_with(b.artifacts_dir())), "the artifact was written\n{}", b.describe());
    for (path, target) in &paths {
        assert!(!path.to_string_lossy().contains(TOKEN), "a path under the build record carries the secret: {}", path.display());
        if let Some(t) = target {
            assert!(!t.to_string_lossy().contains(TOKEN), "the symlink {} points at a name carrying the secret: {}", path.display(), t.display());
        }
    }
    for (what, text) in [("the --json record", &b.stdout), ("live output", &b.stderr), ("build.log", &b.log())] {
        assert!(!text.contains(TOKEN), "{what} carries the secret");
    }
}

const MAKE_FILES: &str = r#"      - mkdir -p "out/dir-$TOKEN"
      - echo one > "out/file-$TOKEN.txt"
      - echo two > "out/dir-$TOKEN/inner.txt"
      - echo three > out/plain.txt
"#;

#[test]
fn a_directory_artifact_has_its_entries_under_masked_names() {
    let (_p, b) = build(&spec(MAKE_FILES, "  files: ['out/**/*']\n  name: art\n"), &[]);
    assert_eq!(b.status(), "SUCCEEDED", "{}", b.describe());
    assert_no_path_carries_the_secret(&b);
    let art = b.artifacts_dir().join("art");
    assert_eq!(rel_files(&art), ["out/dir-***/inner.txt", "out/file-***.txt", "out/plain.txt"]);
    assert_eq!(std::fs::read_to_string(art.join("out/file-***.txt")).unwrap(), "one\n", "the content is the file's");
    // The record describes the files on disk.
    let recorded: Vec<&str> = b.record["artifacts"]["files"].as_array().unwrap().iter().map(|f| f["path"].as_str().unwrap()).collect();
    assert_eq!(recorded, rel_files(&art));
}

#[test]
fn a_zip_artifact_has_masked_entry_names() {
    let (_p, b) = build(&spec(MAKE_FILES, "  files: ['out/**/*']\n  name: art\n"), &["--zip"]);
    assert_eq!(b.status(), "SUCCEEDED", "{}", b.describe());
    assert_no_path_carries_the_secret(&b);
    let zip = std::fs::read(b.artifacts_dir().join("art.zip")).unwrap();
    // Entry names are stored as they are (twice: local headers and the central directory); the
    // contents are deflated and do not hold the value anyway.
    let zip_text = String::from_utf8_lossy(&zip);
    assert!(!zip_text.contains(TOKEN), "a zip entry name carries the secret");
    assert!(zip_text.contains("out/file-***.txt") && zip_text.contains("out/dir-***/inner.txt"), "the entries are there under masked names");
}

#[test]
fn a_kept_symlink_to_a_secret_named_file_points_at_the_masked_name() {
    let commands = format!("{MAKE_FILES}      - ln -s \"file-$TOKEN.txt\" \"out/link-$TOKEN\"\n");
    let (_p, b) = build(&spec(&commands, "  files: ['out/**/*']\n  name: art\n  enable-symlinks: yes\n"), &[]);
    assert_eq!(b.status(), "SUCCEEDED", "{}", b.describe());
    assert_no_path_carries_the_secret(&b);
    let link = b.artifacts_dir().join("art/out/link-***");
    assert_eq!(std::fs::read_link(&link).unwrap(), Path::new("file-***.txt"));
    assert_eq!(std::fs::read_to_string(&link).unwrap(), "one\n", "the masked link still leads to the masked file");
    let rec = b.record["artifacts"]["files"].as_array().unwrap().iter().find(|f| f["path"] == "out/link-***").expect("the link is recorded").clone();
    assert_eq!(rec["size"].as_u64(), Some("file-***.txt".len() as u64), "the recorded size is the masked target's");
}

#[test]
fn a_symlink_that_masking_would_point_outside_the_artifact_is_refused() {
    // A secret with a `/` in it shortens a path by a component when masked: the link
    // `link -> a/b/../../f` stays inside the artifact, `link -> ***/../../f` would leave it.
    let p = Project::new(
        "version: 0.2\nenv:\n  secrets-manager:\n    SLASHED: prod/slashed\nphases:\n  build:\n    commands:\n      - mkdir -p \"$SLASHED\" && echo f > f\n      - ln -s \"$SLASHED/../../f\" link\nartifacts:\n  files: [link, f]\n  enable-symlinks: yes\n  name: art\n",
    );
    let secrets = p.side_dir("conf").join("secrets.yml");
    std::fs::write(&secrets, "secrets:\n  prod/slashed: \"dir-9c1e/sub-44ab\"\n").unwrap();
    std::fs::set_permissions(&secrets, std::fs::Permissions::from_mode(0o600)).unwrap();
    let b = p.build(&["--secrets-file", secrets.to_str().unwrap()]);
    assert_eq!(b.phase_status("UPLOAD_ARTIFACTS"), Some("FAILED"), "{}", b.describe());
    let (_, message) = b.context("UPLOAD_ARTIFACTS").unwrap();
    assert!(message.contains("outside the artifact"), "{message}");
    assert!(!message.contains("dir-9c1e/sub-44ab"), "{message}");
    assert!(!b.artifacts_dir().join("art").exists(), "no artifact is written");
}
