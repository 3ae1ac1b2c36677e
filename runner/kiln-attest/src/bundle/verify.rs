//! Offline verification of Sigstore bundles.

use super::Bundle;
use crate::dsse;
use crate::error::{Error, Result};
use crate::intoto::{PAYLOAD_TYPE, Statement};
use crate::pubkey::PublicKey;
use crate::tlog::{self, Signed};
use crate::trust::{
    CertificateIdentity, SctVerified, TrustedRoot, verify_certificate, verify_embedded_sct,
};
use crate::util::{sha256, unb64};

/// What the bundle is checked against.
#[derive(Debug, Clone, Copy)]
pub enum Artifact<'a> {
    /// The artifact's bytes.
    Bytes(&'a [u8]),
    /// Only the artifact's SHA-256.
    Sha256([u8; 32]),
    /// No artifact: a `messageSignature` is checked against its own `messageDigest`, a DSSE
    /// envelope against nothing beyond its signature.
    None,
}

/// Trust material for [`verify`].
#[derive(Debug, Clone, Copy, Default)]
pub struct VerifyOptions<'a> {
    /// The public key, for bundles whose material is a `publicKey` hint.
    pub key: Option<&'a PublicKey>,
    /// Fulcio CAs and Rekor keys, for certificate bundles and log-entry authenticity.
    pub trusted_root: Option<&'a TrustedRoot>,
    /// Fail unless at least one log entry is verified against the trusted root.
    pub require_tlog: bool,
}

/// How the signer was identified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignerIdentity {
    /// A public key given by the caller.
    Key {
        /// Its hint.
        hint: String,
    },
    /// A Fulcio certificate that chains to the trusted root.
    Certificate(CertificateIdentity),
}

/// The state of a bundle's transparency-log evidence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TlogStatus {
    /// The bundle has no log entry.
    Absent,
    /// A log entry was verified with the log's key from the trusted root.
    Verified {
        /// The entry's index.
        log_index: i64,
        /// Integration time, when vouched for by a signed entry timestamp.
        integrated_time: Option<i64>,
    },
    /// Entries exist (and match the bundle) but could not be authenticated; says why.
    Unverified(String),
}

/// A successful bundle verification.
#[derive(Debug, Clone)]
pub struct Verified {
    /// Who signed.
    pub signer: SignerIdentity,
    /// Log evidence.
    pub tlog: TlogStatus,
    /// The in-toto Statement, for DSSE bundles carrying one.
    pub statement: Option<Statement>,
    /// The certificate's embedded signed certificate timestamp, for certificate bundles.
    pub certificate_transparency: Option<SctVerified>,
    /// Things the caller should know (unchecked parts).
    pub notes: Vec<String>,
}

/// Verifies `bundle` offline against `artifact` with the given trust material.
///
/// Checks, in order: media type; content shape; base64; every log entry's kind against its
/// body; the in-toto Statement (DSSE); artifact digest; signature; log entries against the
/// bundle's content; log authenticity (with a trusted root); the certificate chain at the
/// log's integration time (or, lacking one, the certificate's own start, with a note); the
/// certificate's embedded SCT against the trusted root's certificate-transparency logs. Who the
/// certificate names is the caller's to check ([`crate::trust::IdentityPolicy`]).
pub fn verify(
    bundle: &Bundle,
    artifact: Artifact<'_>,
    options: &VerifyOptions<'_>,
) -> Result<Verified> {
    bundle.check_media_type()?;
    let mut notes = Vec::new();
    let vm = &bundle.verification_material;
    let (signed_sig, dsse_payload) = match (&bundle.message_signature, &bundle.dsse_envelope) {
        (Some(m), None) => (unb64("messageSignature.signature", &m.signature)?, None),
        (None, Some(env)) => {
            if env.signatures.len() != 1 {
                return Err(Error::malformed(
                    "Sigstore bundle",
                    format!(
                        "DSSE envelope has {} signatures, bundles need exactly one",
                        env.signatures.len()
                    ),
                ));
            }
            (
                unb64("DSSE signature", &env.signatures[0].sig)?,
                Some(env.payload_bytes()?),
            )
        }
        _ => {
            return Err(Error::malformed(
                "Sigstore bundle",
                "needs exactly one of messageSignature and dsseEnvelope",
            ));
        }
    };
    let certs: Vec<Vec<u8>> = match (&vm.certificate, &vm.x509_certificate_chain) {
        (Some(c), _) => vec![unb64("certificate", &c.raw_bytes)?],
        (None, Some(chain)) => chain
            .certificates
            .iter()
            .map(|c| unb64("certificate", &c.raw_bytes))
            .collect::<Result<_>>()?,
        (None, None) => Vec::new(),
    };
    let bodies = vm
        .tlog_entries
        .iter()
        .map(tlog::decode_body)
        .collect::<Result<Vec<_>>>()?;

    let mut statement = None;
    if let (Some(env), Some(payload)) = (&bundle.dsse_envelope, &dsse_payload)
        && env.payload_type == PAYLOAD_TYPE
    {
        statement = Some(Statement::from_json(payload)?);
    }

    let key = match (vm.public_key.as_ref(), certs.first()) {
        (_, Some(leaf)) => {
            if options.trusted_root.is_none() {
                return Err(Error::MissingTrust(
                    "this bundle is signed with a certificate: verifying it needs a Sigstore trusted root (Fulcio CA and Rekor keys)".into(),
                ));
            }
            PublicKey::from_certificate_der(leaf)?
        }
        (Some(hint), None) => {
            let key = options.key.ok_or_else(|| {
                Error::MissingTrust(format!(
                    "this bundle is signed with a public key (hint {:?}): the key is needed",
                    hint.hint
                ))
            })?;
            if !hint.hint.is_empty()
                && hint.hint != key.hint()
                && unb64("hint", &hint.hint).is_ok_and(|h| h.len() == 32)
            {
                notes.push(format!(
                    "the bundle's key hint {} is not this key's ({})",
                    hint.hint,
                    key.hint()
                ));
            }
            key.clone()
        }
        (None, None) => {
            return Err(Error::malformed(
                "Sigstore bundle",
                "no verification material (key hint or certificate)",
            ));
        }
    };

    // Digest, then signature.
    let digest: [u8; 32];
    match (&bundle.message_signature, &bundle.dsse_envelope) {
        (Some(m), _) => {
            let logged = m
                .message_digest
                .as_ref()
                .map(|d| unb64("messageDigest.digest", &d.digest))
                .transpose()?;
            digest = match artifact {
                Artifact::Bytes(b) => sha256(b),
                Artifact::Sha256(d) => d,
                Artifact::None => {
                    let d = logged.clone().ok_or_else(|| {
                        Error::malformed(
                            "Sigstore bundle",
                            "no artifact given and no messageDigest",
                        )
                    })?;
                    notes.push(
                        "no artifact given: checked against the bundle's own messageDigest".into(),
                    );
                    d.try_into().map_err(|_| {
                        Error::DigestMismatch("messageDigest is not a SHA-256 digest".into())
                    })?
                }
            };
            if let Some(l) = &logged
                && l.as_slice() != digest
            {
                return Err(Error::DigestMismatch(
                    "the bundle's messageDigest is not the artifact's SHA-256".into(),
                ));
            }
            match artifact {
                Artifact::Bytes(b) => key.verify(b, &signed_sig)?,
                _ => key.verify_prehashed(&digest, &signed_sig)?,
            }
        }
        (None, Some(env)) => {
            if let Some(st) = &statement {
                match artifact {
                    Artifact::Bytes(b) => {
                        st.subject_for(b)?;
                    }
                    Artifact::Sha256(d) => {
                        st.subject_by_sha256(&hex::encode(d)).ok_or_else(|| {
                            Error::DigestMismatch(
                                "the artifact's SHA-256 is not a subject of the statement".into(),
                            )
                        })?;
                    }
                    Artifact::None => {}
                }
            } else if !matches!(artifact, Artifact::None) {
                notes.push(format!(
                    "payload type {:?} has no subjects to check the artifact against",
                    env.payload_type
                ));
            }
            dsse::verify(env, &[&key])?;
            digest = [0; 32];
        }
        (None, None) => return Err(Error::malformed("Sigstore bundle", "no content")),
    }

    // Log entries must describe this bundle.
    let signed = match &dsse_payload {
        Some(payload) => Signed::Dsse {
            payload,
            signature: &signed_sig,
        },
        None => Signed::Message {
            digest: &digest,
            signature: &signed_sig,
        },
    };
    for body in &bodies {
        if let Some(note) = tlog::check_body(body, &signed, &key)? {
            notes.push(note);
        }
    }
    let mut tlog_status = if vm.tlog_entries.is_empty() {
        TlogStatus::Absent
    } else {
        TlogStatus::Unverified("no trusted root given to check the log's signature".into())
    };
    if let Some(root) = options.trusted_root
        && !vm.tlog_entries.is_empty()
    {
        let rank = |s: &TlogStatus| match s {
            TlogStatus::Verified {
                integrated_time: Some(_),
                ..
            } => 2,
            TlogStatus::Verified { .. } => 1,
            _ => 0,
        };
        let statuses = vm
            .tlog_entries
            .iter()
            .map(|e| tlog::verify_entry(e, root))
            .collect::<Result<Vec<_>>>()?;
        if let Some(best) = statuses
            .into_iter()
            .reduce(|a, b| if rank(&b) > rank(&a) { b } else { a })
        {
            tlog_status = best;
        }
    }
    if options.require_tlog {
        match &tlog_status {
            TlogStatus::Verified { .. } => {}
            TlogStatus::Absent => {
                return Err(Error::TlogUnverified(
                    "the bundle has no transparency-log entry, and one is required".into(),
                ));
            }
            TlogStatus::Unverified(why) => {
                return Err(Error::TlogUnverified(format!(
                    "no log entry is vouched for by the trusted root: {why}"
                )));
            }
        }
    }

    let mut certificate_transparency = None;
    let signer = match (certs.first(), options.trusted_root) {
        (Some(leaf), Some(root)) => {
            let at = match tlog_status {
                TlogStatus::Verified {
                    integrated_time: Some(t),
                    ..
                } => t as u64,
                _ => {
                    notes.push("signing time not proven by a log entry: certificate chain checked at the certificate's start of validity".into());
                    crate::trust::certificate_identity(leaf)?.not_before
                }
            };
            let (identity, _) = verify_certificate(leaf, &certs[1..], root, at)?;
            certificate_transparency = Some(verify_embedded_sct(leaf, &certs[1..], root)?);
            SignerIdentity::Certificate(identity)
        }
        _ => SignerIdentity::Key { hint: key.hint() },
    };
    if vm
        .timestamp_verification_data
        .as_ref()
        .is_some_and(|v| !v.is_null())
    {
        notes.push("RFC 3161 timestamps present, not checked".into());
    }
    Ok(Verified {
        signer,
        tlog: tlog_status,
        statement,
        certificate_transparency,
        notes,
    })
}
