//! kiln-release: the signed release record of one pipeline run, and its verification.
//!
//! A release record is an in-toto Statement v1 in a DSSE envelope, signed with the build key
//! (the key that signs each build's provenance), written as `release.intoto.jsonl`. Its
//! subjects are the released artifacts (SHA-256); its predicate (type [`PREDICATE_TYPE`],
//! `https://kiln.dev/release/v1`) is [`ReleaseFacts`], in this order: the pipeline (name,
//! definition digest), the run (id, status), the source commits (repository, branch, commit id,
//! author and committer), every build (action, build id, status, builder, provenance path and
//! digest), every scanner verdict (plugin, plugin digest, findings per severity, verdict),
//! every approval (who, when, outcome, comment), every deployment (group, deployment id,
//! status, times, attestation path and digest), and the artifacts (name, digest, the build
//! that made each). `docs/release-record.md` documents the format field by field.
//!
//! - [`facts`]: the input model the pipeline side fills (plain serde, independent of the
//!   scheduler's types).
//! - [`statement`]: facts → statement → DSSE ([`sign`]), and back ([`statement::facts`]).
//! - [`verify`]: [`verify_release`] checks the signature, then the chain (each build's
//!   provenance and each deployment's attestation exists under the records directory with the
//!   digest named and is signed by the same key; each artifact is a subject of the build that
//!   made it; each deployment deployed something a build of the release made; a scanner that
//!   ran in a build is in its provenance), then a [`Policy`].
//! - [`policy`]: the release policy language (YAML, located errors; presets such as
//!   `approval-by-non-committer` and rules with parameters such as `deployment: {group:
//!   production, after: {group: staging}}`).
//!
//! Security: documents are read through kiln-fs (regular files, bounded) and must resolve inside
//! the records directory ([`RecordsDir`]); paths in a record are relative with no `..`; a
//! document is trusted only when its digest matches the release *and* its own signature
//! verifies with the release's key; no key material or secret value is in a record (the facts
//! hold names, digests, statuses and times). Policies go through kiln-yaml's bounded reader.

#![deny(missing_docs)]

pub mod facts;
pub mod policy;
pub mod statement;
pub mod verify;

pub use facts::*;
pub use policy::Policy;
pub use statement::{sign, FILE_NAME, PREDICATE_TYPE};
pub use verify::{verify_release, Check, Documents, RecordsDir, Verification};

/// What can go wrong making or reading a release record.
#[derive(Debug)]
pub enum Error {
    /// The facts cannot make a release record (the message names the field).
    Facts(String),
    /// The statement is not a kiln release record.
    NotRelease(String),
    /// A signature or format problem from kiln-attest.
    Attest(kiln_attest::Error),
    /// The policy file cannot be read or is invalid (located).
    Policy(String),
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::Facts(m) => write!(f, "the release facts are invalid: {m}"),
            Error::NotRelease(m) => write!(f, "not a kiln release record: {m}"),
            Error::Attest(e) => write!(f, "{e}"),
            Error::Policy(m) => write!(f, "{m}"),
        }
    }
}

impl std::error::Error for Error {}
