//! Filesystem, network and signal confinement of real `bash -c` processes, and the report.

mod common;

use std::io::Read;
use std::net::{TcpListener, UdpSocket};
use std::time::{Duration, Instant};

use common::*;
use kiln_sandbox::{Capabilities, Sandbox, SandboxError, probe};

#[test]
fn probe_output() {
    let caps = probe();
    eprintln!("probe: {caps:?}");
    assert_eq!(caps, probe(), "cached result is stable");
}

#[test]
fn writes_only_inside_policy_dirs() {
    let _g = serial();
    let allowed = tempfile::tempdir().unwrap();
    let other = tempfile::tempdir().unwrap();
    let sb = Sandbox::prepare(&policy(&[allowed.path()], false, None)).expect("prepare");
    let usr = probe_name("/usr", "usr");
    let etc = probe_name("/etc", "etc");
    let script = r#"
        echo ok > "$A/inside" && echo inside-ok
        mkdir "$A/sub" && echo nested > "$A/sub/f" && mv "$A/sub/f" "$A/g" && rm -r "$A/sub" && echo tree-ok
        echo x > /dev/null && head -c 4 /dev/zero > "$A/zeros" && echo dev-ok
        cat /etc/passwd > /dev/null && ls /usr/bin > /dev/null && echo read-ok
        echo bad > "$B/outside" && echo outside-WRITTEN
        echo bad > "$USR" && echo usr-WRITTEN
        mkdir "$ETC" && echo etc-WRITTEN
        ln -s /etc/passwd "$B/link" && echo link-WRITTEN
        true"#;
    let env = [
        ("A", p(allowed.path())),
        ("B", p(other.path())),
        ("USR", p(&usr)),
        ("ETC", p(&etc)),
    ];
    let out = run(&sb, script, &env);
    let leaked = [
        other.path().join("outside"),
        other.path().join("link"),
        usr.clone(),
        etc.clone(),
    ]
    .iter()
    .filter(|f| f.symlink_metadata().is_ok())
    .map(|f| f.display().to_string())
    .collect::<Vec<_>>();
    let _ = std::fs::remove_file(&usr);
    let _ = std::fs::remove_dir(&etc);
    assert!(
        leaked.is_empty(),
        "files appeared outside the policy: {leaked:?}"
    );
    for marker in ["inside-ok", "tree-ok", "dev-ok", "read-ok"] {
        assert!(
            out.stdout.contains(marker),
            "{marker} missing; stdout {:?} stderr {:?}",
            out.stdout,
            out.stderr
        );
    }
    assert!(!out.stdout.contains("WRITTEN"), "stdout {:?}", out.stdout);
    // The host tree is a read-only mount in the build's view; the other temp dir is not there.
    assert!(
        out.stderr.contains("Read-only file system") && out.stderr.contains("No such file or directory"),
        "stderr {:?}",
        out.stderr
    );
    assert_eq!(
        std::fs::read_to_string(allowed.path().join("inside")).unwrap(),
        "ok\n"
    );
    assert_eq!(
        std::fs::read(allowed.path().join("zeros")).unwrap(),
        vec![0; 4]
    );
}

/// Build scripts often write to /dev/stdout or /dev/stderr; with piped stdio (what the engine
/// uses) that reopening is allowed (pipes are not filesystem paths for Landlock).
#[test]
fn dev_stdio_reopen_works_with_pipes() {
    let _g = serial();
    let dir = tempfile::tempdir().unwrap();
    let sb = Sandbox::prepare(&policy(&[dir.path()], false, None)).unwrap();
    let mut cmd = std::process::Command::new("/bin/bash");
    cmd.current_dir("/");
    cmd.arg("-c")
        .arg("echo to-err > /dev/stderr && echo to-out > /dev/stdout");
    sb.apply(&mut cmd);
    let out = cmd.output().expect("spawn");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "to-out\n");
    assert_eq!(String::from_utf8_lossy(&out.stderr), "to-err\n");
}

/// One prepared sandbox serves many spawns, including the same `Command` spawned twice.
#[test]
fn a_command_can_be_spawned_twice() {
    let _g = serial();
    let dir = tempfile::tempdir().unwrap();
    let sb = Sandbox::prepare(&policy(&[dir.path()], false, None)).unwrap();
    let mut cmd = std::process::Command::new("/bin/bash");
    cmd.current_dir("/");
    cmd.arg("-c")
        .arg(r#"echo x >> "$A/n"; echo y > /usr/kiln-sandbox-twice || echo denied"#);
    cmd.env("A", dir.path());
    sb.apply(&mut cmd);
    for _ in 0..2 {
        let out = cmd.output().expect("spawn");
        assert_eq!(String::from_utf8_lossy(&out.stdout), "denied\n");
    }
    assert_eq!(
        std::fs::read_to_string(dir.path().join("n")).unwrap(),
        "x\nx\n"
    );
}

/// Control for the test above: the same detection sees writes when nothing confines them.
#[test]
fn disabled_sandbox_does_not_confine() {
    let _g = serial();
    let other = tempfile::tempdir().unwrap();
    let sb = Sandbox::disabled();
    let out = run(
        &sb,
        r#"echo bad > "$B/outside" && echo outside-WRITTEN"#,
        &[("B", p(other.path()))],
    );
    assert!(out.stdout.contains("outside-WRITTEN"), "{:?}", out.stderr);
    assert!(other.path().join("outside").exists());
    let r = sb.report();
    assert!(!r.sandboxed && r.network);
}

fn accepted_within(listener: &TcpListener, limit: Duration) -> bool {
    listener.set_nonblocking(true).unwrap();
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if let Ok((mut s, _)) = listener.accept() {
            let mut buf = String::new();
            s.set_nonblocking(false).unwrap();
            s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
            let _ = s.read_to_string(&mut buf);
            return buf.contains("kiln-tcp");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    false
}

const TCP_SCRIPT: &str =
    r#"exec 3<>"/dev/tcp/127.0.0.1/$PORT" && echo kiln-tcp >&3 && exec 3>&- && echo CONNECTED"#;

#[test]
fn tcp_connect_denied_without_network() {
    let _g = serial();
    let dir = tempfile::tempdir().unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port().to_string();
    let sb = Sandbox::prepare(&policy(&[dir.path()], false, None)).unwrap();
    let out = run(&sb, TCP_SCRIPT, &[("PORT", port)]);
    assert!(
        !out.stdout.contains("CONNECTED"),
        "connected: {:?}",
        out.stdout
    );
    assert!(!out.status.success());
    assert!(
        !accepted_within(&listener, Duration::from_millis(300)),
        "listener got a connection"
    );
    eprintln!("denied connect said: {}", out.stderr.trim());
}

#[test]
fn tcp_connect_works_with_network() {
    let _g = serial();
    let dir = tempfile::tempdir().unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port().to_string();
    let sb = Sandbox::prepare(&policy(&[dir.path()], true, None)).unwrap();
    let out = run(&sb, TCP_SCRIPT, &[("PORT", port)]);
    assert!(out.stdout.contains("CONNECTED"), "stderr {:?}", out.stderr);
    assert!(
        accepted_within(&listener, Duration::from_secs(3)),
        "no data arrived"
    );
}

fn udp_arrives(allow_network: bool) -> bool {
    let dir = tempfile::tempdir().unwrap();
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let port = sock.local_addr().unwrap().port().to_string();
    let sb = Sandbox::prepare(&policy(&[dir.path()], allow_network, None)).unwrap();
    let out = run(
        &sb,
        r#"echo kiln-udp > "/dev/udp/127.0.0.1/$PORT"; echo "rc=$?""#,
        &[("PORT", port)],
    );
    eprintln!(
        "udp (network={allow_network}): {} {}",
        out.stdout.trim(),
        out.stderr.trim()
    );
    let mut buf = [0u8; 64];
    matches!(sock.recv(&mut buf), Ok(n) if &buf[..n] == b"kiln-udp\n")
}

#[test]
fn udp_does_not_leave_sandbox_without_network() {
    let _g = serial();
    if !probe().user_namespaces {
        eprintln!("SKIP: no user namespaces; UDP is not isolated (report lists it as missing)");
        return;
    }
    assert!(!udp_arrives(false), "UDP datagram escaped the sandbox");
}

/// Control: the UDP check does see datagrams when the network is allowed.
#[test]
fn udp_arrives_with_network() {
    let _g = serial();
    assert!(udp_arrives(true));
}

#[test]
fn cannot_signal_processes_outside() {
    let _g = serial();
    if probe().landlock_abi.unwrap_or(0) < 6 {
        eprintln!("SKIP: Landlock signal scoping needs ABI >= 6");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut victim = std::process::Command::new("sleep")
        .arg("30")
        .spawn()
        .unwrap();
    let sb = Sandbox::prepare(&policy(&[dir.path()], true, None)).unwrap();
    let script =
        r#"kill -TERM "$VICTIM" && echo SIGNALLED; sleep 0.2 & kill -TERM $! && echo own-child-ok"#;
    let out = run(&sb, script, &[("VICTIM", victim.id().to_string())]);
    let still_running = victim.try_wait().unwrap().is_none();
    let _ = victim.kill();
    let _ = victim.wait();
    assert!(still_running, "sandboxed script killed an outside process");
    assert!(!out.stdout.contains("SIGNALLED"), "{:?}", out.stdout);
    assert!(
        out.stdout.contains("own-child-ok"),
        "{:?} {:?}",
        out.stdout,
        out.stderr
    );
}

#[test]
fn report_lists_mechanisms() {
    let caps = probe();
    let dir = tempfile::tempdir().unwrap();
    let sb = Sandbox::prepare(&policy(&[dir.path()], false, Some(100))).unwrap();
    let r = sb.report();
    eprintln!(
        "report (network denied): {}",
        serde_json::to_string(&r).unwrap()
    );
    assert!(r.sandboxed && !r.network);
    let has = |m: &str| r.mechanisms.iter().any(|x| x.starts_with(m));
    for m in ["setsid", "pdeathsig", "no-new-privs", "userns", "netns", "pidns", "mountns", "caps-bounded", "seccomp"] {
        assert!(has(m), "{m} not in {:?}", r.mechanisms);
    }
    assert_eq!(has("landlock-fs"), caps.landlock_abi.unwrap_or(0) >= 1);
    assert_eq!(
        has("landlock-scope-signal"),
        caps.landlock_abi.unwrap_or(0) >= 6
    );
    assert!(!has("landlock-tcp"), "the network namespace isolates; loopback stays usable");
    let ordinary_scoped = !nix::unistd::getuid().is_root() && caps.userns_nproc_scoped;
    assert_eq!(has("userns-rlimit-nproc(100)"), caps.user_namespaces && ordinary_scoped);
    let pidns = caps.user_namespaces && caps.pid_namespaces && !ordinary_scoped;
    assert_eq!(has("pidns(max=100)"), pidns);
    assert!(!pidns || !r.mechanisms.iter().any(|m| m.contains("cgroup") || m.contains("rlimit")), "{r:?}");
    // The bound used without the PID namespace (as root: the cgroup, else the rlimit).
    let sb = prepare_without_pidns(&policy(&[dir.path()], false, Some(100)));
    let r = sb.report();
    let has = |m: &str| r.mechanisms.iter().any(|x| x.starts_with(m));
    let root = nix::unistd::getuid().is_root();
    let userns_rlimit = !root && caps.user_namespaces && caps.userns_nproc_scoped;
    assert_eq!(has("userns-rlimit-nproc(100)"), userns_rlimit);
    assert_eq!(has("cgroup-v2-pids"), !userns_rlimit && caps.cgroup_v2_writable);
    assert_eq!(
        has("cgroup-v1-pids"),
        !userns_rlimit && !caps.cgroup_v2_writable && caps.cgroup_v1_pids_writable
    );
    assert_eq!(
        has("rlimit-nproc"),
        !userns_rlimit && !caps.cgroup_v2_writable && !caps.cgroup_v1_pids_writable
    );
    if let Some(cg) = sb.cgroup_dir() {
        assert!(cg.is_dir());
        assert_eq!(
            std::fs::read_to_string(cg.join("pids.max")).unwrap().trim(),
            "100"
        );
        let cg = cg.to_path_buf();
        drop(sb);
        assert!(!cg.exists(), "cgroup {} not removed on drop", cg.display());
    }

    let open = Sandbox::prepare(&policy(&[dir.path()], true, None))
        .unwrap()
        .report();
    eprintln!(
        "report (network allowed): {}",
        serde_json::to_string(&open).unwrap()
    );
    assert!(open.network);
    assert!(
        !open
            .mechanisms
            .iter()
            .any(|m| m == "userns+netns" || m == "landlock-tcp-deny")
    );
    assert!(
        !open
            .mechanisms
            .iter()
            .any(|m| m.contains("pids") || m.contains("nproc"))
    );
}

#[test]
fn strict_prepare_refuses_without_mechanisms() {
    let dir = tempfile::tempdir().unwrap();
    let none = Capabilities {
        landlock_abi: None,
        user_namespaces: false,
        userns_nproc_scoped: false,
        pid_namespaces: false,
        mount_namespaces: false,
        cgroup_v2_writable: false,
        cgroup_v1_pids_writable: false,
    };
    let err = Sandbox::prepare_with(&none, &policy(&[dir.path()], false, None)).unwrap_err();
    assert!(
        matches!(&err, SandboxError::Unavailable { missing } if missing.len() == 1),
        "{err:?}"
    );
    assert!(err.to_string().contains("--no-sandbox"), "{err}");
}

#[test]
fn prepare_rejects_missing_writable_path() {
    let dir = tempfile::tempdir().unwrap();
    let gone = dir.path().join("does-not-exist");
    let err = Sandbox::prepare(&policy(&[&gone], false, None)).unwrap_err();
    assert!(
        matches!(&err, SandboxError::Path { path, .. } if *path == gone),
        "{err:?}"
    );
}

/// A build that tries to undo its view of the file system: remount the host tree writable,
/// unmount the fresh /tmp, bind a host directory over its own, make a nested user namespace
/// (where it would get every capability back), set a file capability, or reach host SysV IPC.
#[test]
fn the_view_cannot_be_undone() {
    let _g = serial();
    let work = tempfile::tempdir().unwrap();
    let sb = Sandbox::prepare(&policy(&[work.path()], false, None)).expect("prepare");
    let script = r#"
        mount -o remount,rw / 2>/dev/null && echo ESCAPE-remount
        mount -o remount,rw /usr 2>/dev/null && echo ESCAPE-remount-usr
        umount -l /tmp 2>/dev/null && echo ESCAPE-umount
        mount --bind / "$W" 2>/dev/null && echo ESCAPE-bind
        unshare -Ur true 2>/dev/null && echo ESCAPE-userns
        unshare -m true 2>/dev/null && echo ESCAPE-mountns
        cp /bin/true "$W/t" && setcap cap_net_raw+ep "$W/t" 2>/dev/null && echo ESCAPE-setcap
        python3 -c 'import os; os.setxattr(os.environ["W"] + "/t", "security.capability", bytes.fromhex("0100000201000000000000000000000000000000"))' 2>/dev/null && echo ESCAPE-xattr
        chmod u+s "$W/t" 2>/dev/null && echo ESCAPE-chmod
        python3 -c 'import os; os.close(os.open(os.environ["W"] + "/s", os.O_CREAT | os.O_WRONLY, 0o4755))' && [ -u "$W/s" ] && echo ESCAPE-create-suid
        ipcs -m 2>/dev/null | grep -q '^0x' && echo SEES-host-ipc
        grep -q ' / ' /proc/self/mountinfo && echo has-mountinfo
        touch /tmp/ok && echo tmp-ok
        true"#;
    let out = run(&sb, script, &[("W", p(work.path()))]);
    assert!(!out.stdout.contains("ESCAPE"), "stdout {:?} stderr {:?}", out.stdout, out.stderr);
    assert!(out.stdout.contains("tmp-ok") && out.stdout.contains("has-mountinfo"), "stdout {:?} stderr {:?}", out.stdout, out.stderr);
    use std::os::unix::fs::PermissionsExt;
    if let Ok(m) = std::fs::metadata(work.path().join("s")) {
        assert_eq!(m.permissions().mode() & 0o6000, 0, "a set-ID file was created");
    }
}
