//! What every target checks: parsing any bytes never panics, every fatal warning is located,
//! summaries add up, and the normalized document is JSON.

use kiln_reports::{Format, Limits, ReportBuilder};

pub fn check(format: Format, data: &[u8]) {
    // Small bounds so the fuzzer reaches the limits too.
    let limits = Limits { kept_items: 50, kept_bytes: 64 << 10, xml_text: 4 << 10, xml_markup: 16 << 10, xml_depth: 64, json_bytes: 1 << 20, coverage_lines: 10_000, ..Limits::default() };
    let mut b = ReportBuilder::with_limits("fuzz", format, limits);
    b.add_file("fuzz", data);
    b.add_file("fuzz-again", data);
    let out = b.finish();
    for w in &out.warnings {
        if w.incomplete && format != Format::Lcov {
            assert!(w.line.is_some() || w.offset.is_some() || w.message.contains("larger than"), "unlocated: {w:?}");
        }
        if let Some(o) = w.offset {
            assert!(o <= 3 * data.len() as u64 + 16, "offset past the input: {w:?}");
        }
    }
    if let Some(t) = &out.report.test_summary {
        let c = &t.status_counts;
        assert_eq!(t.total, c.succeeded + c.failed + c.error + c.skipped + c.unknown);
        assert_eq!(out.test_cases.len() as u64 + out.not_kept.test_cases, t.total);
        assert!(out.record_test_cases().len() <= 500);
    }
    for c in &out.coverages {
        for p in [c.line_coverage_percentage, c.branch_coverage_percentage].into_iter().flatten() {
            assert!((0.0..=100.0).contains(&p), "{c:?}");
        }
    }
    let json = out.normalized_json();
    serde_json::from_slice::<serde_json::Value>(&json).expect("normalized JSON parses");
}
