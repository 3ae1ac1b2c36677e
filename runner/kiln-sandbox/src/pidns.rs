//! The build's own PID namespace: the process bound without a cgroup, and a process tree that
//! dies with its shell.
//!
//! Joining a pids cgroup means writing `cgroup.procs`, and the first such write after a quiet
//! spell waits for an RCU grace period (5–15 ms on this project's VMs; see
//! [`crate::warm_up_attach`]). A PID namespace costs about a millisecond and bounds the number of
//! processes too: since Linux 6.14 `kernel.pid_max` is per PID namespace. In the forked child,
//! after it entered the build's user namespace:
//!
//! 1. `unshare(CLONE_NEWPID | CLONE_NEWNS)`, then `fork`: the child becomes PID 1 of the new
//!    namespace and goes on to exec the command; the parent stays behind as a *keeper* that
//!    closes every descriptor, waits for it and exits with its status (or dies of its signal), so
//!    the process kiln spawned still reports the command's end.
//! 2. PID 1 builds the build's file-system view (`view.rs`), with a fresh `/proc`, so `$$`,
//!    `ps` and `/proc/<pid>` agree inside the build (which then sees only its own processes, as a
//!    CodeBuild container does, and cannot signal, renice or re-pin any other).
//! 3. It writes `pid_max = 299 + N` and `ns_last_pid = 300`: PIDs 2–299 are never handed out
//!    (the kernel hands out PIDs from 300 on, also after wrapping), so at most `N` processes and
//!    threads exist, PID 1 included, as with a pids cgroup's `pids.max = N`.
//!
//! When PID 1 (the build's shell) dies, the kernel kills every process left in the namespace,
//! also those that left the shell's session or process group. PID 1 has `PR_SET_PDEATHSIG` on the
//! keeper, and the keeper on kiln's thread, so a killed kiln takes the whole tree with it.
//!
//! Differences a build can see: the shell is PID 1 (the kernel ignores signals it sends itself
//! that it has no handler for, e.g. `kill $$`), and orphans are re-parented to it.

use std::io;

/// The lowest PID the kernel hands out again after wrapping (`RESERVED_PIDS` in kernel/pid.c).
pub(crate) const RESERVED_PIDS: u64 = 300;

/// What PID 1 writes into its namespace's sysctls, prepared before any fork.
#[derive(Debug)]
pub(crate) struct PidNamespace {
    pid_max: Vec<u8>,
}

impl PidNamespace {
    /// A namespace that holds at most `max` processes and threads, its PID 1 included, like a
    /// pids cgroup's `pids.max` (at least 2; clamped to what the host allows: a namespace's
    /// `pid_max` cannot exceed its parent's).
    pub(crate) fn new(max: u64) -> PidNamespace {
        let host = std::fs::read_to_string("/proc/sys/kernel/pid_max").ok().and_then(|t| t.trim().parse::<u64>().ok()).unwrap_or(32768);
        let pid_max = (RESERVED_PIDS + max.max(2) - 1).min(host);
        PidNamespace { pid_max: format!("{pid_max}\n").into_bytes() }
    }

    /// The bound actually in force (for the report): PID 1 plus PIDs 300 .. pid_max-1.
    pub(crate) fn limit(&self) -> u64 {
        std::str::from_utf8(&self.pid_max).ok().and_then(|t| t.trim().parse::<u64>().ok()).map_or(0, |m| m + 1 - RESERVED_PIDS)
    }

    /// In PID 1, once the namespace's `/proc` is mounted: the bound (step 3 of the module doc).
    pub(crate) fn bound(&self) -> io::Result<()> {
        crate::sys::write_file(c"/proc/sys/kernel/pid_max", &self.pid_max)?;
        crate::sys::write_file(c"/proc/sys/kernel/ns_last_pid", b"300\n")
    }
}

/// In the forked child, after it entered the build's user namespace: new PID, mount and IPC
/// namespaces, and the fork of step 1. Returns only in the new PID 1; the keeper never returns.
/// Only syscalls on memory prepared before the fork: safe between fork and exec.
pub(crate) fn enter() -> io::Result<()> {
    nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWPID | nix::sched::CloneFlags::CLONE_NEWNS | nix::sched::CloneFlags::CLONE_NEWIPC)?;
    // SAFETY: fork in the single-threaded child of a fork; both sides only make syscalls.
    match unsafe { libc::fork() } {
        -1 => return Err(io::Error::last_os_error()),
        0 => {}
        pid => keep(pid),
    }
    crate::sys::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong, 0)
}

/// The keeper: close everything, wait for PID 1, end the way it ended. Never returns.
fn keep(pid: libc::pid_t) -> ! {
    // SAFETY: syscalls only; the keeper never returns into Rust code.
    unsafe {
        // Descriptors: std's exec-status pipe (PID 1 keeps its own copy, so the spawning parent
        // still learns whether the exec worked), the command's stdio and kiln's control pipes.
        libc::syscall(libc::SYS_close_range, 0u32, u32::MAX, 0u32);
        // kiln's signal handlers were inherited by the fork; the keeper wants none of them, and
        // no core file of kiln's memory.
        for sig in 1..32 {
            libc::signal(sig, libc::SIG_DFL);
        }
        let zero = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
        libc::setrlimit(libc::RLIMIT_CORE, &zero);
        let mut status = 0;
        loop {
            if libc::waitpid(pid, &mut status, 0) == pid {
                break;
            }
            if io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
                libc::_exit(127);
            }
        }
        if libc::WIFSIGNALED(status) {
            let sig = libc::WTERMSIG(status);
            libc::kill(libc::getpid(), sig);
            libc::_exit(128 + sig);
        }
        libc::_exit(libc::WEXITSTATUS(status))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bound_is_pid_max_above_the_reserved_range() {
        let ns = PidNamespace::new(64);
        assert_eq!(ns.pid_max, b"363\n");
        assert_eq!(ns.limit(), 64);
        assert_eq!(PidNamespace::new(0).pid_max, b"301\n", "the kernel's minimum");
    }
}
