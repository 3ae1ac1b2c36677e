//! Phase transitions, `commands`/`finally`, `on-failure` and exported variables, checked on the
//! real binary: one table row per rule of docs/codebuild-semantics.md §2, each a real build.
//!
//! Every phase that runs prints `<phase>-ran` and `<phase>-succeeding=$CODEBUILD_BUILD_SUCCEEDING`
//! and sets `LAST=<phase>` (an exported variable), so a row can say which phases ran, what they
//! saw, and where exported variables were captured. The project holds `marker.txt`, the primary
//! artifact, so whether UPLOAD_ARTIFACTS ran shows in the record and on disk.

mod common;

use common::*;
use serde_json::Value;

const PHASES: [(&str, &str); 4] = [("install", "INSTALL"), ("pre_build", "PRE_BUILD"), ("build", "BUILD"), ("post_build", "POST_BUILD")];

/// YAML single-quoted scalar.
fn q(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// Changes to one phase of the standard buildspec.
#[derive(Default, Clone)]
struct Mod {
    /// Commands appended after the standard ones.
    commands: &'static [&'static str],
    finally: &'static [&'static str],
    on_failure: Option<&'static str>,
}

fn buildspec(mods: &[(&str, Mod)]) -> String {
    let mut y = String::from("version: 0.2\nenv:\n  exported-variables:\n    - LAST\n    - NEVER_SET\nphases:\n");
    for (key, _) in PHASES {
        let m = mods.iter().find(|(k, _)| *k == key).map(|(_, m)| m.clone()).unwrap_or_default();
        y.push_str(&format!("  {key}:\n"));
        if let Some(of) = m.on_failure {
            y.push_str(&format!("    on-failure: {}\n", q(of)));
        }
        y.push_str("    commands:\n");
        let std = [format!("export LAST={key}"), format!("echo {key}-ran"), format!("echo \"{key}-succeeding=$CODEBUILD_BUILD_SUCCEEDING\"")];
        for c in std.iter().map(String::as_str).chain(m.commands.iter().copied()) {
            y.push_str(&format!("      - {}\n", q(c)));
        }
        if !m.finally.is_empty() {
            y.push_str("    finally:\n");
            for c in m.finally {
                y.push_str(&format!("      - {}\n", q(c)));
            }
        }
    }
    y.push_str("artifacts:\n  files:\n    - marker.txt\n");
    y
}

struct Case {
    name: &'static str,
    mods: Vec<(&'static str, Mod)>,
    /// The phase records expected, in order, from INSTALL to FINALIZING: `(type, status)`.
    phases: &'static [(&'static str, &'static str)],
    status: &'static str,
    /// Output lines that must appear (exactly, as lines).
    present: &'static [&'static str],
    /// Output lines that must not appear.
    absent: &'static [&'static str],
    /// Output lines and how many times each must appear.
    counts: &'static [(&'static str, usize)],
    /// For the failed phase: (type, statusCode, substring of the context message).
    context: Option<(&'static str, &'static str, &'static str)>,
    /// The exported value of LAST.
    last: &'static str,
}

const S: &str = "SUCCEEDED";
const F: &str = "FAILED";
const ALL_OK: &[(&str, &str)] = &[("INSTALL", S), ("PRE_BUILD", S), ("BUILD", S), ("POST_BUILD", S), ("UPLOAD_ARTIFACTS", S), ("FINALIZING", S)];

fn fail(cmd: &'static [&'static str]) -> Mod {
    Mod { commands: cmd, ..Mod::default() }
}

fn cases() -> Vec<Case> {
    vec![
        Case {
            name: "every phase succeeds: all run in order, artifacts uploaded, SUCCEEDED",
            mods: vec![],
            phases: ALL_OK,
            status: S,
            present: &["install-ran", "pre_build-ran", "build-ran", "post_build-ran", "post_build-succeeding=1"],
            absent: &[],
            counts: &[],
            context: None,
            last: "post_build",
        },
        Case {
            name: "install fails: pre_build/build/post_build not run, UPLOAD_ARTIFACTS skipped",
            mods: vec![("install", fail(&["sh -c 'exit 3'", "echo install-after-failure"]))],
            phases: &[("INSTALL", F), ("FINALIZING", S)],
            status: F,
            present: &["install-ran"],
            absent: &["install-after-failure", "pre_build-ran", "build-ran", "post_build-ran"],
            counts: &[],
            context: Some(("INSTALL", "COMMAND_EXECUTION_ERROR", "Error while executing command: sh -c 'exit 3'. Reason: exit status 3")),
            last: "install",
        },
        Case {
            name: "pre_build fails: build/post_build not run, UPLOAD_ARTIFACTS skipped",
            mods: vec![("pre_build", fail(&["false", "echo pre_build-after-failure"]))],
            phases: &[("INSTALL", S), ("PRE_BUILD", F), ("FINALIZING", S)],
            status: F,
            present: &["install-ran", "pre_build-ran"],
            absent: &["pre_build-after-failure", "build-ran", "post_build-ran"],
            counts: &[],
            context: Some(("PRE_BUILD", "COMMAND_EXECUTION_ERROR", "Error while executing command: false. Reason: exit status 1")),
            last: "pre_build",
        },
        Case {
            name: "build fails: post_build runs with CODEBUILD_BUILD_SUCCEEDING=0, artifacts still uploaded",
            mods: vec![("build", fail(&["false", "echo build-after-failure"]))],
            phases: &[("INSTALL", S), ("PRE_BUILD", S), ("BUILD", F), ("POST_BUILD", S), ("UPLOAD_ARTIFACTS", S), ("FINALIZING", S)],
            status: F,
            present: &["build-succeeding=1", "post_build-ran", "post_build-succeeding=0"],
            absent: &["build-after-failure", "post_build-succeeding=1"],
            counts: &[],
            context: Some(("BUILD", "COMMAND_EXECUTION_ERROR", "Error while executing command: false")),
            last: "post_build",
        },
        Case {
            name: "post_build fails: UPLOAD_ARTIFACTS is still attempted",
            mods: vec![("post_build", fail(&["sh -c 'exit 2'"]))],
            phases: &[("INSTALL", S), ("PRE_BUILD", S), ("BUILD", S), ("POST_BUILD", F), ("UPLOAD_ARTIFACTS", S), ("FINALIZING", S)],
            status: F,
            present: &["post_build-ran", "post_build-succeeding=1"],
            absent: &[],
            counts: &[],
            context: Some(("POST_BUILD", "COMMAND_EXECUTION_ERROR", "exit status 2")),
            last: "post_build",
        },
        Case {
            name: "install on-failure CONTINUE: the next phases run, the build still FAILED",
            mods: vec![("install", Mod { commands: &["false", "echo install-after-failure"], on_failure: Some("CONTINUE"), ..Mod::default() })],
            phases: &[("INSTALL", F), ("PRE_BUILD", S), ("BUILD", S), ("POST_BUILD", S), ("UPLOAD_ARTIFACTS", S), ("FINALIZING", S)],
            status: F,
            present: &["pre_build-ran", "build-ran", "post_build-ran", "pre_build-succeeding=0"],
            absent: &["install-after-failure"],
            counts: &[],
            context: Some(("INSTALL", "COMMAND_EXECUTION_ERROR", "false")),
            last: "post_build",
        },
        Case {
            name: "pre_build on-failure CONTINUE: build and post_build run, the build still FAILED",
            mods: vec![("pre_build", Mod { commands: &["false"], on_failure: Some("CONTINUE"), ..Mod::default() })],
            phases: &[("INSTALL", S), ("PRE_BUILD", F), ("BUILD", S), ("POST_BUILD", S), ("UPLOAD_ARTIFACTS", S), ("FINALIZING", S)],
            status: F,
            present: &["build-ran", "build-succeeding=0", "post_build-ran"],
            absent: &[],
            counts: &[],
            context: Some(("PRE_BUILD", "COMMAND_EXECUTION_ERROR", "false")),
            last: "post_build",
        },
        Case {
            name: "build on-failure ABORT: the build ends, post_build and UPLOAD_ARTIFACTS skipped, finally still runs",
            mods: vec![("build", Mod { commands: &["false"], finally: &["echo build-finally-ran"], on_failure: Some("ABORT") })],
            phases: &[("INSTALL", S), ("PRE_BUILD", S), ("BUILD", F), ("FINALIZING", S)],
            status: F,
            present: &["build-ran", "build-finally-ran"],
            absent: &["post_build-ran"],
            counts: &[],
            context: Some(("BUILD", "COMMAND_EXECUTION_ERROR", "false")),
            last: "build",
        },
        Case {
            name: "the first failing command skips the rest of commands; finally runs after it",
            mods: vec![("build", Mod { commands: &["echo c1", "sh -c 'exit 4'", "echo c3"], finally: &["echo finally-1", "echo finally-2"], on_failure: None })],
            phases: &[("INSTALL", S), ("PRE_BUILD", S), ("BUILD", F), ("POST_BUILD", S), ("UPLOAD_ARTIFACTS", S), ("FINALIZING", S)],
            status: F,
            present: &["c1"],
            absent: &["c3"],
            counts: &[("finally-1", 1), ("finally-2", 1)],
            context: Some(("BUILD", "COMMAND_EXECUTION_ERROR", "sh -c 'exit 4'. Reason: exit status 4")),
            last: "post_build",
        },
        Case {
            name: "a failing finally command fails a phase whose commands all succeeded",
            mods: vec![("build", Mod { commands: &["echo all-commands-ok"], finally: &["echo f1", "sh -c 'exit 5'", "echo f3"], on_failure: None })],
            phases: &[("INSTALL", S), ("PRE_BUILD", S), ("BUILD", F), ("POST_BUILD", S), ("UPLOAD_ARTIFACTS", S), ("FINALIZING", S)],
            status: F,
            present: &["all-commands-ok", "f1", "post_build-succeeding=0"],
            absent: &["f3"],
            counts: &[],
            context: Some(("BUILD", "COMMAND_EXECUTION_ERROR", "exit status 5")),
            last: "post_build",
        },
        Case {
            name: "a failing finally in install stops the build like a failing command",
            mods: vec![("install", Mod { commands: &[], finally: &["false"], on_failure: None })],
            phases: &[("INSTALL", F), ("FINALIZING", S)],
            status: F,
            present: &["install-ran"],
            absent: &["pre_build-ran"],
            counts: &[],
            context: Some(("INSTALL", "COMMAND_EXECUTION_ERROR", "false")),
            last: "install",
        },
        Case {
            name: "RETRY-2: a phase that keeps failing runs 3 times (counted in the log and in a file), then the default transition",
            mods: vec![(
                "build",
                Mod { commands: &["echo run >> \"$CODEBUILD_SRC_DIR/build-runs\"", "echo build-attempt", "false"], on_failure: Some("RETRY-2"), finally: &[] },
            ), ("post_build", fail(&["echo \"build-runs=$(wc -l < \"$CODEBUILD_SRC_DIR/build-runs\")\""]))],
            phases: &[("INSTALL", S), ("PRE_BUILD", S), ("BUILD", F), ("POST_BUILD", S), ("UPLOAD_ARTIFACTS", S), ("FINALIZING", S)],
            status: F,
            present: &["build-runs=3"],
            absent: &[],
            counts: &[("build-attempt", 3), ("build-ran", 3)],
            context: Some(("BUILD", "COMMAND_EXECUTION_ERROR", "false")),
            last: "post_build",
        },
        Case {
            name: "RETRY-2: a phase that succeeds on its second run ends SUCCEEDED",
            mods: vec![(
                "build",
                Mod {
                    commands: &["echo run >> runs; n=$(wc -l < runs); echo \"attempt-$n\"; [ \"$n\" -ge 2 ]"],
                    on_failure: Some("RETRY-2"),
                    finally: &[],
                },
            )],
            phases: ALL_OK,
            status: S,
            present: &["attempt-1", "attempt-2"],
            absent: &["attempt-3"],
            counts: &[("build-ran", 2)],
            context: None,
            last: "post_build",
        },
        Case {
            name: "RETRY-n-regex retries while the output matches",
            mods: vec![(
                "build",
                Mod { commands: &["echo retry-attempt", "echo 'error: Connection reset by peer'; false"], on_failure: Some("RETRY-2-Connection re[s]et"), finally: &[] },
            )],
            phases: &[("INSTALL", S), ("PRE_BUILD", S), ("BUILD", F), ("POST_BUILD", S), ("UPLOAD_ARTIFACTS", S), ("FINALIZING", S)],
            status: F,
            present: &[],
            absent: &[],
            counts: &[("retry-attempt", 3)],
            context: Some(("BUILD", "COMMAND_EXECUTION_ERROR", "false")),
            last: "post_build",
        },
        Case {
            name: "RETRY-n-regex does not retry when the output does not match",
            mods: vec![(
                "build",
                Mod { commands: &["echo retry-attempt", "echo 'error: disk full'; false"], on_failure: Some("RETRY-2-Connection re[s]et"), finally: &[] },
            )],
            phases: &[("INSTALL", S), ("PRE_BUILD", S), ("BUILD", F), ("POST_BUILD", S), ("UPLOAD_ARTIFACTS", S), ("FINALIZING", S)],
            status: F,
            present: &["error: disk full"],
            absent: &[],
            counts: &[("retry-attempt", 1)],
            context: Some(("BUILD", "COMMAND_EXECUTION_ERROR", "false")),
            last: "post_build",
        },
    ]
}

/// Checks every record must pass whatever the buildspec: phase order and shape, completion,
/// the exit code, and that `--json` printed what is on disk.
fn check_record_shape(b: &Build) -> Result<(), String> {
    let order = ["SUBMITTED", "QUEUED", "PROVISIONING", "DOWNLOAD_SOURCE", "INSTALL", "PRE_BUILD", "BUILD", "POST_BUILD", "UPLOAD_ARTIFACTS", "FINALIZING", "COMPLETED"];
    let types = b.phase_types();
    let idx: Vec<usize> = types.iter().map(|t| order.iter().position(|o| o == t).unwrap_or(99)).collect();
    if idx.windows(2).any(|w| w[0] >= w[1]) || idx.contains(&99) {
        return Err(format!("phases out of order or unknown: {types:?}"));
    }
    if types[..4] != ["SUBMITTED", "QUEUED", "PROVISIONING", "DOWNLOAD_SOURCE"] || types.last().map(String::as_str) != Some("COMPLETED") {
        return Err(format!("a build starts with SUBMITTED..DOWNLOAD_SOURCE and ends with COMPLETED: {types:?}"));
    }
    for p in b.record["phases"].as_array().unwrap() {
        let ty = p["phaseType"].as_str().unwrap();
        if ty == "COMPLETED" {
            if !p["phaseStatus"].is_null() {
                return Err("COMPLETED has no phaseStatus".into());
            }
            continue;
        }
        let status = p["phaseStatus"].as_str().ok_or(format!("{ty} has no phaseStatus"))?;
        if !p["startTime"].is_string() || !p["endTime"].is_string() || !p["durationInSeconds"].is_u64() {
            return Err(format!("{ty} lacks startTime/endTime/durationInSeconds: {p}"));
        }
        let contexts = p["contexts"].as_array().ok_or(format!("{ty} has no contexts array"))?;
        match status {
            "SUCCEEDED" if !contexts.is_empty() => return Err(format!("succeeded phase {ty} has contexts {contexts:?}")),
            "SUCCEEDED" => {}
            _ if contexts.iter().any(|c| c["message"].as_str().is_some_and(|m| !m.is_empty()) && c["statusCode"].as_str().is_some_and(|m| !m.is_empty())) => {}
            _ => return Err(format!("{status} phase {ty} has no context with a statusCode and a message: {p}")),
        }
    }
    if b.record["currentPhase"] != "COMPLETED" || b.record["buildComplete"] != true || !b.record["endTime"].is_string() {
        return Err("the build is not marked complete".into());
    }
    let want_code = if b.status() == "SUCCEEDED" { 0 } else { 1 };
    if b.code != want_code {
        return Err(format!("exit code {} for buildStatus {}", b.code, b.status()));
    }
    if b.disk_record() != b.record {
        return Err("the --json record differs from build.json".into());
    }
    Ok(())
}

fn check_case(c: &Case) -> Result<(), String> {
    let p = Project::new(&buildspec(&c.mods));
    p.write("marker.txt", "artifact\n");
    let b = p.build(&[]);
    let mut errors = Vec::new();
    if let Err(e) = check_record_shape(&b) {
        errors.push(e);
    }
    if b.status() != c.status {
        errors.push(format!("buildStatus {} (want {})", b.status(), c.status));
    }
    let got: Vec<(String, Option<String>)> = b.phases().into_iter().filter(|(t, _)| !matches!(t.as_str(), "SUBMITTED" | "QUEUED" | "PROVISIONING" | "DOWNLOAD_SOURCE" | "COMPLETED")).collect();
    let want: Vec<(String, Option<String>)> = c.phases.iter().map(|(t, s)| (t.to_string(), Some(s.to_string()))).collect();
    if got != want {
        errors.push(format!("phases {got:?}\n   want {want:?}"));
    }
    for line in c.present {
        if b.count_output(line) == 0 {
            errors.push(format!("output line `{line}` missing"));
        }
    }
    for line in c.absent {
        if b.count_output(line) != 0 {
            errors.push(format!("output line `{line}` must not appear"));
        }
    }
    for (line, n) in c.counts {
        if b.count_output(line) != *n {
            errors.push(format!("output line `{line}` appears {} times, want {n}", b.count_output(line)));
        }
    }
    match (c.context, b.phases().iter().find(|(_, s)| s.as_deref().is_some_and(|s| s != S))) {
        (None, None) => {}
        (None, Some((t, _))) => errors.push(format!("unexpected failed phase {t}")),
        (Some((ty, code, msg)), _) => match b.context(ty) {
            Some((c, m)) if c == code && m.contains(msg) => {}
            other => errors.push(format!("{ty} context {other:?}, want ({code}, …{msg}…)")),
        },
    }
    let uploaded = c.phases.iter().any(|(t, _)| *t == "UPLOAD_ARTIFACTS");
    let on_disk = b.artifacts_dir().join("app/marker.txt").is_file();
    if uploaded != on_disk || uploaded != b.record["artifacts"].is_object() {
        errors.push(format!("artifact uploaded: want {uploaded}, on disk {on_disk}, record {}", b.record["artifacts"]));
    }
    if b.exported("LAST").as_deref() != Some(c.last) {
        errors.push(format!("exported LAST = {:?}, want {:?}", b.exported("LAST"), c.last));
    }
    if b.exported("NEVER_SET").is_none_or(|v| !v.is_empty()) {
        errors.push(format!("an exported variable never set is recorded empty: {:?}", b.exported("NEVER_SET")));
    }
    if errors.is_empty() { Ok(()) } else { Err(format!("{}\n{}", errors.join("\n"), b.describe())) }
}

#[test]
fn transition_table() {
    let cases = cases();
    let results: Vec<(usize, Result<(), String>)> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..3)
            .map(|w| {
                let cases = &cases;
                s.spawn(move || cases.iter().enumerate().skip(w).step_by(3).map(|(i, c)| (i, check_case(c))).collect::<Vec<_>>())
            })
            .collect();
        workers.into_iter().flat_map(|h| h.join().expect("worker")).collect()
    });
    let failures: Vec<String> = results.iter().filter_map(|(i, r)| r.as_ref().err().map(|e| format!("=== case `{}`:\n{e}", cases[*i].name))).collect();
    assert!(failures.is_empty(), "{} of {} cases failed:\n{}", failures.len(), cases.len(), failures.join("\n\n"));
}

#[test]
fn phase_durations_are_whole_seconds_rounded_down() {
    let p = Project::new("version: 0.2\nphases:\n  build:\n    commands:\n      - sleep 1.1\n");
    let b = p.build(&[]);
    assert_eq!(b.status(), "SUCCEEDED", "{}", b.describe());
    let build = b.phase("BUILD").expect("BUILD phase");
    assert_eq!(build["durationInSeconds"], 1, "{build}");
    assert_eq!(b.phase("INSTALL").unwrap()["durationInSeconds"], 0);
    let (start, end) = (build["startTime"].as_str().unwrap(), build["endTime"].as_str().unwrap());
    assert!(start.ends_with('Z') && start < end, "RFC 3339 UTC timestamps in order: {start} {end}");
}

#[test]
fn exported_variables_are_captured_after_post_build_not_before() {
    let p = Project::new(
        r#"version: 0.2
env:
  shell: bash
  exported-variables: [TAG, PLAIN, FROM_SPEC]
  variables:
    FROM_SPEC: spec-value
phases:
  build:
    commands:
      - export TAG=from-build
      - PLAIN=not-exported-in-build
  post_build:
    commands:
      - export TAG="final-$CODEBUILD_BUILD_NUMBER"
"#,
    );
    let b = p.build(&[]);
    assert_eq!(b.status(), "SUCCEEDED", "{}", b.describe());
    let vars: Vec<(String, String)> = b.record["exportedEnvironmentVariables"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v: &Value| (v["name"].as_str().unwrap().into(), v["value"].as_str().unwrap().into()))
        .collect();
    assert_eq!(
        vars,
        [("TAG".into(), "final-1".into()), ("PLAIN".into(), "not-exported-in-build".into()), ("FROM_SPEC".into(), "spec-value".into())],
        "{}",
        b.describe()
    );
}

#[test]
fn a_failed_build_exits_1_and_a_usage_error_exits_2() {
    let p = Project::new("version: 0.2\nphases:\n  build:\n    commands:\n      - exit 9\n");
    let b = p.build(&[]);
    assert_eq!((b.code, b.status()), (1, "FAILED"), "{}", b.describe());
    assert!(b.context("BUILD").is_some_and(|(_, m)| m.contains("exit status 9")), "{}", b.describe());

    let bad = p.run(&["build", p.src.to_str().unwrap(), "--timeout=0"]);
    assert_eq!(bad.code, 2, "a zero timeout is a usage error: {}", bad.stderr);
    let invalid = Project::new("version: 0.3\nphases:\n  build:\n    commands: [true]\n");
    let out = invalid.run(&["build", invalid.src.to_str().unwrap(), "--json"]);
    assert_eq!(out.code, 2, "an invalid buildspec is a kiln error: {}", out.stderr);
    assert!(out.stderr.contains("version"), "the diagnostic names the problem: {}", out.stderr);
    assert!(invalid.record_dirs().is_empty(), "no build record for a buildspec that never ran");
    assert_eq!(invalid.run(&["validate", invalid.src.join("buildspec.yml").to_str().unwrap()]).code, 2);
    assert_eq!(p.run(&["validate", p.src.join("buildspec.yml").to_str().unwrap()]).code, 0);
}
