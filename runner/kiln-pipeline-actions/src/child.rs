//! Running a kiln child process (`kiln build`, `kiln plugin run`) for an action: its stderr
//! forwarded line by line with the action's name in front, its stdout (the JSON record) kept up
//! to a bound, and the child killed when the action's future is dropped (a stop, a lost lease, a
//! timeout) or when this process dies (`PR_SET_PDEATHSIG`, so a `kill -9` of the pipeline kiln
//! takes the build with it, and the build's sandbox dies with the build).

use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};

/// Where progress lines go (the CLI prints them; tests may collect them).
pub type Log = Arc<dyn Fn(String) + Send + Sync>;

/// The most stdout kept (a build record with many reports stays far below).
const MAX_STDOUT: u64 = 64 * 1024 * 1024;

/// How a child ended.
pub struct Ended {
    /// The exit code (`None`: killed by a signal).
    pub code: Option<i32>,
    pub stdout: Vec<u8>,
    /// The last stderr lines (for a failure's message).
    pub tail: Vec<String>,
}

/// Run `exe args…` in `cwd`, forwarding stderr as `prefix line` to `log`.
pub async fn run(exe: &Path, args: &[String], cwd: &Path, env: &[(String, String)], prefix: &str, log: &Log) -> Result<Ended, String> {
    let mut cmd = tokio::process::Command::new(exe);
    cmd.args(args).current_dir(cwd).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).kill_on_drop(true);
    for (k, v) in env {
        cmd.env(k, v);
    }
    // SAFETY: prctl is async-signal-safe; nothing else runs between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong, 0, 0, 0) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = cmd.spawn().map_err(|e| format!("kiln could not start {}: {e}", exe.display()))?;
    let stdout = child.stdout.take();
    let stderr = child.stderr.take();
    let out = async move {
        let mut buf = Vec::new();
        if let Some(s) = stdout {
            let _ = s.take(MAX_STDOUT).read_to_end(&mut buf).await;
        }
        buf
    };
    let log = log.clone();
    let prefix = prefix.to_string();
    let err = async move {
        let mut tail: Vec<String> = Vec::new();
        if let Some(s) = stderr {
            let mut lines = BufReader::new(s).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                log(format!("{prefix} {line}"));
                tail.push(line);
                if tail.len() > 20 {
                    tail.remove(0);
                }
            }
        }
        tail
    };
    let (stdout, tail) = tokio::join!(out, err);
    let status = child.wait().await.map_err(|e| format!("waiting for {}: {e}", exe.display()))?;
    Ok(Ended { code: status.code(), stdout, tail })
}
