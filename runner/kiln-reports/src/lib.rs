//! CodeBuild test, coverage and security reports for kiln: every report file format CodeBuild
//! accepts (and two kiln extensions) parsed into CodeBuild's report model, streaming, bounded,
//! never panicking.
//!
//! This crate only reads report files. Choosing the files (`files` globs, `base-directory`,
//! `discard-paths`, confinement to the working copy) is `kiln-artifacts::select`'s job; the
//! engine opens each matched file and hands it here; the record, the terminal summary and the
//! provenance byproducts are the engine's and the CLI's.
//!
//! # API
//!
//! ```
//! use kiln_reports::{Format, ReportBuilder, ReportStatus};
//!
//! let format = Format::from_name("junitxml").unwrap(); // a buildspec `file-format`, any case
//! let mut report = ReportBuilder::new("my-group", format); // one report per group per build
//! report.add_file("build/test-results/TEST-a.xml", &br#"<testsuite name="a">
//!     <testcase classname="A" name="works" time="0.1"/>
//!     <testcase classname="A" name="breaks"><failure message="boom"/></testcase>
//! </testsuite>"#[..]);
//! let out = report.finish();
//! assert_eq!(out.report.status, ReportStatus::Failed);
//! assert_eq!(out.report.test_summary.unwrap().total, 2);
//! assert_eq!(out.record_test_cases()[0].name, "breaks"); // FAILED/ERROR first, ≤ 500
//! let byproduct: Vec<u8> = out.normalized_json();         // for provenance
//! # assert!(!byproduct.is_empty());
//! ```
//!
//! - [`Format`]: `from_name` (case-insensitive `file-format`), `name`, `report_type`,
//!   `is_codebuild`; [`sniff`] recognises a file from its first bytes for CodeBuild's report
//!   auto-discovery (CodeBuild's rule is undocumented; kiln proposal: the root element or JSON
//!   shape; an empty `[]` is not recognised).
//! - [`ReportBuilder`]: `new(group, format)` / `with_limits`, `add_file(raw_path, reader)` once
//!   per matched file (any `Read`; read once, streaming), `finish()` → [`ReportOutput`]:
//!   the `Report` (CodeBuild's object), the kept `test_cases` / `coverages` / `findings`,
//!   `warnings`, `files`, `not_kept`; `record_test_cases()` is CodeBuild's 500-case record;
//!   `normalized()` / `normalized_json()` the provenance byproduct (one document per report:
//!   `kilnReport`, `fileFormat`, `report`, `files`, `testCases` | `codeCoverages` | `findings`,
//!   `warnings`, `notKept`; field order fixed by the types).
//! - [`merge_batch`]: one report per group from a batch's shard reports (see below).
//!
//! Nothing here returns an error: a file that cannot be read, is not well-formed, is truncated
//! or is not the declared format becomes a [`Warning`] naming the file, the position
//! (line:column for XML, LCOV and JSON; a byte offset where only that is known) and what was
//! expected, and the report becomes `INCOMPLETE`. Problems that lose no data (an unreadable
//! `time`, invalid UTF-8 read as U+FFFD, an undeclared entity, a cut text) are warnings that
//! leave the status alone.
//!
//! # The model (CodeBuild's API names; `model.rs`)
//!
//! `Report {type, name, status, truncated, testSummary {total, statusCounts{SUCCEEDED, FAILED,
//! ERROR, SKIPPED, UNKNOWN}, durationInNanoSeconds}, codeCoverageSummary {lineCoveragePercentage,
//! linesCovered, linesMissed, branchCoveragePercentage, branchesCovered, branchesMissed}}`,
//! `TestCase {testRawDataPath, prefix, name, status, durationInNanoSeconds, message,
//! testSuiteName}` and `CodeCoverage {filePath, …}`, as botocore's `service-2.json` spells them
//! (fact sheet `codebuild-more.md` §2). Kiln extensions, each marked in the docs:
//! `type: SECURITY` with `securitySummary` and `Finding`s (SARIF), and `TestCase.sourceFile` /
//! `sourceLine` where a format records the test's file and line (pytest, PHPUnit, Cucumber).
//!
//! - Percentages: covered / (covered + missed) × 100 rounded to two decimals (AWS's example:
//!   5/1 lines → 83.33); 0/0 → the percentage is omitted (kiln proposal: CodeBuild's value for
//!   an empty denominator is unconfirmed).
//! - Status (kiln proposals where the sheet says unconfirmed): a test report is `FAILED` iff
//!   some case is FAILED or ERROR (SKIPPED/UNKNOWN alone succeed); coverage `SUCCEEDED` once
//!   read; security `FAILED` iff a finding has SARIF level `error`; any fatal file problem, or
//!   no file at all, → `INCOMPLETE` (which wins over FAILED: data is missing).
//! - Test case `name` ≤ 1,000 characters and `message` ≤ 5,000 characters, as CodeBuild caps
//!   them (quotas page); kiln also caps `prefix` and `testSuiteName` at 1,000. Longer messages
//!   end in `… [truncated]`. Counts are never truncated.
//! - `durationInNanoSeconds` of a report: the sum of its cases' (CodeBuild does not say).
//! - Several files of one group: one report (CodeBuild: one per group per build); a source file
//!   covered by two files of the group keeps the better row (higher line %, then branch %: the
//!   batch rule below), since kiln does not hold line-level data across files.
//!
//! # Bounds (`Limits`, all adjustable)
//!
//! | what | default | beyond it |
//! |---|---|---|
//! | test cases in the record | 500 (CodeBuild) | FAILED/ERROR first; `truncated: true`; counted |
//! | test cases / findings kept for the byproduct | 100,000 and 64 MiB of text | FAILED/ERROR (findings: `error` or high+) evict others; counted in `notKept` |
//! | coverage rows | 200,000 files | counted in the summary and `notKept` |
//! | XML text or CDATA section | 1 MiB | the rest is skipped before quick-xml buffers it; warning |
//! | XML tag, comment, DOCTYPE | 8 MiB | the file is abandoned there; located warning |
//! | XML depth | 256 | the file is abandoned there; located warning |
//! | JSON file (Cucumber, SimpleCov, SARIF) | 256 MiB | refused; warning |
//! | line entries held for a coverage merge | 5,000,000 | the file is abandoned there |
//! | warnings | 20 per file, 100 per report | counted in `notKept` |
//!
//! So memory is bounded whatever a file holds: XML and LCOV stream (quick-xml's
//! `Reader::from_reader` over a bounded `BufRead`), Cucumber features and SARIF runs stream
//! one at a time, SimpleCov (whose commands must be merged) is capped by size.
//!
//! # Security decisions
//!
//! - No entity is ever expanded: quick-xml reports `&name;` as an event; kiln resolves only the
//!   five predefined entities and character references and keeps anything else as written,
//!   with a warning (billion laughs, XXE). No DTD — internal or external, JaCoCo's
//!   `report.dtd`, gcovr's URL — is ever fetched or read; quick-xml has no means to. A bare
//!   external DOCTYPE (as JaCoCo and gcovr write) is therefore not a warning; declared entities
//!   are.
//! - Inputs are never trusted for size: see Bounds. Paths read from reports (`filePath`,
//!   `sourceFile`, SARIF `uri`) are data, reported as written, never opened.
//! - Encodings: a BOM, UTF-16, or an XML declaration's `encoding` (WHATWG labels via
//!   `encoding_rs`) are honoured; bytes invalid in the encoding are read as U+FFFD with a
//!   warning, never a failure (quick-xml 0.42 and serde_json reject invalid UTF-8, so they never
//!   see any: `input.rs`). Byte offsets count this UTF-8 text (the file's bytes for UTF-8).
//!   Control characters XML 1.0 forbids are kept, with a located warning.
//!
//! # Formats and their mappings (details in each module's doc)
//!
//! | `file-format` | module | case / row | `prefix` | outcome |
//! |---|---|---|---|---|
//! | JUNITXML | `junit` | `testcase`, suites nested any depth | `classname` | failure → FAILED, error → ERROR, skipped → SKIPPED, flaky/rerun only → SUCCEEDED |
//! | CUCUMBERJSON | `cucumber` | scenario / outline row (not backgrounds) | feature name | worst of steps, hooks and the background |
//! | NUNITXML, NUNIT3XML | `nunit` | `test-case` (full name) | NUnit 3 `classname`, else the fixture part of the name | sheet's 2.x/3.x tables |
//! | TESTNGXML | `testng` | `test-method` (+ params) | class | PASS/FAIL/SKIP; config methods only when failed; retried rows dropped |
//! | VISUALSTUDIOTRX | `trx` | `UnitTestResult` (innermost rows) | `TestMethod/@className` | sheet's outcome table |
//! | CLOVERXML | `clover` | `file` | — | lines from stmt/cond `line`s, branches from file metrics |
//! | COBERTURAXML | `cobertura` | `class/@filename`, merged | — | counted `line`s (not `line-rate`), `condition-coverage` |
//! | JACOCOXML | `jacoco` | `sourcefile` | — | its LINE/BRANCH counters |
//! | SIMPLECOV | `simplecov` | path | — | `.resultset.json` (both shapes, commands merged), `coverage.json` |
//! | LCOV (kiln) | `lcov` | `SF` | — | `DA`, `BRDA` (`-` and 0 both missed), `LF/LH` fallback |
//! | SARIF (kiln) | `sarif` | `runs[].results[]` | — | findings with rule, level, severity, message, file:line |
//!
//! # Batch builds
//!
//! [`merge_batch`] follows CodeBuild's fanout auto-merge (user guide,
//! `parallel-test-auto-merge.html`): totals and status counts summed, duration the maximum,
//! coverage counts summed with percentages recomputed, per-file coverage from the shard with the
//! highest line % (ties: branch %); SUCCEEDED if every shard succeeded, FAILED if any failed,
//! INCOMPLETE if any is missing or incomplete.
//!
//! # Tests and benchmarks
//!
//! `tests/corpus.rs` checks every real file of `tests/corpus/reports/` against its producer's
//! own summary and an independent Python count (`tests/expect.py`); `tests/dialects.rs` a test
//! per dialect quirk; `tests/hostile.rs` hostile inputs; `tests/snapshots.rs` the normalized JSON
//! per format; `fuzz/` a libFuzzer target per parser family. `cargo bench -p kiln-reports
//! --bench junit` parses a generated 100 MB JUnit file end to end; `examples/gen_junit.rs` and
//! `examples/report.rs` measure peak memory with `/usr/bin/time -v`.

mod builder;
mod clamp;
mod clover;
mod cobertura;
mod cucumber;
mod format;
mod input;
mod jacoco;
mod json;
mod junit;
mod kept;
mod lcov;
mod limits;
mod merge;
mod model;
mod nunit;
mod parse;
mod sarif;
mod simplecov;
mod testng;
mod trx;
mod util;
mod xml;

pub use builder::{NotKept, Normalized, ReportBuilder, ReportOutput};
pub use format::{Format, sniff};
pub use limits::Limits;
pub use merge::merge_batch;
pub use model::*;
