//! Keys as cosign writes and reads them, `sign-blob` signatures and Sigstore bundles written by
//! kiln, and every bad-input path returning a typed error.

use std::fs;

use kiln_attest::bundle::{self, Artifact, Bundle, VerifyOptions};
use kiln_attest::keys::{COSIGN_KEY_LABEL, SIGSTORE_KEY_LABEL};
use kiln_attest::{Algorithm, Error, KeyPair, Password, PublicKey, Signer, blob};

fn reason<T: std::fmt::Debug>(r: Result<T, Error>) -> &'static str {
    r.expect_err("expected an error").reason()
}

#[test]
fn generate_write_and_read_back_cosign_files() {
    let dir = tempfile::tempdir().unwrap();
    let pair = KeyPair::generate().unwrap();
    assert_eq!(pair.algorithm(), Algorithm::EcdsaP256);
    let pw = Password::from("correct horse");
    let files = pair.write_cosign_files(dir.path(), &pw, false).unwrap();
    assert_eq!(files.private_key, dir.path().join("cosign.key"));

    let key_text = fs::read_to_string(&files.private_key).unwrap();
    assert!(key_text.starts_with("-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\n"));
    assert!(key_text.ends_with("-----END ENCRYPTED SIGSTORE PRIVATE KEY-----\n"));
    assert!(key_text.lines().all(|l| l.len() <= 64), "64-column PEM");
    // cosign's JSON envelope, with today's scrypt cost.
    let body: String = key_text
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect();
    let json = String::from_utf8(base64_decode(&body)).unwrap();
    assert!(
        json.starts_with(r#"{"kdf":{"name":"scrypt","params":{"N":65536,"r":8,"p":1},"salt":""#),
        "{json}"
    );
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(base64_decode(v["kdf"]["salt"].as_str().unwrap()).len(), 32);
    assert_eq!(
        base64_decode(v["cipher"]["nonce"].as_str().unwrap()).len(),
        24
    );
    assert_eq!(
        base64_decode(v["ciphertext"].as_str().unwrap()).len(),
        138 + 16,
        "P-256 PKCS#8 + Poly1305 tag"
    );

    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            fs::metadata(&files.private_key)
                .unwrap()
                .permissions()
                .mode()
                & 0o777,
            0o600
        );
    }

    let pub_text = fs::read_to_string(&files.public_key).unwrap();
    assert!(
        pub_text.starts_with("-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE")
    );
    assert!(pub_text.ends_with("-----END PUBLIC KEY-----\n"));
    assert_eq!(pub_text, pair.public_key().to_pem());

    let again = KeyPair::from_encrypted_pem(key_text.as_bytes(), &pw).unwrap();
    again
        .check_public_key(&PublicKey::from_pem(pub_text.as_bytes()).unwrap())
        .unwrap();
    assert_eq!(
        reason(KeyPair::from_encrypted_pem(
            key_text.as_bytes(),
            &Password::from("wrong")
        )),
        "decrypt"
    );
    assert_eq!(
        reason(KeyPair::read(key_text.as_bytes(), None)),
        "password-required"
    );

    // The older label reads the same.
    let legacy = key_text.replace(SIGSTORE_KEY_LABEL, COSIGN_KEY_LABEL);
    KeyPair::from_encrypted_pem(legacy.as_bytes(), &pw).unwrap();

    // No silent overwrite.
    assert_eq!(
        reason(pair.write_cosign_files(dir.path(), &pw, false)),
        "io"
    );
    pair.write_cosign_files(dir.path(), &pw, true).unwrap();
}

#[test]
fn empty_password_is_legal() {
    let pair = KeyPair::generate().unwrap();
    let pem = pair.to_encrypted_pem(&Password::empty()).unwrap();
    KeyPair::from_encrypted_pem(pem.as_bytes(), &Password::from("")).unwrap();
    assert_eq!(
        reason(KeyPair::from_encrypted_pem(
            pem.as_bytes(),
            &Password::from(" ")
        )),
        "decrypt"
    );
}

#[test]
fn password_never_prints() {
    let pw = Password::from("hunter2");
    assert!(!format!("{pw:?}").contains("hunter2"));
    let pair = KeyPair::generate().unwrap();
    assert!(!format!("{pair:?}").contains("PRIVATE"));
}

#[test]
fn bad_key_inputs_are_typed_errors() {
    let pair = KeyPair::generate().unwrap();
    let pw = Password::from("pw");
    let good = pair.to_encrypted_pem(&pw).unwrap().to_string();
    let cases: Vec<(String, &str)> = vec![
        ("".into(), "bad-key"),
        ("garbage".into(), "bad-key"),
        (good[..good.len() / 2].to_string(), "bad-pem"),
        (good.replace("ENCRYPTED SIGSTORE PRIVATE KEY", "CERTIFICATE REQUEST"), "wrong-label"),
        (pair.public_key().to_pem(), "wrong-label"),
        ("-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\ne30=\n-----END ENCRYPTED SIGSTORE PRIVATE KEY-----\n".into(), "bad-key"),
        ("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n".into(), "bad-key"),
        ("-----BEGIN EC PRIVATE KEY-----\nAAAA\n-----END EC PRIVATE KEY-----\n".into(), "bad-key"),
        ("-----BEGIN PRIVATE KEY-----\n!!!!\n-----END PRIVATE KEY-----\n".into(), "bad-pem"),
        ("x".repeat(10 * 1024 * 1024), "too-large"),
    ];
    for (input, want) in cases {
        let got = KeyPair::read(input.as_bytes(), Some(&pw)).map(|_| ());
        assert_eq!(reason(got), want, "{:?}", &input[..input.len().min(80)]);
    }
    // A flipped ciphertext byte is an authentication failure, never garbage.
    let body: String = good.lines().filter(|l| !l.starts_with("-----")).collect();
    let mut json: serde_json::Value = serde_json::from_slice(&base64_decode(&body)).unwrap();
    let mut ct = base64_decode(json["ciphertext"].as_str().unwrap());
    ct[10] ^= 1;
    json["ciphertext"] = base64_encode(&ct).into();
    let tampered = format!(
        "-----BEGIN {SIGSTORE_KEY_LABEL}-----\n{}\n-----END {SIGSTORE_KEY_LABEL}-----\n",
        base64_encode(json.to_string().as_bytes())
    );
    assert_eq!(
        reason(KeyPair::read(tampered.as_bytes(), Some(&pw))),
        "decrypt"
    );

    for (input, want) in [
        ("", "bad-key"),
        (
            "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n",
            "bad-key",
        ),
        (
            "-----BEGIN FOO-----\nAAAA\n-----END FOO-----\n",
            "wrong-label",
        ),
    ] {
        assert_eq!(reason(PublicKey::read(input.as_bytes())), want, "{input:?}");
    }
}

#[test]
fn sign_blob_matches_cosign_format_and_detects_tampering() {
    let pair = KeyPair::generate().unwrap();
    let data = b"artifact bytes\n";
    let sig = blob::sign(&pair, data).unwrap();
    assert!(!sig.ends_with('\n'));
    let der = base64_decode(&sig);
    assert_eq!(der[0], 0x30, "ASN.1 DER SEQUENCE");
    assert!((68..=72).contains(&der.len()), "{}", der.len());
    let key = pair.public_key();
    blob::verify(key, &sig, data).unwrap();
    blob::verify(key, &format!("{sig}\n"), data).unwrap();
    assert_eq!(
        reason(blob::verify(key, &sig, b"artifact bytes!\n")),
        "signature"
    );
    let other = KeyPair::generate().unwrap();
    assert_eq!(
        reason(blob::verify(other.public_key(), &sig, data)),
        "signature"
    );
    let mut bad = der.clone();
    bad[der.len() - 1] ^= 1;
    assert_eq!(
        reason(blob::verify(key, &base64_encode(&bad), data)),
        "signature"
    );
    assert_eq!(reason(blob::verify(key, "not base64!", data)), "bad-base64");
    // The signature is over SHA-256 of the blob: check with the digest alone.
    let digest: [u8; 32] = sha2_digest(data);
    key.verify_prehashed(&digest, &der).unwrap();
}

#[test]
fn bundles_written_by_kiln_verify_and_tampering_fails() {
    let dir = tempfile::tempdir().unwrap();
    let pair = KeyPair::generate().unwrap();
    let data = b"release.tar.gz contents";
    let b = Bundle::sign_blob(&pair, data).unwrap();
    let path = dir.path().join("a.sigstore.json");
    bundle::write(&path, &b).unwrap();
    let text = fs::read_to_string(&path).unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        v["mediaType"],
        "application/vnd.dev.sigstore.bundle.v0.3+json"
    );
    assert_eq!(
        v["verificationMaterial"]["publicKey"]["hint"],
        pair.public_key().hint()
    );
    assert_eq!(
        v["messageSignature"]["messageDigest"]["algorithm"],
        "SHA2_256"
    );
    assert_eq!(
        v["messageSignature"]["messageDigest"]["digest"],
        base64_encode(&sha2_digest(data))
    );

    let read = bundle::read(&path).unwrap();
    assert_eq!(read, b);
    let key = pair.public_key();
    let opts = VerifyOptions {
        key: Some(key),
        ..Default::default()
    };
    let ok = bundle::verify(&read, Artifact::Bytes(data), &opts).unwrap();
    assert_eq!(ok.tlog, bundle::TlogStatus::Absent);
    bundle::verify(&read, Artifact::None, &opts).unwrap();
    bundle::verify(&read, Artifact::Sha256(sha2_digest(data)), &opts).unwrap();
    // The message signature is exactly what sign-blob prints.
    blob::verify(
        key,
        &read.message_signature.as_ref().unwrap().signature,
        data,
    )
    .unwrap();

    assert_eq!(
        reason(bundle::verify(&read, Artifact::Bytes(b"other"), &opts)),
        "digest-mismatch"
    );
    assert_eq!(
        reason(bundle::verify(
            &read,
            Artifact::Bytes(data),
            &VerifyOptions::default()
        )),
        "missing-trust"
    );
    let other = KeyPair::generate().unwrap();
    let wrong = VerifyOptions {
        key: Some(other.public_key()),
        ..Default::default()
    };
    assert_eq!(
        reason(bundle::verify(&read, Artifact::Bytes(data), &wrong)),
        "signature"
    );
    let strict = VerifyOptions {
        require_tlog: true,
        ..opts
    };
    assert_eq!(
        reason(bundle::verify(&read, Artifact::Bytes(data), &strict)),
        "tlog-unverified"
    );

    let mut unknown = read.clone();
    unknown.media_type = "application/vnd.dev.sigstore.bundle+json;version=9".into();
    assert_eq!(
        reason(Bundle::from_json(&unknown.to_json())),
        "unknown-media-type"
    );
    assert_eq!(reason(Bundle::from_json(b"{\"mediaType\": 1}")), "not-json");
}

fn sha2_digest(data: &[u8]) -> [u8; 32] {
    use sha2::Digest;
    sha2::Sha256::digest(data).into()
}

fn base64_decode(s: &str) -> Vec<u8> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD
        .decode(s.trim())
        .unwrap()
}

fn base64_encode(b: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(b)
}

#[test]
fn signer_trait_objects_work_for_the_host() {
    let pair = KeyPair::generate().unwrap();
    let signer: Box<dyn Signer> = Box::new(pair);
    let sig = signer.sign(b"bytes from a plugin").unwrap();
    signer
        .public_key()
        .verify(b"bytes from a plugin", &sig)
        .unwrap();
}

#[test]
fn pbes2_encrypted_pkcs8_from_openssl() {
    // `openssl pkcs8 -topk8 -v2 aes-256-cbc -passout pass:kiln` (PBKDF2-SHA256 + AES-256-CBC).
    let data = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data");
    let pem = fs::read(data.join("pbes2-p256.pem")).unwrap();
    let public = PublicKey::read(&fs::read(data.join("pbes2-p256.pub")).unwrap()).unwrap();
    let pair = KeyPair::from_encrypted_pem(&pem, &Password::from("kiln")).unwrap();
    pair.check_public_key(&public).unwrap();
    KeyPair::read(&pem, Some(&Password::from("kiln"))).unwrap();
    assert_eq!(
        reason(KeyPair::from_encrypted_pem(&pem, &Password::from("nope"))),
        "decrypt"
    );
    assert_eq!(reason(KeyPair::read(&pem, None)), "password-required");
}
