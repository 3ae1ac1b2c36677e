//! The ssh driver against a real OpenSSH server that the test starts: its own host key and config,
//! bound to 127.0.0.1 on a free port; the client uses a generated key and a known_hosts file,
//! never ~/.ssh. Skipped (with a message) only when sshd or ssh-keygen is not installed
//! (scripts/test installs them).

#[path = "../../kiln-deploy/tests/common/mod.rs"]
mod common;
mod support_sshd;

use std::path::Path;
use std::sync::Arc;

use support_sshd::{keygen, sshd, user, Server};

use kiln_deploy::record::{DeploymentStatus, RevisionRef, Store};
use kiln_deploy::report::Collect;
use kiln_deploy::{Deployment, DeploymentOptions, Env, Revision, RunOptions};
use kiln_targets::settings::{SshHost, SshSettings};
use kiln_targets::ssh::SshFleet;

fn settings(server: &Server) -> SshSettings {
    let json = serde_json::json!({
        "identity": server.dir.join("client"),
        "known-hosts": server.dir.join("known_hosts"),
        "user": user(),
        "root": server.dir.join("remote"),
        "connect-timeout": 10,
    });
    SshSettings::from_json(&json, &server.dir).unwrap()
}

fn revision(root: &Path, name: &str, dest: &Path) -> Revision {
    let dir = root.join(name);
    std::fs::create_dir_all(dir.join("app")).unwrap();
    std::fs::create_dir_all(dir.join("scripts")).unwrap();
    std::fs::write(dir.join("app/index.html"), format!("release {name}")).unwrap();
    std::os::unix::fs::symlink("/etc/passwd", dir.join("app/link")).unwrap();
    let hook = dir.join("scripts/after.sh");
    std::fs::write(&hook, format!("#!/bin/sh\necho \"$LIFECYCLE_EVENT of $DEPLOYMENT_ID on $(hostname)\"\necho \"$LIFECYCLE_EVENT\" >> {}/hooks.log\n", dest.display())).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&hook, std::fs::Permissions::from_mode(0o755)).unwrap();
    let appspec = format!("version: 0.0\nos: linux\nfiles:\n  - source: app\n    destination: {}/www\nhooks:\n  AfterInstall: [{{location: scripts/after.sh, timeout: 30}}]\n  ValidateService: [{{location: scripts/after.sh, timeout: 30}}]\n", dest.display());
    std::fs::write(dir.join("appspec.yml"), appspec).unwrap();
    Revision::load(RevisionRef { name: name.into(), bundle: dir.display().to_string(), sha256: "0".repeat(64), provenance_sha256: None }).unwrap()
}

async fn deploy(store: &Store, fleet: &SshFleet, reporter: Arc<Collect>, rev: Revision) -> kiln_deploy::RunOutcome {
    let g = common::group("applicationName: web\ndeploymentGroupName: hosts\ndeploymentConfigName: CodeDeployDefault.AllAtOnce\ntargets: {driver: ssh, instances: [web-1]}\n");
    let plan = Deployment::plan(&g, rev, DeploymentOptions::default()).unwrap_or_else(|e| panic!("{e}"));
    let runner = common::Runner::default();
    let metrics = kiln_deploy::metrics::SampleStore::default();
    let env = Env { store, target: fleet, traffic: None, strategies: &runner, metrics: &metrics, reporter, options: RunOptions::default() };
    Deployment::run(&plan, &env).await.unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_revision_is_copied_installed_and_hooked_over_ssh() {
    let dir = tempfile::tempdir().unwrap();
    let Some(server) = sshd(dir.path()) else { return };
    let dest = dir.path().join("dest");
    std::fs::create_dir_all(&dest).unwrap();
    let host = SshHost::from_json("web-1", &serde_json::json!({"host": "127.0.0.1", "port": server.port})).unwrap();
    let fleet = SshFleet::new(settings(&server), vec![("web-1".into(), host)]).unwrap();
    let store = Store::open(dir.path()).unwrap();
    let reporter = Arc::new(Collect::default());
    let out = deploy(&store, &fleet, reporter.clone(), revision(dir.path(), "v1", &dest)).await;
    assert_eq!(out.deployment.status, DeploymentStatus::Succeeded, "{:?}", out.deployment.error_information);
    assert_eq!(std::fs::read_to_string(dest.join("www/index.html")).unwrap(), "release v1");
    // The link in the bundle arrived as a link, not as the host's /etc/passwd.
    assert_eq!(std::fs::read_link(dest.join("www/link")).unwrap(), Path::new("/etc/passwd"));
    assert_eq!(std::fs::read_to_string(dest.join("hooks.log")).unwrap(), "AfterInstall\nValidateService\n");
    let lines: Vec<String> = reporter.events().iter().map(|e| format!("{e:?}")).filter(|e| e.contains("AfterInstall of ")).collect();
    assert!(!lines.is_empty(), "the hook's output came back: {:?}", reporter.events());

    // v2 replaces v1's files (the cleanup list of the previous install).
    let out = deploy(&store, &fleet, reporter.clone(), revision(dir.path(), "v2", &dest)).await;
    assert_eq!(out.deployment.status, DeploymentStatus::Succeeded, "{:?}", out.deployment.error_information);
    assert_eq!(std::fs::read_to_string(dest.join("www/index.html")).unwrap(), "release v2");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_host_whose_key_is_not_known_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let Some(server) = sshd(dir.path()) else { return };
    // known_hosts names another key for the server: ssh must refuse, never learn the real one.
    keygen(&dir.path().join("other"));
    let other = std::fs::read_to_string(dir.path().join("other.pub")).unwrap();
    let mut parts = other.split_whitespace();
    std::fs::write(dir.path().join("known_hosts"), format!("[127.0.0.1]:{} {} {}\n", server.port, parts.next().unwrap(), parts.next().unwrap())).unwrap();
    let host = SshHost::from_json("web-1", &serde_json::json!({"host": "127.0.0.1", "port": server.port})).unwrap();
    let fleet = SshFleet::new(settings(&server), vec![("web-1".into(), host)]).unwrap();
    let store = Store::open(dir.path()).unwrap();
    let dest = dir.path().join("dest");
    std::fs::create_dir_all(&dest).unwrap();
    let out = deploy(&store, &fleet, Arc::new(Collect::default()), revision(dir.path(), "v1", &dest)).await;
    assert_eq!(out.deployment.status, DeploymentStatus::Failed);
    let targets = &out.deployment.deployment_targets;
    let diag = format!("{targets:?}");
    assert!(diag.contains("Host key verification failed") || diag.contains("REMOTE HOST IDENTIFICATION HAS CHANGED"), "{diag}");
    assert!(!dest.join("www").exists(), "nothing was installed");
    assert_eq!(std::fs::read_to_string(dir.path().join("known_hosts")).unwrap().lines().count(), 1, "the known_hosts file was not changed");
}
