//! A finished run's release record: the store's facts about one execution → kiln-release's
//! [`ReleaseFacts`] → a signed `release.intoto.jsonl` in the run's record directory
//! (`<store>/runs/<execution id>/`), as `docs/release-record.md` defines it.
//!
//! Where each fact comes from (the store keeps every action's details, also of failed actions):
//!
//! - `pipeline`: the execution's stored definition (name, `version`, SHA-256 of its bytes);
//!   `run`: the execution's id, status, start, end and trigger.
//! - `sources`: each Source action's commit, its author and committer (the source executor
//!   reads them from the commit object with the confined git), its branch, and its repository
//!   name (`RepositoryName`/`FullRepositoryName`, as the action's variables say it).
//! - `builds`: each single CodeBuild action whose details name a signed provenance
//!   (`provenance`, `provenanceDigest`), and each build of a batch action (`provenance.<id>`,
//!   named `<action>/<identifier>`); status and builder are read from that provenance's
//!   statement, the path made relative to the records directory.
//! - `scans`: each plugin run a build's provenance records with findings per severity (the
//!   `file-scanner` plugins), with the build's action named so the verifier checks the digest
//!   and findings against that provenance; verdict `failed` when the plugin's outcome was not
//!   `succeeded`.
//! - `approvals`: each answered manual approval (who, when to the millisecond, outcome, comment).
//! - `deployments`: each CodeDeploy action's deployment (`deploy.rs` details) and its signed
//!   attestation. A rollback deployment `kiln deploy` made after a failed one is not listed: it
//!   redeployed an earlier release's revision, which no build of this run made (the failed
//!   deployment's own attestation and status are).
//! - `artifacts`: the output artifacts of those builds, as stored (the statement's subjects); in
//!   a batch, the output named after a build's identifier is that build's (a combined artifact
//!   is a subject of the batch statement only, and is left out with a note).
//!
//! A ROLLBACK execution (V2 stage-failure rollback) runs only the failed stage, with the
//! artifacts of the execution it rolls back to: its record names that execution's sources,
//! builds, scans and artifacts (the release it redeploys) and its own deployments.
//!
//! Every list is in the order the actions started; only each action's latest attempt counts.
//! A run that released no artifact (it failed before any build made one) gets no record: a
//! release names at least one artifact ([`NoRelease`]).
//!
//! Security: paths named in the record are relative to the records directory; a document outside
//! it (a record path that does not start with it) is left out with a note, never named by an
//! absolute path. The record holds names, digests, statuses and times, no secret value.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use kiln_attest::Signer;
use kiln_pipeline::store::{ActionRow, Snapshot};
use kiln_pipeline::exec::status::{ActionStatus, ApprovalStatus};
use kiln_release::{ApprovalFact, ArtifactFact, BuildFact, DeploymentFact, DocumentRef, PipelineFact, ReleaseFacts, RunFact, ScanFact, SourceFact, Person};
use sha2::{Digest, Sha256};

/// Why a run has no release record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoRelease(pub String);

impl std::fmt::Display for NoRelease {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Where a run's release record is written.
pub fn record_path(store_dir: &Path, execution_id: &str) -> PathBuf {
    store_dir.join("runs").join(execution_id).join(kiln_release::FILE_NAME)
}

/// RFC 3339 in UTC with milliseconds.
pub fn rfc3339_ms(ms: i64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp_nanos(ms as i128 * 1_000_000).unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    t.format(&time::format_description::well_known::Rfc3339).unwrap_or_default()
}

/// The latest attempt of each action, in the order the actions (first) started.
fn latest(snap: &Snapshot) -> Vec<&ActionRow> {
    let mut out: Vec<&ActionRow> = Vec::new();
    for a in &snap.actions {
        match out.iter_mut().find(|o| o.stage == a.stage && o.action == a.action) {
            Some(o) if o.attempt < a.attempt => *o = a,
            Some(_) => {}
            None => out.push(a),
        }
    }
    out.sort_by_key(|a| a.started_at);
    out
}

/// `path` as a document under `records` (relative), with the digest from `sha256:<hex>`.
fn document(records: &Path, path: &str, digest: &str) -> Option<DocumentRef> {
    let rel = Path::new(path).strip_prefix(records).ok()?;
    if !rel.components().all(|c| matches!(c, std::path::Component::Normal(_))) {
        return None;
    }
    let rel = rel.to_str()?.to_string();
    let sha256 = digest.strip_prefix("sha256:").unwrap_or(digest).to_string();
    Some(DocumentRef { path: rel, sha256 })
}

fn person(name: Option<&String>, email: Option<&String>) -> Option<Person> {
    let name = name.filter(|n| !n.is_empty())?.clone();
    Some(Person { name, email: email.filter(|e| !e.is_empty()).cloned() })
}

/// The facts of execution `snap`, documents named relative to `records` (the `.kiln/`
/// directory). `rolled_back_to`: for a ROLLBACK execution, the execution whose release it
/// redeploys (its sources, builds, scans and artifacts are the release; the rollback's own
/// deployments and approvals are what happened to it). `notes` gets a line for each thing left
/// out and why.
pub fn facts(snap: &Snapshot, rolled_back_to: Option<&Snapshot>, records: &Path, notes: &mut Vec<String>) -> Result<ReleaseFacts, NoRelease> {
    let e = &snap.execution;
    let definition: serde_json::Value = serde_json::from_str(&e.definition).unwrap_or_default();
    let pipeline = PipelineFact { name: e.pipeline.clone(), version: definition["pipeline"]["version"].as_i64(), definition_sha256: hex::encode(Sha256::digest(e.definition.as_bytes())) };
    let run = RunFact { id: e.id.clone(), status: e.status.as_str().to_string(), start_time: Some(rfc3339_ms(e.created_at)), end_time: e.status.is_final().then(|| rfc3339_ms(e.updated_at)), trigger: Some(e.trigger_type.clone()) };
    let mut f = ReleaseFacts { pipeline, run, sources: Vec::new(), builds: Vec::new(), scans: Vec::new(), approvals: Vec::new(), deployments: Vec::new(), artifacts: Vec::new() };
    let origin = rolled_back_to.unwrap_or(snap);
    if let Some(t) = rolled_back_to {
        notes.push(format!("run {} is a rollback: its sources, builds and artifacts are those of run {}, the release it redeploys", e.id, t.execution.id));
    }
    for a in latest(origin) {
        let d = &a.output_details;
        if let (Some(commit), ActionStatus::Succeeded) = (d.get("commitId"), a.status) {
            let v = &a.output_variables;
            let repository = v.get("RepositoryName").or_else(|| v.get("FullRepositoryName")).or_else(|| d.get("repository")).cloned().unwrap_or_default();
            let branch = d.get("branch").or_else(|| v.get("BranchName")).cloned().unwrap_or_default();
            let tag = d.get("reference").and_then(|r| r.strip_prefix("refs/tags/")).map(str::to_string);
            f.sources.push(SourceFact { action: a.action.clone(), repository, branch, commit_id: commit.clone(), tag, author: person(d.get("authorName"), d.get("authorEmail")), committer: person(d.get("committerName"), d.get("committerEmail")) });
        }
        // A deployment's details name the provenance it verified; its build is listed from the
        // build action.
        if d.contains_key("deploymentId") {
            continue;
        }
        if d.contains_key("batchRecord") {
            batch(&mut f, origin, a, records, notes);
        } else if let (Some(path), Some(digest)) = (d.get("provenance"), d.get("provenanceDigest")) {
            let made = origin.artifacts.iter().filter(|r| r.stage == a.stage && r.action == a.action && r.attempt == a.attempt).collect();
            let one = Built { name: a.action.clone(), build_id: a.external_execution_id.clone(), path, digest, artifacts: made };
            build(&mut f, a, one, records, notes);
        } else if d.contains_key("buildRecord") {
            notes.push(format!("{}/{}: the build made no artifact, so it signed no provenance (nothing to attest); not listed", a.stage, a.action));
        }
    }
    for a in latest(snap) {
        let d = &a.output_details;
        if let (Some(id), Some(path), Some(digest)) = (d.get("deploymentId"), d.get("attestation"), d.get("attestationDigest")) {
            let Some(attestation) = document(records, path, digest) else {
                notes.push(format!("{}/{}: the attestation {path} is not under the records directory {}; left out", a.stage, a.action, records.display()));
                continue;
            };
            let start = d.get("startTime").cloned().unwrap_or_else(|| rfc3339_ms(a.started_at));
            let end = d.get("endTime").cloned().unwrap_or_else(|| a.ended_at.map_or(start.clone(), rfc3339_ms));
            f.deployments.push(DeploymentFact {
                action: a.action.clone(),
                stage: a.stage.clone(),
                application: d.get("applicationName").cloned().unwrap_or_default(),
                group: d.get("deploymentGroupName").cloned().unwrap_or_default(),
                deployment_id: id.clone(),
                status: d.get("status").cloned().unwrap_or_default(),
                start_time: start,
                end_time: end,
                attestation,
            });
        }
    }
    let mut approvals: Vec<_> = snap.approvals.iter().filter(|p| matches!(p.status, ApprovalStatus::Approved | ApprovalStatus::Rejected)).collect();
    approvals.sort_by_key(|p| p.answered_at.unwrap_or(p.requested_at));
    for p in approvals {
        let outcome = if p.status == ApprovalStatus::Approved { "Approved" } else { "Rejected" };
        f.approvals.push(ApprovalFact { action: p.action.clone(), stage: p.stage.clone(), by: p.answered_by.clone().unwrap_or_default(), time: rfc3339_ms(p.answered_at.unwrap_or(p.requested_at)), outcome: outcome.into(), comment: p.summary.clone().filter(|c| !c.is_empty()) });
    }
    if f.artifacts.is_empty() {
        return Err(NoRelease(format!("run {} released no artifact (no build of it made one), so there is nothing to record", e.id)));
    }
    f.validate().map_err(|e| NoRelease(e.to_string()))?;
    Ok(f)
}

/// One build of the run: a single build action, or one build of a batch.
struct Built<'a> {
    /// The name the record gives it: the action's, `<action>/<identifier>` in a batch.
    name: String,
    build_id: Option<String>,
    /// Its provenance file and `sha256:` digest, as the action's details say.
    path: &'a str,
    digest: &'a str,
    /// The output artifacts it made.
    artifacts: Vec<&'a kiln_pipeline::store::ArtifactRow>,
}

/// A batch action's builds, each with its own provenance (`provenance.<identifier>`): the
/// output artifact named after a build's identifier is that build's; a combined artifact is a
/// subject of the batch statement, which the release format does not name, so it is left out
/// with a note.
fn batch(f: &mut ReleaseFacts, snap: &Snapshot, a: &ActionRow, records: &Path, notes: &mut Vec<String>) {
    let d = &a.output_details;
    let made: Vec<_> = snap.artifacts.iter().filter(|r| r.stage == a.stage && r.action == a.action && r.attempt == a.attempt).collect();
    let mut named = Vec::new();
    for id in d.get("batchBuilds").map(String::as_str).unwrap_or_default().split(',').filter(|i| !i.is_empty()) {
        let Some(digest) = d.get(&format!("provenanceDigest.{id}")) else {
            notes.push(format!("{}/{}: the batch's build {id} signed no provenance (it made no artifact, or did not run); left out", a.stage, a.action));
            continue;
        };
        let Some(path) = d.get(&format!("provenance.{id}")) else {
            notes.push(format!("{}/{}: the batch's build {id} has no provenance path in the store; left out", a.stage, a.action));
            continue;
        };
        let artifacts: Vec<_> = made.iter().copied().filter(|r| r.name == id).collect();
        named.extend(artifacts.iter().map(|r| r.name.clone()));
        let one = Built { name: format!("{}/{id}", a.action), build_id: d.get(&format!("buildId.{id}")).cloned(), path, digest, artifacts };
        build(f, a, one, records, notes);
    }
    for r in made.iter().filter(|r| !named.contains(&r.name)) {
        notes.push(format!("{}/{}: the artifact {} combines the batch's builds; it is a subject of the batch statement, not of one build's provenance, so the release does not list it", a.stage, a.action, r.name));
    }
}

/// One build: its provenance (status and builder from the statement), the scanner verdicts it
/// records, the artifacts it made.
fn build(f: &mut ReleaseFacts, a: &ActionRow, b: Built, records: &Path, notes: &mut Vec<String>) {
    let (name, path) = (&b.name, b.path);
    let Some(provenance) = document(records, path, b.digest) else {
        notes.push(format!("{}/{name}: its provenance {path} is not under the records directory {}; left out", a.stage, records.display()));
        return;
    };
    let statement = kiln_fs::read_input_nofollow(Path::new(path), kiln_fs::limits::DOCUMENT, "provenance")
        .ok()
        .and_then(|b| kiln_attest::dsse::parse_jsonl(&b).ok())
        .and_then(|l| l.into_iter().next())
        .and_then(|x| match x {
            kiln_attest::dsse::Attestation::Envelope(env) => env.statement_unverified().ok(),
            _ => None,
        });
    let Some(statement) = statement else {
        notes.push(format!("{}/{name}: its provenance {path} cannot be read as a DSSE statement; left out", a.stage));
        return;
    };
    let p = &statement.predicate;
    let internal = &p["buildDefinition"]["internalParameters"];
    f.builds.push(BuildFact {
        action: name.clone(),
        stage: a.stage.clone(),
        build_id: b.build_id.or_else(|| p["runDetails"]["metadata"]["invocationId"].as_str().map(str::to_string)).unwrap_or_default(),
        status: internal["buildStatus"].as_str().unwrap_or_default().to_string(),
        builder: p["runDetails"]["builder"]["id"].as_str().unwrap_or_default().to_string(),
        provenance,
    });
    for plugin in internal["plugins"].as_array().into_iter().flatten() {
        let Some(by) = plugin["findingsBySeverity"].as_array() else { continue };
        let findings: BTreeMap<String, u64> = by.iter().filter_map(|e| Some((e[0].as_str()?.to_ascii_lowercase(), e[1].as_u64()?))).filter(|(_, n)| *n > 0).collect();
        let sha = plugin["sha256"].as_str().unwrap_or_default();
        if sha.len() != 64 || !sha.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
            notes.push(format!("{}/{name}: the plugin run {} in its provenance has a digest `{sha}` that is not a SHA-256; its verdict is left out", a.stage, plugin["name"]));
            continue;
        }
        let verdict = if plugin["outcome"].as_str() == Some("succeeded") { "passed" } else { "failed" };
        f.scans.push(ScanFact {
            action: name.clone(),
            plugin: plugin["name"].as_str().unwrap_or_default().to_string(),
            plugin_sha256: sha.to_string(),
            findings,
            verdict: verdict.into(),
            build: Some(name.clone()),
        });
    }
    for art in b.artifacts {
        f.artifacts.push(ArtifactFact { name: art.name.clone(), sha256: art.digest.clone(), build: name.clone() });
    }
}

/// Sign `facts` and write the record (atomically) to `path`.
pub fn write(path: &Path, facts: &ReleaseFacts, signer: &dyn Signer) -> Result<(), String> {
    let envelope = kiln_release::sign(facts, signer).map_err(|e| e.to_string())?;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    kiln_release::statement::write(path, &envelope).map_err(|e| format!("{}: {e}", path.display()))
}

#[cfg(test)]
mod tests;
