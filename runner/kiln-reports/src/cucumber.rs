//! Cucumber JSON (`CUCUMBERJSON`): an array of features, each with `elements` (scenarios and
//! backgrounds), read one feature at a time (the array is streamed; a feature is held whole).
//!
//! - One test case per element that is not a `background`: a scenario, or one expanded row of
//!   a scenario outline (both dialects write outlines expanded, one element per example row).
//! - `prefix` = `testSuiteName` = the feature's `name` (the AWS sample shows a feature-level
//!   prefix); `name` = the scenario's `name` (else `keyword (line N)`); `sourceFile` = the
//!   feature's `uri`, `sourceLine` = the scenario's `line`.
//! - Status: the worst of the scenario's steps and hooks, and of the background before it
//!   (cucumber-jvm writes each background as its own element right before its scenario;
//!   cucumber-js inlines background steps and writes hooks as `hidden` steps): failed → FAILED;
//!   undefined, ambiguous → ERROR; any other unknown value → UNKNOWN; pending, skipped → SKIPPED;
//!   all passed (or nothing ran) → SUCCEEDED.
//! - Duration: the sum of steps' and hooks' `result.duration`, nanoseconds (cucumber-jvm and
//!   cucumber-js ≥ 2 both write nanoseconds).
//! - `message`: the deciding step's `error_message`, else `<status> step: <keyword><name>`.

use crate::builder::Sink;
use crate::input::Input;
use crate::json::{Num, Str, fatal};
use crate::model::TestStatus;
use crate::util::case;
use crate::xml::Fatal;
use serde::Deserialize;
use serde::de::{self, DeserializeSeed, Deserializer, SeqAccess, Visitor};
use std::fmt;

#[derive(Deserialize, Default)]
#[serde(default)]
struct Feature {
    uri: Str,
    name: Str,
    elements: Vec<Element>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Element {
    name: Str,
    keyword: Str,
    line: Num,
    #[serde(rename = "type")]
    kind: Str,
    before: Vec<Hook>,
    after: Vec<Hook>,
    steps: Vec<Step>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Hook {
    result: Option<StepResult>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Step {
    keyword: Str,
    name: Str,
    result: Option<StepResult>,
    /// cucumber-jvm's step hooks (`@BeforeStep`/`@AfterStep`).
    before: Vec<Hook>,
    after: Vec<Hook>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct StepResult {
    status: Str,
    duration: Num,
    error_message: Option<Str>,
}

/// The worst outcome so far, its message and the summed duration.
#[derive(Default, Clone)]
struct Tally {
    worst: Option<(u8, TestStatus)>,
    message: Option<String>,
    nanos: u64,
    any: bool,
}

fn rank(status: &str) -> (u8, TestStatus) {
    match status.trim() {
        "passed" => (0, TestStatus::Succeeded),
        "skipped" | "pending" => (1, TestStatus::Skipped),
        "failed" => (4, TestStatus::Failed),
        "undefined" | "ambiguous" => (3, TestStatus::Error),
        _ => (2, TestStatus::Unknown),
    }
}

impl Tally {
    fn add(&mut self, result: Option<&StepResult>, what: impl FnOnce() -> String) {
        let Some(r) = result else { return };
        self.any = true;
        self.nanos = self.nanos.saturating_add(r.duration.count().unwrap_or(0));
        let (rank, status) = rank(&r.status.0);
        if self.worst.is_none_or(|(w, _)| rank > w) {
            self.worst = Some((rank, status));
            self.message = match &r.error_message {
                Some(m) if !m.0.trim().is_empty() => Some(m.0.clone()),
                _ if rank > 0 => Some(format!("{} step: {}", r.status.0.trim(), what())),
                _ => None,
            };
        }
    }

    fn merge(&mut self, other: &Tally) {
        self.any |= other.any;
        self.nanos = self.nanos.saturating_add(other.nanos);
        if let Some((rank, _)) = other.worst
            && self.worst.is_none_or(|(w, _)| rank > w)
        {
            self.worst = other.worst;
            self.message = other.message.clone();
        }
    }

    fn element(&mut self, e: &Element) {
        for h in &e.before {
            self.add(h.result.as_ref(), || "Before hook".into());
        }
        for s in &e.steps {
            for h in &s.before {
                self.add(h.result.as_ref(), || "BeforeStep hook".into());
            }
            self.add(s.result.as_ref(), || format!("{}{}", s.keyword.0, s.name.0));
            for h in &s.after {
                self.add(h.result.as_ref(), || "AfterStep hook".into());
            }
        }
        for h in &e.after {
            self.add(h.result.as_ref(), || "After hook".into());
        }
    }
}

struct FeaturesSeed<'s, 'b> {
    sink: &'s mut Sink<'b>,
}

impl<'de> DeserializeSeed<'de> for FeaturesSeed<'_, '_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for FeaturesSeed<'_, '_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON array of Cucumber features")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some(feature) = seq.next_element::<Feature>()? {
            feature_cases(self.sink, feature);
        }
        Ok(())
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Err(E::custom("the file is `null`"))
    }
}

fn feature_cases(sink: &mut Sink, feature: Feature) {
    let mut background: Option<Tally> = None;
    for e in &feature.elements {
        let mut tally = Tally::default();
        tally.element(e);
        if e.kind.0.trim() == "background" {
            background = Some(tally);
            continue;
        }
        if let Some(b) = background.take() {
            tally.merge(&b);
        }
        let line = e.line.count();
        let name = if e.name.0.trim().is_empty() { format!("{} (line {})", e.keyword.0.trim(), line.unwrap_or(0)) } else { e.name.0.clone() };
        let status = tally.worst.map_or(TestStatus::Succeeded, |(_, s)| s);
        let mut c = case(feature.name.0.clone(), name, status);
        c.test_suite_name = Some(feature.name.0.clone()).filter(|n| !n.is_empty());
        c.source_file = Some(feature.uri.0.clone()).filter(|u| !u.is_empty());
        c.source_line = line;
        c.duration_in_nano_seconds = tally.nanos;
        c.message = tally.message;
        sink.case(c);
    }
}

pub(crate) fn parse(input: &mut Input, sink: &mut Sink) -> Result<(), Fatal> {
    let mut de = serde_json::Deserializer::from_reader(input);
    FeaturesSeed { sink }.deserialize(&mut de).map_err(|e| fatal(e, "Cucumber JSON: an array of features with `elements`"))?;
    de.end().map_err(|e| fatal(e, "nothing after the array"))
}
