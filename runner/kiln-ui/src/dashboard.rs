//! The dashboard's numbers over the last N builds (and deployments): success rate, median and
//! p90 duration (nearest-rank percentiles over finished runs), the flakiest tests (tests seen both
//! passing and failing across those builds), and the top failure causes (the failed phases'
//! contexts, grouped).
//!
//! A build's record keeps at most 500 test cases per report, failures first (as CodeBuild), so
//! in a suite larger than that a passing run of a test may be missing and its flakiness
//! under-counted; the page says so.

use std::borrow::Borrow;
use std::collections::BTreeMap;

use kiln_record::{Build, DeploymentInfo};
use kiln_reports::ReportType;

/// Outcomes and durations of a set of runs.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RunStats {
    pub runs: usize,
    pub finished: usize,
    pub succeeded: usize,
    /// `succeeded / finished` in percent (`None` when nothing finished).
    pub success_rate: Option<f64>,
    pub median_s: Option<f64>,
    pub p90_s: Option<f64>,
}

/// The nearest-rank `p`-th percentile of `sorted` (ascending).
pub fn percentile(sorted: &[f64], p: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil().max(1.0) as usize;
    sorted.get(rank - 1).copied()
}

fn stats(outcomes: impl Iterator<Item = (bool, bool, Option<f64>)>) -> RunStats {
    let mut s = RunStats::default();
    let mut durations = Vec::new();
    for (finished, ok, d) in outcomes {
        s.runs += 1;
        if finished {
            s.finished += 1;
            s.succeeded += ok as usize;
            durations.extend(d);
        }
    }
    durations.sort_by(f64::total_cmp);
    s.success_rate = (s.finished > 0).then(|| s.succeeded as f64 * 100.0 / s.finished as f64);
    s.median_s = percentile(&durations, 50.0);
    s.p90_s = percentile(&durations, 90.0);
    s
}

/// Statistics of builds.
pub fn build_stats<B: Borrow<Build>>(builds: &[B]) -> RunStats {
    stats(builds.iter().map(|b| b.borrow()).map(|b| (b.build_complete, b.build_status == "SUCCEEDED", crate::fmt::between(&b.start_time, b.end_time.as_deref()))))
}

/// Statistics of deployments (finished: Succeeded, Failed or Stopped).
pub fn deployment_stats(deployments: &[DeploymentInfo]) -> RunStats {
    stats(deployments.iter().map(|d| {
        let finished = matches!(d.status.as_str(), "Succeeded" | "Failed" | "Stopped");
        let start = d.start_time.as_deref().unwrap_or(&d.create_time);
        (finished, d.status == "Succeeded", crate::fmt::between(start, d.complete_time.as_deref()))
    }))
}

/// A test seen passing and failing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FlakyTest {
    /// `report › prefix › name`.
    pub name: String,
    pub passed: usize,
    pub failed: usize,
    /// The most recent failure's message, first line.
    pub last_message: Option<String>,
}

/// Tests that passed in some of `builds` and failed or errored in others, most flips first.
pub fn flaky_tests<B: Borrow<Build>>(builds: &[B]) -> Vec<FlakyTest> {
    let mut seen: BTreeMap<String, FlakyTest> = BTreeMap::new();
    for b in builds.iter().map(|b| b.borrow()) {
        for r in b.readable_reports().filter(|r| r.report.report_type == ReportType::Test) {
            for c in &r.test_cases {
                let name = [r.report.name.as_str(), c.prefix.as_str(), c.name.as_str()].iter().filter(|s| !s.is_empty()).copied().collect::<Vec<_>>().join(" › ");
                let e = seen.entry(name.clone()).or_insert(FlakyTest { name, passed: 0, failed: 0, last_message: None });
                if c.status.is_failure() {
                    e.failed += 1;
                    if e.last_message.is_none() {
                        e.last_message = c.message.as_deref().and_then(|m| m.lines().next()).map(|m| crate::model::logs::clip(m));
                    }
                } else if c.status == kiln_reports::TestStatus::Succeeded {
                    e.passed += 1;
                }
            }
        }
    }
    let mut out: Vec<FlakyTest> = seen.into_values().filter(|t| t.passed > 0 && t.failed > 0).collect();
    out.sort_by(|a, b| b.passed.min(b.failed).cmp(&a.passed.min(a.failed)).then(b.failed.cmp(&a.failed)).then(a.name.cmp(&b.name)));
    out
}

/// One failure cause: a failed phase's context, and how often it ended a build.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FailureCause {
    pub phase: String,
    pub status_code: String,
    pub message: String,
    pub count: usize,
    /// The newest build it ended (uuid).
    pub latest: String,
}

/// The failed phases of `builds` (newest first), grouped by phase, status code and message.
pub fn failure_causes<B: Borrow<Build>>(builds: &[B]) -> Vec<FailureCause> {
    let mut groups: Vec<FailureCause> = Vec::new();
    for b in builds.iter().map(|b| b.borrow()).filter(|b| b.build_complete && b.build_status != "SUCCEEDED") {
        for p in b.phases.iter().filter(|p| p.phase_status.as_deref().is_some_and(|s| s != "SUCCEEDED")) {
            let (code, message) = p.contexts.iter().find(|c| !c.message.is_empty() || !c.status_code.is_empty()).map(|c| (c.status_code.clone(), c.message.clone())).unwrap_or_default();
            match groups.iter_mut().find(|g| g.phase == p.phase_type && g.status_code == code && g.message == message) {
                Some(g) => g.count += 1,
                None => groups.push(FailureCause { phase: p.phase_type.clone(), status_code: code, message, count: 1, latest: b.uuid().to_string() }),
            }
        }
    }
    groups.sort_by(|a, b| b.count.cmp(&a.count));
    groups
}

#[cfg(test)]
mod tests {
    use super::*;
    use kiln_record::build::{Phase, PhaseContext};

    fn build(uuid: &str, status: &str, secs: u32, tests: &[(&str, &str)]) -> Build {
        let mut b = Build { id: format!("app:{uuid}"), build_status: status.into(), build_complete: status != "IN_PROGRESS", start_time: "2024-01-01T00:00:00Z".into(), end_time: Some(format!("2024-01-01T00:{:02}:{:02}Z", secs / 60, secs % 60)), ..Default::default() };
        if status == "FAILED" {
            b.phases.push(Phase { phase_type: "BUILD".into(), phase_status: Some("FAILED".into()), contexts: vec![PhaseContext { status_code: "COMMAND_EXECUTION_ERROR".into(), message: "npm test exited 1".into() }], ..Default::default() });
        }
        let cases: Vec<serde_json::Value> = tests.iter().map(|(n, s)| serde_json::json!({"testRawDataPath":"r.xml","prefix":"calc","name":n,"status":s,"durationInNanoSeconds":0,"message": if *s == "FAILED" { Some("expected 2\ngot 3") } else { None }})).collect();
        let report = serde_json::json!({"type":"TEST","name":"unit","status":"FAILED","truncated":false,"testCases":cases});
        b.reports.push(serde_json::from_value(report).unwrap());
        b
    }

    #[test]
    fn rates_percentiles_flaky_tests_and_causes() {
        let builds = vec![
            build("a", "SUCCEEDED", 10, &[("adds", "SUCCEEDED"), ("divides", "SUCCEEDED")]),
            build("b", "FAILED", 20, &[("adds", "FAILED"), ("divides", "SUCCEEDED")]),
            build("c", "FAILED", 30, &[("adds", "SUCCEEDED"), ("divides", "SUCCEEDED")]),
            build("d", "SUCCEEDED", 40, &[("adds", "SUCCEEDED")]),
            build("e", "IN_PROGRESS", 50, &[]),
        ];
        let s = build_stats(&builds);
        assert_eq!((s.runs, s.finished, s.succeeded), (5, 4, 2));
        assert_eq!(s.success_rate, Some(50.0));
        assert_eq!(s.median_s, Some(20.0));
        assert_eq!(s.p90_s, Some(40.0));
        let flaky = flaky_tests(&builds);
        assert_eq!(flaky.len(), 1, "{flaky:?}");
        assert_eq!(flaky[0].name, "unit › calc › adds");
        assert_eq!((flaky[0].passed, flaky[0].failed), (3, 1));
        assert_eq!(flaky[0].last_message.as_deref(), Some("expected 2"));
        let causes = failure_causes(&builds);
        assert_eq!(causes.len(), 1);
        assert_eq!((causes[0].count, causes[0].phase.as_str(), causes[0].latest.as_str()), (2, "BUILD", "b"));
        assert_eq!(percentile(&[], 50.0), None);
        assert_eq!(percentile(&[1.0], 90.0), Some(1.0));
    }
}
