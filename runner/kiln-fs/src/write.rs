//! Writing a file atomically: a reader, or a crash at any moment, sees the old file or the
//! complete new one, never a mix. The one way kiln writes records, keys, state and cache
//! entries.
//!
//! The bytes go to a temporary file created exclusively (`O_EXCL`, a random name, mode 0600
//! until written) in the same directory (or a given one on the same file system), are given
//! their mode, then renamed over the destination. `rename` replaces a link at the destination
//! itself and never follows it. With `durable`, the data and then the directory entry are
//! fsynced, so the write survives a power loss once the call returns.

use std::fs::{File, Permissions};
use std::io::{self, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

/// The mode of files kiln writes for anyone to read (records, public keys, reports).
pub const READABLE: u32 = 0o644;

/// Write `bytes` to `path` atomically, mode 0644 ([`READABLE`]); fsynced when `durable`.
pub fn write_atomic(path: &Path, bytes: &[u8], durable: bool) -> io::Result<()> {
    write(dir_of(path), path, bytes, durable, READABLE)
}

/// [`write_atomic`] with the file's mode (0600 for a private key).
pub fn write_atomic_mode(path: &Path, bytes: &[u8], durable: bool, mode: u32) -> io::Result<()> {
    write(dir_of(path), path, bytes, durable, mode)
}

/// [`write_atomic`] with the temporary file in `tmp_dir` (on the same file system as `path`):
/// for directories whose listing must never show a temporary file.
pub fn write_atomic_in(tmp_dir: &Path, path: &Path, bytes: &[u8], durable: bool) -> io::Result<()> {
    write(tmp_dir, path, bytes, durable, READABLE)
}

fn dir_of(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

fn write(tmp_dir: &Path, path: &Path, bytes: &[u8], durable: bool, mode: u32) -> io::Result<()> {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let mut tmp = tempfile::Builder::new().prefix(&format!(".{name}.")).suffix(".tmp").tempfile_in(tmp_dir)?;
    tmp.write_all(bytes)?;
    tmp.as_file().set_permissions(Permissions::from_mode(mode))?;
    if durable {
        tmp.as_file().sync_all()?;
    }
    tmp.persist(path).map_err(|e| e.error)?;
    if durable {
        File::open(dir_of(path))?.sync_all()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_the_file_whole_with_its_mode_and_leaves_no_temporary_file() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("record.json");
        write_atomic(&p, b"one", false).unwrap();
        write_atomic(&p, b"two", true).unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"two");
        assert_eq!(std::fs::metadata(&p).unwrap().permissions().mode() & 0o777, 0o644);
        write_atomic_mode(&p, b"key", true, 0o600).unwrap();
        assert_eq!(std::fs::metadata(&p).unwrap().permissions().mode() & 0o777, 0o600);
        let names: Vec<_> = std::fs::read_dir(d.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, ["record.json"]);
    }

    #[test]
    fn a_link_at_the_destination_is_replaced_not_followed() {
        let d = tempfile::tempdir().unwrap();
        let target = d.path().join("elsewhere");
        std::fs::write(&target, b"keep").unwrap();
        let p = d.path().join("state.json");
        std::os::unix::fs::symlink(&target, &p).unwrap();
        write_atomic(&p, b"new", true).unwrap();
        assert_eq!(std::fs::read(&target).unwrap(), b"keep");
        assert!(!std::fs::symlink_metadata(&p).unwrap().file_type().is_symlink());
        assert_eq!(std::fs::read(&p).unwrap(), b"new");
    }

    #[test]
    fn a_temporary_directory_elsewhere_keeps_the_destination_listing_clean() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(d.path().join("tmp")).unwrap();
        std::fs::create_dir_all(d.path().join("entries")).unwrap();
        let p = d.path().join("entries/a.json");
        write_atomic_in(&d.path().join("tmp"), &p, b"{}", true).unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"{}");
        assert_eq!(std::fs::read_dir(d.path().join("tmp")).unwrap().count(), 0);
    }

    #[test]
    fn two_threads_writing_one_file_never_mix() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("f");
        let threads: Vec<_> = (0..4u8)
            .map(|i| {
                let p = p.clone();
                std::thread::spawn(move || {
                    for _ in 0..50 {
                        write_atomic(&p, &[i; 4096], false).unwrap();
                    }
                })
            })
            .collect();
        threads.into_iter().for_each(|t| t.join().unwrap());
        let bytes = std::fs::read(&p).unwrap();
        assert!(bytes.len() == 4096 && bytes.iter().all(|b| *b == bytes[0]));
    }
}
