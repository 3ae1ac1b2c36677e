//! Walking the read-only source tree.

use crate::Error;

/// A regular file in the source tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceFile {
    /// Path relative to the source root, `/` separated (what [`crate::Location::path`] expects).
    pub path: String,
    /// The guest path to open (`/src/...`).
    pub full_path: String,
    /// Size in bytes.
    pub len: u64,
}

impl SourceFile {
    /// Read the file as UTF-8 text (lossy: invalid sequences become U+FFFD).
    pub fn read_to_string(&self) -> Result<String, Error> {
        let bytes = std::fs::read(&self.full_path)?;
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }

    /// Read the file's bytes.
    pub fn read(&self) -> Result<Vec<u8>, Error> {
        Ok(std::fs::read(&self.full_path)?)
    }
}

/// Deepest directory level entered; deeper directories are skipped with a warning.
pub const MAX_DEPTH: usize = 256;
/// Per-entry warnings logged before they are only counted.
const MAX_WARNINGS: usize = 100;

/// Every regular file under `root`, sorted by relative path; symlinks are skipped, not followed.
///
/// Fails only when `root` itself cannot be listed. A directory that cannot be listed and
/// directories deeper than [`MAX_DEPTH`] are skipped with a warning in the build log. WASI cannot
/// name a file whose name is not UTF-8, and a listing ends at such an entry: the rest of that
/// directory is skipped with a warning (a `file-scanner` plugin, whose host walks the tree, sees
/// every file).
pub fn walk(root: &str) -> Result<Vec<SourceFile>, Error> {
    let mut out = Vec::new();
    let mut warnings = 0usize;
    let mut warn = |msg: String| {
        warnings += 1;
        if warnings <= MAX_WARNINGS {
            crate::log::warn(&msg);
        }
    };
    let mut stack = vec![(String::new(), 0usize)];
    while let Some((rel, depth)) = stack.pop() {
        let dir = if rel.is_empty() {
            root.to_string()
        } else {
            format!("{root}/{rel}")
        };
        let entries = match std::fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if rel.is_empty() => return Err(Error::failed(format!("read_dir {dir}: {e}"))),
            Err(e) => {
                warn(format!("{rel}: cannot list directory, skipped: {e}"));
                continue;
            }
        };
        for entry in entries {
            let entry = match entry {
                Ok(e) => e,
                Err(e) => {
                    // The listing ends at an error (under WASI: a name that is not UTF-8).
                    let at = if rel.is_empty() { "." } else { &rel };
                    warn(format!("{at}: listing stopped at an entry that cannot be read ({e}); the rest of this directory was not scanned"));
                    break;
                }
            };
            let name = entry.file_name().to_string_lossy().into_owned();
            let rel_child = if rel.is_empty() {
                name
            } else {
                format!("{rel}/{name}")
            };
            let Ok(ty) = entry.file_type() else {
                warn(format!("{rel_child}: cannot stat, skipped"));
                continue;
            };
            if ty.is_dir() {
                if depth + 1 > MAX_DEPTH {
                    warn(format!("{rel_child}: deeper than {MAX_DEPTH} levels, skipped"));
                } else {
                    stack.push((rel_child, depth + 1));
                }
            } else if ty.is_file() {
                let len = entry.metadata().map(|m| m.len()).unwrap_or(0);
                out.push(SourceFile {
                    full_path: format!("{root}/{rel_child}"),
                    path: rel_child,
                    len,
                });
            }
        }
    }
    if warnings > MAX_WARNINGS {
        crate::log::warn(&format!("{} more entries skipped (warnings not shown)", warnings - MAX_WARNINGS));
    }
    out.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(out)
}
