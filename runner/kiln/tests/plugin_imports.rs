//! A plugin that imports what kiln does not link (`wasi:http`, as a JS or Python plugin built
//! with HTTP support does), through the real binary: `kiln plugin inspect` lists its imports
//! and exports and marks the unlinked ones; `kiln plugin run` and a build's `uses:` step refuse
//! it naming each import and what to do, never with wasmtime's internal wording (issue 12).

mod common;

use common::Project;
use kiln_host::builtin::test_components::TEST_HTTP_IMPORT;

#[test]
fn inspect_lists_imports_and_exports_and_marks_wasi_http() {
    let p = Project::empty();
    let wasm = p.write("http.wasm", TEST_HTTP_IMPORT);
    let o = p.run(&["plugin", "inspect", wasm.to_str().unwrap()]);
    assert_eq!(o.code, 0, "{}{}", o.stdout, o.stderr);
    let so = &o.stdout;
    for needle in [
        "name:         http-fetch",
        "imports:",
        "kiln:plugin/config@0.1.0  (instance",
        "exports:",
        "kiln:plugin/step-plugin@0.1.0  (instance: run)",
        "cannot run under kiln: 2 import(s) above are not linked",
    ] {
        assert!(so.contains(needle), "`{needle}` missing from\n{so}");
    }
    let marked: Vec<&str> = so.lines().filter(|l| l.contains("NOT LINKED")).collect();
    assert_eq!(marked.len(), 2, "{so}");
    assert!(marked[0].trim_start().starts_with("wasi:http/types@0.2.") && marked[0].contains("no resource `fields`"), "{so}");
    assert!(marked[1].trim_start().starts_with("wasi:http/outgoing-handler@0.2.") && marked[1].contains("no function `handle`"), "{so}");

    // A plugin kiln links completely has nothing marked.
    let o = p.run(&["plugin", "inspect", "hello-step"]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(o.stdout.contains("imports:") && !o.stdout.contains("NOT LINKED") && !o.stdout.contains("cannot run"), "{}", o.stdout);
}

fn assert_named_refusal(text: &str) {
    for needle in [
        "plugin http-fetch: cannot run: it imports 2 interfaces that kiln does not link",
        "wasi:http/types@0.2.",
        "wasi:http/outgoing-handler@0.2.",
        "kiln links no wasi:http",
        "--disable http",
        "kiln plugin inspect",
    ] {
        assert!(text.contains(needle), "`{needle}` missing from\n{text}");
    }
    assert!(!text.contains("matching implementation was not found"), "wasmtime's wording leaked: {text}");
}

#[test]
fn run_and_a_build_refuse_it_naming_the_imports() {
    let p = Project::new("version: 0.2\nphases:\n  build:\n    commands:\n      - uses: ./http.wasm\n      - echo not-reached\n");
    std::fs::write(p.src.join("http.wasm"), TEST_HTTP_IMPORT).unwrap();
    let o = p.run(&["plugin", "run", p.src.join("http.wasm").to_str().unwrap(), p.src.to_str().unwrap()]);
    assert_ne!(o.code, 0, "{}", o.stdout);
    assert_named_refusal(&o.stderr);

    let b = p.build(&[]);
    assert_eq!(b.status(), "FAILED", "{}", b.describe());
    assert_eq!(b.count_output("not-reached"), 0);
    let all = format!("{}{}{}", b.stdout, b.stderr, b.log());
    assert_named_refusal(&all);
    assert!(!all.contains("ESCAPED"), "{all}");
}
