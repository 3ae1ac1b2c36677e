//! The signed certificate timestamps Fulcio embeds in its certificates (RFC 6962 section 3.3),
//! checked against the trusted root's certificate-transparency logs: the SCT list parsed, the
//! precertificate rebuilt (the leaf's TBS without the SCT extension) with a minimal DER walker.

use x509_cert::Certificate;
use x509_cert::der::{Decode, Encode};

use super::TrustedRoot;
use crate::error::{Error, Result};
use crate::util::sha256;

/// The embedded SCT list extension (1.3.6.1.4.1.11129.2.4.2, RFC 6962 section 3.3).
const SCT_LIST_OID: &str = "1.3.6.1.4.1.11129.2.4.2";
/// DER content of that OID, to find the extension in a raw TBSCertificate.
const SCT_LIST_OID_DER: &[u8] = &[0x2b, 0x06, 0x01, 0x04, 0x01, 0xd6, 0x79, 0x02, 0x04, 0x02];

/// A certificate's signed certificate timestamp that verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SctVerified {
    /// The certificate-transparency log that signed it (its URL from the trusted root).
    pub log_url: String,
    /// When the log saw the precertificate, Unix milliseconds.
    pub timestamp_ms: u64,
}

/// Checks the SCTs embedded in a Fulcio certificate (RFC 6962 section 3.3): at least one must be
/// signed, over the precertificate (`leaf_der` without its SCT extension) and its issuer's key
/// hash, by a certificate-transparency log of `root`. The issuer is looked up by name among the
/// trusted root's CA certificates and `untrusted_chain`; call this after [`verify_certificate`],
/// which establishes that the leaf chains to the trusted root.
pub fn verify_embedded_sct(
    leaf_der: &[u8],
    untrusted_chain: &[Vec<u8>],
    root: &TrustedRoot,
) -> Result<SctVerified> {
    let sct_err = |m: String| Error::Sct(m);
    let leaf = Certificate::from_der(leaf_der)
        .map_err(|e| Error::Chain(format!("not an X.509 certificate: {e}")))?;
    let tbs = leaf.tbs_certificate();
    let ext = tbs
        .extensions()
        .into_iter()
        .flatten()
        .find(|e| e.extn_id.to_string() == SCT_LIST_OID)
        .ok_or_else(|| {
            sct_err("the certificate carries no signed certificate timestamp: it was not logged for certificate transparency".into())
        })?;
    let list = <&x509_cert::der::asn1::OctetStringRef>::from_der(ext.extn_value.as_bytes())
        .map_err(|e| sct_err(format!("the SCT list is not an OCTET STRING: {e}")))?;
    let scts = parse_sct_list(list.as_bytes()).ok_or_else(|| sct_err("the SCT list is malformed".into()))?;
    if root.ct_logs.is_empty() {
        return Err(sct_err(
            "the trusted root has no certificate-transparency log (ctlogs) to check the certificate's SCT with".into(),
        ));
    }
    let precert = tbs_without_extension(leaf_der, SCT_LIST_OID_DER)
        .ok_or_else(|| sct_err("cannot rebuild the precertificate from the certificate".into()))?;
    // Key hashes of every certificate that could have issued the leaf (same subject name).
    let mut issuer_hashes = Vec::new();
    for der in root.ca_chains.iter().flatten().chain(untrusted_chain) {
        let Ok(cert) = Certificate::from_der(der) else {
            continue;
        };
        if cert.tbs_certificate().subject() != tbs.issuer() {
            continue;
        }
        if let Ok(spki) = cert.tbs_certificate().subject_public_key_info().to_der() {
            issuer_hashes.push(sha256(&spki));
        }
    }
    if issuer_hashes.is_empty() {
        return Err(sct_err(
            "the certificate's issuer is not among the trusted root's certificates".into(),
        ));
    }
    let mut why = Vec::new();
    for sct in &scts {
        let Some(log) = root.ct_log(&sct.log_id) else {
            why.push(format!(
                "the SCT's log {} is not in the trusted root",
                crate::util::b64(&sct.log_id)
            ));
            continue;
        };
        let verified = issuer_hashes.iter().any(|hash| {
            let mut signed = Vec::with_capacity(precert.len() + 64);
            signed.extend_from_slice(&[0, 0]); // v1, certificate_timestamp
            signed.extend_from_slice(&sct.timestamp.to_be_bytes());
            signed.extend_from_slice(&[0, 1]); // precert_entry
            signed.extend_from_slice(hash);
            signed.extend_from_slice(&(precert.len() as u32).to_be_bytes()[1..]);
            signed.extend_from_slice(&precert);
            signed.extend_from_slice(&(sct.extensions.len() as u16).to_be_bytes());
            signed.extend_from_slice(sct.extensions);
            log.key.verify(&signed, sct.signature).is_ok()
        });
        if verified {
            return Ok(SctVerified {
                log_url: log.base_url.clone(),
                timestamp_ms: sct.timestamp,
            });
        }
        why.push(format!(
            "the SCT does not verify with the key of {}",
            log.base_url
        ));
    }
    Err(sct_err(why.join("; ")))
}

/// One SCT of an embedded list, borrowed from it.
struct Sct<'a> {
    log_id: Vec<u8>,
    timestamp: u64,
    extensions: &'a [u8],
    signature: &'a [u8],
}

/// Reads a TLS-encoded `SignedCertificateTimestampList` of v1 SCTs.
fn parse_sct_list(bytes: &[u8]) -> Option<Vec<Sct<'_>>> {
    fn take<'a>(b: &mut &'a [u8], n: usize) -> Option<&'a [u8]> {
        if b.len() < n {
            return None;
        }
        let (head, rest) = b.split_at(n);
        *b = rest;
        Some(head)
    }
    fn u16_len<'a>(b: &mut &'a [u8]) -> Option<&'a [u8]> {
        let n = take(b, 2)?;
        take(b, usize::from(u16::from_be_bytes([n[0], n[1]])))
    }
    let mut b = bytes;
    let mut list = u16_len(&mut b)?;
    if !b.is_empty() {
        return None;
    }
    let mut out = Vec::new();
    while !list.is_empty() {
        let mut sct = u16_len(&mut list)?;
        let version = take(&mut sct, 1)?[0];
        let log_id = take(&mut sct, 32)?.to_vec();
        let timestamp = u64::from_be_bytes(take(&mut sct, 8)?.try_into().ok()?);
        let extensions = u16_len(&mut sct)?;
        let _algorithms = take(&mut sct, 2)?;
        let signature = u16_len(&mut sct)?;
        if version == 0 && sct.is_empty() {
            out.push(Sct {
                log_id,
                timestamp,
                extensions,
                signature,
            });
        }
    }
    (!out.is_empty()).then_some(out)
}

/// One DER element: its tag, its content, the whole element, and what follows it. Only the
/// low tag numbers certificates use; definite lengths of up to four bytes.
/// A DER element: its tag, its contents, the whole element, and what follows it.
type DerElement<'a> = (u8, &'a [u8], &'a [u8], &'a [u8]);

fn der_element(input: &[u8]) -> Option<DerElement<'_>> {
    let (&tag, rest) = input.split_first()?;
    if tag & 0x1f == 0x1f {
        return None;
    }
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let len = rest[..n].iter().fold(0usize, |a, &b| (a << 8) | usize::from(b));
        (len, &rest[n..])
    };
    if rest.len() < len {
        return None;
    }
    let header = input.len() - rest.len();
    Some((tag, &rest[..len], &input[..header + len], &rest[len..]))
}

/// A DER element of `tag` around `content`.
fn der_wrap(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = content.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|&&b| b == 0).count();
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
    out.extend_from_slice(content);
    out
}

/// The DER TBSCertificate of `cert_der` with the extension whose OID content is `oid` removed
/// (the precertificate an SCT signs is the certificate without its SCT list).
fn tbs_without_extension(cert_der: &[u8], oid: &[u8]) -> Option<Vec<u8>> {
    let (0x30, cert, _, _) = der_element(cert_der)? else {
        return None;
    };
    let (0x30, mut fields, _, _) = der_element(cert)? else {
        return None;
    };
    let mut out = Vec::with_capacity(fields.len());
    while !fields.is_empty() {
        let (tag, content, whole, rest) = der_element(fields)?;
        fields = rest;
        if tag != 0xa3 {
            out.extend_from_slice(whole);
            continue;
        }
        let (0x30, mut exts, _, []) = der_element(content)? else {
            return None;
        };
        let mut kept = Vec::with_capacity(exts.len());
        while !exts.is_empty() {
            let (0x30, ext, whole, rest) = der_element(exts)? else {
                return None;
            };
            exts = rest;
            let (0x06, ext_oid, _, _) = der_element(ext)? else {
                return None;
            };
            if ext_oid != oid {
                kept.extend_from_slice(whole);
            }
        }
        out.extend_from_slice(&der_wrap(0xa3, &der_wrap(0x30, &kept)));
    }
    Some(der_wrap(0x30, &out))
}
