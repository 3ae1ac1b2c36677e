//! Hiding paths from a confined build: [`Policy::hidden`](crate::Policy::hidden).
//!
//! Landlock only allows; it cannot deny one file beneath an allowed directory. So instead of one
//! read rule on `/`, [`read_rules`] walks from `/` towards each hidden path and grants read on
//! every *sibling* along the way: to hide `/home/u/keys/cosign.key` it grants every entry of `/`
//! except `home`, every entry of `/home` except `u`, every entry of `/home/u` except `keys` and
//! every entry of `/home/u/keys` except `cosign.key`. The directories on the way (`/`, `/home`,
//! `/home/u`, `/home/u/keys`) get only `READ_DIR`, so they can still be listed and walked.
//!
//! Limits (documented in `kiln-sandbox`'s crate docs too):
//! - Entries created in those ancestor directories *after* the sandbox is prepared are listable
//!   but not readable by the build (the rules are computed once, from what exists).
//! - A hidden path is hidden by its location: another hard link to the same file, a copy, or a
//!   bind mount of it elsewhere stays readable. Hide the canonical path (symlinks are resolved).
//! - A hidden path beneath a writable path cannot be hidden (writable implies readable):
//!   [`Sandbox::prepare`](crate::Sandbox::prepare) refuses that policy.

use std::collections::BTreeSet;
use std::path::{Component, Path, PathBuf};

/// One Landlock read rule.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum ReadRule {
    /// Read (and execute) everything beneath this path.
    Beneath(PathBuf),
    /// Only list this directory (an ancestor of a hidden path).
    ListOnly(PathBuf),
}

/// Canonical absolute paths to hide; relative or non-existent ones are errors.
pub(crate) fn canonical(hidden: &[PathBuf]) -> Result<Vec<PathBuf>, (PathBuf, std::io::Error)> {
    hidden
        .iter()
        .map(|p| std::fs::canonicalize(p).map_err(|e| (p.clone(), e)))
        .collect()
}

/// The read rules that grant everything beneath `root` except the `hidden` paths (canonical,
/// absolute, beneath `root`). With nothing hidden that is one rule on `root`.
pub(crate) fn read_rules(root: &Path, hidden: &[PathBuf]) -> Vec<ReadRule> {
    let hidden: BTreeSet<&Path> = hidden.iter().map(PathBuf::as_path).collect();
    let mut out = Vec::new();
    walk(root, &hidden, &mut out);
    out
}

fn walk(dir: &Path, hidden: &BTreeSet<&Path>, out: &mut Vec<ReadRule>) {
    if hidden.contains(dir) {
        return;
    }
    let below: Vec<&&Path> = hidden.iter().filter(|h| h.starts_with(dir) && **h != dir).collect();
    if below.is_empty() {
        out.push(ReadRule::Beneath(dir.to_path_buf()));
        return;
    }
    out.push(ReadRule::ListOnly(dir.to_path_buf()));
    // The children of `dir` on the way to a hidden path.
    let on_path: BTreeSet<PathBuf> = below
        .iter()
        .filter_map(|h| h.strip_prefix(dir).ok()?.components().next())
        .filter_map(|c| match c {
            Component::Normal(n) => Some(dir.join(n)),
            _ => None,
        })
        .collect();
    let Ok(entries) = std::fs::read_dir(dir) else {
        // Unreadable for kiln: nothing to grant beneath it except the ways to the hidden paths.
        for p in &on_path {
            walk(p, hidden, out);
        }
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if on_path.contains(&path) {
            // A directory on the way: recurse (unless it is itself hidden). A symlink here is
            // not followed: canonical hidden paths never pass through one.
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                walk(&path, hidden, out);
            }
        } else {
            out.push(ReadRule::Beneath(path));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(rules: &[ReadRule], root: &Path) -> Vec<String> {
        let mut v: Vec<String> = rules
            .iter()
            .map(|r| match r {
                ReadRule::Beneath(p) => format!("R {}", p.strip_prefix(root).unwrap().display()),
                ReadRule::ListOnly(p) => format!("L {}", p.strip_prefix(root).unwrap().display()),
            })
            .collect();
        v.sort();
        v
    }

    #[test]
    fn nothing_hidden_is_one_rule() {
        let t = tempfile::tempdir().unwrap();
        assert_eq!(read_rules(t.path(), &[]), vec![ReadRule::Beneath(t.path().to_path_buf())]);
    }

    #[test]
    fn grants_every_sibling_along_the_path() {
        let t = tempfile::tempdir().unwrap();
        let r = t.path();
        for d in ["home/u/keys", "home/v", "etc", "home/u/src"] {
            std::fs::create_dir_all(r.join(d)).unwrap();
        }
        for f in ["home/u/keys/cosign.key", "home/u/keys/cosign.pub", "home/u/.bashrc", "etc/passwd"] {
            std::fs::write(r.join(f), "x").unwrap();
        }
        let rules = read_rules(r, &[r.join("home/u/keys/cosign.key")]);
        assert_eq!(
            names(&rules, r),
            [
                "L ", "L home", "L home/u", "L home/u/keys", "R etc", "R home/u/.bashrc",
                "R home/u/keys/cosign.pub", "R home/u/src", "R home/v",
            ]
        );
    }

    #[test]
    fn two_hidden_paths_and_a_hidden_directory() {
        let t = tempfile::tempdir().unwrap();
        let r = t.path();
        for d in ["a/secret", "a/b", "c"] {
            std::fs::create_dir_all(r.join(d)).unwrap();
        }
        std::fs::write(r.join("a/secret/k"), "x").unwrap();
        std::fs::write(r.join("c/s.yml"), "x").unwrap();
        std::fs::write(r.join("c/t"), "x").unwrap();
        let rules = read_rules(r, &[r.join("a/secret"), r.join("c/s.yml")]);
        assert_eq!(names(&rules, r), ["L ", "L a", "L c", "R a/b", "R c/t"]);
    }

    #[test]
    fn canonical_resolves_symlinks_and_rejects_missing_paths() {
        let t = tempfile::tempdir().unwrap();
        std::fs::write(t.path().join("k"), "x").unwrap();
        std::os::unix::fs::symlink(t.path().join("k"), t.path().join("link")).unwrap();
        let c = canonical(&[t.path().join("link")]).unwrap();
        assert_eq!(c, vec![std::fs::canonicalize(t.path().join("k")).unwrap()]);
        assert!(canonical(&[t.path().join("missing")]).is_err());
    }
}
