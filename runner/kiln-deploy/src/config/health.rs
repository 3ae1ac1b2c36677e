//! Minimum healthy hosts: how many instances a deployment may take out of service at once, when it
//! must stop, and when it has succeeded, as CodeDeploy documents it.
//!
//! Sources (user guide "CodeDeploy instance health", `instances-health.html`, and "Working with
//! deployment configurations"; fact sheet §5):
//!
//! 1. "If you specify a percentage, then at the start of the deployment, CodeDeploy converts the
//!    percentage to the equivalent number of instances, rounding up any fractional instances."
//! 2. "By default, CodeDeploy deploys the application revision to as many instances as it can
//!    without any risk of having the number of healthy instances fall below the specified
//!    minimum": 10 instances with a minimum of 9 go one at a time, with 8 two at a time, with 0 all
//!    at once, so the batch is `N − minimum`.
//! 3. "Minimum healthy instances: 95% — CodeDeploy rounds the minimum … up to 10 instances, which
//!    equals the number of healthy instances. The overall deployment immediately fails without
//!    deploying the revision to any instances" (error `HEALTH_CONSTRAINTS_INVALID`): a minimum of
//!    `N` or more can never be met.
//! 4. "If the number of healthy instances falls to the specified minimum number at any point in
//!    the deployment process, CodeDeploy stops the deployment" — "The exception to this rule is
//!    that if the last instance fails, the deployment still succeeds" (minimum 9 of 10), and with
//!    8 "if the last instance is the second to fail, the deployment still succeeds".
//! 5. "Deployment to at least one instance must succeed … even if the minimum healthy hosts value
//!    is 0", and the deployment succeeds "if the application revision was successfully deployed to
//!    at least the minimum number of healthy instances".
//! 6. "In the minimum healthy host calculation, a stopped instance has the same impact as a failed
//!    instance."
//!
//! `CodeDeployDefault.OneAtATime` is `MOST_CONCURRENCY` 1: one instance at a time, "fails as soon
//! as any instance except the last fails": kiln reads it as a minimum of `N − 1` (which gives
//! exactly that, and a one-instance group that must succeed on its one instance).
//!
//! **kiln's reading of "healthy"** (the exact service algorithm is not published): during a
//! deployment an instance counts as healthy unless it is being deployed to right now or its
//! deployment failed (or it was stopped), so at every moment
//! `N − failed − in_progress ≥ minimum`. After a failure the room left for batches shrinks, which
//! is the "never fall below the minimum" principle; the deployment stops once
//! `N − failed ≤ minimum` while instances are still to do (rule 4).

use serde::{Deserialize, Serialize};

use super::MinimumHealthyHosts;

/// Minimum healthy hosts resolved for a fleet of `instances`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HealthPlan {
    pub instances: u32,
    /// The minimum number of healthy instances.
    pub minimum_healthy: u32,
    /// The most instances out of service at once (the first batch's size).
    pub max_batch: u32,
}

/// Why a fleet cannot be deployed with a configuration.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum HealthError {
    #[error("the deployment group has no instances")]
    NoInstances,
    #[error("the minimum of {minimum} healthy instances can never be met by a deployment to {instances} instance(s): every instance must stay healthy, so none can be deployed to")]
    Invalid { minimum: u32, instances: u32 },
}

impl HealthError {
    /// The API's error code.
    pub fn code(&self) -> &'static str {
        match self {
            HealthError::NoInstances => "NO_INSTANCES",
            HealthError::Invalid { .. } => "HEALTH_CONSTRAINTS_INVALID",
        }
    }
}

impl HealthPlan {
    /// Resolve `rule` for a fleet of `instances` (rules 1–3).
    pub fn new(rule: MinimumHealthyHosts, instances: u32) -> Result<HealthPlan, HealthError> {
        if instances == 0 {
            return Err(HealthError::NoInstances);
        }
        let minimum = match rule {
            MinimumHealthyHosts::HostCount(n) => n,
            // ceil(p·N/100) in integers; p ≤ 99 and N fits u32, so u64 cannot overflow.
            MinimumHealthyHosts::FleetPercent(p) => ((u64::from(p) * u64::from(instances)).div_ceil(100)).min(u64::from(u32::MAX)) as u32,
            MinimumHealthyHosts::MostConcurrency(c) => instances.saturating_sub(c.max(1)),
        };
        if minimum >= instances {
            return Err(HealthError::Invalid { minimum, instances });
        }
        Ok(HealthPlan { instances, minimum_healthy: minimum, max_batch: instances - minimum })
    }

    /// How many more instances may go out of service now, with `failed` failed (or stopped) and
    /// `in_progress` being deployed to.
    pub fn room(&self, failed: u32, in_progress: u32) -> u32 {
        self.instances.saturating_sub(failed).saturating_sub(in_progress).saturating_sub(self.minimum_healthy)
    }

    /// Whether the deployment must stop: healthy instances have fallen to the minimum while
    /// `remaining` instances (neither deployed nor being deployed) are still to do (rule 4).
    pub fn must_stop(&self, failed: u32, remaining: u32) -> bool {
        remaining > 0 && self.instances.saturating_sub(failed) <= self.minimum_healthy
    }

    /// Whether a finished deployment with `succeeded` instances succeeded (rule 5).
    pub fn succeeded(&self, succeeded: u32) -> bool {
        succeeded >= self.minimum_healthy.max(1)
    }

    /// One line for plans and records: "9 of 10 instances stay healthy; 1 at a time".
    pub fn describe(&self) -> String {
        format!(
            "at least {} of {} instance(s) stay healthy, so at most {} at a time; success needs {} succeeded",
            self.minimum_healthy,
            self.instances,
            self.max_batch,
            self.minimum_healthy.max(1)
        )
    }
}
