//! `kiln verify --trusted-root` and `kiln verify-blob --trusted-root` through the real binary:
//! certificate-signed ("keyless") Sigstore bundles verified offline against a trusted root the
//! user gives, with cosign's identity flags.
//!
//! Fixtures are the real sigstore-conformance files in the repository's corpus
//! (`tests/corpus/cosign/sigstore-conformance`, origins in its `SOURCES.tsv`): a keyless
//! `messageSignature` bundle over `a.txt` (`happy-path-v0.3`), a keyless DSSE bundle of SLSA v1
//! provenance whose subject is `a.txt` (`happy-path-intoto-in-dsse-v3`), and the public-good
//! trusted root. Tampered artifacts, tampered bundles and modified trusted roots are made in a
//! tempdir from those.

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use predicates::prelude::*;
use predicates::str::contains;
use serde_json::Value;

const IDENTITY: &str = "https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/.github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main";
const ISSUER: &str = "https://token.actions.githubusercontent.com";
/// The builder the conformance provenance names.
const BUILDER: &str = "https://github.com/loosebazooka/aa-test/.github/workflows/provenance.yaml@refs/heads/main";

fn conformance(path: &str) -> PathBuf {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/corpus/cosign/sigstore-conformance").join(path);
    assert!(p.is_file(), "corpus file missing: {}", p.display());
    p
}

fn blob_bundle() -> PathBuf {
    conformance("happy-path-v0.3/bundle.sigstore.json")
}

fn provenance_bundle() -> PathBuf {
    conformance("happy-path-intoto-in-dsse-v3/bundle.sigstore.json")
}

fn artifact() -> PathBuf {
    conformance("a.txt")
}

fn root() -> PathBuf {
    conformance("detached/trusted_root.public_good.json")
}

fn kiln() -> Command {
    let mut c = Command::cargo_bin("kiln").unwrap();
    c.env("NO_COLOR", "1");
    c
}

/// `kiln verify-blob` with the trusted root and the identity flags.
fn verify_blob(root: &Path, identity: &str, issuer: &str, bundle: &Path, file: &Path) -> Command {
    let mut c = kiln();
    c.arg("verify-blob").arg("--trusted-root").arg(root).args(["--certificate-identity", identity, "--certificate-oidc-issuer", issuer]).arg("--bundle").arg(bundle).arg(file);
    c
}

/// `kiln verify` of the conformance provenance with the trusted root and the identity flags.
fn verify(root: &Path, identity: &str, issuer: &str, provenance: &Path, file: &Path) -> Command {
    let mut c = kiln();
    c.arg("verify").arg("--trusted-root").arg(root).args(["--certificate-identity", identity, "--certificate-oidc-issuer", issuer, "--builder-id", BUILDER]).arg("--provenance").arg(provenance).arg(file);
    c
}

fn write_json(dir: &Path, name: &str, v: &Value) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, serde_json::to_vec_pretty(v).unwrap()).unwrap();
    p
}

fn root_json() -> Value {
    serde_json::from_slice(&std::fs::read(root()).unwrap()).unwrap()
}

#[test]
fn a_keyless_blob_bundle_verifies_with_the_right_identity() {
    verify_blob(&root(), IDENTITY, ISSUER, &blob_bundle(), &artifact()).assert().success().stderr("Verified OK\n");
}

#[test]
fn keyless_provenance_verifies_with_the_right_identity_and_says_what_it_checked() {
    let out = verify(&root(), IDENTITY, ISSUER, &provenance_bundle(), &artifact()).assert().success();
    let stdout = String::from_utf8(out.get_output().stdout.clone()).unwrap();
    let root = root();
    for line in [
        format!("ok      certificate chain: to a certificate authority of {} at 2024-12-16T18:42:56Z", root.display()),
        "ok      certificate transparency (SCT): logged by https://ctfe.sigstore.dev/2022".into(),
        "ok      transparency log: entry 155690850 (signed entry timestamp, integrated 2024-12-16T18:42:56Z)".into(),
        "ok      signature\n".into(),
        format!("ok      certificate identity: {IDENTITY}\n"),
        format!("ok      certificate OIDC issuer: {ISSUER}\n"),
        "ok      predicate\n".into(),
        "ok      builder\n".into(),
        format!("ok      subject {}\n", artifact().display()),
        "Verified OK\n".into(),
    ] {
        assert!(stdout.contains(&line), "missing {line:?} in:\n{stdout}");
    }
    assert!(!stdout.contains("FAILED"), "{stdout}");
}

#[test]
fn the_wrong_identity_or_issuer_fails_saying_expected_and_found() {
    let other = "https://github.com/someone/else/.github/workflows/release.yml@refs/heads/main";
    let bundle = provenance_bundle();
    verify(&root(), other, ISSUER, &bundle, &artifact())
        .assert()
        .code(1)
        .stdout(contains(format!("FAILED  certificate identity: {}: expected {other}, found {IDENTITY}", bundle.display())))
        .stdout(contains("Verified OK").not());
    verify(&root(), IDENTITY, "https://accounts.google.com", &bundle, &artifact())
        .assert()
        .code(1)
        .stdout(contains(format!("FAILED  certificate OIDC issuer: {}: expected https://accounts.google.com, found {ISSUER}", bundle.display())));
    // A prefix of the identity is not the identity (exact match, as cosign's flag).
    let prefix = "https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon";
    let bundle = blob_bundle();
    verify_blob(&root(), prefix, ISSUER, &bundle, &artifact())
        .assert()
        .code(1)
        .stderr(contains(format!("error: verification failed (identity): certificate identity: {}: expected {prefix}, found {IDENTITY}", bundle.display())));
    verify_blob(&root(), IDENTITY, "https://accounts.google.com", &bundle, &artifact())
        .assert()
        .code(1)
        .stderr(contains(format!("certificate OIDC issuer: {}: expected https://accounts.google.com, found {ISSUER}", bundle.display())));
}

#[test]
fn regexp_identities_match_as_cosigns_do() {
    let bundle = provenance_bundle();
    let run = |identity: &str, issuer: &str| {
        let mut c = kiln();
        c.arg("verify").arg("--trusted-root").arg(root()).args(["--certificate-identity-regexp", identity, "--certificate-oidc-issuer-regexp", issuer]);
        c.arg("--provenance").arg(&bundle).args(["--builder-id", BUILDER]).arg(artifact());
        c
    };
    run("^https://github.com/sigstore-conformance/.*@refs/heads/main$", "^https://token\\.actions\\.githubusercontent\\.com$")
        .assert()
        .code(0)
        .stdout(contains("Verified OK"));
    // Unanchored, as Go's MatchString: a part of the identity matches.
    run("extremely-dangerous", "githubusercontent").assert().code(0);
    run("^https://github.com/someone/", "githubusercontent")
        .assert()
        .code(1)
        .stdout(contains(format!("FAILED  certificate identity: {}: expected a match of /^https://github.com/someone//, found {IDENTITY}", bundle.display())));
    run("(unclosed", "x").assert().code(2).stderr(contains("--certificate-identity-regexp \"(unclosed\" is not a regular expression"));
    let mut both = kiln();
    both.arg("verify").arg("--trusted-root").arg(root()).args(["--certificate-identity", IDENTITY, "--certificate-identity-regexp", "x", "--certificate-oidc-issuer", ISSUER]).arg("--provenance").arg(&bundle).arg(artifact());
    both.assert().code(2).stderr(contains("cannot be used with"));
}

#[test]
fn a_tampered_artifact_fails() {
    let d = tempfile::tempdir().unwrap();
    let tampered = d.path().join("a.txt");
    let mut bytes = std::fs::read(artifact()).unwrap();
    bytes[0] ^= 1;
    std::fs::write(&tampered, bytes).unwrap();
    verify_blob(&root(), IDENTITY, ISSUER, &blob_bundle(), &tampered)
        .assert()
        .code(1)
        .stderr(contains(format!("error: verification failed (digest-mismatch): signature: {}: digest mismatch: the bundle's messageDigest is not the artifact's SHA-256", blob_bundle().display())));
    verify(&root(), IDENTITY, ISSUER, &provenance_bundle(), &tampered)
        .assert()
        .code(1)
        .stdout(contains(format!("FAILED  subject {}: sha256 ", tampered.display())))
        .stdout(contains("is not a subject of this provenance"));
}

#[test]
fn a_tampered_attestation_fails_its_signature() {
    // The statement's subject digest changed to the tampered artifact's: the DSSE signature no
    // longer verifies.
    let d = tempfile::tempdir().unwrap();
    let mut bundle: Value = serde_json::from_slice(&std::fs::read(provenance_bundle()).unwrap()).unwrap();
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD;
    let payload = b64.decode(bundle["dsseEnvelope"]["payload"].as_str().unwrap()).unwrap();
    let real = "a0cfc71271d6e278e57cd332ff957c3f7043fdda354c4cbb190a30d56efa01bf";
    let text = String::from_utf8(payload).unwrap();
    assert!(text.contains(real));
    let forged = "1fa70528334cd25fb9b4aabc0a81c96a0c8e8ff48b59be6dfbe9897e8e7f5c93"; // b.txt
    bundle["dsseEnvelope"]["payload"] = Value::String(b64.encode(text.replace(real, forged)));
    let path = write_json(d.path(), "forged.sigstore.json", &bundle);
    verify(&root(), IDENTITY, ISSUER, &path, &conformance("detached/b.txt"))
        .assert()
        .code(1)
        .stdout(contains(format!("FAILED  signature: {}: ", path.display())))
        .stdout(contains("ok      subject").not());
}

#[test]
fn a_wrong_trusted_root_fails_at_the_check_it_breaks() {
    let d = tempfile::tempdir().unwrap();
    let original = root_json();
    // The CA that issued the certificates is removed.
    let mut no_ca = original.clone();
    no_ca["certificateAuthorities"].as_array_mut().unwrap().truncate(1);
    // Rekor's key replaced by another valid key.
    let mut rekor = original.clone();
    rekor["tlogs"][0]["publicKey"]["rawBytes"] = original["ctlogs"][1]["publicKey"]["rawBytes"].clone();
    // The CT logs' keys replaced by another valid key.
    let mut ct = original.clone();
    for log in ct["ctlogs"].as_array_mut().unwrap() {
        log["publicKey"]["rawBytes"] = original["tlogs"][0]["publicKey"]["rawBytes"].clone();
    }
    let cases = [
        ("no-ca.json", no_ca, "chain", "certificate chain", "the certificate does not chain to a certificate authority of the trusted root at 2024-"),
        ("rekor.json", rekor, "tlog-mismatch", "transparency log", "the signed entry timestamp does not verify with the key of https://rekor.sigstore.dev"),
        ("ct.json", ct, "sct", "certificate transparency (SCT)", "the SCT does not verify with the key of https://ctfe.sigstore.dev/2022"),
    ];
    for (name, json, reason, check, says) in cases {
        let bad_root = write_json(d.path(), name, &json);
        let trusted = format!("(trusted root {})", bad_root.display());
        let bundle = provenance_bundle();
        let out = verify(&bad_root, IDENTITY, ISSUER, &bundle, &artifact()).assert().code(1);
        let stdout = String::from_utf8(out.get_output().stdout.clone()).unwrap();
        let failed = format!("FAILED  {check}: {}: {says}", bundle.display());
        assert!(stdout.contains(&failed) && stdout.contains(&trusted), "{name}: expected {failed:?} … {trusted:?} in:\n{stdout}");
        assert!(!stdout.contains("Verified OK") && !stdout.contains("ok      certificate identity"), "{name}:\n{stdout}");

        let bundle = blob_bundle();
        verify_blob(&bad_root, IDENTITY, ISSUER, &bundle, &artifact())
            .assert()
            .code(1)
            .stderr(contains(format!("error: verification failed ({reason}): {check}: {}: {says}", bundle.display())))
            .stderr(contains(trusted));
    }
}

#[test]
fn keyless_verification_without_an_identity_policy_is_refused() {
    let bundle = provenance_bundle();
    let both = ["--certificate-identity IDENTITY", "--certificate-oidc-issuer URL"];
    // Neither flag.
    let mut c = kiln();
    c.arg("verify").arg("--trusted-root").arg(root()).arg("--provenance").arg(&bundle).arg(artifact());
    let out = c.assert().code(2).stderr(contains("keyless verification needs an identity policy"));
    let stderr = String::from_utf8(out.get_output().stderr.clone()).unwrap();
    assert!(both.iter().all(|f| stderr.contains(f)), "{stderr}");
    assert!(out.get_output().stdout.is_empty());
    // Only the identity: the issuer flag is what is missing.
    let mut c = kiln();
    c.arg("verify-blob").arg("--trusted-root").arg(root()).args(["--certificate-identity", IDENTITY]).arg("--bundle").arg(blob_bundle()).arg(artifact());
    let out = c.assert().code(2);
    let stderr = String::from_utf8(out.get_output().stderr.clone()).unwrap();
    assert!(stderr.contains("add --certificate-oidc-issuer URL") && !stderr.contains("--certificate-identity IDENTITY"), "{stderr}");
    // Only the issuer: the identity flag.
    let mut c = kiln();
    c.arg("verify").arg("--trusted-root").arg(root()).args(["--certificate-oidc-issuer", ISSUER]).arg("--provenance").arg(&bundle);
    c.assert().code(2).stderr(contains("add --certificate-identity IDENTITY")).stderr(contains("--certificate-oidc-issuer URL").not());
    // The identity flags without a trusted root mean nothing: refused by the argument parser.
    let mut c = kiln();
    c.arg("verify-blob").args(["--certificate-identity", IDENTITY, "--certificate-oidc-issuer", ISSUER]).arg("--bundle").arg(blob_bundle()).arg(artifact());
    c.assert().code(2).stderr(contains("--trusted-root"));
}

#[test]
fn keyless_bundles_need_a_trusted_root_and_unreadable_roots_are_named() {
    let d = tempfile::tempdir().unwrap();
    // Neither a key nor a trusted root.
    kiln().arg("verify").arg("--provenance").arg(provenance_bundle()).assert().code(2).stderr(contains("give --key cosign.pub for key-signed provenance, or --trusted-root trusted_root.json"));
    kiln().arg("verify-blob").arg("--bundle").arg(blob_bundle()).arg(artifact()).assert().code(2).stderr(contains("or --trusted-root trusted_root.json"));
    // A key where a certificate signed: the check says to use --trusted-root.
    let key = conformance("managed-key-happy-path/key.pub");
    kiln()
        .arg("verify")
        .arg("--key")
        .arg(&key)
        .arg("--provenance")
        .arg(provenance_bundle())
        .arg(artifact())
        .assert()
        .code(1)
        .stdout(contains(format!("FAILED  signature: {}: the bundle is signed with a certificate (keyless), not a key: verify it with --trusted-root", provenance_bundle().display())));
    kiln().arg("verify-blob").arg("--key").arg(&key).arg("--bundle").arg(blob_bundle()).arg(artifact()).assert().code(1).stderr(contains("verify it with --trusted-root"));
    // The trusted root is read as a user input: a device, a missing file, a file that is not one.
    for (path, says) in [
        (PathBuf::from("/dev/zero"), "the trusted root /dev/zero: it is a character device, not a regular file".to_string()),
        (d.path().join("missing.json"), format!("the trusted root {}", d.path().join("missing.json").display())),
        (artifact(), format!("cannot read the trusted root {}: trusted root is not valid JSON", artifact().display())),
        (blob_bundle(), format!("the trusted root {} has no certificate authority and no transparency log", blob_bundle().display())),
    ] {
        verify_blob(&path, IDENTITY, ISSUER, &blob_bundle(), &artifact()).assert().code(2).stderr(contains(says.clone()));
        verify(&path, IDENTITY, ISSUER, &provenance_bundle(), &artifact()).assert().code(2).stderr(contains(says));
    }
    // A detached signature cannot be verified keyless offline.
    let mut c = kiln();
    c.arg("verify-blob").arg("--trusted-root").arg(root()).args(["--certificate-identity", IDENTITY, "--certificate-oidc-issuer", ISSUER]).arg("--signature").arg(conformance("detached/a.txt.good.sig")).arg(artifact());
    c.assert().code(2).stderr(contains("verify the Sigstore bundle with --bundle"));
}

#[test]
fn a_keyless_blob_bundle_is_not_provenance() {
    kiln()
        .arg("verify")
        .arg("--trusted-root")
        .arg(root())
        .args(["--certificate-identity", IDENTITY, "--certificate-oidc-issuer", ISSUER])
        .arg("--provenance")
        .arg(blob_bundle())
        .arg(artifact())
        .assert()
        .code(1)
        .stdout(contains("ok      certificate identity"))
        .stdout(contains(format!("FAILED  predicate: {}: the bundle signs a blob (messageSignature), not an in-toto attestation: check it with kiln verify-blob --bundle", blob_bundle().display())));
}
