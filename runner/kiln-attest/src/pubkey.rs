//! Public keys: reading (`cosign.pub` PEM, DER, the key of an X.509 certificate), writing, hints,
//! and signature verification for every algorithm cosign and its neighbours use.

use aws_lc_rs::digest::{Digest, SHA256, SHA384, SHA512};
use aws_lc_rs::signature::{self as sig, ParsedPublicKey, VerificationAlgorithm};
use sigstore::crypto::{CosignVerificationKey, Signature as SigstoreSignature};
use x509_cert::Certificate;
use x509_cert::der::{Decode, Encode};

use crate::error::{Error, Result};
use crate::util::{MAX_KEY_BYTES, b64, check_size, sha256};

/// A signature algorithm family, as far as kiln needs to tell them apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Algorithm {
    /// ECDSA on NIST P-256 with SHA-256: cosign's default and what kiln generates.
    EcdsaP256,
    /// ECDSA on NIST P-384 with SHA-384.
    EcdsaP384,
    /// ECDSA on NIST P-521 with SHA-512.
    EcdsaP521,
    /// Ed25519 (pure, no pre-hash).
    Ed25519,
    /// RSA with SHA-256 (PKCS#1 v1.5 when signing; PKCS#1 v1.5 or PSS accepted when verifying).
    Rsa,
}

impl Algorithm {
    /// A short name for messages.
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::EcdsaP256 => "ECDSA P-256",
            Algorithm::EcdsaP384 => "ECDSA P-384",
            Algorithm::EcdsaP521 => "ECDSA P-521",
            Algorithm::Ed25519 => "Ed25519",
            Algorithm::Rsa => "RSA",
        }
    }
}

/// A public key (any [`Algorithm`]), validated when constructed.
#[derive(Clone)]
pub struct PublicKey {
    spki_der: Vec<u8>,
    algorithm: Algorithm,
    sigstore: CosignVerificationKey,
    parsed: ParsedPublicKey,
}

impl std::fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PublicKey")
            .field("algorithm", &self.algorithm)
            .field("hint", &self.hint())
            .finish()
    }
}

impl PartialEq for PublicKey {
    fn eq(&self, other: &Self) -> bool {
        self.spki_der == other.spki_der
    }
}

impl Eq for PublicKey {}

fn primary_alg(algorithm: Algorithm) -> &'static dyn VerificationAlgorithm {
    match algorithm {
        Algorithm::EcdsaP256 => &sig::ECDSA_P256_SHA256_ASN1,
        Algorithm::EcdsaP384 => &sig::ECDSA_P384_SHA384_ASN1,
        Algorithm::EcdsaP521 => &sig::ECDSA_P521_SHA512_ASN1,
        Algorithm::Ed25519 => &sig::ED25519,
        Algorithm::Rsa => &sig::RSA_PKCS1_2048_8192_SHA256,
    }
}

impl PublicKey {
    /// Builds a key from DER SubjectPublicKeyInfo, checking that it is a usable key (for EC keys:
    /// a point on the named curve).
    pub fn from_spki_der(spki_der: &[u8]) -> Result<Self> {
        check_size("public key", spki_der.len(), MAX_KEY_BYTES)?;
        let sigstore = CosignVerificationKey::try_from_der(spki_der).map_err(|e| match e {
            sigstore::errors::SigstoreError::PublicKeyUnsupportedAlgorithmError(m) => {
                Error::UnsupportedKey(m)
            }
            other => Error::BadKey(format!("not a SubjectPublicKeyInfo: {other}")),
        })?;
        let algorithm = match sigstore {
            CosignVerificationKey::ECDSA_P256_SHA256_ASN1(_) => Algorithm::EcdsaP256,
            CosignVerificationKey::ECDSA_P384_SHA384_ASN1(_) => Algorithm::EcdsaP384,
            CosignVerificationKey::ECDSA_P521_SHA512_ASN1(_) => Algorithm::EcdsaP521,
            CosignVerificationKey::ED25519(_) => Algorithm::Ed25519,
            CosignVerificationKey::RSA_PKCS1_SHA256(_)
            | CosignVerificationKey::RSA_PSS_SHA256(_) => Algorithm::Rsa,
        };
        let parsed = ParsedPublicKey::new(primary_alg(algorithm), spki_der).map_err(|e| {
            Error::BadKey(format!(
                "the {} public key does not decode to a valid key: {e}",
                algorithm.name()
            ))
        })?;
        Ok(PublicKey {
            spki_der: spki_der.to_vec(),
            algorithm,
            sigstore,
            parsed,
        })
    }

    /// Reads the public key of a DER X.509 certificate.
    pub fn from_certificate_der(cert_der: &[u8]) -> Result<Self> {
        let cert = Certificate::from_der(cert_der)
            .map_err(|e| Error::BadKey(format!("not an X.509 certificate: {e}")))?;
        let spki = cert
            .tbs_certificate()
            .subject_public_key_info()
            .to_der()
            .map_err(|e| Error::BadKey(e.to_string()))?;
        Self::from_spki_der(&spki)
    }

    /// Reads a PEM public key: `PUBLIC KEY` (as `cosign.pub`, any line wrapping) or the first
    /// `CERTIFICATE` of a chain.
    pub fn from_pem(pem_bytes: &[u8]) -> Result<Self> {
        check_size("public key", pem_bytes.len(), MAX_KEY_BYTES)?;
        let blocks = crate::pem::parse(pem_bytes)?;
        let Some(block) = blocks.iter().find(|b| b.label != "EC PARAMETERS") else {
            return Err(Error::Pem("only an EC PARAMETERS block, no key".into()));
        };
        match block.label.as_str() {
            "PUBLIC KEY" => Self::from_spki_der(&block.contents),
            "CERTIFICATE" => Self::from_certificate_der(&block.contents),
            other => Err(Error::WrongLabel {
                found: other.to_string(),
                expected: "PUBLIC KEY or CERTIFICATE",
            }),
        }
    }

    /// Reads a public key in any encoding kiln accepts: PEM (see [`PublicKey::from_pem`]), DER
    /// SubjectPublicKeyInfo, or a DER certificate.
    pub fn read(bytes: &[u8]) -> Result<Self> {
        check_size("public key", bytes.len(), MAX_KEY_BYTES)?;
        if crate::pem::is_pem(bytes) {
            return Self::from_pem(bytes);
        }
        Self::from_spki_der(bytes)
            .or_else(|spki_err| Self::from_certificate_der(bytes).map_err(|_| spki_err))
    }

    /// The key's algorithm.
    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// DER SubjectPublicKeyInfo.
    pub fn spki_der(&self) -> &[u8] {
        &self.spki_der
    }

    /// PEM as cosign writes `cosign.pub`: `PUBLIC KEY`, 64-character lines, final newline.
    pub fn to_pem(&self) -> String {
        pem_encode("PUBLIC KEY", &self.spki_der)
    }

    /// The Sigstore bundle key hint: base64 of SHA-256 of the DER SubjectPublicKeyInfo.
    pub fn hint(&self) -> String {
        b64(&sha256(&self.spki_der))
    }

    /// A DSSE `keyid` for this key: lowercase hex SHA-256 of the DER SubjectPublicKeyInfo.
    pub fn key_id(&self) -> String {
        hex::encode(sha256(&self.spki_der))
    }

    /// Verifies `signature` (raw bytes, not base64) over `message`.
    ///
    /// ECDSA hashes the message with the curve's hash (P-384 also with SHA-256, as older
    /// sigstore-python signed) and accepts ASN.1 DER signatures and, as Google's signers emit
    /// them, fixed-size `r || s`; Ed25519 is pure; RSA accepts PKCS#1 v1.5 and PSS with SHA-256.
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> Result<()> {
        if self
            .sigstore
            .verify_signature(SigstoreSignature::Raw(signature), message)
            .is_ok()
            || self.fallbacks(None).iter().any(|alg| {
                sig::UnparsedPublicKey::new(*alg, &self.spki_der)
                    .verify(message, signature)
                    .is_ok()
            })
        {
            return Ok(());
        }
        Err(Error::Signature(format!(
            "the {} signature does not match this key and data",
            self.algorithm.name()
        )))
    }

    /// Verifies `signature` over a message of which only the digest is known (a bundle's
    /// `messageDigest`). Not possible for Ed25519, which signs the message itself.
    pub fn verify_prehashed(&self, digest: &[u8], signature: &[u8]) -> Result<()> {
        if self.algorithm == Algorithm::Ed25519 {
            return Err(Error::Signature(
                "Ed25519 signatures cannot be checked against a digest alone".into(),
            ));
        }
        let hash = match digest.len() {
            32 => &SHA256,
            48 => &SHA384,
            64 => &SHA512,
            n => {
                return Err(Error::DigestMismatch(format!(
                    "a {n}-byte digest is not SHA-256, SHA-384 or SHA-512"
                )));
            }
        };
        let digest = Digest::import_less_safe(digest, hash)
            .map_err(|_| Error::DigestMismatch("the digest cannot be imported".into()))?;
        let primary_ok = self.parsed.verify_digest_sig(&digest, signature).is_ok();
        if primary_ok
            || self.fallbacks(Some(hash.output_len())).iter().any(|alg| {
                sig::UnparsedPublicKey::new(*alg, &self.spki_der)
                    .verify_digest(&digest, signature)
                    .is_ok()
            })
        {
            return Ok(());
        }
        Err(Error::Signature(format!(
            "the {} signature does not match this key and digest",
            self.algorithm.name()
        )))
    }

    /// Algorithms tried after the primary one: other hashes seen in the wild, fixed-size ECDSA,
    /// RSA-PSS. `digest_len` restricts them to one hash size.
    fn fallbacks(&self, digest_len: Option<usize>) -> Vec<&'static dyn VerificationAlgorithm> {
        let all: Vec<(&'static dyn VerificationAlgorithm, usize)> = match self.algorithm {
            Algorithm::EcdsaP256 => vec![
                (&sig::ECDSA_P256_SHA256_ASN1, 32),
                (&sig::ECDSA_P256_SHA256_FIXED, 32),
            ],
            Algorithm::EcdsaP384 => vec![
                (&sig::ECDSA_P384_SHA384_ASN1, 48),
                (&sig::ECDSA_P384_SHA256_ASN1, 32),
                (&sig::ECDSA_P384_SHA384_FIXED, 48),
            ],
            Algorithm::EcdsaP521 => vec![(&sig::ECDSA_P521_SHA512_ASN1, 64)],
            Algorithm::Ed25519 => vec![],
            Algorithm::Rsa => vec![
                (&sig::RSA_PKCS1_2048_8192_SHA256, 32),
                (&sig::RSA_PSS_2048_8192_SHA256, 32),
            ],
        };
        all.into_iter()
            .filter(|(_, len)| digest_len.is_none_or(|d| d == *len))
            .map(|(alg, _)| alg)
            .collect()
    }
}

/// PEM with `\n` line endings and 64-character lines, as cosign and OpenSSL write it.
pub(crate) fn pem_encode(label: &str, der: &[u8]) -> String {
    let body = b64(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for chunk in body.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(chunk).unwrap_or_default());
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}
