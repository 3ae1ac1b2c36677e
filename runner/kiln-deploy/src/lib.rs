//! kiln-deploy: the deployment engine (issue 14).
pub mod alarm;
pub mod config;
mod engine;
pub mod fake;
pub mod group;
pub mod metrics;
pub mod record;
pub mod report;
pub mod strategy;
pub mod target;

pub use engine::{Deployment, DeploymentOptions, EngineError, Env, Lifecycles, Plan, PlanError, Revision, RevisionError, RunOptions, RunOutcome, StopStatus};
