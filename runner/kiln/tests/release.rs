//! `kiln verify --release` through the binary, over a release record made from a real `kiln
//! build`'s signed provenance (in a git repository, so it records the commit) and deployment
//! attestations signed with the same key; then one tamper at a time, each failing with the
//! check that names it; and the release envelope checked by independent verifiers (Python
//! `cryptography` and `securesystemslib`).

mod common;

use std::path::{Path, PathBuf};

use common::Project;
use kiln_attest::dsse;
use kiln_attest::intoto::Statement;
use kiln_attest::{KeyPair, Password};
use kiln_release::*;
use serde_json::json;

const PASSWORD: &str = "release key password";
const SPEC: &str = "version: 0.2\nphases:\n  build:\n    commands:\n      - mkdir -p out && echo app > out/app.bin\nartifacts:\n  base-directory: out\n  files: ['**/*']\n  name: app\n";
const POLICY: &str = "version: 1\nrequire: [staging-deploy-succeeded-before-production, approval-by-non-committer, all-builds-verified, no-critical-findings, run-succeeded]\n";

fn git(dir: &Path, args: &[&str]) -> String {
    let out = std::process::Command::new("git").arg("-C").arg(dir).args(args).env("GIT_CONFIG_NOSYSTEM", "1").env("GIT_CONFIG_GLOBAL", "/dev/null").output().expect("git");
    assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn sha256(bytes: &[u8]) -> String {
    kiln_engine::sha256_hex(bytes)
}

struct Release {
    p: Project,
    key: KeyPair,
    public: PathBuf,
    records: PathBuf,
    facts: ReleaseFacts,
    artifact: PathBuf,
}

fn write_signed(records: &Path, rel: &str, st: &Statement, key: &KeyPair) -> DocumentRef {
    let path = records.join(rel);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let bytes = dsse::to_jsonl(&[dsse::sign_statement(st, key).unwrap()]);
    std::fs::write(&path, &bytes).unwrap();
    DocumentRef { path: rel.into(), sha256: sha256(&bytes) }
}

fn deployment(id: &str, group: &str, revision: &str, provenance: &str) -> Statement {
    // The shape kiln-deploy's record/attest.rs writes.
    let v = json!({"_type": "https://in-toto.io/Statement/v1", "subject": [{"name": "app", "digest": {"sha256": revision}}], "predicateType": "https://kiln.dev/deployment/v1",
        "predicate": {"deployment": {"deploymentId": id, "applicationName": "app", "deploymentGroupName": group}, "provenance": {"sha256": provenance}, "outcome": {"status": "Succeeded"}, "alarms": []}});
    Statement::from_json(&serde_json::to_vec(&v).unwrap()).unwrap()
}

/// A real build in a git repository, signed with a configured key; deployments to staging and
/// production of what it made; the facts of that run.
fn release() -> Release {
    let p = Project::empty();
    p.write("buildspec.yml", SPEC);
    git(&p.src, &["init", "-q", "-b", "main"]);
    git(&p.src, &["add", "buildspec.yml"]);
    git(&p.src, &["-c", "user.email=carol@example.com", "-c", "user.name=Carol Coder", "commit", "-qm", "app"]);
    let commit = git(&p.src, &["rev-parse", "HEAD"]);
    let keys = p.side_dir("keys");
    let key = KeyPair::generate().unwrap();
    std::fs::write(keys.join("cosign.key"), key.to_encrypted_pem(&Password::from(PASSWORD)).unwrap().as_bytes()).unwrap();
    let public = keys.join("cosign.pub");
    std::fs::write(&public, key.public_key().to_pem()).unwrap();
    let b = p.build_with(&["--key", keys.join("cosign.key").to_str().unwrap()], |c| {
        c.env("KILN_SIGNING_PASSWORD", PASSWORD);
    });
    assert_eq!(b.status(), "SUCCEEDED", "{}", b.describe());
    let record = b.record_dir();
    // The records directory: `.kiln/` above `builds/<uuid>/`.
    let records = record.parent().and_then(Path::parent).unwrap().to_path_buf();
    let prov_path = record.join("provenance.intoto.jsonl");
    let prov_bytes = std::fs::read(&prov_path).unwrap();
    let prov_rel = prov_path.strip_prefix(&records).unwrap().to_str().unwrap().to_string();
    let st = dsse::Envelope::from_json(String::from_utf8_lossy(&prov_bytes).trim().as_bytes()).unwrap().statement_unverified().unwrap();
    let artifact = record.join("artifacts/app/app.bin");
    let art = kiln_attest::util::sha256_file(&artifact).unwrap();
    let subject = st.subject_by_sha256(&art).expect("the artifact is a subject of the build's provenance");
    assert_eq!(st.predicate["buildDefinition"]["externalParameters"]["source"]["revision"], commit.as_str(), "the build recorded the commit");
    let prov = DocumentRef { path: prov_rel, sha256: sha256(&prov_bytes) };
    let staging = write_signed(&records, "deployments/d-STAGING1/deployment.intoto.jsonl", &deployment("d-STAGING1", "staging", &art, &prov.sha256), &key);
    let production = write_signed(&records, "deployments/d-PROD0001/deployment.intoto.jsonl", &deployment("d-PROD0001", "production", &art, &prov.sha256), &key);
    let carol = Person { name: "Carol Coder".into(), email: Some("carol@example.com".into()) };
    let facts = ReleaseFacts {
        pipeline: PipelineFact { name: "app".into(), version: Some(1), definition_sha256: sha256(b"definition") },
        run: RunFact { id: "run-1".into(), status: "Succeeded".into(), start_time: None, end_time: None, trigger: None },
        sources: vec![SourceFact { action: "Source".into(), repository: p.src.display().to_string(), branch: "main".into(), commit_id: commit, tag: None, author: Some(carol.clone()), committer: Some(carol) }],
        builds: vec![BuildFact { action: "Build".into(), stage: "Build".into(), build_id: st.predicate["runDetails"]["metadata"]["invocationId"].as_str().unwrap().into(), status: "SUCCEEDED".into(), builder: "https://kiln.dev/builders/local/v1".into(), provenance: prov }],
        scans: vec![],
        approvals: vec![ApprovalFact { action: "Approve".into(), stage: "Approval".into(), by: "alice@example.com".into(), time: "2026-12-06T09:20:00Z".into(), outcome: "Approved".into(), comment: Some("staging is fine".into()) }],
        deployments: vec![
            DeploymentFact { action: "DeployStaging".into(), stage: "Staging".into(), application: "app".into(), group: "staging".into(), deployment_id: "d-STAGING1".into(), status: "Succeeded".into(), start_time: "2026-12-06T09:05:00Z".into(), end_time: "2026-12-06T09:10:00Z".into(), attestation: staging },
            DeploymentFact { action: "DeployProduction".into(), stage: "Production".into(), application: "app".into(), group: "production".into(), deployment_id: "d-PROD0001".into(), status: "Succeeded".into(), start_time: "2026-12-06T09:21:00Z".into(), end_time: "2026-12-06T09:29:00Z".into(), attestation: production },
        ],
        artifacts: vec![ArtifactFact { name: subject.name.clone().unwrap_or_default(), sha256: art, build: "Build".into() }],
    };
    Release { p, key, public, records, facts, artifact }
}

impl Release {
    /// Signs `facts` with the build key, writes the record and a policy, and runs `kiln verify --release`.
    fn verify(&self, facts: &ReleaseFacts, extra: &[&str]) -> (Option<i32>, String, String) {
        let out = self.p.side_dir("out");
        let path = out.join("release.intoto.jsonl");
        kiln_release::statement::write(&path, &sign(facts, &self.key).unwrap()).unwrap();
        let policy = out.join("policy.yml");
        std::fs::write(&policy, POLICY).unwrap();
        let mut c = assert_cmd::Command::cargo_bin("kiln").unwrap();
        c.arg("verify").arg("--release").arg(&path).arg("--key").arg(&self.public).arg("--policy").arg(&policy).arg("--records").arg(&self.records).args(extra);
        let o = c.output().unwrap();
        (o.status.code(), String::from_utf8_lossy(&o.stdout).into_owned(), String::from_utf8_lossy(&o.stderr).into_owned())
    }
}

fn failed(stdout: &str) -> Vec<&str> {
    stdout.lines().filter(|l| l.starts_with("FAILED")).collect()
}

#[test]
fn a_release_from_a_real_build_verifies_and_each_tamper_fails_with_its_check() {
    let r = release();
    let (code, out, err) = r.verify(&r.facts, &[r.artifact.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{out}\n{err}");
    for line in ["ok      signature", "ok      build Build: digest", "ok      build Build: source revision", "ok      artifact app", "ok      deployment d-PROD0001 (production): revision", "ok      policy: approval-by-non-committer", "ok      subject ", "Verified OK"] {
        assert!(out.contains(line), "{line:?} missing:\n{out}");
    }

    // A changed digest: the release names other provenance bytes than those on disk.
    let mut f = r.facts.clone();
    f.builds[0].provenance.sha256 = "0".repeat(64);
    let (code, out, _) = r.verify(&f, &[]);
    assert_eq!(code, Some(1), "{out}");
    assert!(failed(&out)[0].starts_with("FAILED  build Build: digest: builds/") && out.contains("it changed after the release was signed"), "{out}");

    // A missing approval.
    let mut f = r.facts.clone();
    f.approvals.clear();
    let (code, out, _) = r.verify(&f, &[]);
    assert_eq!((code, failed(&out)), (Some(1), vec!["FAILED  policy: approval-by-non-committer: deployment d-PROD0001 to production started at 2026-12-06T09:21:00Z without 1 valid approval(s) before it: no approval"]), "{out}");

    // Production before staging.
    let mut f = r.facts.clone();
    f.deployments[1].start_time = "2026-12-06T09:08:00Z".into();
    f.approvals[0].time = "2026-12-06T09:07:00Z".into();
    let (code, out, _) = r.verify(&f, &[]);
    assert_eq!(code, Some(1), "{out}");
    assert_eq!(failed(&out), vec!["FAILED  policy: staging-deploy-succeeded-before-production: deployment d-PROD0001 to production started at 2026-12-06T09:08:00Z with no Succeeded deployment to staging ended before it: deployment d-STAGING1 to staging ended at 2026-12-06T09:10:00Z, after it"], "{out}");

    // An approval by the committer.
    let mut f = r.facts.clone();
    f.approvals[0].by = "carol@example.com".into();
    let (code, out, _) = r.verify(&f, &[]);
    assert_eq!(code, Some(1), "{out}");
    assert!(failed(&out)[0].ends_with("Approve by carol@example.com at 2026-12-06T09:20:00Z: Carol Coder <carol@example.com> is the committer"), "{out}");

    // An artifact that is not released.
    let (code, out, _) = r.verify(&r.facts, &[r.p.write("other.bin", "x").to_str().unwrap()]);
    assert_eq!(code, Some(1), "{out}");
    assert!(failed(&out)[0].contains("is not a subject of this provenance"), "{out}");

    // A wrong key: the signature check fails and nothing else is believed.
    let other = r.p.side_dir("other");
    std::fs::write(other.join("cosign.pub"), KeyPair::generate().unwrap().public_key().to_pem()).unwrap();
    let (code, _, _) = r.verify(&r.facts, &[]);
    assert_eq!(code, Some(0));
    let mut c = assert_cmd::Command::cargo_bin("kiln").unwrap();
    c.arg("verify").arg("--release").arg(r.p.side_dir("out").join("release.intoto.jsonl")).arg("--key").arg(other.join("cosign.pub")).arg("--records").arg(&r.records);
    let o = c.output().unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert_eq!(failed(&out).len(), 1, "{out}");
    assert!(failed(&out)[0].starts_with("FAILED  signature: the release record is not signed by the key given"), "{out}");
}

#[test]
fn unreadable_inputs_exit_2_with_located_errors() {
    let r = release();
    let out = r.p.side_dir("out");
    let path = out.join("release.intoto.jsonl");
    kiln_release::statement::write(&path, &sign(&r.facts, &r.key).unwrap()).unwrap();
    let bad = out.join("bad-policy.yml");
    std::fs::write(&bad, "version: 1\nrules:\n  - approval: {before-group: production, by-other-than: comitter}\n").unwrap();
    let run = |args: &[&std::ffi::OsStr]| {
        let o = assert_cmd::Command::cargo_bin("kiln").unwrap().arg("verify").args(args).output().unwrap();
        (o.status.code(), String::from_utf8_lossy(&o.stderr).into_owned())
    };
    let (code, err) = run(&["--release".as_ref(), path.as_os_str(), "--key".as_ref(), r.public.as_os_str(), "--policy".as_ref(), bad.as_os_str(), "--records".as_ref(), r.records.as_os_str()]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("bad-policy.yml:3:") && err.contains("`by-other-than: comitter` names no role"), "{err}");
    let (code, err) = run(&["--release".as_ref(), path.as_os_str(), "--records".as_ref(), r.records.as_os_str()]);
    assert_eq!(code, Some(2));
    assert!(err.contains("give --key cosign.pub"), "{err}");
    let (code, err) = run(&["--release".as_ref(), "/dev/zero".as_ref(), "--key".as_ref(), r.public.as_os_str()]);
    assert_eq!(code, Some(2));
    assert!(err.contains("/dev/zero") && err.contains("not a regular file"), "{err}");
    let (code, err) = run(&["--release".as_ref(), path.as_os_str(), "--key".as_ref(), r.public.as_os_str(), "--provenance".as_ref(), path.as_os_str()]);
    assert_eq!(code, Some(2));
    assert!(err.contains("cannot be used with"), "{err}");
}

#[test]
fn independent_verifiers_accept_the_release_envelope() {
    let r = release();
    let out = r.p.side_dir("out");
    let path = out.join("release.intoto.jsonl");
    kiln_release::statement::write(&path, &sign(&r.facts, &r.key).unwrap()).unwrap();
    let script = r#"
import base64, copy, json, sys
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
key = serialization.load_pem_public_key(open(sys.argv[1], "rb").read())
lines = [l for l in open(sys.argv[2]).read().splitlines() if l.strip()]
assert len(lines) == 1, lines
env = json.loads(lines[0])
assert env["payloadType"] == "application/vnd.in-toto+json"
payload = base64.b64decode(env["payload"])
t = env["payloadType"].encode()
sig = env["signatures"][0]
pae = b"DSSEv1 %d %s %d %s" % (len(t), t, len(payload), payload)
key.verify(base64.b64decode(sig["sig"]), pae, ec.ECDSA(hashes.SHA256()))
from securesystemslib.dsse import Envelope
from securesystemslib.signer import SSlibKey
sk = SSlibKey.from_crypto(key, keyid=sig["keyid"], scheme="ecdsa-sha2-nistp256")
assert sig["keyid"] in Envelope.from_dict(copy.deepcopy(env)).verify([sk], 1)
st = json.loads(payload)
assert st["_type"] == "https://in-toto.io/Statement/v1"
assert st["predicateType"] == "https://kiln.dev/release/v1"
p = st["predicate"]
assert sorted(p) == sorted(["pipeline", "run", "sources", "builds", "scans", "approvals", "deployments", "artifacts"]), list(p)
assert [s["digest"]["sha256"] for s in st["subject"]] == [a["sha256"] for a in p["artifacts"]]
assert [d["group"] for d in p["deployments"]] == ["staging", "production"]
print("independent verification ok")
"#;
    let o = std::process::Command::new("python3").arg("-c").arg(script).arg(&r.public).arg(&path).output().unwrap();
    assert!(o.status.success(), "{}\n{}", String::from_utf8_lossy(&o.stderr), String::from_utf8_lossy(&o.stdout));
    // A changed byte of the payload is refused by the same verifier.
    let mut env: serde_json::Value = serde_json::from_str(std::fs::read_to_string(&path).unwrap().trim()).unwrap();
    let mut st: serde_json::Value = serde_json::from_slice(&dsse::Envelope::from_json(env.to_string().as_bytes()).unwrap().payload_bytes().unwrap()).unwrap();
    st["predicate"]["approvals"][0]["by"] = json!("carol@example.com");
    use base64::Engine as _;
    env["payload"] = json!(base64::engine::general_purpose::STANDARD.encode(serde_json::to_vec(&st).unwrap()));
    std::fs::write(&path, env.to_string()).unwrap();
    let o = std::process::Command::new("python3").arg("-c").arg(script).arg(&r.public).arg(&path).output().unwrap();
    assert!(!o.status.success() && String::from_utf8_lossy(&o.stderr).contains("InvalidSignature"), "{}", String::from_utf8_lossy(&o.stderr));
}
