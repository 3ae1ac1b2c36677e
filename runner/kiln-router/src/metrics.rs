//! Per-group and per-instance traffic metrics, read in time windows.
//!
//! The hot path only does relaxed atomic adds on a scope's counters (a group's and an instance's:
//! two scopes per request). A sampler task (every [`RouterConfig::sample_period`], 100 ms by
//! default) turns the cumulative counters into one delta per period and keeps the deltas of the
//! last [`RouterConfig::retention`]; a window is the sum of the deltas that fall in it, plus the
//! part of the current period not sampled yet when the window reaches "now".
//!
//! Reading a window sums the stored periods of every scope in it: its cost grows with the
//! window's length (about 150 ns per period per scope; `bench/router.sh` reads a 32 s window of
//! 4 scopes in about 0.2 ms), so an evaluator reading every 100 ms should ask for the periods it
//! evaluates, not the whole retention.
//!
//! Window boundaries are sampling boundaries: [`Metrics::window`]`(from, to)` holds every period
//! that *ends* in `(from, to]`. So consecutive windows `(t0, t1]`, `(t1, t2]`, ... partition the
//! traffic exactly (what an alarm evaluator reading one CloudWatch period at a time needs), and a
//! window may start up to one sample period before `from`.
//!
//! What is counted follows the Application Load Balancer's target-group metrics (ELB user guide,
//! "CloudWatch metrics for your Application Load Balancer" and "Troubleshoot your Application
//! Load Balancers"): `requests` (RequestCount), responses by status class
//! (HTTPCode_Target_2XX_Count ... plus the router's own 502/503/504, which ALB counts as
//! HTTPCode_ELB_5XX_Count, kept apart here as `proxy_5xx`), upstream connection errors
//! (TargetConnectionErrorCount) and latency (TargetResponseTime: from the moment the request
//! leaves the router until the upstream's response head arrives; not recorded for requests
//! that got no response).
//!
//! [`RouterConfig::sample_period`]: crate::RouterConfig::sample_period
//! [`RouterConfig::retention`]: crate::RouterConfig::retention

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::histogram::{AtomicHistogram, BUCKETS, Histogram};

/// Why a request to an upstream failed; each kind has a counter.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum UpstreamErrorKind {
    /// The TCP connect was refused or reset, or the HTTP handshake failed (502).
    Connect,
    /// The TCP connect did not finish within `connect_timeout` (504).
    ConnectTimeout,
    /// The connection failed after the request was sent: reset, closed, or a malformed or
    /// too-large response head (502).
    Response,
    /// No response head within `request_timeout` (504).
    Timeout,
    /// The response body failed part-way (the client's stream is cut).
    Body,
    /// The request was still in flight when a drain timed out and the router closed it (502
    /// when no response head had arrived yet).
    Aborted,
}

const ERROR_KINDS: usize = 6;

impl UpstreamErrorKind {
    fn index(self) -> usize {
        self as usize
    }
    const ALL: [UpstreamErrorKind; ERROR_KINDS] = [Self::Connect, Self::ConnectTimeout, Self::Response, Self::Timeout, Self::Body, Self::Aborted];
}

/// The counters of one scope (a group or an instance). Cumulative, lock-free.
pub(crate) struct ScopeCounters {
    requests: AtomicU64,
    status: [AtomicU64; 5],
    proxy_5xx: AtomicU64,
    errors: [AtomicU64; ERROR_KINDS],
    retries: AtomicU64,
    latency: AtomicHistogram,
}

impl ScopeCounters {
    fn new() -> Self {
        ScopeCounters {
            requests: AtomicU64::new(0),
            status: Default::default(),
            proxy_5xx: AtomicU64::new(0),
            errors: Default::default(),
            retries: AtomicU64::new(0),
            latency: AtomicHistogram::new(),
        }
    }
}

/// One scope's metrics: live counters plus the sampled history.
pub(crate) struct Scope {
    counters: ScopeCounters,
    history: Mutex<History>,
}

/// A sampled period's delta (sparse histogram; an idle period is not stored).
struct Sample {
    end: Instant,
    counts: Counts,
    latency: Histogram,
}

struct History {
    samples: VecDeque<Sample>,
    /// Cumulative values at the last sample, to turn the next reading into a delta.
    last: Counts,
    last_latency: Vec<u64>,
    last_sum: u64,
    last_end: Instant,
}

/// Plain counter values (no histogram), used for cumulative readings and deltas.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Counts {
    requests: u64,
    status: [u64; 5],
    proxy_5xx: u64,
    errors: [u64; ERROR_KINDS],
    retries: u64,
}

impl Counts {
    fn minus(&self, earlier: &Counts) -> Counts {
        let mut d = Counts {
            requests: self.requests.wrapping_sub(earlier.requests),
            proxy_5xx: self.proxy_5xx.wrapping_sub(earlier.proxy_5xx),
            retries: self.retries.wrapping_sub(earlier.retries),
            ..Counts::default()
        };
        for i in 0..5 {
            d.status[i] = self.status[i].wrapping_sub(earlier.status[i]);
        }
        for i in 0..ERROR_KINDS {
            d.errors[i] = self.errors[i].wrapping_sub(earlier.errors[i]);
        }
        d
    }
    fn add(&mut self, other: &Counts) {
        self.requests += other.requests;
        self.proxy_5xx += other.proxy_5xx;
        self.retries += other.retries;
        for i in 0..5 {
            self.status[i] += other.status[i];
        }
        for i in 0..ERROR_KINDS {
            self.errors[i] += other.errors[i];
        }
    }
    fn is_zero(&self) -> bool {
        *self == Counts::default()
    }
}

impl Scope {
    pub(crate) fn new(now: Instant) -> Arc<Self> {
        Arc::new(Scope {
            counters: ScopeCounters::new(),
            history: Mutex::new(History { samples: VecDeque::new(), last: Counts::default(), last_latency: vec![0; BUCKETS], last_sum: 0, last_end: now }),
        })
    }

    /// A response was sent to the client with this status (from the upstream or made by the router).
    pub(crate) fn record_response(&self, status: u16, by_proxy: bool) {
        let c = &self.counters;
        c.requests.fetch_add(1, Ordering::Relaxed);
        let class = (status / 100).clamp(1, 5) as usize - 1;
        c.status[class].fetch_add(1, Ordering::Relaxed);
        if by_proxy && class == 4 {
            c.proxy_5xx.fetch_add(1, Ordering::Relaxed);
        }
    }

    pub(crate) fn record_latency(&self, elapsed: Duration) {
        self.counters.latency.record(elapsed.as_micros().min(u64::MAX as u128) as u64);
    }

    pub(crate) fn record_error(&self, kind: UpstreamErrorKind) {
        self.counters.errors[kind.index()].fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn record_retry(&self) {
        self.counters.retries.fetch_add(1, Ordering::Relaxed);
    }

    fn read_counts(&self) -> Counts {
        let c = &self.counters;
        let mut out = Counts {
            requests: c.requests.load(Ordering::Relaxed),
            proxy_5xx: c.proxy_5xx.load(Ordering::Relaxed),
            retries: c.retries.load(Ordering::Relaxed),
            ..Counts::default()
        };
        for i in 0..5 {
            out.status[i] = c.status[i].load(Ordering::Relaxed);
        }
        for i in 0..ERROR_KINDS {
            out.errors[i] = c.errors[i].load(Ordering::Relaxed);
        }
        out
    }

    fn lock(&self) -> MutexGuard<'_, History> {
        self.history.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Closes the current period at `now`: stores its delta and forgets samples older than `keep`.
    pub(crate) fn sample(&self, now: Instant, keep: Duration) {
        let mut h = self.lock();
        let counts = self.read_counts();
        let mut dense = vec![0u64; BUCKETS];
        let sum = self.counters.latency.read_into(&mut dense);
        let delta = counts.minus(&h.last);
        let mut moved = false;
        for (cur, last) in dense.iter().zip(h.last_latency.iter_mut()) {
            let d = cur.wrapping_sub(*last);
            moved |= d != 0;
            *last = d;
        }
        if !delta.is_zero() || moved {
            let latency = Histogram::from_dense(&h.last_latency, sum.wrapping_sub(h.last_sum));
            h.samples.push_back(Sample { end: now, counts: delta, latency });
        }
        h.last = counts;
        h.last_latency.copy_from_slice(&dense);
        h.last_sum = sum;
        h.last_end = now;
        while h.samples.front().is_some_and(|s| now.saturating_duration_since(s.end) > keep) {
            h.samples.pop_front();
        }
    }

    /// The traffic of the periods ending in `(from, to]`, plus the unsampled part when `to` is
    /// at or after the last sample.
    pub(crate) fn window(&self, from: Instant, to: Instant) -> Stats {
        let h = self.lock();
        let mut counts = Counts::default();
        let mut dense = vec![0u64; BUCKETS];
        let mut sum = 0u64;
        for s in h.samples.iter().filter(|s| s.end > from && s.end <= to) {
            counts.add(&s.counts);
            sum = sum.wrapping_add(s.latency.add_to_dense(&mut dense));
        }
        if to >= h.last_end {
            counts.add(&self.read_counts().minus(&h.last));
            let mut live = vec![0u64; BUCKETS];
            let live_sum = self.counters.latency.read_into(&mut live);
            for ((d, l), last) in dense.iter_mut().zip(live.iter()).zip(h.last_latency.iter()) {
                *d += l.wrapping_sub(*last);
            }
            sum = sum.wrapping_add(live_sum.wrapping_sub(h.last_sum));
        }
        Stats::from_parts(counts, Histogram::from_dense(&dense, sum))
    }

    /// Everything since the router started.
    pub(crate) fn total(&self) -> Stats {
        let mut dense = vec![0u64; BUCKETS];
        let sum = self.counters.latency.read_into(&mut dense);
        Stats::from_parts(self.read_counts(), Histogram::from_dense(&dense, sum))
    }
}

/// The traffic of one scope (a group or an instance) in a window.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Stats {
    /// Responses sent to clients (from upstreams or made by the router).
    pub requests: u64,
    /// Responses by status class: `[1xx, 2xx, 3xx, 4xx, 5xx]`.
    pub status: [u64; 5],
    /// 5xx responses the router made itself (502, 503, 504), a subset of `status[4]`.
    pub proxy_5xx: u64,
    /// Upstream failures, by kind (a retried attempt counts here but not in `requests`).
    pub upstream_errors: BTreeMap<&'static str, u64>,
    /// Requests sent again to another instance because the first was never sent.
    pub retries: u64,
    /// Time from sending the request upstream to the response head (TargetResponseTime).
    pub latency: Histogram,
}

impl Stats {
    fn from_parts(c: Counts, latency: Histogram) -> Self {
        let upstream_errors = UpstreamErrorKind::ALL.iter().filter(|k| c.errors[k.index()] > 0).map(|k| (k.name(), c.errors[k.index()])).collect();
        Stats { requests: c.requests, status: c.status, proxy_5xx: c.proxy_5xx, upstream_errors, retries: c.retries, latency }
    }

    /// 2xx responses.
    pub fn count_2xx(&self) -> u64 {
        self.status[1]
    }
    /// 3xx responses.
    pub fn count_3xx(&self) -> u64 {
        self.status[2]
    }
    /// 4xx responses.
    pub fn count_4xx(&self) -> u64 {
        self.status[3]
    }
    /// 5xx responses, the router's own included.
    pub fn count_5xx(&self) -> u64 {
        self.status[4]
    }
    /// 5xx responses that came from upstreams (HTTPCode_Target_5XX_Count).
    pub fn target_5xx(&self) -> u64 {
        self.status[4] - self.proxy_5xx
    }
    /// 5xx responses / requests, 0.0 when there were none.
    pub fn rate_5xx(&self) -> f64 {
        if self.requests == 0 { 0.0 } else { self.count_5xx() as f64 / self.requests as f64 }
    }
    /// Upstream failures of every kind.
    pub fn upstream_error_total(&self) -> u64 {
        self.upstream_errors.values().sum()
    }
    /// Upstream failures of one kind.
    pub fn upstream_errors_of(&self, kind: UpstreamErrorKind) -> u64 {
        self.upstream_errors.get(kind.name()).copied().unwrap_or(0)
    }
}

impl UpstreamErrorKind {
    /// A stable name for records and logs.
    pub fn name(self) -> &'static str {
        match self {
            Self::Connect => "connect",
            Self::ConnectTimeout => "connect_timeout",
            Self::Response => "response",
            Self::Timeout => "timeout",
            Self::Body => "body",
            Self::Aborted => "aborted",
        }
    }
}

/// Every scope's traffic in one window.
#[derive(Clone, Debug, Default)]
pub struct Window {
    /// Per target group, by name.
    pub groups: BTreeMap<String, Stats>,
    /// Per instance, by id (removed instances stay while their history is retained).
    pub instances: BTreeMap<String, Stats>,
    /// Requests that matched no target group with an instance (503).
    pub unrouted: Stats,
}

/// The registry of scopes the sampler walks; scopes live as long as their history is useful.
pub(crate) struct Registry {
    scopes: Mutex<Vec<Named>>,
    pub(crate) unrouted: Arc<Scope>,
    keep: Duration,
}

struct Named {
    kind: ScopeKind,
    name: String,
    scope: Arc<Scope>,
    /// When the scope was removed from routing (its history is dropped `keep` later).
    retired: Option<Instant>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum ScopeKind {
    Group,
    Instance,
}

impl Registry {
    pub(crate) fn new(keep: Duration) -> Self {
        Registry { scopes: Mutex::new(Vec::new()), unrouted: Scope::new(Instant::now()), keep }
    }

    fn lock(&self) -> MutexGuard<'_, Vec<Named>> {
        self.scopes.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn scope(&self, kind: ScopeKind, name: &str) -> Arc<Scope> {
        let mut scopes = self.lock();
        // A name that comes back (an instance re-added, a group re-created) keeps its history.
        if let Some(n) = scopes.iter_mut().find(|n| n.kind == kind && n.name == name) {
            n.retired = None;
            return n.scope.clone();
        }
        let scope = Scope::new(Instant::now());
        scopes.push(Named { kind, name: name.to_string(), scope: scope.clone(), retired: None });
        scope
    }

    pub(crate) fn group(&self, name: &str) -> Arc<Scope> {
        self.scope(ScopeKind::Group, name)
    }

    pub(crate) fn instance(&self, id: &str) -> Arc<Scope> {
        self.scope(ScopeKind::Instance, id)
    }

    fn retire(&self, kind: ScopeKind, name: &str) {
        if let Some(n) = self.lock().iter_mut().find(|n| n.kind == kind && n.name == name) {
            n.retired = Some(Instant::now());
        }
    }

    fn knows(&self, kind: ScopeKind, name: &str) -> bool {
        self.lock().iter().any(|n| n.kind == kind && n.name == name)
    }

    pub(crate) fn knows_group(&self, name: &str) -> bool {
        self.knows(ScopeKind::Group, name)
    }

    pub(crate) fn knows_instance(&self, id: &str) -> bool {
        self.knows(ScopeKind::Instance, id)
    }

    pub(crate) fn retire_group(&self, name: &str) {
        self.retire(ScopeKind::Group, name)
    }

    pub(crate) fn retire_instance(&self, id: &str) {
        self.retire(ScopeKind::Instance, id)
    }

    /// One sampler tick.
    pub(crate) fn sample(&self, now: Instant) {
        let mut scopes = self.lock();
        scopes.retain(|n| n.retired.is_none_or(|t| now.saturating_duration_since(t) <= self.keep));
        for n in scopes.iter() {
            n.scope.sample(now, self.keep);
        }
        self.unrouted.sample(now, self.keep);
    }

    fn collect(&self, f: impl Fn(&Scope) -> Stats) -> Window {
        let scopes: Vec<(ScopeKind, String, Arc<Scope>)> = self.lock().iter().map(|n| (n.kind, n.name.clone(), n.scope.clone())).collect();
        let mut w = Window { unrouted: f(&self.unrouted), ..Window::default() };
        for (kind, name, scope) in scopes {
            let stats = f(&scope);
            match kind {
                ScopeKind::Group => w.groups.insert(name, stats),
                ScopeKind::Instance => w.instances.insert(name, stats),
            };
        }
        w
    }
}

/// Read access to the router's metrics; cheap to clone and to read often.
#[derive(Clone)]
pub struct Metrics {
    pub(crate) registry: Arc<Registry>,
}

impl Metrics {
    /// Traffic from `since` (rounded back to the sampling period that contains it) until now.
    pub fn window(&self, since: Instant) -> Window {
        self.window_between(since, Instant::now())
    }

    /// Traffic in the sampling periods that end in `(from, to]` (plus the unsampled part when
    /// `to` is now or later): consecutive calls with `to` of one as `from` of the next never
    /// count a request twice.
    pub fn window_between(&self, from: Instant, to: Instant) -> Window {
        self.registry.collect(|s| s.window(from, to))
    }

    /// Everything since the router started (not bounded by the retention).
    pub fn total(&self) -> Window {
        self.registry.collect(|s| s.total())
    }

    /// One group's traffic since `since`, `None` for a group the router never had.
    pub fn group_window(&self, group: &str, since: Instant) -> Option<Stats> {
        let scope = self.registry.lock().iter().find(|n| n.kind == ScopeKind::Group && n.name == group).map(|n| n.scope.clone())?;
        Some(scope.window(since, Instant::now()))
    }

    /// One instance's traffic since `since`, `None` for an instance the router never had.
    pub fn instance_window(&self, instance: &str, since: Instant) -> Option<Stats> {
        let scope = self.registry.lock().iter().find(|n| n.kind == ScopeKind::Instance && n.name == instance).map(|n| n.scope.clone())?;
        Some(scope.window(since, Instant::now()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_partition_the_samples() {
        let t0 = Instant::now();
        let s = Scope::new(t0);
        let keep = Duration::from_secs(60);
        for _ in 0..3 {
            s.record_response(200, false);
        }
        s.record_latency(Duration::from_micros(500));
        s.sample(t0 + Duration::from_millis(100), keep);
        s.record_response(503, true);
        s.record_response(500, false);
        s.record_error(UpstreamErrorKind::Connect);
        s.sample(t0 + Duration::from_millis(200), keep);
        // Nothing in the third period: not stored.
        s.sample(t0 + Duration::from_millis(300), keep);
        let first = s.window(t0, t0 + Duration::from_millis(100));
        assert_eq!((first.requests, first.count_2xx(), first.count_5xx()), (3, 3, 0));
        assert_eq!(first.latency.count(), 1);
        let second = s.window(t0 + Duration::from_millis(100), t0 + Duration::from_millis(200));
        assert_eq!((second.requests, second.count_5xx(), second.proxy_5xx, second.target_5xx()), (2, 2, 1, 1));
        assert_eq!(second.upstream_errors_of(UpstreamErrorKind::Connect), 1);
        assert_eq!(second.rate_5xx(), 1.0);
        // A window reaching now adds the unsampled part.
        s.record_response(404, false);
        let all = s.window(t0, Instant::now() + Duration::from_secs(1));
        assert_eq!((all.requests, all.count_4xx()), (6, 1));
        assert_eq!(all.rate_5xx(), 2.0 / 6.0);
        assert_eq!(s.total().requests, 6);
    }

    #[test]
    fn old_samples_are_forgotten() {
        let t0 = Instant::now();
        let s = Scope::new(t0);
        s.record_response(200, false);
        s.sample(t0 + Duration::from_millis(100), Duration::from_secs(1));
        s.sample(t0 + Duration::from_secs(5), Duration::from_secs(1));
        assert_eq!(s.window(t0, t0 + Duration::from_secs(5)).requests, 0);
        assert_eq!(s.total().requests, 1);
    }
}
