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
    let mut scratch = Scratch::default();
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
            "testcase" => {
                let suite = suites.last().and_then(|s| s.as_deref());
                testcase(xml, sink, empty, suite, message_chars, &mut scratch)?
            }
            "testsuites" => {}
            _ if !empty => xml.skip()?,
            _ => {}
        }
    }
    Ok(())
}

/// The attributes of the `<testcase>` being read, in buffers reused from case to case (most
/// cases of a huge file are only counted, so nothing is allocated for them).
#[derive(Default)]
struct Scratch {
    name: String,
    prefix: String,
    file: String,
}

fn testcase(xml: &mut Xml, sink: &mut Sink, empty: bool, suite: Option<&str>, message_chars: usize, s: &mut Scratch) -> Result<(), Fatal> {
    let pos = xml.pos();
    let mut duration = 0;
    let mut bad_time = None;
    let source_line;
    {
        let [name, classname, class, time, file, line] = xml.attrs(["name", "classname", "class", "time", "file", "line"]);
        for (buf, value) in [(&mut s.name, name), (&mut s.prefix, classname.or(class)), (&mut s.file, file)] {
            buf.clear();
            buf.push_str(value.as_deref().unwrap_or(""));
        }
        source_line = line.as_deref().and_then(count);
        if let Some(t) = time.as_deref().filter(|t| !t.trim().is_empty()) {
            match seconds_to_nanos(t) {
                Some(n) => duration = n,
                None => bad_time = Some(shown(t)),
            }
        }
    }
    if let Some(t) = bad_time {
        sink.warn(Some(pos), format!("test case `{}`: time=\"{t}\" is not a number of seconds; its duration is 0", shown(&s.name)));
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
            let decides = status.is_some_and(|st| match &outcome {
                None => true,
                Some(o) => o.status == TestStatus::Skipped && st != TestStatus::Skipped,
            });
            let (Some(status), true) = (status, decides) else {
                if !child_empty {
                    xml.skip()?;
                }
                continue;
            };
            let message = xml.attr("message");
            let body = if child_empty { String::new() } else { xml.read_text(message_chars)? };
            outcome = Some(Outcome { status, message: join_message(message.as_deref(), &body) });
        }
    }
    let status = outcome.as_ref().map_or(TestStatus::Succeeded, |o| o.status);
    if !sink.wants(status) {
        sink.count_only(status, duration);
        return Ok(());
    }
    let mut c = case(s.prefix.clone(), s.name.clone(), status);
    c.duration_in_nano_seconds = duration;
    c.test_suite_name = suite.map(str::to_string);
    c.source_file = Some(s.file.clone()).filter(|f| !f.is_empty());
    c.source_line = source_line;
    c.message = outcome.and_then(|o| o.message);
    sink.case(c);
    Ok(())
}
