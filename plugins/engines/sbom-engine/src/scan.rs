//! Finding and reading lockfiles in a source tree.
//!
//! The walk never follows symlinks (so symlink loops cannot trap it), stops at a depth limit,
//! skips dependency and build folders (`node_modules`, `vendor`, `target`, virtualenvs, VCS
//! metadata, package-manager caches) but descends into everything else, so nested projects are
//! found. Files larger than the size limit, unreadable files and invalid UTF-8 each give a
//! per-file [`Warning`] instead of an error.

use std::path::{Component, Path, PathBuf};

use crate::parsers::{self, Siblings};
use crate::{LockKind, Lockfile, Warning};

/// Directory names never descended into.
pub const SKIP_DIRS: &[&str] = &[
    "node_modules", ".git", ".hg", ".svn", "target", "vendor", ".venv", "venv", "__pycache__", ".tox", ".nox",
    "site-packages", "bower_components", ".yarn", ".pnpm-store", ".cargo", ".gradle", ".idea", ".mypy_cache",
    ".pytest_cache", ".next", ".terraform",
];

/// Limits for [`scan_dir`].
#[derive(Debug, Clone)]
pub struct ScanOptions {
    /// Largest lockfile read, in bytes (default 64 MiB); larger ones are skipped with a warning.
    pub max_file_bytes: u64,
    /// Deepest directory level descended into (default 32).
    pub max_depth: usize,
}

impl Default for ScanOptions {
    fn default() -> Self {
        ScanOptions { max_file_bytes: 64 << 20, max_depth: 32 }
    }
}

/// What [`scan_dir`] found.
#[derive(Debug, Default)]
pub struct ScanResult {
    /// One entry per lockfile read, sorted by path.
    pub lockfiles: Vec<Lockfile>,
    /// Problems not tied to one parsed file (unreadable directories, too-large files, depth).
    pub warnings: Vec<Warning>,
}

impl ScanResult {
    /// All warnings: the walk's and every lockfile's.
    pub fn all_warnings(&self) -> Vec<&Warning> {
        self.warnings.iter().chain(self.lockfiles.iter().flat_map(|l| l.warnings.iter())).collect()
    }
}

/// Parse one file given its path relative to the project root and its text; `None` if the name
/// is not a format the engine reads.
pub fn parse_file(rel_path: &str, text: &str, siblings: Siblings<'_>) -> Option<Lockfile> {
    let kind = LockKind::detect(rel_path)?;
    Some(parsers::parse(kind, rel_path, text, siblings))
}

fn warn(path: &str, kind: &'static str, message: String) -> Warning {
    Warning { path: path.to_string(), line: None, kind, message }
}

/// Read a file's bytes unless it is over `max` (warnings for both failures).
fn read_bytes(full: &Path, rel: &str, max: u64, warnings: &mut Vec<Warning>) -> Option<Vec<u8>> {
    let meta = match std::fs::metadata(full) {
        Ok(m) => m,
        Err(e) => {
            warnings.push(warn(rel, "io", format!("cannot read: {e}")));
            return None;
        }
    };
    if meta.len() > max {
        warnings.push(warn(rel, "too-large", format!("{} bytes is over the {max}-byte limit for a lockfile; skipped", meta.len())));
        return None;
    }
    match std::fs::read(full) {
        Ok(bytes) => Some(bytes),
        Err(e) => {
            warnings.push(warn(rel, "io", format!("cannot read: {e}")));
            None
        }
    }
}

/// Parse the lockfile at `rel` (relative to `root`) from its bytes, decoded lossily with a
/// warning when they are not UTF-8; the manifests beside it (`package.json`, `go.sum`, ...) are
/// read from its directory under `root` (never outside it, at most `opts.max_file_bytes`).
/// `None` when `rel` is not a lockfile name.
pub fn parse_lockfile(root: &Path, rel: &str, bytes: Vec<u8>, opts: &ScanOptions) -> Option<Lockfile> {
    let mut warnings = Vec::new();
    let text = match String::from_utf8(bytes) {
        Ok(s) => s,
        Err(e) => {
            warnings.push(warn(rel, "malformed", "not valid UTF-8; invalid bytes were replaced before parsing".into()));
            String::from_utf8_lossy(e.as_bytes()).into_owned()
        }
    };
    let full = root.join(rel);
    let dir = full.parent().unwrap_or(root).to_path_buf();
    let max = opts.max_file_bytes;
    let siblings = |name: &str| -> Option<String> {
        let p = inside(root, &dir, name)?;
        let meta = std::fs::metadata(&p).ok()?;
        if !meta.is_file() || meta.len() > max {
            return None;
        }
        std::fs::read(&p).ok().map(|b| String::from_utf8_lossy(&b).into_owned())
    };
    let mut lf = parse_file(rel, &text, &siblings)?;
    warnings.append(&mut lf.warnings);
    lf.warnings = warnings;
    Some(lf)
}

/// `dir/name` normalised lexically, refusing to leave `root`.
fn inside(root: &Path, dir: &Path, name: &str) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for c in dir.join(name).components() {
        match c {
            Component::ParentDir => {
                if !out.pop() {
                    return None;
                }
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out.starts_with(root).then_some(out)
}

/// Walk `root` and parse every lockfile found.
pub fn scan_dir(root: &Path, opts: &ScanOptions) -> ScanResult {
    let mut res = ScanResult::default();
    let mut files: Vec<(String, PathBuf)> = Vec::new();
    let mut stack: Vec<(PathBuf, String, usize)> = vec![(root.to_path_buf(), String::new(), 0)];
    while let Some((dir, rel, depth)) = stack.pop() {
        let entries = match std::fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) => {
                res.warnings.push(warn(if rel.is_empty() { "." } else { &rel }, "io", format!("cannot list directory: {e}")));
                continue;
            }
        };
        for entry in entries {
            let entry = match entry {
                Ok(e) => e,
                Err(e) => {
                    // The listing ends at an error (under WASI: a name that is not UTF-8).
                    let at = if rel.is_empty() { "." } else { &rel };
                    res.warnings.push(warn(at, "io", format!("listing stopped at an entry that cannot be read ({e}); the rest of this directory was not scanned")));
                    break;
                }
            };
            let name = entry.file_name().to_string_lossy().into_owned();
            let child_rel = if rel.is_empty() { name.clone() } else { format!("{rel}/{name}") };
            let Ok(ty) = entry.file_type() else { continue };
            if ty.is_dir() {
                if SKIP_DIRS.contains(&name.as_str()) {
                    continue;
                }
                if depth + 1 > opts.max_depth {
                    res.warnings.push(warn(&child_rel, "too-deep", format!("deeper than {} levels; not scanned", opts.max_depth)));
                    continue;
                }
                stack.push((entry.path(), child_rel, depth + 1));
            } else if ty.is_file() && LockKind::detect(&child_rel).is_some() {
                files.push((child_rel, entry.path()));
            }
        }
    }
    files.sort();
    for (rel, full) in files {
        let Some(bytes) = read_bytes(&full, &rel, opts.max_file_bytes, &mut res.warnings) else {
            continue;
        };
        if let Some(lf) = parse_lockfile(root, &rel, bytes, opts) {
            res.lockfiles.push(lf);
        }
    }
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inside_refuses_escape() {
        let root = Path::new("/r");
        assert_eq!(inside(root, Path::new("/r/a"), "../b.txt"), Some(PathBuf::from("/r/b.txt")));
        assert_eq!(inside(root, Path::new("/r/a"), "../../etc/passwd"), None);
    }
}
