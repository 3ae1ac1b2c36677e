use std::collections::BTreeMap;

use kiln_attest::intoto::{ResourceDescriptor, Statement};
use kiln_attest::KeyPair;
use kiln_pipeline::exec::status::{ActionStatus, ApprovalStatus, ExecutionStatus, ExecutionType};
use kiln_pipeline::store::{ActionRow, ApprovalRow, ArtifactRow, ExecutionRow, Snapshot};
use serde_json::json;

use super::*;

fn row(stage: &str, action: &str, attempt: i64, started: i64, status: ActionStatus, details: &[(&str, String)]) -> ActionRow {
    ActionRow {
        stage: stage.into(),
        action: action.into(),
        attempt,
        stage_attempt: 1,
        status,
        lease_owner: None,
        lease_until: None,
        started_at: started,
        ended_at: Some(started + 10),
        summary: None,
        error_code: None,
        resolved_configuration: BTreeMap::new(),
        output_variables: BTreeMap::from([("RepositoryName".to_string(), "app".to_string())]),
        external_execution_id: Some(format!("{action}-{attempt}")),
        output_details: details.iter().map(|(k, v)| (k.to_string(), v.clone())).collect(),
        updated_by: None,
    }
}

fn snapshot(actions: Vec<ActionRow>, artifacts: Vec<ArtifactRow>) -> Snapshot {
    let execution = ExecutionRow {
        id: "e-1".into(),
        pipeline: "demo".into(),
        seq: 1,
        definition: r#"{"pipeline":{"name":"demo","version":3}}"#.into(),
        definition_digest: String::new(),
        mode: kiln_pipeline::model::ExecutionMode::Superseded,
        execution_type: ExecutionType::Standard,
        rollback_target: None,
        rollback_stage: None,
        status: ExecutionStatus::Succeeded,
        status_summary: None,
        waiting_stage: None,
        stop_abandon: false,
        variables: BTreeMap::new(),
        trigger_type: "StartPipelineExecution".into(),
        trigger_detail: None,
        source_revisions: Vec::new(),
        created_at: 1_000,
        updated_at: 9_000,
    };
    let approvals = vec![ApprovalRow { stage: "Gate".into(), action: "Approve".into(), attempt: 1, token: "t".into(), status: ApprovalStatus::Approved, custom_data: None, external_entity_link: None, requested_at: 3_000, expires_at: 99_000, summary: Some("ok".into()), answered_by: Some("alice".into()), answered_at: Some(3_500) }];
    Snapshot { execution, stages: Vec::new(), actions, artifacts, approvals }
}

/// A build's signed provenance under `records/builds/b1/`.
fn provenance(records: &Path, artifact_sha: &str) -> (String, String) {
    let st = Statement::new(
        vec![ResourceDescriptor::file("app.zip", artifact_sha)],
        kiln_attest::slsa::PREDICATE_TYPE,
        json!({"buildDefinition": {"internalParameters": {"buildStatus": "SUCCEEDED", "plugins": [{"name": "secrets-scan", "sha256": "ab".repeat(32), "outcome": "failed", "findingsBySeverity": [["high", 2], ["low", 0]]}, {"name": "hello-step", "sha256": "cd".repeat(32), "outcome": "succeeded"}, {"name": "odd-scanner", "sha256": "not hex", "outcome": "succeeded", "findingsBySeverity": []}]}}, "runDetails": {"builder": {"id": "https://kiln.dev/builders/local/v1"}}}),
    );
    let env = kiln_attest::dsse::sign_statement(&st, &KeyPair::generate().unwrap()).unwrap();
    let path = records.join("builds/b1/provenance.intoto.jsonl");
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let bytes = kiln_attest::dsse::to_jsonl(&[env]);
    std::fs::write(&path, &bytes).unwrap();
    (path.display().to_string(), format!("sha256:{}", hex::encode(Sha256::digest(&bytes))))
}

#[test]
fn the_facts_come_from_the_latest_attempts_in_start_order_with_relative_documents() {
    let tmp = tempfile::tempdir().unwrap();
    let records = tmp.path().join(".kiln");
    let art = "a".repeat(64);
    let (prov, prov_digest) = provenance(&records, &art);
    let source = row("Source", "Checkout", 1, 100, ActionStatus::Succeeded, &[("commitId", "c".repeat(40)), ("branch", "main".into()), ("authorName", "Ann".into()), ("authorEmail", "ann@x".into()), ("committerName", "Carl".into()), ("committerEmail", "".into())]);
    let failed_build = row("Build", "Package", 1, 200, ActionStatus::Failed, &[]);
    let build = row("Build", "Package", 2, 300, ActionStatus::Succeeded, &[("provenance", prov.clone()), ("provenanceDigest", prov_digest.clone())]);
    let att = records.join("deployments/d-1/attestation.intoto.jsonl");
    let deploy = row("Staging", "Deploy", 1, 400, ActionStatus::Failed, &[("deploymentId", "d-1".into()), ("status", "Failed".into()), ("deploymentGroupName", "staging".into()), ("applicationName", "web".into()), ("attestation", att.display().to_string()), ("attestationDigest", format!("sha256:{}", "b".repeat(64))), ("provenance", prov.clone()), ("provenanceDigest", prov_digest.clone()), ("startTime", "2026-12-06T10:00:00Z".into())]);
    let artifacts = vec![ArtifactRow { name: "Web".into(), digest: art.clone(), size: 1, stage: "Build".into(), action: "Package".into(), attempt: 2 }, ArtifactRow { name: "Old".into(), digest: "f".repeat(64), size: 1, stage: "Build".into(), action: "Package".into(), attempt: 1 }];
    let snap = snapshot(vec![deploy, failed_build, source, build], artifacts);
    let mut notes = Vec::new();
    let f = facts(&snap, None, &records, &mut notes).unwrap();
    assert_eq!(notes.len(), 1, "{notes:?}");
    assert!(notes[0].contains("odd-scanner") && notes[0].contains("not a SHA-256"), "{notes:?}");
    assert_eq!(f.pipeline.version, Some(3));
    assert_eq!(f.pipeline.definition_sha256, hex::encode(Sha256::digest(snap.execution.definition.as_bytes())));
    assert_eq!((f.run.status.as_str(), f.run.end_time.as_deref()), ("Succeeded", Some("1970-01-01T00:00:09Z")));
    let s = &f.sources[0];
    assert_eq!((s.repository.as_str(), s.branch.as_str()), ("app", "main"));
    assert_eq!(s.author, Some(Person { name: "Ann".into(), email: Some("ann@x".into()) }));
    assert_eq!(s.committer, Some(Person { name: "Carl".into(), email: None }));
    assert_eq!(f.builds.len(), 1, "the latest attempt only, and a deployment's provenance is not a build");
    let b = &f.builds[0];
    assert_eq!((b.build_id.as_str(), b.status.as_str(), b.builder.as_str()), ("Package-2", "SUCCEEDED", "https://kiln.dev/builders/local/v1"));
    assert_eq!(b.provenance, DocumentRef { path: "builds/b1/provenance.intoto.jsonl".into(), sha256: prov_digest.trim_start_matches("sha256:").into() });
    assert_eq!(f.scans.len(), 1, "only plugins with findings per severity are scanners");
    assert_eq!((f.scans[0].plugin.as_str(), f.scans[0].verdict.as_str(), f.scans[0].findings.clone()), ("secrets-scan", "failed", BTreeMap::from([("high".to_string(), 2)])));
    assert_eq!(f.artifacts, vec![ArtifactFact { name: "Web".into(), sha256: art, build: "Package".into() }]);
    let d = &f.deployments[0];
    assert_eq!((d.group.as_str(), d.status.as_str(), d.attestation.path.as_str(), d.start_time.as_str()), ("staging", "Failed", "deployments/d-1/attestation.intoto.jsonl", "2026-12-06T10:00:00Z"));
    assert_eq!(f.approvals[0], ApprovalFact { action: "Approve".into(), stage: "Gate".into(), by: "alice".into(), time: "1970-01-01T00:00:03.5Z".into(), outcome: "Approved".into(), comment: Some("ok".into()) });
}

#[test]
fn documents_outside_the_records_directory_are_left_out_never_named_absolutely() {
    let tmp = tempfile::tempdir().unwrap();
    let records = tmp.path().join(".kiln");
    let (prov, digest) = provenance(&tmp.path().join("elsewhere"), &"a".repeat(64));
    let build = row("Build", "Package", 1, 1, ActionStatus::Succeeded, &[("provenance", prov), ("provenanceDigest", digest)]);
    let deploy = row("Deploy", "D", 1, 2, ActionStatus::Succeeded, &[("deploymentId", "d-1".into()), ("attestation", "/etc/passwd".into()), ("attestationDigest", format!("sha256:{}", "b".repeat(64)))]);
    let snap = snapshot(vec![build, deploy], vec![ArtifactRow { name: "W".into(), digest: "a".repeat(64), size: 1, stage: "Build".into(), action: "Package".into(), attempt: 1 }]);
    let mut notes = Vec::new();
    let e = facts(&snap, None, &records, &mut notes).unwrap_err();
    assert!(e.0.contains("released no artifact"), "{e}");
    assert_eq!(notes.len(), 2, "{notes:?}");
    assert!(notes[0].contains("is not under the records directory") && notes[1].contains("/etc/passwd"), "{notes:?}");
    assert_eq!(document(&records, &records.join("../x").display().to_string(), "sha256:00"), None, "a path that climbs out through `..`");
    assert_eq!(document(&records, &records.join("builds/x").display().to_string(), "sha256:00").map(|d| d.path), Some("builds/x".to_string()));
}

#[test]
fn a_release_is_signed_and_written_atomically_and_verifies_its_signature() {
    let tmp = tempfile::tempdir().unwrap();
    let records = tmp.path().join(".kiln");
    let art = "a".repeat(64);
    let (prov, digest) = provenance(&records, &art);
    let build = row("Build", "Package", 1, 1, ActionStatus::Succeeded, &[("provenance", prov), ("provenanceDigest", digest)]);
    let snap = snapshot(vec![build], vec![ArtifactRow { name: "W".into(), digest: art, size: 1, stage: "Build".into(), action: "Package".into(), attempt: 1 }]);
    let f = facts(&snap, None, &records, &mut Vec::new()).unwrap();
    let key = KeyPair::generate().unwrap();
    let path = record_path(&records.join("pipelines"), "e-1");
    write(&path, &f, &key).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    let Some(kiln_attest::dsse::Attestation::Envelope(env)) = kiln_attest::dsse::parse_jsonl(&bytes).unwrap().into_iter().next() else { panic!() };
    let statement = kiln_attest::dsse::verify(&env, &[key.public_key()]).unwrap().statement().unwrap();
    assert_eq!(kiln_release::statement::facts(&statement).unwrap(), f);
}
