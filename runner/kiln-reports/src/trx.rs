//! Visual Studio TRX (`VISUALSTUDIOTRX`): root `<TestRun>` in the TeamTest 2010 namespace.
//!
//! - Each `Results/UnitTestResult` (also `TestResult`, `GenericTestResult`, `ManualTestResult`,
//!   `WebTestResult`) is a test case, `name` = `testName`, duration = `duration`
//!   (`hh:mm:ss.fffffff`).
//! - A result with `InnerResults` (data-driven rows, ordered tests) is an aggregate: kiln
//!   reports its innermost rows, not the aggregate (kiln proposal: the row that failed is what a
//!   reader needs; TRX's nesting here is undocumented).
//! - `prefix` = the class from `TestDefinitions/UnitTest[@id = testId]/TestMethod/@className`
//!   (assembly qualification after the first `, ` dropped), else the `testName` up to its last
//!   `.`. Definitions usually follow the results, so results are held until the end of the file
//!   (at most [`crate::Limits::kept_items`]; beyond that, later ones are sent without waiting,
//!   with the name-derived prefix, and a warning).
//! - Outcome: Passed, PassedButRunAborted → SUCCEEDED; Failed, Timeout, Aborted → FAILED;
//!   Error, NotRunnable → ERROR; NotExecuted (how skipped tests appear) → SKIPPED; Inconclusive,
//!   Warning, Disconnected, Completed, InProgress, Pending, none → UNKNOWN.
//! - `message` = `Output/ErrorInfo/Message` + `\n` + `Output/ErrorInfo/StackTrace`.

use crate::builder::{Sink, cap, cap_message};
use crate::model::{TestCase, TestStatus};
use crate::util::{case, fixture_of, join_message, shown, timespan_to_nanos};
use crate::xml::{Ev, Fatal, Pos, Xml, check_root};
use std::collections::HashMap;

const RESULTS: [&str; 5] = ["UnitTestResult", "TestResult", "GenericTestResult", "ManualTestResult", "WebTestResult"];

struct Pending {
    case: TestCase,
    test_id: Option<String>,
}

struct State {
    classes: HashMap<String, String>,
    definitions_seen: bool,
    pending: Vec<Pending>,
    overflow_warned: bool,
}

pub(crate) fn parse(xml: &mut Xml, sink: &mut Sink) -> Result<(), Fatal> {
    let mut st = State { classes: HashMap::new(), definitions_seen: false, pending: Vec::new(), overflow_warned: false };
    let mut seen_root = false;
    let mut unit_test_id: Option<(usize, String)> = None;
    let result = (|| {
        loop {
            let empty = match xml.next()? {
                Ev::Eof => return Ok(()),
                Ev::End => {
                    if unit_test_id.as_ref().is_some_and(|(d, _)| *d > xml.depth()) {
                        unit_test_id = None;
                    }
                    continue;
                }
                Ev::Start => false,
                Ev::Empty => true,
                Ev::Text(_) | Ev::Other => continue,
            };
            if !seen_root {
                seen_root = true;
                check_root(xml, &["TestRun"], "a TRX")?;
                continue;
            }
            match xml.name() {
                "TestDefinitions" => st.definitions_seen = true,
                "UnitTest" if !empty => unit_test_id = xml.attr("id").map(|id| (xml.depth(), id)),
                "TestMethod" => {
                    if let (Some((_, id)), Some(class)) = (&unit_test_id, xml.attr("className")) {
                        let class = class.split(", ").next().unwrap_or_default().trim().to_string();
                        st.classes.insert(id.clone(), class);
                    }
                    if !empty {
                        xml.skip()?;
                    }
                }
                n if RESULTS.contains(&n) => result_element(xml, sink, &mut st, empty)?,
                "TestRun" | "Results" | "UnitTest" => {}
                _ if !empty => xml.skip()?,
                _ => {}
            }
        }
    })();
    // Whatever happened, send what was read.
    for p in std::mem::take(&mut st.pending) {
        emit(sink, &st.classes, p);
    }
    result
}

fn emit(sink: &mut Sink, classes: &HashMap<String, String>, mut p: Pending) {
    if let Some(class) = p.test_id.as_ref().and_then(|id| classes.get(id)) {
        p.case.prefix = class.clone();
    } else if p.case.prefix.is_empty() {
        p.case.prefix = fixture_of(&p.case.name).to_string();
    }
    sink.case(p.case);
}

/// One result element (its start tag just read); rows inside `InnerResults` replace it.
fn result_element(xml: &mut Xml, sink: &mut Sink, st: &mut State, empty: bool) -> Result<(), Fatal> {
    let [name, test_id, outcome, duration] = xml.attrs_owned(["testName", "testId", "outcome", "duration"]);
    let pos = xml.pos();
    let mut c = case(String::new(), name.unwrap_or_default(), status(outcome.as_deref()));
    if let Some(d) = duration.filter(|d| !d.trim().is_empty()) {
        match timespan_to_nanos(&d) {
            Some(n) => c.duration_in_nano_seconds = n,
            None => sink.warn(Some(pos), format!("test `{}`: duration \"{}\" is not a hh:mm:ss time; its duration is 0", shown(&c.name), shown(&d))),
        }
    }
    let mut inner_rows = 0usize;
    if !empty {
        let cap = sink.limits().message_chars;
        let target = xml.depth() - 1;
        let (mut message, mut trace) = (None::<String>, String::new());
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
            match xml.name() {
                "Output" | "ErrorInfo" | "InnerResults" => {}
                "Message" if !child_empty => message = Some(xml.read_text(cap)?),
                "StackTrace" if !child_empty => trace = xml.read_text(cap)?,
                n if RESULTS.contains(&n) => {
                    inner_rows += 1;
                    result_element(xml, sink, st, child_empty)?;
                }
                _ if !child_empty => xml.skip()?,
                _ => {}
            }
        }
        c.message = join_message(message.as_deref(), &trace);
    }
    if inner_rows == 0 {
        hold(sink, st, Pending { case: c, test_id }, pos);
    }
    Ok(())
}

fn hold(sink: &mut Sink, st: &mut State, mut p: Pending, pos: Pos) {
    // Held results are capped now, so what waits for the definitions stays small.
    cap(&mut p.case.name, sink.limits().name_chars);
    if let Some(m) = &mut p.case.message {
        cap_message(m, sink.limits().message_chars);
    }
    if st.definitions_seen {
        emit(sink, &st.classes, p);
    } else if st.pending.len() < sink.limits().kept_items {
        st.pending.push(p);
    } else {
        if !st.overflow_warned {
            st.overflow_warned = true;
            sink.warn(Some(pos), format!("more than {} results come before the TestDefinitions; the rest take their class name from the test name", st.pending.len()));
        }
        emit(sink, &st.classes, p);
    }
}

fn status(outcome: Option<&str>) -> TestStatus {
    let o = outcome.unwrap_or("").trim();
    let any = |xs: &[&str]| xs.iter().any(|x| o.eq_ignore_ascii_case(x));
    if any(&["Passed", "PassedButRunAborted"]) {
        TestStatus::Succeeded
    } else if any(&["Failed", "Timeout", "Aborted"]) {
        TestStatus::Failed
    } else if any(&["Error", "NotRunnable"]) {
        TestStatus::Error
    } else if any(&["NotExecuted"]) {
        TestStatus::Skipped
    } else {
        TestStatus::Unknown
    }
}
