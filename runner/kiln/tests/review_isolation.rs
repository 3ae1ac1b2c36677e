//! Issue 11, "a build reaches what is not its own" and "robustness" (stale scratch space): the
//! security review's attacks, each against the real `kiln` binary, checked from the host side.
//! Run as root and as an ordinary user (`scripts/test` runs this binary both ways).

mod common;

use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;

const SECRET_A: &str = "s3cr3t-of-build-A-7f1c2e9d";

fn secrets_file(dir: &Path, value: &str) -> PathBuf {
    let path = dir.join("secrets.yml");
    std::fs::write(&path, format!("secrets:\n  app/token: \"{value}\"\n")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    path
}

/// What the commands printed, without kiln's own lines (which echo each command's text).
fn printed(log: &str) -> String {
    log.lines().filter(|l| !l.contains("Running command")).collect::<Vec<_>>().join("\n")
}

/// Item 5: a second build read the first one's shell state and temp files and printed its
/// secret values in clear. Both builds share kiln's TMPDIR, as two builds of one user do.
#[test]
fn concurrent_builds_cannot_read_each_other() {
    let a = Project::empty();
    let conf = a.side_dir("conf");
    let secrets = secrets_file(&conf, SECRET_A);
    a.write(
        "buildspec.yml",
        r#"version: 0.2
env:
  shell: bash
  secrets-manager:
    TOKEN: app/token
phases:
  build:
    commands:
      - echo "$TOKEN" > "$TMPDIR/token-copy"; echo "$TOKEN" > /tmp/token-in-tmp; echo "$TOKEN" > /dev/shm/token-in-shm; echo "$TOKEN" > "$HOME/token-in-home"; echo "$TOKEN" > token-in-src
      - MYVAR="$TOKEN"; export OTHER="$TOKEN"
  post_build:
    commands:
      - sleep 20
"#,
    );
    let logs = a.side_dir("logs");
    let mut build_a = spawn_kiln(&a, &["--secrets-file", secrets.to_str().unwrap()], &logs);
    let scratch = a.scratch();
    let started = wait_for(Duration::from_secs(30), || files_under(&scratch).iter().any(|f| f.to_string_lossy().contains("token-copy")));
    assert!(started, "build A wrote its temp file under {}", scratch.display());

    // Build B of the same user, same TMPDIR, greps every place build A's files were.
    let b = Project::new(
        "version: 0.2\nphases:\n  build:\n    commands:\n      - grep -rah 'build-A' /dev/shm /tmp \"$TMPDIR/..\" \"$TMPDIR/../..\" 2>/dev/null | head -c 2000; true\n      - cat /dev/shm/kiln-*/state.* 2>/dev/null | head -c 2000; true\n",
    );
    let out = b.build_with(&[], |c| {
        c.env("TMPDIR", &scratch);
    });
    let _ = build_a.kill();
    let _ = build_a.wait();
    assert_eq!(out.status(), "SUCCEEDED", "{}", out.describe());
    assert!(!out.log().contains(SECRET_A), "build B printed build A's secret:\n{}", out.log());
}

/// Item 6: host services on pathname unix sockets (one in /tmp, one beside kiln's scratch
/// space) and another terminal (`/dev/pts/N`) were reachable from a build.
#[test]
fn host_unix_sockets_and_terminals_are_out_of_reach() {
    let p = Project::empty();
    // kiln's TMPDIR outside /tmp (every build gets a fresh /tmp anyway), with a service socket
    // beside kiln's scratch directories, as ssh-agent and tmux put theirs.
    let tmpdir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let in_tmp = PathBuf::from(format!("/tmp/{}.sock", unique("kiln-review-")));
    let beside = tmpdir.path().join("svc.sock");
    let listeners: Vec<std::os::unix::net::UnixListener> = [&in_tmp, &beside].iter().map(|s| std::os::unix::net::UnixListener::bind(s).unwrap()).collect();
    for (l, s) in listeners.iter().zip([&in_tmp, &beside]) {
        l.set_nonblocking(true).unwrap();
        std::fs::set_permissions(s, std::fs::Permissions::from_mode(0o777)).unwrap();
    }
    let pty = nix::pty::openpty(None, None).expect("openpty");
    let pts = nix::unistd::ttyname(&pty.slave).expect("ttyname");
    nix::fcntl::fcntl(&pty.master, nix::fcntl::FcntlArg::F_SETFL(nix::fcntl::OFlag::O_NONBLOCK)).unwrap();
    p.write(
        "buildspec.yml",
        format!(
            r#"version: 0.2
phases:
  build:
    commands:
      - for s in {a} {b}; do /usr/bin/python3 -c "import socket,sys; c=socket.socket(socket.AF_UNIX); c.connect(sys.argv[1]); c.send(b'hello'); print('CONNECTED', sys.argv[1])" "$s" 2>/dev/null; done; true
      - echo INJECTED > {pts} 2>/dev/null && echo "TTY-WRITTEN"; for t in /dev/pts/[0-9]*; do echo INJECTED > "$t" 2>/dev/null && echo "TTY-WRITTEN $t"; done; true
"#,
            a = in_tmp.display(),
            b = beside.display(),
            pts = pts.display()
        ),
    );
    let b = p.build_with(&[], |c| {
        c.env("TMPDIR", tmpdir.path());
    });
    let _ = std::fs::remove_file(&in_tmp);
    assert_eq!(b.status(), "SUCCEEDED", "{}", b.describe());
    for l in &listeners {
        assert!(l.accept().is_err(), "a host unix socket accepted a connection from the build\n{}", b.describe());
    }
    assert!(!printed(&b.log()).contains("CONNECTED") && !printed(&b.log()).contains("TTY-WRITTEN"), "{}", b.describe());
    let mut buf = [0u8; 256];
    let got = std::fs::File::from(pty.master).read(&mut buf).unwrap_or(0);
    assert_eq!(got, 0, "the host terminal received {:?}", String::from_utf8_lossy(&buf[..got]));
}

/// Item 7: with kiln killed by SIGKILL, the build's processes (setsid, double-forked) lived on
/// for an ordinary user; and a build could renice and re-pin the user's host processes.
#[test]
fn a_killed_kiln_takes_every_build_process_with_it_and_host_processes_are_out_of_reach() {
    let marker = sleep_marker(300);
    let _guard = KillOnDrop(marker.clone());
    let mut host = Command::new("sleep").arg("600").stdin(Stdio::null()).spawn().expect("a host process");
    let host_pid = host.id();
    let nice_before = std::fs::read_to_string(format!("/proc/{host_pid}/stat")).unwrap();
    let p = Project::new(&format!(
        "version: 0.2\nphases:\n  build:\n    commands:\n      - renice -n 15 -p {host_pid} && echo RENICED; taskset -p 1 {host_pid} && echo PINNED; kill -STOP {host_pid} && echo STOPPED; true\n      - setsid sleep {marker} &\n      - (sh -c 'sleep {marker} & exit 0' &)\n      - sleep 60\n"
    ));
    let logs = p.side_dir("logs");
    let mut kiln = spawn_kiln(&p, &[], &logs);
    assert!(wait_for(Duration::from_secs(30), || procs_with(&marker).len() >= 2), "the build started its background processes");
    kiln.kill().expect("SIGKILL kiln");
    kiln.wait().unwrap();
    let left = survivors_after(&marker, Duration::from_secs(3));
    let out = std::fs::read_to_string(logs.join("out")).unwrap_or_default();
    let nice_after = std::fs::read_to_string(format!("/proc/{host_pid}/stat")).unwrap();
    let state = nice_after.rsplit_once(')').unwrap().1.split_whitespace().next().unwrap().to_string();
    let _ = host.kill();
    let _ = host.wait();
    assert!(left.is_empty(), "processes of the killed kiln lived on: {left:?}");
    let out = printed(&out);
    assert!(!out.contains("RENICED") && !out.contains("PINNED") && !out.contains("STOPPED"), "{out}");
    // Field 19 of /proc/PID/stat (after the state letter: index 16) is the nice value.
    let nice = |s: &str| s.rsplit_once(')').unwrap().1.split_whitespace().nth(16).unwrap().to_string();
    assert_eq!(nice(&nice_after), nice(&nice_before), "the host process was reniced");
    assert_ne!(state, "T", "the host process was stopped");
}

/// Item 8: with `--secrets-file X`, the default `~/.config/kiln/secrets.yml` stayed readable.
/// Neither it nor kiln's whole config directory is visible to the build.
#[test]
fn the_default_secrets_file_is_hidden_when_another_is_used() {
    let p = Project::empty();
    // Not under /tmp, which every build sees fresh and empty anyway.
    let config = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let default_dir = config.path().join("kiln");
    std::fs::create_dir_all(&default_dir).unwrap();
    let default = secrets_file(&default_dir, "default-file-secret-93ab");
    let other = secrets_file(&p.side_dir("other"), "other-file-secret-1c2d");
    p.write(
        "buildspec.yml",
        format!(
            "version: 0.2\nphases:\n  build:\n    commands:\n      - cat {} 2>&1 | head -c 300; true\n      - ls -la {} 2>&1; true\n",
            default.display(),
            default_dir.display()
        ),
    );
    let b = p.build_with(&["--secrets-file", other.to_str().unwrap()], |c| {
        c.env("XDG_CONFIG_HOME", config.path());
    });
    assert_eq!(b.status(), "SUCCEEDED", "{}", b.describe());
    let out = printed(&b.log());
    assert!(!out.contains("default-file-secret"), "{}", b.describe());
    assert!(!out.lines().any(|l| l.ends_with(" secrets.yml")), "the directory listing shows nothing of kiln's config\n{}", b.describe());
    // Control: the build did run `ls` on the directory (it sees an empty one).
    assert!(out.contains("total 0") || out.contains("No such file"), "{}", b.describe());
}

/// Item 14: a kiln killed with SIGKILL left its scratch space (and the shell state, secrets
/// included) behind for ever. The next kiln start removes what no running kiln holds.
#[test]
fn stale_scratch_space_of_a_killed_kiln_is_removed_by_the_next_start() {
    let p = Project::new("version: 0.2\nphases:\n  build:\n    commands:\n      - echo leftover > \"$TMPDIR/big-temp\"\n      - sleep 60\n");
    let logs = p.side_dir("logs");
    let scratch = p.scratch();
    let mut kiln = spawn_kiln(&p, &[], &logs);
    assert!(wait_for(Duration::from_secs(30), || files_under(&scratch).iter().any(|f| f.ends_with("big-temp"))), "the build wrote its temp file");
    let other = Project::new("version: 0.2\nphases:\n  build:\n    commands:\n      - echo mine > \"$TMPDIR/still-running\"\n      - sleep 30\n");
    let other_logs = other.side_dir("logs");
    let mut running = spawn_kiln_in(&other, &[], &other_logs, &scratch);
    assert!(wait_for(Duration::from_secs(30), || files_under(&scratch).iter().any(|f| f.ends_with("still-running"))), "the other build runs");
    kiln.kill().unwrap();
    kiln.wait().unwrap();
    assert!(files_under(&scratch).iter().any(|f| f.ends_with("big-temp")), "the killed build's scratch is there");

    // The next start (even one that fails early) cleans it; a build still running keeps its own.
    let next = p.run(&["build", p.src.to_str().unwrap(), "--buildspec", "missing.yml"]);
    assert_eq!(next.code, 2, "{}", next.stderr);
    assert!(!files_under(&scratch).iter().any(|f| f.ends_with("big-temp")), "stale scratch left: {:?}", files_under(&scratch));
    assert!(files_under(&scratch).iter().any(|f| f.ends_with("still-running")), "the running build's scratch was removed");
    let shm_left: Vec<_> = std::fs::read_dir("/dev/shm").map(|d| d.flatten().map(|e| e.path()).collect()).unwrap_or_default();
    let _ = running.kill();
    let _ = running.wait();
    for d in shm_left {
        let leftovers = files_under(&d).into_iter().filter(|f| f.to_string_lossy().contains("big-temp")).count();
        assert_eq!(leftovers, 0, "{}", d.display());
    }
}

/// Found while re-attacking: a secrets file kept in the project (hidden at its own path) was
/// still copied into the working copy, where the build could read every value in it.
#[test]
fn a_secrets_file_in_the_project_is_not_copied_into_the_working_copy() {
    let p = Project::new("version: 0.2\nphases:\n  build:\n    commands:\n      - cat secrets.yml conf/secrets.yml 2>&1 | head -c 300; ls; true\n");
    let conf = p.src.join("conf");
    std::fs::create_dir_all(&conf).unwrap();
    let secrets = secrets_file(&conf, "in-project-secret-5e1f");
    let b = p.build(&["--secrets-file", secrets.to_str().unwrap()]);
    assert_eq!(b.status(), "SUCCEEDED", "{}", b.describe());
    assert!(!printed(&b.log()).contains("in-project-secret"), "{}", b.describe());
    assert!(printed(&b.log()).contains("conf"), "the rest of the project was copied: {}", b.describe());
}
