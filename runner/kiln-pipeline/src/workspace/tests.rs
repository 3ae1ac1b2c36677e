use super::*;
use crate::read::{parse, ReadOptions};

const PIPELINE: &str = r#"pipeline:
  name: demo
  roleArn: arn:aws:iam::123456789012:role/p
  artifactStore: {type: S3, location: bucket}
  stages:
    - name: Source
      actions:
        - name: Code
          actionTypeId: {category: Source, owner: AWS, provider: CodeCommit, version: "1"}
          configuration: {RepositoryName: app, BranchName: main}
          outputArtifacts: [{name: Src}]
        - name: Image
          actionTypeId: {category: Source, owner: AWS, provider: ECR, version: "1"}
          configuration: {RepositoryName: img}
          outputArtifacts: [{name: Img}]
    - name: Build
      actions:
        - name: Compile
          actionTypeId: {category: Build, owner: AWS, provider: CodeBuild, version: "1"}
          configuration: {ProjectName: api}
          inputArtifacts: [{name: Src}]
        - name: Unmapped
          actionTypeId: {category: Test, owner: AWS, provider: CodeBuild, version: "1"}
          configuration: {ProjectName: other}
          inputArtifacts: [{name: Src}]
    - name: Release
      actions:
        - name: Approve
          actionTypeId: {category: Approval, owner: AWS, provider: Manual, version: "1"}
        - name: Ship
          runOrder: 2
          actionTypeId: {category: Deploy, owner: AWS, provider: CodeDeploy, version: "1"}
          configuration: {ApplicationName: app, DeploymentGroupName: prod}
          inputArtifacts: [{name: Src}]
        - name: Notify
          runOrder: 3
          actionTypeId: {category: Invoke, owner: AWS, provider: Lambda, version: "1"}
          configuration: {FunctionName: notify}
        - name: Stack
          runOrder: 3
          actionTypeId: {category: Deploy, owner: AWS, provider: CloudFormation, version: "1"}
          configuration: {ActionMode: DELETE_ONLY, StackName: s, RoleArn: r}
"#;

const WORKSPACE: &str = "version: 1\nsources:\n  app: {repository: ., branch: trunk}\ncodebuild:\n  api:\n    path: ./services//api\n    env: {STAGE: local}\n    batch: true\ncodedeploy:\n  app:\n    prod: deploy/prod.yml\nlambda:\n  notify: plugins/notify.wasm\n";

#[test]
fn every_kind_of_action_is_mapped_or_says_why_not() {
    let def = parse(PIPELINE, "p.yml", &ReadOptions::default()).unwrap().definition;
    let (ws, diags) = parse_workspace(WORKSPACE, Path::new("/w"));
    assert!(diags.is_empty(), "{diags:?}");
    let table = runnable(&def, &ws);
    let get = |name: &str| table.iter().find(|r| r.action == name).unwrap().target.clone();
    assert_eq!(get("Code"), Ok(Target::Source { key: "app".into(), target: SourceTarget { repository: PathBuf::new(), branch: Some("trunk".into()) } }));
    assert!(get("Image").unwrap_err().contains("does not run ECR source actions"));
    match get("Compile").unwrap() {
        Target::Build { project, target } => {
            assert_eq!(project, "api");
            assert_eq!(target.path, PathBuf::from("services/api"));
            assert_eq!(target.buildspec, PathBuf::from("buildspec.yml"));
            assert_eq!(target.env.get("STAGE").map(String::as_str), Some("local"));
            assert!(target.batch);
        }
        other => panic!("{other:?}"),
    }
    assert!(get("Unmapped").unwrap_err().contains("`other` is not in the workspace's `codebuild`"));
    assert_eq!(get("Approve"), Ok(Target::Approval));
    assert_eq!(get("Ship"), Ok(Target::Deploy { application: "app".into(), group: "prod".into(), target: DeployTarget::file("deploy/prod.yml") }));
    assert_eq!(get("Notify"), Ok(Target::Invoke { function: "notify".into(), plugin: PathBuf::from("plugins/notify.wasm") }));
    assert_eq!(get("Stack").unwrap_err(), "kiln does not run CloudFormation Deploy actions");
}

#[test]
fn the_branch_defaults_to_the_actions_and_unresolved_names_say_which_param() {
    let def = parse(PIPELINE, "p.yml", &ReadOptions::default()).unwrap().definition;
    let (ws, _) = parse_workspace("sources:\n  app: {repository: repo}\n", Path::new("/w"));
    let Ok(Target::Source { target, .. }) = &runnable(&def, &ws)[0].target else { panic!() };
    assert_eq!(target.branch.as_deref(), Some("main"));
    let template = "Parameters: {Project: {Type: String}}\nResources:\n  P:\n    Type: AWS::CodePipeline::Pipeline\n    Properties:\n      RoleArn: r\n      ArtifactStore: {Type: S3, Location: b}\n      Stages:\n        - Name: S\n          Actions: [{Name: A, ActionTypeId: {Category: Source, Owner: AWS, Provider: S3, Version: '1'}, Configuration: {S3Bucket: b, S3ObjectKey: k}, OutputArtifacts: [{Name: O}]}]\n        - Name: B\n          Actions: [{Name: C, ActionTypeId: {Category: Build, Owner: AWS, Provider: CodeBuild, Version: '1'}, Configuration: {ProjectName: !Ref Project}, InputArtifacts: [{Name: O}]}]\n";
    let def = parse(template, "t.yml", &ReadOptions::default()).unwrap().definition;
    let table = runnable(&def, &Workspace::default());
    assert_eq!(table[0].target.clone().unwrap_err(), "`b/k` is not in the workspace's `sources` (add it to map it to a local git repository)");
    assert_eq!(table[1].target.clone().unwrap_err(), "its configuration `ProjectName` needs --param Project");
}

#[test]
fn paths_that_leave_the_workspace_are_refused_where_written() {
    let (ws, d) = parse_workspace("codebuild:\n  a: {path: ../x}\n  b: {path: /etc}\n  c: {path: ok, buildspec: ../../b.yml}\nlambda:\n  f: a/../../x.wasm\nsources:\n  r: {branch: main}\nextra: 1\n", Path::new("/w"));
    assert!(ws.codebuild.is_empty() && ws.lambda.is_empty() && ws.sources.is_empty());
    let codes: Vec<(&str, u32, u32)> = d.iter().map(|d| (d.code, d.span.line, d.span.col)).collect();
    assert_eq!(codes, vec![("E2605", 2, 13), ("E2605", 3, 13), ("E2605", 4, 28), ("E2605", 6, 6), ("E2604", 8, 6), ("E2602", 9, 1)]);
    assert_eq!(safe_relative("./a//b/."), Ok(PathBuf::from("a/b")));
    assert_eq!(safe_relative("."), Ok(PathBuf::new()));
    assert!(safe_relative("a/../b").is_err());
}

#[test]
fn a_deployment_group_is_a_file_or_a_mapping_with_options_each_bad_one_located() {
    let text = "codedeploy:\n  app:\n    staging: deploy/staging.yml\n    production: {group: deploy/prod.yml, config: CodeDeployDefault.ECSAllAtOnce, time-scale: 0.01, allow-unverified: true}\n";
    let (ws, d) = parse_workspace(text, Path::new("/w"));
    assert!(d.is_empty(), "{d:?}");
    assert_eq!(ws.codedeploy["app"]["staging"], DeployTarget::file("deploy/staging.yml"));
    assert_eq!(ws.codedeploy["app"]["production"], DeployTarget { group: PathBuf::from("deploy/prod.yml"), config: Some("CodeDeployDefault.ECSAllAtOnce".into()), time_scale: Some(0.01), allow_unverified: true });
    let bad = "codedeploy:\n  app:\n    a: {group: ../out.yml}\n    b: {config: X}\n    c: {group: g.yml, time-scale: fast}\n    d: {group: g.yml, allow-unverified: yes}\n    e: {group: g.yml, dir: elsewhere}\n";
    let (ws, d) = parse_workspace(bad, Path::new("/w"));
    assert!(ws.codedeploy.get("app").is_none_or(|g| !g.contains_key("a") && !g.contains_key("b") && !g.contains_key("c") && !g.contains_key("d")), "{:?}", ws.codedeploy);
    let codes: Vec<(&str, u32, u32)> = d.iter().map(|d| (d.code, d.span.line, d.span.col)).collect();
    assert_eq!(codes, vec![("E2605", 3, 16), ("E2604", 4, 8), ("E2606", 5, 35), ("E2606", 6, 41), ("E2602", 7, 23)]);
}
