//! The manifest of a cache entry (immutable, its sha256 identifies the entry) and the small
//! index record beside it (key, times, totals; rewritten when the entry is used).

use std::collections::HashSet;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::spec::{CachePaths, CanonicalPath, RootKind};

/// `format` of a manifest.
pub const MANIFEST_FORMAT: &str = "kiln-cache-manifest/1";
/// `format` of an index record.
pub const META_FORMAT: &str = "kiln-cache-meta/1";
const MAX_PATH_BYTES: usize = 4096;
const MAX_NAME_BYTES: usize = 255;

/// A path or link target as bytes: a JSON string when it is UTF-8, else `{"hex": "…"}`
/// (Linux names are bytes; JSON strings are not).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Bytes(pub Vec<u8>);

impl Bytes {
    /// The bytes as a path.
    pub fn as_path(&self) -> &Path {
        Path::new(OsStr::from_bytes(&self.0))
    }

    /// A one-line, escaped rendering for messages.
    pub fn shown(&self) -> String {
        String::from_utf8_lossy(&self.0).escape_debug().to_string()
    }
}

#[derive(Serialize, Deserialize)]
#[serde(untagged)]
enum BytesRepr {
    Text(String),
    Raw { hex: String },
}

impl Serialize for Bytes {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match std::str::from_utf8(&self.0) {
            Ok(t) => BytesRepr::Text(t.to_string()),
            Err(_) => BytesRepr::Raw { hex: hex::encode(&self.0) },
        }
        .serialize(s)
    }
}

impl<'de> Deserialize<'de> for Bytes {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match BytesRepr::deserialize(d)? {
            BytesRepr::Text(t) => Ok(Bytes(t.into_bytes())),
            BytesRepr::Raw { hex } => hex::decode(hex).map(Bytes).map_err(serde::de::Error::custom),
        }
    }
}

/// What an item is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// A regular file; its content is the blob `sha256`.
    File,
    /// A symbolic link to `target`, which stays inside the same root.
    Symlink,
    /// A directory matched by a path (kept so empty directories and modes survive).
    Dir,
}

/// One file, link or directory of an entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Item {
    /// `src`, `home` or an allowed absolute root.
    pub root: String,
    /// Relative to the root, `/`-separated, no `.`/`..`/empty components.
    pub path: Bytes,
    /// What it is.
    pub kind: Kind,
    /// Permission bits (files and directories).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<u32>,
    /// Size in bytes (files).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    /// Lowercase hex sha256 of the content (files).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    /// Modification time, seconds and nanoseconds since the epoch (files): build tools such as
    /// cargo and make decide freshness by it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mtime: Option<(i64, u32)>,
    /// The link's target, relative (symlinks).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<Bytes>,
}

/// A cache entry's manifest. Written once; an unkeyed entry is replaced by a new manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// [`MANIFEST_FORMAT`].
    pub format: String,
    /// The entry's key; `None` for the one updatable entry of a version.
    pub key: Option<String>,
    /// The cache version (see [`CachePaths::version`]).
    pub version: String,
    /// The canonical paths the version was computed from.
    pub paths: Vec<CanonicalPath>,
    /// Creation time, milliseconds since the epoch.
    pub created_ms: u64,
    /// Files, links and directories, sorted by (root, path).
    pub files: Vec<Item>,
}

/// The index record kept next to a manifest: what `ls`, key lookup and eviction read without
/// opening a large manifest. Not trusted for integrity: restore re-checks the manifest itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Meta {
    /// [`META_FORMAT`].
    pub format: String,
    /// The entry's key.
    pub key: Option<String>,
    /// The cache version.
    pub version: String,
    /// Lowercase hex sha256 of the manifest file.
    pub manifest_sha256: String,
    /// Creation time, ms since the epoch.
    pub created_ms: u64,
    /// Last save or restore, ms since the epoch (least recently used entries are evicted first).
    pub last_used_ms: u64,
    /// Number of regular files.
    pub files: u64,
    /// Sum of the files' sizes.
    pub bytes: u64,
}

impl Manifest {
    /// The index record for this manifest.
    pub fn meta(&self, manifest_sha256: String, last_used_ms: u64) -> Meta {
        let files = self.files.iter().filter(|i| i.kind == Kind::File);
        Meta {
            format: META_FORMAT.into(),
            key: self.key.clone(),
            version: self.version.clone(),
            manifest_sha256,
            created_ms: self.created_ms,
            last_used_ms,
            files: files.clone().count() as u64,
            bytes: files.filter_map(|i| i.size).sum(),
        }
    }

    /// The blobs the manifest references.
    pub fn blobs(&self) -> impl Iterator<Item = &str> {
        self.files.iter().filter_map(|i| i.sha256.as_deref())
    }

    /// Checks everything restore relies on. `paths` is what the restoring build asks for:
    /// the manifest must be of its version, and every item must be a path those globs select.
    /// Returns the first problem found.
    pub fn check(&self, paths: &CachePaths, max_files: u64, max_bytes: u64) -> Result<(), String> {
        if self.format != MANIFEST_FORMAT {
            return Err(format!("unknown manifest format '{}'", self.format.escape_debug()));
        }
        if self.version != paths.version || self.paths != paths.canonical {
            return Err("the manifest is for other cache paths (version mismatch)".into());
        }
        if self.files.len() as u64 > max_files {
            return Err(format!("{} items, more than the limit of {max_files}", self.files.len()));
        }
        let total: u64 = self.files.iter().filter_map(|i| i.size).fold(0u64, u64::saturating_add);
        if total > max_bytes {
            return Err(format!("{total} bytes, more than the limit of {max_bytes}"));
        }
        let mut seen = HashSet::new();
        let mut non_dirs = HashSet::new();
        for item in &self.files {
            let root = RootKind::parse(&item.root).ok_or_else(|| format!("unknown root '{}'", item.root.escape_debug()))?;
            let shown = || format!("{}:{}", item.root, item.path.shown());
            check_rel(&item.path.0).map_err(|e| format!("path '{}' {e}", shown()))?;
            if !paths.matches(&root, item.path.as_path()) {
                return Err(format!("path '{}' is not selected by the cache paths", shown()));
            }
            if !seen.insert((&item.root, &item.path)) {
                return Err(format!("path '{}' is listed twice", shown()));
            }
            if item.kind != Kind::Dir {
                non_dirs.insert((&item.root, &item.path.0[..]));
            }
            check_item(item).map_err(|e| format!("'{}': {e}", shown()))?;
        }
        // No item may sit below a file or link of the same entry: restoring it would mean
        // writing through that link.
        for item in &self.files {
            let p = &item.path.0;
            for (i, b) in p.iter().enumerate() {
                if *b == b'/' && non_dirs.contains(&(&item.root, &p[..i])) {
                    return Err(format!("'{}:{}' lies below a file or symlink of the same entry", item.root, item.path.shown()));
                }
            }
        }
        Ok(())
    }
}

fn check_item(item: &Item) -> Result<(), String> {
    let mode_ok = |m: Option<u32>| m.is_some_and(|m| m <= 0o7777);
    match item.kind {
        Kind::File => {
            let sha_ok = item.sha256.as_deref().is_some_and(|s| s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')));
            if !sha_ok || item.size.is_none() || !mode_ok(item.mode) || item.target.is_some() {
                return Err("a file needs a mode, a size and a lowercase hex sha256, and no target".into());
            }
            if item.mtime.is_some_and(|(_, ns)| ns >= 1_000_000_000) {
                return Err("invalid mtime".into());
            }
        }
        Kind::Dir => {
            if !mode_ok(item.mode) || item.sha256.is_some() || item.size.is_some() || item.target.is_some() {
                return Err("a directory has a mode only".into());
            }
        }
        Kind::Symlink => {
            let target = item.target.as_ref().ok_or("a symlink needs a target")?;
            if item.sha256.is_some() || item.size.is_some() {
                return Err("a symlink has a target only".into());
            }
            if link_escapes(&item.path.0, &target.0) {
                return Err(format!("symlink target '{}' points outside its root", target.shown()));
            }
        }
    }
    Ok(())
}

/// Checks a manifest path: relative, `/`-separated, no empty, `.` or `..` component, no NUL,
/// bounded lengths.
pub fn check_rel(p: &[u8]) -> Result<(), &'static str> {
    if p.is_empty() || p.len() > MAX_PATH_BYTES {
        return Err("is empty or too long");
    }
    if p.contains(&0) {
        return Err("contains a NUL byte");
    }
    if p[0] == b'/' {
        return Err("is absolute");
    }
    for c in p.split(|b| *b == b'/') {
        match c {
            b"" | b"." => return Err("has an empty or '.' component"),
            b".." => return Err("has a '..' component"),
            c if c.len() > MAX_NAME_BYTES => return Err("has a component longer than 255 bytes"),
            _ => {}
        }
    }
    Ok(())
}

/// Whether a symlink at root-relative `path` with `target` resolves (lexically) outside the
/// root: an absolute or empty target, a NUL, or `..` climbing above the root.
pub fn link_escapes(path: &[u8], target: &[u8]) -> bool {
    target.is_empty() || target.contains(&0) || kiln_artifacts::link_escapes(Path::new(OsStr::from_bytes(path)), Path::new(OsStr::from_bytes(target)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_round_trip_utf8_and_not() {
        for raw in [b"a/b\nc".to_vec(), vec![b'x', 0xff, b'/', 0xfe]] {
            let json = serde_json::to_string(&Bytes(raw.clone())).unwrap();
            assert_eq!(serde_json::from_str::<Bytes>(&json).unwrap().0, raw);
        }
        assert_eq!(serde_json::to_string(&Bytes(vec![0xff])).unwrap(), r#"{"hex":"ff"}"#);
    }

    #[test]
    fn rel_paths_and_links() {
        assert!(check_rel(b"a/b").is_ok());
        for bad in [&b""[..], b"/etc/x", b"../../etc/x", b"a/../b", b"a//b", b"./a", b"a\0b"] {
            assert!(check_rel(bad).is_err(), "{bad:?}");
        }
        assert!(!link_escapes(b"a/l", b"../b"));
        assert!(link_escapes(b"l", b"../b"));
        assert!(link_escapes(b"a/l", b"/etc"));
        assert!(link_escapes(b"a/l", b"x/../../../b"));
    }
}
