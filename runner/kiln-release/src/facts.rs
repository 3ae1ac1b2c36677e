//! [`ReleaseFacts`]: what the pipeline side knows about one finished run, in plain serde types
//! that do not depend on the scheduler's (either side can change without the other). The same
//! shape, serialized with camelCase names, is the release statement's predicate.
//!
//! Times are RFC 3339 strings (`2026-12-06T09:15:00Z`, fractions and offsets allowed); digests
//! are lowercase hex SHA-256 without a prefix; document paths ([`DocumentRef::path`]) are
//! relative to the records directory (`.kiln/`), e.g. `builds/<uuid>/provenance.intoto.jsonl`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Everything a release record says about one pipeline run, in order: the pipeline, the run,
/// its sources, builds, scanner verdicts, approvals and deployments, and the released artifacts
/// (the statement's subjects). Lists are in the order things happened.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ReleaseFacts {
    /// The pipeline definition the run executed.
    pub pipeline: PipelineFact,
    /// The run (a pipeline execution).
    pub run: RunFact,
    /// Each Source action's commit (most pipelines have one).
    pub sources: Vec<SourceFact>,
    /// Each Build/Test action's build and its signed provenance.
    #[serde(default)]
    pub builds: Vec<BuildFact>,
    /// Each scanner's verdict.
    #[serde(default)]
    pub scans: Vec<ScanFact>,
    /// Each manual approval's answer.
    #[serde(default)]
    pub approvals: Vec<ApprovalFact>,
    /// Each deployment and its signed attestation.
    #[serde(default)]
    pub deployments: Vec<DeploymentFact>,
    /// The released artifacts: the statement's subjects.
    pub artifacts: Vec<ArtifactFact>,
}

/// The pipeline: its name and the SHA-256 of the definition the run stored (the get-pipeline
/// JSON of the execution, as `kiln-pipeline`'s `api.rs` writes it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PipelineFact {
    /// `pipeline.name`.
    pub name: String,
    /// `pipeline.version`, when the definition has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<i64>,
    /// Lowercase hex SHA-256 of the stored definition.
    pub definition_sha256: String,
}

/// The run: its id and CodePipeline status name (`Succeeded`, `Failed`, `Stopped`, …).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RunFact {
    /// The pipeline execution id.
    pub id: String,
    /// CodePipeline's execution status name.
    pub status: String,
    /// When the run started (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_time: Option<String>,
    /// When it ended (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_time: Option<String>,
    /// What started it, e.g. `kiln pipeline run`, or the trigger that fired.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trigger: Option<String>,
}

/// A person as git records one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Person {
    /// The name.
    pub name: String,
    /// The e-mail address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
}

impl Person {
    /// Whether `who` names this person: the same e-mail address (case-insensitive) or the same
    /// name.
    pub fn is(&self, who: &str) -> bool {
        let who = who.trim();
        self.name == who || self.email.as_deref().is_some_and(|e| e.eq_ignore_ascii_case(who))
    }
}

impl std::fmt::Display for Person {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.email {
            Some(e) => write!(f, "{} <{e}>", self.name),
            None => f.write_str(&self.name),
        }
    }
}

/// One Source action's output: CodePipeline's source variables.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SourceFact {
    /// The Source action's name.
    pub action: String,
    /// The repository (`RepositoryName`, or the local repository's remote URL).
    pub repository: String,
    /// `BranchName`.
    pub branch: String,
    /// `CommitId` (full hex).
    pub commit_id: String,
    /// The tag whose push started the run (`kiln pipeline watch`, a `tags` trigger filter),
    /// when a tag push did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
    /// The commit's author, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<Person>,
    /// The commit's committer, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub committer: Option<Person>,
}

/// A signed document the release names: where it is under the records directory and the
/// SHA-256 of its bytes as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DocumentRef {
    /// Relative path under the records directory (no `..`, not absolute).
    pub path: String,
    /// Lowercase hex SHA-256 of the file.
    pub sha256: String,
}

/// One Build or Test action: a kiln build and its SLSA provenance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BuildFact {
    /// The action's name.
    pub action: String,
    /// The stage's name.
    pub stage: String,
    /// The build's id (`build.json`'s `id`).
    pub build_id: String,
    /// The build's status (`SUCCEEDED`, `FAILED`, …) as its provenance records it.
    pub status: String,
    /// The provenance's `runDetails.builder.id`.
    pub builder: String,
    /// The build's signed provenance (`provenance.intoto.jsonl`).
    pub provenance: DocumentRef,
}

/// One scanner's verdict: a `file-scanner` plugin that ran, in a build or as an Invoke action.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ScanFact {
    /// The action that ran it.
    pub action: String,
    /// The plugin's name.
    pub plugin: String,
    /// Lowercase hex SHA-256 of the plugin component.
    pub plugin_sha256: String,
    /// Findings per severity (`critical`, `high`, `medium`, `low`, `info`).
    #[serde(default)]
    pub findings: BTreeMap<String, u64>,
    /// `passed` or `failed`, as the action decided it.
    pub verdict: String,
    /// The build (action name) whose provenance records this plugin run, when it ran in a build:
    /// the verifier then checks the plugin's digest and findings against that provenance.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub build: Option<String>,
}

/// One manual approval's answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ApprovalFact {
    /// The Approval action's name.
    pub action: String,
    /// The stage's name.
    pub stage: String,
    /// Who answered.
    pub by: String,
    /// When (RFC 3339).
    pub time: String,
    /// `Approved` or `Rejected` (CodePipeline's `ApprovalStatus`).
    pub outcome: String,
    /// The comment given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
}

/// One Deploy action: a kiln deployment and its attestation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DeploymentFact {
    /// The action's name.
    pub action: String,
    /// The stage's name.
    pub stage: String,
    /// `ApplicationName`.
    pub application: String,
    /// `DeploymentGroupName`: what policies name (`staging`, `production`).
    pub group: String,
    /// The deployment id (`d-…`).
    pub deployment_id: String,
    /// CodeDeploy's status (`Succeeded`, `Failed`, `Stopped`).
    pub status: String,
    /// When it started (RFC 3339).
    pub start_time: String,
    /// When it ended (RFC 3339).
    pub end_time: String,
    /// The signed deployment attestation (`https://kiln.dev/deployment/v1`).
    pub attestation: DocumentRef,
}

/// A released artifact: a subject of the release statement and of the build that made it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ArtifactFact {
    /// Its name (the subject's name).
    pub name: String,
    /// Lowercase hex SHA-256.
    pub sha256: String,
    /// The build (action name) whose provenance has it as a subject.
    pub build: String,
}
