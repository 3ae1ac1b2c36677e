//! A hostile plugin inside a real build: each attack is stopped with an error naming the plugin
//! and the limit, the build records it and fails, `finally` commands and a later plugin step
//! still run, and kiln itself exits normally (1, a failed build, not a crash).

mod common;

use common::Project;
use kiln_host::builtin::test_components::TEST_HOSTILE;

fn spec(attack: &str) -> String {
    format!(
        "version: 0.2\nphases:\n  build:\n    commands:\n      - echo before\n      - uses: ./hostile.wasm\n        with: {{attack: {attack}, count: 100000}}\n      - echo not-reached\n    finally:\n      - echo finally-ran\n      - uses: hello-step\nkiln:\n  plugins:\n    per-plugin:\n      test-hostile:\n        timeout: 2s\n        max-memory: 32MiB\n"
    )
}

#[test]
fn hostile_plugins_in_a_build_are_contained_and_the_build_goes_on() {
    let cases = [
        ("loop", "wall-clock deadline of 2000 ms"),
        ("alloc", "memory cap of 32 mib"),
        ("recursion", "stack"),
        ("log-flood", "log cap"),
        ("findings-flood", "findings cap"),
        ("panic", "crashed"),
        ("escape-output", "malformed result"),
    ];
    for (attack, needle) in cases {
        let p = Project::new(&spec(attack));
        std::fs::write(p.src.join("hostile.wasm"), TEST_HOSTILE).unwrap();
        let b = p.build(&[]);
        assert_eq!(b.code, 1, "{attack}: kiln exits as for a failed build\n{}", b.stderr);
        assert_eq!(b.status(), "FAILED", "{attack}: {}", b.describe());
        assert_eq!(b.count_output("before"), 1);
        assert_eq!(b.count_output("not-reached"), 0, "{attack}");
        assert_eq!(b.count_output("finally-ran"), 1, "{attack}: finally runs after the hostile step");
        let runs = b.record["kiln"]["plugins"].as_array().cloned().unwrap_or_default();
        assert_eq!(runs.len(), 2, "{attack}: {runs:?}");
        assert_eq!(runs[0]["outcome"], "error", "{attack}: {}", runs[0]);
        let msg = runs[0]["message"].as_str().unwrap_or_default().to_lowercase();
        assert!(msg.contains("test-hostile") && msg.contains(needle), "{attack}: `{needle}` not in {msg}");
        assert!(!msg.contains(p.src.to_str().unwrap()), "{attack}: a host path leaked: {msg}");
        assert_eq!(runs[1]["name"], "hello-step");
        assert_eq!(runs[1]["outcome"], "succeeded", "{attack}: the host keeps working: {}", runs[1]);
    }
}

#[test]
fn reading_outside_and_secrets_are_denied_in_a_build() {
    let p = Project::new(&spec("read").replace("{attack: read, count: 100000}", "{attack: read, path: /src/../../etc/passwd}"));
    std::fs::write(p.src.join("hostile.wasm"), TEST_HOSTILE).unwrap();
    let b = p.build(&["-e", "KILN_HOST_TEST_SECRET=hunter2"]);
    let run = &b.record["kiln"]["plugins"][0];
    assert!(!run.to_string().contains("root:x:0:0"), "{run}");
    let denied = run["denied"].to_string();
    assert!(denied.contains("env KILN_HOST_TEST_SECRET") && denied.contains("network"), "{run}");
    assert!(!run.to_string().contains("ESCAPED") && !b.log().contains("ESCAPED"), "{run}");
}
