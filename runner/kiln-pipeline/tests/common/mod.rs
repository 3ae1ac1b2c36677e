//! Fake executors and helpers shared by the scheduler tests.
#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kiln_pipeline::exec::traits::*;
use kiln_pipeline::exec::{Engine, EngineOptions};
use kiln_pipeline::store::Store;
use kiln_pipeline::{parse, validate, Pipeline, ReadOptions};

/// How a fake action behaves.
#[derive(Clone, Debug, Default)]
pub struct Behavior {
    pub sleep: Duration,
    /// Fail this many attempts before succeeding.
    pub fail_times: usize,
    pub variables: BTreeMap<String, String>,
}

/// One run of a fake action.
#[derive(Clone, Debug)]
pub struct Event {
    pub execution: String,
    pub action: String,
    pub attempt: i64,
    pub start: Instant,
    pub end: Instant,
    pub configuration: BTreeMap<String, String>,
    /// Input name → the bytes handed over.
    pub inputs: BTreeMap<String, String>,
    pub digests: BTreeMap<String, String>,
}

#[derive(Default)]
pub struct Fake {
    pub events: Mutex<Vec<Event>>,
    pub behaviors: Mutex<HashMap<String, Behavior>>,
    pub calls: Mutex<HashMap<String, usize>>,
    pub approvals: Mutex<Vec<ApprovalRequest>>,
}

impl Fake {
    pub fn new() -> Arc<Fake> {
        Arc::new(Fake::default())
    }

    pub fn set(&self, action: &str, b: Behavior) {
        self.behaviors.lock().unwrap().insert(action.to_string(), b);
    }

    pub fn events(&self) -> Vec<Event> {
        self.events.lock().unwrap().clone()
    }

    pub fn event(&self, action: &str) -> Event {
        self.events().into_iter().rfind(|e| e.action == action).unwrap_or_else(|| panic!("{action} did not run"))
    }

    pub fn calls(&self, action: &str) -> usize {
        self.calls.lock().unwrap().get(action).copied().unwrap_or(0)
    }

    async fn act(&self, ctx: &ActionContext) -> Result<ActionOutput, ActionFailure> {
        let start = Instant::now();
        let name = ctx.action.name.value.clone();
        let n = {
            let mut calls = self.calls.lock().unwrap();
            let c = calls.entry(name.clone()).or_default();
            *c += 1;
            *c
        };
        let b = self.behaviors.lock().unwrap().get(&name).cloned().unwrap_or_default();
        tokio::time::sleep(b.sleep).await;
        let mut inputs = BTreeMap::new();
        let mut digests = BTreeMap::new();
        for i in &ctx.inputs {
            inputs.insert(i.name.clone(), std::fs::read_to_string(&i.path).unwrap());
            digests.insert(i.name.clone(), i.digest.clone());
        }
        for o in &ctx.outputs {
            let body = format!("{o} by {name} of {} from [{}]", ctx.execution_id, inputs.values().cloned().collect::<Vec<_>>().join("|"));
            std::fs::write(ctx.output_dir.join(o), body).unwrap();
        }
        self.events.lock().unwrap().push(Event {
            execution: ctx.execution_id.clone(),
            action: name.clone(),
            attempt: ctx.attempt,
            start,
            end: Instant::now(),
            configuration: ctx.configuration.clone(),
            inputs,
            digests,
        });
        if n <= b.fail_times {
            return Err(ActionFailure::job_failed(format!("{name} failed on purpose (call {n})")));
        }
        Ok(ActionOutput { summary: Some(format!("{name} ok")), variables: b.variables.clone(), external_id: None, details: Default::default() })
    }
}

impl SourceAction for Fake {
    fn fetch<'a>(&'a self, ctx: &'a ActionContext) -> ActionFuture<'a> {
        Box::pin(self.act(ctx))
    }
}
impl BuildAction for Fake {
    fn build<'a>(&'a self, ctx: &'a ActionContext) -> ActionFuture<'a> {
        Box::pin(self.act(ctx))
    }
}
impl DeployAction for Fake {
    fn deploy<'a>(&'a self, ctx: &'a ActionContext) -> ActionFuture<'a> {
        Box::pin(self.act(ctx))
    }
}
impl InvokeAction for Fake {
    fn invoke<'a>(&'a self, ctx: &'a ActionContext) -> ActionFuture<'a> {
        Box::pin(self.act(ctx))
    }
}
impl ApprovalAction for Fake {
    fn requested(&self, request: &ApprovalRequest) {
        self.approvals.lock().unwrap().push(request.clone());
    }
}

pub fn executors(fake: &Arc<Fake>) -> Executors {
    Executors { source: Some(fake.clone()), build: Some(fake.clone()), deploy: Some(fake.clone()), invoke: Some(fake.clone()), approval: Some(fake.clone()) }
}

/// Parse and validate a kiln YAML pipeline (panics on any error: test definitions are valid).
pub fn pipeline(yaml: &str) -> Pipeline {
    let read = parse(yaml, "test.yml", &ReadOptions::default()).unwrap();
    assert!(read.diagnostics.iter().all(|d| !d.is_error()), "{:?}", read.diagnostics);
    let diags = validate(&read.definition);
    assert!(diags.iter().all(|d| !d.is_error()), "{diags:#?}");
    read.definition.pipeline
}

pub fn fast() -> EngineOptions {
    EngineOptions { poll: Duration::from_millis(20), ..EngineOptions::default() }
}

pub async fn engine(dir: &std::path::Path, fake: &Arc<Fake>, options: EngineOptions) -> Engine {
    let store = Store::open(dir).await.unwrap();
    Engine::new(store, executors(fake), options)
}

/// An action of the given provider as kiln YAML (indented for a stage's `actions:` list).
pub fn action(name: &str, category: &str, provider: &str, run_order: u32, inputs: &[&str], outputs: &[&str], extra: &str) -> String {
    let list = |v: &[&str]| v.iter().map(|n| format!("{{name: {n}}}")).collect::<Vec<_>>().join(", ");
    format!(
        "        - name: {name}\n          runOrder: {run_order}\n          actionTypeId: {{category: {category}, owner: AWS, provider: {provider}, version: \"1\"}}\n          inputArtifacts: [{}]\n          outputArtifacts: [{}]\n{extra}",
        list(inputs),
        list(outputs)
    )
}

/// A pipeline header (`pipeline:` … `stages:`).
pub fn header(name: &str, extra: &str) -> String {
    format!("pipeline:\n  name: {name}\n  roleArn: arn:aws:iam::123456789012:role/p\n  artifactStore: {{type: S3, location: bucket}}\n{extra}  stages:\n")
}

pub fn source_stage() -> String {
    format!(
        "    - name: Source\n      actions:\n{}",
        action("Code", "Source", "CodeCommit", 1, &[], &["Src"], "          namespace: SourceVariables\n          configuration: {RepositoryName: app, BranchName: main}\n")
    )
}

pub fn build(name: &str, run_order: u32, inputs: &[&str], outputs: &[&str], extra: &str) -> String {
    action(name, "Build", "CodeBuild", run_order, inputs, outputs, &format!("          configuration:\n            ProjectName: p\n{extra}"))
}
