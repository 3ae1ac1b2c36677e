//! TestNG `testng-results.xml` (`TESTNGXML`): `<testng-results>` → `suite` → `test` → `class` →
//! `test-method`.
//!
//! - One test case per `test-method`; `prefix` = the class's `name`, `testSuiteName` = the
//!   enclosing `<test name>` (else the suite's), duration = `duration-ms`.
//! - Data-provider rows (one `test-method` per parameter set, same `name`) are told apart by
//!   their parameters: `name(v1, v2)` from `params/param/value`.
//! - Configuration methods (`is-config="true"`: `@BeforeMethod` ...) are not tests and are left
//!   out, unless they failed: a failed setup is what explains the SKIPs after it (kiln proposal,
//!   as the fact sheet proposes; TestNG's own totals leave them out).
//! - `retried="true"` rows are attempts a later row supersedes (TestNG's retry analyzer) and are
//!   left out.
//! - PASS → SUCCEEDED, FAIL → FAILED, SKIP → SKIPPED, anything else → UNKNOWN.
//! - `message` = `exception/message` (else the exception class) + `\n` + `full-stacktrace`.

use crate::builder::Sink;
use crate::model::TestStatus;
use crate::util::{case, join_message, millis_to_nanos, shown};
use crate::xml::{Ev, Fatal, Xml, check_root};

pub(crate) fn parse(xml: &mut Xml, sink: &mut Sink) -> Result<(), Fatal> {
    // (depth, name) of the enclosing suite, test and class.
    let mut suite: Option<(usize, String)> = None;
    let mut test: Option<(usize, String)> = None;
    let mut class: Option<(usize, String)> = None;
    let mut seen_root = false;
    loop {
        let empty = match xml.next()? {
            Ev::Eof => break,
            Ev::End => {
                let d = xml.depth();
                for slot in [&mut suite, &mut test, &mut class] {
                    if slot.as_ref().is_some_and(|(sd, _)| *sd > d) {
                        *slot = None;
                    }
                }
                continue;
            }
            Ev::Start => false,
            Ev::Empty => true,
            Ev::Text(_) | Ev::Other => continue,
        };
        if !seen_root {
            seen_root = true;
            check_root(xml, &["testng-results"], "a TestNG")?;
            continue;
        }
        let d = xml.depth();
        match xml.name() {
            "suite" if !empty => suite = Some((d, xml.attr("name").unwrap_or_default())),
            "test" if !empty => test = Some((d, xml.attr("name").unwrap_or_default())),
            "class" if !empty => class = Some((d, xml.attr("name").unwrap_or_default())),
            "test-method" => {
                let group = test.as_ref().or(suite.as_ref()).map(|t| t.1.clone());
                let prefix = class.as_ref().map(|c| c.1.clone()).unwrap_or_default();
                test_method(xml, sink, empty, prefix, group)?;
            }
            "suite" | "test" | "class" => {}
            _ if !empty => xml.skip()?,
            _ => {}
        }
    }
    Ok(())
}

fn test_method(xml: &mut Xml, sink: &mut Sink, empty: bool, prefix: String, group: Option<String>) -> Result<(), Fatal> {
    let [status, name, duration, is_config, retried] = xml.attrs_owned(["status", "name", "duration-ms", "is-config", "retried"]);
    let pos = xml.pos();
    let status = match status.as_deref().map(str::trim) {
        Some("PASS") => TestStatus::Succeeded,
        Some("FAIL") => TestStatus::Failed,
        Some("SKIP") => TestStatus::Skipped,
        _ => TestStatus::Unknown,
    };
    let config = is_config.as_deref().is_some_and(|v| v.trim() == "true");
    let skip_row = (config && status != TestStatus::Failed) || retried.as_deref().is_some_and(|v| v.trim() == "true");
    let mut params: Vec<String> = Vec::new();
    let (mut exception_class, mut message, mut trace) = (None::<String>, None::<String>, String::new());
    if !empty {
        let cap = sink.limits().message_chars;
        let name_cap = sink.limits().name_chars;
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
            match xml.name() {
                "params" | "param" => {}
                "value" if !child_empty => {
                    let v = xml.read_text(name_cap)?;
                    params.push(v.trim().to_string());
                }
                "exception" => {
                    exception_class = xml.attr("class");
                    // Older TestNG writes the message as an attribute.
                    if let Some(m) = xml.attr("message") {
                        message = Some(m);
                    }
                }
                "message" if !child_empty => message = Some(xml.read_text(cap)?),
                "full-stacktrace" if !child_empty => trace = xml.read_text(cap)?,
                _ if !child_empty => xml.skip()?,
                _ => {}
            }
        }
    }
    if skip_row {
        return Ok(());
    }
    let mut name = name.unwrap_or_default();
    if !params.is_empty() {
        name = format!("{name}({})", params.join(", "));
    }
    let mut c = case(prefix, name, status);
    c.test_suite_name = group;
    if let Some(d) = duration.filter(|d| !d.trim().is_empty()) {
        match millis_to_nanos(&d) {
            Some(n) => c.duration_in_nano_seconds = n,
            None => sink.warn(Some(pos), format!("test method `{}`: duration-ms=\"{}\" is not a number; its duration is 0", shown(&c.name), shown(&d))),
        }
    }
    let headline = message.map(|m| m.trim().to_string()).filter(|m| !m.is_empty()).or(exception_class);
    c.message = join_message(headline.as_deref(), &trace);
    if config && c.message.is_none() {
        c.message = Some("configuration method failed".into());
    }
    sink.case(c);
    Ok(())
}
