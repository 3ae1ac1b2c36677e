//! Landlock, a second wall behind the mount namespace: created in the build's PID 1 *after* its
//! view is built, because the fresh `/tmp`, `/dev/shm`, `/run` and devpts exist only there.
//!
//! Read and execute everywhere; all file rights on the writable paths, the fresh temp
//! directories and devpts; read/write/ioctl on the device files; with ABI >= 6 the build may not
//! signal processes outside its domain nor (network denied) connect to abstract unix sockets
//! outside it. TCP is not handled: with network denied the build has its own network
//! namespace, whose loopback it may use.
//!
//! Raw system calls (the `landlock` crate allocates), on memory prepared before the fork.

use std::ffi::{CStr, CString};
use std::io;

use crate::sys;

const RULE_PATH_BENEATH: libc::c_int = 1;
const EXECUTE: u64 = 1 << 0;
const WRITE_FILE: u64 = 1 << 1;
const READ_FILE: u64 = 1 << 2;
const READ_DIR: u64 = 1 << 3;
const TRUNCATE: u64 = 1 << 14;
const IOCTL_DEV: u64 = 1 << 15;
const SCOPE_ABSTRACT_UNIX: u64 = 1 << 0;
const SCOPE_SIGNAL: u64 = 1 << 1;

/// The newest ABI whose rights are requested (7 only adds audit flags).
pub(crate) const MAX_ABI: i32 = 6;

#[repr(C)]
struct RulesetAttr {
    handled_access_fs: u64,
    handled_access_net: u64,
    scoped: u64,
}

#[repr(C, packed)]
struct PathBeneath {
    allowed_access: u64,
    parent_fd: i32,
}

/// Prepared rules.
#[derive(Debug)]
pub(crate) struct Rules {
    abi: i32,
    scoped: u64,
    /// (path, is a directory in the view, rights)
    paths: Vec<(CString, Option<bool>, u64)>,
}

fn all_fs(abi: i32) -> u64 {
    match abi {
        ..=0 => 0,
        1 => (1 << 13) - 1,
        2 => (1 << 14) - 1,
        3 | 4 => (1 << 15) - 1,
        _ => (1 << 16) - 1,
    }
}

fn file_rights(abi: i32) -> u64 {
    let mut r = EXECUTE | WRITE_FILE | READ_FILE;
    if abi >= 3 {
        r |= TRUNCATE;
    }
    if abi >= 5 {
        r |= IOCTL_DEV;
    }
    r
}

/// Paths that exist only in the build's view and get all rights there.
const VIEW_WRITABLE: [&CStr; 5] = [c"/tmp", c"/var/tmp", c"/run", c"/dev/shm", c"/dev/pts"];
const VIEW_DEVICES: [&CStr; 6] = [c"/dev/null", c"/dev/zero", c"/dev/full", c"/dev/random", c"/dev/urandom", c"/dev/tty"];

impl Rules {
    /// Rules for `abi` (the kernel's, capped at [`MAX_ABI`]); `writable` are host paths that
    /// appear at the same place in the view.
    pub(crate) fn new(abi: i32, writable: &[std::path::PathBuf], deny_abstract_unix: bool) -> io::Result<Rules> {
        use std::os::unix::ffi::OsStrExt;
        let abi = abi.min(MAX_ABI);
        let scoped = if abi >= 6 { SCOPE_SIGNAL | if deny_abstract_unix { SCOPE_ABSTRACT_UNIX } else { 0 } } else { 0 };
        let mut paths = vec![(c"/".to_owned(), Some(true), EXECUTE | READ_FILE | READ_DIR)];
        for w in writable {
            let c = CString::new(w.as_os_str().as_bytes()).map_err(io::Error::other)?;
            let dir = w.is_dir();
            paths.push((c, Some(dir), if dir { all_fs(abi) } else { file_rights(abi) }));
        }
        paths.extend(VIEW_WRITABLE.iter().map(|p| ((*p).to_owned(), None, all_fs(abi))));
        paths.extend(VIEW_DEVICES.iter().map(|p| ((*p).to_owned(), Some(false), file_rights(abi))));
        Ok(Rules { abi, scoped, paths })
    }

    /// In the child, after the view is built and `PR_SET_NO_NEW_PRIVS` is set.
    pub(crate) fn restrict_self(&self) -> io::Result<()> {
        let attr = RulesetAttr { handled_access_fs: all_fs(self.abi), handled_access_net: 0, scoped: self.scoped };
        // SAFETY: the attribute struct lives on the stack for the call.
        let rc = unsafe { libc::syscall(libc::SYS_landlock_create_ruleset, &attr as *const RulesetAttr, std::mem::size_of::<RulesetAttr>(), 0u32) };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        let ruleset = sys::Fd(rc as libc::c_int);
        for (path, dir, rights) in &self.paths {
            let fd = match sys::openat(libc::AT_FDCWD, path, libc::O_PATH, 0) {
                Ok(fd) => fd,
                // Paths absent in this view (no /var/tmp, no /dev/tty) get no rule.
                Err(e) if e.raw_os_error() == Some(libc::ENOENT) => continue,
                Err(e) => return Err(e),
            };
            let mut rights = *rights;
            if dir.is_none() {
                // A view path that turned out to be a file (or a symlink's target) gets file rights.
                // SAFETY: fstat into a stack buffer.
                let is_dir = unsafe {
                    let mut st: libc::stat = std::mem::zeroed();
                    libc::fstat(fd.0, &mut st) == 0 && st.st_mode & libc::S_IFMT == libc::S_IFDIR
                };
                if !is_dir {
                    rights &= file_rights(self.abi);
                }
            }
            let rule = PathBeneath { allowed_access: rights, parent_fd: fd.0 };
            // SAFETY: the rule lives on the stack for the call.
            if unsafe { libc::syscall(libc::SYS_landlock_add_rule, ruleset.0, RULE_PATH_BENEATH, &rule as *const PathBeneath, 0u32) } != 0 {
                return Err(io::Error::last_os_error());
            }
        }
        // SAFETY: plain syscall on the ruleset descriptor.
        if unsafe { libc::syscall(libc::SYS_landlock_restrict_self, ruleset.0, 0u32) } != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }
}
