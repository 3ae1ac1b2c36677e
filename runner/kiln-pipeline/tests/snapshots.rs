//! The typed model, with every value's line:column, for one definition of each source kind.

use std::path::PathBuf;

use kiln_pipeline::{parse, read_file, ReadOptions};

fn corpus(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/corpus/pipelines").join(name)
}

#[test]
fn get_pipeline_json() {
    let (_, read) = read_file(&corpus("rajeesh-iinerds__cicdtest-java__codepipeline.json"), None, &ReadOptions::default()).unwrap();
    insta::assert_yaml_snapshot!(read.definition);
}

#[test]
fn cloudformation_yaml() {
    let (_, read) = read_file(&corpus("mozilla-iam__aws-codepipeline-cloudformation__codepipeline.yml"), None, &ReadOptions::default()).unwrap();
    insta::assert_yaml_snapshot!(read.definition);
}

#[test]
fn cloudformation_json() {
    let json = r##"{
  "AWSTemplateFormatVersion": "2010-09-09",
  "Parameters": {"Branch": {"Type": "String", "Default": "main"}},
  "Resources": {
    "Pipeline": {
      "Type": "AWS::CodePipeline::Pipeline",
      "Properties": {
        "RoleArn": {"Fn::GetAtt": ["PipelineRole", "Arn"]},
        "PipelineType": "V2",
        "ExecutionMode": "QUEUED",
        "ArtifactStores": [{"Region": "us-east-1", "ArtifactStore": {"Type": "S3", "Location": "bucket-use1"}}],
        "Stages": [
          {"Name": "Source", "Actions": [{"Name": "Code", "Namespace": "SourceVariables",
            "ActionTypeId": {"Category": "Source", "Owner": "AWS", "Provider": "CodeStarSourceConnection", "Version": "1"},
            "Configuration": {"ConnectionArn": "arn:aws:codeconnections:us-east-1:123456789012:connection/x", "FullRepositoryId": "o/r", "BranchName": {"Ref": "Branch"}},
            "OutputArtifacts": [{"Name": "Src"}]}]},
          {"Name": "Build", "OnFailure": {"Result": "RETRY", "RetryConfiguration": {"RetryMode": "FAILED_ACTIONS"}}, "Actions": [{"Name": "Compile",
            "ActionTypeId": {"Category": "Build", "Owner": "AWS", "Provider": "CodeBuild", "Version": "1"},
            "Configuration": {"ProjectName": "p", "EnvironmentVariables": "[{\"name\":\"COMMIT\",\"value\":\"#{SourceVariables.CommitId}\"}]"},
            "InputArtifacts": [{"Name": "Src"}], "RunOrder": 2}]}
        ],
        "Triggers": [{"ProviderType": "CodeStarSourceConnection", "GitConfiguration": {"SourceActionName": "Code", "Push": [{"Tags": {"Includes": ["v*"]}}]}}]
      }
    }
  }
}
"##;
    let read = parse(json, "template.json", &ReadOptions::default()).unwrap();
    insta::assert_yaml_snapshot!(read.definition);
}

#[test]
fn kiln_yaml() {
    let yaml = "pipeline:
  name: release
  roleArn: arn:aws:iam::123456789012:role/p
  artifactStore: {type: S3, location: bucket}
  pipelineType: V2
  variables:
    - {name: Env, defaultValue: staging, description: where to deploy}
  stages:
    - name: Source
      actions:
        - name: Code
          namespace: SourceVariables
          actionTypeId: {category: Source, owner: AWS, provider: CodeCommit, version: '1'}
          configuration: {RepositoryName: app, BranchName: main, PollForSourceChanges: false}
          outputArtifacts: [{name: Src}]
    - name: Release
      onFailure: {result: ROLLBACK}
      actions:
        - name: Approve
          actionTypeId: {category: Approval, owner: AWS, provider: Manual, version: '1'}
          configuration: {CustomData: 'Ship #{SourceVariables.CommitId} to #{variables.Env}?'}
          timeoutInMinutes: 60
        - name: Ship
          runOrder: 2
          actionTypeId: {category: Deploy, owner: AWS, provider: CodeDeploy, version: '1'}
          configuration: {ApplicationName: app, DeploymentGroupName: prod}
          inputArtifacts: [{name: Src}]
";
    let read = parse(yaml, "pipeline.yml", &ReadOptions::default()).unwrap();
    insta::assert_yaml_snapshot!(read.definition);
}
