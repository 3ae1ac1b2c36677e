//! Process-tree control: orphan sweep, group kill, parent-death signal, fork-bomb bound, and a
//! run as an unprivileged user. Bounded in time and process count; everything is killed after.

mod common;

use std::os::unix::process::ExitStatusExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use kiln_sandbox::{Sandbox, become_subreaper, probe, sweep_orphans};

fn me() -> i32 {
    std::process::id() as i32
}

#[test]
fn sweep_kills_setsid_escapee() {
    let _g = serial();
    become_subreaper().expect("subreaper");
    let dir = tempfile::tempdir().unwrap();
    let sb = Sandbox::prepare(&policy(&[dir.path()], false, Some(64))).unwrap();
    // Wait until the child has left the group (`setsid` ran) before the shell exits: the
    // harness kills the group when the shell ends, as the engine does.
    let script = r#"setsid sleep 100 & p=$!
        for i in $(seq 300); do [ "$(cut -d' ' -f6 /proc/$p/stat)" = "$p" ] && break; sleep 0.01; done
        echo $p"#;
    let out = run(&sb, script, &[]);
    assert!(out.status.success(), "{:?}", out.stderr);
    let pid: i32 = out.stdout.trim().parse().expect("pid of the escapee");
    assert!(
        eventually(Duration::from_secs(2), || proc_ppid(pid) == Some(me())),
        "escapee {pid} was not re-parented to us (ppid {:?})",
        proc_ppid(pid)
    );
    assert_eq!(
        proc_state(pid).map(|s| s != 'Z'),
        Some(true),
        "escapee should be alive before the sweep"
    );
    let killed = sweep_orphans(&[]);
    assert!(killed >= 1, "sweep killed {killed}");
    assert_eq!(
        proc_state(pid),
        None,
        "escapee {pid} still exists (not killed or not reaped)"
    );
}

/// A still-running step (pid in `keep`) and its session survive a sweep; an escapee that left
/// the session while its parent still runs is found through the sandbox's cgroup.
#[test]
fn sweep_spares_kept_children_and_their_sessions() {
    let _g = serial();
    become_subreaper().expect("subreaper");
    let dir = tempfile::tempdir().unwrap();
    let sb = Sandbox::prepare(&policy(&[dir.path()], false, Some(64))).unwrap();
    let step = spawn(
        &sb,
        "sleep 100 & echo $!; setsid sleep 100 & echo $!; wait",
        &[],
    );
    let step_pid = step.pid();
    assert!(eventually(Duration::from_secs(3), || step
        .stdout()
        .lines()
        .count()
        == 2));
    let pids: Vec<i32> = step.stdout().lines().map(|l| l.parse().unwrap()).collect();
    let (member, escapee) = (pids[0], pids[1]);
    // `$!` is printed before the background child has run `setsid`; wait until it has.
    assert!(eventually(Duration::from_secs(3), || proc_sid(escapee)
        == Some(escapee)));
    let alive = |pid: i32| proc_state(pid).is_some_and(|s| s != 'Z');
    let killed = sweep_orphans(&[step_pid]);
    let (step_alive, member_alive, escapee_alive) =
        (alive(step_pid), alive(member), alive(escapee));
    let out = step.kill();
    sweep_orphans(&[]);
    assert!(
        step_alive && member_alive,
        "the kept step or its session member was killed"
    );
    assert_eq!(out.status.signal(), Some(libc::SIGKILL));
    if sb.cgroup_dir().is_some() {
        assert_eq!(killed, 1, "expected exactly the escapee to be killed");
        assert!(
            !escapee_alive,
            "escapee {escapee} in the sandbox cgroup survived"
        );
    } else {
        // Without a cgroup an escapee whose parent is alive is out of reach until it is orphaned.
        assert_eq!(killed, 0);
    }
}

#[test]
fn kill_process_group_kills_the_tree() {
    let _g = serial();
    let dir = tempfile::tempdir().unwrap();
    let sb = Sandbox::prepare(&policy(&[dir.path()], false, None)).unwrap();
    let step = spawn(
        &sb,
        "sleep 100 & echo $!; (sleep 100; true) & echo $!; wait",
        &[],
    );
    assert!(eventually(Duration::from_secs(3), || step
        .stdout()
        .lines()
        .count()
        == 2));
    let pids: Vec<i32> = step.stdout().lines().map(|l| l.parse().unwrap()).collect();
    let out = step.kill();
    assert_eq!(out.status.signal(), Some(libc::SIGKILL));
    let dead = |pid: i32| proc_state(pid).is_none_or(|s| s == 'Z');
    assert!(
        eventually(Duration::from_secs(2), || pids.iter().all(|&p| dead(p))),
        "group members survived: {pids:?}"
    );
    sweep_orphans(&[]);
}

/// Dropping the sandbox kills what is still in its cgroup and removes the group, even while
/// the killed step has not been reaped yet.
#[test]
fn cgroup_is_emptied_and_removed_on_drop() {
    let _g = serial();
    let dir = tempfile::tempdir().unwrap();
    let sb = Sandbox::prepare(&policy(&[dir.path()], false, Some(16))).unwrap();
    let Some(cg) = sb.cgroup_dir().map(|d| d.to_path_buf()) else {
        eprintln!("SKIP: no pids cgroup on this host");
        return;
    };
    let step = spawn(&sb, "sleep 100 & sleep 100 & echo started; wait", &[]);
    let members = || std::fs::read_to_string(cg.join("cgroup.procs")).map(|t| t.lines().count());
    assert!(
        eventually(Duration::from_secs(3), || members().unwrap_or(0) == 3),
        "expected bash + 2 sleeps in {}, got {:?}",
        cg.display(),
        members().ok()
    );
    drop(sb);
    let gone = !cg.exists();
    let out = step.kill();
    sweep_orphans(&[]);
    assert!(gone, "cgroup {} still exists after drop", cg.display());
    assert_eq!(out.status.signal(), Some(libc::SIGKILL));
}

#[test]
fn dies_with_the_spawning_thread() {
    let _g = serial();
    let sb = Sandbox::disabled();
    let sb2 = sb.clone();
    let mut child = std::thread::spawn(move || {
        let mut cmd = Command::new("sleep");
        cmd.arg("100");
        sb2.apply(&mut cmd);
        cmd.spawn().unwrap()
    })
    .join()
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(3);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break Some(s);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    assert_eq!(
        status.and_then(|s| s.signal()),
        Some(libc::SIGKILL),
        "PR_SET_PDEATHSIG did not fire"
    );
}

/// Start up to 600 `sleep 5 &` with a bound of `max`; return how many started and stderr.
fn bounded_fork_loop(max: u64) -> (usize, String, Vec<String>) {
    let dir = tempfile::tempdir().unwrap();
    let sb = Sandbox::prepare(&policy(&[dir.path()], false, Some(max))).unwrap();
    let report = sb.report();
    let file = dir.path().join("pids");
    let script = r#"for i in $(seq 600); do sleep 5 & echo $! >> "$A/pids"; done"#;
    let step = spawn(&sb, script, &[("A", p(dir.path()))]);
    // Stop once the count has not grown for 1 s (bash is then retrying fork), or after 10 s.
    let count = || {
        std::fs::read_to_string(&file)
            .map(|t| t.lines().count())
            .unwrap_or(0)
    };
    let (mut last, mut since, start) = (usize::MAX, Instant::now(), Instant::now());
    while start.elapsed() < Duration::from_secs(10) {
        let n = count();
        if n >= 600 {
            break;
        }
        if n != last {
            (last, since) = (n, Instant::now());
        } else if since.elapsed() > Duration::from_secs(1) {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = step.kill();
    sb.kill_all();
    sweep_orphans(&[]);
    (count(), out.stderr, report.missing)
}

#[test]
fn fork_bomb_is_bounded() {
    let _g = serial();
    become_subreaper().expect("subreaper");
    let (started, stderr, missing) = bounded_fork_loop(64);
    if missing.iter().any(|m| m.starts_with("process limit")) {
        eprintln!("SKIP: process bound not enforceable here: {missing:?} (started {started})");
        return;
    }
    eprintln!(
        "started {started} of 600 with max_processes=64; stderr: {}",
        stderr.lines().next().unwrap_or("")
    );
    assert!(
        started < 64,
        "{started} children started despite max_processes=64"
    );
    assert!(
        started >= 20,
        "only {started} started: the loop failed for another reason: {stderr}"
    );
    assert!(
        stderr.contains("Resource temporarily unavailable"),
        "{stderr}"
    );
}

const CHILD_ENV: &str = "KILN_SANDBOX_UNPRIV_CHILD";

/// Re-runs `unprivileged_child_entry` of this test binary as uid/gid 65534 via `setpriv`.
#[test]
fn works_as_unprivileged_user() {
    // Serialized: a concurrent test's sweep_orphans(&[]) would kill our setpriv child.
    let _g = serial();
    if !nix::unistd::getuid().is_root() {
        eprintln!("SKIP: needs root to switch to uid 65534");
        return;
    }
    let exe = std::env::current_exe().unwrap();
    let out = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
        .arg(&exe)
        .args([
            "--exact",
            "unprivileged_child_entry",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, "1")
        .env("TMPDIR", "/tmp")
        .current_dir("/")
        .stdin(Stdio::null())
        .output()
        .expect("run setpriv");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    eprintln!("--- unprivileged run ---\n{stdout}\n{stderr}");
    // Its killed descendants re-parent to us (subreaper from other tests): reap them.
    sweep_orphans(&[]);
    assert!(out.status.success(), "unprivileged run failed");
    assert!(
        stderr.contains("UNPRIV-OK") || stdout.contains("UNPRIV-OK"),
        "child checks did not run"
    );
}

/// Only does something under `works_as_unprivileged_user` (env var set, running as 65534).
#[test]
fn unprivileged_child_entry() {
    if std::env::var_os(CHILD_ENV).is_none() {
        return;
    }
    assert_eq!(nix::unistd::getuid().as_raw(), 65534);
    become_subreaper().expect("subreaper as 65534");
    eprintln!("probe as 65534: {:?}", probe());
    let allowed = tempfile::tempdir().unwrap();
    let other = tempfile::tempdir().unwrap();
    let sb = Sandbox::prepare(&policy(&[allowed.path()], false, None)).expect("prepare as 65534");
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port().to_string();
    let script = r#"echo ok > "$A/in" && echo inside-ok
        echo bad > "$B/out" && echo outside-WRITTEN
        exec 3<>"/dev/tcp/127.0.0.1/$PORT" && echo CONNECTED
        true"#;
    let env = [
        ("A", p(allowed.path())),
        ("B", p(other.path())),
        ("PORT", port),
    ];
    let out = run(&sb, script, &env);
    assert!(out.stdout.contains("inside-ok"), "{:?}", out.stderr);
    assert!(!out.stdout.contains("WRITTEN") && !other.path().join("out").exists());
    assert!(!out.stdout.contains("CONNECTED"));

    // The user already runs more processes than the build's bound. Where the kernel counts
    // RLIMIT_NPROC per user namespace, the bound is the build's own: it still starts children.
    let mut others: Vec<std::process::Child> = (0..40)
        .map(|_| Command::new("sleep").arg("30").stdin(Stdio::null()).spawn().expect("sleep"))
        .collect();
    let scoped = probe().userns_nproc_scoped;
    let bounded = Sandbox::prepare(&policy(&[allowed.path()], false, Some(32))).unwrap().report();
    assert_eq!(
        bounded.mechanisms.iter().any(|m| m.starts_with("userns-rlimit-nproc(32)")),
        scoped && probe().user_namespaces,
        "{bounded:?}"
    );
    let (started, stderr, missing) = bounded_fork_loop(32);
    for o in &mut others {
        let _ = o.kill();
        let _ = o.wait();
    }
    eprintln!("as 65534: started {started} of 600 with max_processes=32, missing {missing:?}");
    assert!(
        started < 32,
        "{started} children started despite max_processes=32"
    );
    if scoped {
        assert!(started >= 20, "only {started} started: the user's other processes counted: {stderr}");
    }
    assert!(
        stderr.contains("Resource temporarily unavailable"),
        "{stderr}"
    );
    eprintln!("UNPRIV-OK report={:?}", sb.report());
}
