//! [`verify_release`]: the signature of a release record, then the chain it names, then a
//! release policy. Each check is named and says what was expected and what was found.
//!
//! The chain: every build's provenance exists under the records directory with the digest the
//! release names, is signed by the same key, is SLSA provenance by the builder named with the
//! status named; every released artifact is a subject of the provenance of the build that made
//! it; a scanner that ran in a build is in that build's provenance with the same plugin digest
//! and findings; every deployment's attestation exists with its digest, is signed by the same
//! key, names the same deployment, group and status, names (if any) build provenance of this
//! release, and deployed a revision one of the release's verified builds made: a subject of its
//! provenance, or a bundle packed from its output whose attestation names that provenance.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use kiln_attest::dsse::{self, Attestation, Envelope};
use kiln_attest::intoto::{Statement, Subject};
use kiln_attest::slsa::Provenance;
use kiln_attest::PublicKey;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::facts::{BuildFact, DocumentRef, ReleaseFacts};
use crate::policy::Policy;
use crate::statement::{self, relative};

/// The predicate type of a kiln deployment attestation (`kiln-deploy`'s `record/attest.rs`).
pub const DEPLOYMENT_PREDICATE_TYPE: &str = "https://kiln.dev/deployment/v1";

/// Where the documents a release names are read from.
pub trait Documents {
    /// The bytes of the document at `path` (relative, already checked to have no `..`), or why
    /// it cannot be read (naming the file).
    fn read(&self, path: &Path) -> Result<Vec<u8>, String>;
}

/// The records directory (`.kiln/`): documents are read through kiln-fs, regular files only,
/// bounded, and must resolve inside the directory (a link out is refused, not followed).
pub struct RecordsDir {
    root: PathBuf,
}

impl RecordsDir {
    /// Documents under `root`.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        RecordsDir { root: root.into() }
    }
}

impl Documents for RecordsDir {
    fn read(&self, path: &Path) -> Result<Vec<u8>, String> {
        kiln_fs::read_input_within(&self.root, self.root.join(path), kiln_fs::limits::DOCUMENT, "attestation").map_err(|e| e.to_string())
    }
}

/// One named check and its outcome: `Ok(what it established)` or `Err(expected vs found)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    /// e.g. `signature`, `build Build: provenance digest`, `policy rule 2 (approval before production)`.
    pub name: String,
    /// The outcome.
    pub result: Result<String, String>,
}

/// What [`verify_release`] found.
#[derive(Debug, Clone)]
pub struct Verification {
    /// The release's facts, once its signature and statement verified.
    pub facts: Option<ReleaseFacts>,
    /// Every check, in the order made.
    pub checks: Vec<Check>,
}

impl Verification {
    /// Whether every check passed (and the statement could be read at all).
    pub fn verified(&self) -> bool {
        self.facts.is_some() && self.checks.iter().all(|c| c.result.is_ok())
    }

    /// The failed checks as `name: why` lines.
    pub fn failures(&self) -> Vec<String> {
        self.checks.iter().filter_map(|c| c.result.as_ref().err().map(|e| format!("{}: {e}", c.name))).collect()
    }
}

struct Checks(Vec<Check>);

impl Checks {
    fn add(&mut self, name: impl Into<String>, result: Result<String, String>) -> bool {
        let ok = result.is_ok();
        self.0.push(Check { name: name.into(), result });
        ok
    }
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// A signed statement named by a release: read, digest, signature; `None` (with the failed
/// check recorded) when any fails.
fn signed_document(what: &str, d: &DocumentRef, key: &PublicKey, docs: &dyn Documents, c: &mut Checks) -> Option<Statement> {
    let Some(rel) = relative(&d.path) else {
        c.add(format!("{what}: document"), Err(format!("`{}` is not a relative path inside the records directory", d.path)));
        return None;
    };
    let bytes = match docs.read(rel) {
        Ok(b) => b,
        Err(e) => {
            c.add(format!("{what}: document"), Err(format!("{e} (the release names {})", d.path)));
            return None;
        }
    };
    let found = sha256_hex(&bytes);
    if !c.add(format!("{what}: digest"), if found == d.sha256 { Ok(format!("{} sha256 {found}", d.path)) } else { Err(format!("{} has sha256 {found}, the release says {}: it changed after the release was signed", d.path, d.sha256)) }) {
        return None;
    }
    let envelope = match dsse::parse_jsonl(&bytes).ok().and_then(|l| l.into_iter().next()) {
        Some(Attestation::Envelope(e)) => e,
        _ => {
            c.add(format!("{what}: signature"), Err(format!("{} holds no DSSE envelope", d.path)));
            return None;
        }
    };
    let statement = dsse::verify(&envelope, &[key]).and_then(|v| v.statement());
    match statement {
        Ok(s) => {
            c.add(format!("{what}: signature"), Ok("signed by the release's key".into()));
            Some(s)
        }
        Err(e) => {
            c.add(format!("{what}: signature"), Err(format!("{} is not signed by the release's key ({e})", d.path)));
            None
        }
    }
}

fn expect_eq(c: &mut Checks, name: String, what: &str, expected: &str, found: Option<&str>) -> bool {
    let found = found.unwrap_or("none");
    c.add(name, if found == expected { Ok(format!("{what} {found}")) } else { Err(format!("the release says {what} {expected}, the attestation says {found}")) })
}

/// A build whose provenance verified: the provenance and its subjects (what it made).
struct Built {
    provenance: Provenance,
    subjects: Vec<Subject>,
}

/// One build: its provenance checked against the release's facts.
fn check_build(b: &BuildFact, facts: &ReleaseFacts, key: &PublicKey, docs: &dyn Documents, c: &mut Checks) -> Option<Built> {
    let what = format!("build {}", b.action);
    let statement = signed_document(&what, &b.provenance, key, docs, c)?;
    let provenance = match Provenance::from_statement(&statement) {
        Ok(p) => p,
        Err(e) => {
            c.add(format!("{what}: provenance"), Err(format!("expected SLSA provenance v1, found {} ({e})", statement.predicate_type)));
            return None;
        }
    };
    let mut ok = expect_eq(c, format!("{what}: builder"), "builder", &b.builder, Some(&provenance.run_details.builder.id));
    let internal = provenance.build_definition.internal_parameters.clone().unwrap_or_default();
    ok &= expect_eq(c, format!("{what}: status"), "build status", &b.status, internal["buildStatus"].as_str());
    let id = provenance.run_details.metadata.as_ref().and_then(|m| m.invocation_id.as_deref());
    ok &= expect_eq(c, format!("{what}: build id"), "build id", &b.build_id, id);
    match provenance.build_definition.external_parameters["source"]["revision"].as_str() {
        Some(rev) => {
            let ok_rev = facts.sources.iter().any(|s| s.commit_id == rev);
            ok &= c.add(format!("{what}: source revision"), if ok_rev { Ok(format!("built {rev}")) } else { Err(format!("the provenance says it built {rev}, which is not a source commit of this release ({})", facts.sources.iter().map(|s| s.commit_id.as_str()).collect::<Vec<_>>().join(", "))) });
        }
        None => {
            c.add(format!("{what}: source revision"), Ok("not recorded in the provenance (the build's directory was not a git repository)".into()));
        }
    }
    ok.then_some(Built { provenance, subjects: statement.subject })
}

/// `(severity, count)` pairs as kiln's provenance records a plugin's findings.
fn findings_of(plugin: &Value) -> BTreeMap<String, u64> {
    plugin["findingsBySeverity"].as_array().into_iter().flatten().filter_map(|e| Some((e[0].as_str()?.to_ascii_lowercase(), e[1].as_u64()?))).filter(|(_, n)| *n > 0).collect()
}

/// Verifies a release record: `envelope` signed by `key`, the chain of documents it names (read
/// from `docs`), and `policy` over its facts.
pub fn verify_release(envelope: &Envelope, key: &PublicKey, docs: &dyn Documents, policy: Option<&Policy>) -> Verification {
    let mut c = Checks(Vec::new());
    let statement = match dsse::verify(envelope, &[key]) {
        Ok(v) => {
            c.add("signature", Ok(format!("signed by key {}", key.key_id())));
            v.statement()
        }
        Err(e) => {
            c.add("signature", Err(format!("the release record is not signed by the key given ({e})")));
            return Verification { facts: None, checks: c.0 };
        }
    };
    let facts = match statement.map_err(crate::Error::Attest).and_then(|s| statement::facts(&s)) {
        Ok(f) => f,
        Err(e) => {
            c.add("release statement", Err(e.to_string()));
            return Verification { facts: None, checks: c.0 };
        }
    };
    c.add("release statement", Ok(format!("pipeline {} run {} ({})", facts.pipeline.name, facts.run.id, facts.run.status)));

    let builds: Vec<(&BuildFact, Option<Built>)> = facts.builds.iter().map(|b| (b, check_build(b, &facts, key, docs, &mut c))).collect();
    let build_subjects = |action: &str| -> Option<&Vec<Subject>> { builds.iter().find(|(b, _)| b.action == action).and_then(|(_, p)| p.as_ref()).map(|p| &p.subjects) };

    for a in &facts.artifacts {
        let name = format!("artifact {}", a.name);
        let result = match build_subjects(&a.build) {
            None => Err(format!("the provenance of build {} did not verify, so nothing proves it made sha256 {}", a.build, a.sha256)),
            Some(subjects) => match subjects.iter().find(|s| s.sha256() == Some(a.sha256.as_str())) {
                Some(s) => Ok(format!("sha256 {} made by build {} ({})", a.sha256, a.build, s.name.as_deref().unwrap_or("unnamed"))),
                None => Err(format!("sha256 {} is not a subject of build {}'s provenance", a.sha256, a.build)),
            },
        };
        c.add(name, result);
    }

    for s in facts.scans.iter() {
        let Some(build) = &s.build else { continue };
        let name = format!("scan {} in build {build}", s.plugin);
        let Some((_, Some(p))) = builds.iter().find(|(b, _)| &b.action == build) else {
            c.add(name, Err(format!("the provenance of build {build} did not verify, so nothing proves the scan ran")));
            continue;
        };
        let internal = p.provenance.build_definition.internal_parameters.clone().unwrap_or_default();
        let runs: Vec<&Value> = internal["plugins"].as_array().into_iter().flatten().filter(|r| r["name"].as_str() == Some(s.plugin.as_str())).collect();
        let wanted: BTreeMap<String, u64> = s.findings.iter().filter(|(_, n)| **n > 0).map(|(k, v)| (k.to_ascii_lowercase(), *v)).collect();
        let result = if runs.is_empty() {
            Err(format!("build {build}'s provenance records no run of {}", s.plugin))
        } else if let Some(r) = runs.iter().find(|r| r["sha256"].as_str() == Some(s.plugin_sha256.as_str())) {
            let found = findings_of(r);
            if found == wanted { Ok(format!("plugin sha256 {}, findings {found:?}", s.plugin_sha256)) } else { Err(format!("the release says findings {wanted:?}, build {build}'s provenance says {found:?}")) }
        } else {
            Err(format!("the release says plugin sha256 {}, build {build}'s provenance says {}", s.plugin_sha256, runs[0]["sha256"].as_str().unwrap_or("none")))
        };
        c.add(name, result);
    }

    for d in &facts.deployments {
        let what = format!("deployment {} ({})", d.deployment_id, d.group);
        let Some(statement) = signed_document(&what, &d.attestation, key, docs, &mut c) else { continue };
        if !c.add(format!("{what}: attestation"), if statement.predicate_type == DEPLOYMENT_PREDICATE_TYPE { Ok(DEPLOYMENT_PREDICATE_TYPE.into()) } else { Err(format!("expected a deployment attestation ({DEPLOYMENT_PREDICATE_TYPE}), found {}", statement.predicate_type)) }) {
            continue;
        }
        let p = &statement.predicate;
        expect_eq(&mut c, format!("{what}: deployment id"), "deployment", &d.deployment_id, p["deployment"]["deploymentId"].as_str());
        expect_eq(&mut c, format!("{what}: group"), "deployment group", &d.group, p["deployment"]["deploymentGroupName"].as_str());
        expect_eq(&mut c, format!("{what}: status"), "status", &d.status, p["outcome"]["status"].as_str());
        // What the deployment consumed: a revision one of the release's verified builds made —
        // a subject of its provenance, or (a revision packed from a build's output directory
        // has a digest of its own) the build whose provenance the attestation names.
        let named = p["provenance"]["sha256"].as_str();
        let named_build = named.and_then(|prov| builds.iter().find(|(b, built)| built.is_some() && b.provenance.sha256 == prov));
        if let Some(prov) = named {
            let ok = facts.builds.iter().any(|b| b.provenance.sha256 == prov);
            c.add(format!("{what}: build provenance"), if ok { Ok(format!("sha256 {prov}")) } else { Err(format!("the attestation names build provenance sha256 {prov}, which is not a build of this release")) });
        }
        for rev in &statement.subject {
            let digest = rev.sha256().unwrap_or("none");
            let name = rev.name.as_deref().unwrap_or("revision");
            let made_by = builds.iter().find(|(_, p)| p.as_ref().is_some_and(|p| p.subjects.iter().any(|s| s.sha256() == Some(digest))));
            let result = match (made_by, named_build) {
                (Some((b, _)), _) => Ok(format!("deployed {name} sha256 {digest}, made by build {}", b.action)),
                (None, Some((b, _))) => Ok(format!("deployed {name} sha256 {digest}, packed from the output of build {} (the attestation names its provenance)", b.action)),
                (None, None) => Err(format!("it deployed sha256 {digest}, which no verified build of this release made")),
            };
            c.add(format!("{what}: revision"), result);
        }
    }

    if let Some(policy) = policy {
        for (name, result) in policy.evaluate(&facts) {
            c.add(name, result);
        }
    }
    Verification { facts: Some(facts), checks: c.0 }
}
