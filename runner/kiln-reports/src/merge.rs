//! Merging the reports of a batch (CodeBuild's fanout auto-merge, `parallel-test-auto-merge`):
//! one report per group from the shards' reports of that group.
//!
//! Rules (CodeBuild's user guide): test `total` and `statusCounts` are sums, the duration is
//! the **maximum** of the shards'; coverage counts are sums and the percentages are recomputed
//! from the sums; a file covered in several shards keeps the shard's row with the highest line
//! percentage, ties broken by branch percentage. Status: SUCCEEDED when every shard's report
//! succeeded, FAILED when any failed, INCOMPLETE when any is missing or incomplete (kiln
//! proposal: INCOMPLETE wins over FAILED, since data is missing). Kept test cases and findings
//! are re-selected with the same bounds (FAILED/ERROR first); warnings and files are
//! concatenated.
//!
//! Within one build, several files of one group are merged by [`crate::ReportBuilder`] itself
//! (`add_file` once per file): CodeBuild makes one report per group per build.

use crate::builder::{Acc, ReportOutput, output_from};
use crate::format::Format;
use crate::kept::{finding_first, test_case_first};
use crate::limits::Limits;
use crate::model::{ReportStatus, Warning};

/// Merge the shards' reports of one group. `None` stands for a shard whose report is missing.
pub fn merge_batch<'a>(name: &str, format: Format, shards: impl IntoIterator<Item = Option<&'a ReportOutput>>, limits: &Limits) -> ReportOutput {
    let mut acc = Acc::new(limits);
    let mut files = Vec::new();
    let mut any = false;
    let mut max_duration = 0u64;
    let mut truncated = false;
    let mut coverage_sum = [0u64; 4];
    let mut failed = false;
    for (i, shard) in shards.into_iter().enumerate() {
        let Some(shard) = shard else {
            acc.warn(limits, Warning { file: String::new(), line: None, column: None, offset: None, message: format!("report group `{name}`: the report of batch build {} is missing, so the merged report is INCOMPLETE", i + 1), incomplete: true });
            continue;
        };
        any = true;
        let r = &shard.report;
        match r.status {
            ReportStatus::Incomplete => acc.incomplete = true,
            ReportStatus::Failed => failed = true,
            ReportStatus::Succeeded => {}
        }
        truncated |= r.truncated;
        files.extend(shard.files.iter().cloned());
        if let Some(t) = &r.test_summary {
            acc.counts.merge(&t.status_counts);
            max_duration = max_duration.max(t.duration_in_nano_seconds);
        }
        if let Some(c) = &r.code_coverage_summary {
            for (slot, n) in coverage_sum.iter_mut().zip([c.lines_covered, c.lines_missed, c.branches_covered, c.branches_missed]) {
                *slot = slot.saturating_add(n);
            }
        }
        if let Some(s) = &r.security_summary {
            acc.security.total = acc.security.total.saturating_add(s.total);
            acc.security.suppressed = acc.security.suppressed.saturating_add(s.suppressed);
            acc.security.severity_counts.merge(&s.severity_counts);
        }
        for c in &shard.test_cases {
            acc.cases.push(c.clone(), test_case_first(c));
        }
        acc.cases.dropped += shard.not_kept.test_cases;
        for f in &shard.findings {
            if f.level == "error" {
                acc.error_findings += 1;
            }
            acc.findings.push(f.clone(), finding_first(f));
        }
        acc.findings.dropped += shard.not_kept.findings;
        for c in &shard.coverages {
            acc.coverage(limits, c.clone());
        }
        acc.coverages_dropped += shard.not_kept.code_coverages;
        for w in &shard.warnings {
            acc.warn(limits, w.clone());
        }
        acc.warnings_dropped += shard.not_kept.warnings;
    }
    if !any {
        acc.incomplete = true;
    }
    acc.duration = max_duration;
    let mut out = output_from(name, format, limits, files, acc, truncated);
    // The summary is the sum of the shards' summaries (CodeBuild), not of the best rows.
    if let Some(summary) = &mut out.report.code_coverage_summary {
        *summary = crate::model::CodeCoverageReportSummary::from_counts(coverage_sum[0], coverage_sum[1], coverage_sum[2], coverage_sum[3]);
    }
    if failed && out.report.status == ReportStatus::Succeeded {
        out.report.status = ReportStatus::Failed;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ReportBuilder;

    fn junit(xml: &str) -> ReportOutput {
        let mut b = ReportBuilder::new("g", Format::JunitXml);
        b.add_file("shard.xml", xml.as_bytes());
        b.finish()
    }

    fn lcov(info: &str) -> ReportOutput {
        let mut b = ReportBuilder::new("c", Format::Lcov);
        b.add_file("lcov.info", info.as_bytes());
        b.finish()
    }

    #[test]
    fn test_reports_sum_counts_and_take_the_longest_duration() {
        let a = junit(r#"<testsuite><testcase name="a" time="2"/><testcase name="b" time="1"><failure/></testcase></testsuite>"#);
        let b = junit(r#"<testsuite><testcase name="c" time="5"/></testsuite>"#);
        let m = merge_batch("g", Format::JunitXml, [Some(&a), Some(&b)], &Limits::default());
        let t = m.report.test_summary.unwrap();
        assert_eq!((t.total, t.status_counts.succeeded, t.status_counts.failed), (3, 2, 1));
        assert_eq!(t.duration_in_nano_seconds, 5_000_000_000, "the maximum, not the sum (8 s)");
        assert_eq!(m.report.status, ReportStatus::Failed);
        assert_eq!(m.record_test_cases()[0].name, "b");
        let ok = merge_batch("g", Format::JunitXml, [Some(&b), Some(&b)], &Limits::default());
        assert_eq!(ok.report.status, ReportStatus::Succeeded);
        let missing = merge_batch("g", Format::JunitXml, [Some(&a), None], &Limits::default());
        assert_eq!(missing.report.status, ReportStatus::Incomplete);
        assert!(missing.warnings.iter().any(|w| w.incomplete && w.message.contains("batch build 2")));
        assert_eq!(merge_batch("g", Format::JunitXml, [], &Limits::default()).report.status, ReportStatus::Incomplete);
    }

    #[test]
    fn coverage_sums_summaries_and_keeps_the_best_row_per_file() {
        let a = lcov("SF:x.rs\nDA:1,1\nDA:2,0\nDA:3,0\nend_of_record\nSF:only-a.rs\nDA:1,1\nend_of_record\n");
        let b = lcov("SF:x.rs\nDA:1,1\nDA:2,1\nDA:3,0\nBRDA:1,0,0,1\nend_of_record\n");
        let m = merge_batch("c", Format::Lcov, [Some(&a), Some(&b)], &Limits::default());
        let s = m.report.code_coverage_summary.unwrap();
        assert_eq!((s.lines_covered, s.lines_missed, s.branches_covered), (4, 3, 1));
        assert_eq!(s.line_coverage_percentage, Some(57.14));
        let x = m.coverages.iter().find(|c| c.file_path == "x.rs").unwrap();
        assert_eq!((x.lines_covered, x.lines_missed), (2, 1), "shard b's row: 66.67% beats 33.33%");
        assert_eq!(m.coverages.len(), 2);
        assert_eq!(m.report.status, ReportStatus::Succeeded);
    }
}
