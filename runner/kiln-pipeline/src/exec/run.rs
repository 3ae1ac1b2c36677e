//! One attempt of one action, on its own task: check the inputs' digests, run the executor while
//! renewing the lease, store the outputs content-addressed, record the result — all fenced by the
//! attempt and the lease, so a process that lost its lease records nothing.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use super::status::ActionStatus;
use super::traits::{ActionContext, ActionFailure, ActionOutput, Executors, InputArtifact, Kind};
use crate::cas::Object;
use crate::store::{now_ms, Store};

/// All output variables of one action together: at most 122,880 bytes
/// (OutputVariablesSizeExceededException, codepipeline.md §4).
pub const MAX_OUTPUT_VARIABLES_BYTES: usize = 122_880;

pub(crate) struct Job {
    pub store: Store,
    pub executors: Executors,
    pub owner: String,
    pub lease: Duration,
    pub kind: Kind,
    pub timeout: Duration,
    pub ctx: ActionContext,
    /// Input artifact name → digest (checked before the executor sees them).
    pub inputs: Vec<(String, String)>,
    pub resolved_json: String,
}

enum End {
    Done(Result<ActionOutput, ActionFailure>),
    LostLease,
}

/// Run the job to its end; errors of the store itself are returned (the attempt then stays in
/// progress and its lease runs out, so another scheduler picks it up).
pub(crate) async fn run(job: Job) -> Result<(), crate::store::StoreError> {
    let Job { store, executors, owner, lease, kind, timeout, mut ctx, inputs, resolved_json } = job;
    let (stage, action, attempt) = (ctx.stage.clone(), ctx.action.name.value.clone(), ctx.attempt);
    let fail = |f: ActionFailure| End::Done(Err(f));
    // Inputs: every digest checked before the executor sees the file.
    let cas = store.cas().clone();
    let checked = tokio::task::spawn_blocking(move || {
        inputs.into_iter().map(|(name, digest)| cas.verify(&digest).map(|path| InputArtifact { name, path, digest })).collect::<std::io::Result<Vec<_>>>()
    })
    .await;
    let end = match checked {
        Ok(Ok(list)) => {
            ctx.inputs = list;
            let _ = std::fs::remove_dir_all(&ctx.output_dir);
            match std::fs::create_dir_all(&ctx.output_dir) {
                Err(e) => fail(ActionFailure::job_failed(format!("kiln could not make the output directory {}: {e}", ctx.output_dir.display()))),
                Ok(()) => execute(&store, &executors, kind, &ctx, &owner, lease, timeout).await,
            }
        }
        Ok(Err(e)) => fail(ActionFailure::job_failed(format!("an input artifact is missing or damaged: {e}"))),
        Err(e) => fail(ActionFailure::job_failed(format!("checking the input artifacts failed: {e}"))),
    };
    let End::Done(result) = end else { return Ok(()) };
    let (status, summary, code, variables, artifacts, external_id, details) = match result {
        Ok(out) => match collect(&store, &ctx, &out).await {
            Ok(artifacts) => (ActionStatus::Succeeded, out.summary.clone(), None, out.variables, artifacts, out.external_id, out.details),
            Err(f) => (ActionStatus::Failed, Some(f.message), Some(f.code), BTreeMap::new(), Vec::new(), out.external_id, out.details),
        },
        Err(f) => (ActionStatus::Failed, Some(f.message), Some(f.code), BTreeMap::new(), Vec::new(), f.external_id, f.details),
    };
    let vars = serde_json::to_string(&variables).unwrap_or_else(|_| "{}".into());
    let details = serde_json::to_string(&details).unwrap_or_else(|_| "{}".into());
    store
        .complete_action(&ctx.execution_id, &stage, &action, attempt, Some(&owner), status, summary.as_deref(), code.as_deref(), &resolved_json, &vars, external_id.as_deref(), &details, &artifacts)
        .await?;
    let _ = std::fs::remove_dir_all(&ctx.output_dir);
    Ok(())
}

async fn execute(store: &Store, executors: &Executors, kind: Kind, ctx: &ActionContext, owner: &str, lease: Duration, timeout: Duration) -> End {
    let heartbeat = async {
        loop {
            tokio::time::sleep(lease / 3).await;
            let until = now_ms() + lease.as_millis() as i64;
            match store.renew_lease(&ctx.execution_id, &ctx.stage, &ctx.action.name.value, ctx.attempt, owner, until).await {
                Ok(true) => {}
                // Lost (abandoned, or taken over) or the store is gone: stop working on it.
                Ok(false) | Err(_) => return,
            }
        }
    };
    tokio::select! {
        r = executors.run(kind, ctx) => End::Done(r),
        _ = heartbeat => End::LostLease,
        _ = tokio::time::sleep(timeout) => End::Done(Err(ActionFailure::job_failed(format!("the action timed out after {} minutes", timeout.as_secs() / 60)))),
    }
}

/// The declared outputs, from `output_dir` into the artifact store.
async fn collect(store: &Store, ctx: &ActionContext, out: &ActionOutput) -> Result<Vec<(String, Object)>, ActionFailure> {
    let size: usize = out.variables.iter().map(|(k, v)| k.len() + v.len()).sum();
    if size > MAX_OUTPUT_VARIABLES_BYTES {
        return Err(ActionFailure::new("OutputVariablesSizeExceeded", format!("the action's output variables take {size} bytes; CodePipeline allows {MAX_OUTPUT_VARIABLES_BYTES}")));
    }
    if let Some(k) = out.variables.keys().find(|k| k.is_empty() || !k.chars().all(|c| c.is_ascii_alphanumeric() || "@-_".contains(c))) {
        return Err(ActionFailure::job_failed(format!("the output variable name `{k}` is not valid (letters, digits, @, - and _)")));
    }
    let cas = store.cas().clone();
    let files: Vec<(String, PathBuf)> = ctx.outputs.iter().map(|n| (n.clone(), ctx.output_dir.join(n))).collect();
    let stored = tokio::task::spawn_blocking(move || {
        files
            .into_iter()
            .map(|(name, path)| match cas.put_file(&path) {
                Ok(obj) => Ok((name, obj)),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(ActionFailure::job_failed(format!("the action did not produce its output artifact `{name}`"))),
                Err(e) => Err(ActionFailure::job_failed(format!("the output artifact `{name}` could not be stored: {e}"))),
            })
            .collect::<Result<Vec<_>, _>>()
    })
    .await;
    stored.unwrap_or_else(|e| Err(ActionFailure::job_failed(format!("storing the output artifacts failed: {e}"))))
}
