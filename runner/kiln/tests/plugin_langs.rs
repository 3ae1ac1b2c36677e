//! The Python and JavaScript example plugins (`examples/plugin-python`, `examples/plugin-js`) are
//! built with componentize-py / componentize-js by `kiln plugin build`, pass `kiln plugin test`
//! on their fixtures, and run as `uses:` steps in a build. When a tool is missing the test says so
//! and passes, except under CI (`CI` set), where `.ci/run` installs the tools and a missing one fails.
//! componentize-js is looked for on PATH (`scripts/test` puts target/test-env/js there) and in `~/.cache/kiln-ci/js-tools`.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::Project;

fn tool_path(p: &Project) -> std::ffi::OsString {
    let home = PathBuf::from(std::env::var_os("HOME").unwrap_or_default());
    let mut dirs = vec![home.join(".cache/kiln-ci/js-tools/node_modules/.bin")];
    dirs.extend(std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()));
    let _ = p;
    std::env::join_paths(dirs).expect("PATH")
}

fn have(tool: &str, path: &std::ffi::OsStr) -> bool {
    std::env::split_paths(path).any(|d| d.join(tool).is_file())
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let name = e.file_name();
        if name == "dist" || name == "node_modules" {
            continue;
        }
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &to.join(&name));
        } else {
            std::fs::copy(e.path(), to.join(&name)).unwrap();
        }
    }
}

fn example(lang_dir: &str, tool: &str) {
    let p = Project::empty();
    let path = tool_path(&p);
    if !have(tool, &path) {
        assert!(std::env::var_os("CI").is_none() && std::env::var_os("KILN_TEST_REQUIRE_TOOLS").is_none(), "{tool} is not installed, and scripts/test must run this test (it installs it)");
        eprintln!("SKIPPED: {tool} is not installed; see examples/README.md");
        return;
    }
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples").join(lang_dir);
    let dir = p.side_dir("plugin");
    copy_dir(&src, &dir);
    let run = |args: &[&str]| {
        let mut c = p.kiln();
        c.env("PATH", &path).env("HOME", std::env::var_os("HOME").unwrap_or_default()).args(args).timeout(Duration::from_secs(600));
        let o = c.output().unwrap();
        (o.status.code().unwrap_or(-1), String::from_utf8_lossy(&o.stdout).into_owned(), String::from_utf8_lossy(&o.stderr).into_owned())
    };
    let d = dir.to_str().unwrap();
    let (code, so, se) = run(&["plugin", "build", d]);
    assert_eq!(code, 0, "{so}{se}");
    let (code, so, se) = run(&["plugin", "test", d]);
    assert_eq!(code, 0, "{so}{se}");
    assert!(so.contains("2 findings as expected"), "{so}");
    let (code, so, _) = run(&["plugin", "inspect", d]);
    assert_eq!(code, 0);
    assert!(so.contains("wit:          kiln:plugin@0.1.0"), "{so}");

    // In a build, as a `uses:` step on the working copy.
    let wasm = std::fs::read_dir(dir.join("dist")).unwrap().filter_map(|e| e.ok()).map(|e| e.path()).find(|p| p.extension().is_some_and(|x| x == "wasm")).unwrap();
    std::fs::copy(&wasm, p.src.join("plugin.wasm")).unwrap();
    p.write("buildspec.yml", "version: 0.2\nphases:\n  build:\n    commands:\n      - echo 'TODO one' > a.txt\n      - uses: ./plugin.wasm\n        with: {marker: TODO}\n      - echo after\n");
    let b = p.build(&[]);
    assert_eq!(b.status(), "SUCCEEDED", "{}", b.describe());
    let run = &b.record["kiln"]["plugins"][0];
    assert_eq!(run["outcome"], "succeeded", "{run}");
    // a.txt, and the buildspec itself (its command and its `marker: TODO`): the plugin reads the
    // whole working copy.
    assert_eq!(run["findings"], 3, "{run}");
    assert_eq!(run["outputs"].as_array().map(Vec::len), Some(1), "{run}");
}

#[test]
fn the_python_example_builds_tests_and_runs_in_a_build() {
    example("plugin-python", "componentize-py");
}

#[test]
fn the_javascript_example_builds_tests_and_runs_in_a_build() {
    example("plugin-js", "componentize-js");
}
