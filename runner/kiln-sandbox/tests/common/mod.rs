//! Helpers shared by the integration tests: run `bash -c` scripts through a sandbox with a
//! deadline, capture output through files, and clean up the process tree afterwards.
#![allow(dead_code)]

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use kiln_sandbox::{Capabilities, Policy, Sandbox, kill_process_group, probe};

/// Tests in one binary share the process (subreaper state, direct children that a sweep would
/// kill), so the ones that spawn processes run one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

pub fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|p| p.into_inner())
}

pub fn policy(writable: &[&Path], allow_network: bool, max_processes: Option<u64>) -> Policy {
    Policy {
        writable: writable.iter().map(|p| p.to_path_buf()).collect(),
        allow_network,
        max_processes,
        ..Policy::default()
    }
}

/// This host's capabilities without the PID namespace: for the tests of the cgroup and rlimit
/// bounds and of the orphan sweep, which the PID namespace would otherwise take over.
pub fn without_pidns() -> Capabilities {
    Capabilities { pid_namespaces: false, ..probe() }
}

/// This host's capabilities as the PID namespace bound sees them first (as for root: the
/// namespaced `RLIMIT_NPROC` an ordinary user gets first is left out).
pub fn pidns_first() -> Capabilities {
    Capabilities { userns_nproc_scoped: false, ..probe() }
}

/// A sandbox that bounds processes some other way than with a PID namespace.
pub fn prepare_without_pidns(policy: &Policy) -> Sandbox {
    Sandbox::prepare_with(&without_pidns(), policy).expect("prepare")
}

pub struct Out {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

/// A sandboxed `bash -c script` with stdout/stderr going to files in a private tempdir.
pub struct Running {
    pub child: Child,
    logs: tempfile::TempDir,
}

impl Running {
    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    fn log(&self, name: &str) -> String {
        std::fs::read_to_string(self.logs.path().join(name)).unwrap_or_default()
    }

    pub fn stdout(&self) -> String {
        self.log("out")
    }

    /// Wait up to `limit`; on timeout kill the group and panic.
    pub fn finish(mut self, limit: Duration) -> Out {
        let deadline = Instant::now() + limit;
        let status = loop {
            if let Some(s) = self.child.try_wait().expect("try_wait") {
                break s;
            }
            if Instant::now() > deadline {
                kill_process_group(self.pid());
                let _ = self.child.wait();
                panic!(
                    "script did not finish within {limit:?}; stderr: {}",
                    self.log("err")
                );
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        kill_process_group(self.pid());
        Out {
            status,
            stdout: self.log("out"),
            stderr: self.log("err"),
        }
    }

    /// Kill the group and wait; return what was written.
    pub fn kill(mut self) -> Out {
        kill_process_group(self.pid());
        let status = self.child.wait().expect("wait");
        Out {
            status,
            stdout: self.log("out"),
            stderr: self.log("err"),
        }
    }
}

pub fn spawn(sandbox: &Sandbox, script: &str, env: &[(&str, String)]) -> Running {
    let logs = tempfile::tempdir().expect("tempdir");
    let mut cmd = Command::new("/bin/bash");
    // The working directory must exist in the build's view: the test's own (e.g. a checkout
    // under /tmp) may be covered by the fresh /tmp.
    cmd.arg("-c").arg(script).stdin(Stdio::null()).current_dir("/");
    cmd.stdout(File::create(logs.path().join("out")).expect("out"));
    cmd.stderr(File::create(logs.path().join("err")).expect("err"));
    for (k, v) in env {
        cmd.env(k, v);
    }
    sandbox.apply(&mut cmd);
    let child = cmd.spawn().expect("spawn sandboxed bash");
    Running { child, logs }
}

/// Run a script to completion (10 s limit).
pub fn run(sandbox: &Sandbox, script: &str, env: &[(&str, String)]) -> Out {
    spawn(sandbox, script, env).finish(Duration::from_secs(10))
}

pub fn p(path: &Path) -> String {
    path.display().to_string()
}

/// A probe name that certainly does not exist yet under `dir`.
pub fn probe_name(dir: &str, tag: &str) -> PathBuf {
    PathBuf::from(format!(
        "{dir}/kiln-sandbox-test-{}-{tag}",
        std::process::id()
    ))
}

/// /proc/PID/stat state letter, or None once the pid is gone.
pub fn proc_state(pid: i32) -> Option<char> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    text.rsplit_once(')')?
        .1
        .split_whitespace()
        .next()?
        .chars()
        .next()
}

/// Field `n` after the state letter in /proc/PID/stat (0: ppid, 1: pgrp, 2: session).
fn proc_field(pid: i32, n: usize) -> Option<i32> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let mut fields = text.rsplit_once(')')?.1.split_whitespace();
    fields.nth(1 + n)?.parse().ok()
}

/// ppid from /proc/PID/stat.
pub fn proc_ppid(pid: i32) -> Option<i32> {
    proc_field(pid, 0)
}

/// Session id from /proc/PID/stat.
pub fn proc_sid(pid: i32) -> Option<i32> {
    proc_field(pid, 2)
}

/// Poll `cond` every 10 ms for up to `limit`.
pub fn eventually(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A `sleep` argument unique to this call (a number `sleep` accepts), to find the processes of a
/// build from the host by their command line: inside the build's PID namespace `$!` is not a
/// host PID.
pub fn marker(secs: u32) -> String {
    static SEQ: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    format!("{secs}.{:05}{:04}", std::process::id() % 100_000, SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed))
}

/// Host PIDs of live (not zombie) `sleep <marker>` processes.
pub fn procs_with(marker: &str) -> Vec<i32> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|n| n.parse::<i32>().ok()) else { continue };
        let Ok(raw) = std::fs::read(format!("/proc/{pid}/cmdline")) else { continue };
        if String::from_utf8_lossy(&raw).replace('\0', " ").trim_end() == format!("sleep {marker}") && proc_state(pid).is_some_and(|s| s != 'Z') {
            out.push(pid);
        }
    }
    out
}
