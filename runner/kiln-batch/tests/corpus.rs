//! The real batch buildspecs of `tests/corpus/batch-buildspecs/` expand to the builds CodeBuild
//! would start. The expectations are written out here from the buildspecs and the CodeBuild user
//! guide's rules (batch-build.html, batch-build-buildspec.html):
//! * a `build-list` / `build-graph` starts one build per entry, with the entry's `identifier`
//!   (`CODEBUILD_BATCH_BUILD_IDENTIFIER`), its `buildspec` (the batch's own file when absent) and
//!   its `env.variables`; `image`, `compute-type`, `type`, `privileged-mode` and `debug-session`
//!   are settings of CodeBuild's build environment;
//! * a `build-matrix` starts one build per combination of its `dynamic` values ("CodeBuild creates
//!   a separate build for each possible configuration combination"), `static` settings applying
//!   to all; identifiers are kiln's `build_matrix_<n>` (CodeBuild documents none).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use kiln_batch::{plan, BatchPlan, Kind};

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/corpus/batch-buildspecs")
}

fn load(file: &str) -> BatchPlan {
    let text = std::fs::read_to_string(corpus().join(file)).expect("corpus file");
    let parsed = kiln_spec::parse_buildspec(&text);
    let errors: Vec<String> = parsed.diagnostics.iter().filter(|d| d.is_error()).map(|d| d.to_plain(file)).collect();
    assert!(errors.is_empty(), "{file} does not validate:\n{}", errors.join("\n"));
    plan(parsed.spec.expect("spec").batch.as_ref()).unwrap_or_else(|e| panic!("{file}: {e}"))
}

fn ids(p: &BatchPlan) -> Vec<&str> {
    p.builds.iter().map(|b| b.identifier.as_str()).collect()
}

fn vars(p: &BatchPlan, id: &str) -> BTreeMap<String, String> {
    p.builds.iter().find(|b| b.identifier == id).unwrap_or_else(|| panic!("no build {id}")).variables.iter().cloned().collect()
}

fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

fn build<'a>(p: &'a BatchPlan, id: &str) -> &'a kiln_batch::ChildPlan {
    p.builds.iter().find(|b| b.identifier == id).unwrap_or_else(|| panic!("no build {id}"))
}

#[test]
fn every_corpus_file_is_listed_in_sources_and_plans() {
    let sources = std::fs::read_to_string(corpus().join("SOURCES.tsv")).expect("SOURCES.tsv");
    let listed: Vec<&str> = sources.lines().skip(1).filter_map(|l| l.split('\t').next()).collect();
    let mut files: Vec<String> = std::fs::read_dir(corpus()).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).filter(|n| n != "SOURCES.tsv").collect();
    files.sort();
    assert_eq!(files.len(), 10);
    for f in &files {
        assert!(listed.contains(&f.as_str()), "{f} has no SOURCES.tsv row");
        assert!(!load(f).builds.is_empty());
    }
}

#[test]
fn dynamodb_encryption_python_a_list_of_six() {
    let p = load("aws__aws-dynamodb-encryption-python__buildspec.yml");
    assert_eq!((p.kind, p.fast_fail), (Kind::BuildList, false));
    assert_eq!(ids(&p), ["python3_8", "python3_9", "python3_10", "python3_11", "python3_12", "code_coverage"]);
    let specs: Vec<Option<&str>> = p.builds.iter().map(|b| b.buildspec.as_deref()).collect();
    assert_eq!(
        specs,
        [Some("codebuild/python3.8.yml"), Some("codebuild/python3.9.yml"), Some("codebuild/python3.10.yml"), Some("codebuild/python3.11.yml"), Some("codebuild/python3.12.yml"), Some("codebuild/coverage/coverage.yml")]
    );
    let images: Vec<Option<&str>> = p.builds.iter().map(|b| b.recorded.image.as_deref()).collect();
    // python3_12's value has trailing spaces in the file; a plain scalar drops them.
    let (i5, i6, i7) = ("aws/codebuild/standard:5.0", "aws/codebuild/standard:6.0", "aws/codebuild/standard:7.0");
    assert_eq!(images, [Some(i5), Some(i5), Some(i6), Some(i7), Some(i7), None]);
    assert!(p.builds.iter().all(|b| b.variables.is_empty() && b.depend_on.is_empty() && !b.ignore_failure));
}

#[test]
fn encryption_sdk_cli_a_graph_rooted_at_the_batch_buildspec_itself() {
    let p = load("aws__aws-encryption-sdk-cli__codebuild_release_test-release.yml");
    assert_eq!((p.kind, p.fast_fail), (Kind::BuildGraph, true));
    assert_eq!(ids(&p), ["release_to_staging", "validate_staging_release_api_compatibility", "validate_staging_release_examples"]);
    let root = build(&p, "release_to_staging");
    assert_eq!((root.buildspec.as_deref(), root.depend_on.len(), root.variables.len()), (None, 0, 0), "no buildspec: the batch's own file runs");
    let pip = map(&[("PIP_INDEX_URL", "https://test.pypi.org/simple/"), ("PIP_EXTRA_INDEX_URL", "https://pypi.python.org/simple/")]);
    for (id, spec) in [("validate_staging_release_api_compatibility", "codebuild/release/validate-api-compatibility.yml"), ("validate_staging_release_examples", "codebuild/release/validate-examples.yml")] {
        let b = build(&p, id);
        assert_eq!(b.buildspec.as_deref(), Some(spec));
        assert_eq!(b.depend_on, ["release_to_staging"]);
        assert_eq!(vars(&p, id), pip);
    }
}

#[test]
fn encryption_sdk_java_a_fourteen_node_release_graph() {
    let p = load("aws__aws-encryption-sdk-java__codebuild_release_release.yml");
    assert_eq!((p.kind, p.fast_fail), (Kind::BuildGraph, true));
    let jdks = ["openjdk8", "openjdk11", "corretto8", "corretto11"];
    let mut expected = vec!["release_staging".to_string()];
    expected.extend(jdks.iter().map(|j| format!("validate_staging_release_{j}")));
    expected.extend(["version", "publish", "artifact_hunt"].map(String::from));
    expected.extend(jdks.iter().map(|j| format!("validate_prod_release_{j}")));
    expected.extend(["upload_artifacts", "update_javadoc"].map(String::from));
    assert_eq!(ids(&p), expected);
    for (stage, dep) in [("staging", "release_staging"), ("prod", "artifact_hunt")] {
        for j in jdks {
            let id = format!("validate_{stage}_release_{j}");
            let number = j.trim_start_matches(char::is_alphabetic);
            assert_eq!(vars(&p, &id), map(&[("JAVA_ENV_VERSION", j), ("JAVA_NUMERIC_VERSION", number)]), "{id}");
            assert_eq!(build(&p, &id).depend_on, [dep]);
            assert_eq!(build(&p, &id).buildspec.as_deref(), Some(format!("codebuild/release/validate-{stage}.yml").as_str()));
            let image = if j.starts_with("openjdk") { "aws/codebuild/standard:3.0" } else { "aws/codebuild/amazonlinux2-x86_64-standard:3.0" };
            assert_eq!(build(&p, &id).recorded.image.as_deref(), Some(image));
        }
    }
    let version = build(&p, "version");
    assert_eq!(version.depend_on.len(), 5);
    assert_eq!(version.recorded.image.as_deref(), Some("aws/codebuild/standard:5.0"));
    assert_eq!(build(&p, "upload_artifacts").depend_on, jdks.map(|j| format!("validate_prod_release_{j}")));
    assert_eq!(build(&p, "update_javadoc").depend_on, ["upload_artifacts"]);
    assert_eq!(vars(&p, "update_javadoc"), map(&[("JAVA_ENV_VERSION", "coretto11"), ("JAVA_NUMERIC_VERSION", "11")]));
}

#[test]
fn encryption_sdk_javascript_nine_test_builds() {
    let p = load("aws__aws-encryption-sdk-javascript__buildspec.yml");
    assert_eq!((p.kind, p.fast_fail), (Kind::BuildList, false));
    assert_eq!(
        ids(&p),
        ["testNodejs20", "testNodejs18", "testNodejs16", "testBrowser18", "compliance", "testVectorsNodejs16", "testVectorsNodejs18", "testVectorsNodejs20", "testVectorsBrowser18"]
    );
    for b in &p.builds {
        let expected = if b.identifier.starts_with("testVectors") { map(&[("PUBLISH_LOCAL", "true")]) } else { BTreeMap::new() };
        assert_eq!(vars(&p, &b.identifier), expected, "{}", b.identifier);
        assert_eq!(b.recorded.image.as_deref(), Some("aws/codebuild/standard:5.0"));
    }
    assert_eq!(build(&p, "testVectorsBrowser18").buildspec.as_deref(), Some("codebuild/test_vectors/browser18.yml"));
}

#[test]
fn aws_lc_omnibus_lists() {
    let p = load("aws__aws-lc__tests_ci_cdk_cdk_codebuild_github_ci_fuzzing_omnibus.yaml");
    assert_eq!(ids(&p), ["al2023_clang15_x86_64_fuzz", "al2023_clang14_arm_fuzz", "al2023_clang15_x86_64_cryptofuzz", "al2023_clang15_arm_cryptofuzz"]);
    let target = |t: &str| map(&[("AWS_LC_CI_COMPILER_ENV", "clang-15"), ("AWS_LC_CI_TARGET", t)]);
    assert_eq!(vars(&p, "al2023_clang14_arm_fuzz"), target("tests/ci/run_fuzz_tests.sh"));
    assert_eq!(vars(&p, "al2023_clang15_arm_cryptofuzz"), target("tests/ci/run_cryptofuzz.sh"));
    let types: Vec<&str> = p.builds.iter().map(|b| b.recorded.r#type.as_deref().unwrap()).collect();
    assert_eq!(types, ["LINUX_CONTAINER", "ARM_CONTAINER", "LINUX_CONTAINER", "ARM_CONTAINER"]);
    assert!(p.builds.iter().all(|b| b.recorded.privileged_mode == Some(true) && b.recorded.compute_type.as_deref() == Some("BUILD_GENERAL1_LARGE")));
    assert!(p.builds.iter().all(|b| b.buildspec.as_deref() == Some("./tests/ci/codebuild/common/run_simple_target.yml")));

    let p = load("aws__aws-lc__tests_ci_cdk_cdk_codebuild_github_ci_linux_x86_omnibus.yaml");
    assert_eq!(ids(&p), ["migrated"]);
    let m = build(&p, "migrated");
    assert_eq!((m.buildspec.as_deref(), m.recorded.privileged_mode), (Some("./tests/ci/codebuild/common/no_op.yml"), Some(false)));

    let p = load("aws__aws-lc__tests_ci_cdk_cdk_codebuild_linux_img_build_omnibus.yaml");
    assert_eq!(ids(&p), ["linux_x86_docker_img_build", "linux_aarch_docker_img_build"]);
    assert_eq!(build(&p, "linux_aarch_docker_img_build").recorded.image.as_deref(), Some("aws/codebuild/amazonlinux2-aarch64-standard:1.0"));
    assert!(p.builds.iter().all(|b| b.variables.is_empty()));
}

#[test]
fn s2n_fuzz_batch_with_debug_sessions() {
    let p = load("aws__s2n-tls__codebuild_spec_buildspec_fuzz_batch.yml");
    let libcryptos = [("clang_awslc", "awslc"), ("clang_openssl_1_0_2", "openssl-1.0.2"), ("clang_openssl_1_1_1", "openssl-1.1.1"), ("clang_openssl_3_0", "openssl-3.0"), ("clang_openssl_1_0_2_fips", "openssl-1.0.2-fips")];
    assert_eq!(ids(&p), libcryptos.map(|(id, _)| id));
    for (id, lib) in libcryptos {
        assert_eq!(vars(&p, id), map(&[("S2N_LIBCRYPTO", lib), ("COMPILER", "clang")]), "{id}");
        let b = build(&p, id);
        assert!(b.recorded.debug_session && b.recorded.privileged_mode == Some(true));
        assert_eq!(b.buildspec.as_deref(), Some("codebuild/spec/buildspec_fuzz.yml"));
    }
}

#[test]
fn s2n_valgrind_seven_builds_of_the_batch_buildspec() {
    let p = load("aws__s2n-tls__codebuild_spec_buildspec_valgrind.yml");
    let expected = [
        ("gcc_awslc", "awslc"),
        ("gcc_awslc_fips", "awslc-fips-2022"),
        ("gcc_openssl_3_0", "openssl-3.0"),
        ("gcc_openssl_3_fips", "openssl-3.0-fips"),
        ("gcc_openssl_1_1_1", "openssl-1.1.1"),
        ("gcc_openssl_1_0_2", "openssl-1.0.2"),
        ("gcc_openssl_1_0_2_fips", "openssl-1.0.2-fips"),
    ];
    assert_eq!(ids(&p), expected.map(|(id, _)| id));
    for (id, lib) in expected {
        assert_eq!(vars(&p, id), map(&[("S2N_LIBCRYPTO", lib), ("COMPILER", "gcc")]), "{id}");
        assert_eq!(build(&p, id).buildspec, None, "no override: the batch file's own phases run");
    }
}

#[test]
fn s2n_integration_matrix_is_three_presets_times_four_test_groups() {
    let p = load("aws__s2n-tls__codebuild_spec_buildspec_ubuntu_integrationv2.yml");
    assert_eq!((p.kind, p.fast_fail), (Kind::BuildMatrix, false));
    // compute-type [1] × image [1] × S2N_BUILD_PRESET [3] × INTEGV2_TEST [4] = 12 builds.
    assert_eq!(ids(&p), (1..=12).map(|n| format!("build_matrix_{n}")).collect::<Vec<_>>());
    let presets = ["openssl-1.0.2", "openssl-1.0.2-fips", "openssl-3.0-fips"];
    let tests = [
        "test_happy_path",
        "test_buffered_send",
        "test_signature_algorithms test_session_resumption test_early_data test_external_psk",
        // A plain scalar folded over four lines reads as one line, joined by spaces.
        "test_version_negotiation test_ocsp test_renegotiate test_serialization test_record_padding test_npn test_cross_compatibility test_renegotiate_apache test_hello_retry_requests test_sni_match test_fragmentation test_key_update test_client_authentication test_sslyze test_sslv2_client_hello",
    ];
    for (n, b) in p.builds.iter().enumerate() {
        // The preset (written first) varies slowest.
        let expected = map(&[("S2N_BUILD_PRESET", presets[n / 4]), ("INTEGV2_TEST", tests[n % 4])]);
        assert_eq!(vars(&p, &b.identifier), expected, "{}", b.identifier);
        assert_eq!(b.buildspec, None);
        assert_eq!(b.recorded.compute_type.as_deref(), Some("BUILD_GENERAL1_XLARGE"));
        assert_eq!(b.recorded.image.as_deref(), Some("024603541914.dkr.ecr.us-west-2.amazonaws.com/docker:ubuntu18codebuild"));
        assert_eq!(b.recorded.privileged_mode, Some(true), "static.env applies to every build");
        let dims: Vec<&str> = b.combination.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(dims, ["compute-type", "image", "S2N_BUILD_PRESET", "INTEGV2_TEST"]);
    }
}
