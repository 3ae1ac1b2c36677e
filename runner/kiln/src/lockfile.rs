//! `kiln.lock`: third-party plugins pinned by sha256, beside the buildspec.
//!
//! A buildspec names such a plugin as `uses: NAME@sha256:<hex>`; kiln finds `NAME` in the
//! `kiln.lock` in the buildspec's directory, checks that the lock's digest is the one the
//! buildspec pins, reads the component from the entry's `source` and refuses it unless its bytes
//! hash to that digest. The format (TOML, written by `kiln plugin lock`):
//!
//! ```toml
//! # kiln.lock: plugins pinned by sha256 (written by `kiln plugin lock`)
//! version = 1
//!
//! [[plugin]]
//! name = "todo-scan"                     # the manifest's name; what `uses: NAME@sha256:…` refers to
//! version = "0.1.0"                      # the manifest's version (informational)
//! source = "plugins/todo-scan.wasm"      # a path relative to kiln.lock, an absolute path, or file://…
//! sha256 = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
//! ```
//!
//! kiln never downloads plugins: `http(s)://` sources are refused with a message saying to fetch
//! the file and lock the local copy.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The file name kiln looks for beside the buildspec.
pub const LOCK_FILE: &str = "kiln.lock";

/// A parsed `kiln.lock`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Lock {
    /// Format version (1).
    pub version: u32,
    /// The pinned plugins, sorted by name.
    #[serde(default, rename = "plugin")]
    pub plugins: Vec<LockEntry>,
}

/// One pinned plugin.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LockEntry {
    /// The plugin's manifest name.
    pub name: String,
    /// The plugin's manifest version.
    pub version: String,
    /// Where the component is: relative to the lock file, absolute, or a `file://` URL.
    pub source: String,
    /// Lower-case hex sha256 of the component.
    pub sha256: String,
}

impl Lock {
    /// Read `path`; a missing file is an empty lock.
    pub fn read(path: &Path) -> Result<Lock, String> {
        Lock::read_from(None, path)
    }

    /// Read the `kiln.lock` of the project in `root`: only if it resolves inside the project.
    pub fn read_within(root: &Path, path: &Path) -> Result<Lock, String> {
        Lock::read_from(Some(root), path)
    }

    fn read_from(root: Option<&Path>, path: &Path) -> Result<Lock, String> {
        let read = match root {
            Some(root) => kiln_fs::read_input_within(root, path, kiln_fs::limits::CONFIG, "lock file"),
            None => kiln_fs::read_input(path, kiln_fs::limits::CONFIG, "lock file"),
        };
        let text = match read.and_then(|b| String::from_utf8(b).map_err(|_| kiln_fs::InputError::not_utf8(path, "lock file"))) {
            Ok(t) => t,
            Err(e) if e.is_not_found() => return Ok(Lock { version: 1, plugins: vec![] }),
            Err(e) => return Err(e.to_string()),
        };
        Lock::parse(&text).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// Parse the TOML text of a lock file.
    pub fn parse(text: &str) -> Result<Lock, String> {
        let lock: Lock = toml::from_str(text).map_err(|e| e.to_string().trim_end().to_string())?;
        if lock.version != 1 {
            return Err(format!("version {} is not supported (this kiln reads version 1)", lock.version));
        }
        let mut seen = std::collections::BTreeSet::new();
        for e in &lock.plugins {
            if e.sha256.len() != 64 || !e.sha256.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()) {
                return Err(format!("plugin `{}`: sha256 must be 64 lower-case hexadecimal digits", e.name));
            }
            if !seen.insert(&e.name) {
                return Err(format!("plugin `{}` is listed twice", e.name));
            }
        }
        Ok(lock)
    }

    /// The entry for `name`.
    pub fn get(&self, name: &str) -> Option<&LockEntry> {
        self.plugins.iter().find(|e| e.name == name)
    }

    /// Add or replace the entry with the same name; returns the replaced one.
    pub fn upsert(&mut self, entry: LockEntry) -> Option<LockEntry> {
        let old = self.plugins.iter().position(|e| e.name == entry.name).map(|i| self.plugins.remove(i));
        self.plugins.push(entry);
        self.plugins.sort_by(|a, b| a.name.cmp(&b.name));
        old
    }

    /// The TOML text (with a header comment).
    pub fn to_text(&self) -> String {
        let body = toml::to_string(self).unwrap_or_default();
        format!("# kiln.lock: plugins pinned by sha256, referenced as `uses: NAME@sha256:<digest>`.\n# Written by `kiln plugin lock`; see runner/kiln/src/lockfile.rs for the format.\n{body}")
    }

    /// Write atomically (temp file in the same directory, then rename).
    pub fn write(&self, path: &Path) -> Result<(), String> {
        let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
        let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(|e| format!("cannot write in {}: {e}", dir.display()))?;
        std::io::Write::write_all(&mut tmp, self.to_text().as_bytes()).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        tmp.persist(path).map_err(|e| format!("cannot write {}: {}", path.display(), e.error))?;
        Ok(())
    }
}

impl LockEntry {
    /// The component's path, for a lock file at `lock_path`.
    pub fn source_path(&self, lock_path: &Path) -> Result<PathBuf, String> {
        let s = self.source.as_str();
        if s.starts_with("http://") || s.starts_with("https://") {
            return Err(format!(
                "plugin `{}`: source {s} is a URL; kiln runs offline and never downloads plugins: fetch the file and lock the local copy with `kiln plugin lock PATH`",
                self.name
            ));
        }
        let p = PathBuf::from(s.strip_prefix("file://").unwrap_or(s));
        Ok(if p.is_absolute() { p } else { lock_path.parent().unwrap_or(Path::new(".")).join(p) })
    }
}

/// How `source` is written for a component at `component`, relative to the lock file's directory when inside it.
pub fn source_text(component: &Path, lock_path: &Path) -> String {
    let abs = |p: &Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
    let dir = abs(lock_path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new(".")));
    let comp = abs(component);
    match comp.strip_prefix(&dir) {
        Ok(rel) => rel.to_string_lossy().into_owned(),
        Err(_) => comp.to_string_lossy().into_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_upsert_and_errors() {
        let mut l = Lock { version: 1, plugins: vec![] };
        let e = |n: &str, d: char| LockEntry { name: n.into(), version: "1.0.0".into(), source: format!("{n}.wasm"), sha256: d.to_string().repeat(64) };
        assert!(l.upsert(e("zeta", 'a')).is_none());
        l.upsert(e("alpha", 'b'));
        assert_eq!(l.upsert(e("zeta", 'c')).unwrap().sha256, "a".repeat(64));
        let back = Lock::parse(&l.to_text()).unwrap();
        assert_eq!(back, l);
        assert_eq!(back.plugins[0].name, "alpha");
        assert!(Lock::parse("version = 2").unwrap_err().contains("version 2"));
        let dup = format!("version = 1\n[[plugin]]\nname='a'\nversion='1'\nsource='a'\nsha256='{0}'\n[[plugin]]\nname='a'\nversion='1'\nsource='a'\nsha256='{0}'\n", "a".repeat(64));
        assert!(Lock::parse(&dup).unwrap_err().contains("twice"));
        assert!(Lock::parse("version = 1\n[[plugin]]\nname='a'\nversion='1'\nsource='a'\nsha256='XYZ'\n").unwrap_err().contains("64 lower-case"));
        let url = LockEntry { source: "https://example.invalid/a.wasm".into(), ..e("a", 'a') };
        assert!(url.source_path(Path::new("kiln.lock")).unwrap_err().contains("never downloads"));
        assert_eq!(e("a", 'a').source_path(Path::new("/p/kiln.lock")).unwrap(), PathBuf::from("/p/a.wasm"));
    }
}
