//! The router handle: start, reconfigure, drain, observe, shut down.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant};

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::{HealthRouting, RouterConfig};
use crate::error::RouterError;
use crate::health::{self, HealthStatus};
use crate::metrics::{self, Metrics};
use crate::pool::PoolSettings;
use crate::server;
use crate::spec::{DrainReport, DrainSet, GroupStatus, InstanceSpec, InstanceStatus, TargetGroup, validate_group_name, validate_weights};
use crate::targets::{GroupEntry, InstanceState, Member, Registry, Routes};

/// How long a drain keeps waiting after it cut the connections of its instances.
const AFTER_CUT: Duration = Duration::from_secs(1);

/// State shared by the handle, the listener, every request and the background tasks.
pub(crate) struct Shared {
    pub(crate) config: RouterConfig,
    pub(crate) routes: Routes,
    registry: Mutex<Registry>,
    pub(crate) metrics: Arc<metrics::Registry>,
    pub(crate) pool_settings: PoolSettings,
    /// Cancelled to stop accepting and close connections gracefully (and stop health checks).
    pub(crate) shutdown: CancellationToken,
    /// Cancelled when the graceful shutdown ran out of time: connections are dropped.
    pub(crate) hard_stop: CancellationToken,
    health_changes: watch::Sender<u64>,
}

impl Shared {
    fn registry(&self) -> MutexGuard<'_, Registry> {
        self.registry.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Publishes the registry's state as the new routing table (call with the registry locked).
    fn publish(&self, registry: &Registry) {
        self.routes.publish(registry.routes(self.config.health_routing));
    }

    fn health_changed(&self) {
        if self.config.health_routing == HealthRouting::ExcludeUnhealthy {
            let registry = self.registry();
            self.publish(&registry);
        }
        self.health_changes.send_modify(|n| *n += 1);
    }
}

/// Closes the router when the last handle is dropped (graceful: open requests finish).
struct Owner {
    shared: Arc<Shared>,
    local_addr: SocketAddr,
    tracker: TaskTracker,
}

impl Drop for Owner {
    fn drop(&mut self) {
        self.shared.shutdown.cancel();
    }
}

/// A running router. Cheap to clone; every clone controls the same router, which stops
/// accepting when [`Router::shutdown`] is called or the last clone is dropped.
#[derive(Clone)]
pub struct Router {
    owner: Arc<Owner>,
}

impl Router {
    /// Binds the listener and starts serving with these target groups. Must be called within a
    /// tokio runtime (with the time and I/O drivers enabled); the router's tasks run on it.
    pub async fn start(config: RouterConfig, groups: Vec<TargetGroup>) -> Result<Router, RouterError> {
        config.validate()?;
        let mut seen_ids = std::collections::HashSet::new();
        for (i, g) in groups.iter().enumerate() {
            validate_group_name(&g.name)?;
            if groups[..i].iter().any(|o| o.name == g.name) {
                return Err(RouterError::DuplicateGroup { name: g.name.clone() });
            }
            for inst in &g.instances {
                inst.validate()?;
                if !seen_ids.insert(inst.id.clone()) {
                    return Err(RouterError::DuplicateInstance { id: inst.id.clone(), group: g.name.clone() });
                }
            }
        }
        let weights: Vec<(&str, u8)> = groups.iter().map(|g| (g.name.as_str(), g.weight)).collect();
        validate_weights(&weights)?;

        let listener = TcpListener::bind(config.listen).await.map_err(|source| RouterError::Bind { addr: config.listen, source })?;
        let local_addr = listener.local_addr().map_err(|source| RouterError::Bind { addr: config.listen, source })?;
        let pool_settings = PoolSettings {
            connect_timeout: config.connect_timeout,
            idle_timeout: config.idle_timeout,
            max_idle: config.max_idle_per_instance,
            max_header_bytes: config.max_header_bytes,
            max_headers: config.max_headers,
        };
        let shared = Arc::new(Shared {
            metrics: Arc::new(metrics::Registry::new(config.retention)),
            config,
            routes: Routes::new(),
            registry: Mutex::new(Registry::default()),
            pool_settings,
            shutdown: CancellationToken::new(),
            hard_stop: CancellationToken::new(),
            health_changes: watch::channel(0).0,
        });
        {
            let mut registry = shared.registry();
            for g in groups {
                let name: Arc<str> = Arc::from(g.name.as_str());
                registry.groups.push(GroupEntry { metrics: shared.metrics.group(&name), name, weight: g.weight, members: Vec::new(), rr: Default::default() });
                for inst in g.instances {
                    insert_instance(&shared, &mut registry, &g.name, inst);
                }
            }
            shared.publish(&registry);
        }
        let tracker = TaskTracker::new();
        tracker.spawn(server::serve(listener, shared.clone(), tracker.clone()));
        tracker.spawn(sampler(shared.clone()));
        Ok(Router { owner: Arc::new(Owner { shared, local_addr, tracker }) })
    }

    fn shared(&self) -> &Arc<Shared> {
        &self.owner.shared
    }

    fn live(&self) -> Result<&Arc<Shared>, RouterError> {
        let shared = self.shared();
        if shared.shutdown.is_cancelled() { Err(RouterError::ShutDown) } else { Ok(shared) }
    }

    /// The address the router listens on (with the real port when the config asked for port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.owner.local_addr
    }

    /// The traffic metrics.
    pub fn metrics(&self) -> Metrics {
        Metrics { registry: self.shared().metrics.clone() }
    }

    /// Sets every group's weight at once (each named exactly once, 0..=100, summing to 100 or all
    /// 0). When this returns, no new request goes to a group whose weight became 0.
    pub fn set_weights<S: AsRef<str>>(&self, weights: impl IntoIterator<Item = (S, u8)>) -> Result<(), RouterError> {
        let shared = self.live()?;
        let given: Vec<(S, u8)> = weights.into_iter().collect();
        let given: Vec<(&str, u8)> = given.iter().map(|(n, w)| (n.as_ref(), *w)).collect();
        let mut registry = shared.registry();
        let show = || given.iter().map(|(n, w)| format!("{n}={w}")).collect::<Vec<_>>().join(", ");
        for (i, (name, _)) in given.iter().enumerate() {
            if !registry.groups.iter().any(|g| &*g.name == *name) {
                return Err(RouterError::UnknownGroup { name: name.to_string(), known: registry.group_names() });
            }
            if given[..i].iter().any(|(n, _)| n == name) {
                return Err(RouterError::InvalidWeights { given: show(), problem: format!("{name} is named twice") });
            }
        }
        if let Some(missing) = registry.groups.iter().find(|g| !given.iter().any(|(n, _)| *n == &*g.name)) {
            return Err(RouterError::InvalidWeights { given: show(), problem: format!("group {} has no weight; name every group", missing.name) });
        }
        validate_weights(&given)?;
        for g in registry.groups.iter_mut() {
            g.weight = given.iter().find(|(n, _)| *n == &*g.name).map(|(_, w)| *w).unwrap_or(0);
        }
        shared.publish(&registry);
        Ok(())
    }

    /// Each group's weight, in the order the groups were added.
    pub fn weights(&self) -> Vec<(String, u8)> {
        self.shared().registry().groups.iter().map(|g| (g.name.to_string(), g.weight)).collect()
    }

    /// Adds an empty group with weight 0.
    pub fn add_group(&self, name: &str) -> Result<(), RouterError> {
        let shared = self.live()?;
        validate_group_name(name)?;
        let mut registry = shared.registry();
        if registry.groups.iter().any(|g| &*g.name == name) {
            return Err(RouterError::DuplicateGroup { name: name.to_string() });
        }
        registry.groups.push(GroupEntry { name: Arc::from(name), weight: 0, metrics: shared.metrics.group(name), members: Vec::new(), rr: Default::default() });
        shared.publish(&registry);
        Ok(())
    }

    /// Removes a group whose weight is 0, and its instances (requests in flight on them finish;
    /// [`DrainSet::Group`] still finds them).
    pub fn remove_group(&self, name: &str) -> Result<(), RouterError> {
        let shared = self.live()?;
        let mut registry = shared.registry();
        let Some(index) = registry.groups.iter().position(|g| &*g.name == name) else {
            return Err(RouterError::UnknownGroup { name: name.to_string(), known: registry.group_names() });
        };
        if registry.groups[index].weight > 0 {
            return Err(RouterError::GroupHasWeight { name: name.to_string(), weight: registry.groups[index].weight });
        }
        let group = registry.groups.remove(index);
        shared.publish(&registry);
        for m in group.members {
            retire(&shared.metrics, &mut registry, m.state);
        }
        shared.metrics.retire_group(name);
        Ok(())
    }

    /// Adds an instance to a group; it gets requests at once if `in_service` (and the group has weight).
    pub fn add_instance(&self, group: &str, instance: InstanceSpec) -> Result<(), RouterError> {
        let shared = self.live()?;
        instance.validate()?;
        let mut registry = shared.registry();
        if !registry.groups.iter().any(|g| &*g.name == group) {
            return Err(RouterError::UnknownGroup { name: group.to_string(), known: registry.group_names() });
        }
        if let Some((g, _)) = registry.find(&instance.id) {
            return Err(RouterError::DuplicateInstance { id: instance.id, group: g.name.to_string() });
        }
        insert_instance(shared, &mut registry, group, instance);
        shared.publish(&registry);
        Ok(())
    }

    /// Removes an instance: no new requests from the moment this returns; requests in flight
    /// finish (await [`Router::drain`] with its id), then its connections close.
    pub fn remove_instance(&self, id: &str) -> Result<(), RouterError> {
        let shared = self.live()?;
        let mut registry = shared.registry();
        let Some(index) = registry.groups.iter().position(|g| g.members.iter().any(|m| &*m.state.id == id)) else {
            return Err(RouterError::UnknownInstance { id: id.to_string() });
        };
        let members = &mut registry.groups[index].members;
        let Some(pos) = members.iter().position(|m| &*m.state.id == id) else {
            return Err(RouterError::UnknownInstance { id: id.to_string() });
        };
        let member = members.remove(pos);
        shared.publish(&registry);
        retire(&shared.metrics, &mut registry, member.state);
        Ok(())
    }

    /// Takes an instance in or out of service. Out of service: no new requests from the moment
    /// this returns; requests in flight finish (await [`Router::drain`]).
    pub fn set_in_service(&self, id: &str, in_service: bool) -> Result<(), RouterError> {
        let shared = self.live()?;
        let mut registry = shared.registry();
        let member = registry.groups.iter_mut().flat_map(|g| g.members.iter_mut()).find(|m| &*m.state.id == id);
        let Some(member) = member else { return Err(RouterError::UnknownInstance { id: id.to_string() }) };
        member.in_service = in_service;
        shared.publish(&registry);
        Ok(())
    }

    /// Waits until no request is in flight on the set, up to the configured `drain_timeout`.
    pub async fn drain(&self, set: DrainSet) -> Result<DrainReport, RouterError> {
        self.drain_with_timeout(set, self.shared().config.drain_timeout).await
    }

    /// Waits until no request is in flight on the set, up to `timeout`; then closes the
    /// connections of the instances still busy (those requests fail, as when ALB's
    /// deregistration delay ends). Refused for an instance that can still get new requests.
    pub async fn drain_with_timeout(&self, set: DrainSet, timeout: Duration) -> Result<DrainReport, RouterError> {
        let instances = self.drain_targets(&set)?;
        let started = Instant::now();
        let wait_all = async {
            for i in &instances {
                i.wait_idle().await;
            }
        };
        let drained = tokio::time::timeout(timeout, wait_all).await.is_ok();
        let mut cut = 0;
        if !drained {
            for i in &instances {
                let n = i.inflight();
                if n > 0 {
                    cut += n;
                    i.pool.abort_all();
                }
            }
            let _ = tokio::time::timeout(AFTER_CUT, async {
                for i in &instances {
                    i.wait_idle().await;
                }
            })
            .await;
        }
        for i in &instances {
            if i.removed.load(std::sync::atomic::Ordering::SeqCst) {
                i.pool.clear_idle();
            }
        }
        self.shared().registry().prune_retired();
        let remaining = instances.iter().map(|i| i.inflight()).sum();
        Ok(DrainReport { drained, cut, remaining, waited: started.elapsed() })
    }

    fn drain_targets(&self, set: &DrainSet) -> Result<Vec<Arc<InstanceState>>, RouterError> {
        let registry = self.shared().registry();
        let routed = |g: &GroupEntry, m: &Member| m.in_service && g.weight > 0;
        let mut out = Vec::new();
        match set {
            DrainSet::Instances(ids) => {
                for id in ids {
                    let mut found = false;
                    if let Some((g, m)) = registry.find(id) {
                        if routed(g, m) {
                            return Err(RouterError::StillRouted { id: id.clone(), group: g.name.to_string(), weight: g.weight });
                        }
                        out.push(m.state.clone());
                        found = true;
                    }
                    for r in registry.retired.iter().filter(|r| &*r.id == id.as_str()) {
                        out.push(r.clone());
                        found = true;
                    }
                    // A removed instance that already finished is drained.
                    if !found && !self.shared().metrics.knows_instance(id) {
                        return Err(RouterError::UnknownInstance { id: id.clone() });
                    }
                }
            }
            DrainSet::Group(name) => {
                let group = registry.groups.iter().find(|g| &*g.name == name.as_str());
                match group {
                    Some(g) => {
                        if let Some(m) = g.members.iter().find(|m| routed(g, m)) {
                            return Err(RouterError::StillRouted { id: m.state.id.to_string(), group: name.clone(), weight: g.weight });
                        }
                        out.extend(g.members.iter().map(|m| m.state.clone()));
                    }
                    None if self.shared().metrics.knows_group(name) => {}
                    None => return Err(RouterError::UnknownGroup { name: name.clone(), known: registry.group_names() }),
                }
                out.extend(registry.retired.iter().filter(|r| &*r.group == name.as_str()).cloned());
            }
        }
        Ok(out)
    }

    /// Every group and instance as routed now.
    pub fn status(&self) -> Vec<GroupStatus> {
        let shared = self.shared();
        let table = shared.routes.load();
        let registry = shared.registry();
        registry
            .groups
            .iter()
            .map(|g| {
                let route = table.groups.iter().find(|r| r.name == g.name);
                let instances = g
                    .members
                    .iter()
                    .map(|m| InstanceStatus {
                        id: m.state.id.to_string(),
                        addr: m.state.addr,
                        in_service: m.in_service,
                        routed: route.is_some_and(|r| r.weight > 0 && r.members.iter().any(|x| Arc::ptr_eq(x, &m.state))),
                        in_flight: m.state.inflight(),
                        health: m.state.health.lock().unwrap_or_else(|p| p.into_inner()).clone(),
                    })
                    .collect();
                GroupStatus { name: g.name.to_string(), weight: g.weight, instances }
            })
            .collect()
    }

    /// An instance's health-check findings (`None` for an unknown instance or one without a check).
    pub fn health(&self, id: &str) -> Option<HealthStatus> {
        let registry = self.shared().registry();
        let (_, m) = registry.find(id)?;
        m.state.health.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// A counter that changes whenever an instance's health state changes (await `changed()`).
    pub fn health_changes(&self) -> watch::Receiver<u64> {
        self.shared().health_changes.subscribe()
    }

    /// Stops accepting connections, lets open requests finish (up to `shutdown_timeout`, then
    /// cuts them), stops health checks and the sampler, and closes upstream connections.
    /// Returns whether every request finished in time. Calling it again returns at once.
    pub async fn shutdown(&self) -> bool {
        let shared = self.shared();
        shared.shutdown.cancel();
        let tracker = &self.owner.tracker;
        tracker.close();
        let clean = tokio::time::timeout(shared.config.shutdown_timeout, tracker.wait()).await.is_ok();
        if !clean {
            shared.hard_stop.cancel();
            tracker.wait().await;
        }
        let registry = shared.registry();
        for m in registry.groups.iter().flat_map(|g| g.members.iter()) {
            m.state.pool.clear_idle();
        }
        clean
    }
}

fn insert_instance(shared: &Arc<Shared>, registry: &mut Registry, group: &str, spec: InstanceSpec) {
    let Some(entry) = registry.groups.iter_mut().find(|g| &*g.name == group) else { return };
    let stop = shared.shutdown.child_token();
    let health = spec.health_check.as_ref().map(|_| HealthStatus::new());
    let state = InstanceState::new(Arc::from(spec.id.as_str()), spec.addr, entry.name.clone(), shared.metrics.instance(&spec.id), health, stop.clone());
    if let Some(check) = spec.health_check {
        let weak: Weak<Shared> = Arc::downgrade(shared);
        let changed: Arc<dyn Fn() + Send + Sync> = Arc::new(move || {
            if let Some(s) = weak.upgrade() {
                s.health_changed();
            }
        });
        health::spawn(state.clone(), check, (shared.config.max_header_bytes, shared.config.max_headers), stop, changed);
    }
    entry.members.push(Member { state, in_service: spec.in_service });
}

/// Moves a removed instance to the retired list: health checks stop, connections stop being pooled.
fn retire(metrics: &metrics::Registry, registry: &mut Registry, state: Arc<InstanceState>) {
    state.removed.store(true, std::sync::atomic::Ordering::SeqCst);
    state.stop.cancel();
    state.pool.clear_idle();
    metrics.retire_instance(&state.id);
    registry.prune_retired();
    if state.inflight() > 0 {
        registry.retired.push(state);
    }
}

/// Closes one metrics period every `sample_period` until shutdown.
async fn sampler(shared: Arc<Shared>) {
    let mut ticker = tokio::time::interval(shared.config.sample_period);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shared.shutdown.cancelled() => return,
            _ = ticker.tick() => shared.metrics.sample(Instant::now()),
        }
    }
}
