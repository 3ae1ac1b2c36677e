//! The content-addressed artifact store: every artifact an action produces is kept once, under
//! `cas/sha256/<hex digest>`, written once and never rewritten (the key of an object is the
//! digest of its bytes, so the same bytes always land in the same place).
//!
//! A write copies the bytes into a temporary file in the same directory while hashing them,
//! flushes it to disk, and renames it to its digest name (atomic); the directory is flushed too,
//! so once a row names a digest the bytes survive a crash. Objects are made read-only. Reading
//! an object back for an action checks its digest first ([`Cas::verify`]).
//!
//! Security: the file an executor leaves as an output is opened with `O_NOFOLLOW` and must be a
//! regular file (a symbolic link there could otherwise make kiln copy a host file into the store).

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// A stored object: its digest (hex sha256) and size.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Object {
    pub digest: String,
    pub size: u64,
}

/// The store under a directory (`<dir>/sha256/…`).
#[derive(Clone, Debug)]
pub struct Cas {
    dir: PathBuf,
}

impl Cas {
    /// Open (and create) the store in `dir`.
    pub fn open(dir: &Path) -> io::Result<Cas> {
        fs::create_dir_all(dir.join("sha256"))?;
        Ok(Cas { dir: dir.to_path_buf() })
    }

    /// Where the object with `digest` lives (whether or not it exists).
    pub fn path(&self, digest: &str) -> PathBuf {
        self.dir.join("sha256").join(digest)
    }

    /// Copy the regular file at `src` into the store; returns its digest and size.
    pub fn put_file(&self, src: &Path) -> io::Result<Object> {
        let mut input = OpenOptions::new().read(true).custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK).open(src)?;
        if !input.metadata()?.is_file() {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, format!("{} is not a regular file", src.display())));
        }
        let dir = self.dir.join("sha256");
        let tmp = dir.join(format!(".tmp-{}", uuid::Uuid::new_v4()));
        let result = (|| {
            let mut out = OpenOptions::new().write(true).create_new(true).mode(0o600).open(&tmp)?;
            let mut hasher = Sha256::new();
            let mut size = 0u64;
            let mut buf = vec![0u8; 64 * 1024];
            loop {
                let n = input.read(&mut buf)?;
                if n == 0 {
                    break;
                }
                hasher.update(&buf[..n]);
                out.write_all(&buf[..n])?;
                size += n as u64;
            }
            out.sync_all()?;
            let digest = hex::encode(hasher.finalize());
            let target = self.path(&digest);
            if target.exists() {
                fs::remove_file(&tmp)?;
            } else {
                fs::set_permissions(&tmp, fs::Permissions::from_mode(0o444))?;
                fs::rename(&tmp, &target)?;
                File::open(&dir)?.sync_all()?;
            }
            Ok(Object { digest, size })
        })();
        if result.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        result
    }

    /// Store `bytes` (for tests and small generated artifacts).
    pub fn put_bytes(&self, bytes: &[u8]) -> io::Result<Object> {
        let tmp = self.dir.join(format!(".in-{}", uuid::Uuid::new_v4()));
        fs::write(&tmp, bytes)?;
        let r = self.put_file(&tmp);
        let _ = fs::remove_file(&tmp);
        r
    }

    /// Check that the object `digest` is present and intact; its path.
    pub fn verify(&self, digest: &str) -> io::Result<PathBuf> {
        let path = self.path(digest);
        let mut f = OpenOptions::new().read(true).custom_flags(libc::O_NOFOLLOW).open(&path)?;
        let mut hasher = Sha256::new();
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = f.read(&mut buf)?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
        }
        let got = hex::encode(hasher.finalize());
        if got != digest {
            return Err(io::Error::new(io::ErrorKind::InvalidData, format!("the stored artifact {} has digest {got}: it was changed after it was stored", path.display())));
        }
        Ok(path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn objects_are_stored_once_by_digest_read_only_and_verified() {
        let dir = tempfile::tempdir().unwrap();
        let cas = Cas::open(dir.path()).unwrap();
        let a = cas.put_bytes(b"hello").unwrap();
        assert_eq!(a.digest, "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824");
        assert_eq!(cas.put_bytes(b"hello").unwrap(), a);
        let path = cas.verify(&a.digest).unwrap();
        assert_eq!(fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o444);
        // Tampering is found.
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        fs::write(&path, b"HELLO").unwrap();
        assert_eq!(cas.verify(&a.digest).unwrap_err().kind(), io::ErrorKind::InvalidData);
        // Nothing but the object is left behind.
        assert_eq!(fs::read_dir(dir.path().join("sha256")).unwrap().count(), 1);
    }

    #[test]
    fn a_symbolic_link_is_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        let cas = Cas::open(&dir.path().join("cas")).unwrap();
        let link = dir.path().join("out");
        std::os::unix::fs::symlink("/etc/passwd", &link).unwrap();
        assert!(cas.put_file(&link).is_err());
        assert!(cas.put_file(dir.path()).is_err());
    }
}
