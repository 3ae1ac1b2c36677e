//! SARIF 2.1.0 output through the shared `kiln-sarif` writer.

use crate::{Engine, Finding};

/// Where the rules are documented.
pub const INFORMATION_URI: &str = "https://example.invalid/kiln/plugins/sast/README.md";

/// The SARIF tool description: every rule of `engine` with its CWE, severity and fix hint.
pub fn tool(engine: &Engine) -> kiln_sarif::Tool {
    kiln_sarif::Tool {
        name: "kiln sast".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        information_uri: INFORMATION_URI.into(),
        rules: engine
            .rule_infos()
            .into_iter()
            .map(|r| kiln_sarif::Rule {
                name: r.family.clone(),
                short_description: r.message,
                help: r.fix,
                default_severity: r.severity,
                cwe: r.cwe,
                tags: r.languages.iter().map(|l| l.name().to_string()).collect(),
                id: r.id,
            })
            .collect(),
    }
}

/// Findings in the writer's form.
pub fn findings(findings: &[Finding]) -> Vec<kiln_sarif::Finding> {
    findings
        .iter()
        .map(|f| kiln_sarif::Finding {
            rule_id: f.rule_id.clone(),
            severity: f.severity,
            path: f.path.clone(),
            start_line: f.start_line,
            start_col: f.start_col,
            end_line: f.end_line,
            end_col: f.end_col,
            message: f.message.clone(),
            fingerprint: f.fingerprint.clone(),
            snippet: Some(f.snippet.clone()),
        })
        .collect()
}

/// The SARIF log (pretty JSON, trailing newline) for `found` by `engine`.
pub fn to_sarif_string(engine: &Engine, found: &[Finding]) -> String {
    kiln_sarif::to_sarif_string(&tool(engine), &findings(found))
}
