//! What the running kernel and host let us use, detected once per process.

use std::ffi::CStr;
use std::io;
use std::sync::OnceLock;

use nix::fcntl::{OFlag, open};
use nix::sched::{CloneFlags, unshare};
use nix::sys::stat::Mode;
use nix::sys::wait::{WaitStatus, waitpid};
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
        let userns = user_namespaces_work();
        Capabilities {
            landlock_abi: landlock_abi(),
            user_namespaces: userns != UserNamespaces::Unavailable,
            userns_nproc_scoped: userns == UserNamespaces::NprocScoped,
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
}

impl IdMaps {
    /// Maps for the calling process's real uid and gid.
    pub(crate) fn current() -> Self {
        IdMaps {
            uid_map: format!("{0} {0} 1\n", getuid()).into_bytes(),
            gid_map: format!("{0} {0} 1\n", getgid()).into_bytes(),
        }
    }

    /// In the (forked) child: enter a new user + network namespace and write the maps.
    /// Only syscalls, no allocation: safe between fork and exec.
    pub(crate) fn enter(&self) -> io::Result<()> {
        unshare(CloneFlags::CLONE_NEWUSER | CloneFlags::CLONE_NEWNET)?;
        write_proc(c"/proc/self/setgroups", b"deny")?;
        write_proc(c"/proc/self/uid_map", &self.uid_map)?;
        write_proc(c"/proc/self/gid_map", &self.gid_map)?;
        Ok(())
    }
}

fn write_proc(path: &CStr, data: &[u8]) -> io::Result<()> {
    let fd = open(path, OFlag::O_WRONLY | OFlag::O_CLOEXEC, Mode::empty())?;
    let n = write(&fd, data)?;
    if n != data.len() {
        return Err(io::Error::from_raw_os_error(libc::EIO));
    }
    Ok(())
}

/// What [`user_namespaces_work`] found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum UserNamespaces {
    Unavailable,
    /// Usable, and `RLIMIT_NPROC` inside counts the namespace's processes only.
    NprocScoped,
    /// Usable, but `RLIMIT_NPROC` counts all of the user's processes (kernels before 5.14).
    NprocGlobal,
}

/// Try the real thing in a throw-away child: unshare user+net namespaces and write the maps;
/// then, under `RLIMIT_NPROC = 2`, fork once. This process and the child already make two of the
/// user's processes, so the fork succeeds only where the limit counts the new namespace alone.
fn user_namespaces_work() -> UserNamespaces {
    let maps = IdMaps::current();
    let two = libc::rlimit { rlim_cur: 2, rlim_max: 2 };
    // SAFETY: the child only makes syscalls (unshare, open, write, close, setrlimit, fork,
    // waitpid) on memory prepared before the fork, then `_exit`s; it never returns into Rust code
    // that could allocate. The grandchild `_exit`s at once.
    match unsafe { fork() } {
        Ok(ForkResult::Child) => unsafe {
            if maps.enter().is_err() {
                libc::_exit(1)
            }
            if libc::setrlimit(libc::RLIMIT_NPROC, &two) != 0 {
                libc::_exit(2)
            }
            match libc::fork() {
                0 => libc::_exit(0),
                -1 => libc::_exit(2),
                pid => {
                    let mut status = 0;
                    libc::waitpid(pid, &mut status, 0);
                    libc::_exit(0)
                }
            }
        },
        Ok(ForkResult::Parent { child }) => loop {
            match waitpid(child, None) {
                Err(nix::errno::Errno::EINTR) => continue,
                Ok(WaitStatus::Exited(_, 0)) => break UserNamespaces::NprocScoped,
                Ok(WaitStatus::Exited(_, 2)) => break UserNamespaces::NprocGlobal,
                _ => break UserNamespaces::Unavailable,
            }
        },
        Err(_) => UserNamespaces::Unavailable,
    }
}
