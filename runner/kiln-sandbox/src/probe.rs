//! What the running kernel and host let us use, detected once per process.

use std::ffi::CStr;
use std::io;
use std::sync::OnceLock;

use nix::fcntl::{OFlag, open};
use nix::sched::{CloneFlags, unshare};
use nix::sys::stat::Mode;
use nix::unistd::{ForkResult, fork, getgid, getuid, write};
use serde::Serialize;

use crate::cgroup;

/// Confinement mechanisms available on this host, as found by [`probe`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Capabilities {
    /// Landlock ABI version reported by the kernel (`None`: not built in or disabled at boot).
    /// Filesystem rules need >= 1, TCP bind/connect rules >= 4, signal and abstract-unix-socket
    /// scoping >= 6.
    pub landlock_abi: Option<i32>,
    /// A child could `unshare(CLONE_NEWUSER | CLONE_NEWNET)` and map its uid/gid (tried for real
    /// in a forked child, so seccomp filters, sysctls and LSM policies are all accounted for).
    pub user_namespaces: bool,
    /// In such a namespace, `RLIMIT_NPROC` counts only the processes of that namespace (since
    /// Linux 5.14 the kernel counts it per user namespace), so it bounds one build's processes
    /// and not all of the user's. Tried for real: a fork under a limit of 2 succeeds.
    /// Meaningless for root, whom the limit does not bind.
    pub userns_nproc_scoped: bool,
    /// In such a namespace, a child could also make a PID namespace of its own, mount `/proc`
    /// for it and set its `pid_max` and `ns_last_pid` (Linux >= 6.14): the build's process
    /// bound without a cgroup (see `pidns.rs`). Tried for real.
    pub pid_namespaces: bool,
    /// In such a namespace, new PID, mount and IPC namespaces, `mount_setattr` and a new
    /// `/proc` work: the build's own file-system view (`view.rs`) can be built. Tried for real.
    pub mount_namespaces: bool,
    /// Our cgroup v2 group offers the `pids` controller and we may create child groups in it.
    pub cgroup_v2_writable: bool,
    /// A cgroup v1 `pids` hierarchy is mounted and our group in it is writable (hybrid hosts).
    pub cgroup_v1_pids_writable: bool,
}

static CAPS: OnceLock<Capabilities> = OnceLock::new();

/// Detect what this host supports. The first call costs one `fork` plus a few file reads; the
/// result is cached for the life of the process.
pub fn probe() -> Capabilities {
    CAPS.get_or_init(|| {
        let ns = namespaces_work();
        Capabilities {
            landlock_abi: landlock_abi(),
            user_namespaces: ns.user,
            userns_nproc_scoped: ns.nproc_scoped,
            pid_namespaces: ns.pid,
            mount_namespaces: ns.mount,
            cgroup_v2_writable: cgroup::v2_dir().is_some(),
            cgroup_v1_pids_writable: cgroup::v1_pids_dir().is_some(),
        }
    })
    .clone()
}

/// `LANDLOCK_CREATE_RULESET_VERSION` from `<linux/landlock.h>` (not in the libc crate).
const LANDLOCK_CREATE_RULESET_VERSION: libc::c_uint = 1;

/// The kernel's Landlock ABI version. The `landlock` crate keeps its own query private
/// (it wants callers to pick a vetted ABI, which [`crate::Sandbox`] does), so ask directly.
fn landlock_abi() -> Option<i32> {
    // SAFETY: version query: NULL attr, size 0, flag VERSION; touches no memory.
    let v = unsafe {
        libc::syscall(
            libc::SYS_landlock_create_ruleset,
            std::ptr::null::<libc::c_void>(),
            0usize,
            LANDLOCK_CREATE_RULESET_VERSION,
        )
    };
    (v > 0).then(|| i32::try_from(v).unwrap_or(i32::MAX))
}

/// uid/gid map contents that map our own ids to themselves inside a new user namespace,
/// built before any fork so the child only has to write them.
#[derive(Debug)]
pub(crate) struct IdMaps {
    uid_map: Vec<u8>,
    gid_map: Vec<u8>,
    /// Other ids are mapped too (root only): `setgroups` then stays allowed in the namespace, so
    /// that a command can drop to one of them (`Sandbox::apply_as`).
    extra: bool,
}

impl IdMaps {
    /// Maps for the calling process: its own uid and gid, nothing else. (A process cannot map
    /// more ids into a namespace it created itself; that takes a helper outside, as
    /// `newuidmap`.) Files of other users appear as the overflow id and the build's root has no
    /// capability over them.
    pub(crate) fn current() -> Self {
        IdMaps { uid_map: format!("{0} {0} 1\n", getuid()).into_bytes(), gid_map: format!("{0} {0} 1\n", getgid()).into_bytes(), extra: false }
    }

    /// Maps for a root kiln whose commands may also run as `users` (uid, gid): each mapped to
    /// itself beside root. Writing more than one line needs `CAP_SETUID`/`CAP_SETGID` in the
    /// parent namespace, which the child of a root kiln holds.
    pub(crate) fn with_users(users: &[(u32, u32)]) -> Self {
        let mut m = IdMaps::current();
        let (mut uids, mut gids): (Vec<u32>, Vec<u32>) = users.iter().copied().unzip();
        let (me, my_group) = (getuid().as_raw(), getgid().as_raw());
        uids.retain(|u| *u != me);
        gids.retain(|g| *g != my_group);
        uids.sort_unstable();
        uids.dedup();
        gids.sort_unstable();
        gids.dedup();
        for u in &uids {
            m.uid_map.extend_from_slice(format!("{u} {u} 1\n").as_bytes());
        }
        for g in &gids {
            m.gid_map.extend_from_slice(format!("{g} {g} 1\n").as_bytes());
        }
        m.extra = !users.is_empty();
        m
    }

    /// In the (forked) child: enter a new user namespace (and network namespace, when `net`)
    /// and write the maps. Only syscalls, no allocation: safe between fork and exec.
    pub(crate) fn enter(&self, net: bool) -> io::Result<()> {
        let flags = if net { CloneFlags::CLONE_NEWUSER | CloneFlags::CLONE_NEWNET } else { CloneFlags::CLONE_NEWUSER };
        if self.extra {
            return self.enter_with_writer(flags);
        }
        unshare(flags)?;
        write_proc(c"/proc/self/setgroups", b"deny")?;
        write_proc(c"/proc/self/uid_map", &self.uid_map)?;
        write_proc(c"/proc/self/gid_map", &self.gid_map)?;
        Ok(())
    }

    /// Maps of more than one line must be written by a process that keeps `CAP_SETUID` in the
    /// *parent* namespace, which the process that unshared no longer has (user_namespaces(7)):
    /// a forked helper stays behind in kiln's namespace, waits until this process has unshared,
    /// writes its maps through `/proc/<pid>/`, and exits (what `newuidmap` does). Syscalls only.
    fn enter_with_writer(&self, flags: CloneFlags) -> io::Result<()> {
        let (ready_r, ready_w) = nix::unistd::pipe2(OFlag::O_CLOEXEC)?;
        // SAFETY: between fork and exec of a single-threaded child; the helper makes syscalls
        // only and leaves with `_exit`.
        match unsafe { fork() }? {
            ForkResult::Child => {
                drop(ready_w);
                let mut byte = [0u8; 1];
                let ok = nix::unistd::read(&ready_r, &mut byte) == Ok(1) && self.write_maps_of(nix::unistd::getppid().as_raw()).is_ok();
                // SAFETY: leave the helper without running anything of the parent's.
                unsafe { libc::_exit(if ok { 0 } else { 1 }) }
            }
            ForkResult::Parent { child } => {
                drop(ready_r);
                let unshared = unshare(flags);
                if unshared.is_ok() {
                    write(&ready_w, b"1")?;
                }
                drop(ready_w);
                let status = nix::sys::wait::waitpid(child, None)?;
                unshared?;
                match status {
                    nix::sys::wait::WaitStatus::Exited(_, 0) => Ok(()),
                    _ => Err(io::Error::from_raw_os_error(libc::EPERM)),
                }
            }
        }
    }

    /// In the helper: write `pid`'s gid and uid maps (`/proc/<pid>/…`, the path built on the
    /// stack).
    fn write_maps_of(&self, pid: i32) -> io::Result<()> {
        let mut path = [0u8; 48];
        for (name, data) in [(&b"gid_map"[..], &self.gid_map), (&b"uid_map"[..], &self.uid_map)] {
            let n = proc_path(&mut path, pid, name);
            let c = CStr::from_bytes_with_nul(&path[..n]).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
            write_proc(c, data)?;
        }
        Ok(())
    }
}

/// `/proc/<pid>/<name>\0` into `buf`; returns its length with the NUL.
fn proc_path(buf: &mut [u8; 48], pid: i32, name: &[u8]) -> usize {
    let mut digits = [0u8; 12];
    let (mut n, mut d) = (pid.unsigned_abs(), 0);
    loop {
        digits[d] = b'0' + (n % 10) as u8;
        d += 1;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    let mut at = 0;
    for b in b"/proc/".iter().chain(digits[..d].iter().rev()).chain(b"/").chain(name) {
        buf[at] = *b;
        at += 1;
    }
    buf[at] = 0;
    at + 1
}

fn write_proc(path: &CStr, data: &[u8]) -> io::Result<()> {
    let fd = open(path, OFlag::O_WRONLY | OFlag::O_CLOEXEC, Mode::empty())?;
    let n = write(&fd, data)?;
    if n != data.len() {
        return Err(io::Error::from_raw_os_error(libc::EIO));
    }
    Ok(())
}

/// What [`namespaces_work`] found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Namespaces {
    user: bool,
    /// `RLIMIT_NPROC` inside counts the namespace's processes only (not all of the user's, as
    /// on kernels before 5.14).
    nproc_scoped: bool,
    /// The build's PID namespace bound (`pidns.rs`) works.
    pid: bool,
    /// PID + mount namespaces, `mount_setattr` and a new `/proc` work (`view.rs`).
    mount: bool,
}

/// Try the real thing in one throw-away child: unshare user + network namespaces and write the
/// maps; enter the build's PID namespace (`pidns.rs`: the child stays as its keeper); then, under
/// an `RLIMIT_NPROC` of the processes already in the new namespace plus one, fork once. kiln is
/// one more of the user's processes, so that fork succeeds only where the limit counts the new
/// namespace alone. The answer comes back as one byte on a pipe, before the namespaces are torn
/// down (their teardown takes milliseconds); a side thread reaps the child.
fn namespaces_work() -> Namespaces {
    const ANSWERED: u8 = 16;
    const PID_OK: u8 = 1;
    const NPROC_SCOPED: u8 = 2;
    const MOUNT_OK: u8 = 4;
    let none = Namespaces { user: false, nproc_scoped: false, pid: false, mount: false };
    let maps = IdMaps::current();
    let ns = crate::pidns::PidNamespace::new(8);
    let two = libc::rlimit { rlim_cur: 2, rlim_max: 2 };
    let three = libc::rlimit { rlim_cur: 3, rlim_max: 3 };
    let Ok((answer_r, answer_w)) = nix::unistd::pipe2(OFlag::O_CLOEXEC) else { return none };
    // SAFETY: the child only makes syscalls (unshare, open, write, close, mount, setrlimit,
    // fork, waitpid) on memory prepared before the fork, then `_exit`s; it never returns into
    // Rust code that could allocate. The last fork's child `_exit`s at once.
    let child = match unsafe { fork() } {
        Ok(ForkResult::Child) => unsafe {
            drop(answer_r);
            if maps.enter(true).is_err() {
                libc::_exit(1)
            }
            let mut code = ANSWERED;
            // As PID 1 of the build's namespace, the keeper is one more process in it. (The
            // keeper closes its descriptors; PID 1, or this process if no namespace was made,
            // answers.)
            let limit = if crate::pidns::enter().is_ok() {
                let view = crate::sys::mount(None, c"/", None, libc::MS_REC | libc::MS_PRIVATE, None)
                    .and_then(|_| crate::sys::mount_setattr(libc::AT_FDCWD, c"/", crate::sys::AT_RECURSIVE, crate::sys::MOUNT_ATTR_NOSUID, 0))
                    .and_then(|_| crate::sys::mount(Some(c"proc"), c"/proc", Some(c"proc"), libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC, None));
                if view.is_ok() {
                    code |= MOUNT_OK;
                    if ns.bound().is_ok() {
                        code |= PID_OK;
                    }
                }
                &three
            } else {
                &two
            };
            if libc::setrlimit(libc::RLIMIT_NPROC, limit) == 0 {
                match libc::fork() {
                    0 => libc::_exit(0),
                    -1 => {}
                    pid => {
                        let mut status = 0;
                        libc::waitpid(pid, &mut status, 0);
                        code |= NPROC_SCOPED;
                    }
                }
            }
            let _ = write(&answer_w, &[code]);
            libc::_exit(0)
        },
        Ok(ForkResult::Parent { child }) => child,
        Err(_) => return none,
    };
    drop(answer_w);
    let mut byte = [0u8; 1];
    let answered = loop {
        match nix::unistd::read(&answer_r, &mut byte) {
            Err(nix::errno::Errno::EINTR) => continue,
            Ok(1) => break byte[0] & ANSWERED != 0,
            _ => break false,
        }
    };
    crate::reap::reap_in_background(child);
    if !answered {
        return none;
    }
    Namespaces { user: true, nproc_scoped: byte[0] & NPROC_SCOPED != 0, pid: byte[0] & PID_OK != 0, mount: byte[0] & MOUNT_OK != 0 }
}

#[cfg(test)]
mod id_map_tests {
    use super::*;

    #[test]
    fn proc_paths_are_built_without_allocating() {
        let mut buf = [0u8; 48];
        let n = proc_path(&mut buf, 4194304, b"uid_map");
        assert_eq!(&buf[..n], b"/proc/4194304/uid_map\0");
        let n = proc_path(&mut buf, 7, b"gid_map");
        assert_eq!(&buf[..n], b"/proc/7/gid_map\0");
    }

    #[test]
    fn extra_users_are_mapped_beside_our_own_ids() {
        let m = IdMaps::with_users(&[(65534, 65534), (1000, 100), (65534, 65534)]);
        let me = getuid().as_raw();
        let uid_map = String::from_utf8(m.uid_map).unwrap();
        assert!(uid_map.starts_with(&format!("{me} {me} 1\n")), "{uid_map}");
        assert!(uid_map.contains("1000 1000 1\n") && uid_map.matches("65534 65534 1").count() == 1, "{uid_map}");
        assert!(m.extra);
    }
}
