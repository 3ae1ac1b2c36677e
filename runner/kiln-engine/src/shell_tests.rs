use super::*;
use std::time::Duration;

/// A session with stdout captured into a file, so tests can read what commands printed.
struct T {
    _dir: tempfile::TempDir,
    s: ShellSession,
    out: PathBuf,
}

fn session(kind: ShellKind, version: Version) -> T {
    let t = tempfile::tempdir().unwrap();
    std::fs::create_dir(t.path().join("src")).unwrap();
    let env = vec![("PATH".into(), std::env::var_os("PATH").unwrap()), ("FROM_SPEC".into(), "v".into())];
    let s = ShellSession::new(kind, version, &t.path().join("state"), &t.path().join("src"), env).unwrap();
    let out = t.path().join("out");
    T { _dir: t, s, out }
}

impl T {
    /// Run `text`; return its exit and what it printed.
    async fn run(&mut self, text: &str) -> (Exit, String) {
        std::fs::write(&self.out, "").unwrap();
        let out = self.out.clone();
        let mut prepare = move |c: &mut Command| -> io::Result<()> {
            let f = std::fs::OpenOptions::new().append(true).open(&out)?;
            c.stdout(f.try_clone()?).stderr(f);
            Ok(())
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        // The file is reopened for every started shell, so output of a restarted shell lands too.
        let exit = self.s.run(text, true, deadline, &mut prepare).await.unwrap();
        (exit, std::fs::read_to_string(&self.out).unwrap().trim().to_string())
    }
}

#[tokio::test]
async fn bash_session_carries_cd_vars_functions_and_options() {
    let mut t = session(ShellKind::Bash, Version::V0_2);
    assert_eq!(t.run("mkdir -p a/b && cd a/b").await.0, Exit::Code(0));
    assert!(t.run("pwd").await.1.ends_with("/src/a/b"));
    t.run("X='two words'; export Y=\"multi\nline\"; arr=(1 2 3); greet() { echo \"hi $1\"; }").await;
    assert_eq!(t.run("echo \"$X|$Y|${arr[2]}\"").await.1, "two words|multi\nline|3");
    assert_eq!(t.run("greet kiln").await.1, "hi kiln");
    assert_eq!(t.run("bash -c 'printf %s \"${Y:-unset}\"'").await.1, "multi\nline", "exported vars stay exported");
    assert_eq!(t.run("set -o pipefail; false | true").await.0, Exit::Code(1));
    assert_eq!(t.run("false | true").await.0, Exit::Code(1), "pipefail carried over");
    assert_eq!(t.run("echo $FROM_SPEC").await.1, "v");
}

#[tokio::test]
async fn exit_in_a_command_restarts_the_session_where_it_was() {
    let mut t = session(ShellKind::Bash, Version::V0_2);
    t.run("mkdir d; cd d; f() { echo fn; }").await;
    assert_eq!(t.run("Z=kept; exit 7").await.0, Exit::Code(7));
    let (exit, out) = t.run("echo $Z; f; pwd").await;
    assert_eq!(exit, Exit::Code(0));
    assert!(out.starts_with("kept\nfn\n") && out.ends_with("/src/d"), "{out}");
}

#[tokio::test]
async fn commands_cannot_read_or_write_the_control_channel() {
    let mut t = session(ShellKind::Bash, Version::V0_2);
    let probe = "for fd in 3 4; do [ -e /proc/self/fd/$fd ] && echo inherited-$fd; done; true";
    let (exit, out) = t.run(&format!("{{ echo 'done 0' >&4; }} 2>/dev/null || echo no-fd4; {{ read -r x <&3; }} 2>/dev/null || echo no-fd3; bash -c '{probe}'")).await;
    assert_eq!(exit, Exit::Code(0));
    assert_eq!(out, "no-fd4\nno-fd3");
}

#[tokio::test]
async fn a_timeout_kills_the_session_and_the_next_command_restarts_from_the_last_save() {
    let mut t = session(ShellKind::Bash, Version::V0_2);
    t.run("V=before").await;
    t.s.save(); // what the build does at the end of a phase
    t.run("W=after-the-save").await;
    let mut nothing = |_: &mut Command| -> io::Result<()> { Ok(()) };
    let started = Instant::now();
    let exit = t.s.run("sleep 30", true, Instant::now() + Duration::from_millis(300), &mut nothing).await.unwrap();
    assert_eq!(exit, Exit::TimedOut);
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(t.run("echo $V-${W:-lost}").await.1, "before-lost");
}

#[tokio::test]
async fn the_state_is_saved_when_asked_not_after_every_command() {
    let mut t = session(ShellKind::Bash, Version::V0_2);
    t.run("A=1").await;
    t.run("B=2").await;
    assert_eq!(t.s.state, None, "no save yet");
    t.s.save();
    assert_eq!(t.s.state, None, "the save is not waited for");
    // The next command reads the save's reply first.
    t.run("C=3").await;
    let saved = t.s.state.expect("adopted before the next command");
    let text = std::fs::read_to_string(t.s.dir.join(format!("state.{saved}"))).unwrap();
    assert!(text.contains("A=\"1\"") && text.contains("B=\"2\"") && !text.contains("C=\"3\""), "{text}");
    t.s.sync_state(Instant::now() + Duration::from_secs(20)).await;
    let now = t.s.state.unwrap();
    assert_ne!(now, saved, "the other slot");
    assert!(std::fs::read_to_string(t.s.dir.join(format!("state.{now}"))).unwrap().contains("C=\"3\""));
    // Nothing changed since: no new save.
    t.s.sync_state(Instant::now() + Duration::from_secs(20)).await;
    assert_eq!(t.s.state, Some(now));
}

#[tokio::test]
async fn functions_named_like_builtins_do_not_hijack_the_save() {
    let mut t = session(ShellKind::Bash, Version::V0_2);
    t.run("declare() { echo hijacked; }; printf() { :; }; echo() { :; }; K=kept").await;
    t.s.sync_state(Instant::now() + Duration::from_secs(20)).await;
    assert!(t.s.state.is_some(), "the save completed");
    assert_eq!(t.run("exit 0").await.0, Exit::Code(0));
    assert_eq!(t.run("builtin echo $K").await.1, "kept");
}

#[tokio::test]
async fn a_restarted_bash_session_prints_nothing_of_its_own() {
    let mut t = session(ShellKind::Bash, Version::V0_2);
    t.run("A=1; cd /").await;
    assert_eq!(t.run("exit 0").await.0, Exit::Code(0));
    // The restart re-reads the state (read-only variables such as UID included) silently.
    let (exit, out) = t.run("echo \"$A $PWD\"").await;
    assert_eq!((exit, out.as_str()), (Exit::Code(0), "1 /"));
}

#[tokio::test]
async fn a_state_file_cut_short_is_discarded() {
    let mut t = session(ShellKind::Bash, Version::V0_2);
    t.run("A=1").await;
    t.s.stop().await;
    let other = if t.s.state == Some(0) { 1 } else { 0 };
    std::fs::write(t.s.dir.join(format!("state.{other}")), "A=2\n").unwrap();
    t.s.commit_state(other);
    assert_eq!(t.run("echo $A").await.1, "1");
}

#[tokio::test]
async fn sh_session_carries_cd_and_variables() {
    let mut t = session(ShellKind::Sh, Version::V0_2);
    t.run("mkdir -p d && cd d; PLAIN=1; export EXP=\"it's\"").await;
    assert_eq!(t.run("echo \"$PLAIN $EXP\"").await.1, "1 it's");
    assert!(t.run("pwd").await.1.ends_with("/src/d"));
    assert_eq!(t.run("set -e; false; echo unreachable").await.0, Exit::Code(1));
    assert_eq!(t.run("echo $PLAIN").await.1, "1", "state survives the shell exiting");
}

#[tokio::test]
async fn version_0_1_runs_each_command_in_a_fresh_shell() {
    let mut t = session(ShellKind::Bash, Version::V0_1);
    t.run("mkdir d; cd d; export V=1").await;
    assert!(t.run("pwd").await.1.ends_with("/src"));
    assert_eq!(t.run("echo ${V:-unset}").await.1, "unset");
}

#[tokio::test]
async fn query_and_expand_read_the_session_state() {
    let mut t = session(ShellKind::Bash, Version::V0_2);
    t.run("export TAG=v1.2; NOT_EXPORTED=x").await;
    t.s.sync_state(Instant::now() + Duration::from_secs(20)).await;
    let out = t.s.query_command(&["TAG".into(), "NOT_EXPORTED".into(), "MISSING".into()]).output().unwrap();
    assert_eq!(parse_query_output(&out.stdout), vec![("TAG".into(), "v1.2".into()), ("NOT_EXPORTED".into(), "x".into())]);
    let out = t.s.expand_command(&["app-$TAG".into(), "$(echo sub)-x".into()]).output().unwrap();
    assert_eq!(out.stdout, b"app-v1.2\0sub-x\0");
}
