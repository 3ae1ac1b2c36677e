//! `Policy::run_as_users` and `Sandbox::apply_as` (a buildspec's `run-as`): a root kiln runs a
//! command as another user inside the build's user namespace, where it has no capability left;
//! an ordinary user's kiln cannot, and says so; a user the policy did not name is refused.

mod common;

use std::os::unix::fs::MetadataExt;
use std::process::{Command, Stdio};

use common::*;
use kiln_sandbox::{Policy, Sandbox};

const NOBODY: (u32, u32) = (65534, 65534);

fn run_as(sb: &Sandbox, user: Option<(u32, u32)>, script: &str) -> std::process::Output {
    let mut cmd = Command::new("/bin/bash");
    cmd.arg("-c").arg(script).stdin(Stdio::null()).current_dir("/");
    sb.apply_as(&mut cmd, user);
    cmd.output().expect("spawn")
}

#[test]
fn root_runs_a_command_as_another_user_without_capabilities() {
    let _g = serial();
    let work = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    if !nix::unistd::getuid().is_root() {
        let pol = Policy { run_as_users: vec![NOBODY], ..policy(&[work.path()], false, None) };
        let e = Sandbox::prepare(&pol).expect_err("an ordinary user cannot map other ids");
        assert!(e.to_string().contains("only a kiln running as root"), "{e}");
        return;
    }
    std::os::unix::fs::chown(work.path(), Some(NOBODY.0), Some(NOBODY.1)).unwrap();
    let pol = Policy { run_as_users: vec![NOBODY], ..policy(&[work.path()], false, None) };
    let sb = Sandbox::prepare(&pol).expect("prepare");
    let script = format!(
        "id -u; id -g; id -G; grep CapEff /proc/self/status; touch {w}/made-by-nobody && echo wrote; \
         unshare -U true 2>/dev/null && echo LEAK-userns; \
         echo x > /etc/kiln-run-as-probe 2>/dev/null && echo LEAK-etc; \
         su -c true root </dev/null 2>/dev/null && echo LEAK-su; true",
        w = work.path().display()
    );
    let out = run_as(&sb, Some(NOBODY), &script);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(&lines[..3], ["65534", "65534", "65534"], "stdout {stdout} stderr {}", String::from_utf8_lossy(&out.stderr));
    assert!(lines[3].ends_with("0000000000000000"), "no capability left: {}", lines[3]);
    assert!(stdout.contains("wrote") && !stdout.contains("LEAK"), "{stdout}");
    let made = std::fs::metadata(work.path().join("made-by-nobody")).unwrap();
    assert_eq!((made.uid(), made.gid()), NOBODY, "owned by the user on the host");

    // The same sandbox still runs root commands as root (inside its namespace).
    let out = run_as(&sb, None, "id -u");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "0");

    // A user the policy did not name: the spawn is refused.
    let mut cmd = Command::new("/bin/true");
    cmd.current_dir("/");
    sb.apply_as(&mut cmd, Some((1, 1)));
    assert!(cmd.status().is_err(), "an unlisted user is refused");
}
