//! Helpers shared by the `kiln` integration tests: a throw-away project in a tempdir, running the
//! real `kiln` binary on it, and reading what the build left behind (the `--json` record, the
//! record on disk, the logs, the artifacts) plus process checks through /proc.
//!
//! Every test gets its own tempdir holding
//! * `app/`: the project source (so the CodeBuild project name is `app`),
//! * `home/`, `config/`: `HOME` and `XDG_CONFIG_HOME` for kiln, so a developer's real
//!   `~/.config/kiln/secrets.yml` never takes part in a test,
//! * `scratch/`: kiln's `TMPDIR`, where it puts the build's working copy and shell state, so a
//!   test can check that the scratch directory is removed and never sees another test's.
//!
//! kiln is started with the test process's environment minus every `KILN_PARAM_*`/`KILN_SECRET_*`
//! variable, plus `NO_COLOR=1`.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;

/// The longest any single `kiln build` may take in these tests before it is killed.
pub const KILN_LIMIT: Duration = Duration::from_secs(90);

/// A project in its own tempdir.
pub struct Project {
    pub tmp: tempfile::TempDir,
    /// The project source directory (`<tmp>/app`).
    pub src: PathBuf,
}

impl Project {
    /// A project whose `buildspec.yml` is `buildspec`.
    pub fn new(buildspec: &str) -> Project {
        let p = Project::empty();
        p.write("buildspec.yml", buildspec);
        p
    }

    /// A project directory with no files.
    pub fn empty() -> Project {
        let tmp = tempfile::Builder::new().prefix("kiln-it-").tempdir().expect("tempdir");
        let src = tmp.path().join("app");
        for d in ["app", "home", "config", "scratch"] {
            std::fs::create_dir_all(tmp.path().join(d)).expect("mkdir");
        }
        Project { tmp, src }
    }

    /// The tempdir holding the project and its side directories.
    pub fn root(&self) -> &Path {
        self.tmp.path()
    }

    /// kiln's `TMPDIR` (the parent of its scratch directories).
    pub fn scratch(&self) -> PathBuf {
        self.root().join("scratch")
    }

    /// What is left in kiln's TMPDIR after builds: every entry but the (empty) per-user
    /// `kiln-<uid>` directory that holds the builds' scratch directories.
    pub fn scratch_leftovers(&self) -> Vec<PathBuf> {
        let mut out = Vec::new();
        for e in std::fs::read_dir(self.scratch()).into_iter().flatten().flatten() {
            let path = e.path();
            let is_user_dir = e.file_name().to_string_lossy().starts_with("kiln-") && path.is_dir() && !path.is_symlink();
            if is_user_dir {
                out.extend(std::fs::read_dir(&path).into_iter().flatten().flatten().map(|e| e.path()));
            } else {
                out.push(path);
            }
        }
        out
    }

    /// A directory beside the project (created), outside anything kiln should let a build write.
    pub fn side_dir(&self, name: &str) -> PathBuf {
        let d = self.root().join(name);
        std::fs::create_dir_all(&d).expect("mkdir");
        d
    }

    /// Write `rel` (relative to the source dir), creating parent directories.
    pub fn write(&self, rel: &str, contents: impl AsRef<[u8]>) -> PathBuf {
        let path = self.src.join(rel);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(&path, contents).expect("write");
        path
    }

    /// `kiln` with the isolated environment described in the module docs.
    pub fn kiln(&self) -> assert_cmd::Command {
        let mut cmd = assert_cmd::Command::cargo_bin("kiln").expect("the kiln binary");
        for (k, _) in std::env::vars_os() {
            let k = k.to_string_lossy().into_owned();
            if k.starts_with("KILN_PARAM_") || k.starts_with("KILN_SECRET_") || k == "RUST_LOG" {
                cmd.env_remove(k);
            }
        }
        cmd.env("HOME", self.root().join("home"))
            .env("XDG_CONFIG_HOME", self.root().join("config"))
            .env("TMPDIR", self.scratch())
            .env("NO_COLOR", "1")
            .current_dir(self.root())
            .timeout(KILN_LIMIT);
        cmd
    }

    /// `kiln build <src> --json <args>`.
    pub fn build(&self, args: &[&str]) -> Build {
        self.build_with(args, |_| {})
    }

    /// Like [`Project::build`], letting `f` adjust the command (environment) first.
    pub fn build_with(&self, args: &[&str], f: impl FnOnce(&mut assert_cmd::Command)) -> Build {
        let mut cmd = self.kiln();
        cmd.arg("build").arg(&self.src).arg("--json").args(args);
        f(&mut cmd);
        let started = Instant::now();
        let out = cmd.output().expect("run kiln");
        let elapsed = started.elapsed();
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        let code = out.status.code().unwrap_or(-1);
        let record: Value = serde_json::from_str(&stdout).unwrap_or_else(|e| {
            panic!("kiln build did not print a JSON record ({e}); exit {code}\n--- stdout\n{stdout}\n--- stderr\n{stderr}")
        });
        Build { code, stdout, stderr, record, elapsed }
    }

    /// `kiln <args>` without any parsing (for usage errors, `validate`, non-JSON output).
    pub fn run(&self, args: &[&str]) -> Output {
        let mut cmd = self.kiln();
        cmd.args(args);
        let out = cmd.output().expect("run kiln");
        Output {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// The build record directories under `<src>/.kiln/builds/`.
    pub fn record_dirs(&self) -> Vec<PathBuf> {
        match std::fs::read_dir(self.src.join(".kiln/builds")) {
            Ok(rd) => rd.filter_map(|e| Some(e.ok()?.path())).collect(),
            Err(_) => Vec::new(),
        }
    }
}

/// A finished `kiln` run without a record.
pub struct Output {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// A finished `kiln build --json`.
pub struct Build {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    /// The record printed on stdout.
    pub record: Value,
    pub elapsed: Duration,
}

impl Build {
    /// `buildStatus`.
    pub fn status(&self) -> &str {
        self.record["buildStatus"].as_str().unwrap_or("<none>")
    }

    /// `(phaseType, phaseStatus)` of every phase record, in order.
    pub fn phases(&self) -> Vec<(String, Option<String>)> {
        self.record["phases"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|p| (p["phaseType"].as_str().unwrap_or("?").to_string(), p["phaseStatus"].as_str().map(str::to_string)))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The phase types, in order.
    pub fn phase_types(&self) -> Vec<String> {
        self.phases().into_iter().map(|(t, _)| t).collect()
    }

    /// The record of phase `ty`; panics if it occurs more than once.
    pub fn phase(&self, ty: &str) -> Option<&Value> {
        let all: Vec<&Value> = self.record["phases"].as_array()?.iter().filter(|p| p["phaseType"] == ty).collect();
        assert!(all.len() <= 1, "phase {ty} recorded {} times\n{}", all.len(), self.describe());
        all.first().copied()
    }

    /// `phaseStatus` of `ty`, `None` if the phase did not run (or has no status).
    pub fn phase_status(&self, ty: &str) -> Option<&str> {
        self.phase(ty).and_then(|p| p["phaseStatus"].as_str())
    }

    /// The first context message of phase `ty`.
    pub fn context(&self, ty: &str) -> Option<(String, String)> {
        let c = self.phase(ty)?["contexts"].as_array()?.first()?.clone();
        Some((c["statusCode"].as_str()?.to_string(), c["message"].as_str()?.to_string()))
    }

    /// `kiln.recordDir`.
    pub fn record_dir(&self) -> PathBuf {
        PathBuf::from(self.record["kiln"]["recordDir"].as_str().expect("kiln.recordDir"))
    }

    /// `build.json` as written on disk.
    pub fn disk_record(&self) -> Value {
        let text = std::fs::read_to_string(self.record_dir().join("build.json")).expect("read build.json");
        serde_json::from_str(&text).expect("build.json is JSON")
    }

    /// `logs/build.log` (every line, tagged with its phase).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.record_dir().join("logs/build.log")).unwrap_or_default()
    }

    /// `logs/<PHASE>.log`, empty if the phase wrote none.
    pub fn phase_log(&self, ty: &str) -> String {
        std::fs::read_to_string(self.record_dir().join(format!("logs/{ty}.log"))).unwrap_or_default()
    }

    /// Lines of the build log that are command output (not kiln's own `[kiln]` lines), without
    /// the `[PHASE] ` prefix, as `(phase, text)`.
    pub fn output_lines(&self) -> Vec<(String, String)> {
        self.log()
            .lines()
            .filter_map(|l| {
                let (phase, rest) = l.strip_prefix('[')?.split_once("] ")?;
                (!rest.starts_with("[kiln] ")).then(|| (phase.to_string(), rest.to_string()))
            })
            .collect()
    }

    /// Command output lines of phase `ty`.
    pub fn output_of(&self, ty: &str) -> Vec<String> {
        self.output_lines().into_iter().filter(|(p, _)| p == ty).map(|(_, l)| l).collect()
    }

    /// How many command output lines equal `line` exactly.
    pub fn count_output(&self, line: &str) -> usize {
        self.output_lines().iter().filter(|(_, l)| l == line).count()
    }

    /// The value of exported variable `name`, `None` if not in the record.
    pub fn exported(&self, name: &str) -> Option<String> {
        self.record["exportedEnvironmentVariables"]
            .as_array()?
            .iter()
            .find(|v| v["name"] == name)
            .and_then(|v| v["value"].as_str().map(str::to_string))
    }

    /// `<record dir>/artifacts`.
    pub fn artifacts_dir(&self) -> PathBuf {
        self.record_dir().join("artifacts")
    }

    /// A summary for assertion messages: exit code, status, phases, stderr and the log.
    pub fn describe(&self) -> String {
        let phases: Vec<String> = self
            .record["phases"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|p| {
                        format!(
                            "{}={}{}",
                            p["phaseType"].as_str().unwrap_or("?"),
                            p["phaseStatus"].as_str().unwrap_or("-"),
                            p["contexts"].as_array().and_then(|c| c.first()).map(|c| format!(" ({})", c["message"])).unwrap_or_default()
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        format!(
            "exit {} buildStatus {} in {:?}\nphases: {}\n--- stderr\n{}\n--- build.log\n{}",
            self.code,
            self.status(),
            self.elapsed,
            phases.join(", "),
            tail(&self.stderr, 4000),
            tail(&self.log(), 6000)
        )
    }
}

fn tail(s: &str, n: usize) -> &str {
    if s.len() <= n {
        return s;
    }
    let mut i = s.len() - n;
    while !s.is_char_boundary(i) {
        i += 1;
    }
    &s[i..]
}

/// Every regular file under `dir`, recursively (symlinks not followed).
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else { continue };
        for e in rd.flatten() {
            let Ok(ft) = e.file_type() else { continue };
            if ft.is_dir() {
                stack.push(e.path());
            } else if ft.is_file() {
                out.push(e.path());
            }
        }
    }
    out.sort();
    out
}

/// Paths (relative, `/`-separated, sorted) of the regular files under `dir`.
pub fn rel_files(dir: &Path) -> Vec<String> {
    files_under(dir)
        .iter()
        .map(|p| p.strip_prefix(dir).expect("under dir").to_string_lossy().into_owned())
        .collect()
}

/// A string no other test (or earlier run) uses, for marking files and processes.
pub fn unique(tag: &str) -> String {
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
    format!("{tag}{}x{}x{}", std::process::id(), SEQ.fetch_add(1, Ordering::Relaxed), nanos)
}

/// A duration argument for `sleep` that no other process on the machine has in its command line,
/// e.g. `300.4711000123`: `sleep` accepts it, and /proc shows it, so it marks the process.
pub fn sleep_marker(secs: u32) -> String {
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
    format!("{secs}.{:05}{:03}{:09}", std::process::id() % 100_000, SEQ.fetch_add(1, Ordering::Relaxed) % 1000, nanos)
}

/// Live processes (not zombies) whose command line contains `marker`, as `(pid, cmdline)`.
pub fn procs_with(marker: &str) -> Vec<(i32, String)> {
    let me = std::process::id() as i32;
    let mut out = Vec::new();
    let Ok(rd) = std::fs::read_dir("/proc") else { return out };
    for e in rd.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|n| n.parse::<i32>().ok()) else { continue };
        if pid == me {
            continue;
        }
        let Ok(raw) = std::fs::read(format!("/proc/{pid}/cmdline")) else { continue };
        let cmdline = String::from_utf8_lossy(&raw).replace('\0', " ");
        if !cmdline.contains(marker) {
            continue;
        }
        let state = std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .ok()
            .and_then(|s| s.rsplit_once(')').and_then(|(_, t)| t.split_whitespace().next().map(str::to_string)));
        if state.as_deref() != Some("Z") {
            out.push((pid, cmdline.trim().to_string()));
        }
    }
    out
}

/// Wait up to `limit` for every process carrying `marker` to be gone; returns the survivors.
pub fn survivors_after(marker: &str, limit: Duration) -> Vec<(i32, String)> {
    let deadline = Instant::now() + limit;
    loop {
        let left = procs_with(marker);
        if left.is_empty() || Instant::now() > deadline {
            return left;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// SIGKILL every process carrying `marker` (cleanup after a failed assertion).
pub fn kill_marked(marker: &str) {
    for (pid, _) in procs_with(marker) {
        kill9(pid);
    }
}

fn kill9(pid: i32) {
    let _ = std::process::Command::new("kill").arg("-9").arg(pid.to_string()).status();
}

/// Kills the processes carrying a marker when dropped, so a failing test leaves nothing behind.
pub struct KillOnDrop(pub String);
impl Drop for KillOnDrop {
    fn drop(&mut self) {
        kill_marked(&self.0);
    }
}

/// sha256 of `path` as printed by `sha256sum`.
pub fn sha256sum(path: &Path) -> String {
    let out = std::process::Command::new("sha256sum").arg(path).output().expect("sha256sum");
    assert!(out.status.success(), "sha256sum {}", path.display());
    String::from_utf8_lossy(&out.stdout).split_whitespace().next().expect("digest").to_string()
}

/// `kiln build` in the background with output to files in `logs`.
pub fn spawn_kiln(p: &Project, args: &[&str], logs: &Path) -> std::process::Child {
    spawn_kiln_in(p, args, logs, &p.scratch())
}

/// [`spawn_kiln`] with kiln's TMPDIR set to `tmpdir`.
pub fn spawn_kiln_in(p: &Project, args: &[&str], logs: &Path, tmpdir: &Path) -> std::process::Child {
    let mut cmd = std::process::Command::new(assert_cmd::cargo::cargo_bin("kiln"));
    cmd.arg("build").arg(&p.src).args(args);
    cmd.env("HOME", p.root().join("home")).env("XDG_CONFIG_HOME", p.root().join("config")).env("TMPDIR", tmpdir).env("NO_COLOR", "1");
    cmd.stdin(std::process::Stdio::null()).stdout(std::fs::File::create(logs.join("out")).unwrap()).stderr(std::fs::File::create(logs.join("err")).unwrap());
    cmd.spawn().expect("start kiln")
}

/// Poll `cond` every 50 ms for up to `limit`.
pub fn wait_for(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    cond()
}

