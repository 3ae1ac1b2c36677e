//! Every real report file in `tests/corpus/reports/` (SOURCES.tsv) parses to the counts its
//! producer's own summary gives, and to the counts `tests/expect.py` (Python's standard
//! library, written apart from these parsers) finds in its elements. Files that are corrupt or
//! not their format give a located warning and an INCOMPLETE report.

use kiln_reports::{Format, ReportBuilder, ReportOutput, ReportStatus};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;

fn corpus() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/corpus/reports")
}

/// Files whose producer summary disagrees with their own contents, and why; for these the
/// test asserts the counts of what the file holds (which `expect.py` counts independently).
const DISAGREE: &[(&str, &str)] = &[
    ("dorny__test-reporter____tests___fixtures_python-xunit-pytest.xml", "the fixture keeps 10 of the run's 15 <testcase> elements; <testsuite tests=\"15\"> describes the whole run"),
    ("mikepenz__action-junit-report__test_results_mocha_mocha.xml", "an excerpt: <testsuites tests=\"15515\" skipped=\"1\"> is the real run, the file keeps one passing test case"),
    ("mikepenz__action-junit-report__test_results_nested_multi-level.xml", "an excerpt: <testsuites tests=\"57\"> is the real run, the file keeps 3 test cases"),
    ("jenkinsci__testng-plugin-plugin__src_test_resources_testng-failed-test-config.xml", "a hand-made fixture: the root claims 121 passed, the file holds a failed @BeforeMethod (kept, kiln proposal) and the test it skipped"),
    ("jenkinsci__testng-plugin-plugin__src_test_resources_testng-reporter-log-result.xml", "an excerpt: the root's totals (502) are the real run's, the file keeps 2 test methods (and 2 passing config methods, left out)"),
    ("jenkinsci__nunit-plugin__src_test_resources_hudson_plugins_nunit_NUnit-simple.xml", "an excerpt: the root says 4 tests and 1 failure, the file keeps two passing test cases"),
    ("jenkinsci__nunit-plugin__src_test_resources_hudson_plugins_nunit_NUnit-ignored.xml", "the root's total (4) counts a test the excerpt dropped; NUnit 2.4 also leaves not-run tests out of `ignored`/`skipped` (they are in `not-run`)"),
    ("jenkinsci__nunit-plugin__src_test_resources_hudson_plugins_nunit_issue-5673.xml", "an excerpt: the root's totals (1339 tests) are the real run's, the file keeps 23 test cases"),
    ("jenkinsci__nunit-plugin__src_test_resources_hudson_plugins_nunit_NUnit-issue44315-2.xml", "an excerpt: the root's totals (1356) are the real run's, the file keeps one test case"),
    ("codeclimate__test-reporter__formatters_clover_example_without_package.xml", "the fixture keeps one <file> of the example's 13 but the example's project <metrics> (306 statements)"),
    ("codeclimate__test-reporter__formatters_clover_empty_example.xml", "a fixture whose project <metrics> were kept while every <file> was removed: there is nothing to count"),
];

fn run(format: Format, file: &str) -> ReportOutput {
    let path = corpus().join(file);
    let mut b = ReportBuilder::new("corpus", format);
    b.add_file(file, std::fs::File::open(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())));
    b.finish()
}

/// Our counts in the shape expect.py prints.
fn ours(out: &ReportOutput) -> Value {
    let r = &out.report;
    if let Some(t) = &r.test_summary {
        let c = &t.status_counts;
        // NUnit 3's `failed` total includes the failures kiln reports as ERROR.
        let (failed, error) = if out.format == Format::Nunit3Xml { (c.failed + c.error, 0) } else { (c.failed, c.error) };
        serde_json::json!({"total": t.total, "failed": failed, "error": error, "skipped": c.skipped, "unknown": c.unknown})
    } else if let Some(c) = &r.code_coverage_summary {
        serde_json::json!({"lines_covered": c.lines_covered, "lines_missed": c.lines_missed, "branches_covered": c.branches_covered, "branches_missed": c.branches_missed})
    } else {
        serde_json::json!({"findings": r.security_summary.map_or(0, |s| s.total)})
    }
}

fn expectations() -> Vec<Value> {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/expect.py");
    let out = Command::new("python3").arg(&script).arg(corpus()).output().expect("python3 is needed for the corpus test (standard library only)");
    assert!(out.status.success(), "expect.py failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

#[test]
fn every_corpus_file_matches_its_producers_summary() {
    let disagree: BTreeMap<&str, &str> = DISAGREE.iter().copied().collect();
    let expected = expectations();
    let listed = std::fs::read_to_string(corpus().join("SOURCES.tsv")).unwrap().lines().count() - 1;
    assert_eq!(expected.len(), listed, "every SOURCES.tsv row is checked");
    let mut failures = Vec::new();
    let mut used_disagreements = 0;
    for e in &expected {
        let file = e["file"].as_str().unwrap();
        let format = Format::from_name(e["format"].as_str().unwrap()).unwrap_or_else(|| panic!("{file}: unknown format {}", e["format"]));
        let out = run(format, file);
        if e["broken"].as_bool().unwrap() {
            // Corrupt or not the format: a located warning, an INCOMPLETE report.
            let w = out.warnings.iter().find(|w| w.incomplete);
            match w {
                Some(w) if w.line.is_some() && w.file == file && out.report.status == ReportStatus::Incomplete => {}
                _ => failures.push(format!("{file}: expected a located warning and INCOMPLETE, got {:?} / {:?}", out.report.status, out.warnings)),
            }
            continue;
        }
        if out.warnings.iter().any(|w| w.incomplete) {
            failures.push(format!("{file}: unexpected fatal warning {:?}", out.warnings));
        }
        if e["malformed"].as_bool() == Some(true) && !out.warnings.iter().any(|w| w.line.is_some() && w.message.contains("control characters")) {
            failures.push(format!("{file}: the forbidden control characters must give a located warning: {:?}", out.warnings));
        }
        let got = ours(&out);
        if got != e["compare"] {
            failures.push(format!("{file}: counted {} but expect.py counted {}", got, e["compare"]));
        }
        if !e["declared"].is_null() && got != e["declared"] {
            if disagree.contains_key(file) {
                used_disagreements += 1;
            } else {
                failures.push(format!("{file}: {got} differs from the producer's summary {}", e["declared"]));
            }
        }
        // Small files keep every test case, and the record never holds more than 500.
        if let Some(t) = &out.report.test_summary {
            assert_eq!(out.test_cases.len() as u64, t.total, "{file}");
            assert!(out.record_test_cases().len() <= 500);
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert_eq!(used_disagreements, DISAGREE.len(), "every listed disagreement is real (remove stale ones)");
}

#[test]
fn corpus_files_are_recognised_by_sniffing() {
    for e in expectations() {
        let file = e["file"].as_str().unwrap();
        let format = Format::from_name(e["format"].as_str().unwrap()).unwrap();
        let head: Vec<u8> = std::fs::read(corpus().join(file)).unwrap().into_iter().take(4096).collect();
        let sniffed = kiln_reports::sniff(&head);
        if file.ends_with("non-junit.xml") || file.ends_with("coverage_coverage.json") {
            assert_eq!(sniffed, None, "{file}: a look-alike must not be taken for {format}");
        } else if file.ends_with("empty.json") {
            assert_eq!(sniffed, None, "{file}: `[]` could be any JSON array format");
        } else {
            assert_eq!(sniffed, Some(format), "{file}");
        }
    }
}

#[test]
fn a_group_of_several_files_is_one_report() {
    let mut b = ReportBuilder::new("junit-group", Format::JunitXml);
    for f in ["mikepenz__action-junit-report__test_results_tests_utils_target_surefire-reports_TEST-action.surefire.report.calc.CalcUtilsTest.xml", "mikepenz__action-junit-report__test_results_tests_utils_target_surefire-reports_TEST-action.surefire.report.calc.StringUtilsTest.xml", "EnricoMi__publish-unit-test-result-action__python_test_files_junit-xml_pytest_corrupt-xml.xml"] {
        b.add_file(&format!("reports/{f}"), std::fs::File::open(corpus().join(f)).unwrap());
    }
    let out = b.finish();
    let t = out.report.test_summary.unwrap();
    // 2 + 5 complete cases, plus the one case the corrupt file finished before it broke off.
    assert_eq!(t.total, 8);
    assert_eq!(out.report.status, ReportStatus::Incomplete);
    assert_eq!(out.files.len(), 3);
    assert!(out.test_cases.iter().all(|c| c.test_raw_data_path.starts_with("reports/")));
}
