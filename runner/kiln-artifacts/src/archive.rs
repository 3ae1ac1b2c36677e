//! Artifacts as CodePipeline moves them: one zip file per artifact. Unpacking is bounded and
//! confined to the destination; packing a directory never follows a link.
//!
//! Security: an input artifact is data another action produced (a repository's tree, a build's
//! output), so every entry name must be relative and stay inside the destination (`..`, absolute
//! names and NULs refused through `enclosed_name`), the whole archive is bounded in entries and
//! unpacked bytes, and symbolic links are created only after every file and directory, so no
//! entry is ever written through a link an earlier entry made (the "zip slip through a link"
//! attack); a link whose place is already taken is refused.

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

/// The most entries an artifact may hold.
pub const MAX_ENTRIES: usize = 1_000_000;
/// The most bytes an artifact may unpack to (16 GiB).
pub const MAX_UNPACKED: u64 = 16 * 1024 * 1024 * 1024;

fn err(zip: &Path, what: impl std::fmt::Display) -> String {
    format!("the artifact {}: {what}", zip.display())
}

/// Unpack the zip `zip` into the directory `dest` (created; must not exist or be empty).
pub fn unzip_into(zip: &Path, dest: &Path) -> Result<(), String> {
    let file = File::open(zip).map_err(|e| err(zip, e))?;
    let mut archive = zip::ZipArchive::new(file).map_err(|e| err(zip, format!("not a zip file: {e}")))?;
    if archive.len() > MAX_ENTRIES {
        return Err(err(zip, format!("{} entries, more than the {MAX_ENTRIES} kiln unpacks", archive.len())));
    }
    fs::create_dir_all(dest).map_err(|e| err(dest, e))?;
    let mut links: Vec<(PathBuf, String)> = Vec::new();
    let mut total: u64 = 0;
    for i in 0..archive.len() {
        let mut entry = archive.by_index(i).map_err(|e| err(zip, e))?;
        let Some(rel) = entry.enclosed_name() else {
            return Err(err(zip, format!("the entry `{}` would land outside the artifact's directory", entry.name())));
        };
        let path = dest.join(&rel);
        let mode = entry.unix_mode().unwrap_or(0);
        if mode & 0o170000 == 0o120000 {
            let mut target = String::new();
            (&mut entry).take(4096).read_to_string(&mut target).map_err(|e| err(zip, format!("the link `{}`: {e}", rel.display())))?;
            links.push((path, target));
            continue;
        }
        if entry.is_dir() {
            fs::create_dir_all(&path).map_err(|e| err(zip, format!("{}: {e}", rel.display())))?;
            continue;
        }
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).map_err(|e| err(zip, format!("{}: {e}", rel.display())))?;
        }
        let mut out = fs::OpenOptions::new().write(true).create_new(true).open(&path).map_err(|e| err(zip, format!("{}: {e}", rel.display())))?;
        let left = MAX_UNPACKED.saturating_sub(total);
        let n = io::copy(&mut (&mut entry).take(left + 1), &mut out).map_err(|e| err(zip, format!("{}: {e}", rel.display())))?;
        total += n;
        if total > MAX_UNPACKED {
            return Err(err(zip, format!("it unpacks to more than {MAX_UNPACKED} bytes")));
        }
        if mode & 0o111 != 0 {
            use std::os::unix::fs::PermissionsExt;
            let _ = fs::set_permissions(&path, fs::Permissions::from_mode(0o755));
        }
    }
    for (path, target) in links {
        if fs::symlink_metadata(&path).is_ok() {
            return Err(err(zip, format!("the link {} would replace an entry of the same name", path.display())));
        }
        std::os::unix::fs::symlink(&target, &path).map_err(|e| err(zip, format!("the link {}: {e}", path.display())))?;
    }
    Ok(())
}

/// Pack the tree `dir` into the zip file `dest` (entries sorted; links kept as links, never
/// followed; special files skipped).
pub fn zip_dir(dir: &Path, dest: &Path) -> Result<(), String> {
    let out = File::create(dest).map_err(|e| err(dest, e))?;
    let mut w = zip::ZipWriter::new(out);
    let opts = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    let mut stack = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        let mut names: Vec<_> = fs::read_dir(dir.join(&rel)).map_err(|e| err(dir, e))?.filter_map(|e| e.ok()).map(|e| e.file_name()).collect();
        names.sort();
        for name in names.into_iter().rev() {
            let r = rel.join(&name);
            let p = dir.join(&r);
            let meta = fs::symlink_metadata(&p).map_err(|e| err(&p, e))?;
            let entry = r.to_string_lossy().to_string();
            if meta.file_type().is_symlink() {
                let target = fs::read_link(&p).map_err(|e| err(&p, e))?;
                w.add_symlink(entry, target.to_string_lossy(), opts).map_err(|e| err(dest, e))?;
            } else if meta.is_dir() {
                w.add_directory(format!("{entry}/"), opts).map_err(|e| err(dest, e))?;
                stack.push(r);
            } else if meta.is_file() {
                use std::os::unix::fs::PermissionsExt;
                w.start_file(entry, opts.unix_permissions(meta.permissions().mode() & 0o777)).map_err(|e| err(dest, e))?;
                let mut f = kiln_fs::open_input_nofollow(&p, "artifact file").map_err(|e| e.to_string())?.into_file();
                io::copy(&mut f, &mut w).map_err(|e| err(&p, e))?;
            }
        }
    }
    let mut out = w.finish().map_err(|e| err(dest, e))?;
    out.flush().map_err(|e| err(dest, e))?;
    out.sync_all().map_err(|e| err(dest, e))
}

/// A build's artifact (a zip file, or a directory) as the zip `dest`.
pub fn artifact_as_zip(location: &Path, dest: &Path) -> Result<(), String> {
    let meta = fs::symlink_metadata(location).map_err(|e| err(location, e))?;
    if meta.is_dir() {
        zip_dir(location, dest)
    } else if meta.is_file() {
        fs::copy(location, dest).map(|_| ()).map_err(|e| err(location, e))
    } else {
        Err(err(location, "neither a file nor a directory"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_zip(path: &Path, entries: &[(&str, Option<&str>, &[u8])]) {
        let mut w = zip::ZipWriter::new(File::create(path).unwrap());
        let o = zip::write::SimpleFileOptions::default();
        for (name, link, data) in entries {
            match link {
                Some(t) => w.add_symlink(*name, *t, o).unwrap(),
                None => {
                    w.start_file(*name, o).unwrap();
                    w.write_all(data).unwrap();
                }
            }
        }
        w.finish().unwrap();
    }

    #[test]
    fn a_tree_round_trips_with_links_kept_as_links() {
        let d = tempfile::tempdir().unwrap();
        let src = d.path().join("src");
        fs::create_dir_all(src.join("a/b")).unwrap();
        fs::write(src.join("a/b/f.txt"), "hello").unwrap();
        std::os::unix::fs::symlink("b/f.txt", src.join("a/link")).unwrap();
        zip_dir(&src, &d.path().join("x.zip")).unwrap();
        unzip_into(&d.path().join("x.zip"), &d.path().join("out")).unwrap();
        assert_eq!(fs::read_to_string(d.path().join("out/a/b/f.txt")).unwrap(), "hello");
        assert_eq!(fs::read_link(d.path().join("out/a/link")).unwrap(), Path::new("b/f.txt"));
    }

    #[test]
    fn entries_outside_and_writes_through_a_link_are_refused() {
        let d = tempfile::tempdir().unwrap();
        let outside = d.path().join("outside");
        fs::create_dir_all(&outside).unwrap();
        let z = d.path().join("slip.zip");
        write_zip(&z, &[("../outside/owned", None, b"x")]);
        let e = unzip_into(&z, &d.path().join("o1")).unwrap_err();
        assert!(e.contains("outside the artifact"), "{e}");
        assert!(!outside.join("owned").exists());
        // A link to the outside, then a file "through" it: the file is written as a real
        // directory entry first, and the link then finds its place taken.
        let z = d.path().join("link.zip");
        write_zip(&z, &[("l", Some(outside.to_str().unwrap()), b""), ("l/owned", None, b"x")]);
        let e = unzip_into(&z, &d.path().join("o2")).unwrap_err();
        assert!(e.contains("replace an entry"), "{e}");
        assert!(!outside.join("owned").exists());
    }
}
