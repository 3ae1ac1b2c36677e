//! The build's view of the file system: its own mount namespace, built the way bubblewrap
//! builds one, by the build's PID 1 before it execs the shell.
//!
//! Everything is prepared before `fork` ([`View::new`]); [`View::enter`] only makes system
//! calls on that memory. In order:
//!
//! 1. Every mount becomes private (nothing propagates to or from the host).
//! 2. Detached copies (`open_tree(OPEN_TREE_CLONE)`) are taken of each writable path (also
//!    `nosuid,nodev`) and of the host's `/dev/{null,zero,full,random,urandom,tty}`.
//! 3. The whole tree is made `ro,nosuid,nodev` (`mount_setattr(AT_RECURSIVE)`): no write, no
//!    chmod/chown/utime/setxattr reaches a host file outside the writable paths, whatever
//!    capabilities the build's root has in its user namespace.
//! 4. A new `/proc` (the build's PID namespace only) and a minimal `/dev`: a tmpfs holding the
//!    six device binds, a devpts instance of its own (`/dev/pts`, `/dev/ptmx`), `/dev/fd` and
//!    `/dev/std*` links and a fresh `/dev/shm`; then made read-only.
//! 5. Hidden paths get an empty read-only file or directory mounted over them. Then copies are
//!    taken of each path that stays visible read-only under a cover (`/etc/resolv.conf`'s
//!    target when it lives in `/run`, `Policy::visible`): taken now, recursively, they carry
//!    the read-only flag and the hidden paths' covers with them.
//! 6. Covers and attachments, shallowest first: fresh tmpfs on `/tmp`, `/var/tmp`, `/run` and
//!    kiln's per-user scratch directories (other builds' scratch, host sockets and temp files
//!    vanish), and the writable copies from step 2 attached at their own paths (directories
//!    created in the covers as needed).
//! 7. Paths inside writable ones that must stay read-only (the build record of an in-place
//!    build) are bound over themselves read-only.
//! 8. The working directory is entered again by name, in the new view.
//!
//! The build cannot undo any of it: it runs without `CAP_SYS_ADMIN` (see `seccomp.rs` for the
//! capability bounding set) and cannot create nested user namespaces (`max_user_namespaces=0`),
//! and mounts made in a namespace are locked against unmounting from a less privileged one.

use std::ffi::{CStr, CString};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI32, Ordering};

use crate::sys::{self, Fd};

/// Device files bound into the build's `/dev`.
const DEVICES: [(&CStr, &CStr); 6] = [
    (c"/dev/null", c"null"),
    (c"/dev/zero", c"zero"),
    (c"/dev/full", c"full"),
    (c"/dev/random", c"random"),
    (c"/dev/urandom", c"urandom"),
    (c"/dev/tty", c"tty"),
];

/// The standard temp and runtime directories every build gets fresh and empty.
const STANDARD_COVERS: [(&str, &str); 3] = [("/tmp", "mode=1777"), ("/var/tmp", "mode=1777"), ("/run", "mode=0755")];

/// A path attached from a copy taken before the tree was made read-only.
#[derive(Debug)]
struct Attach {
    path: CString,
    dir: bool,
    read_only: bool,
    /// Index into [`View::slots`].
    slot: usize,
}

#[derive(Debug)]
enum Op {
    Cover { path: CString, data: CString },
    Attach(usize),
}

/// A prepared mount namespace layout (see the module docs).
#[derive(Debug)]
pub(crate) struct View {
    attaches: Vec<Attach>,
    /// Step 6, in order.
    ops: Vec<Op>,
    read_only: Vec<CString>,
    hidden: Vec<(CString, bool)>,
    /// Descriptors of the detached copies, filled in by the child (its own copy of this memory):
    /// one per attachment, then one per device.
    slots: Vec<AtomicI32>,
}

fn cstring(p: &Path) -> io::Result<CString> {
    CString::new(p.as_os_str().as_bytes()).map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path contains a NUL byte"))
}

fn depth(p: &Path) -> usize {
    p.components().count()
}

/// What a build's file system looks like, in host paths (all absolute and canonical).
#[derive(Debug, Default)]
pub(crate) struct Layout {
    pub writable: Vec<PathBuf>,
    /// Directories replaced by an empty private tmpfs (kiln's per-user scratch parents).
    pub private: Vec<PathBuf>,
    pub read_only: Vec<PathBuf>,
    pub hidden: Vec<PathBuf>,
    /// Files or directories under a cover that stay visible (read-only).
    pub keep: Vec<PathBuf>,
}

impl View {
    pub(crate) fn new(layout: &Layout) -> io::Result<View> {
        let mut attaches = Vec::new();
        let mut ops: Vec<(usize, u8, Op)> = Vec::new();
        let all = layout.writable.iter().map(|p| (p, false)).chain(layout.keep.iter().map(|p| (p, true)));
        for (path, read_only) in all {
            let slot = attaches.len();
            attaches.push(Attach { path: cstring(path)?, dir: path.is_dir(), read_only, slot });
            ops.push((depth(path), 1, Op::Attach(slot)));
        }
        // Traversable (not listable) by a `run-as` user: a private cover holds only the build's own
        // attachments.
        let covers = STANDARD_COVERS.iter().map(|(p, d)| (PathBuf::from(p), d.to_string())).chain(layout.private.iter().map(|p| (p.clone(), "mode=0711".to_string())));
        for (path, data) in covers {
            let data = CString::new(format!("{data},size=50%")).map_err(io::Error::other)?;
            ops.push((depth(&path), 0, Op::Cover { path: cstring(&path)?, data }));
        }
        ops.sort_by_key(|(d, kind, _)| (*d, *kind));
        let hidden = layout.hidden.iter().map(|p| Ok((cstring(p)?, p.is_dir()))).collect::<io::Result<_>>()?;
        let read_only = layout.read_only.iter().map(|p| cstring(p)).collect::<io::Result<_>>()?;
        let slots = (0..attaches.len() + DEVICES.len()).map(|_| AtomicI32::new(-1)).collect();
        Ok(View { attaches, ops: ops.into_iter().map(|(_, _, op)| op).collect(), read_only, hidden, slots })
    }

    fn slot(&self, i: usize) -> Fd {
        Fd(self.slots[i].swap(-1, Ordering::Relaxed))
    }

    /// In the build's PID 1, inside its new user and mount namespaces: build the view. Only
    /// system calls on memory prepared before the fork.
    pub(crate) fn enter(&self) -> io::Result<()> {
        let mut cwd = [0u8; 4096];
        // SAFETY: getcwd writes at most `len` bytes into the stack buffer.
        if unsafe { libc::getcwd(cwd.as_mut_ptr().cast(), cwd.len()) }.is_null() {
            return Err(io::Error::last_os_error());
        }
        sys::mount(None, c"/", None, libc::MS_REC | libc::MS_PRIVATE, None)?;
        // 2. Copies of the writable paths, taken before anything is covered or made read-only.
        for a in self.attaches.iter().filter(|a| !a.read_only) {
            let fd = sys::open_tree(libc::AT_FDCWD, &a.path, sys::OPEN_TREE_CLONE | sys::OPEN_TREE_CLOEXEC | sys::AT_RECURSIVE)?;
            let set = sys::MOUNT_ATTR_NOSUID | sys::MOUNT_ATTR_NODEV | if a.read_only { sys::MOUNT_ATTR_RDONLY } else { 0 };
            sys::mount_setattr(fd.0, c"", libc::AT_EMPTY_PATH as libc::c_uint | sys::AT_RECURSIVE, set, 0)?;
            self.slots[a.slot].store(fd.0, Ordering::Relaxed);
            std::mem::forget(fd);
        }
        for (i, (host, _)) in DEVICES.iter().enumerate() {
            if let Ok(fd) = sys::open_tree(libc::AT_FDCWD, host, sys::OPEN_TREE_CLONE | sys::OPEN_TREE_CLOEXEC) {
                self.slots[self.attaches.len() + i].store(fd.0, Ordering::Relaxed);
                std::mem::forget(fd);
            }
        }
        // 3. Everything read-only, no set-ID programs, no device files.
        sys::mount_setattr(libc::AT_FDCWD, c"/", sys::AT_RECURSIVE, sys::MOUNT_ATTR_RDONLY | sys::MOUNT_ATTR_NOSUID | sys::MOUNT_ATTR_NODEV, 0)?;
        // 4. /proc and /dev.
        sys::mount(Some(c"proc"), c"/proc", Some(c"proc"), libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC, None)?;
        self.make_dev()?;
        // 5 (end). Copies of the read-only attachments, with the hidden paths' covers in them.
        for a in self.attaches.iter().filter(|a| a.read_only) {
            let fd = sys::open_tree(libc::AT_FDCWD, &a.path, sys::OPEN_TREE_CLONE | sys::OPEN_TREE_CLOEXEC | sys::AT_RECURSIVE)?;
            let set = sys::MOUNT_ATTR_RDONLY | sys::MOUNT_ATTR_NOSUID | sys::MOUNT_ATTR_NODEV;
            sys::mount_setattr(fd.0, c"", libc::AT_EMPTY_PATH as libc::c_uint | sys::AT_RECURSIVE, set, 0)?;
            self.slots[a.slot].store(fd.0, Ordering::Relaxed);
            std::mem::forget(fd);
        }
        // 6. Covers and attachments.
        for op in &self.ops {
            match op {
                Op::Cover { path, data } => match sys::mount(Some(c"tmpfs"), path, Some(c"tmpfs"), libc::MS_NOSUID | libc::MS_NODEV, Some(data)) {
                    // Not there in this view (e.g. inside a cover already): nothing to cover.
                    Err(e) if matches!(e.raw_os_error(), Some(libc::ENOENT | libc::ENOTDIR)) => {}
                    other => other?,
                },
                Op::Attach(i) => {
                    let a = &self.attaches[*i];
                    ensure_path(&a.path, a.dir)?;
                    sys::move_mount_to(&self.slot(a.slot), &a.path)?;
                }
            }
        }
        // 7. Read-only islands inside writable paths.
        for path in &self.read_only {
            let fd = match sys::open_tree(libc::AT_FDCWD, path, sys::OPEN_TREE_CLONE | sys::OPEN_TREE_CLOEXEC | sys::AT_RECURSIVE) {
                Err(e) if e.raw_os_error() == Some(libc::ENOENT) => continue,
                other => other?,
            };
            sys::mount_setattr(fd.0, c"", libc::AT_EMPTY_PATH as libc::c_uint | sys::AT_RECURSIVE, sys::MOUNT_ATTR_RDONLY | sys::MOUNT_ATTR_NOSUID | sys::MOUNT_ATTR_NODEV, 0)?;
            sys::move_mount_to(&fd, path)?;
        }
        // 8. The working directory, by name, in the new view.
        // SAFETY: `cwd` is NUL-terminated by getcwd.
        if unsafe { libc::chdir(cwd.as_ptr().cast()) } != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// Step 4's `/dev` and step 5 (the empty file hidden files are covered with comes from a
    /// short-lived tmpfs inside it).
    fn make_dev(&self) -> io::Result<()> {
        let flags = libc::MS_NOSUID | libc::MS_NOEXEC;
        sys::mount(Some(c"tmpfs"), c"/dev", Some(c"tmpfs"), flags, Some(c"mode=0755,size=1m"))?;
        let dev = sys::openat(libc::AT_FDCWD, c"/dev", libc::O_DIRECTORY | libc::O_PATH, 0)?;
        for (i, (host, name)) in DEVICES.iter().enumerate() {
            let clone = self.slot(self.attaches.len() + i);
            if clone.0 < 0 {
                continue;
            }
            drop(sys::openat(dev.0, name, libc::O_CREAT | libc::O_WRONLY, 0o666)?);
            sys::move_mount_to(&clone, host)?;
        }
        sys::mkdir_exist_ok(c"/dev/pts", 0o755)?;
        sys::mount(Some(c"devpts"), c"/dev/pts", Some(c"devpts"), flags, Some(c"newinstance,ptmxmode=0666,mode=0620"))?;
        sys::symlink(c"pts/ptmx", c"/dev/ptmx")?;
        sys::symlink(c"/proc/self/fd", c"/dev/fd")?;
        sys::symlink(c"/proc/self/fd/0", c"/dev/stdin")?;
        sys::symlink(c"/proc/self/fd/1", c"/dev/stdout")?;
        sys::symlink(c"/proc/self/fd/2", c"/dev/stderr")?;
        sys::mkdir_exist_ok(c"/dev/shm", 0o1777)?;
        sys::mount(Some(c"tmpfs"), c"/dev/shm", Some(c"tmpfs"), libc::MS_NOSUID | libc::MS_NODEV, Some(c"mode=1777,size=50%"))?;
        if !self.hidden.is_empty() {
            self.hide()?;
        }
        sys::mount_setattr(libc::AT_FDCWD, c"/dev", 0, sys::MOUNT_ATTR_RDONLY, 0)
    }

    /// Step 5: an empty read-only directory over each hidden directory, an empty read-only
    /// regular file over each hidden file.
    fn hide(&self) -> io::Result<()> {
        const TMP: &CStr = c"/dev/.kiln-empty";
        const EMPTY: &CStr = c"/dev/.kiln-empty/empty";
        let ro = sys::MOUNT_ATTR_RDONLY | sys::MOUNT_ATTR_NOSUID | sys::MOUNT_ATTR_NODEV | sys::MOUNT_ATTR_NOEXEC;
        sys::mkdir_exist_ok(TMP, 0o700)?;
        sys::mount(Some(c"tmpfs"), TMP, Some(c"tmpfs"), libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC, Some(c"mode=0700,size=4k"))?;
        drop(sys::openat(libc::AT_FDCWD, EMPTY, libc::O_CREAT | libc::O_WRONLY, 0o444)?);
        for (path, dir) in &self.hidden {
            let mounted = if *dir {
                sys::mount(Some(c"tmpfs"), path, Some(c"tmpfs"), libc::MS_RDONLY | libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC, Some(c"mode=0555,size=4k"))
            } else {
                sys::open_tree(libc::AT_FDCWD, EMPTY, sys::OPEN_TREE_CLONE | sys::OPEN_TREE_CLOEXEC).and_then(|fd| {
                    sys::mount_setattr(fd.0, c"", libc::AT_EMPTY_PATH as libc::c_uint, ro, 0)?;
                    sys::move_mount_to(&fd, path)
                })
            };
            match mounted {
                Err(e) if matches!(e.raw_os_error(), Some(libc::ENOENT | libc::ENOTDIR)) => {}
                other => other?,
            }
        }
        // SAFETY: plain syscalls on constant paths.
        unsafe {
            if libc::umount2(TMP.as_ptr(), libc::MNT_DETACH) != 0 || libc::rmdir(TMP.as_ptr()) != 0 {
                return Err(io::Error::last_os_error());
            }
        }
        Ok(())
    }
}

/// Make `path` exist in the current view: the missing directories on the way, then a directory
/// or an empty file (a mount point for an attachment inside a fresh cover).
fn ensure_path(path: &CStr, dir: bool) -> io::Result<()> {
    if sys::exists(path) {
        return Ok(());
    }
    let bytes = path.to_bytes();
    let mut buf = [0u8; 4096];
    if bytes.len() >= buf.len() {
        return Err(io::Error::from_raw_os_error(libc::ENAMETOOLONG));
    }
    buf[..bytes.len()].copy_from_slice(bytes);
    for i in 1..bytes.len() {
        if bytes[i] == b'/' {
            buf[i] = 0;
            // SAFETY: `buf` is NUL-terminated at `i`.
            let prefix = unsafe { CStr::from_bytes_with_nul_unchecked(&buf[..=i]) };
            if !sys::exists(prefix) {
                sys::mkdir_exist_ok(prefix, 0o755)?;
            }
            buf[i] = b'/';
        }
    }
    if dir {
        sys::mkdir_exist_ok(path, 0o755)
    } else {
        drop(sys::openat(libc::AT_FDCWD, path, libc::O_CREAT | libc::O_WRONLY, 0o600)?);
        Ok(())
    }
}
