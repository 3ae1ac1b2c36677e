//! What kiln writes (cosign.key, cosign.pub, a sign-blob signature, a bundle, an
//! `.intoto.jsonl` with SLSA provenance) is checked by `tests/interop.py` with pyca/cryptography,
//! securesystemslib and PyNaCl: implementations that share no code with kiln.
//!
//! Needs `pip install cryptography securesystemslib pynacl` (done here when missing). Skipped,
//! with a printed reason, only when `python3` itself is missing.

use std::path::Path;
use std::process::Command;

use kiln_attest::bundle::{self, Bundle};
use kiln_attest::intoto::Subject;
use kiln_attest::slsa::{BuildDefinition, BuildMetadata, Builder, Provenance, RunDetails};
use kiln_attest::{KeyPair, Password, blob, dsse};
use serde_json::json;

const PACKAGES: [&str; 3] = ["cryptography", "securesystemslib", "pynacl"];

fn python_has_modules() -> bool {
    Command::new("python3")
        .args(["-c", "import cryptography, securesystemslib, nacl"])
        .status()
        .is_ok_and(|s| s.success())
}

#[test]
fn independent_python_verifiers_accept_kiln_output() {
    if Command::new("python3").arg("--version").output().is_err() {
        println!("SKIP: python3 is not installed, so the independent verification cannot run");
        return;
    }
    if !python_has_modules() {
        let status = Command::new("python3")
            .args(["-m", "pip", "install", "--quiet"])
            .args(PACKAGES)
            .status()
            .expect("run pip");
        assert!(status.success(), "pip install {PACKAGES:?} failed");
    }
    assert!(
        python_has_modules(),
        "python modules {PACKAGES:?} are still missing after pip install"
    );

    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let pw = "interop password";
    let pair = KeyPair::generate().unwrap();
    pair.write_cosign_files(d, &Password::from(pw), false)
        .unwrap();
    let artifact = b"#!/bin/sh\necho built by kiln\n";
    std::fs::write(d.join("artifact.bin"), artifact).unwrap();
    std::fs::write(
        d.join("artifact.bin.sig"),
        blob::sign(&pair, artifact).unwrap(),
    )
    .unwrap();
    bundle::write(
        &d.join("artifact.bin.sigstore.json"),
        &Bundle::sign_blob(&pair, artifact).unwrap(),
    )
    .unwrap();

    let provenance = Provenance {
        build_definition: BuildDefinition {
            build_type: "https://example.invalid/kiln/buildtypes/build/v1".into(),
            external_parameters: json!({"buildspec": {"path": "buildspec.yml"}}),
            internal_parameters: None,
            resolved_dependencies: vec![],
        },
        run_details: RunDetails {
            builder: Builder {
                id: "https://example.invalid/kiln".into(),
                version: Default::default(),
                builder_dependencies: vec![],
            },
            metadata: Some(BuildMetadata {
                invocation_id: Some("interop".into()),
                ..Default::default()
            }),
            byproducts: vec![],
        },
    };
    let statement = provenance
        .into_statement(vec![Subject::for_bytes("artifact.bin", artifact)])
        .unwrap();
    let env = dsse::sign_statement(&statement, &pair).unwrap();
    dsse::write_jsonl(&d.join("provenance.intoto.jsonl"), &[env]).unwrap();

    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop.py");
    let out = Command::new("python3")
        .arg(&script)
        .arg(d)
        .arg(pw)
        .output()
        .expect("run interop.py");
    let stdout = String::from_utf8_lossy(&out.stdout);
    println!("{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        out.status.success(),
        "the independent verifier rejected kiln's output"
    );
    for must in [
        "securesystemslib DSSE verification",
        "signature verifies over the PAE",
        "sign-blob signature verifies",
        "cosign.key decrypts",
    ] {
        assert!(
            stdout
                .lines()
                .any(|l| l.starts_with("ok   ") && l.contains(must)),
            "check {must:?} did not pass"
        );
    }
}
