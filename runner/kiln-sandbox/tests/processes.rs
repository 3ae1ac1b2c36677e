//! Process-tree control: orphan sweep, group kill, parent-death signal, fork-bomb bound, and a
//! run as an unprivileged user. Bounded in time and process count; everything is killed after.

mod common;

use std::os::unix::process::ExitStatusExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use kiln_sandbox::{Capabilities, Sandbox, become_subreaper, probe, sweep_orphans};

/// A process that left the shell's session (`setsid`) still dies with the shell: it is in the
/// build's PID namespace, which the kernel empties when its PID 1 (the shell) ends.
#[test]
fn a_setsid_escapee_dies_with_the_shell() {
    let _g = serial();
    let dir = tempfile::tempdir().unwrap();
    let sb = Sandbox::prepare(&policy(&[dir.path()], false, Some(64))).unwrap();
    let m = marker(100);
    let script = format!(
        r#"setsid sleep {m} & p=$!
        for i in $(seq 300); do [ "$(cut -d' ' -f6 /proc/$p/stat)" = "$p" ] && break; sleep 0.01; done
        (sh -c 'sleep {m} & exit 0' &)
        sleep 0.2; echo started"#
    );
    let step = spawn(&sb, &script, &[]);
    assert!(eventually(Duration::from_secs(3), || procs_with(&m).len() == 2), "both escapees started: {:?}", step.stdout());
    let out = step.finish(Duration::from_secs(10));
    assert!(out.status.success(), "{:?}", out.stderr);
    assert!(eventually(Duration::from_secs(2), || procs_with(&m).is_empty()), "escapees outlived the shell: {:?}", procs_with(&m));
}

#[test]
fn kill_process_group_kills_the_tree() {
    let _g = serial();
    let dir = tempfile::tempdir().unwrap();
    let sb = Sandbox::prepare(&policy(&[dir.path()], false, None)).unwrap();
    let m = marker(100);
    let step = spawn(&sb, &format!("sleep {m} & (sleep {m}; true) & setsid sleep {m} & wait"), &[]);
    assert!(eventually(Duration::from_secs(3), || procs_with(&m).len() == 3), "{:?}", procs_with(&m));
    let out = step.kill();
    assert_eq!(out.status.signal(), Some(libc::SIGKILL));
    assert!(eventually(Duration::from_secs(2), || procs_with(&m).is_empty()), "group members survived: {:?}", procs_with(&m));
    sweep_orphans(&[]);
}

/// A still-running step (pid in `keep`) and everything in its namespace survive a sweep.
#[test]
fn sweep_spares_kept_children_and_their_namespace() {
    let _g = serial();
    become_subreaper().expect("subreaper");
    let dir = tempfile::tempdir().unwrap();
    let sb = Sandbox::prepare(&policy(&[dir.path()], false, Some(64))).unwrap();
    let m = marker(100);
    let step = spawn(&sb, &format!("sleep {m} & setsid sleep {m} & wait"), &[]);
    let step_pid = step.pid();
    assert!(eventually(Duration::from_secs(3), || procs_with(&m).len() == 2));
    let killed = sweep_orphans(&[step_pid]);
    let alive = procs_with(&m).len();
    let out = step.kill();
    sweep_orphans(&[]);
    assert_eq!((killed, alive), (0, 2), "the kept step's processes were killed");
    assert_eq!(out.status.signal(), Some(libc::SIGKILL));
    assert!(eventually(Duration::from_secs(2), || procs_with(&m).is_empty()));
}

/// Dropping the sandbox kills what is still in its cgroup and removes the group, even while
/// the killed step has not been reaped yet.
#[test]
fn cgroup_is_emptied_and_removed_on_drop() {
    let _g = serial();
    let dir = tempfile::tempdir().unwrap();
    let sb = prepare_without_pidns(&policy(&[dir.path()], false, Some(16)));
    let Some(cg) = sb.cgroup_dir().map(|d| d.to_path_buf()) else {
        eprintln!("SKIP: no pids cgroup on this host");
        return;
    };
    let step = spawn(&sb, "sleep 100 & sleep 100 & echo started; wait", &[]);
    let members = || std::fs::read_to_string(cg.join("cgroup.procs")).map(|t| t.lines().count());
    assert!(
        eventually(Duration::from_secs(3), || members().unwrap_or(0) == 4),
        "expected the PID namespace's keeper, bash + 2 sleeps in {}, got {:?}",
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
        cmd.current_dir("/");
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
fn bounded_fork_loop(caps: &Capabilities, max: u64) -> (usize, String, Vec<String>) {
    let dir = tempfile::tempdir().unwrap();
    let sb = Sandbox::prepare_with(caps, &policy(&[dir.path()], false, Some(max))).unwrap();
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

/// The fork loop against each bound this host has: the PID namespace (if any) and the one used
/// without it (cgroup, else rlimit).
#[test]
fn fork_bomb_is_bounded() {
    let _g = serial();
    become_subreaper().expect("subreaper");
    let mut bounds = vec![("without a PID namespace", without_pidns())];
    if probe().pid_namespaces {
        bounds.push(("PID namespace", pidns_first()));
    }
    for (what, caps) in bounds {
        let (started, stderr, missing) = bounded_fork_loop(&caps, 64);
        if missing.iter().any(|m| m.starts_with("process limit")) {
            eprintln!("SKIP {what}: process bound not enforceable here: {missing:?} (started {started})");
            continue;
        }
        eprintln!(
            "{what}: started {started} of 600 with max_processes=64; stderr: {}",
            stderr.lines().next().unwrap_or("")
        );
        assert!(
            started < 64,
            "{what}: {started} children started despite max_processes=64"
        );
        assert!(
            started >= 20,
            "{what}: only {started} started: the loop failed for another reason: {stderr}"
        );
        assert!(
            stderr.contains("Resource temporarily unavailable"),
            "{what}: {stderr}"
        );
    }
}

/// A sandbox bounded by its own PID namespace (max 64) writing into `dir`; `None` (skipped)
/// where this host has none.
fn pidns_sandbox(dir: &std::path::Path) -> Option<Sandbox> {
    if !probe().pid_namespaces {
        eprintln!("SKIP: no PID namespace with its own pid_max here");
        return None;
    }
    let sb = Sandbox::prepare_with(&pidns_first(), &policy(&[dir], false, Some(64))).unwrap();
    assert!(sb.report().mechanisms.iter().any(|m| m == "pidns(max=64)"), "{:?}", sb.report());
    Some(sb)
}

/// In its own PID namespace the build's processes end with its shell, also one that left the
/// shell's session and whose parent is still alive (out of reach of the process-group kill and
/// of the orphan sweep); and the build sees only its own processes.
#[test]
fn a_pid_namespace_ends_every_process_with_the_shell() {
    let _g = serial();
    let dir = tempfile::tempdir().unwrap();
    let Some(sb) = pidns_sandbox(dir.path()) else { return };
    // The escapee's parent (a subshell) stays alive; the escapee beats into a file.
    let script = r#"echo "pid=$$ procs=$(ls /proc | grep -c '^[0-9]') comm=$(cat /proc/$$/comm)"
        ( setsid sh -c 'while :; do date +%s%N > "$A/beat"; sleep 0.02; done' & sleep 100 ) &
        for i in $(seq 200); do [ -s "$A/beat" ] && break; sleep 0.01; done
        echo started"#;
    let out = run(&sb, script, &[("A", p(dir.path()))]);
    assert!(out.status.success(), "{:?}", out.stderr);
    assert!(out.stdout.contains("started"), "{:?} {:?}", out.stdout, out.stderr);
    let first = out.stdout.lines().next().unwrap_or_default().to_string();
    assert!(first.starts_with("pid=1 ") && first.ends_with("comm=bash"), "{first}");
    let procs: usize = first.split("procs=").nth(1).and_then(|r| r.split(' ').next()).and_then(|n| n.parse().ok()).unwrap();
    assert!(procs < 10, "the build sees {procs} processes: not its own /proc");
    // The shell has exited: nothing of it beats any more.
    let beat = dir.path().join("beat");
    std::thread::sleep(Duration::from_millis(100));
    let then = std::fs::read_to_string(&beat).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(std::fs::read_to_string(&beat).unwrap(), then, "a process of the build outlived its shell");
}

/// The command's exit status and signal come through the PID namespace's keeper unchanged.
#[test]
fn exit_status_and_signals_pass_through_the_pid_namespace() {
    let _g = serial();
    let dir = tempfile::tempdir().unwrap();
    let Some(sb) = pidns_sandbox(dir.path()) else { return };
    assert_eq!(run(&sb, "exit 7", &[]).status.code(), Some(7));
    assert_eq!(run(&sb, "echo out; echo err >&2", &[]).stdout, "out\n");
    let step = spawn(&sb, "echo up; sleep 100", &[]);
    assert!(eventually(Duration::from_secs(3), || step.stdout() == "up\n"));
    // A kill from outside reaches PID 1 through the keeper's process group.
    let out = step.kill();
    assert_eq!(out.status.signal(), Some(libc::SIGKILL));
    // A failed exec is reported by spawn, as without the namespace.
    let mut cmd = Command::new("/nonexistent/kiln-test-binary");
    sb.apply(&mut cmd);
    assert_eq!(cmd.spawn().map(|_| ()).unwrap_err().kind(), std::io::ErrorKind::NotFound);
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
    let caps = probe();
    let scoped = caps.userns_nproc_scoped || caps.pid_namespaces;
    let bounded = Sandbox::prepare(&policy(&[allowed.path()], false, Some(32))).unwrap().report();
    let expected = if caps.userns_nproc_scoped { "userns-rlimit-nproc(32)" } else { "pidns(max=32)" };
    assert_eq!(bounded.mechanisms.iter().any(|m| m == expected), scoped && caps.user_namespaces, "{bounded:?}");
    let (started, stderr, missing) = bounded_fork_loop(&caps, 32);
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
    // The PID namespace bound works for an ordinary user too (root gets it first).
    if caps.pid_namespaces {
        let ns = Sandbox::prepare_with(&pidns_first(), &policy(&[allowed.path()], false, Some(32))).unwrap();
        assert!(ns.report().mechanisms.iter().any(|m| m == "pidns(max=32)"), "{:?}", ns.report());
        assert_eq!(run(&ns, "echo $$", &[]).stdout, "1\n");
    }
    eprintln!("UNPRIV-OK report={:?}", sb.report());
}
