//! Issue 11, items 11 and 12: every file a user points kiln at is read only if it is a regular
//! file and only up to a limit for its kind. `/dev/zero` as a key or as provenance, a FIFO as a
//! key, a secrets file or a `uses:` plugin, and an oversized buildspec are refused at once, with
//! an error that names the file and says what is wrong, instead of exhausting memory or hanging
//! past `--timeout`.
//!
//! Each kiln run here is bounded by the test itself (killed after [`LIMIT`]), so these tests end
//! on a kiln that hangs; the `/dev/zero` runs also get an address-space limit, so a kiln that reads
//! without bound aborts instead of taking the machine's memory.

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::Project;

/// How long any kiln run here may take before the test kills it.
const LIMIT: Duration = Duration::from_secs(20);

/// The address-space limit (KiB, for `ulimit -v`) of the runs that read `/dev/zero`.
const AS_LIMIT_KIB: u64 = 2 * 1024 * 1024;

/// A finished (or killed) kiln run.
struct Run {
    /// `None` when it was killed (by the test's time limit, or a signal such as SIGABRT).
    code: Option<i32>,
    stdout: String,
    stderr: String,
    elapsed: Duration,
}

impl Run {
    fn describe(&self) -> String {
        format!("exit {:?} after {:.1} s\n--- stdout\n{}\n--- stderr\n{}", self.code, self.elapsed.as_secs_f64(), self.stdout, self.stderr)
    }

    /// kiln ended by itself, with exit code `code`, well within the time limit.
    fn assert_exit(&self, code: i32) {
        assert!(self.elapsed < LIMIT, "kiln did not finish within {LIMIT:?} (killed): {}", self.describe());
        assert_eq!(self.code, Some(code), "{}", self.describe());
    }

    /// stderr mentions every one of `parts`.
    fn assert_stderr(&self, parts: &[&str]) {
        for p in parts {
            assert!(self.stderr.contains(p), "stderr does not say {p:?}: {}", self.describe());
        }
    }
}

fn run(mut cmd: assert_cmd::Command) -> Run {
    cmd.timeout(LIMIT);
    let started = Instant::now();
    let out = cmd.output().expect("start kiln");
    Run {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        elapsed: started.elapsed(),
    }
}

/// `kiln ARGS` in `p`'s isolated environment.
fn kiln(p: &Project, args: &[&str]) -> Run {
    let mut cmd = p.kiln();
    cmd.args(args);
    run(cmd)
}

/// `kiln ARGS` under `ulimit -v` [`AS_LIMIT_KIB`], in `dir`.
fn kiln_memory_bounded(dir: &Path, args: &[&str]) -> Run {
    let bin = assert_cmd::cargo::cargo_bin("kiln");
    let mut cmd = assert_cmd::Command::new("sh");
    cmd.arg("-c").arg(format!("ulimit -v {AS_LIMIT_KIB} && exec \"$0\" \"$@\"")).arg(bin).args(args).current_dir(dir).env("HOME", dir).env("NO_COLOR", "1");
    run(cmd)
}

fn mkfifo(path: &Path) {
    let ok = std::process::Command::new("mkfifo").arg(path).status().expect("run mkfifo").success();
    assert!(ok, "mkfifo {}", path.display());
}

/// A fresh cosign key pair in `dir`: `(cosign.key, cosign.pub)`.
fn key_pair(dir: &Path) -> (PathBuf, PathBuf) {
    assert_cmd::Command::cargo_bin("kiln").unwrap().current_dir(dir).env("COSIGN_PASSWORD", "pw").arg("generate-key-pair").assert().success();
    (dir.join("cosign.key"), dir.join("cosign.pub"))
}

fn s(p: &Path) -> &str {
    p.to_str().expect("UTF-8 path")
}

#[test]
fn verify_refuses_dev_zero_as_the_key() {
    let d = tempfile::tempdir().unwrap();
    let prov = d.path().join("provenance.intoto.jsonl");
    std::fs::write(&prov, "{}\n").unwrap();
    let r = kiln_memory_bounded(d.path(), &["verify", "--key", "/dev/zero", "--provenance", s(&prov)]);
    r.assert_exit(2);
    r.assert_stderr(&["the public key /dev/zero", "a character device, not a regular file"]);
}

#[test]
fn verify_refuses_dev_zero_as_the_provenance() {
    let d = tempfile::tempdir().unwrap();
    let (_, public) = key_pair(d.path());
    let r = kiln_memory_bounded(d.path(), &["verify", "--key", s(&public), "--provenance", "/dev/zero"]);
    r.assert_exit(2);
    r.assert_stderr(&["the provenance /dev/zero", "a character device, not a regular file"]);
}

#[test]
fn verify_refuses_a_fifo_as_the_key_without_waiting_for_a_writer() {
    let p = Project::empty();
    let fifo = p.root().join("cosign.pub");
    mkfifo(&fifo);
    let prov = p.root().join("provenance.intoto.jsonl");
    std::fs::write(&prov, "{}\n").unwrap();
    let r = kiln(&p, &["verify", "--key", s(&fifo), "--provenance", s(&prov)]);
    r.assert_exit(2);
    r.assert_stderr(&[&format!("the public key {}", fifo.display()), "a FIFO (named pipe), not a regular file"]);
}

#[test]
fn build_refuses_a_fifo_as_the_signing_key() {
    let p = Project::new("version: 0.2\nphases:\n  build:\n    commands:\n      - echo hi\n");
    let fifo = p.side_dir("keys").join("cosign.key");
    mkfifo(&fifo);
    let r = kiln(&p, &["build", s(&p.src), "--key", s(&fifo)]);
    r.assert_exit(2);
    r.assert_stderr(&[&fifo.display().to_string(), "a FIFO (named pipe), not a regular file"]);
}

#[test]
fn build_refuses_a_fifo_as_the_secrets_file() {
    let p = Project::new("version: 0.2\nenv:\n  secrets-manager:\n    TOKEN: prod/token\nphases:\n  build:\n    commands:\n      - echo hi\n");
    let fifo = p.side_dir("secrets").join("secrets.yml");
    mkfifo(&fifo);
    let r = kiln(&p, &["build", s(&p.src), "--json", "--no-sandbox", "--secrets-file", s(&fifo), "--timeout", "0.1"]);
    r.assert_exit(1);
    let record: serde_json::Value = serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("no JSON record ({e}): {}", r.describe()));
    assert_eq!(record["buildStatus"], "FAILED", "{}", r.describe());
    r.assert_stderr(&[&format!("secrets file {} is a FIFO (named pipe), not a regular file", fifo.display())]);
}

const USES_FIFO: &str = "version: 0.2\nphases:\n  build:\n    commands:\n      - uses: ./plugin.wasm\n";

#[test]
fn validate_refuses_a_fifo_as_a_uses_plugin() {
    let p = Project::new(USES_FIFO);
    mkfifo(&p.src.join("plugin.wasm"));
    let spec = p.src.join("buildspec.yml");
    let r = kiln(&p, &["validate", s(&spec)]);
    r.assert_exit(2);
    r.assert_stderr(&["E0801", "`uses: ./plugin.wasm`", "a FIFO (named pipe), not a regular file"]);
}

#[test]
fn build_refuses_a_fifo_as_a_uses_plugin_within_its_timeout() {
    let p = Project::new(USES_FIFO);
    mkfifo(&p.src.join("plugin.wasm"));
    // 0.1 minutes: 6 s, well under the test's own limit.
    let r = kiln(&p, &["build", s(&p.src), "--json", "--no-sandbox", "--timeout", "0.1"]);
    r.assert_exit(1);
    let record: serde_json::Value = serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("no JSON record ({e}): {}", r.describe()));
    assert_eq!(record["buildStatus"], "FAILED", "{}", r.describe());
    let message = record["kiln"]["plugins"][0]["message"].as_str().unwrap_or_default();
    assert!(message.contains("plugin.wasm") && message.contains("a FIFO (named pipe), not a regular file"), "{message}\n{}", r.describe());
    r.assert_stderr(&["./plugin.wasm", "a FIFO (named pipe), not a regular file"]);
}

#[test]
fn an_oversized_buildspec_is_refused_by_validate_and_build() {
    // Valid YAML: a small buildspec after 5 MiB of comments.
    let mut text = String::from("version: 0.2\nphases:\n  build:\n    commands:\n      - echo hi\n");
    let line = format!("# {}\n", "x".repeat(1022));
    while text.len() <= 5 << 20 {
        text.push_str(&line);
    }
    let p = Project::new(&text);
    let spec = p.src.join("buildspec.yml");
    let r = kiln(&p, &["validate", s(&spec)]);
    r.assert_exit(2);
    r.assert_stderr(&[&format!("the buildspec {}", spec.display()), &format!("it is {} bytes", text.len()), "4 MiB"]);
    let r = kiln(&p, &["build", s(&p.src), "--no-sandbox"]);
    r.assert_exit(2);
    r.assert_stderr(&[&format!("the buildspec {}", spec.display()), "4 MiB"]);
}

/// Found re-attacking after the review: a repository whose `buildspec.yml` (or `kiln.lock`, or a
/// `uses:` component) is a symbolic link to a host file made kiln read that file and print its
/// lines as diagnostics (`/etc/shadow` as "unknown key `root:*:…`"), into logs others may read.
/// A project's own files are read only from inside the project; a link inside it still works.
#[test]
fn project_files_linked_out_of_the_project_are_refused_without_echoing_them() {
    const CANARY: &str = "host-secret-line: CANARY-7c1f";
    let p = Project::empty();
    let side = p.side_dir("host");
    let host_file = side.join("shadow");
    std::fs::write(&host_file, format!("{CANARY}\nsecond: line\n")).unwrap();
    std::os::unix::fs::symlink(&host_file, p.src.join("buildspec.yml")).unwrap();
    let spec = p.src.join("buildspec.yml");
    for args in [vec!["build", s(&p.src), "--no-sandbox"], vec!["validate", s(&spec)]] {
        let r = kiln(&p, &args);
        r.assert_exit(2);
        assert!(!r.stdout.contains("CANARY") && !r.stderr.contains("CANARY"), "the host file was echoed: {}", r.describe());
        r.assert_stderr(&["outside the project directory"]);
    }
    // `kiln validate buildspec.yml` from inside the project, the way CI runs it.
    let mut cmd = p.kiln();
    cmd.current_dir(&p.src).args(["validate", "buildspec.yml"]);
    let r = run(cmd);
    r.assert_exit(2);
    assert!(!r.stderr.contains("CANARY"), "{}", r.describe());

    // A link that stays in the project is followed as before.
    std::fs::remove_file(&spec).unwrap();
    p.write("ci/buildspec.yml", "version: 0.2\nphases:\n  build:\n    commands: [echo linked-ok]\n");
    std::os::unix::fs::symlink("ci/buildspec.yml", &spec).unwrap();
    let r = kiln(&p, &["build", s(&p.src), "--no-sandbox"]);
    r.assert_exit(0);
    assert!(r.stdout.contains("linked-ok"), "{}", r.describe());

    // A `uses:` component and a kiln.lock linked out of the project: refused, not read.
    std::fs::remove_file(&spec).unwrap();
    p.write("buildspec.yml", "version: 0.2\nphases:\n  build:\n    commands:\n      - uses: ./plugin.wasm\n");
    std::os::unix::fs::symlink(&host_file, p.src.join("plugin.wasm")).unwrap();
    let r = kiln(&p, &["validate", s(&spec)]);
    r.assert_exit(2);
    assert!(!r.stderr.contains("CANARY"), "{}", r.describe());
    r.assert_stderr(&["`uses: ./plugin.wasm`", "outside the project directory"]);
    p.write("buildspec.yml", format!("version: 0.2\nphases:\n  build:\n    commands:\n      - uses: demo@sha256:{}\n", "a".repeat(64)));
    std::os::unix::fs::symlink(&host_file, p.src.join("kiln.lock")).unwrap();
    let r = kiln(&p, &["validate", s(&spec)]);
    r.assert_exit(2);
    assert!(!r.stderr.contains("CANARY"), "{}", r.describe());
    r.assert_stderr(&["kiln.lock", "outside the project directory"]);
}
