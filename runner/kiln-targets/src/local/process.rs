//! Running an instance's processes in kiln's sandbox: hook scripts (to their end, with a timeout
//! and their output line by line) and services (long-running, stopped with SIGTERM then SIGKILL).
//!
//! Every process gets kiln's sandbox (`kiln-sandbox`: user, mount, PID and IPC namespaces, the host
//! read-only with only the instance's `root` and `tmp` writable, the hidden credential paths,
//! seccomp, Landlock, a process bound) **except the network namespace**: the instance's processes
//! share kiln's network, as a process on a CodeDeploy instance shares its host's. The router
//! (in kiln, in the host's network namespace) reaches the service on `127.0.0.1:<port>`, and a
//! ValidateService script can `curl` it there. In a namespace of its own the service would
//! listen on a loopback the router cannot reach; see the crate docs for the trade-off.
//!
//! Environment: cleared, then only what the caller gives (CodeDeploy's hook variables, the
//! service's settings) plus `PATH` (kiln's own), `HOME` (the instance's `tmp`), `KILN_INSTANCE_ID`
//! and `KILN_INSTANCE_ROOT`.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use kiln_deploy::record::LifecycleErrorCode;
use kiln_deploy::target::{HookResult, Stream};
use kiln_sandbox::{Policy, Sandbox};
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::process::{Child, Command};

/// The longest line of output kept whole (longer ones are cut into pieces of this size).
pub const MAX_LINE: usize = 4096;

/// How an instance's processes are confined.
#[derive(Clone, Debug)]
pub struct Confinement {
    /// Directories the processes may write (the instance's `root` and `tmp`).
    pub writable: Vec<PathBuf>,
    /// Paths they may not read (signing keys, secrets, credentials).
    pub hidden: Vec<PathBuf>,
    pub max_processes: Option<u64>,
    /// `false` only with `--no-sandbox` (recorded by the caller).
    pub sandboxed: bool,
}

impl Confinement {
    /// The sandbox for one process, as `user` (uid, gid) when given (a root kiln's `runas`).
    pub fn sandbox(&self, user: Option<(u32, u32)>) -> Result<Sandbox, String> {
        if !self.sandboxed {
            return Ok(Sandbox::disabled());
        }
        let policy = Policy {
            writable: self.writable.clone(),
            hidden: self.hidden.clone(),
            allow_network: true,
            max_processes: Some(self.max_processes.unwrap_or(512)),
            run_as_users: user.into_iter().collect(),
            ..Policy::default()
        };
        Sandbox::prepare(&policy).map_err(|e| e.to_string())
    }
}

/// A command to run confined.
pub struct Spec<'a> {
    pub argv: &'a [String],
    pub cwd: &'a Path,
    pub env: &'a [(String, String)],
    pub user: Option<(u32, u32)>,
}

fn command(spec: &Spec<'_>, sandbox: &Sandbox) -> Command {
    let mut cmd = Command::new(&spec.argv[0]);
    cmd.args(&spec.argv[1..]).current_dir(spec.cwd).env_clear().stdin(Stdio::null()).kill_on_drop(true);
    if let Some(path) = std::env::var_os("PATH") {
        cmd.env("PATH", path);
    }
    for (k, v) in spec.env {
        cmd.env(k, v);
    }
    sandbox.apply_as(cmd.as_std_mut(), spec.user);
    cmd
}

/// Resolve a `runas` user name to (uid, gid).
pub fn lookup_user(name: &str) -> Result<(u32, u32), String> {
    match nix::unistd::User::from_name(name) {
        Ok(Some(u)) => Ok((u.uid.as_raw(), u.gid.as_raw())),
        Ok(None) => Err(format!("there is no user `{name}` on this machine")),
        Err(e) => Err(format!("looking up the user `{name}`: {e}")),
    }
}

/// Read `r` to its end, calling `each` for every line (without its newline), lines longer than
/// [`MAX_LINE`] cut into pieces; never holds more than one line.
async fn lines(mut r: impl AsyncRead + Unpin, stream: Stream, each: &(dyn Fn(Stream, &str) + Send + Sync)) {
    let mut buf = [0u8; 8192];
    let mut line: Vec<u8> = Vec::new();
    loop {
        let n = match r.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        for &b in &buf[..n] {
            if b == b'\n' {
                each(stream, &String::from_utf8_lossy(&line));
                line.clear();
            } else {
                line.push(b);
                if line.len() >= MAX_LINE {
                    each(stream, &String::from_utf8_lossy(&line));
                    line.clear();
                }
            }
        }
    }
    if !line.is_empty() {
        each(stream, &String::from_utf8_lossy(&line));
    }
}

/// Run a hook to its end. `label` is the script location or function name the agent's messages
/// name; `as_user` the `runas` user's name, for them.
pub async fn run_hook(spec: Spec<'_>, conf: &Confinement, timeout: Duration, label: &str, as_user: Option<&str>, output: kiln_deploy::target::OutputSink) -> HookResult {
    let sandbox = match conf.sandbox(spec.user) {
        Ok(s) => s,
        Err(e) => return HookResult { code: LifecycleErrorCode::UnknownError, message: format!("cannot confine {label}: {e}") },
    };
    let mut cmd = command(&spec, &sandbox);
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) if e.raw_os_error() == Some(libc::EACCES) => {
            return HookResult { code: LifecycleErrorCode::ScriptNotExecutable, message: format!("Script at specified location: {label} is not executable ({e})") };
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return HookResult { code: LifecycleErrorCode::ScriptMissing, message: format!("Script does not exist at specified location: {label} ({e})") };
        }
        Err(e) => return HookResult { code: LifecycleErrorCode::UnknownError, message: format!("Script at specified location: {label} could not be started: {e}") },
    };
    let pid = child.id().map_or(0, |p| p as i32);
    let (out, err) = (child.stdout.take(), child.stderr.take());
    let o1 = output.clone();
    let o2 = output.clone();
    let reading = async move {
        let a = async {
            if let Some(o) = out {
                lines(o, Stream::Stdout, &*o1).await
            }
        };
        let b = async {
            if let Some(e) = err {
                lines(e, Stream::Stderr, &*o2).await
            }
        };
        tokio::join!(a, b);
    };
    // One deadline for the exit and the closing of stdout/stderr, as the agent has.
    let finished = tokio::time::timeout(timeout, async {
        reading.await;
        child.wait().await
    })
    .await;
    let who = as_user.map(|u| format!(" run as user {u}")).unwrap_or_default();
    match finished {
        Err(_) => {
            kiln_sandbox::kill_process_group(pid);
            let _ = child.kill().await;
            HookResult::timed_out(label, timeout)
        }
        Ok(Err(e)) => HookResult { code: LifecycleErrorCode::UnknownError, message: format!("Script at specified location: {label}{who} could not be waited for: {e}") },
        Ok(Ok(status)) => {
            kiln_sandbox::kill_process_group(pid);
            match status.code() {
                Some(0) => HookResult::success(),
                Some(c) => HookResult { code: LifecycleErrorCode::ScriptFailed, message: format!("Script at specified location: {label}{who} failed with exit code {c}") },
                None => {
                    use std::os::unix::process::ExitStatusExt;
                    let sig = status.signal().unwrap_or(0);
                    HookResult { code: LifecycleErrorCode::ScriptFailed, message: format!("Script at specified location: {label}{who} was killed by signal {sig}") }
                }
            }
        }
    }
}

/// A service process (the sandbox's keeper; the service runs as PID 1 of its namespace behind a
/// small shell that passes SIGTERM on).
pub struct Service {
    child: Child,
    pid: i32,
}

/// Forwards SIGTERM to the service: PID 1 of a PID namespace only gets the signals it has a
/// handler for, and most services install none.
const WRAPPER: &str = r#"trap 'kill -TERM "$c" 2>/dev/null' TERM INT
"$@" &
c=$!
while :; do wait "$c"; s=$?; kill -0 "$c" 2>/dev/null || exit "$s"; done"#;

impl Service {
    /// Start the service; its stdout and stderr go to `log`.
    pub fn spawn(spec: Spec<'_>, conf: &Confinement, log: std::fs::File) -> Result<Service, String> {
        let sandbox = conf.sandbox(spec.user)?;
        let mut argv = vec!["/bin/sh".to_string(), "-c".into(), WRAPPER.into(), "kiln-service".into()];
        argv.extend(spec.argv.iter().cloned());
        let wrapped = Spec { argv: &argv, ..spec };
        let mut cmd = command(&wrapped, &sandbox);
        let err = log.try_clone().map_err(|e| e.to_string())?;
        cmd.stdout(Stdio::from(log)).stderr(Stdio::from(err));
        let child = cmd.spawn().map_err(|e| format!("cannot start `{}`: {e}", spec.argv.join(" ")))?;
        let pid = child.id().map_or(0, |p| p as i32);
        Ok(Service { child, pid })
    }

    /// Whether it has ended (and how).
    pub fn exited(&mut self) -> Option<String> {
        match self.child.try_wait() {
            Ok(Some(s)) => Some(s.to_string()),
            Ok(None) => None,
            Err(e) => Some(e.to_string()),
        }
    }

    /// SIGTERM to the service, then SIGKILL to everything after `grace`.
    pub async fn stop(mut self, grace: Duration) {
        // The keeper's child is the namespace's PID 1 (the wrapper shell).
        for pid1 in kiln_sandbox::children_of(self.pid) {
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid1), nix::sys::signal::Signal::SIGTERM);
        }
        if self.pid > 0 && kiln_sandbox::children_of(self.pid).is_empty() {
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(self.pid), nix::sys::signal::Signal::SIGTERM);
        }
        if tokio::time::timeout(grace, self.child.wait()).await.is_err() {
            kiln_sandbox::kill_process_group(self.pid);
            let _ = self.child.kill().await;
        }
        kiln_sandbox::kill_process_group(self.pid);
    }
}
