use super::*;
use std::path::Path;
use std::process::Command;

fn tool() -> Tool {
    Tool {
        name: "kiln test-scanner".into(),
        version: "0.1.0".into(),
        information_uri: "https://kiln.dev/plugins/test".into(),
        rules: vec![Rule {
            id: "test/sql-injection".into(),
            name: "SqlInjection".into(),
            short_description: "SQL built by string concatenation".into(),
            help: "Use a parameterised query.".into(),
            default_severity: Severity::High,
            cwe: vec!["CWE-89".into()],
            tags: vec!["python".into()],
        }],
    }
}

fn finding(rule: &str, path: &str, line: u32) -> Finding {
    Finding {
        rule_id: rule.into(),
        severity: Severity::High,
        path: path.into(),
        start_line: line,
        start_col: 5,
        end_line: line,
        end_col: 20,
        message: "query built from request input".into(),
        fingerprint: fingerprint(&[rule, path, "cursor.execute(q)"]),
        snippet: Some("cursor.execute(q)".into()),
    }
}

#[test]
fn severity_parses_and_orders() {
    assert_eq!("HIGH".parse::<Severity>(), Ok(Severity::High));
    assert!(Severity::Critical > Severity::Medium);
    assert!("severe".parse::<Severity>().is_err());
    assert_eq!(Severity::Low.sarif_level(), "warning");
    assert_eq!(Severity::Critical.sarif_level(), "error");
}

#[test]
fn fingerprint_is_stable_and_separates_parts() {
    assert_eq!(fingerprint(&["a", "b"]), fingerprint(&["a", "b"]));
    assert_ne!(fingerprint(&["ab", ""]), fingerprint(&["a", "b"]));
    assert_eq!(fingerprint(&["x"]).len(), 32);
}

#[test]
fn uri_paths_are_percent_encoded() {
    assert_eq!(encode_uri_path("src/a b/c#d.py"), "src/a%20b/c%23d.py");
    assert_eq!(encode_uri_path("é.txt"), "%C3%A9.txt");
}

#[test]
fn results_refer_to_rules_by_index_and_carry_cwe_tags() {
    let log = to_sarif(
        &tool(),
        &[finding("test/sql-injection", "app.py", 3), finding("other/rule", "b.py", 0)],
    );
    let run = &log["runs"][0];
    assert_eq!(run["results"][0]["ruleIndex"], 0);
    assert!(run["results"][1].get("ruleIndex").is_none());
    assert!(run["results"][1]["locations"][0]["physicalLocation"].get("region").is_none());
    let tags = run["tool"]["driver"]["rules"][0]["properties"]["tags"].as_array().unwrap();
    assert!(tags.iter().any(|t| t == "external/cwe/cwe-89"));
}

#[test]
fn snapshot() {
    insta::assert_snapshot!(to_sarif_string(&tool(), &[finding("test/sql-injection", "src/app.py", 12)]));
}

/// The independent check: the official SARIF 2.1.0 schema via tests/tools (Python jsonschema).
#[test]
fn validates_against_the_sarif_schema() {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let validator = manifest.join("../../../tests/tools/validate_json_schema.py");
    assert!(validator.is_file(), "missing {} (tests/tools in the repository)", validator.display());
    let dir = std::env::temp_dir().join(format!("kiln-sarif-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("out.sarif");
    let findings = [
        finding("test/sql-injection", "src/a b.py", 12),
        finding("other/rule", "", 0),
    ];
    std::fs::write(&file, to_sarif_string(&tool(), &findings)).unwrap();
    let out = Command::new("python3").arg(&validator).arg(&file).output().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        out.status.success(),
        "schema validation failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
