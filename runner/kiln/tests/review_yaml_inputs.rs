//! Issue 11, item 10 for every YAML file kiln reads from a user, not only the buildspec
//! (`review_validate.rs` has the buildspec's): a 1 MiB anchor referenced 6,000 times as the
//! `--secrets-file` of `kiln build`, and a 960 KiB one (the policy limit is 1 MiB) as the
//! `--policy` of `kiln verify`. Both took kiln to about 6 GB before anything said no; now the
//! bounded reader (`kiln-yaml`) refuses them at the alias that crosses the bound, with the file,
//! line and column, and what to do, in a fraction of a second.
//!
//! Each run is bounded by the test ([`LIMIT`], then killed) and by `ulimit -v` [`AS_LIMIT_KIB`],
//! so the old code's failure is an abort (`memory allocation of … failed`, SIGABRT), not a hang
//! or the machine's memory.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::Project;

/// How long any kiln run here may take before the test kills it.
const LIMIT: Duration = Duration::from_secs(20);

/// The address-space limit (KiB, for `ulimit -v`) of every run here: 2 GiB.
const AS_LIMIT_KIB: u64 = 2 * 1024 * 1024;

/// A secret-looking text of `len` bytes: what must never appear in kiln's output or record.
fn secret_value(len: usize) -> String {
    "hunter2-top-secret-".chars().cycle().take(len).collect()
}

/// `refs` aliases to `&a` in a flow list, the first at column 10 of line 4.
fn secrets_bomb(anchor_len: usize, refs: usize) -> String {
    let aliases = vec!["*a"; refs].join(", ");
    format!("parameters:\n  /big: &a \"{}\"\nsecrets:\n  many: [{aliases}]\n", secret_value(anchor_len))
}

const SPEC: &str = "version: 0.2\nenv:\n  parameter-store:\n    BIG: /big\n  secrets-manager:\n    MANY: many\nphases:\n  build:\n    commands:\n      - echo built\n";

struct Run {
    /// `None` when killed (the test's time limit, or a signal such as SIGABRT).
    code: Option<i32>,
    stdout: String,
    stderr: String,
    elapsed: Duration,
}

impl Run {
    fn describe(&self) -> String {
        let cut = |s: &str| s.chars().take(4000).collect::<String>();
        format!("exit {:?} after {:.1} s\n--- stdout\n{}\n--- stderr\n{}", self.code, self.elapsed.as_secs_f64(), cut(&self.stdout), cut(&self.stderr))
    }

    fn assert_exit(&self, code: i32) {
        assert!(self.elapsed < LIMIT, "kiln did not finish within {LIMIT:?} (killed): {}", self.describe());
        assert_eq!(self.code, Some(code), "{}", self.describe());
    }

    fn assert_stderr(&self, parts: &[&str]) {
        for p in parts {
            assert!(self.stderr.contains(p), "stderr does not say {p:?}: {}", self.describe());
        }
    }
}

/// `kiln ARGS` in `p`'s isolated environment (see `common`), under `ulimit -v` [`AS_LIMIT_KIB`]
/// and killed after [`LIMIT`].
fn kiln_bounded(p: &Project, args: &[&str]) -> Run {
    let bin = assert_cmd::cargo::cargo_bin("kiln");
    let mut cmd = assert_cmd::Command::new("sh");
    cmd.arg("-c").arg(format!("ulimit -v {AS_LIMIT_KIB} && exec \"$0\" \"$@\"")).arg(bin).args(args);
    for (k, _) in std::env::vars_os() {
        let k = k.to_string_lossy().into_owned();
        if k.starts_with("KILN_PARAM_") || k.starts_with("KILN_SECRET_") || k == "RUST_LOG" {
            cmd.env_remove(k);
        }
    }
    cmd.env("HOME", p.root().join("home"))
        .env("XDG_CONFIG_HOME", p.root().join("config"))
        .env("TMPDIR", p.scratch())
        .env("NO_COLOR", "1")
        .env("RUST_BACKTRACE", "0")
        .current_dir(p.root())
        .timeout(LIMIT);
    let started = Instant::now();
    let out = cmd.output().expect("start kiln");
    Run {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        elapsed: started.elapsed(),
    }
}

/// An owner-only secrets file beside the project.
fn write_secrets(p: &Project, text: &str) -> std::path::PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let path = p.side_dir("secrets").join("secrets.yml");
    std::fs::write(&path, text).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    path
}

fn s(p: &Path) -> &str {
    p.to_str().expect("UTF-8 path")
}

#[test]
fn build_refuses_a_secrets_file_whose_aliases_expand_past_the_bound() {
    let p = Project::new(SPEC);
    let text = secrets_bomb(1 << 20, 6000);
    assert!(text.len() < 1_100_000, "the file itself is about 1 MiB");
    let file = write_secrets(&p, &text);
    let r = kiln_bounded(&p, &["build", s(&p.src), "--json", "--no-sandbox", "--secrets-file", s(&file)]);
    r.assert_exit(1);
    assert!(r.elapsed < Duration::from_secs(10), "{}", r.describe());
    let record: serde_json::Value = serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("no JSON record ({e}): {}", r.describe()));
    assert_eq!(record["buildStatus"], "FAILED", "{}", r.describe());
    // file:line:column of an alias on line 4 (past the first ones: the bound is crossed later).
    let prefix = format!("{}:4:", file.display());
    let at = r.stderr.find(&prefix).unwrap_or_else(|| panic!("no {prefix}: {}", r.describe()));
    let column: usize = r.stderr[at + prefix.len()..].split(':').next().unwrap().parse().expect("a column");
    assert!(column > 10, "{}", r.describe());
    let line4 = text.lines().nth(3).unwrap();
    assert_eq!(&line4[column - 1..column + 1], "*a", "the column is an alias's: {}", r.describe());
    r.assert_stderr(&["MiB of text", "line 2, column 12", "reference the anchor fewer times"]);
    // Never a value: not on stderr, not in the record, not in anything kiln wrote.
    assert!(!r.stderr.contains("hunter2") && !r.stdout.contains("hunter2"), "{}", r.describe());
    for dir in p.record_dirs() {
        for f in common::files_under(&dir) {
            let bytes = std::fs::read(&f).unwrap();
            assert!(!String::from_utf8_lossy(&bytes).contains("hunter2"), "{} holds the value", f.display());
        }
    }
}

#[test]
fn build_still_reads_a_secrets_file_with_a_few_aliases() {
    let p = Project::new("version: 0.2\nenv:\n  parameter-store:\n    A: /a\n    B: /b\nphases:\n  build:\n    commands:\n      - echo \"a=$A b=$B\"\n");
    let file = write_secrets(&p, "parameters:\n  /a: &t tok-5e1f9a3c\n  /b: *t\n");
    let r = kiln_bounded(&p, &["build", s(&p.src), "--json", "--no-sandbox", "--secrets-file", s(&file)]);
    r.assert_exit(0);
    let record: serde_json::Value = serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("no JSON record ({e}): {}", r.describe()));
    assert_eq!(record["buildStatus"], "SUCCEEDED", "{}", r.describe());
    let log = common::files_under(&p.record_dirs()[0]).iter().filter(|f| f.extension().is_some_and(|e| e == "log")).map(|f| std::fs::read_to_string(f).unwrap()).collect::<String>();
    assert!(log.contains("a=*** b=***"), "both resolved (through the alias) and masked: {log}");
    assert!(!log.contains("tok-5e1f9a3c"), "{log}");
}

#[test]
fn verify_refuses_a_policy_whose_aliases_expand_past_the_bound() {
    let p = Project::empty();
    let keys = p.side_dir("keys");
    assert_cmd::Command::cargo_bin("kiln").unwrap().current_dir(&keys).env("COSIGN_PASSWORD", "pw").arg("generate-key-pair").assert().success();
    // The policy is read before the signature is checked: any envelope gets that far.
    let prov = p.root().join("provenance.intoto.jsonl");
    std::fs::write(&prov, "{\"payloadType\":\"application/vnd.in-toto+json\",\"payload\":\"e30=\",\"signatures\":[{\"keyid\":\"\",\"sig\":\"AAAA\"}]}\n").unwrap();
    // 960 KiB referenced 6,000 times: 5.6 GiB of text from a file under the 1 MiB policy limit.
    let big = "b".repeat(960 << 10);
    let aliases = vec!["*a"; 6000].join(", ");
    let policy = p.root().join("policy.yml");
    std::fs::write(&policy, format!("version: 1\nbuilders: [&a \"{big}\", {aliases}]\n")).unwrap();
    assert!(std::fs::metadata(&policy).unwrap().len() < 1 << 20);
    let r = kiln_bounded(&p, &["verify", "--key", s(&keys.join("cosign.pub")), "--provenance", s(&prov), "--policy", s(&policy)]);
    r.assert_exit(2);
    assert!(r.elapsed < Duration::from_secs(10), "{}", r.describe());
    r.assert_stderr(&[&format!("{}:2:", policy.display()), "MiB of text", "line 2, column 15", "reference the anchor fewer times"]);
    assert!(!r.stdout.contains("FAILED  signature"), "refused before any check ran: {}", r.describe());
}

#[test]
fn verify_still_reads_a_policy_with_aliases() {
    let p = Project::empty();
    let keys = p.side_dir("keys");
    assert_cmd::Command::cargo_bin("kiln").unwrap().current_dir(&keys).env("COSIGN_PASSWORD", "pw").arg("generate-key-pair").assert().success();
    let prov = p.root().join("provenance.intoto.jsonl");
    std::fs::write(&prov, "{\"payloadType\":\"application/vnd.in-toto+json\",\"payload\":\"e30=\",\"signatures\":[{\"keyid\":\"\",\"sig\":\"AAAA\"}]}\n").unwrap();
    let policy = p.root().join("policy.yml");
    std::fs::write(&policy, "version: 1\nbuilders: [&b https://kiln.dev/builders/local/v1, *b]\n").unwrap();
    let r = kiln_bounded(&p, &["verify", "--key", s(&keys.join("cosign.pub")), "--provenance", s(&prov), "--policy", s(&policy)]);
    // The policy is accepted; the (forged) envelope then fails its signature check.
    r.assert_exit(1);
    assert!(r.stdout.contains("FAILED  signature"), "{}", r.describe());
}
