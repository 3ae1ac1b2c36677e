//! `batch:` validation: every error a batch can have, at its line and column, saying what to do.

fn diags(src: &str) -> Vec<String> {
    kiln_spec::parse_buildspec(src).diagnostics.iter().map(|d| d.to_plain("b.yml")).collect()
}

fn first(src: &str, code: &str) -> String {
    let all = diags(src);
    all.iter().find(|d| d.contains(&format!("[{code}]"))).cloned().unwrap_or_else(|| panic!("no {code} in {all:#?}"))
}

const PHASES: &str = "phases:\n  build:\n    commands: [true]\n";

#[test]
fn a_cycle_is_named_and_located_at_the_dependency_that_closes_it() {
    let src = format!("version: 0.2\nbatch:\n  build-graph:\n    - identifier: a\n      depend-on: [c]\n    - identifier: b\n      depend-on: [a]\n    - identifier: c\n      depend-on:\n        - b\n{PHASES}");
    let d = first(&src, "E0606");
    assert!(d.starts_with("b.yml:7:19: error[E0606]: `depend-on` makes a cycle: a -> c -> b -> a"), "{d}");
    assert!(d.contains("remove one of these dependencies"), "{d}");
    assert_eq!(diags(&src).iter().filter(|d| d.contains("E0606")).count(), 1, "one cycle, reported once");
}

#[test]
fn a_build_depending_on_itself_is_a_cycle_of_one() {
    let d = first(&format!("version: 0.2\nbatch:\n  build-graph:\n    - identifier: solo\n      depend-on: [solo]\n{PHASES}"), "E0606");
    assert!(d.starts_with("b.yml:5:19: error[E0606]: `depend-on` makes a cycle: solo -> solo"), "{d}");
    assert!(d.contains("depends on itself"), "{d}");
}

#[test]
fn two_separate_cycles_are_both_reported_and_a_diamond_is_not_a_cycle() {
    let src = format!("version: 0.2\nbatch:\n  build-graph:\n    - {{identifier: a, depend-on: [b]}}\n    - {{identifier: b, depend-on: [a]}}\n    - {{identifier: x, depend-on: [y]}}\n    - {{identifier: y, depend-on: [x]}}\n{PHASES}");
    assert_eq!(diags(&src).iter().filter(|d| d.contains("E0606")).count(), 2);
    let diamond = format!("version: 0.2\nbatch:\n  build-graph:\n    - {{identifier: top}}\n    - {{identifier: l, depend-on: [top]}}\n    - {{identifier: r, depend-on: [top]}}\n    - {{identifier: bottom, depend-on: [l, r, top]}}\n{PHASES}");
    assert!(!kiln_spec::parse_buildspec(&diamond).has_errors(), "{:?}", diags(&diamond));
}

#[test]
fn a_long_chain_is_checked_without_deep_recursion() {
    let mut src = String::from("version: 0.2\nbatch:\n  build-graph:\n    - identifier: n0\n");
    for i in 1..5000 {
        src.push_str(&format!("    - identifier: n{i}\n      depend-on: [n{}]\n", i - 1));
    }
    src.push_str(PHASES);
    assert!(!kiln_spec::parse_buildspec(&src).has_errors());
}

#[test]
fn an_unknown_dependency_lists_the_builds_of_the_graph() {
    let d = first(&format!("version: 0.2\nbatch:\n  build-graph:\n    - identifier: a\n    - identifier: b\n      depend-on: [a, nope]\n{PHASES}"), "E0604");
    assert!(d.starts_with("b.yml:6:22: error[E0604]: `depend-on` names `nope`"), "{d}");
    assert!(d.contains("the builds of this graph are: a, b"), "{d}");
}

#[test]
fn identifiers_codebuild_rejects_are_errors_with_a_suggestion() {
    let d = first(&format!("version: 0.2\nbatch:\n  build-list:\n    - identifier: linux-x86.small\n{PHASES}"), "E0607");
    assert!(d.starts_with("b.yml:4:19: error[E0607]: batch identifier `linux-x86.small` holds characters other than letters, digits and `_`"), "{d}");
    assert!(d.contains("BATCH_SPEC_VALIDATION_ERROR") && d.contains("e.g. `linux_x86_small`"), "{d}");
    let long = "x".repeat(128);
    let d = first(&format!("version: 0.2\nbatch:\n  build-list:\n    - identifier: {long}\n{PHASES}"), "E0607");
    assert!(d.contains("is 128 characters long"), "{d}");
    let ok = "y".repeat(127);
    assert!(!kiln_spec::parse_buildspec(&format!("version: 0.2\nbatch:\n  build-list:\n    - identifier: {ok}\n{PHASES}")).has_errors());
    // Duplicates stay E0603.
    let d = first(&format!("version: 0.2\nbatch:\n  build-list:\n    - identifier: a\n    - identifier: a\n{PHASES}"), "E0603");
    assert!(d.starts_with("b.yml:5:19:") && d.contains("first used at line 4"), "{d}");
}

#[test]
fn compute_type_and_fleet_together_are_an_error_at_the_second_one() {
    let d = first(&format!("version: 0.2\nbatch:\n  build-list:\n    - identifier: a\n      env:\n        fleet: f\n        compute-type: BUILD_GENERAL1_SMALL\n{PHASES}"), "E0608");
    assert!(d.starts_with("b.yml:7:9: error[E0608]:"), "{d}");
    assert!(d.contains("line 6"), "{d}");
    let d = first(&format!("version: 0.2\nbatch:\n  build-matrix:\n    dynamic:\n      env:\n        compute-type: [a]\n        fleet: [f]\n{PHASES}"), "E0608");
    assert!(d.starts_with("b.yml:7:9:"), "{d}");
}

#[test]
fn empty_matrix_dimensions_and_a_matrix_without_dynamic_are_errors() {
    let d = first(&format!("version: 0.2\nbatch:\n  build-matrix:\n    dynamic:\n      env:\n        variables:\n          X: []\n          Y: [1]\n{PHASES}"), "E0609");
    assert!(d.starts_with("b.yml:7:11: error[E0609]: `batch.build-matrix.dynamic.env.variables.X` has no values"), "{d}");
    let d = first(&format!("version: 0.2\nbatch:\n  build-matrix:\n    dynamic:\n      buildspec:\n{PHASES}"), "E0609");
    assert!(d.starts_with("b.yml:5:7:"), "{d}");
    let d = first(&format!("version: 0.2\nbatch:\n  build-matrix:\n    static:\n      ignore-failure: true\n{PHASES}"), "E0609");
    assert!(d.starts_with("b.yml:3:3: error[E0609]: `batch.build-matrix` has no `dynamic` values"), "{d}");
}

#[test]
fn static_env_keys_codebuild_ignores_are_warnings() {
    let src = format!("version: 0.2\nbatch:\n  build-matrix:\n    static:\n      env:\n        image: x\n        privileged-mode: true\n    dynamic:\n      env:\n        variables: {{A: [1]}}\n{PHASES}");
    let parsed = kiln_spec::parse_buildspec(&src);
    assert!(!parsed.has_errors());
    let d = first(&src, "W0601");
    assert!(d.starts_with("b.yml:6:9: warning[W0601]: `batch.build-matrix.static.env.image` has no effect"), "{d}");
    assert!(d.contains("dynamic.env.image") && d.contains("#88"), "{d}");
}

#[test]
fn buildspec_overrides_must_stay_in_the_project() {
    for (path, why) in [("/etc/passwd", "absolute"), ("../other/b.yml", "`..`"), ("ci/../../x.yml", "`..`"), ("arn:aws:s3:::bucket/b.yml", "S3")] {
        let d = first(&format!("version: 0.2\nbatch:\n  build-list:\n    - identifier: a\n      buildspec: \"{path}\"\n{PHASES}"), "E0611");
        assert!(d.starts_with("b.yml:5:18: error[E0611]:") && d.contains(why), "{path}: {d}");
    }
    let d = first(&format!("version: 0.2\nbatch:\n  build-matrix:\n    dynamic:\n      buildspec: [ok.yml, /abs.yml]\n{PHASES}"), "E0611");
    assert!(d.starts_with("b.yml:5:27:"), "{d}");
    assert!(!kiln_spec::parse_buildspec(&format!("version: 0.2\nbatch:\n  build-list:\n    - identifier: a\n      buildspec: ./ci/dir/b.yml\n{PHASES}")).has_errors());
}

#[test]
fn exactly_one_kind_of_batch() {
    let d = first(&format!("version: 0.2\nbatch:\n  build-list:\n    - identifier: a\n  build-graph:\n    - identifier: b\n{PHASES}"), "E0605");
    assert!(d.starts_with("b.yml:2:1:") && d.contains("found `build-list` and `build-graph`"), "{d}");
    let d = first(&format!("version: 0.2\nbatch:\n  fast-fail: true\n{PHASES}"), "E0605");
    assert!(d.contains("found none"), "{d}");
}

#[test]
fn fanout_needs_a_parallelism_and_is_a_warning_about_kiln() {
    let d = first(&format!("version: 0.2\nbatch:\n  build-fanout:\n    ignore-failure: true\n{PHASES}"), "E0610");
    assert!(d.starts_with("b.yml:3:3: error[E0610]: `batch.build-fanout` has no `parallelism`"), "{d}");
    let d = first(&format!("version: 0.2\nbatch:\n  build-fanout:\n    parallelism: 0\n{PHASES}"), "E0610");
    assert!(d.starts_with("b.yml:4:18:"), "{d}");
}
