//! Planner tests on written buildspecs: matrix products and their order, identifiers, the env
//! settings recorded but not applied, and what cannot be planned. (The located errors — cycles,
//! unknown dependencies, bad identifiers — are kiln-spec's, tested in `tests/validation.rs`.)

use kiln_batch::{plan, BatchPlan, PlanError};

fn planned(src: &str) -> Result<BatchPlan, PlanError> {
    let parsed = kiln_spec::parse_buildspec(src);
    assert!(!parsed.has_errors(), "{:?}", parsed.diagnostics);
    plan(parsed.spec.unwrap().batch.as_ref())
}

#[test]
fn the_guides_matrix_is_two_buildspecs_times_three_values_in_the_guides_order() {
    // batch-build.html: "CodeBuild creates six builds: matrix1.yml with $MY_VAR=VALUE1, …".
    let p = planned(
        "version: 0.2\nbatch:\n  build-matrix:\n    static:\n      ignore-failure: false\n      env:\n        type: LINUX_CONTAINER\n        privileged-mode: true\n    dynamic:\n      buildspec:\n        - matrix1.yml\n        - matrix2.yml\n      env:\n        variables:\n          MY_VAR:\n            - VALUE1\n            - VALUE2\n            - VALUE3\n",
    )
    .unwrap();
    let got: Vec<(String, String)> = p.builds.iter().map(|b| (b.buildspec.clone().unwrap(), b.variables[0].1.clone())).collect();
    let mut expected = Vec::new();
    for spec in ["matrix1.yml", "matrix2.yml"] {
        for v in ["VALUE1", "VALUE2", "VALUE3"] {
            expected.push((spec.to_string(), v.to_string()));
        }
    }
    assert_eq!(got, expected);
    for b in &p.builds {
        assert!(!b.ignore_failure);
        assert_eq!((b.recorded.r#type.as_deref(), b.recorded.privileged_mode), (Some("LINUX_CONTAINER"), Some(true)));
    }
    let ids: Vec<&str> = p.builds.iter().map(|b| b.identifier.as_str()).collect();
    assert_eq!(ids, ["build_matrix_1", "build_matrix_2", "build_matrix_3", "build_matrix_4", "build_matrix_5", "build_matrix_6"]);
    assert!(ids.iter().all(|i| kiln_spec::batch::is_batch_identifier(i)));
}

#[test]
fn matrix_images_and_two_variables_multiply_and_static_ignore_failure_applies_to_all() {
    let p = planned(
        "version: 0.2\nbatch:\n  build-matrix:\n    static:\n      ignore-failure: true\n    dynamic:\n      env:\n        image: [img-a, img-b]\n        variables:\n          X: [1, 2, 3]\n          Y: single\nphases:\n  build:\n    commands: [true]\n",
    )
    .unwrap();
    assert_eq!(p.builds.len(), 2 * 3);
    let combos: Vec<String> = p.builds.iter().map(|b| b.combination.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(",")).collect();
    assert_eq!(combos[0], "image=img-a,X=1,Y=single");
    assert_eq!(combos[5], "image=img-b,X=3,Y=single");
    assert!(p.builds.iter().all(|b| b.ignore_failure && b.buildspec.is_none()));
    assert_eq!(p.builds[4].recorded.image.as_deref(), Some("img-b"));
    assert_eq!(p.builds[4].variables, [("X".to_string(), "2".to_string()), ("Y".to_string(), "single".to_string())]);
}

#[test]
fn a_huge_matrix_is_refused_before_it_is_multiplied_out() {
    let dims: String = (0..12).map(|i| format!("          V{i}: [a, b, c, d, e, f, g, h, i, j]\n")).collect();
    let e = planned(&format!("version: 0.2\nbatch:\n  build-matrix:\n    dynamic:\n      env:\n        variables:\n{dims}")).unwrap_err();
    assert!(matches!(e, PlanError::TooManyBuilds { .. }), "{e}");
    assert!(e.to_string().contains("10 × 10"), "{e}");
}

#[test]
fn list_entries_keep_their_order_overrides_and_recorded_settings() {
    let p = planned(
        "version: 0.2\nbatch:\n  fast-fail: true\n  build-list:\n    - identifier: b\n      buildspec: ci/b.yml\n      ignore-failure: true\n      env:\n        compute-type: BUILD_GENERAL1_LARGE\n        variables: {A: '1', B: two}\n    - identifier: a\n      debug-session: true\n      env:\n        fleet: my-fleet\n",
    )
    .unwrap();
    assert!(p.fast_fail);
    assert_eq!(p.builds[0].identifier, "b");
    assert_eq!(p.builds[0].buildspec.as_deref(), Some("ci/b.yml"));
    assert!(p.builds[0].ignore_failure && !p.builds[1].ignore_failure);
    assert_eq!(p.builds[0].variables, [("A".into(), "1".into()), ("B".into(), "two".into())]);
    assert_eq!(p.builds[1].recorded.fleet.as_deref(), Some("my-fleet"));
    let notices = p.notices();
    assert!(notices.iter().any(|n| n.contains("`env.compute-type`") && n.ends_with(": b")), "{notices:?}");
    assert!(notices.iter().any(|n| n.contains("`debug-session`") && n.ends_with(": a")), "{notices:?}");
    assert_eq!(notices.len(), 3, "one notice per setting: {notices:?}");
}

#[test]
fn graph_dependencies_are_kept_and_the_table_lists_every_build() {
    let p = planned("version: 0.2\nbatch:\n  build-graph:\n    - identifier: pkg\n      depend-on: [test_a, test_b]\n    - identifier: test_a\n      env: {variables: {V: a}}\n    - identifier: test_b\n      env: {variables: {V: b}, image: x}\nphases:\n  build:\n    commands: [true]\n").unwrap();
    assert_eq!(p.builds[0].depend_on, ["test_a", "test_b"]);
    let t = p.table();
    let lines: Vec<&str> = t.lines().collect();
    assert_eq!(lines.len(), 4, "{t}");
    assert!(lines[0].starts_with("IDENTIFIER") && lines[0].contains("DEPENDS ON"), "{t}");
    assert!(lines[1].starts_with("pkg ") && lines[1].contains("test_a,test_b") && lines[1].contains("(this buildspec)"), "{t}");
    assert!(lines[3].contains("V=b") && lines[3].contains("[image=x]"), "{t}");
}

#[test]
fn the_table_cuts_long_values_and_hides_control_characters() {
    let p = planned(&format!("version: 0.2\nbatch:\n  build-list:\n    - identifier: x\n      env:\n        variables:\n          LONG: \"{}\"\n          CTRL: \"a\\x1b[31mb\"\nphases:\n  build:\n    commands: [true]\n", "v".repeat(200))).unwrap();
    let t = p.table();
    assert!(t.contains('…') && !t.contains(&"v".repeat(60)), "{t}");
    assert!(!t.contains('\x1b') && t.contains("CTRL=a?[31mb"), "{t}");
}

#[test]
fn no_batch_and_fanout_are_explained() {
    let e = planned("version: 0.2\nphases:\n  build:\n    commands: [true]\n").unwrap_err();
    assert_eq!(e, PlanError::NoBatch);
    assert!(e.to_string().contains("without --batch"));
    let parsed = kiln_spec::parse_buildspec("version: 0.2\nbatch:\n  build-fanout:\n    parallelism: 5\nphases:\n  build:\n    commands: [true]\n");
    assert!(!parsed.has_errors(), "fanout is valid CodeBuild: {:?}", parsed.diagnostics);
    assert!(parsed.diagnostics.iter().any(|d| d.code == "W0606"));
    let e = plan(parsed.spec.unwrap().batch.as_ref()).unwrap_err();
    assert_eq!(e, PlanError::Fanout { parallelism: 5 });
    assert!(e.to_string().contains("codebuild-tests-run"), "{e}");
}
