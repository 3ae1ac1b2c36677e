//! The combined artifact (`kiln build --batch --combine-artifacts`; CodeBuild's project setting
//! `buildBatchConfig.combineArtifacts`, "Combine all artifacts from batch into a single
//! location").
//!
//! What goes in: "CodeBuild will combine the primary artifacts of all the builds into one single
//! ZIP file" (sample-pipeline-batch.html) — primary artifacts only. The layout inside is not
//! documented; kiln puts each build's primary artifact under a folder named after its
//! identifier (`<identifier>/<path>`, kiln proposal): the guide's own sample has both builds
//! write the same `output_file`, which a flat merge would lose. It is written like any artifact
//! (`kiln-artifacts`): a directory, or a zip with `--zip`, named after the project, in the
//! batch's `artifacts/`, atomically and reproducibly.
//!
//! Security: each build's artifact is read back from its record directory and checked against
//! what its record says (the paths, sizes and sha256 of every file, and of the zip): a file
//! that changed since the build, a path that is absolute or has `..`, or a zip entry the record
//! does not list fails the combination instead of being copied. Files are staged in a private
//! temporary directory beside the result; symlinks a build kept (`enable-symlinks`) are kept only
//! when they stay inside the combined artifact (`kiln-artifacts` drops the others with a warning).

use std::fs;
use std::io::{self, Read, Write};
use std::path::Path;

use kiln_artifacts::{ArtifactSpec, Packaging};
use kiln_engine::record::{ArtifactFile, ArtifactRecord};
use sha2::{Digest, Sha256};

/// One build's primary artifact, as its record describes it.
pub struct Part<'a> {
    pub identifier: &'a str,
    pub artifact: &'a ArtifactRecord,
}

/// The combined artifact and what was skipped making it.
pub struct Combined {
    pub record: ArtifactRecord,
    pub warnings: Vec<String>,
}

/// Combine `parts` into `dest_dir/<name>` (a directory, or `<name>.zip` with `zip`).
pub fn combine(parts: &[Part], dest_dir: &Path, name: &str, zip: bool) -> Result<Combined, String> {
    let packaging = if zip { Packaging::Zip } else { Packaging::Directory };
    fs::create_dir_all(dest_dir).map_err(|e| format!("cannot create {}: {e}", dest_dir.display()))?;
    let staging = tempfile::Builder::new().prefix(".combine.").suffix(".kiln-tmp").tempdir_in(dest_dir).map_err(|e| format!("cannot create a staging directory in {}: {e}", dest_dir.display()))?;
    for part in parts {
        if !kiln_spec::batch::is_batch_identifier(part.identifier) {
            return Err(format!("`{}` is not a batch identifier", part.identifier));
        }
        let into = staging.path().join(part.identifier);
        fs::create_dir(&into).map_err(|e| format!("cannot create {}: {e}", into.display()))?;
        let location = Path::new(&part.artifact.location);
        let staged = match &part.artifact.sha256sum {
            Some(zip_digest) => stage_zip(location, zip_digest, &part.artifact.files, &into),
            None => stage_dir(location, &part.artifact.files, &into),
        };
        staged.map_err(|e| format!("the artifact of `{}` ({}) cannot be combined: {e}", part.identifier, location.display()))?;
    }
    let spec = ArtifactSpec { identifier: None, files: vec!["**/*".into()], enable_symlinks: true, ..Default::default() };
    let selection = kiln_artifacts::select(staging.path(), &spec).map_err(|e| e.to_string())?;
    let file_name = if packaging == Packaging::Zip { format!("{name}.zip") } else { name.to_string() };
    let packaged = kiln_artifacts::package(&selection, dest_dir, &file_name, packaging).map_err(|e| e.to_string())?;
    let files = packaged.files.iter().map(|f| ArtifactFile { path: f.path.clone(), sha256: f.sha256.clone(), size: f.size }).collect();
    Ok(Combined {
        record: ArtifactRecord { artifact_identifier: None, location: packaged.path.display().to_string(), sha256sum: packaged.sha256, files },
        warnings: selection.warnings,
    })
}

/// A path from a record: relative, `/`-separated, no empty, `.` or `..` component.
fn safe_rel(path: &str) -> Result<&str, String> {
    let bad = path.is_empty() || path.starts_with('/') || path.contains(['\0', '\\']) || path.split('/').any(|c| c.is_empty() || c == "." || c == "..");
    if bad { Err(format!("`{path}` is not a relative path inside the artifact")) } else { Ok(path) }
}

/// Copy at most `expected.size` bytes of `from` into a new file `to`, checking size and sha256.
fn copy_checked(from: &mut dyn Read, to: &Path, expected: &ArtifactFile) -> Result<(), String> {
    if let Some(parent) = to.parent() {
        fs::create_dir_all(parent).map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
    }
    let mut out = fs::OpenOptions::new().write(true).create_new(true).open(to).map_err(|e| format!("cannot write {}: {e}", to.display()))?;
    let mut hasher = Sha256::new();
    let mut limited = from.take(expected.size + 1);
    let mut buf = vec![0u8; 256 * 1024];
    let mut total = 0u64;
    loop {
        let n = limited.read(&mut buf).map_err(|e| format!("cannot read `{}`: {e}", expected.path))?;
        if n == 0 {
            break;
        }
        total += n as u64;
        hasher.update(&buf[..n]);
        out.write_all(&buf[..n]).map_err(|e| format!("cannot write {}: {e}", to.display()))?;
    }
    let digest = hex::encode(hasher.finalize());
    if total != expected.size || digest != expected.sha256 {
        return Err(format!("`{}` changed since its build recorded it (expected {} bytes, sha256 {}; found {total} bytes, sha256 {digest})", expected.path, expected.size, expected.sha256));
    }
    Ok(())
}

/// Recreate a symlink the build kept, if its target text matches the record's digest.
fn link_checked(target: &[u8], to: &Path, expected: &ArtifactFile) -> Result<(), String> {
    if hex::encode(Sha256::digest(target)) != expected.sha256 {
        return Err(format!("the link `{}` changed since its build recorded it", expected.path));
    }
    if let Some(parent) = to.parent() {
        fs::create_dir_all(parent).map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
    }
    let target = std::ffi::OsStr::new(std::str::from_utf8(target).map_err(|_| format!("the link `{}` has a non-UTF-8 target", expected.path))?);
    std::os::unix::fs::symlink(target, to).map_err(|e| format!("cannot create the link {}: {e}", to.display()))
}

/// Stage a directory artifact: every file its record lists, and nothing else.
fn stage_dir(root: &Path, files: &[ArtifactFile], into: &Path) -> Result<(), String> {
    let meta = fs::symlink_metadata(root).map_err(|e| format!("cannot read it: {e}"))?;
    if !meta.is_dir() {
        return Err("it is not a directory".into());
    }
    for f in files {
        let rel = safe_rel(&f.path)?;
        // Every directory on the way is a real directory of the artifact, never a link out.
        let mut dir = root.to_path_buf();
        let parts: Vec<&str> = rel.split('/').collect();
        for part in &parts[..parts.len() - 1] {
            dir.push(part);
            if !fs::symlink_metadata(&dir).is_ok_and(|m| m.is_dir()) {
                return Err(format!("`{}` is not inside a real directory of the artifact", f.path));
            }
        }
        let source = root.join(rel);
        let meta = fs::symlink_metadata(&source).map_err(|e| format!("`{}`: {e}", f.path))?;
        if meta.file_type().is_symlink() {
            let target = fs::read_link(&source).map_err(|e| format!("`{}`: {e}", f.path))?;
            link_checked(target.as_os_str().as_encoded_bytes(), &into.join(rel), f)?;
        } else if meta.is_file() {
            let mut file = open_nofollow(&source).map_err(|e| format!("`{}`: {e}", f.path))?;
            copy_checked(&mut file, &into.join(rel), f)?;
        } else {
            return Err(format!("`{}` is not a file", f.path));
        }
    }
    Ok(())
}

/// Open a file with `O_NOFOLLOW | O_NONBLOCK`: a file swapped for a link or a FIFO after the
/// check is refused.
fn open_nofollow(path: &Path) -> io::Result<fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    fs::OpenOptions::new().read(true).custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK).open(path)
}

/// Stage a zip artifact: the zip must be the one its record names (sha256), and hold exactly the
/// entries the record lists.
fn stage_zip(zip_path: &Path, zip_digest: &str, files: &[ArtifactFile], into: &Path) -> Result<(), String> {
    let mut file = open_nofollow(zip_path).map_err(|e| format!("cannot open it: {e}"))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = file.read(&mut buf).map_err(|e| format!("cannot read it: {e}"))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    let found = hex::encode(hasher.finalize());
    io::Seek::rewind(&mut file).map_err(|e| format!("cannot read it: {e}"))?;
    if found != zip_digest {
        return Err(format!("the zip changed since its build recorded it (sha256 {zip_digest}, found {found})"));
    }
    let mut archive = zip::ZipArchive::new(file).map_err(|e| format!("not a readable zip: {e}"))?;
    let mut seen = 0;
    for i in 0..archive.len() {
        let mut entry = archive.by_index(i).map_err(|e| format!("entry {i}: {e}"))?;
        if entry.is_dir() {
            continue;
        }
        let name = entry.enclosed_name().and_then(|p| p.to_str().map(str::to_string)).ok_or_else(|| format!("entry `{}` has an unsafe path", entry.name()))?;
        let expected = files.iter().find(|f| f.path == name).ok_or_else(|| format!("entry `{name}` is not in the build's record"))?;
        let rel = safe_rel(&expected.path)?;
        let is_link = entry.unix_mode().is_some_and(|m| m & 0o170000 == 0o120000);
        if is_link {
            let mut target = Vec::new();
            (&mut entry).take(4096).read_to_end(&mut target).map_err(|e| format!("`{name}`: {e}"))?;
            link_checked(&target, &into.join(rel), expected)?;
        } else {
            copy_checked(&mut entry, &into.join(rel), expected)?;
        }
        seen += 1;
    }
    if seen != files.len() {
        return Err(format!("the zip holds {seen} files, its record lists {}", files.len()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn record_of(dir: &Path) -> ArtifactRecord {
        let mut files = Vec::new();
        for rel in ["a.txt", "sub/b.txt"] {
            let p = dir.join(rel);
            if let Ok(bytes) = fs::read(&p) {
                files.push(ArtifactFile { path: rel.into(), sha256: hex::encode(Sha256::digest(&bytes)), size: bytes.len() as u64 });
            }
        }
        ArtifactRecord { artifact_identifier: None, location: dir.display().to_string(), sha256sum: None, files }
    }

    fn artifact(root: &Path, name: &str, a: &str) -> PathBuf {
        let dir = root.join(name);
        fs::create_dir_all(dir.join("sub")).unwrap();
        fs::write(dir.join("a.txt"), a).unwrap();
        fs::write(dir.join("sub/b.txt"), "same name in every build\n").unwrap();
        dir
    }

    #[test]
    fn each_build_gets_its_folder_and_nothing_collides() {
        let d = tempfile::tempdir().unwrap();
        let (x, y) = (artifact(d.path(), "x", "from x\n"), artifact(d.path(), "y", "from y\n"));
        let (rx, ry) = (record_of(&x), record_of(&y));
        let out = d.path().join("batch/artifacts");
        let c = combine(&[Part { identifier: "linux", artifact: &rx }, Part { identifier: "arm_64", artifact: &ry }], &out, "app", false).unwrap();
        let paths: Vec<&str> = c.record.files.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(paths, ["arm_64/a.txt", "arm_64/sub/b.txt", "linux/a.txt", "linux/sub/b.txt"]);
        assert_eq!(fs::read_to_string(out.join("app/linux/a.txt")).unwrap(), "from x\n");
        assert_eq!(fs::read_to_string(out.join("app/arm_64/a.txt")).unwrap(), "from y\n");
        let left: Vec<_> = fs::read_dir(&out).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(left, vec![std::ffi::OsString::from("app")], "the staging directory is gone");
        // As a zip: one reproducible file holding the same paths.
        let z = combine(&[Part { identifier: "linux", artifact: &rx }], &out, "app", true).unwrap();
        assert!(z.record.location.ends_with("app.zip") && z.record.sha256sum.is_some());
        let z2 = combine(&[Part { identifier: "linux", artifact: &rx }], &out, "app", true).unwrap();
        assert_eq!(z.record.sha256sum, z2.record.sha256sum);
    }

    #[test]
    fn a_file_changed_since_the_build_is_refused() {
        let d = tempfile::tempdir().unwrap();
        let x = artifact(d.path(), "x", "original\n");
        let rx = record_of(&x);
        fs::write(x.join("a.txt"), "tampered\n").unwrap();
        let e = combine(&[Part { identifier: "x", artifact: &rx }], &d.path().join("out"), "app", false).err().unwrap();
        assert!(e.contains("changed since its build recorded it"), "{e}");
        assert!(!d.path().join("out/app").exists(), "nothing at the final name");
    }

    #[test]
    fn record_paths_that_leave_the_artifact_and_links_out_are_refused() {
        let d = tempfile::tempdir().unwrap();
        fs::write(d.path().join("secret"), "host file\n").unwrap();
        let x = artifact(d.path(), "x", "x\n");
        let mut rx = record_of(&x);
        rx.files.push(ArtifactFile { path: "../secret".into(), sha256: String::new(), size: 10 });
        let e = combine(&[Part { identifier: "x", artifact: &rx }], &d.path().join("out"), "app", false).err().unwrap();
        assert!(e.contains("not a relative path"), "{e}");
        // A directory of the artifact replaced by a link out of it.
        let y = artifact(d.path(), "y", "y\n");
        let ry = record_of(&y);
        fs::remove_dir_all(y.join("sub")).unwrap();
        std::os::unix::fs::symlink(d.path(), y.join("sub")).unwrap();
        let e = combine(&[Part { identifier: "y", artifact: &ry }], &d.path().join("out"), "app", false).err().unwrap();
        assert!(e.contains("not inside a real directory"), "{e}");
    }
}
