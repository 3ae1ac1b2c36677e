//! Issue 11, items 10 and 15 through the real binary: what `kiln validate` and `kiln build` say
//! about a 1 MiB anchor referenced 6,000 times, artifact paths the upload refuses, and a
//! byte-order mark before `version`. The parser's side is tested in kiln-spec
//! (`tests/review_spec.rs`, `tests/review_artifact_paths.rs`); this checks the file name, line and
//! column reach the user and that a refused buildspec never starts a build.

mod common;

use common::Project;

#[test]
fn validate_refuses_the_1_mib_anchor_at_the_alias_with_the_file_name() {
    let big = "x".repeat(1 << 20);
    let aliases = vec!["*a"; 6000].join(", ");
    let p = Project::empty();
    p.write("anchor.yml", format!("version: 0.2\nenv:\n  variables:\n    BIG: &a \"{big}\"\nphases:\n  build:\n    commands: [{aliases}]\n"));
    let out = p.run(&["validate", p.src.join("anchor.yml").to_str().unwrap()]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    let first = out.stderr.lines().next().unwrap_or_default();
    let prefix = format!("{}:7:", p.src.join("anchor.yml").display());
    assert!(first.starts_with(&prefix), "{first}");
    assert!(first.contains("error[E0003]") && first.contains("MiB of text"), "{first}");
    assert!(out.stderr.contains("help: reference the anchor fewer times"), "{}", out.stderr);

    // `kiln build` refuses it the same way, before any build starts.
    let b = p.run(&["build", p.src.to_str().unwrap(), "-b", "anchor.yml"]);
    assert_eq!(b.code, 2, "{}", b.stderr);
    assert!(b.stderr.contains("error[E0003]"), "{}", b.stderr);
    assert!(p.record_dirs().is_empty());
}

#[test]
fn validate_reports_artifact_paths_the_upload_refuses() {
    let p = Project::new(concat!(
        "version: 0.2\n",
        "phases:\n  build:\n    commands:\n      - make\n",
        "artifacts:\n",
        "  files:\n",
        "    - ../outside/*\n",
        "  base-directory: /tmp/testArtifacts\n",
    ));
    let spec = p.src.join("buildspec.yml");
    let out = p.run(&["validate", spec.to_str().unwrap()]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    let name = spec.display().to_string();
    assert!(out.stderr.contains(&format!("{name}:8:7: error[E0301]: `artifacts.files` `../outside/*` has a `..` component")), "{}", out.stderr);
    assert!(out.stderr.contains(&format!("{name}:9:19: warning[W0301]: `artifacts.base-directory` `/tmp/testArtifacts` is an absolute path")), "{}", out.stderr);

    // A build refuses the error before running anything.
    let b = p.run(&["build", p.src.to_str().unwrap()]);
    assert_eq!(b.code, 2, "{}", b.stderr);
    assert!(p.record_dirs().is_empty());
}

#[test]
fn validate_accepts_a_byte_order_mark_before_version() {
    let p = Project::new("\u{feff}version: 0.2\nphases:\n  build:\n    commands:\n      - echo hi\n");
    let spec = p.src.join("buildspec.yml");
    let out = p.run(&["validate", spec.to_str().unwrap()]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.stderr, "", "no warning at all");
    assert_eq!(out.stdout.trim(), format!("{}: valid", spec.display()));
}
