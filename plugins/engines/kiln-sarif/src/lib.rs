//! SARIF 2.1.0 output for kiln's scanner plugins.
//!
//! The scanner engines (`secrets-scan`, `sast`) describe their rules and findings with the
//! types here and call [`to_sarif`] to get one SARIF log with one run. Keeping this in one
//! small crate gives every scanner the same level mapping, the same fingerprint scheme and
//! the same URI encoding, and lets it be tested natively (the crate has no wasm dependency)
//! while the guest plugins use it as a path dependency.
//!
//! Conventions (those GitHub code scanning and most SARIF viewers read):
//! - `level`: `note` → note, `low`/`medium` → warning, `high`/`critical` → error;
//!   the exact kiln severity is kept in `properties.severity` and as a numeric
//!   `properties.security-severity` on the rule.
//! - CWEs are rule tags of the form `external/cwe/cwe-89`.
//! - Fingerprints go to `partialFingerprints["kiln/v1"]`.
//! - Paths are relative to the scanned root, under `uriBaseId` `%SRCROOT%`.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};
use std::fmt;
use std::str::FromStr;

/// How bad a finding is (the same five levels as the WIT `severity` enum).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Informational.
    Note,
    /// Low.
    Low,
    /// Medium.
    Medium,
    /// High.
    High,
    /// Critical.
    Critical,
}

impl Severity {
    /// All levels, lowest first.
    pub const ALL: [Severity; 5] = [
        Severity::Note,
        Severity::Low,
        Severity::Medium,
        Severity::High,
        Severity::Critical,
    ];

    /// The lower-case name (`note` … `critical`).
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Note => "note",
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }

    /// The SARIF `level` for this severity.
    pub fn sarif_level(self) -> &'static str {
        match self {
            Severity::Note => "note",
            Severity::Low | Severity::Medium => "warning",
            Severity::High | Severity::Critical => "error",
        }
    }

    /// The numeric `security-severity` (0.0–10.0, CVSS-like bands) code-scanning tools sort by.
    pub fn security_severity(self) -> &'static str {
        match self {
            Severity::Note => "0.0",
            Severity::Low => "3.0",
            Severity::Medium => "5.5",
            Severity::High => "8.0",
            Severity::Critical => "9.5",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Error for a string that names no severity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownSeverity(pub String);

impl fmt::Display for UnknownSeverity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "unknown severity `{}`: expected one of note, low, medium, high, critical",
            self.0
        )
    }
}

impl std::error::Error for UnknownSeverity {}

impl FromStr for Severity {
    type Err = UnknownSeverity;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Severity::ALL
            .into_iter()
            .find(|l| l.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| UnknownSeverity(s.to_string()))
    }
}

/// A rule a scanner applies.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rule {
    /// Stable id, e.g. `secrets/aws-access-key-id` or `sast/python-sql-injection`.
    pub id: String,
    /// Short PascalCase or kebab name shown by viewers.
    pub name: String,
    /// One sentence: what the rule detects.
    pub short_description: String,
    /// How to fix a finding of this rule.
    pub help: String,
    /// The severity findings of this rule usually have.
    pub default_severity: Severity,
    /// CWE ids, as numbers or `CWE-89` (both accepted).
    pub cwe: Vec<String>,
    /// Extra tags (`security` is always added).
    pub tags: Vec<String>,
}

/// One result of a scan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    /// The [`Rule::id`] that fired.
    pub rule_id: String,
    /// Severity of this finding (may differ from the rule's default).
    pub severity: Severity,
    /// Path relative to the scanned root, `/`-separated.
    pub path: String,
    /// 1-based; 0 = unknown.
    pub start_line: u32,
    /// 1-based, in Unicode code points; 0 = unknown.
    pub start_col: u32,
    /// 1-based; 0 = same as `start_line`.
    pub end_line: u32,
    /// 1-based, exclusive; 0 = unknown.
    pub end_col: u32,
    /// Plain-text explanation; must never contain a secret in full.
    pub message: String,
    /// Stable identity across runs (see [`fingerprint`]).
    pub fingerprint: String,
    /// The matched text to show, already redacted where needed.
    pub snippet: Option<String>,
}

/// The scanner that produced a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tool {
    /// e.g. `kiln secrets-scan`.
    pub name: String,
    /// The plugin version.
    pub version: String,
    /// Where the rules are documented.
    pub information_uri: String,
    /// Every rule the scanner may report (results refer to them by index).
    pub rules: Vec<Rule>,
}

/// A stable fingerprint: the first 32 hex digits of sha256 over `parts` joined by NUL.
///
/// Scanners should pass parts that survive unrelated edits (rule id, path, the
/// normalised matched content), not line numbers.
pub fn fingerprint(parts: &[&str]) -> String {
    let mut h = Sha256::new();
    for (i, p) in parts.iter().enumerate() {
        if i > 0 {
            h.update([0u8]);
        }
        h.update(p.as_bytes());
    }
    let digest = h.finalize();
    let mut out = String::with_capacity(32);
    for b in &digest[..16] {
        out.push_str(&format!("{b:02x}"));
    }
    out
}

/// The SARIF 2.1.0 log for one run of `tool` with `findings`.
///
/// Findings whose rule id is not among `tool.rules` are still emitted (without `ruleIndex`).
pub fn to_sarif(tool: &Tool, findings: &[Finding]) -> Value {
    let rules: Vec<Value> = tool.rules.iter().map(rule_json).collect();
    let results: Vec<Value> = findings
        .iter()
        .map(|f| result_json(f, tool.rules.iter().position(|r| r.id == f.rule_id)))
        .collect();
    json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": { "driver": {
                "name": tool.name,
                "version": tool.version,
                "informationUri": tool.information_uri,
                "rules": rules,
            }},
            "originalUriBaseIds": { "%SRCROOT%": { "description": { "text": "The scanned source tree" } } },
            "columnKind": "unicodeCodePoints",
            "results": results,
        }]
    })
}

/// [`to_sarif`] serialised (pretty, with a trailing newline).
pub fn to_sarif_string(tool: &Tool, findings: &[Finding]) -> String {
    let mut s = serde_json::to_string_pretty(&to_sarif(tool, findings))
        .expect("a serde_json::Value always serialises");
    s.push('\n');
    s
}

fn rule_json(r: &Rule) -> Value {
    let mut tags: Vec<String> = vec!["security".into()];
    for c in &r.cwe {
        let n = c.trim().trim_start_matches("CWE-").trim_start_matches("cwe-");
        tags.push(format!("external/cwe/cwe-{n}"));
    }
    for t in &r.tags {
        if !tags.contains(t) {
            tags.push(t.clone());
        }
    }
    json!({
        "id": r.id,
        "name": r.name,
        "shortDescription": { "text": r.short_description },
        "help": { "text": r.help },
        "defaultConfiguration": { "level": r.default_severity.sarif_level() },
        "properties": {
            "tags": tags,
            "severity": r.default_severity.as_str(),
            "security-severity": r.default_severity.security_severity(),
        }
    })
}

fn result_json(f: &Finding, rule_index: Option<usize>) -> Value {
    let mut region = Map::new();
    if f.start_line > 0 {
        region.insert("startLine".into(), json!(f.start_line));
        if f.start_col > 0 {
            region.insert("startColumn".into(), json!(f.start_col));
        }
        if f.end_line >= f.start_line {
            region.insert("endLine".into(), json!(f.end_line));
        }
        if f.end_col > 0 && (f.end_line > f.start_line || f.end_col > f.start_col.max(1)) {
            region.insert("endColumn".into(), json!(f.end_col));
        }
        if let Some(s) = &f.snippet {
            region.insert("snippet".into(), json!({ "text": s }));
        }
    }
    let mut physical = Map::new();
    physical.insert(
        "artifactLocation".into(),
        json!({ "uri": encode_uri_path(&f.path), "uriBaseId": "%SRCROOT%" }),
    );
    if !region.is_empty() {
        physical.insert("region".into(), Value::Object(region));
    }
    let mut result = Map::new();
    result.insert("ruleId".into(), json!(f.rule_id));
    if let Some(i) = rule_index {
        result.insert("ruleIndex".into(), json!(i));
    }
    result.insert("level".into(), json!(f.severity.sarif_level()));
    result.insert("message".into(), json!({ "text": f.message }));
    if !f.path.is_empty() {
        result.insert(
            "locations".into(),
            json!([{ "physicalLocation": Value::Object(physical) }]),
        );
    }
    if !f.fingerprint.is_empty() {
        result.insert(
            "partialFingerprints".into(),
            json!({ "kiln/v1": f.fingerprint }),
        );
    }
    result.insert(
        "properties".into(),
        json!({ "severity": f.severity.as_str() }),
    );
    Value::Object(result)
}

/// Percent-encodes a relative path for a SARIF `uri` (RFC 3986 path: unreserved, sub-delims, `:@/`).
fn encode_uri_path(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for b in path.bytes() {
        let keep = b.is_ascii_alphanumeric()
            || matches!(
                b,
                b'-' | b'.' | b'_' | b'~' | b'/' | b'!' | b'$' | b'&' | b'\'' | b'(' | b')'
                    | b'*' | b'+' | b',' | b';' | b'=' | b':' | b'@'
            );
        if keep {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests;
