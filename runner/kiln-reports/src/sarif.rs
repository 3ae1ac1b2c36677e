//! SARIF 2.1.0 as a `SECURITY` report (kiln extension: CodeBuild has no security report type;
//! kiln reads SARIF so a buildspec's scanner output joins kiln's own plugin findings).
//!
//! - Every `runs[].results[]` is a finding, except results whose `kind` is `pass` or
//!   `notApplicable` (not problems), whose `baselineState` is `absent` (gone since the
//!   baseline), and suppressed ones (`suppressions` with any status but `rejected`; counted in
//!   the summary's `suppressed`).
//! - `ruleId` (else `rule.id`, else the rule at `ruleIndex`); `level` from the result, else the
//!   rule's `defaultConfiguration.level`, else `warning`; a result whose `kind` is not `fail`
//!   has level `none` (SARIF §3.27.9-10).
//! - Severity (kiln's five levels): `security-severity` from the result's or rule's
//!   `properties` (GitHub code scanning's bands), else from the level.
//! - Message: `message.text`, else `message.markdown`, else the rule's `messageStrings[id]`
//!   with `{0}`… replaced by `arguments`, else the rule's `shortDescription`, else the rule id.
//! - Location: the first `locations[].physicalLocation`: `artifactLocation.uri` (or the
//!   `run.artifacts[index]` it points at) and `region` lines/columns.
//! - Fingerprint: the first of `partialFingerprints`, then `fingerprints`, by key.
//!
//! Runs are read one at a time (the `runs` array is streamed; one run is held whole); the file
//! is bounded by [`crate::Limits::json_bytes`].

use crate::builder::Sink;
use crate::input::Input;
use crate::json::{Num, Str, fatal};
use crate::model::{Finding, Severity};
use crate::xml::Fatal;
use serde::Deserialize;
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use std::collections::BTreeMap;
use std::fmt;

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct Run {
    tool: Tool,
    results: Vec<SResult>,
    artifacts: Vec<Artifact>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Tool {
    driver: Driver,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Driver {
    name: Str,
    rules: Vec<Rule>,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct Rule {
    id: Str,
    default_configuration: Option<Configuration>,
    properties: Option<Properties>,
    message_strings: BTreeMap<String, Text>,
    short_description: Option<Text>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Configuration {
    level: Option<Str>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Properties {
    #[serde(rename = "security-severity")]
    security_severity: Num,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Text {
    text: Option<Str>,
    markdown: Option<Str>,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct SResult {
    rule_id: Option<Str>,
    rule: Option<RuleRef>,
    rule_index: Num,
    level: Option<Str>,
    kind: Option<Str>,
    message: Message,
    locations: Vec<Location>,
    partial_fingerprints: BTreeMap<String, Str>,
    fingerprints: BTreeMap<String, Str>,
    suppressions: Option<Vec<Suppression>>,
    baseline_state: Option<Str>,
    properties: Option<Properties>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RuleRef {
    id: Option<Str>,
    index: Num,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Message {
    text: Option<Str>,
    markdown: Option<Str>,
    id: Option<Str>,
    arguments: Vec<Str>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Suppression {
    status: Option<Str>,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct Location {
    physical_location: Option<Physical>,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct Physical {
    artifact_location: Option<ArtifactLocation>,
    region: Option<Region>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct ArtifactLocation {
    uri: Option<Str>,
    index: Num,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Artifact {
    location: Option<ArtifactLocation>,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct Region {
    start_line: Num,
    start_column: Num,
    end_line: Num,
    end_column: Num,
}

/// GitHub code scanning's bands for `security-severity`.
fn severity_of_score(score: f64) -> Severity {
    match score {
        s if s >= 9.0 => Severity::Critical,
        s if s >= 7.0 => Severity::High,
        s if s >= 4.0 => Severity::Medium,
        s if s > 0.0 => Severity::Low,
        _ => Severity::Note,
    }
}

fn severity_of_level(level: &str) -> Severity {
    match level {
        "error" => Severity::High,
        "warning" => Severity::Medium,
        _ => Severity::Note,
    }
}

fn text_of(t: &Option<Str>) -> Option<&str> {
    t.as_ref().map(|s| s.0.as_str()).filter(|s| !s.trim().is_empty())
}

fn run_findings(sink: &mut Sink, run: Run) {
    let tool = run.tool.driver.name.0;
    let rules = run.tool.driver.rules;
    let by_id: BTreeMap<&str, usize> = rules.iter().enumerate().map(|(i, r)| (r.id.0.as_str(), i)).collect();
    for r in run.results {
        let kind = text_of(&r.kind).unwrap_or("fail").to_string();
        if kind == "pass" || kind == "notApplicable" || text_of(&r.baseline_state) == Some("absent") {
            continue;
        }
        if let Some(s) = &r.suppressions
            && !s.is_empty()
            && s.iter().any(|s| text_of(&s.status) != Some("rejected"))
        {
            sink.suppressed();
            continue;
        }
        let index = r.rule.as_ref().and_then(|x| x.index.count()).or(r.rule_index.count());
        let rule_id = text_of(&r.rule_id).or_else(|| r.rule.as_ref().and_then(|x| text_of(&x.id))).map(str::to_string);
        let rule = match &rule_id {
            Some(id) => by_id.get(id.as_str()).map(|&i| &rules[i]),
            None => None,
        }
        .or_else(|| index.and_then(|i| rules.get(usize::try_from(i).ok()?)));
        let rule_id = rule_id.or_else(|| rule.map(|x| x.id.0.clone())).unwrap_or_default();
        let level = if kind != "fail" {
            "none".to_string()
        } else {
            text_of(&r.level).or_else(|| rule.and_then(|x| x.default_configuration.as_ref()).and_then(|c| text_of(&c.level))).unwrap_or("warning").to_string()
        };
        let score = r.properties.as_ref().and_then(|p| p.security_severity.0).or_else(|| rule.and_then(|x| x.properties.as_ref()).and_then(|p| p.security_severity.0));
        let severity = score.filter(|s| s.is_finite()).map_or_else(|| severity_of_level(&level), severity_of_score);
        let message = message_of(&r.message, rule).unwrap_or_else(|| rule_id.clone());
        let physical = r.locations.iter().find_map(|l| l.physical_location.as_ref());
        let artifact = physical.and_then(|p| p.artifact_location.as_ref());
        let file_path = artifact.and_then(|a| text_of(&a.uri).map(str::to_string)).or_else(|| {
            let i = usize::try_from(artifact?.index.count()?).ok()?;
            run.artifacts.get(i)?.location.as_ref().and_then(|l| text_of(&l.uri)).map(str::to_string)
        });
        let region = physical.and_then(|p| p.region.as_ref());
        let fingerprint = r.partial_fingerprints.values().chain(r.fingerprints.values()).map(|v| v.0.clone()).find(|v| !v.is_empty());
        sink.finding(Finding {
            raw_data_path: String::new(),
            tool: tool.clone(),
            rule_id,
            level,
            severity,
            message,
            file_path,
            start_line: region.and_then(|g| g.start_line.count()),
            start_column: region.and_then(|g| g.start_column.count()),
            end_line: region.and_then(|g| g.end_line.count()),
            end_column: region.and_then(|g| g.end_column.count()),
            fingerprint,
        });
    }
}

fn message_of(m: &Message, rule: Option<&Rule>) -> Option<String> {
    if let Some(t) = text_of(&m.text).or_else(|| text_of(&m.markdown)) {
        return Some(t.to_string());
    }
    let rule = rule?;
    if let Some(template) = text_of(&m.id).and_then(|id| rule.message_strings.get(id)).and_then(|t| text_of(&t.text)) {
        let mut out = template.to_string();
        for (i, a) in m.arguments.iter().enumerate() {
            out = out.replace(&format!("{{{i}}}"), &a.0);
        }
        return Some(out);
    }
    rule.short_description.as_ref().and_then(|d| text_of(&d.text).or_else(|| text_of(&d.markdown))).map(str::to_string)
}

struct Log<'s, 'b> {
    sink: &'s mut Sink<'b>,
}

impl<'de> Visitor<'de> for Log<'_, '_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a SARIF log object with \"runs\"")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut runs = false;
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "runs" => {
                    runs = true;
                    map.next_value_seed(Runs { sink: &mut *self.sink })?;
                }
                "version" => {
                    let v: Str = map.next_value()?;
                    if v.0 != "2.1.0" {
                        self.sink.warn(None, format!("SARIF version `{}`; kiln reads SARIF 2.1.0 and read it as such", crate::util::shown(&v.0)));
                    }
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        if !runs {
            return Err(de::Error::custom("the object has no \"runs\""));
        }
        Ok(())
    }
}

struct Runs<'s, 'b> {
    sink: &'s mut Sink<'b>,
}

impl<'de> DeserializeSeed<'de> for Runs<'_, '_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for Runs<'_, '_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("\"runs\" to be an array")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some(run) = seq.next_element::<Run>()? {
            run_findings(self.sink, run);
        }
        Ok(())
    }
}

pub(crate) fn parse(input: &mut Input, sink: &mut Sink) -> Result<(), Fatal> {
    let mut de = serde_json::Deserializer::from_reader(input);
    de.deserialize_map(Log { sink }).map_err(|e| fatal(e, "a SARIF 2.1.0 log"))?;
    de.end().map_err(|e| fatal(e, "nothing after the object"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn severity_bands() {
        assert_eq!(severity_of_score(9.8), Severity::Critical);
        assert_eq!(severity_of_score(7.0), Severity::High);
        assert_eq!(severity_of_score(5.5), Severity::Medium);
        assert_eq!(severity_of_score(0.1), Severity::Low);
        assert_eq!(severity_of_score(0.0), Severity::Note);
        assert_eq!(severity_of_level("error"), Severity::High);
        assert_eq!(severity_of_level("none"), Severity::Note);
    }
}
