//! The real pipeline definitions in `tests/corpus/pipelines/` (SOURCES.tsv): every one is read,
//! and validation finds what is actually wrong in them and nothing else. Each expected finding
//! says why it is right.

use std::path::PathBuf;

use kiln_pipeline::{read_file, validate, ReadError, ReadOptions};

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/corpus/pipelines")
}

/// A definition to read: file, logical id, `--param`s, expected findings other than the
/// unresolved-intrinsics summary (code, line), whether that summary (W2010) is expected.
struct Case {
    file: &'static str,
    logical_id: Option<&'static str>,
    params: &'static [(&'static str, &'static str)],
    findings: &'static [(&'static str, u32)],
    unresolved: bool,
    stages: usize,
}

const CASES: &[Case] = &[
    // get-pipeline output with metadata, OAuthToken masked as `****`: valid.
    Case { file: "NickBorgers__BeanstalkGoStack__codepipeline.json", logical_id: None, params: &[], findings: &[], unresolved: false, stages: 5 },
    // get-pipeline style without metadata; CloudFormation DELETE_ONLY → CHANGE_SET_REPLACE →
    // CHANGE_SET_EXECUTE with every key each mode requires: valid.
    Case { file: "rajeesh-iinerds__cicdtest-java__codepipeline.json", logical_id: None, params: &[], findings: &[], unresolved: false, stages: 3 },
    // Two pipelines in one template. The source's provider and version are `!ImportValue`s
    // (given here); Conditions pick the Custom source (UseCodeCommit defaults to False) and the
    // manual approvals (ManualApprovalRequired defaults to true).
    Case {
        file: "Dozuki__CloudPrem__git_pipeline.yml",
        logical_id: Some("ProjectApplyPipeline"),
        params: &[("cloudprem-source-action-provider", "GitSource"), ("cloudprem-source-action-version", "1")],
        findings: &[],
        unresolved: true,
        stages: 3,
    },
    // The destroy pipeline has `Condition: DestroyResources`, and PipelineAction defaults to
    // Apply: with the template's defaults CloudFormation does not create it (W2001, right).
    Case {
        file: "Dozuki__CloudPrem__git_pipeline.yml",
        logical_id: Some("ProjectDestroyPipeline"),
        params: &[("cloudprem-source-action-provider", "GitSource"), ("cloudprem-source-action-version", "1")],
        findings: &[("W2001", 631)],
        unresolved: true,
        stages: 2,
    },
    Case { file: "PigumerGroup__aws-cross-account-pipeline__cloudformation_codepipeline.yaml", logical_id: None, params: &[], findings: &[], unresolved: true, stages: 2 },
    Case { file: "aws-cloudformation__iac-model-evaluation__cloudformation_codepipeline.yaml", logical_id: None, params: &[], findings: &[], unresolved: true, stages: 2 },
    Case { file: "aws-samples__aws-kube-code-service__templates_deployment-pipeline.yaml", logical_id: None, params: &[], findings: &[], unresolved: true, stages: 3 },
    // Two real defects, both duplicate keys: the parameter `Name` is declared twice (lines 6
    // and 9), and the source action has two `Name`s (ShibbolethIdP at 345, ApplicationSource at
    // 356). CloudFormation accepts duplicates and keeps the last (go-to-k/cdk-real-drift#1074),
    // so the action is really named ApplicationSource; `aws cloudformation deploy` refuses the
    // file (brentley/container-demo#11). Warnings, not errors: the pipeline itself is valid.
    Case {
        file: "aws-samples__aws-refarch-shibboleth__templates_deployment-pipeline.yaml",
        logical_id: None,
        params: &[],
        findings: &[("W2003", 9), ("W2003", 356)],
        unresolved: true,
        stages: 3,
    },
    // Parallel sources (GitHub + two S3), a CodeBuild chain, CloudFormation CREATE_UPDATE with
    // TemplatePath `Template::…`, a manual approval and a Lambda invoke: valid.
    Case { file: "aws-samples__ecs-blue-green-deployment__templates_deployment-pipeline.yaml", logical_id: None, params: &[], findings: &[], unresolved: true, stages: 3 },
    Case { file: "awslabs__ecs-refarch-continuous-deployment__templates_deployment-pipeline.yaml", logical_id: None, params: &[], findings: &[], unresolved: true, stages: 3 },
    Case { file: "keithsharp__ami-bakery__cloudformation_codepipeline.yaml", logical_id: None, params: &[], findings: &[], unresolved: true, stages: 2 },
    Case { file: "mozilla-iam__aws-codepipeline-cloudformation__codepipeline.yml", logical_id: None, params: &[], findings: &[], unresolved: true, stages: 2 },
    // Action and artifact names are `!Ref GitHubRepoName` (no Default): given here. Without it
    // the structure cannot be checked (E2010, tested below).
    Case { file: "ndlib__bendo__codepipeline.yml", logical_id: None, params: &[("GitHubRepoName", "bendo")], findings: &[], unresolved: true, stages: 2 },
    // Six stages; a CodeStarSourceConnection source; an approval with CustomData,
    // ExternalEntityLink (!Sub) and NotificationArn: valid.
    Case { file: "sch0penheimer__AWS-DevSecOps-Hybrid-CICD-Factory__cloudformation_codepipeline.yaml", logical_id: None, params: &[], findings: &[], unresolved: true, stages: 6 },
];

#[test]
fn every_listed_file_is_in_the_corpus_and_every_file_is_listed() {
    let sources = std::fs::read_to_string(dir().join("SOURCES.tsv")).unwrap();
    let listed: Vec<&str> = sources.lines().skip(1).filter_map(|l| l.split('\t').next()).collect();
    let mut present: Vec<String> = std::fs::read_dir(dir()).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).filter(|n| n != "SOURCES.tsv").collect();
    present.sort();
    let mut l: Vec<String> = listed.iter().map(|s| s.to_string()).collect();
    l.sort();
    assert_eq!(present, l);
    for name in &present {
        assert!(name.ends_with(".tf") || CASES.iter().any(|c| c.file == name), "{name} has no case");
    }
}

#[test]
fn each_definition_reads_and_validation_finds_exactly_what_is_wrong() {
    for case in CASES {
        let mut opts = ReadOptions { logical_id: case.logical_id.map(str::to_string), ..Default::default() };
        for (k, v) in case.params {
            opts.params.set(*k, *v);
        }
        let (_, read) = read_file(&dir().join(case.file), None, &opts).unwrap_or_else(|e| panic!("{}: {e}", case.file));
        let mut diags = read.diagnostics.clone();
        diags.extend(validate(&read.definition));
        let found: Vec<(&str, u32)> = diags.iter().filter(|d| d.code != "W2010").map(|d| (d.code, d.span.line)).collect();
        assert_eq!(found, case.findings, "{}: {diags:#?}", case.file);
        assert_eq!(diags.iter().any(|d| d.code == "W2010"), case.unresolved, "{}", case.file);
        assert_eq!(read.definition.pipeline.stages.len(), case.stages, "{}", case.file);
    }
}

#[test]
fn terraform_is_refused_with_what_to_do_instead() {
    let err = read_file(&dir().join("OrionCloudPractice__terraform-multi-account-pipeline__codepipeline.tf"), None, &ReadOptions::default()).unwrap_err();
    assert!(matches!(err, ReadError::Terraform));
    assert!(err.to_string().contains("aws codepipeline get-pipeline"));
}

#[test]
fn without_the_parameters_the_structure_cannot_be_checked() {
    let (_, read) = read_file(&dir().join("ndlib__bendo__codepipeline.yml"), None, &ReadOptions::default()).unwrap();
    let d = read.diagnostics.iter().find(|d| d.code == "E2010").expect("E2010");
    assert_eq!((d.span.line, d.span.col), (157, 17));
    assert!(d.notes.iter().any(|n| n.contains("`!Ref GitHubRepoName`") && n.contains("--param GitHubRepoName=VALUE")), "{d:#?}");
    // The template with two pipelines needs a choice.
    let err = read_file(&dir().join("Dozuki__CloudPrem__git_pipeline.yml"), None, &ReadOptions::default()).unwrap_err();
    assert!(matches!(err, ReadError::ChooseOne(ref ids) if ids.len() == 2), "{err}");
}

#[test]
fn resolved_values_are_what_cloudformation_would_make() {
    let opts = ReadOptions { logical_id: Some("ProjectApplyPipeline".into()), ..Default::default() };
    let (_, read) = read_file(&dir().join("Dozuki__CloudPrem__git_pipeline.yml"), None, &opts).unwrap();
    let p = &read.definition.pipeline;
    // Name: !If [CustomerSet, …, !Sub dozuki-${Environment}-apply], Customer defaults to "".
    assert_eq!(p.name.value, "dozuki-dev-apply");
    let plan = &p.stages[1].actions[0];
    // ProjectName: !Ref TfPlanCodeBuildProject, whose Name is !Sub …-terraform-plan.
    assert_eq!(plan.config("ProjectName").unwrap().value, "dozuki-dev-terraform-plan");
    let approve = &p.stages[1].actions[1];
    // !FindInMap [PartitionMap, !Ref AWS::Partition, ConsoleUrl] inside a !Sub; CodePipeline's
    // own #{…} variables are left for the run; AWS::AccountId and AWS::Region need --param.
    let link = approve.config("ExternalEntityLink").unwrap();
    assert!(link.value.starts_with("https://console.aws.amazon.com/codesuite/codebuild/${AWS::AccountId}/projects/dozuki-dev-terraform-plan/build/#{BuildPhysicalVariables.CODEBUILD_BUILD_ID}/"), "{}", link.value);
    assert_eq!(link.needs, vec!["AWS::AccountId", "AWS::Region"]);
    assert_eq!(approve.run_order(), 2);
}
