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

/// Every regular file under `root`, sorted by relative path; symlinks are skipped, not followed.
pub fn walk(root: &str) -> Result<Vec<SourceFile>, Error> {
    let mut out = Vec::new();
    let mut stack = vec![String::new()];
    while let Some(rel) = stack.pop() {
        let dir = if rel.is_empty() {
            root.to_string()
        } else {
            format!("{root}/{rel}")
        };
        let entries =
            std::fs::read_dir(&dir).map_err(|e| Error::failed(format!("read_dir {dir}: {e}")))?;
        for entry in entries {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let rel_child = if rel.is_empty() {
                name
            } else {
                format!("{rel}/{name}")
            };
            let ty = entry.file_type()?;
            if ty.is_dir() {
                stack.push(rel_child);
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
    out.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(out)
}
