//! Scheduling: start the batch's builds through a [`Launcher`], at most `parallel` at a time, a
//! graph's builds once their dependencies completed, and stop them on `fast-fail`, on a stop
//! request (Ctrl-C) or at the batch timeout. Every change goes into the record first, then to
//! the [`Observer`] (the terminal).
//!
//! Rules (CodeBuild user guide, batch-build-buildspec.html, and where it is silent, kiln's
//! proposal, marked):
//! * **Order.** A build starts when a slot is free and every build it `depend-on`s has
//!   completed ("This task will not run until these tasks are completed"); among those ready,
//!   the one written first starts first. A list's and a matrix's builds are all ready at once
//!   (CodeBuild starts them all together; `--parallel` is kiln's bound on one machine).
//! * **A failed dependency.** Whether CodeBuild still runs a build whose dependency failed is
//!   undocumented. kiln proposal: a dependency that failed with `ignore-failure: false` keeps its
//!   dependents (and theirs) from starting — the failure fails the batch ("If one build task
//!   fails, the batch build will fail") — while one with `ignore-failure: true` does not ("the
//!   remaining build tasks will still run"). Builds that do not depend on the failure go on
//!   (unless `fast-fail`).
//! * **`fast-fail: true`**: "All running builds will be stopped when one of the build tasks
//!   fails": the first failure of a build without `ignore-failure` stops every running build
//!   (each ends `STOPPED`, its process tree killed) and starts no more. A build with
//!   `ignore-failure` never triggers it (kiln proposal: its failure is ignored).
//! * **`fast-fail: false`** (the default): "All running builds will complete".
//! * **Stop and timeout** stop every running build the same way and start no more.

use std::collections::HashMap;
use std::sync::Arc;

use kiln_engine::Stop;
use tokio::task::JoinSet;

use crate::plan::{BatchPlan, ChildPlan};
use crate::record::Recorder;
use crate::{ChildOutcome, Launcher};

/// Receives the batch's progress (the terminal display).
pub trait Observer: Send {
    fn started(&mut self, index: usize, child: &ChildPlan, build_id: &str);
    fn finished(&mut self, index: usize, child: &ChildPlan, outcome: &ChildOutcome);
    fn not_started(&mut self, index: usize, child: &ChildPlan, reason: &str);
}

/// An observer that shows nothing.
pub struct Quiet;
impl Observer for Quiet {
    fn started(&mut self, _: usize, _: &ChildPlan, _: &str) {}
    fn finished(&mut self, _: usize, _: &ChildPlan, _: &ChildOutcome) {}
    fn not_started(&mut self, _: usize, _: &ChildPlan, _: &str) {}
}

/// How the batch may run.
pub struct Controls {
    /// The most builds running at once (at least 1).
    pub parallel: usize,
    /// Stops the whole batch when asked (Ctrl-C, SIGTERM).
    pub stop: Stop,
    /// The batch timeout.
    pub deadline: Option<tokio::time::Instant>,
}

/// How the builds ended, taken together.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Ended {
    /// Every build ran (or could not because of a failure), nothing was stopped.
    Completed,
    /// `fast-fail`: this build failed and the others were stopped.
    FastFailed(String),
    /// Stopped from outside, for this reason.
    Stopped(String),
    /// The batch timeout passed.
    TimedOut,
}

#[derive(Clone, Debug)]
enum State {
    Waiting,
    Running(Stop),
    Done(String),
    NotStarted,
}

/// A failure that counts: the build did not succeed and `ignore-failure` is off.
pub fn fails_batch(child: &ChildPlan, status: &str) -> bool {
    status != "SUCCEEDED" && !child.ignore_failure
}

/// Run every build of `plan`. The record is updated (and saved) at every start, end and skip.
pub async fn run(plan: &BatchPlan, launcher: Arc<dyn Launcher>, recorder: &mut Recorder, observer: &mut dyn Observer, controls: Controls) -> std::io::Result<Ended> {
    let n = plan.builds.len();
    let deps: Vec<Vec<usize>> = plan.builds.iter().map(|b| b.depend_on.iter().filter_map(|d| plan.index_of(d)).collect()).collect();
    let mut state = vec![State::Waiting; n];
    let mut tasks: JoinSet<ChildOutcome> = JoinSet::new();
    let mut task_index: HashMap<tokio::task::Id, usize> = HashMap::new();
    let mut halted: Option<Ended> = None;
    let parallel = controls.parallel.max(1);
    loop {
        if halted.is_none() {
            skip_blocked(plan, &deps, &mut state, recorder, observer)?;
            let mut running = state.iter().filter(|s| matches!(s, State::Running(_))).count();
            for i in 0..n {
                if running >= parallel {
                    break;
                }
                let ready = matches!(state[i], State::Waiting) && deps[i].iter().all(|&d| matches!(state[d], State::Done(_)));
                if !ready {
                    continue;
                }
                let stop = Stop::new();
                let launched = Arc::clone(&launcher).launch(i, stop.clone());
                recorder.started(i, &launched.build_id, &launched.arn, &launched.record_dir)?;
                observer.started(i, &plan.builds[i], &launched.build_id);
                let handle = tasks.spawn(launched.run);
                task_index.insert(handle.id(), i);
                state[i] = State::Running(stop);
                running += 1;
            }
            if tasks.is_empty() {
                // Nothing runs and nothing could start: whatever still waits never will.
                for (i, s) in state.iter_mut().enumerate() {
                    if matches!(s, State::Waiting) {
                        *s = State::NotStarted;
                        let reason = "its dependencies never completed";
                        recorder.not_started(i, reason)?;
                        observer.not_started(i, &plan.builds[i], reason);
                    }
                }
                break;
            }
        } else if tasks.is_empty() {
            break;
        }
        let timeout = async {
            match controls.deadline {
                Some(d) if halted.is_none() => tokio::time::sleep_until(d).await,
                _ => std::future::pending().await,
            }
        };
        let stopped = async {
            if halted.is_none() { controls.stop.stopped().await } else { std::future::pending().await }
        };
        tokio::select! {
            joined = tasks.join_next_with_id() => {
                let Some(joined) = joined else { continue };
                let (id, outcome) = match joined {
                    Ok((id, outcome)) => (id, outcome),
                    Err(e) => (e.id(), ChildOutcome::fault(format!("kiln failed while running this build: {e}"))),
                };
                let Some(i) = task_index.remove(&id) else { continue };
                recorder.finished(i, &outcome)?;
                observer.finished(i, &plan.builds[i], &outcome);
                let failed = fails_batch(&plan.builds[i], &outcome.build_status);
                state[i] = State::Done(outcome.build_status);
                if failed && plan.fast_fail && halted.is_none() {
                    let who = plan.builds[i].identifier.clone();
                    halt(plan, &mut state, recorder, observer, &format!("fast-fail: `{who}` failed"))?;
                    halted = Some(Ended::FastFailed(who));
                }
            }
            () = stopped => {
                let why = controls.stop.reason().unwrap_or_else(|| "stopped".into());
                halt(plan, &mut state, recorder, observer, &format!("the batch was stopped ({why})"))?;
                halted = Some(Ended::Stopped(why));
            }
            () = timeout => {
                halt(plan, &mut state, recorder, observer, "the batch timed out")?;
                halted = Some(Ended::TimedOut);
            }
        }
    }
    Ok(halted.unwrap_or(Ended::Completed))
}

/// Mark as never starting every waiting build with a dependency that failed the batch or never
/// started, until nothing changes (dependents of dependents included, in any written order).
fn skip_blocked(plan: &BatchPlan, deps: &[Vec<usize>], state: &mut [State], recorder: &mut Recorder, observer: &mut dyn Observer) -> std::io::Result<()> {
    loop {
        let mut changed = false;
        for i in 0..state.len() {
            if !matches!(state[i], State::Waiting) {
                continue;
            }
            let blocker = deps[i].iter().find_map(|&d| match &state[d] {
                State::Done(status) if fails_batch(&plan.builds[d], status) => Some(format!("`{}` ended {status}", plan.builds[d].identifier)),
                State::NotStarted => Some(format!("`{}` never started", plan.builds[d].identifier)),
                _ => None,
            });
            if let Some(b) = blocker {
                let reason = format!("its dependency {b}");
                state[i] = State::NotStarted;
                recorder.not_started(i, &reason)?;
                observer.not_started(i, &plan.builds[i], &reason);
                changed = true;
            }
        }
        if !changed {
            return Ok(());
        }
    }
}

/// Stop every running build and keep every waiting one from starting.
fn halt(plan: &BatchPlan, state: &mut [State], recorder: &mut Recorder, observer: &mut dyn Observer, reason: &str) -> std::io::Result<()> {
    for (i, s) in state.iter_mut().enumerate() {
        match s {
            State::Running(stop) => stop.stop(reason),
            State::Waiting => {
                *s = State::NotStarted;
                recorder.not_started(i, reason)?;
                observer.not_started(i, &plan.builds[i], reason);
            }
            _ => {}
        }
    }
    Ok(())
}
