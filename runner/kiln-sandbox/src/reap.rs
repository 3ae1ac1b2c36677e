//! Tree-kill: subreaper, process-group kill and the orphan sweep.

use std::collections::HashSet;
use std::fs;
use std::io;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::sys::prctl;
use nix::sys::signal::{Signal, kill, killpg};
use nix::sys::wait::{WaitPidFlag, waitpid};
use nix::unistd::{Pid, getpid};

use crate::cgroup;

static SUBREAPER: OnceLock<Result<(), Errno>> = OnceLock::new();

/// Make this process a child subreaper (`PR_SET_CHILD_SUBREAPER`), once per process.
/// Orphaned descendants of build commands (double forks, `setsid cmd &`) then re-parent to us
/// instead of init, so [`sweep_orphans`] can find and kill them.
pub fn become_subreaper() -> io::Result<()> {
    SUBREAPER
        .get_or_init(|| prctl::set_child_subreaper(true))
        .map_err(|e| io::Error::from_raw_os_error(e as i32))
}

/// SIGKILL the whole process group `pgid` (a sandboxed command's pid, since it ran `setsid`).
/// `ESRCH` (already gone) is ignored, and so are `pgid <= 1`, which would mean "our own group"
/// or init.
pub fn kill_process_group(pgid: i32) {
    if pgid > 1 {
        let _ = killpg(Pid::from_raw(pgid), Signal::SIGKILL);
    }
}

/// The fields of /proc/PID/stat we use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ProcStat {
    pub pid: i32,
    pub state: char,
    pub ppid: i32,
    pub sid: i32,
}

/// Parse /proc/PID/stat text; `comm` may contain spaces and parentheses, so split after the
/// last ')'.
pub(crate) fn parse_stat(text: &str) -> Option<ProcStat> {
    let (head, tail) = text.rsplit_once(')')?;
    let pid = head.split_once(" (")?.0.trim().parse().ok()?;
    let mut f = tail.split_whitespace();
    let state = f.next()?.chars().next()?;
    let ppid = f.next()?.parse().ok()?;
    let _pgrp = f.next()?;
    let sid = f.next()?.parse().ok()?;
    Some(ProcStat {
        pid,
        state,
        ppid,
        sid,
    })
}

pub(crate) fn read_stat(pid: i32) -> Option<ProcStat> {
    parse_stat(&fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

/// This process's direct children, from `/proc/self/task/*/children` (one small read per
/// thread instead of a scan of every process on the machine); falls back to scanning `/proc`
/// when the kernel lacks that file (CONFIG_PROC_CHILDREN).
fn own_children() -> Vec<ProcStat> {
    let me = getpid().as_raw();
    let Ok(tasks) = fs::read_dir("/proc/self/task") else {
        return all_procs().into_iter().filter(|p| p.ppid == me).collect();
    };
    let mut pids = Vec::new();
    for task in tasks.flatten() {
        match fs::read_to_string(task.path().join("children")) {
            Ok(text) => pids.extend(text.split_whitespace().filter_map(|p| p.parse::<i32>().ok())),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return all_procs().into_iter().filter(|p| p.ppid == me).collect();
            }
            Err(_) => {}
        }
    }
    pids.sort_unstable();
    pids.dedup();
    pids.into_iter().filter_map(read_stat).filter(|p| p.ppid == me).collect()
}

/// The direct children of process `pid` (from `/proc/<pid>/task/*/children`; empty where the
/// kernel lacks that file or `pid` is gone).
pub fn children_of(pid: i32) -> Vec<i32> {
    let Ok(tasks) = fs::read_dir(format!("/proc/{pid}/task")) else { return Vec::new() };
    let mut pids: Vec<i32> = tasks
        .flatten()
        .filter_map(|t| fs::read_to_string(t.path().join("children")).ok())
        .flat_map(|text| text.split_whitespace().filter_map(|p| p.parse::<i32>().ok()).collect::<Vec<_>>())
        .collect();
    pids.sort_unstable();
    pids.dedup();
    pids
}

/// Every descendant of `pid` (children, their children, …), `pid` itself excluded; bounded to
/// 100,000 processes.
pub fn descendants_of(pid: i32) -> Vec<i32> {
    let mut found = Vec::new();
    let mut next = vec![pid];
    while let Some(p) = next.pop() {
        for c in children_of(p) {
            if found.len() >= 100_000 {
                return found;
            }
            found.push(c);
            next.push(c);
        }
    }
    found
}

/// Wait for `pid` if it is our child (a killed process that was re-parented to this subreaper);
/// returns at once otherwise.
pub fn reap(pid: i32) {
    while let Err(Errno::EINTR) = waitpid(Pid::from_raw(pid), None) {}
}

fn all_procs() -> Vec<ProcStat> {
    let Ok(dir) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter_map(read_stat)
        .collect()
}

/// Kill (SIGKILL) and reap what build commands left behind: every direct child of this process
/// whose pid is not in `keep` (the orphans re-parented to us as subreaper), and every process in
/// a live sandbox's pids cgroup. Returns how many processes were killed (already-dead zombies are
/// reaped but not counted).
///
/// `keep` lists the children still owned by the caller (e.g. tokio `Child`ren not yet waited
/// for). A process whose *session id* is in `keep` is spared too: it is still part of a running
/// sandboxed command (which is its session leader), so parallel steps survive a sweep. Never
/// calls `waitpid(-1)`: only the specific pids found in /proc with our pid as parent are reaped,
/// with a bounded wait (2 s). Do not run it concurrently with spawning a command that is not yet
/// in `keep`.
pub fn sweep_orphans(keep: &[i32]) -> usize {
    let me = getpid().as_raw();
    let reserved = RESERVED.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let spared = |p: &ProcStat| keep.contains(&p.pid) || keep.contains(&p.sid) || reserved.contains(&p.pid);
    let mut killed = HashSet::new();
    let hit = |p: &ProcStat, killed: &mut HashSet<i32>| {
        if p.pid > 1
            && p.pid != me
            && p.state != 'Z'
            && !spared(p)
            && kill(Pid::from_raw(p.pid), Signal::SIGKILL).is_ok()
        {
            killed.insert(p.pid);
        }
    };
    for p in &own_children() {
        hit(p, &mut killed);
    }
    for dir in cgroup::registered() {
        for p in cgroup::procs(&dir).into_iter().filter_map(read_stat) {
            hit(&p, &mut killed);
        }
    }
    // Reap our unspared children (now dead or dying), including cgroup members and deeper
    // orphans that get re-parented to us meanwhile (those are killed too when they show up),
    // and wait until everything we killed has exited.
    let deadline = Instant::now() + Duration::from_secs(2);
    let mut pause = Backoff::new();
    loop {
        let children = own_children();
        let pending: Vec<&ProcStat> = children.iter().filter(|p| !spared(p)).collect();
        let dying = killed
            .iter()
            .any(|&pid| read_stat(pid).is_some_and(|p| p.state != 'Z'));
        if pending.is_empty() && !dying {
            break;
        }
        for p in pending {
            hit(p, &mut killed);
            let _ = waitpid(Pid::from_raw(p.pid), Some(WaitPidFlag::WNOHANG));
        }
        if Instant::now() > deadline {
            break;
        }
        pause.wait();
    }
    killed.len()
}

/// Children of kiln's own making (the capability probe) that a side thread is waiting for:
/// [`sweep_orphans`] leaves them alone.
static RESERVED: Mutex<Vec<i32>> = Mutex::new(Vec::new());

/// Wait for `child` on a side thread, so the caller does not wait for its exit (the probe's
/// namespaces take milliseconds to tear down); [`sweep_orphans`] spares it meanwhile.
pub(crate) fn reap_in_background(child: Pid) {
    let pid = child.as_raw();
    RESERVED.lock().unwrap_or_else(|p| p.into_inner()).push(pid);
    let spawned = std::thread::Builder::new().name("kiln-probe-reap".into()).spawn(move || {
        while let Err(nix::errno::Errno::EINTR) = waitpid(child, None) {}
        RESERVED.lock().unwrap_or_else(|p| p.into_inner()).retain(|&p| p != pid);
    });
    if spawned.is_err() {
        while let Err(nix::errno::Errno::EINTR) = waitpid(child, None) {}
        RESERVED.lock().unwrap_or_else(|p| p.into_inner()).retain(|&p| p != pid);
    }
}

/// Sleeps between polls for processes to exit: 0.2 ms at first (a killed process is usually
/// gone within a millisecond), doubling up to 5 ms.
pub(crate) struct Backoff(Duration);

impl Backoff {
    pub(crate) fn new() -> Self {
        Backoff(Duration::from_micros(200))
    }

    pub(crate) fn wait(&mut self) {
        std::thread::sleep(self.0);
        self.0 = (self.0 * 2).min(Duration::from_millis(5));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_stat_with_odd_comm() {
        let s = "1234 (a) b (c)) S 1 1234 1230 0 -1 4194560 0 0";
        assert_eq!(
            parse_stat(s),
            Some(ProcStat {
                pid: 1234,
                state: 'S',
                ppid: 1,
                sid: 1230
            })
        );
        assert_eq!(parse_stat("garbage"), None);
    }

    #[test]
    fn finds_own_children_without_a_full_scan() {
        let mut child = std::process::Command::new("sleep").arg("5").spawn().unwrap();
        let pid = child.id() as i32;
        assert!(own_children().iter().any(|p| p.pid == pid));
        child.kill().unwrap();
        child.wait().unwrap();
        assert!(!own_children().iter().any(|p| p.pid == pid));
    }

    #[test]
    fn reads_own_stat() {
        let me = read_stat(std::process::id() as i32).unwrap();
        assert_eq!(me.pid, std::process::id() as i32);
        assert_eq!(me.ppid, nix::unistd::getppid().as_raw());
    }
}
