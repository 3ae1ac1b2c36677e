//! Active HTTP health checks, one task per instance that has a [`HealthCheck`].
//!
//! Semantics follow an ALB target group's checks (ELB user guide, "Health checks for Application
//! Load Balancer target groups"): every `interval` the router opens a new connection, sends
//! `GET <path>` with `Connection: close`, and counts a response whose status is in `success_codes`
//! within `timeout` as a success; anything else (refused, reset, timeout, other status, a response
//! head over the header limits) is a failure. A new instance is `Unknown` until its first success
//! makes it `Healthy`; `unhealthy_threshold` failures in a row make it `Unhealthy`, and
//! `healthy_threshold` successes in a row make it healthy again. Health checks do not count in
//! the traffic metrics. Whether health affects routing is [`crate::HealthRouting`].

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use http_body_util::Empty;
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;

use crate::config::HealthCheck;
use crate::targets::InstanceState;

/// An instance's health as its checks last found it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HealthState {
    /// No check has succeeded yet, and not enough have failed to call it unhealthy.
    Unknown,
    /// Passing.
    Healthy,
    /// Failed `unhealthy_threshold` checks in a row (and has not passed `healthy_threshold` since).
    Unhealthy,
}

/// What the health checks of one instance have seen.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HealthStatus {
    /// The current state.
    pub state: HealthState,
    /// Successes in a row up to the last check.
    pub consecutive_successes: u32,
    /// Failures in a row up to the last check.
    pub consecutive_failures: u32,
    /// Checks made so far.
    pub checks: u64,
    /// When the last check finished.
    pub last_check: Option<Instant>,
    /// The last check's status code, if it got a response.
    pub last_status: Option<u16>,
    /// Why the last failed check failed.
    pub last_error: Option<String>,
}

impl HealthStatus {
    pub(crate) fn new() -> Self {
        HealthStatus { state: HealthState::Unknown, consecutive_successes: 0, consecutive_failures: 0, checks: 0, last_check: None, last_status: None, last_error: None }
    }

    /// Applies one check's outcome; returns whether the state changed.
    pub(crate) fn observe(&mut self, outcome: &Result<u16, String>, check: &HealthCheck) -> bool {
        let before = self.state;
        self.checks += 1;
        self.last_check = Some(Instant::now());
        let passed = match outcome {
            Ok(status) => {
                self.last_status = Some(*status);
                let ok = check.success_codes.contains(status);
                self.last_error = (!ok).then(|| format!("status {status} is not in {:?}", check.success_codes));
                ok
            }
            Err(e) => {
                self.last_status = None;
                self.last_error = Some(e.clone());
                false
            }
        };
        if passed {
            self.consecutive_successes = self.consecutive_successes.saturating_add(1);
            self.consecutive_failures = 0;
            if self.state == HealthState::Unknown || (self.state == HealthState::Unhealthy && self.consecutive_successes >= check.healthy_threshold) {
                self.state = HealthState::Healthy;
            }
        } else {
            self.consecutive_failures = self.consecutive_failures.saturating_add(1);
            self.consecutive_successes = 0;
            if self.consecutive_failures >= check.unhealthy_threshold {
                self.state = HealthState::Unhealthy;
            }
        }
        self.state != before
    }
}

/// One check: a fresh connection, `GET path`, the status code.
pub(crate) async fn probe(addr: SocketAddr, check: &HealthCheck, max_header_bytes: usize, max_headers: usize) -> Result<u16, String> {
    let attempt = async {
        let stream = TcpStream::connect(addr).await.map_err(|e| format!("connect to {addr}: {e}"))?;
        let _ = stream.set_nodelay(true);
        let mut builder = http1::Builder::new();
        builder.max_buf_size(max_header_bytes).max_header_size(max_header_bytes).max_headers(max_headers);
        let (mut tx, conn) = builder.handshake::<_, Empty<Bytes>>(TokioIo::new(stream)).await.map_err(|e| format!("handshake with {addr}: {e}"))?;
        let driver = tokio::spawn(conn);
        let request = http::Request::get(check.path.as_str())
            .header(http::header::HOST, addr.to_string())
            .header(http::header::USER_AGENT, "kiln-router-health-check")
            .header(http::header::CONNECTION, "close")
            .body(Empty::new())
            .map_err(|e| format!("health check request: {e}"))?;
        let result = tx.send_request(request).await.map(|r| r.status().as_u16()).map_err(|e| format!("GET {} on {addr}: {e}", check.path));
        driver.abort();
        result
    };
    match tokio::time::timeout(check.timeout, attempt).await {
        Ok(r) => r,
        Err(_) => Err(format!("no response from {addr} within {:?}", check.timeout)),
    }
}

/// Runs the checks of one instance until `stop` is cancelled; `changed` is called on every state change.
pub(crate) fn spawn(instance: Arc<InstanceState>, check: HealthCheck, limits: (usize, usize), stop: CancellationToken, changed: Arc<dyn Fn() + Send + Sync>) {
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(check.interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = ticker.tick() => {}
            }
            let outcome = tokio::select! {
                _ = stop.cancelled() => return,
                r = probe(instance.addr, &check, limits.0, limits.1) => r,
            };
            let moved = {
                let mut health = instance.health.lock().unwrap_or_else(|p| p.into_inner());
                match health.as_mut() {
                    Some(h) => h.observe(&outcome, &check),
                    None => false,
                }
            };
            if moved {
                changed();
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds_move_the_state() {
        let check = HealthCheck { healthy_threshold: 3, unhealthy_threshold: 2, ..HealthCheck::default() };
        let mut h = HealthStatus::new();
        assert!(!h.observe(&Err("refused".into()), &check));
        assert_eq!(h.state, HealthState::Unknown);
        assert!(h.observe(&Ok(200), &check), "a first success makes a new instance healthy");
        assert_eq!(h.state, HealthState::Healthy);
        assert!(!h.observe(&Ok(500), &check));
        assert_eq!(h.last_error.as_deref(), Some("status 500 is not in 200..=200"));
        assert!(h.observe(&Err("timeout".into()), &check));
        assert_eq!(h.state, HealthState::Unhealthy);
        assert!(!h.observe(&Ok(200), &check));
        assert!(!h.observe(&Ok(200), &check));
        assert!(h.observe(&Ok(200), &check));
        assert_eq!((h.state, h.checks, h.consecutive_successes), (HealthState::Healthy, 7, 3));
    }
}
