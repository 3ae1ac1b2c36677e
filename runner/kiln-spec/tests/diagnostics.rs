//! Snapshots of what `kiln validate` says about broken buildspecs: the code, the position, the
//! message and the help must stay stable and useful.

fn report(src: &str) -> String {
    let parsed = kiln_spec::parse_buildspec(src);
    let mut out: Vec<String> = parsed.diagnostics.iter().map(|d| d.to_plain("buildspec.yml")).collect();
    out.push(format!("valid: {}", !parsed.has_errors()));
    out.join("\n")
}

#[test]
fn typical_mistakes() {
    let cases = [
        ("unquoted colon in a command", "version: 0.2\nphases:\n  build:\n    commands:\n      - echo key: value\n"),
        ("hyphenated phase name", "version: 0.2\nphases:\n  pre-build:\n    commands: [make]\n  build:\n    commands: [make]\n"),
        ("commands as a string", "version: 0.2\nphases:\n  build:\n    commands: make all\n"),
        ("bad version", "version: 1.13.1\nphases:\n  build:\n    commands: [make]\n"),
        ("bad on-failure", "version: 0.2\nphases:\n  build:\n    on-failure: abort\n    commands: [make]\n"),
        ("runtime-versions outside install", "version: 0.2\nphases:\n  build:\n    runtime-versions:\n      nodejs: 18\n    commands: [make]\n"),
        ("invalid variable name", "version: 0.2\nenv:\n  variables:\n    1BAD: x\nphases:\n  build:\n    commands: [make]\n"),
        ("unknown report format", "version: 0.2\nphases:\n  build:\n    commands: [make]\nreports:\n  unit:\n    files: ['*.xml']\n    file-format: JUNIT\n"),
        ("artifacts without files", "version: 0.2\nphases:\n  build:\n    commands: [make]\nartifacts:\n  name: app\n"),
        ("duplicate key", "version: 0.2\nenv:\n  variables:\n    A: 1\n    A: 2\nphases:\n  build:\n    commands: [make]\n"),
        ("yaml syntax error", "version: 0.2\nphases:\n  build:\n    commands:\n      - \"unterminated\n"),
        ("typo in a top-level key", "version: 0.2\nartifact:\n  files: ['**/*']\nphases:\n  build:\n    commands: [make]\n"),
        ("batch graph with unknown dependency", "version: 0.2\nbatch:\n  build-graph:\n    - identifier: a\n      depend-on: [b]\n"),
        ("empty file", ""),
    ];
    let text: Vec<String> = cases.iter().map(|(name, src)| format!("## {name}\n{}", report(src))).collect();
    insta::assert_snapshot!(text.join("\n\n"));
}

#[test]
fn kiln_signing_key_is_a_located_path_and_nothing_else() {
    let ok = kiln_spec::parse_buildspec("version: 0.2\nphases:\n  build:\n    commands: [make]\nkiln:\n  signing:\n    key: ../keys/cosign.key\n");
    assert!(!ok.has_errors(), "{:?}", ok.diagnostics);
    let key = ok.spec.unwrap().kiln.signing.unwrap().key.unwrap();
    assert_eq!((key.value.as_str(), key.span.line), ("../keys/cosign.key", 7));
    assert_eq!(
        report("version: 0.2\nphases:\n  build:\n    commands: [make]\nkiln:\n  signing:\n    key: ''\n").lines().next().unwrap(),
        "buildspec.yml:7:10: error[E0720]: `kiln.signing.key` is empty"
    );
    // A password in the buildspec is an error, located, saying where passwords come from.
    let r = report("version: 0.2\nphases:\n  build:\n    commands: [make]\nkiln:\n  signing:\n    key: k\n    password: hunter2\n");
    assert!(r.starts_with("buildspec.yml:8:15: error[E0721]: a signing password does not belong in the buildspec"), "{r}");
    assert!(r.contains("COSIGN_PASSWORD") && r.ends_with("valid: false"), "{r}");
}
