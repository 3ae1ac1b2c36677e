//! Selection: which files of the working copy an `artifacts:` block names.

use std::collections::BTreeMap;
use std::collections::btree_map::Entry;
use std::fs;
use std::io;
use std::path::{Component, Path, PathBuf};

use cap_std::ambient_authority;
use cap_std::fs::Dir;
use globset::{Glob, GlobBuilder, GlobMatcher, GlobSet, GlobSetBuilder};
use sha2::{Digest, Sha256};
use walkdir::WalkDir;

use crate::read::{hash_reader, open_confined};
use crate::{ArtifactError, ArtifactSpec, SelectedFile, Selection};

/// Selects the files of `work_dir` that `spec` names, the way CodeBuild's
/// `UPLOAD_ARTIFACTS` phase does, and records each one's size and sha256.
///
/// See the crate documentation for the exact semantics. Patterns that match nothing and
/// entries that are skipped (escaping or dangling symlinks, special files) end up in
/// [`Selection::warnings`]; an empty result is [`ArtifactError::NoMatchingArtifactPaths`].
pub fn select(work_dir: &Path, spec: &ArtifactSpec) -> Result<Selection, ArtifactError> {
    let work_err = |source| ArtifactError::WorkDir {
        path: work_dir.to_path_buf(),
        source,
    };
    let root = work_dir.canonicalize().map_err(work_err)?;
    if !root.is_dir() {
        return Err(work_err(io::Error::new(
            io::ErrorKind::NotADirectory,
            "not a directory",
        )));
    }
    if spec.files.is_empty() {
        return Err(ArtifactError::NoFilePatterns {
            identifier: spec.identifier.clone(),
        });
    }
    let files = spec
        .files
        .iter()
        .map(|p| {
            let norm = normalize("files", p)?;
            Ok((norm.clone(), glob("files", p, &norm)?.compile_matcher()))
        })
        .collect::<Result<Vec<(String, GlobMatcher)>, ArtifactError>>()?;
    let exclude = exclude_set(&spec.exclude_paths)?;
    let root_dir = Dir::open_ambient_dir(&root, ambient_authority()).map_err(work_err)?;

    let mut warnings = Vec::new();
    let bases = resolve_bases(&root, spec.base_directory.as_deref(), &mut warnings)?;
    let mut matched = vec![false; files.len()];
    let mut chosen: BTreeMap<String, SelectedFile> = BTreeMap::new();
    for base in &bases {
        for found in walk(&root, base, spec.enable_symlinks, &mut warnings)? {
            let mut hit = false;
            for (i, (_, m)) in files.iter().enumerate() {
                if m.is_match(&found.rel) {
                    matched[i] = true;
                    hit = true;
                }
            }
            if !hit || exclude.is_match(&found.rel) {
                continue;
            }
            let path = if spec.discard_paths {
                found
                    .rel
                    .rsplit('/')
                    .next()
                    .unwrap_or(&found.rel)
                    .to_string()
            } else {
                found.rel.clone()
            };
            let entry = match chosen.entry(path) {
                Entry::Occupied(e) if e.get().source == found.abs => continue,
                Entry::Occupied(e) => {
                    let (first, second) = (e.get().source.clone(), found.abs);
                    let path = e.key().clone();
                    return Err(if spec.discard_paths {
                        ArtifactError::DiscardPathsCollision {
                            name: path,
                            first,
                            second,
                        }
                    } else {
                        ArtifactError::DuplicatePath {
                            path,
                            first,
                            second,
                        }
                    });
                }
                Entry::Vacant(v) => v,
            };
            let mut link = found.link;
            if let Some(target) = &link
                && escapes_artifact(entry.key(), target)
            {
                let shown = format!("'{}' -> '{}'", found.rel, target.display());
                if found.link_is_dir {
                    warnings.push(format!(
                        "skipping symlink {shown}: in the artifact it would point outside the \
                         artifact; set enable-symlinks: no to include the directory's files"
                    ));
                    continue;
                }
                warnings.push(format!(
                    "storing symlink {shown} as a regular file: in the artifact it would point \
                     outside the artifact"
                ));
                link = None;
            }
            let (size, sha256) =
                match &link {
                    Some(t) => {
                        let text = t.as_os_str().as_encoded_bytes();
                        (text.len() as u64, hex::encode(Sha256::digest(text)))
                    }
                    None => hash_reader(open_confined(&root_dir, &root, &found.abs)?).map_err(
                        |source| ArtifactError::Io {
                            path: found.abs.clone(),
                            source,
                        },
                    )?,
                };
            let path = entry.key().clone();
            entry.insert(SelectedFile {
                source: found.abs,
                path,
                symlink_target: link,
                size,
                sha256,
            });
        }
    }

    for ((norm, _), (raw, hit)) in files.iter().zip(spec.files.iter().zip(matched)) {
        if hit {
            continue;
        }
        if is_literal(norm) && bases.iter().any(|b| b.join(norm).is_dir()) {
            let hint = if norm.is_empty() {
                "**/*".to_string()
            } else {
                format!("{norm}/**/*")
            };
            warnings.push(format!(
                "files pattern '{raw}' names a directory and selects nothing: CodeBuild \
                 selects files, use '{hint}' for everything under it"
            ));
        } else {
            warnings.push(format!(
                "files pattern '{raw}' matched no files (CodeBuild: skipping invalid file path)"
            ));
        }
    }
    if chosen.is_empty() {
        return Err(ArtifactError::NoMatchingArtifactPaths {
            identifier: spec.identifier.clone(),
            patterns: spec.files.clone(),
            base_directory: spec.base_directory.clone(),
        });
    }
    Ok(Selection {
        root,
        files: chosen.into_values().collect(),
        warnings,
    })
}

/// One `files`-style glob compiled with the rules [`select`] uses (`*` and `?` stay within a
/// path component, `**` crosses directories, a leading `./` is ignored), for other crates that
/// take CodeBuild path lists with the same semantics (the build cache's `cache.paths`,
/// `codebuild-glob-search`).
#[derive(Debug, Clone)]
pub struct Pattern {
    /// The pattern in its canonical relative form: `./` and empty components dropped.
    pub normalized: String,
    /// Matches `/`-separated paths relative to the pattern's base (bytes on Unix, so names
    /// that are not UTF-8 match too).
    pub matcher: GlobMatcher,
}

impl Pattern {
    /// Compiles `raw`; `field` names the buildspec key in error messages. Absolute patterns
    /// and `..` components are refused ([`ArtifactError::PatternEscapes`]), as are invalid
    /// globs ([`ArtifactError::InvalidPattern`]).
    pub fn new(field: &'static str, raw: &str) -> Result<Self, ArtifactError> {
        let normalized = normalize(field, raw)?;
        let matcher = glob(field, raw, &normalized)?.compile_matcher();
        Ok(Pattern { normalized, matcher })
    }

    /// The leading components that hold no glob syntax (`node_modules` for
    /// `node_modules/**/*`, empty for `**/*`): everything the pattern can match lies below it,
    /// so a walk can start there.
    pub fn literal_prefix(&self) -> String {
        let parts: Vec<&str> = self.normalized.split('/').collect();
        let n = parts.iter().take_while(|p| is_literal(p)).count();
        // A fully literal pattern names one path: its parent directory holds it.
        let n = if n == parts.len() { n.saturating_sub(1) } else { n };
        parts[..n].join("/")
    }

    /// Whether the pattern has no glob syntax at all (it names exactly one path).
    pub fn is_literal(&self) -> bool {
        is_literal(&self.normalized)
    }
}

/// Rewrites a pattern to its canonical relative form: `./` and empty components dropped.
/// Absolute patterns and `..` components are refused.
fn normalize(field: &'static str, raw: &str) -> Result<String, ArtifactError> {
    let invalid = |reason: &str| ArtifactError::InvalidPattern {
        field,
        pattern: raw.to_string(),
        reason: reason.to_string(),
    };
    let escapes = |reason: &str| ArtifactError::PatternEscapes {
        field,
        pattern: raw.to_string(),
        reason: reason.to_string(),
    };
    if raw.trim().is_empty() {
        return Err(invalid("the pattern is empty"));
    }
    if raw.contains('\0') {
        return Err(invalid("the pattern contains a NUL byte"));
    }
    if raw.starts_with('/') || raw.starts_with('\\') {
        return Err(escapes("it is an absolute path"));
    }
    let mut parts = Vec::new();
    for part in raw.split('/') {
        match part {
            "" | "." => {}
            ".." => return Err(escapes("it has a '..' component")),
            p => parts.push(p),
        }
    }
    Ok(parts.join("/"))
}

/// Compiles a normalized pattern: `*` and `?` stay within one path component.
fn glob(field: &'static str, raw: &str, norm: &str) -> Result<Glob, ArtifactError> {
    GlobBuilder::new(norm)
        .literal_separator(true)
        .backslash_escape(true)
        .empty_alternates(true)
        .build()
        .map_err(|e| ArtifactError::InvalidPattern {
            field,
            pattern: raw.to_string(),
            reason: e.kind().to_string(),
        })
}

fn exclude_set(patterns: &[String]) -> Result<GlobSet, ArtifactError> {
    let mut set = GlobSetBuilder::new();
    for raw in patterns {
        let norm = normalize("exclude-paths", raw)?;
        set.add(glob("exclude-paths", raw, &norm)?);
    }
    set.build().map_err(|e| ArtifactError::InvalidPattern {
        field: "exclude-paths",
        pattern: patterns.join(", "),
        reason: e.to_string(),
    })
}

fn is_literal(pattern: &str) -> bool {
    !pattern.contains(['*', '?', '[', ']', '{', '}', '\\'])
}

/// The directories `base-directory` names, canonical and inside `root`, sorted.
fn resolve_bases(
    root: &Path,
    pattern: Option<&str>,
    warnings: &mut Vec<String>,
) -> Result<Vec<PathBuf>, ArtifactError> {
    let Some(raw) = pattern else {
        return Ok(vec![root.to_path_buf()]);
    };
    let norm = normalize("base-directory", raw)?;
    let none = || ArtifactError::NoMatchingBaseDirectory {
        pattern: raw.to_string(),
    };
    if norm.is_empty() {
        return Ok(vec![root.to_path_buf()]);
    }
    if is_literal(&norm) {
        return match fs::canonicalize(root.join(&norm)) {
            Ok(c) if !c.starts_with(root) => Err(ArtifactError::PatternEscapes {
                field: "base-directory",
                pattern: raw.to_string(),
                reason: format!("it is a symlink to '{}'", c.display()),
            }),
            Ok(c) if c.is_dir() => Ok(vec![c]),
            _ => Err(none()),
        };
    }
    let matcher = glob("base-directory", raw, &norm)?.compile_matcher();
    let depth = if norm.contains("**") {
        usize::MAX
    } else {
        norm.split('/').count()
    };
    let mut bases = Vec::new();
    let mut skipped = Vec::new();
    let walker = WalkDir::new(root)
        .follow_links(true)
        .min_depth(1)
        .max_depth(depth)
        .sort_by_file_name()
        .into_iter()
        .filter_entry(|e| {
            e.file_type().is_dir()
                && (!e.path_is_symlink() || link_inside(root, e.path(), &mut skipped))
        });
    for entry in walker {
        let Some(entry) = walk_entry(root, entry, warnings)? else { continue };
        if let Some(rel) = rel_string(root, entry.path(), warnings)
            && matcher.is_match(&rel)
        {
            let dir = fs::canonicalize(entry.path()).map_err(|source| ArtifactError::Io {
                path: entry.path().into(),
                source,
            })?;
            bases.push(dir);
        }
    }
    warnings.append(&mut skipped);
    if bases.is_empty() {
        return Err(none());
    }
    Ok(bases)
}

/// A candidate file met by [`walk`].
struct Found {
    /// Path relative to the base directory, `/`-separated.
    rel: String,
    /// Absolute path as walked (under `root`).
    abs: PathBuf,
    /// For a symlink kept as a symlink: its relative target.
    link: Option<PathBuf>,
    /// Whether that symlink points to a directory.
    link_is_dir: bool,
}

/// Lists the files under `base`. Symlinks are followed (or, with `keep_links`, returned as
/// links) only when they resolve inside `root`; others are skipped with a warning.
fn walk(
    root: &Path,
    base: &Path,
    keep_links: bool,
    warnings: &mut Vec<String>,
) -> Result<Vec<Found>, ArtifactError> {
    let mut skipped = Vec::new();
    let mut found = Vec::new();
    let walker = WalkDir::new(base)
        .follow_links(!keep_links)
        .min_depth(1)
        .sort_by_file_name()
        .into_iter()
        .filter_entry(|e| !e.path_is_symlink() || link_inside(root, e.path(), &mut skipped));
    for entry in walker {
        let Some(entry) = walk_entry(root, entry, warnings)? else { continue };
        let file_type = entry.file_type();
        if file_type.is_dir() {
            continue;
        }
        let abs = entry.path().to_path_buf();
        let Some(rel) = rel_string(base, &abs, warnings) else {
            continue;
        };
        let (link, link_is_dir) = if file_type.is_symlink() {
            let target = link_target(&abs).map_err(|source| ArtifactError::Io {
                path: abs.clone(),
                source,
            })?;
            (Some(target), abs.is_dir())
        } else if file_type.is_file() {
            (None, false)
        } else {
            warnings.push(format!(
                "skipping '{}': not a regular file (socket, FIFO or device)",
                shown(root, &abs)
            ));
            continue;
        };
        found.push(Found {
            rel,
            abs,
            link,
            link_is_dir,
        });
    }
    warnings.append(&mut skipped);
    Ok(found)
}

/// Whether the symlink at `path` resolves inside `root`; records why not otherwise.
fn link_inside(root: &Path, path: &Path, skipped: &mut Vec<String>) -> bool {
    match fs::canonicalize(path) {
        Ok(target) if target.starts_with(root) => true,
        Ok(target) => {
            skipped.push(format!(
                "skipping symlink '{}' -> '{}': it points outside the working copy",
                shown(root, path),
                target.display()
            ));
            false
        }
        Err(e) => {
            skipped.push(format!(
                "skipping symlink '{}': its target cannot be resolved ({e})",
                shown(root, path)
            ));
            false
        }
    }
}

/// Turns walk errors for loops and vanished entries into warnings; others are fatal.
/// The walked entry, or `None` after a walk error that only warrants a warning.
fn walk_entry(root: &Path, entry: walkdir::Result<walkdir::DirEntry>, warnings: &mut Vec<String>) -> Result<Option<walkdir::DirEntry>, ArtifactError> {
    entry.map(Some).or_else(|err| walk_error(root, err, warnings).map(|()| None))
}

fn walk_error(
    root: &Path,
    err: walkdir::Error,
    warnings: &mut Vec<String>,
) -> Result<(), ArtifactError> {
    let path = err.path().unwrap_or(root).to_path_buf();
    if err.loop_ancestor().is_some() {
        warnings.push(format!("skipping '{}': symlink loop", shown(root, &path)));
        return Ok(());
    }
    let is_link = fs::symlink_metadata(&path).is_ok_and(|m| m.file_type().is_symlink());
    if let (true, Some(e)) = (is_link, err.io_error()) {
        warnings.push(format!(
            "skipping symlink '{}': its target cannot be resolved ({e})",
            shown(root, &path)
        ));
        return Ok(());
    }
    if err.io_error().map(io::Error::kind) == Some(io::ErrorKind::NotFound) {
        warnings.push(format!(
            "skipping '{}': it vanished during the walk",
            shown(root, &path)
        ));
        return Ok(());
    }
    Err(ArtifactError::Io {
        path,
        source: err.into(),
    })
}

/// The target stored for a kept symlink: as written when relative, made relative to the
/// link's directory when absolute (the walk already checked it resolves inside the root).
fn link_target(link: &Path) -> io::Result<PathBuf> {
    let raw = fs::read_link(link)?;
    if raw.is_relative() {
        return Ok(raw);
    }
    let target = fs::canonicalize(link)?;
    let dir = fs::canonicalize(link.parent().unwrap_or(Path::new("/")))?;
    let common = dir
        .components()
        .zip(target.components())
        .take_while(|(a, b)| a == b)
        .count();
    let mut rel: PathBuf = dir
        .components()
        .skip(common)
        .map(|_| Component::ParentDir)
        .collect();
    rel.extend(target.components().skip(common));
    Ok(if rel.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        rel
    })
}

/// Whether a symlink stored at artifact path `path` with relative `target` would resolve
/// above the artifact's root once extracted.
fn escapes_artifact(path: &str, target: &Path) -> bool {
    link_escapes(Path::new(path), target)
}

/// Whether a symlink at `path` (relative to some root) with `target` resolves, lexically,
/// above that root: an absolute target always does; each `..` climbs one level from the
/// link's directory. Shared with the build cache, which stores links the same way.
pub fn link_escapes(path: &Path, target: &Path) -> bool {
    if !target.is_relative() {
        return true;
    }
    let mut depth = path.components().count() as isize - 1;
    for c in target.components() {
        match c {
            Component::ParentDir => depth -= 1,
            Component::Normal(_) => depth += 1,
            _ => {}
        }
        if depth < 0 {
            return true;
        }
    }
    false
}

/// `path` relative to `base`, `/`-separated; `None` (with a warning) if not UTF-8.
fn rel_string(base: &Path, path: &Path, warnings: &mut Vec<String>) -> Option<String> {
    let rel = path.strip_prefix(base).ok()?;
    let parts: Option<Vec<&str>> = rel.components().map(|c| c.as_os_str().to_str()).collect();
    if parts.is_none() {
        warnings.push(format!(
            "skipping '{}': its path is not valid UTF-8",
            path.display()
        ));
    }
    parts.map(|p| p.join("/"))
}

fn shown(root: &Path, path: &Path) -> String {
    path.strip_prefix(root)
        .unwrap_or(path)
        .display()
        .to_string()
}

#[cfg(test)]
mod tests;
