//! [`Sandbox`]: decide (from the policy and the host's [`Capabilities`]), prepare everything
//! before fork, and install the confinement into a [`Command`] as a `pre_exec` hook.

use std::io;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use nix::sys::prctl;
use nix::sys::resource::{Resource, setrlimit};
use nix::sys::signal::Signal;
use nix::unistd::{Pid, getpid, getppid, getuid, setsid, write};

use crate::cgroup::{self, CgroupVersion, PidsCgroup};
use crate::pidns::PidNamespace;
use crate::probe::{Capabilities, IdMaps, probe};
use crate::view::{Layout, View};
use crate::{Policy, SandboxError, SandboxReport, lsm, seccomp};

/// How the process-count bound is enforced.
#[derive(Debug)]
enum Pids {
    Unbounded,
    Cgroup(PidsCgroup),
    Rlimit(u64),
    /// `RLIMIT_NPROC` set after entering the build's user namespace, where the kernel counts the
    /// namespace's processes only.
    UsernsRlimit(u64),
    /// The build's PID namespace with a small `pid_max` (`pidns.rs`).
    PidNamespace(PidNamespace),
}

#[derive(Debug)]
struct Confinement {
    userns: IdMaps,
    netns: bool,
    view: View,
    landlock: Option<lsm::Rules>,
    filter: seccomp::Filter,
    pids: Pids,
}

#[derive(Debug)]
struct Inner {
    report: SandboxReport,
    /// `None` for [`Sandbox::disabled`].
    confine: Option<Confinement>,
    /// The users [`Sandbox::apply_as`] may switch to.
    run_as: Vec<(u32, u32)>,
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
    pub scopes: bool,
    pub netns: bool,
    pub missing: Vec<String>,
}

/// Strict decision: which layers to use, or `Unavailable` with what is missing.
pub(crate) fn plan(caps: &Capabilities, policy: &Policy) -> Result<Plan, SandboxError> {
    let abi = caps.landlock_abi.unwrap_or(0);
    if !caps.user_namespaces || !caps.mount_namespaces {
        return Err(SandboxError::Unavailable {
            missing: vec![
                "unprivileged user namespaces with mount and PID namespaces (the build's own \
                 read-only view of the file system); enable them (sysctl \
                 kernel.unprivileged_userns_clone=1, user.max_user_namespaces > 0, on Ubuntu \
                 kernel.apparmor_restrict_unprivileged_userns=0) or run kiln as root"
                    .to_string(),
            ],
        });
    }
    let mut missing = Vec::new();
    if abi < 1 {
        missing.push("Landlock (a second wall behind the read-only mount namespace)".to_string());
    } else if abi < 6 {
        missing.push("Landlock signal/abstract-socket scoping (needs ABI >= 6)".to_string());
    }
    Ok(Plan { abi: abi.min(lsm::MAX_ABI), scopes: abi >= 6, netns: !policy.allow_network, missing })
}

fn canonical(paths: &[PathBuf], must_exist: bool) -> Result<Vec<PathBuf>, SandboxError> {
    let mut out = Vec::new();
    for p in paths {
        match std::fs::canonicalize(p) {
            Ok(c) => out.push(c),
            Err(_) if !must_exist => {}
            Err(source) => return Err(SandboxError::Path { path: p.clone(), source }),
        }
    }
    Ok(out)
}

/// The host paths of the build's view ([`Layout`]), checked: writable and hidden paths exist,
/// no hidden path overlaps a writable one.
fn layout(policy: &Policy) -> Result<Layout, SandboxError> {
    let writable = canonical(&policy.writable, true)?;
    let hidden = canonical(&policy.hidden, true)?;
    for h in &hidden {
        if let Some(w) = writable.iter().find(|w| h.starts_with(w) || w.starts_with(h)) {
            return Err(SandboxError::Path {
                path: h.clone(),
                source: io::Error::other(format!("cannot hide it from the build: it overlaps the writable path {}", w.display())),
            });
        }
    }
    // With network, name resolution keeps working where /etc/resolv.conf points into /run.
    let mut keep = match std::fs::canonicalize("/etc/resolv.conf") {
        Ok(t) if policy.allow_network && t.starts_with("/run") => vec![t],
        _ => Vec::new(),
    };
    keep.extend(canonical(&policy.visible, false)?);
    Ok(Layout { writable, private: canonical(&policy.private, false)?, read_only: canonical(&policy.read_only, false)?, hidden, keep })
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
    /// ([`SandboxError::Unavailable`]) when the host cannot build the build's own view of the
    /// file system (user, mount and PID namespaces). Lesser gaps (no Landlock, no effective
    /// process bound) are listed in [`SandboxReport::missing`].
    ///
    /// Every path in `policy.writable` and `policy.hidden` must exist ([`SandboxError::Path`]
    /// otherwise).
    pub fn prepare(policy: &Policy) -> Result<Sandbox, SandboxError> {
        Self::prepare_with(&probe(), policy)
    }

    /// [`Sandbox::prepare`] against a given capability set instead of [`probe`]'s. Meant for
    /// tests and for deliberately using fewer mechanisms than the host has; claiming more than
    /// the host has makes `prepare` or the later spawn fail (never a silent downgrade).
    pub fn prepare_with(caps: &Capabilities, policy: &Policy) -> Result<Sandbox, SandboxError> {
        let plan = plan(caps, policy)?;
        let layout = layout(policy)?;
        let view = View::new(&layout)?;
        let landlock = (plan.abi >= 1).then(|| lsm::Rules::new(plan.abi, &layout.writable, !policy.allow_network)).transpose()?;
        let filter = seccomp::Filter::new()?;
        let mut mechanisms = vec!["setsid".to_string(), "pdeathsig".to_string(), "no-new-privs".to_string()];
        mechanisms.push("userns(ids=self)".to_string());
        if plan.netns {
            mechanisms.push("netns(loopback-only)".to_string());
        }
        mechanisms.push("pidns".to_string());
        mechanisms.push("mountns(ro-root,tmpfs-tmp,private-dev,proc)".to_string());
        mechanisms.push("caps-bounded".to_string());
        mechanisms.push("seccomp(no-set-id,no-io-uring,no-keyring)".to_string());
        if plan.abi >= 1 {
            mechanisms.push(format!("landlock-fs(abi={})", plan.abi));
        }
        if plan.scopes {
            mechanisms.push("landlock-scope-signal".to_string());
            if !policy.allow_network {
                mechanisms.push("landlock-scope-abstract-unix".to_string());
            }
        }
        let mut missing = plan.missing;
        let pids = match policy.max_processes {
            Some(max) => setup_pids(caps, true, max, &mut mechanisms, &mut missing),
            None => Pids::Unbounded,
        };
        let userns = if policy.run_as_users.is_empty() {
            IdMaps::current()
        } else if getuid().is_root() {
            if let Some(m) = mechanisms.iter_mut().find(|m| m.starts_with("userns")) {
                *m = format!("userns(ids=self+{})", policy.run_as_users.len());
            }
            IdMaps::with_users(&policy.run_as_users)
        } else {
            return Err(SandboxError::Path {
                path: PathBuf::from("/proc/self/uid_map"),
                source: io::Error::other("only a kiln running as root can run commands as other users (run-as); an ordinary user's namespace maps only itself"),
            });
        };
        let report = SandboxReport { sandboxed: true, mechanisms, missing, network: policy.allow_network };
        Ok(Sandbox {
            inner: Arc::new(Inner {
                report,
                confine: Some(Confinement { userns, netns: plan.netns, view, landlock, filter, pids }),
                run_as: policy.run_as_users.clone(),
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
                run_as: Vec::new(),
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

    /// Whether commands run in a PID namespace of their own (every confined command does): the
    /// process kiln spawns is then a keeper whose only child is the command, PID 1 of the
    /// namespace (see `pidns.rs`).
    pub fn pid_namespace(&self) -> bool {
        self.inner.confine.is_some()
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
    /// The command's working directory must be visible in the build's view (a writable path, or a
    /// host directory outside the covered ones): PID 1 enters it again by name once the view is
    /// built, and the spawn fails with `ENOENT` otherwise.
    ///
    /// Works with `tokio::process::Command` through `as_std_mut()`. Note: Linux delivers the
    /// parent-death signal when the *thread* that spawned the child exits, so spawn from
    /// long-lived threads (tokio workers), not from `spawn_blocking` or short-lived threads.
    pub fn apply(&self, cmd: &mut Command) {
        self.apply_as(cmd, None);
    }

    /// [`Sandbox::apply`], the command running as `user` (uid, gid), one of
    /// [`Policy::run_as_users`]: after the view is built, PID 1 sets its groups to `gid` alone,
    /// its gid and its uid, and so drops every capability. A user the policy did not name makes
    /// the spawn fail (`EPERM`). Without confinement ([`Sandbox::disabled`]) the command is
    /// spawned with that uid and gid.
    pub fn apply_as(&self, cmd: &mut Command, user: Option<(u32, u32)>) {
        if let (Some((uid, gid)), None) = (user, &self.inner.confine) {
            cmd.uid(uid).gid(gid);
        }
        let allowed = user.is_none_or(|u| self.inner.confine.is_none() || self.inner.run_as.contains(&u));
        let inner = Arc::clone(&self.inner);
        let parent = getpid();
        // SAFETY: the hook only makes syscalls on data prepared before the fork (see
        // `Inner::child_setup`), which is what `pre_exec` requires.
        unsafe {
            cmd.pre_exec(move || if allowed { inner.child_setup(parent, user) } else { Err(io::Error::from_raw_os_error(libc::EPERM)) });
        }
    }
}

impl Inner {
    /// Runs in the forked child before exec: syscalls only, no allocation, no locks.
    fn child_setup(&self, parent: Pid, user: Option<(u32, u32)>) -> io::Result<()> {
        setsid()?;
        prctl::set_pdeathsig(Signal::SIGKILL)?;
        if getppid() != parent {
            return Err(io::Error::from_raw_os_error(libc::ESRCH));
        }
        let Some(c) = &self.confine else {
            return Ok(());
        };
        match &c.pids {
            // "0" means the writing process itself, in both v1 and v2.
            Pids::Cgroup(cg) => drop(write(cg.procs_fd(), b"0")?),
            Pids::Rlimit(max) => setrlimit(Resource::RLIMIT_NPROC, *max, *max)?,
            _ => {}
        }
        c.userns.enter(c.netns)?;
        if c.netns {
            loopback_up()?;
        }
        // After entering the namespace: the limit then counts the namespace's processes, and the
        // namespace's own ceiling stays the user's limit from before.
        if let Pids::UsernsRlimit(max) = &c.pids {
            setrlimit(Resource::RLIMIT_NPROC, *max, *max)?;
        }
        // Forks: from here on this is the namespace's PID 1 (the keeper never returns).
        crate::pidns::enter()?;
        c.view.enter()?;
        if let Pids::PidNamespace(ns) = &c.pids {
            ns.bound()?;
        }
        // No nested user namespace: in one, the build would get back every capability.
        crate::sys::write_file(c"/proc/sys/user/max_user_namespaces", b"0\n")?;
        c.filter.bound_capabilities()?;
        if let Some((uid, gid)) = user {
            // Groups, then gid, then uid (after which no capability is left to change them).
            // SAFETY: plain syscalls with integer arguments and a stack array.
            unsafe {
                let groups = [gid as libc::gid_t];
                if libc::setgroups(1, groups.as_ptr()) != 0 || libc::setresgid(gid, gid, gid) != 0 || libc::setresuid(uid, uid, uid) != 0 {
                    return Err(io::Error::last_os_error());
                }
            }
        }
        prctl::set_no_new_privs()?;
        if let Some(rules) = &c.landlock {
            rules.restrict_self()?;
        }
        c.filter.install()
    }
}

/// Bring the network namespace's loopback interface up (`ip link set lo up`).
fn loopback_up() -> io::Result<()> {
    // SAFETY: a socket and two ioctls on a zeroed `ifreq` on the stack.
    unsafe {
        let s = crate::sys::Fd(libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0));
        if s.0 < 0 {
            return Err(io::Error::last_os_error());
        }
        let mut ifr: libc::ifreq = std::mem::zeroed();
        ifr.ifr_name[0] = b'l' as libc::c_char;
        ifr.ifr_name[1] = b'o' as libc::c_char;
        if libc::ioctl(s.0, libc::SIOCGIFFLAGS, &mut ifr) != 0 {
            return Err(io::Error::last_os_error());
        }
        ifr.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short;
        if libc::ioctl(s.0, libc::SIOCSIFFLAGS, &ifr) != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
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
            mount_namespaces: userns,
            cgroup_v2_writable: false,
            cgroup_v1_pids_writable: false,
        }
    }

    fn policy(net: bool) -> Policy {
        Policy { allow_network: net, ..Policy::default() }
    }

    #[test]
    fn refuses_without_user_and_mount_namespaces() {
        for net in [false, true] {
            let err = plan(&caps(Some(6), false), &policy(net)).unwrap_err();
            assert!(matches!(&err, SandboxError::Unavailable { missing } if missing.len() == 1));
            assert!(err.to_string().contains("--no-sandbox") && err.to_string().contains("user namespaces"), "{err}");
        }
    }

    #[test]
    fn landlock_is_a_second_wall_and_its_absence_is_reported() {
        let p = plan(&caps(None, true), &policy(false)).unwrap();
        assert!(p.netns && p.abi == 0);
        assert!(p.missing.iter().any(|m| m.contains("Landlock")), "{:?}", p.missing);
        let p = plan(&caps(Some(7), true), &policy(false)).unwrap();
        assert_eq!((p.abi, p.scopes, p.netns), (6, true, true));
        assert!(p.missing.is_empty(), "{:?}", p.missing);
    }

    #[test]
    fn network_allowed_means_no_network_namespace() {
        let p = plan(&caps(Some(6), true), &policy(true)).unwrap();
        assert!(!p.netns);
    }
}
