//! Build-artifact selection and packaging for kiln, the offline AWS CodeBuild runner.
//!
//! After a build's phases ran, the engine calls [`select`] with the working copy and one
//! `artifacts:` block of the buildspec (the primary one or a secondary artifact) to find the
//! files CodeBuild would upload, then [`package`] to write them as a zip or a directory.
//! Every selected file carries its size and sha256, and nothing is ever read from outside
//! the working copy.
//!
//! # Semantics (following the CodeBuild user guide, buildspec reference, `artifacts`)
//!
//! * **`files`** are glob patterns relative to the working copy, or to `base-directory` when
//!   set: "relative to the original build location or, if set, the base directory".
//!   `*` and `?` never cross `/`; `**` crosses directories, so `'**/*'` "represents all files
//!   recursively" and `my-subdirectory/*` "represents all files in a subdirectory named
//!   my-subdirectory". A leading `./` is ignored ("You do not have to prepend ... `./`").
//! * **Only files are selected.** The guide lists files and globs of files as valid
//!   locations, never a bare directory, so a pattern such as `dist` that names a directory
//!   selects nothing by itself; kiln warns and suggests `dist/**/*`.
//! * **Dotfiles are ordinary files**: `**/*` selects `.env` and `.config/x`. The guide
//!   takes this for granted when it offers `"**/.*"` as the way "To exclude all dot files"
//!   and `"**/.*/**/*"` "To exclude all dot folders".
//! * **`base-directory`** "Represents one or more top-level directories" and may be a
//!   glob: "`'my-directory*'` represents all top-level directories with names starting with
//!   `my-directory`". "Matching top-level directories are not included in the build output
//!   artifact, only their files and subdirectories". If no directory matches, selection
//!   fails like CodeBuild ("no matching base directory path found for ...").
//! * **`discard-paths: yes`** flattens every file to its name ("all of the build artifacts
//!   are placed in the same output directory"). Two different files with the same name are
//!   an error that names both ([`ArtifactError::DiscardPathsCollision`]), and so are two
//!   base directories giving the same path ([`ArtifactError::DuplicatePath`]). One file
//!   matched by several patterns is selected once.
//! * **`exclude-paths`** are globs "relative to `base-directory`, that CodeBuild will exclude
//!   from the build artifacts". They are matched against the path before flattening.
//! * **No match**: a pattern that selects nothing only adds a warning (CodeBuild logs
//!   "Skipping invalid file path ..."). If the whole artifact is empty, [`select`] fails with
//!   [`ArtifactError::NoMatchingArtifactPaths`], the equivalent of CodeBuild's
//!   `UPLOAD_ARTIFACTS` failure "CLIENT_ERROR: no matching artifact paths found".
//! * **`enable-symlinks: yes`**: "all internal symbolic links in the source will be
//!   preserved in the artifacts ZIP file" (and as symlinks in a directory artifact). Without
//!   it, symlinks are followed, as far as their target stays in the working copy.
//!
//! # Security decisions
//!
//! * A pattern (`files`, `base-directory` or `exclude-paths`) that is absolute or has a `..`
//!   component is **refused** with [`ArtifactError::PatternEscapes`]: it is a mistake in the
//!   buildspec, never something to guess around.
//! * A symlink met while walking (to a file or a directory) whose target resolves outside
//!   the working copy, dangles, or loops is **skipped with a warning** in
//!   [`Selection::warnings`]: such links are common in build trees (a Python virtualenv's
//!   `bin/python`), so they must not fail a build, but they are never read or stored.
//!   A `base-directory` that is itself a symlink out of the working copy is refused.
//! * Files are opened through a [`cap_std::fs::Dir`] rooted at the working copy, so a file
//!   swapped for an escaping symlink after selection cannot be read either, and [`package`]
//!   re-hashes every file and fails with [`ArtifactError::SourceChanged`] if it changed.
//! * Sockets, FIFOs and devices are skipped with a warning.
//!
//! # Packaging
//!
//! A zip is written to a hidden temporary file in the destination directory, synced and
//! renamed over the final name; a directory artifact is assembled in a temporary directory
//! and renamed. A failure or a `SIGKILL` mid-write therefore never leaves a file at the final
//! name (a killed process may leave a `.NAME.*.kiln-tmp` entry behind). Zip entries are
//! sorted by path, dated 1980-01-01 00:00:00, deflated at level 6 and carry the file's unix
//! permission bits, so the same input always gives the same bytes. The zip file itself is
//! made 0644 and a directory artifact's top directory 0755.

pub mod archive;
mod package;
mod read;
mod select;

use std::path::PathBuf;

pub use package::package;
pub use select::{Pattern, link_escapes, select};

/// One `artifacts:` block of a buildspec (the primary artifact or a secondary one).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ArtifactSpec {
    /// The secondary artifact's identifier; `None` for the primary artifact.
    /// Only used in messages.
    pub identifier: Option<String>,
    /// `files`: glob patterns, relative to the base directory (or the working copy).
    pub files: Vec<String>,
    /// `base-directory`: a directory, or a glob matching directories, in the working copy.
    pub base_directory: Option<String>,
    /// `discard-paths: yes`: store every file under its bare name.
    pub discard_paths: bool,
    /// `exclude-paths`: glob patterns, relative to the base directory, removed from the
    /// selection.
    pub exclude_paths: Vec<String>,
    /// `enable-symlinks: yes`: keep internal symlinks as symlinks instead of following them.
    pub enable_symlinks: bool,
}

/// How [`package`] writes an artifact (CodeBuild's `packaging`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Packaging {
    /// One reproducible zip file (`ZIP`).
    Zip,
    /// A directory tree holding the files (`NONE`).
    Directory,
}

/// A file chosen for an artifact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SelectedFile {
    /// Absolute path of the file in the working copy (inside [`Selection::root`]), as
    /// reached by the walk: through followed symlinks, not resolved.
    pub source: PathBuf,
    /// Path inside the artifact, relative and `/`-separated.
    pub path: String,
    /// With `enable-symlinks`, the target the artifact's symlink gets (relative, inside the
    /// working copy); `None` for a regular file.
    pub symlink_target: Option<PathBuf>,
    /// Size in bytes (of the link target's text for a symlink).
    pub size: u64,
    /// Lowercase hex sha256 of the content (of the link target's text for a symlink).
    pub sha256: String,
}

/// The outcome of [`select`]: what goes into the artifact, sorted by [`SelectedFile::path`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selection {
    /// The canonical working copy every source is confined to.
    pub root: PathBuf,
    /// The selected files, sorted by artifact path, paths unique.
    pub files: Vec<SelectedFile>,
    /// Things skipped or matching nothing, worth showing to the user.
    pub warnings: Vec<String>,
}

/// A written artifact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packaged {
    /// The zip file or directory at its final name.
    pub path: PathBuf,
    /// Lowercase hex sha256 of the zip file; `None` for a directory artifact.
    pub sha256: Option<String>,
    /// The files it holds, sorted by artifact path.
    pub files: Vec<SelectedFile>,
}

/// Why an artifact could not be selected or packaged. Each message says which pattern or
/// file is at fault and what to do.
#[derive(Debug, thiserror::Error)]
pub enum ArtifactError {
    /// The working directory is missing or not a directory.
    #[error("working directory '{path}' cannot be used for artifacts: {source}")]
    WorkDir {
        /// The directory given to [`select`].
        path: PathBuf,
        /// What went wrong.
        source: std::io::Error,
    },
    /// `artifacts.files` is empty.
    #[error("artifacts{} has no `files` patterns: add at least one, e.g. '**/*'", ident(.identifier))]
    NoFilePatterns {
        /// The secondary artifact's identifier, if any.
        identifier: Option<String>,
    },
    /// A pattern is not a valid glob.
    #[error("invalid {field} pattern '{pattern}': {reason}")]
    InvalidPattern {
        /// `files`, `base-directory` or `exclude-paths`.
        field: &'static str,
        /// The pattern as written.
        pattern: String,
        /// The glob parser's complaint.
        reason: String,
    },
    /// A pattern is absolute or climbs out with `..`, or a base directory is a symlink out
    /// of the working copy.
    #[error(
        "{field} pattern '{pattern}' points outside the working copy ({reason}): \
         artifact paths must be relative to the source directory and stay inside it"
    )]
    PatternEscapes {
        /// `files`, `base-directory` or `exclude-paths`.
        field: &'static str,
        /// The pattern as written.
        pattern: String,
        /// Why it escapes.
        reason: String,
    },
    /// `base-directory` matched no directory (CodeBuild: "no matching base directory path
    /// found for ...").
    #[error(
        "no matching base directory path found for '{pattern}': check `base-directory` \
         and that the build created that directory"
    )]
    NoMatchingBaseDirectory {
        /// The `base-directory` as written.
        pattern: String,
    },
    /// Nothing was selected at all (CodeBuild fails `UPLOAD_ARTIFACTS` with
    /// "CLIENT_ERROR: no matching artifact paths found").
    #[error(
        "no matching artifact paths found for artifacts{} (files: {}{}): check that the build \
         produced them and that the patterns name files, e.g. 'dist/**/*' rather than 'dist'",
        ident(.identifier), .patterns.join(", "),
        .base_directory.as_ref().map(|b| format!("; base-directory: {b}")).unwrap_or_default()
    )]
    NoMatchingArtifactPaths {
        /// The secondary artifact's identifier, if any.
        identifier: Option<String>,
        /// The `files` patterns.
        patterns: Vec<String>,
        /// The `base-directory`, if set.
        base_directory: Option<String>,
    },
    /// `discard-paths: yes` maps two different files to the same name.
    #[error(
        "discard-paths: yes gives '{first}' and '{second}' the same name '{name}': rename one, \
         narrow `files`, add one to `exclude-paths`, or set discard-paths: no"
    )]
    DiscardPathsCollision {
        /// The shared file name.
        name: String,
        /// The file found first.
        first: PathBuf,
        /// The other file.
        second: PathBuf,
    },
    /// Two different files would land on the same artifact path (several base directories
    /// holding the same relative path, or a hand-made [`Selection`]).
    #[error(
        "artifact path '{path}' would hold both '{first}' and '{second}': narrow \
         `base-directory` or `files`, or add one of them to `exclude-paths`"
    )]
    DuplicatePath {
        /// The artifact path.
        path: String,
        /// The file found first.
        first: PathBuf,
        /// The other file.
        second: PathBuf,
    },
    /// A [`SelectedFile`] handed to [`package`] is outside [`Selection::root`] or has an
    /// unsafe artifact path.
    #[error("refusing to package '{path}': {reason}")]
    UnsafeEntry {
        /// The artifact path or source at fault.
        path: String,
        /// Why it is refused.
        reason: String,
    },
    /// Reading a source file or directory failed.
    #[error("cannot read '{path}': {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// What went wrong.
        source: std::io::Error,
    },
    /// A file's content changed between [`select`] and [`package`].
    #[error(
        "'{path}' changed after it was selected ({detail}): run select again once the build has finished writing it"
    )]
    SourceChanged {
        /// The source file.
        path: PathBuf,
        /// Expected and found size or hash.
        detail: String,
    },
    /// The artifact name cannot be used as a path in the destination directory.
    #[error("invalid artifact name '{name}': {reason}")]
    InvalidName {
        /// The name given to [`package`].
        name: String,
        /// Why it is refused.
        reason: String,
    },
    /// Writing the artifact failed; nothing was left at the final name.
    #[error("cannot write artifact '{path}': {source}")]
    Write {
        /// The final path of the artifact.
        path: PathBuf,
        /// What went wrong.
        source: std::io::Error,
    },
}

fn ident(identifier: &Option<String>) -> String {
    identifier
        .as_ref()
        .map(|i| format!(" '{i}'"))
        .unwrap_or_default()
}

/// Open a file [`select`] chose, for reading, through the working copy it was selected in: a
/// file swapped for a link out of the working copy or for a FIFO since is refused, not followed
/// or waited on. (For callers that read selected files themselves, e.g. test reports.)
pub fn open_selected(selection: &Selection, file: &SelectedFile) -> Result<std::fs::File, ArtifactError> {
    let root = cap_std::fs::Dir::open_ambient_dir(&selection.root, cap_std::ambient_authority())
        .map_err(|source| ArtifactError::Io { path: selection.root.clone(), source })?;
    read::open_confined(&root, &selection.root, &file.source)
}
