//! Thin wrappers over the system calls the forked child makes: no allocation, errors as
//! `io::Error::last_os_error()` (which does not allocate either). Constants the `libc` crate does
//! not define are taken from the kernel's uapi headers (`<linux/mount.h>`, `<linux/landlock.h>`).

use std::ffi::CStr;
use std::io;

pub(crate) const OPEN_TREE_CLONE: libc::c_uint = 1;
pub(crate) const OPEN_TREE_CLOEXEC: libc::c_uint = libc::O_CLOEXEC as libc::c_uint;
pub(crate) const AT_RECURSIVE: libc::c_uint = 0x8000;
pub(crate) const MOVE_MOUNT_F_EMPTY_PATH: libc::c_uint = 0x4;
pub(crate) const MOUNT_ATTR_RDONLY: u64 = 0x1;
pub(crate) const MOUNT_ATTR_NOSUID: u64 = 0x2;
pub(crate) const MOUNT_ATTR_NODEV: u64 = 0x4;
pub(crate) const MOUNT_ATTR_NOEXEC: u64 = 0x8;

#[repr(C)]
struct MountAttr {
    attr_set: u64,
    attr_clr: u64,
    propagation: u64,
    userns_fd: u64,
}

fn check(rc: libc::c_long) -> io::Result<libc::c_long> {
    if rc < 0 { Err(io::Error::last_os_error()) } else { Ok(rc) }
}

fn check_int(rc: libc::c_int) -> io::Result<libc::c_int> {
    if rc < 0 { Err(io::Error::last_os_error()) } else { Ok(rc) }
}

/// A descriptor closed on drop (`close` only: safe in the child).
pub(crate) struct Fd(pub(crate) libc::c_int);

impl Drop for Fd {
    fn drop(&mut self) {
        if self.0 >= 0 {
            // SAFETY: closing a descriptor this value owns.
            unsafe { libc::close(self.0) };
        }
    }
}

/// `open_tree(AT_FDCWD or dfd, path, flags)`: a detached copy of the mount tree at `path`.
pub(crate) fn open_tree(dfd: libc::c_int, path: &CStr, flags: libc::c_uint) -> io::Result<Fd> {
    // SAFETY: NUL-terminated path that outlives the call.
    let fd = check(unsafe { libc::syscall(libc::SYS_open_tree, dfd, path.as_ptr(), flags) })?;
    Ok(Fd(fd as libc::c_int))
}

/// Attach the detached mount `fd` at `target`.
pub(crate) fn move_mount_to(fd: &Fd, target: &CStr) -> io::Result<()> {
    // SAFETY: valid descriptor and NUL-terminated strings.
    check(unsafe { libc::syscall(libc::SYS_move_mount, fd.0, c"".as_ptr(), libc::AT_FDCWD, target.as_ptr(), MOVE_MOUNT_F_EMPTY_PATH) })?;
    Ok(())
}

/// `mount_setattr(dfd, path, flags, {set, clr})`.
pub(crate) fn mount_setattr(dfd: libc::c_int, path: &CStr, flags: libc::c_uint, set: u64, clr: u64) -> io::Result<()> {
    let attr = MountAttr { attr_set: set, attr_clr: clr, propagation: 0, userns_fd: 0 };
    // SAFETY: the attribute struct lives on the stack for the duration of the call.
    check(unsafe {
        libc::syscall(libc::SYS_mount_setattr, dfd, path.as_ptr(), flags, &attr as *const MountAttr, std::mem::size_of::<MountAttr>())
    })?;
    Ok(())
}

/// Classic `mount(2)`.
pub(crate) fn mount(source: Option<&CStr>, target: &CStr, fstype: Option<&CStr>, flags: libc::c_ulong, data: Option<&CStr>) -> io::Result<()> {
    let ptr = |s: Option<&CStr>| s.map_or(std::ptr::null(), CStr::as_ptr);
    // SAFETY: NUL-terminated strings that outlive the call.
    check_int(unsafe { libc::mount(ptr(source), target.as_ptr(), ptr(fstype), flags, ptr(data).cast()) })?;
    Ok(())
}

/// `openat(dfd, path, flags, mode)`.
pub(crate) fn openat(dfd: libc::c_int, path: &CStr, flags: libc::c_int, mode: libc::mode_t) -> io::Result<Fd> {
    // SAFETY: NUL-terminated path.
    Ok(Fd(check_int(unsafe { libc::openat(dfd, path.as_ptr(), flags | libc::O_CLOEXEC, mode) })?))
}

/// `mkdir(path, mode)`; an existing entry is not an error.
pub(crate) fn mkdir_exist_ok(path: &CStr, mode: libc::mode_t) -> io::Result<()> {
    // SAFETY: NUL-terminated path.
    if unsafe { libc::mkdir(path.as_ptr(), mode) } != 0 {
        let e = io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::EEXIST) {
            return Err(e);
        }
    }
    Ok(())
}

/// `symlink(target, link)`.
pub(crate) fn symlink(target: &CStr, link: &CStr) -> io::Result<()> {
    // SAFETY: NUL-terminated paths.
    check_int(unsafe { libc::symlink(target.as_ptr(), link.as_ptr()) })?;
    Ok(())
}

/// Write all of `data` to the file at `path` (a sysctl).
pub(crate) fn write_file(path: &CStr, data: &[u8]) -> io::Result<()> {
    let fd = openat(libc::AT_FDCWD, path, libc::O_WRONLY, 0)?;
    // SAFETY: writing from a live buffer.
    let n = unsafe { libc::write(fd.0, data.as_ptr().cast(), data.len()) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    if n as usize != data.len() {
        return Err(io::Error::from_raw_os_error(libc::EIO));
    }
    Ok(())
}

/// Whether `path` names something (without following a final symlink).
pub(crate) fn exists(path: &CStr) -> bool {
    // SAFETY: NUL-terminated path; the stat buffer lives on the stack.
    unsafe {
        let mut st: libc::stat = std::mem::zeroed();
        libc::lstat(path.as_ptr(), &mut st) == 0
    }
}

/// `prctl` with integer arguments.
pub(crate) fn prctl(op: libc::c_int, a: libc::c_ulong, b: libc::c_ulong) -> io::Result<()> {
    // SAFETY: integer-only prctl operations.
    check_int(unsafe { libc::prctl(op, a, b, 0 as libc::c_ulong, 0 as libc::c_ulong) })?;
    Ok(())
}
