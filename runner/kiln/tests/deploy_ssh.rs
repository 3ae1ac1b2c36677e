//! `kiln deploy` with the ssh driver, against a real OpenSSH server the test starts on 127.0.0.1
//! (its own host key; the client key and known_hosts file the group file names, never ~/.ssh):
//! the revision is copied, installed and hooked on the host, and a second revision replaces it.

mod deploy_fx;
#[path = "../../kiln-targets/tests/support_sshd/mod.rs"]
mod support_sshd;

use std::time::Duration;

use deploy_fx::*;

#[test]
fn kiln_deploy_installs_a_revision_on_an_ssh_host_and_runs_its_hooks_there() {
    let fx = Fx::new();
    let sdir = fx.tmp.path().join("sshd");
    std::fs::create_dir_all(&sdir).unwrap();
    let Some(server) = support_sshd::sshd(&sdir) else { return };
    let dest = fx.tmp.path().join("host");
    std::fs::create_dir_all(&dest).unwrap();
    let group = fx.tmp.path().join("group.yml");
    std::fs::write(
        &group,
        format!(
            "applicationName: web\ndeploymentGroupName: hosts\ndeploymentConfigName: CodeDeployDefault.OneAtATime\ntargets:\n  driver: ssh\n  settings: {{identity: sshd/client, known-hosts: sshd/known_hosts, user: {u}, root: {r}, connect-timeout: 10}}\n  instances:\n    - {{id: web-1, host: 127.0.0.1, port: {p}}}\n",
            u = support_sshd::user(),
            r = sdir.join("remote").display(),
            p = server.port
        ),
    )
    .unwrap();
    for (name, body) in [("v1", "release v1"), ("v2", "release v2")] {
        let rev = fx.tmp.path().join(format!("rev-{name}"));
        std::fs::create_dir_all(rev.join("www")).unwrap();
        std::fs::create_dir_all(rev.join("scripts")).unwrap();
        std::fs::write(rev.join("www/index.html"), body).unwrap();
        let hook = rev.join("scripts/after.sh");
        std::fs::write(&hook, format!("#!/bin/sh\necho \"$LIFECYCLE_EVENT of $DEPLOYMENT_ID in $DEPLOYMENT_GROUP_NAME\"\necho \"$LIFECYCLE_EVENT {name}\" >> {}/hooks.log\n", dest.display())).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&hook, std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::write(rev.join("appspec.yml"), format!("version: 0.0\nos: linux\nfiles:\n  - source: www\n    destination: {}/www\nhooks:\n  AfterInstall: [{{location: scripts/after.sh, timeout: 30}}]\n", dest.display())).unwrap();
        let mut c = fx.kiln();
        c.arg("deploy").arg(&rev).arg("--dir").arg(&fx.proj).arg("--group").arg(&group).args(["--allow-unverified", "--json"]);
        let out = run_bounded(c, Duration::from_secs(120));
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        let d = &outcome(&out)[0];
        assert_eq!(d["status"], "Succeeded");
        assert_eq!(d["kiln"]["driver"], "ssh");
        assert!(stderr(&out).contains(&format!("AfterInstall of {} in hosts", d["deploymentId"].as_str().unwrap())), "the hook's output came back: {}", stderr(&out));
        assert_eq!(std::fs::read_to_string(dest.join("www/index.html")).unwrap(), body);
    }
    assert_eq!(std::fs::read_to_string(dest.join("hooks.log")).unwrap(), "AfterInstall v1\nAfterInstall v2\n");
}
