//! Shared helpers for the corpus tests: where the corpus is, and its CASES.tsv.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use kiln_attest::Password;

/// `tests/corpus` in the repository. Panics (loudly) when it is missing: the
/// interop tests are the point of this crate and must not pass by finding nothing.
pub fn corpus_root() -> PathBuf {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let corpus = workspace.join("tests/corpus");
    assert!(
        corpus.join("cosign/CASES.tsv").is_file() && corpus.join("provenance/CASES.tsv").is_file(),
        "the interop corpus is missing: expected {}/{{cosign,provenance}}/CASES.tsv (tests/corpus in the repository)",
        corpus.display()
    );
    corpus
}

/// One row of a CASES.tsv.
#[derive(Debug, Clone)]
pub struct Case {
    pub name: String,
    pub files: Vec<PathBuf>,
    pub kind: String,
    pub password: Option<String>,
    pub expected: Expected,
}

/// The `expected` column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expected {
    Verifies,
    Fails(String),
}

/// Reads `<corpus>/<set>/CASES.tsv`.
pub fn cases(set: &str) -> Vec<Case> {
    let dir = corpus_root().join(set);
    let text = std::fs::read_to_string(dir.join("CASES.tsv")).expect("read CASES.tsv");
    let mut out = Vec::new();
    for line in text.lines().skip(1).filter(|l| !l.trim().is_empty()) {
        let cols: Vec<&str> = line.split('\t').collect();
        assert!(cols.len() >= 5, "short CASES.tsv row: {line}");
        let password = match cols[3] {
            "none" => None,
            // TSV-quoted `""`: the empty password.
            "\"\"\"\"\"\"" | "\"\"" => Some(String::new()),
            other => Some(other.to_string()),
        };
        let expected = match cols[4] {
            "verifies" => Expected::Verifies,
            other => Expected::Fails(
                other
                    .strip_prefix("fails:")
                    .expect("fails:<reason>")
                    .to_string(),
            ),
        };
        out.push(Case {
            name: cols[0].to_string(),
            files: cols[1].split(',').map(|f| dir.join(f)).collect(),
            kind: cols[2].to_string(),
            password,
            expected,
        });
    }
    assert!(!out.is_empty(), "no cases in {set}/CASES.tsv");
    out
}

impl Case {
    pub fn password(&self) -> Option<Password> {
        self.password.as_deref().map(Password::from)
    }

    pub fn read(&self, i: usize) -> Vec<u8> {
        std::fs::read(&self.files[i]).unwrap_or_else(|e| panic!("{}: {e}", self.files[i].display()))
    }
}

/// Compares a case's outcome with its expectation; returns a line for the report, or an error
/// message when they disagree.
pub fn judge<T: std::fmt::Debug>(
    case: &Case,
    outcome: Result<T, kiln_attest::Error>,
) -> Result<String, String> {
    match (&case.expected, outcome) {
        (Expected::Verifies, Ok(v)) => Ok(format!("ok   {} verifies: {v:?}", case.name)),
        (Expected::Fails(reason), Err(e)) if e.reason() == reason => {
            Ok(format!("ok   {} fails:{reason}: {e}", case.name))
        }
        (Expected::Verifies, Err(e)) => Err(format!(
            "FAIL {}: expected to verify, got {}: {e}",
            case.name,
            e.reason()
        )),
        (Expected::Fails(reason), Err(e)) => Err(format!(
            "FAIL {}: expected fails:{reason}, got fails:{}: {e}",
            case.name,
            e.reason()
        )),
        (Expected::Fails(reason), Ok(v)) => Err(format!(
            "FAIL {}: expected fails:{reason}, but it verified: {v:?}",
            case.name
        )),
    }
}

/// Runs every case through `run`, prints a report, and fails listing every disagreement.
pub fn run_all(set: &str, run: impl Fn(&Case) -> Result<String, kiln_attest::Error>) {
    let cases = cases(set);
    let mut failures = Vec::new();
    let mut per_kind: std::collections::BTreeMap<String, (usize, usize)> = Default::default();
    for case in &cases {
        let line = judge(case, run(case));
        let slot = per_kind.entry(case.kind.clone()).or_default();
        slot.1 += 1;
        match line {
            Ok(l) => {
                slot.0 += 1;
                println!("{l}");
            }
            Err(l) => {
                println!("{l}");
                failures.push(l);
            }
        }
    }
    for (kind, (ok, total)) in &per_kind {
        println!("{set} {kind}: {ok}/{total} as expected");
    }
    assert!(
        failures.is_empty(),
        "{} of {} {set} cases disagree with CASES.tsv:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

/// The Sigstore public-good trusted root shipped in the corpus (the conformance suite's default).
pub fn public_good_root() -> kiln_attest::trust::TrustedRoot {
    let path =
        corpus_root().join("cosign/sigstore-conformance/detached/trusted_root.public_good.json");
    kiln_attest::trust::TrustedRoot::from_json(&std::fs::read(path).unwrap()).unwrap()
}

/// What a corpus file is, judged by its name and content.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    PublicKey,
    Certificate,
    PrivateKey,
    TrustedRoot,
    Json,
    Other,
}

pub fn classify(path: &Path, bytes: &[u8]) -> FileKind {
    let name = path.file_name().unwrap().to_string_lossy();
    let text = String::from_utf8_lossy(bytes);
    if name.contains("trusted_root") {
        FileKind::TrustedRoot
    } else if text.contains("-----BEGIN PUBLIC KEY-----") {
        FileKind::PublicKey
    } else if text.contains("-----BEGIN CERTIFICATE-----") {
        FileKind::Certificate
    } else if text.contains("PRIVATE KEY-----") {
        FileKind::PrivateKey
    } else if text.trim_start().starts_with('{') {
        FileKind::Json
    } else if name.ends_with(".pub") && bytes.first() == Some(&0x30) {
        FileKind::PublicKey
    } else if name.ends_with(".key") && bytes.first() == Some(&0x30) {
        FileKind::PrivateKey
    } else {
        FileKind::Other
    }
}
