//! Trust material for certificate-based ("keyless") signatures made by other tools: a Sigstore
//! trusted root (Fulcio CAs, Rekor log keys), Fulcio certificate chains, and the identity a
//! Fulcio certificate carries.
//!
//! kiln signs with keys; these checks exist so that `kiln verify` can check third-party
//! attestations offline when given a trusted root (`trusted_root.json`). Without one, a
//! certificate-based signature fails with [`Error::MissingTrust`] rather than pretending.

use std::time::Duration;

use rustls_pki_types::{CertificateDer, TrustAnchor, UnixTime};
use serde::Deserialize;
use x509_cert::Certificate;
use x509_cert::der::Decode;
use x509_cert::ext::pkix::SubjectAltName;
use x509_cert::ext::pkix::name::GeneralName;

use crate::error::{Error, Result};
use crate::pubkey::PublicKey;
use crate::util::{MAX_DOCUMENT_BYTES, check_size, unb64};

/// DER content of the id-kp-codeSigning OID (1.3.6.1.5.5.7.3.3), which Fulcio leaves carry.
const EKU_CODE_SIGNING: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x03];
/// Fulcio's OIDC issuer extensions: v1 (raw string) and v2 (DER UTF8String).
const FULCIO_ISSUER_V1: &str = "1.3.6.1.4.1.57264.1.1";
const FULCIO_ISSUER_V2: &str = "1.3.6.1.4.1.57264.1.8";

/// A transparency log known to a trusted root.
#[derive(Debug, Clone)]
pub struct LogKey {
    /// The log id: SHA-256 of the log's DER public key.
    pub key_id: Vec<u8>,
    /// The log's public key (signs entry timestamps and checkpoints).
    pub key: PublicKey,
    /// The log's URL, for messages.
    pub base_url: String,
}

/// A Sigstore trusted root (`application/vnd.dev.sigstore.trustedroot+json`): the Fulcio CA
/// chains and Rekor log keys a verifier trusts.
#[derive(Debug, Clone, Default)]
pub struct TrustedRoot {
    /// Transparency logs.
    pub logs: Vec<LogKey>,
    /// Certificate authority chains, each as DER, leaf-most first, root last.
    pub ca_chains: Vec<Vec<Vec<u8>>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RootJson {
    #[serde(default)]
    tlogs: Vec<TlogJson>,
    #[serde(default)]
    certificate_authorities: Vec<CaJson>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TlogJson {
    #[serde(default)]
    base_url: String,
    public_key: RawKeyJson,
    log_id: LogIdJson,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawKeyJson {
    #[serde(default)]
    raw_bytes: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct LogIdJson {
    key_id: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CaJson {
    cert_chain: ChainJson,
}

#[derive(Deserialize)]
struct ChainJson {
    #[serde(default)]
    certificates: Vec<RawBytesJson>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawBytesJson {
    raw_bytes: String,
}

impl TrustedRoot {
    /// Parses a `trusted_root.json`. Log keys of algorithms kiln cannot use are skipped.
    pub fn from_json(bytes: &[u8]) -> Result<Self> {
        check_size("trusted root", bytes.len(), MAX_DOCUMENT_BYTES)?;
        let json: RootJson =
            serde_json::from_slice(bytes).map_err(|e| Error::json("trusted root", e))?;
        let mut root = TrustedRoot::default();
        for log in json.tlogs {
            let Some(raw) = log.public_key.raw_bytes else {
                continue;
            };
            let Ok(key) = PublicKey::from_spki_der(&unb64("trusted root log key", &raw)?) else {
                continue;
            };
            root.logs.push(LogKey {
                key_id: unb64("trusted root log id", &log.log_id.key_id)?,
                key,
                base_url: log.base_url,
            });
        }
        for ca in json.certificate_authorities {
            let chain = ca
                .cert_chain
                .certificates
                .iter()
                .map(|c| unb64("trusted root certificate", &c.raw_bytes))
                .collect::<Result<Vec<_>>>()?;
            if !chain.is_empty() {
                root.ca_chains.push(chain);
            }
        }
        Ok(root)
    }

    /// The log with this id, if trusted.
    pub fn log(&self, key_id: &[u8]) -> Option<&LogKey> {
        self.logs.iter().find(|l| l.key_id == key_id)
    }
}

/// Who a Fulcio certificate says signed: its subject alternative names and OIDC issuer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateIdentity {
    /// Email addresses and URIs from the subjectAltName extension.
    pub subject_alternative_names: Vec<String>,
    /// The OIDC issuer Fulcio recorded, if any.
    pub issuer: Option<String>,
    /// Start of validity, Unix seconds.
    pub not_before: u64,
    /// End of validity, Unix seconds.
    pub not_after: u64,
}

/// Reads the identity fields of a DER certificate (no trust decision).
pub fn certificate_identity(cert_der: &[u8]) -> Result<CertificateIdentity> {
    let cert = Certificate::from_der(cert_der)
        .map_err(|e| Error::Chain(format!("not an X.509 certificate: {e}")))?;
    let tbs = cert.tbs_certificate();
    let mut sans = Vec::new();
    if let Ok(Some(san)) = tbs.get_extension::<SubjectAltName>() {
        for name in san.1.0 {
            match name {
                GeneralName::Rfc822Name(s) => sans.push(s.to_string()),
                GeneralName::UniformResourceIdentifier(s) => sans.push(s.to_string()),
                GeneralName::DnsName(s) => sans.push(s.to_string()),
                _ => {}
            }
        }
    }
    let mut issuer = None;
    for ext in tbs.extensions().into_iter().flatten() {
        let oid = ext.extn_id.to_string();
        let bytes = ext.extn_value.as_bytes();
        if oid == FULCIO_ISSUER_V2 {
            if let Ok(s) = x509_cert::der::asn1::Utf8StringRef::from_der(bytes) {
                issuer = Some(s.to_string());
            }
        } else if oid == FULCIO_ISSUER_V1 && issuer.is_none() {
            issuer = std::str::from_utf8(bytes).ok().map(str::to_string);
        }
    }
    let validity = tbs.validity();
    Ok(CertificateIdentity {
        subject_alternative_names: sans,
        issuer,
        not_before: validity.not_before.to_unix_duration().as_secs(),
        not_after: validity.not_after.to_unix_duration().as_secs(),
    })
}

/// Reads the certificates of a PEM file (a leaf, possibly followed by its chain), as DER.
pub fn certificates_from_pem(pem_bytes: &[u8]) -> Result<Vec<Vec<u8>>> {
    let certs: Vec<Vec<u8>> = crate::pem::parse(pem_bytes)?
        .into_iter()
        .filter(|b| b.label == "CERTIFICATE")
        .map(|b| b.contents.to_vec())
        .collect();
    if certs.is_empty() {
        return Err(Error::Chain("no CERTIFICATE block".into()));
    }
    Ok(certs)
}

/// Checks that `leaf_der` chains to a CA of `root` for code signing at Unix time `at`
/// (intermediates come from the trusted root and from `untrusted_chain`, which is never trusted
/// on its own), and returns its identity and public key.
pub fn verify_certificate(
    leaf_der: &[u8],
    untrusted_chain: &[Vec<u8>],
    root: &TrustedRoot,
    at: u64,
) -> Result<(CertificateIdentity, PublicKey)> {
    let identity = certificate_identity(leaf_der)?;
    let key = PublicKey::from_certificate_der(leaf_der)?;
    if root.ca_chains.is_empty() {
        return Err(Error::MissingTrust(
            "the trusted root has no certificate authority".into(),
        ));
    }
    let mut anchors: Vec<TrustAnchor<'static>> = Vec::new();
    let mut intermediates: Vec<CertificateDer<'_>> = Vec::new();
    for chain in &root.ca_chains {
        let Some((last, rest)) = chain.split_last() else {
            continue;
        };
        if let Ok(anchor) = webpki::anchor_from_trusted_cert(&CertificateDer::from(last.as_slice()))
        {
            anchors.push(anchor.to_owned());
        }
        intermediates.extend(rest.iter().map(|c| CertificateDer::from(c.as_slice())));
    }
    intermediates.extend(
        untrusted_chain
            .iter()
            .filter(|c| c.as_slice() != leaf_der)
            .map(|c| CertificateDer::from(c.as_slice())),
    );
    let leaf = CertificateDer::from(leaf_der);
    let ee = webpki::EndEntityCert::try_from(&leaf)
        .map_err(|e| Error::Chain(format!("leaf certificate: {e}")))?;
    ee.verify_for_usage(
        webpki::ALL_VERIFICATION_ALGS,
        &anchors,
        &intermediates,
        UnixTime::since_unix_epoch(Duration::from_secs(at)),
        webpki::KeyUsage::required(EKU_CODE_SIGNING),
        None,
        None,
    )
    .map_err(|e| {
        Error::Chain(format!(
            "the certificate does not chain to a trusted Fulcio CA at {at}: {e}"
        ))
    })?;
    Ok((identity, key))
}
