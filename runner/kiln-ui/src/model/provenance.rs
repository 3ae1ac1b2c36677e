//! A build's provenance (`provenance.intoto.jsonl`, a DSSE envelope holding an in-toto SLSA v1
//! statement) and its verification with kiln-attest: the signature against a key the caller
//! gives (`kiln report --key`) or, failing that, the `provenance.pub` the build left in its record
//! (an ephemeral key: it shows the record is whole and unchanged since signing, not who made it,
//! and the page says so); then every artifact file the record lists must be a subject with the
//! same sha256.

use kiln_attest::dsse::{self, Attestation};
use kiln_attest::PublicKey;
use kiln_record::{Build, Kind, RecordId, Records, RelPath};

const FILE: &str = "provenance.intoto.jsonl";
const PUB: &str = "provenance.pub";

/// Which key verified (or was to verify) the signature.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeySource {
    /// A key the caller gave (`--key`), by its path.
    Given(String),
    /// The ephemeral `provenance.pub` of the record.
    Record,
}

/// What was found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Provenance {
    pub key: Option<KeySource>,
    /// `Ok(key id)` when the signature verified, else why not.
    pub signature: Result<String, String>,
    pub predicate_type: String,
    pub builder_id: Option<String>,
    pub build_type: Option<String>,
    /// `(name, sha256)` of every subject.
    pub subjects: Vec<(String, String)>,
    /// `(uri or name, digest)` of every resolved dependency.
    pub dependencies: Vec<(String, String)>,
    /// Artifact files the record lists that are not subjects with the same digest.
    pub mismatches: Vec<String>,
    /// Artifact files checked against the subjects.
    pub checked: usize,
}

impl Provenance {
    /// Whether every check passed.
    pub fn verified(&self) -> bool {
        self.signature.is_ok() && self.mismatches.is_empty()
    }
}

/// Read and verify the provenance of build `id`; `None` when the build wrote none. `key` is a
/// caller's public key (its path and bytes).
pub fn load(records: &Records, id: &RecordId, build: &Build, key: Option<(&str, &[u8])>) -> Option<Provenance> {
    let bytes = records.read(Kind::Build, id, &RelPath::parse(FILE)?, kiln_fs::limits::DOCUMENT).ok()?;
    let mut p = Provenance { key: None, signature: Err(String::new()), predicate_type: String::new(), builder_id: None, build_type: None, subjects: Vec::new(), dependencies: Vec::new(), mismatches: Vec::new(), checked: 0 };
    let envelope = match dsse::parse_jsonl(&bytes) {
        Ok(list) => match list.into_iter().next() {
            Some(Attestation::Envelope(e)) => e,
            Some(Attestation::Bundle(_)) => {
                p.signature = Err(format!("{FILE} holds a Sigstore bundle: verify it with `kiln verify`"));
                return Some(p);
            }
            None => {
                p.signature = Err(format!("{FILE} is empty"));
                return Some(p);
            }
        },
        Err(e) => {
            p.signature = Err(format!("{FILE}: {e}"));
            return Some(p);
        }
    };
    let public = match key {
        Some((path, k)) => {
            p.key = Some(KeySource::Given(path.to_string()));
            PublicKey::read(k).map_err(|e| format!("{path}: {e}"))
        }
        None => match RelPath::parse(PUB).map(|rel| records.read(Kind::Build, id, &rel, kiln_fs::limits::KEY)) {
            Some(Ok(k)) => {
                p.key = Some(KeySource::Record);
                PublicKey::read(&k).map_err(|e| format!("{PUB}: {e}"))
            }
            _ => Err("no key: the provenance was signed with a key of yours; give it with --key".to_string()),
        },
    };
    // What the statement says is shown even when the signature does not verify (marked so).
    let statement = match public.and_then(|k| dsse::verify(&envelope, &[&k]).map_err(|e| format!("the signature does not verify: {e}")).map(|v| (k.key_id(), v))) {
        Ok((key_id, v)) => {
            p.signature = Ok(key_id);
            v.statement().ok()
        }
        Err(e) => {
            p.signature = Err(e);
            envelope.statement_unverified().ok()
        }
    };
    let Some(s) = statement else { return Some(p) };
    p.predicate_type = s.predicate_type.clone();
    p.subjects = s.subject.iter().map(|d| (d.name.clone().unwrap_or_default(), d.sha256().unwrap_or_default().to_string())).collect();
    p.builder_id = s.predicate.pointer("/runDetails/builder/id").and_then(|v| v.as_str()).map(str::to_string);
    p.build_type = s.predicate.pointer("/buildDefinition/buildType").and_then(|v| v.as_str()).map(str::to_string);
    if let Some(deps) = s.predicate.pointer("/buildDefinition/resolvedDependencies").and_then(|v| v.as_array()) {
        for d in deps {
            let name = d.get("uri").or_else(|| d.get("name")).and_then(|v| v.as_str()).unwrap_or("").to_string();
            let digest = d.get("digest").and_then(|v| v.as_object()).and_then(|m| m.iter().next()).map(|(k, v)| format!("{k}:{}", v.as_str().unwrap_or(""))).unwrap_or_default();
            p.dependencies.push((name, digest));
        }
    }
    // The subjects are `<artifact dir or zip name>/<path>`; the record lists the same files.
    for a in build.all_artifacts() {
        let artifact = std::path::Path::new(&a.location).file_name().and_then(|n| n.to_str()).unwrap_or("artifact");
        for f in &a.files {
            p.checked += 1;
            let name = format!("{artifact}/{}", f.path);
            if !p.subjects.iter().any(|(n, d)| *n == name && *d == f.sha256) {
                p.mismatches.push(name);
            }
        }
    }
    Some(p)
}
