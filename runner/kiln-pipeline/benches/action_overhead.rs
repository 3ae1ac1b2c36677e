//! The scheduler's own cost per action: a pipeline of no-op actions (a source, then 20 build
//! actions in sequence, each handed the previous one's artifact) run start to end on a fresh
//! store. Everything measured is kiln's: store writes (SQLite WAL, synchronous=FULL, one
//! fsync per commit), leases, variable resolution, artifact digests and the content-addressed
//! copy, the drive loop's reactions.
//!
//! `cargo bench -p kiln-pipeline --bench action_overhead` prints the time per pipeline; the
//! per-action overhead is that divided by 21 (also printed once at the end).

use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use kiln_pipeline::exec::traits::*;
use kiln_pipeline::exec::{Engine, EngineOptions, StartOptions};
use kiln_pipeline::store::Store;
use kiln_pipeline::{parse, ReadOptions};

const ACTIONS: usize = 20;

struct NoOp;
impl NoOp {
    fn out(ctx: &ActionContext) -> ActionFuture<'_> {
        Box::pin(async move {
            for o in &ctx.outputs {
                std::fs::write(ctx.output_dir.join(o), o.as_bytes()).map_err(|e| ActionFailure::job_failed(e.to_string()))?;
            }
            Ok(ActionOutput::default())
        })
    }
}
impl SourceAction for NoOp {
    fn fetch<'a>(&'a self, ctx: &'a ActionContext) -> ActionFuture<'a> {
        NoOp::out(ctx)
    }
}
impl BuildAction for NoOp {
    fn build<'a>(&'a self, ctx: &'a ActionContext) -> ActionFuture<'a> {
        NoOp::out(ctx)
    }
}

fn definition() -> kiln_pipeline::Pipeline {
    let mut y = String::from("pipeline:\n  name: bench\n  roleArn: r\n  artifactStore: {type: S3, location: b}\n  stages:\n    - name: Source\n      actions:\n        - {name: Code, namespace: Src, actionTypeId: {category: Source, owner: AWS, provider: CodeCommit, version: '1'}, configuration: {RepositoryName: r, BranchName: main}, outputArtifacts: [{name: A0}]}\n    - name: Build\n      actions:\n");
    for i in 1..=ACTIONS {
        y.push_str(&format!(
            "        - {{name: B{i}, runOrder: {i}, actionTypeId: {{category: Build, owner: AWS, provider: CodeBuild, version: '1'}}, configuration: {{ProjectName: 'p-#{{codepipeline.PipelineExecutionId}}'}}, inputArtifacts: [{{name: A{}}}], outputArtifacts: [{{name: A{i}}}]}}\n",
            i - 1
        ));
    }
    parse(&y, "bench.yml", &ReadOptions::default()).unwrap().definition.pipeline
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let p = definition();
    let dir = tempfile::tempdir().unwrap();
    let store = rt.block_on(Store::open(dir.path())).unwrap();
    let executors = Executors { source: Some(Arc::new(NoOp)), build: Some(Arc::new(NoOp)), ..Default::default() };
    let engine = Engine::new(store, executors, EngineOptions { poll: Duration::from_millis(250), ..Default::default() });
    let mut total = Duration::ZERO;
    let mut runs = 0u32;
    let mut group = c.benchmark_group("pipeline");
    group.sample_size(10);
    group.bench_function(format!("{} no-op actions, start to end", ACTIONS + 1), |b| {
        b.iter_custom(|iters| {
            let started = Instant::now();
            for _ in 0..iters {
                rt.block_on(async {
                    let id = engine.start(&p, StartOptions::default()).await.unwrap();
                    let out = engine.drive(&id).await.unwrap();
                    assert_eq!(out.status, kiln_pipeline::exec::status::ExecutionStatus::Succeeded);
                });
            }
            let took = started.elapsed();
            total += took;
            runs += iters as u32;
            took
        })
    });
    group.finish();
    if runs > 0 {
        let per_action = total / runs / (ACTIONS as u32 + 1);
        println!("scheduler overhead: {:.2} ms per action (mean over {runs} pipelines of {} actions)", per_action.as_secs_f64() * 1e3, ACTIONS + 1);
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
