//! `kiln pipeline watch` through the binary: refs read from a real repository's files, each
//! move decided by the V2 trigger filters.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git").arg("-C").arg(dir).args(args).env("GIT_CONFIG_NOSYSTEM", "1").env("GIT_CONFIG_GLOBAL", "/dev/null").output().expect("git");
    assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn commit(repo: &Path, file: &str) -> String {
    std::fs::write(repo.join(file), file).unwrap();
    git(repo, &["add", file]);
    git(repo, &["-c", "user.email=k@x", "-c", "user.name=k", "commit", "-qm", file]);
    git(repo, &["rev-parse", "HEAD"])
}

const PIPELINE: &str = "pipeline:\n  name: app\n  pipelineType: V2\n  roleArn: arn:aws:iam::123456789012:role/p\n  artifactStore: {type: S3, location: b}\n  triggers:\n    - providerType: CodeStarSourceConnection\n      gitConfiguration:\n        sourceActionName: Source\n        push:\n          - branches: {includes: [main]}\n          - tags: {includes: ['v*']}\n  stages:\n    - name: Source\n      actions:\n        - name: Source\n          actionTypeId: {category: Source, owner: AWS, provider: CodeStarSourceConnection, version: '1'}\n          configuration: {BranchName: main, ConnectionArn: 'arn:aws:codestar-connections:us-east-1:123456789012:connection/x', FullRepositoryId: acme/app}\n          outputArtifacts: [{name: Src}]\n    - name: Build\n      actions:\n        - name: Build\n          actionTypeId: {category: Build, owner: AWS, provider: CodeBuild, version: '1'}\n          configuration: {ProjectName: app}\n          inputArtifacts: [{name: Src}]\n";

fn setup() -> (tempfile::TempDir, String) {
    let d = tempfile::tempdir().unwrap();
    let repo = d.path().join("repo");
    std::fs::create_dir(&repo).unwrap();
    git(&repo, &["init", "-q", "-b", "main"]);
    let head = commit(&repo, "a");
    git(&repo, &["branch", "feature"]);
    std::fs::write(d.path().join("pipeline.yml"), PIPELINE).unwrap();
    std::fs::write(d.path().join("workspace.yml"), "version: 1\nsources:\n  acme/app:\n    repository: repo\ncodebuild:\n  app:\n    path: repo\n").unwrap();
    (d, head)
}

#[test]
fn once_decides_for_every_branch_and_tag() {
    let (d, head) = setup();
    let o = assert_cmd::Command::cargo_bin("kiln").unwrap().current_dir(d.path()).args(["pipeline", "watch", "pipeline.yml", "--workspace", "workspace.yml", "--once", "--json"]).output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&o.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert_eq!(lines[0]["ref"], "refs/heads/feature");
    assert_eq!(lines[0]["starts"], false);
    assert_eq!(lines[0]["reason"], "push filter 1: branch `feature` matches none of `main`; push filter 2: a branch push (`feature`) and the filter has no branches");
    assert_eq!(lines[1]["ref"], "refs/heads/main");
    assert_eq!(lines[1]["starts"], true);
    assert_eq!(lines[1]["commit"], head.as_str());
    assert_eq!(lines[1]["reason"], "push filter 1: branch `main` matches `main`");
}

#[test]
fn a_push_and_a_tag_are_seen_and_decided() {
    let (d, _) = setup();
    let repo = d.path().join("repo");
    let mut child = Command::new(assert_cmd::cargo::cargo_bin("kiln")).current_dir(d.path()).args(["pipeline", "watch", "pipeline.yml", "--workspace", "workspace.yml", "--interval", "0.2"]).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let (tx, rx) = mpsc::channel();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let next = || rx.recv_timeout(Duration::from_secs(20)).expect("a line from kiln pipeline watch");
    assert!(next().starts_with("watching "), "first line");
    let two = commit(&repo, "b");
    assert_eq!(next(), format!("run would start: app from Source at refs/heads/main {two} (push filter 1: branch `main` matches `main`)"));
    git(&repo, &["tag", "v1.0"]);
    assert_eq!(next(), format!("run would start: app from Source at refs/tags/v1.0 {two} (push filter 2: tag `v1.0` matches `v*`)"));
    git(&repo, &["tag", "nightly"]);
    assert_eq!(next(), "no run: Source refs/tags/nightly: push filter 1: a tag push (`nightly`) and the filter has no tags; push filter 2: tag `nightly` matches none of `v*`");
    git(&repo, &["branch", "-D", "feature"]);
    assert_eq!(next(), "no run: Source refs/heads/feature: `refs/heads/feature` was deleted: nothing to run");
    child.kill().unwrap();
    child.wait().unwrap();
}

#[test]
fn a_bad_trigger_pattern_is_located() {
    let (d, _) = setup();
    std::fs::write(d.path().join("pipeline.yml"), PIPELINE.replace("includes: [main]", "includes: ['{a,{b}}']")).unwrap();
    let o = assert_cmd::Command::cargo_bin("kiln").unwrap().current_dir(d.path()).args(["pipeline", "watch", "pipeline.yml", "--workspace", "workspace.yml", "--once"]).output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("pipeline.yml:11:") && err.contains("groups `{…}` cannot be nested"), "{err}");
}
