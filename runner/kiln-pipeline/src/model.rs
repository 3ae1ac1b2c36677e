//! The typed pipeline: CodePipeline's `PipelineDeclaration` (API model `service-2.json`,
//! codepipeline.md §1–§2), whichever file it came from.
//!
//! Field names are the API's (camelCase in JSON). Every value keeps where it was written
//! ([`Located`]); a value that came from a CloudFormation intrinsic kiln could not resolve offline
//! holds a `${NAME}` placeholder and names, in [`Located::needs`], the `--param NAME=…` that would
//! resolve it.

use serde::Serialize;

pub use kiln_spec::Span;

/// A value, where it was written, and the parameters it still needs (empty once resolved).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Located<T> {
    pub value: T,
    #[serde(serialize_with = "line_col")]
    pub span: Span,
    /// The `--param` names this value is waiting for: its text holds `${NAME}` for each.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub needs: Vec<String>,
}

fn line_col<S: serde::Serializer>(span: &Span, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format!("{}:{}", span.line, span.col))
}

impl<T> Located<T> {
    pub fn new(value: T, span: Span) -> Self {
        Located { value, span, needs: Vec::new() }
    }
    /// True when the value came from an intrinsic that is not resolved yet.
    pub fn is_unresolved(&self) -> bool {
        !self.needs.is_empty()
    }
}

/// A located string.
pub type Text = Located<String>;

impl Text {
    pub fn as_str(&self) -> &str {
        &self.value
    }
}

/// `PipelineDeclaration`.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Pipeline {
    pub name: Text,
    pub role_arn: Option<Text>,
    pub artifact_store: Option<ArtifactStore>,
    /// `artifactStores`: Region → store (CloudFormation writes a list of `{Region, ArtifactStore}`).
    pub artifact_stores: Vec<(Text, ArtifactStore)>,
    pub version: Option<Located<i64>>,
    pub pipeline_type: Option<Text>,
    pub execution_mode: Option<Text>,
    pub variables: Vec<VariableDeclaration>,
    pub triggers: Vec<Trigger>,
    pub stages: Vec<Stage>,
    /// Where the pipeline's mapping starts (for errors about the whole pipeline).
    #[serde(skip)]
    pub span: Span,
}

/// `PipelineType`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum PipelineType {
    V1,
    V2,
}

/// `ExecutionMode` (codepipeline.md §5).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ExecutionMode {
    Superseded,
    Queued,
    Parallel,
}

impl ExecutionMode {
    pub fn parse(s: &str) -> Option<ExecutionMode> {
        Some(match s {
            "SUPERSEDED" => ExecutionMode::Superseded,
            "QUEUED" => ExecutionMode::Queued,
            "PARALLEL" => ExecutionMode::Parallel,
            _ => return None,
        })
    }
    pub fn api_name(self) -> &'static str {
        match self {
            ExecutionMode::Superseded => "SUPERSEDED",
            ExecutionMode::Queued => "QUEUED",
            ExecutionMode::Parallel => "PARALLEL",
        }
    }
}

impl Pipeline {
    /// `pipelineType`, V1 when absent (kiln proposal: the API's default on create is unconfirmed,
    /// codepipeline.md §1; Terraform's provider and the console's "V1" history both read it so),
    /// or when it is not a known value (validation reports that).
    pub fn kind(&self) -> PipelineType {
        match self.pipeline_type.as_ref().map(|t| t.as_str()) {
            Some("V2") => PipelineType::V2,
            _ => PipelineType::V1,
        }
    }

    /// `executionMode`, SUPERSEDED when absent or unknown.
    pub fn mode(&self) -> ExecutionMode {
        self.execution_mode.as_ref().and_then(|m| ExecutionMode::parse(m.as_str())).unwrap_or(ExecutionMode::Superseded)
    }

    /// Every action with its stage index, in declaration order.
    pub fn actions(&self) -> impl Iterator<Item = (usize, &Stage, &Action)> {
        self.stages.iter().enumerate().flat_map(|(i, s)| s.actions.iter().map(move |a| (i, s, a)))
    }
}

/// `ArtifactStore`.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ArtifactStore {
    #[serde(rename = "type")]
    pub kind: Option<Text>,
    pub location: Option<Text>,
    pub encryption_key: Option<EncryptionKey>,
    #[serde(skip)]
    pub span: Span,
}

/// `EncryptionKey`.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct EncryptionKey {
    pub id: Option<Text>,
    #[serde(rename = "type")]
    pub kind: Option<Text>,
}

/// `PipelineVariableDeclaration` (V2).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VariableDeclaration {
    pub name: Text,
    pub default_value: Option<Text>,
    pub description: Option<Text>,
}

/// `PipelineTriggerDeclaration` (V2).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Trigger {
    pub provider_type: Option<Text>,
    pub source_action_name: Option<Text>,
    pub push: Vec<GitFilter>,
    pub pull_request: Vec<GitFilter>,
    /// `gitConfiguration` was present.
    pub has_git_configuration: bool,
    #[serde(skip)]
    pub span: Span,
}

/// A `GitPushFilter` or `GitPullRequestFilter`.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GitFilter {
    pub tags: Option<FilterCriteria>,
    pub branches: Option<FilterCriteria>,
    pub file_paths: Option<FilterCriteria>,
    /// Pull-request filters only: `OPEN`, `UPDATED`, `CLOSED`.
    pub events: Vec<Text>,
    #[serde(skip)]
    pub span: Span,
}

/// `GitTagFilterCriteria`, `GitBranchFilterCriteria`, `GitFilePathFilterCriteria`.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct FilterCriteria {
    pub includes: Vec<Text>,
    pub excludes: Vec<Text>,
    #[serde(skip)]
    pub span: Span,
}

/// `StageDeclaration`.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Stage {
    pub name: Text,
    pub actions: Vec<Action>,
    pub blockers: Vec<Text>,
    pub on_failure: Option<FailureConditions>,
    pub on_success: Option<Conditions>,
    pub before_entry: Option<Conditions>,
    #[serde(skip)]
    pub span: Span,
}

/// `FailureConditions`: `result` (ROLLBACK, RETRY, …), `retryConfiguration.retryMode`, conditions.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FailureConditions {
    pub result: Option<Text>,
    pub retry_mode: Option<Text>,
    pub conditions: Vec<Condition>,
    #[serde(skip)]
    pub span: Span,
}

/// `SuccessConditions` / `BeforeEntryConditions`.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Conditions {
    pub conditions: Vec<Condition>,
    #[serde(skip)]
    pub span: Span,
}

/// `Condition`: a result and the rules that decide it.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Condition {
    pub result: Option<Text>,
    pub rules: Vec<Rule>,
    #[serde(skip)]
    pub span: Span,
}

/// `RuleDeclaration` (kept as read; kiln does not run rules yet).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Rule {
    pub name: Text,
    pub provider: Option<Text>,
    pub configuration: Vec<(Text, Text)>,
}

/// `ActionDeclaration`.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Action {
    pub name: Text,
    pub action_type_id: ActionTypeId,
    /// `runOrder` as written; [`Action::run_order`] gives the effective value (default 1).
    pub run_order: Option<Located<i64>>,
    /// `configuration`, in the file's order (values are strings in the API).
    pub configuration: Vec<(Text, Text)>,
    pub commands: Vec<Text>,
    pub input_artifacts: Vec<Text>,
    pub output_artifacts: Vec<OutputArtifact>,
    pub output_variables: Vec<Text>,
    pub namespace: Option<Text>,
    pub region: Option<Text>,
    pub role_arn: Option<Text>,
    pub timeout_in_minutes: Option<Located<i64>>,
    pub environment_variables: Vec<(Text, Text)>,
    #[serde(skip)]
    pub span: Span,
}

impl Action {
    /// The effective `runOrder`: as written, else 1 (codepipeline.md §3 rule 3).
    pub fn run_order(&self) -> i64 {
        self.run_order.as_ref().map_or(1, |r| r.value)
    }

    /// A configuration value by key (keys are case-sensitive).
    pub fn config(&self, key: &str) -> Option<&Text> {
        self.configuration.iter().find(|(k, _)| k.value == key).map(|(_, v)| v)
    }

    pub fn category(&self) -> Option<Category> {
        Category::parse(&self.action_type_id.category.value)
    }

    pub fn provider(&self) -> &str {
        &self.action_type_id.provider.value
    }
}

/// `OutputArtifact`: a name (and `files` for the Commands action).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct OutputArtifact {
    pub name: Text,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<Text>,
}

/// `ActionTypeId`.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct ActionTypeId {
    pub category: Text,
    pub owner: Text,
    pub provider: Text,
    pub version: Text,
    #[serde(skip)]
    pub span: Span,
}

/// `ActionCategory`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub enum Category {
    Source,
    Build,
    Deploy,
    Test,
    Invoke,
    Approval,
    Compute,
}

impl Category {
    pub const ALL: [&'static str; 7] = ["Source", "Build", "Deploy", "Test", "Invoke", "Approval", "Compute"];

    pub fn parse(s: &str) -> Option<Category> {
        Some(match s {
            "Source" => Category::Source,
            "Build" => Category::Build,
            "Deploy" => Category::Deploy,
            "Test" => Category::Test,
            "Invoke" => Category::Invoke,
            "Approval" => Category::Approval,
            "Compute" => Category::Compute,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        Category::ALL[self as usize]
    }
}

/// `ActionOwner`.
pub const OWNERS: [&str; 3] = ["AWS", "ThirdParty", "Custom"];
