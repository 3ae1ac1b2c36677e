//! NUnit XML: NUnit 2 (`NUNITXML`, root `<test-results>`) and NUnit 3 (`NUNIT3XML`, root
//! `<test-run>`). Either root is accepted under either name (the content decides; CodeBuild's
//! own handling of a mismatch is undocumented).
//!
//! - `test-suite`s nest to any depth (NUnit 2 through `<results>`); `test-case`s are the tests.
//! - `name` = the case's full name (NUnit 3 `fullname`, NUnit 2 `name`, which is already full):
//!   CodeBuild's `describe-test-cases` example shows the full name there.
//! - `prefix` = NUnit 3 `classname`; otherwise the full name up to its last `.` (parameters in
//!   parentheses ignored), i.e. the fixture's full name as in the same example.
//! - `testSuiteName` = the nearest enclosing fixture suite (`type` TestFixture, GenericFixture,
//!   ParameterizedFixture, SetUpFixture), else the nearest suite.
//! - Outcome, NUnit 3: Passed → SUCCEEDED; Failed with `label` Error/Invalid/Cancelled → ERROR
//!   (the AWS example shows an exception and a NotRunnable test as ERROR); other Failed → FAILED;
//!   Skipped → SKIPPED; Inconclusive, Warning, anything else → UNKNOWN.
//!   NUnit 2 `result`: Success → SUCCEEDED, Failure → FAILED, Error/NotRunnable/Cancelled →
//!   ERROR, Ignored/Skipped → SKIPPED, Inconclusive → UNKNOWN; without `result` (NUnit ≤ 2.4):
//!   `executed="False"` → SKIPPED, else `success` True/False → SUCCEEDED/FAILED.
//! - `message` = `failure/message` + `\n` + `failure/stack-trace`, or `reason/message`.
//! - Duration: NUnit 3 `duration` (else `time`), NUnit 2 `time`, in seconds.

use crate::builder::Sink;
use crate::model::TestStatus;
use crate::util::{case, fixture_of, join_message, seconds_to_nanos, shown};
use crate::xml::{Ev, Fatal, Xml, check_root};

const FIXTURES: [&str; 4] = ["TestFixture", "GenericFixture", "ParameterizedFixture", "SetUpFixture"];

pub(crate) fn parse(xml: &mut Xml, sink: &mut Sink) -> Result<(), Fatal> {
    // Enclosing suites: (depth, name, is a fixture).
    let mut suites: Vec<(usize, String, bool)> = Vec::new();
    let mut seen_root = false;
    loop {
        let empty = match xml.next()? {
            Ev::Eof => break,
            Ev::End => {
                while suites.last().is_some_and(|s| s.0 > xml.depth()) {
                    suites.pop();
                }
                continue;
            }
            Ev::Start => false,
            Ev::Empty => true,
            Ev::Text(_) | Ev::Other => continue,
        };
        if !seen_root {
            seen_root = true;
            check_root(xml, &["test-results", "test-run"], "an NUnit XML")?;
            continue;
        }
        match xml.name() {
            "test-suite" => {
                let [name, kind] = xml.attrs_owned(["name", "type"]);
                if !empty {
                    let fixture = kind.as_deref().is_some_and(|k| FIXTURES.contains(&k));
                    suites.push((xml.depth(), name.unwrap_or_default(), fixture));
                }
            }
            "test-case" => {
                let suite = suites.iter().rev().find(|s| s.2).or(suites.last()).map(|s| s.1.clone());
                test_case(xml, sink, empty, suite)?;
            }
            "results" => {}
            _ if !empty => xml.skip()?,
            _ => {}
        }
    }
    Ok(())
}

fn test_case(xml: &mut Xml, sink: &mut Sink, empty: bool, suite: Option<String>) -> Result<(), Fatal> {
    let [name, fullname, classname, result, label, executed, success, duration, time] = xml.attrs_owned(["name", "fullname", "classname", "result", "label", "executed", "success", "duration", "time"]);
    let pos = xml.pos();
    let full = fullname.or(name).unwrap_or_default();
    let prefix = classname.unwrap_or_else(|| fixture_of(&full).to_string());
    let status = outcome(result.as_deref(), label.as_deref(), executed.as_deref(), success.as_deref());
    let mut c = case(prefix, full, status);
    c.test_suite_name = suite;
    if let Some(t) = duration.or(time).filter(|t| !t.trim().is_empty()) {
        match seconds_to_nanos(&t) {
            Some(n) => c.duration_in_nano_seconds = n,
            None => sink.warn(Some(pos), format!("test case `{}`: duration \"{}\" is not a number of seconds; its duration is 0", shown(&c.name), shown(&t))),
        }
    }
    if !empty {
        let cap = sink.limits().message_chars;
        let target = xml.depth() - 1;
        let (mut message, mut trace) = (None::<String>, String::new());
        // Inside <failure> or <reason>: which child text goes where.
        let mut within: Option<usize> = None;
        loop {
            let child_empty = match xml.next()? {
                Ev::End => {
                    if xml.depth() <= target {
                        break;
                    }
                    if within.is_some_and(|d| xml.depth() < d) {
                        within = None;
                    }
                    continue;
                }
                Ev::Eof => break,
                Ev::Start => false,
                Ev::Empty => true,
                _ => continue,
            };
            match (xml.name(), within.is_some()) {
                ("failure" | "reason", false) if !child_empty && message.is_none() => within = Some(xml.depth()),
                ("message", true) if !child_empty => message = Some(xml.read_text(cap)?),
                ("stack-trace", true) if !child_empty => trace = xml.read_text(cap)?,
                _ if !child_empty => xml.skip()?,
                _ => {}
            }
        }
        c.message = join_message(message.as_deref(), &trace);
    }
    sink.case(c);
    Ok(())
}

fn outcome(result: Option<&str>, label: Option<&str>, executed: Option<&str>, success: Option<&str>) -> TestStatus {
    let is = |v: Option<&str>, want: &str| v.is_some_and(|v| v.trim().eq_ignore_ascii_case(want));
    match result.map(str::trim) {
        Some(r) if r.eq_ignore_ascii_case("Passed") || r.eq_ignore_ascii_case("Success") => TestStatus::Succeeded,
        Some(r) if r.eq_ignore_ascii_case("Failed") => {
            if ["Error", "Invalid", "Cancelled"].iter().any(|l| is(label, l)) { TestStatus::Error } else { TestStatus::Failed }
        }
        Some(r) if r.eq_ignore_ascii_case("Failure") => TestStatus::Failed,
        Some(r) if ["Error", "NotRunnable", "Cancelled"].iter().any(|x| r.eq_ignore_ascii_case(x)) => TestStatus::Error,
        Some(r) if ["Skipped", "Ignored", "NotRun"].iter().any(|x| r.eq_ignore_ascii_case(x)) => TestStatus::Skipped,
        Some(_) => TestStatus::Unknown,
        None if is(executed, "False") => TestStatus::Skipped,
        None if is(success, "True") => TestStatus::Succeeded,
        None if is(success, "False") => TestStatus::Failed,
        None => TestStatus::Unknown,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes_of_both_versions() {
        use TestStatus::*;
        let cases = [
            (Some("Passed"), None, None, None, Succeeded),
            (Some("Failed"), Some("Error"), None, None, Error),
            (Some("Failed"), Some("Invalid"), None, None, Error),
            (Some("Failed"), None, None, None, Failed),
            (Some("Skipped"), Some("Ignored"), None, None, Skipped),
            (Some("Inconclusive"), None, None, None, Unknown),
            (Some("Warning"), None, None, None, Unknown),
            (Some("Success"), None, None, None, Succeeded),
            (Some("Failure"), None, None, None, Failed),
            (Some("NotRunnable"), None, None, None, Error),
            (Some("Ignored"), None, None, None, Skipped),
            (None, None, Some("False"), None, Skipped),
            (None, None, Some("True"), Some("False"), Failed),
            (None, None, Some("True"), Some("True"), Succeeded),
        ];
        for (r, l, e, s, want) in cases {
            assert_eq!(outcome(r, l, e, s), want, "{r:?} {l:?} {e:?} {s:?}");
        }
    }
}
