//! CodeBuild's report model, with the field names and enum values of its API (botocore
//! `codebuild/2016-10-06/service-2.json`: `Report`, `TestReportSummary`,
//! `CodeCoverageReportSummary`, `TestCase`, `CodeCoverage`), plus kiln's extensions, each marked.
//!
//! Serialization is camelCase exactly as the API writes it; fields serialize in declaration order,
//! so the JSON is stable. Fields only CodeBuild's service fills (`arn`, `reportGroupArn`,
//! `executionId`, `created`, `reportArn`, `id`) are optional and left `None` by this crate: the
//! engine fills what it has.

use serde::{Deserialize, Serialize};

/// `Report.type`. `SECURITY` is a kiln extension (CodeBuild has only `TEST` and `CODE_COVERAGE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ReportType {
    /// Test results.
    Test,
    /// Line and branch coverage per file.
    CodeCoverage,
    /// Security findings read from SARIF (kiln extension).
    Security,
}

impl ReportType {
    /// The API spelling (`TEST`, `CODE_COVERAGE`, `SECURITY`).
    pub fn as_str(self) -> &'static str {
        match self {
            ReportType::Test => "TEST",
            ReportType::CodeCoverage => "CODE_COVERAGE",
            ReportType::Security => "SECURITY",
        }
    }
}

/// `Report.status` as a finished report has it (`GENERATING` and `DELETING` never apply here).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ReportStatus {
    /// Every test case succeeded (test reports); the files were read (coverage, security without
    /// `error`-level findings).
    Succeeded,
    /// Some test case failed or errored; a security report with an `error`-level finding.
    Failed,
    /// A file could not be read or parsed, or no file was given (kiln proposal, see the crate doc).
    Incomplete,
}

impl ReportStatus {
    /// The API spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            ReportStatus::Succeeded => "SUCCEEDED",
            ReportStatus::Failed => "FAILED",
            ReportStatus::Incomplete => "INCOMPLETE",
        }
    }
}

/// `TestCase.status`: the five values CodeBuild documents.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TestStatus {
    /// Passed.
    Succeeded,
    /// Failed (an assertion).
    Failed,
    /// An unexpected error.
    Error,
    /// Did not run.
    Skipped,
    /// Anything else (inconclusive, pending, ...).
    Unknown,
}

impl TestStatus {
    /// The API spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            TestStatus::Succeeded => "SUCCEEDED",
            TestStatus::Failed => "FAILED",
            TestStatus::Error => "ERROR",
            TestStatus::Skipped => "SKIPPED",
            TestStatus::Unknown => "UNKNOWN",
        }
    }

    /// FAILED or ERROR: what the 500-case record keeps first and what makes a report FAILED.
    pub fn is_failure(self) -> bool {
        matches!(self, TestStatus::Failed | TestStatus::Error)
    }
}

/// `TestReportSummary.statusCounts`: always all five keys, zeros included (every AWS example
/// shows them so), in this order.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusCounts {
    /// `SUCCEEDED`.
    #[serde(rename = "SUCCEEDED")]
    pub succeeded: u64,
    /// `FAILED`.
    #[serde(rename = "FAILED")]
    pub failed: u64,
    /// `ERROR`.
    #[serde(rename = "ERROR")]
    pub error: u64,
    /// `SKIPPED`.
    #[serde(rename = "SKIPPED")]
    pub skipped: u64,
    /// `UNKNOWN`.
    #[serde(rename = "UNKNOWN")]
    pub unknown: u64,
}

impl StatusCounts {
    /// Count one test case.
    pub fn add(&mut self, status: TestStatus) {
        let slot = match status {
            TestStatus::Succeeded => &mut self.succeeded,
            TestStatus::Failed => &mut self.failed,
            TestStatus::Error => &mut self.error,
            TestStatus::Skipped => &mut self.skipped,
            TestStatus::Unknown => &mut self.unknown,
        };
        *slot = slot.saturating_add(1);
    }

    /// The count for one status.
    pub fn get(&self, status: TestStatus) -> u64 {
        match status {
            TestStatus::Succeeded => self.succeeded,
            TestStatus::Failed => self.failed,
            TestStatus::Error => self.error,
            TestStatus::Skipped => self.skipped,
            TestStatus::Unknown => self.unknown,
        }
    }

    /// Add another set of counts (batch merge: sums).
    pub fn merge(&mut self, other: &StatusCounts) {
        self.succeeded = self.succeeded.saturating_add(other.succeeded);
        self.failed = self.failed.saturating_add(other.failed);
        self.error = self.error.saturating_add(other.error);
        self.skipped = self.skipped.saturating_add(other.skipped);
        self.unknown = self.unknown.saturating_add(other.unknown);
    }
}

/// `TestReportSummary`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TestReportSummary {
    /// Every test case counted, including those the 500-case record left out.
    pub total: u64,
    /// Counts per status.
    pub status_counts: StatusCounts,
    /// Sum of the test cases' durations (kiln proposal: CodeBuild does not say how it sums a
    /// report; the batch merge takes the maximum of the shards, as CodeBuild documents).
    pub duration_in_nano_seconds: u64,
}

/// Round a covered/missed pair to CodeBuild's percentage: two decimals, `None` for 0/0 (kiln
/// proposal: CodeBuild's behaviour for an empty denominator is unconfirmed; omitting beats a
/// made-up 0 or 100).
pub fn percentage(covered: u64, missed: u64) -> Option<f64> {
    let total = covered.checked_add(missed)?;
    if total == 0 {
        return None;
    }
    let p = covered as f64 * 100.0 / total as f64;
    Some((p * 100.0).round() / 100.0)
}

/// `CodeCoverageReportSummary`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CodeCoverageReportSummary {
    /// Covered / (covered + missed) lines × 100, two decimals; absent when there are no lines.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line_coverage_percentage: Option<f64>,
    /// Lines executed at least once.
    pub lines_covered: u64,
    /// Executable lines never executed.
    pub lines_missed: u64,
    /// Covered / (covered + missed) branches × 100, two decimals; absent when there are none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub branch_coverage_percentage: Option<f64>,
    /// Branches taken at least once.
    pub branches_covered: u64,
    /// Branches never taken.
    pub branches_missed: u64,
}

impl CodeCoverageReportSummary {
    /// A summary from counts (percentages computed).
    pub fn from_counts(lines_covered: u64, lines_missed: u64, branches_covered: u64, branches_missed: u64) -> Self {
        CodeCoverageReportSummary {
            line_coverage_percentage: percentage(lines_covered, lines_missed),
            lines_covered,
            lines_missed,
            branch_coverage_percentage: percentage(branches_covered, branches_missed),
            branches_covered,
            branches_missed,
        }
    }

    /// Add counts; percentages recomputed from the sums (CodeBuild's batch-merge rule).
    pub fn add(&mut self, lines_covered: u64, lines_missed: u64, branches_covered: u64, branches_missed: u64) {
        *self = Self::from_counts(
            self.lines_covered.saturating_add(lines_covered),
            self.lines_missed.saturating_add(lines_missed),
            self.branches_covered.saturating_add(branches_covered),
            self.branches_missed.saturating_add(branches_missed),
        );
    }
}

/// Kiln extension: counts of a `SECURITY` report's findings by kiln severity (the levels kiln's
/// scanner plugins use), plus those the SARIF marked suppressed (counted here, not kept).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SecurityReportSummary {
    /// Findings counted (suppressed ones excluded).
    pub total: u64,
    /// Per severity, highest first; all five keys always present.
    pub severity_counts: SeverityCounts,
    /// Results the SARIF marked suppressed (`suppressions` with a status other than rejected).
    pub suppressed: u64,
}

/// Kiln extension: finding counts per severity.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeverityCounts {
    /// `critical`.
    pub critical: u64,
    /// `high`.
    pub high: u64,
    /// `medium`.
    pub medium: u64,
    /// `low`.
    pub low: u64,
    /// `note`.
    pub note: u64,
}

impl SeverityCounts {
    /// Count one finding.
    pub fn add(&mut self, s: Severity) {
        let slot = match s {
            Severity::Critical => &mut self.critical,
            Severity::High => &mut self.high,
            Severity::Medium => &mut self.medium,
            Severity::Low => &mut self.low,
            Severity::Note => &mut self.note,
        };
        *slot = slot.saturating_add(1);
    }

    /// Add another set of counts.
    pub fn merge(&mut self, o: &SeverityCounts) {
        self.critical = self.critical.saturating_add(o.critical);
        self.high = self.high.saturating_add(o.high);
        self.medium = self.medium.saturating_add(o.medium);
        self.low = self.low.saturating_add(o.low);
        self.note = self.note.saturating_add(o.note);
    }
}

/// CodeBuild's `Report`, as far as a build produces it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    /// Filled by the engine if it makes ARNs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub arn: Option<String>,
    /// `TEST`, `CODE_COVERAGE` or (kiln extension) `SECURITY`.
    #[serde(rename = "type")]
    pub report_type: ReportType,
    /// The report group's name.
    pub name: String,
    /// Filled by the engine.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub report_group_arn: Option<String>,
    /// Filled by the engine (the build's ARN; a batch-merged report: the batch's).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub execution_id: Option<String>,
    /// `SUCCEEDED`, `FAILED` or `INCOMPLETE`.
    pub status: ReportStatus,
    /// Filled by the engine.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    /// More test cases were counted than the record keeps (CodeBuild: 500).
    pub truncated: bool,
    /// For `TEST` reports.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub test_summary: Option<TestReportSummary>,
    /// For `CODE_COVERAGE` reports.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code_coverage_summary: Option<CodeCoverageReportSummary>,
    /// For `SECURITY` reports (kiln extension).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub security_summary: Option<SecurityReportSummary>,
}

/// CodeBuild's `TestCase`, plus `sourceFile`/`sourceLine` (kiln extension: where the format
/// says which source file and line the test lives at: pytest `file`/`line`, PHPUnit, Cucumber).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TestCase {
    /// Filled by the engine.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub report_arn: Option<String>,
    /// The raw report file the case was read from, as the engine named it.
    pub test_raw_data_path: String,
    /// The class / fixture / feature (per format: see the crate doc's mapping table).
    pub prefix: String,
    /// The test's name (at most 1,000 characters, as CodeBuild caps it).
    pub name: String,
    /// The outcome.
    pub status: TestStatus,
    /// Duration in nanoseconds (0 when the format gave none or an unreadable one).
    pub duration_in_nano_seconds: u64,
    /// Failure message and stack trace (at most 5,000 characters, as CodeBuild caps it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// The enclosing suite.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub test_suite_name: Option<String>,
    /// Kiln extension: the test's source file, when the format records it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_file: Option<String>,
    /// Kiln extension: the test's line in `sourceFile`, when the format records it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_line: Option<u64>,
}

/// CodeBuild's `CodeCoverage`: one source file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CodeCoverage {
    /// Filled by the engine.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Filled by the engine (note the API's capital `ARN`).
    #[serde(rename = "reportARN", skip_serializing_if = "Option::is_none")]
    pub report_arn: Option<String>,
    /// The source file's path as the report names it.
    pub file_path: String,
    /// Two decimals; absent when the file has no executable lines.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line_coverage_percentage: Option<f64>,
    /// Lines executed at least once.
    pub lines_covered: u64,
    /// Executable lines never executed.
    pub lines_missed: u64,
    /// Two decimals; absent when the file has no branches.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub branch_coverage_percentage: Option<f64>,
    /// Branches taken at least once.
    pub branches_covered: u64,
    /// Branches never taken.
    pub branches_missed: u64,
}

impl CodeCoverage {
    /// A row from counts (percentages computed).
    pub fn new(file_path: String, lines_covered: u64, lines_missed: u64, branches_covered: u64, branches_missed: u64) -> Self {
        CodeCoverage {
            id: None,
            report_arn: None,
            file_path,
            line_coverage_percentage: percentage(lines_covered, lines_missed),
            lines_covered,
            lines_missed,
            branch_coverage_percentage: percentage(branches_covered, branches_missed),
            branches_covered,
            branches_missed,
        }
    }

    /// Whether `self` beats `other` for the same file (CodeBuild's batch rule: higher line %,
    /// then higher branch %; a missing percentage counts as -1).
    pub fn better_than(&self, other: &CodeCoverage) -> bool {
        let key = |c: &CodeCoverage| (c.line_coverage_percentage.unwrap_or(-1.0), c.branch_coverage_percentage.unwrap_or(-1.0));
        let (a, b) = (key(self), key(other));
        a.0 > b.0 || (a.0 == b.0 && a.1 > b.1)
    }
}

/// How bad a security finding is: the five levels kiln's scanner plugins use (`kiln-host`'s
/// `Severity`, `kiln-sarif`), so a SARIF report's findings join theirs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Informational.
    Note,
    /// Low.
    Low,
    /// Medium.
    Medium,
    /// High.
    High,
    /// Critical.
    Critical,
}

/// Kiln extension: one SARIF result of a `SECURITY` report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Finding {
    /// The raw SARIF file the finding was read from.
    pub raw_data_path: String,
    /// `runs[].tool.driver.name`.
    pub tool: String,
    /// `ruleId` (or `rule.id`), empty when the result names no rule.
    pub rule_id: String,
    /// SARIF `level` (`error`, `warning`, `note`, `none`), from the result, else the rule's
    /// `defaultConfiguration`, else `warning` (SARIF 2.1.0 §3.27.10).
    pub level: String,
    /// Kiln severity: from the rule's or result's `security-severity` property when present
    /// (≥ 9.0 critical, ≥ 7.0 high, ≥ 4.0 medium, > 0 low, else note: GitHub code scanning's
    /// bands), else from `level` (error → high, warning → medium, note/none → note).
    pub severity: Severity,
    /// `message.text` (or the rule's message string it refers to), at most 5,000 characters.
    pub message: String,
    /// The first location's `artifactLocation.uri`, as written.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file_path: Option<String>,
    /// `region.startLine`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start_line: Option<u64>,
    /// `region.startColumn`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start_column: Option<u64>,
    /// `region.endLine`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end_line: Option<u64>,
    /// `region.endColumn`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end_column: Option<u64>,
    /// The first of `partialFingerprints` / `fingerprints` (sorted by key), when present.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fingerprint: Option<String>,
}

/// A problem with one report file: where (file, and line:column or byte offset when known),
/// what was expected, and whether it cost data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Warning {
    /// The raw file's path as the engine named it (empty for a report-level warning).
    pub file: String,
    /// 1-based line.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<u64>,
    /// 1-based column, in bytes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub column: Option<u64>,
    /// 0-based byte offset (of the file's UTF-8 text: see the crate doc on encodings).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub offset: Option<u64>,
    /// What was found and what was expected.
    pub message: String,
    /// The file (or the rest of it) was not read, so the report is `INCOMPLETE`.
    pub incomplete: bool,
}

impl std::fmt::Display for Warning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if !self.file.is_empty() {
            f.write_str(&self.file)?;
            match (self.line, self.column, self.offset) {
                (Some(l), Some(c), _) => write!(f, ":{l}:{c}")?,
                (Some(l), None, _) => write!(f, ":{l}")?,
                (None, _, Some(o)) => write!(f, ": byte {o}")?,
                _ => {}
            }
            f.write_str(": ")?;
        }
        f.write_str(&self.message)
    }
}
