//! Page models: what a page shows, read from the records (no HTML here), so that the models can
//! be tested on their own and the same model serves `kiln report --html` and `kiln ui`.

pub mod findings;
pub mod logs;
pub mod provenance;
pub mod sbom;

use kiln_record::{Build, ReadError, RecordId, Records};
use kiln_reports::{CodeCoverage, CodeCoverageReportSummary, ReportType, TestCase};

/// How much a build page holds.
#[derive(Clone, Debug)]
pub struct Limits {
    /// Log lines shown per phase (the last ones).
    pub log_lines: usize,
    /// Findings shown (most severe first), from `findings_from`.
    pub findings: usize,
    pub findings_from: usize,
    /// Findings whose surrounding code is looked up in the artifacts.
    pub findings_with_code: usize,
    /// SBOM components shown per SBOM.
    pub components: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { log_lines: 400, findings: 200, findings_from: 0, findings_with_code: 50, components: 2000 }
    }
}

/// One build's page.
pub struct BuildPage {
    pub id: RecordId,
    pub build: Build,
    pub logs: Vec<logs::PhaseLog>,
    pub tests: Tests,
    pub coverage: Vec<Coverage>,
    pub findings: findings::Findings,
    /// The code around the shown findings (same order; `None`: no artifact holds the file).
    pub finding_code: Vec<Option<findings::Context>>,
    pub sboms: Vec<sbom::Sbom>,
    pub provenance: Option<provenance::Provenance>,
    /// What could not be read (unreadable reports, plugin files), each naming the file.
    pub problems: Vec<String>,
    pub limits: Limits,
}

/// Test reports, summed.
#[derive(Clone, Debug, Default)]
pub struct Tests {
    pub reports: Vec<String>,
    pub total: u64,
    pub passed: u64,
    pub failed: u64,
    pub errors: u64,
    pub skipped: u64,
    pub duration_ns: u64,
    /// Failing and erroring cases (the record keeps them first), with their report's name.
    pub failing: Vec<(String, TestCase)>,
    /// Failures the reports counted but the record did not keep.
    pub failing_not_kept: u64,
}

/// One coverage report.
#[derive(Clone, Debug)]
pub struct Coverage {
    pub name: String,
    pub summary: CodeCoverageReportSummary,
    /// Lowest line coverage first (as the record keeps them: at most 500).
    pub files: Vec<CodeCoverage>,
}

impl BuildPage {
    /// Read build `id`'s page. `key`: a public key to verify the provenance with (path, bytes).
    pub fn load(records: &Records, id: &RecordId, limits: Limits, key: Option<(&str, &[u8])>) -> Result<BuildPage, ReadError> {
        let build = records.build(id)?;
        let mut problems: Vec<String> = build.reports.iter().filter_map(|r| match r {
            kiln_record::Lenient::Unreadable { raw, error } => Some(format!("report {}: not readable by this kiln ({error})", raw.get("name").and_then(|n| n.as_str()).unwrap_or("?"))),
            kiln_record::Lenient::Ok(_) => None,
        }).collect();
        let mut phases: Vec<&str> = build.phases.iter().map(|p| p.phase_type.as_str()).collect();
        phases.dedup();
        let logs = phases.iter().filter_map(|p| logs::phase_log(records, id, p, limits.log_lines)).collect();
        let tests = tests(&build);
        let coverage = build
            .readable_reports()
            .filter(|r| r.report.report_type == ReportType::CodeCoverage)
            .map(|r| {
                let summary = r.report.code_coverage_summary.unwrap_or_default();
                Coverage { name: r.report.name.clone(), summary, files: r.code_coverages.clone() }
            })
            .collect();
        let findings = findings::load(records, id, &build);
        problems.extend(findings.problems.iter().cloned());
        let finding_code = findings.items.iter().skip(limits.findings_from).take(limits.findings.min(limits.findings_with_code)).map(|f| findings::context(records, id, &build, f)).collect();
        let (sboms, sbom_problems) = sbom::load(records, id, &build);
        problems.extend(sbom_problems);
        let provenance = provenance::load(records, id, &build, key);
        Ok(BuildPage { id: id.clone(), build, logs, tests, coverage, findings, finding_code, sboms, provenance, problems, limits })
    }

    /// Seconds from the build's start to each phase's start and its length, for the timeline.
    pub fn phase_spans(&self) -> Vec<(String, f64, f64, String)> {
        let Some(t0) = crate::fmt::parse_time(&self.build.start_time) else { return Vec::new() };
        self.build
            .phases
            .iter()
            .filter(|p| p.phase_type != "COMPLETED")
            .filter_map(|p| {
                let start = (crate::fmt::parse_time(&p.start_time)? - t0).as_seconds_f64().max(0.0);
                let length = crate::fmt::between(&p.start_time, p.end_time.as_deref()).unwrap_or_else(|| {
                    // Running: up to now.
                    (time::OffsetDateTime::now_utc() - t0).as_seconds_f64() - start
                });
                Some((p.phase_type.clone(), start, length.max(0.0), p.phase_status.clone().unwrap_or_else(|| "IN_PROGRESS".into())))
            })
            .collect()
    }
}

fn tests(build: &Build) -> Tests {
    let mut t = Tests::default();
    for r in build.readable_reports().filter(|r| r.report.report_type == ReportType::Test) {
        t.reports.push(r.report.name.clone());
        let Some(s) = r.report.test_summary else { continue };
        t.total += s.total;
        t.passed += s.status_counts.succeeded;
        t.failed += s.status_counts.failed;
        t.errors += s.status_counts.error;
        t.skipped += s.status_counts.skipped;
        t.duration_ns = t.duration_ns.saturating_add(s.duration_in_nano_seconds);
        let kept: Vec<&TestCase> = r.test_cases.iter().filter(|c| c.status.is_failure()).collect();
        t.failing_not_kept += (s.status_counts.failed + s.status_counts.error).saturating_sub(kept.len() as u64);
        t.failing.extend(kept.into_iter().map(|c| (r.report.name.clone(), c.clone())));
    }
    t
}
