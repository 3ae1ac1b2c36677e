//! Live progress for whoever watches a deployment (the CLI's terminal output): batches, lifecycle
//! events, hook output, traffic weights, alarm state changes, the strategy's decisions.

use crate::alarm::AlarmState;
use crate::record::{DeploymentStatus, LifecycleEventStatus, Weights};
use crate::target::Stream;

/// One thing that happened.
#[derive(Clone, Debug, PartialEq)]
pub enum Progress {
    /// The deployment's status changed.
    Status { deployment_id: String, status: DeploymentStatus },
    /// The strategy answered (`deploy-batch([web-1])`, `shift-traffic(10)`, …).
    Decision { action: String },
    /// A batch of instances starts its lifecycle.
    Batch { instances: Vec<String> },
    /// A lifecycle event changed status on a target.
    Lifecycle { target: String, event: String, status: LifecycleEventStatus, message: Option<String> },
    /// A line a hook printed.
    HookOutput { target: String, event: String, stream: Stream, line: String },
    /// Traffic weights changed.
    Traffic { weights: Weights, reason: String },
    /// An alarm changed state.
    Alarm { name: String, state: AlarmState, reason: String },
    /// A rollback deployment started for the deployment that triggered it.
    Rollback { deployment_id: String, rollback_deployment_id: String, reason: String },
    /// Anything else worth a line.
    Message(String),
}

/// Receives progress. Called from the engine's task; must not block for long.
pub trait Reporter: Send + Sync {
    fn progress(&self, event: &Progress);
}

/// Reports nothing.
pub struct Silent;

impl Reporter for Silent {
    fn progress(&self, _: &Progress) {}
}

/// Keeps every event (tests).
#[derive(Default)]
pub struct Collect(pub std::sync::Mutex<Vec<Progress>>);

impl Reporter for Collect {
    fn progress(&self, event: &Progress) {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).push(event.clone());
    }
}

impl Collect {
    pub fn events(&self) -> Vec<Progress> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}
