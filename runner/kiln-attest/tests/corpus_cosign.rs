//! Every case of `tests/corpus/cosign/CASES.tsv` (keys, sign-blob signatures, Sigstore bundles
//! made by cosign and sigstore clients) must come out as its `expected` column says, with the
//! same failure reason.

mod common;

use common::{Case, FileKind, classify, public_good_root, run_all};
use kiln_attest::bundle::{self, Artifact, Bundle, VerifyOptions};
use kiln_attest::trust::TrustedRoot;
use kiln_attest::{Error, KeyPair, PublicKey, blob};

/// A key case: load the first file (private or public key); every further file (public key,
/// certificate) must hold the same public key; a private key must sign a blob that its public
/// key verifies.
fn key_case(case: &Case) -> Result<String, Error> {
    let first = case.read(0);
    let (public, pair) = match classify(&case.files[0], &first) {
        FileKind::PublicKey => (PublicKey::read(&first)?, None),
        _ => {
            let pair = KeyPair::read(&first, case.password().as_ref())?;
            (pair.public_key().clone(), Some(pair))
        }
    };
    for (i, path) in case.files.iter().enumerate().skip(1) {
        let other = PublicKey::read(&case.read(i))?;
        if other != public {
            return Err(Error::KeyMismatch(format!("({})", path.display())));
        }
    }
    if let Some(pair) = &pair {
        let sig = blob::sign(pair, b"kiln interop")?;
        blob::verify(&public, &sig, b"kiln interop")?;
        assert!(blob::verify(&public, &sig, b"kiln interop!").is_err());
        // A round trip through kiln's own encrypted format must give back the same key.
        let pw = kiln_attest::Password::from("round-trip");
        let again = KeyPair::from_encrypted_pem(pair.to_encrypted_pem(&pw)?.as_bytes(), &pw)?;
        again.check_public_key(&public)?;
    }
    Ok(format!("{:?}", public.algorithm()))
}

/// A sign-blob case: blob, signature, then a public key or a certificate (+ trusted root).
fn sign_blob_case(case: &Case) -> Result<String, Error> {
    let blob_bytes = case.read(0);
    let sig = String::from_utf8(case.read(1)).expect("utf-8 signature");
    let third = case.read(2);
    match classify(&case.files[2], &third) {
        FileKind::Certificate => {
            let root = case
                .files
                .iter()
                .position(|f| f.to_string_lossy().contains("trusted_root"));
            let root = root
                .map(|i| TrustedRoot::from_json(&case.read(i)))
                .transpose()?;
            let id = blob::verify_with_certificate(&third, &sig, &blob_bytes, root.as_ref())?;
            Ok(format!("{:?}", id.subject_alternative_names))
        }
        _ => {
            let key = PublicKey::read(&third)?;
            blob::verify(&key, &sig, &blob_bytes)?;
            Ok(key.hint())
        }
    }
}

/// A bundle case: the bundle, optionally its public key and its artifact. Certificate bundles
/// are checked against the public-good trusted root (the conformance suite's default), or the
/// `trusted_root.json` beside the bundle when there is one.
fn bundle_case(case: &Case) -> Result<String, Error> {
    let bundle = Bundle::from_json(&case.read(0))?;
    let mut key = None;
    let mut artifact = None;
    for (i, path) in case.files.iter().enumerate().skip(1) {
        let bytes = case.read(i);
        match classify(path, &bytes) {
            FileKind::PublicKey => key = Some(PublicKey::read(&bytes)?),
            _ => artifact = Some(bytes),
        }
    }
    let beside = case.files[0].with_file_name("trusted_root.json");
    let root = if beside.is_file() {
        TrustedRoot::from_json(&std::fs::read(beside).unwrap())?
    } else {
        public_good_root()
    };
    let options = VerifyOptions {
        key: key.as_ref(),
        trusted_root: Some(&root),
        require_tlog: false,
    };
    let artifact = artifact.as_deref().map_or(Artifact::None, Artifact::Bytes);
    let v = bundle::verify(&bundle, artifact, &options)?;
    Ok(format!("{:?} {:?}", v.signer, v.tlog))
}

fn run(case: &Case) -> Result<String, Error> {
    let first = case.files[0].to_string_lossy();
    match case.kind.as_str() {
        "key" => key_case(case),
        "sign-blob" => sign_blob_case(case),
        "bundle" => bundle_case(case),
        "negative" if case.name.starts_with("neg-key") => key_case(case),
        "negative" if case.name.starts_with("neg-sign-blob") => sign_blob_case(case),
        "negative" if first.ends_with(".json") => bundle_case(case),
        other => panic!("{}: unknown case kind {other}", case.name),
    }
}

#[test]
fn cosign_corpus_matches_cases_tsv() {
    run_all("cosign", run);
}
