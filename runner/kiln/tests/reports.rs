//! `reports:` through the real binary (issue 13): a build that writes real third-party report
//! files (from `tests/corpus/reports`) gets them in `build.json` with CodeBuild's Report fields,
//! in the terminal summary, in the record (raw files and the normalized report) and as
//! provenance byproducts; failing tests never fail the build unless a `kiln: reports:` gate
//! says so; auto-discovery finds what no group names; secrets, links out and unparseable files
//! are handled.

mod common;

use std::path::PathBuf;

use common::*;
use serde_json::Value;

fn corpus(name: &str) -> Vec<u8> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/corpus/reports").join(name);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

const JUNIT: &str = "mikepenz__action-junit-report__test_results_tests_utils_target_surefire-reports_TEST-action.surefire.report.calc.CalcUtilsTest.xml";
const COBERTURA: &str = "codeclimate__test-reporter__formatters_cobertura_example.xml";
const SARIF: &str = "gitleaks__gitleaks__testdata_expected_report_sarif_simple.sarif";

/// A project whose build "produces" the three report files (they are in `fixtures/`; the build
/// copies them where a test run would write them).
fn project(extra_kiln: &str) -> Project {
    let spec = format!(
        r#"version: 0.2
env:
  variables:
    GROUP: unit
    CODEBUILD_CONFIG_AUTO_DISCOVER: "false"
phases:
  build:
    commands:
      - mkdir -p build/test-results coverage security
      - cp fixtures/junit.xml build/test-results/TEST-calc.xml
      - cp fixtures/cobertura.xml coverage/cobertura.xml
      - cp fixtures/findings.sarif security/findings.sarif
reports:
  $GROUP:
    files: ['**/TEST-*.xml']
    base-directory: build/test-results
  coverage:
    files: [cobertura.xml]
    base-directory: coverage
    file-format: coberturaxml
  secrets:
    files: ['security/*.sarif']
    file-format: SARIF
artifacts:
  files: ['coverage/**/*']
{extra_kiln}"#
    );
    let p = Project::new(&spec);
    p.write("fixtures/junit.xml", corpus(JUNIT));
    p.write("fixtures/cobertura.xml", corpus(COBERTURA));
    p.write("fixtures/findings.sarif", corpus(SARIF));
    p
}

fn report<'a>(b: &'a Build, name: &str) -> &'a Value {
    b.record["reports"].as_array().and_then(|a| a.iter().find(|r| r["name"] == name)).unwrap_or_else(|| panic!("no report {name}: {}", b.describe()))
}

#[test]
fn reports_are_collected_recorded_summarised_and_signed_without_failing_the_build() {
    let p = project("");
    let b = p.build(&[]);
    assert_eq!(b.status(), "SUCCEEDED", "failing tests do not fail a build, as in CodeBuild: {}", b.describe());

    let unit = report(&b, "unit");
    assert_eq!(unit["type"], "TEST");
    assert_eq!(unit["status"], "FAILED");
    assert_eq!(unit["testSummary"]["total"], 2, "{unit}");
    assert_eq!(unit["testSummary"]["statusCounts"]["FAILED"], 2, "{unit}");
    for key in ["SUCCEEDED", "FAILED", "ERROR", "SKIPPED", "UNKNOWN"] {
        assert!(unit["testSummary"]["statusCounts"][key].is_u64(), "all five counts: {unit}");
    }
    assert!(unit["arn"].as_str().unwrap().starts_with("arn:aws:codebuild:us-east-1:000000000000:report/unit:"), "{unit}");
    let cases = unit["testCases"].as_array().unwrap();
    assert_eq!(cases.len(), 2);
    assert!(cases.iter().all(|c| c["status"] == "FAILED" && c["prefix"] == "action.surefire.report.calc.CalcUtilsTest"), "{cases:?}");
    assert_eq!(unit["kiln"]["files"][0]["path"], "TEST-calc.xml", "base-directory is stripped: {unit}");

    let cov = report(&b, "coverage");
    assert_eq!(cov["type"], "CODE_COVERAGE");
    assert_eq!(cov["status"], "SUCCEEDED");
    let s = &cov["codeCoverageSummary"];
    assert!(s["linesCovered"].as_u64().unwrap() > 0 && s["lineCoveragePercentage"].is_f64(), "{cov}");
    assert!(!cov["codeCoverages"].as_array().unwrap().is_empty(), "per-file coverage: {cov}");

    let sec = report(&b, "secrets");
    assert_eq!(sec["type"], "SECURITY");
    assert_eq!(sec["securitySummary"]["total"], 1, "{sec}");

    assert_eq!(b.record["reportArns"].as_array().unwrap().len(), 3, "{}", b.describe());

    // The record directory: raw copies and the normalized report of each.
    let dir = b.record_dir();
    let normalized = dir.join(unit["kiln"]["normalized"].as_str().unwrap());
    let doc: Value = serde_json::from_slice(&std::fs::read(&normalized).unwrap()).unwrap();
    assert_eq!(doc["report"]["testSummary"]["total"], 2);
    assert_eq!(doc["fileFormat"], "JUNITXML");

    // Provenance byproducts name the report files by digest.
    let prov = std::fs::read_to_string(dir.join("provenance.intoto.jsonl")).unwrap();
    let envelope: Value = serde_json::from_str(prov.lines().next().unwrap()).unwrap();
    let statement: Value = serde_json::from_slice(&base64_decode(envelope["payload"].as_str().unwrap())).unwrap();
    let names: Vec<&str> = statement["predicate"]["runDetails"]["byproducts"].as_array().unwrap().iter().filter_map(|b| b["name"].as_str()).collect();
    assert!(names.iter().any(|n| n.starts_with("reports/") && n.ends_with("report.json")), "{names:?}");
    assert!(names.iter().any(|n| n.starts_with("reports/") && n.ends_with("TEST-calc.xml")), "{names:?}");

    // The terminal summary: totals, then the failing tests with their messages.
    let out = p.run(&["build", p.src.to_str().unwrap()]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout.contains("report unit (JUNITXML): FAILED  2 tests, 0 passed, 2 failed"), "{}", out.stdout);
    assert!(out.stdout.contains("FAILED [unit] action.surefire.report.calc.CalcUtilsTest.test scale"), "{}", out.stdout);
    assert!(out.stdout.contains("report secrets (SARIF)"), "{}", out.stdout);
}

fn base64_decode(s: &str) -> Vec<u8> {
    let out = std::process::Command::new("base64").arg("-d").stdin(std::process::Stdio::piped()).stdout(std::process::Stdio::piped()).spawn().unwrap();
    use std::io::Write;
    out.stdin.as_ref().unwrap().write_all(s.as_bytes()).unwrap();
    out.wait_with_output().unwrap().stdout
}

#[test]
fn gates_fail_the_build_when_asked() {
    let p = project("kiln:\n  reports:\n    fail-on-test-failures: yes\n    min-line-coverage: 95\n    fail-on-findings: low\n");
    let b = p.build(&[]);
    assert_eq!(b.status(), "FAILED", "{}", b.describe());
    let (code, message) = b.context("UPLOAD_ARTIFACTS").expect("the phase says why");
    assert_eq!(code, "REPORT_GATE");
    assert!(message.contains("2 test(s) failed") && message.contains("under the minimum 95 %") && message.contains("finding(s) of severity low"), "{message}");
    assert_eq!(b.code, 1);

    // Gates that hold pass.
    let p = project("kiln:\n  reports:\n    min-line-coverage: 50\n    fail-on-findings: critical\n");
    let b = p.build(&[]);
    assert_eq!(b.status(), "SUCCEEDED", "{}", b.describe());
}

#[test]
fn auto_discovery_finds_unnamed_reports_unless_turned_off() {
    let spec = "version: 0.2\nphases:\n  build:\n    commands:\n      - mkdir -p out && cp fixtures/junit.xml out/results.xml\n";
    let p = Project::new(spec);
    p.write("fixtures/junit.xml", corpus(JUNIT));
    let b = p.build(&[]);
    // The fixture itself and the copy: both JUnit files in the working copy.
    let auto = report(&b, "app-JUNITXML-AutoDiscovered");
    assert_eq!(auto["kiln"]["autoDiscovered"], true);
    assert_eq!(auto["testSummary"]["total"], 4, "{auto}");

    let off = "version: 0.2\nphases:\n  build:\n    commands:\n      - export CODEBUILD_CONFIG_AUTO_DISCOVER=false\n";
    let p = Project::new(off);
    p.write("fixtures/junit.xml", corpus(JUNIT));
    let b = p.build(&[]);
    assert_eq!(b.record["reports"].as_array().unwrap().len(), 0, "{}", b.describe());

    let dir = "version: 0.2\nphases:\n  build:\n    commands:\n      - mkdir -p out && cp fixtures/junit.xml out/results.xml\n      - export CODEBUILD_CONFIG_AUTO_DISCOVER_DIR='out/*'\n";
    let p = Project::new(dir);
    p.write("fixtures/junit.xml", corpus(JUNIT));
    let b = p.build(&[]);
    assert_eq!(report(&b, "app-JUNITXML-AutoDiscovered")["testSummary"]["total"], 2, "only out/: {}", b.describe());
}

#[test]
fn hostile_report_files_are_warnings_never_leaks() {
    let p = Project::empty();
    let side = p.side_dir("host");
    std::fs::write(side.join("outside.xml"), "<testsuite name='host'><testcase name='leaked-host-file'/></testsuite>").unwrap();
    p.write(
        "buildspec.yml",
        r#"version: 0.2
env:
  parameter-store:
    TOKEN: /ci/token
phases:
  build:
    commands:
      - mkdir -p r
      - printf '<testsuite name="s"><testcase name="t"><failure message="token %s"/></testcase></testsuite>' "$TOKEN" > r/secret.xml
      - printf '<testsuite name="broken"><testcase name="x">' > r/truncated.xml
      - ln -s "$SIDE/outside.xml" r/link.xml
reports:
  r:
    files: ['r/*.xml']
"#,
    );
    let secrets = p.side_dir("secrets").join("secrets.yml");
    std::fs::write(&secrets, "parameters:\n  /ci/token: hunter2-report-secret\n").unwrap();
    std::fs::set_permissions(&secrets, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let b = p.build_with(&["--secrets-file", secrets.to_str().unwrap(), "--env", &format!("SIDE={}", side.display())], |_| {});
    assert_eq!(b.status(), "SUCCEEDED", "{}", b.describe());
    let r = report(&b, "r");
    assert_eq!(r["status"], "INCOMPLETE", "the truncated file: {r}");
    let warnings = r["kiln"]["warnings"].to_string();
    assert!(warnings.contains("truncated.xml"), "the warning names the file: {warnings}");
    assert!(!b.stdout.contains("leaked-host-file"), "a link out of the working copy is not read: {}", b.describe());
    // The secret is masked in the record, the normalized report and the raw copy.
    let dir = b.record_dir();
    assert!(!b.stdout.contains("hunter2-report-secret"), "{}", b.describe());
    for f in files_under(&dir.join("reports")) {
        let text = String::from_utf8_lossy(&std::fs::read(&f).unwrap()).into_owned();
        assert!(!text.contains("hunter2-report-secret"), "{} holds the secret", f.display());
    }
    assert!(r.to_string().contains("token ***"), "{r}");
}
