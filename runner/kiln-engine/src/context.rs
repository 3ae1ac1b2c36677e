//! A build's identity and surroundings: id and number, source revision, the working copy, the
//! scratch directories and the environment every command starts with.

use std::ffi::OsString;
use std::io;
use std::path::{Path, PathBuf};

/// Who and what a build is.
#[derive(Clone, Debug)]
pub struct Identity {
    pub project: String,
    /// `project:uuid`, as CodeBuild's build ids.
    pub id: String,
    pub uuid: String,
    pub number: u64,
    pub start_ms: u128,
}

/// The source's git state, when the source is a git checkout.
#[derive(Clone, Debug, Default)]
pub struct SourceInfo {
    pub revision: Option<String>,
    pub branch: Option<String>,
    pub repo_url: Option<String>,
    pub dirty: bool,
}

/// A project name from a directory name: letters, digits, `-` and `_` (CodeBuild's rule).
pub fn project_name(source_dir: &Path) -> String {
    let raw = source_dir.file_name().and_then(|n| n.to_str()).unwrap_or("project");
    let name: String = raw.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '-' }).collect();
    if name.is_empty() { "project".into() } else { name }
}

/// The account id in the ARNs kiln makes (there is no AWS account).
pub const ACCOUNT: &str = "000000000000";

/// A build's ARN, as CodeBuild's `CODEBUILD_BUILD_ARN` (`id` is `project:uuid`).
pub fn build_arn(region: &str, id: &str) -> String {
    format!("arn:aws:codebuild:{region}:{ACCOUNT}:build/{id}")
}

/// A batch's ARN (`arn:aws:codebuild:<region>:<account>:build-batch/<project>:<uuid>`).
pub fn batch_arn(region: &str, id: &str) -> String {
    format!("arn:aws:codebuild:{region}:{ACCOUNT}:build-batch/{id}")
}

/// The variables CodeBuild sets in a build of a batch, on top of every build's:
/// `CODEBUILD_BATCH_BUILD_IDENTIFIER` (documented: build-env-ref-env-vars.html) and
/// `CODEBUILD_BUILD_BATCH_TRIGGERED=true` (undocumented; CI-detection code reads it, e.g. Allure
/// Report 3's CodeBuild descriptor). No variable holds the batch's ARN: scripts ask the API for
/// the build's `buildBatchArn` (thii/aws-codebuild-extras#3), which kiln records in build.json.
pub fn batch_env(b: &crate::BatchMember) -> Vec<(String, String)> {
    vec![("CODEBUILD_BATCH_BUILD_IDENTIFIER".into(), b.identifier.clone()), ("CODEBUILD_BUILD_BATCH_TRIGGERED".into(), "true".into())]
}

/// Take the next build number of the project whose records live in `record_root`, counting from 1.
/// An exclusive lock on the counter file keeps concurrent builds from sharing a number.
pub fn next_build_number(record_root: &Path) -> io::Result<u64> {
    next_number(record_root, "build-number")
}

/// Take the next number from the counter file `record_root/name` (`build-number`, a batch's
/// `batch-number`), counting from 1, under an exclusive lock.
pub fn next_number(record_root: &Path, name: &str) -> io::Result<u64> {
    use std::io::{Read, Seek, Write};
    use std::os::unix::fs::OpenOptionsExt;
    ensure_record_dir(record_root)?;
    let path = record_root.join(name);
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(&path)
        .map_err(|e| if e.raw_os_error() == Some(libc::ELOOP) { not_followed(&path) } else { e })?;
    if !file.metadata()?.is_file() {
        return Err(io::Error::other(format!("{} is not a regular file: remove it", path.display())));
    }
    let mut lock = nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusive).map_err(|(_, e)| io::Error::from(e))?;
    let mut text = String::new();
    lock.read_to_string(&mut text)?;
    let next = text.trim().parse::<u64>().unwrap_or(0) + 1;
    let line = format!("{next}\n");
    // The number only grows, so the new line covers the old one: no truncation, which on ext4
    // frees the file's block and costs ~0.6 ms. Only a longer, unparsable content is cut.
    lock.rewind()?;
    lock.write_all(line.as_bytes())?;
    if text.len() > line.len() {
        lock.set_len(line.len() as u64)?;
    }
    Ok(next)
}

fn not_followed(path: &Path) -> io::Error {
    io::Error::other(format!(
        "{} is a symbolic link: kiln never follows links in its record directory (a checked-out repository could point it at any file). Remove the link",
        path.display()
    ))
}

/// Make `dir` (a record directory: `.kiln`, `.kiln/builds`) exist as a real directory: a
/// symbolic link at its place, or at any ancestor up to the first existing one kiln creates, is
/// refused, never followed.
pub fn ensure_record_dir(dir: &Path) -> io::Result<()> {
    match std::fs::symlink_metadata(dir) {
        Ok(m) if m.file_type().is_symlink() => Err(not_followed(dir)),
        Ok(m) if m.is_dir() => Ok(()),
        Ok(_) => Err(io::Error::other(format!("{} is not a directory: remove it", dir.display()))),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty())
                && !parent.exists()
            {
                std::fs::create_dir_all(parent)?;
            }
            match std::fs::create_dir(dir) {
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => ensure_record_dir(dir),
                other => other,
            }
        }
        Err(e) => Err(e),
    }
}

/// Drop `user:password@` from a URL so credentials never reach the environment or the record.
pub fn strip_credentials(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => match rest.split_once('@') {
            Some((creds, host)) if !creds.contains('/') => format!("{scheme}://{host}"),
            _ => url.to_string(),
        },
        None => url.to_string(),
    }
}

/// Copy the project into the working copy (everything but `.kiln/` and the `skip` paths), as
/// CodeBuild's fresh checkout. Returns the number of files copied. Symbolic links are copied as
/// links, never followed; FIFOs, sockets and devices are left out. Each file is opened without
/// following links and only if it is a regular file (one swapped for a link or a FIFO after the
/// walk is refused, not followed or waited on); modes are kept without the set-user/group-ID and
/// sticky bits. The copy stops at `deadline` (`--timeout` bounds kiln's own work too).
pub fn copy_source(from: &Path, to: &Path, skip: &[PathBuf], deadline: std::time::Instant) -> Result<u64, CopyError> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    std::fs::create_dir_all(to)?;
    let mut files = 0;
    let walker = walkdir::WalkDir::new(from).follow_links(false).min_depth(1).into_iter();
    // Not the project's own `.kiln/` (records of earlier builds), nor what the caller skips.
    let copied = |e: &walkdir::DirEntry| !(e.depth() == 1 && e.file_name() == ".kiln" || skip.iter().any(|s| s == e.path()));
    for entry in walker.filter_entry(copied) {
        if std::time::Instant::now() >= deadline {
            return Err(CopyError::Deadline { files });
        }
        let entry = entry.map_err(io::Error::other)?;
        let rel = entry.path().strip_prefix(from).map_err(io::Error::other)?;
        let dest = to.join(rel);
        let ft = entry.file_type();
        if ft.is_dir() {
            std::fs::create_dir_all(&dest)?;
            let mode = entry.metadata().map_err(io::Error::other)?.permissions().mode();
            std::fs::set_permissions(&dest, std::fs::Permissions::from_mode((mode & 0o777) | 0o700))?;
        } else if ft.is_symlink() {
            std::os::unix::fs::symlink(std::fs::read_link(entry.path())?, &dest)?;
        } else if ft.is_file() {
            let src = std::fs::OpenOptions::new().read(true).custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_NOCTTY).open(entry.path())?;
            let meta = src.metadata()?;
            if !meta.is_file() {
                return Err(io::Error::other(format!("{} is no longer a regular file", entry.path().display())).into());
            }
            let mode = meta.permissions().mode() & 0o777;
            let mut dst = std::fs::OpenOptions::new().write(true).create_new(true).mode(mode).open(&dest)?;
            // Exactly the source's mode (the open's is cut by the umask).
            dst.set_permissions(std::fs::Permissions::from_mode(mode))?;
            // In chunks, so that a huge file cannot run past the deadline (std::io::copy uses
            // copy_file_range between two files).
            while io::copy(&mut io::Read::take(&src, COPY_CHUNK), &mut dst)? == COPY_CHUNK {
                if std::time::Instant::now() >= deadline {
                    return Err(CopyError::Deadline { files });
                }
            }
            files += 1;
        }
    }
    Ok(files)
}

/// How much of one file [`copy_source`] copies between two looks at the deadline.
const COPY_CHUNK: u64 = 64 * 1024 * 1024;

/// Why [`copy_source`] stopped.
#[derive(Debug, thiserror::Error)]
pub enum CopyError {
    #[error("{0}")]
    Io(#[from] io::Error),
    #[error("the build timed out while kiln copied the source ({files} files copied)")]
    Deadline { files: u64 },
}

/// The directories of one build outside the source tree.
///
/// Layout: `<base>/kiln-<uid>/<uuid>/{src,tmp,home}` and the shell's directory
/// `/dev/shm/kiln-<uid>/<uuid>` (or `<base>/kiln-<uid>/<uuid>/shell` without a RAM `/dev/shm`).
/// kiln holds an exclusive `flock` on `<base>/kiln-<uid>/<uuid>` for as long as the build runs,
/// so a later kiln can tell a dead build's scratch space from a running one's ([`sweep_stale`]).
/// Inside a sandboxed build both `kiln-<uid>` parents look empty but for the build's own
/// directories ([`Scratch::private_dirs`]).
#[derive(Debug)]
pub struct Scratch {
    pub root: PathBuf,
    pub work: PathBuf,
    pub tmp: PathBuf,
    pub home: PathBuf,
    pub shell: PathBuf,
    parents: Vec<PathBuf>,
    /// The lock on `root`, held until the directories are removed.
    _lock: nix::fcntl::Flock<std::fs::File>,
}

/// `dir/kiln-<uid>`, created owner-only; an existing one must be a real directory of ours.
fn user_dir(dir: &Path) -> io::Result<PathBuf> {
    use std::os::unix::fs::{DirBuilderExt, MetadataExt};
    let uid = nix::unistd::getuid().as_raw();
    let path = dir.join(format!("kiln-{uid}"));
    match std::fs::DirBuilder::new().mode(0o700).create(&path) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            let meta = std::fs::symlink_metadata(&path)?;
            if !meta.is_dir() || meta.uid() != uid || meta.mode() & 0o077 != 0 {
                return Err(io::Error::other(format!(
                    "{} is not a private directory of this user (a symbolic link, another user's, or group/world-accessible): remove it",
                    path.display()
                )));
            }
        }
        Err(e) => return Err(e),
    }
    Ok(path)
}

/// `/dev/shm`, when it is a tmpfs.
fn ram_base() -> Option<&'static Path> {
    let shm = Path::new("/dev/shm");
    let fs = nix::sys::statfs::statfs(shm).ok()?;
    (fs.filesystem_type() == nix::sys::statfs::TMPFS_MAGIC).then_some(shm)
}

fn lock_dir(dir: &Path, wait: bool) -> io::Result<Option<nix::fcntl::Flock<std::fs::File>>> {
    use std::os::unix::fs::OpenOptionsExt;
    let file = std::fs::OpenOptions::new().read(true).custom_flags(libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC).open(dir)?;
    let arg = if wait { nix::fcntl::FlockArg::LockExclusive } else { nix::fcntl::FlockArg::LockExclusiveNonblock };
    match nix::fcntl::Flock::lock(file, arg) {
        Ok(lock) => Ok(Some(lock)),
        Err((_, nix::errno::Errno::EWOULDBLOCK)) => Ok(None),
        Err((_, e)) => Err(e.into()),
    }
}

impl Scratch {
    /// Create the build's directories (see the type's docs) with owner-only permissions, `src`
    /// (the working copy) only when `with_work` (not for in-place builds).
    pub fn create(base: &Path, uuid: &str, with_work: bool) -> io::Result<Scratch> {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::create_dir_all(base)?;
        let parent = std::fs::canonicalize(user_dir(base)?)?;
        let root = parent.join(uuid);
        // Owner-only from the start, and never a directory someone else made first.
        std::fs::DirBuilder::new().mode(0o700).create(&root)?;
        let lock = lock_dir(&root, true)?.ok_or_else(|| io::Error::other("scratch directory locked"))?;
        let mut parents = vec![parent];
        let shell = match ram_base().map(user_dir) {
            Some(Ok(shm)) => {
                let dir = shm.join(uuid);
                std::fs::DirBuilder::new().mode(0o700).create(&dir)?;
                parents.push(shm);
                dir
            }
            _ => root.join("shell"),
        };
        let s = Scratch { work: root.join("src"), tmp: root.join("tmp"), home: root.join("home"), shell, root, parents, _lock: lock };
        for d in [&s.tmp, &s.home] {
            std::fs::create_dir(d)?;
        }
        if s.shell.starts_with(&s.root) {
            std::fs::create_dir(&s.shell)?;
        }
        if with_work {
            std::fs::create_dir(&s.work)?;
        }
        Ok(s)
    }

    /// The `kiln-<uid>` directories holding every build's scratch space: a sandboxed build sees
    /// them empty but for its own directories.
    pub fn private_dirs(&self) -> &[PathBuf] {
        &self.parents
    }
}

/// Remove the scratch space of builds no kiln runs any more (killed with SIGKILL, or a crash):
/// every `<base>/kiln-<uid>/<uuid>` whose lock is free, with its `/dev/shm` twin. Returns how
/// many were removed. Errors are ignored: this is housekeeping.
pub fn sweep_stale(base: &Path) -> usize {
    let uid = nix::unistd::getuid().as_raw();
    let Ok(entries) = std::fs::read_dir(base.join(format!("kiln-{uid}"))) else { return 0 };
    let shm = ram_base().map(|s| s.join(format!("kiln-{uid}")));
    let mut removed = 0;
    for entry in entries.flatten() {
        let path = entry.path();
        if !entry.file_type().is_ok_and(|t| t.is_dir()) {
            continue;
        }
        let Ok(Some(_lock)) = lock_dir(&path, false) else { continue };
        if std::fs::remove_dir_all(&path).is_ok() {
            removed += 1;
        }
        if let Some(shm) = &shm {
            let _ = std::fs::remove_dir_all(shm.join(entry.file_name()));
        }
    }
    removed
}

/// An exclusive lock on a build's record directory, held while the build runs.
pub fn lock_record(dir: &Path) -> io::Result<nix::fcntl::Flock<std::fs::File>> {
    lock_dir(dir, true)?.ok_or_else(|| io::Error::other("record directory locked"))
}

/// Remove the partial files (`*.kiln-tmp`: artifacts being packaged, records being written)
/// that killed builds left in their record directories under `builds`. A record directory
/// whose lock ([`lock_record`]) is held belongs to a running build and is left alone.
pub fn sweep_partial_records(builds: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir(builds) else { return 0 };
    let mut removed = 0;
    for entry in entries.flatten() {
        if !entry.file_type().is_ok_and(|t| t.is_dir()) {
            continue;
        }
        let path = entry.path();
        let partial: Vec<walkdir::DirEntry> = walkdir::WalkDir::new(&path)
            .follow_links(false)
            .max_depth(6)
            .into_iter()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().ends_with(".kiln-tmp"))
            .collect();
        if partial.is_empty() {
            continue;
        }
        let Ok(Some(_lock)) = lock_dir(&path, false) else { continue };
        for e in partial {
            let gone = if e.file_type().is_dir() { std::fs::remove_dir_all(e.path()) } else { std::fs::remove_file(e.path()) };
            removed += usize::from(gone.is_ok());
        }
    }
    removed
}

/// The scratch directory (and the shell's directory in RAM) is removed when the build is done
/// with it, also when kiln gives up early: the shell state holds variable values, secrets
/// included. The lock goes last.
impl Drop for Scratch {
    fn drop(&mut self) {
        if !self.shell.starts_with(&self.root) {
            let _ = std::fs::remove_dir_all(&self.shell);
        }
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

/// Inputs to the standard environment.
pub struct EnvInputs<'a> {
    pub identity: &'a Identity,
    pub source: &'a SourceInfo,
    pub region: &'a str,
    pub initiator: &'a str,
    pub work_dir: &'a Path,
    pub scratch: &'a Scratch,
}

/// The variables CodeBuild sets in every build, with kiln's local values, plus PATH, HOME, TMPDIR
/// and LANG. Nothing else from kiln's own environment is passed on.
pub fn standard_env(i: &EnvInputs) -> Vec<(String, String)> {
    let id = i.identity;
    let mut env = vec![
        ("PATH".into(), std::env::var("PATH").unwrap_or_else(|_| "/usr/local/bin:/usr/bin:/bin".into())),
        ("HOME".into(), i.scratch.home.display().to_string()),
        ("TMPDIR".into(), i.scratch.tmp.display().to_string()),
        ("LANG".into(), "C.UTF-8".into()),
        ("AWS_REGION".into(), i.region.into()),
        ("AWS_DEFAULT_REGION".into(), i.region.into()),
        ("CODEBUILD_BUILD_ARN".into(), build_arn(i.region, &id.id)),
        ("CODEBUILD_BUILD_ID".into(), id.id.clone()),
        ("CODEBUILD_BUILD_IMAGE".into(), "kiln/local-host".into()),
        ("CODEBUILD_BUILD_NUMBER".into(), id.number.to_string()),
        ("CODEBUILD_BUILD_SUCCEEDING".into(), "1".into()),
        ("CODEBUILD_INITIATOR".into(), i.initiator.into()),
        ("CODEBUILD_LOG_PATH".into(), id.uuid.clone()),
        ("CODEBUILD_SRC_DIR".into(), i.work_dir.display().to_string()),
        ("CODEBUILD_START_TIME".into(), id.start_ms.to_string()),
    ];
    // The host is the build image: where its toolchain manager keeps toolchains is part of it.
    // rustup finds them through RUSTUP_HOME (default ~/.rustup), and HOME is the build's own.
    let rustup_home = std::env::var_os("RUSTUP_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".rustup")))
        .filter(|p| p.is_dir());
    if let Some(r) = rustup_home {
        env.push(("RUSTUP_HOME".into(), r.display().to_string()));
    }
    if let Some(rev) = &i.source.revision {
        env.push(("CODEBUILD_RESOLVED_SOURCE_VERSION".into(), rev.clone()));
        env.push(("CODEBUILD_SOURCE_VERSION".into(), i.source.branch.clone().unwrap_or_else(|| rev.clone())));
    }
    if let Some(url) = &i.source.repo_url {
        env.push(("CODEBUILD_SOURCE_REPO_URL".into(), url.clone()));
    }
    env
}

/// Apply `overrides` on top of `env` (later entries win, order of first appearance kept).
pub fn merge_env(env: &mut Vec<(String, String)>, overrides: impl IntoIterator<Item = (String, String)>) {
    for (k, v) in overrides {
        match env.iter_mut().find(|(name, _)| *name == k) {
            Some(slot) => slot.1 = v,
            None => env.push((k, v)),
        }
    }
}

/// Convert to what `Command::envs` takes.
pub fn to_os_env(env: &[(String, String)]) -> Vec<(OsString, OsString)> {
    env.iter().map(|(k, v)| (k.into(), v.into())).collect()
}

/// Write `codebuild-hash-files` and `codebuild-glob-search` into `<home>/.codebuild/bin`, each
/// a two-line script running `exe` (kiln) under that name; returns the directory.
pub fn helper_commands(home: &Path, exe: &Path) -> io::Result<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let bin = home.join(".codebuild/bin");
    std::fs::create_dir_all(&bin)?;
    let quoted = format!("'{}'", exe.display().to_string().replace('\'', "'\\''"));
    for name in ["codebuild-hash-files", "codebuild-glob-search"] {
        let path = bin.join(name);
        std::fs::write(&path, format!("#!/bin/sh\nexec {quoted} {name} \"$@\"\n"))?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))?;
    }
    Ok(bin)
}

/// Append `dir` to the `PATH` of `env` (after everything the build set).
pub fn append_path(env: &mut [(String, String)], dir: &Path) {
    if let Some((_, path)) = env.iter_mut().find(|(k, _)| k == "PATH") {
        path.push(':');
        path.push_str(&dir.display().to_string());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn build_numbers_count_up_per_record_root() {
        let d = tempfile::tempdir().unwrap();
        assert_eq!(next_build_number(d.path()).unwrap(), 1);
        assert_eq!(next_build_number(d.path()).unwrap(), 2);
        let other = tempfile::tempdir().unwrap();
        assert_eq!(next_build_number(other.path()).unwrap(), 1);
        // Across a digit boundary the new line covers the old one; nothing else is left.
        std::fs::write(d.path().join("build-number"), "9\n").unwrap();
        assert_eq!(next_build_number(d.path()).unwrap(), 10);
        assert_eq!(std::fs::read_to_string(d.path().join("build-number")).unwrap(), "10\n");
        // Unparsable content starts over at 1 and is cut to the new line.
        std::fs::write(d.path().join("build-number"), "not a number at all\n").unwrap();
        assert_eq!(next_build_number(d.path()).unwrap(), 1);
        assert_eq!(std::fs::read_to_string(d.path().join("build-number")).unwrap(), "1\n");
    }

    #[test]
    fn credentials_are_stripped_from_remote_urls() {
        assert_eq!(strip_credentials("https://user:tok@github.com/a/b.git"), "https://github.com/a/b.git");
        assert_eq!(strip_credentials("git@github.com:a/b.git"), "git@github.com:a/b.git");
    }

    fn far() -> std::time::Instant {
        std::time::Instant::now() + std::time::Duration::from_secs(3600)
    }

    #[test]
    fn copy_drops_set_id_bits_leaves_fifos_out_and_stops_at_the_deadline() {
        use std::os::unix::fs::PermissionsExt;
        let d = tempfile::tempdir().unwrap();
        let src = d.path().join("src");
        std::fs::create_dir_all(&src).unwrap();
        std::fs::write(src.join("tool"), "x").unwrap();
        std::fs::set_permissions(src.join("tool"), std::fs::Permissions::from_mode(0o4755)).unwrap();
        let c = std::ffi::CString::new(src.join("pipe").to_str().unwrap()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let dst = d.path().join("dst");
        assert_eq!(copy_source(&src, &dst, &[], far()).unwrap(), 1);
        assert_eq!(std::fs::metadata(dst.join("tool")).unwrap().permissions().mode() & 0o7777, 0o755);
        assert!(!dst.join("pipe").exists());
        let late = d.path().join("late");
        let e = copy_source(&src, &late, &[], std::time::Instant::now()).unwrap_err();
        assert!(matches!(e, CopyError::Deadline { .. }), "{e}");
    }

    #[test]
    fn copy_skips_kiln_records_and_keeps_symlinks() {
        let d = tempfile::tempdir().unwrap();
        let src = d.path().join("src");
        std::fs::create_dir_all(src.join(".kiln/builds")).unwrap();
        std::fs::create_dir_all(src.join("a")).unwrap();
        std::fs::write(src.join("a/f"), "x").unwrap();
        std::os::unix::fs::symlink("a/f", src.join("link")).unwrap();
        let dst = d.path().join("dst");
        assert_eq!(copy_source(&src, &dst, &[], far()).unwrap(), 1);
        assert!(!dst.join(".kiln").exists());
        assert_eq!(std::fs::read_link(dst.join("link")).unwrap(), Path::new("a/f"));
    }

    #[test]
    fn project_names_are_sanitised() {
        assert_eq!(project_name(Path::new("/x/my app.v2")), "my-app-v2");
    }

    #[test]
    fn scratch_is_owner_only_and_gone_after_drop_shell_dir_included() {
        use std::os::unix::fs::PermissionsExt;
        let base = tempfile::tempdir().unwrap();
        let s = Scratch::create(base.path(), "test-uuid-0", true).unwrap();
        assert!(s.root.starts_with(std::fs::canonicalize(base.path()).unwrap().join(format!("kiln-{}", nix::unistd::getuid()))));
        let ram = Path::new("/dev/shm").is_dir()
            && nix::sys::statfs::statfs("/dev/shm").is_ok_and(|f| f.filesystem_type() == nix::sys::statfs::TMPFS_MAGIC);
        assert_eq!(s.shell.starts_with("/dev/shm"), ram, "{}", s.shell.display());
        for d in [&s.root, &s.shell] {
            assert_eq!(std::fs::metadata(d).unwrap().permissions().mode() & 0o777, 0o700, "{}", d.display());
        }
        assert!(s.work.is_dir() && s.tmp.is_dir() && s.home.is_dir());
        let (root, shell) = (s.root.clone(), s.shell.clone());
        std::fs::write(shell.join("state.0"), "SECRET=x").unwrap();
        drop(s);
        assert!(!root.exists() && !shell.exists());
    }

    #[test]
    fn record_directories_are_never_links() {
        let d = tempfile::tempdir().unwrap();
        let target = d.path().join("elsewhere");
        std::fs::create_dir(&target).unwrap();
        std::os::unix::fs::symlink(&target, d.path().join(".kiln")).unwrap();
        let e = next_build_number(&d.path().join(".kiln")).unwrap_err();
        assert!(e.to_string().contains("symbolic link"), "{e}");
        let host = d.path().join("host-file");
        std::fs::write(&host, "precious\n").unwrap();
        let root = d.path().join("real");
        std::fs::create_dir(&root).unwrap();
        std::os::unix::fs::symlink(&host, root.join("build-number")).unwrap();
        let e = next_build_number(&root).unwrap_err();
        assert!(e.to_string().contains("symbolic link"), "{e}");
        assert_eq!(std::fs::read_to_string(&host).unwrap(), "precious\n");
        assert!(std::fs::read_dir(&target).unwrap().next().is_none());
    }

    #[test]
    fn stale_scratch_goes_and_locked_scratch_stays() {
        let base = tempfile::tempdir().unwrap();
        let live = Scratch::create(base.path(), "live-uuid", true).unwrap();
        // What a killed kiln leaves: the directories, and no process holding their lock.
        let dead = live.root.parent().unwrap().join("dead-uuid");
        std::fs::create_dir_all(dead.join("tmp")).unwrap();
        std::fs::write(dead.join("tmp/big"), "x").unwrap();
        assert_eq!(sweep_stale(base.path()), 1);
        assert!(!dead.exists());
        assert!(live.tmp.is_dir(), "a running build's scratch stays");
    }

    #[test]
    fn partial_records_of_dead_builds_are_removed() {
        let d = tempfile::tempdir().unwrap();
        let builds = d.path().join("builds");
        for b in ["running", "dead"] {
            std::fs::create_dir_all(builds.join(b).join("artifacts")).unwrap();
            std::fs::write(builds.join(b).join("artifacts/.a.zip.x1.kiln-tmp"), "partial").unwrap();
            std::fs::write(builds.join(b).join("build.json"), "{}").unwrap();
        }
        let _lock = lock_record(&builds.join("running")).unwrap();
        assert_eq!(sweep_partial_records(&builds), 1);
        assert!(builds.join("running/artifacts/.a.zip.x1.kiln-tmp").exists());
        assert!(!builds.join("dead/artifacts/.a.zip.x1.kiln-tmp").exists());
        assert!(builds.join("dead/build.json").exists());
    }
}
