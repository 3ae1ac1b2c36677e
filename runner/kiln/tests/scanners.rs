//! The built-in security plugins in a real build: `sbom-cyclonedx`, `sast` and `secrets-scan` run
//! as `uses:` steps through the wasmtime host, write schema-valid SARIF and CycloneDX into the
//! record, and a finding at or above `fail-on` fails the build with the finding's file:line in
//! the phase's message, while the secret itself appears nowhere in what kiln wrote.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::Project;

const SPEC: &str = "version: 0.2
phases:
  build:
    commands:
      - uses: sbom-cyclonedx
      - uses: sast
      - uses: secrets-scan
        with: {fail-on: high}
      - mkdir -p out && cp app.py out/
artifacts:
  files: ['out/**/*']
";

const LOCK: &str = r#"{
  "name": "demo", "version": "1.0.0", "lockfileVersion": 3, "requires": true,
  "packages": {
    "": { "name": "demo", "version": "1.0.0", "dependencies": { "ms": "^2.1.3" } },
    "node_modules/ms": {
      "version": "2.1.3",
      "resolved": "https://registry.npmjs.org/ms/-/ms-2.1.3.tgz",
      "integrity": "sha512-6FlzubTLZG3J2a/NVCAleEhjzq5oxgHyaCU9yYXvcLsvoVaHJq/s5xXI6/XXP6tz7R9xAOtHnSO/tXtF3WRTlA==",
      "license": "MIT"
    }
  }
}
"#;

const APP: &str = "import sqlite3\nfrom flask import request\n\ndef find(db):\n    name = request.args.get('name')\n    return db.execute(\"SELECT * FROM users WHERE name = '\" + name + \"'\").fetchall()\n";

/// A password made at test time (no secret-looking literal lives in the repository).
fn random_password() -> String {
    let seed = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64 ^ u64::from(std::process::id());
    let alphabet = b"abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut x = seed | 1;
    (0..22)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            alphabet[(x % alphabet.len() as u64) as usize] as char
        })
        .collect()
}

fn validate(files: &[PathBuf]) {
    let validator = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/tools/validate_json_schema.py");
    let out = Command::new("python3").arg(&validator).args(files).output().unwrap();
    assert!(out.status.success(), "schema validation failed:\n{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
}

/// Every output file the plugin runs recorded (they live under `plugins/NN-name/` in the record).
fn plugin_outputs(b: &common::Build) -> Vec<PathBuf> {
    let on_disk = all_files(&b.record_dir().join("plugins"));
    let mut files = Vec::new();
    for run in b.record["kiln"]["plugins"].as_array().cloned().unwrap_or_default() {
        for o in run["outputs"].as_array().cloned().unwrap_or_default() {
            let rel = o["path"].as_str().unwrap();
            let found = on_disk.iter().find(|f| f.ends_with(rel)).unwrap_or_else(|| panic!("{rel} not under plugins/: {on_disk:?}"));
            files.push(found.clone());
        }
    }
    files
}

fn all_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if e.file_type().unwrap().is_dir() { out.extend(all_files(&p)) } else { out.push(p) }
    }
    out
}

#[test]
fn scanners_report_valid_sarif_and_sbom_and_gate_on_a_leaked_secret() {
    let password = random_password();
    let p = Project::new(SPEC);
    p.write("package-lock.json", LOCK);
    p.write("app.py", APP);
    p.write("settings.py", format!("DEBUG = False\nDATABASE_URL = \"postgres://app:{password}@db.internal:5432/app\"\n"));
    let b = p.build(&[]);
    assert_eq!(b.status(), "FAILED", "{}", b.describe());

    let runs = b.record["kiln"]["plugins"].as_array().cloned().unwrap_or_default();
    let names: Vec<&str> = runs.iter().map(|r| r["name"].as_str().unwrap_or("")).collect();
    assert_eq!(names, ["sbom-cyclonedx", "sast", "secrets-scan"], "{}", b.record["kiln"]);
    assert_eq!(runs[0]["outcome"], "succeeded", "{}", runs[0]);
    assert_eq!(runs[1]["outcome"], "succeeded", "no fail-on, so findings only report: {}", runs[1]);
    assert!(runs[1]["findings"].as_u64().unwrap() >= 1, "the SQL injection in app.py is found: {}", runs[1]);
    assert_eq!(runs[2]["outcome"], "failed", "{}", runs[2]);

    // The phase fails at the secrets step, naming where the finding is.
    let (_, message) = b.context("BUILD").expect("BUILD has a failure context");
    assert!(message.contains("settings.py:2"), "the gate names the finding's file:line: {message}");
    assert_eq!(b.count_output("mkdir -p out"), 0, "commands after the failed gate do not run");

    // SARIF and CycloneDX, checked by the official schemas.
    let outputs = plugin_outputs(&b);
    let names: Vec<String> = outputs.iter().map(|f| f.file_name().unwrap().to_string_lossy().into_owned()).collect();
    for want in ["sbom.cdx.json", "sast.sarif", "secrets.sarif"] {
        assert!(names.iter().any(|n| n == want), "{want} among {names:?}");
    }
    validate(&outputs.iter().filter(|f| f.extension().is_some_and(|e| e == "json" || e == "sarif")).cloned().collect::<Vec<_>>());
    let sbom: serde_json::Value = serde_json::from_slice(&std::fs::read(outputs.iter().find(|f| f.ends_with("sbom.cdx.json")).unwrap()).unwrap()).unwrap();
    let purls: Vec<&str> = sbom["components"].as_array().unwrap().iter().filter_map(|c| c["purl"].as_str()).collect();
    assert!(purls.contains(&"pkg:npm/ms@2.1.3"), "{purls:?}");

    // The secret is reported but never written out in full: not in the SARIF, the logs, the record.
    for f in all_files(&b.record_dir()) {
        let text = String::from_utf8_lossy(&std::fs::read(&f).unwrap()).into_owned();
        assert!(!text.contains(&password), "{} contains the leaked password", f.display());
    }
    assert!(!b.stdout.contains(&password) && !b.stderr.contains(&password));
}

#[test]
fn a_clean_tree_passes_the_gate_and_the_reports_are_byproducts_of_the_build() {
    let p = Project::new(SPEC);
    p.write("package-lock.json", LOCK);
    p.write("app.py", "def add(a, b):\n    return a + b\n");
    let b = p.build(&[]);
    assert_eq!(b.status(), "SUCCEEDED", "{}", b.describe());
    let runs = b.record["kiln"]["plugins"].as_array().cloned().unwrap_or_default();
    assert_eq!(runs.len(), 3);
    for run in &runs {
        assert_eq!(run["outcome"], "succeeded", "{run}");
        assert_eq!(run["sha256"].as_str().unwrap().len(), 64, "{run}");
    }
    // Provenance binds the plugins (resolvedDependencies) and their reports (byproducts).
    let envelope = b.record_dir().join("provenance.intoto.jsonl");
    let envelope: serde_json::Value = serde_json::from_slice(&std::fs::read(&envelope).expect("provenance written")).unwrap();
    let payload = base64_decode(envelope["payload"].as_str().unwrap());
    let statement: serde_json::Value = serde_json::from_slice(&payload).unwrap();
    let text = statement.to_string();
    for run in &runs {
        assert!(text.contains(run["sha256"].as_str().unwrap()), "plugin {} is bound by digest", run["name"]);
    }
    let byproducts = statement["predicate"]["runDetails"]["byproducts"].to_string();
    for name in ["sbom.cdx.json", "sast.sarif", "secrets.sarif"] {
        assert!(byproducts.contains(name), "{name} is a byproduct: {byproducts}");
    }
}

fn base64_decode(s: &str) -> Vec<u8> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.decode(s).unwrap()
}
