//! Running `deploy-strategy` plugins (`wit/kiln-plugin/v0.1.0/deploy.wit`): the deploy engine
//! reports what it observes, the strategy answers the next action.
//!
//! - **One store per deployment.** [`LoadedStrategy::start`] instantiates the component in a
//!   fresh store and constructs its `strategy` resource with the config; every
//!   [`StrategySession::next`] call runs in that store, so the strategy keeps its state between
//!   calls, and its memory cap holds for the whole deployment.
//! - **Nothing but `log` and `config`.** No preopened files, no environment, no sockets, coarse
//!   clocks (WASI is linked only for the guest's own runtime: stdio captured, capped). A manifest
//!   that asks for more is refused when it is read ([`crate::Manifest`]).
//! - **Limits on every call**, as for the other worlds: an epoch-interruption deadline per call
//!   (the manifest's `timeout`, [`DEFAULT_STRATEGY_TIMEOUT`] when it says none, capped by
//!   [`StrategyInvocation::limits`]), an outer timeout for a guest blocked in a host call, the
//!   memory cap (growth past it traps), the wasm stack, the `log` byte cap per call. Fuel is not
//!   used (epochs bound time without slowing the guest).
//! - **Every answer is checked** before the caller sees it ([`types::check_action`]: percentages,
//!   waits, ids, hook names, roll-back reasons); whether the ids belong to the deployment and
//!   whether the action keeps enough instances healthy is the deploy engine's call.
//! - **Failures end the session with a [`StrategyError`]** naming the plugin and what it did
//!   (trapped, hit a limit, answered something malformed, did not finish within
//!   [`StrategyInvocation::max_elapsed`]); the store is not used again after a trap or a
//!   deadline, and later calls return [`StrategyError::Ended`]. Never a panic, never a hang: the
//!   deploy engine rolls back on any error.

mod types;

pub use types::{Action, Alarm, ComputePlatform, DeploymentType, Instance, InstanceSet, MAX_NAME_BYTES, MAX_WAIT_MS, Observation};

use crate::bindings::v0_1_0::deploy::{DeployStrategy, DeployStrategyPre};
use crate::error::PluginError;
use crate::host::{Host, HostInner, LoadStats, PluginSource};
use crate::imports::{PluginConfig, PluginLog};
use crate::limits::{LimitKind, Limiter, Limits};
use crate::manifest::{Manifest, World};
use crate::stdio::CappedPipe;
use crate::types::{EventSink, LogRecord};
use std::sync::Arc;
use std::time::{Duration, Instant};
use wasmtime::component::{HasSelf, Linker, ResourceAny, ResourceTable};
use wasmtime::{Engine, Store, UpdateDeadline};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

/// Time one call gets when the manifest does not say: a decision, not work.
pub const DEFAULT_STRATEGY_TIMEOUT: Duration = Duration::from_secs(2);

/// How to run one deployment's strategy.
#[derive(Clone)]
pub struct StrategyInvocation {
    /// The plugin's configuration (a JSON object), checked against the manifest's schema and
    /// passed to the `strategy` constructor (and readable through the `config` import).
    pub config: serde_json::Value,
    /// Host-side caps on each call: `timeout` and `max_memory` cap what the manifest asks for;
    /// `max_log_bytes` (per call), `max_stdio_bytes` and `max_string_bytes` (the longest
    /// roll-back reason) apply as they are.
    pub limits: Limits,
    /// The longest a deployment may run: an observation with a later `elapsed_ms` ends the
    /// session with [`StrategyError::Overran`] instead of asking a strategy that never finishes.
    pub max_elapsed: Option<Duration>,
    /// Live `log` records, as they happen.
    pub on_event: Option<EventSink>,
}

impl StrategyInvocation {
    /// `config` with the strategy limits: at most 10 s per call and 256 MiB, no deployment
    /// time limit.
    pub fn new(config: serde_json::Value) -> Self {
        StrategyInvocation {
            config,
            limits: Limits { timeout: Duration::from_secs(10), max_memory: 256 << 20, ..Limits::default() },
            max_elapsed: None,
            on_event: None,
        }
    }
}

impl std::fmt::Debug for StrategyInvocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StrategyInvocation")
            .field("config", &self.config)
            .field("limits", &self.limits)
            .field("max_elapsed", &self.max_elapsed)
            .finish_non_exhaustive()
    }
}

/// Why a strategy gave no action. Every variant names the plugin.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StrategyError {
    /// Loading, config, a trap, a limit (deadline, memory, stack, log bytes), an exit, or a
    /// result the canonical ABI could not lift.
    #[error("{0}")]
    Plugin(#[from] PluginError),
    /// The strategy answered something the interface does not allow.
    #[error("strategy {plugin}: answered {answer}, which the host refuses: {reason}")]
    BadAction {
        /// Plugin name.
        plugin: String,
        /// What it answered (ids and strings cut short, control characters escaped).
        answer: String,
        /// Which rule it broke.
        reason: String,
    },
    /// The deployment ran past [`StrategyInvocation::max_elapsed`] without the strategy finishing.
    #[error("strategy {plugin}: had not finished after {limit_ms} ms of deployment, the time limit (its last answer: {last})")]
    Overran {
        /// Plugin name.
        plugin: String,
        /// The limit.
        limit_ms: u64,
        /// Its last answer.
        last: String,
    },
    /// The session is over: the strategy finished or failed before.
    #[error("strategy {plugin}: the session is over ({why}); a deployment starts a new one")]
    Ended {
        /// Plugin name.
        plugin: String,
        /// How it ended.
        why: String,
    },
    /// The caller's observation breaks the interface (a bug in the deploy engine, not the plugin).
    #[error("strategy {plugin}: not asked: the observation is invalid: {reason}")]
    BadObservation {
        /// Plugin name.
        plugin: String,
        /// What is wrong with it.
        reason: String,
    },
}

impl StrategyError {
    /// The plugin's name.
    pub fn plugin(&self) -> &str {
        match self {
            StrategyError::Plugin(e) => e.plugin(),
            StrategyError::BadAction { plugin, .. }
            | StrategyError::Overran { plugin, .. }
            | StrategyError::Ended { plugin, .. }
            | StrategyError::BadObservation { plugin, .. } => plugin,
        }
    }

    /// The limit hit, if a limit stopped the strategy.
    pub fn limit(&self) -> Option<&LimitKind> {
        match self {
            StrategyError::Plugin(e) => e.limit(),
            _ => None,
        }
    }
}

/// Per-deployment store data.
pub(crate) struct StrategyState {
    wasi: WasiCtx,
    table: ResourceTable,
    pub(crate) limiter: Limiter,
    plugin: String,
    config: PluginConfig,
    log: PluginLog,
    hit: Option<LimitKind>,
    on_event: Option<EventSink>,
    /// The current call's deadline and the limit it stands for.
    deadline: Instant,
    timeout_kind: LimitKind,
}

impl WasiView for StrategyState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

crate::imports::kiln_imports!(StrategyState);

/// The linker for strategies: WASI (nothing granted; `run::bare_wasi`) and `log` + `config`.
pub(crate) fn linker(engine: &Engine) -> anyhow::Result<Linker<StrategyState>> {
    let mut linker: Linker<StrategyState> = Linker::new(engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker).map_err(|e| anyhow::anyhow!("linking WASI for strategies: {e}"))?;
    DeployStrategy::add_to_linker::<_, HasSelf<_>>(&mut linker, |s| s).map_err(|e| anyhow::anyhow!("linking kiln strategy imports: {e}"))?;
    Ok(linker)
}

/// A `deploy-strategy` plugin ready to start deployments (see [`Host::load_strategy`]).
/// Cheap to clone; sessions are independent.
#[derive(Clone)]
pub struct LoadedStrategy {
    host: Arc<HostInner>,
    pre: DeployStrategyPre<StrategyState>,
    /// The plugin's manifest.
    pub manifest: Arc<Manifest>,
    /// Lower-case hex sha256 of the component bytes.
    pub sha256: String,
    /// How it was loaded.
    pub load_stats: LoadStats,
}

impl std::fmt::Debug for LoadedStrategy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadedStrategy").field("name", &self.manifest.name).field("sha256", &self.sha256).finish()
    }
}

impl Host {
    /// Load a `deploy-strategy` plugin (its manifest must say `world = "deploy-strategy"`):
    /// read, check the pinned digest, compile (or load from the cache), link and pre-instantiate,
    /// as [`Host::load`] does for steps.
    pub fn load_strategy(&self, source: PluginSource) -> Result<LoadedStrategy, PluginError> {
        let (component, manifest, sha256, cache, compile_or_load) = self.compile(source, &[World::DeployStrategy])?;
        let plugin = manifest.name.clone();
        let t = Instant::now();
        let world = "kiln:plugin/deploy-strategy@0.1.0";
        let linker = &self.inner.strategy_linker;
        let inst_pre = linker.instantiate_pre(&component).map_err(|e| self.link_error(linker, &component, &plugin, world, e))?;
        let pre = DeployStrategyPre::new(inst_pre).map_err(|e| PluginError::WrongWorld { plugin: plugin.clone(), world: world.into(), reason: format!("{e:#}") })?;
        Ok(LoadedStrategy {
            host: self.inner.clone(),
            pre,
            manifest: Arc::new(manifest),
            sha256,
            load_stats: LoadStats { cache, compile_or_load, pre_instantiate: t.elapsed() },
        })
    }
}

/// One deployment's strategy: its store, its `strategy` resource, and how the session stands.
pub struct StrategySession {
    plugin: String,
    store: Store<StrategyState>,
    instance: DeployStrategy,
    handle: ResourceAny,
    timeout: Duration,
    grace: Duration,
    limits: Limits,
    max_elapsed: Option<Duration>,
    stderr: CappedPipe,
    logs: Vec<LogRecord>,
    calls: u64,
    last: Option<Action>,
    ended: Option<String>,
}

impl std::fmt::Debug for StrategySession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StrategySession").field("plugin", &self.plugin).field("calls", &self.calls).field("ended", &self.ended).finish_non_exhaustive()
    }
}

impl LoadedStrategy {
    /// The plugin's name (from its manifest).
    pub fn name(&self) -> &str {
        &self.manifest.name
    }

    /// Start a deployment with `config` and the default strategy limits
    /// ([`StrategyInvocation::new`]).
    pub async fn start(&self, config: serde_json::Value) -> Result<StrategySession, StrategyError> {
        self.start_with(&StrategyInvocation::new(config)).await
    }

    /// Start a deployment: check the config against the schema, make a fresh store, instantiate
    /// and construct the `strategy` resource (the constructor runs under the per-call deadline).
    pub async fn start_with(&self, inv: &StrategyInvocation) -> Result<StrategySession, StrategyError> {
        let plugin = self.manifest.name.clone();
        let errors = self.manifest.validate_config(&inv.config);
        if !errors.is_empty() {
            return Err(PluginError::InvalidConfig { plugin, errors }.into());
        }
        let caps = &self.manifest.capabilities;
        let timeout = caps.timeout.unwrap_or(DEFAULT_STRATEGY_TIMEOUT).min(inv.limits.timeout);
        let max_memory = caps.max_memory.unwrap_or(crate::DEFAULT_MEMORY).min(inv.limits.max_memory);
        let stderr = CappedPipe::new(inv.limits.max_stdio_bytes);
        let state = StrategyState {
            wasi: crate::run::bare_wasi(&stderr),
            table: ResourceTable::new(),
            limiter: Limiter::new(max_memory),
            plugin: plugin.clone(),
            config: PluginConfig::new(&inv.config),
            log: PluginLog::new(inv.limits.max_log_bytes),
            hit: None,
            on_event: inv.on_event.clone(),
            deadline: Instant::now() + timeout,
            timeout_kind: LimitKind::Timeout { ms: timeout.as_millis() as u64 },
        };
        let mut store = Store::new(&self.host.engine, state);
        store.limiter(|s| &mut s.limiter);
        store.set_epoch_deadline(1);
        store.epoch_deadline_callback(|mut cx| {
            let s = cx.data_mut();
            if Instant::now() >= s.deadline {
                let kind = s.timeout_kind.clone();
                return Err(s.limit(kind));
            }
            Ok(UpdateDeadline::Yield(1))
        });
        let grace = self.host.epoch_tick * 5 + Duration::from_millis(50);
        let config_json = inv.config.to_string();
        let made = async {
            let instance = self.pre.instantiate_async(&mut store).await?;
            let handle = instance.kiln_plugin_deploy_strategy_plugin().strategy().call_constructor(&mut store, &config_json).await?;
            wasmtime::Result::Ok((instance, handle))
        };
        let timeout_kind = LimitKind::Timeout { ms: timeout.as_millis() as u64 };
        let (instance, handle) = match tokio::time::timeout(timeout + grace, made).await {
            Err(_) => return Err(PluginError::LimitExceeded { plugin, limit: timeout_kind }.into()),
            Ok(Err(e)) => {
                let hit = store.data().hit.clone().or(store.data().limiter.hit.clone());
                return Err(crate::run::classify(&plugin, e, hit, &stderr.take().0).into());
            }
            Ok(Ok(made)) => made,
        };
        let logs = std::mem::replace(&mut store.data_mut().log, PluginLog::new(inv.limits.max_log_bytes)).into_records();
        Ok(StrategySession {
            plugin,
            store,
            instance,
            handle,
            timeout,
            grace,
            limits: inv.limits.clone(),
            max_elapsed: inv.max_elapsed,
            stderr,
            logs,
            calls: 0,
            last: None,
            ended: None,
        })
    }
}

impl StrategySession {
    /// The plugin's name.
    pub fn plugin(&self) -> &str {
        &self.plugin
    }

    /// The `log` records of the last call, also when it failed (the constructor's before the
    /// first `next`).
    pub fn logs(&self) -> &[LogRecord] {
        &self.logs
    }

    /// How many times `next` ran the guest.
    pub fn calls(&self) -> u64 {
        self.calls
    }

    /// The most linear memory the strategy has had, bytes.
    pub fn peak_memory(&self) -> u64 {
        self.store.data().limiter.peak_memory as u64
    }

    /// Whether the session is over (the strategy finished, or failed).
    pub fn is_over(&self) -> bool {
        self.ended.is_some()
    }

    /// Ends the session with `e` (the store is not entered again) and returns it.
    fn end(&mut self, e: StrategyError) -> StrategyError {
        self.ended = Some(format!("it failed: {e}"));
        e
    }

    /// The next action for `obs`. After [`Action::Succeed`] or [`Action::RollBack`], and after any
    /// error but [`StrategyError::BadObservation`], the session is over.
    pub async fn next(&mut self, obs: &Observation) -> Result<Action, StrategyError> {
        let plugin = self.plugin.clone();
        if let Some(why) = &self.ended {
            return Err(StrategyError::Ended { plugin, why: why.clone() });
        }
        if obs.traffic_to_target > 100 {
            return Err(StrategyError::BadObservation { plugin, reason: format!("traffic-to-target is {}, more than 100 %", obs.traffic_to_target) });
        }
        if let Some(max) = self.max_elapsed
            && obs.elapsed_ms > max.as_millis() as u64
        {
            let last = self.last.as_ref().map_or_else(|| "none".to_string(), Action::to_string);
            return Err(self.end(StrategyError::Overran { plugin, limit_ms: max.as_millis() as u64, last }));
        }
        let wit_obs = obs.to_wit();
        let _ = self.stderr.take();
        // Stays set only if this future is dropped mid-call (a caller's own timeout): the store
        // is then not entered again.
        self.ended = Some("a previous call was cancelled before it returned".into());
        let state = self.store.data_mut();
        state.deadline = Instant::now() + self.timeout;
        state.log = PluginLog::new(self.limits.max_log_bytes);
        self.calls += 1;
        let exports = self.instance.kiln_plugin_deploy_strategy_plugin();
        let resource = exports.strategy();
        let call = resource.call_next(&mut self.store, self.handle, &wit_obs);
        let answer = tokio::time::timeout(self.timeout + self.grace, call).await;
        // What it logged, up to the end or the failure.
        self.logs = std::mem::replace(&mut self.store.data_mut().log, PluginLog::new(0)).into_records();
        let answer = match answer {
            Err(_) => return Err(self.end(PluginError::LimitExceeded { plugin, limit: LimitKind::Timeout { ms: self.timeout.as_millis() as u64 } }.into())),
            Ok(Err(e)) => {
                let hit = self.store.data().hit.clone().or(self.store.data().limiter.hit.clone());
                let e = crate::run::classify(&plugin, e, hit, &self.stderr.take().0);
                return Err(self.end(e.into()));
            }
            Ok(Ok(a)) => a,
        };
        self.ended = None;
        let answer_text = types::describe(&answer);
        let action = match types::check_action(answer, obs, self.limits.max_string_bytes) {
            Ok(a) => a,
            Err(reason) => return Err(self.end(StrategyError::BadAction { plugin, answer: answer_text, reason })),
        };
        if action.is_final() {
            self.ended = Some(format!("the strategy answered {answer_text}"));
        }
        self.last = Some(action.clone());
        Ok(action)
    }
}
