//! Private keys (encrypted cosign PEM, PKCS#8, SEC1, PKCS#1, DER), public keys and certificates:
//! reading must return an error, never panic, on any input.
#![no_main]

use kiln_attest::trust;
use kiln_attest::{KeyPair, Password, PublicKey};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = PublicKey::read(data);
    let _ = KeyPair::read(data, None);
    // With a password, scrypt runs for well-formed cosign envelopes: slow but bounded (only
    // the parameters cosign writes are accepted).
    let _ = KeyPair::read(data, Some(&Password::from("fuzz")));
    if let Ok(certs) = trust::certificates_from_pem(data) {
        let _ = trust::certificate_identity(&certs[0]);
    }
    let _ = trust::TrustedRoot::from_json(data);
    let _ = kiln_attest::blob::decode_signature(&String::from_utf8_lossy(data));
});
