//! Rekor (v1) transparency-log entries inside Sigstore bundles: that an entry describes the
//! bundle it sits in, and, with a trusted root, that the log vouched for it (signed entry
//! timestamp, or inclusion proof plus signed checkpoint).

use serde_json::Value;

use crate::bundle::{TlogEntry, TlogStatus};
use crate::error::{Error, Result};
use crate::pubkey::PublicKey;
use crate::trust::TrustedRoot;
use crate::util::{sha256, sha256_hex, unb64};

/// What a bundle signs, for comparing with a log entry's body.
pub(crate) enum Signed<'a> {
    /// `messageSignature`: the artifact's SHA-256 and the signature.
    Message {
        digest: &'a [u8],
        signature: &'a [u8],
    },
    /// `dsseEnvelope`: the decoded payload and the one signature.
    Dsse {
        payload: &'a [u8],
        signature: &'a [u8],
    },
}

fn mismatch(detail: impl Into<String>) -> Error {
    Error::TlogMismatch(detail.into())
}

/// Decodes the entry's body and checks that its `kind`/`apiVersion` are the ones the bundle's
/// `kindVersion` claims.
pub(crate) fn decode_body(entry: &TlogEntry) -> Result<Value> {
    let raw = unb64("tlog canonicalizedBody", &entry.canonicalized_body)?;
    let body: Value =
        serde_json::from_slice(&raw).map_err(|e| Error::json("tlog canonicalizedBody", e))?;
    let kind = body.get("kind").and_then(Value::as_str).unwrap_or_default();
    let version = body
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if kind != entry.kind_version.kind || version != entry.kind_version.version {
        return Err(mismatch(format!(
            "kindVersion says {}/{} but the logged body is {kind}/{version}",
            entry.kind_version.kind, entry.kind_version.version
        )));
    }
    Ok(body)
}

fn str_at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    path.iter().try_fold(v, |v, k| v.get(k))?.as_str()
}

fn same_key(pem_b64: Option<&str>, key: &PublicKey, what: &str) -> Result<()> {
    let Some(pem_b64) = pem_b64 else {
        return Err(mismatch(format!(
            "{what}: no public key or certificate in the logged body"
        )));
    };
    let pem = unb64("tlog public key", pem_b64)?;
    let logged = PublicKey::from_pem(&pem)
        .map_err(|e| mismatch(format!("{what}: logged key unreadable: {e}")))?;
    if &logged != key {
        return Err(mismatch(format!(
            "{what}: the logged key is not the bundle's signing key"
        )));
    }
    Ok(())
}

fn same_hex(logged: Option<&str>, ours: &str, what: &str) -> Result<()> {
    match logged {
        Some(v) if v.eq_ignore_ascii_case(ours) => Ok(()),
        Some(v) => Err(mismatch(format!("{what}: logged {v}, bundle has {ours}"))),
        None => Err(mismatch(format!("{what}: missing from the logged body"))),
    }
}

/// Checks that `body` (already matched against `kindVersion`) records this bundle's signature,
/// digest and key. Returns a note for entry kinds whose bodies are not cross-checked.
pub(crate) fn check_body(
    body: &Value,
    signed: &Signed<'_>,
    key: &PublicKey,
) -> Result<Option<String>> {
    let kind = body.get("kind").and_then(Value::as_str).unwrap_or_default();
    let version = body
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let spec = body.get("spec").unwrap_or(&Value::Null);
    match (kind, version, signed) {
        ("hashedrekord", "0.0.1", Signed::Message { digest, signature }) => {
            same_hex(
                str_at(spec, &["data", "hash", "value"]),
                &hex::encode(digest),
                "hashedrekord digest",
            )?;
            let logged = unb64(
                "tlog signature",
                str_at(spec, &["signature", "content"]).unwrap_or_default(),
            )?;
            if logged != *signature {
                return Err(mismatch(
                    "hashedrekord: the logged signature is not the bundle's",
                ));
            }
            same_key(
                str_at(spec, &["signature", "publicKey", "content"]),
                key,
                "hashedrekord",
            )?;
        }
        ("dsse", "0.0.1", Signed::Dsse { payload, signature }) => {
            same_hex(
                str_at(spec, &["payloadHash", "value"]),
                &sha256_hex(payload),
                "dsse payload hash",
            )?;
            let sigs = spec
                .get("signatures")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            let found = sigs.iter().find(|s| {
                unb64(
                    "tlog signature",
                    s.get("signature")
                        .and_then(Value::as_str)
                        .unwrap_or_default(),
                )
                .is_ok_and(|b| b == *signature)
            });
            let Some(found) = found else {
                return Err(mismatch(
                    "dsse: the envelope's signature is not in the logged body",
                ));
            };
            same_key(found.get("verifier").and_then(Value::as_str), key, "dsse")?;
        }
        ("intoto", "0.0.2", Signed::Dsse { payload, signature }) => {
            let content = spec.get("content").unwrap_or(&Value::Null);
            same_hex(
                str_at(content, &["payloadHash", "value"]),
                &sha256_hex(payload),
                "intoto payload hash",
            )?;
            let sigs = str_at(content, &["envelope", "payloadType"]).map(|_| ());
            if sigs.is_none() {
                return Err(mismatch("intoto: no envelope in the logged body"));
            }
            let logged = content
                .pointer("/envelope/signatures")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            // `sig` is base64 of the base64 signature text.
            let found = logged.iter().find(|s| {
                let inner = unb64(
                    "tlog signature",
                    s.get("sig").and_then(Value::as_str).unwrap_or_default(),
                );
                inner
                    .ok()
                    .and_then(|t| String::from_utf8(t).ok())
                    .and_then(|t| unb64("tlog signature", &t).ok())
                    .is_some_and(|b| b == *signature)
            });
            let Some(found) = found else {
                return Err(mismatch(
                    "intoto: the envelope's signature is not in the logged body",
                ));
            };
            same_key(
                found.get("publicKey").and_then(Value::as_str),
                key,
                "intoto",
            )?;
        }
        ("hashedrekord", "0.0.1", Signed::Dsse { .. })
        | ("dsse" | "intoto", _, Signed::Message { .. }) => {
            return Err(mismatch(format!(
                "a {kind}/{version} entry cannot record this kind of bundle content"
            )));
        }
        _ => {
            return Ok(Some(format!(
                "log entry body {kind}/{version} was not cross-checked against the bundle"
            )));
        }
    }
    Ok(None)
}

/// Checks, with `root`'s key for the entry's log, the signed entry timestamp or else the
/// inclusion proof and its signed checkpoint.
pub(crate) fn verify_entry(entry: &TlogEntry, root: &TrustedRoot) -> Result<TlogStatus> {
    let log_id = unb64("tlog logId", &entry.log_id.key_id)?;
    let Some(log) = root.log(&log_id) else {
        return Ok(TlogStatus::Unverified(format!(
            "log {} is not in the trusted root",
            entry.log_id.key_id
        )));
    };
    if let Some(promise) = &entry.inclusion_promise {
        let set = unb64("signedEntryTimestamp", &promise.signed_entry_timestamp)?;
        let canonical = format!(
            r#"{{"body":{},"integratedTime":{},"logID":"{}","logIndex":{}}}"#,
            Value::String(entry.canonicalized_body.clone()),
            entry.integrated_time.0,
            hex::encode(&log_id),
            entry.log_index.0
        );
        log.key.verify(canonical.as_bytes(), &set).map_err(|_| {
            mismatch(format!(
                "the signed entry timestamp does not verify with the key of {}",
                log.base_url
            ))
        })?;
        return Ok(TlogStatus::Verified {
            log_index: entry.log_index.0,
            integrated_time: Some(entry.integrated_time.0),
        });
    }
    if let Some(proof) = &entry.inclusion_proof {
        let leaf = unb64("tlog canonicalizedBody", &entry.canonicalized_body)?;
        let mut leaf_input = vec![0u8];
        leaf_input.extend_from_slice(&leaf);
        let root_hash = unb64("inclusionProof rootHash", &proof.root_hash)?;
        let hashes = proof
            .hashes
            .iter()
            .map(|h| unb64("inclusionProof hash", h))
            .collect::<Result<Vec<_>>>()?;
        let (index, size) = (proof.log_index.0, proof.tree_size.0);
        if index < 0
            || size <= 0
            || !verify_inclusion(
                index as u64,
                size as u64,
                sha256(&leaf_input),
                &hashes,
                &root_hash,
            )
        {
            return Err(mismatch(
                "the inclusion proof does not lead to the stated root hash",
            ));
        }
        let checkpoint = proof
            .checkpoint
            .as_ref()
            .map(|c| c.envelope.as_str())
            .ok_or_else(|| mismatch("inclusion proof without a checkpoint"))?;
        verify_checkpoint(checkpoint, &log.key, size as u64, &root_hash)?;
        return Ok(TlogStatus::Verified {
            log_index: entry.log_index.0,
            integrated_time: None,
        });
    }
    Ok(TlogStatus::Unverified(
        "the entry has neither a signed entry timestamp nor an inclusion proof".into(),
    ))
}

/// RFC 9162 section 2.1.3.2 inclusion-proof verification.
fn verify_inclusion(
    index: u64,
    size: u64,
    leaf_hash: [u8; 32],
    proof: &[Vec<u8>],
    root: &[u8],
) -> bool {
    if index >= size {
        return false;
    }
    let node = |l: &[u8], r: &[u8]| {
        let mut buf = Vec::with_capacity(65);
        buf.push(1u8);
        buf.extend_from_slice(l);
        buf.extend_from_slice(r);
        sha256(&buf)
    };
    let (mut f, mut s) = (index, size - 1);
    let mut r = leaf_hash;
    for p in proof {
        if s == 0 || p.len() != 32 {
            return false;
        }
        if f & 1 == 1 || f == s {
            r = node(p, &r);
            while f & 1 == 0 && f != 0 {
                f >>= 1;
                s >>= 1;
            }
        } else {
            r = node(&r, p);
        }
        f >>= 1;
        s >>= 1;
    }
    s == 0 && r.as_slice() == root
}

/// Verifies a signed-note checkpoint (`origin\nsize\nroot\n[...]\n\n— name sig\n`) against the
/// log key, and that it commits to `size` and `root`.
fn verify_checkpoint(note: &str, key: &PublicKey, size: u64, root: &[u8]) -> Result<()> {
    let split = note
        .find("\n\n")
        .ok_or_else(|| mismatch("checkpoint is not a signed note"))?;
    let (text, sigs) = (&note[..split + 1], &note[split + 2..]);
    let mut lines = text.lines();
    let _origin = lines.next();
    let logged_size: u64 = lines
        .next()
        .and_then(|l| l.parse().ok())
        .unwrap_or(u64::MAX);
    let logged_root = lines
        .next()
        .map(|l| unb64("checkpoint root", l))
        .transpose()?;
    if logged_size != size || logged_root.as_deref() != Some(root) {
        return Err(mismatch(
            "the checkpoint does not commit to the inclusion proof's tree",
        ));
    }
    for line in sigs.lines() {
        let Some(rest) = line.strip_prefix("\u{2014} ") else {
            continue;
        };
        let Some((_, sig_b64)) = rest.rsplit_once(' ') else {
            continue;
        };
        let Ok(sig) = unb64("checkpoint signature", sig_b64) else {
            continue;
        };
        if sig.len() > 4 && key.verify(text.as_bytes(), &sig[4..]).is_ok() {
            return Ok(());
        }
    }
    Err(mismatch(
        "no checkpoint signature verifies with the log's key",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inclusion_proof_of_small_trees() {
        let leaf = |d: &[u8]| {
            let mut b = vec![0u8];
            b.extend_from_slice(d);
            sha256(&b)
        };
        let node = |l: &[u8; 32], r: &[u8; 32]| {
            let mut b = vec![1u8];
            b.extend_from_slice(l);
            b.extend_from_slice(r);
            sha256(&b)
        };
        let (a, b, c) = (leaf(b"a"), leaf(b"b"), leaf(b"c"));
        let ab = node(&a, &b);
        let root = node(&ab, &c);
        assert!(verify_inclusion(0, 1, a, &[], &a));
        assert!(verify_inclusion(2, 3, c, &[ab.to_vec()], &root));
        assert!(verify_inclusion(0, 3, a, &[b.to_vec(), c.to_vec()], &root));
        assert!(!verify_inclusion(1, 3, a, &[b.to_vec(), c.to_vec()], &root));
        assert!(!verify_inclusion(3, 3, c, &[ab.to_vec()], &root));
    }
}
