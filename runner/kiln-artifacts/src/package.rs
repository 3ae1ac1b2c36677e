//! Packaging: writing a [`Selection`] as a reproducible zip or a directory, atomically.

use std::collections::BTreeSet;
use std::fs::{self, File};
use std::io::{self, BufWriter, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use cap_std::ambient_authority;
use cap_std::fs::Dir;
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, DateTime, ZipWriter};

use crate::read::{Hashing, hash_reader, open_confined};
use crate::{ArtifactError, Packaged, Packaging, SelectedFile, Selection};

/// Suffix of the temporary entries written next to the final artifact.
const TMP_SUFFIX: &str = ".kiln-tmp";

/// Writes `selection` to `dest_dir/name` as a zip file or a directory.
///
/// `name` is used verbatim (no `.zip` is added); it may contain `/` to place the artifact in
/// subdirectories of `dest_dir`, but no `..`, `.` or empty component. An existing artifact
/// of the same name is replaced. The artifact is assembled under a temporary name in the
/// same directory and renamed into place only once complete, so on any error (including a
/// source file that was deleted or changed since [`crate::select`]) nothing exists at the
/// final name and temporary files are removed.
pub fn package(
    selection: &Selection,
    dest_dir: &Path,
    name: &str,
    packaging: Packaging,
) -> Result<Packaged, ArtifactError> {
    check_name(name)?;
    let files = checked_files(selection)?;
    let final_path = dest_dir.join(name);
    let write_err = |source| ArtifactError::Write {
        path: final_path.clone(),
        source,
    };
    let parent = final_path.parent().unwrap_or(dest_dir).to_path_buf();
    fs::create_dir_all(&parent).map_err(write_err)?;
    let root = Dir::open_ambient_dir(&selection.root, ambient_authority()).map_err(|source| {
        ArtifactError::WorkDir {
            path: selection.root.clone(),
            source,
        }
    })?;
    let file_name = final_path
        .file_name()
        .unwrap_or_default()
        .to_string_lossy()
        .into_owned();
    let prefix = format!(".{file_name}.");
    let mut tmp = tempfile::Builder::new();
    tmp.prefix(&prefix).suffix(TMP_SUFFIX);
    let ctx = Ctx {
        root: &root,
        selection,
        final_path: &final_path,
    };

    let sha256 = match packaging {
        Packaging::Zip => {
            let tmp_file = tmp.tempfile_in(&parent).map_err(write_err)?;
            write_zip(&ctx, &files, tmp_file.as_file())?;
            // Temporary files are private (0600); the artifact gets the usual 0644.
            let file = tmp_file.as_file();
            file.set_permissions(fs::Permissions::from_mode(0o644))
                .map_err(write_err)?;
            file.sync_all().map_err(write_err)?;
            let (_, sha) =
                hash_reader(File::open(tmp_file.path()).map_err(write_err)?).map_err(write_err)?;
            tmp_file
                .persist(&final_path)
                .map_err(|e| write_err(e.error))?;
            Some(sha)
        }
        Packaging::Directory => {
            let tmp_dir = tmp.tempdir_in(&parent).map_err(write_err)?;
            write_dir(&ctx, &files, tmp_dir.path())?;
            fs::set_permissions(tmp_dir.path(), fs::Permissions::from_mode(0o755))
                .map_err(write_err)?;
            replace_with_dir(tmp_dir.keep(), &final_path).map_err(write_err)?;
            None
        }
    };
    // Make the rename itself durable; failing to sync a directory is not worth an error.
    let _ = File::open(&parent).and_then(|d| d.sync_all());
    Ok(Packaged {
        path: final_path,
        sha256,
        files: files.into_iter().cloned().collect(),
    })
}

/// What the writers need besides the file list.
struct Ctx<'a> {
    root: &'a Dir,
    selection: &'a Selection,
    final_path: &'a Path,
}

impl Ctx<'_> {
    fn write_err(&self, source: io::Error) -> ArtifactError {
        ArtifactError::Write {
            path: self.final_path.to_path_buf(),
            source,
        }
    }

    /// Opens `file`'s source through the confined directory; returns it with its
    /// permission bits.
    fn open(&self, file: &SelectedFile) -> Result<(File, u32), ArtifactError> {
        let src = open_confined(self.root, &self.selection.root, &file.source)?;
        let meta = src.metadata().map_err(|source| ArtifactError::Io {
            path: file.source.clone(),
            source,
        })?;
        Ok((src, meta.permissions().mode() & 0o777))
    }

    /// Streams `src` (the opened source of `file`) into `out`, checking it still has the
    /// selected size and hash.
    fn copy(
        &self,
        file: &SelectedFile,
        src: File,
        out: &mut dyn Write,
    ) -> Result<(), ArtifactError> {
        let mut hashing = Hashing::new(src);
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = hashing.read(&mut buf).map_err(|source| ArtifactError::Io {
                path: file.source.clone(),
                source,
            })?;
            if n == 0 {
                break;
            }
            out.write_all(&buf[..n]).map_err(|e| self.write_err(e))?;
        }
        let (size, sha256) = hashing.finish();
        if size != file.size || sha256 != file.sha256 {
            return Err(ArtifactError::SourceChanged {
                path: file.source.clone(),
                detail: format!(
                    "selected: {} bytes, sha256 {}; now: {size} bytes, sha256 {sha256}",
                    file.size, file.sha256
                ),
            });
        }
        Ok(())
    }
}

/// Refuses names that are empty, absolute or would climb out of the destination directory.
fn check_name(name: &str) -> Result<(), ArtifactError> {
    let bad = |reason: &str| ArtifactError::InvalidName {
        name: name.to_string(),
        reason: reason.to_string(),
    };
    if name.is_empty() {
        return Err(bad("it is empty"));
    }
    if name.contains('\0') {
        return Err(bad("it contains a NUL byte"));
    }
    if name.starts_with('/') {
        return Err(bad("it must be relative to the destination directory"));
    }
    if name
        .split('/')
        .any(|c| c.is_empty() || c == "." || c == "..")
    {
        return Err(bad("it must not have empty, '.' or '..' components"));
    }
    Ok(())
}

/// The files sorted by artifact path, after checking that paths are unique and safe to
/// create under the artifact root and that sources are inside the working copy (the
/// fields of [`Selection`] are public, so it may not come from [`crate::select`]).
fn checked_files(selection: &Selection) -> Result<Vec<&SelectedFile>, ArtifactError> {
    let mut files: Vec<&SelectedFile> = selection.files.iter().collect();
    files.sort_by(|a, b| a.path.cmp(&b.path));
    let unsafe_entry = |path: &str, reason: &str| ArtifactError::UnsafeEntry {
        path: path.to_string(),
        reason: reason.to_string(),
    };
    let mut dirs = BTreeSet::new();
    for pair in files.windows(2) {
        if pair[0].path == pair[1].path {
            return Err(ArtifactError::DuplicatePath {
                path: pair[0].path.clone(),
                first: pair[0].source.clone(),
                second: pair[1].source.clone(),
            });
        }
    }
    for f in &files {
        if f.path.is_empty()
            || f.path.starts_with('/')
            || f.path.contains(['\0', '\\'])
            || f.path
                .split('/')
                .any(|c| c.is_empty() || c == "." || c == "..")
        {
            return Err(unsafe_entry(
                &f.path,
                "artifact paths must be relative, without '.', '..' or empty components",
            ));
        }
        if !f.source.starts_with(&selection.root) {
            return Err(unsafe_entry(
                &f.path,
                "its source is outside the working copy",
            ));
        }
        let mut prefix = String::new();
        for part in f
            .path
            .split('/')
            .rev()
            .skip(1)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
        {
            prefix = if prefix.is_empty() {
                part.to_string()
            } else {
                format!("{prefix}/{part}")
            };
            dirs.insert(prefix.clone());
        }
    }
    if let Some(f) = files.iter().find(|f| dirs.contains(&f.path)) {
        return Err(unsafe_entry(
            &f.path,
            "it is both a file and the directory of other files",
        ));
    }
    Ok(files)
}

/// Writes the zip: entries in path order, fixed dates, level-6 deflate, unix modes.
fn write_zip(ctx: &Ctx, files: &[&SelectedFile], out: &File) -> Result<(), ArtifactError> {
    let mut zip = ZipWriter::new(BufWriter::new(out));
    let zip_err = |e: zip::result::ZipError| ctx.write_err(io::Error::other(e));
    let base = SimpleFileOptions::default()
        .compression_method(CompressionMethod::Deflated)
        .compression_level(Some(6))
        .last_modified_time(DateTime::default());
    for f in files {
        if let Some(target) = &f.symlink_target {
            let target = target.to_str().ok_or_else(|| ArtifactError::UnsafeEntry {
                path: f.path.clone(),
                reason: "its symlink target is not valid UTF-8".into(),
            })?;
            zip.add_symlink(f.path.as_str(), target, base.unix_permissions(0o777))
                .map_err(zip_err)?;
            continue;
        }
        let (src, mode) = ctx.open(f)?;
        let options = base
            .unix_permissions(mode)
            .large_file(f.size >= u64::from(u32::MAX));
        zip.start_file(f.path.as_str(), options).map_err(zip_err)?;
        ctx.copy(f, src, &mut zip)?;
    }
    let mut buffered = zip.finish().map_err(zip_err)?;
    buffered.flush().map_err(|e| ctx.write_err(e))
}

/// Recreates the files (and kept symlinks) under `dir`, with their permission bits.
fn write_dir(ctx: &Ctx, files: &[&SelectedFile], dir: &Path) -> Result<(), ArtifactError> {
    for f in files {
        let dest = dir.join(&f.path);
        if let Some(parent) = dest.parent() {
            fs::create_dir_all(parent).map_err(|e| ctx.write_err(e))?;
        }
        if let Some(target) = &f.symlink_target {
            std::os::unix::fs::symlink(target, &dest).map_err(|e| ctx.write_err(e))?;
            continue;
        }
        let (src, mode) = ctx.open(f)?;
        let mut out = File::create_new(&dest).map_err(|e| ctx.write_err(e))?;
        ctx.copy(f, src, &mut out)?;
        out.set_permissions(fs::Permissions::from_mode(mode))
            .map_err(|e| ctx.write_err(e))?;
        out.sync_all().map_err(|e| ctx.write_err(e))?;
    }
    Ok(())
}

/// Renames the finished directory `staged` to `final_path`, replacing whatever is there.
/// The old artifact is first moved aside, so the final name only ever holds a complete
/// artifact (or, for an instant, nothing). `staged` is removed on failure.
fn replace_with_dir(staged: PathBuf, final_path: &Path) -> io::Result<()> {
    let aside = final_path.with_file_name(format!(
        ".{}.old-{}{TMP_SUFFIX}",
        final_path.file_name().unwrap_or_default().to_string_lossy(),
        std::process::id()
    ));
    let had_old = match fs::rename(final_path, &aside) {
        Ok(()) => true,
        Err(e) if e.kind() == io::ErrorKind::NotFound => false,
        Err(e) => {
            let _ = fs::remove_dir_all(&staged);
            return Err(e);
        }
    };
    if let Err(e) = fs::rename(&staged, final_path) {
        let _ = fs::remove_dir_all(&staged);
        if had_old {
            let _ = fs::rename(&aside, final_path);
        }
        return Err(e);
    }
    if had_old {
        let removed = if aside.is_dir() {
            fs::remove_dir_all(&aside)
        } else {
            fs::remove_file(&aside)
        };
        removed?;
    }
    Ok(())
}
