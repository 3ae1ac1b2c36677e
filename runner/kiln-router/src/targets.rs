//! Target groups, instances and the routing table requests read.
//!
//! The caller's changes (weights, in-service flags, instances added or removed, health) update a
//! `Registry` under one mutex and then publish a new immutable [`Table`]. Each request loads the
//! current table once (arc-swap, no lock), so it sees either the old state or the new one, never a
//! mix. Between groups the table holds a 100-slot schedule made by smooth weighted round robin
//! (nginx's algorithm): slot `n % 100` of a shared counter names the group, so over any run of
//! requests each group's share is within one request of its weight, whatever the concurrency.
//!
//! **Drain safety.** A request counts itself in flight on the instance it picked *before* it checks
//! that the table it read is still the current one (both `SeqCst`); a publisher stores the new
//! table and its version before it reads any in-flight count. So once `set_weights`,
//! `set_in_service` or `remove_instance` has returned, either a request that still holds the old
//! table is already counted (and a drain waits for it) or it will see the new version and choose
//! again. That is what lets a drain promise "no new requests" without a lock on the hot path.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::config::{Algorithm, HealthRouting};
use crate::health::{HealthState, HealthStatus};
use crate::metrics::Scope;
use crate::pool::Pool;

/// One upstream instance, shared by every table that routes to it and by its requests.
pub(crate) struct InstanceState {
    pub(crate) id: Arc<str>,
    pub(crate) addr: SocketAddr,
    pub(crate) group: Arc<str>,
    /// `host:port` of the instance, the Host header for requests that had none.
    pub(crate) authority: http::HeaderValue,
    pub(crate) metrics: Arc<Scope>,
    pub(crate) pool: Pool,
    pub(crate) health: Mutex<Option<HealthStatus>>,
    inflight: AtomicU64,
    drain_waiters: AtomicUsize,
    idle: Notify,
    /// Set when the instance left the registry: its connections are not pooled any more.
    pub(crate) removed: AtomicBool,
    /// Stops the instance's health checks (a child of the router's shutdown token).
    pub(crate) stop: CancellationToken,
}

impl InstanceState {
    pub(crate) fn new(id: Arc<str>, addr: SocketAddr, group: Arc<str>, metrics: Arc<Scope>, health: Option<HealthStatus>, stop: CancellationToken) -> Arc<Self> {
        let authority = http::HeaderValue::from_str(&addr.to_string()).unwrap_or_else(|_| http::HeaderValue::from_static("localhost"));
        Arc::new(InstanceState {
            id,
            addr,
            group,
            authority,
            metrics,
            pool: Pool::new(),
            health: Mutex::new(health),
            inflight: AtomicU64::new(0),
            drain_waiters: AtomicUsize::new(0),
            idle: Notify::new(),
            removed: AtomicBool::new(false),
            stop,
        })
    }

    /// Requests picked for this instance whose response has not finished.
    pub(crate) fn inflight(&self) -> u64 {
        self.inflight.load(Ordering::SeqCst)
    }

    pub(crate) fn health_state(&self) -> Option<HealthState> {
        self.health.lock().unwrap_or_else(|p| p.into_inner()).as_ref().map(|h| h.state)
    }

    /// Resolves once no request is in flight on this instance.
    pub(crate) async fn wait_idle(&self) {
        self.drain_waiters.fetch_add(1, Ordering::SeqCst);
        struct Waiter<'a>(&'a AtomicUsize);
        impl Drop for Waiter<'_> {
            fn drop(&mut self) {
                self.0.fetch_sub(1, Ordering::SeqCst);
            }
        }
        let _waiter = Waiter(&self.drain_waiters);
        loop {
            let notified = self.idle.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.inflight.load(Ordering::SeqCst) == 0 {
                return;
            }
            notified.await;
        }
    }
}

/// Counts one request in flight on an instance until dropped (with the response body).
pub(crate) struct InflightGuard(Arc<InstanceState>);

impl InflightGuard {
    fn new(instance: Arc<InstanceState>) -> Self {
        instance.inflight.fetch_add(1, Ordering::SeqCst);
        InflightGuard(instance)
    }

    pub(crate) fn instance(&self) -> &Arc<InstanceState> {
        &self.0
    }
}

impl Drop for InflightGuard {
    fn drop(&mut self) {
        let i = &self.0;
        if i.inflight.fetch_sub(1, Ordering::SeqCst) == 1 && i.drain_waiters.load(Ordering::SeqCst) > 0 {
            i.idle.notify_waiters();
        }
    }
}

/// A group as one table routes it.
pub(crate) struct GroupRoute {
    pub(crate) name: Arc<str>,
    pub(crate) weight: u8,
    pub(crate) metrics: Arc<Scope>,
    /// Instances new requests may go to.
    pub(crate) members: Box<[Arc<InstanceState>]>,
    /// The group's round-robin position, kept across tables.
    rr: Arc<AtomicUsize>,
}

impl GroupRoute {
    /// Picks an instance not in `exclude`, by the algorithm. A retry (`exclude` not empty) starts
    /// where the round robin stands without moving it, so retries do not shift the rotation.
    fn pick(&self, algorithm: Algorithm, exclude: &[Arc<InstanceState>]) -> Option<&Arc<InstanceState>> {
        let n = self.members.len();
        if n == 0 {
            return None;
        }
        let position = if exclude.is_empty() { self.rr.fetch_add(1, Ordering::Relaxed) } else { self.rr.load(Ordering::Relaxed) };
        let start = position % n;
        let candidates = (0..n).map(|k| &self.members[(start + k) % n]).filter(|m| !exclude.iter().any(|e| Arc::ptr_eq(e, m)));
        match algorithm {
            Algorithm::RoundRobin => candidates.into_iter().next(),
            // `min_by_key` keeps the first of equal minima: the round-robin order breaks ties.
            Algorithm::LeastOutstanding => candidates.min_by_key(|m| m.inflight()),
        }
    }
}

/// An immutable routing state; requests load it once.
pub(crate) struct Table {
    pub(crate) version: u64,
    pub(crate) groups: Box<[GroupRoute]>,
    /// Group index per slot, 100 slots (empty when every weight is 0).
    schedule: Box<[u8]>,
    /// The slot counter. A table with the same groups and weights as the one before shares it,
    /// so taking instances in and out of service never disturbs the split.
    next: Arc<AtomicU64>,
}

impl Table {
    fn same_split(&self, groups: &[GroupRoute]) -> bool {
        self.groups.len() == groups.len() && self.groups.iter().zip(groups).all(|(a, b)| a.name == b.name && a.weight == b.weight)
    }
}

/// Smooth weighted round robin over `weights` (summing to 100, or all 0): a 100-slot schedule in
/// which every prefix gives each group its share to within one slot.
pub(crate) fn schedule(weights: &[u8]) -> Box<[u8]> {
    let total: i32 = weights.iter().map(|w| *w as i32).sum();
    if total == 0 {
        return Box::new([]);
    }
    let mut current = vec![0i32; weights.len()];
    let mut out = Vec::with_capacity(total as usize);
    for _ in 0..total {
        let mut best = 0;
        for (i, w) in weights.iter().enumerate() {
            current[i] += *w as i32;
            if current[i] > current[best] {
                best = i;
            }
        }
        current[best] -= total;
        out.push(best as u8);
    }
    out.into_boxed_slice()
}

/// A request's choice: the group, the instance, and its in-flight count.
pub(crate) struct Selected {
    pub(crate) group: Arc<Scope>,
    pub(crate) guard: InflightGuard,
}

/// Why no instance could be chosen.
pub(crate) enum NoTarget {
    /// Every weight is 0 (or there are no groups).
    NoGroup,
    /// The chosen group has no instance in service (ALB answers 503 for a target group with no
    /// registered targets); carries the group's metrics.
    EmptyGroup(Arc<Scope>),
    /// A retry found no other instance in the group.
    NoOther,
}

/// The live table plus its version, and the selection protocol.
pub(crate) struct Routes {
    table: arc_swap::ArcSwap<Table>,
    version: AtomicU64,
}

/// Choosing again because the table changed under a request is bounded; after that many changes
/// in a row the last choice stands (a caller would have to republish continuously to get there).
const MAX_RESELECT: usize = 64;

impl Routes {
    pub(crate) fn new() -> Self {
        Routes { table: arc_swap::ArcSwap::from_pointee(Table { version: 0, groups: Box::new([]), schedule: Box::new([]), next: Arc::new(AtomicU64::new(0)) }), version: AtomicU64::new(0) }
    }

    pub(crate) fn load(&self) -> Arc<Table> {
        self.table.load_full()
    }

    /// Publishes a new table: afterwards no request can start on an instance it does not route to
    /// without being counted in flight first (see the module docs).
    pub(crate) fn publish(&self, groups: Vec<GroupRoute>) {
        let version = self.version.load(Ordering::SeqCst) + 1;
        let weights: Vec<u8> = groups.iter().map(|g| g.weight).collect();
        let previous = self.table.load();
        let next = if previous.same_split(&groups) { previous.next.clone() } else { Arc::new(AtomicU64::new(0)) };
        let table = Table { version, groups: groups.into_boxed_slice(), schedule: schedule(&weights), next };
        self.table.store(Arc::new(table));
        self.version.store(version, Ordering::SeqCst);
    }

    /// Picks a group by weight, then an instance in it.
    pub(crate) fn select(&self, algorithm: Algorithm) -> Result<Selected, NoTarget> {
        let mut result = Err(NoTarget::NoGroup);
        // A request chooses again on the slot it already took while the split is the same, so
        // every request takes exactly one slot.
        let mut taken: Option<(*const AtomicU64, u64)> = None;
        for _ in 0..MAX_RESELECT {
            let table = self.table.load();
            if table.schedule.is_empty() {
                return Err(NoTarget::NoGroup);
            }
            let n = match taken {
                Some((counter, n)) if std::ptr::eq(counter, Arc::as_ptr(&table.next)) => n,
                _ => {
                    let n = table.next.fetch_add(1, Ordering::Relaxed);
                    taken = Some((Arc::as_ptr(&table.next), n));
                    n
                }
            };
            let slot = n % table.schedule.len() as u64;
            let group = &table.groups[table.schedule[slot as usize] as usize];
            let Some(instance) = group.pick(algorithm, &[]) else {
                return Err(NoTarget::EmptyGroup(group.metrics.clone()));
            };
            #[cfg(test)]
            tests::widen_race();
            let guard = InflightGuard::new(instance.clone());
            result = Ok(Selected { group: group.metrics.clone(), guard });
            if self.version.load(Ordering::SeqCst) == table.version {
                break;
            }
        }
        result
    }

    /// Picks another instance of the same group for a retry, excluding those tried.
    pub(crate) fn select_other(&self, algorithm: Algorithm, group: &str, tried: &[Arc<InstanceState>]) -> Result<InflightGuard, NoTarget> {
        let mut result = Err(NoTarget::NoOther);
        for _ in 0..MAX_RESELECT {
            let table = self.table.load();
            let Some(route) = table.groups.iter().find(|g| &*g.name == group) else { return Err(NoTarget::NoOther) };
            let Some(instance) = route.pick(algorithm, tried) else { return Err(NoTarget::NoOther) };
            result = Ok(InflightGuard::new(instance.clone()));
            if self.version.load(Ordering::SeqCst) == table.version {
                break;
            }
        }
        result
    }
}

/// An instance as the registry keeps it.
pub(crate) struct Member {
    pub(crate) state: Arc<InstanceState>,
    pub(crate) in_service: bool,
}

/// A group as the registry keeps it.
pub(crate) struct GroupEntry {
    pub(crate) name: Arc<str>,
    pub(crate) weight: u8,
    pub(crate) metrics: Arc<Scope>,
    pub(crate) members: Vec<Member>,
    pub(crate) rr: Arc<AtomicUsize>,
}

/// The caller's view of the targets, from which tables are made.
#[derive(Default)]
pub(crate) struct Registry {
    pub(crate) groups: Vec<GroupEntry>,
    /// Removed instances, kept while requests may still be in flight on them (for drains).
    pub(crate) retired: Vec<Arc<InstanceState>>,
}

impl Registry {
    /// The group routes for the current state.
    pub(crate) fn routes(&self, health: HealthRouting) -> Vec<GroupRoute> {
        self.groups
            .iter()
            .map(|g| {
                let in_service: Vec<&Arc<InstanceState>> = g.members.iter().filter(|m| m.in_service).map(|m| &m.state).collect();
                let mut members: Vec<Arc<InstanceState>> = match health {
                    HealthRouting::ReportOnly => in_service.iter().map(|s| (*s).clone()).collect(),
                    HealthRouting::ExcludeUnhealthy => in_service.iter().filter(|s| s.health_state() != Some(HealthState::Unhealthy)).map(|s| (*s).clone()).collect(),
                };
                if members.is_empty() && !in_service.is_empty() {
                    // Every in-service instance is unhealthy: fail open, as ALB does.
                    members = in_service.iter().map(|s| (*s).clone()).collect();
                }
                GroupRoute { name: g.name.clone(), weight: g.weight, metrics: g.metrics.clone(), members: members.into_boxed_slice(), rr: g.rr.clone() }
            })
            .collect()
    }

    pub(crate) fn find(&self, id: &str) -> Option<(&GroupEntry, &Member)> {
        self.groups.iter().find_map(|g| g.members.iter().find(|m| &*m.state.id == id).map(|m| (g, m)))
    }

    pub(crate) fn group_names(&self) -> String {
        let names: Vec<&str> = self.groups.iter().map(|g| &*g.name).collect();
        if names.is_empty() { "none".to_string() } else { names.join(", ") }
    }

    /// Forgets retired instances nothing is in flight on.
    pub(crate) fn prune_retired(&mut self) {
        self.retired.retain(|i| i.inflight() > 0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(s: &[u8], groups: usize) -> Vec<usize> {
        let mut c = vec![0; groups];
        for g in s {
            c[*g as usize] += 1;
        }
        c
    }

    #[test]
    fn schedule_gives_exact_shares_and_bounded_prefix_error() {
        for weights in [vec![90u8, 10], vec![50, 50], vec![0, 100], vec![100, 0], vec![1, 99], vec![33, 33, 34], vec![7, 0, 93]] {
            let s = schedule(&weights);
            assert_eq!(s.len(), 100);
            assert_eq!(counts(&s, weights.len()), weights.iter().map(|w| *w as usize).collect::<Vec<_>>(), "{weights:?}");
            // Every prefix is within one request of the exact share.
            for k in 1..=100usize {
                let c = counts(&s[..k], weights.len());
                for (g, w) in weights.iter().enumerate() {
                    let exact = k as f64 * *w as f64 / 100.0;
                    assert!((c[g] as f64 - exact).abs() < 1.0 + 1e-9, "{weights:?} prefix {k} group {g}: {} vs {exact}", c[g]);
                }
            }
        }
        assert!(schedule(&[0, 0]).is_empty());
    }

    thread_local! {
        /// Set on the drain-race test's request thread: its next `select` pauses between
        /// reading the table and counting the request in flight.
        static PAUSE_HERE: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    }
    /// 2 while that request is paused, 3 to let it go.
    static PAUSE: std::sync::atomic::AtomicU8 = std::sync::atomic::AtomicU8::new(0);

    pub(super) fn widen_race() {
        if PAUSE_HERE.with(|p| p.replace(false)) {
            PAUSE.store(2, Ordering::SeqCst);
            while PAUSE.load(Ordering::SeqCst) != 3 {
                std::thread::yield_now();
            }
        }
    }

    fn instance(id: &str) -> Arc<InstanceState> {
        let now = std::time::Instant::now();
        InstanceState::new(Arc::from(id), "127.0.0.1:9".parse().unwrap(), Arc::from("g"), Scope::new(now), None, CancellationToken::new())
    }

    fn route(members: &[&Arc<InstanceState>], rr: &Arc<AtomicUsize>) -> Vec<GroupRoute> {
        let now = std::time::Instant::now();
        vec![GroupRoute { name: Arc::from("g"), weight: 100, metrics: Scope::new(now), members: members.iter().map(|m| (*m).clone()).collect(), rr: rr.clone() }]
    }

    #[test]
    fn no_request_starts_on_an_instance_after_a_drain_found_it_idle() {
        // A request reads the table while `x` is in it and pauses before counting itself in flight.
        // Meanwhile `x` is taken out and a drain reads its in-flight count: 0, so it is declared
        // drained. The request must then not go to `x` (it sees the new version and chooses again):
        // that is the promise `Router::drain` makes, without a lock on the request path.
        let routes = Arc::new(Routes::new());
        let (x, y) = (instance("x"), instance("y"));
        let rr = Arc::new(AtomicUsize::new(0));
        routes.publish(route(&[&x], &rr));
        let request = {
            let routes = routes.clone();
            std::thread::spawn(move || {
                PAUSE_HERE.with(|p| p.set(true));
                routes.select(Algorithm::RoundRobin).ok().map(|s| s.guard.instance().id.to_string())
            })
        };
        while PAUSE.load(Ordering::SeqCst) != 2 {
            std::thread::yield_now();
        }
        routes.publish(route(&[&y], &rr));
        assert_eq!(x.inflight(), 0, "the paused request has not counted itself yet");
        PAUSE.store(3, Ordering::SeqCst);
        assert_eq!(request.join().unwrap().as_deref(), Some("y"));
        assert_eq!(x.inflight(), 0);
        PAUSE.store(0, Ordering::SeqCst);
    }

    #[test]
    fn choosing_again_keeps_the_slot_already_taken() {
        // Republishing with the same split shares the slot counter, and a request that chooses
        // again reuses its slot: 100 requests with a republish before each still split 90/10.
        let routes = Routes::new();
        let (a, b) = (instance("a"), instance("b"));
        let (ra, rb) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let groups = |weights: (u8, u8)| {
            let now = std::time::Instant::now();
            vec![
                GroupRoute { name: Arc::from("ga"), weight: weights.0, metrics: Scope::new(now), members: vec![a.clone()].into(), rr: ra.clone() },
                GroupRoute { name: Arc::from("gb"), weight: weights.1, metrics: Scope::new(now), members: vec![b.clone()].into(), rr: rb.clone() },
            ]
        };
        routes.publish(groups((90, 10)));
        let mut to_b = 0;
        for _ in 0..100 {
            routes.publish(groups((90, 10)));
            let s = routes.select(Algorithm::RoundRobin).ok().unwrap();
            to_b += usize::from(Arc::ptr_eq(s.guard.instance(), &b));
        }
        assert_eq!(to_b, 10);
    }

    #[test]
    fn ten_percent_is_spread_not_bunched() {
        let s = schedule(&[90, 10]);
        let positions: Vec<usize> = s.iter().enumerate().filter(|(_, g)| **g == 1).map(|(i, _)| i).collect();
        assert_eq!(positions.len(), 10);
        for w in positions.windows(2) {
            assert_eq!(w[1] - w[0], 10);
        }
    }
}
