//! The build's shell session.
//!
//! Buildspec 0.2 promises "all build commands in the same instance of the default shell": `cd`,
//! variables, functions and shell options carry from command to command and phase to phase. kiln
//! starts one confined shell process per build that runs a small driver loop: it reads a request
//! from fd 3 and either runs the command that follows it on the same pipe (sourced from a
//! here-document on fd 5, with fds 3 and 4 closed, so neither the command nor anything it starts
//! can touch the control channel) or saves the session state, then reports the exit status on
//! fd 4. There is no command file: nothing kiln writes lives where the build can write.
//!
//! The state files are written by the build's shell, in a directory the build can write; kiln
//! only removes them (`unlink`, which never follows a link) and reads their tail through a
//! descriptor opened with `O_NOFOLLOW | O_NONBLOCK` after checking it is a regular file.
//!
//! The state file lets kiln restart the session where it was when a command ends the shell or is
//! killed, and lets helper processes read it (exported variables, artifact names). Saving costs
//! about a millisecond (bash writes its dump a line at a time), so it is not done after every
//! command but when it is needed: kiln asks for a save at the end of every phase (without waiting
//! for it: the reply is read before the next request) and before a helper reads the state, and
//! the shell's `EXIT` trap saves when a command ends the shell (`exit 1`, `set -e`, `exec`). A
//! session killed at a timeout restarts from the last save, so the timed-out phase's changes are
//! lost; a command that replaces the `EXIT` trap and exits loses the changes since the last save
//! the same way. The state is saved into two files in turn (`state.0`, `state.1`): each request
//! names the one that is not the last complete state (removed first, so an old complete file is
//! never mistaken for a new save), a save cut short is discarded and never destroys the state
//! before it, and no command costs a new file (creating files is slow on some filesystems). The
//! driver and the helper scripts are passed with `-c`, so the session writes no script files.
//!
//! For bash the state is every variable (`declare -p`), every function (`declare -f`), `set -o` and
//! `shopt` options and the working directory, written by builtins only (no forks). POSIX `sh`
//! (CodeBuild's default on Linux) cannot list unexported variables or functions, so there the
//! session runs with `set -a` (every assignment is exported) and the state is the exported
//! variables, the `set` flags and the directory. Version 0.1 runs every command in a fresh shell
//! with no carried state, as CodeBuild documents.

use std::ffi::OsString;
use std::io::{self, Write};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use kiln_spec::Version;
use tokio::io::{AsyncBufReadExt, BufReader};

/// Which shell runs the commands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ShellKind {
    Bash,
    Sh,
}

impl ShellKind {
    /// From `env.shell` (`None` = CodeBuild's Linux default, `/bin/sh`).
    pub fn from_spec(shell: Option<&str>) -> Result<ShellKind, String> {
        match shell {
            None | Some("/bin/sh" | "sh") => Ok(ShellKind::Sh),
            Some("bash") => Ok(ShellKind::Bash),
            Some(other) => Err(format!("the shell `{other}` is for Windows images; kiln runs Linux builds with `bash` or `/bin/sh`")),
        }
    }

    /// The program to run.
    pub fn program(self) -> &'static str {
        match self {
            ShellKind::Bash => "bash",
            ShellKind::Sh => "/bin/sh",
        }
    }
}

const BASH_DRIVER: &str = r#"# kiln: the build's shell session (bash). Requests on fd 3, statuses on fd 4.
__kiln_dir=$1
__kiln_persist=$2
# Read-only variables (UID, BASHOPTS, …) in the saved state cannot be set again: quietly.
if [ "$__kiln_persist" = 1 ] && [ -n "$3" ] && [ -f "$3" ]; then . "$3" 2>/dev/null; fi
set --
__kiln_slot=0
__kiln_dump() {
  [ "$__kiln_persist" = 1 ] || return 0
  {
    builtin declare -p
    builtin declare -f
    builtin set +o
    builtin printf '{\n'; builtin shopt -p; builtin printf '} 2>/dev/null\n'
    builtin printf 'cd -- %q 2>/dev/null\n' "$PWD"
    builtin echo '# kiln-state-complete'
  } 2>/dev/null > "$__kiln_dir/state.$__kiln_slot"
}
trap '__kiln_dump' EXIT
while IFS=' ' read -r __kiln_verb __kiln_ok __kiln_next __kiln_n <&3; do
  __kiln_slot=$__kiln_next
  if [ "$__kiln_verb" = save ]; then __kiln_dump; builtin printf 'done 0\n' >&4; continue; fi
  __kiln_cmd=
  while [ "$__kiln_n" -gt 0 ]; do IFS= read -r __kiln_l <&3; __kiln_cmd+=$__kiln_l$'\n'; __kiln_n=$((__kiln_n - 1)); done
  export CODEBUILD_BUILD_SUCCEEDING=$__kiln_ok
  . /dev/fd/5 3<&- 4>&- </dev/null 5<<<"$__kiln_cmd"
  __kiln_rc=$?
  builtin printf 'done %s\n' "$__kiln_rc" >&4
done
"#;

const SH_DRIVER: &str = r#"# kiln: the build's shell session (POSIX sh). Requests on fd 3, statuses on fd 4.
__kiln_dir=$1
__kiln_persist=$2
# Read-only variables (UID, BASHOPTS, …) in the saved state cannot be set again: quietly.
if [ "$__kiln_persist" = 1 ] && [ -n "$3" ] && [ -f "$3" ]; then . "$3" 2>/dev/null; fi
set --
__kiln_slot=0
__kiln_dump() {
  [ "$__kiln_persist" = 1 ] || return 0
  set +a
  {
    __kiln_pwd=$PWD
    export __kiln_pwd
    export -p
    echo 'cd -- "$__kiln_pwd" 2>/dev/null; unset __kiln_pwd'
    case $- in *e*) echo 'set -e' ;; esac
    case $- in *u*) echo 'set -u' ;; esac
    case $- in *x*) echo 'set -x' ;; esac
    case $- in *f*) echo 'set -f' ;; esac
    echo '# kiln-state-complete'
  } 2>/dev/null > "$__kiln_dir/state.$__kiln_slot"
  set -a
}
trap '__kiln_dump' EXIT
[ "$__kiln_persist" = 1 ] && set -a
while IFS=' ' read -r __kiln_verb __kiln_ok __kiln_next __kiln_n <&3; do
  __kiln_slot=$__kiln_next
  if [ "$__kiln_verb" = save ]; then __kiln_dump; printf 'done 0\n' >&4; continue; fi
  # The command text is not exported (it would reach every process's environment).
  case $- in *a*) __kiln_a=1 ;; *) __kiln_a= ;; esac
  set +a
  __kiln_cmd=
  while [ "$__kiln_n" -gt 0 ]; do IFS= read -r __kiln_l <&3; __kiln_cmd="$__kiln_cmd$__kiln_l
"; __kiln_n=$((__kiln_n - 1)); done
  [ -n "$__kiln_a" ] && set -a
  export CODEBUILD_BUILD_SUCCEEDING="$__kiln_ok"
  . /dev/fd/5 3<&- 4>&- </dev/null 5<<__KILN_COMMAND__
$__kiln_cmd
__KILN_COMMAND__
  __kiln_rc=$?
  printf 'done %s\n' "$__kiln_rc" >&4
done
"#;

const QUERY: &str = r#"if [ -n "$1" ] && [ -f "$1" ]; then . "$1" >/dev/null 2>&1; fi
shift
for __kiln_n in "$@"; do
  eval "__kiln_set=\${$__kiln_n+1}"
  if [ "$__kiln_set" = 1 ]; then eval "printf '%s=%s\\000' \"\$__kiln_n\" \"\$$__kiln_n\""; fi
done
"#;

const EXPAND: &str = r#"if [ -n "$1" ] && [ -f "$1" ]; then . "$1" >/dev/null 2>&1; fi
shift
for __kiln_e in "$@"; do
  eval "__kiln_r=\"$__kiln_e\"" && printf '%s\000' "$__kiln_r"
done
"#;

/// The last line of a completely written state file.
const STATE_END: &[u8] = b"# kiln-state-complete\n";

/// What came back for one request to the driver.
enum Reply {
    /// `done <status>`.
    Done(i32),
    /// The shell ended with this status instead of replying.
    Ended(i32),
    /// The deadline passed; the shell was killed.
    TimedOut,
}

/// How a command ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    /// It finished with this status (a signal N is reported as 128+N, as shells do).
    Code(i32),
    /// The deadline passed; the session's processes were killed.
    TimedOut,
}

struct Running {
    child: tokio::process::Child,
    requests: std::fs::File,
    statuses: tokio::io::Lines<BufReader<tokio::net::unix::pipe::Receiver>>,
}

/// A build's shell session: where its state lives and the shell process that runs the commands.
pub struct ShellSession {
    kind: ShellKind,
    persistent: bool,
    dir: PathBuf,
    work_dir: PathBuf,
    env: Vec<(OsString, OsString)>,
    running: Option<Running>,
    /// Which of `state.0` / `state.1` holds the last complete state, if any.
    state: Option<u8>,
    /// The slot named by the last request to the running shell (its `EXIT` trap saves there).
    last_slot: Option<u8>,
    /// Commands ran in the running shell since its state was last saved.
    dirty: bool,
    /// A save was requested and its reply not yet read: the slot it writes.
    pending_save: Option<u8>,
}

/// Configures each shell process before it starts (the sandbox, stdout/stderr).
pub type Prepare<'a> = &'a mut dyn FnMut(&mut Command) -> io::Result<()>;

impl ShellSession {
    /// A session whose state is kept in `state_dir`, starting in `work_dir` with exactly `env`.
    pub fn new(kind: ShellKind, version: Version, state_dir: &Path, work_dir: &Path, env: Vec<(OsString, OsString)>) -> io::Result<Self> {
        std::fs::create_dir_all(state_dir)?;
        Ok(ShellSession {
            kind,
            persistent: version == Version::V0_2,
            dir: state_dir.to_path_buf(),
            work_dir: work_dir.to_path_buf(),
            env,
            running: None,
            state: None,
            last_slot: None,
            dirty: false,
            pending_save: None,
        })
    }

    pub fn kind(&self) -> ShellKind {
        self.kind
    }

    /// The file holding the last complete state (`""` when there is none yet).
    fn state_file(&self) -> OsString {
        self.state.map(|slot| self.dir.join(format!("state.{slot}")).into_os_string()).unwrap_or_default()
    }

    /// The shell running `script` (given with `-c`, `$0` the shell's name) with `first_arg`.
    fn base(&self, script: &str, first_arg: &std::ffi::OsStr) -> Command {
        let mut cmd = Command::new(self.kind.program());
        if self.kind == ShellKind::Bash {
            cmd.args(["--noprofile", "--norc"]);
        }
        cmd.arg("-c").arg(script).arg(self.kind.program()).arg(first_arg);
        cmd.env_clear().envs(self.env.iter().map(|(k, v)| (k, v))).current_dir(&self.work_dir);
        cmd.stdin(std::process::Stdio::null());
        cmd
    }

    /// Start the shell process now, if none runs, so that its start-up overlaps what kiln does
    /// before the first command (the first `run` would start it otherwise).
    pub fn prestart(&mut self, prepare: Prepare) -> io::Result<()> {
        if self.running.is_none() {
            self.start(prepare)?;
        }
        Ok(())
    }

    fn start(&mut self, prepare: Prepare) -> io::Result<()> {
        let (req_read, req_write) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(io::Error::from)?;
        let (st_read, st_write) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(io::Error::from)?;
        let driver = if self.kind == ShellKind::Bash { BASH_DRIVER } else { SH_DRIVER };
        let mut cmd = self.base(driver, self.dir.as_os_str());
        cmd.arg(if self.persistent { "1" } else { "0" }).arg(self.state_file());
        prepare(&mut cmd)?;
        let (r, w) = (req_read.as_raw_fd(), st_write.as_raw_fd());
        // SAFETY: only async-signal-safe calls (dup2, fcntl) between fork and exec.
        unsafe {
            std::os::unix::process::CommandExt::pre_exec(&mut cmd, move || install_fd(r, 3).and_then(|_| install_fd(w, 4)));
        }
        let child = tokio::process::Command::from(cmd).spawn()?;
        drop((req_read, st_write));
        let receiver = tokio::net::unix::pipe::Receiver::from_owned_fd(st_read)?;
        self.running = Some(Running { child, requests: std::fs::File::from(req_write), statuses: BufReader::new(receiver).lines() });
        Ok(())
    }

    /// Run `text` in the session, with `CODEBUILD_BUILD_SUCCEEDING` set from `succeeding`, until it
    /// ends or `deadline` passes. `prepare` configures the shell process if one has to be started.
    pub async fn run(&mut self, text: &str, succeeding: bool, deadline: Instant, prepare: Prepare<'_>) -> io::Result<Exit> {
        self.settle(deadline).await;
        self.prestart(prepare)?;
        let exit = match self.request("run", succeeding, Some(text), deadline).await {
            Reply::Done(code) => {
                self.dirty = true;
                Exit::Code(code)
            }
            Reply::Ended(code) => Exit::Code(code),
            Reply::TimedOut => Exit::TimedOut,
        };
        if !self.persistent {
            self.stop().await;
        }
        Ok(exit)
    }

    /// Send one request naming the slot that is not the last complete state, and wait for its
    /// reply. When the shell ends instead (or is killed at `deadline`), adopt what its `EXIT` trap
    /// saved, if it finished saving.
    async fn request(&mut self, verb: &str, succeeding: bool, text: Option<&str>, deadline: Instant) -> Reply {
        let slot = self.free_slot();
        self.last_slot = Some(slot);
        let Some(running) = self.running.as_mut() else { return Reply::Ended(1) };
        let sent = running.requests.write_all(&request_bytes(verb, succeeding, slot, text));
        let waited = match sent {
            Ok(()) => tokio::time::timeout_at(deadline.into(), running.statuses.next_line()).await,
            Err(_) => Ok(Ok(None)),
        };
        match waited {
            Ok(Ok(Some(line))) => Reply::Done(line.strip_prefix("done ").and_then(|c| c.trim().parse().ok()).unwrap_or(1)),
            // The shell ended (the command ran `exit`, or it died): its status is the command's.
            Ok(_) => {
                let status = match self.running.take() {
                    Some(mut r) => r.child.wait().await.map(wait_code).unwrap_or(1),
                    None => 1,
                };
                self.shell_gone();
                Reply::Ended(status)
            }
            Err(_) => {
                self.kill_group().await;
                self.shell_gone();
                Reply::TimedOut
            }
        }
    }

    /// The slot the next save goes to: not the last complete state, and emptied first.
    fn free_slot(&self) -> u8 {
        let slot = if self.state == Some(0) { 1 } else { 0 };
        let _ = std::fs::remove_file(self.dir.join(format!("state.{slot}")));
        slot
    }

    /// The shell process is gone: adopt what its `EXIT` trap saved, if complete.
    fn shell_gone(&mut self) {
        self.pending_save = None;
        self.dirty = false;
        if let Some(slot) = self.last_slot.take() {
            self.commit_state(slot);
        }
    }

    /// Ask the running shell to save its state if commands changed it, without waiting for the
    /// save to finish (the next request, [`ShellSession::sync_state`] or the end reads the reply).
    pub fn save(&mut self) {
        if !self.persistent || !self.dirty || self.pending_save.is_some() {
            return;
        }
        let slot = self.free_slot();
        let Some(running) = self.running.as_mut() else { return };
        if running.requests.write_all(&request_bytes("save", true, slot, None)).is_ok() {
            self.last_slot = Some(slot);
            self.pending_save = Some(slot);
        }
    }

    /// Wait (until `deadline`) for a save asked for by [`ShellSession::save`] and adopt it.
    async fn settle(&mut self, deadline: Instant) {
        let Some(slot) = self.pending_save.take() else { return };
        let Some(running) = self.running.as_mut() else { return };
        match tokio::time::timeout_at(deadline.into(), running.statuses.next_line()).await {
            Ok(Ok(Some(_))) => {
                self.commit_state(slot);
                self.dirty = false;
            }
            Ok(_) => {
                if let Some(mut r) = self.running.take() {
                    let _ = r.child.wait().await;
                }
                self.shell_gone();
            }
            Err(_) => {
                self.kill_group().await;
                self.shell_gone();
            }
        }
    }

    /// Kill the shell and its process group (a deadline passed).
    async fn kill_group(&mut self) {
        if let Some(mut r) = self.running.take() {
            if let Some(pid) = r.child.id() {
                kiln_sandbox::kill_process_group(pid as i32);
            }
            let _ = r.child.kill().await;
        }
    }

    /// Make the state file current (save and wait), before a helper reads it.
    pub async fn sync_state(&mut self, deadline: Instant) {
        self.save();
        self.settle(deadline).await;
    }

    /// End the shell process (at the end of the build); what its `EXIT` trap saves is adopted.
    pub async fn stop(&mut self) {
        if let Some(mut r) = self.running.take() {
            drop(r.requests);
            let _ = tokio::time::timeout(std::time::Duration::from_secs(5), r.child.wait()).await;
            let _ = r.child.kill().await;
            self.shell_gone();
        }
    }

    /// The shell process's pid, while one runs (the PID namespace's keeper when there is one).
    pub fn pid(&self) -> Option<i32> {
        self.running.as_ref().and_then(|r| r.child.id()).map(|p| p as i32)
    }

    /// End the shell process at once (at the end of the build: whatever it left running is killed
    /// by the caller's sweep). Changes since the last save are not kept.
    pub async fn kill(&mut self) {
        self.kill_group().await;
        self.pending_save = None;
        self.dirty = false;
    }

    /// Adopt the state the shell saved into `slot`. A state file cut short (the shell was killed
    /// while saving) is ignored and the previous state stays.
    fn commit_state(&mut self, slot: u8) {
        if self.persistent && state_complete(&self.dir.join(format!("state.{slot}"))) {
            self.state = Some(slot);
        }
    }

    /// A process that prints `NAME=value\0` for each of `names` set in the session's saved state
    /// (call [`ShellSession::sync_state`] first).
    pub fn query_command(&self, names: &[String]) -> Command {
        self.helper(QUERY, names)
    }

    /// A process that expands each of `words` as a double-quoted shell word (variables and `$(…)`)
    /// in the session's saved state (call [`ShellSession::sync_state`] first), printing each result
    /// followed by `\0`.
    pub fn expand_command(&self, words: &[String]) -> Command {
        self.helper(EXPAND, words)
    }

    fn helper(&self, script: &str, args: &[String]) -> Command {
        let mut cmd = self.base(script, &self.state_file());
        cmd.args(args);
        cmd
    }
}

/// One request line, `<verb> <succeeding> <slot> <lines>`, followed by the command's lines (a
/// final newline is added when missing, so the shell reads exactly `<lines>` lines).
fn request_bytes(verb: &str, succeeding: bool, slot: u8, text: Option<&str>) -> Vec<u8> {
    let text = text.unwrap_or("");
    let lines = text.split_terminator('\n').count().max(usize::from(!text.is_empty()));
    let mut out = format!("{verb} {} {slot} {lines}\n", u8::from(succeeding)).into_bytes();
    out.extend_from_slice(text.as_bytes());
    if !text.is_empty() && !text.ends_with('\n') {
        out.push(b'\n');
    }
    out
}

/// Whether the state file at `path` ends with [`STATE_END`] (reads only its tail). The build
/// can write the directory: a link is not followed, a FIFO or device is not read.
fn state_complete(path: &Path) -> bool {
    use std::io::{Read, Seek, SeekFrom};
    use std::os::unix::fs::OpenOptionsExt;
    let opened = std::fs::OpenOptions::new().read(true).custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC).open(path);
    let Ok(mut f) = opened else { return false };
    if !f.metadata().is_ok_and(|m| m.is_file()) {
        return false;
    }
    let mut tail = [0u8; STATE_END.len()];
    f.seek(SeekFrom::End(-(STATE_END.len() as i64))).is_ok() && f.read_exact(&mut tail).is_ok() && tail == STATE_END
}

/// Make `fd` available as `target` in the child, without close-on-exec.
fn install_fd(fd: i32, target: i32) -> io::Result<()> {
    // SAFETY: plain syscalls on descriptors this process owns.
    unsafe {
        if fd == target {
            if libc::fcntl(fd, libc::F_SETFD, 0) < 0 {
                return Err(io::Error::last_os_error());
            }
        } else if libc::dup2(fd, target) < 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

fn wait_code(status: std::process::ExitStatus) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    status.code().unwrap_or_else(|| 128 + status.signal().unwrap_or(0))
}

/// Split `NAME=value\0…` output of [`ShellSession::query_command`].
pub fn parse_query_output(out: &[u8]) -> Vec<(String, String)> {
    out.split(|b| *b == 0)
        .filter(|r| !r.is_empty())
        .filter_map(|r| {
            let s = String::from_utf8_lossy(r);
            s.split_once('=').map(|(k, v)| (k.to_string(), v.to_string()))
        })
        .collect()
}

#[cfg(test)]
#[path = "shell_tests.rs"]
mod tests;
