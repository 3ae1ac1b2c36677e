//! `file-scanner` plugins: the host walks and reads the source tree and feeds several instances
//! in parallel. What the walk feeds and skips on a hostile tree (links, loops, FIFOs, a 2 GiB
//! file, deep trees, non-UTF-8 names), that parallel and serial runs agree, that every limit
//! still holds with several instances, and the built-in `secrets-scan` on such a tree.

mod common;

use common::SECRET_VALUE;
use kiln_host::builtin::{self, test_components::TEST_HOSTILE_SCANNER};
use kiln_host::{
    Grants, LimitKind, LoadedPlugin, PluginError, PluginSource, Policy, StepInvocation, StepOutcome,
};
use serde_json::json;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::OnceLock;
use std::time::Duration;

fn scanner() -> &'static LoadedPlugin {
    static P: OnceLock<LoadedPlugin> = OnceLock::new();
    P.get_or_init(|| {
        common::host()
            .load(PluginSource::bytes(
                "test-hostile-scanner",
                TEST_HOSTILE_SCANNER,
            ))
            .expect("load the hostile scanner")
    })
}

/// A policy whose timeout is far beyond what any check here waits for: a limit under test is
/// hit long before it, however loaded the machine (a 3 s timeout let a slow `partial-flood`
/// end in Timeout instead of the output cap). The `loop` check sets its own short one.
fn policy(memory: u64) -> Policy {
    Policy {
        max_timeout: Duration::from_secs(120),
        max_memory: memory,
        ..Policy::default()
    }
}

fn invocation(
    plugin: &LoadedPlugin,
    src: &Path,
    out: &Path,
    config: serde_json::Value,
    policy: &Policy,
) -> StepInvocation {
    std::fs::create_dir_all(out).unwrap();
    let mut inv = StepInvocation::new(
        src,
        out,
        Grants::intersect(&plugin.manifest.capabilities, policy),
    );
    inv.config = config;
    inv
}

async fn scan(
    src: &Path,
    out: &Path,
    config: serde_json::Value,
    memory: u64,
) -> Result<StepOutcome, PluginError> {
    let p = scanner();
    p.run_step(&invocation(p, src, out, config, &policy(memory)))
        .await
}

/// A tree with everything a walk can trip over; returns the files the host should feed.
fn hostile_tree(root: &Path) -> Vec<String> {
    let w = |rel: &str, data: &[u8]| {
        let p = root.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, data).unwrap();
    };
    w("a.txt", b"hello");
    w("dir/b.txt", b"0123456789");
    w("dir/skipme/c.txt", b"excluded");
    w("bin.dat", b"\x7fELF\0\0\0binary");
    // A name that is not UTF-8.
    std::fs::write(
        root.join(std::ffi::OsStr::from_bytes(b"latin1-\xe9.txt")),
        b"caf\xe9",
    )
    .unwrap();
    // Links: out of the tree, a loop, a dangling one; and a FIFO that would block a reader.
    std::os::unix::fs::symlink("/etc/passwd", root.join("passwd-link")).unwrap();
    std::os::unix::fs::symlink(root, root.join("dir/loop")).unwrap();
    std::os::unix::fs::symlink("nowhere", root.join("dangling")).unwrap();
    nix_mkfifo(&root.join("fifo"));
    // 2 GiB, sparse: over any size limit, never read.
    std::fs::File::create(root.join("huge.bin"))
        .unwrap()
        .set_len(2 << 30)
        .unwrap();
    // 300 levels deep: the walk stops at its depth limit.
    let mut deep = root.join("deep");
    for _ in 0..300 {
        deep = deep.join("d");
    }
    std::fs::create_dir_all(&deep).unwrap();
    std::fs::write(deep.join("bottom.txt"), b"too deep").unwrap();
    vec![
        "a.txt=5".into(),
        "bin.dat=13".into(),
        "dir/b.txt=10".into(),
        "latin1-\u{fffd}.txt=4".into(),
    ]
}

fn nix_mkfifo(path: &Path) {
    let status = std::process::Command::new("mkfifo")
        .arg(path)
        .status()
        .unwrap();
    assert!(status.success());
}

fn summary_field(summary: &str, key: &str) -> u64 {
    summary
        .split_whitespace()
        .find_map(|kv| kv.strip_prefix(&format!("{key}=")))
        .unwrap_or_else(|| panic!("{key} missing in {summary}"))
        .parse()
        .unwrap()
}

#[tokio::test]
async fn the_walk_feeds_regular_files_once_in_order_and_counts_the_rest() {
    let t = tempfile::tempdir().unwrap();
    let (src, out) = (t.path().join("src"), t.path().join("out"));
    std::fs::create_dir_all(&src).unwrap();
    let expected = hostile_tree(&src);
    let o = scan(
        &src,
        &out,
        json!({"exclude": ["skipme"], "max-file-size": 1 << 20}),
        256 << 20,
    )
    .await
    .unwrap();
    let fed = std::fs::read_to_string(out.join("fed.txt")).unwrap();
    assert_eq!(fed.lines().collect::<Vec<_>>(), expected, "fed:\n{fed}");
    assert!(!o.summary.contains("ESCAPED"), "{}", o.summary);
    let s = &o.summary;
    assert_eq!(summary_field(s, "files"), 4);
    assert_eq!(summary_field(s, "bytes"), 32);
    assert_eq!(summary_field(s, "oversized"), 1, "{s}");
    assert_eq!(summary_field(s, "excluded"), 1, "{s}");
    assert_eq!(summary_field(s, "too-deep"), 1, "{s}");
    assert_eq!(
        summary_field(s, "not-regular"),
        4,
        "links and the FIFO: {s}"
    );
    let warnings: Vec<&str> = o.logs.iter().map(|l| l.message.as_str()).collect();
    assert!(
        warnings
            .iter()
            .any(|w| w.starts_with("huge.bin: 2147483648 bytes is over")),
        "{warnings:?}"
    );
    assert!(
        warnings
            .iter()
            .any(|w| w.contains("deeper than 256 levels")),
        "{warnings:?}"
    );
}

#[tokio::test]
async fn several_instances_feed_the_same_partials_as_one() {
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("src");
    for i in 0..300 {
        let p = src.join(format!("d{}/f{i:03}.txt", i % 7));
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, "x".repeat(i)).unwrap();
    }
    // 64 MiB allows one instance; 1 GiB one per core (at most four).
    let one = scan(&src, &t.path().join("one"), json!({}), 64 << 20)
        .await
        .unwrap();
    let many = scan(&src, &t.path().join("many"), json!({}), 1 << 30)
        .await
        .unwrap();
    let read = |d: &str| std::fs::read_to_string(t.path().join(d).join("fed.txt")).unwrap();
    assert_eq!(read("one"), read("many"));
    assert_eq!(read("one").lines().count(), 300);
    assert_eq!(one.summary, many.summary);
}

#[tokio::test]
async fn limits_hold_across_instances() {
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("src");
    std::fs::create_dir_all(&src).unwrap();
    for i in 0..64 {
        std::fs::write(src.join(format!("f{i}")), "data").unwrap();
    }
    let out = |n: &str| t.path().join(n);
    let p = scanner();
    let short = Policy {
        max_timeout: Duration::from_secs(3),
        ..policy(256 << 20)
    };
    let e = p
        .run_step(&invocation(p, &src, &out("loop"), json!({"attack": "loop"}), &short))
        .await
        .unwrap_err();
    assert!(
        matches!(
            e,
            PluginError::LimitExceeded {
                limit: LimitKind::Timeout { .. },
                ..
            }
        ),
        "{e}"
    );
    let e = scan(&src, &out("alloc"), json!({"attack": "alloc"}), 256 << 20)
        .await
        .unwrap_err();
    assert!(
        matches!(
            e,
            PluginError::LimitExceeded {
                limit: LimitKind::Memory { .. },
                ..
            }
        ),
        "{e}"
    );
    let e = scan(&src, &out("panic"), json!({"attack": "panic"}), 256 << 20)
        .await
        .unwrap_err();
    assert!(matches!(e, PluginError::Trap { .. }), "{e}");
    let e = scan(
        &src,
        &out("init"),
        json!({"attack": "init-fails"}),
        256 << 20,
    )
    .await
    .unwrap_err();
    assert!(matches!(e, PluginError::RejectedConfig { .. }), "{e}");
    let e = scan(&src, &out("glob"), json!({"exclude": ["a["]}), 256 << 20)
        .await
        .unwrap_err();
    assert!(e.to_string().contains("exclude pattern \"a[\""), "{e}");

    // Partial results count against the output cap.
    let p = scanner();
    let mut inv = invocation(
        p,
        &src,
        &out("flood"),
        json!({"attack": "partial-flood"}),
        &policy(256 << 20),
    );
    inv.limits.max_output_bytes = 64 << 20;
    let e = p.run_step(&inv).await.unwrap_err();
    assert!(
        matches!(
            e,
            PluginError::LimitExceeded {
                limit: LimitKind::OutputBytes { .. },
                ..
            }
        ),
        "{e}"
    );

    // Skip reasons are cut, and per-file warnings are capped.
    for i in 64..300 {
        std::fs::write(src.join(format!("f{i}")), "data").unwrap();
    }
    let o = scan(&src, &out("skip"), json!({"attack": "skip-all"}), 256 << 20)
        .await
        .unwrap();
    assert_eq!(summary_field(&o.summary, "skipped"), 300);
    assert_eq!(o.logs.len(), 201);
    assert!(o.logs.iter().all(|l| l.message.len() < 300));
    assert_eq!(o.logs[200].message, "100 more per-file warnings not shown");

    // The host still works afterwards.
    let o = scan(&src, &out("after"), json!({}), 256 << 20)
        .await
        .unwrap();
    assert_eq!(summary_field(&o.summary, "files"), 300);
}

#[tokio::test]
async fn without_read_source_a_file_scanner_does_not_run() {
    let t = tempfile::tempdir().unwrap();
    let p = scanner();
    let pol = Policy {
        read_source: false,
        ..policy(256 << 20)
    };
    let inv = invocation(p, t.path(), &t.path().join("out"), json!({}), &pol);
    let e = p.run_step(&inv).await.unwrap_err();
    assert!(
        e.to_string().contains("needs the read-source capability"),
        "{e}"
    );
}

#[tokio::test]
async fn secrets_scan_finds_the_secret_and_warns_about_the_rest() {
    let t = tempfile::tempdir().unwrap();
    let (src, out) = (t.path().join("src"), t.path().join("out"));
    std::fs::create_dir_all(&src).unwrap();
    hostile_tree(&src);
    let token = "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";
    // The secret sits in a file that is not valid UTF-8.
    std::fs::write(
        src.join("config.env"),
        [
            b"# caf\xe9\nGITHUB_TOKEN=".as_slice(),
            token.as_bytes(),
            b"\n",
        ]
        .concat(),
    )
    .unwrap();
    let plugin = common::host()
        .load(builtin::get("secrets-scan").unwrap())
        .unwrap();
    let inv = invocation(
        &plugin,
        &src,
        &out,
        json!({"max-file-size": 1 << 20}),
        &Policy::default(),
    );
    let o = plugin.run_step(&inv).await.unwrap();
    assert_eq!(o.findings.len(), 1, "{:?}", o.findings);
    let f = &o.findings[0];
    assert_eq!(f.rule_id, "github-pat");
    assert_eq!(f.location.as_ref().unwrap().path, "config.env");
    assert_eq!(f.location.as_ref().unwrap().start_line, 2);
    assert!(
        o.summary.contains("skipped 1 binary, 1 oversized"),
        "{}",
        o.summary
    );
    let sarif = std::fs::read_to_string(out.join("secrets.sarif")).unwrap();
    assert!(
        sarif.contains("config.env") && !sarif.contains(&token[8..]),
        "secret in the SARIF"
    );
    let logs: String = o.logs.iter().map(|l| format!("{}\n", l.message)).collect();
    assert!(logs.contains("bin.dat: binary file, skipped"), "{logs}");
    assert!(
        logs.contains("huge.bin: 2147483648 bytes is over"),
        "{logs}"
    );
    assert!(!logs.contains(SECRET_VALUE) && !logs.contains(&token[8..]));
}

#[tokio::test]
async fn sast_and_sbom_survive_the_hostile_tree_with_warnings() {
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("src");
    std::fs::create_dir_all(&src).unwrap();
    hostile_tree(&src);
    // Something for each to find, and lockfiles that are not what they claim to be.
    std::fs::write(src.join("app.py"), "import subprocess\n\ndef run(user):\n    subprocess.call(\"ping \" + user, shell=True)\n").unwrap();
    std::fs::write(src.join("package-lock.json"), "{\"lockfileVersion\": 3, \"packages\": {\"node_modules/a\": 7").unwrap();
    std::fs::write(src.join("Cargo.lock"), b"[[package]]\nname = \"x\xff\"\nversion = ").unwrap();
    std::fs::create_dir_all(src.join("ok")).unwrap();
    std::fs::write(src.join("ok/requirements.txt"), "requests==2.31.0\n").unwrap();
    for name in ["sast", "sbom-cyclonedx"] {
        let plugin = common::host().load(builtin::get(name).unwrap()).unwrap();
        let out = t.path().join(format!("out-{name}"));
        let inv = invocation(&plugin, &src, &out, json!({}), &Policy::default());
        let o = plugin
            .run_step(&inv)
            .await
            .unwrap_or_else(|e| panic!("{name} failed on the hostile tree: {e}"));
        let logs: String = o.logs.iter().map(|l| format!("{}\n", l.message)).collect();
        match name {
            "sast" => {
                assert!(o.findings.iter().any(|f| f.location.as_ref().unwrap().path == "app.py"), "{} {logs}", o.summary);
            }
            _ => {
                let sbom = std::fs::read_to_string(out.join("sbom.cdx.json")).unwrap();
                assert!(sbom.contains("pkg:pypi/requests@2.31.0"), "{sbom}");
                assert!(logs.contains("package-lock.json") && logs.contains("Cargo.lock"), "no warning for the malformed lockfiles: {logs}");
            }
        }
    }
}
