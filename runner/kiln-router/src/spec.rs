//! What the caller gives the router: target groups and their instances, and the reports it gets
//! back (status, drains).

use std::net::SocketAddr;
use std::time::Duration;

use crate::config::HealthCheck;
use crate::error::RouterError;
use crate::health::HealthStatus;

/// One upstream instance: where it listens and how the caller names it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InstanceSpec {
    /// Unique across all groups: 1-128 visible ASCII characters.
    pub id: String,
    /// The instance's HTTP/1.1 listener.
    pub addr: SocketAddr,
    /// Whether it gets new requests from the start (the caller can change it any time).
    pub in_service: bool,
    /// An active health check, if wanted.
    pub health_check: Option<HealthCheck>,
}

impl InstanceSpec {
    /// An instance in service without a health check.
    pub fn new(id: impl Into<String>, addr: SocketAddr) -> Self {
        InstanceSpec { id: id.into(), addr, in_service: true, health_check: None }
    }

    /// Sets whether it starts in service.
    pub fn in_service(mut self, in_service: bool) -> Self {
        self.in_service = in_service;
        self
    }

    /// Adds an active health check.
    pub fn health_check(mut self, check: HealthCheck) -> Self {
        self.health_check = Some(check);
        self
    }

    pub(crate) fn validate(&self) -> Result<(), RouterError> {
        if self.id.is_empty() || self.id.len() > 128 || !self.id.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(RouterError::InvalidInstanceId { id: self.id.clone() });
        }
        if let Some(check) = &self.health_check {
            check.validate(&self.id)?;
        }
        Ok(())
    }
}

/// A named set of instances that shares a weight (CodeDeploy's original or replacement set, a
/// blue or green fleet).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TargetGroup {
    /// 1-100 letters, digits or `. _ + = , @ -` (CodeDeploy's name alphabet).
    pub name: String,
    /// Percentage of requests (0..=100); the groups' weights sum to 100, or are all 0 (no traffic).
    pub weight: u8,
    /// The instances.
    pub instances: Vec<InstanceSpec>,
}

impl TargetGroup {
    /// A group with no instances yet.
    pub fn new(name: impl Into<String>, weight: u8) -> Self {
        TargetGroup { name: name.into(), weight, instances: Vec::new() }
    }

    /// Adds an instance.
    pub fn instance(mut self, instance: InstanceSpec) -> Self {
        self.instances.push(instance);
        self
    }
}

pub(crate) fn validate_group_name(name: &str) -> Result<(), RouterError> {
    let ok = !name.is_empty() && name.len() <= 100 && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"._+=,@-".contains(&b));
    if ok { Ok(()) } else { Err(RouterError::InvalidGroupName { name: name.to_string() }) }
}

/// Checks that weights are each 0..=100 and sum to 100 (or are all 0).
pub(crate) fn validate_weights(weights: &[(&str, u8)]) -> Result<(), RouterError> {
    let given = || weights.iter().map(|(n, w)| format!("{n}={w}")).collect::<Vec<_>>().join(", ");
    if let Some((name, w)) = weights.iter().find(|(_, w)| *w > 100) {
        return Err(RouterError::InvalidWeights { given: given(), problem: format!("{name} has {w}%, more than 100") });
    }
    let sum: u32 = weights.iter().map(|(_, w)| *w as u32).sum();
    if sum != 100 && sum != 0 {
        return Err(RouterError::InvalidWeights { given: given(), problem: format!("they sum to {sum}%, not 100 (or 0 to send no traffic)") });
    }
    Ok(())
}

/// Which instances a drain waits for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DrainSet {
    /// These instances (removed ones included).
    Instances(Vec<String>),
    /// Every instance of the group, and those removed from it that still have requests in flight.
    Group(String),
}

/// How a drain ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DrainReport {
    /// Every request in flight finished by itself within the timeout.
    pub drained: bool,
    /// Requests still in flight at the timeout, whose upstream connections the router then closed
    /// (their clients got 502 or a cut body, as ALB does when the deregistration delay ends).
    pub cut: u64,
    /// Requests still in flight when the drain returned (0 unless a cut request is stuck connecting).
    pub remaining: u64,
    /// How long the drain waited.
    pub waited: Duration,
}

/// One instance as the router sees it now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InstanceStatus {
    /// The caller's id.
    pub id: String,
    /// Its listener.
    pub addr: SocketAddr,
    /// The caller's in-service flag.
    pub in_service: bool,
    /// Whether new requests can go to it now (in service, its group has weight, and healthy
    /// enough under [`crate::HealthRouting`]).
    pub routed: bool,
    /// Requests in flight on it.
    pub in_flight: u64,
    /// Its health check's findings, if it has one.
    pub health: Option<HealthStatus>,
}

/// One target group as the router sees it now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupStatus {
    /// Its name.
    pub name: String,
    /// Its weight (percent).
    pub weight: u8,
    /// Its instances, in the order they were added.
    pub instances: Vec<InstanceStatus>,
}
