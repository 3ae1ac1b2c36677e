//! What the caller asks for: `cache.paths` mapped onto roots, the cache version, keys, `action`.

use std::path::{Path, PathBuf};

use kiln_artifacts::{ArtifactError, Pattern};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::{CacheError, Skipped};

/// CodeBuild's limit on `cache.fallback-keys` (buildspec reference: "Up to five fallback keys").
pub const MAX_FALLBACK_KEYS: usize = 5;
/// Longest key kiln accepts, in bytes (kiln proposal: CodeBuild documents no limit).
pub const MAX_KEY_BYTES: usize = 1024;

/// The trees a cache entry's files live in, for one build.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Roots {
    /// The working copy (`$CODEBUILD_SRC_DIR`): relative `cache.paths` live here.
    pub src: PathBuf,
    /// The build's own home: `~/…` and CodeBuild's home `/root/…` map here.
    pub home: PathBuf,
    /// Other absolute directories the caller lets a cache read and write (e.g. a
    /// `--writable` directory). An absolute path under none of them is skipped.
    pub allowed: Vec<PathBuf>,
}

/// Which tree an entry's path is relative to. Serialized as `"src"`, `"home"` or the
/// absolute root itself.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RootKind {
    /// The working copy.
    Src,
    /// The build's home.
    Home,
    /// An allowed absolute root.
    Abs(PathBuf),
}

impl RootKind {
    /// The name used in manifests.
    pub fn name(&self) -> String {
        match self {
            RootKind::Src => "src".into(),
            RootKind::Home => "home".into(),
            RootKind::Abs(p) => p.to_string_lossy().into_owned(),
        }
    }

    /// Parses a manifest's root name; `None` for anything else (a relative or non-UTF-8 path).
    pub fn parse(name: &str) -> Option<RootKind> {
        match name {
            "src" => Some(RootKind::Src),
            "home" => Some(RootKind::Home),
            p if p.starts_with('/') && !p.contains('\0') => Some(RootKind::Abs(PathBuf::from(p))),
            _ => None,
        }
    }

    /// The directory this root is in `roots`; `None` for an absolute root `roots` does not allow.
    pub fn dir<'a>(&'a self, roots: &'a Roots) -> Option<&'a Path> {
        match self {
            RootKind::Src => Some(&roots.src),
            RootKind::Home => Some(&roots.home),
            RootKind::Abs(p) => roots.allowed.iter().any(|a| a == p).then_some(p.as_path()),
        }
    }
}

/// One `cache.paths` entry, mapped onto its root.
#[derive(Debug, Clone)]
pub struct PathSpec {
    /// The path as the buildspec gave it (after the caller expanded variables).
    pub raw: String,
    /// The tree it selects from.
    pub root: RootKind,
    /// The glob, relative to the root.
    pub pattern: Pattern,
}

/// The canonical form of one path spec, as stored in manifests and hashed into the version.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CanonicalPath {
    /// `src`, `home` or an absolute root.
    pub root: String,
    /// The normalized glob relative to that root.
    pub pattern: String,
}

/// `cache.paths` mapped onto roots, with the cache version they make.
#[derive(Debug, Clone)]
pub struct CachePaths {
    /// The usable paths, in the order given.
    pub specs: Vec<PathSpec>,
    /// Paths that cannot be cached (an absolute path under no allowed root, `~user/`), with why.
    pub skipped: Vec<Skipped>,
    /// Sorted, deduplicated canonical forms of `specs`.
    pub canonical: Vec<CanonicalPath>,
    /// The cache version: lowercase hex sha256 of `canonical` (and the namespace, see
    /// [`CachePaths::with_namespace`]).
    pub version: String,
}

impl CachePaths {
    /// Maps `paths` (CodeBuild's glob forms, variables already expanded by the caller) onto
    /// `roots`: relative paths are under the working copy; `~/…`, `/root/…` and absolute paths
    /// inside `roots.home` are under the build's home; absolute paths inside `roots.src` are
    /// under the working copy; other absolute paths must lie in one of `roots.allowed` (the
    /// longest that contains them), else they are skipped with a reason. A path with a `..`
    /// component or an invalid glob is an error.
    ///
    /// The version is the sha256 of the sorted, deduplicated `(root, pattern)` pairs, one
    /// `root NUL pattern LF` line each. CodeBuild: "The cache version is a hash generated from
    /// the paths of the directories being cached"; its exact input is not documented. kiln
    /// proposal: hash the canonical form, so `~/.npm/**/*`, `/root/.npm/**/*` and
    /// `$HOME/.npm/**/*` (all the same directory in kiln) and `./x/**/*` vs `x/**/*` share an
    /// entry, and the order of `paths` does not matter.
    pub fn new(paths: &[String], roots: &Roots) -> Result<CachePaths, CacheError> {
        let mut specs = Vec::new();
        let mut skipped = Vec::new();
        for raw in paths {
            match map_path(raw, roots)? {
                Ok((root, rel)) => {
                    let pattern = Pattern::new("cache.paths", &rel).map_err(|e| invalid_path(raw, e))?;
                    if pattern.normalized.is_empty() {
                        return Err(CacheError::InvalidPath { path: raw.clone(), reason: "it names a whole root; use '**/*' below it".into() });
                    }
                    specs.push(PathSpec { raw: raw.clone(), root, pattern });
                }
                Err(reason) => skipped.push(Skipped { path: raw.clone(), reason }),
            }
        }
        let mut canonical: Vec<CanonicalPath> = specs.iter().map(|s| CanonicalPath { root: s.root.name(), pattern: s.pattern.normalized.clone() }).collect();
        canonical.sort();
        canonical.dedup();
        let version = version_of(None, &canonical);
        Ok(CachePaths { specs, skipped, canonical, version })
    }

    /// Scopes the cache to `namespace` (mixed into the version): entries saved under one
    /// namespace are never seen from another. CodeBuild keeps each project's cache apart unless
    /// projects share a `cacheNamespace`; one kiln store serves every project on the machine,
    /// so the caller passes the project's identity (or a shared namespace) here. Without it,
    /// two projects caching `node_modules/**/*` without a key would share one entry.
    pub fn with_namespace(mut self, namespace: &str) -> CachePaths {
        self.version = version_of(Some(namespace), &self.canonical);
        self
    }

    /// The distinct roots the specs use, in a stable order.
    pub fn roots(&self) -> Vec<RootKind> {
        let mut r: Vec<RootKind> = self.specs.iter().map(|s| s.root.clone()).collect();
        r.sort();
        r.dedup();
        r
    }

    /// Whether `rel` (relative to `root`, `/`-separated bytes) is selected by some spec.
    pub fn matches(&self, root: &RootKind, rel: &Path) -> bool {
        self.specs.iter().any(|s| &s.root == root && s.pattern.matcher.is_match(rel))
    }
}

fn version_of(namespace: Option<&str>, canonical: &[CanonicalPath]) -> String {
    let mut h = Sha256::new();
    if let Some(ns) = namespace {
        h.update(b"namespace\0");
        h.update(ns.as_bytes());
        h.update([b'\n']);
    }
    for c in canonical {
        h.update(c.root.as_bytes());
        h.update([0]);
        h.update(c.pattern.as_bytes());
        h.update([b'\n']);
    }
    hex::encode(h.finalize())
}

fn invalid_path(raw: &str, e: ArtifactError) -> CacheError {
    let reason = match e {
        ArtifactError::InvalidPattern { reason, .. } => reason,
        ArtifactError::PatternEscapes { reason, .. } => format!("{reason}; cache paths must stay inside their root"),
        other => other.to_string(),
    };
    CacheError::InvalidPath { path: raw.to_string(), reason }
}

/// Splits a path into its root and the glob relative to it: `Ok(Ok(..))` to use,
/// `Ok(Err(reason))` to skip, `Err` for a path that is wrong in itself.
#[allow(clippy::type_complexity)]
fn map_path(raw: &str, roots: &Roots) -> Result<Result<(RootKind, String), String>, CacheError> {
    let bad = |reason: &str| CacheError::InvalidPath { path: raw.to_string(), reason: reason.to_string() };
    if raw.trim().is_empty() {
        return Err(bad("the path is empty"));
    }
    if raw.contains('\0') {
        return Err(bad("the path contains a NUL byte"));
    }
    if let Some(rest) = raw.strip_prefix('~') {
        return match rest.strip_prefix('/') {
            Some(rel) => Ok(Ok((RootKind::Home, rel.to_string()))),
            None if rest.is_empty() => Err(bad("it names the whole home directory; use '~/**/*' or a directory below it")),
            None => Ok(Err("'~user/' paths name another user's home, which a build cannot use; use '~/…' for the build's home".into())),
        };
    }
    if !raw.starts_with('/') {
        return Ok(Ok((RootKind::Src, raw.to_string())));
    }
    if let Some(rel) = under(raw, Path::new("/root")) {
        return Ok(Ok((RootKind::Home, rel)));
    }
    if let Some(rel) = under(raw, &roots.src) {
        return Ok(Ok((RootKind::Src, rel)));
    }
    if let Some(rel) = under(raw, &roots.home) {
        return Ok(Ok((RootKind::Home, rel)));
    }
    let best = roots.allowed.iter().filter_map(|a| under(raw, a).map(|rel| (a, rel))).max_by_key(|(a, _)| a.as_os_str().len());
    Ok(match best {
        Some((a, _)) if a.to_str().is_none() => Err(format!("the allowed directory '{}' is not valid UTF-8", a.display())),
        Some((a, rel)) => Ok((RootKind::Abs(a.clone()), rel)),
        None => Err("absolute path outside the working copy and the build's home, and not in a directory allowed for caching (kiln build --writable DIR)".into()),
    })
}

/// `raw` relative to `dir` when `raw` is `dir` or below it, component-wise.
fn under(raw: &str, dir: &Path) -> Option<String> {
    let dir = dir.to_str()?.trim_end_matches('/');
    if dir.is_empty() {
        return None;
    }
    let rest = raw.strip_prefix(dir)?;
    if rest.is_empty() {
        return Some(String::new());
    }
    rest.strip_prefix('/').map(str::to_string)
}

/// Checks a key the caller has already expanded. kiln proposal (CodeBuild documents no
/// rules): 1 to [`MAX_KEY_BYTES`] bytes, no control characters (a key is shown on one line).
pub fn validate_key(key: &str) -> Result<(), CacheError> {
    let bad = |reason: &str| CacheError::InvalidKey { key: key.escape_debug().to_string(), reason: reason.to_string() };
    if key.is_empty() {
        return Err(bad("it is empty (did a $(command) in it print nothing?)"));
    }
    if key.len() > MAX_KEY_BYTES {
        return Err(bad(&format!("it is {} bytes long; the limit is {MAX_KEY_BYTES}", key.len())));
    }
    if key.chars().any(char::is_control) {
        return Err(bad("it contains a control character (newline, tab, …)"));
    }
    Ok(())
}

/// `cache.action`: which of restore and save a build does (CodeBuild: absent = both).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Action {
    /// No `action`: restore before the build, save after it.
    #[default]
    Both,
    /// `restore`: "only restores the cache without saving updates".
    Restore,
    /// `save`: "only saves the cache without restoring a previous version".
    Save,
}

impl Action {
    /// Parses `cache.action` (`None` = absent); `None` for an unknown value.
    pub fn parse(value: Option<&str>) -> Option<Action> {
        match value {
            None => Some(Action::Both),
            Some("restore") => Some(Action::Restore),
            Some("save") => Some(Action::Save),
            Some(_) => None,
        }
    }

    /// Whether the build restores before it runs.
    pub fn restores(self) -> bool {
        self != Action::Save
    }

    /// Whether the build saves after it ran.
    pub fn saves(self) -> bool {
        self != Action::Restore
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roots() -> Roots {
        Roots { src: "/w/src".into(), home: "/w/home".into(), allowed: vec!["/opt/c".into(), "/opt/c/deep".into()] }
    }

    fn map(p: &str) -> Result<(RootKind, String), String> {
        map_path(p, &roots()).unwrap()
    }

    #[test]
    fn paths_map_onto_roots() {
        assert_eq!(map("node_modules/**/*"), Ok((RootKind::Src, "node_modules/**/*".into())));
        assert_eq!(map("~/.npm/**/*"), Ok((RootKind::Home, ".npm/**/*".into())));
        assert_eq!(map("/root/.m2/**/*"), Ok((RootKind::Home, ".m2/**/*".into())));
        assert_eq!(map("/w/home/.cargo/**/*"), Ok((RootKind::Home, ".cargo/**/*".into())));
        assert_eq!(map("/w/src/target/**/*"), Ok((RootKind::Src, "target/**/*".into())));
        assert_eq!(map("/opt/c/deep/x/*"), Ok((RootKind::Abs("/opt/c/deep".into()), "x/*".into())));
        assert!(map("/rootkit/**/*").is_err());
        assert!(map("/opt/cx/**/*").is_err());
        assert!(map("/go/pkg/mod/**/*").is_err());
        assert!(map("~bob/x").is_err());
        assert!(map_path("~", &roots()).is_err());
    }

    #[test]
    fn escapes_and_bad_globs_are_errors() {
        for p in ["../x/**/*", "/root/../etc/**/*", "/opt/c/../../etc/*", "a/[", "", "/root"] {
            assert!(CachePaths::new(&[p.to_string()], &roots()).is_err(), "{p}");
        }
    }

    #[test]
    fn version_is_canonical_and_order_free() {
        let v = |ps: &[&str]| CachePaths::new(&ps.iter().map(|s| s.to_string()).collect::<Vec<_>>(), &roots()).unwrap().version;
        assert_eq!(v(&["~/.npm/**/*", "./a/**/*"]), v(&["a/**/*", "/root/.npm/**/*"]));
        assert_eq!(v(&["a/**/*"]), v(&["a/**/*", "a/**/*"]));
        assert_ne!(v(&["pip-dependencies/**/*"]), v(&["tmp/pip-dependencies/**/*"]));
        assert_ne!(v(&["a/**/*"]), v(&["~/a/**/*"]));
        assert_eq!(v(&["a/**/*"]).len(), 64);
        let p = || CachePaths::new(&["a/**/*".to_string()], &roots()).unwrap();
        assert_ne!(p().with_namespace("project-a").version, p().with_namespace("project-b").version);
        assert_ne!(p().with_namespace("project-a").version, p().version);
        assert_eq!(p().with_namespace("x").version, p().with_namespace("x").version);
    }

    #[test]
    fn keys_and_actions() {
        assert!(validate_key("npm-abc123").is_ok());
        assert!(validate_key("").is_err());
        assert!(validate_key("a\nb").is_err());
        assert!(validate_key(&"k".repeat(MAX_KEY_BYTES + 1)).is_err());
        assert_eq!(Action::parse(Some("save")), Some(Action::Save));
        assert!(Action::parse(None).unwrap().restores() && Action::parse(None).unwrap().saves());
        assert!(!Action::Restore.saves() && !Action::Save.restores());
        assert_eq!(Action::parse(Some("both")), None);
    }
}
