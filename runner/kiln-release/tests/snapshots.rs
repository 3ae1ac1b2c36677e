//! The release statement's format, as a snapshot: subjects, predicate type and the predicate in
//! its documented order (docs/release-record.md).

use kiln_release::*;

fn facts() -> ReleaseFacts {
    let d = |c: char| c.to_string().repeat(64);
    ReleaseFacts {
        pipeline: PipelineFact { name: "app".into(), version: Some(3), definition_sha256: d('1') },
        run: RunFact { id: "2f1c5a9e-0000-4000-8000-000000000001".into(), status: "Succeeded".into(), start_time: Some("2026-12-06T09:00:00Z".into()), end_time: Some("2026-12-06T09:30:00Z".into()), trigger: Some("push filter 1: branch `main` matches `main`".into()) },
        sources: vec![SourceFact { action: "Source".into(), repository: "https://example.com/app.git".into(), branch: "main".into(), commit_id: "4b825dc642cb6eb9a060e54bf8d69288fbee4904".into(), tag: None, author: Some(Person { name: "Carol Coder".into(), email: Some("carol@example.com".into()) }), committer: None }],
        builds: vec![BuildFact { action: "Build".into(), stage: "Build".into(), build_id: "kiln-local:6d0e…".into(), status: "SUCCEEDED".into(), builder: "https://kiln.dev/builders/local/v1".into(), provenance: DocumentRef { path: "builds/6d0e/provenance.intoto.jsonl".into(), sha256: d('2') } }],
        scans: vec![ScanFact { action: "Build".into(), plugin: "secrets-scan".into(), plugin_sha256: d('3'), findings: [("low".to_string(), 2u64)].into_iter().collect(), verdict: "passed".into(), build: Some("Build".into()) }],
        approvals: vec![ApprovalFact { action: "Approve".into(), stage: "Approval".into(), by: "alice@example.com".into(), time: "2026-12-06T09:20:00Z".into(), outcome: "Approved".into(), comment: Some("ship it".into()) }],
        deployments: vec![DeploymentFact { action: "DeployProduction".into(), stage: "Production".into(), application: "app".into(), group: "production".into(), deployment_id: "d-PROD0001".into(), status: "Succeeded".into(), start_time: "2026-12-06T09:21:00Z".into(), end_time: "2026-12-06T09:29:00Z".into(), attestation: DocumentRef { path: "deployments/d-PROD0001/deployment.intoto.jsonl".into(), sha256: d('4') } }],
        artifacts: vec![ArtifactFact { name: "app.zip".into(), sha256: d('5'), build: "Build".into() }],
    }
}

#[test]
fn release_statement() {
    let st = statement::statement(&facts()).unwrap();
    insta::assert_json_snapshot!(st);
    // The payload round-trips into the same facts.
    let back = kiln_attest::intoto::Statement::from_json(&statement::payload(&facts()).unwrap()).unwrap();
    assert_eq!(statement::facts(&back).unwrap(), facts());
}

#[test]
fn facts_that_cannot_be_a_release() {
    let mut f = facts();
    f.artifacts.clear();
    assert!(statement::statement(&f).unwrap_err().to_string().contains("artifacts: a release names at least one artifact"));
    let mut f = facts();
    f.artifacts[0].build = "Nope".into();
    assert!(statement::statement(&f).unwrap_err().to_string().contains("artifacts[0].build: names no build"));
    let mut f = facts();
    f.deployments[0].start_time = "yesterday".into();
    assert!(statement::statement(&f).unwrap_err().to_string().contains("deployments[0].startTime: expected an RFC 3339 time"));
    let mut f = facts();
    f.builds[0].provenance.sha256 = "ABC".into();
    assert!(statement::statement(&f).unwrap_err().to_string().contains("builds[0].provenance.sha256"));
    let mut f = facts();
    f.deployments[0].attestation.path = "/etc/passwd".into();
    assert!(statement::statement(&f).unwrap_err().to_string().contains("deployments[0].attestation.path"));
}
