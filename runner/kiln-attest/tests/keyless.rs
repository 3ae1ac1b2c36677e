//! Certificate-signed ("keyless") bundles against a trusted root, offline: the real conformance
//! bundles verify (chain, embedded SCT, Rekor entry), and modified copies of the trusted root
//! each fail at the check they break, with its reason code; identity policies are exact.

mod common;

use kiln_attest::bundle::{self, Artifact, Bundle, SignerIdentity, TlogStatus, VerifyOptions};
use kiln_attest::trust::{self, IdentityPolicy, Matcher, TrustedRoot};
use serde_json::Value;

const IDENTITY: &str = "https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/.github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main";
const ISSUER: &str = "https://token.actions.githubusercontent.com";

fn conformance(path: &str) -> Vec<u8> {
    std::fs::read(common::corpus_root().join("cosign/sigstore-conformance").join(path)).unwrap()
}

fn root_json() -> Value {
    serde_json::from_slice(&conformance("detached/trusted_root.public_good.json")).unwrap()
}

fn root_of(json: &Value) -> TrustedRoot {
    TrustedRoot::from_json(&serde_json::to_vec(json).unwrap()).unwrap()
}

fn verify(bundle: &str, root: &TrustedRoot) -> kiln_attest::Result<bundle::Verified> {
    let b = Bundle::from_json(&conformance(bundle)).unwrap();
    let a = conformance("a.txt");
    let options = VerifyOptions {
        trusted_root: Some(root),
        require_tlog: true,
        ..Default::default()
    };
    bundle::verify(&b, Artifact::Bytes(&a), &options)
}

const BUNDLES: [&str; 2] = [
    "happy-path-v0.3/bundle.sigstore.json",
    "happy-path-intoto-in-dsse-v3/bundle.sigstore.json",
];

#[test]
fn conformance_keyless_bundles_verify_with_sct_and_log_entry() {
    let root = common::public_good_root();
    assert_eq!(root.ct_logs.len(), 2, "the public-good root has two CT logs");
    for name in BUNDLES {
        let v = verify(name, &root).unwrap_or_else(|e| panic!("{name}: {e}"));
        let SignerIdentity::Certificate(id) = &v.signer else {
            panic!("{name}: not certificate-signed")
        };
        assert_eq!(id.subject_alternative_names, [IDENTITY]);
        assert_eq!(id.issuer.as_deref(), Some(ISSUER));
        let sct = v.certificate_transparency.as_ref().expect("SCT checked");
        assert_eq!(sct.log_url, "https://ctfe.sigstore.dev/2022", "{name}");
        assert!(
            matches!(
                v.tlog,
                TlogStatus::Verified {
                    integrated_time: Some(_),
                    ..
                }
            ),
            "{name}: {:?}",
            v.tlog
        );
        assert!(
            !v.notes.iter().any(|n| n.contains("SCT")),
            "{name}: {:?}",
            v.notes
        );
        let policy = IdentityPolicy {
            identity: Matcher::Exact(IDENTITY.into()),
            issuer: Matcher::Exact(ISSUER.into()),
        };
        policy.check(id).unwrap();
    }
}

#[test]
fn identity_policies_match_exactly_and_say_what_they_found() {
    let v = verify(BUNDLES[0], &common::public_good_root()).unwrap();
    let SignerIdentity::Certificate(id) = &v.signer else {
        panic!()
    };
    let policy = |identity: &str, issuer: &str| IdentityPolicy {
        identity: Matcher::Exact(identity.into()),
        issuer: Matcher::Exact(issuer.into()),
    };
    // A prefix, or a different ref, is not the identity.
    for wrong in [
        "https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon",
        &IDENTITY.replace("refs/heads/main", "refs/heads/evil"),
    ] {
        let e = policy(wrong, ISSUER).check(id).unwrap_err();
        assert_eq!(e.reason(), "identity");
        assert_eq!(
            e.to_string(),
            format!("certificate identity: expected {wrong}, found {IDENTITY}")
        );
    }
    let e = policy(IDENTITY, "https://accounts.google.com")
        .check(id)
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        format!("certificate OIDC issuer: expected https://accounts.google.com, found {ISSUER}")
    );
}

#[test]
fn modified_trusted_roots_fail_at_the_check_they_break() {
    let original = root_json();
    let rekor_key = original["tlogs"][0]["publicKey"]["rawBytes"].clone();
    let ct_key = original["ctlogs"][1]["publicKey"]["rawBytes"].clone();

    // The CA that issued the leaves is missing: the chain fails.
    let mut no_ca = original.clone();
    no_ca["certificateAuthorities"]
        .as_array_mut()
        .unwrap()
        .truncate(1);
    // Rekor's key is another (valid) key: the signed entry timestamp fails.
    let mut rekor = original.clone();
    rekor["tlogs"][0]["publicKey"]["rawBytes"] = ct_key.clone();
    // Rekor is not in the root at all: no entry is vouched for.
    let mut no_rekor = original.clone();
    no_rekor["tlogs"] = Value::Array(vec![]);
    // The CT logs' keys are another key: the SCT fails.
    let mut ct = original.clone();
    for log in ct["ctlogs"].as_array_mut().unwrap() {
        log["publicKey"]["rawBytes"] = rekor_key.clone();
    }
    let mut no_ct = original.clone();
    no_ct.as_object_mut().unwrap().remove("ctlogs");

    for (what, json, reason, says) in [
        ("no issuing CA", no_ca, "chain", "no certificate authority of the trusted root issued it"),
        ("wrong Rekor key", rekor, "tlog-mismatch", "signed entry timestamp does not verify"),
        ("no Rekor", no_rekor, "tlog-unverified", "is not in the trusted root"),
        ("wrong CT keys", ct, "sct", "the SCT does not verify with the key of https://ctfe.sigstore.dev/2022"),
        ("no CT logs", no_ct, "sct", "no certificate-transparency log"),
    ] {
        let root = root_of(&json);
        for name in BUNDLES {
            let e = verify(name, &root).expect_err(what);
            assert_eq!(e.reason(), reason, "{what}, {name}: {e}");
            assert!(e.to_string().contains(says), "{what}, {name}: {e}");
        }
    }
}

#[test]
fn a_certificate_without_an_embedded_sct_is_refused() {
    // Fulcio's intermediate CA certificate has no SCT list, as a leaf not logged for certificate
    // transparency would not.
    let json = root_json();
    let ca = json["certificateAuthorities"][1]["certChain"]["certificates"][0]["rawBytes"]
        .as_str()
        .unwrap();
    use base64::Engine as _;
    let der = base64::engine::general_purpose::STANDARD
        .decode(ca)
        .unwrap();
    let e = trust::verify_embedded_sct(&der, &[], &root_of(&json)).unwrap_err();
    assert_eq!(e.reason(), "sct");
    assert!(e.to_string().contains("carries no signed certificate timestamp"), "{e}");
}

#[test]
fn times_read_as_utc() {
    assert_eq!(trust::utc(0), "1970-01-01T00:00:00Z");
    assert_eq!(trust::utc(1_710_869_186), "2024-03-19T17:26:26Z");
    assert_eq!(trust::utc(951_782_400), "2000-02-29T00:00:00Z");
    assert_eq!(trust::utc(4_107_542_399), "2100-02-28T23:59:59Z");
}
