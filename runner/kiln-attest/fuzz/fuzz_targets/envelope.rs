//! DSSE envelopes, `.intoto.jsonl` files, Sigstore bundles and in-toto statements: parsing and
//! verification must return an error, never panic, on any input.
#![no_main]

use std::sync::OnceLock;

use kiln_attest::bundle::{self, Artifact, Bundle, VerifyOptions};
use kiln_attest::dsse::{self, Envelope};
use kiln_attest::intoto::Statement;
use kiln_attest::{KeyPair, PublicKey};
use libfuzzer_sys::fuzz_target;

fn key() -> &'static PublicKey {
    static KEY: OnceLock<KeyPair> = OnceLock::new();
    KEY.get_or_init(|| KeyPair::generate().expect("generate")).public_key()
}

fuzz_target!(|data: &[u8]| {
    if let Ok(env) = Envelope::from_json(data) {
        let _ = dsse::verify(&env, &[key()]);
        let _ = env.statement_unverified();
    }
    let _ = dsse::parse_jsonl(data);
    if let Ok(b) = Bundle::from_json(data) {
        let options = VerifyOptions { key: Some(key()), ..Default::default() };
        let _ = bundle::verify(&b, Artifact::None, &options);
        let _ = bundle::verify(&b, Artifact::Bytes(data), &options);
    }
    if let Ok(st) = Statement::from_json(data) {
        let _ = kiln_attest::slsa::Provenance::from_statement(&st);
    }
});
