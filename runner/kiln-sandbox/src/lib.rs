//! Confinement of the shell processes of a kiln build.
//!
//! A build step is an untrusted shell script. This crate prepares, *before* `fork`, everything
//! needed to confine it, and installs it into a [`std::process::Command`] as a `pre_exec` hook
//! that only makes system calls (safe in a multi-threaded parent such as a tokio runtime).
//! Nothing here needs privileges: it works the same as root and as an ordinary user.
//!
//! # Layers, and what each protects against
//!
//! Every sandboxed command gets all of these; each is set up in the forked child, in this order.
//!
//! | layer | protects against |
//! |---|---|
//! | `setsid` (new session + process group), `PR_SET_PDEATHSIG(SIGKILL)` | stray processes surviving a kill; the command outliving a crashed or killed kiln |
//! | user namespace mapping only kiln's own uid and gid | the build's root has capabilities only inside its namespaces, never over the host's (files of other users appear as the overflow id) |
//! | network namespace (network denied) | all network access: TCP, UDP, DNS, ICMP, abstract unix sockets of the host; only the namespace's own loopback is up |
//! | PID namespace (`pidns.rs`), its own IPC namespace | seeing, signalling, renicing or re-pinning any process but the build's own; any process of the build outliving its shell (the kernel kills the namespace with its PID 1, which dies with kiln); host SysV IPC |
//! | mount namespace (`view.rs`) | writes and metadata changes (chmod, chown, utime, xattrs) anywhere but [`Policy::writable`]: the host tree is read-only, `nosuid`, `nodev`; other builds' and the host's temp files and pathname sockets in `/tmp`, `/var/tmp`, `/run`, `/dev/shm` and kiln's scratch parents ([`Policy::private`]): each is a fresh empty tmpfs; other terminals: `/dev` is minimal with its own devpts; [`Policy::hidden`] paths: covered by an empty read-only file or directory; [`Policy::read_only`] paths inside writable ones (build records) |
//! | capability bounding set, `PR_SET_NO_NEW_PRIVS`, seccomp (`seccomp.rs`) | undoing the view (no `CAP_SYS_ADMIN`, no nested user namespaces), file capabilities (no `CAP_SETFCAP`), set-user/group-ID files anywhere the build can write (chmod/open/mknod with those bits fail), io_uring, the kernel keyrings; gaining privileges through set-ID programs |
//! | Landlock (`lsm.rs`), when the kernel has it | a second wall for writes (only the writable paths, the fresh temp dirs, devpts and the device files); with ABI >= 6: signals to processes outside the build, abstract unix sockets outside it |
//! | process bound: the PID namespace's own `pid_max` (Linux >= 6.14), else `RLIMIT_NPROC` inside the user namespace (ordinary users), else a pids cgroup, else the plain rlimit | fork bombs ([`Policy::max_processes`]) |
//!
//! [`Sandbox::prepare`] is strict: it refuses (with [`SandboxError::Unavailable`], whose message
//! points at `--no-sandbox`) when the host cannot create user, mount and PID namespaces. Lesser
//! gaps (no Landlock, no process bound) are listed in [`SandboxReport::missing`].
//! [`Sandbox::disabled`] keeps only the kill-related layers.
//!
//! # Not covered
//!
//! Reads of host files other than the hidden ones and the covered directories (the build runs
//! on the host's tree, read-only, as on a build image); another hard link, copy or bind mount of
//! a hidden file elsewhere; connecting to *pathname* unix sockets outside the covered directories
//! whose permissions allow it (Landlock scopes those only from ABI 9); CPU, memory and disk
//! limits; side channels. The environment is the engine's job (it clears it).
//!
//! # Use
//!
//! ```no_run
//! use kiln_sandbox::{Policy, Sandbox};
//! kiln_sandbox::become_subreaper()?;
//! let policy = Policy { writable: vec!["/work/wc".into(), "/tmp/kiln-build".into()],
//!                       max_processes: Some(512),
//!                       hidden: vec!["/home/u/keys/cosign.key".into()],
//!                       ..Policy::default() };
//! let sandbox = Sandbox::prepare(&policy)?;                 // refuses when the host cannot
//! let mut cmd = std::process::Command::new("bash");
//! cmd.arg("-c").arg("make").env_clear();
//! sandbox.apply(&mut cmd);
//! let mut child = cmd.spawn()?;
//! let pid = child.id() as i32;
//! let status = child.wait()?;                               // or: on timeout, kill_process_group(pid)
//! kiln_sandbox::kill_process_group(pid);                    // leftovers still in the group
//! kiln_sandbox::sweep_orphans(&[]);                         // escapees re-parented to us
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod cgroup;
mod lsm;
mod pidns;
mod probe;
mod reap;
mod sandbox;
mod seccomp;
mod sys;
mod view;

use std::path::PathBuf;

pub use cgroup::{WarmUp, warm_up_attach};
pub use probe::{Capabilities, probe};
pub use reap::{become_subreaper, children_of, descendants_of, kill_process_group, reap, sweep_orphans};
pub use sandbox::Sandbox;

/// What a build's commands may do.
#[derive(Clone, Debug, Default)]
pub struct Policy {
    /// Directories and files the build may write (working copy, build tmp, cache paths); each
    /// must exist. They appear at their own paths in the build's view; everything else there is
    /// read-only. `/tmp`, `/var/tmp`, `/run` and `/dev/shm` are fresh, empty and writable in
    /// every build (they are not the host's).
    pub writable: Vec<PathBuf>,
    /// Paths inside writable ones that the build may only read (an in-place build's record
    /// directory). Missing ones are skipped.
    pub read_only: Vec<PathBuf>,
    /// Directories the build sees as empty (kiln's per-user scratch parents, where other builds'
    /// scratch directories live); writable paths inside them are still attached. Missing ones
    /// are skipped.
    pub private: Vec<PathBuf>,
    /// Whether the build may use the network. When false the build gets its own network
    /// namespace with only a loopback interface.
    pub allow_network: bool,
    /// Upper bound on the number of processes/threads of the build at once (fork-bomb bound).
    pub max_processes: Option<u64>,
    /// Files or directories the build may not read (signing keys, secrets files): an empty
    /// read-only file or directory is mounted over each in the build's view. Each must exist and
    /// must not overlap a writable path.
    pub hidden: Vec<PathBuf>,
    /// Host directories or files the confined process may read even where the view covers them
    /// (under `/tmp`, `/run`, kiln's scratch parents): attached read-only at their own paths.
    /// Hidden paths inside them stay hidden. For kiln's own confined helpers (reading a source
    /// repository with `git`), not for build steps. Missing ones are skipped.
    pub visible: Vec<PathBuf>,
    /// Users (uid, gid) a command may run as ([`Sandbox::apply_as`], a buildspec's `run-as`):
    /// mapped to themselves in the build's user namespace beside kiln's own ids. Only a root
    /// kiln can map other ids (`prepare` refuses otherwise); the command drops every
    /// capability when it becomes one of them.
    pub run_as_users: Vec<(u32, u32)>,
}

/// What a [`Sandbox`] enforces, for logs, `--json` output and the build record.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct SandboxReport {
    /// False only for [`Sandbox::disabled`].
    pub sandboxed: bool,
    /// Mechanisms in use, e.g. `mountns(…)`, `landlock-fs(abi=6)`, `pidns(max=4096)`.
    pub mechanisms: Vec<String>,
    /// Protections that this host could not provide (the sandbox still runs without them).
    pub missing: Vec<String>,
    /// Whether the build's commands can reach the network.
    pub network: bool,
}

/// Errors from [`Sandbox::prepare`].
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    /// The host lacks what the policy needs; strict mode refuses to run unconfined.
    #[error(
        "cannot sandbox build commands on this host: missing {}. Or pass --no-sandbox to run the \
         build without confinement (only for trusted code)",
        missing.join("; ")
    )]
    Unavailable {
        /// The missing mechanisms, one per entry.
        missing: Vec<String>,
    },
    /// A [`Policy::writable`] or [`Policy::hidden`] path could not be used.
    #[error("sandbox: path {}: {source}", path.display())]
    Path {
        /// The offending path.
        path: PathBuf,
        /// Why it could not be used.
        #[source]
        source: std::io::Error,
    },
    /// Any other I/O failure while preparing.
    #[error("sandbox: {0}")]
    Io(#[from] std::io::Error),
}
