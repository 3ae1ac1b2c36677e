//! Every project under `examples/` builds with the outcome it declares.
//!
//! Each example is copied into a tempdir first (the repository stays clean) and built with
//! `kiln build --json`. The expected `buildStatus` is read from `examples/<name>/EXPECTED`: its
//! first line that is neither empty nor a `#` comment, e.g. `SUCCEEDED`, `FAILED` or `TIMED_OUT`.
//! Without that file the example must succeed. The exit code must match (0 for SUCCEEDED, 1
//! otherwise), a succeeding example must not fail any phase, and the source copy must be left as
//! it was (builds run in a working copy). An example whose buildspec has a top-level `batch:`
//! section runs as a batch (`kiln build --batch`): its `buildBatchStatus` is compared, and in a
//! succeeding batch every build must have succeeded.

mod common;

use std::path::{Path, PathBuf};

use common::*;

fn examples_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples")
}

fn expected_status(example: &Path) -> String {
    let Ok(text) = std::fs::read_to_string(example.join("EXPECTED")) else { return "SUCCEEDED".into() };
    let line = text.lines().map(str::trim).find(|l| !l.is_empty() && !l.starts_with('#')).unwrap_or_else(|| panic!("{}/EXPECTED is empty", example.display()));
    let status = line.to_string();
    assert!(
        ["SUCCEEDED", "FAILED", "TIMED_OUT", "FAULT", "STOPPED"].contains(&status.as_str()),
        "{}/EXPECTED: `{status}` is not a buildStatus",
        example.display()
    );
    status
}

/// Build output and records a local run of an example may have left in the repository
/// (`node_modules` is not among them: node-web vendors its dependency there).
const SKIP: &[&str] = &[".kiln", "dist", "target", "__pycache__"];

/// Copy `from` into `to` (files, directories and symlinks), leaving out any `.kiln/` records.
fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        let (src, dst) = (e.path(), to.join(e.file_name()));
        let ft = e.file_type().unwrap();
        if SKIP.iter().any(|s| e.file_name() == *s) {
            continue;
        } else if ft.is_dir() {
            copy_tree(&src, &dst);
        } else if ft.is_symlink() {
            std::os::unix::fs::symlink(std::fs::read_link(&src).unwrap(), &dst).unwrap();
        } else {
            std::fs::copy(&src, &dst).unwrap();
        }
    }
}

fn run_example(example: &Path) -> Result<(), String> {
    let name = example.file_name().unwrap().to_string_lossy().into_owned();
    let want = expected_status(example);
    let p = Project::empty();
    copy_tree(example, &p.src);
    let spec = std::fs::read_to_string(example.join("buildspec.yml")).or_else(|_| std::fs::read_to_string(example.join("buildspec.yaml"))).unwrap_or_default();
    let batch = spec.lines().any(|l| l.starts_with("batch:"));
    let b = p.build(if batch { &["--batch"] } else { &[] });
    let status = if batch { b.record["buildBatchStatus"].as_str().unwrap_or("<none>") } else { b.status() };
    let want_code = if want == "SUCCEEDED" { 0 } else { 1 };
    let mut problems = Vec::new();
    if status != want {
        problems.push(format!("status {status} (EXPECTED {want})"));
    }
    if b.code != want_code {
        problems.push(format!("exit code {} (want {want_code})", b.code));
    }
    let visible = |d: &Path| rel_files(d).into_iter().filter(|f| !f.split('/').any(|c| SKIP.contains(&c))).collect::<Vec<_>>();
    if visible(&p.src) != visible(example) {
        problems.push("the build changed its source directory (it should work in a copy)".into());
    }
    if want == "SUCCEEDED" && batch {
        let bad: Vec<String> = b.record["buildGroups"].as_array().into_iter().flatten().filter(|g| g["currentBuildSummary"]["buildStatus"] != "SUCCEEDED").map(|g| g.to_string()).collect();
        if !bad.is_empty() {
            problems.push(format!("builds that did not succeed: {bad:?}"));
        }
    } else if want == "SUCCEEDED" {
        let bad: Vec<_> = b.phases().into_iter().filter(|(_, s)| s.as_deref().is_some_and(|s| s != "SUCCEEDED")).collect();
        if !bad.is_empty() {
            problems.push(format!("failed phases {bad:?}"));
        }
    }
    if problems.is_empty() { Ok(()) } else { Err(format!("example `{name}`: {}\n{}", problems.join("; "), b.describe())) }
}

#[test]
fn every_example_builds_as_expected() {
    let dir = examples_dir();
    let mut examples: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.join("buildspec.yml").is_file() || p.join("buildspec.yaml").is_file())
        .collect();
    examples.sort();
    assert!(!examples.is_empty(), "no examples found under {}", dir.display());
    let results: Vec<Result<(), String>> = std::thread::scope(|s| {
        let handles: Vec<_> = examples.chunks(examples.len().div_ceil(2)).map(|chunk| s.spawn(move || chunk.iter().map(|e| run_example(e)).collect::<Vec<_>>())).collect();
        handles.into_iter().flat_map(|h| h.join().unwrap()).collect()
    });
    let failures: Vec<String> = results.into_iter().filter_map(Result::err).collect();
    assert!(failures.is_empty(), "{} of {} examples failed:\n\n{}", failures.len(), examples.len(), failures.join("\n\n"));
}
