//! Confinement of the shell processes of a kiln build.
//!
//! A build step is an untrusted shell script. This crate prepares, *before* `fork`, everything
//! needed to confine it, and installs it into a [`std::process::Command`] as a `pre_exec` hook
//! that only makes system calls (safe in a multi-threaded parent such as a tokio runtime).
//! Nothing here needs privileges: it works the same as root and as an ordinary user.
//!
//! # Layers, and what each protects against
//!
//! | layer | needs | protects against |
//! |---|---|---|
//! | `setsid` (new session + process group) | nothing | stray processes surviving a kill: the step is one group, killed with [`kill_process_group`]; also detaches from our terminal |
//! | `PR_SET_PDEATHSIG(SIGKILL)` | nothing | the step outliving a crashed or killed kiln |
//! | [`become_subreaper`] + [`sweep_orphans`] | nothing | escapees from the group (`setsid cmd &`, double forks) living on after the step |
//! | `PR_SET_NO_NEW_PRIVS` | nothing | gaining privileges through setuid/setcap binaries (`sudo`, `su`, `ping`...) |
//! | Landlock filesystem rules | Landlock ABI >= 1 (Linux 5.13) | writes outside the working copy, build tmp and caches ([`Policy::writable`]): tampering with the host, `~/.ssh`, `/etc`, `/usr`, other projects. Reads and execution stay allowed everywhere |
//! | Landlock TCP rules (network denied) | ABI >= 4 (Linux 6.7) | TCP connect/bind: exfiltration, downloads, listening |
//! | Landlock scoping | ABI >= 6 (Linux 6.12) | signalling processes outside the sandbox (kiln itself, other steps); with network denied, connecting to abstract unix sockets outside (D-Bus, X11) |
//! | user + network namespace (network denied) | unprivileged user namespaces | all other network access: UDP, DNS, ICMP, raw sockets; only a down loopback exists |
//! | `RLIMIT_NPROC` inside the build's user namespace (ordinary users) | Linux >= 5.14 (counts the limit per user namespace); it does not bind root | fork bombs ([`Policy::max_processes`]) |
//! | else the build's own PID namespace with a small `pid_max` and its own `/proc` (root) | user namespaces and Linux >= 6.14 (per-namespace `pid_max`) | fork bombs; any process of the build outliving its shell (the kernel kills the namespace with its PID 1) |
//! | else pids cgroup (`pids.max`), else `RLIMIT_NPROC` | a writable cgroup v2 (or v1 `pids`) hierarchy; the plain rlimit counts all the user's processes and does not bind root | fork bombs |
//!
//! [`Sandbox::prepare`] is strict: it refuses (with [`SandboxError::Unavailable`], whose message
//! points at `--no-sandbox`) when the host cannot confine writes (no Landlock) or, with network
//! denied, has neither Landlock TCP rules nor user namespaces. Lesser gaps are listed in
//! [`SandboxReport::missing`]. [`Sandbox::disabled`] keeps only the kill-related layers.
//!
//! # Hiding paths
//!
//! Reads are allowed everywhere except [`Policy::hidden`]. Landlock can only allow, so a hidden
//! path is carved out by granting read on each *sibling* along its path instead of on `/` (for
//! `/home/u/keys/cosign.key`: every entry of `/` but `home`, of `/home` but `u`, ...); the
//! directories on the way can only be listed. Limits: entries created in those directories after
//! the sandbox is prepared are not readable by the build; another hard link, copy or bind mount
//! of a hidden file elsewhere stays readable; a hidden path inside a writable one is refused.
//! `/proc/<kiln pid>/{environ,mem,fd}` are closed by Landlock's ptrace restriction (a confined
//! process cannot ptrace-access one outside its domain) and, with user namespaces, by the
//! namespace boundary.
//!
//! # Not covered
//!
//! The environment (the engine clears it), reads of host files other than the hidden ones, connecting to *pathname* unix
//! sockets whose permissions allow it (e.g. a docker socket; Landlock only covers that from
//! ABI 9), CPU/memory/disk limits, and syscall filtering (no seccomp filter is installed).
//!
//! # Use
//!
//! ```no_run
//! use kiln_sandbox::{Policy, Sandbox};
//! kiln_sandbox::become_subreaper()?;
//! let policy = Policy { writable: vec!["/work/wc".into(), "/tmp/kiln-build".into()],
//!                       allow_network: false, max_processes: Some(512),
//!                       hidden: vec!["/home/u/keys/cosign.key".into()] };
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
mod hide;
mod pidns;
mod probe;
mod reap;
mod sandbox;

use std::path::PathBuf;

pub use cgroup::{WarmUp, warm_up_attach};
pub use probe::{Capabilities, probe};
pub use reap::{become_subreaper, children_of, descendants_of, kill_process_group, reap, sweep_orphans};
pub use sandbox::{DEVICE_PATHS, Sandbox};

/// What a build's commands may do.
#[derive(Clone, Debug)]
pub struct Policy {
    /// Directories and files the build may write (working copy, build tmp, cache paths); each
    /// must exist. Everything else is read-only. [`DEVICE_PATHS`] (`/dev/null`, `/dev/zero`,
    /// `/dev/tty`, `/dev/full`, `/dev/random`, `/dev/urandom`, `/dev/ptmx`, `/dev/pts`) are
    /// added by the crate. `/tmp` and `/dev/shm` are *not* writable unless listed: give the
    /// build its own tmp dir here (and point `TMPDIR` at it).
    pub writable: Vec<PathBuf>,
    /// Whether the build may use the network. When false: TCP bind/connect are denied by
    /// Landlock, and with user namespaces the build gets its own empty network namespace.
    pub allow_network: bool,
    /// Upper bound on the number of processes/threads of the build at once (fork-bomb bound).
    pub max_processes: Option<u64>,
    /// Files or directories the build may not read (signing keys, the secrets file): Landlock
    /// grants read on every sibling along each path instead of on `/` (see the "Hiding paths"
    /// section above for the limits). Each must exist and must not overlap a writable path.
    pub hidden: Vec<PathBuf>,
}

/// What a [`Sandbox`] enforces, for logs, `--json` output and the build record.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct SandboxReport {
    /// False only for [`Sandbox::disabled`].
    pub sandboxed: bool,
    /// Mechanisms in use, e.g. `landlock-fs(abi=6)`, `userns+netns`, `cgroup-v1-pids(max=64,…)`.
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
        "cannot sandbox build commands on this host: missing {}. Run on a kernel with Landlock \
         (Linux >= 6.7 for network rules) or unprivileged user namespaces, or pass --no-sandbox \
         to run the build without confinement (only for trusted code)",
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
    /// Building the Landlock ruleset failed.
    #[error("sandbox: Landlock ruleset: {0}")]
    Landlock(#[from] landlock::RulesetError),
    /// Any other I/O failure while preparing.
    #[error("sandbox: {0}")]
    Io(#[from] std::io::Error),
}
