//! `cosign sign-blob --key` / `cosign verify-blob --key`, byte for byte.
//!
//! The signature is made over the blob itself (for ECDSA P-256: over SHA-256 of the blob, ASN.1
//! DER) and printed as standard base64 with padding, no newline.

use crate::error::Result;
use crate::keys::Signer;
use crate::pubkey::PublicKey;
use crate::trust::{
    CertificateIdentity, TrustedRoot, certificate_identity, certificates_from_pem,
    verify_certificate,
};
use crate::util::{b64, unb64};

/// Signs `blob` and returns the base64 signature exactly as `cosign sign-blob --key` prints it.
pub fn sign(signer: &dyn Signer, blob: &[u8]) -> Result<String> {
    Ok(b64(&signer.sign(blob)?))
}

/// Decodes the text of a `.sig` file (base64; surrounding whitespace and a trailing newline are
/// ignored).
pub fn decode_signature(text: &str) -> Result<Vec<u8>> {
    unb64("signature", text)
}

/// Verifies a `cosign sign-blob` signature (the base64 text, as in a `.sig` file) over `blob`.
pub fn verify(key: &PublicKey, signature: &str, blob: &[u8]) -> Result<()> {
    key.verify(blob, &decode_signature(signature)?)
}

/// Verifies a keyless `cosign sign-blob` signature: `signature` (base64) over `blob` by the key
/// of the leaf in `certificate_pem` (a leaf, optionally followed by its chain), then the chain
/// against `trusted_root`.
///
/// Without a transparency-log entry the signing time is unknown, so the chain is checked at the
/// certificate's own start of validity; callers should say so. Without a trusted root the
/// result is [`crate::Error::MissingTrust`] (after the signature itself has been checked).
pub fn verify_with_certificate(
    certificate_pem: &[u8],
    signature: &str,
    blob: &[u8],
    trusted_root: Option<&TrustedRoot>,
) -> Result<CertificateIdentity> {
    let certs = certificates_from_pem(certificate_pem)?;
    let key = PublicKey::from_certificate_der(&certs[0])?;
    verify(&key, signature, blob)?;
    let root = trusted_root.ok_or_else(|| {
        crate::Error::MissingTrust("the signature is valid for the certificate's key, but trusting the certificate needs a Sigstore trusted root".into())
    })?;
    let at = certificate_identity(&certs[0])?.not_before;
    Ok(verify_certificate(&certs[0], &certs[1..], root, at)?.0)
}
