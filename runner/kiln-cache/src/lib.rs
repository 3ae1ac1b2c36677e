//! kiln's build cache: a local content-addressed store with AWS CodeBuild's `cache:` semantics,
//! safe when several builds and `kiln cache` commands use it at once, and against tampering.
//!
//! The engine maps `cache.paths` with [`CachePaths::new`], calls [`Store::restore`] before
//! INSTALL when [`Action::restores`], and [`Store::save`] after the build when
//! [`Action::saves`] (when exactly is the caller's decision). The CLI exposes [`Store::list`],
//! [`Store::remove`] and [`Store::prune`] as `kiln cache ls | rm | prune`; the build's shell
//! exposes [`hash_files`] and [`glob_search`] as `codebuild-hash-files` and
//! `codebuild-glob-search`.
//!
//! # CodeBuild semantics (user guide: buildspec reference `cache`, "Amazon S3 caching")
//!
//! * **`paths`** use the same glob forms as `artifacts.files` (`*` within a component, `**`
//!   across, a directory needs `/**/*`), compiled by [`kiln_artifacts::Pattern`]. Relative
//!   paths are in the working copy; `~/…` and CodeBuild's home `/root/…` (AWS's examples cache
//!   `/root/.m2/**/*`) are in the build's own home; other absolute paths only inside
//!   directories the caller allows ([`Roots::allowed`]), else skipped with a reason.
//! * **Cache version**: "a hash generated from the paths of the directories being cached. If
//!   two caches have different versions, they are treated as distinct caches during the
//!   matching process." Every lookup stays within the version; see [`CachePaths::new`] for
//!   the exact input (a kiln proposal: CodeBuild does not document it). CodeBuild keeps each
//!   project's cache apart unless projects share a `cacheNamespace`; one kiln store serves
//!   every project on a machine, so the caller scopes the version with
//!   [`CachePaths::with_namespace`] (the project, or a shared namespace).
//! * **`key`**: "CodeBuild does an exact match for the primary key"; with a key CodeBuild
//!   creates "a unique cache copy that will not be updated once created", so saving an existing
//!   key is a no-op ([`SaveOutcome::AlreadyExists`]). Without a key, CodeBuild "will
//!   automatically store and update the cache": one updatable entry per version.
//! * **`fallback-keys`**: "used sequentially when a cache cannot be found using the primary
//!   key. Up to five fallback keys are supported, and each is matched using a prefix search.
//!   This sequence will be ignored if key is not provided." Among several entries matching a
//!   prefix, the newest wins (kiln proposal; CodeBuild does not say).
//! * **`action`**: `restore` "only restores the cache without saving updates", `save` "only
//!   saves the cache without restoring a previous version", absent = both ([`Action`]).
//! * Keys may contain `$VAR` and `$(command)` (e.g. `npm-$(codebuild-hash-files
//!   package-lock.json)`): the caller expands them before calling this crate.
//!
//! # Store
//!
//! Files are stored once by sha256 (`cas/sha256/<hex>`, the design's content-addressed keys,
//! fanned out on disk by their first two hex digits; written once, never rewritten), one JSON
//! manifest per entry names every file, link and directory with its root (`src`, `home` or an
//! allowed absolute root), relative path, mode, size, sha256 and mtime. The manifest is
//! immutable, so its sha256 identifies exactly what a build restored (for the provenance's
//! `resolvedDependencies`); creation and last-use times, counts and sizes live in a small index
//! record beside it, rewritten when the entry is used. See `store.rs` for the layout.
//!
//! The blob layer is behind the [`BlobStore`] trait, with the local [`FsBlobs`]. The design
//! suggests `object_store`'s `LocalFileSystem` for it; it is not used, measured with
//! `examples/blob_layer.rs` (same blobs, same run, 3 rounds, medians; object_store driven by
//! `block_on` outside tokio, its cheapest use from synchronous code): 20,000 blobs of ~2 KB
//! put in 4.8 s against 7.5 s and read back in 0.20 s against 0.30 s; 4 blobs of 64 MiB put at
//! 2.1 GB/s against 0.36 GB/s and read at 1.2 GB/s against 0.55 GB/s. It also follows symlinks
//! out of its root (its documentation says so), cannot write a blob that is hashed while it
//! streams without a second pass or a multipart upload, gives no control over `fsync`, and
//! adds tokio, chrono, url and a dozen more crates. An S3 store can implement [`BlobStore`]
//! (stat, put, open, remove, list) when kiln runs on many workers.
//!
//! # Concurrency and crashes
//!
//! Two `flock` locks: `gc.lock` is held shared by every save, restore and `ls`, exclusively by
//! garbage collection, eviction and `rm`/`prune`; `commit.lock` is held exclusively for the
//! short moments when manifests and index records change. Blobs are content-addressed, so
//! concurrent savers writing the same blob cannot conflict; a keyed entry is committed only if
//! it does not exist (checked under `commit.lock`). The manifest is the commit point (temp +
//! `fsync` + rename + directory `fsync`); blobs are not synced one by one (see [`FsBlobs`]
//! for why, and why a blob lost to a power cut cannot poison the store). A
//! `kill -9` at any point leaves temp files (swept by the next [`Store::open`] that finds the
//! store idle), blobs without a manifest (collected by [`Store::gc`]/[`Store::prune`]), or a
//! manifest without its index record (rebuilt on open); a manifest whose blobs are missing or
//! damaged is found by [`Store::restore`], refused and removed.
//!
//! # Security decisions
//!
//! * Saving never follows a symlink: the walk does not enter linked directories, a literal
//!   prefix of a path that is a symlink is refused, files are opened through a `cap-std`
//!   directory at their root with `O_NOFOLLOW | O_NONBLOCK` and must be regular files. Links
//!   are stored as links only when their target stays inside the same root (absolute targets
//!   inside it are made relative); sockets, FIFOs and devices are skipped. Sizes are bounded
//!   ([`Limits`]).
//! * Restoring trusts nothing in the store: the manifest is read with a size bound and checked
//!   whole (format, version, every path relative without `..`/empty components and selected by
//!   the restoring build's own `paths`, links inside their root, nothing below a file or link
//!   of the same entry, digests well-formed, limits); every blob is hashed as it is copied and
//!   must match. Any failure refuses the **whole** entry and leaves the tree as it was: new
//!   files are created only where nothing exists, files that exist are replaced by renaming a
//!   verified copy over them only once every file is verified, and on a refusal everything the
//!   restore created (files, links, temp files, directories) is removed again. A blob is
//!   deleted only when its content does not hash to its name (a manifest that lies cannot make
//!   kiln delete a sound blob).
//! * Restoring never follows a link in the destination tree: directories are opened one
//!   component at a time with `O_NOFOLLOW`, and a symlink on the way or at a path the entry
//!   writes refuses the entry. Set-user-ID, set-group-ID and sticky bits are not restored.
//! * `hash_files` and `glob_search` follow a symlink only when it resolves inside the root.

mod admin;
mod blobs;
mod lookup;
mod manifest;
mod restore;
mod save;
mod spec;
mod store;
mod walk;

pub use admin::{EntryInfo, Removal, Which};
pub use blobs::{BlobStore, CAS_DIR, FsBlobs, is_digest, sha256_hex};
pub use lookup::{Match, Rejected, RestoreReport, RestoreRequest, Restored};
pub use manifest::{Bytes, Item, Kind, MANIFEST_FORMAT, META_FORMAT, Manifest, Meta};
pub use save::{SaveOutcome, SaveReport, SaveRequest};
pub use spec::{Action, CachePaths, CanonicalPath, MAX_FALLBACK_KEYS, MAX_KEY_BYTES, PathSpec, RootKind, Roots, validate_key};
pub use store::Store;
pub use walk::{Listing, glob_search, hash_files};

use std::path::PathBuf;

/// The default store location below the user's home (`--cache-dir` moves it).
pub const DEFAULT_DIR: &str = ".cache/kiln/build-cache";

/// The default store root for a user whose home is `home`.
pub fn default_root(home: &std::path::Path) -> PathBuf {
    home.join(DEFAULT_DIR)
}

/// Bounds on what one entry may hold (checked on save and again on restore).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Files, links and directories in one entry.
    pub max_files: u64,
    /// Largest single file; larger files are skipped on save.
    pub max_file_bytes: u64,
    /// Total file bytes in one entry.
    pub max_entry_bytes: u64,
    /// Largest manifest read.
    pub max_manifest_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { max_files: 2_000_000, max_file_bytes: 4 << 30, max_entry_bytes: 32 << 30, max_manifest_bytes: 512 << 20 }
    }
}

/// How a store is used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreOptions {
    /// Size limit of the whole store (blobs + manifests); after a save, least recently used
    /// entries are evicted until it fits. Default 10 GiB (kiln proposal).
    pub max_bytes: u64,
    /// Per-entry bounds.
    pub limits: Limits,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions { max_bytes: 10 << 30, limits: Limits::default() }
    }
}

/// Something left out, with why (for the caller to show).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    /// The path or pattern, escaped for one line (`root:relative` for files).
    pub path: String,
    /// Why.
    pub reason: String,
}

/// Why a cache operation could not run. Each message names the path or key and what to do.
#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    /// A `cache.paths` entry (or a glob) is wrong in itself.
    #[error("invalid cache path '{path}': {reason}")]
    InvalidPath {
        /// As written.
        path: String,
        /// Why.
        reason: String,
    },
    /// A key, after expansion, cannot be used.
    #[error("invalid cache key \"{key}\": {reason}")]
    InvalidKey {
        /// The key, escaped.
        key: String,
        /// Why.
        reason: String,
    },
    /// More than five fallback keys.
    #[error("cache.fallback-keys has {count} keys; CodeBuild supports at most 5: remove the extra ones")]
    TooManyFallbackKeys {
        /// How many were given.
        count: usize,
    },
    /// An entry would exceed the limits.
    #[error("the cache entry is too big ({what}): {help}")]
    TooBig {
        /// Which limit.
        what: String,
        /// What to do.
        help: String,
    },
    /// The store itself cannot be used.
    #[error("build cache '{path}': {source} (check the directory, or move it with --cache-dir)")]
    Store {
        /// The file or directory of the store.
        path: PathBuf,
        /// What went wrong.
        source: std::io::Error,
    },
    /// The store lies inside a tree the build can write: the build could forge entries.
    #[error("the build cache '{store}' is inside the build's {root} '{dir}': a build could forge or poison entries; keep the cache outside every working copy and home (--cache-dir)")]
    StoreInsideBuild {
        /// The store root.
        store: PathBuf,
        /// `working copy`, `home` or `allowed directory`.
        root: &'static str,
        /// That directory.
        dir: PathBuf,
    },
    /// A build file or directory cannot be read.
    #[error("cannot read '{path}': {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// What went wrong.
        source: std::io::Error,
    },
}
