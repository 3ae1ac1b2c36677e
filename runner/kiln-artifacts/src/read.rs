//! Reading the files a selection named: opened through the working copy's capability directory
//! (no link swapped in after selection leads out of it, never a FIFO), and hashed as read.

use std::fs;
use std::io::{self, Read};
use std::path::Path;

use cap_std::fs::{Dir, OpenOptions, OpenOptionsExt};
use sha2::{Digest, Sha256};

use crate::ArtifactError;

/// Opens `abs` (under `root`) for reading through the capability directory, so that no
/// symlink swapped in after selection can lead outside the working copy. Refuses anything
/// but a regular file and never blocks on a FIFO.
pub(crate) fn open_confined(dir: &Dir, root: &Path, abs: &Path) -> Result<fs::File, ArtifactError> {
    let io_err = |source| ArtifactError::Io {
        path: abs.to_path_buf(),
        source,
    };
    let rel = abs
        .strip_prefix(root)
        .map_err(|_| ArtifactError::UnsafeEntry {
            path: abs.display().to_string(),
            reason: format!("it is not inside the working copy '{}'", root.display()),
        })?;
    let mut options = OpenOptions::new();
    options.read(true).custom_flags(libc::O_NONBLOCK);
    let file = dir.open_with(rel, &options).map_err(io_err)?.into_std();
    if !file.metadata().map_err(io_err)?.is_file() {
        return Err(io_err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "not a regular file",
        )));
    }
    Ok(file)
}

/// Size and lowercase hex sha256 of everything `reader` yields.
pub(crate) fn hash_reader(reader: impl Read) -> io::Result<(u64, String)> {
    let mut hashing = Hashing::new(reader);
    io::copy(&mut hashing, &mut io::sink())?;
    Ok(hashing.finish())
}

/// A reader that hashes and counts what passes through it.
pub(crate) struct Hashing<R> {
    inner: R,
    hasher: Sha256,
    size: u64,
}

impl<R: Read> Hashing<R> {
    pub(crate) fn new(inner: R) -> Self {
        Hashing {
            inner,
            hasher: Sha256::new(),
            size: 0,
        }
    }

    /// Bytes read so far and their hex sha256.
    pub(crate) fn finish(self) -> (u64, String) {
        (self.size, hex::encode(self.hasher.finalize()))
    }
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.size += n as u64;
        Ok(n)
    }
}
