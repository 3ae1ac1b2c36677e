//! Trust material for certificate-based ("keyless") signatures made by other tools: a Sigstore
//! trusted root (Fulcio CAs, Rekor log keys), Fulcio certificate chains, and the identity a
//! Fulcio certificate carries.
//!
//! kiln signs with keys; these checks exist so that `kiln verify --trusted-root` and
//! `kiln verify-blob --trusted-root` can check third-party bundles and attestations offline
//! against a trusted root the user supplies (`trusted_root.json`): the certificate chain
//! ([`verify_certificate`]), the certificate-transparency timestamp Fulcio embeds
//! ([`verify_embedded_sct`]) and who the certificate names ([`IdentityPolicy`]). Without a
//! trusted root, a certificate-based signature fails with [`Error::MissingTrust`] rather than
//! pretending.

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

mod sct;
pub use sct::{SctVerified, verify_embedded_sct};

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
    /// Certificate-transparency logs (their keys sign the SCTs in Fulcio certificates).
    pub ct_logs: Vec<LogKey>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RootJson {
    #[serde(default)]
    tlogs: Vec<TlogJson>,
    #[serde(default)]
    certificate_authorities: Vec<CaJson>,
    #[serde(default)]
    ctlogs: Vec<TlogJson>,
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
        let mut root = TrustedRoot {
            logs: log_keys(json.tlogs)?,
            ct_logs: log_keys(json.ctlogs)?,
            ..Default::default()
        };
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

    /// The certificate-transparency log with this id, if trusted.
    pub fn ct_log(&self, key_id: &[u8]) -> Option<&LogKey> {
        self.ct_logs.iter().find(|l| l.key_id == key_id)
    }
}

/// The usable keys of a trusted root's `tlogs` or `ctlogs`.
fn log_keys(logs: Vec<TlogJson>) -> Result<Vec<LogKey>> {
    let mut out = Vec::new();
    for log in logs {
        let Some(raw) = log.public_key.raw_bytes else {
            continue;
        };
        let Ok(key) = PublicKey::from_spki_der(&unb64("trusted root log key", &raw)?) else {
            continue;
        };
        out.push(LogKey {
            key_id: unb64("trusted root log id", &log.log_id.key_id)?,
            key,
            base_url: log.base_url,
        });
    }
    Ok(out)
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
        return Err(Error::Chain(
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
        let why = match e {
            webpki::Error::UnknownIssuer => {
                "no certificate authority of the trusted root issued it".to_string()
            }
            webpki::Error::CertExpired { .. } => "a certificate had expired then".into(),
            webpki::Error::CertNotValidYet { .. } => "a certificate was not valid yet".into(),
            webpki::Error::InvalidSignatureForPublicKey => {
                "a signature in the chain does not verify".into()
            }
            other => format!("{other:?}"),
        };
        Error::Chain(format!(
            "the certificate does not chain to a certificate authority of the trusted root at {}: {why}",
            utc(at)
        ))
    })?;
    Ok((identity, key))
}

/// A Unix time as `YYYY-MM-DDTHH:MM:SSZ`, for messages.
pub fn utc(secs: u64) -> String {
    // Days to civil date (H. Hinnant's algorithm), proleptic Gregorian, UTC.
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3_600,
        rem / 60 % 60,
        rem % 60
    )
}

/// A required value of a certificate field: cosign's `--certificate-identity` /
/// `--certificate-oidc-issuer` (exact) or their `-regexp` forms (a regular expression that must
/// match somewhere in the value, as Go's `MatchString` does; anchor it with `^…$` to require all).
#[derive(Debug, Clone)]
pub enum Matcher {
    /// The value must equal this string.
    Exact(String),
    /// The value must match this regular expression.
    Regex(regex::Regex),
}

impl Matcher {
    /// A [`Matcher::Regex`], or the parse error in words.
    pub fn regex(pattern: &str) -> Result<Matcher, String> {
        regex::Regex::new(pattern).map(Matcher::Regex).map_err(|e| e.to_string())
    }

    /// Whether `value` satisfies this matcher.
    pub fn matches(&self, value: &str) -> bool {
        match self {
            Matcher::Exact(s) => s == value,
            Matcher::Regex(r) => r.is_match(value),
        }
    }
}

impl PartialEq for Matcher {
    fn eq(&self, other: &Matcher) -> bool {
        match (self, other) {
            (Matcher::Exact(a), Matcher::Exact(b)) => a == b,
            (Matcher::Regex(a), Matcher::Regex(b)) => a.as_str() == b.as_str(),
            _ => false,
        }
    }
}

impl Eq for Matcher {}

impl std::fmt::Display for Matcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Matcher::Exact(s) => write!(f, "{s}"),
            Matcher::Regex(r) => write!(f, "a match of /{}/", r.as_str()),
        }
    }
}

/// Who a certificate must name, as cosign's keyless verification requires it: the identity
/// (one of the subject alternative names: an email or URI, e.g. a GitHub workflow) and the OIDC
/// issuer that Fulcio recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdentityPolicy {
    /// `--certificate-identity`.
    pub identity: Matcher,
    /// `--certificate-oidc-issuer`.
    pub issuer: Matcher,
}

impl IdentityPolicy {
    /// Checks the identity: one of the certificate's subject alternative names must match.
    pub fn check_identity(&self, id: &CertificateIdentity) -> Result<()> {
        if id
            .subject_alternative_names
            .iter()
            .any(|san| self.identity.matches(san))
        {
            return Ok(());
        }
        Err(Error::IdentityMismatch {
            field: "identity",
            expected: self.identity.to_string(),
            found: if id.subject_alternative_names.is_empty() {
                "no subject alternative name".into()
            } else {
                id.subject_alternative_names.join(", ")
            },
        })
    }

    /// Checks the OIDC issuer Fulcio recorded in the certificate.
    pub fn check_issuer(&self, id: &CertificateIdentity) -> Result<()> {
        match &id.issuer {
            Some(issuer) if self.issuer.matches(issuer) => Ok(()),
            found => Err(Error::IdentityMismatch {
                field: "OIDC issuer",
                expected: self.issuer.to_string(),
                found: found
                    .clone()
                    .unwrap_or_else(|| "no OIDC issuer extension".into()),
            }),
        }
    }

    /// Both checks.
    pub fn check(&self, id: &CertificateIdentity) -> Result<()> {
        self.check_identity(id)?;
        self.check_issuer(id)
    }
}
