//! Sigstore bundles (the JSON form of protobuf `Bundle`): read v0.1-v0.3, write v0.3 with a
//! public-key hint, verify offline.
//!
//! A key-signed bundle verifies with the key alone; its transparency-log entries, if any, are
//! checked against the bundle's content always, and against the log's key when a
//! [`crate::trust::TrustedRoot`] is given. A certificate-signed bundle needs a trusted root (Fulcio CA, Rekor
//! key) and fails with [`Error::MissingTrust`] without one.

use std::path::Path;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::dsse::Envelope;
use crate::error::{Error, Result};
use crate::keys::Signer;
use crate::pubkey::PublicKey;
use crate::util::{MAX_DOCUMENT_BYTES, b64, check_size, read_limited, sha256, write_atomic};

/// The media type kiln writes.
pub const MEDIA_TYPE_V0_3: &str = "application/vnd.dev.sigstore.bundle.v0.3+json";
/// Every media type accepted when reading.
pub const KNOWN_MEDIA_TYPES: [&str; 4] = [
    "application/vnd.dev.sigstore.bundle+json;version=0.1",
    "application/vnd.dev.sigstore.bundle+json;version=0.2",
    "application/vnd.dev.sigstore.bundle+json;version=0.3",
    MEDIA_TYPE_V0_3,
];

/// A protobuf int64, which the JSON mapping writes as a string (numbers accepted on read).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Int64(pub i64);

impl Serialize for Int64 {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(&self.0.to_string())
    }
}

impl<'de> Deserialize<'de> for Int64 {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Either {
            S(String),
            N(i64),
        }
        match Either::deserialize(d)? {
            Either::N(n) => Ok(Int64(n)),
            Either::S(s) => s.parse().map(Int64).map_err(serde::de::Error::custom),
        }
    }
}

/// A Sigstore bundle. Base64 fields are kept as text and decoded when verifying, so a bad
/// encoding is reported as such ([`Error::Base64`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Bundle {
    /// One of [`KNOWN_MEDIA_TYPES`].
    pub media_type: String,
    /// Key hint or certificate, log entries, timestamps.
    pub verification_material: VerificationMaterial,
    /// A signature over an artifact (exclusive with `dsse_envelope`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_signature: Option<MessageSignature>,
    /// A DSSE envelope with exactly one signature (exclusive with `message_signature`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dsse_envelope: Option<Envelope>,
}

/// `verificationMaterial`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VerificationMaterial {
    /// A public key, named by an opaque hint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_key: Option<PublicKeyHint>,
    /// v0.1/v0.2: certificate chain, leaf first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub x509_certificate_chain: Option<CertificateChain>,
    /// v0.3: the leaf certificate alone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate: Option<RawBytes>,
    /// Transparency-log entries.
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "null_as_default"
    )]
    pub tlog_entries: Vec<TlogEntry>,
    /// RFC 3161 timestamps (kept, not verified).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp_verification_data: Option<serde_json::Value>,
}

fn null_as_default<'de, D: Deserializer<'de>, T: Default + Deserialize<'de>>(
    d: D,
) -> std::result::Result<T, D::Error> {
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// `publicKey`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PublicKeyHint {
    /// Opaque key hint (kiln writes base64 SHA-256 of the DER key).
    #[serde(default)]
    pub hint: String,
}

/// `x509CertificateChain`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CertificateChain {
    /// Leaf first.
    #[serde(default)]
    pub certificates: Vec<RawBytes>,
}

/// `{ "rawBytes": "<base64 DER>" }`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RawBytes {
    /// Base64 DER.
    pub raw_bytes: String,
}

/// `messageSignature`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MessageSignature {
    /// The artifact's digest (a hint that verifiers must still compare with the artifact).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_digest: Option<MessageDigest>,
    /// Base64 signature, the same string `cosign sign-blob` prints.
    pub signature: String,
}

/// `messageDigest`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MessageDigest {
    /// `SHA2_256`.
    pub algorithm: String,
    /// Base64 digest.
    pub digest: String,
}

/// A Rekor transparency-log entry.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TlogEntry {
    /// Index in the log.
    pub log_index: Int64,
    /// The log's id.
    pub log_id: LogId,
    /// Kind and version of the logged body.
    pub kind_version: KindVersion,
    /// When the log integrated the entry (Unix seconds).
    pub integrated_time: Int64,
    /// The log's signed promise to include the entry (SET).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inclusion_promise: Option<InclusionPromise>,
    /// Merkle inclusion proof.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inclusion_proof: Option<InclusionProof>,
    /// Base64 of the logged body JSON.
    pub canonicalized_body: String,
}

/// `logId`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LogId {
    /// Base64 SHA-256 of the log's key.
    pub key_id: String,
}

/// `kindVersion`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct KindVersion {
    /// `hashedrekord`, `dsse`, `intoto`, ...
    pub kind: String,
    /// `0.0.1`, ...
    pub version: String,
}

/// `inclusionPromise`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InclusionPromise {
    /// Base64 signature of the log over the entry.
    pub signed_entry_timestamp: String,
}

/// `inclusionProof`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InclusionProof {
    /// Leaf index in this tree.
    pub log_index: Int64,
    /// Base64 root hash.
    pub root_hash: String,
    /// Tree size.
    pub tree_size: Int64,
    /// Base64 audit path.
    #[serde(default)]
    pub hashes: Vec<String>,
    /// Signed checkpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checkpoint: Option<Checkpoint>,
}

/// `checkpoint`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// The signed note text.
    pub envelope: String,
}

impl Bundle {
    /// Parses bundle JSON, refusing unknown media types.
    pub fn from_json(bytes: &[u8]) -> Result<Self> {
        check_size("Sigstore bundle", bytes.len(), MAX_DOCUMENT_BYTES)?;
        let bundle: Bundle =
            serde_json::from_slice(bytes).map_err(|e| Error::json("Sigstore bundle", e))?;
        bundle.check_media_type()?;
        Ok(bundle)
    }

    fn check_media_type(&self) -> Result<()> {
        if KNOWN_MEDIA_TYPES.contains(&self.media_type.as_str()) {
            Ok(())
        } else {
            Err(Error::UnknownMediaType(self.media_type.clone()))
        }
    }

    /// Compact JSON.
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// A v0.3 bundle for a blob: `messageSignature` (SHA-256 digest + the `sign-blob` signature)
    /// and the signer's key hint. No log entry: kiln works offline, so verifiers that insist on
    /// one need their "ignore tlog" switch (cosign `--insecure-ignore-tlog`).
    pub fn sign_blob(signer: &dyn Signer, blob: &[u8]) -> Result<Self> {
        Ok(Bundle {
            media_type: MEDIA_TYPE_V0_3.to_string(),
            verification_material: key_material(signer.public_key()),
            message_signature: Some(MessageSignature {
                message_digest: Some(MessageDigest {
                    algorithm: "SHA2_256".into(),
                    digest: b64(&sha256(blob)),
                }),
                signature: b64(&signer.sign(blob)?),
            }),
            dsse_envelope: None,
        })
    }

    /// A v0.3 bundle around a one-signature DSSE envelope signed by `key`.
    pub fn for_envelope(envelope: Envelope, key: &PublicKey) -> Result<Self> {
        if envelope.signatures.len() != 1 {
            return Err(Error::malformed(
                "Sigstore bundle",
                "a bundle's DSSE envelope needs exactly one signature",
            ));
        }
        Ok(Bundle {
            media_type: MEDIA_TYPE_V0_3.to_string(),
            verification_material: key_material(key),
            message_signature: None,
            dsse_envelope: Some(envelope),
        })
    }
}

fn key_material(key: &PublicKey) -> VerificationMaterial {
    VerificationMaterial {
        public_key: Some(PublicKeyHint { hint: key.hint() }),
        ..Default::default()
    }
}

/// Writes `bundle` to `path` atomically.
pub fn write(path: &Path, bundle: &Bundle) -> Result<()> {
    write_atomic(path, &bundle.to_json(), 0o644)
}

/// Reads and parses a bundle file.
pub fn read(path: &Path) -> Result<Bundle> {
    Bundle::from_json(&read_limited(path, "Sigstore bundle", MAX_DOCUMENT_BYTES)?)
}

mod verify;

pub use verify::{Artifact, SignerIdentity, TlogStatus, Verified, VerifyOptions, verify};
