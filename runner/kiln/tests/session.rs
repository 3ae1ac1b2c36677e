//! The build's shell session: version 0.2 keeps one session across commands and phases, version
//! 0.1 starts a fresh shell per command; the environment a build starts with (`env.variables`,
//! `--env`, the standard CODEBUILD_* variables).

mod common;

use common::*;

/// The value after `key=` on the first output line starting with it.
fn value<'a>(lines: &'a [(String, String)], key: &str) -> Option<&'a str> {
    let prefix = format!("{key}=");
    lines.iter().find_map(|(_, l)| l.strip_prefix(prefix.as_str()))
}

#[test]
fn version_0_2_default_sh_session_carries_cd_and_variables_across_commands_and_phases() {
    let p = Project::new(
        r#"version: 0.2
phases:
  install:
    commands:
      - mkdir -p sub/dir && cd sub/dir
      - PLAIN=plain-value
      - export EXPORTED="exported value"
  pre_build:
    commands:
      - cd ..
  build:
    commands:
      - echo "cwd=$(pwd)"
      - echo "vars=$PLAIN|$EXPORTED"
      - sh -c 'echo "child=$EXPORTED"'
      - echo "exe=$(readlink -f /proc/$$/exe)"
  post_build:
    commands:
      - echo "post=$PLAIN"
"#,
    );
    let b = p.build(&[]);
    assert_eq!(b.status(), "SUCCEEDED", "{}", b.describe());
    let out = b.output_lines();
    let work = b.record["kiln"]["workDir"].as_str().unwrap();
    assert_eq!(value(&out, "cwd"), Some(format!("{work}/sub").as_str()), "cd carries across commands and phases\n{}", b.describe());
    assert_eq!(value(&out, "vars"), Some("plain-value|exported value"), "{}", b.describe());
    assert_eq!(value(&out, "child"), Some("exported value"), "exports reach child processes");
    assert_eq!(value(&out, "post"), Some("plain-value"));
    let sh = std::fs::canonicalize("/bin/sh").unwrap();
    assert_eq!(value(&out, "exe"), Some(sh.to_str().unwrap()), "the default shell is /bin/sh\n{}", b.describe());
    assert_eq!(b.record["kiln"]["shell"], "/bin/sh");
}

#[test]
fn version_0_2_bash_session_carries_functions_arrays_and_options() {
    let p = Project::new(
        r#"version: 0.2
env:
  shell: bash
phases:
  install:
    commands:
      - 'greet() { echo "hello from $1"; }'
      - arr=(a b "c d")
      - set -o pipefail
      - shopt -s nullglob
  build:
    commands:
      - greet build
      - 'echo "arr=${arr[2]}|${#arr[@]}"'
      - if false | true; then echo pipefail-off; else echo pipefail-on; fi
      - 'for f in *.nothing-matches; do echo "glob=$f"; done; echo globs-done'
      - '[[ -n "$BASH_VERSION" ]] && echo is-bash'
  post_build:
    commands:
      - greet post_build
"#,
    );
    let b = p.build(&[]);
    assert_eq!(b.status(), "SUCCEEDED", "{}", b.describe());
    for line in ["hello from build", "arr=c d|3", "pipefail-on", "globs-done", "is-bash", "hello from post_build"] {
        assert_eq!(b.count_output(line), 1, "`{line}`\n{}", b.describe());
    }
    assert!(!b.output_lines().iter().any(|(_, l)| l.starts_with("glob=")), "nullglob carried over\n{}", b.describe());
    assert_eq!(b.record["kiln"]["shell"], "bash");
}

#[test]
fn the_default_shell_is_not_bash() {
    // CodeBuild's default is sh: `[[` is "not found" there (exit 127), as users see on CodeBuild.
    let p = Project::new("version: 0.2\nphases:\n  build:\n    commands:\n      - '[[ 1 == 1 ]]'\n");
    let b = p.build(&[]);
    assert_eq!(b.status(), "FAILED", "{}", b.describe());
    assert!(b.context("BUILD").is_some_and(|(_, m)| m.contains("exit status 127")), "{}", b.describe());
}

#[test]
fn version_0_1_runs_every_command_in_a_fresh_shell() {
    let p = Project::new(
        r#"version: 0.1
phases:
  install:
    commands:
      - mkdir -p d && cd d && export V01=set && X=1
  build:
    commands:
      - cd d
      - echo "src-dir=$([ "$(pwd)" = "$CODEBUILD_SRC_DIR" ] && echo yes || echo no)"
      - echo "v01=${V01:-unset} x=${X:-unset}"
"#,
    );
    let b = p.build(&[]);
    assert_eq!(b.status(), "SUCCEEDED", "{}", b.describe());
    let out = b.output_lines();
    assert_eq!(value(&out, "src-dir"), Some("yes"), "each command starts in CODEBUILD_SRC_DIR\n{}", b.describe());
    assert_eq!(value(&out, "v01"), Some("unset x=unset"), "{}", b.describe());
}

#[test]
fn env_overrides_beat_buildspec_variables_which_are_literal() {
    let p = Project::new(
        r#"version: 0.2
env:
  variables:
    OVERRIDDEN: from-spec
    KEPT: from-spec
    LITERAL: "$HOME/x"
phases:
  build:
    commands:
      - echo "vars=$OVERRIDDEN|$KEPT|$LITERAL|${EXTRA-unset}"
"#,
    );
    let b = p.build(&["--env", "OVERRIDDEN=from-cli", "-e", "EXTRA=a=b c"]);
    assert_eq!(b.status(), "SUCCEEDED", "{}", b.describe());
    assert_eq!(value(&b.output_lines(), "vars"), Some("from-cli|from-spec|$HOME/x|a=b c"), "{}", b.describe());
    let bad = p.run(&["build", p.src.to_str().unwrap(), "--env", "1BAD=x"]);
    assert_eq!(bad.code, 2, "an invalid --env name is a usage error: {}", bad.stderr);
}

const STANDARD_VARS: &str = r#"version: 0.2
phases:
  build:
    commands:
      - echo "id=$CODEBUILD_BUILD_ID"
      - echo "number=$CODEBUILD_BUILD_NUMBER"
      - echo "src=$CODEBUILD_SRC_DIR"
      - echo "pwd=$(pwd)"
      - echo "start=$CODEBUILD_START_TIME"
      - echo "succeeding=$CODEBUILD_BUILD_SUCCEEDING"
      - echo "region=$AWS_REGION/$AWS_DEFAULT_REGION"
      - echo "arn=$CODEBUILD_BUILD_ARN"
      - echo "resolved=${CODEBUILD_RESOLVED_SOURCE_VERSION-unset}"
"#;

fn is_uuid(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    parts.iter().map(|p| p.len()).eq([8, 4, 4, 4, 12]) && parts.iter().all(|p| p.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()))
}

fn now_ms() -> u128 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis()
}

#[test]
fn standard_codebuild_variables_are_set() {
    let p = Project::new(STANDARD_VARS);
    let before = now_ms();
    let b = p.build(&[]);
    let after = now_ms();
    assert_eq!(b.status(), "SUCCEEDED", "{}", b.describe());
    let out = b.output_lines();
    let id = value(&out, "id").expect("CODEBUILD_BUILD_ID");
    let (project, uuid) = id.split_once(':').expect("project:uuid");
    assert_eq!(project, "app", "the project is named after the directory");
    assert!(is_uuid(uuid), "uuid part of {id}");
    assert_eq!(b.record["id"], id);
    assert_eq!(b.record["projectName"], "app");
    assert_eq!(b.record_dir().file_name().unwrap().to_str(), Some(uuid), "records are filed under the uuid");
    assert_eq!(value(&out, "number"), Some("1"));
    assert_eq!(b.record["buildNumber"], 1);
    let src = value(&out, "src").expect("CODEBUILD_SRC_DIR");
    assert_eq!(src, b.record["kiln"]["workDir"].as_str().unwrap());
    assert_eq!(value(&out, "pwd"), Some(src), "commands start in CODEBUILD_SRC_DIR");
    assert_ne!(std::path::Path::new(src), std::fs::canonicalize(&p.src).unwrap(), "without --in-place the build runs in a copy");
    let start: u128 = value(&out, "start").unwrap().parse().expect("CODEBUILD_START_TIME is an integer");
    assert!((before..=after).contains(&start), "CODEBUILD_START_TIME {start} is in ms, between {before} and {after}");
    assert_eq!(value(&out, "succeeding"), Some("1"));
    assert_eq!(value(&out, "region"), Some("us-east-1/us-east-1"));
    assert!(value(&out, "arn").is_some_and(|a| a.starts_with("arn:aws:codebuild:us-east-1:") && a.ends_with(&format!(":build/{id}"))));
    assert_eq!(value(&out, "resolved"), Some("unset"), "no git repository, no resolved version");
    assert!(b.record["resolvedSourceVersion"].is_null());

    // The number counts builds of this directory; the id is new every time.
    let b2 = p.build(&["--region", "eu-west-1"]);
    let out2 = b2.output_lines();
    assert_eq!(value(&out2, "number"), Some("2"), "{}", b2.describe());
    assert_eq!(b2.record["buildNumber"], 2);
    assert_ne!(value(&out2, "id"), Some(id));
    assert_eq!(value(&out2, "region"), Some("eu-west-1/eu-west-1"));
    let b3 = p.build(&[]);
    assert_eq!(value(&b3.output_lines(), "number"), Some("3"));
    assert_eq!(p.record_dirs().len(), 3, "one record per build");

    let other = Project::new(STANDARD_VARS);
    assert_eq!(value(&other.build(&[]).output_lines(), "number"), Some("1"), "numbers are per project");
}

fn git(dir: &std::path::Path, home: &std::path::Path, args: &[&str]) -> String {
    let out = std::process::Command::new("git")
        .args(["-c", "user.name=kiln test", "-c", "user.email=kiln@example.invalid", "-c", "init.defaultBranch=main", "-c", "commit.gpgsign=false"])
        .args(args)
        .current_dir(dir)
        .env("HOME", home)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .output()
        .expect("git");
    assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// A project whose source is a git repository with one commit; and that commit.
fn committed_project() -> (Project, String) {
    let p = Project::new(STANDARD_VARS);
    p.write("README", "hello\n");
    let home = p.side_dir("home");
    git(&p.src, &home, &["init", "-q"]);
    git(&p.src, &home, &["add", "-A"]);
    git(&p.src, &home, &["commit", "-q", "-m", "first"]);
    let head = git(&p.src, &home, &["rev-parse", "HEAD"]);
    (p, head)
}

#[test]
fn resolved_source_version_is_the_git_head_commit() {
    let (p, head) = committed_project();
    assert_eq!(head.len(), 40);
    let b = p.build(&[]);
    assert_eq!(b.status(), "SUCCEEDED", "{}", b.describe());
    assert_eq!(value(&b.output_lines(), "resolved"), Some(head.as_str()), "{}", b.describe());
    assert_eq!(b.record["resolvedSourceVersion"], head.as_str());
    assert_eq!(b.record["sourceVersion"], "main", "the branch is the source version");
    assert!(
        !b.record["kiln"]["notices"].as_array().unwrap().iter().any(|n| n.as_str().unwrap().contains("uncommitted")),
        "a clean tree has no dirty notice: {}",
        b.record["kiln"]["notices"]
    );
    // The build record is not committed: .kiln/ must not dirty the tree (it is untracked).
    p.write("README", "changed\n");
    let b2 = p.build(&[]);
    assert!(b2.record["kiln"]["notices"].as_array().unwrap().iter().any(|n| n.as_str().unwrap().contains("uncommitted")), "{}", b2.record["kiln"]["notices"]);
}

#[test]
fn a_given_source_version_replaces_the_enclosing_repository_head() {
    let (p, head) = committed_project();
    // An unpacked artifact of another commit, as a pipeline hands a build: the commit it holds.
    let other = "0123456789abcdef0123456789abcdef01234567";
    let b = p.build(&["--source-version", other]);
    assert_eq!(b.status(), "SUCCEEDED", "{}", b.describe());
    assert_eq!(value(&b.output_lines(), "resolved"), Some(other), "{}", b.describe());
    assert_eq!(b.record["resolvedSourceVersion"], other);
    assert_ne!(other, head);
    assert!(!b.record["kiln"]["notices"].as_array().unwrap().iter().any(|n| n.as_str().unwrap().contains("uncommitted")), "the repository around it is not read");
    // `none`: no commit at all.
    let b = p.build(&["--source-version", "none"]);
    assert!(b.record["resolvedSourceVersion"].is_null(), "{}", b.record["resolvedSourceVersion"]);
    // Anything else is refused before the build starts.
    let o = p.kiln().args(["build", "--source-version", "HEAD~1"]).arg(&p.src).output().unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("is not a full commit id"), "{}", String::from_utf8_lossy(&o.stderr));
}

#[test]
fn in_place_builds_run_in_the_source_directory() {
    let p = Project::new("version: 0.2\nphases:\n  build:\n    commands:\n      - echo \"src=$CODEBUILD_SRC_DIR\"\n      - echo built > output.txt\n");
    let b = p.build(&["--in-place"]);
    assert_eq!(b.status(), "SUCCEEDED", "{}", b.describe());
    let src = std::fs::canonicalize(&p.src).unwrap();
    assert_eq!(value(&b.output_lines(), "src"), Some(src.to_str().unwrap()));
    assert_eq!(std::fs::read_to_string(p.src.join("output.txt")).unwrap(), "built\n", "the build wrote into the source dir");

    let p2 = Project::new("version: 0.2\nphases:\n  build:\n    commands:\n      - echo built > output.txt\n");
    let b2 = p2.build(&[]);
    assert_eq!(b2.status(), "SUCCEEDED", "{}", b2.describe());
    assert!(!p2.src.join("output.txt").exists(), "without --in-place the source is untouched");
    assert_eq!(p2.scratch_leftovers(), Vec::<std::path::PathBuf>::new(), "the working copy is removed after the build");
}

#[test]
fn compiled_plugins_are_cached_where_build_steps_cannot_write() {
    // An in-place build's steps can write the whole project, so the compile cache (native code
    // kiln maps and runs, outside the sandbox) must not live there: it is in the user's cache.
    let p = Project::new("version: 0.2\nphases:\n  build:\n    commands:\n      - echo built > out.txt\nartifacts:\n  files: [out.txt]\n");
    let b = p.build(&["--in-place"]);
    assert_eq!(b.status(), "SUCCEEDED", "{}", b.describe());
    assert!(!p.src.join(".kiln/plugin-cache").exists(), "no compile cache under the project");
    let cache = p.root().join("home/.cache/kiln/plugin-cache");
    let cached: Vec<_> = std::fs::read_dir(&cache).map(|d| d.flatten().map(|e| e.file_name()).collect()).unwrap_or_default();
    assert!(cached.iter().any(|n| n.to_string_lossy().ends_with(".cwasm")), "the signer's compiled form is cached in {}: {cached:?}", cache.display());
}
