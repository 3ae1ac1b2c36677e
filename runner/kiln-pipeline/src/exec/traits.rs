//! The seams where real work enters: the CLI implements these traits with `kiln build`,
//! `kiln deploy`, a local git checkout and a kiln plugin; tests implement them with fakes. The
//! scheduler never links the engines behind them (as `PluginRunner` keeps wasmtime out of the
//! build engine).
//!
//! Contract for every executor: read the inputs it is given (read-only files in the artifact
//! store, digests already checked), write each declared output artifact as one regular file
//! named after it in `output_dir` (CodePipeline moves artifacts as zip files; kiln stores
//! whatever bytes the file holds), and return the output variables. An `Err` fails the action.
//! The future may be dropped at any point (an abandoned stop, a lost lease, a timeout).

use std::collections::BTreeMap;
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;

use crate::model::{Action, Category};

/// An input artifact, handed by name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InputArtifact {
    pub name: String,
    /// The stored object (read-only; do not modify).
    pub path: PathBuf,
    pub digest: String,
}

/// Everything an executor needs to run one attempt of one action.
#[derive(Clone, Debug)]
pub struct ActionContext {
    pub pipeline: String,
    pub execution_id: String,
    pub stage: String,
    /// The action as declared.
    pub action: Action,
    pub attempt: i64,
    /// The configuration with every `#{…}` variable resolved.
    pub configuration: BTreeMap<String, String>,
    pub inputs: Vec<InputArtifact>,
    /// An empty directory for the output artifacts (`output_dir/<artifact name>`).
    pub output_dir: PathBuf,
    /// The names of the output artifacts the action declares.
    pub outputs: Vec<String>,
    /// A source action's revision pinned by the execution (a push that started it, or
    /// `sourceRevisions` given at start); `None`: the tip of the action's `BranchName`.
    pub source_revision: Option<SourceRevision>,
}

/// Whether `c` is a full commit id as git prints it (SHA-1 or SHA-256, lowercase hex).
pub fn is_commit_id(c: &str) -> bool {
    (c.len() == 40 || c.len() == 64) && c.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// A source action's pinned revision (StartPipelineExecution's `SourceRevisionOverride`).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SourceRevision {
    pub action_name: String,
    /// `COMMIT_ID`: kiln's sources are git repositories (IMAGE_DIGEST and the S3 types are refused).
    pub revision_type: String,
    /// The full commit id (40 or 64 lowercase hex digits).
    pub revision_value: String,
    /// kiln: the ref the commit was pushed to (`refs/heads/<branch>` or `refs/tags/<tag>`), when
    /// a push started the run; the run's `BranchName` is then the pushed branch (the user guide:
    /// "the execution will use the commit from the branch that you're pushing to").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
}

impl SourceRevision {
    /// A pinned commit (no ref).
    pub fn commit(action: &str, commit: &str) -> SourceRevision {
        SourceRevision { action_name: action.to_string(), revision_type: "COMMIT_ID".into(), revision_value: commit.to_string(), reference: None }
    }

    /// Why this revision cannot be pinned for `p`, if it cannot.
    pub fn check(&self, p: &crate::model::Pipeline) -> Result<(), String> {
        let name = &self.action_name;
        let action = p.actions().find(|(_, _, a)| a.name.value == *name).map(|(_, _, a)| a);
        match action {
            None => return Err(format!("the pipeline has no action `{name}` to pin a source revision for")),
            Some(a) if a.category() != Some(Category::Source) => return Err(format!("`{name}` is not a source action; only source actions take a source revision")),
            Some(_) => {}
        }
        if self.revision_type != "COMMIT_ID" {
            return Err(format!("source revision of `{name}`: kiln's sources are git repositories, so the revision type is COMMIT_ID, not `{}`", self.revision_type));
        }
        let v = &self.revision_value;
        if !is_commit_id(v) {
            return Err(format!("source revision of `{name}`: `{v}` is not a full commit id (40 or 64 lowercase hex digits; `git rev-parse BRANCH` prints one)"));
        }
        if let Some(r) = &self.reference {
            let rest = r.strip_prefix("refs/heads/").or_else(|| r.strip_prefix("refs/tags/"));
            if rest.is_none_or(|n| n.is_empty() || n.len() > 255 || n.chars().any(|c| c.is_control() || c == ' ')) {
                return Err(format!("source revision of `{name}`: `{r}` is not a branch or tag ref (refs/heads/… or refs/tags/…)"));
            }
        }
        Ok(())
    }
}

/// What a successful action returns.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ActionOutput {
    /// `executionResult.externalExecutionSummary`.
    pub summary: Option<String>,
    /// The action's output variables (CommitId, a build's exported variables, …).
    pub variables: BTreeMap<String, String>,
    /// `externalExecutionId` (a build id, a deployment id).
    pub external_id: Option<String>,
    /// What the action's record keeps beyond CodePipeline's fields, for later records (a build's
    /// `provenanceDigest`, its `buildRecord` path, an approval's …); never secret values. Stored
    /// as JSON in the action's `output_details`, also when the action failed.
    pub details: BTreeMap<String, String>,
}

/// Why an action failed (`FailureDetails`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ActionFailure {
    /// `JobFailed`, `ConfigurationError`, … (`FailureType`).
    pub code: String,
    pub message: String,
    /// `externalExecutionId` of what ran and failed (a failed build's id, a failed deployment's).
    pub external_id: Option<String>,
    /// What the record keeps of the failed work (as [`ActionOutput::details`]: a failed build's
    /// provenance, a failed deployment's attestation), for the run's release record.
    pub details: BTreeMap<String, String>,
}

impl ActionFailure {
    pub fn new(code: impl Into<String>, message: impl Into<String>) -> Self {
        ActionFailure { code: code.into(), message: message.into(), external_id: None, details: BTreeMap::new() }
    }
    pub fn job_failed(message: impl Into<String>) -> Self {
        Self::new("JobFailed", message)
    }
    pub fn configuration(message: impl Into<String>) -> Self {
        Self::new("ConfigurationError", message)
    }
    /// The failure, keeping the failed work's id and details in the action's record.
    pub fn with_record(mut self, external_id: Option<String>, details: BTreeMap<String, String>) -> Self {
        self.external_id = external_id;
        self.details = details;
        self
    }
}

/// The future an executor returns.
pub type ActionFuture<'a> = Pin<Box<dyn Future<Output = Result<ActionOutput, ActionFailure>> + Send + 'a>>;

/// Source actions (CodeCommit, CodeStarSourceConnection, GitHub, S3 → a local repository).
pub trait SourceAction: Send + Sync {
    fn fetch<'a>(&'a self, ctx: &'a ActionContext) -> ActionFuture<'a>;
}

/// CodeBuild actions, Build and Test categories (→ `kiln build`, batches included).
pub trait BuildAction: Send + Sync {
    fn build<'a>(&'a self, ctx: &'a ActionContext) -> ActionFuture<'a>;
}

/// CodeDeploy actions (→ `kiln deploy`).
pub trait DeployAction: Send + Sync {
    fn deploy<'a>(&'a self, ctx: &'a ActionContext) -> ActionFuture<'a>;
}

/// Invoke actions (Lambda → a kiln plugin).
pub trait InvokeAction: Send + Sync {
    fn invoke<'a>(&'a self, ctx: &'a ActionContext) -> ActionFuture<'a>;
}

/// An open manual approval request (what CodePipeline's SNS notification carries).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApprovalRequest {
    pub pipeline: String,
    pub execution_id: String,
    pub stage: String,
    pub action: String,
    pub token: String,
    /// When the request expires (ms since the epoch).
    pub expires_at: i64,
    pub custom_data: Option<String>,
    pub external_entity_link: Option<String>,
}

/// Manual approvals: told when a request opens (to print or notify). The answer comes through
/// the store ([`crate::exec::Engine::approve`]), from any process.
pub trait ApprovalAction: Send + Sync {
    fn requested(&self, request: &ApprovalRequest);
}

/// The executors a scheduler runs actions with. A kind left `None` is not runnable.
#[derive(Clone, Default)]
pub struct Executors {
    pub source: Option<Arc<dyn SourceAction>>,
    pub build: Option<Arc<dyn BuildAction>>,
    pub deploy: Option<Arc<dyn DeployAction>>,
    pub invoke: Option<Arc<dyn InvokeAction>>,
    pub approval: Option<Arc<dyn ApprovalAction>>,
}

/// Which executor runs an action.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Source,
    Build,
    Deploy,
    Invoke,
    Approval,
}

/// The executor kind for an action, or why kiln cannot run it.
pub fn kind_of(a: &Action) -> Result<Kind, String> {
    match (a.category(), a.provider()) {
        (Some(Category::Source), "CodeCommit" | "CodeStarSourceConnection" | "GitHub" | "S3") => Ok(Kind::Source),
        (Some(Category::Build | Category::Test), "CodeBuild") => Ok(Kind::Build),
        (Some(Category::Deploy), "CodeDeploy") => Ok(Kind::Deploy),
        (Some(Category::Invoke), "Lambda") => Ok(Kind::Invoke),
        (Some(Category::Approval), "Manual") => Ok(Kind::Approval),
        (Some(c), p) => Err(format!("kiln does not run {p} {} actions", c.name())),
        (None, _) => Err(format!("`{}` is not an action category", a.action_type_id.category.value)),
    }
}

impl Executors {
    /// Run `ctx` with the executor for its kind (not for approvals, which wait on the store).
    pub(crate) fn run<'a>(&'a self, kind: Kind, ctx: &'a ActionContext) -> ActionFuture<'a> {
        let missing = move |what: &str| -> ActionFuture<'a> {
            let msg = format!("no {what} executor was given to the scheduler");
            Box::pin(async move { Err(ActionFailure::configuration(msg)) })
        };
        match kind {
            Kind::Source => self.source.as_ref().map_or_else(|| missing("source"), |e| e.fetch(ctx)),
            Kind::Build => self.build.as_ref().map_or_else(|| missing("build"), |e| e.build(ctx)),
            Kind::Deploy => self.deploy.as_ref().map_or_else(|| missing("deploy"), |e| e.deploy(ctx)),
            Kind::Invoke => self.invoke.as_ref().map_or_else(|| missing("invoke"), |e| e.invoke(ctx)),
            Kind::Approval => missing("approval"),
        }
    }

    /// Whether there is an executor for an action (approvals need none).
    pub fn supports(&self, a: &Action) -> Result<(), String> {
        let have = match kind_of(a)? {
            Kind::Source => self.source.is_some(),
            Kind::Build => self.build.is_some(),
            Kind::Deploy => self.deploy.is_some(),
            Kind::Invoke => self.invoke.is_some(),
            Kind::Approval => true,
        };
        if have { Ok(()) } else { Err(format!("no executor for {} actions was given", a.provider())) }
    }
}
