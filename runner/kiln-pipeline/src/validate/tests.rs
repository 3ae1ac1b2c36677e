//! Every validation rule, each with the position it reports.

use crate::read::{parse, ReadOptions};

/// Codes with positions: the reader's and the validation's.
/// Fails the test if any `has` did not find its finding (all of them are printed first).
fn done() {
    assert!(!FAILED.with(|c| c.replace(false)), "some findings were not where expected (see MISMATCH lines)");
}

fn findings(yaml: &str) -> Vec<(&'static str, u32, u32)> {
    let read = parse(yaml, "p.yml", &ReadOptions::default()).unwrap_or_else(|e| panic!("{e}: {:?}", e.diagnostics()));
    let mut all: Vec<_> = read.diagnostics.iter().chain(&super::validate(&read.definition)).map(|d| (d.code, d.span.line, d.span.col)).collect();
    all.sort_by_key(|f| (f.1, f.2));
    all
}

thread_local!(static FAILED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) });

fn has(yaml: &str, code: &str, line: u32, col: u32) {
    let f = findings(yaml);
    if !f.contains(&(code, line, col)) {
        let shown: Vec<String> = f.iter().filter(|x| x.0 == code).map(|(c, l, k)| format!("{c} {l}:{k} `{}`", yaml.lines().nth(*l as usize - 1).unwrap_or("").chars().skip(*k as usize - 1).take(30).collect::<String>())).collect();
        println!("MISMATCH expected {code} at {line}:{col} `{}`, found {shown:?} (all: {f:?})", yaml.lines().nth(line as usize - 1).unwrap_or("").chars().skip(col as usize - 1).take(30).collect::<String>());
        FAILED.with(|c| c.set(true));
    }
}

/// A valid two-stage pipeline; `{S}` and `{B}` are replaced by extra source-action / build-action
/// lines, `{TOP}` by extra top-level lines, `{STAGES}` by extra stages.
const BASE: &str = "pipeline:
  name: demo
  roleArn: arn:aws:iam::123456789012:role/p
  artifactStore: {type: S3, location: bucket}
{TOP}  stages:
    - name: Source
      actions:
        - name: Code
          actionTypeId: {category: Source, owner: AWS, provider: CodeCommit, version: '1'}
          configuration: {RepositoryName: r, BranchName: main}
          outputArtifacts: [{name: Src}]
{S}    - name: Build
      actions:
        - name: Compile
          actionTypeId: {category: Build, owner: AWS, provider: CodeBuild, version: '1'}
          configuration: {ProjectName: p}
          inputArtifacts: [{name: Src}]
{B}{STAGES}";

fn base(top: &str, s: &str, b: &str, stages: &str) -> String {
    BASE.replace("{TOP}", top).replace("{S}", s).replace("{B}", b).replace("{STAGES}", stages)
}

#[test]
fn the_base_pipeline_is_valid() {
    assert_eq!(findings(&base("", "", "", "")), vec![]);
}

#[test]
fn names_and_uniqueness() {
    let y = base("", "", "", "").replace("name: demo", "name: 'demo pipeline'");
    has(&y, "E2101", 2, 9);
    let y = base("", "", "", "    - name: Source\n      actions:\n        - name: X\n          actionTypeId: {category: Build, owner: AWS, provider: CodeBuild, version: '1'}\n          configuration: {ProjectName: p}\n          inputArtifacts: [{name: Src}]\n");
    has(&y, "E2106", 18, 13);
    let y = base("", "", "        - name: Compile\n          actionTypeId: {category: Test, owner: AWS, provider: CodeBuild, version: '1'}\n          configuration: {ProjectName: p}\n          inputArtifacts: [{name: Src}]\n", "");
    has(&y, "E2110", 18, 17);
    has(&base("", "", "", "").replace("- name: Build", "- name: 'Build/1'"), "E2105", 12, 13);
    has(&base("", "", "", "").replace("- name: Compile", "- name: 'Com pile'"), "E2109", 14, 17);
    done();
}

#[test]
fn stage_counts_and_source_placement() {
    let one = "pipeline:\n  name: x\n  roleArn: r\n  artifactStore: {type: S3, location: b}\n  stages:\n    - name: Source\n      actions:\n        - name: Code\n          actionTypeId: {category: Source, owner: AWS, provider: S3, version: '1'}\n          configuration: {S3Bucket: b, S3ObjectKey: k}\n          outputArtifacts: [{name: Src}]\n";
    has(one, "E2102", 2, 9);
    has(&base("", "", "", "    - name: Empty\n      actions: []\n"), "E2107", 18, 13);
    // A Build action in the first stage; a Source action in a later stage.
    let y = base("", "        - name: Early\n          actionTypeId: {category: Build, owner: AWS, provider: CodeBuild, version: '1'}\n          configuration: {ProjectName: p}\n          inputArtifacts: [{name: Src}]\n", "", "");
    has(&y, "E2112", 13, 36);
    let y = base("", "", "        - name: Late\n          actionTypeId: {category: Source, owner: AWS, provider: S3, version: '1'}\n          configuration: {S3Bucket: b, S3ObjectKey: k}\n          outputArtifacts: [{name: Other}]\n", "");
    has(&y, "E2113", 19, 36);
    let many: String = (0..51).map(|i| format!("    - name: S{i}\n      actions:\n        - {{name: B, actionTypeId: {{category: Build, owner: AWS, provider: CodeBuild, version: '1'}}, configuration: {{ProjectName: p}}, inputArtifacts: [{{name: Src}}]}}\n")).collect();
    let f = findings(&base("", "", "", &many));
    assert!(f.iter().any(|x| x.0 == "E2103"), "{f:?}");
    let wide: String = (0..51).map(|i| format!("        - {{name: B{i}, actionTypeId: {{category: Build, owner: AWS, provider: CodeBuild, version: '1'}}, configuration: {{ProjectName: p}}, inputArtifacts: [{{name: Src}}]}}\n")).collect();
    has(&base("", "", &wide, ""), "E2108", 67, 18);
    done();
}

#[test]
fn run_orders() {
    has(&base("", "", "          runOrder: 0\n", ""), "E2111", 18, 21);
    has(&base("", "", "          runOrder: 1000\n", ""), "E2111", 18, 21);
    has(&base("", "", "          runOrder: 1.5\n", ""), "E2004", 18, 21);
    done();
}

#[test]
fn action_types() {
    let at = |c: &str, o: &str, p: &str, v: &str| base("", "", "", "").replace("{category: Build, owner: AWS, provider: CodeBuild, version: '1'}", &format!("{{category: {c}, owner: {o}, provider: {p}, version: '{v}'}}"));
    has(&at("Biuld", "AWS", "CodeBuild", "1"), "E2201", 15, 36);
    has(&at("Build", "Amazon", "CodeBuild", "1"), "E2202", 15, 50);
    has(&at("Build", "AWS", "Code.Build", "1"), "E2203", 15, 65);
    has(&at("Build", "AWS", "CodeBuild", "1.0"), "E2204", 15, 85);
    has(&at("Build", "AWS", "CodeBiuld", "1"), "E2205", 15, 65);
    has(&at("Build", "AWS", "CodeDeploy", "1"), "E2205", 15, 65);
    let f = findings(&at("Build", "ThirdParty", "Jenkinz", "1"));
    assert!(f.contains(&("W2205", 15, 72)), "{f:?}");
    assert!(findings(&at("Build", "Custom", "AnythingGoes", "1")).is_empty());
    done();
}

#[test]
fn artifact_counts_and_configuration() {
    // CodeBuild takes 1 to 5 inputs; a Manual approval none.
    has(&base("", "", "", "").replace("          inputArtifacts: [{name: Src}]\n", ""), "E2206", 14, 17);
    let approval = "    - name: Gate\n      actions:\n        - name: Ok\n          actionTypeId: {category: Approval, owner: AWS, provider: Manual, version: '1'}\n          outputArtifacts: [{name: Nope}]\n";
    has(&base("", "", "", approval), "E2207", 22, 36);
    // A required key missing; a value over 1000 characters; a key over 50.
    has(&base("", "", "", "").replace("{ProjectName: p}", "{ProjectNam: p}"), "E2213", 14, 17);
    has(&base("", "", "", "").replace("{ProjectName: p}", &format!("{{ProjectName: {}}}", "p".repeat(1001))), "E2211", 16, 40);
    has(&base("", "", "", "").replace("{ProjectName: p}", &format!("{{ProjectName: p, {}: x}}", "K".repeat(51))), "E2210", 16, 43);
    // PrimarySource: needed with two inputs, must name one of them.
    let two = base("", "        - name: Two\n          actionTypeId: {category: Source, owner: AWS, provider: S3, version: '1'}\n          configuration: {S3Bucket: b, S3ObjectKey: k}\n          outputArtifacts: [{name: Src2}]\n", "", "");
    has(&two.replace("inputArtifacts: [{name: Src}]", "inputArtifacts: [{name: Src}, {name: Src2}]"), "E2214", 18, 17);
    has(&two.replace("inputArtifacts: [{name: Src}]", "inputArtifacts: [{name: Src}, {name: Src2}]").replace("{ProjectName: p}", "{ProjectName: p, PrimarySource: Scr}"), "E2215", 20, 58);
    // CloudFormation modes and the keys they add.
    let cfn = |cfg: &str| base("", "", "", &format!("    - name: Stack\n      actions:\n        - name: Cfn\n          actionTypeId: {{category: Deploy, owner: AWS, provider: CloudFormation, version: '1'}}\n          configuration: {cfg}\n"));
    has(&cfn("{ActionMode: CREATE_UPDTE, StackName: s}"), "E2212", 22, 39);
    has(&cfn("{ActionMode: CREATE_UPDATE, StackName: s, RoleArn: r}"), "E2213", 20, 17);
    // timeoutInMinutes: approvals only, 5..=86400.
    has(&base("", "", "          timeoutInMinutes: 60\n", ""), "E2208", 18, 29);
    let gate = "    - name: Gate\n      actions:\n        - name: Ok\n          actionTypeId: {category: Approval, owner: AWS, provider: Manual, version: '1'}\n          timeoutInMinutes: 4\n";
    has(&base("", "", "", gate), "E2209", 22, 29);
    done();
}

#[test]
fn artifacts_are_named_unique_and_produced_before_use() {
    has(&base("", "", "", "").replace("[{name: Src}]\n{S}", "[{name: Src}]\n").replace("inputArtifacts: [{name: Src}]", "inputArtifacts: [{name: Scr}]"), "E2303", 17, 35);
    has(&base("", "", "          outputArtifacts: [{name: Src}]\n", ""), "E2302", 18, 36);
    has(&base("", "", "          outputArtifacts: [{name: 'my.app'}]\n", ""), "E2301", 18, 36);
    // Same stage: the input comes from the same runOrder; from a later stage.
    let same = "        - name: Use\n          actionTypeId: {category: Build, owner: AWS, provider: CodeBuild, version: '1'}\n          configuration: {ProjectName: p}\n          inputArtifacts: [{name: Bin}]\n";
    has(&base("", "", &format!("          outputArtifacts: [{{name: Bin}}]\n{same}"), ""), "E2304", 22, 35);
    let later = base("", "", "", "    - name: Late\n      actions:\n        - name: Make\n          actionTypeId: {category: Build, owner: AWS, provider: CodeBuild, version: '1'}\n          configuration: {ProjectName: p}\n          inputArtifacts: [{name: Src}]\n          outputArtifacts: [{name: Bin}]\n");
    has(&later.replace("inputArtifacts: [{name: Src}]\n    - name: Late", "inputArtifacts: [{name: Src}, {name: Bin}]\n    - name: Late").replace("configuration: {ProjectName: p}\n          inputArtifacts: [{name: Src}, {name: Bin}]", "configuration: {ProjectName: p, PrimarySource: Src}\n          inputArtifacts: [{name: Src}, {name: Bin}]"), "E2304", 17, 48);
    done();
}

#[test]
fn stores_and_regions() {
    has(&base("  artifactStores: {us-east-1: {type: S3, location: b}}\n", "", "", ""), "E2305", 4, 18);
    has(&base("", "", "", "").replace("  artifactStore: {type: S3, location: bucket}\n", ""), "E2306", 2, 9);
    has(&base("", "", "", "").replace("{type: S3, location: bucket}", "{type: GCS, location: bucket}"), "E2307", 4, 25);
    let regional = base("", "", "          region: eu-west-1\n", "").replace("  artifactStore: {type: S3, location: bucket}\n", "  artifactStores: {us-east-1: {type: S3, location: b}}\n");
    has(&regional, "E2308", 18, 19);
    has(&base("", "          region: eu-west-1\n", "          region: us-east-1\n", ""), "E2309", 4, 18);
    done();
}

#[test]
fn namespaces_and_variable_references() {
    has(&base("", "          namespace: 'Source.Vars'\n", "", ""), "E2401", 12, 22);
    has(&base("", "          namespace: NS\n", "          namespace: NS\n", ""), "E2402", 19, 22);
    has(&base("", "          namespace: Src\n", "", ""), "E2403", 12, 22);
    has(&base("", "          namespace: codepipeline\n", "", ""), "E2404", 12, 22);
    let uses = |v: &str| base("", "          namespace: SourceVariables\n", "", "").replace("{ProjectName: p}", &format!("{{ProjectName: p, X: '{v}'}}"));
    assert!(findings(&uses("#{SourceVariables.CommitId} #{codepipeline.PipelineExecutionId}")).is_empty());
    has(&uses("#{SourceVariable.CommitId}"), "E2408", 17, 46);
    has(&uses("#{variables.Env}"), "E2406", 17, 46);
    has(&uses("#{codepipeline.Other}"), "W2405", 17, 46);
    // A namespace of a later action (same stage, same runOrder).
    let y = base("", "", "        - name: Other\n          namespace: Late\n          actionTypeId: {category: Build, owner: AWS, provider: CodeBuild, version: '1'}\n          configuration: {ProjectName: p}\n          inputArtifacts: [{name: Src}]\n", "").replace("{ProjectName: p}\n          inputArtifacts: [{name: Src}]\n        - name: Other", "{ProjectName: p, X: '#{Late.K}'}\n          inputArtifacts: [{name: Src}]\n        - name: Other");
    has(&y, "E2409", 16, 46);
    let v2 = base("  pipelineType: V2\n  variables: [{name: Env, defaultValue: x}]\n", "", "", "").replace("{ProjectName: p}", "{ProjectName: p, X: '#{variables.Evn}'}");
    has(&v2, "E2407", 18, 46);
    done();
}

#[test]
fn v2_only_features_on_v1_and_v2_rules() {
    has(&base("  executionMode: QUEUED\n", "", "", ""), "E2503", 5, 18);
    has(&base("  executionMode: SUPERSEDE\n", "", "", ""), "E2504", 5, 18);
    has(&base("  pipelineType: V3\n", "", "", ""), "E2502", 5, 17);
    has(&base("  variables: [{name: Env}]\n", "", "", ""), "E2503", 5, 22);
    has(&base("", "", "", "").replace("    - name: Build\n", "    - name: Build\n      onFailure: {result: ROLLBACK}\n"), "E2503", 13, 18);
    let v2 = |top: &str, on_failure: &str| base(&format!("  pipelineType: V2\n{top}"), "", "", "").replace("    - name: Build\n", &format!("    - name: Build\n      onFailure: {on_failure}\n"));
    has(&v2("  executionMode: PARALLEL\n", "{result: ROLLBACK}"), "E2505", 15, 27);
    has(&v2("", "{result: ROLBACK}"), "E2508", 14, 27);
    has(&v2("", "{result: RETRY, retryConfiguration: {retryMode: SOME}}"), "E2507", 14, 66);
    has(&base("  pipelineType: V2\n  variables: [{name: 'a b'}, {name: E}, {name: E}]\n", "", "", ""), "E2513", 6, 22);
    has(&base("  pipelineType: V2\n  variables: [{name: 'a b'}, {name: E}, {name: E}]\n", "", "", ""), "E2514", 6, 48);
    let commands = "    - name: Run\n      actions:\n        - name: Cmd\n          actionTypeId: {category: Compute, owner: AWS, provider: Commands, version: '1'}\n          commands: [make]\n          inputArtifacts: [{name: Src}]\n";
    let f = findings(&base("", "", "", commands));
    assert!(f.contains(&("E2503", 21, 36)) && f.contains(&("E2501", 21, 67)), "{f:?}");
    done();
}

#[test]
fn triggers() {
    let t = |trigger: &str| base(&format!("  pipelineType: V2\n  triggers:\n{trigger}"), "", "", "");
    has(&t("    - {providerType: CodeCommit, gitConfiguration: {sourceActionName: Code, push: [{branches: {includes: [main]}}]}}\n"), "E2517", 7, 22);
    has(&t("    - {providerType: CodeStarSourceConnection, gitConfiguration: {sourceActionName: Cod, push: [{branches: {includes: [main]}}]}}\n"), "E2519", 7, 85);
    let f = findings(&t("    - {providerType: CodeStarSourceConnection, gitConfiguration: {sourceActionName: Code, push: [{branches: {includes: ['[']}}]}}\n    - {providerType: CodeStarSourceConnection, gitConfiguration: {sourceActionName: Code, push: [{filePaths: {includes: [a]}}]}}\n"));
    for expected in [("W2520", 7, 85), ("E2528", 7, 121), ("E2521", 8, 85), ("W2525", 8, 98)] {
        assert!(f.contains(&expected), "{expected:?} in {f:?}");
    }
    has(&t("    - {providerType: CodeStarSourceConnection, gitConfiguration: {sourceActionName: Code, pullRequest: [{events: [OPENED], branches: {includes: [main]}}]}}\n"), "E2524", 7, 115);
    has(&t("    - {providerType: CodeStarSourceConnection, gitConfiguration: {sourceActionName: Code}}\n"), "W2523", 7, 7);
    done();
}

#[test]
fn reading_problems_are_located() {
    has(&base("", "", "          runOrdr: 2\n", ""), "E2002", 18, 11);
    has(&base("", "", "", "").replace("          configuration: {ProjectName: p}\n", "          configuration: {ProjectName: [p]}\n"), "E2005", 16, 40);
    has(&base("", "", "", "    - name: NoActions\n"), "E2003", 18, 13);
    has(&base("  name2: x\n", "", "", ""), "E2002", 5, 3);
    has(&base("", "", "", "").replace("name: demo", "name: !Ref Demo"), "E2020", 2, 14);
    done();
}
