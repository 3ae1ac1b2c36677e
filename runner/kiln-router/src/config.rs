//! What the caller configures: the listener, limits, timeouts, the balancing algorithm, retries,
//! health checks and the metrics history. Defaults follow the Application Load Balancer where it
//! has one (cited per field) and are scaled for one machine where it does not.

use std::net::{Ipv4Addr, SocketAddr};
use std::ops::RangeInclusive;
use std::time::Duration;

use crate::error::RouterError;

/// How an instance is chosen within a target group.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Algorithm {
    /// Each instance in service in turn (ALB's `round_robin`, its default).
    #[default]
    RoundRobin,
    /// The instance with the fewest requests in flight, ties broken in round-robin order
    /// (ALB's `least_outstanding_requests`).
    LeastOutstanding,
}

/// Whether the router's own health checks take instances out of routing.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum HealthRouting {
    /// Health is only reported; routing follows the caller's in-service flags alone.
    #[default]
    ReportOnly,
    /// An instance whose check is `Unhealthy` gets no new requests. If that leaves a group with no
    /// instance, the group fails open and uses all its in-service instances, as an ALB target
    /// group does when every target is unhealthy (ELB user guide, "Health checks for Application
    /// Load Balancer target groups").
    ExcludeUnhealthy,
}

/// Retrying a request on another instance of the same group.
///
/// A request is retried only when it was never sent: the connection to the instance could not be
/// made (refused, reset, timed out) or a pooled connection closed before the request was written.
/// Once any byte of a request may have reached an upstream it is never sent again, whatever its
/// method. With `idempotent_only` (the default) only GET, HEAD, OPTIONS, TRACE, PUT and DELETE
/// (RFC 9110 §9.2.2) are retried; a failed attempt is still counted against its instance.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Further instances to try after the first (0 = no retry, the default).
    pub max_retries: u32,
    /// Retry only idempotent methods.
    pub idempotent_only: bool,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy { max_retries: 0, idempotent_only: true }
    }
}

/// An active HTTP health check of one instance (ALB's target-group health check settings).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HealthCheck {
    /// Request path, `/` followed by anything a request target may hold (ALB `HealthCheckPath`).
    pub path: String,
    /// Time between checks (ALB `HealthCheckIntervalSeconds`, default 30 s).
    pub interval: Duration,
    /// Time for one check, connect included (ALB `HealthCheckTimeoutSeconds`, default 5 s).
    pub timeout: Duration,
    /// Consecutive successes that make an unhealthy instance healthy (ALB default 5). A new
    /// instance is healthy after its first success, as an ALB target is.
    pub healthy_threshold: u32,
    /// Consecutive failures that make an instance unhealthy (ALB default 2).
    pub unhealthy_threshold: u32,
    /// Status codes that count as success (ALB `Matcher`, default 200).
    pub success_codes: RangeInclusive<u16>,
}

impl Default for HealthCheck {
    fn default() -> Self {
        HealthCheck {
            path: "/".to_string(),
            interval: Duration::from_secs(30),
            timeout: Duration::from_secs(5),
            healthy_threshold: 5,
            unhealthy_threshold: 2,
            success_codes: 200..=200,
        }
    }
}

impl HealthCheck {
    pub(crate) fn validate(&self, instance: &str) -> Result<(), RouterError> {
        let bad = |what: String| Err(RouterError::InvalidHealthCheck { instance: instance.to_string(), problem: what });
        if !self.path.starts_with('/') || self.path.parse::<http::uri::PathAndQuery>().is_err() {
            return bad(format!("path {:?} must start with '/' and be a valid request target (e.g. \"/health\")", self.path));
        }
        if self.interval.is_zero() || self.timeout.is_zero() {
            return bad("interval and timeout must be greater than zero".to_string());
        }
        if self.healthy_threshold == 0 || self.unhealthy_threshold == 0 {
            return bad("healthy and unhealthy thresholds must be at least 1".to_string());
        }
        if self.success_codes.is_empty() || *self.success_codes.start() < 100 || *self.success_codes.end() > 599 {
            return bad(format!("success codes {:?} must be a non-empty range within 100..=599", self.success_codes));
        }
        Ok(())
    }
}

/// The router's configuration. `RouterConfig::default()` listens on 127.0.0.1 with an ephemeral port.
#[derive(Clone, Debug)]
pub struct RouterConfig {
    /// Where to listen; port 0 picks a free port ([`crate::Router::local_addr`] reports it).
    /// Loopback by default: binding a wider address is the caller's explicit choice.
    pub listen: SocketAddr,
    /// Largest request or response head (request/status line plus headers), bytes; a larger
    /// request gets 431 (HTTP/1.1) or a stream reset (HTTP/2), a larger response 502. Default 64 KiB
    /// (ALB's limit for a request's headers).
    pub max_header_bytes: usize,
    /// Most header fields in a request or response head. Default 100.
    pub max_headers: usize,
    /// Time a client has to send a complete HTTP/1.1 request head (slow-loris bound). Default 30 s.
    pub header_read_timeout: Duration,
    /// Time to open a TCP connection to an instance; past it the client gets 504. Default 10 s
    /// (ALB's connection timeout to targets).
    pub connect_timeout: Duration,
    /// Time from picking an instance until its response head arrives; past it the client gets
    /// 504. Bodies are streamed without a total bound. Default 60 s (ALB's idle timeout).
    pub request_timeout: Duration,
    /// How long a drain waits for in-flight requests before closing their upstream connections
    /// (ALB's deregistration delay, default 300 s). [`crate::Router::drain_with_timeout`] overrides it.
    pub drain_timeout: Duration,
    /// Idle keep-alive connections kept per instance. Default 64.
    pub max_idle_per_instance: usize,
    /// An idle upstream connection older than this is closed instead of reused. Default 30 s.
    pub idle_timeout: Duration,
    /// Instance choice within a group.
    pub algorithm: Algorithm,
    /// Retry of requests that were never sent.
    pub retry: RetryPolicy,
    /// Whether health checks take instances out of routing.
    pub health_routing: HealthRouting,
    /// Metrics sampling period: a window's granularity. Default 100 ms.
    pub sample_period: Duration,
    /// How long sampled metrics are kept. Default 10 minutes.
    pub retention: Duration,
    /// How long [`crate::Router::shutdown`] lets open requests finish before cutting them. Default 30 s.
    pub shutdown_timeout: Duration,
}

impl Default for RouterConfig {
    fn default() -> Self {
        RouterConfig {
            listen: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            max_header_bytes: 64 * 1024,
            max_headers: 100,
            header_read_timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(60),
            drain_timeout: Duration::from_secs(300),
            max_idle_per_instance: 64,
            idle_timeout: Duration::from_secs(30),
            algorithm: Algorithm::RoundRobin,
            retry: RetryPolicy::default(),
            health_routing: HealthRouting::ReportOnly,
            sample_period: Duration::from_millis(100),
            retention: Duration::from_secs(600),
            shutdown_timeout: Duration::from_secs(30),
        }
    }
}

impl RouterConfig {
    pub(crate) fn validate(&self) -> Result<(), RouterError> {
        let bad = |field: &'static str, why: &str| Err(RouterError::InvalidConfig { field, problem: why.to_string() });
        // hyper's HTTP/1 reader needs at least 8 KiB of buffer.
        if self.max_header_bytes < 8192 {
            return bad("max_header_bytes", "must be at least 8192 bytes (hyper's smallest read buffer)");
        }
        if self.max_header_bytes > u32::MAX as usize {
            return bad("max_header_bytes", "must fit in 32 bits (HTTP/2 SETTINGS_MAX_HEADER_LIST_SIZE)");
        }
        if self.max_headers == 0 {
            return bad("max_headers", "must be at least 1");
        }
        for (field, d) in [
            ("header_read_timeout", self.header_read_timeout),
            ("connect_timeout", self.connect_timeout),
            ("request_timeout", self.request_timeout),
            ("sample_period", self.sample_period),
            ("retention", self.retention),
        ] {
            if d.is_zero() {
                return bad(field, "must be greater than zero");
            }
        }
        if self.retention < self.sample_period {
            return bad("retention", "must be at least one sample_period");
        }
        Ok(())
    }
}
