//! `--phase-timeout` and `--timeout`: the phase (or build) ends TIMED_OUT within seconds, every
//! process it started is killed, and the build goes on as the transitions say.

mod common;

use std::time::Duration;

use common::*;

/// A phase body that blocks for a minute in a child, and in a grandchild tree.
fn blocking_commands(m: &[String]) -> String {
    format!(
        "      - echo before-sleep\n      - sh -c 'sleep {} & sleep {}; wait' &\n      - sleep {}\n      - echo after-sleep\n",
        m[0], m[1], m[2]
    )
}

fn alive_check(m: &[String]) -> String {
    format!("      - echo \"alive=$(ps -eo args | grep -cE '^sleep ({}|{}|{})$')\"\n", m[0], m[1], m[2])
}

fn markers() -> (Vec<String>, Vec<KillOnDrop>) {
    let m: Vec<String> = (0..3).map(|_| sleep_marker(60)).collect();
    let guards = m.iter().cloned().map(KillOnDrop).collect();
    (m, guards)
}

#[test]
fn a_phase_timeout_ends_the_build_phase_and_post_build_still_runs() {
    let (m, _guards) = markers();
    let p = Project::new(&format!(
        "version: 0.2\nphases:\n  build:\n    commands:\n{}  post_build:\n    commands:\n{}artifacts:\n  files: [buildspec.yml]\n",
        blocking_commands(&m),
        alive_check(&m)
    ));
    let b = p.build(&["--phase-timeout", "0.05"]);
    assert!(b.elapsed < Duration::from_secs(20), "3 s phase timeout, took {:?}", b.elapsed);
    assert_eq!((b.code, b.status()), (1, "FAILED"), "{}", b.describe());
    assert_eq!(b.phase_status("BUILD"), Some("TIMED_OUT"), "{}", b.describe());
    let (code, msg) = b.context("BUILD").expect("context");
    assert_eq!(code, "BUILD_TIMED_OUT");
    assert!(msg.contains("phase timed out"), "{msg}");
    let d = b.phase("BUILD").unwrap()["durationInSeconds"].as_u64().unwrap();
    assert!((3..=8).contains(&d), "BUILD lasted {d}s for a 3 s timeout");
    assert_eq!(b.count_output("before-sleep"), 1);
    assert_eq!(b.count_output("after-sleep"), 0, "the rest of the phase is skipped");
    // Transitions: a timed-out build phase goes on to post_build and upload, like a failed one.
    assert_eq!(b.phase_status("POST_BUILD"), Some("SUCCEEDED"), "{}", b.describe());
    assert_eq!(b.count_output("alive=0"), 1, "child and grandchildren were killed at the timeout\n{}", b.describe());
    assert_eq!(b.phase_status("UPLOAD_ARTIFACTS"), Some("SUCCEEDED"));
    for mk in &m {
        assert!(survivors_after(mk, Duration::from_secs(2)).is_empty(), "sleep {mk} survived");
    }
}

#[test]
fn a_phase_timeout_in_install_skips_the_later_phases() {
    let (m, _guards) = markers();
    let p = Project::new(&format!(
        "version: 0.2\nphases:\n  install:\n    commands:\n{}  build:\n    commands:\n      - echo build-ran\n",
        blocking_commands(&m)
    ));
    let b = p.build(&["--phase-timeout", "0.05"]);
    assert!(b.elapsed < Duration::from_secs(20), "took {:?}", b.elapsed);
    assert_eq!(b.phase_status("INSTALL"), Some("TIMED_OUT"), "{}", b.describe());
    assert_eq!(b.phase_types(), ["SUBMITTED", "QUEUED", "PROVISIONING", "DOWNLOAD_SOURCE", "INSTALL", "FINALIZING", "COMPLETED"]);
    assert_eq!(b.count_output("build-ran"), 0);
    assert_eq!((b.code, b.status()), (1, "FAILED"));
    for mk in &m {
        assert!(survivors_after(mk, Duration::from_secs(2)).is_empty(), "sleep {mk} survived");
    }
}

#[test]
fn the_build_timeout_ends_the_build_as_timed_out() {
    let (m, _guards) = markers();
    let p = Project::new(&format!(
        "version: 0.2\nphases:\n  install:\n    commands:\n      - echo install-ran\n  build:\n    commands:\n{}  post_build:\n    commands:\n      - echo post-build-ran\nartifacts:\n  files: [buildspec.yml]\n",
        blocking_commands(&m)
    ));
    let b = p.build(&["--timeout", "0.05"]);
    assert!(b.elapsed < Duration::from_secs(20), "3 s build timeout, took {:?}", b.elapsed);
    assert_eq!((b.code, b.status()), (1, "TIMED_OUT"), "{}", b.describe());
    assert_eq!(b.phase_status("BUILD"), Some("TIMED_OUT"));
    let (code, msg) = b.context("BUILD").expect("context");
    assert_eq!(code, "BUILD_TIMED_OUT");
    assert!(msg.contains("build timed out"), "{msg}");
    assert!(b.phase("POST_BUILD").is_none() && b.phase("UPLOAD_ARTIFACTS").is_none(), "nothing runs after the build timed out: {:?}", b.phase_types());
    assert_eq!(b.phase_status("FINALIZING"), Some("SUCCEEDED"));
    assert_eq!(b.count_output("install-ran"), 1);
    assert_eq!(b.count_output("post-build-ran"), 0);
    assert_eq!(b.record["buildComplete"], true);
    for mk in &m {
        assert!(survivors_after(mk, Duration::from_secs(2)).is_empty(), "sleep {mk} survived");
    }
}
