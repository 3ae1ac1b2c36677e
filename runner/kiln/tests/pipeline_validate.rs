//! `kiln pipeline validate` through the real binary: what it prints, its exit codes.

use std::path::PathBuf;

use assert_cmd::Command;
use predicates::prelude::*;

fn corpus(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/corpus/pipelines").join(name)
}

fn kiln() -> Command {
    Command::cargo_bin("kiln").unwrap()
}

#[test]
fn a_valid_get_pipeline_file_prints_its_stages_and_exits_0() {
    kiln()
        .args(["pipeline", "validate"])
        .arg(corpus("NickBorgers__BeanstalkGoStack__codepipeline.json"))
        .assert()
        .code(0)
        .stdout(predicate::str::contains("get-pipeline JSON, pipeline `HelloGo`, V1, SUPERSEDED, 5 stage(s), 5 action(s)"))
        .stdout(predicate::str::contains("stage CI-Deploy"))
        .stdout(predicate::str::contains("Beanstalk-Build          Build/AWS/CodeBuild v1  runOrder 1  in: SourceArtifact  out: BuildArtifact"))
        .stdout(predicate::str::contains("not runnable: kiln does not run ElasticBeanstalk Deploy actions"))
        .stdout(predicate::str::contains("runnable: kiln runs Build actions (map it with --workspace)"))
        .stdout(predicate::str::contains(": valid"));
}

#[test]
fn a_workspace_says_what_each_action_runs() {
    let dir = tempfile::tempdir().unwrap();
    let ws = dir.path().join("kiln-workspace.yml");
    std::fs::write(&ws, "version: 1\nsources:\n  NickBorgers/BeanstalkGoStack: {repository: app}\ncodebuild:\n  BeanstalkGoStack: {path: app, batch: true}\n").unwrap();
    kiln()
        .args(["pipeline", "validate", "--workspace"])
        .arg(&ws)
        .arg(corpus("NickBorgers__BeanstalkGoStack__codepipeline.json"))
        .assert()
        .code(0)
        .stdout(predicate::str::contains(format!("runnable: git {} (master)", dir.path().join("app").display())))
        .stdout(predicate::str::contains(format!("runnable: kiln build {} (batch)", dir.path().join("app/buildspec.yml").display())))
        .stdout(predicate::str::contains("not runnable: `BeanstalkGoStack-Integration-Test` is not in the workspace's `codebuild`"));
}

#[test]
fn problems_are_located_and_exit_1() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("pipeline.yml");
    std::fs::write(
        &file,
        "pipeline:\n  name: demo\n  roleArn: r\n  artifactStore: {type: S3, location: b}\n  stages:\n    - name: Source\n      actions:\n        - name: Code\n          actionTypeId: {category: Source, owner: AWS, provider: CodeComit, version: '1'}\n          outputArtifacts: [{name: SourceArtifact}]\n    - name: Build\n      actions:\n        - name: Compile\n          actionTypeId: {category: Build, owner: AWS, provider: CodeBuild, version: '1'}\n          configuration: {ProjectName: p}\n          inputArtifacts: [{name: SourceArtifacts}]\n",
    )
    .unwrap();
    kiln()
        .args(["pipeline", "validate"])
        .arg(&file)
        .assert()
        .code(1)
        .stderr(predicate::str::contains("pipeline.yml:9:66: error[E2205]: `CodeComit` is not a known AWS provider for Source actions"))
        .stderr(predicate::str::contains("did you mean `CodeCommit`?"))
        .stderr(predicate::str::contains("pipeline.yml:16:35: error[E2303]: the input artifact `SourceArtifacts` of `Compile` is not produced by any action"))
        .stderr(predicate::str::contains("did you mean `SourceArtifact`?"))
        .stderr(predicate::str::contains("invalid: 2 error(s)"));
}

#[test]
fn unresolved_intrinsics_are_named_with_what_to_pass_and_params_resolve_them() {
    let file = corpus("ndlib__bendo__codepipeline.yml");
    kiln()
        .args(["pipeline", "validate"])
        .arg(&file)
        .assert()
        .code(1)
        .stderr(predicate::str::contains("error[E2010]"))
        .stderr(predicate::str::contains("line 157, column 17: `!Ref GitHubRepoName`: a template parameter without a Default; pass --param GitHubRepoName=VALUE (the structure depends on it)"));
    kiln()
        .args(["pipeline", "validate", "--param", "GitHubRepoName=bendo"])
        .arg(&file)
        .assert()
        .code(0)
        .stdout(predicate::str::contains("bendo                    Build/AWS/CodeBuild v1  runOrder 1  in: bendo-source  out: bendo"))
        .stderr(predicate::str::contains("warning[W2010]"));
}

#[test]
fn files_that_cannot_be_read_exit_2() {
    kiln().args(["pipeline", "validate", "/nonexistent/pipeline.json"]).assert().code(2).stderr(predicate::str::contains("cannot read the pipeline definition /nonexistent/pipeline.json"));
    kiln().args(["pipeline", "validate", "/dev/zero"]).assert().code(2).stderr(predicate::str::contains("character device"));
    kiln()
        .args(["pipeline", "validate"])
        .arg(corpus("OrionCloudPractice__terraform-multi-account-pipeline__codepipeline.tf"))
        .assert()
        .code(2)
        .stderr(predicate::str::contains("Terraform files are not read"));
    kiln()
        .args(["pipeline", "validate"])
        .arg(corpus("Dozuki__CloudPrem__git_pipeline.yml"))
        .assert()
        .code(2)
        .stderr(predicate::str::contains("the template has 2 pipelines: ProjectApplyPipeline (line 484), ProjectDestroyPipeline (line 631); choose one with --pipeline LOGICAL_ID"));
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, "{\"pipeline\": {\"name\": \"x\",\n").unwrap();
    kiln().args(["pipeline", "validate"]).arg(&bad).assert().code(2).stderr(predicate::str::contains("bad.json:2:1: error[E0001]"));
    kiln().args(["pipeline", "validate", "--param", "novalue"]).arg(&bad).assert().code(2).stderr(predicate::str::contains("expected NAME=VALUE"));
}

#[test]
fn json_output_has_the_runnable_table_and_the_diagnostics() {
    let out = kiln()
        .args(["pipeline", "validate", "--json", "--pipeline", "ProjectApplyPipeline", "--param", "cloudprem-source-action-provider=GitSource", "--param", "cloudprem-source-action-version=1"])
        .arg(corpus("Dozuki__CloudPrem__git_pipeline.yml"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["pipeline"], "dozuki-dev-apply");
    assert_eq!(v["logicalId"], "ProjectApplyPipeline");
    assert_eq!(v["actions"].as_array().unwrap().len(), 7);
    assert_eq!(v["actions"][0]["reason"], "kiln does not run GitSource Source actions");
    assert!(v["diagnostics"].as_array().unwrap().iter().any(|d| d["code"] == "W2010"));
}
