//! The batch statement: an in-toto v1 Statement about a batch (predicate type [`PREDICATE_TYPE`],
//! documented in `docs/batch-statement.md`) naming every build's signed provenance by path and
//! digest, its identifier and status, and the batch's status; DSSE-signed like each build's
//! provenance, with the same key, by the same built-in signer plugin, and written atomically as
//! `.kiln/batches/<uuid>/batch.intoto.jsonl`. `kiln verify` checks it ([`verify`]).

use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use kiln_attest::dsse::{self, Attestation};
use kiln_attest::intoto::{ResourceDescriptor, Statement};
use kiln_attest::{KeyPair, PublicKey};
use kiln_batch::record::BuildBatchRecord;
use serde_json::json;

use crate::provenance::{self, EPHEMERAL_WARNING};
use crate::verify::Checks;
use crate::warm::WarmHost;

/// kiln's predicate type for a batch of builds.
pub const PREDICATE_TYPE: &str = "https://kiln.dev/attestations/build-batch/v1";
/// The file name of the batch statement in a batch's record directory.
pub const FILE_NAME: &str = "batch.intoto.jsonl";

/// The subjects: each build's provenance (named by its path under the record root, e.g.
/// `builds/<uuid>/provenance.intoto.jsonl`), then every file of the combined artifact
/// (`<artifact>/<path>`, and the zip itself with `--zip`).
fn subjects(record: &BuildBatchRecord) -> Vec<ResourceDescriptor> {
    let mut out: Vec<ResourceDescriptor> = record.kiln.builds.iter().filter_map(|b| b.provenance.as_ref()).map(|p| ResourceDescriptor::file(p.path.clone(), p.sha256.clone())).collect();
    if let Some(a) = &record.artifacts {
        let name = Path::new(&a.location).file_name().and_then(|n| n.to_str()).unwrap_or("combined").to_string();
        if let Some(zip) = &a.sha256sum {
            out.push(ResourceDescriptor::file(name.clone(), zip.clone()));
        }
        out.extend(a.files.iter().map(|f| ResourceDescriptor::file(format!("{name}/{}", f.path), f.sha256.clone())));
    }
    out
}

/// The statement for a finished batch (its record complete but for the statement's own path).
pub fn statement(record: &BuildBatchRecord, builder_id: &str, ephemeral: bool, signer: &crate::signing::SignerInfo) -> Statement {
    let builds: Vec<serde_json::Value> = record
        .build_groups
        .iter()
        .zip(&record.kiln.builds)
        .map(|(g, k)| {
            json!({
                "identifier": g.identifier,
                "buildId": k.build_id,
                "buildStatus": g.current_build_summary.as_ref().map(|s| s.build_status.clone()),
                "ignoreFailure": g.ignore_failure,
                "dependsOn": g.depends_on,
                "buildspec": k.buildspec,
                "provenance": k.provenance,
                "notStarted": k.not_started,
            })
        })
        .collect();
    let predicate = json!({
        "builder": { "id": builder_id, "version": { "kiln": record.kiln.version } },
        "batch": {
            "id": record.id,
            "arn": record.arn,
            "buildBatchNumber": record.build_batch_number,
            "buildBatchStatus": record.build_batch_status,
            "startTime": record.start_time,
            "endTime": record.end_time,
            "kind": record.kiln.kind,
            "fastFail": record.kiln.fast_fail,
            "buildspec": record.kiln.buildspec,
            "source": { "directory": record.kiln.source_dir, "revision": record.resolved_source_version },
            "combineArtifacts": record.build_batch_config.combine_artifacts,
        },
        "builds": builds,
        "signing": {
            "key": if ephemeral { "ephemeral" } else { "configured" },
            "signer": signer.name, "signerVersion": signer.version, "signerSha256": signer.sha256,
            "warning": ephemeral.then_some(EPHEMERAL_WARNING),
        },
    });
    Statement::new(subjects(record), PREDICATE_TYPE, predicate)
}

/// Sign and write the batch statement into the batch's record directory; `None` when there is
/// nothing to name (no build had artifacts and nothing was combined).
pub fn write(record: &BuildBatchRecord, record_dir: &Path, key: &Arc<KeyPair>, ephemeral: bool, builder_id: &str, hosting: &WarmHost) -> Result<Option<PathBuf>, String> {
    if subjects(record).is_empty() {
        return Ok(None);
    }
    let signer = &hosting.get()?.signer;
    let statement = statement(record, builder_id, ephemeral, &signer.info());
    statement.validate().map_err(|e| e.to_string())?;
    let payload = statement.to_json().map_err(|e| e.to_string())?;
    if ephemeral {
        provenance::write_public_key(record_dir, key)?;
    }
    let envelope = signer.sign_statement(&payload, key.clone())?;
    let path = record_dir.join(FILE_NAME);
    dsse::write_jsonl(&path, &[envelope]).map_err(|e| e.to_string())?;
    Ok(Some(path))
}

/// A subject name from a statement as a relative path: no root, no `..`, no empty name.
fn relative(name: &str) -> Option<PathBuf> {
    let p = Path::new(name);
    (!name.is_empty() && p.components().all(|c| matches!(c, Component::Normal(_)))).then(|| p.to_path_buf())
}

/// Check a verified batch statement: each build's provenance it names exists under the record
/// root (the directory two levels above the statement's, `.kiln/`), has the digest the statement
/// gives it and is signed by the same key; the batch succeeded (or `allow_failed`); the builder is
/// the one expected; and each artifact given is a subject of the statement or of one of the
/// builds' provenance. Returns the subjects of every build's provenance.
pub fn verify(statement: &Statement, path: &Path, key: &PublicKey, builder_id: &str, allow_failed: bool, c: &mut Checks) -> Vec<ResourceDescriptor> {
    let p = &statement.predicate;
    let builder = p["builder"]["id"].as_str().unwrap_or("none");
    c.check("builder", builder == builder_id, || format!("expected {builder_id}, found {builder}"));
    let status = p["batch"]["buildBatchStatus"].as_str().unwrap_or("unknown");
    c.check("batch status", status == "SUCCEEDED" || allow_failed, || format!("expected SUCCEEDED, found {status} (use --allow-failed to accept it)"));
    let root = path.parent().and_then(Path::parent).and_then(Path::parent).map(Path::to_path_buf).unwrap_or_default();
    let mut child_subjects = Vec::new();
    let mut named = 0;
    for b in p["builds"].as_array().into_iter().flatten() {
        let id = b["identifier"].as_str().unwrap_or("?");
        let Some(prov) = b.get("provenance").filter(|v| !v.is_null()) else { continue };
        named += 1;
        let (Some(name), Some(digest)) = (prov["path"].as_str(), prov["sha256"].as_str()) else {
            c.check(&format!("build {id}"), false, || "its provenance entry has no path or sha256".into());
            continue;
        };
        let listed = statement.subject.iter().any(|s| s.name.as_deref() == Some(name) && s.sha256() == Some(digest));
        c.check(&format!("build {id}: subject"), listed, || format!("{name} sha256 {digest} is not a subject of the batch statement"));
        let Some(rel) = relative(name) else {
            c.check(&format!("build {id}: provenance"), false, || format!("`{name}` is not a path inside the record directory"));
            continue;
        };
        let file = root.join(rel);
        let bytes = match kiln_fs::read_input(&file, kiln_fs::limits::DOCUMENT, "provenance") {
            Ok(b) => b,
            Err(e) => {
                c.check(&format!("build {id}: provenance"), false, || format!("{e} (the batch statement names it; expected beside the statement under {})", root.display()));
                continue;
            }
        };
        let found = kiln_engine::sha256_hex(&bytes);
        c.check(&format!("build {id}: provenance digest"), found == digest, || format!("{} has sha256 {found}, the batch statement says {digest}: it changed after the batch signed it", file.display()));
        let envelope = match dsse::parse_jsonl(&bytes).ok().and_then(|l| l.into_iter().next()) {
            Some(Attestation::Envelope(e)) => e,
            _ => {
                c.check(&format!("build {id}: provenance signature"), false, || format!("{} holds no DSSE envelope", file.display()));
                continue;
            }
        };
        let verified = dsse::verify(&envelope, &[key]).map_err(|e| e.to_string()).and_then(|v| v.statement().map_err(|e| e.to_string()));
        match verified {
            Ok(s) => {
                c.check(&format!("build {id}: provenance signature"), true, String::new);
                child_subjects.extend(s.subject);
            }
            Err(e) => c.check(&format!("build {id}: provenance signature"), false, || format!("{}: not signed by the batch's key ({e})", file.display())),
        }
    }
    c.check("builds", named > 0 || !statement.subject.is_empty(), || "the batch statement names no build provenance".into());
    child_subjects
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subject_names_never_leave_the_record_root() {
        assert_eq!(relative("builds/u/provenance.intoto.jsonl"), Some(PathBuf::from("builds/u/provenance.intoto.jsonl")));
        for bad in ["", "/etc/passwd", "../x", "builds/../../x", "./x"] {
            assert_eq!(relative(bad), None, "{bad}");
        }
    }
}
