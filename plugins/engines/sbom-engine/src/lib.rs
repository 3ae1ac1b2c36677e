//! `kiln-sbom-engine`: turns lockfiles and manifests into a CycloneDX SBOM.
//!
//! Pure Rust, no WebAssembly or WIT dependencies: the `sbom-cyclonedx` plugin (a wasm32-wasip2
//! component) and the native benchmark both call it. The pipeline is
//!
//! 1. [`scan::scan_dir`] walks a source tree and picks out the files [`LockKind::detect`] knows
//!    (skipping `node_modules`, `vendor`, `target`, VCS and virtualenv folders);
//! 2. one parser per format (`parsers::*`) turns each file into a [`Lockfile`]: packages with
//!    ecosystem, name, version, hashes, scope, licences and the edges between them, plus
//!    [`Warning`]s (with `file:line` where the format allows) for what it could not read;
//! 3. [`bom::build`] merges the lockfiles, derives each component's purl ([`purl`]), and writes
//!    deterministic CycloneDX 1.5 JSON through the `cyclonedx-bom` crate.
//!
//! Bad input never panics: a malformed file yields a warning and contributes nothing (or what
//! could be read before the error).

#![warn(missing_docs)]

pub mod bom;
pub mod parsers;
pub mod purl;
pub mod scan;
mod util;

pub use bom::{BomOptions, build};
pub use scan::{SKIP_DIRS, ScanOptions, ScanResult, parse_file, parse_lockfile, scan_dir};

/// A package ecosystem (the purl type it maps to).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Ecosystem {
    /// npm, yarn and pnpm packages (`pkg:npm`).
    Npm,
    /// Rust crates (`pkg:cargo`).
    Cargo,
    /// Python distributions (`pkg:pypi`).
    Pypi,
    /// Go modules (`pkg:golang`).
    Golang,
    /// Ruby gems (`pkg:gem`).
    Gem,
    /// PHP Composer packages (`pkg:composer`).
    Composer,
}

impl Ecosystem {
    /// The purl type.
    pub fn purl_type(self) -> &'static str {
        match self {
            Ecosystem::Npm => "npm",
            Ecosystem::Cargo => "cargo",
            Ecosystem::Pypi => "pypi",
            Ecosystem::Golang => "golang",
            Ecosystem::Gem => "gem",
            Ecosystem::Composer => "composer",
        }
    }
}

/// How a package is used, as far as the lockfile says.
///
/// Mapped to CycloneDX `scope`: `Required` → `required`, `Optional` → `optional`,
/// `Dev` → `excluded` (dev/test/build-only packages are not part of the runtime).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub enum Scope {
    /// Needed at run time (the default when the lockfile says nothing).
    #[default]
    Required,
    /// Installed only if possible (npm `optional`, Python extras).
    Optional,
    /// Development only (npm `dev`, poetry/uv dev groups, Pipfile `develop`, composer `packages-dev`).
    Dev,
}

/// A hash algorithm a lockfile records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum HashAlg {
    /// SHA-1 (old npm/yarn `integrity`, yarn `resolved#sha1`).
    Sha1,
    /// SHA-256.
    Sha256,
    /// SHA-384.
    Sha384,
    /// SHA-512.
    Sha512,
    /// MD5 (old Pipfile.lock entries).
    Md5,
}

/// One package read from a lockfile.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Package {
    /// Ecosystem; `None` only in a default value.
    pub ecosystem: Option<Ecosystem>,
    /// Full package name as the ecosystem spells it (`@babel/core`, `github.com/a/b`,
    /// `vendor/pkg`, `Django`).
    pub name: String,
    /// Resolved version, if the lockfile pins one.
    pub version: Option<String>,
    /// Extra purl qualifiers that change identity (gem `platform`) or say where it came from
    /// (`vcs_url`, `download_url`).
    pub qualifiers: Vec<(String, String)>,
    /// Hashes as (algorithm, lower-case hex).
    pub hashes: Vec<(HashAlg, String)>,
    /// Scope.
    pub scope: Scope,
    /// Licences as stated (SPDX ids, expressions, or free text).
    pub licenses: Vec<String>,
    /// `true` for the project's own packages (workspace members, the lockfile's root).
    pub is_project: bool,
}

/// The result of parsing one lockfile.
#[derive(Debug, Clone, Default)]
pub struct Lockfile {
    /// Path of the file, relative to the scanned root.
    pub path: String,
    /// Packages; indices are used by `edges` and `roots`.
    pub packages: Vec<Package>,
    /// `(from, to)` dependency edges between `packages` indices.
    pub edges: Vec<(usize, usize)>,
    /// Direct dependencies of the project itself.
    pub roots: Vec<usize>,
    /// What could not be read.
    pub warnings: Vec<Warning>,
}

/// A problem with one input file; never fatal for the scan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    /// The file, relative to the scanned root.
    pub path: String,
    /// 1-based line, when known.
    pub line: Option<u32>,
    /// Stable machine-readable kind (`malformed`, `unpinned`, `unsupported`, `io`, `too-large`).
    pub kind: &'static str,
    /// What is wrong and what to do.
    pub message: String,
}

impl std::fmt::Display for Warning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.line {
            Some(l) => write!(f, "{}:{}: {}", self.path, l, self.message),
            None => write!(f, "{}: {}", self.path, self.message),
        }
    }
}

/// The lockfile and manifest formats the engine reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum LockKind {
    /// `package-lock.json` / `npm-shrinkwrap.json` (lockfileVersion 1, 2, 3).
    NpmLock,
    /// `yarn.lock`, classic (v1) or berry (YAML, `__metadata`).
    YarnLock,
    /// `pnpm-lock.yaml` (v5, v6, v9).
    PnpmLock,
    /// `Cargo.lock` (v1 `[metadata]` checksums, v2, v3, v4).
    CargoLock,
    /// `poetry.lock` (1.x and 2.x layouts).
    PoetryLock,
    /// `Pipfile.lock`.
    PipfileLock,
    /// `uv.lock`.
    UvLock,
    /// `requirements*.txt` (pip requirement files).
    Requirements,
    /// `go.mod` (with `go.sum` beside it for hashes).
    GoMod,
    /// `Gemfile.lock` / `gems.locked`.
    GemfileLock,
    /// `composer.lock`.
    ComposerLock,
}

impl LockKind {
    /// The kind of a file from its name (the last path segment) and, for requirement files,
    /// its parent directory name.
    pub fn detect(path: &str) -> Option<LockKind> {
        let mut parts = path.rsplit('/');
        let name = parts.next().unwrap_or("");
        let parent = parts.next().unwrap_or("");
        Some(match name {
            "package-lock.json" | "npm-shrinkwrap.json" => LockKind::NpmLock,
            "yarn.lock" => LockKind::YarnLock,
            "pnpm-lock.yaml" => LockKind::PnpmLock,
            "Cargo.lock" => LockKind::CargoLock,
            "poetry.lock" => LockKind::PoetryLock,
            "Pipfile.lock" => LockKind::PipfileLock,
            "uv.lock" => LockKind::UvLock,
            "go.mod" => LockKind::GoMod,
            "Gemfile.lock" | "gems.locked" => LockKind::GemfileLock,
            "composer.lock" => LockKind::ComposerLock,
            n if is_requirements(n, parent) => LockKind::Requirements,
            _ => return None,
        })
    }

    /// The ecosystem the format belongs to.
    pub fn ecosystem(self) -> Ecosystem {
        match self {
            LockKind::NpmLock | LockKind::YarnLock | LockKind::PnpmLock => Ecosystem::Npm,
            LockKind::CargoLock => Ecosystem::Cargo,
            LockKind::PoetryLock
            | LockKind::PipfileLock
            | LockKind::UvLock
            | LockKind::Requirements => Ecosystem::Pypi,
            LockKind::GoMod => Ecosystem::Golang,
            LockKind::GemfileLock => Ecosystem::Gem,
            LockKind::ComposerLock => Ecosystem::Composer,
        }
    }
}

/// `requirements.txt`, `requirements-dev.txt`, `dev-requirements.txt`, `requirements/base.txt`,
/// `requirements.in` is not a lock and is skipped.
fn is_requirements(name: &str, parent: &str) -> bool {
    let Some(stem) = name.strip_suffix(".txt") else {
        return false;
    };
    stem.contains("requirements") || parent == "requirements"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_kinds() {
        assert_eq!(LockKind::detect("a/b/package-lock.json"), Some(LockKind::NpmLock));
        assert_eq!(LockKind::detect("requirements-dev.txt"), Some(LockKind::Requirements));
        assert_eq!(LockKind::detect("requirements/base.txt"), Some(LockKind::Requirements));
        assert_eq!(LockKind::detect("requirements.in"), None);
        assert_eq!(LockKind::detect("notes.txt"), None);
        assert_eq!(LockKind::detect("go.sum"), None);
        assert_eq!(LockKind::detect("gems.locked"), Some(LockKind::GemfileLock));
    }
}
