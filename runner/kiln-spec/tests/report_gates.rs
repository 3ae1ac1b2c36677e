//! `reports:` formats (case-insensitive, kiln's LCOV/SARIF extensions) and `kiln: reports:`
//! gates, with their located errors.

use kiln_spec::parse_buildspec;

const HEAD: &str = "version: 0.2\nphases:\n  build:\n    commands: [echo]\n";

#[test]
fn formats_are_case_insensitive_and_kiln_extensions_are_flagged() {
    let p = parse_buildspec(&format!("{HEAD}reports:\n  cov:\n    files: [lcov.info]\n    file-format: lcov\n  junit:\n    files: [a.xml]\n    file-format: JunitXml\n"));
    let spec = p.spec.expect("valid");
    assert_eq!(spec.reports[0].file_format, "LCOV");
    assert_eq!(spec.reports[1].file_format, "JUNITXML");
    let w = p.diagnostics.iter().find(|d| d.code == "W0401").expect("LCOV is a kiln extension");
    assert_eq!((w.span.line, w.span.col), (8, 18));

    let p = parse_buildspec(&format!("{HEAD}reports:\n  r:\n    files: [a.xml]\n    file-format: JUNTXML\n"));
    let e = p.diagnostics.iter().find(|d| d.code == "E0400").expect("unknown format");
    assert!(e.help.as_deref().unwrap_or_default().contains("did you mean `JUNITXML`"), "{e:?}");
}

#[test]
fn gates_parse_and_bad_values_are_located() {
    let p = parse_buildspec(&format!("{HEAD}kiln:\n  reports:\n    fail-on-test-failures: yes\n    min-line-coverage: 80%\n    min-branch-coverage: 60.5\n    fail-on-findings: HIGH\n"));
    let g = p.spec.expect("valid").kiln.report_gates;
    assert!(g.fail_on_test_failures && g.any());
    assert_eq!(g.min_line_coverage.map(|v| v.value), Some(80.0));
    assert_eq!(g.min_branch_coverage.map(|v| v.value), Some(60.5));
    assert_eq!(g.fail_on_findings.map(|v| v.value).as_deref(), Some("high"));

    let p = parse_buildspec(&format!("{HEAD}kiln:\n  reports:\n    min-line-coverage: 180\n    fail-on-findings: hihg\n    fail-on-tests: yes\n"));
    assert!(p.spec.is_none());
    let pct = p.diagnostics.iter().find(|d| d.message.contains("min-line-coverage")).expect("percentage");
    assert_eq!((pct.span.line, pct.span.col), (7, 24));
    let sev = p.diagnostics.iter().find(|d| d.code == "E0730").expect("severity");
    assert!(sev.help.as_deref().unwrap_or_default().contains("`high`"), "{sev:?}");
    assert!(p.diagnostics.iter().any(|d| d.code == "W0001" && d.message.contains("fail-on-tests")), "unknown key: {:?}", p.diagnostics);
}

#[test]
fn the_html_report_byproduct_parses_and_bad_values_are_located() {
    let p = parse_buildspec(&format!("{HEAD}kiln:\n  report: html\n"));
    assert!(p.spec.expect("valid").kiln.report_html);
    let p = parse_buildspec(&format!("{HEAD}kiln:\n  report: HTML\n"));
    assert!(p.spec.expect("case-insensitive").kiln.report_html);
    assert!(!parse_buildspec(HEAD).spec.expect("valid").kiln.report_html, "off unless written");

    let p = parse_buildspec(&format!("{HEAD}kiln:\n  report: pdf\n"));
    assert!(p.spec.is_none());
    let e = p.diagnostics.iter().find(|d| d.code == "E0740").expect("located error");
    assert_eq!((e.span.line, e.span.col), (6, 11));
    assert!(e.message.contains("`pdf`") && e.help.as_deref().unwrap_or_default().contains("report: html"), "{e:?}");
    let p = parse_buildspec(&format!("{HEAD}kiln:\n  report: [html]\n"));
    assert!(p.spec.is_none(), "a list is not a format: {:?}", p.diagnostics);
    let p = parse_buildspec(&format!("{HEAD}kiln:\n  reprot: html\n"));
    assert!(p.diagnostics.iter().any(|d| d.code == "W0001" && d.help.as_deref().unwrap_or_default().contains("report")), "did you mean: {:?}", p.diagnostics);
}
