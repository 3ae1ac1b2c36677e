//! DSSE envelopes and SLSA provenance written by kiln: structure, `.intoto.jsonl`, and the tamper
//! cases `kiln verify` must reject (modified payload, signature, subject; wrong key).

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use kiln_attest::dsse::{self, Attestation, Envelope};
use kiln_attest::intoto::{self, ResourceDescriptor, Statement, Subject};
use kiln_attest::slsa::{self, BuildDefinition, BuildMetadata, Builder, Provenance, RunDetails};
use kiln_attest::{Error, KeyPair};
use serde_json::json;

fn reason<T: std::fmt::Debug>(r: Result<T, Error>) -> &'static str {
    r.expect_err("expected an error").reason()
}

fn provenance() -> Provenance {
    Provenance {
        build_definition: BuildDefinition {
            build_type: "https://example.invalid/kiln/buildtypes/build/v1".into(),
            external_parameters: json!({"buildspec": {"path": "buildspec.yml", "digest": {"sha256": "ab".repeat(32)}}}),
            internal_parameters: Some(json!({"kilnVersion": "0.1.0"})),
            resolved_dependencies: vec![
                ResourceDescriptor {
                    uri: Some("git+https://example.invalid/app@refs/heads/main".into()),
                    digest: BTreeMap::from([("gitCommit".into(), "1".repeat(40))]),
                    ..Default::default()
                },
                ResourceDescriptor::file("plugin:sbom-cdx", "cd".repeat(32)),
            ],
        },
        run_details: RunDetails {
            builder: Builder {
                id: "https://example.invalid/kiln/builder/v1".into(),
                version: BTreeMap::from([("kiln".into(), "0.1.0".into())]),
                builder_dependencies: vec![],
            },
            metadata: Some(BuildMetadata {
                invocation_id: Some("build-42".into()),
                started_on: Some("2024-01-01T00:00:00Z".into()),
                finished_on: Some("2024-01-01T00:01:00Z".into()),
            }),
            byproducts: vec![ResourceDescriptor::file(
                "reports/sast.sarif",
                "ef".repeat(32),
            )],
        },
    }
}

fn signed() -> (KeyPair, Statement, Envelope) {
    let pair = KeyPair::generate().unwrap();
    let subjects = vec![
        Subject::for_bytes("dist/app.tar.gz", b"app"),
        Subject::for_bytes("dist/app.sbom.json", b"sbom"),
    ];
    let statement = provenance().into_statement(subjects).unwrap();
    let env = dsse::sign_statement(&statement, &pair).unwrap();
    (pair, statement, env)
}

#[test]
fn envelope_shape_and_round_trip() {
    let (pair, statement, env) = signed();
    let json: serde_json::Value = serde_json::from_slice(&env.to_json()).unwrap();
    let keys: Vec<&str> = json
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(keys, ["payload", "payloadType", "signatures"]);
    assert_eq!(json["payloadType"], intoto::PAYLOAD_TYPE);
    assert_eq!(json["signatures"][0]["keyid"], pair.public_key().key_id());
    let payload = STANDARD.decode(json["payload"].as_str().unwrap()).unwrap();
    let decoded: serde_json::Value = serde_json::from_slice(&payload).unwrap();
    assert_eq!(decoded["_type"], intoto::STATEMENT_V1);
    assert_eq!(decoded["predicateType"], slsa::PREDICATE_TYPE);
    assert_eq!(
        decoded["subject"][0]["digest"]["sha256"]
            .as_str()
            .unwrap()
            .len(),
        64
    );
    assert_eq!(
        decoded["predicate"]["runDetails"]["metadata"]["invocationId"],
        "build-42"
    );

    // The signature covers exactly the PAE.
    let sig = STANDARD
        .decode(json["signatures"][0]["sig"].as_str().unwrap())
        .unwrap();
    pair.public_key()
        .verify(&dsse::pae(intoto::PAYLOAD_TYPE, &payload), &sig)
        .unwrap();

    let verified = dsse::verify(
        &Envelope::from_json(&env.to_json()).unwrap(),
        &[pair.public_key()],
    )
    .unwrap();
    let back = verified.statement().unwrap();
    assert_eq!(back, statement);
    assert_eq!(Provenance::from_statement(&back).unwrap(), provenance());
    assert!(back.subject_for(b"app").is_ok());
}

#[test]
fn tampering_is_rejected_with_a_reason() {
    let (pair, _, env) = signed();
    let key = pair.public_key();

    // Modified payload (one subject digest swapped for another artifact's).
    let mut st: serde_json::Value = serde_json::from_slice(&env.payload_bytes().unwrap()).unwrap();
    st["subject"][0]["digest"]["sha256"] = json!("00".repeat(32));
    let mut swapped = env.clone();
    swapped.payload = STANDARD.encode(serde_json::to_vec(&st).unwrap());
    assert_eq!(reason(dsse::verify(&swapped, &[key])), "signature");

    // Modified payload type (PAE binds it).
    let mut retyped = env.clone();
    retyped.payload_type = "application/json".into();
    assert_eq!(reason(dsse::verify(&retyped, &[key])), "signature");

    // Modified signature.
    let mut sig = STANDARD.decode(&env.signatures[0].sig).unwrap();
    let last = sig.len() - 1;
    sig[last] ^= 0x01;
    let mut resigned = env.clone();
    resigned.signatures[0].sig = STANDARD.encode(&sig);
    assert_eq!(reason(dsse::verify(&resigned, &[key])), "signature");

    // Wrong key; a forged keyid changes nothing.
    let other = KeyPair::generate().unwrap();
    assert_eq!(
        reason(dsse::verify(&env, &[other.public_key()])),
        "signature"
    );
    let mut relabelled = env.clone();
    relabelled.signatures[0].keyid = other.public_key().key_id();
    dsse::verify(&relabelled, &[key]).unwrap();

    // Modified artifact: its digest is no subject.
    let statement = dsse::verify(&env, &[key]).unwrap().statement().unwrap();
    assert_eq!(
        reason(statement.subject_for(b"app, modified")),
        "digest-mismatch"
    );

    // No signatures, garbage signatures, hex signatures.
    let mut empty = env.clone();
    empty.signatures.clear();
    assert_eq!(reason(dsse::verify(&empty, &[key])), "signature");
    let mut garbage = env.clone();
    garbage.signatures[0].sig = "%%%".into();
    assert_eq!(reason(dsse::verify(&garbage, &[key])), "bad-base64");
    let mut hexed = env.clone();
    hexed.signatures[0].sig = hex::encode(STANDARD.decode(&env.signatures[0].sig).unwrap());
    assert_eq!(reason(dsse::verify(&hexed, &[key])), "signature");
}

#[test]
fn url_safe_signatures_are_accepted() {
    let (pair, _, env) = signed();
    let mut url = env.clone();
    let raw = STANDARD.decode(&env.signatures[0].sig).unwrap();
    url.signatures[0].sig = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw);
    dsse::verify(&url, &[pair.public_key()]).unwrap();
}

#[test]
fn intoto_jsonl_one_envelope_per_line() {
    let dir = tempfile::tempdir().unwrap();
    let (pair, _, env) = signed();
    let env2 = dsse::sign("application/vnd.kiln.log+json", b"{}", &pair).unwrap();
    let path = dir.path().join("provenance.intoto.jsonl");
    dsse::write_jsonl(&path, &[env.clone(), env2.clone()]).unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.ends_with('\n'));
    assert_eq!(text.lines().count(), 2);
    let parsed = dsse::parse_jsonl(text.as_bytes()).unwrap();
    assert_eq!(parsed.len(), 2);
    match &parsed[0] {
        Attestation::Envelope(e) => assert_eq!(e, &env),
        other => panic!("{other:?}"),
    }
    // A bundle line is recognised as one.
    let bundle = kiln_attest::bundle::Bundle::for_envelope(env, pair.public_key()).unwrap();
    let mixed = [bundle.to_json(), b"\n".to_vec(), env2.to_json()].concat();
    assert!(matches!(
        dsse::parse_jsonl(&mixed).unwrap()[0],
        Attestation::Bundle(_)
    ));
    let verified = kiln_attest::bundle::verify(
        &bundle,
        kiln_attest::bundle::Artifact::Bytes(b"app"),
        &kiln_attest::bundle::VerifyOptions {
            key: Some(pair.public_key()),
            ..Default::default()
        },
    )
    .unwrap();
    assert!(verified.statement.is_some());
    // Truncated files fail cleanly.
    assert_eq!(
        reason(dsse::parse_jsonl(&text.as_bytes()[..text.len() / 2])),
        "not-json"
    );
}
