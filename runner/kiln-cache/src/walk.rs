//! Finding what `cache.paths` select (for a save), and the `codebuild-glob-search` /
//! `codebuild-hash-files` helpers that share the walk.

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::fs;
use std::io::{self, Read};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use cap_std::ambient_authority;
use cap_std::fs::{Dir, OpenOptions, OpenOptionsExt};
use kiln_artifacts::Pattern;
use sha2::{Digest, Sha256};
use walkdir::WalkDir;

use crate::manifest::link_escapes;
use crate::spec::{CachePaths, RootKind, Roots};
use crate::{CacheError, Skipped};

/// What a path selects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum FoundKind {
    File,
    Dir { mode: u32 },
    Symlink { target: Vec<u8> },
}

/// Everything `paths` select under each root, sorted by (root, path); what cannot be cached
/// goes to `skipped` with a reason.
pub(crate) fn select(paths: &CachePaths, roots: &Roots, max_items: u64, skipped: &mut Vec<Skipped>) -> Result<BTreeMap<(RootKind, Vec<u8>), FoundKind>, CacheError> {
    let mut found = BTreeMap::new();
    for kind in paths.roots() {
        let Some(dir) = kind.dir(roots) else {
            skipped.push(Skipped { path: kind.name(), reason: "this absolute root is not allowed for this build".into() });
            continue;
        };
        if !fs::symlink_metadata(dir).is_ok_and(|m| m.is_dir()) {
            skipped.push(Skipped { path: dir.display().to_string(), reason: format!("the {} directory does not exist", kind.name()) });
            continue;
        }
        for spec in paths.specs.iter().filter(|s| s.root == kind) {
            let before = found.len();
            let mut local = Vec::new();
            walk_matches(dir, &[&spec.pattern], skipped, &mut |rel, ft, path| {
                let k = if ft.is_dir() {
                    let mode = fs::symlink_metadata(path).map(|m| m.permissions().mode() & 0o7777).unwrap_or(0o755);
                    FoundKind::Dir { mode }
                } else if ft.is_file() {
                    FoundKind::File
                } else if ft.is_symlink() {
                    match link_target(dir, path, rel) {
                        Ok(target) => FoundKind::Symlink { target },
                        Err(reason) => {
                            local.push(Skipped { path: shown(&kind, rel), reason });
                            return;
                        }
                    }
                } else {
                    local.push(Skipped { path: shown(&kind, rel), reason: "not a regular file, directory or symlink (socket, FIFO or device)".into() });
                    return;
                };
                found.insert((kind.clone(), rel.as_os_str().as_bytes().to_vec()), k);
            });
            skipped.append(&mut local);
            if found.len() as u64 > max_items {
                return Err(CacheError::TooBig { what: format!("more than {max_items} files and directories"), help: "narrow cache.paths, or raise the limit".into() });
            }
            if found.len() == before {
                skipped.push(Skipped { path: spec.raw.clone(), reason: "matched nothing (a directory needs '/**/*' to include its contents)".into() });
            }
        }
    }
    Ok(found)
}

/// Calls `f(relative path, file type, absolute path)` for every entry below `dir` that one of
/// `patterns` matches, in path order, never following a symlink: the walk starts at each
/// pattern's literal prefix (refused when a component of it is a symlink) and does not enter
/// linked directories.
fn walk_matches(dir: &Path, patterns: &[&Pattern], skipped: &mut Vec<Skipped>, f: &mut dyn FnMut(&Path, fs::FileType, &Path)) {
    let mut starts: Vec<String> = patterns.iter().map(|p| p.literal_prefix()).collect();
    starts.sort();
    starts.dedup();
    // Drop starts below another start: the outer walk covers them.
    let all = starts.clone();
    starts.retain(|s| !all.iter().any(|o| o != s && (o.is_empty() || s.starts_with(&format!("{o}/")))));
    let deep = patterns.iter().any(|p| p.normalized.contains("**"));
    for start in starts {
        let mut base = dir.to_path_buf();
        let mut ok = true;
        for comp in start.split('/').filter(|c| !c.is_empty()) {
            base.push(comp);
            match fs::symlink_metadata(&base) {
                Ok(m) if m.file_type().is_symlink() => {
                    skipped.push(Skipped { path: base.display().to_string(), reason: "is a symlink; kiln does not follow links when caching".into() });
                    ok = false;
                    break;
                }
                Ok(m) if m.is_dir() => {}
                _ => {
                    ok = false;
                    break;
                }
            }
        }
        if !ok {
            continue;
        }
        let depth = if deep { usize::MAX } else { patterns.iter().map(|p| p.normalized.split('/').count()).max().unwrap_or(1).saturating_sub(start.split('/').filter(|c| !c.is_empty()).count()) };
        let walker = WalkDir::new(&base).follow_links(false).min_depth(1).max_depth(depth.max(1)).sort_by(|a, b| a.file_name().as_bytes().cmp(b.file_name().as_bytes()));
        for entry in walker {
            let entry = match entry {
                Ok(e) => e,
                Err(e) => {
                    let path = e.path().unwrap_or(&base).display().to_string();
                    skipped.push(Skipped { path, reason: format!("cannot be read: {}", e.io_error().map(|e| e.to_string()).unwrap_or_else(|| e.to_string())) });
                    continue;
                }
            };
            let Ok(rel) = entry.path().strip_prefix(dir) else { continue };
            if patterns.iter().any(|p| p.matcher.is_match(rel)) {
                f(rel, entry.file_type(), entry.path());
            }
        }
    }
}

/// The target to store for the symlink at `path` (root-relative `rel`): relative as written,
/// or an absolute target inside `root` made relative; an error when it leaves the root.
fn link_target(root: &Path, path: &Path, rel: &Path) -> Result<Vec<u8>, String> {
    let raw = fs::read_link(path).map_err(|e| format!("cannot read the symlink: {e}"))?;
    let rel_bytes = rel.as_os_str().as_bytes();
    let target = if raw.is_absolute() {
        let inside = raw.strip_prefix(root).map_err(|_| format!("symlink to '{}' points outside its root; links are cached only when they stay inside", raw.display()))?;
        let ups = rel.components().count() - 1;
        let mut t = PathBuf::new();
        for _ in 0..ups {
            t.push("..");
        }
        t.push(inside);
        if t.as_os_str().is_empty() { PathBuf::from(".") } else { t }
    } else {
        raw
    };
    let bytes = target.as_os_str().as_bytes().to_vec();
    if link_escapes(rel_bytes, &bytes) {
        return Err(format!("symlink to '{}' points outside its root; links are cached only when they stay inside", target.display()));
    }
    Ok(bytes)
}

pub(crate) fn shown(root: &RootKind, rel: &Path) -> String {
    format!("{}:{}", root.name(), rel.display()).escape_debug().to_string()
}

/// Opens root-relative `rel` for reading through a capability directory: nothing outside the
/// root can be reached, FIFOs never block, and only regular files are accepted.
pub(crate) fn open_file(root: &Dir, rel: &Path) -> io::Result<fs::File> {
    let mut options = OpenOptions::new();
    options.read(true).custom_flags(libc::O_NONBLOCK | libc::O_NOFOLLOW);
    let file = root.open_with(rel, &options)?.into_std();
    if !file.metadata()?.is_file() {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "not a regular file"));
    }
    Ok(file)
}

/// Opens `dir` as a capability root.
pub(crate) fn open_root(dir: &Path) -> io::Result<Dir> {
    Dir::open_ambient_dir(dir, ambient_authority())
}

/// What [`glob_search`] found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Listing {
    /// Matching files relative to the root, sorted bytewise.
    pub files: Vec<PathBuf>,
    /// Entries left out, with why (symlinks out of the root, unreadable directories).
    pub skipped: Vec<Skipped>,
}

/// `codebuild-glob-search <glob>...`: the files below `root` that any glob selects, relative
/// to `root`, sorted. CodeBuild: "a newline-separated list of file paths that match", "relative
/// to the working directory", "directories found due to any given pattern will be excluded",
/// `*` excludes path separators, `**` includes them. Globs use [`kiln_artifacts::Pattern`]'s
/// rules (absolute and `..` patterns refused). kiln's choices where CodeBuild is silent:
/// symlinks to files are listed when they resolve to a regular file inside `root`, others are
/// skipped with a reason; linked directories are not entered; sockets, FIFOs and devices are
/// left out. An empty list is not an error: the caller prints CodeBuild's "no files found".
pub fn glob_search(root: &Path, globs: &[String]) -> Result<Listing, CacheError> {
    let patterns = globs.iter().map(|g| Pattern::new("glob", g).map_err(|e| CacheError::InvalidPath { path: g.clone(), reason: e.to_string() })).collect::<Result<Vec<_>, _>>()?;
    let root = root.canonicalize().map_err(|source| CacheError::Io { path: root.to_path_buf(), source })?;
    let mut listing = Listing::default();
    let refs: Vec<&Pattern> = patterns.iter().collect();
    let mut files = Vec::new();
    let mut escaping = Vec::new();
    walk_matches(&root, &refs, &mut listing.skipped, &mut |rel, ft, path| {
        if ft.is_file() {
            files.push(rel.to_path_buf());
        } else if ft.is_symlink() {
            match fs::canonicalize(path) {
                Ok(t) if t.starts_with(&root) && t.is_file() => files.push(rel.to_path_buf()),
                Ok(t) if t.starts_with(&root) => {}
                Ok(t) => escaping.push(Skipped { path: rel.display().to_string(), reason: format!("symlink to '{}' points outside the directory; not followed", t.display()) }),
                Err(e) => escaping.push(Skipped { path: rel.display().to_string(), reason: format!("symlink cannot be resolved ({e})") }),
            }
        }
    });
    files.sort_by(|a, b| a.as_os_str().as_bytes().cmp(b.as_os_str().as_bytes()));
    files.dedup();
    listing.skipped.append(&mut escaping);
    listing.files = files;
    Ok(listing)
}

/// `codebuild-hash-files <glob>...`: one sha256 over the files [`glob_search`] lists, `None`
/// when nothing matches. CodeBuild documents only "calculates a SHA-256 hash for a set of files
/// in the CodeBuild source directory using glob patterns"; the exact input is unconfirmed. kiln
/// proposal: files in bytewise order of their relative path, each contributing `path NUL
/// hex-sha256-of-content LF`, so a content change, a rename, an added or a removed file each
/// change the hash, and the result does not depend on how the globs were ordered or overlap.
pub fn hash_files(root: &Path, globs: &[String]) -> Result<Option<String>, CacheError> {
    let listing = glob_search(root, globs)?;
    if listing.files.is_empty() {
        return Ok(None);
    }
    let dir = open_root(root).map_err(|source| CacheError::Io { path: root.to_path_buf(), source })?;
    let mut outer = Sha256::new();
    let mut buf = vec![0u8; crate::blobs::BUF];
    for rel in &listing.files {
        let io_err = |source| CacheError::Io { path: root.join(rel), source };
        // Listed links resolve inside the root; cap-std follows them only there.
        let mut options = OpenOptions::new();
        options.read(true).custom_flags(libc::O_NONBLOCK);
        let mut file = dir.open_with(rel, &options).map_err(io_err)?.into_std();
        if !file.metadata().map_err(io_err)?.is_file() {
            return Err(io_err(io::Error::new(io::ErrorKind::InvalidInput, "not a regular file")));
        }
        let mut inner = Sha256::new();
        loop {
            let n = file.read(&mut buf).map_err(io_err)?;
            if n == 0 {
                break;
            }
            inner.update(&buf[..n]);
        }
        outer.update(rel.as_os_str().as_bytes());
        outer.update([0]);
        outer.update(hex::encode(inner.finalize()).as_bytes());
        outer.update([b'\n']);
    }
    Ok(Some(hex::encode(outer.finalize())))
}

/// A root-relative path from manifest bytes.
pub(crate) fn rel_path(bytes: &[u8]) -> &Path {
    Path::new(OsStr::from_bytes(bytes))
}
