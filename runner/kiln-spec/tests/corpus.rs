//! Every real third-party buildspec in `tests/corpus/buildspecs/` parses, except the malformed
//! ones, which are rejected with an error at a known line. Reads the corpus at test time.

use std::path::PathBuf;

/// Files that are not valid buildspecs, with the error code and line kiln must report.
const MALFORMED: &[(&str, &str, u32)] = &[
    // An unedited AWS template: `key: "value"` twice in env.variables and env.parameter-store.
    ("julianghionoiu__dpnt-coverage__codebuild_buildspec.yml", "E0002", 9),
    // Batch identifiers with `-` (`linux-armhf-daemon`): CodeBuild fails such a batch with
    // "BATCH_SPEC_VALIDATION_ERROR: BatchSpec has invalid values.. Build Identifiers … must
    // contain only alphanumeric characters and underscores" (quoted in aws/copilot-cli#1673).
    ("Beirdo__coin-buildimage__codebuild_buildspec.yml", "E0607", 5),
];

fn corpus_dir() -> Option<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/corpus/buildspecs");
    dir.is_dir().then_some(dir)
}

#[test]
fn corpus_buildspecs_parse_or_fail_with_located_errors() {
    let Some(dir) = corpus_dir() else {
        panic!("the corpus is missing: expected tests/corpus/buildspecs in the repository");
    };
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| matches!(p.extension().and_then(|e| e.to_str()), Some("yml" | "yaml")))
        .collect();
    files.sort();
    assert!(files.len() >= 40, "expected the whole corpus, found {} files", files.len());
    let mut failures = Vec::new();
    for path in &files {
        let name = path.file_name().unwrap().to_str().unwrap();
        let src = std::fs::read_to_string(path).unwrap();
        let parsed = kiln_spec::parse_buildspec(&src);
        for d in &parsed.diagnostics {
            assert!(d.span.line >= 1 && d.span.col >= 1, "{name}: unlocated diagnostic {d:?}");
        }
        let errors: Vec<_> = parsed.diagnostics.iter().filter(|d| d.is_error()).collect();
        match MALFORMED.iter().find(|(f, _, _)| *f == name) {
            Some((_, code, line)) => {
                if !errors.iter().any(|d| d.code == *code && d.span.line == *line) {
                    failures.push(format!("{name}: expected {code} at line {line}, got {errors:?}"));
                }
                assert!(parsed.spec.is_none());
            }
            None => {
                if !errors.is_empty() || parsed.spec.is_none() {
                    failures.push(format!("{name}: {}", errors.iter().map(|d| d.to_plain(name)).collect::<Vec<_>>().join("; ")));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn hyphenated_phase_names_warn_with_suggestion() {
    let dir = corpus_dir().expect("corpus");
    let src = std::fs::read_to_string(dir.join("ABRGI__nelson-short-links-service__buildspec.yaml")).unwrap();
    let parsed = kiln_spec::parse_buildspec(&src);
    let w: Vec<_> = parsed.diagnostics.iter().filter(|d| d.code == "W0001").collect();
    assert_eq!(w.len(), 2);
    assert_eq!(w[0].help.as_deref(), Some("did you mean `pre_build`?"));
}
