//! The SBOM format (insta snapshot of one small multi-ecosystem SBOM) and robustness of every
//! parser against malformed input (proptest: random text and mutated valid lockfiles must give
//! warnings, never a panic).

use kiln_sbom_engine::{BomOptions, LockKind, parse_file};
use proptest::prelude::*;

const NPM: &str = r#"{"name":"app","lockfileVersion":3,"packages":{
  "":{"name":"app","version":"1.0.0","dependencies":{"@scope/a":"^1"},"devDependencies":{"b":"^2"}},
  "node_modules/@scope/a":{"version":"1.2.3","license":"MIT","integrity":"sha512-69LyhUgrXdgcNDv7ogs1qXZomnfOEnSmrmMFqKgt1XMJxmoOSG/u3wYy13yACIfKuMJ8IhKgHafDO3sx19zVQQ==","dependencies":{"b":"^2"}},
  "node_modules/b":{"version":"2.0.0","dev":true,"license":"(MIT OR Apache-2.0)"}}}"#;

const CARGO: &str = "version = 4\n\n[[package]]\nname = \"app\"\nversion = \"0.1.0\"\ndependencies = [\"serde\"]\n\n[[package]]\nname = \"serde\"\nversion = \"1.0.228\"\nsource = \"registry+https://github.com/rust-lang/crates.io-index\"\nchecksum = \"9a8e94ea7f378bd32cbbd37198a4a91436180c5bb472411e48b5ec2e2124ae9e\"\n";

const REQS: &str = "Django==5.1.2 \\\n    --hash=sha256:f11aa87ad8d5617171e3f77e1d5d16f004b79a2cf5d2e1d2b97a6a1f8e5b3a4c\nrequests>=2\n";

const GEM: &str = "GEM\n  remote: https://rubygems.org/\n  specs:\n    grpc (1.83.0-x86_64-linux-musl)\n      google-protobuf (>= 3)\n    google-protobuf (4.35.1)\n\nDEPENDENCIES\n  grpc\n";

fn no_siblings(_: &str) -> Option<String> {
    None
}

#[test]
fn snapshot_small_sbom() {
    let lfs: Vec<_> = [("web/package-lock.json", NPM), ("Cargo.lock", CARGO), ("requirements.txt", REQS), ("Gemfile.lock", GEM)]
        .iter()
        .map(|(p, t)| parse_file(p, t, &no_siblings).expect("known format"))
        .collect();
    let opts = BomOptions {
        name: "demo".into(),
        version: Some("1.0.0".into()),
        timestamp: Some("2026-01-01T00:00:00Z".into()),
        serial_number: None,
        tool_version: "0.1.0".into(),
    };
    let (json, stats) = kiln_sbom_engine::build(&lfs, &opts).unwrap();
    assert_eq!(stats.components, 8);
    let v: serde_json::Value = serde_json::from_slice(&json).unwrap();
    insta::assert_json_snapshot!("small_sbom", v);
    let warnings: Vec<String> = lfs.iter().flat_map(|l| l.warnings.iter().map(|w| format!("{} {}", w.kind, w))).collect();
    insta::assert_snapshot!("small_sbom_warnings", warnings.join("\n"));
}

const KINDS: &[(&str, &str)] = &[
    ("package-lock.json", NPM),
    ("yarn.lock", "\"a@^1\", \"a@^1.1\":\n  version \"1.2.0\"\n  dependencies:\n    b \"^2\"\n\nb@^2:\n  version \"2.0.1\"\n"),
    ("pnpm-lock.yaml", "lockfileVersion: '9.0'\nimporters:\n  .:\n    dependencies:\n      a:\n        specifier: ^1\n        version: 1.0.0\npackages:\n  a@1.0.0:\n    resolution: {integrity: sha1-2jmbFmZhvSTQyqkdiqSdmjWhYy0=}\nsnapshots:\n  a@1.0.0: {}\n"),
    ("Cargo.lock", CARGO),
    ("poetry.lock", "[[package]]\nname = \"a\"\nversion = \"1.0\"\n\n[package.dependencies]\nb = \"*\"\n\n[[package]]\nname = \"b\"\nversion = \"2.0\"\n"),
    ("Pipfile.lock", r#"{"default":{"a":{"version":"==1.0"}},"develop":{}}"#),
    ("uv.lock", "version = 1\n\n[[package]]\nname = \"a\"\nversion = \"1.0\"\nsource = { registry = \"https://pypi.org/simple\" }\n"),
    ("requirements.txt", REQS),
    ("go.mod", "module x\n\nrequire (\n\tgithub.com/a/b v1.0.0\n)\nreplace github.com/a/b => ../b\n"),
    ("Gemfile.lock", GEM),
    ("composer.lock", r#"{"packages":[{"name":"a/b","version":"1.0.0","require":{"c/d":"^1"}},{"name":"c/d","version":"1.0.0"}]}"#),
];

#[test]
fn every_kind_parses_its_sample() {
    for (name, text) in KINDS {
        assert!(LockKind::detect(name).is_some(), "{name}");
        let lf = parse_file(name, text, &no_siblings).unwrap();
        assert!(!lf.packages.is_empty(), "{name}: no packages");
        assert!(lf.warnings.iter().all(|w| w.kind == "unpinned"), "{name}: {:?}", lf.warnings);
    }
}

#[test]
fn truncated_files_warn_not_panic() {
    for (name, text) in KINDS {
        for cut in [text.len() / 3, text.len() / 2, text.len() * 2 / 3] {
            let mut c = cut;
            while !text.is_char_boundary(c) {
                c -= 1;
            }
            let _ = parse_file(name, &text[..c], &no_siblings).unwrap();
        }
    }
    let lf = parse_file("package-lock.json", "{\"packages\": {\n\"a\": ", &no_siblings).unwrap();
    assert_eq!(lf.warnings.len(), 1);
    assert!(lf.warnings[0].to_string().starts_with("package-lock.json:2: not a valid package-lock.json"), "{}", lf.warnings[0]);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, .. ProptestConfig::default() })]

    #[test]
    fn random_text_never_panics(kind in 0..KINDS.len(), text in "\\PC{0,400}") {
        let _ = parse_file(KINDS[kind].0, &text, &no_siblings);
    }

    #[test]
    fn mutated_lockfiles_never_panic(kind in 0..KINDS.len(), edits in proptest::collection::vec((any::<prop::sample::Index>(), "[\\PC\\n\"{}\\[\\]:@/ ]{0,3}"), 1..6)) {
        let (name, base) = KINDS[kind];
        let mut text = base.to_string();
        for (at, ins) in edits {
            let mut i = at.index(text.len() + 1);
            while !text.is_char_boundary(i) { i -= 1; }
            let end = (i + ins.len()).min(text.len());
            let mut e = end;
            while !text.is_char_boundary(e) { e -= 1; }
            text.replace_range(i..e.max(i), &ins);
        }
        if let Some(lf) = parse_file(name, &text, &no_siblings) {
            let _ = kiln_sbom_engine::build(&[lf], &BomOptions::default());
        }
    }
}
