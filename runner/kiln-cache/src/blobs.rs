//! The content-addressed blob layer: `cas/sha256/<hex>`, each blob written once, never
//! rewritten. [`BlobStore`] is the seam a remote (S3-compatible) store would implement;
//! [`FsBlobs`] is the local one.

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use rustix::fs::{AtFlags, Mode, OFlags, RenameFlags};
use rustix::io::Errno;
use sha2::{Digest, Sha256};

/// Where blobs live below the store root (the design's `cas/sha256/<hex>` keys).
pub const CAS_DIR: &str = "cas/sha256";
/// Buffer size for streaming copies.
pub(crate) const BUF: usize = 256 * 1024;

/// A store of immutable blobs named by their lowercase hex sha256.
pub trait BlobStore: Send + Sync {
    /// The blob's size, or `None` when it is not stored.
    fn stat(&self, digest: &str) -> io::Result<Option<u64>>;
    /// Stores `bytes`, whose sha256 the caller computed as `digest`; returns whether it was
    /// new (an existing blob is left as it is).
    fn put_bytes(&self, digest: &str, bytes: &[u8]) -> io::Result<bool>;
    /// Streams `reader` into the store; returns its digest, size and whether it was new.
    fn put_reader(&self, reader: &mut dyn Read) -> io::Result<(String, u64, bool)>;
    /// Opens a blob for reading.
    fn open(&self, digest: &str) -> io::Result<Box<dyn Read + Send>>;
    /// Deletes a blob (garbage collection, or a blob found corrupt).
    fn remove(&self, digest: &str) -> io::Result<()>;
    /// Every stored blob with its size; names that are not a digest are returned as `None`
    /// so the caller can remove them.
    fn list(&self) -> io::Result<Vec<(Option<String>, String, u64)>>;
}

/// Blobs as read-only files in `<store>/cas/sha256/`, written through `<store>/tmp/` and
/// renamed into place without replacing (`RENAME_NOREPLACE`, or `link` where the file system
/// lacks it), so a blob, once there, is never rewritten and a crash leaves at most a temp file.
///
/// Blobs are not `fsync`ed one by one (30,000 small files would cost 30,000 journal commits,
/// and `syncfs` flushes every other writer's data on the file system too: 0.01 to 0.6 s per
/// call measured here while other builds wrote): after a power loss a blob may be empty or short while a manifest naming it
/// survived. Restore hashes every blob, so such an entry is refused and removed with the bad
/// blob; and a save that finds a blob of the wrong size at its name replaces it, so a damaged
/// blob never poisons later entries.
pub struct FsBlobs {
    dir: OwnedFd,
    tmp: OwnedFd,
    path: PathBuf,
}

static COUNTER: AtomicU64 = AtomicU64::new(0);

impl FsBlobs {
    /// Opens the blob directory `cas` and the temp directory `tmp` (both must exist).
    pub fn open(cas: &Path, tmp: &Path) -> io::Result<FsBlobs> {
        let flags = OFlags::DIRECTORY | OFlags::RDONLY | OFlags::CLOEXEC | OFlags::NOFOLLOW;
        let dir = rustix::fs::open(cas, flags, Mode::empty())?;
        let tmp = rustix::fs::open(tmp, flags, Mode::empty())?;
        Ok(FsBlobs { dir, tmp, path: cas.to_path_buf() })
    }

    /// The directory holding the blobs.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Creates a fresh temp file; returns its name and handle.
    fn temp(&self) -> io::Result<(String, File)> {
        loop {
            let name = format!("blob.{}.{}.tmp", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed));
            let flags = OFlags::CREATE | OFlags::EXCL | OFlags::WRONLY | OFlags::CLOEXEC | OFlags::NOFOLLOW;
            match rustix::fs::openat(&self.tmp, name.as_str(), flags, Mode::from_raw_mode(0o600)) {
                Ok(fd) => return Ok((name, File::from(fd))),
                Err(Errno::EXIST) => continue,
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Moves temp file `name` to `digest` unless a whole blob is there (one of another size is
    /// damaged and replaced); returns whether it moved.
    fn commit(&self, name: &str, file: File, digest: &str, size: u64) -> io::Result<bool> {
        rustix::fs::fchmod(&file, Mode::from_raw_mode(0o444))?;
        drop(file);
        let moved = match rustix::fs::renameat_with(&self.tmp, name, &self.dir, digest, RenameFlags::NOREPLACE) {
            Ok(()) => Ok(true),
            Err(Errno::EXIST) if self.stat(digest)? != Some(size) => rustix::fs::renameat(&self.tmp, name, &self.dir, digest).map(|()| true).map_err(Into::into),
            Err(Errno::EXIST) => Ok(false),
            Err(Errno::INVAL | Errno::NOSYS | Errno::NOTSUP) => match rustix::fs::linkat(&self.tmp, name, &self.dir, digest, AtFlags::empty()) {
                Ok(()) => Ok(true),
                Err(Errno::EXIST) => Ok(false),
                Err(e) => Err(io::Error::from(e)),
            },
            Err(e) => Err(e.into()),
        };
        // After a rename this fails with ENOENT, which is fine.
        let _ = rustix::fs::unlinkat(&self.tmp, name, AtFlags::empty());
        moved
    }
}

/// Whether `s` is a lowercase hex sha256.
pub fn is_digest(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

fn check(digest: &str) -> io::Result<()> {
    if is_digest(digest) { Ok(()) } else { Err(io::Error::new(io::ErrorKind::InvalidInput, format!("'{digest}' is not a sha256 digest"))) }
}

impl BlobStore for FsBlobs {
    fn stat(&self, digest: &str) -> io::Result<Option<u64>> {
        check(digest)?;
        match rustix::fs::statat(&self.dir, digest, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) if (st.st_mode & libc::S_IFMT) == libc::S_IFREG => Ok(Some(st.st_size as u64)),
            Ok(_) => Ok(None),
            Err(Errno::NOENT) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    fn put_bytes(&self, digest: &str, bytes: &[u8]) -> io::Result<bool> {
        check(digest)?;
        if self.stat(digest)? == Some(bytes.len() as u64) {
            return Ok(false);
        }
        let (name, mut file) = self.temp()?;
        if let Err(e) = file.write_all(bytes) {
            let _ = rustix::fs::unlinkat(&self.tmp, name.as_str(), AtFlags::empty());
            return Err(e);
        }
        self.commit(&name, file, digest, bytes.len() as u64)
    }

    fn put_reader(&self, reader: &mut dyn Read) -> io::Result<(String, u64, bool)> {
        let (name, mut file) = self.temp()?;
        let copied = copy_hashing(reader, &mut file);
        let (digest, size) = match copied {
            Ok(v) => v,
            Err(e) => {
                let _ = rustix::fs::unlinkat(&self.tmp, name.as_str(), AtFlags::empty());
                return Err(e);
            }
        };
        let new = self.commit(&name, file, &digest, size)?;
        Ok((digest, size, new))
    }

    fn open(&self, digest: &str) -> io::Result<Box<dyn Read + Send>> {
        check(digest)?;
        let fd = rustix::fs::openat(&self.dir, digest, OFlags::RDONLY | OFlags::CLOEXEC | OFlags::NOFOLLOW | OFlags::NONBLOCK, Mode::empty())?;
        let file = File::from(fd);
        if !file.metadata()?.is_file() {
            return Err(io::Error::new(io::ErrorKind::InvalidData, "not a regular file"));
        }
        Ok(Box::new(file))
    }

    fn remove(&self, digest: &str) -> io::Result<()> {
        check(digest)?;
        match rustix::fs::unlinkat(&self.dir, digest, AtFlags::empty()) {
            Ok(()) | Err(Errno::NOENT) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    fn list(&self) -> io::Result<Vec<(Option<String>, String, u64)>> {
        let mut out = Vec::new();
        for entry in std::fs::read_dir(&self.path)? {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let size = entry.metadata().map(|m| m.len()).unwrap_or(0);
            let digest = is_digest(&name).then(|| name.clone());
            out.push((digest, name, size));
        }
        Ok(out)
    }
}

/// Copies `reader` into `writer`; returns the hex sha256 and the size of what passed.
pub(crate) fn copy_hashing(reader: &mut dyn Read, writer: &mut dyn Write) -> io::Result<(String, u64)> {
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; BUF];
    let mut size = 0u64;
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        hasher.update(&buf[..n]);
        writer.write_all(&buf[..n])?;
        size += n as u64;
    }
    Ok((hex::encode(hasher.finalize()), size))
}

/// Lowercase hex sha256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (tempfile::TempDir, FsBlobs) {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(d.path().join(CAS_DIR)).unwrap();
        std::fs::create_dir_all(d.path().join("tmp")).unwrap();
        let b = FsBlobs::open(&d.path().join(CAS_DIR), &d.path().join("tmp")).unwrap();
        (d, b)
    }

    #[test]
    fn blobs_are_written_once() {
        let (d, b) = store();
        let digest = sha256_hex(b"hello");
        assert!(b.put_bytes(&digest, b"hello").unwrap());
        assert!(!b.put_bytes(&digest, b"hello").unwrap());
        let (d2, size, new) = b.put_reader(&mut &b"hello"[..]).unwrap();
        assert_eq!((d2.as_str(), size, new), (digest.as_str(), 5, false));
        let mut s = String::new();
        b.open(&digest).unwrap().read_to_string(&mut s).unwrap();
        assert_eq!(s, "hello");
        assert_eq!(b.stat(&digest).unwrap(), Some(5));
        assert_eq!(std::fs::read_dir(d.path().join("tmp")).unwrap().count(), 0, "no temp file left");
        assert!(b.open("../../etc/passwd").is_err());
        // A damaged blob (short after a power loss) is replaced by the next put.
        std::fs::set_permissions(d.path().join(CAS_DIR).join(&digest), std::os::unix::fs::PermissionsExt::from_mode(0o644)).unwrap();
        std::fs::write(d.path().join(CAS_DIR).join(&digest), b"he").unwrap();
        assert!(b.put_bytes(&digest, b"hello").unwrap());
        std::fs::write(d.path().join(CAS_DIR).join(&digest), b"").unwrap();
        assert!(b.put_reader(&mut &b"hello"[..]).unwrap().2);
        assert_eq!(b.stat(&digest).unwrap(), Some(5));
        b.remove(&digest).unwrap();
        assert_eq!(b.stat(&digest).unwrap(), None);
    }
}
