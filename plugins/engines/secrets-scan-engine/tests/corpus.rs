//! Accuracy on the shared labelled corpus (`tests/corpus/secrets`): scans
//! `files/`, writes SARIF, scores it with `tests/tools/score_findings.py` (the scorer the
//! peers were measured with) and validates it against the SARIF 2.1.0 schema.

use kiln_secrets_scan_engine::{Finding, Scanner, is_binary, sarif};
use std::path::{Path, PathBuf};
use std::process::Command;

fn shared() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../tests")
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let ty = e.file_type().unwrap();
        if ty.is_dir() {
            walk(&e.path(), out);
        } else if ty.is_file() {
            out.push(e.path());
        }
    }
}

fn scan_corpus(root: &Path) -> Vec<(String, Finding)> {
    let scanner = Scanner::new();
    let mut files = Vec::new();
    walk(&root.join("files"), &mut files);
    files.sort();
    let mut all = Vec::new();
    for f in files {
        let data = std::fs::read(&f).unwrap();
        if is_binary(&data) {
            continue;
        }
        let rel = f
            .strip_prefix(root)
            .unwrap()
            .to_string_lossy()
            .replace('\\', "/");
        for x in scanner.scan(&rel, &data) {
            all.push((rel.clone(), x));
        }
    }
    all
}

#[test]
fn corpus_recall_and_precision_at_least_095() {
    let root = shared().join("corpus/secrets");
    assert!(
        root.join("LABELS.tsv").is_file(),
        "missing {} (tests/ in the repository)",
        root.display()
    );
    let findings = scan_corpus(&root);
    let dir = tempfile::tempdir().unwrap();
    let sarif_path = dir.path().join("secrets.sarif");
    std::fs::write(&sarif_path, sarif::to_sarif_string("test", &findings)).unwrap();

    let valid = Command::new("python3")
        .arg(shared().join("tools/validate_json_schema.py"))
        .arg(&sarif_path)
        .output()
        .expect("python3 runs");
    assert!(
        valid.status.success(),
        "SARIF invalid: {}{}",
        String::from_utf8_lossy(&valid.stdout),
        String::from_utf8_lossy(&valid.stderr)
    );

    let json = dir.path().join("score.json");
    let out = Command::new("python3")
        .arg(shared().join("tools/score_findings.py"))
        .arg(root.join("LABELS.tsv"))
        .arg(&sarif_path)
        .arg("--json")
        .arg(&json)
        .arg("--show")
        .arg("50")
        .output()
        .expect("python3 runs");
    let report = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "scorer failed: {report}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let score: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    let (recall, precision) = (
        score["recall"].as_f64().unwrap(),
        score["precision"].as_f64().unwrap(),
    );
    println!("{report}");
    assert_eq!(score["format"], "sarif", "{report}");
    assert!(recall >= 0.95, "recall {recall:.3} < 0.95\n{report}");
    assert!(
        precision >= 0.95,
        "precision {precision:.3} < 0.95\n{report}"
    );
}

#[test]
fn corpus_findings_never_contain_the_secret() {
    let root = shared().join("corpus/secrets");
    let scanner = Scanner::new();
    let mut files = Vec::new();
    walk(&root.join("files"), &mut files);
    for f in files {
        let data = std::fs::read(&f).unwrap();
        for x in scanner.scan("f", &data) {
            // the secret's tail (after any short kept prefix) must not appear anywhere
            let line = String::from_utf8_lossy(
                data.split(|&b| b == b'\n')
                    .nth(x.line as usize - 1)
                    .unwrap(),
            )
            .into_owned();
            let chars: Vec<char> = line.chars().collect();
            let start = x.col as usize - 1;
            let end = if x.end_line == x.line {
                (x.end_col as usize - 1).min(chars.len())
            } else {
                chars.len()
            };
            let secret: String = chars[start..end].iter().collect();
            if secret.len() >= 12 {
                let tail = &secret[secret.len() - 8..];
                for s in [&x.message, &x.snippet, &x.redacted] {
                    assert!(
                        !s.contains(tail),
                        "{}:{} leaks {tail:?} in {s:?}",
                        f.display(),
                        x.line
                    );
                }
            }
        }
    }
}
