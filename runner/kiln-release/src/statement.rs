//! The release statement: [`ReleaseFacts`] → an in-toto Statement v1 whose subjects are the
//! released artifacts and whose predicate (type [`PREDICATE_TYPE`]) is the facts themselves, and
//! back. Signing is DSSE through kiln-attest ([`sign`]), with any [`Signer`] (the build key).

use std::path::{Component, Path};

use kiln_attest::dsse::{self, Envelope};
use kiln_attest::intoto::{ResourceDescriptor, Statement};
use kiln_attest::Signer;

use crate::facts::{DocumentRef, ReleaseFacts};
use crate::Error;

/// kiln's predicate type for a release record (next to `https://kiln.dev/deployment/v1` and
/// `https://kiln.dev/attestations/build-batch/v1`).
pub const PREDICATE_TYPE: &str = "https://kiln.dev/release/v1";

/// The file name a run's release record is written under.
pub const FILE_NAME: &str = "release.intoto.jsonl";

/// Lowercase hex SHA-256 (64 digits)?
pub(crate) fn is_sha256(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// A record path as a relative path: not empty, no root, no `.`/`..`.
pub(crate) fn relative(path: &str) -> Option<&Path> {
    let p = Path::new(path);
    (!path.is_empty() && p.components().all(|c| matches!(c, Component::Normal(_)))).then_some(p)
}

pub(crate) fn parse_time(t: &str) -> Option<time::OffsetDateTime> {
    time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339).ok()
}

impl ReleaseFacts {
    /// Checks what a release record must hold before it is signed: at least one artifact, each
    /// made by a build it names; lowercase hex SHA-256 digests; relative document paths; RFC 3339
    /// times; unique action names per list. The error names the field (`builds[1].provenance.sha256`).
    pub fn validate(&self) -> Result<(), Error> {
        let bad = |field: String, why: &str| Err(Error::Facts(format!("{field}: {why}")));
        if self.artifacts.is_empty() {
            return bad("artifacts".into(), "a release names at least one artifact (the statement's subjects)");
        }
        if !is_sha256(&self.pipeline.definition_sha256) {
            return bad("pipeline.definitionSha256".into(), "expected 64 lowercase hex digits");
        }
        let doc = |field: String, d: &DocumentRef| -> Result<(), Error> {
            if relative(&d.path).is_none() {
                return bad(format!("{field}.path"), "expected a relative path under the records directory, without `..`");
            }
            if !is_sha256(&d.sha256) {
                return bad(format!("{field}.sha256"), "expected 64 lowercase hex digits");
            }
            Ok(())
        };
        for (i, b) in self.builds.iter().enumerate() {
            doc(format!("builds[{i}].provenance"), &b.provenance)?;
            if self.builds[..i].iter().any(|o| o.action == b.action) {
                return bad(format!("builds[{i}].action"), "two builds with the same action name");
            }
        }
        for (i, s) in self.scans.iter().enumerate() {
            if !is_sha256(&s.plugin_sha256) {
                return bad(format!("scans[{i}].pluginSha256"), "expected 64 lowercase hex digits");
            }
            if let Some(build) = &s.build
                && !self.builds.iter().any(|b| &b.action == build)
            {
                return bad(format!("scans[{i}].build"), "names no build of this release");
            }
        }
        for (i, a) in self.approvals.iter().enumerate() {
            if parse_time(&a.time).is_none() {
                return bad(format!("approvals[{i}].time"), "expected an RFC 3339 time");
            }
        }
        for (i, d) in self.deployments.iter().enumerate() {
            doc(format!("deployments[{i}].attestation"), &d.attestation)?;
            for (field, t) in [("startTime", &d.start_time), ("endTime", &d.end_time)] {
                if parse_time(t).is_none() {
                    return bad(format!("deployments[{i}].{field}"), "expected an RFC 3339 time");
                }
            }
        }
        for (i, a) in self.artifacts.iter().enumerate() {
            if !is_sha256(&a.sha256) {
                return bad(format!("artifacts[{i}].sha256"), "expected 64 lowercase hex digits");
            }
            if !self.builds.iter().any(|b| b.action == a.build) {
                return bad(format!("artifacts[{i}].build"), "names no build of this release");
            }
        }
        Ok(())
    }
}

/// The statement for `facts` (validated first).
pub fn statement(facts: &ReleaseFacts) -> Result<Statement, Error> {
    facts.validate()?;
    let subjects = facts.artifacts.iter().map(|a| ResourceDescriptor::file(a.name.clone(), a.sha256.clone())).collect();
    let predicate = serde_json::to_value(facts).map_err(|e| Error::Facts(e.to_string()))?;
    Ok(Statement::new(subjects, PREDICATE_TYPE, predicate))
}

/// The compact JSON payload of the statement for `facts`: what a signer plugin signs as an
/// in-toto payload (the CLI signs through the built-in `dsse-signer`, as for build provenance).
pub fn payload(facts: &ReleaseFacts) -> Result<Vec<u8>, Error> {
    statement(facts)?.to_json().map_err(Error::Attest)
}

/// Signs the statement for `facts` into a DSSE envelope.
pub fn sign(facts: &ReleaseFacts, signer: &dyn Signer) -> Result<Envelope, Error> {
    dsse::sign_statement(&statement(facts)?, signer).map_err(Error::Attest)
}

/// Writes `envelope` to `path` as a one-line `.intoto.jsonl`, atomically (temp file + rename).
pub fn write(path: &Path, envelope: &Envelope) -> Result<(), Error> {
    dsse::write_jsonl(path, std::slice::from_ref(envelope)).map_err(Error::Attest)
}

/// The facts of a (verified) release statement: its predicate type, its predicate, and subjects
/// that are exactly the predicate's artifacts.
pub fn facts(statement: &Statement) -> Result<ReleaseFacts, Error> {
    if statement.predicate_type != PREDICATE_TYPE {
        return Err(Error::NotRelease(format!("its predicateType is {}, not {PREDICATE_TYPE}", statement.predicate_type)));
    }
    let facts: ReleaseFacts = serde_json::from_value(statement.predicate.clone()).map_err(|e| Error::NotRelease(format!("its predicate is not a release record: {e}")))?;
    let mut subjects: Vec<(Option<&str>, Option<&str>)> = statement.subject.iter().map(|s| (s.name.as_deref(), s.sha256())).collect();
    let mut artifacts: Vec<(Option<&str>, Option<&str>)> = facts.artifacts.iter().map(|a| (Some(a.name.as_str()), Some(a.sha256.as_str()))).collect();
    subjects.sort();
    artifacts.sort();
    if subjects != artifacts {
        return Err(Error::NotRelease("its subjects are not the artifacts its predicate lists".into()));
    }
    facts.validate()?;
    Ok(facts)
}
