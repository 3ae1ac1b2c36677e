//! Small shared pieces: size limits, base64 and digests, bounded reads and atomic writes.

use std::fs::File;
use std::io::Read;
use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use sha2::{Digest as _, Sha256};

use crate::error::{Error, Result};

/// Largest key, certificate or signature file accepted (an RSA-4096 PEM is about 3.3 KB).
pub const MAX_KEY_BYTES: u64 = kiln_fs::limits::KEY;
/// Largest JSON document (envelope, bundle, statement, `.intoto.jsonl`) accepted.
pub const MAX_DOCUMENT_BYTES: u64 = kiln_fs::limits::DOCUMENT;

/// Standard base64 with padding: what cosign, DSSE and protobuf JSON write.
pub(crate) fn b64(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}

/// Decodes base64 as real producers write it: standard or URL-safe alphabet, with or without
/// padding, ASCII whitespace (line wrapping, a trailing newline) ignored.
pub(crate) fn unb64(what: &'static str, text: &str) -> Result<Vec<u8>> {
    let cleaned: String = text.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    if cleaned.is_empty() {
        return Err(Error::Base64 {
            what,
            detail: "empty".into(),
        });
    }
    for engine in [&STANDARD, &STANDARD_NO_PAD, &URL_SAFE, &URL_SAFE_NO_PAD] {
        if let Ok(bytes) = engine.decode(&cleaned) {
            return Ok(bytes);
        }
    }
    let detail = match STANDARD.decode(&cleaned) {
        Err(e) => e.to_string(),
        Ok(_) => "undecodable".into(),
    };
    Err(Error::Base64 { what, detail })
}

/// True for strings that look like a hex-encoded signature (an old in-toto quirk): such strings
/// also decode as base64, to garbage, so they deserve their own message.
pub(crate) fn looks_like_hex(text: &str) -> bool {
    text.len() >= 64
        && text.len().is_multiple_of(2)
        && text
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// SHA-256 of `bytes`.
pub(crate) fn sha256(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// Lowercase hex SHA-256 of `bytes`.
pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(sha256(bytes))
}

/// Lowercase hex SHA-256 of the file at `path`, streamed in 1 MiB blocks through aws-lc's
/// assembly SHA-256 (the speed of `sha256sum`), never holding the whole file in memory. Only a
/// regular file is read (a FIFO or `/dev/zero` would never end): see [`kiln_fs::open_input`].
pub fn sha256_file(path: &Path) -> Result<String> {
    sha256_open(path, kiln_fs::open_input(path, "file")?.into_file())
}

/// [`sha256_file`] of `path` itself: a symbolic link is refused, not followed (an artifact's or
/// a record's own file, where a link could point anywhere on the host).
pub fn sha256_file_nofollow(path: &Path) -> Result<String> {
    sha256_open(path, kiln_fs::open_input_nofollow(path, "file")?.into_file())
}

fn sha256_open(path: &Path, mut file: File) -> Result<String> {
    let mut ctx = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = match file.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(Error::io(path, e)),
        };
        ctx.update(&buf[..n]);
    }
    Ok(hex::encode(ctx.finish()))
}

/// Fails with [`Error::TooLarge`] when `len` exceeds `limit`.
pub(crate) fn check_size(what: &'static str, len: usize, limit: u64) -> Result<()> {
    let size = len as u64;
    if size > limit {
        return Err(Error::TooLarge { what, size, limit });
    }
    Ok(())
}

/// Reads a whole file, refusing files over `limit` bytes (checked before and while reading, so a
/// growing file cannot exhaust memory) and anything that is not a regular file (a FIFO, a device
/// such as `/dev/zero`, a directory): see [`kiln_fs::read_input`].
pub fn read_limited(path: &Path, what: &'static str, limit: u64) -> Result<Vec<u8>> {
    Ok(kiln_fs::read_input(path, limit, what)?)
}

/// Writes `bytes` to `path` atomically and durably with `mode` ([`kiln_fs::write_atomic_mode`]):
/// a crash at any moment leaves either the old file or the complete new one.
pub fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> Result<()> {
    kiln_fs::write_atomic_mode(path, bytes, true, mode).map_err(|e| Error::io(path, e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    #[test]
    fn unb64_accepts_every_real_world_spelling() {
        let bytes = [0xfbu8, 0xff, 0x01, 0x02];
        for text in ["+/8BAg==", "+/8BAg", "-_8BAg==", "-_8BAg", " +/8B\nAg==\n"] {
            assert_eq!(unb64("x", text).unwrap(), bytes, "{text}");
        }
        assert_eq!(unb64("x", "@@@").unwrap_err().reason(), "bad-base64");
        assert_eq!(unb64("x", "").unwrap_err().reason(), "bad-base64");
    }

    #[test]
    fn hex_detection() {
        assert!(looks_like_hex(&"ab01".repeat(32)));
        assert!(!looks_like_hex("MEUCIQD6q"));
        assert!(!looks_like_hex(&"AB01".repeat(32)));
    }

    #[test]
    fn atomic_write_sets_mode_and_replaces() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        write_atomic(&p, b"one", 0o600).unwrap();
        write_atomic(&p, b"two", 0o644).unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"two");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(
                fs::metadata(&p).unwrap().permissions().mode() & 0o777,
                0o644
            );
        }
        let names: Vec<_> = fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(names.len(), 1, "no temporary file left behind");
    }

    #[test]
    fn sha256_file_streams() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        let data: Vec<u8> = (0..3_000_000u32).map(|i| i as u8).collect();
        fs::write(&p, &data).unwrap();
        assert_eq!(sha256_file(&p).unwrap(), sha256_hex(&data));
        assert_eq!(
            sha256_file(&dir.path().join("missing"))
                .unwrap_err()
                .reason(),
            "io"
        );
    }

    #[test]
    fn read_limited_refuses_big_files() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("big");
        fs::write(&p, vec![b'a'; 100]).unwrap();
        assert_eq!(
            read_limited(&p, "file", 99).unwrap_err().reason(),
            "too-large"
        );
        assert_eq!(read_limited(&p, "file", 100).unwrap().len(), 100);
    }

    #[test]
    fn only_regular_files_are_read_or_hashed() {
        // On a thread, so a read that never ends fails the test instead of hanging it.
        let within = |f: fn() -> Result<()>| {
            let (tx, rx) = std::sync::mpsc::channel();
            std::thread::spawn(move || {
                let _ = tx.send(f());
            });
            rx.recv_timeout(std::time::Duration::from_secs(10))
                .expect("reading /dev/zero did not end")
        };
        let e = within(|| read_limited(Path::new("/dev/zero"), "DSSE envelope", 1 << 20).map(drop))
            .unwrap_err();
        assert_eq!(e.reason(), "io");
        assert!(
            e.to_string()
                .contains("the DSSE envelope /dev/zero: it is a character device"),
            "{e}"
        );
        let e = within(|| sha256_file(Path::new("/dev/zero")).map(drop)).unwrap_err();
        assert!(e.to_string().contains("not a regular file"), "{e}");
        let dir = tempfile::tempdir().unwrap();
        let e = read_limited(dir.path(), "file", 10).unwrap_err();
        assert!(e.to_string().contains("it is a directory"), "{e}");
    }
}
