//! The release policy parser on arbitrary text, and every parsed policy evaluated over a
//! fixed release: never a panic, always a located error or a policy.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(policy) = kiln_release::Policy::parse(text, "policy.yml") {
        let facts: kiln_release::ReleaseFacts = fixed_facts();
        let _ = policy.evaluate(&facts);
    }
});

fn fixed_facts() -> kiln_release::ReleaseFacts {
    let d = |c: char| c.to_string().repeat(64);
    kiln_release::ReleaseFacts {
        pipeline: kiln_release::PipelineFact { name: "p".into(), version: None, definition_sha256: d('1') },
        run: kiln_release::RunFact { id: "r".into(), status: "Succeeded".into(), start_time: None, end_time: None, trigger: None },
        sources: vec![kiln_release::SourceFact { action: "S".into(), repository: "r".into(), branch: "main".into(), commit_id: d('a'), tag: None, author: None, committer: Some(kiln_release::Person { name: "c".into(), email: None }) }],
        builds: vec![],
        scans: vec![kiln_release::ScanFact { action: "B".into(), plugin: "s".into(), plugin_sha256: d('2'), findings: [("weird".to_string(), 1u64)].into_iter().collect(), verdict: "passed".into(), build: None }],
        approvals: vec![kiln_release::ApprovalFact { action: "A".into(), stage: "A".into(), by: "c".into(), time: "bad time".into(), outcome: "Approved".into(), comment: None }],
        deployments: vec![kiln_release::DeploymentFact { action: "D".into(), stage: "D".into(), application: "a".into(), group: "production".into(), deployment_id: "d-1".into(), status: "Succeeded".into(), start_time: "2026-01-01T00:00:00Z".into(), end_time: "x".into(), attestation: kiln_release::DocumentRef { path: "d".into(), sha256: d('3') } }],
        artifacts: vec![],
    }
}
