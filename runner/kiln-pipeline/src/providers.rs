//! What CodePipeline knows about each action provider, as data: which providers exist per owner
//! and category, how many input and output artifacts each takes, which configuration keys it
//! requires, and its default timeout.
//!
//! Sources: the user guide's "Valid action providers in CodePipeline" (actions-valid-providers,
//! current site) for the providers; "Valid input and output artifacts for each action type"
//! (reference-action-artifacts) for the counts (codepipeline.md §3's table); each
//! `action-reference-*` page for the required keys (§3's configuration table); limits.md for the
//! timeouts. `Custom` providers are action types an account defines itself (any name, 0–5
//! artifacts each way); `ThirdParty` partner actions change over time, so an unknown one is a
//! warning, not an error.

use crate::model::Category;

/// The providers CodePipeline documents for owner `AWS`, per category.
pub const AWS_PROVIDERS: &[(Category, &[&str])] = &[
    (Category::Source, &["S3", "ECR", "CodeCommit", "CodeStarSourceConnection"]),
    (Category::Build, &["CodeBuild", "ECRBuildAndPublish"]),
    (Category::Test, &["CodeBuild", "DeviceFarm"]),
    (
        Category::Deploy,
        &[
            "S3", "CloudFormation", "CloudFormationStackSet", "CloudFormationStackInstances", "CodeDeploy", "CodeDeployToECS", "ECS", "ElasticBeanstalk", "OpsWorks", "ServiceCatalog",
            "AppConfig", "EKS", "EC2", "Lambda",
        ],
    ),
    (Category::Invoke, &["Lambda", "StepFunctions", "InspectorScan"]),
    (Category::Approval, &["Manual"]),
    (Category::Compute, &["Commands"]),
];

/// Partner providers the guide names for owner `ThirdParty`.
pub const THIRD_PARTY_PROVIDERS: &[(Category, &[&str])] = &[(Category::Source, &["GitHub"]), (Category::Deploy, &["AlexaSkillsKit"])];

/// Providers that only V2 pipelines may use (actions-valid-providers: "V2 only").
pub const V2_ONLY_PROVIDERS: &[&str] = &["Commands", "ECRBuildAndPublish"];

/// The known providers for an owner and category (`None` for `Custom`: any name).
pub fn known(owner: &str, category: Category) -> Option<&'static [&'static str]> {
    let table = match owner {
        "AWS" => AWS_PROVIDERS,
        "ThirdParty" => THIRD_PARTY_PROVIDERS,
        _ => return None,
    };
    Some(table.iter().find(|(c, _)| *c == category).map_or(&[][..], |(_, p)| *p))
}

/// (min inputs, max inputs, min outputs, max outputs) for an owner/category/provider.
pub fn artifact_counts(owner: &str, category: Category, provider: &str) -> Option<(usize, usize, usize, usize)> {
    use Category::*;
    Some(match (owner, category, provider) {
        ("AWS", Source, "S3" | "CodeCommit" | "ECR" | "CodeStarSourceConnection") | ("ThirdParty", Source, "GitHub") => (0, 0, 1, 1),
        ("AWS", Build | Test, "CodeBuild") => (1, 5, 0, 5),
        ("AWS", Test, "DeviceFarm") => (1, 1, 0, 0),
        ("AWS", Approval, "Manual") => (0, 0, 0, 0),
        ("AWS", Compute, "Commands") => (1, 10, 0, 1),
        ("AWS", Deploy, "S3" | "CodeDeploy" | "ECS" | "ElasticBeanstalk" | "OpsWorks" | "ServiceCatalog") => (1, 1, 0, 0),
        ("AWS", Deploy, "CloudFormation") => (0, 10, 0, 1),
        ("AWS", Deploy, "CodeDeployToECS") => (1, 5, 0, 0),
        ("ThirdParty", Deploy, "AlexaSkillsKit") => (1, 2, 0, 0),
        ("AWS", Invoke, "Lambda") => (0, 5, 0, 5),
        ("Custom", _, _) => (0, 5, 0, 5),
        _ => return None,
    })
}

/// Configuration keys a provider requires (all of them, always).
pub fn required_keys(owner: &str, category: Category, provider: &str) -> &'static [&'static str] {
    use Category::*;
    match (owner, category, provider) {
        ("AWS", Source, "CodeCommit") => &["RepositoryName", "BranchName"],
        ("AWS", Source, "CodeStarSourceConnection") => &["ConnectionArn", "FullRepositoryId", "BranchName"],
        ("AWS", Source, "S3") => &["S3Bucket", "S3ObjectKey"],
        ("AWS", Source, "ECR") => &["RepositoryName"],
        ("ThirdParty", Source, "GitHub") => &["Owner", "Repo", "Branch", "OAuthToken"],
        ("AWS", Build | Test, "CodeBuild") => &["ProjectName"],
        ("AWS", Deploy, "CodeDeploy") => &["ApplicationName", "DeploymentGroupName"],
        ("AWS", Deploy, "CodeDeployToECS") => &["ApplicationName", "DeploymentGroupName", "TaskDefinitionTemplateArtifact", "AppSpecTemplateArtifact"],
        ("AWS", Deploy, "ECS") => &["ClusterName", "ServiceName"],
        ("AWS", Deploy, "S3") => &["BucketName", "Extract"],
        ("AWS", Deploy, "CloudFormation") => &["ActionMode", "StackName"],
        ("AWS", Invoke, "Lambda") => &["FunctionName"],
        _ => &[],
    }
}

/// CloudFormation's `ActionMode` values and the keys each one adds (action-reference-CloudFormation).
pub const CLOUDFORMATION_MODES: &[(&str, &[&str])] = &[
    ("CHANGE_SET_EXECUTE", &["ChangeSetName"]),
    ("CHANGE_SET_REPLACE", &["ChangeSetName", "RoleArn", "TemplatePath"]),
    ("CREATE_UPDATE", &["RoleArn", "TemplatePath"]),
    ("DELETE_ONLY", &["RoleArn"]),
    ("REPLACE_ON_FAILURE", &["RoleArn", "TemplatePath"]),
];

/// An action's default timeout in minutes (limits.md; codepipeline.md §3 "Action timeouts").
pub fn default_timeout_minutes(category: Category, provider: &str) -> u64 {
    match (category, provider) {
        (Category::Approval, _) => 7 * 24 * 60,
        (Category::Deploy, "CloudFormation") => 3 * 24 * 60,
        (Category::Deploy, "CodeDeploy" | "CodeDeployToECS") => 5 * 24 * 60,
        (Category::Build | Category::Test, "CodeBuild") => 8 * 60,
        (Category::Invoke, "Lambda") => 24 * 60,
        (Category::Deploy, "S3") => 90,
        (Category::Invoke, "StepFunctions") => 7 * 24 * 60,
        _ => 60,
    }
}

/// The output variables a source provider produces (codepipeline.md §4).
pub fn source_variables(provider: &str) -> &'static [&'static str] {
    match provider {
        "CodeCommit" => &["AuthorDate", "BranchName", "CommitId", "CommitMessage", "CommitterDate", "RepositoryName"],
        "CodeStarSourceConnection" => &["AuthorDate", "BranchName", "CommitId", "CommitMessage", "ConnectionArn", "FullRepositoryName"],
        "GitHub" => &["AuthorDate", "BranchName", "CommitId", "CommitMessage", "CommitterDate", "CommitUrl", "RepositoryName"],
        "S3" => &["ETag", "VersionId"],
        "ECR" => &["ImageDigest", "ImageTag", "ImageURI", "RegistryId", "RepositoryName"],
        _ => &[],
    }
}
