//! The scheduler: start, drive, approve, retry, stop.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use serde::Serialize;
use sha2::{Digest, Sha256};

use super::owner::{key, new_owner, ProcessTable};
use super::plan::{self, Step};
use super::run::{self, Job};
use super::status::{ApprovalStatus, ExecutionStatus, ExecutionType, RetryMode, StageStatus};
use super::traits::{kind_of, ActionContext, ApprovalRequest, Executors, Kind, SourceRevision};
use crate::model::{Action, ExecutionMode, Pipeline};
use crate::providers::default_timeout_minutes;
use crate::store::{now_ms, ApprovalAnswer, Enter, NewExecution, RefMove, Snapshot, Store, StoreError};
use crate::vars::{Scope, EXECUTION_NAMESPACE, PIPELINE_NAMESPACE};

/// How a scheduler behaves.
#[derive(Clone, Debug)]
pub struct EngineOptions {
    /// How long a running attempt's lease lasts without renewal (renewed every third of it).
    pub lease: Duration,
    /// How often a waiting drive loop looks at the store again.
    pub poll: Duration,
    /// The approval timeout when an approval action sets no `timeoutInMinutes` (7 days).
    pub approval_timeout: Duration,
    /// Overrides every other action's default timeout (limits.md's per-provider values).
    pub action_timeout: Option<Duration>,
    /// `drive` returns when nothing can happen without an answer or a free stage (the CLI
    /// prints how to approve) instead of waiting.
    pub return_when_waiting: bool,
}

impl Default for EngineOptions {
    fn default() -> Self {
        EngineOptions { lease: Duration::from_secs(30), poll: Duration::from_millis(250), approval_timeout: Duration::from_secs(7 * 24 * 3600), action_timeout: None, return_when_waiting: false }
    }
}

/// How an execution starts.
#[derive(Clone, Debug, Default)]
pub struct StartOptions {
    /// Pipeline-level variable values (V2), over the declared defaults.
    pub variables: BTreeMap<String, String>,
    /// `triggerType` (StartPipelineExecution, Webhook, …).
    pub trigger: String,
    /// `triggerDetail` (≤ 1024 characters kept).
    pub trigger_detail: Option<String>,
    /// Source revisions pinned for this execution (`sourceRevisions`, ≤ 50, one per action).
    pub source_revisions: Vec<SourceRevision>,
    /// The ref move that starts this execution: recorded with it in one transaction, only if the
    /// ref is still where the watcher last saw it ([`EngineError::RefMoved`] otherwise).
    pub ref_move: Option<RefMove>,
}

/// Where a drive left an execution.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DriveOutcome {
    pub status: ExecutionStatus,
    pub status_summary: Option<String>,
    /// Open approval requests (stage, action).
    pub pending_approvals: Vec<(String, String)>,
    /// Inbound: the stage it waits for.
    pub waiting_stage: Option<String>,
    /// A ROLLBACK execution this drive started (drive it next).
    pub rollback: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("kiln cannot run these actions, so the run does not start: {}", .0.join("; "))]
    NotRunnable(Vec<String>),
    #[error("{0}")]
    Refused(String),
    #[error("the stored definition of execution {0} cannot be read: {1}")]
    Definition(String, String),
    #[error("another kiln already recorded this move of {0}; nothing was started")]
    RefMoved(String),
}

/// A scheduler over a store.
pub struct Engine {
    store: Store,
    executors: Executors,
    options: EngineOptions,
    owner: String,
}

fn digest(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

/// A stable id for the rollback of `stage` after `execution` failed (a second scheduler
/// deciding the same rollback finds it already there).
fn rollback_id(execution: &str, stage: &str) -> String {
    let d = Sha256::digest(format!("rollback\0{execution}\0{stage}").as_bytes());
    let mut b = [0u8; 16];
    b.copy_from_slice(&d[..16]);
    uuid::Uuid::from_bytes(b).to_string()
}

fn definition(snap: &Snapshot) -> Result<Pipeline, EngineError> {
    let e = &snap.execution;
    let read = crate::read::parse(&e.definition, "definition.json", &Default::default()).map_err(|err| EngineError::Definition(e.id.clone(), err.to_string()))?;
    Ok(read.definition.pipeline)
}

/// The variables an action sees: the execution's id, the pipeline variables, and the output
/// variables of every completed action that declares a namespace (`extra`: a rollback's target).
fn scope(p: &Pipeline, snap: &Snapshot, extra: Option<&Snapshot>) -> Scope {
    let mut s = Scope::default();
    s.insert(EXECUTION_NAMESPACE, "PipelineExecutionId", &snap.execution.id);
    for (k, v) in &snap.execution.variables {
        s.insert(PIPELINE_NAMESPACE, k, v);
    }
    for (_, stage, a) in p.actions() {
        let Some(ns) = &a.namespace else { continue };
        let done = |sn: &Snapshot| sn.action(&stage.name.value, &a.name.value).filter(|r| r.status == super::status::ActionStatus::Succeeded).map(|r| r.output_variables.clone());
        if let Some(vars) = done(snap).or_else(|| extra.and_then(done)) {
            for (k, v) in vars {
                s.insert(&ns.value, &k, &v);
            }
        }
    }
    s
}

impl Engine {
    pub fn new(store: Store, executors: Executors, options: EngineOptions) -> Engine {
        Engine { store, executors, options, owner: new_owner() }
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// This scheduler's lease owner id.
    pub fn owner(&self) -> &str {
        &self.owner
    }

    /// Record a new execution of `p` (not run yet: [`Engine::drive`] runs it). Refused when an
    /// action has no executor (reported before the run starts, never skipped) or a pipeline
    /// variable has no value.
    pub async fn start(&self, p: &Pipeline, start: StartOptions) -> Result<String, EngineError> {
        let problems: Vec<String> = p.actions().filter_map(|(_, s, a)| self.executors.supports(a).err().map(|why| format!("{}/{}: {why}", s.name.value, a.name.value))).collect();
        if !problems.is_empty() {
            return Err(EngineError::NotRunnable(problems));
        }
        let mut variables = BTreeMap::new();
        for v in &p.variables {
            let value = start.variables.get(&v.name.value).cloned().or_else(|| v.default_value.as_ref().map(|d| d.value.clone()));
            match value {
                Some(val) if (1..=1000).contains(&val.len()) => {
                    variables.insert(v.name.value.clone(), val);
                }
                Some(_) => return Err(EngineError::Refused(format!("the value of the pipeline variable `{}` must be 1 to 1000 characters", v.name.value))),
                // kiln proposal (the service's behaviour is unconfirmed): refuse, naming it.
                None => return Err(EngineError::Refused(format!("the pipeline variable `{}` has no default; give it a value", v.name.value))),
            }
        }
        if let Some(k) = start.variables.keys().find(|k| !p.variables.iter().any(|v| v.name.value == **k)) {
            return Err(EngineError::Refused(format!("the pipeline declares no variable `{k}`")));
        }
        if start.source_revisions.len() > 50 {
            return Err(EngineError::Refused(format!("{} source revisions given; CodePipeline takes at most 50", start.source_revisions.len())));
        }
        for (i, r) in start.source_revisions.iter().enumerate() {
            r.check(p).map_err(EngineError::Refused)?;
            if start.source_revisions[..i].iter().any(|o| o.action_name == r.action_name) {
                return Err(EngineError::Refused(format!("two source revisions are given for `{}`", r.action_name)));
            }
        }
        let definition = serde_json::to_string_pretty(&crate::api::to_get_pipeline_json(p)).unwrap_or_default();
        let id = uuid::Uuid::new_v4().to_string();
        let new = NewExecution {
            id: id.clone(),
            pipeline: p.name.value.clone(),
            definition_digest: digest(&definition),
            definition,
            mode: p.mode(),
            execution_type: ExecutionType::Standard,
            rollback_target: None,
            rollback_stage: None,
            variables,
            trigger_type: if start.trigger.is_empty() { "StartPipelineExecution".into() } else { start.trigger },
            trigger_detail: start.trigger_detail.map(|d| d.chars().take(1024).collect()),
            source_revisions: start.source_revisions,
        };
        match &start.ref_move {
            Some(m) if !self.store.record_move(m, Some(&new)).await? => return Err(EngineError::RefMoved(m.reference.clone())),
            Some(_) => {}
            None => {
                self.store.create_execution(&new).await?;
            }
        }
        Ok(id)
    }

    /// Run the execution until it ends (or, with `return_when_waiting`, until only an answer or a
    /// free stage can move it). Safe to call from several processes at once, and again after a
    /// crash.
    pub async fn drive(&self, id: &str) -> Result<DriveOutcome, EngineError> {
        let first = self.store.snapshot(id).await?;
        let pipeline = definition(&first)?;
        let target = match (&first.execution.execution_type, &first.execution.rollback_target) {
            (ExecutionType::Rollback, Some(t)) => Some(self.store.snapshot(t).await?),
            _ => None,
        };
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<()>();
        let mut running: HashMap<String, tokio::task::JoinHandle<()>> = HashMap::new();
        let mut table = ProcessTable::new(&self.owner);
        let mut rollback = None;
        loop {
            running.retain(|_, h| !h.is_finished());
            table.set_running(running.keys().cloned());
            let snap = self.store.snapshot(id).await?;
            let e = &snap.execution;
            if e.status.is_final() || (e.status == ExecutionStatus::Stopping && e.stop_abandon) {
                // Abandoned or ended: whatever still runs here is dropped (its writes are fenced).
                running.values().for_each(|h| h.abort());
                running.clear();
                table.set_running([]);
            }
            if e.status.is_final() {
                return Ok(outcome(&snap, rollback));
            }
            let steps = plan::next(&pipeline, &snap, now_ms(), &table);
            let mut progressed = false;
            for step in steps {
                progressed |= self.apply(step, &pipeline, &snap, target.as_ref(), &mut running, &tx, &mut rollback).await?;
            }
            if !progressed {
                let waiting = snap.approvals.iter().any(|a| a.status == ApprovalStatus::Pending) || e.waiting_stage.is_some();
                if self.options.return_when_waiting && running.is_empty() && waiting {
                    return Ok(outcome(&snap, rollback));
                }
                tokio::select! {
                    _ = rx.recv() => {}
                    _ = tokio::time::sleep(self.options.poll) => {}
                }
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    async fn apply(
        &self,
        step: Step,
        p: &Pipeline,
        snap: &Snapshot,
        target: Option<&Snapshot>,
        running: &mut HashMap<String, tokio::task::JoinHandle<()>>,
        tx: &tokio::sync::mpsc::UnboundedSender<()>,
        rollback: &mut Option<String>,
    ) -> Result<bool, EngineError> {
        let id = snap.execution.id.as_str();
        match step {
            Step::Wait => Ok(false),
            Step::Enter { stage } => Ok(!matches!(self.store.try_enter_stage(id, &stage).await?, Enter::Waiting)),
            Step::EndStage { stage, attempt, status: StageStatus::Succeeded } => Ok(self.store.end_stage(id, &stage, attempt, StageStatus::Succeeded).await?),
            Step::EndStage { stage, attempt, status } => {
                let decl = p.stages.iter().find(|s| s.name.value == stage);
                let on_failure = decl.and_then(|s| s.on_failure.as_ref());
                let result = on_failure.and_then(|f| f.result.as_ref()).map(|r| r.value.as_str());
                let auto_retries = snap.stage(&stage).map_or(0, |s| s.auto_retries);
                if result == Some("RETRY") && auto_retries == 0 {
                    let mode = on_failure.and_then(|f| f.retry_mode.as_ref()).and_then(|m| RetryMode::parse(&m.value)).unwrap_or(RetryMode::FailedActions);
                    return Ok(self.store.retry_stage(id, &stage, mode, true).await?.is_ok());
                }
                if !self.store.end_stage(id, &stage, attempt, status).await? {
                    return Ok(true);
                }
                self.finish(p, snap, ExecutionStatus::Failed, StageStatus::Failed, &format!("the stage {stage} failed"), rollback).await
            }
            Step::Finish { status, stage_status, summary } => self.finish(p, snap, status, stage_status, &summary, rollback).await,
            Step::ExpireApproval { stage, action } => {
                let answer = ApprovalAnswer { approved: false, summary: "the approval request expired without an answer".into(), by: "kiln".into() };
                Ok(self.store.answer_approval(id, &stage, &action, None, &answer, true).await?.is_ok())
            }
            Step::Start { stage, action, attempt, stage_attempt, replace } => {
                let Some((si, decl)) = p.stages.iter().enumerate().find(|(_, s)| s.name.value == stage) else { return Ok(false) };
                let Some((ai, a)) = decl.actions.iter().enumerate().find(|(_, a)| a.name.value == action) else { return Ok(false) };
                let scope = scope(p, snap, target);
                let resolved: Result<BTreeMap<String, String>, Vec<String>> = {
                    let mut out = BTreeMap::new();
                    let mut missing = Vec::new();
                    for (k, v) in &a.configuration {
                        match scope.resolve(&v.value) {
                            Ok(r) => {
                                out.insert(k.value.clone(), r);
                            }
                            Err(m) => missing.extend(m),
                        }
                    }
                    if missing.is_empty() { Ok(out) } else { Err(missing) }
                };
                let kind = kind_of(a);
                if kind == Ok(Kind::Approval) {
                    return self.open_approval(p, snap, a, &stage, attempt, stage_attempt, replace, resolved.unwrap_or_default()).await;
                }
                let lease_until = now_ms() + self.options.lease.as_millis() as i64;
                if !self.store.start_action(id, &stage, &action, attempt, stage_attempt, Some(&self.owner), Some(lease_until), replace).await? {
                    return Ok(false);
                }
                let failure = match (&kind, &resolved) {
                    (Err(why), _) => Some(("ConfigurationError", why.clone())),
                    (_, Err(missing)) => Some((
                        "ConfigurationError",
                        format!("An action in this pipeline failed because one or more variables could not be resolved: Action name={action} ({})", missing.join(", ")),
                    )),
                    _ => None,
                };
                if let Some((code, message)) = failure {
                    self.store.complete_action(id, &stage, &action, attempt, Some(&self.owner), super::status::ActionStatus::Failed, Some(&message), Some(code), "{}", "{}", None, "{}", &[]).await?;
                    return Ok(true);
                }
                let (Ok(kind), Ok(configuration)) = (kind, resolved) else { return Ok(true) };
                let inputs: Vec<(String, String)> = a.input_artifacts.iter().filter_map(|i| snap.artifact(&i.value).map(|r| (i.value.clone(), r.digest.clone()))).collect();
                if inputs.len() != a.input_artifacts.len() {
                    let missing: Vec<&str> = a.input_artifacts.iter().map(|i| i.value.as_str()).filter(|n| snap.artifact(n).is_none()).collect();
                    let message = format!("the input artifact(s) {} were not produced", missing.join(", "));
                    self.store.complete_action(id, &stage, &action, attempt, Some(&self.owner), super::status::ActionStatus::Failed, Some(&message), Some("JobFailed"), "{}", "{}", None, "{}", &[]).await?;
                    return Ok(true);
                }
                let timeout = self.options.action_timeout.unwrap_or_else(|| Duration::from_secs(60 * default_timeout_minutes(a.category().unwrap_or(crate::model::Category::Build), a.provider())));
                let resolved_json = serde_json::to_string(&configuration).unwrap_or_else(|_| "{}".into());
                let ctx = ActionContext {
                    pipeline: p.name.value.clone(),
                    execution_id: id.to_string(),
                    stage: stage.clone(),
                    action: a.clone(),
                    attempt,
                    configuration,
                    inputs: Vec::new(),
                    output_dir: self.store.dir().join("work").join(id).join(format!("{si}-{ai}-{attempt}")),
                    outputs: a.output_artifacts.iter().map(|o| o.name.value.clone()).collect(),
                    source_revision: snap.execution.source_revisions.iter().find(|r| r.action_name == action).cloned(),
                };
                let job = Job { store: self.store.clone(), executors: self.executors.clone(), owner: self.owner.clone(), lease: self.options.lease, kind, timeout, ctx, inputs, resolved_json };
                let done = tx.clone();
                let handle = tokio::spawn(async move {
                    let _ = run::run(job).await;
                    let _ = done.send(());
                });
                running.insert(key(&stage, &action, attempt), handle);
                Ok(true)
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    async fn open_approval(&self, p: &Pipeline, snap: &Snapshot, a: &Action, stage: &str, attempt: i64, stage_attempt: i64, replace: Option<(i64, Option<String>)>, config: BTreeMap<String, String>) -> Result<bool, EngineError> {
        let id = &snap.execution.id;
        if !self.store.start_action(id, stage, &a.name.value, attempt, stage_attempt, None, None, replace).await? {
            return Ok(false);
        }
        let timeout = a.timeout_in_minutes.as_ref().map_or(self.options.approval_timeout, |t| Duration::from_secs(60 * t.value.max(0) as u64));
        let token = uuid::Uuid::new_v4().to_string();
        let expires_at = now_ms() + timeout.as_millis() as i64;
        let (custom, link) = (config.get("CustomData").cloned(), config.get("ExternalEntityLink").cloned());
        self.store.open_approval(id, stage, &a.name.value, attempt, &token, custom.as_deref(), link.as_deref(), expires_at).await?;
        if let Some(notify) = &self.executors.approval {
            notify.requested(&ApprovalRequest { pipeline: p.name.value.clone(), execution_id: id.clone(), stage: stage.to_string(), action: a.name.value.clone(), token, expires_at, custom_data: custom, external_entity_link: link });
        }
        Ok(true)
    }

    /// End the execution; after a failure, start the rollback its failed stage asks for.
    async fn finish(&self, p: &Pipeline, snap: &Snapshot, status: ExecutionStatus, stage_status: StageStatus, summary: &str, rollback: &mut Option<String>) -> Result<bool, EngineError> {
        let e = &snap.execution;
        let mut summary = summary.to_string();
        let mut plan = None;
        if status == ExecutionStatus::Failed && e.execution_type == ExecutionType::Standard && e.mode != ExecutionMode::Parallel {
            let failed = p.stages.iter().find(|s| snap.stage(&s.name.value).is_some_and(|r| r.status == StageStatus::Failed) || summary.ends_with(&format!("stage {} failed", s.name.value)));
            if let Some(stage) = failed.filter(|s| s.on_failure.as_ref().and_then(|f| f.result.as_ref()).is_some_and(|r| r.value == "ROLLBACK")) {
                match self.store.last_success_in_stage(&e.pipeline, &stage.name.value, &e.definition_digest, &e.id).await? {
                    Some(t) => plan = Some((stage.name.value.clone(), t)),
                    None => summary.push_str("; no earlier execution succeeded in that stage, so there is nothing to roll back to"),
                }
            }
        }
        let changed = self.store.finish_execution(&e.id, status, stage_status, Some(&summary)).await?;
        if let Some((stage, t)) = plan {
            let rid = rollback_id(&e.id, &stage);
            if !self.store.has_execution(&rid).await? {
                let target = self.store.snapshot(&t).await?;
                let new = NewExecution {
                    id: rid.clone(),
                    pipeline: e.pipeline.clone(),
                    definition: e.definition.clone(),
                    definition_digest: e.definition_digest.clone(),
                    mode: e.mode,
                    execution_type: ExecutionType::Rollback,
                    rollback_target: Some(t),
                    rollback_stage: Some(stage),
                    variables: target.execution.variables.clone(),
                    trigger_type: "AutomatedRollback".into(),
                    trigger_detail: Some(format!("execution {} failed; rolling back to execution {}", e.id, target.execution.id)),
                    source_revisions: target.execution.source_revisions.clone(),
                };
                // Two schedulers may race here; the second insert fails on the id.
                if self.store.create_execution(&new).await.is_ok() {
                    *rollback = Some(rid);
                }
            } else {
                *rollback = Some(rid);
            }
        }
        Ok(changed)
    }

    /// Answer a manual approval (PutApprovalResult); `token` must match when given.
    #[allow(clippy::too_many_arguments)]
    pub async fn approve(&self, id: &str, stage: &str, action: &str, token: Option<&str>, approved: bool, summary: &str, by: &str) -> Result<(), EngineError> {
        let answer = ApprovalAnswer { approved, summary: summary.to_string(), by: by.to_string() };
        self.store.answer_approval(id, stage, action, token, &answer, false).await?.map_err(EngineError::Refused)
    }

    /// RetryStageExecution: run the stage's failed actions (or all of them) again.
    pub async fn retry(&self, id: &str, stage: &str, mode: RetryMode) -> Result<(), EngineError> {
        self.store.retry_stage(id, stage, mode, false).await?.map(|_| ()).map_err(EngineError::Refused)
    }

    /// StopPipelineExecution.
    pub async fn stop(&self, id: &str, abandon: bool, reason: Option<&str>) -> Result<(), EngineError> {
        self.store.request_stop(id, abandon, reason).await?.map_err(EngineError::Refused)
    }
}

fn outcome(snap: &Snapshot, rollback: Option<String>) -> DriveOutcome {
    DriveOutcome {
        status: snap.execution.status,
        status_summary: snap.execution.status_summary.clone(),
        pending_approvals: snap.approvals.iter().filter(|a| a.status == ApprovalStatus::Pending).map(|a| (a.stage.clone(), a.action.clone())).collect(),
        waiting_stage: snap.execution.waiting_stage.clone(),
        rollback,
    }
}
