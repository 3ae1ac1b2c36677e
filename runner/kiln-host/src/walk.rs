//! The host-side walk of the source tree for `file-scanner` plugins: every regular file under the
//! root, sorted by path. Symbolic links are never followed (so link loops cannot recurse and no
//! link leads out), excluded paths are not entered, depth is bounded, and every open goes through
//! a cap-std directory handle, so it stays beneath the root even if the tree changes meanwhile.

use cap_std::ambient_authority;
use cap_std::fs::{Dir, OpenOptions, OpenOptionsExt};
use globset::{GlobBuilder, GlobSet, GlobSetBuilder};
use std::ffi::OsString;
use std::io::Read;
use std::path::Path;
use std::sync::Arc;

/// Deepest directory level entered; deeper directories are counted and reported.
pub(crate) const MAX_DEPTH: usize = 256;

/// A regular file the walk found, opened later through its directory's handle.
pub(crate) struct FileRef {
    /// Relative to the root, `/`-separated (lossy UTF-8 for the plugin and the log).
    pub rel: String,
    dir: Arc<Dir>,
    name: OsString,
}

/// What the walk left out, and why (one message per unreadable or too-deep directory).
#[derive(Default, Debug)]
pub(crate) struct WalkCounts {
    pub unreadable: u64,
    pub excluded: u64,
    pub too_deep: u64,
    pub not_regular: u64,
    pub warnings: Vec<String>,
}

/// The `exclude` (or `only`) globs of a `file-filter`, with the semantics its WIT documents: `*` and `?`
/// within one segment, `**` across segments, a pattern without `/` matches a name at any depth,
/// a trailing `/` means a directory.
pub(crate) struct Exclude(GlobSet);

impl Exclude {
    /// Compiles the patterns of the `file-filter` field `key`; the error names the field and
    /// the pattern that is not a valid glob.
    pub(crate) fn new(key: &str, patterns: &[String]) -> Result<Exclude, String> {
        let mut set = GlobSetBuilder::new();
        for p in patterns {
            let trimmed = p.trim_start_matches("./").trim_end_matches('/');
            // A `/` anywhere but at the end anchors the pattern at the root.
            let anchored = trimmed.contains('/');
            let body = trimmed
                .strip_suffix("/**")
                .unwrap_or(trimmed)
                .trim_start_matches('/');
            if body.is_empty() {
                continue;
            }
            let full = if anchored {
                body.to_string()
            } else {
                format!("**/{body}")
            };
            let glob = GlobBuilder::new(&full)
                .literal_separator(true)
                .backslash_escape(true)
                .build()
                .map_err(|e| format!("{key} pattern {p:?}: {}", e.kind()))?;
            set.add(glob);
            // What is below a matched directory matches too (for callers that test files only).
            if let Ok(below) = GlobBuilder::new(&format!("{full}/**"))
                .literal_separator(true)
                .backslash_escape(true)
                .build()
            {
                set.add(below);
            }
        }
        set.build()
            .map(Exclude)
            .map_err(|e| format!("{key} patterns: {e}"))
    }

    /// True when `rel` (a file or a directory) is excluded.
    pub(crate) fn is_match(&self, rel: &str) -> bool {
        self.0.is_match(rel)
    }
}

/// Every regular file under `root` (that `only` matches, when given), sorted by relative
/// path. Fails only when `root` itself cannot be opened.
pub(crate) fn walk(
    root: &Path,
    exclude: &Exclude,
    only: Option<&Exclude>,
) -> std::io::Result<(Vec<FileRef>, WalkCounts)> {
    let top = Arc::new(Dir::open_ambient_dir(root, ambient_authority())?);
    let mut files = Vec::new();
    let mut counts = WalkCounts::default();
    let mut stack: Vec<(Arc<Dir>, String, usize)> = vec![(top, String::new(), 0)];
    while let Some((dir, rel, depth)) = stack.pop() {
        let entries = match dir.entries() {
            Ok(e) => e,
            Err(e) => {
                counts.unreadable += 1;
                counts
                    .warnings
                    .push(format!("{}: cannot list directory: {e}", shown(&rel)));
                continue;
            }
        };
        for entry in entries {
            let Ok(entry) = entry else {
                counts.unreadable += 1;
                continue;
            };
            let name = entry.file_name();
            let child = if rel.is_empty() {
                name.to_string_lossy().into_owned()
            } else {
                format!("{rel}/{}", name.to_string_lossy())
            };
            if exclude.is_match(&child) {
                counts.excluded += 1;
                continue;
            }
            // The entry's own type: a symbolic link is reported as a link, never followed.
            let Ok(ty) = entry.file_type() else {
                counts.unreadable += 1;
                continue;
            };
            if ty.is_dir() {
                if depth + 1 > MAX_DEPTH {
                    counts.too_deep += 1;
                    counts.warnings.push(format!(
                        "{child}: deeper than {MAX_DEPTH} levels, not scanned"
                    ));
                    continue;
                }
                match open_dir_nofollow(&dir, &name) {
                    Ok(sub) => stack.push((Arc::new(sub), child, depth + 1)),
                    Err(e) => {
                        counts.unreadable += 1;
                        counts
                            .warnings
                            .push(format!("{child}: cannot open directory: {e}"));
                    }
                }
            } else if ty.is_file() {
                if only.is_some_and(|o| !o.is_match(&child)) {
                    continue;
                }
                files.push(FileRef {
                    rel: child,
                    dir: dir.clone(),
                    name,
                });
            } else {
                counts.not_regular += 1;
            }
        }
    }
    files.sort_unstable_by(|a, b| a.rel.cmp(&b.rel));
    Ok((files, counts))
}

/// Opens a subdirectory without following a symbolic link (one swapped in after the listing
/// fails with `ELOOP`/`ENOTDIR` instead of leading elsewhere).
fn open_dir_nofollow(dir: &Dir, name: &std::ffi::OsStr) -> std::io::Result<Dir> {
    let mut opts = OpenOptions::new();
    opts.read(true)
        .custom_flags(libc::O_DIRECTORY | libc::O_NOFOLLOW);
    Ok(Dir::from_std_file(dir.open_with(name, &opts)?.into_std()))
}

fn shown(rel: &str) -> &str {
    if rel.is_empty() { "." } else { rel }
}

/// What reading one file gave.
pub(crate) enum FileData {
    /// The whole file.
    Bytes(Vec<u8>),
    /// Larger than the cap (its size), not read.
    TooLarge(u64),
}

impl FileRef {
    /// Reads the file unless it is larger than `cap`. Opened without following a symbolic link
    /// and without blocking (a file swapped for a FIFO fails instead of hanging); a file that
    /// grows while being read is cut at `cap + 1` bytes and reported as too large.
    pub(crate) fn read(&self, cap: u64) -> std::io::Result<FileData> {
        let mut opts = OpenOptions::new();
        opts.read(true)
            .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_NOCTTY);
        let file = self.dir.open_with(&self.name, &opts)?;
        let meta = file.metadata()?;
        if !meta.is_file() {
            return Err(std::io::Error::other("not a regular file"));
        }
        if meta.len() > cap {
            return Ok(FileData::TooLarge(meta.len()));
        }
        let mut buf = Vec::with_capacity(meta.len() as usize);
        file.into_std().take(cap + 1).read_to_end(&mut buf)?;
        if buf.len() as u64 > cap {
            return Ok(FileData::TooLarge(buf.len() as u64));
        }
        Ok(FileData::Bytes(buf))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ex(p: &[&str]) -> Exclude {
        Exclude::new("exclude", &p.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap()
    }

    #[test]
    fn exclude_semantics() {
        let e = ex(&["*.lock", "node_modules", "docs/**", "build/", "a/*/c"]);
        assert!(e.is_match("Cargo.lock"));
        assert!(e.is_match("x/y/Cargo.lock"));
        assert!(!e.is_match("Cargo.locks"));
        assert!(e.is_match("node_modules"));
        assert!(e.is_match("web/node_modules"));
        assert!(!e.is_match("node_modules2"));
        assert!(e.is_match("docs"));
        assert!(e.is_match("docs/x.md"));
        assert!(!e.is_match("src/docs"));
        assert!(e.is_match("build"));
        assert!(e.is_match("x/build"));
        assert!(e.is_match("a/b/c"));
        assert!(!e.is_match("a/b/x/c"));
        assert!(ex(&["*.md"]).is_match("docs/x.md"));
        assert!(!ex(&["*.md"]).is_match("docs/x.mdx"));
    }

    #[test]
    fn bad_glob_is_named() {
        let e = Exclude::new("exclude", &["a[".to_string()]).err().unwrap();
        assert!(e.contains("\"a[\""), "{e}");
    }

    #[test]
    fn walk_skips_links_excluded_and_sorts() {
        let t = tempfile::tempdir().unwrap();
        let r = t.path();
        std::fs::create_dir_all(r.join("b/skip")).unwrap();
        std::fs::create_dir_all(r.join("a")).unwrap();
        std::fs::write(r.join("b/2.txt"), "two").unwrap();
        std::fs::write(r.join("a/1.txt"), "one").unwrap();
        std::fs::write(r.join("b/skip/x.txt"), "x").unwrap();
        std::os::unix::fs::symlink("/etc/passwd", r.join("a/link")).unwrap();
        std::os::unix::fs::symlink(r, r.join("a/loop")).unwrap();
        let (files, counts) = walk(r, &ex(&["skip"]), None).unwrap();
        let rels: Vec<&str> = files.iter().map(|f| f.rel.as_str()).collect();
        assert_eq!(rels, ["a/1.txt", "b/2.txt"]);
        assert_eq!((counts.excluded, counts.not_regular), (1, 2));
        match files[0].read(100).unwrap() {
            FileData::Bytes(b) => assert_eq!(b, b"one"),
            FileData::TooLarge(_) => panic!("small file"),
        }
        assert!(matches!(files[1].read(2).unwrap(), FileData::TooLarge(3)));
    }

    #[test]
    fn a_file_swapped_for_a_link_is_not_followed() {
        let t = tempfile::tempdir().unwrap();
        std::fs::write(t.path().join("f"), "data").unwrap();
        let (files, _) = walk(t.path(), &ex(&[]), None).unwrap();
        let (only, _) = walk(t.path(), &ex(&[]), Some(&ex(&["*.lock"]))).unwrap();
        assert!(only.is_empty());
        std::fs::remove_file(t.path().join("f")).unwrap();
        std::os::unix::fs::symlink("/etc/passwd", t.path().join("f")).unwrap();
        assert!(files[0].read(1 << 20).is_err());
    }
}
