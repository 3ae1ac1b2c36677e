//! A per-sandbox cgroup with the `pids` controller, used to bound the number of processes (tasks)
//! a build can have at once.
//!
//! cgroup v2 is preferred. Hosts still on the "hybrid" layout (cgroup v1 controllers plus a
//! controller-less v2 tree, as this project's CI VMs are) get the v1 `pids` hierarchy instead:
//! its `pids.max` and `cgroup.procs` behave the same for our purpose.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::fd::{AsFd, BorrowedFd};
use std::path::{Path, PathBuf};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::{AccessFlags, Pid, access, getpid};

/// Which cgroup hierarchy a pids group lives in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum CgroupVersion {
    V1,
    V2,
}

/// Cgroup directories of every live [`PidsCgroup`], so `sweep_orphans` can find their members.
static REGISTRY: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());
static SEQ: AtomicU64 = AtomicU64::new(0);

/// Paths of the live sandbox cgroups.
pub(crate) fn registered() -> Vec<PathBuf> {
    match REGISTRY.lock() {
        Ok(g) => g.clone(),
        Err(poisoned) => poisoned.into_inner().clone(),
    }
}

fn registry_edit(f: impl FnOnce(&mut Vec<PathBuf>)) {
    match REGISTRY.lock() {
        Ok(mut g) => f(&mut g),
        Err(poisoned) => f(&mut poisoned.into_inner()),
    }
}

/// One line of /proc/self/mountinfo, reduced to what we need.
struct Mount {
    root: String,
    point: PathBuf,
    fstype: String,
    super_opts: String,
}

fn unescape(s: &str) -> String {
    // mountinfo escapes space, tab, newline and backslash as \ooo.
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let octal = b
            .get(i + 1..i + 4)
            .filter(|d| d.iter().all(|c| (b'0'..=b'7').contains(c)));
        if let (b'\\', Some(d)) = (b[i], octal) {
            out.push(
                d.iter()
                    .fold(0u8, |acc, c| acc.wrapping_mul(8).wrapping_add(c - b'0')),
            );
            i += 4;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn mounts() -> Vec<Mount> {
    let Ok(text) = fs::read_to_string("/proc/self/mountinfo") else {
        return Vec::new();
    };
    text.lines()
        .filter_map(|line| {
            let (pre, post) = line.split_once(" - ")?;
            let pre: Vec<&str> = pre.split(' ').collect();
            let post: Vec<&str> = post.split(' ').collect();
            Some(Mount {
                root: unescape(pre.get(3)?),
                point: PathBuf::from(unescape(pre.get(4)?)),
                fstype: (*post.first()?).to_string(),
                super_opts: post.get(2).copied().unwrap_or("").to_string(),
            })
        })
        .collect()
}

/// Our own cgroup path in the hierarchy selected by `pick` on the controllers field of
/// /proc/self/cgroup (`hierarchy-id:controllers:path`).
fn own_path(pick: impl Fn(&str, &str) -> bool) -> Option<String> {
    let text = fs::read_to_string("/proc/self/cgroup").ok()?;
    text.lines().find_map(|l| {
        let mut it = l.splitn(3, ':');
        let (id, ctrl, path) = (it.next()?, it.next()?, it.next()?);
        pick(id, ctrl).then(|| path.to_string())
    })
}

fn join_under(mount: &Mount, cg_path: &str) -> PathBuf {
    let rel = cg_path.strip_prefix(mount.root.as_str()).unwrap_or(cg_path);
    mount.point.join(rel.trim_start_matches('/'))
}

fn writable(dir: &Path) -> bool {
    access(dir, AccessFlags::W_OK | AccessFlags::X_OK).is_ok()
}

/// Leaf group kiln moves itself into on cgroup v2 when its own group must become an inner node.
const SUPERVISOR_LEAF: &str = "kiln-supervisor";

/// Our cgroup v2 directory (the parent of our [`SUPERVISOR_LEAF`] if we already moved there),
/// if the `pids` controller is available there and we may create child groups in it.
pub(crate) fn v2_dir() -> Option<PathBuf> {
    let mount = mounts().into_iter().find(|m| m.fstype == "cgroup2")?;
    let path = own_path(|id, ctrl| id == "0" && ctrl.is_empty())?;
    let mut dir = join_under(&mount, &path);
    if dir.file_name().is_some_and(|n| n == SUPERVISOR_LEAF) {
        dir.pop();
    }
    let controllers = fs::read_to_string(dir.join("cgroup.controllers")).ok()?;
    (controllers.split_whitespace().any(|c| c == "pids") && writable(&dir)).then_some(dir)
}

/// Our directory in a writable cgroup v1 `pids` hierarchy, if there is one.
pub(crate) fn v1_pids_dir() -> Option<PathBuf> {
    let mount = mounts()
        .into_iter()
        .find(|m| m.fstype == "cgroup" && m.super_opts.split(',').any(|o| o == "pids"))?;
    let path = own_path(|_, ctrl| ctrl.split(',').any(|c| c == "pids"))?;
    let dir = join_under(&mount, &path);
    (dir.join("cgroup.procs").exists() && writable(&dir)).then_some(dir)
}

/// The `pids.max` a group made ahead of time starts with, until [`PidsCgroup::create`] sets the
/// sandbox's own bound.
const SPARE_MAX: u64 = 4096;

/// The state of the group [`warm_up_attach`] makes ahead of time.
enum Spare {
    /// None made, none being made.
    Idle,
    /// The warm-up thread is making one: [`PidsCgroup::create`] waits for it.
    Making,
    /// Made, not yet taken by a sandbox.
    Made(PidsCgroup),
}

static SPARE: Mutex<Spare> = Mutex::new(Spare::Idle);
static SPARE_SETTLED: Condvar = Condvar::new();

fn spare_lock() -> MutexGuard<'static, Spare> {
    SPARE.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Settle the spare (wakes a [`PidsCgroup::create`] waiting for it); returns what it held.
fn set_spare(next: Spare) -> Spare {
    let previous = std::mem::replace(&mut *spare_lock(), next);
    SPARE_SETTLED.notify_all();
    previous
}

/// The spare group, if one was made under `parent`; waits (bounded) while it is being made.
fn take_spare(version: CgroupVersion, parent: &Path) -> Option<PidsCgroup> {
    let deadline = Instant::now() + Duration::from_secs(2);
    let mut spare = spare_lock();
    while matches!(*spare, Spare::Making) {
        let left = deadline.checked_duration_since(Instant::now())?;
        spare = SPARE_SETTLED.wait_timeout(spare, left).unwrap_or_else(|p| p.into_inner()).0;
    }
    match std::mem::replace(&mut *spare, Spare::Idle) {
        Spare::Made(cg) if cg.version == version && cg.dir.parent() == Some(parent) => Some(cg),
        other => {
            *spare = other;
            None
        }
    }
}

/// Pay the kernel's first-attach cost ahead of time, off the build's critical path: on a side
/// thread, make the cgroup v1 `pids` group the build's sandbox will use, then move this process
/// into the group it is already in (a no-op).
///
/// The first write to any `cgroup.procs` after a quiet spell waits for an RCU grace period
/// (the cgroup thread-group lock switches to its slow mode): 5–15 ms measured on this project's
/// CI VMs. Writes within ~20 ms after that are fast (~50 µs), and while that first write waits,
/// any `mkdir` in the hierarchy waits with it. So the group is made *before* the warm-up write,
/// and [`Sandbox::prepare`](crate::Sandbox::prepare) takes it instead of making its own; the
/// shell's join then finds the lock already warm. Errors are ignored: without a spare group the
/// sandbox makes one as before.
///
/// Keep the returned guard for as long as a sandbox may be prepared: dropping it waits for the
/// thread and removes the spare group if no sandbox took it. Not done where the build gets a
/// PID namespace of its own instead of a cgroup (after the capability probe), nor on cgroup v2, where
/// [`Sandbox::prepare`](crate::Sandbox::prepare) may move kiln into a leaf group of its own.
pub fn warm_up_attach() -> WarmUp {
    set_spare(Spare::Making);
    let thread = std::thread::spawn(|| {
        // Where the build's processes are bounded inside its user namespace (network denied, the
        // default), no cgroup is joined (see `setup_pids`).
        if crate::sandbox::namespace_bound(&crate::probe()).is_some() {
            set_spare(Spare::Idle);
            return;
        }
        let dir = v1_pids_dir();
        let made = dir.as_deref().and_then(|d| PidsCgroup::make(CgroupVersion::V1, d, SPARE_MAX).ok());
        set_spare(made.map_or(Spare::Idle, Spare::Made));
        if let Some(dir) = dir {
            let _ = write_file(&dir.join("cgroup.procs"), "0");
        }
    });
    WarmUp { thread: Some(thread) }
}

/// Returned by [`warm_up_attach`]; on drop, waits for its thread and removes the group it made
/// if no sandbox took it.
#[must_use = "dropping the guard at once removes the group made ahead of time"]
pub struct WarmUp {
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for WarmUp {
    fn drop(&mut self) {
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        // An untaken group is removed by dropping it.
        drop(set_spare(Spare::Idle));
    }
}

/// Pids listed in a cgroup's `cgroup.procs`.
pub(crate) fn procs(dir: &Path) -> Vec<i32> {
    fs::read_to_string(dir.join("cgroup.procs"))
        .map(|t| t.lines().filter_map(|l| l.trim().parse().ok()).collect())
        .unwrap_or_default()
}

/// Make sure `pids` is enabled for the children of `parent` (cgroup v2). A non-root group that
/// has member processes cannot enable controllers for its children ("no internal processes",
/// EBUSY); when kiln is the only member of its own group, it first moves itself into the leaf
/// [`SUPERVISOR_LEAF`] (what container inits and systemd delegates do). Untested on this
/// project's CI hosts, which only have v1 `pids`.
fn enable_pids_v2(parent: &Path) -> io::Result<()> {
    let ctl = parent.join("cgroup.subtree_control");
    if fs::read_to_string(&ctl)?
        .split_whitespace()
        .any(|c| c == "pids")
    {
        return Ok(());
    }
    match write_file(&ctl, "+pids") {
        Err(e) if e.raw_os_error() == Some(libc::EBUSY) => {
            let me = getpid().as_raw();
            if procs(parent) != [me] {
                return Err(e);
            }
            let leaf = parent.join(SUPERVISOR_LEAF);
            match fs::create_dir(&leaf) {
                Err(e) if e.kind() != io::ErrorKind::AlreadyExists => return Err(e),
                _ => {}
            }
            write_file(&leaf.join("cgroup.procs"), &me.to_string())?;
            write_file(&ctl, "+pids")
        }
        other => other,
    }
}

fn write_file(path: &Path, data: &str) -> io::Result<()> {
    OpenOptions::new()
        .write(true)
        .open(path)?
        .write_all(data.as_bytes())
}

/// Kill the members of, and remove, every `kiln-<pid>-<n>` group under `parent` whose kiln
/// process is gone: what a kiln killed with SIGKILL left behind (its build's background
/// processes) is cleaned up by the next kiln that makes a group there. Returns the groups removed.
pub(crate) fn reap_stale(parent: &Path) -> usize {
    let Ok(entries) = fs::read_dir(parent) else { return 0 };
    let mut removed = 0;
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(|n| n.strip_prefix("kiln-")).and_then(|r| r.split('-').next()).and_then(|p| p.parse::<i32>().ok())
        else {
            continue;
        };
        let alive = pid > 0 && !matches!(kill(Pid::from_raw(pid), None), Err(nix::errno::Errno::ESRCH));
        if alive {
            continue;
        }
        let dir = entry.path();
        let deadline = Instant::now() + Duration::from_secs(2);
        while Instant::now() < deadline {
            let members = procs(&dir);
            if members.is_empty() {
                break;
            }
            for m in members {
                let _ = kill(Pid::from_raw(m), Signal::SIGKILL);
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        for _ in 0..50 {
            if fs::remove_dir(&dir).is_ok() {
                removed += 1;
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
    removed
}

/// A child cgroup created for one [`crate::Sandbox`], removed (after killing its members) on drop.
#[derive(Debug)]
pub(crate) struct PidsCgroup {
    dir: PathBuf,
    version: CgroupVersion,
    /// `cgroup.procs` opened for writing before any fork; the child writes "0" (= itself) to it.
    procs: File,
}

impl PidsCgroup {
    /// A group under `parent` with `pids.max = max`: the one [`warm_up_attach`] made ahead of
    /// time if it is there, else a new one.
    pub(crate) fn create(version: CgroupVersion, parent: &Path, max: u64) -> io::Result<Self> {
        match take_spare(version, parent) {
            // pids.max is a controller file: writing it does not wait for the warm-up write.
            Some(cg) => write_file(&cg.dir.join("pids.max"), &max.to_string()).map(|()| cg),
            None => Self::make(version, parent, max),
        }
    }

    /// Create `kiln-<pid>-<n>` under `parent` with `pids.max = max`.
    fn make(version: CgroupVersion, parent: &Path, max: u64) -> io::Result<Self> {
        if version == CgroupVersion::V2 {
            enable_pids_v2(parent)?;
        }
        reap_stale(parent);
        let name = format!("kiln-{}-{}", getpid(), SEQ.fetch_add(1, Ordering::Relaxed));
        let dir = parent.join(name);
        fs::create_dir(&dir)?;
        let setup = || -> io::Result<File> {
            write_file(&dir.join("pids.max"), &max.to_string())?;
            OpenOptions::new()
                .write(true)
                .open(dir.join("cgroup.procs"))
        };
        match setup() {
            Ok(procs) => {
                registry_edit(|r| r.push(dir.clone()));
                Ok(PidsCgroup {
                    dir,
                    version,
                    procs,
                })
            }
            Err(e) => {
                let _ = fs::remove_dir(&dir);
                Err(e)
            }
        }
    }

    /// The cgroup directory.
    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    /// Which hierarchy the group lives in.
    pub(crate) fn version(&self) -> CgroupVersion {
        self.version
    }

    /// The `cgroup.procs` file, opened for writing.
    pub(crate) fn procs_fd(&self) -> BorrowedFd<'_> {
        self.procs.as_fd()
    }

    /// SIGKILL every member; wait (bounded) until the group is empty. Returns how many
    /// members were signalled.
    pub(crate) fn kill_all(&self) -> usize {
        let deadline = Instant::now() + Duration::from_secs(2);
        let mut signalled = 0;
        let kill_file = self.dir.join("cgroup.kill");
        if self.version == CgroupVersion::V2 && kill_file.exists() {
            signalled = procs(&self.dir).len();
            let _ = write_file(&kill_file, "1");
        }
        let mut pause = crate::reap::Backoff::new();
        loop {
            let members = procs(&self.dir);
            if members.is_empty() || Instant::now() > deadline {
                return signalled;
            }
            for pid in members {
                if pid > 0 && kill(Pid::from_raw(pid), Signal::SIGKILL).is_ok() {
                    signalled += 1;
                }
            }
            pause.wait();
        }
    }
}

impl Drop for PidsCgroup {
    fn drop(&mut self) {
        registry_edit(|r| r.retain(|d| d != &self.dir));
        self.kill_all();
        // Exited members may take a moment to leave the group; retry rmdir briefly.
        for _ in 0..100 {
            match fs::remove_dir(&self.dir) {
                Ok(()) => return,
                Err(e) if e.kind() == io::ErrorKind::NotFound => return,
                Err(_) => std::thread::sleep(Duration::from_millis(10)),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unescape_octal() {
        assert_eq!(unescape(r"/a\040b"), "/a b");
        assert_eq!(unescape("/plain"), "/plain");
        assert_eq!(unescape(r"/end\"), r"/end\");
    }

    #[test]
    fn join_strips_mount_root() {
        let m = Mount {
            root: "/docker/abc".into(),
            point: "/sys/fs/cgroup".into(),
            fstype: "cgroup2".into(),
            super_opts: String::new(),
        };
        assert_eq!(
            join_under(&m, "/docker/abc/x"),
            PathBuf::from("/sys/fs/cgroup/x")
        );
        let root = Mount {
            root: "/".into(),
            ..m
        };
        assert_eq!(join_under(&root, "/"), PathBuf::from("/sys/fs/cgroup"));
        assert_eq!(
            join_under(&root, "/a/b"),
            PathBuf::from("/sys/fs/cgroup/a/b")
        );
    }
}
