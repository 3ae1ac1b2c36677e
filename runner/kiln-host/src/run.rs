//! Running one step call: the per-call store, the kiln host imports, deadlines and limits.

use crate::bindings::v0_1_0::step::StepPre;
use crate::bindings::v0_1_0::step::exports::kiln::plugin::step_plugin::{StepContext, StepError};
use crate::bindings::v0_1_0::step::kiln::plugin::{progress, types};
use crate::error::PluginError;
use crate::host::{LoadedPlugin, StepWorld};
use crate::imports::{PluginConfig, PluginLog};
use crate::limits::{LimitHit, LimitKind, Limiter};
use crate::stdio::{CappedPipe, coarse_clock};
use crate::types::{EventSink, PluginEvent, StepInvocation, StepOutcome};
use std::time::{Duration, Instant};
use wasmtime::component::ResourceTable;
use wasmtime::{Store, UpdateDeadline};
use wasmtime_wasi::{FsPerms, WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

/// The guest path of the source tree.
pub const GUEST_SRC: &str = "/src";
/// The guest path of the output directory.
pub const GUEST_OUT: &str = "/out";

/// Per-call store data.
pub(crate) struct StepState {
    wasi: WasiCtx,
    table: ResourceTable,
    pub(crate) limiter: Limiter,
    plugin: String,
    config: PluginConfig,
    log: PluginLog,
    hit: Option<LimitKind>,
    on_event: Option<EventSink>,
}

impl WasiView for StepState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl types::Host for StepState {}

crate::imports::kiln_imports!(StepState);

impl progress::Host for StepState {
    fn report(&mut self, completed: u64, total: u64, message: String) -> wasmtime::Result<()> {
        // Progress is not kept, so it only costs the callback; cap the message all the same.
        let message: String = message.chars().take(256).collect();
        self.emit(&PluginEvent::Progress {
            completed,
            total,
            message,
        });
        Ok(())
    }
}

/// Builds the WASI context: nothing but what the grants say.
fn wasi_ctx(
    inv: &StepInvocation,
    stdout: &CappedPipe,
    stderr: &CappedPipe,
    plugin: &str,
) -> Result<WasiCtx, PluginError> {
    let g = &inv.grants;
    let setup = |what: &str, e: wasmtime::Error| PluginError::Setup {
        plugin: plugin.to_string(),
        reason: format!("{what}: {e}"),
    };
    let mut b = WasiCtxBuilder::new();
    b.stdout(stdout.clone()).stderr(stderr.clone());
    // File calls run on this thread instead of a `spawn_blocking` round trip each: a scanner
    // opening and reading thousands of files spent most of its time in those hand-offs (measured
    // 2.7 MB/s before). A step is the only thing its build waits for, so blocking here is fine.
    b.allow_blocking_current_thread(true);
    // No network: sockets and name lookup are off, and every address is refused even if a
    // later wasmtime changed those defaults.
    b.allow_tcp(false)
        .allow_udp(false)
        .allow_ip_name_lookup(false);
    b.socket_addr_check(|_, _| Box::pin(async { false }));
    for name in &g.env {
        if let Some(value) = inv.env.get(name) {
            b.env(name, value);
        }
    }
    if !g.precise_clock {
        b.wall_clock(coarse_clock::Wall)
            .monotonic_clock(coarse_clock::Monotonic(Instant::now()));
    }
    if g.read_source {
        b.preopened_dir(&inv.src_dir, GUEST_SRC, FsPerms::ReadOnly)
            .map_err(|e| setup("source directory", e))?;
    }
    if g.write_output {
        b.preopened_dir(&inv.out_dir, GUEST_OUT, FsPerms::ReadWrite)
            .map_err(|e| setup("output directory", e))?;
    }
    Ok(b.build())
}

/// WASI for a plugin that gets nothing (signers, deploy strategies): its stdout and stderr both
/// captured in `stderr` (capped), no preopens, no environment, no sockets or name lookup, coarse
/// clocks.
pub(crate) fn bare_wasi(stderr: &CappedPipe) -> WasiCtx {
    let mut b = WasiCtxBuilder::new();
    b.stdout(stderr.clone()).stderr(stderr.clone());
    b.allow_tcp(false).allow_udp(false).allow_ip_name_lookup(false);
    b.socket_addr_check(|_, _| Box::pin(async { false }));
    b.wall_clock(coarse_clock::Wall).monotonic_clock(coarse_clock::Monotonic(Instant::now()));
    b.build()
}

/// One store for one instance of a step-like plugin: WASI from the grants, the memory cap, the
/// deadline and the output-size watch in the epoch callback.
pub(crate) struct StoreSetup<'a> {
    pub inv: &'a StepInvocation,
    pub plugin: &'a str,
    pub max_memory: u64,
    pub max_log_bytes: usize,
    pub deadline: Instant,
    pub timeout_kind: LimitKind,
    pub stdout: &'a CappedPipe,
    pub stderr: &'a CappedPipe,
}

impl StoreSetup<'_> {
    pub(crate) fn build(&self, engine: &wasmtime::Engine) -> Result<Store<StepState>, PluginError> {
        let inv = self.inv;
        let wasi = wasi_ctx(inv, self.stdout, self.stderr, self.plugin)?;
        let state = StepState {
            wasi,
            table: ResourceTable::new(),
            limiter: Limiter::new(self.max_memory),
            plugin: self.plugin.to_string(),
            config: PluginConfig::new(&inv.config),
            log: PluginLog::new(self.max_log_bytes),
            hit: None,
            on_event: inv.on_event.clone(),
        };
        let mut store = Store::new(engine, state);
        store.limiter(|s| &mut s.limiter);
        let watch_out = inv.grants.write_output.then(|| inv.out_dir.clone());
        let (max_out_bytes, max_out_files) =
            (inv.limits.max_output_bytes, inv.limits.max_output_files);
        let (deadline, tk) = (self.deadline, self.timeout_kind.clone());
        let mut ticks = 0u64;
        store.set_epoch_deadline(1);
        store.epoch_deadline_callback(move |mut cx| {
            if Instant::now() >= deadline {
                return Err(cx.data_mut().limit(tk.clone()));
            }
            ticks += 1;
            if let Some(dir) = &watch_out
                && ticks.is_multiple_of(5)
                && let Some(kind) =
                    crate::validate::output_over_limit(dir, max_out_bytes, max_out_files)
            {
                return Err(cx.data_mut().limit(kind));
            }
            Ok(UpdateDeadline::Yield(1))
        });
        Ok(store)
    }
}

/// What a finished call hands to [`LoadedPlugin::conclude`].
pub(crate) struct CallEnd {
    pub started: Instant,
    pub logs: Vec<crate::types::LogRecord>,
    pub stdout: CappedPipe,
    pub stderr: CappedPipe,
    pub instantiate: Duration,
    pub call: Duration,
    pub peak_memory: u64,
}

impl StepState {
    /// The log records kept so far.
    pub(crate) fn take_logs(&mut self) -> Vec<crate::types::LogRecord> {
        std::mem::replace(&mut self.log, PluginLog::new(0)).into_records()
    }

    /// A limit recorded by a host call or the epoch callback.
    pub(crate) fn limit_hit(&self) -> Option<LimitKind> {
        self.hit.clone()
    }
}

impl LoadedPlugin {
    /// The plugin's name (from its manifest).
    pub fn name(&self) -> &str {
        &self.manifest.name
    }

    /// Run the step once, in a fresh store, under the invocation's grants and limits. A
    /// `file-scanner` plugin is fed the source tree's files by several instances in parallel
    /// (see `wit/kiln-plugin/v0.1.0/file-scanner.wit`); the outcome has the same shape.
    ///
    /// Whatever the plugin does, the host stays usable for the next call: a trap, a limit, a
    /// malformed result or a reported failure all come back as a [`PluginError`].
    pub async fn run_step(&self, inv: &StepInvocation) -> Result<StepOutcome, PluginError> {
        let plugin = self.manifest.name.clone();
        let errors = self.manifest.validate_config(&inv.config);
        if !errors.is_empty() {
            return Err(PluginError::InvalidConfig { plugin, errors });
        }
        match &self.pre {
            StepWorld::Step(pre) => self.run_plain(pre, inv).await,
            StepWorld::FileScanner(_) => {
                let (me, inv) = (self.clone(), inv.clone());
                tokio::task::spawn_blocking(move || crate::scan::run(&me, &inv))
                    .await
                    .map_err(|e| PluginError::Setup {
                        plugin,
                        reason: format!("scanner thread: {e}"),
                    })?
            }
        }
    }

    async fn run_plain(
        &self,
        pre: &StepPre<StepState>,
        inv: &StepInvocation,
    ) -> Result<StepOutcome, PluginError> {
        let started = Instant::now();
        let plugin = self.manifest.name.clone();
        let timeout = inv.grants.timeout.min(inv.limits.timeout);
        let stdout = CappedPipe::new(inv.limits.max_stdio_bytes);
        let stderr = CappedPipe::new(inv.limits.max_stdio_bytes);
        let timeout_kind = LimitKind::Timeout {
            ms: timeout.as_millis() as u64,
        };
        let mut store = StoreSetup {
            inv,
            plugin: &plugin,
            max_memory: inv.grants.max_memory.min(inv.limits.max_memory),
            max_log_bytes: inv.limits.max_log_bytes,
            deadline: started + timeout,
            timeout_kind: timeout_kind.clone(),
            stdout: &stdout,
            stderr: &stderr,
        }
        .build(&self.host.engine)?;
        let ctx = StepContext {
            source_root: inv.grants.read_source.then(|| GUEST_SRC.to_string()),
            output_root: inv.grants.write_output.then(|| GUEST_OUT.to_string()),
        };
        // The epoch callback stops guest code; this outer timeout also stops a guest that is
        // blocked inside a host call (e.g. sleeping on a WASI clock).
        let grace = self.host.epoch_tick * 5 + Duration::from_millis(50);
        let call = async {
            let t = Instant::now();
            let instance = pre.instantiate_async(&mut store).await?;
            let instantiate = t.elapsed();
            let t = Instant::now();
            let r = instance
                .kiln_plugin_step_plugin()
                .call_run(&mut store, &ctx)
                .await?;
            wasmtime::Result::Ok((r, instantiate, t.elapsed()))
        };
        let result = match tokio::time::timeout(timeout + grace, call).await {
            Err(_elapsed) => {
                return Err(PluginError::LimitExceeded {
                    plugin,
                    limit: timeout_kind,
                });
            }
            Ok(Err(e)) => {
                let (stderr_text, _) = stderr.take();
                return Err(classify(&plugin, e, store.data().hit.clone(), &stderr_text));
            }
            Ok(Ok(r)) => r,
        };
        let ((ret, instantiate, call), mut data) = (result, store.into_data());
        let step_result = match ret {
            Ok(r) => r,
            Err(StepError::InvalidConfig(message)) => {
                return Err(PluginError::RejectedConfig { plugin, message });
            }
            Err(StepError::Failed(message)) => return Err(PluginError::Failed { plugin, message }),
        };
        let end = CallEnd {
            started,
            logs: data.take_logs(),
            stdout,
            stderr,
            instantiate,
            call,
            peak_memory: data.limiter.peak_memory as u64,
        };
        self.conclude(inv, step_result, end)
    }

    /// Checks the output directory against its limits, validates the result and assembles the
    /// outcome (shared by both step worlds).
    pub(crate) fn conclude(
        &self,
        inv: &StepInvocation,
        step_result: crate::bindings::v0_1_0::step::exports::kiln::plugin::step_plugin::StepResult,
        end: CallEnd,
    ) -> Result<StepOutcome, PluginError> {
        let plugin = &self.manifest.name;
        if let Some(kind) = inv
            .grants
            .write_output
            .then(|| {
                crate::validate::output_over_limit(
                    &inv.out_dir,
                    inv.limits.max_output_bytes,
                    inv.limits.max_output_files,
                )
            })
            .flatten()
        {
            return Err(PluginError::LimitExceeded {
                plugin: plugin.clone(),
                limit: kind,
            });
        }
        let (findings, outputs, summary) = crate::validate::result(plugin, step_result, inv)?;
        let (stdout_text, out_trunc) = end.stdout.take();
        let (stderr_text, err_trunc) = end.stderr.take();
        Ok(StepOutcome {
            findings,
            outputs,
            summary,
            logs: end.logs,
            stdout: stdout_text,
            stderr: stderr_text,
            stdio_truncated: out_trunc || err_trunc,
            duration: end.started.elapsed(),
            instantiate: end.instantiate,
            call: end.call,
            peak_memory: end.peak_memory,
        })
    }
}

/// Turn a failed call into a [`PluginError`]: a recorded limit first, then traps, exits and
/// lifting errors (malformed results).
pub(crate) fn classify(
    plugin: &str,
    e: wasmtime::Error,
    hit: Option<LimitKind>,
    stderr: &str,
) -> PluginError {
    let plugin = plugin.to_string();
    if let Some(kind) = hit.or_else(|| e.downcast_ref::<LimitHit>().map(|h| h.0.clone())) {
        return PluginError::LimitExceeded {
            plugin,
            limit: kind,
        };
    }
    if let Some(exit) = e.downcast_ref::<wasmtime_wasi::I32Exit>() {
        return PluginError::Exited {
            plugin,
            code: exit.0,
            stderr_tail: tail(stderr, 2048),
        };
    }
    if let Some(trap) = e.downcast_ref::<wasmtime::Trap>() {
        if matches!(trap, wasmtime::Trap::StackOverflow) {
            return PluginError::LimitExceeded {
                plugin,
                limit: LimitKind::Stack,
            };
        }
        return PluginError::Trap {
            plugin,
            trap: if matches!(trap, wasmtime::Trap::MemoryOutOfBounds) {
                format!(
                    "{trap} (often the guest's own stack overflowing in linear memory: deep recursion)"
                )
            } else {
                trap.to_string()
            },
            stderr_tail: tail(stderr, 2048),
        };
    }
    let msg = format!("{e:#}");
    // Lifting the result failed: the canonical ABI's own checks on what the guest returned.
    let lift_error = [
        "out of bounds of memory",
        "not aligned",
        "discriminant",
        "byte length too large",
    ];
    if e.downcast_ref::<std::str::Utf8Error>().is_some()
        || lift_error.iter().any(|p| msg.contains(p))
    {
        return PluginError::MalformedResult {
            plugin,
            reason: first_line(&msg),
        };
    }
    PluginError::Trap {
        plugin,
        trap: first_line(&msg),
        stderr_tail: tail(stderr, 2048),
    }
}

fn first_line(s: &str) -> String {
    s.lines()
        .next()
        .unwrap_or_default()
        .chars()
        .take(512)
        .collect()
}

fn tail(s: &str, max: usize) -> String {
    let s = s.trim();
    if s.len() <= max {
        return s.to_string();
    }
    let mut start = s.len() - max;
    while !s.is_char_boundary(start) {
        start += 1;
    }
    format!("…{}", &s[start..])
}
