//! Hostile buildspecs against the sandbox: network, writes outside the working copy, kiln's own
//! environment, fork bombs and processes left running; and `--no-sandbox` being on the record.

mod common;

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::path::Path;
use std::time::{Duration, Instant};

use common::*;

fn connect_spec() -> String {
    "version: 0.2\nenv:\n  shell: bash\nphases:\n  build:\n    commands:\n      - 'if (exec 3<>/dev/tcp/127.0.0.1/$PORT) 2>/dev/null; then echo net=connected; else echo net=refused; fi'\n".into()
}

/// Accept one connection within `limit`, if any came.
fn accepted(l: &TcpListener, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        match l.accept() {
            Ok(_) => return true,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock && Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
            Err(_) => return false,
        }
    }
}

#[test]
fn network_is_denied_unless_granted() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port().to_string();
    let p = Project::new(&connect_spec());

    let b = p.build(&["--env", &format!("PORT={port}")]);
    assert_eq!(b.status(), "SUCCEEDED", "{}", b.describe());
    assert_eq!(b.count_output("net=refused"), 1, "{}", b.describe());
    assert!(!accepted(&listener, Duration::from_millis(200)), "the sandboxed build reached the listener");
    assert_eq!(b.record["kiln"]["sandbox"]["sandboxed"], true);
    assert_eq!(b.record["kiln"]["sandbox"]["network"], false);

    let b = p.build(&["--network", "--env", &format!("PORT={port}")]);
    assert_eq!(b.count_output("net=connected"), 1, "--network lets the build connect\n{}", b.describe());
    assert!(accepted(&listener, Duration::from_secs(2)), "the listener saw the connection");
    assert_eq!(b.record["kiln"]["sandbox"]["network"], true);
    assert_eq!(b.record["kiln"]["sandbox"]["sandboxed"], true, "--network keeps the rest of the sandbox");

    // The buildspec's own `kiln: network: true` grants it too.
    p.write("buildspec.yml", connect_spec() + "kiln:\n  network: true\n");
    let b = p.build(&["--env", &format!("PORT={port}")]);
    assert_eq!(b.count_output("net=connected"), 1, "{}", b.describe());
    assert!(accepted(&listener, Duration::from_secs(2)));
}

/// Relative path -> content of every file under `dir`, skipping kiln's `.kiln/`.
fn snapshot(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    rel_files(dir).into_iter().filter(|r| !r.starts_with(".kiln/")).map(|r| (r.clone(), std::fs::read(dir.join(&r)).unwrap())).collect()
}

#[test]
fn writes_outside_the_working_copy_are_denied() {
    let p = Project::empty();
    let outside = p.side_dir("outside");
    let escape_tmp = format!("/tmp/{}", unique("kiln-escape-"));
    let src = p.src.display().to_string();
    let out = outside.display().to_string();
    p.write(
        "buildspec.yml",
        format!(
            r#"version: 0.2
phases:
  build:
    commands:
      - echo pwned > {out}/escape.txt && echo outside=written || echo outside=denied
      - echo pwned > {src}/injected.txt && echo source-new=written || echo source-new=denied
      - echo pwned >> {src}/existing.txt && echo source-append=written || echo source-append=denied
      - rm {src}/existing.txt && echo source-rm=done || echo source-rm=denied
      - mkdir {src}/newdir && echo source-mkdir=done || echo source-mkdir=denied
      - echo pwned > {escape_tmp} && echo tmp-root=written || echo tmp-root=denied
      - ln -s {out} link-out && echo pwned > link-out/via-link.txt && echo symlink=written || echo symlink=denied
      - echo ok > inside.txt && echo inside=ok
      - echo ok > "$TMPDIR/t" && echo tmpdir=ok
      - echo ok > "$HOME/h" && echo home=ok
      - echo ok > /dev/null && echo devnull=ok
"#
        ),
    );
    p.write("existing.txt", "original\n");
    p.write("sub/keep.txt", "keep\n");
    let before = snapshot(&p.src);
    let b = p.build(&[]);
    // /tmp in the build is its own fresh tmpfs: the write succeeds there, never on the host's.
    let host_tmp_written = Path::new(&escape_tmp).exists();
    let _ = std::fs::remove_file(&escape_tmp);
    assert!(!host_tmp_written, "the build wrote the host's /tmp");
    assert_eq!(b.status(), "SUCCEEDED", "{}", b.describe());
    for line in [
        "outside=denied",
        "source-new=denied",
        "source-append=denied",
        "source-rm=denied",
        "source-mkdir=denied",
        "tmp-root=written",
        "symlink=denied",
        "inside=ok",
        "tmpdir=ok",
        "home=ok",
        "devnull=ok",
    ] {
        assert_eq!(b.count_output(line), 1, "`{line}`\n{}", b.describe());
    }
    assert!(rel_files(&outside).is_empty(), "nothing written outside: {:?}", rel_files(&outside));
    assert_eq!(snapshot(&p.src), before, "the original source is unchanged");
    assert!(!p.src.join("newdir").exists() && !p.src.join("inside.txt").exists());
}

#[test]
fn kiln_environment_does_not_leak_into_the_build() {
    let p = Project::new(
        r#"version: 0.2
env:
  variables:
    DECLARED: declared-value
phases:
  build:
    commands:
      - echo "leak=[${KILN_TEST_HOST_ONLY-}] [${AWS_SECRET_ACCESS_KEY-}] [${CARGO_MANIFEST_DIR-}]"
      - echo "declared=$DECLARED"
      - echo "env-mentions=$(env | grep -c host-only-value)"
"#,
    );
    let b = p.build_with(&[], |c| {
        c.env("KILN_TEST_HOST_ONLY", "host-only-value").env("AWS_SECRET_ACCESS_KEY", "host-only-value-aws");
    });
    assert_eq!(b.status(), "SUCCEEDED", "{}", b.describe());
    assert_eq!(b.count_output("leak=[] [] []"), 1, "{}", b.describe());
    assert_eq!(b.count_output("declared=declared-value"), 1);
    assert_eq!(b.count_output("env-mentions=0"), 1, "{}", b.describe());
}

/// The pids cgroup kiln created, if the record names one.
fn cgroup_dir(b: &Build) -> Option<String> {
    b.record["kiln"]["sandbox"]["mechanisms"].as_array()?.iter().find_map(|m| {
        let m = m.as_str()?;
        let inner = m.strip_prefix("cgroup-")?;
        Some(inner.split_once(',')?.1.trim_end_matches(')').to_string())
    })
}

#[test]
fn a_fork_bomb_is_bounded_and_cleaned_up() {
    let marker = sleep_marker(120);
    let _guard = KillOnDrop(marker.clone());
    let p = Project::new(&format!(
        "version: 0.2\nkiln:\n  max-processes: 50\nphases:\n  build:\n    commands:\n      - 'n=0; for i in $(seq 300); do sleep {marker} & n=$((n+1)); done; echo \"started=$n\"'\n"
    ));
    let b = p.build(&[]);
    let missing = b.record["kiln"]["sandbox"]["missing"].to_string();
    if missing.contains("process limit") {
        eprintln!("SKIPPED: this host cannot bound processes for root ({missing})");
        return;
    }
    let mechanisms = b.record["kiln"]["sandbox"]["mechanisms"].to_string();
    // The PID namespace's pid_max (`pidns(max=50)`), or for an ordinary user the rlimit counted in
    // the build's user namespace (`userns-rlimit-nproc(50)`).
    assert!(mechanisms.contains("max=50") || mechanisms.contains("nproc(50)"), "{}", b.record["kiln"]["sandbox"]);
    assert_eq!(b.status(), "FAILED", "starting 300 processes under a limit of 50 must fail\n{}", b.describe());
    assert_eq!(b.count_output("started=300"), 0, "{}", b.describe());
    assert!(
        b.output_of("BUILD").iter().any(|l| l.contains("Cannot fork") || l.contains("Resource temporarily unavailable")),
        "the build failed because it could not fork, not for another reason\n{}",
        b.describe()
    );
    assert!(b.elapsed < Duration::from_secs(30), "bounded quickly: {:?}", b.elapsed);
    let left = survivors_after(&marker, Duration::from_secs(5));
    assert!(left.is_empty(), "{} sleeps survived kiln: {:?}", left.len(), &left[..left.len().min(5)]);
    if let Some(dir) = cgroup_dir(&b) {
        assert!(!Path::new(&dir).exists(), "the build's cgroup {dir} is removed");
    }
    // The machine is fine: we can still start processes, and a new build runs normally.
    assert!(std::process::Command::new("true").status().unwrap().success());
    let ok = Project::new("version: 0.2\nkiln:\n  max-processes: 50\nphases:\n  build:\n    commands:\n      - for i in 1 2 3 4 5; do sleep 0.1 & done; wait; echo fine\n");
    let b = ok.build(&[]);
    assert_eq!((b.status(), b.count_output("fine")), ("SUCCEEDED", 1), "{}", b.describe());
}

fn background_spec(m: &[String]) -> String {
    format!(
        r#"version: 0.2
phases:
  build:
    commands:
      - sleep {} &
      - setsid sleep {} &
      - nohup sleep {} > /dev/null 2>&1 &
      - (setsid sh -c 'sleep {} & exit 0' &)
      - sh -c 'trap "" TERM HUP INT; sleep {}' &
      - echo started
  post_build:
    commands:
      - echo "alive=$(ps -eo args | grep -c '^sleep {}')"
"#,
        m[0], m[1], m[2], m[3], m[4], m[1]
    )
}

fn check_background_killed(extra: &[&str]) {
    let markers: Vec<String> = (0..5).map(|_| sleep_marker(300)).collect();
    let _guards: Vec<KillOnDrop> = markers.iter().cloned().map(KillOnDrop).collect();
    let p = Project::new(&background_spec(&markers));
    let b = p.build(extra);
    assert_eq!(b.status(), "SUCCEEDED", "{}", b.describe());
    assert_eq!(b.count_output("alive=1"), 1, "the setsid'd process lived on into post_build (0.2 keeps background jobs)\n{}", b.describe());
    for m in &markers {
        let left = survivors_after(m, Duration::from_secs(3));
        assert!(left.is_empty(), "still running after kiln exited ({extra:?}): {left:?}\n{}", b.describe());
    }
    assert!(b.log().contains("stopped") && b.log().contains("process(es) the build left running"), "{}", b.log());
}

#[test]
fn background_processes_die_when_the_build_ends() {
    check_background_killed(&[]);
}

#[test]
fn background_processes_die_without_the_sandbox_too() {
    check_background_killed(&["--no-sandbox"]);
}

#[test]
fn no_sandbox_is_on_the_record() {
    let p = Project::empty();
    let outside = p.side_dir("outside");
    p.write("buildspec.yml", format!("version: 0.2\nphases:\n  build:\n    commands:\n      - echo written > {}/f\n", outside.display()));
    let b = p.build(&["--no-sandbox"]);
    assert_eq!(b.status(), "SUCCEEDED", "{}", b.describe());
    assert_eq!(b.record["kiln"]["sandbox"]["sandboxed"], false, "{}", b.record["kiln"]["sandbox"]);
    assert_eq!(b.disk_record()["kiln"]["sandbox"]["sandboxed"], false);
    assert!(outside.join("f").exists(), "unconfined: the write outside went through");

    let plain = p.run(&["build", p.src.to_str().unwrap(), "--no-sandbox"]);
    assert_eq!(plain.code, 0, "{}", plain.stderr);
    assert!(plain.stdout.contains("without a sandbox"), "the summary warns:\n{}", plain.stdout);

    let sandboxed = Project::new("version: 0.2\nphases:\n  build:\n    commands: [true]\n").build(&[]);
    let sb = &sandboxed.record["kiln"]["sandbox"];
    assert_eq!(sb["sandboxed"], true);
    // Nothing was left running, and ending the shell itself is not reported as if it were.
    assert!(!sandboxed.log().contains("left running"), "{}", sandboxed.log());
    assert!(sb["mechanisms"].to_string().contains("landlock-fs"), "{sb}");
}

#[test]
fn processes_left_by_a_kiln_killed_with_sigkill_are_cleaned_up_by_the_next_build() {
    let marker = sleep_marker(300);
    let _guard = KillOnDrop(marker.clone());
    let p = Project::new(&format!(
        "version: 0.2\nphases:\n  build:\n    commands:\n      - setsid sleep {marker} &\n      - (sh -c 'sleep {marker}' &)\n      - sleep 60\n"
    ));
    let mut kiln = std::process::Command::new(assert_cmd::cargo::cargo_bin("kiln"));
    kiln.arg("build").arg(&p.src).env("HOME", p.root().join("home")).env("TMPDIR", p.scratch()).env("NO_COLOR", "1");
    kiln.stdout(std::process::Stdio::null()).stderr(std::process::Stdio::null());
    let mut child = kiln.spawn().expect("start kiln");
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while procs_with(&marker).len() < 2 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(procs_with(&marker).len() >= 2, "the build started its background processes");
    child.kill().expect("SIGKILL kiln");
    child.wait().expect("reap kiln");
    std::thread::sleep(Duration::from_millis(200));
    let orphans = procs_with(&marker);
    // In the build's own PID namespace the kernel ends them with the shell, which dies with kiln.
    let killed_record = std::fs::read_dir(p.src.join(".kiln/builds"))
        .ok()
        .and_then(|mut d| d.next())
        .and_then(|e| std::fs::read_to_string(e.ok()?.path().join("build.json")).ok())
        .unwrap_or_default();
    if killed_record.contains("pidns(") {
        let left = survivors_after(&marker, Duration::from_secs(2));
        assert!(left.is_empty(), "processes of the killed kiln outlived its PID namespace: {left:?}");
        return;
    }
    // Without a cgroup (e.g. unprivileged), nothing can find them again; the next build's
    // clean-up is a promise of the cgroup layer only.
    if orphans.is_empty() {
        return;
    }
    let next = Project::new("version: 0.2\nphases:\n  build:\n    commands:\n      - echo next\n");
    let b = next.build(&[]);
    assert_eq!(b.status(), "SUCCEEDED", "{}", b.describe());
    if b.record["kiln"]["sandbox"]["mechanisms"].to_string().contains("cgroup") {
        let left = survivors_after(&marker, Duration::from_secs(3));
        assert!(left.is_empty(), "processes of the killed kiln survived the next build: {left:?}");
    }
}
