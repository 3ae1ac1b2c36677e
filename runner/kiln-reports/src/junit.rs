//! JUnit XML (`JUNITXML`), the union of its dialects: Ant/Surefire, Jenkins xunit, pytest,
//! jest-junit, go-junit-report, PHPUnit, Gradle, mocha, Bazel.
//!
//! - Root `<testsuites>` or `<testsuite>`; `<testsuite>`s nest to any depth (PHPUnit, multi-level
//!   reports); a `<testcase>` directly under `<testsuites>` has no suite.
//! - `prefix` = `classname` (or PHPUnit's `class`), `name` = `name`, `testSuiteName` = the
//!   innermost enclosing `<testsuite name>`, duration = `time` seconds (thousands commas
//!   accepted), `sourceFile`/`sourceLine` = `file`/`line` (pytest xunit1, PHPUnit).
//! - Outcome: the first `<failure>` → FAILED, `<error>` → ERROR (whichever comes first; any
//!   number of them may follow), `<skipped>` → SKIPPED unless a failure or error is present;
//!   `flakyFailure`, `flakyError`, `rerunFailure`, `rerunError` alone → SUCCEEDED (Surefire's
//!   rerun reports: the test passed on a rerun); nothing → SUCCEEDED.
//! - `message` = the deciding element's `message` attribute + `\n` + its text (CDATA included),
//!   as CodeBuild's example joins a message and a stack trace.
//! - `system-out`, `system-err`, `properties` are skipped.

use crate::builder::Sink;
use crate::model::TestStatus;
use crate::util::{case, count, join_message, seconds_to_nanos, shown};
use crate::xml::{Ev, Fatal, Xml, check_root};

/// The element that decides a test case's outcome (the first failure/error, or a skip).
struct Outcome {
    status: TestStatus,
    message: Option<String>,
}

pub(crate) fn parse(xml: &mut Xml, sink: &mut Sink) -> Result<(), Fatal> {
    let mut suites: Vec<Option<String>> = Vec::new();
    let mut suite_depths: Vec<usize> = Vec::new();
    let mut seen_root = false;
    let message_chars = sink.limits().message_chars;
    loop {
        let empty = match xml.next()? {
            Ev::Eof => break,
            Ev::End => {
                if suite_depths.last().is_some_and(|&d| d > xml.depth()) {
                    suite_depths.pop();
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
            check_root(xml, &["testsuites", "testsuite"], "a JUnit XML")?;
        }
        match xml.name() {
            "testsuite" => {
                let name = xml.attr("name");
                if !empty {
                    suites.push(name);
                    suite_depths.push(xml.depth());
                }
            }
            "testcase" => testcase(xml, sink, empty, suites.last().cloned().flatten(), message_chars)?,
            "testsuites" => {}
            _ if !empty => xml.skip()?,
            _ => {}
        }
    }
    Ok(())
}

fn testcase(xml: &mut Xml, sink: &mut Sink, empty: bool, suite: Option<String>, message_chars: usize) -> Result<(), Fatal> {
    let [name, classname, class, time, file, line] = xml.attrs_owned(["name", "classname", "class", "time", "file", "line"]);
    let pos = xml.pos();
    let mut c = case(classname.or(class).unwrap_or_default(), name.unwrap_or_default(), TestStatus::Succeeded);
    c.test_suite_name = suite;
    c.source_file = file.filter(|f| !f.is_empty());
    c.source_line = line.as_deref().and_then(count);
    if let Some(t) = time.as_deref().filter(|t| !t.trim().is_empty()) {
        match seconds_to_nanos(t) {
            Some(n) => c.duration_in_nano_seconds = n,
            None => sink.warn(Some(pos), format!("test case `{}`: time=\"{}\" is not a number of seconds; its duration is 0", shown(&c.name), shown(t))),
        }
    }
    let mut outcome: Option<Outcome> = None;
    if !empty {
        let target = xml.depth() - 1;
        loop {
            let child_empty = match xml.next()? {
                Ev::End => {
                    if xml.depth() <= target {
                        break;
                    }
                    continue;
                }
                Ev::Eof => break,
                Ev::Start => false,
                Ev::Empty => true,
                _ => continue,
            };
            let status = match xml.name() {
                "failure" => Some(TestStatus::Failed),
                "error" => Some(TestStatus::Error),
                "skipped" => Some(TestStatus::Skipped),
                _ => None,
            };
            let Some(status) = status else {
                if !child_empty {
                    xml.skip()?;
                }
                continue;
            };
            let decides = match &outcome {
                None => true,
                Some(o) => o.status == TestStatus::Skipped && status != TestStatus::Skipped,
            };
            if !decides {
                if !child_empty {
                    xml.skip()?;
                }
                continue;
            }
            let message = xml.attr("message");
            let body = if child_empty { String::new() } else { xml.read_text(message_chars)? };
            outcome = Some(Outcome { status, message: join_message(message.as_deref(), &body) });
        }
    }
    if let Some(o) = outcome {
        c.status = o.status;
        c.message = o.message;
    }
    sink.case(c);
    Ok(())
}
