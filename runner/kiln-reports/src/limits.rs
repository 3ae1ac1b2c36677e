//! The bounds that keep memory and output bounded, whatever the input (see the crate doc).

/// Caps on what a report keeps and on what one file may make the parser hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Test cases in the record (`Report` + its cases in build.json): CodeBuild's 500.
    pub record_test_cases: usize,
    /// Test cases / findings kept for the normalized byproduct (FAILED/ERROR, and for findings
    /// high/critical or `error`, preferred once full).
    pub kept_items: usize,
    /// Approximate bytes of kept test cases / findings text (names, messages, paths).
    pub kept_bytes: usize,
    /// Per-file coverage rows kept (summary counts include the rest).
    pub kept_coverages: usize,
    /// Warnings kept per report (the rest are counted).
    pub warnings: usize,
    /// A test case's name, in characters (CodeBuild: 1,000). Also applied to prefix and suite.
    pub name_chars: usize,
    /// A test case's message, in characters (CodeBuild: 5,000).
    pub message_chars: usize,
    /// One XML text/CDATA section, in bytes, beyond which it is cut.
    pub xml_text: usize,
    /// One XML tag/comment/DOCTYPE, in bytes, beyond which the file is abandoned.
    pub xml_markup: usize,
    /// XML element depth.
    pub xml_depth: usize,
    /// A JSON report file (Cucumber, SimpleCov, SARIF), in bytes.
    pub json_bytes: u64,
    /// Line-level entries one coverage file may make the parser hold (Cobertura's per-file
    /// line merge, LCOV, SimpleCov).
    pub coverage_lines: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            record_test_cases: 500,
            kept_items: 100_000,
            kept_bytes: 64 << 20,
            kept_coverages: 200_000,
            warnings: 100,
            name_chars: 1_000,
            message_chars: 5_000,
            xml_text: 1 << 20,
            xml_markup: 8 << 20,
            xml_depth: 256,
            json_bytes: 256 << 20,
            coverage_lines: 5_000_000,
        }
    }
}
