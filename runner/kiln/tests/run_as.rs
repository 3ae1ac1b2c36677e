//! `run-as` through the real binary (issue 13): a root kiln runs a phase's commands as that
//! user inside the build's user namespace (no capability left) and the shell session follows
//! the user from phase to phase (`cd` and variables kept); an unknown user fails PROVISIONING
//! naming it; an ordinary user's kiln says it cannot apply another user.

mod common;

use common::*;

const SPEC: &str = r#"version: 0.2
run-as: nobody
phases:
  install:
    commands:
      - id -u > uid-install
      - grep CapEff /proc/self/status | tr -d ' \t' > caps-install
      - mkdir -p sub && cd sub && export FROM_INSTALL=yes
  build:
    run-as: root
    commands:
      - id -u > ../uid-build
      - echo "$FROM_INSTALL $(basename "$PWD")" > ../state-build
  post_build:
    commands:
      - id -u > ../uid-post
      - touch "$HOME/home-ok" && echo yes > ../home-ok
artifacts:
  files: ['uid-*', 'caps-*', 'state-*', 'home-ok']
"#;

fn artifact(b: &Build, name: &str) -> String {
    std::fs::read_to_string(b.artifacts_dir().join("app").join(name)).unwrap_or_else(|e| panic!("{name}: {e}\n{}", b.describe())).trim().to_string()
}

#[test]
fn phases_run_as_their_user_and_the_session_follows() {
    let p = Project::new(SPEC);
    let b = p.build(&[]);
    if !nix::unistd::getuid().is_root() {
        assert_eq!(b.status(), "SUCCEEDED", "{}", b.describe());
        let notices = b.record["kiln"]["notices"].to_string();
        assert!(notices.contains("not applied: only a kiln running as root"), "{notices}");
        return;
    }
    assert_eq!(b.status(), "SUCCEEDED", "{}", b.describe());
    assert_eq!(artifact(&b, "uid-install"), "65534");
    assert_eq!(artifact(&b, "caps-install"), "CapEff:0000000000000000", "no capability as the run-as user");
    assert_eq!(artifact(&b, "uid-build"), "0", "a phase's own run-as wins");
    assert_eq!(artifact(&b, "state-build"), "yes sub", "the session's cd and variables cross the user switch");
    assert_eq!(artifact(&b, "uid-post"), "65534");
    assert_eq!(artifact(&b, "home-ok"), "yes", "the run-as user can write its HOME");
    let run_as = b.record["kiln"]["runAs"].to_string();
    assert!(run_as.contains("nobody (uid 65534) for every phase") && run_as.contains("root (uid 0) for build"), "{run_as}");
}

#[test]
fn an_unknown_user_fails_provisioning_by_name() {
    let p = Project::new("version: 0.2\nphases:\n  build:\n    run-as: no-such-kiln-user\n    commands: [echo never]\n");
    let b = p.build(&[]);
    if !nix::unistd::getuid().is_root() {
        return;
    }
    assert_eq!(b.status(), "FAILED", "{}", b.describe());
    let (code, message) = b.context("PROVISIONING").expect("why");
    assert_eq!(code, "CLIENT_ERROR");
    assert!(message.contains("there is no user no-such-kiln-user"), "{message}");
    assert_eq!(b.count_output("never"), 0);
}
