//! CloudFormation intrinsic functions evaluated offline, and the parameters the rest needs.

use kiln_pipeline::{parse, Pipeline, ReadOptions};

/// A template whose pipeline's first build action has `configuration` `{cfg}`; extra top-level
/// sections in `{top}`.
fn template(top: &str, cfg: &str) -> String {
    format!(
        "AWSTemplateFormatVersion: '2010-09-09'
{top}
Resources:
  Project:
    Type: AWS::CodeBuild::Project
    Properties: {{Name: !Sub '${{AWS::StackName}}-build'}}
  Role:
    Type: AWS::IAM::Role
  P:
    Type: AWS::CodePipeline::Pipeline
    Properties:
      RoleArn: !GetAtt Role.Arn
      ArtifactStore: {{Type: S3, Location: b}}
      Stages:
        - Name: S
          Actions: [{{Name: Src, ActionTypeId: {{Category: Source, Owner: AWS, Provider: S3, Version: 1}}, Configuration: {{S3Bucket: b, S3ObjectKey: k}}, OutputArtifacts: [{{Name: O}}]}}]
        - Name: B
          Actions:
            - Name: C
              ActionTypeId: {{Category: Build, Owner: AWS, Provider: CodeBuild, Version: 1}}
              InputArtifacts: [{{Name: O}}]
              Configuration:
{cfg}"
    )
}

fn read(top: &str, cfg: &str, params: &[(&str, &str)]) -> (Pipeline, Vec<kiln_pipeline::Unresolved>, Vec<kiln_spec::Diagnostic>) {
    let mut opts = ReadOptions::default();
    for (k, v) in params {
        opts.params.set(*k, *v);
    }
    let r = parse(&template(top, cfg), "t.yml", &opts).unwrap();
    (r.definition.pipeline, r.definition.unresolved, r.diagnostics)
}

fn config(p: &Pipeline, key: &str) -> kiln_pipeline::Text {
    p.stages[1].actions[0].config(key).unwrap_or_else(|| panic!("no {key}")).clone()
}

#[test]
fn refs_to_parameters_pseudo_parameters_and_resources() {
    let top = "Parameters:\n  Env: {Type: String, Default: dev}\n  NoDefault: {Type: String}\n  Subnets: {Type: CommaDelimitedList, Default: 'a,b'}";
    let cfg = "                ProjectName: !Ref Project\n                Env: !Ref Env\n                Other: !Ref NoDefault\n                Part: !Ref AWS::Partition\n                Second: !Select [1, !Ref Subnets]\n";
    let (p, unresolved, _) = read(top, cfg, &[]);
    // A CodeBuild project's Ref is its Name, here a !Sub of a pseudo parameter not given.
    let project = config(&p, "ProjectName");
    assert_eq!((project.value.as_str(), project.needs.clone()), ("${AWS::StackName}-build", vec!["AWS::StackName".to_string()]));
    assert_eq!(config(&p, "Env").value, "dev");
    assert_eq!(config(&p, "Other").needs, vec!["NoDefault"]);
    assert_eq!(config(&p, "Part").value, "aws");
    assert_eq!(config(&p, "Second").value, "b");
    let names: Vec<&str> = unresolved.iter().flat_map(|u| u.params.iter().map(String::as_str)).collect();
    assert!(names.contains(&"Role.Arn") && names.contains(&"NoDefault") && names.contains(&"AWS::StackName"), "{names:?}");
    // The position is the intrinsic's tag.
    let u = unresolved.iter().find(|u| u.params == ["NoDefault"]).unwrap();
    assert_eq!((u.span.line, u.span.col, u.intrinsic.as_str()), (28, 24, "!Ref NoDefault"));
    // Given values win; the partition follows the Region.
    let (p, unresolved, _) = read(top, cfg, &[("AWS::StackName", "st"), ("NoDefault", "x"), ("Env", "prod"), ("AWS::Region", "cn-north-1"), ("Role.Arn", "arn")]);
    assert_eq!(config(&p, "ProjectName").value, "st-build");
    assert_eq!((config(&p, "Env").value.as_str(), config(&p, "Other").value.as_str(), config(&p, "Part").value.as_str()), ("prod", "x", "aws-cn"));
    assert!(unresolved.is_empty(), "{unresolved:?}");
}

#[test]
fn sub_join_split_select_base64_find_in_map() {
    let top = "Parameters:\n  Env: {Type: String, Default: dev}\nMappings:\n  M: {dev: {Size: small}}";
    let cfg = "                A: !Sub 'x-${Env}-${!Literal}-#{SourceVariables.CommitId}'\n                B: !Sub ['${X}/${Role.Arn}', {X: !Ref Env}]\n                C: !Join [':', [a, !Ref Env, !Ref AWS::NoValue, c]]\n                D: !Select [2, !Split ['/', 'a/b/c']]\n                E: !Base64 hello\n                F: !FindInMap [M, !Ref Env, Size]\n                G: !FindInMap [M, prod, Size, {DefaultValue: none}]\n";
    let (p, _, diags) = read(top, cfg, &[]);
    assert!(diags.iter().all(|d| !d.is_error()), "{diags:#?}");
    assert_eq!(config(&p, "A").value, "x-dev-${Literal}-#{SourceVariables.CommitId}");
    let b = config(&p, "B");
    assert_eq!((b.value.as_str(), b.needs.clone()), ("dev/${Role.Arn}", vec!["Role.Arn".to_string()]));
    assert_eq!(config(&p, "C").value, "a:dev:c");
    assert_eq!(config(&p, "D").value, "c");
    assert_eq!(config(&p, "E").value, "aGVsbG8=");
    assert_eq!(config(&p, "F").value, "small");
    assert_eq!(config(&p, "G").value, "none");
}

#[test]
fn conditions_pick_branches_or_name_what_they_need() {
    let top = "Parameters:\n  Env: {Type: String, Default: prod}\n  Flag: {Type: String}\nConditions:\n  IsProd: !Equals [!Ref Env, prod]\n  NotProd: !Not [!Condition IsProd]\n  Both: !And [!Condition IsProd, !Equals [!Ref Flag, 'on']]\n  Either: !Or [!Condition IsProd, !Equals [!Ref Flag, 'on']]\n  Unknown: !Equals [!Ref Flag, 'on']";
    let cfg = "                A: !If [IsProd, yes, no]\n                B: !If [NotProd, yes, !Ref AWS::NoValue]\n                C: !If [Either, yes, no]\n                D: !If [Both, yes, no]\n";
    let (p, unresolved, _) = read(top, cfg, &[]);
    assert_eq!(config(&p, "A").value, "yes");
    assert!(p.stages[1].actions[0].config("B").is_none(), "AWS::NoValue removes the key");
    assert_eq!(config(&p, "C").value, "yes", "Or with one side true needs nothing");
    let d = config(&p, "D");
    assert_eq!(d.needs, vec!["Flag"], "And with an unknown side needs it");
    assert!(unresolved.iter().any(|u| u.intrinsic == "!If [Both, …]" && u.why.contains("condition `Both`")), "{unresolved:?}");
    let (p, _, _) = read(top, cfg, &[("Flag", "on")]);
    assert_eq!(config(&p, "D").value, "yes");
}

#[test]
fn functions_that_need_the_account_become_parameters() {
    let cfg = "                A: !ImportValue shared-bucket\n                B: !GetAtt [Role, Arn]\n                C: !GetAZs ''\n                D: !Cidr [10.0.0.0/16, 2, 8]\n                ProjectName: !Ref Project\n";
    let (p, unresolved, diags) = read("", cfg, &[("shared-bucket", "bkt")]);
    assert_eq!(config(&p, "A").value, "bkt");
    assert_eq!(config(&p, "B").needs, vec!["Role.Arn"]);
    assert!(unresolved.iter().any(|u| u.params == ["Fn::Cidr"]));
    // A list where configuration takes strings is an error, located.
    assert!(diags.iter().any(|d| d.code == "E2005") || config(&p, "C").needs == ["Fn::GetAZs"], "{diags:#?}");
}

#[test]
fn json_templates_use_the_long_forms_and_bad_ones_are_located() {
    let json = r#"{"Parameters": {"Env": {"Type": "String", "Default": "dev"}},
 "Resources": {"P": {"Type": "AWS::CodePipeline::Pipeline", "Properties": {
  "Name": {"Fn::Join": ["-", ["app", {"Ref": "Env"}]]}, "RoleArn": {"Fn::GetAtt": ["R", "Arn"]},
  "ArtifactStore": {"Type": "S3", "Location": "b"},
  "Stages": [{"Name": "S", "Actions": [{"Name": "A", "ActionTypeId": {"Category": "Source", "Owner": "AWS", "Provider": "S3", "Version": "1"}, "Configuration": "{\"S3Bucket\": \"b\", \"S3ObjectKey\": \"k\", \"PollForSourceChanges\": false}", "OutputArtifacts": [{"Name": "O"}]}]},
             {"Name": "B", "Actions": [{"Name": "C", "ActionTypeId": {"Category": "Build", "Owner": "AWS", "Provider": "CodeBuild", "Version": "1"}, "Configuration": {"ProjectName": {"Ref": "Missing"}}, "InputArtifacts": [{"Name": "O"}]}]}]}}}}"#;
    let r = parse(json, "t.json", &ReadOptions::default()).unwrap();
    assert_eq!(r.definition.source, kiln_pipeline::SourceKind::CloudFormationJson);
    let p = &r.definition.pipeline;
    assert_eq!(p.name.value, "app-dev");
    assert_eq!(p.stages[0].actions[0].config("PollForSourceChanges").unwrap().value, "false", "a JSON-string Configuration, values stringified");
    let d = r.diagnostics.iter().find(|d| d.code == "E2012").expect("an unknown Ref is an error");
    assert_eq!(d.span.line, 6);
    assert!(d.message.contains("!Ref Missing"));
}

#[test]
fn a_condition_that_refers_to_itself_is_refused_not_followed() {
    let top = "Conditions:\n  A: !Condition B\n  B: !Not [!Condition A]";
    let (p, _, diags) = read(top, "                X: !If [A, yes, no]\n", &[]);
    assert!(diags.iter().any(|d| d.code == "E2015" && d.message.contains("refers to itself")), "{diags:#?}");
    assert!(p.stages[1].actions[0].config("X").is_some());
}
