//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use kiln_artifacts::{ArtifactSpec, Selection};

/// A temporary tree: `root` is the working copy, `outside` a sibling not inside it.
pub struct Tree {
    pub tmp: tempfile::TempDir,
    pub root: PathBuf,
    pub outside: PathBuf,
}

impl Tree {
    pub fn new() -> Tree {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("src");
        let outside = tmp.path().join("outside");
        fs::create_dir_all(&root).unwrap();
        fs::create_dir_all(&outside).unwrap();
        fs::write(outside.join("secret.txt"), "top secret\n").unwrap();
        Tree { tmp, root, outside }
    }

    /// Writes `content` at `rel` under the working copy, creating directories.
    pub fn file(&self, rel: &str, content: &str) -> &Tree {
        let p = self.root.join(rel);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, content).unwrap();
        self
    }

    pub fn mode(&self, rel: &str, mode: u32) -> &Tree {
        fs::set_permissions(self.root.join(rel), fs::Permissions::from_mode(mode)).unwrap();
        self
    }

    /// Creates a symlink at `rel` (under the working copy) pointing to `target`.
    pub fn link(&self, rel: &str, target: impl AsRef<Path>) -> &Tree {
        let p = self.root.join(rel);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::os::unix::fs::symlink(target, p).unwrap();
        self
    }

    /// A fresh, empty output directory.
    pub fn out(&self, name: &str) -> PathBuf {
        let p = self.tmp.path().join(name);
        fs::create_dir_all(&p).unwrap();
        p
    }
}

/// A spec with these `files` patterns and everything else default.
pub fn spec(files: &[&str]) -> ArtifactSpec {
    ArtifactSpec {
        files: files.iter().map(|s| s.to_string()).collect(),
        ..Default::default()
    }
}

/// The artifact paths of a selection.
pub fn paths(sel: &Selection) -> Vec<&str> {
    sel.files.iter().map(|f| f.path.as_str()).collect()
}

/// Entries of a directory, as names.
pub fn entries(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// Runs a Python snippet with the given arguments; `None` (after printing a note) when
/// python3 is not installed.
pub fn python(script: &str, args: &[&Path]) -> Option<String> {
    let out = match std::process::Command::new("python3")
        .arg("-c")
        .arg(script)
        .args(args)
        .output()
    {
        Ok(out) => out,
        Err(e) => {
            println!("note: python3 not available ({e}); skipping the zipfile check");
            return None;
        }
    };
    assert!(
        out.status.success(),
        "python3 failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Some(String::from_utf8(out.stdout).unwrap())
}
