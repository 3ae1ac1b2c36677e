//! kiln's built-in signer plugin (`kiln:plugin/signer`): turns each subject's payload (an in-toto
//! Statement, as the host serialised it) into a DSSE v1 envelope.
//!
//! It never sees a private key: it opens the host key it was granted by name, computes the DSSE
//! pre-authentication encoding `PAE(payloadType, payload)` and asks the host to sign those bytes.
//! The envelope is compact JSON `{"payload","payloadType","signatures":[{"keyid","sig"}]}` with
//! standard, padded base64 and `keyid` = lower-case hex sha256 of the key's DER
//! SubjectPublicKeyInfo, the same bytes `kiln-attest` writes, so cosign-style and
//! securesystemslib verifiers accept it.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use sha2::{Digest, Sha256};

wit_bindgen::generate!({
    path: "../../wit/kiln-plugin/v0.1.0",
    world: "signer",
});

use exports::kiln::plugin::signer_plugin::{Guest, Signature, Subject};
use kiln::plugin::signing::{SigningError, SigningKey};
use kiln::plugin::{config, log};

/// The media type of what this plugin returns for each subject.
const MEDIA_TYPE: &str = "application/vnd.dsse.envelope.v1+json";
/// in-toto's DSSE payload type.
const IN_TOTO: &str = "application/vnd.in-toto+json";

#[unsafe(link_section = "kiln:plugin-manifest")]
#[used]
static MANIFEST: [u8; include_bytes!("../kiln-plugin.toml").len()] =
    *include_bytes!("../kiln-plugin.toml");

#[derive(serde::Serialize)]
struct Envelope<'a> {
    payload: String,
    #[serde(rename = "payloadType")]
    payload_type: &'a str,
    signatures: [EnvelopeSignature; 1],
}

#[derive(serde::Serialize)]
struct EnvelopeSignature {
    keyid: String,
    sig: String,
}

/// `DSSEv1 SP len(type) SP type SP len(payload) SP payload`.
fn pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let mut out = format!("DSSEv1 {} {} {} ", payload_type.len(), payload_type, payload.len()).into_bytes();
    out.extend_from_slice(payload);
    out
}

/// Lower-case hex sha256 of the DER inside a `PUBLIC KEY` PEM.
fn key_id(pem: &str) -> Result<String, String> {
    let b64: String = pem.lines().filter(|l| !l.starts_with("-----")).map(str::trim).collect();
    let der = STANDARD.decode(b64.as_bytes()).map_err(|e| format!("the host's public key PEM is not base64: {e}"))?;
    Ok(Sha256::digest(&der).iter().map(|b| format!("{b:02x}")).collect())
}

fn config_string(name: &str, default: &str) -> Result<String, String> {
    match config::get(name) {
        None => Ok(default.to_string()),
        Some(json) => match serde_json::from_str::<serde_json::Value>(&json) {
            Ok(serde_json::Value::String(s)) if !s.is_empty() => Ok(s),
            _ => Err(format!("config `{name}` must be a non-empty string, found {json}")),
        },
    }
}

fn signing_error(e: SigningError) -> String {
    match e {
        SigningError::UnknownKey(m) => format!("unknown key: {m}"),
        SigningError::Unavailable(m) => format!("key unavailable: {m}"),
    }
}

struct DsseSigner;

impl Guest for DsseSigner {
    fn sign(subjects: Vec<Subject>) -> Result<Vec<Signature>, String> {
        let key_name = config_string("key", "provenance")?;
        let payload_type = config_string("payload-type", IN_TOTO)?;
        let key = SigningKey::open(&key_name).map_err(signing_error)?;
        let keyid = key_id(&key.public_key_pem())?;
        let mut out = Vec::with_capacity(subjects.len());
        for s in subjects {
            if s.payload.is_empty() {
                return Err(format!("subject {}: no payload to sign (this signer signs statements, not digests)", s.name));
            }
            let sig = key.sign(&pae(&payload_type, &s.payload)).map_err(signing_error)?;
            let env = Envelope {
                payload: STANDARD.encode(&s.payload),
                payload_type: &payload_type,
                signatures: [EnvelopeSignature { keyid: keyid.clone(), sig: STANDARD.encode(&sig) }],
            };
            let content = serde_json::to_vec(&env).map_err(|e| e.to_string())?;
            log::log(log::Level::Debug, &format!("signed {} ({} bytes of payload)", s.name, s.payload.len()));
            out.push(Signature { subject_name: s.name, media_type: MEDIA_TYPE.to_string(), content });
        }
        Ok(out)
    }
}

export!(DsseSigner);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pae_matches_the_dsse_spec_vector() {
        assert_eq!(pae("http://example.com/HelloWorld", b"hello world"), b"DSSEv1 29 http://example.com/HelloWorld 11 hello world");
    }
}
