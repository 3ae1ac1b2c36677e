//! SARIF 2.1.0 output through the shared `kiln-sarif` crate.

use crate::{Finding, RuleMeta, all_rules};

/// Where the rules are documented.
pub const INFORMATION_URI: &str = "https://example.invalid/kiln/plugins/secrets-scan";

/// CWE-798: use of hard-coded credentials (every rule here reports one).
const CWE: &str = "798";

fn rule(m: &RuleMeta) -> kiln_sarif::Rule {
    kiln_sarif::Rule {
        id: m.id.to_string(),
        name: m.name.to_string(),
        short_description: format!("{} committed to the source tree", m.name),
        help: m.help.to_string(),
        default_severity: m.severity,
        cwe: vec![CWE.to_string()],
        tags: vec!["secret".to_string()],
    }
}

/// The SARIF tool description with every rule.
pub fn tool(version: &str) -> kiln_sarif::Tool {
    kiln_sarif::Tool {
        name: "kiln secrets-scan".to_string(),
        version: version.to_string(),
        information_uri: INFORMATION_URI.to_string(),
        rules: all_rules().iter().map(rule).collect(),
    }
}

/// Converts an engine finding in file `path` to a SARIF finding (redacted snippet only).
pub fn finding(path: &str, f: &Finding) -> kiln_sarif::Finding {
    kiln_sarif::Finding {
        rule_id: f.rule.id.to_string(),
        severity: f.rule.severity,
        path: path.to_string(),
        start_line: f.line,
        start_col: f.col,
        end_line: f.end_line,
        end_col: f.end_col,
        message: f.message.clone(),
        fingerprint: f.fingerprint.clone(),
        snippet: Some(f.snippet.clone()),
    }
}

/// The SARIF log (pretty JSON with a trailing newline) for `findings` as `(path, finding)`.
pub fn to_sarif_string(version: &str, findings: &[(String, Finding)]) -> String {
    let all: Vec<kiln_sarif::Finding> = findings.iter().map(|(p, f)| finding(p, f)).collect();
    kiln_sarif::to_sarif_string(&tool(version), &all)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sarif_has_rules_and_redacted_results() {
        let secret = "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";
        let fs = crate::Scanner::new().scan("a/b.env", format!("TOKEN={secret}\n").as_bytes());
        let pairs: Vec<(String, Finding)> =
            fs.into_iter().map(|f| ("a/b.env".to_string(), f)).collect();
        let s = to_sarif_string("0.1.0", &pairs);
        assert!(s.contains("\"github-pat\""));
        assert!(s.contains("a/b.env"));
        assert!(!s.contains(&secret[4..]));
        let v: serde_json::Value = serde_json::from_str(&s).unwrap();
        assert_eq!(
            v["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["region"]["startLine"],
            1
        );
    }
}
