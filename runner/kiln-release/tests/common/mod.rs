//! A real signed chain for tests: build provenance and deployment attestations signed with a
//! fresh key into a records directory, and the facts of a release over them. Shared by
//! `kiln-release`'s tests and the `kiln verify --release` tests (included by path).

#![allow(dead_code)]

use std::path::{Path, PathBuf};

use kiln_attest::dsse;
use kiln_attest::intoto::{ResourceDescriptor, Statement};
use kiln_attest::KeyPair;
use kiln_release::*;
use serde_json::json;
use sha2::{Digest, Sha256};

pub const BUILDER: &str = "https://kiln.dev/builders/local/v1";
pub const COMMIT: &str = "4b825dc642cb6eb9a060e54bf8d69288fbee4904";
pub const SECRETS_SCAN_SHA: &str = "5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e";

pub fn sha256(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Signs `statement` with `key` and writes it under `root/rel`; returns the document reference.
pub fn write_signed(root: &Path, rel: &str, statement: &Statement, key: &KeyPair) -> DocumentRef {
    let path = root.join(rel);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let env = dsse::sign_statement(statement, key).unwrap();
    let bytes = dsse::to_jsonl(&[env]);
    std::fs::write(&path, &bytes).unwrap();
    DocumentRef { path: rel.into(), sha256: sha256(&bytes) }
}

/// A kiln build's SLSA provenance (the shape `runner/kiln/src/provenance.rs` writes).
pub fn provenance(build_id: &str, status: &str, revision: &str, subjects: Vec<ResourceDescriptor>, critical: u64) -> Statement {
    let predicate = json!({
        "buildDefinition": {
            "buildType": "https://kiln.dev/buildtypes/codebuild-buildspec/v1",
            "externalParameters": {"buildspec": "buildspec.yml", "source": {"repository": "https://example.com/app.git", "directory": ".", "revision": revision}},
            "internalParameters": {"buildStatus": status, "plugins": [{"name": "secrets-scan", "sha256": SECRETS_SCAN_SHA, "outcome": "SUCCEEDED", "findings": critical, "findingsBySeverity": [["critical", critical], ["low", 0]]}]},
            "resolvedDependencies": []
        },
        "runDetails": {"builder": {"id": BUILDER}, "metadata": {"invocationId": build_id, "startedOn": "2026-12-06T09:00:00Z", "finishedOn": "2026-12-06T09:01:00Z"}}
    });
    Statement::new(subjects, kiln_attest::slsa::PREDICATE_TYPE, predicate)
}

/// A kiln deployment attestation (the shape `kiln-deploy`'s `record/attest.rs` writes).
pub fn deployment(id: &str, group: &str, status: &str, revision_sha: &str, provenance_sha: &str) -> Statement {
    let value = json!({
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [{"name": "app.zip", "digest": {"sha256": revision_sha}}],
        "predicateType": "https://kiln.dev/deployment/v1",
        "predicate": {
            "deployment": {"deploymentId": id, "applicationName": "app", "deploymentGroupName": group, "computePlatform": "Server", "deploymentConfigName": "CodeDeployDefault.AllAtOnce", "creator": "user"},
            "provenance": {"sha256": provenance_sha},
            "outcome": {"status": status},
            "alarms": []
        }
    });
    Statement::from_json(&serde_json::to_vec(&value).unwrap()).unwrap()
}

/// The records directory, the key and the facts of a release that passes every preset.
pub struct Chain {
    pub dir: tempfile::TempDir,
    pub key: KeyPair,
    pub facts: ReleaseFacts,
    pub artifact: Vec<u8>,
}

impl Chain {
    pub fn root(&self) -> PathBuf {
        self.dir.path().to_path_buf()
    }

    /// A pipeline run Source → Build → Staging → Approval → Production.
    pub fn new() -> Chain {
        let dir = tempfile::tempdir().unwrap();
        let key = KeyPair::generate().unwrap();
        let artifact = b"the application, zipped".to_vec();
        let art = sha256(&artifact);
        let prov = write_signed(dir.path(), "builds/b1/provenance.intoto.jsonl", &provenance("kiln:b1", "SUCCEEDED", COMMIT, vec![ResourceDescriptor::file("app.zip", art.clone())], 0), &key);
        let staging = write_signed(dir.path(), "deployments/d-STAGING1/deployment.intoto.jsonl", &deployment("d-STAGING1", "staging", "Succeeded", &art, &prov.sha256), &key);
        let production = write_signed(dir.path(), "deployments/d-PROD0001/deployment.intoto.jsonl", &deployment("d-PROD0001", "production", "Succeeded", &art, &prov.sha256), &key);
        let facts = ReleaseFacts {
            pipeline: PipelineFact { name: "app".into(), version: Some(1), definition_sha256: sha256(b"definition") },
            run: RunFact { id: "2f1c5a9e-0000-4000-8000-000000000001".into(), status: "Succeeded".into(), start_time: Some("2026-12-06T09:00:00Z".into()), end_time: Some("2026-12-06T09:30:00Z".into()), trigger: Some("kiln pipeline run".into()) },
            sources: vec![SourceFact { action: "Source".into(), repository: "https://example.com/app.git".into(), branch: "main".into(), commit_id: COMMIT.into(), tag: None, author: Some(Person { name: "Carol Coder".into(), email: Some("carol@example.com".into()) }), committer: Some(Person { name: "Carol Coder".into(), email: Some("carol@example.com".into()) }) }],
            builds: vec![BuildFact { action: "Build".into(), stage: "Build".into(), build_id: "kiln:b1".into(), status: "SUCCEEDED".into(), builder: BUILDER.into(), provenance: prov }],
            scans: vec![ScanFact { action: "Build".into(), plugin: "secrets-scan".into(), plugin_sha256: SECRETS_SCAN_SHA.into(), findings: Default::default(), verdict: "passed".into(), build: Some("Build".into()) }],
            approvals: vec![ApprovalFact { action: "Approve".into(), stage: "Approval".into(), by: "alice@example.com".into(), time: "2026-12-06T09:20:00Z".into(), outcome: "Approved".into(), comment: Some("staging looks good".into()) }],
            deployments: vec![
                DeploymentFact { action: "DeployStaging".into(), stage: "Staging".into(), application: "app".into(), group: "staging".into(), deployment_id: "d-STAGING1".into(), status: "Succeeded".into(), start_time: "2026-12-06T09:05:00Z".into(), end_time: "2026-12-06T09:10:00Z".into(), attestation: staging },
                DeploymentFact { action: "DeployProduction".into(), stage: "Production".into(), application: "app".into(), group: "production".into(), deployment_id: "d-PROD0001".into(), status: "Succeeded".into(), start_time: "2026-12-06T09:21:00Z".into(), end_time: "2026-12-06T09:29:00Z".into(), attestation: production },
            ],
            artifacts: vec![ArtifactFact { name: "app.zip".into(), sha256: art, build: "Build".into() }],
        };
        Chain { dir, key, facts, artifact }
    }

    /// The release record signed with the chain's key.
    pub fn envelope(&self) -> kiln_attest::dsse::Envelope {
        sign(&self.facts, &self.key).unwrap()
    }

    /// Writes the signed release record and the public key; returns (release, key) paths.
    pub fn write_release(&self, dir: &Path) -> (PathBuf, PathBuf) {
        let release = dir.join(FILE_NAME);
        kiln_release::statement::write(&release, &self.envelope()).unwrap();
        let key = dir.join("cosign.pub");
        std::fs::write(&key, self.key.public_key().to_pem()).unwrap();
        (release, key)
    }
}
