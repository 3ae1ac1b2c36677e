//! kiln-router: the load balancer of a local kiln deployment.
//!
//! A reverse proxy (hyper 1, tokio) that stands where CodeDeploy's load balancer stands: clients
//! talk to it over HTTP/1.1 or HTTP/2 (h2c with prior knowledge; no TLS), and it forwards each
//! request over HTTP/1.1 keep-alive connections to one instance of one *target group*: the
//! original and the replacement set of a deployment, "blue" and "green", or any names. It has no
//! deploy logic: the deploy engine tells it the weights, which instances are in service, and
//! when to drain, and reads its metrics to evaluate alarms.
//!
//! # Semantics (and where they come from)
//!
//! - **Weights** are integer percentages per group that sum to 100, as CodeDeploy's traffic
//!   shifting sets them (`TimeBasedCanary`/`TimeBasedLinear` percentages, CodeDeploy user guide
//!   "Working with deployment configurations"); all 0 means "send nothing" (503). The split is
//!   deterministic: a 100-slot smooth weighted round robin, so 10 % gets 10 requests in every 100,
//!   spread evenly (see `targets.rs`). Within a group: round robin or least outstanding requests
//!   ([`Algorithm`], ALB's two algorithms).
//! - **Updates are atomic.** Each request reads one immutable routing table (arc-swap); the
//!   caller's changes publish a new one. When [`Router::set_weights`],
//!   [`Router::set_in_service`] or [`Router::remove_instance`] returns, no new request can reach an
//!   instance they took out of routing.
//! - **Draining** ([`Router::drain`]) waits until the requests in flight on a set of instances have
//!   finished, response bodies included, up to a timeout (ALB's deregistration delay, default
//!   300 s); then the router closes their upstream connections, which ALB answers with 502.
//! - **Upstream failures** are answered as ALB answers them: 502 (refused, reset, malformed), 503
//!   (no instance), 504 (connect or response timeout), and counted against the instance and group
//!   (`proxy_5xx` apart from the upstream's own 5xx, like HTTPCode_ELB_5XX vs HTTPCode_Target_5XX).
//!   Optional retries ([`RetryPolicy`]) go to another instance only if the request was never sent.
//! - **Metrics** ([`Metrics`]) per group and per instance, in windows: requests, status classes,
//!   5xx count and rate, upstream errors by kind, retries, and a latency histogram (p50/p90/p99)
//!   of the time to the response head (ALB's TargetResponseTime). Recording is a few relaxed
//!   atomic adds; a 100 ms sampler makes the windows.
//! - **Health checks** ([`HealthCheck`]): optional, per instance, ALB's settings and defaults;
//!   reported to the caller, and routing-relevant only with [`HealthRouting::ExcludeUnhealthy`]
//!   (with ALB's fail-open when a whole group is unhealthy).
//! - **Headers** as an intermediary must (see `headers.rs`): hop-by-hop fields removed both ways,
//!   `X-Forwarded-For`/`-Proto`/`-Port`, `Forwarded` and `Via` added, `Host` preserved.
//!
//! # Security decisions
//!
//! - Listens on 127.0.0.1 unless the caller asks otherwise; port 0 gives a free port.
//! - Request and response heads are bounded ([`RouterConfig::max_header_bytes`], `max_headers`),
//!   clients have [`RouterConfig::header_read_timeout`] to send a head (slow loris), and bodies are
//!   streamed frame by frame, never buffered whole, so memory per request is bounded.
//! - Request smuggling: hyper refuses ambiguous framing from clients; the router drops
//!   `Content-Length` when a message came with `Transfer-Encoding`, so re-framed bodies never
//!   carry a length that disagrees with them. `Proxy`/`Proxy-*` fields never reach an upstream
//!   (httpoxy). CONNECT is refused (405), upgrades are not proxied.
//! - Error responses the router makes name the failure class, never an upstream address.
//! - Upstream connections only go to the addresses the caller registered.
//!
//! # Example
//!
//! ```no_run
//! # async fn demo() -> Result<(), kiln_router::RouterError> {
//! use kiln_router::{DrainSet, InstanceSpec, Router, RouterConfig, TargetGroup};
//! let router = Router::start(
//!     RouterConfig::default(),
//!     vec![
//!         TargetGroup::new("blue", 100).instance(InstanceSpec::new("blue-1", "127.0.0.1:8001".parse().unwrap())),
//!         TargetGroup::new("green", 0).instance(InstanceSpec::new("green-1", "127.0.0.1:8002".parse().unwrap())),
//!     ],
//! )
//! .await?;
//! let since = std::time::Instant::now();
//! router.set_weights([("blue", 90), ("green", 10)])?; // canary
//! let green = router.metrics().window(since).groups["green"].rate_5xx();
//! # let _ = green;
//! router.set_weights([("blue", 0), ("green", 100)])?;
//! let report = router.drain(DrainSet::Group("blue".into())).await?;
//! assert!(report.drained);
//! router.shutdown().await;
//! # Ok(()) }
//! ```

mod body;
mod config;
mod error;
mod headers;
mod health;
mod histogram;
mod metrics;
mod pool;
mod proxy;
mod router;
mod server;
mod spec;
mod targets;

pub use body::{BoxError, ProxyBody};
pub use config::{Algorithm, HealthCheck, HealthRouting, RetryPolicy, RouterConfig};
pub use error::RouterError;
pub use health::{HealthState, HealthStatus};
pub use histogram::Histogram;
pub use metrics::{Metrics, Stats, UpstreamErrorKind, Window};
pub use router::Router;
pub use spec::{DrainReport, DrainSet, GroupStatus, InstanceSpec, InstanceStatus, TargetGroup};
