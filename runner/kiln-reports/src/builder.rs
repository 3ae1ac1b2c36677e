//! One report group's report: files go in one at a time, a [`ReportOutput`] comes out.

use crate::format::Format;
use crate::kept::{Kept, finding_first, record_selection, test_case_first};
use crate::limits::Limits;
use crate::model::*;
use crate::xml::{Fatal, Pos};
use serde::Serialize;
use std::collections::BTreeMap;
use std::io::Read;

/// Builds the report of one report group (CodeBuild: one report per group per build) from its
/// matched files. Never fails: every problem becomes a [`Warning`].
pub struct ReportBuilder {
    name: String,
    format: Format,
    limits: Limits,
    files: Vec<String>,
    acc: Acc,
}

/// What the files of one report add up to.
#[derive(Debug, Clone)]
pub(crate) struct Acc {
    pub counts: StatusCounts,
    pub duration: u64,
    pub cases: Kept<TestCase>,
    pub coverages: BTreeMap<String, CodeCoverage>,
    /// Counts of coverage rows beyond `kept_coverages` (still in the summary).
    pub coverage_overflow: [u64; 4],
    pub coverages_dropped: u64,
    pub security: SecurityReportSummary,
    pub error_findings: u64,
    pub findings: Kept<Finding>,
    pub warnings: Vec<Warning>,
    pub warnings_dropped: u64,
    pub incomplete: bool,
}

impl Acc {
    pub(crate) fn new(limits: &Limits) -> Acc {
        Acc {
            counts: StatusCounts::default(),
            duration: 0,
            cases: Kept::new(limits.kept_items, limits.kept_bytes),
            coverages: BTreeMap::new(),
            coverage_overflow: [0; 4],
            coverages_dropped: 0,
            security: SecurityReportSummary::default(),
            error_findings: 0,
            findings: Kept::new(limits.kept_items, limits.kept_bytes),
            warnings: Vec::new(),
            warnings_dropped: 0,
            incomplete: false,
        }
    }

    pub(crate) fn warn(&mut self, limits: &Limits, w: Warning) {
        if w.incomplete {
            self.incomplete = true;
        }
        if self.warnings.len() < limits.warnings {
            self.warnings.push(w);
        } else {
            self.warnings_dropped += 1;
        }
    }

    pub(crate) fn coverage(&mut self, limits: &Limits, c: CodeCoverage) {
        if let Some(old) = self.coverages.get_mut(&c.file_path) {
            if c.better_than(old) {
                *old = c;
            }
        } else if self.coverages.len() < limits.kept_coverages {
            self.coverages.insert(c.file_path.clone(), c);
        } else {
            for (slot, n) in self.coverage_overflow.iter_mut().zip([c.lines_covered, c.lines_missed, c.branches_covered, c.branches_missed]) {
                *slot = slot.saturating_add(n);
            }
            self.coverages_dropped += 1;
        }
    }
}

/// Where a parser puts what it reads from one file.
pub(crate) struct Sink<'b> {
    acc: &'b mut Acc,
    limits: &'b Limits,
    file: &'b str,
    file_warnings: usize,
}

/// Warnings kept per file before the rest are only counted.
const FILE_WARNINGS: usize = 20;

impl Sink<'_> {
    pub(crate) fn limits(&self) -> &Limits {
        self.limits
    }

    /// Whether a case of this status would be kept (else `count_only` saves building it).
    pub(crate) fn wants(&self, status: TestStatus) -> bool {
        self.acc.cases.accepts(status.is_failure(), self.file.len() + 200)
    }

    /// Count a case without keeping it.
    pub(crate) fn count_only(&mut self, status: TestStatus, nanos: u64) {
        self.acc.counts.add(status);
        self.acc.duration = self.acc.duration.saturating_add(nanos);
        self.acc.cases.dropped += 1;
    }

    pub(crate) fn case(&mut self, mut c: TestCase) {
        self.acc.counts.add(c.status);
        self.acc.duration = self.acc.duration.saturating_add(c.duration_in_nano_seconds);
        let first = test_case_first(&c);
        cap(&mut c.name, self.limits.name_chars);
        cap(&mut c.prefix, self.limits.name_chars);
        if let Some(s) = &mut c.test_suite_name {
            cap(s, self.limits.name_chars);
        }
        if let Some(m) = &mut c.message {
            cap_message(m, self.limits.message_chars);
        }
        if self.acc.cases.accepts(first, c.name.len() + self.file.len() + 160) {
            c.test_raw_data_path = self.file.to_string();
            self.acc.cases.push(c, first);
        } else {
            self.acc.cases.dropped += 1;
        }
    }

    pub(crate) fn coverage(&mut self, c: CodeCoverage) {
        self.acc.coverage(self.limits, c);
    }

    pub(crate) fn finding(&mut self, mut f: Finding) {
        self.acc.security.total = self.acc.security.total.saturating_add(1);
        self.acc.security.severity_counts.add(f.severity);
        if f.level == "error" {
            self.acc.error_findings += 1;
        }
        cap_message(&mut f.message, self.limits.message_chars);
        f.raw_data_path = self.file.to_string();
        let first = finding_first(&f);
        self.acc.findings.push(f, first);
    }

    pub(crate) fn suppressed(&mut self) {
        self.acc.security.suppressed = self.acc.security.suppressed.saturating_add(1);
    }

    /// A warning that does not stop the file.
    pub(crate) fn warn(&mut self, pos: Option<Pos>, message: impl Into<String>) {
        self.file_warnings += 1;
        if self.file_warnings > FILE_WARNINGS {
            self.acc.warnings_dropped += 1;
            return;
        }
        let w = warning(self.file, pos, message.into(), false);
        self.acc.warn(self.limits, w);
    }

    fn fatal(&mut self, f: Fatal) {
        let w = warning(self.file, f.pos, f.message, true);
        self.acc.warn(self.limits, w);
    }
}

fn warning(file: &str, pos: Option<Pos>, message: String, incomplete: bool) -> Warning {
    Warning { file: file.to_string(), line: pos.map(|p| p.line), column: pos.map(|p| p.column), offset: pos.and_then(|p| p.offset), message, incomplete }
}

/// Truncate to `max` characters.
pub(crate) fn cap(s: &mut String, max: usize) {
    if s.len() <= max {
        return;
    }
    if let Some((at, _)) = s.char_indices().nth(max) {
        s.truncate(at);
    }
}

/// Truncate a message to `max` characters, saying so at its end.
pub(crate) fn cap_message(s: &mut String, max: usize) {
    const MARK: &str = "… [truncated]";
    if s.len() > max && s.char_indices().nth(max).is_some() {
        cap(s, max.saturating_sub(MARK.chars().count()));
        s.push_str(MARK);
    }
}

impl ReportBuilder {
    /// A report for the group `name` (the report group's name) whose files are in `format`.
    pub fn new(name: &str, format: Format) -> ReportBuilder {
        ReportBuilder::with_limits(name, format, Limits::default())
    }

    /// The same with other bounds.
    pub fn with_limits(name: &str, format: Format, limits: Limits) -> ReportBuilder {
        let acc = Acc::new(&limits);
        ReportBuilder { name: name.to_string(), format, limits, files: Vec::new(), acc }
    }

    /// Read one matched file. `raw_path` is how the record names it (`testRawDataPath`,
    /// warnings); `reader` is its content, read once, to the end or to the first fatal problem.
    pub fn add_file(&mut self, raw_path: &str, reader: impl Read) {
        self.files.push(raw_path.to_string());
        let mut sink = Sink { acc: &mut self.acc, limits: &self.limits, file: raw_path, file_warnings: 0 };
        if let Err(f) = crate::parse::parse_file(self.format, reader, &mut sink) {
            sink.fatal(f);
        }
    }

    /// The finished report.
    pub fn finish(mut self) -> ReportOutput {
        if self.files.is_empty() {
            let w = Warning { file: String::new(), line: None, column: None, offset: None, message: format!("report group `{}`: no report files were found, so the report is INCOMPLETE", self.name), incomplete: true };
            self.acc.warn(&self.limits, w);
        }
        let total_files = self.files;
        output_from(&self.name, self.format, &self.limits, total_files, self.acc, false)
    }
}

/// Build the output from an accumulator (shared by the builder and the batch merge).
pub(crate) fn output_from(name: &str, format: Format, limits: &Limits, files: Vec<String>, acc: Acc, merged_truncated: bool) -> ReportOutput {
    let report_type = format.report_type();
    let total = [TestStatus::Succeeded, TestStatus::Failed, TestStatus::Error, TestStatus::Skipped, TestStatus::Unknown].iter().fold(0u64, |t, s| t.saturating_add(acc.counts.get(*s)));
    let status = if acc.incomplete {
        ReportStatus::Incomplete
    } else {
        match report_type {
            ReportType::Test if acc.counts.failed + acc.counts.error > 0 => ReportStatus::Failed,
            ReportType::Security if acc.error_findings > 0 => ReportStatus::Failed,
            _ => ReportStatus::Succeeded,
        }
    };
    let mut summary = CodeCoverageReportSummary::default();
    for c in acc.coverages.values() {
        summary.add(c.lines_covered, c.lines_missed, c.branches_covered, c.branches_missed);
    }
    let [a, b, c, d] = acc.coverage_overflow;
    summary.add(a, b, c, d);
    let not_kept = NotKept { test_cases: acc.cases.dropped, code_coverages: acc.coverages_dropped, findings: acc.findings.dropped, warnings: acc.warnings_dropped };
    let truncated = merged_truncated
        || match report_type {
            ReportType::Test => total > limits.record_test_cases as u64,
            ReportType::CodeCoverage => not_kept.code_coverages > 0,
            ReportType::Security => not_kept.findings > 0,
        };
    let report = Report {
        arn: None,
        report_type,
        name: name.to_string(),
        report_group_arn: None,
        execution_id: None,
        status,
        created: None,
        truncated,
        test_summary: (report_type == ReportType::Test).then_some(TestReportSummary { total, status_counts: acc.counts, duration_in_nano_seconds: acc.duration }),
        code_coverage_summary: (report_type == ReportType::CodeCoverage).then_some(summary),
        security_summary: (report_type == ReportType::Security).then_some(acc.security),
    };
    ReportOutput {
        format,
        report,
        files,
        test_cases: acc.cases.into_vec(),
        coverages: acc.coverages.into_values().collect(),
        findings: acc.findings.into_vec(),
        warnings: acc.warnings,
        not_kept,
        record_test_cases: limits.record_test_cases,
    }
}

/// Counted but not kept (memory bounds; see [`Limits`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NotKept {
    /// Test cases in the summary but not in `test_cases`.
    pub test_cases: u64,
    /// Files in the coverage summary but not in `coverages`.
    pub code_coverages: u64,
    /// Findings in the security summary but not in `findings`.
    pub findings: u64,
    /// Warnings beyond the per-file / per-report caps.
    pub warnings: u64,
}

/// A finished report: CodeBuild's `Report` plus everything kept beside it.
#[derive(Debug, Clone)]
pub struct ReportOutput {
    /// The group's format.
    pub format: Format,
    /// The `Report` object (summary, status, truncated).
    pub report: Report,
    /// The raw files read, in order.
    pub files: Vec<String>,
    /// Test cases kept (up to [`Limits::kept_items`]), in input order.
    pub test_cases: Vec<TestCase>,
    /// Per-file coverage, sorted by path.
    pub coverages: Vec<CodeCoverage>,
    /// Security findings kept, in input order.
    pub findings: Vec<Finding>,
    /// Every problem met, in order.
    pub warnings: Vec<Warning>,
    /// What the summaries count but the lists above do not hold.
    pub not_kept: NotKept,
    pub(crate) record_test_cases: usize,
}

impl ReportOutput {
    /// The test cases for the record, as CodeBuild keeps them: at most 500 (the builder's
    /// [`Limits::record_test_cases`]), FAILED and ERROR first, each group in input order.
    pub fn record_test_cases(&self) -> Vec<&TestCase> {
        record_selection(&self.test_cases, self.record_test_cases)
    }

    /// The normalized document (see [`ReportOutput::normalized_json`]).
    pub fn normalized(&self) -> Normalized<'_> {
        let t = self.report.report_type;
        Normalized {
            kiln_report: 1,
            file_format: self.format.name(),
            report: &self.report,
            files: &self.files,
            test_cases: (t == ReportType::Test).then_some(&self.test_cases[..]),
            code_coverages: (t == ReportType::CodeCoverage).then_some(&self.coverages[..]),
            findings: (t == ReportType::Security).then_some(&self.findings[..]),
            warnings: &self.warnings,
            not_kept: self.not_kept,
        }
    }

    /// One JSON document for the report, for provenance byproducts: `kilnReport` (this layout's
    /// version, 1), `fileFormat`, `report`, `files`, then the kept `testCases`,
    /// `codeCoverages` or `findings` (whichever the type has), `warnings`, `notKept`. Field order
    /// is fixed; compact, no trailing newline.
    pub fn normalized_json(&self) -> Vec<u8> {
        serde_json::to_vec(&self.normalized()).unwrap_or_default()
    }
}

/// The normalized report document (serialize it with serde).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Normalized<'a> {
    /// Layout version.
    pub kiln_report: u32,
    /// The format name.
    pub file_format: &'static str,
    /// The report.
    pub report: &'a Report,
    /// Raw files.
    pub files: &'a [String],
    /// For TEST reports.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub test_cases: Option<&'a [TestCase]>,
    /// For CODE_COVERAGE reports.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code_coverages: Option<&'a [CodeCoverage]>,
    /// For SECURITY reports.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub findings: Option<&'a [Finding]>,
    /// Warnings.
    pub warnings: &'a [Warning],
    /// Counted, not kept.
    pub not_kept: NotKept,
}
