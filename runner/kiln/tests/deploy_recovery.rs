//! `kiln deploy` after a `kill -9` (status shows the interrupted deployment; rollback and resume
//! return the fleet to a known state), and the supply-chain side: only a build whose provenance
//! verifies is deployed, and the deployment attestation names that provenance and verifies with
//! independent tools (Python `cryptography`, `securesystemslib`).

mod deploy_fx;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use deploy_fx::*;
use serde_json::Value;

const CANARY: &str = "applicationName: shop\ndeploymentGroupName: ecs\ncomputePlatform: ECS\ndeploymentConfigName: CodeDeployDefault.ECSCanary10Percent5Minutes\nautoRollbackConfiguration: {enabled: true, events: [DEPLOYMENT_FAILURE, DEPLOYMENT_STOP_ON_ALARM]}\n";

/// v1 deployed; v2's canary running at real time (a 5-minute wait) with 10 % of the traffic on
/// v2, as its record says. Returns kiln and the deployment's id.
fn v2_canary_at_10(fx: &Fx, group: &Path) -> (std::process::Child, String) {
    let v1 = fx.revision("v1", &ecs_appspec(&[]), true, &[]);
    let v2 = fx.revision("v2", &ecs_appspec(&[]), true, &[]);
    let out = fx.deploy(&v1, group, 0.001, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    canary_at_10(fx, &v2, group)
}

/// [`v2_canary_at_10`], then kiln killed with SIGKILL. Returns the interrupted deployment's id.
fn killed_mid_canary(fx: &Fx, group: &Path) -> String {
    let (mut child, id) = v2_canary_at_10(fx, group);
    assert_eq!(get(fx.router()).map(|(s, _)| s), Some(200), "the router serves while the canary waits");
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    id
}

/// A fixture with a canary group, and [`killed_mid_canary`] on it (None, said, without python3).
fn killed_canary() -> Option<(Fx, std::path::PathBuf, String)> {
    if python().is_none() {
        eprintln!("SKIPPED: python3 is not installed");
        return None;
    }
    let fx = Fx::new();
    let group = fx.group(CANARY, true, "", &["task-1"]);
    let id = killed_mid_canary(&fx, &group);
    Some((fx, group, id))
}

fn status_json(fx: &Fx, id: &str) -> Value {
    let out = fx.kiln().args(["deploy", "status", id, "--json", "--dir"]).arg(&fx.proj).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn after_kill_9_status_shows_the_interrupted_deployment_and_rollback_returns_the_fleet_to_the_last_good_revision() {
    let Some((fx, group, id)) = killed_canary() else { return };
    // The services were kiln's: they are gone with it, and so is the router.
    assert!(wait_for(Duration::from_secs(10), || get(fx.router()).is_none()), "nothing may serve half-shifted after kiln died");
    let st = status_json(&fx, &id);
    assert_eq!((st["kiln"]["interrupted"].as_bool(), st["status"].as_str()), (Some(true), Some("InProgress")), "{st:#}");
    assert_eq!(st["kiln"]["traffic"]["current"]["replacement"], 10, "the record says where traffic was: {:#}", st["kiln"]["traffic"]);
    let text = fx.kiln().args(["deploy", "status", &id, "--dir"]).arg(&fx.proj).output().unwrap();
    assert!(String::from_utf8_lossy(&text.stdout).contains("Interrupted"), "{}", String::from_utf8_lossy(&text.stdout));

    let mut c = fx.kiln();
    c.args(["deploy", "rollback", &id, "--json", "--time-scale", "0.01", "--dir"]).arg(&fx.proj).arg("--group").arg(&group);
    let out = run_bounded(c, Duration::from_secs(120));
    assert_eq!(out.status.code(), Some(1), "the rolled back deployment did not succeed: {}", stderr(&out));
    let all = outcome(&out);
    assert_eq!(all[0]["status"], "Stopped", "{:#}", all[0]["errorInformation"]);
    assert_eq!(all[0]["errorInformation"]["code"], "MANUAL_STOP");
    assert_eq!((all[1]["status"].as_str(), all[1]["creator"].as_str()), (Some("Succeeded"), Some("codeDeployRollback")));
    let st = status_json(&fx, &id);
    assert_eq!(st["kiln"]["interrupted"], false);
    assert_eq!(st["rollbackInfo"]["rollbackDeploymentId"], all[1]["deploymentId"]);
    assert_eq!(st["kiln"]["traffic"]["current"]["original"], 100, "{:#}", st["kiln"]["traffic"]);
    // A rollback of a finished deployment is refused with the reason.
    let again = fx.kiln().args(["deploy", "rollback", &id, "--dir"]).arg(&fx.proj).arg("--group").arg(&group).output().unwrap();
    assert_eq!(again.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&again.stderr).contains("not rolled back yet") || String::from_utf8_lossy(&again.stderr).contains("can be rolled back"), "{}", String::from_utf8_lossy(&again.stderr));
}

#[test]
fn after_kill_9_resume_finishes_the_canary_from_where_the_record_left_it() {
    let Some((fx, group, id)) = killed_canary() else { return };
    let mut c = fx.kiln();
    c.args(["deploy", "resume", &id, "--json", "--time-scale", "0.001", "--dir"]).arg(&fx.proj).arg("--group").arg(&group);
    let out = run_bounded(c, Duration::from_secs(120));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let d = &outcome(&out)[0];
    assert_eq!(d["status"], "Succeeded");
    let history: Vec<u64> = d["kiln"]["traffic"]["history"].as_array().unwrap().iter().map(|c| c["weights"]["replacement"].as_u64().unwrap()).collect();
    assert_eq!(history.first(), Some(&10), "{history:?}");
    // Up to 100 % never backwards (after it, the promotion relabels the sets: 0 % to the old one).
    let full = history.iter().position(|p| *p == 100).unwrap_or_else(|| panic!("never reached 100 %: {history:?}"));
    assert!(history[..=full].windows(2).all(|w| w[0] <= w[1]), "traffic never went backwards: {history:?}");
    assert!(d["deploymentStatusMessages"].as_array().unwrap().iter().any(|m| m.as_str().unwrap().contains("resumed")), "{:#}", d["deploymentStatusMessages"]);
}

#[test]
fn after_kill_9_a_new_deployment_of_the_group_replaces_the_interrupted_one_and_says_so() {
    let Some((fx, group, id)) = killed_canary() else { return };
    let v3 = fx.revision("v3", &ecs_appspec(&[]), true, &[]);
    let out = fx.deploy(&v3, &group, 0.001, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let new = &outcome(&out)[0];
    assert_eq!(new["status"], "Succeeded");
    assert!(new["deploymentStatusMessages"].as_array().unwrap().iter().any(|m| m.as_str().unwrap().contains(&format!("replaces deployment {id}"))), "{:#}", new["deploymentStatusMessages"]);
    // The interrupted one is no longer shown as running: it ended Stopped, with why.
    let st = status_json(&fx, &id);
    assert_eq!((st["status"].as_str(), st["kiln"]["interrupted"].as_bool()), (Some("Stopped"), Some(false)), "{st:#}");
    assert_eq!(st["errorInformation"]["code"], "MANUAL_STOP");
    assert!(st["errorInformation"]["message"].as_str().unwrap().contains("a new deployment of the group replaced it"), "{:#}", st["errorInformation"]);
}

const BUILDSPEC: &str = "version: 0.2\nphases:\n  build:\n    commands:\n      - mkdir -p dist && cp server.py appspec.yml release.txt dist/\nartifacts:\n  base-directory: dist\n  files: ['**/*']\n";

/// A project that builds the ECS revision, a key pair, and one signed build. Returns the build id.
fn signed_build(fx: &Fx) -> String {
    std::fs::write(fx.proj.join("server.py"), SERVER).unwrap();
    std::fs::write(fx.proj.join("release.txt"), "v1").unwrap();
    std::fs::write(fx.proj.join("appspec.yml"), ecs_appspec(&[])).unwrap();
    std::fs::write(fx.proj.join("buildspec.yml"), BUILDSPEC).unwrap();
    let key = fx.kiln().args(["generate-key-pair"]).env("COSIGN_PASSWORD", "deploy test").output().unwrap();
    assert!(key.status.success(), "{}", String::from_utf8_lossy(&key.stderr));
    let out = fx.kiln().arg("build").arg(&fx.proj).args(["--key", "cosign.key", "--json"]).env("COSIGN_PASSWORD", "deploy test").output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let record: Value = serde_json::from_slice(&out.stdout).unwrap();
    record["id"].as_str().unwrap().to_string()
}

fn deploy_build(fx: &Fx, id: &str, group: &Path, extra: &[&str]) -> std::process::Output {
    let mut c = fx.kiln();
    c.arg("deploy").arg(id).arg("--dir").arg(&fx.proj).arg("--group").arg(group).args(["--json", "--time-scale", "0.001"]).args(extra).env("COSIGN_PASSWORD", "deploy test");
    run_bounded(c, Duration::from_secs(120))
}

#[test]
fn only_a_build_whose_provenance_verifies_is_deployed_and_its_attestation_names_that_provenance() {
    if python().is_none() {
        eprintln!("SKIPPED: python3 is not installed");
        return;
    }
    let fx = Fx::new();
    let group = fx.group(CANARY, true, "", &["task-1"]);
    let id = signed_build(&fx);
    let uuid = id.rsplit(':').next().unwrap();
    let record = fx.proj.join(".kiln/builds").join(uuid);

    // No key to verify with, and no --allow-unverified: refused before anything happens.
    let out = deploy_build(&fx, &id, &group, &[]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("--verify-key") && stderr(&out).contains("--allow-unverified"), "{}", stderr(&out));
    assert!(fx.deployment_ids().is_empty());

    // A tampered artifact: its digest is not a subject of the provenance.
    let build: Value = serde_json::from_slice(&std::fs::read(record.join("build.json")).unwrap()).unwrap();
    let release = Path::new(build["artifacts"]["location"].as_str().unwrap()).join("release.txt");
    let original = std::fs::read(&release).unwrap();
    std::fs::write(&release, "v1-bad").unwrap();
    let out = deploy_build(&fx, &id, &group, &["--key", "cosign.key"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("FAILED  subject"), "{}", stderr(&out));
    assert!(stderr(&out).contains("did not verify") && stderr(&out).contains("nothing was deployed"), "{}", stderr(&out));
    assert!(fx.deployment_ids().is_empty());
    std::fs::write(&release, original).unwrap();

    // The real build: verified, deployed, attested.
    let out = deploy_build(&fx, &id, &group, &["--key", "cosign.key"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stderr(&out).contains("Verified OK"), "with --json the checks go to stderr: {}", stderr(&out));
    let d = &outcome(&out)[0];
    let prov_sha = kiln_engine::sha256_hex(&std::fs::read(record.join("provenance.intoto.jsonl")).unwrap());
    assert_eq!(d["revision"]["localRevision"]["provenanceSha256"], prov_sha.as_str());
    let att = fx.proj.join(".kiln/deployments").join(d["deploymentId"].as_str().unwrap()).join("attestation.intoto.jsonl");
    let script = r#"
import base64, copy, json, sys
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
key = serialization.load_pem_public_key(open(sys.argv[1], "rb").read())
env = json.loads(open(sys.argv[2]).readline())
payload = base64.b64decode(env["payload"])
t = env["payloadType"].encode()
sig = env["signatures"][0]
key.verify(base64.b64decode(sig["sig"]), b"DSSEv1 %d %s %d %s" % (len(t), t, len(payload), payload), ec.ECDSA(hashes.SHA256()))
from securesystemslib.dsse import Envelope
from securesystemslib.signer import SSlibKey
sk = SSlibKey.from_crypto(key, keyid=sig["keyid"], scheme="ecdsa-sha2-nistp256")
assert sig["keyid"] in Envelope.from_dict(copy.deepcopy(env)).verify([sk], 1)
st = json.loads(payload)
assert st["_type"] == "https://in-toto.io/Statement/v1" and st["predicateType"] == "https://kiln.dev/deployment/v1", st
p = st["predicate"]
assert p["provenance"]["sha256"] == sys.argv[3], p["provenance"]
assert p["outcome"]["status"] == "Succeeded" and len(p["strategy"]["sha256"]) == 64, p
print("attestation verified independently")
"#;
    let py = Command::new("python3").arg("-c").arg(script).arg(fx.tmp.path().join("cosign.pub")).arg(&att).arg(&prov_sha).output().unwrap();
    assert!(py.status.success(), "{}{}", String::from_utf8_lossy(&py.stdout), String::from_utf8_lossy(&py.stderr));
    // The key never reached a hook or a service, nor the record.
    let rec = std::fs::read_to_string(fx.proj.join(".kiln/deployments").join(d["deploymentId"].as_str().unwrap()).join("deployment.json")).unwrap();
    assert!(!rec.contains("ENCRYPTED") && !rec.contains("deploy test"), "no key material or password in the record");
}

/// [`v2_canary_at_10`] in a group that rolls back a deployment stopped on request (None, said,
/// without python3). The fixture lives as long as the deployment.
fn canary_stopped_on_request() -> Option<(Fx, std::process::Child, String)> {
    if python().is_none() {
        eprintln!("SKIPPED: python3 is not installed");
        return None;
    }
    let fx = Fx::new();
    let head = CANARY.replace("DEPLOYMENT_STOP_ON_ALARM]", "DEPLOYMENT_STOP_ON_ALARM, DEPLOYMENT_STOP_ON_REQUEST]");
    let group = fx.group(&head, true, "", &["task-1"]);
    let (child, id) = v2_canary_at_10(&fx, &group);
    Some((fx, child, id))
}

#[test]
fn kiln_deploy_stop_from_another_process_stops_the_canary_and_rolls_back_as_the_group_says() {
    let Some((fx, child, id)) = canary_stopped_on_request() else { return };
    let stop = fx.kiln().args(["deploy", "stop", &id, "--dir"]).arg(&fx.proj).output().unwrap();
    assert!(stop.status.success() && String::from_utf8_lossy(&stop.stdout).contains("stop requested"), "{}", String::from_utf8_lossy(&stop.stderr));
    let out = wait_bounded(child, Duration::from_secs(60));
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let all = outcome(&out);
    assert_eq!((all[0]["status"].as_str(), all[0]["errorInformation"]["code"].as_str()), (Some("Stopped"), Some("MANUAL_STOP")));
    assert_eq!(all[0]["kiln"]["traffic"]["current"]["original"], 100);
    assert_eq!(all[1]["status"], "Succeeded", "DEPLOYMENT_STOP_ON_REQUEST: rolled back");
}

#[test]
fn ctrl_c_during_a_deployment_stops_it_instead_of_leaving_it_half_shifted() {
    let Some((_fx, child, _)) = canary_stopped_on_request() else { return };
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), nix::sys::signal::Signal::SIGINT).unwrap();
    let out = wait_bounded(child, Duration::from_secs(60));
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("interrupted: stopping the deployment"), "{}", stderr(&out));
    let all = outcome(&out);
    assert_eq!((all[0]["status"].as_str(), all[0]["errorInformation"]["code"].as_str(), all[0]["kiln"]["interrupted"].as_bool()), (Some("Stopped"), Some("MANUAL_STOP"), Some(false)));
    assert_eq!(all[1]["status"], "Succeeded");
}
