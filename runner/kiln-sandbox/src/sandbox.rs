//! [`Sandbox`]: decide (from the policy and the host's [`Capabilities`]), prepare everything
//! before fork, and install the confinement into a [`Command`] as a `pre_exec` hook.

use std::io;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use landlock::{
    ABI, Access, AccessFs, AccessNet, CompatLevel, Compatible, PathBeneath, PathFd, RulesetAttr,
    RulesetCreated, RulesetCreatedAttr, RulesetStatus, Scope,
};
use nix::sys::prctl;
use nix::sys::resource::{Resource, setrlimit};
use nix::sys::signal::Signal;
use nix::unistd::{Pid, getpid, getppid, getuid, setsid, write};

use crate::cgroup::{self, CgroupVersion, PidsCgroup};
use crate::pidns::PidNamespace;
use crate::probe::{Capabilities, IdMaps, probe};
use crate::{Policy, SandboxError, SandboxReport};

/// Device files every build may open for writing (absent ones are skipped).
pub const DEVICE_PATHS: &[&str] = &[
    "/dev/null",
    "/dev/zero",
    "/dev/full",
    "/dev/random",
    "/dev/urandom",
    "/dev/tty",
    "/dev/ptmx",
    "/dev/pts",
];

/// The newest Landlock ABI whose rights this crate requests and has tested (filesystem incl.
/// truncate and device ioctl, TCP bind/connect, signal and abstract-unix-socket scoping).
const MAX_ABI: i32 = 6;

/// How the process-count bound is enforced.
#[derive(Debug)]
enum Pids {
    Unbounded,
    Cgroup(PidsCgroup),
    Rlimit(u64),
    /// `RLIMIT_NPROC` set after entering the build's user namespace, where the kernel counts the
    /// namespace's processes only.
    UsernsRlimit(u64),
    /// The build's own PID namespace with a small `pid_max` (`pidns.rs`).
    PidNamespace(PidNamespace),
}

#[derive(Debug)]
struct Confinement {
    landlock: RulesetCreated,
    userns: Option<IdMaps>,
    pids: Pids,
}

#[derive(Debug)]
struct Inner {
    report: SandboxReport,
    /// `None` for [`Sandbox::disabled`].
    confine: Option<Confinement>,
}

/// A prepared confinement, reusable for any number of commands of one build. Cheap to clone
/// (shared); the pids cgroup, if any, is killed and removed when the last clone and the last
/// [`Command`] it was applied to are dropped.
#[derive(Clone, Debug)]
pub struct Sandbox {
    inner: Arc<Inner>,
}

/// What [`plan`] decided, before anything is created.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Plan {
    pub abi: i32,
    pub tcp_rules: bool,
    pub scopes: bool,
    pub netns: bool,
    pub missing: Vec<String>,
}

/// Strict decision: which layers to use, or `Unavailable` with what is missing.
pub(crate) fn plan(caps: &Capabilities, policy: &Policy) -> Result<Plan, SandboxError> {
    let abi = caps.landlock_abi.unwrap_or(0);
    let mut fatal = Vec::new();
    let mut missing = Vec::new();
    if abi < 1 {
        fatal.push("Landlock (needed to confine writes to the working copy)".to_string());
    }
    let tcp_rules = !policy.allow_network && abi >= 4;
    let netns = !policy.allow_network && caps.user_namespaces;
    if !policy.allow_network && !tcp_rules && !netns {
        fatal.push(
            "network isolation (needs Landlock ABI >= 4, Linux 6.7, or unprivileged user \
             namespaces)"
                .to_string(),
        );
    }
    if !fatal.is_empty() {
        return Err(SandboxError::Unavailable { missing: fatal });
    }
    if !policy.allow_network && !netns {
        missing.push("UDP/DNS isolation (needs unprivileged user namespaces)".to_string());
    }
    if abi < 6 {
        missing.push("Landlock signal/abstract-socket scoping (needs ABI >= 6)".to_string());
    }
    Ok(Plan {
        abi: abi.min(MAX_ABI),
        tcp_rules,
        scopes: abi >= 6,
        netns,
        missing,
    })
}

fn abi_of(v: i32) -> ABI {
    match v {
        i32::MIN..=0 => ABI::Unsupported,
        1 => ABI::V1,
        2 => ABI::V2,
        3 => ABI::V3,
        4 => ABI::V4,
        5 => ABI::V5,
        _ => ABI::V6,
    }
}

/// Build the Landlock ruleset: read+execute on `/` except [`Policy::hidden`] (see `hide.rs`), everything on `writable` and the device
/// files, TCP bind/connect handled (= denied) when `tcp_rules`, scoping when `scopes`.
fn build_ruleset(plan: &Plan, policy: &Policy) -> Result<RulesetCreated, SandboxError> {
    let abi = abi_of(plan.abi);
    let mut ruleset = landlock::Ruleset::default()
        .set_compatibility(CompatLevel::HardRequirement)
        .handle_access(AccessFs::from_all(abi))?;
    if plan.tcp_rules {
        ruleset = ruleset.handle_access(AccessNet::BindTcp | AccessNet::ConnectTcp)?;
    }
    if plan.scopes {
        let mut scopes = Scope::Signal.into();
        if !policy.allow_network {
            scopes |= Scope::AbstractUnixSocket;
        }
        ruleset = ruleset.scope::<landlock::BitFlags<Scope>>(scopes)?;
    }
    let mut created = ruleset.create()?;
    let hidden = crate::hide::canonical(&policy.hidden).map_err(|(path, source)| SandboxError::Path { path, source })?;
    for h in &hidden {
        if let Some(w) = policy.writable.iter().find(|w| std::fs::canonicalize(w).is_ok_and(|w| h.starts_with(&w) || w.starts_with(h))) {
            return Err(SandboxError::Path {
                path: h.clone(),
                source: io::Error::other(format!("cannot hide it from the build: it overlaps the writable path {}", w.display())),
            });
        }
    }
    for rule in crate::hide::read_rules(Path::new("/"), &hidden) {
        let (path, list_only) = match rule {
            crate::hide::ReadRule::Beneath(p) => (p, false),
            crate::hide::ReadRule::ListOnly(p) => (p, true),
        };
        // An entry that vanished or cannot be opened since it was listed is simply not granted.
        let Ok(fd) = PathFd::new(&path) else { continue };
        let is_dir = std::fs::metadata(&path).is_ok_and(|m| m.is_dir());
        let access = if list_only {
            AccessFs::ReadDir.into()
        } else if is_dir {
            AccessFs::from_read(abi)
        } else {
            AccessFs::from_read(abi) & AccessFs::from_file(abi)
        };
        created = created.add_rule(PathBeneath::new(fd, access))?;
    }
    let devices = DEVICE_PATHS
        .iter()
        .map(PathBuf::from)
        .filter(|p| p.exists());
    for path in policy.writable.iter().cloned().chain(devices) {
        let meta = std::fs::metadata(&path).map_err(|source| SandboxError::Path {
            path: path.clone(),
            source,
        })?;
        let access = if meta.is_dir() {
            AccessFs::from_all(abi)
        } else {
            AccessFs::from_file(abi)
        };
        created = created.add_rule(PathBeneath::new(path_fd(&path)?, access))?;
    }
    Ok(created)
}

fn path_fd(path: &Path) -> Result<PathFd, SandboxError> {
    PathFd::new(path).map_err(|e| SandboxError::Path {
        path: path.to_path_buf(),
        source: io::Error::other(e),
    })
}

/// A process bound that lives inside the build's user namespace, where the host has one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum NamespaceBound {
    /// `RLIMIT_NPROC`, counted per user namespace (ordinary users only).
    Rlimit,
    /// The build's own PID namespace (`pidns.rs`).
    PidNamespace,
}

/// Which namespace bound [`setup_pids`] uses when the commands get a user namespace, if any.
pub(crate) fn namespace_bound(caps: &Capabilities) -> Option<NamespaceBound> {
    if !caps.user_namespaces {
        None
    } else if caps.userns_nproc_scoped && !getuid().is_root() {
        Some(NamespaceBound::Rlimit)
    } else if caps.pid_namespaces {
        Some(NamespaceBound::PidNamespace)
    } else {
        None
    }
}

/// Set up the process bound, the cheapest that bounds exactly the build's processes first.
/// Where the commands get their own user namespace (network denied): for an ordinary user on a
/// kernel that counts `RLIMIT_NPROC` per namespace, that limit set inside the namespace (free);
/// else (root, whom the limit does not bind) the build's own PID namespace with a small
/// `pid_max` (Linux >= 6.14, `pidns.rs`; ~1–3 ms, and every process of the build ends with its
/// shell). Both avoid joining a cgroup, which first waits for an RCU grace period (5–15 ms, see
/// [`crate::warm_up_attach`]). Otherwise: cgroup v2, then cgroup v1 pids, then `RLIMIT_NPROC`
/// on the user's whole process count.
fn setup_pids(
    caps: &Capabilities,
    userns: bool,
    max: u64,
    mechanisms: &mut Vec<String>,
    missing: &mut Vec<String>,
) -> Pids {
    match namespace_bound(caps).filter(|_| userns) {
        Some(NamespaceBound::Rlimit) => {
            mechanisms.push(format!("userns-rlimit-nproc({max})"));
            return Pids::UsernsRlimit(max);
        }
        Some(NamespaceBound::PidNamespace) => {
            let ns = PidNamespace::new(max);
            mechanisms.push(format!("pidns(max={})", ns.limit()));
            return Pids::PidNamespace(ns);
        }
        None => {}
    }
    let candidates = [
        (
            caps.cgroup_v2_writable,
            CgroupVersion::V2,
            cgroup::v2_dir as fn() -> Option<PathBuf>,
        ),
        (
            caps.cgroup_v1_pids_writable,
            CgroupVersion::V1,
            cgroup::v1_pids_dir,
        ),
    ];
    for (usable, version, dir) in candidates {
        let Some(parent) = dir().filter(|_| usable) else {
            continue;
        };
        match PidsCgroup::create(version, &parent, max) {
            Ok(cg) => {
                let v = if cg.version() == CgroupVersion::V2 {
                    "v2"
                } else {
                    "v1"
                };
                mechanisms.push(format!("cgroup-{v}-pids(max={max},{})", cg.dir().display()));
                return Pids::Cgroup(cg);
            }
            Err(e) => missing.push(format!("pids cgroup {}: {e}", parent.display())),
        }
    }
    mechanisms.push(format!("rlimit-nproc({max})"));
    if getuid().is_root() {
        missing.push(
            "process limit: no writable pids cgroup, and RLIMIT_NPROC does not bind root"
                .to_string(),
        );
    }
    Pids::Rlimit(max)
}

impl Sandbox {
    /// Strict: prepare the confinement for `policy` on this host, or refuse
    /// ([`SandboxError::Unavailable`]) when the host lacks what is needed to honour it: Landlock
    /// for write confinement, and for the network part (when `allow_network` is false) Landlock
    /// with TCP rules (ABI >= 4) or user + network namespaces. Weaker-but-acceptable gaps (no UDP
    /// isolation, no effective process bound) are listed in [`SandboxReport::missing`].
    ///
    /// Every path in `policy.writable` must exist ([`SandboxError::Path`] otherwise).
    pub fn prepare(policy: &Policy) -> Result<Sandbox, SandboxError> {
        Self::prepare_with(&probe(), policy)
    }

    /// [`Sandbox::prepare`] against a given capability set instead of [`probe`]'s. Meant for
    /// tests and for deliberately using fewer mechanisms than the host has; claiming more than
    /// the host has makes `prepare` or the later spawn fail (never a silent downgrade).
    pub fn prepare_with(caps: &Capabilities, policy: &Policy) -> Result<Sandbox, SandboxError> {
        let plan = plan(caps, policy)?;
        let landlock = build_ruleset(&plan, policy)?;
        let mut mechanisms = vec![
            "setsid".to_string(),
            "pdeathsig".to_string(),
            "no-new-privs".to_string(),
        ];
        mechanisms.push(format!("landlock-fs(abi={})", plan.abi));
        if plan.tcp_rules {
            mechanisms.push("landlock-tcp-deny".to_string());
        }
        if plan.scopes {
            mechanisms.push("landlock-scope-signal".to_string());
            if !policy.allow_network {
                mechanisms.push("landlock-scope-abstract-unix".to_string());
            }
        }
        let userns = plan.netns.then(IdMaps::current);
        if userns.is_some() {
            mechanisms.push("userns+netns".to_string());
        }
        let mut missing = plan.missing;
        let pids = match policy.max_processes {
            Some(max) => setup_pids(caps, userns.is_some(), max, &mut mechanisms, &mut missing),
            None => Pids::Unbounded,
        };
        let report = SandboxReport {
            sandboxed: true,
            mechanisms,
            missing,
            network: policy.allow_network,
        };
        Ok(Sandbox {
            inner: Arc::new(Inner {
                report,
                confine: Some(Confinement {
                    landlock,
                    userns,
                    pids,
                }),
            }),
        })
    }

    /// No confinement except a new session/process group and parent-death kill, so the tree
    /// can still be killed (`--no-sandbox`). The report says `sandboxed: false`.
    pub fn disabled() -> Sandbox {
        let report = SandboxReport {
            sandboxed: false,
            mechanisms: vec!["setsid".to_string(), "pdeathsig".to_string()],
            missing: Vec::new(),
            network: true,
        };
        Sandbox {
            inner: Arc::new(Inner {
                report,
                confine: None,
            }),
        }
    }

    /// What this sandbox enforces and what it could not.
    pub fn report(&self) -> SandboxReport {
        self.inner.report.clone()
    }

    /// The pids cgroup directory the commands are put in, if a cgroup is used.
    pub fn cgroup_dir(&self) -> Option<&Path> {
        match self.inner.confine.as_ref().map(|c| &c.pids) {
            Some(Pids::Cgroup(cg)) => Some(cg.dir()),
            _ => None,
        }
    }

    /// Whether commands run in a PID namespace of their own: the process kiln spawns is then a
    /// keeper whose only child is the command, PID 1 of the namespace (see `pidns.rs`).
    pub fn pid_namespace(&self) -> bool {
        matches!(self.inner.confine.as_ref().map(|c| &c.pids), Some(Pids::PidNamespace(_)))
    }

    /// SIGKILL every process in this sandbox's cgroup (no-op without one); returns how many
    /// were signalled. Use on timeout/cancel to catch descendants that left the process group.
    pub fn kill_all(&self) -> usize {
        match self.inner.confine.as_ref().map(|c| &c.pids) {
            Some(Pids::Cgroup(cg)) => cg.kill_all(),
            _ => 0,
        }
    }

    /// Install the confinement into `cmd` as a `pre_exec` hook. In the child, in this order:
    /// `setsid`; `PR_SET_PDEATHSIG(SIGKILL)` (and exit if the parent already died); join the
    /// pids cgroup or set `RLIMIT_NPROC`; `unshare(CLONE_NEWUSER|CLONE_NEWNET)` + uid/gid maps
    /// (when network is denied and user namespaces work); then either `RLIMIT_NPROC` inside that
    /// namespace, or the build's PID namespace (a fork: the spawned process stays behind as the
    /// keeper that reports the command's end, its child goes on as PID 1, see `pidns.rs`);
    /// `PR_SET_NO_NEW_PRIVS`; Landlock `restrict_self`. Any failure aborts the spawn (fail
    /// closed; `spawn` returns the errno).
    ///
    /// Works with `tokio::process::Command` through `as_std_mut()`. Note: Linux delivers the
    /// parent-death signal when the *thread* that spawned the child exits, so spawn from
    /// long-lived threads (tokio workers), not from `spawn_blocking` or short-lived threads.
    pub fn apply(&self, cmd: &mut Command) {
        let inner = Arc::clone(&self.inner);
        let parent = getpid();
        // SAFETY: the hook only makes syscalls on data prepared before the fork (see
        // `Inner::child_setup`), which is what `pre_exec` requires.
        unsafe {
            cmd.pre_exec(move || inner.child_setup(parent));
        }
    }
}

impl Inner {
    /// Runs in the forked child before exec: syscalls only, no allocation, no locks.
    fn child_setup(&self, parent: Pid) -> io::Result<()> {
        setsid()?;
        prctl::set_pdeathsig(Signal::SIGKILL)?;
        if getppid() != parent {
            return Err(io::Error::from_raw_os_error(libc::ESRCH));
        }
        let Some(c) = &self.confine else {
            return Ok(());
        };
        match &c.pids {
            Pids::Unbounded => {}
            Pids::Cgroup(cg) => {
                // "0" means the writing process itself, in both v1 and v2.
                write(cg.procs_fd(), b"0")?;
            }
            Pids::Rlimit(max) => setrlimit(Resource::RLIMIT_NPROC, *max, *max)?,
            Pids::UsernsRlimit(_) | Pids::PidNamespace(_) => {}
        }
        if let Some(maps) = &c.userns {
            maps.enter()?;
        }
        // After entering the namespace: the limit then counts the namespace's processes, and the
        // namespace's own ceiling stays the user's limit from before.
        match &c.pids {
            Pids::UsernsRlimit(max) => setrlimit(Resource::RLIMIT_NPROC, *max, *max)?,
            // Forks: from here on this is the namespace's PID 1 (the keeper never returns).
            Pids::PidNamespace(ns) => ns.enter()?,
            _ => {}
        }
        prctl::set_no_new_privs()?;
        let status = c
            .landlock
            .try_clone()?
            .restrict_self()
            .map_err(|_| io::Error::last_os_error())?;
        if status.ruleset != RulesetStatus::FullyEnforced {
            return Err(io::Error::from_raw_os_error(libc::EPERM));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caps(abi: Option<i32>, userns: bool) -> Capabilities {
        Capabilities {
            landlock_abi: abi,
            user_namespaces: userns,
            userns_nproc_scoped: userns,
            pid_namespaces: false,
            cgroup_v2_writable: false,
            cgroup_v1_pids_writable: false,
        }
    }

    fn policy(net: bool) -> Policy {
        Policy {
            writable: Vec::new(),
            allow_network: net,
            hidden: Vec::new(),
            max_processes: None,
        }
    }

    #[test]
    fn refuses_without_landlock() {
        let err = plan(&caps(None, true), &policy(false)).unwrap_err();
        assert!(matches!(&err, SandboxError::Unavailable { missing } if missing.len() == 1));
        assert!(err.to_string().contains("--no-sandbox"), "{err}");
    }

    #[test]
    fn refuses_network_isolation_without_tcp_rules_or_userns() {
        let err = plan(&caps(Some(3), false), &policy(false)).unwrap_err();
        assert!(err.to_string().contains("network isolation"), "{err}");
        // The same host is fine when the build may use the network.
        let ok = plan(&caps(Some(3), false), &policy(true)).unwrap();
        assert!(!ok.tcp_rules && !ok.netns);
    }

    #[test]
    fn landlock_tcp_only_reports_missing_udp() {
        let p = plan(&caps(Some(7), false), &policy(false)).unwrap();
        assert_eq!(
            (p.abi, p.tcp_rules, p.netns, p.scopes),
            (6, true, false, true)
        );
        assert!(
            p.missing.iter().any(|m| m.contains("UDP")),
            "{:?}",
            p.missing
        );
    }

    #[test]
    fn userns_alone_is_enough_for_network() {
        let p = plan(&caps(Some(3), true), &policy(false)).unwrap();
        assert!(p.netns && !p.tcp_rules);
        assert!(!p.missing.iter().any(|m| m.contains("UDP")));
    }
}
