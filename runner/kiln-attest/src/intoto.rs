//! in-toto Attestation Framework v1: the Statement and its ResourceDescriptor.
//!
//! kiln writes Statement v1; it reads v1 and v0.1 (slsa-github-generator v2 and Tekton Chains
//! wrap SLSA v1 predicates in v0.1), and refuses a missing or unknown `_type`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest as _, Sha256, Sha384, Sha512};

use crate::error::{Error, Result};
use crate::util::{MAX_DOCUMENT_BYTES, check_size};

/// `_type` of an in-toto Statement v1.
pub const STATEMENT_V1: &str = "https://in-toto.io/Statement/v1";
/// `_type` of the older Statement v0.1, still written by several producers.
pub const STATEMENT_V0_1: &str = "https://in-toto.io/Statement/v0.1";
/// DSSE `payloadType` of an in-toto Statement.
pub const PAYLOAD_TYPE: &str = "application/vnd.in-toto+json";

/// An in-toto Statement: which artifacts (subjects) a predicate is about.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Statement {
    /// [`STATEMENT_V1`] (or [`STATEMENT_V0_1`] when read from older producers).
    #[serde(rename = "_type")]
    pub type_: String,
    /// The artifacts, each with at least one digest.
    pub subject: Vec<Subject>,
    /// URI naming the predicate's schema, e.g. [`crate::slsa::PREDICATE_TYPE`].
    #[serde(rename = "predicateType")]
    pub predicate_type: String,
    /// The predicate itself (any JSON; `null` when absent).
    #[serde(default, skip_serializing_if = "Value::is_null")]
    pub predicate: Value,
}

/// A Statement subject is a [`ResourceDescriptor`].
pub type Subject = ResourceDescriptor;

/// in-toto ResourceDescriptor: a name/URI plus digests (and optional extras).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResourceDescriptor {
    /// A name, e.g. the artifact's path relative to the build's output.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// A URI, e.g. `git+https://host/repo@refs/heads/main`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uri: Option<String>,
    /// Algorithm name (`sha256`, `sha512`, `gitCommit`, ...) to lowercase hex value.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub digest: BTreeMap<String, String>,
    /// Inline content (base64).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
    /// Where the resource can be downloaded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub download_location: Option<String>,
    /// The resource's media type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    /// Free-form annotations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<serde_json::Map<String, Value>>,
}

impl ResourceDescriptor {
    /// A descriptor with a name and a SHA-256 digest (lowercase hex), kiln's usual subject.
    pub fn file(name: impl Into<String>, sha256_hex: impl Into<String>) -> Self {
        ResourceDescriptor {
            name: Some(name.into()),
            digest: BTreeMap::from([("sha256".to_string(), sha256_hex.into())]),
            ..Default::default()
        }
    }

    /// A descriptor for `bytes` named `name`, hashing them with SHA-256.
    pub fn for_bytes(name: impl Into<String>, bytes: &[u8]) -> Self {
        Self::file(name, hex::encode(Sha256::digest(bytes)))
    }

    /// A descriptor for the file at `path`, named `name`, hashed with SHA-256 as it streams.
    pub fn for_file(name: impl Into<String>, path: &std::path::Path) -> Result<Self> {
        Ok(Self::file(name, crate::util::sha256_file(path)?))
    }

    /// The `sha256` digest, if any.
    pub fn sha256(&self) -> Option<&str> {
        self.digest.get("sha256").map(String::as_str)
    }
}

/// Digest algorithms whose values must be lowercase hex. (Lengths are not enforced: real
/// producers have written truncated test digests that other verifiers accept.)
fn is_hex_digest(algorithm: &str) -> bool {
    matches!(
        algorithm,
        "sha1" | "sha224" | "sha256" | "sha384" | "sha512" | "sha512_224" | "sha512_256"
    )
}

impl Statement {
    /// A Statement v1 about `subject` with the given predicate.
    pub fn new(subject: Vec<Subject>, predicate_type: impl Into<String>, predicate: Value) -> Self {
        Statement {
            type_: STATEMENT_V1.to_string(),
            subject,
            predicate_type: predicate_type.into(),
            predicate,
        }
    }

    /// Parses and validates a Statement (see [`Statement::validate`]).
    pub fn from_json(bytes: &[u8]) -> Result<Self> {
        check_size("in-toto statement", bytes.len(), MAX_DOCUMENT_BYTES)?;
        let value: Value =
            serde_json::from_slice(bytes).map_err(|e| Error::json("in-toto statement", e))?;
        match value.get("_type") {
            None => return Err(Error::StatementType("the `_type` field is missing".into())),
            Some(Value::String(t)) if t == STATEMENT_V1 || t == STATEMENT_V0_1 => {}
            Some(other) => return Err(Error::StatementType(format!("unknown `_type` {other}"))),
        }
        let statement: Statement = serde_json::from_value(value)
            .map_err(|e| Error::malformed("in-toto statement", e.to_string()))?;
        statement.validate()?;
        Ok(statement)
    }

    /// Checks the rules of the format: a known `_type`, at least one subject, every subject
    /// with a non-empty digest (lowercase hex for the SHA family), a predicate type.
    pub fn validate(&self) -> Result<()> {
        if self.type_ != STATEMENT_V1 && self.type_ != STATEMENT_V0_1 {
            return Err(Error::StatementType(format!(
                "unknown `_type` {:?}",
                self.type_
            )));
        }
        if self.subject.is_empty() {
            return Err(Error::malformed("in-toto statement", "no subject"));
        }
        for (i, s) in self.subject.iter().enumerate() {
            if s.digest.is_empty() {
                return Err(Error::malformed(
                    "in-toto statement",
                    format!("subject {i} has no digest"),
                ));
            }
            for (alg, value) in &s.digest {
                if value.is_empty()
                    || (is_hex_digest(alg)
                        && !value
                            .bytes()
                            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)))
                {
                    return Err(Error::malformed(
                        "in-toto statement",
                        format!("subject {i}: {alg} digest {value:?} is not lowercase hex"),
                    ));
                }
            }
        }
        if self.predicate_type.is_empty() {
            return Err(Error::malformed("in-toto statement", "empty predicateType"));
        }
        Ok(())
    }

    /// Compact JSON, as it goes into a DSSE payload.
    pub fn to_json(&self) -> Result<Vec<u8>> {
        serde_json::to_vec(self).map_err(|e| Error::malformed("in-toto statement", e.to_string()))
    }

    /// The subject whose digest matches `artifact` (SHA-256, SHA-384 or SHA-512, whichever the
    /// subject lists), or [`Error::DigestMismatch`].
    pub fn subject_for(&self, artifact: &[u8]) -> Result<&Subject> {
        let mut computed: Vec<(&str, String)> = Vec::new();
        for s in &self.subject {
            for (alg, value) in &s.digest {
                let ours = match computed.iter().find(|(a, _)| a == alg) {
                    Some((_, v)) => v.clone(),
                    None => {
                        let v = match alg.as_str() {
                            "sha256" => hex::encode(Sha256::digest(artifact)),
                            "sha384" => hex::encode(Sha384::digest(artifact)),
                            "sha512" => hex::encode(Sha512::digest(artifact)),
                            _ => continue,
                        };
                        computed.push((alg.as_str(), v.clone()));
                        v
                    }
                };
                if &ours == value {
                    return Ok(s);
                }
            }
        }
        Err(Error::DigestMismatch(
            "the artifact's digest is not among the statement's subjects".into(),
        ))
    }

    /// The subject with this SHA-256 (lowercase hex), if any.
    pub fn subject_by_sha256(&self, sha256_hex: &str) -> Option<&Subject> {
        self.subject.iter().find(|s| s.sha256() == Some(sha256_hex))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_validation() {
        let st = Statement::new(
            vec![Subject::for_bytes("a.txt", b"hello")],
            "https://example.com/p",
            Value::Null,
        );
        let json = st.to_json().unwrap();
        assert!(String::from_utf8_lossy(&json).starts_with(r#"{"_type":"https://in-toto.io/Statement/v1","subject":[{"name":"a.txt","digest":{"sha256":"2cf24d"#));
        let back = Statement::from_json(&json).unwrap();
        assert_eq!(back, st);
        assert!(back.subject_for(b"hello").is_ok());
        assert_eq!(
            back.subject_for(b"hellO").unwrap_err().reason(),
            "digest-mismatch"
        );
    }

    #[test]
    fn rejects_bad_statements() {
        let cases: [(&str, &str); 6] = [
            (
                r#"{"subject":[{"digest":{"sha256":"00"}}],"predicateType":"x"}"#,
                "statement-type",
            ),
            (
                r#"{"_type":"https://in-toto.io/Statement/v9","subject":[],"predicateType":"x"}"#,
                "statement-type",
            ),
            (
                r#"{"_type":"https://in-toto.io/Statement/v1","subject":[],"predicateType":"x"}"#,
                "malformed",
            ),
            (
                r#"{"_type":"https://in-toto.io/Statement/v1","subject":[{"name":"a","digest":{}}],"predicateType":"x"}"#,
                "malformed",
            ),
            (
                r#"{"_type":"https://in-toto.io/Statement/v1","subject":[{"digest":{"sha256":"ABC"}}],"predicateType":"x"}"#,
                "malformed",
            ),
            ("not json", "not-json"),
        ];
        for (json, reason) in cases {
            assert_eq!(
                Statement::from_json(json.as_bytes()).unwrap_err().reason(),
                reason,
                "{json}"
            );
        }
    }
}
