//! verify_release over a real signed chain (tests/common): the good chain, then one tamper at a
//! time, each failing with the check and the message that names what broke.

mod common;

use common::*;
use kiln_release::*;

const PRESETS: &str = "version: 1\nrequire: [staging-deploy-succeeded-before-production, approval-by-non-committer, all-builds-verified, no-critical-findings, run-succeeded]\n";

fn policy(text: &str) -> Policy {
    Policy::parse(text, "policy.yml").unwrap()
}

fn verify(c: &Chain, p: Option<&Policy>) -> Verification {
    verify_release(&c.envelope(), c.key.public_key(), &RecordsDir::new(c.root()), p)
}

/// The only failure, as `name: why`.
fn only_failure(v: &Verification) -> String {
    let f = v.failures();
    assert_eq!(f.len(), 1, "expected one failure, found {f:#?}");
    f[0].clone()
}

#[test]
fn a_good_chain_verifies_with_every_preset() {
    let c = Chain::new();
    let v = verify(&c, Some(&policy(PRESETS)));
    assert!(v.verified(), "{:#?}", v.failures());
    let names: Vec<&str> = v.checks.iter().map(|c| c.name.as_str()).collect();
    for expected in ["signature", "release statement", "build Build: digest", "build Build: signature", "build Build: builder", "build Build: status", "build Build: source revision", "artifact app.zip", "scan secrets-scan in build Build", "deployment d-STAGING1 (staging): signature", "deployment d-PROD0001 (production): revision", "deployment d-PROD0001 (production): build provenance", "policy: approval-by-non-committer", "policy: staging-deploy-succeeded-before-production"] {
        assert!(names.contains(&expected), "{expected} missing from {names:#?}");
    }
    assert_eq!(v.facts.as_ref().unwrap(), &c.facts);
}

#[test]
fn a_wrong_key_fails_the_signature_and_stops() {
    let c = Chain::new();
    let other = kiln_attest::KeyPair::generate().unwrap();
    let v = verify_release(&c.envelope(), other.public_key(), &RecordsDir::new(c.root()), Some(&policy(PRESETS)));
    assert!(!v.verified() && v.facts.is_none());
    assert!(only_failure(&v).starts_with("signature: the release record is not signed by the key given"), "{:?}", v.failures());
}

#[test]
fn a_provenance_changed_after_signing_breaks_the_chain() {
    let c = Chain::new();
    let path = c.root().join("builds/b1/provenance.intoto.jsonl");
    let mut bytes = std::fs::read(&path).unwrap();
    bytes.push(b'\n');
    std::fs::write(&path, &bytes).unwrap();
    let v = verify(&c, None);
    let f = v.failures();
    assert!(f[0].starts_with("build Build: digest: builds/b1/provenance.intoto.jsonl has sha256 ") && f[0].ends_with("it changed after the release was signed"), "{f:#?}");
    // Nothing the build made can be shown any more.
    assert!(f.iter().any(|l| l.starts_with("artifact app.zip: the provenance of build Build did not verify")), "{f:#?}");
    assert!(f.iter().any(|l| l.contains("(production): revision: it deployed sha256")), "{f:#?}");
}

#[test]
fn a_changed_digest_in_the_release_is_caught() {
    let mut c = Chain::new();
    c.facts.deployments[0].attestation.sha256 = "0".repeat(64);
    let v = verify(&c, None);
    let f = only_failure(&v);
    assert!(f.starts_with("deployment d-STAGING1 (staging): digest: deployments/d-STAGING1/deployment.intoto.jsonl has sha256") && f.contains(&format!("the release says {}", "0".repeat(64))), "{f}");
}

#[test]
fn a_provenance_signed_by_another_key_is_refused() {
    let mut c = Chain::new();
    let other = kiln_attest::KeyPair::generate().unwrap();
    let art = c.facts.artifacts[0].sha256.clone();
    c.facts.builds[0].provenance = write_signed(&c.root(), "builds/b1/provenance.intoto.jsonl", &provenance("kiln:b1", "SUCCEEDED", COMMIT, vec![kiln_attest::intoto::ResourceDescriptor::file("app.zip", art)], 0), &other);
    let v = verify(&c, None);
    assert!(v.failures()[0].starts_with("build Build: signature: builds/b1/provenance.intoto.jsonl is not signed by the release's key"), "{:#?}", v.failures());
}

#[test]
fn an_artifact_no_build_made_is_refused() {
    let mut c = Chain::new();
    c.facts.artifacts[0].sha256 = sha256(b"something else");
    let v = verify(&c, None);
    let f = only_failure(&v);
    assert!(f.starts_with("artifact app.zip: sha256 ") && f.ends_with("is not a subject of build Build's provenance"), "{f}");
}

#[test]
fn a_deployment_of_something_not_built_is_refused() {
    let mut c = Chain::new();
    let foreign = sha256(b"another pipeline's provenance");
    c.facts.deployments[1].attestation = write_signed(&c.root(), "deployments/d-PROD0001/deployment.intoto.jsonl", &deployment("d-PROD0001", "production", "Succeeded", &sha256(b"hand-made zip"), &foreign), &c.key);
    let f = verify(&c, None).failures();
    assert_eq!(f.len(), 2, "{f:#?}");
    assert_eq!(f[0], format!("deployment d-PROD0001 (production): build provenance: the attestation names build provenance sha256 {foreign}, which is not a build of this release"));
    assert!(f[1].starts_with("deployment d-PROD0001 (production): revision: it deployed sha256") && f[1].ends_with("which no verified build of this release made"), "{f:#?}");
}

#[test]
fn a_revision_packed_from_a_builds_output_is_linked_by_its_provenance() {
    // kiln deploy may pack a build's output directory into a bundle of its own digest; the
    // attestation then links it to the build by the provenance digest it names.
    let mut c = Chain::new();
    let prov = c.facts.builds[0].provenance.sha256.clone();
    c.facts.deployments[1].attestation = write_signed(&c.root(), "deployments/d-PROD0001/deployment.intoto.jsonl", &deployment("d-PROD0001", "production", "Succeeded", &sha256(b"bundle packed by kiln deploy"), &prov), &c.key);
    let v = verify(&c, None);
    assert!(v.verified(), "{:#?}", v.failures());
    let check = v.checks.iter().find(|k| k.name == "deployment d-PROD0001 (production): revision").unwrap();
    assert!(check.result.as_ref().unwrap().ends_with("packed from the output of build Build (the attestation names its provenance)"), "{check:?}");
}

#[test]
fn a_deployment_whose_attestation_says_otherwise_is_refused() {
    let mut c = Chain::new();
    c.facts.deployments[0].status = "Failed".into();
    let f = verify(&c, None).failures();
    assert_eq!(f, vec!["deployment d-STAGING1 (staging): status: the release says status Failed, the attestation says Succeeded"]);
}

#[test]
fn scan_findings_must_match_the_build_provenance() {
    let mut c = Chain::new();
    c.facts.scans[0].plugin_sha256 = "ab".repeat(32);
    assert!(only_failure(&verify(&c, None)).contains(&format!("the release says plugin sha256 {}, build Build's provenance says {SECRETS_SCAN_SHA}", "ab".repeat(32))));
    let mut c = Chain::new();
    c.facts.scans[0].findings.insert("critical".into(), 0);
    assert!(verify(&c, None).verified(), "zero counts are no findings");
    c.facts.scans[0].findings.insert("high".into(), 2);
    assert!(only_failure(&verify(&c, None)).contains("the release says findings {\"high\": 2}, build Build's provenance says {}"));
}

#[test]
fn production_before_staging_fails_the_order_rule() {
    let mut c = Chain::new();
    c.facts.deployments[1].start_time = "2026-12-06T09:07:00Z".into();
    c.facts.approvals[0].time = "2026-12-06T09:06:00Z".into();
    let f = only_failure(&verify(&c, Some(&policy(PRESETS))));
    assert_eq!(f, "policy: staging-deploy-succeeded-before-production: deployment d-PROD0001 to production started at 2026-12-06T09:07:00Z with no Succeeded deployment to staging ended before it: deployment d-STAGING1 to staging ended at 2026-12-06T09:10:00Z, after it");
    // A failed staging deployment does not count either.
    let mut c = Chain::new();
    c.facts.deployments[0].attestation = write_signed(&c.root(), "deployments/d-STAGING1/deployment.intoto.jsonl", &deployment("d-STAGING1", "staging", "Failed", &c.facts.artifacts[0].sha256, &c.facts.builds[0].provenance.sha256), &c.key);
    c.facts.deployments[0].status = "Failed".into();
    assert!(only_failure(&verify(&c, Some(&policy(PRESETS)))).ends_with("deployment d-STAGING1 to staging ended Failed, not Succeeded"));
}

#[test]
fn a_missing_approval_fails() {
    let mut c = Chain::new();
    c.facts.approvals.clear();
    let f = only_failure(&verify(&c, Some(&policy(PRESETS))));
    assert_eq!(f, "policy: approval-by-non-committer: deployment d-PROD0001 to production started at 2026-12-06T09:21:00Z without 1 valid approval(s) before it: no approval");
    // An approval after the deployment started does not count.
    let mut c = Chain::new();
    c.facts.approvals[0].time = "2026-12-06T09:25:00Z".into();
    assert!(only_failure(&verify(&c, Some(&policy(PRESETS)))).ends_with("before it: no approval"));
    // Nor does a rejection.
    let mut c = Chain::new();
    c.facts.approvals[0].outcome = "Rejected".into();
    assert!(only_failure(&verify(&c, Some(&policy(PRESETS)))).ends_with("before it: Approve by alice@example.com was Rejected"));
}

#[test]
fn an_approval_by_the_committer_fails() {
    let mut c = Chain::new();
    c.facts.approvals[0].by = "Carol@Example.com".into();
    let f = only_failure(&verify(&c, Some(&policy(PRESETS))));
    assert!(f.ends_with("Approve by Carol@Example.com at 2026-12-06T09:20:00Z: Carol Coder <carol@example.com> is the committer"), "{f}");
    // By name too; and an unknown committer proves nothing.
    c.facts.approvals[0].by = "Carol Coder".into();
    assert!(only_failure(&verify(&c, Some(&policy(PRESETS)))).contains("is the committer"));
    let mut c = Chain::new();
    c.facts.sources[0].committer = None;
    assert!(only_failure(&verify(&c, Some(&policy(PRESETS)))).ends_with("has no recorded committer, so no approval can be shown to be by someone else"));
}

#[test]
fn findings_and_parameterised_rules() {
    let mut c = Chain::new();
    c.facts.scans[0].build = None;
    c.facts.scans[0].findings.insert("critical".into(), 1);
    let f = only_failure(&verify(&c, Some(&policy(PRESETS))));
    assert_eq!(f, "policy: no-critical-findings: scan secrets-scan (Build) reported 1 critical finding(s); at most high allowed");
    let p = policy("version: 1\nrules:\n  - findings: {max-severity: critical, plugin: sast}\n  - source: {repository: https://example.com/app.git, branches: [release]}\n  - builds: {builders: [https://other/builder]}\n  - approval: {count: 2, by: [alice@example.com]}\n  - deployment: {group: canary}\n  - run: {status: Succeeded}\n");
    let v = verify(&c, Some(&p));
    assert_eq!(v.failures(), vec![
        "policy rule 1 (findings at most critical from sast): the scanner sast did not run in this release",
        "policy rule 2 (source): source Source is branch main, expected one of [\"release\"]",
        "policy rule 3 (builds (SUCCEEDED, at least 1)): build Build was made by builder https://kiln.dev/builders/local/v1, not one of [\"https://other/builder\"]",
        "policy rule 4 (2 approval(s)): expected 2 approval(s), found: no approval",
        "policy rule 5 (deployment to canary (Succeeded)): the release has no deployment to canary",
    ]);
}

#[test]
fn a_tags_source_rule_passes_only_a_release_started_by_a_matching_tag_push() {
    let p = policy("version: 1\nrules:\n  - source: {tags: ['v*']}\n");
    let mut c = Chain::new();
    assert_eq!(only_failure(&verify(&c, Some(&p))), format!("policy rule 1 (source): source Source (main at {COMMIT}) was not started by a tag push, expected a tag matching one of [\"v*\"]"));
    c.facts.sources[0].tag = Some("nightly".into());
    assert_eq!(only_failure(&verify(&c, Some(&p))), "policy rule 1 (source): source Source is tag nightly, expected one matching one of [\"v*\"]");
    c.facts.sources[0].tag = Some("v1.4.0".into());
    assert!(verify(&c, Some(&p)).failures().is_empty());
    // `*` stays within one path component, as a trigger's tag filter.
    c.facts.sources[0].tag = Some("v1/evil".into());
    assert!(!verify(&c, Some(&p)).failures().is_empty());
    // A bad pattern is an error of the policy file, located.
    let e = kiln_release::Policy::parse("version: 1\nrules:\n  - source: {tags: ['v[']}\n", "p.yml").unwrap_err().to_string();
    assert!(e.contains("p.yml:3:") && e.contains("the tag pattern `v[` is not a valid glob"), "{e}");
}

#[test]
fn documents_outside_the_records_directory_are_refused() {
    let mut c = Chain::new();
    // A link out of the records directory is not followed.
    let outside = tempfile::tempdir().unwrap();
    let target = outside.path().join("provenance.intoto.jsonl");
    std::fs::copy(c.root().join("builds/b1/provenance.intoto.jsonl"), &target).unwrap();
    std::fs::remove_file(c.root().join("builds/b1/provenance.intoto.jsonl")).unwrap();
    std::os::unix::fs::symlink(&target, c.root().join("builds/b1/provenance.intoto.jsonl")).unwrap();
    let f = verify(&c, None).failures();
    assert!(f[0].starts_with("build Build: document:") && f[0].contains("outside"), "{f:#?}");
    // A `..` path cannot even be signed, and a signed one is refused when read.
    c.facts.builds[0].provenance.path = "../x".into();
    assert!(sign(&c.facts, &c.key).unwrap_err().to_string().contains("builds[0].provenance.path"));
}

#[test]
fn a_statement_that_is_not_a_release_is_refused() {
    let c = Chain::new();
    let st = provenance("x", "SUCCEEDED", COMMIT, vec![kiln_attest::intoto::ResourceDescriptor::file("a", sha256(b"a"))], 0);
    let env = kiln_attest::dsse::sign_statement(&st, &c.key).unwrap();
    let v = verify_release(&env, c.key.public_key(), &RecordsDir::new(c.root()), None);
    assert_eq!(v.failures(), vec!["release statement: not a kiln release record: its predicateType is https://slsa.dev/provenance/v1, not https://kiln.dev/release/v1"]);
}

#[test]
fn the_release_names_no_secret_and_no_key() {
    let c = Chain::new();
    let payload = String::from_utf8(c.envelope().payload_bytes().unwrap()).unwrap();
    assert!(!payload.contains("PRIVATE") && !payload.contains("BEGIN"), "{payload}");
}
