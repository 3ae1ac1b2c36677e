//! Hostile plugins: every attack is contained with a clear error or denial, and the host keeps
//! working for the next call.

mod common;

use common::*;
use kiln_host::{LimitKind, Limits, PluginError};
use serde_json::json;
use std::time::{Duration, Instant};

#[tokio::test]
async fn reading_outside_the_preopens_is_denied() {
    let d = dirs();
    for path in [
        "/src/../../../etc/passwd",
        "/etc/passwd",
        "../etc/passwd",
        "/proc/self/environ",
        "/src/../secret.txt",
        "/out/../secret.txt",
    ] {
        assert_blocked(attack(&d, "read", json!({ "path": path })).await, &d);
    }
    // The secret file's real host path means nothing inside the guest either (the summary
    // echoes the path it was given, so only check that nothing was read).
    let host_path = d.secret_file.to_string_lossy().into_owned();
    let o = attack(&d, "read", json!({ "path": host_path }))
        .await
        .unwrap();
    assert!(
        o.summary.starts_with("blocked") && !o.summary.contains("TOPSECRET"),
        "{}",
        o.summary
    );
    // And a normal read inside /src works (the control).
    let o = attack(&d, "read", json!({ "path": "/src/main.rs" }))
        .await
        .unwrap();
    assert!(
        o.summary.starts_with("ESCAPED: read"),
        "control read failed: {}",
        o.summary
    );
}

#[tokio::test]
async fn symlinks_planted_in_the_source_tree_do_not_escape() {
    let d = dirs();
    std::os::unix::fs::symlink(&d.secret_file, d.src.join("abs-link")).unwrap();
    std::os::unix::fs::symlink("../secret.txt", d.src.join("rel-link")).unwrap();
    std::os::unix::fs::symlink("/etc", d.src.join("etc-link")).unwrap();
    for path in ["/src/abs-link", "/src/rel-link", "/src/etc-link/passwd"] {
        assert_blocked(attack(&d, "read", json!({ "path": path })).await, &d);
    }
}

#[tokio::test]
async fn the_source_tree_is_read_only_and_root_is_empty() {
    let d = dirs();
    assert_blocked(attack(&d, "write-src", json!({})).await, &d);
    assert!(!d.src.join("pwned").exists());
    let o = attack(&d, "list-root", json!({})).await.unwrap();
    assert!(
        !o.summary.contains("etc") && !o.summary.contains("proc"),
        "{}",
        o.summary
    );
}

#[tokio::test]
async fn network_is_denied_even_when_requested() {
    let d = dirs();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    let inv = attack_invocation(&d, "tcp", json!({ "port": port }), &policy());
    assert!(
        inv.grants
            .denied()
            .iter()
            .any(|x| matches!(x, kiln_host::Denial::Network))
    );
    assert_blocked(hostile().run_step(&inv).await, &d);
    assert!(
        listener.accept().is_err(),
        "the guest reached the host's listener"
    );
    let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    udp.set_nonblocking(true).unwrap();
    let uport = udp.local_addr().unwrap().port();
    assert_blocked(attack(&d, "udp", json!({ "port": uport })).await, &d);
    assert!(udp.recv_from(&mut [0u8; 16]).is_err(), "a datagram arrived");
    assert_blocked(attack(&d, "dns", json!({})).await, &d);
}

#[tokio::test]
async fn the_environment_is_empty_unless_granted() {
    let d = dirs();
    let _ = host();
    assert_eq!(std::env::var(SECRET_VAR).as_deref(), Ok(SECRET_VALUE));
    let inv = attack_invocation(&d, "env", json!({}), &policy());
    assert!(
        inv.env.contains_key(SECRET_VAR),
        "the invocation carries the secret; only the grant filters it"
    );
    assert_blocked(hostile().run_step(&inv).await, &d);

    // Granting HOME passes exactly HOME, with the invocation's value.
    let mut p = policy();
    p.env.insert("HOME".into());
    let mut inv = attack_invocation(&d, "env-list", json!({}), &p);
    inv.env.insert("HOME".into(), "/home/builder".into());
    let o = hostile().run_step(&inv).await.unwrap();
    assert_eq!(o.summary, "env: HOME=/home/builder");
    assert!(inv.grants.explain().contains(&format!(
        "env {SECRET_VAR}: not in the build's allowed variables"
    )));
}

#[tokio::test]
async fn clocks_are_coarse_without_precise_clock() {
    let d = dirs();
    let o = attack(&d, "clock", json!({})).await.unwrap();
    assert!(o.summary.contains("wall_nanos_mod_1ms=0 "), "{}", o.summary);
    // Granted, the guest gets the host's full resolution (sub-millisecond digits appear).
    let p = kiln_host::Policy {
        precise_clock: true,
        ..policy()
    };
    let mut nonzero = false;
    for _ in 0..5 {
        let o = hostile()
            .run_step(&attack_invocation(&d, "clock", json!({}), &p))
            .await
            .unwrap();
        nonzero |= !o.summary.contains("wall_nanos_mod_1ms=0 ");
    }
    assert!(
        nonzero,
        "precise-clock granted but the wall clock still ticks in 1 ms steps"
    );
}

#[tokio::test]
async fn an_infinite_loop_hits_the_deadline() {
    let d = dirs();
    let mut inv = attack_invocation(&d, "loop", json!({}), &policy());
    inv.grants.timeout = Duration::from_millis(300);
    let t = Instant::now();
    let e = expect_err(hostile().run_step(&inv).await, &d);
    assert_eq!(e.limit(), Some(&LimitKind::Timeout { ms: 300 }), "{e}");
    assert!(
        t.elapsed() < Duration::from_secs(3),
        "took {:?}",
        t.elapsed()
    );
    assert!(
        e.to_string().contains("wall-clock deadline of 300 ms"),
        "{e}"
    );
}

#[tokio::test]
async fn sleeping_in_a_host_call_hits_the_deadline() {
    let d = dirs();
    let mut inv = attack_invocation(&d, "sleep", json!({}), &policy());
    inv.grants.timeout = Duration::from_millis(300);
    let t = Instant::now();
    let e = expect_err(hostile().run_step(&inv).await, &d);
    assert!(matches!(e.limit(), Some(LimitKind::Timeout { .. })), "{e}");
    assert!(
        t.elapsed() < Duration::from_secs(3),
        "took {:?}",
        t.elapsed()
    );
}

#[tokio::test]
async fn unbounded_allocation_hits_the_memory_cap() {
    let d = dirs();
    let mut inv = attack_invocation(&d, "alloc", json!({}), &policy());
    inv.grants.max_memory = 32 << 20;
    let e = expect_err(hostile().run_step(&inv).await, &d);
    assert_eq!(
        e.limit(),
        Some(&LimitKind::Memory { bytes: 32 << 20 }),
        "{e}"
    );
    assert!(e.to_string().contains("memory cap of 32 MiB"), "{e}");
}

#[tokio::test]
async fn deep_recursion_overflows_the_stack_cleanly() {
    let d = dirs();
    let e = expect_err(attack(&d, "recursion", json!({})).await, &d);
    assert_eq!(e.limit(), Some(&LimitKind::Stack), "{e}");
    // Big frames overflow the guest's shadow stack in linear memory first: a clean trap too.
    let e = expect_err(attack(&d, "recursion-big-frames", json!({})).await, &d);
    assert!(
        matches!(&e, PluginError::Trap { trap, .. } if trap.contains("out of bounds memory access")),
        "{e}"
    );
}

#[tokio::test]
async fn flooding_logs_hits_the_log_cap() {
    let d = dirs();
    let mut inv = attack_invocation(&d, "log-flood", json!({ "count": 1000 }), &policy());
    inv.limits.max_log_bytes = 64 << 10;
    let e = expect_err(hostile().run_step(&inv).await, &d);
    assert_eq!(
        e.limit(),
        Some(&LimitKind::LogBytes { bytes: 64 << 10 }),
        "{e}"
    );
}

#[tokio::test]
async fn flooding_stdout_is_truncated_not_fatal() {
    let d = dirs();
    let mut inv = attack_invocation(&d, "stdout-flood", json!({ "count": 1000 }), &policy());
    inv.limits.max_stdio_bytes = 16 << 10;
    let o = hostile().run_step(&inv).await.unwrap();
    assert!(o.stdio_truncated);
    assert_eq!(o.stdout.len(), 16 << 10);
}

#[tokio::test]
async fn flooding_findings_hits_the_findings_cap() {
    let d = dirs();
    let mut inv = attack_invocation(&d, "findings-flood", json!({ "count": 2000 }), &policy());
    inv.limits.max_findings = 1000;
    let e = expect_err(hostile().run_step(&inv).await, &d);
    assert_eq!(e.limit(), Some(&LimitKind::Findings { count: 1000 }), "{e}");
}

#[tokio::test]
async fn flooding_output_bytes_and_files_hits_the_output_caps() {
    let d = dirs();
    let mut inv = attack_invocation(&d, "output-flood", json!({ "count": 48 }), &policy());
    inv.limits.max_output_bytes = 4 << 20;
    let e = expect_err(hostile().run_step(&inv).await, &d);
    assert_eq!(
        e.limit(),
        Some(&LimitKind::OutputBytes { bytes: 4 << 20 }),
        "{e}"
    );

    let d = dirs();
    let mut inv = attack_invocation(&d, "files-flood", json!({ "count": 3000 }), &policy());
    inv.limits.max_output_files = 200;
    let e = expect_err(hostile().run_step(&inv).await, &d);
    assert_eq!(
        e.limit(),
        Some(&LimitKind::OutputFiles { count: 200 }),
        "{e}"
    );
}

#[tokio::test]
async fn malformed_results_are_refused() {
    let d = dirs();
    let e = expect_err(attack(&d, "escape-output", json!({})).await, &d);
    assert!(
        matches!(e, PluginError::MalformedResult { .. })
            && e.to_string().contains("\"../../etc/passwd\""),
        "{e}"
    );
    let e = expect_err(attack(&d, "escape-location", json!({})).await, &d);
    assert!(
        matches!(e, PluginError::MalformedResult { .. }) && e.to_string().contains("absolute"),
        "{e}"
    );
    let e = expect_err(attack(&d, "bad-utf8", json!({})).await, &d);
    assert!(matches!(e, PluginError::MalformedResult { .. }), "{e}");
}

#[tokio::test]
async fn panics_traps_and_exits_are_typed_errors() {
    let d = dirs();
    match expect_err(attack(&d, "panic", json!({})).await, &d) {
        PluginError::Trap { stderr_tail, .. } => {
            assert!(stderr_tail.contains("panicked on purpose"), "{stderr_tail}")
        }
        e => panic!("{e}"),
    }
    let e = expect_err(attack(&d, "trap", json!({})).await, &d);
    assert!(
        matches!(&e, PluginError::Trap { trap, .. } if trap.contains("unreachable")),
        "{e}"
    );
    let e = expect_err(attack(&d, "exit", json!({})).await, &d);
    // `exit(3)`: WASI p2's `exit` carries only success/failure, so the host sees status 1.
    assert!(matches!(e, PluginError::Exited { code: 1, .. }), "{e}");
    let e = expect_err(attack(&d, "fail", json!({})).await, &d);
    assert!(
        matches!(&e, PluginError::Failed { message, .. } if message == "the plugin reports a failure"),
        "{e}"
    );
    let e = expect_err(attack(&d, "no-such-attack", json!({})).await, &d);
    assert!(matches!(e, PluginError::RejectedConfig { .. }), "{e}");
}

#[tokio::test]
async fn the_host_keeps_working_after_every_kind_of_failure() {
    let d = dirs();
    let mut limits = Limits {
        max_log_bytes: 1 << 10,
        ..Limits::default()
    };
    limits.timeout = Duration::from_millis(300);
    for name in [
        "loop",
        "alloc",
        "recursion",
        "panic",
        "log-flood",
        "bad-utf8",
        "ok",
    ] {
        let mut inv = attack_invocation(&d, name, json!({ "count": 10 }), &policy());
        inv.limits = limits.clone();
        inv.grants.max_memory = 32 << 20;
        let r = hostile().run_step(&inv).await;
        assert_eq!(r.is_ok(), name == "ok", "{name}: {:?}", r.err());
    }
    // A second, independent plugin on the same host is unaffected too.
    let ok = attack(&d, "ok", json!({})).await.unwrap();
    assert_eq!(ok.summary, "ok");
}
