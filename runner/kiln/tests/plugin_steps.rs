//! `uses:` steps through the real binary and the wasmtime host: the built-in hello-step runs
//! between shell commands with the working copy as its read-only `/src`, its findings and outputs
//! land in the record and the provenance, `fail-on` gates the build, bad references are clear
//! errors, and a policy that forbids a plugin that ran rejects the provenance.

mod common;

use assert_cmd::Command;
use common::Project;

const SPEC: &str = "version: 0.2\nphases:\n  build:\n    commands:\n      - \"mkdir -p out && printf 'a\\\\n// TODO fix\\\\n' > out/main.rs\"\n      - uses: hello-step\n      - echo after\nartifacts:\n  files: ['out/**/*']\n";

#[test]
fn a_builtin_plugin_runs_between_commands_and_is_recorded() {
    let p = Project::new(SPEC);
    let b = p.build(&[]);
    assert_eq!(b.status(), "SUCCEEDED", "{}", b.describe());
    let plugins = b.record["kiln"]["plugins"].as_array().cloned().unwrap_or_default();
    assert_eq!(plugins.len(), 1, "{}", b.record["kiln"]);
    let run = &plugins[0];
    assert_eq!(run["name"], "hello-step");
    assert_eq!(run["outcome"], "succeeded");
    assert_eq!(run["sha256"].as_str().unwrap().len(), 64);
    assert!(run["findings"].as_u64().unwrap() >= 1, "the TODO the build wrote is found: {run}");
    assert_eq!(b.count_output("after"), 1);
    assert!(b.log().contains("plugin hello-step"), "{}", b.log());
    // Its output file is in the record directory, hashed.
    let out = run["outputs"][0]["path"].as_str().unwrap();
    assert!(out.ends_with("summary.json"), "{run}");
}

#[test]
fn fail_on_gates_the_build_and_bad_references_fail_clearly() {
    let p = Project::new(&SPEC.replace("      - uses: hello-step\n", "      - uses: hello-step\n        with: {fail-on: note}\n"));
    let b = p.build(&[]);
    assert_eq!(b.status(), "FAILED", "{}", b.describe());
    assert_eq!(b.count_output("after"), 0, "the failing step stops the phase's commands");

    let p = Project::new(&SPEC.replace("uses: hello-step", "uses: no-such-plugin"));
    let b = p.build(&[]);
    assert_eq!(b.status(), "FAILED");
    assert!(b.log().contains("no built-in plugin named `no-such-plugin`"), "{}", b.log());

    let p = Project::new(&SPEC.replace("uses: hello-step", &format!("uses: ./x.wasm@sha256:{}", "0".repeat(64))));
    std::fs::write(p.src.join("x.wasm"), b"\0asm junk").unwrap();
    let b = p.build(&[]);
    assert_eq!(b.status(), "FAILED");
}

#[test]
fn a_policy_forbidding_a_plugin_that_ran_rejects_the_provenance() {
    let keys = tempfile::tempdir().unwrap();
    Command::cargo_bin("kiln").unwrap().current_dir(keys.path()).env("COSIGN_PASSWORD", "pw").arg("generate-key-pair").assert().success();
    let p = Project::new(SPEC);
    let key = keys.path().join("cosign.key");
    let b = p.build_with(&["--key", key.to_str().unwrap()], |c| {
        c.env("COSIGN_PASSWORD", "pw");
    });
    assert_eq!(b.status(), "SUCCEEDED", "{}", b.describe());
    let policy = keys.path().join("policy.yml");
    let verify = |policy_text: &str| {
        std::fs::write(&policy, policy_text).unwrap();
        Command::cargo_bin("kiln")
            .unwrap()
            .arg("verify")
            .arg("--key")
            .arg(keys.path().join("cosign.pub"))
            .arg("--provenance")
            .arg(b.record_dir().join("provenance.intoto.jsonl"))
            .arg("--policy")
            .arg(&policy)
            .output()
            .unwrap()
    };
    let o = verify("version: 1\nplugins:\n  required: [{name: hello-step}]\nscanners:\n  - {name: hello-step, max-severity: critical}\n");
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stdout));
    let o = verify("version: 1\nplugins:\n  forbidden: [{name: hello-step}]\n");
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stdout).contains("FAILED  policy: forbidden plugin hello-step: it ran"));
    let o = verify("version: 1\nscanners:\n  - {name: hello-step, max-severity: none}\n");
    assert_eq!(o.status.code(), Some(1), "the TODO finding exceeds `none`");
}
