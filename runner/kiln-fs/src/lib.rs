//! Safe reading of the files a user points kiln at: keys, public keys, signatures, DSSE
//! envelopes and provenance, Sigstore bundles, buildspecs, secrets files, lock files, policies,
//! plugin components and their manifests, pipeline definitions and their workspace files.
//!
//! Such a path can name anything: `/dev/zero` (endless), a FIFO (an `open` that waits for a
//! writer forever), a directory, a socket, or a regular file of many gigabytes. Reading it with
//! `std::fs::read` hangs kiln or exhausts its memory. Every read of a user-given path goes
//! through [`read_input`] (or [`read_input_to_string`], or [`open_input`] for a file that is
//! streamed), which
//!
//! 1. refuses a path that is not a regular file before opening it (so a device is not even
//!    opened), following symlinks as the user would expect;
//! 2. opens it with `O_NONBLOCK | O_NOCTTY`, so that a FIFO swapped in meanwhile cannot block the
//!    `open`, and checks the **open** descriptor with `fstat` (the file checked is the file read);
//! 3. reads at most `limit + 1` bytes, so neither a wrong size in `stat` (procfs reports 0) nor a
//!    file that grows while it is read can make kiln hold more than `limit` bytes.
//!
//! Every error is an [`InputError`] whose message says which file, what is wrong with it and
//! what to do, e.g. `cannot read the public key /dev/zero: it is a character device, not a
//! regular file; kiln reads a public key only from a regular file (save it to a file and give
//! that file's path)`.
//!
//! The limits for each kind of input are the constants in [`limits`]. Files kiln itself creates
//! in its private directories are not read through here.
//!
//! Writing goes the other way through one function too: [`write_atomic`] (module `write`).

use std::fmt;
use std::fs::{File, Metadata};
use std::io::{self, Read};
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};

mod write;
pub use write::{write_atomic, write_atomic_in, write_atomic_mode, READABLE};

/// The largest input kiln accepts for each kind of file, in bytes.
pub mod limits {
    /// Private and public keys, certificates, detached signatures (an RSA-4096 PEM is ~3.3 KB).
    pub const KEY: u64 = 64 * 1024;
    /// JSON documents: DSSE envelopes, provenance (`.intoto.jsonl`), Sigstore bundles, trusted
    /// roots, expected-findings files.
    pub const DOCUMENT: u64 = 64 * 1024 * 1024;
    /// A buildspec (the largest real ones are tens of kilobytes).
    pub const BUILDSPEC: u64 = 4 * 1024 * 1024;
    /// A CodeDeploy AppSpec file (real ones are a few kilobytes).
    pub const APPSPEC: u64 = 4 * 1024 * 1024;
    /// A pipeline definition: `get-pipeline` JSON, a CloudFormation template (CloudFormation
    /// itself takes at most 1 MB from S3), a kiln pipeline YAML.
    pub const PIPELINE: u64 = 4 * 1024 * 1024;
    /// Small configuration files: `kiln.lock`, verification policies, plugin manifests.
    pub const CONFIG: u64 = 1024 * 1024;
    /// A secrets file (`--secrets-file`, `~/.config/kiln/secrets.yml`).
    pub const SECRETS_FILE: u64 = 16 * 1024 * 1024;
    /// A plugin component (`.wasm`): the built-in scanners are a few megabytes.
    pub const PLUGIN: u64 = 256 * 1024 * 1024;
    /// A blob signed or verified whole in memory (`kiln sign-blob`, `kiln verify-blob`).
    pub const BLOB: u64 = 1024 * 1024 * 1024;
}

/// What is wrong with an input file.
#[derive(Debug)]
#[non_exhaustive]
pub enum Problem {
    /// It could not be opened (missing, permission denied, …).
    Open(io::Error),
    /// It is not a regular file: the kind it is (`"a FIFO (named pipe)"`, `"a directory"`, …).
    NotRegular(&'static str),
    /// It is larger than the limit. `size` is its size when known (a file can also be found
    /// too large while it is read, or report a size of 0 and hold more).
    TooLarge {
        /// The file's size, when known.
        size: Option<u64>,
        /// The limit for this kind of input.
        limit: u64,
    },
    /// Reading it failed after it was opened.
    Read(io::Error),
    /// It was expected to be text and is not UTF-8.
    NotUtf8,
    /// It belongs to a project (the buildspec, a `uses:` path, `kiln.lock`) but resolves, through
    /// symbolic links, outside the project directory.
    OutsideProject {
        /// Where it resolves to.
        target: PathBuf,
        /// The project directory.
        root: PathBuf,
    },
}

/// A user-given input file that kiln refused or could not read. The message names the file,
/// says what is wrong and what to do.
#[derive(Debug)]
pub struct InputError {
    path: PathBuf,
    what: &'static str,
    problem: Problem,
}

impl InputError {
    fn new(path: &Path, what: &'static str, problem: Problem) -> InputError {
        InputError { path: path.to_path_buf(), what, problem }
    }

    /// A file that was read but is not UTF-8 text.
    pub fn not_utf8(path: &Path, what: &'static str) -> InputError {
        InputError::new(path, what, Problem::NotUtf8)
    }

    /// The file, as it was given.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// What the file was supposed to be (`"public key"`, `"buildspec"`, …).
    pub fn what(&self) -> &'static str {
        self.what
    }

    /// What is wrong.
    pub fn problem(&self) -> &Problem {
        &self.problem
    }

    /// The file does not exist.
    pub fn is_not_found(&self) -> bool {
        matches!(&self.problem, Problem::Open(e) if e.kind() == io::ErrorKind::NotFound)
    }

    /// The file is larger than its limit.
    pub fn is_too_large(&self) -> bool {
        matches!(self.problem, Problem::TooLarge { .. })
    }

    /// The message without the file's path (for callers that must not show host paths, and name
    /// the file some other way).
    pub fn reason(&self) -> String {
        let what = self.what;
        match &self.problem {
            Problem::Open(e) => e.to_string(),
            Problem::NotRegular(kind) => format!(
                "it is {kind}, not a regular file; kiln reads a {what} only from a regular file (save it to a file and give that file's path)"
            ),
            Problem::TooLarge { size, limit } => {
                let size = match size {
                    Some(s) => format!("{s} bytes"),
                    None => "larger".into(),
                };
                format!(
                    "it is {size}, more than the {} kiln accepts for a {what}; check that this is the right file",
                    human(*limit)
                )
            }
            Problem::Read(e) => format!("reading it failed: {e}"),
            Problem::NotUtf8 => "it is not UTF-8 text".into(),
            Problem::OutsideProject { target, root } => format!(
                "it resolves to {}, outside the project directory {}; kiln reads a project's own {what} only from inside the project, so that a repository cannot make kiln read (and print) a host file (copy the file into the project, or give its real path explicitly)",
                target.display(),
                root.display()
            ),
        }
    }
}

impl fmt::Display for InputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cannot read the {} {}: {}", self.what, self.path.display(), self.reason())
    }
}

impl std::error::Error for InputError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.problem {
            Problem::Open(e) | Problem::Read(e) => Some(e),
            _ => None,
        }
    }
}

/// `64 KiB`, `4 MiB`, `1 GiB`; other sizes in bytes.
fn human(bytes: u64) -> String {
    for (unit, size) in [("GiB", 1u64 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)] {
        if bytes >= size && bytes.is_multiple_of(size) {
            return format!("{} {unit}", bytes / size);
        }
    }
    format!("{bytes} bytes")
}

/// What a non-regular file is, for messages.
fn kind_of(meta: &Metadata) -> Option<&'static str> {
    let ft = meta.file_type();
    if ft.is_file() {
        None
    } else if ft.is_fifo() {
        Some("a FIFO (named pipe)")
    } else if ft.is_char_device() {
        Some("a character device")
    } else if ft.is_block_device() {
        Some("a block device")
    } else if ft.is_dir() {
        Some("a directory")
    } else if ft.is_socket() {
        Some("a socket")
    } else {
        Some("not a regular file")
    }
}

/// An input file, opened and checked to be a regular file, not read yet.
#[derive(Debug)]
pub struct Input {
    file: File,
    meta: Metadata,
    path: PathBuf,
    what: &'static str,
}

/// Open the `what` at `path` (symlinks followed) and check that it is a regular file, without
/// reading it and without ever blocking on a FIFO. For files that are streamed rather than held
/// in memory; [`read_input`] reads one whole.
pub fn open_input(path: impl AsRef<Path>, what: &'static str) -> Result<Input, InputError> {
    let path = path.as_ref();
    // Refuse what is not a regular file without opening it (a device's open can have effects);
    // the check that counts is the one on the open descriptor below.
    if let Ok(meta) = std::fs::metadata(path)
        && let Some(kind) = kind_of(&meta)
    {
        return Err(InputError::new(path, what, Problem::NotRegular(kind)));
    }
    open_checked(path, what)
}

/// [`open_input`] for a file inside a tree someone else controls (a repository's `.git`): a
/// symbolic link in the last component is refused (`O_NOFOLLOW`), not followed, so the tree
/// cannot point kiln at a host file.
pub fn open_input_nofollow(path: impl AsRef<Path>, what: &'static str) -> Result<Input, InputError> {
    let path = path.as_ref();
    if let Ok(meta) = std::fs::symlink_metadata(path) {
        if meta.file_type().is_symlink() {
            return Err(InputError::new(path, what, Problem::NotRegular("a symbolic link")));
        }
        if let Some(kind) = kind_of(&meta) {
            return Err(InputError::new(path, what, Problem::NotRegular(kind)));
        }
    }
    open_with(path, what, libc::O_NOFOLLOW)
}

/// Open without blocking and check the open descriptor: the part of [`open_input`] that holds
/// even if `path` is replaced between its first check and the open.
fn open_checked(path: &Path, what: &'static str) -> Result<Input, InputError> {
    open_with(path, what, 0)
}

fn open_with(path: &Path, what: &'static str, flags: libc::c_int) -> Result<Input, InputError> {
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY | flags)
        .open(path)
        .map_err(|e| InputError::new(path, what, Problem::Open(e)))?;
    let meta = file.metadata().map_err(|e| InputError::new(path, what, Problem::Open(e)))?;
    if let Some(kind) = kind_of(&meta) {
        return Err(InputError::new(path, what, Problem::NotRegular(kind)));
    }
    // A regular file: reads do not block, so back to ordinary blocking reads (some file systems,
    // FUSE ones for example, would otherwise answer EAGAIN).
    // SAFETY: fcntl on a descriptor this function owns, with integer arguments only.
    unsafe {
        let fd = file.as_raw_fd();
        let flags = libc::fcntl(fd, libc::F_GETFL);
        if flags >= 0 {
            libc::fcntl(fd, libc::F_SETFL, flags & !libc::O_NONBLOCK);
        }
    }
    Ok(Input { file, meta, path: path.to_path_buf(), what })
}

impl Input {
    /// The open file's metadata (from `fstat`).
    pub fn metadata(&self) -> &Metadata {
        &self.meta
    }

    /// The path it was opened by.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The open file, for streaming it.
    pub fn into_file(self) -> File {
        self.file
    }

    /// Read the whole file, refusing it if it holds more than `limit` bytes (checked against its
    /// size first, then while reading: at most `limit + 1` bytes are ever read).
    pub fn read(self, limit: u64) -> Result<Vec<u8>, InputError> {
        let Input { file, meta, path, what } = self;
        let err = |problem| InputError::new(&path, what, problem);
        if meta.len() > limit {
            return Err(err(Problem::TooLarge { size: Some(meta.len()), limit }));
        }
        let mut out = Vec::with_capacity(meta.len() as usize);
        file.take(limit.saturating_add(1)).read_to_end(&mut out).map_err(|e| err(Problem::Read(e)))?;
        if out.len() as u64 > limit {
            return Err(err(Problem::TooLarge { size: None, limit }));
        }
        Ok(out)
    }

    /// [`Input::read`], as UTF-8 text.
    pub fn read_to_string(self, limit: u64) -> Result<String, InputError> {
        let (path, what) = (self.path.clone(), self.what);
        String::from_utf8(self.read(limit)?).map_err(|_| InputError::new(&path, what, Problem::NotUtf8))
    }
}

/// Read the `what` at `path` whole: only a regular file (symlinks followed), at most `limit`
/// bytes, never blocking on a FIFO. `what` names the file in messages (`"public key"`).
pub fn read_input(path: impl AsRef<Path>, limit: u64, what: &'static str) -> Result<Vec<u8>, InputError> {
    open_input(path, what)?.read(limit)
}

/// [`read_input`], as UTF-8 text.
pub fn read_input_to_string(path: impl AsRef<Path>, limit: u64, what: &'static str) -> Result<String, InputError> {
    open_input(path, what)?.read_to_string(limit)
}

/// Read the `what` at `path`, a file of the project in `root`: it must resolve (symbolic links
/// followed) to a regular file inside `root`, else [`Problem::OutsideProject`]. For the files a
/// repository names for kiln to read on the host (its buildspec, `uses:` plugin paths and their
/// manifests, `kiln.lock`): a link out of the project must not make kiln read a host file and
/// echo it in a diagnostic.
pub fn read_input_within(root: impl AsRef<Path>, path: impl AsRef<Path>, limit: u64, what: &'static str) -> Result<Vec<u8>, InputError> {
    open_input_within(root, path, what)?.read(limit)
}

/// [`read_input_within`], opened but not read (for a file that is streamed).
pub fn open_input_within(root: impl AsRef<Path>, path: impl AsRef<Path>, what: &'static str) -> Result<Input, InputError> {
    let (root, path) = (root.as_ref(), path.as_ref());
    let target = std::fs::canonicalize(path).map_err(|e| InputError::new(path, what, Problem::Open(e)))?;
    let root = std::fs::canonicalize(root).map_err(|e| InputError::new(path, what, Problem::Open(e)))?;
    if !target.starts_with(&root) {
        return Err(InputError::new(path, what, Problem::OutsideProject { target, root }));
    }
    // The resolved path has no links left; one swapped in since is refused, not followed.
    let mut input = open_input_nofollow(&target, what)?;
    input.path = path.to_path_buf();
    Ok(input)
}

/// [`read_input`] without following a symbolic link in the last component
/// ([`open_input_nofollow`]).
pub fn read_input_nofollow(path: impl AsRef<Path>, limit: u64, what: &'static str) -> Result<Vec<u8>, InputError> {
    open_input_nofollow(path, what)?.read(limit)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;
    use std::sync::mpsc;
    use std::time::Duration;

    fn mkfifo(path: &Path) {
        let c = CString::new(path.as_os_str().as_bytes()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0, "mkfifo");
    }

    /// Run `f` on a thread and fail the test (instead of hanging it) if it takes over 10 s.
    fn within_10s<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(f());
        });
        rx.recv_timeout(Duration::from_secs(10)).expect("the read hung")
    }

    #[test]
    fn a_regular_file_up_to_the_limit_is_read() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("k");
        std::fs::write(&p, vec![b'a'; 100]).unwrap();
        assert_eq!(read_input(&p, 100, "key").unwrap().len(), 100);
        assert_eq!(read_input_to_string(&p, 100, "key").unwrap(), "a".repeat(100));
        std::fs::write(&p, b"").unwrap();
        assert!(read_input(&p, 100, "key").unwrap().is_empty());
    }

    #[test]
    fn a_file_over_the_limit_is_refused_with_its_size_and_the_limit() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("buildspec.yml");
        std::fs::write(&p, vec![b'a'; 1025]).unwrap();
        let e = read_input(&p, 1024, "buildspec").unwrap_err();
        assert!(e.is_too_large());
        let msg = e.to_string();
        assert!(msg.starts_with(&format!("cannot read the buildspec {}: ", p.display())), "{msg}");
        assert!(msg.contains("1025 bytes") && msg.contains("1 KiB"), "{msg}");
        assert!(msg.contains("check that this is the right file"), "{msg}");
    }

    #[test]
    fn a_sparse_huge_file_is_refused_without_reading_it() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("big.wasm");
        let f = File::create(&p).unwrap();
        f.set_len(8 << 30).unwrap();
        let e = within_10s(move || read_input(&p, limits::PLUGIN, "plugin component").unwrap_err());
        assert!(e.is_too_large(), "{e}");
        assert!(e.to_string().contains("256 MiB"), "{e}");
    }

    #[test]
    fn a_file_holding_more_than_its_stat_size_is_cut_off_at_the_limit() {
        // procfs files say they are empty and are not.
        let e = read_input("/proc/self/maps", 8, "key").unwrap_err();
        assert!(e.is_too_large(), "{e}");
        assert!(e.to_string().contains("more than the 8 bytes"), "{e}");
        assert!(!read_input("/proc/self/maps", limits::KEY, "key").unwrap().is_empty());
    }

    #[test]
    fn a_fifo_is_refused_and_never_waited_for() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("cosign.pub");
        mkfifo(&p);
        let q = p.clone();
        let e = within_10s(move || read_input(&q, limits::KEY, "public key").unwrap_err());
        let msg = e.to_string();
        assert!(matches!(e.problem(), Problem::NotRegular(_)), "{msg}");
        assert!(msg.contains(&p.display().to_string()) && msg.contains("a FIFO (named pipe), not a regular file"), "{msg}");
        assert!(msg.contains("save it to a file"), "{msg}");
        // A FIFO that appears after the path check: the open does not wait for a writer, and
        // the descriptor's check refuses it.
        let q = p.clone();
        let e = within_10s(move || open_checked(&q, "public key").unwrap_err());
        assert!(e.to_string().contains("a FIFO (named pipe), not a regular file"), "{e}");
        let e = within_10s(|| open_checked(Path::new("/dev/zero"), "public key").unwrap_err());
        assert!(e.to_string().contains("character device"), "{e}");
    }

    #[test]
    fn dev_zero_and_dev_null_are_refused() {
        let e = within_10s(|| read_input("/dev/zero", limits::KEY, "public key").unwrap_err());
        assert!(e.to_string().contains("/dev/zero: it is a character device, not a regular file"), "{e}");
        assert!(read_input("/dev/null", limits::KEY, "key").is_err());
    }

    #[test]
    fn a_directory_and_a_socket_are_refused() {
        let d = tempfile::tempdir().unwrap();
        let e = read_input(d.path(), limits::KEY, "key").unwrap_err();
        assert!(e.to_string().contains("it is a directory, not a regular file"), "{e}");
        let sock = d.path().join("s");
        let _l = std::os::unix::net::UnixListener::bind(&sock).unwrap();
        let e = read_input(&sock, limits::KEY, "key").unwrap_err();
        assert!(e.to_string().contains("it is a socket, not a regular file"), "{e}");
    }

    #[test]
    fn a_symlink_to_a_regular_file_is_followed_and_one_to_a_fifo_is_refused() {
        let d = tempfile::tempdir().unwrap();
        let real = d.path().join("real");
        std::fs::write(&real, b"key").unwrap();
        let link = d.path().join("link");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        assert_eq!(read_input(&link, limits::KEY, "key").unwrap(), b"key");
        let fifo = d.path().join("fifo");
        mkfifo(&fifo);
        let to_fifo = d.path().join("to-fifo");
        std::os::unix::fs::symlink(&fifo, &to_fifo).unwrap();
        let e = within_10s(move || read_input(&to_fifo, limits::KEY, "key").unwrap_err());
        assert!(e.to_string().contains("FIFO"), "{e}");
        let to_zero = d.path().join("to-zero");
        std::os::unix::fs::symlink("/dev/zero", &to_zero).unwrap();
        assert!(read_input(&to_zero, limits::KEY, "key").unwrap_err().to_string().contains("character device"));
    }

    #[test]
    fn nofollow_refuses_a_symlink_even_to_a_regular_file() {
        let d = tempfile::tempdir().unwrap();
        let real = d.path().join("real");
        std::fs::write(&real, b"data").unwrap();
        assert_eq!(read_input_nofollow(&real, 10, "git file").unwrap(), b"data");
        let link = d.path().join("HEAD");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        let e = read_input_nofollow(&link, 10, "git file").unwrap_err();
        assert!(e.to_string().contains("a symbolic link, not a regular file"), "{e}");
        let fifo = d.path().join("fifo");
        mkfifo(&fifo);
        let e = within_10s(move || read_input_nofollow(&fifo, 10, "git file").unwrap_err());
        assert!(e.to_string().contains("FIFO"), "{e}");
    }

    #[test]
    fn within_refuses_a_link_out_of_the_project_and_reads_one_inside() {
        let d = tempfile::tempdir().unwrap();
        let project = d.path().join("app");
        std::fs::create_dir_all(project.join("ci")).unwrap();
        std::fs::write(d.path().join("host-secret"), b"root:x:0").unwrap();
        std::fs::write(project.join("ci/real.yml"), b"version: 0.2").unwrap();
        std::os::unix::fs::symlink("ci/real.yml", project.join("buildspec.yml")).unwrap();
        assert_eq!(read_input_within(&project, project.join("buildspec.yml"), 100, "buildspec").unwrap(), b"version: 0.2");
        std::os::unix::fs::symlink("../host-secret", project.join("evil.yml")).unwrap();
        let e = read_input_within(&project, project.join("evil.yml"), 100, "buildspec").unwrap_err();
        assert!(matches!(e.problem(), Problem::OutsideProject { .. }), "{e}");
        let msg = e.to_string();
        assert!(msg.contains("outside the project directory") && !msg.contains("root:x"), "{msg}");
        assert!(read_input_within(&project, project.join("../host-secret"), 100, "buildspec").is_err(), "a `..` path too");
    }

    #[test]
    fn a_missing_file_and_non_utf8_text_say_so() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("nope");
        let e = read_input(&p, 10, "lock file").unwrap_err();
        assert!(e.is_not_found());
        assert!(e.to_string().starts_with(&format!("cannot read the lock file {}: ", p.display())), "{e}");
        std::fs::write(&p, b"\xff\xfe").unwrap();
        let e = read_input_to_string(&p, 10, "buildspec").unwrap_err();
        assert!(e.to_string().ends_with("it is not UTF-8 text"), "{e}");
        assert!(!e.reason().contains(&p.display().to_string()), "reason() leaves the path out");
    }

    #[test]
    fn an_opened_input_streams_and_keeps_its_metadata() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("artifact");
        std::fs::write(&p, b"hello").unwrap();
        let input = open_input(&p, "artifact").unwrap();
        assert_eq!(input.metadata().len(), 5);
        let mut s = String::new();
        input.into_file().read_to_string(&mut s).unwrap();
        assert_eq!(s, "hello");
    }

    #[test]
    fn limits_are_named_in_binary_units() {
        assert_eq!(human(limits::KEY), "64 KiB");
        assert_eq!(human(limits::DOCUMENT), "64 MiB");
        assert_eq!(human(limits::BLOB), "1 GiB");
        assert_eq!(human(1000), "1000 bytes");
    }
}
