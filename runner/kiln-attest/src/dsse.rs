//! DSSE (Dead Simple Signing Envelope) v1: PAE, envelopes, signing, verification, and the
//! `.intoto.jsonl` file format.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::bundle::Bundle;
use crate::error::{Error, Result};
use crate::intoto::{PAYLOAD_TYPE, Statement};
use crate::keys::Signer;
use crate::pubkey::PublicKey;
use crate::util::{
    MAX_DOCUMENT_BYTES, b64, check_size, looks_like_hex, sha256, unb64, write_atomic,
};

/// A DSSE envelope as JSON carries it: base64 payload, its type, and signatures over its PAE.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Envelope {
    /// The payload, base64 (standard alphabet with padding when kiln writes it).
    pub payload: String,
    /// What the payload is, e.g. [`PAYLOAD_TYPE`] for an in-toto Statement.
    #[serde(rename = "payloadType")]
    pub payload_type: String,
    /// Signatures over `PAE(payloadType, payload)`.
    #[serde(default)]
    pub signatures: Vec<EnvelopeSignature>,
}

/// One DSSE signature.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnvelopeSignature {
    /// Optional hint naming the key; never trusted, verification tries every given key.
    #[serde(default)]
    pub keyid: String,
    /// The signature, base64.
    pub sig: String,
    /// A PEM certificate for the signing key (slsa-github-generator v1 writes one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cert: Option<String>,
}

/// The pre-authentication encoding: `DSSEv1 SP len(type) SP type SP len(payload) SP payload`,
/// the exact bytes a DSSE signature covers.
pub fn pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + payload_type.len() + 32);
    out.extend_from_slice(
        format!(
            "DSSEv1 {} {} {} ",
            payload_type.len(),
            payload_type,
            payload.len()
        )
        .as_bytes(),
    );
    out.extend_from_slice(payload);
    out
}

/// Signs `payload` of type `payload_type` into a one-signature envelope. The `keyid` is the
/// signer's [`PublicKey::key_id`].
pub fn sign(payload_type: &str, payload: &[u8], signer: &dyn Signer) -> Result<Envelope> {
    let sig = signer.sign(&pae(payload_type, payload))?;
    Ok(Envelope {
        payload: b64(payload),
        payload_type: payload_type.to_string(),
        signatures: vec![EnvelopeSignature {
            keyid: signer.public_key().key_id(),
            sig: b64(&sig),
            cert: None,
        }],
    })
}

/// Signs an in-toto Statement: payload type [`PAYLOAD_TYPE`], compact JSON payload.
pub fn sign_statement(statement: &Statement, signer: &dyn Signer) -> Result<Envelope> {
    statement.validate()?;
    sign(PAYLOAD_TYPE, &statement.to_json()?, signer)
}

/// Options of [`verify_with`].
#[derive(Debug, Clone, Copy, Default)]
pub struct VerifyOptions {
    /// Also accept signatures over the bare payload instead of its PAE, as Google Cloud Build's
    /// regional keys made them. This drops the binding of the payload type; off by default.
    pub legacy_payload_signatures: bool,
}

/// What a successful verification established.
#[derive(Debug, Clone)]
pub struct Verified {
    /// The decoded payload.
    pub payload: Vec<u8>,
    /// The payload type.
    pub payload_type: String,
    /// Index of the first signature that verified.
    pub signature_index: usize,
    /// The key that verified it.
    pub key: PublicKey,
    /// True when the signature covered the bare payload (legacy mode), not the PAE.
    pub legacy_payload_signature: bool,
}

impl Verified {
    /// The payload as an in-toto Statement (requires payload type [`PAYLOAD_TYPE`]).
    pub fn statement(&self) -> Result<Statement> {
        payload_statement(&self.payload_type, &self.payload)
    }
}

fn payload_statement(payload_type: &str, payload: &[u8]) -> Result<Statement> {
    if payload_type != PAYLOAD_TYPE {
        return Err(Error::malformed(
            "DSSE envelope",
            format!("payloadType is {payload_type:?}, not {PAYLOAD_TYPE}"),
        ));
    }
    Statement::from_json(payload)
}

impl Envelope {
    /// Parses envelope JSON (unknown fields ignored).
    pub fn from_json(bytes: &[u8]) -> Result<Self> {
        check_size("DSSE envelope", bytes.len(), MAX_DOCUMENT_BYTES)?;
        let env: Envelope =
            serde_json::from_slice(bytes).map_err(|e| Error::json("DSSE envelope", e))?;
        if env.payload_type.is_empty() {
            return Err(Error::malformed("DSSE envelope", "empty payloadType"));
        }
        Ok(env)
    }

    /// Compact JSON on one line (no trailing newline).
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// The decoded payload.
    pub fn payload_bytes(&self) -> Result<Vec<u8>> {
        unb64("DSSE payload", &self.payload)
    }

    /// The payload as an in-toto Statement, without checking any signature.
    pub fn statement_unverified(&self) -> Result<Statement> {
        payload_statement(&self.payload_type, &self.payload_bytes()?)
    }
}

/// Verifies that at least one signature of `envelope` was made by one of `keys` over the PAE.
pub fn verify(envelope: &Envelope, keys: &[&PublicKey]) -> Result<Verified> {
    verify_with(envelope, keys, VerifyOptions::default())
}

/// [`verify`] with options.
pub fn verify_with(
    envelope: &Envelope,
    keys: &[&PublicKey],
    options: VerifyOptions,
) -> Result<Verified> {
    let payload = envelope.payload_bytes()?;
    if envelope.signatures.is_empty() {
        return Err(Error::Signature("the envelope has no signatures".into()));
    }
    if keys.is_empty() {
        return Err(Error::Signature("no key to verify with".into()));
    }
    let message = pae(&envelope.payload_type, &payload);
    let mut last = None;
    for (index, signature) in envelope.signatures.iter().enumerate() {
        if looks_like_hex(&signature.sig) {
            last = Some(Error::Signature(format!(
                "signature {index} is hex-encoded (an old in-toto format); DSSE signatures are base64"
            )));
            continue;
        }
        let raw = match unb64("DSSE signature", &signature.sig) {
            Ok(raw) => raw,
            Err(e) => {
                last = Some(e);
                continue;
            }
        };
        for key in keys {
            let mut legacy = false;
            let mut ok = key.verify(&message, &raw).is_ok();
            if !ok && options.legacy_payload_signatures {
                ok = key.verify(&payload, &raw).is_ok();
                legacy = ok;
            }
            if ok {
                return Ok(Verified {
                    payload,
                    payload_type: envelope.payload_type.clone(),
                    signature_index: index,
                    key: (*key).clone(),
                    legacy_payload_signature: legacy,
                });
            }
        }
    }
    Err(last.unwrap_or_else(|| {
        Error::Signature(format!(
            "none of the envelope's {} signature(s) verifies with the {} key(s) given",
            envelope.signatures.len(),
            keys.len()
        ))
    }))
}

/// One line of an `.intoto.jsonl` file: a bare DSSE envelope or a whole Sigstore bundle.
#[derive(Debug, Clone)]
pub enum Attestation {
    /// A DSSE envelope (`payloadType` present).
    Envelope(Envelope),
    /// A Sigstore bundle (`mediaType` present).
    Bundle(Box<Bundle>),
}

/// Parses an `.intoto.jsonl` (or `.build.slsa`, `.sigstore.json`) file: one JSON document per
/// non-empty line, each sniffed as an envelope or a bundle. A file holding one pretty-printed
/// document is accepted too.
pub fn parse_jsonl(bytes: &[u8]) -> Result<Vec<Attestation>> {
    check_size("attestation file", bytes.len(), MAX_DOCUMENT_BYTES)?;
    let text = std::str::from_utf8(bytes).map_err(|e| Error::json("attestation file", e))?;
    let documents: Vec<&str> = if serde_json::from_str::<serde::de::IgnoredAny>(text).is_ok() {
        vec![text.trim()]
    } else {
        text.lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect()
    };
    let mut out = Vec::new();
    for line in documents {
        let value: serde_json::Value =
            serde_json::from_str(line).map_err(|e| Error::json("attestation line", e))?;
        if value.get("payloadType").is_some() {
            out.push(Attestation::Envelope(Envelope::from_json(line.as_bytes())?));
        } else if value.get("mediaType").is_some() {
            out.push(Attestation::Bundle(Box::new(Bundle::from_json(
                line.as_bytes(),
            )?)));
        } else {
            return Err(Error::malformed(
                "attestation line",
                "neither a DSSE envelope nor a Sigstore bundle",
            ));
        }
    }
    if out.is_empty() {
        return Err(Error::malformed("attestation file", "no attestation in it"));
    }
    Ok(out)
}

/// The bytes of an `.intoto.jsonl` file holding `envelopes`: one compact envelope per line, each
/// line ending in `\n`.
pub fn to_jsonl(envelopes: &[Envelope]) -> Vec<u8> {
    let mut out = Vec::new();
    for env in envelopes {
        out.extend_from_slice(&env.to_json());
        out.push(b'\n');
    }
    out
}

/// Writes `envelopes` to `path` as `.intoto.jsonl`, atomically (see [`crate::util::write_atomic`]).
pub fn write_jsonl(path: &Path, envelopes: &[Envelope]) -> Result<()> {
    write_atomic(path, &to_jsonl(envelopes), 0o644)
}

/// Hex SHA-256 of an envelope's JSON as written (for logs and reports).
pub fn envelope_digest(envelope: &Envelope) -> String {
    hex::encode(sha256(&envelope.to_json()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pae_matches_the_specification() {
        assert_eq!(
            pae("application/vnd.in-toto+json", b"{}"),
            b"DSSEv1 28 application/vnd.in-toto+json 2 {}"
        );
        assert_eq!(pae("", b""), b"DSSEv1 0  0 ");
        // The spec's own test vector.
        assert_eq!(
            pae("http://example.com/HelloWorld", b"hello world"),
            b"DSSEv1 29 http://example.com/HelloWorld 11 hello world"
        );
    }

    #[test]
    fn parse_rejects_garbage() {
        assert_eq!(Envelope::from_json(b"{").unwrap_err().reason(), "not-json");
        assert_eq!(
            Envelope::from_json(br#"{"payload":"e30=","payloadType":""}"#)
                .unwrap_err()
                .reason(),
            "malformed"
        );
        assert_eq!(parse_jsonl(b"\n\n").unwrap_err().reason(), "malformed");
        assert_eq!(
            parse_jsonl(b"{\"x\":1}\n").unwrap_err().reason(),
            "malformed"
        );
    }
}
