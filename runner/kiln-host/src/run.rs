//! Running one step call: the per-call store, the kiln host imports, deadlines and limits.

use crate::bindings::v0_1_0::step::exports::kiln::plugin::step_plugin::{StepContext, StepError};
use crate::bindings::v0_1_0::step::kiln::plugin::{config, log, progress, types};
use crate::error::PluginError;
use crate::imports::{PluginConfig, PluginLog};
use crate::host::LoadedPlugin;
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

impl StepState {
    fn limit(&mut self, kind: LimitKind) -> wasmtime::Error {
        self.hit.get_or_insert(kind.clone());
        wasmtime::Error::new(LimitHit(kind))
    }

    fn emit(&self, event: &PluginEvent) {
        if let Some(sink) = &self.on_event {
            sink(&self.plugin, event);
        }
    }
}

impl types::Host for StepState {}

impl log::Host for StepState {
    fn log(&mut self, level: log::Level, message: String) -> wasmtime::Result<()> {
        match self.log.push(level.into(), message) {
            Ok(record) => {
                let event = PluginEvent::Log(record.clone());
                self.emit(&event);
                Ok(())
            }
            Err(kind) => Err(self.limit(kind)),
        }
    }
}

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

impl config::Host for StepState {
    fn get_json(&mut self) -> wasmtime::Result<String> {
        Ok(self.config.json())
    }

    fn get(&mut self, key: String) -> wasmtime::Result<Option<String>> {
        Ok(self.config.get(&key))
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

impl LoadedPlugin {
    /// The plugin's name (from its manifest).
    pub fn name(&self) -> &str {
        &self.manifest.name
    }

    /// Run the step once, in a fresh store, under the invocation's grants and limits.
    ///
    /// Whatever the plugin does, the host stays usable for the next call: a trap, a limit, a
    /// malformed result or a reported failure all come back as a [`PluginError`].
    pub async fn run_step(&self, inv: &StepInvocation) -> Result<StepOutcome, PluginError> {
        let started = Instant::now();
        let plugin = self.manifest.name.clone();
        let errors = self.manifest.validate_config(&inv.config);
        if !errors.is_empty() {
            return Err(PluginError::InvalidConfig { plugin, errors });
        }
        let timeout = inv.grants.timeout.min(inv.limits.timeout);
        let max_memory = inv.grants.max_memory.min(inv.limits.max_memory);
        let stdout = CappedPipe::new(inv.limits.max_stdio_bytes);
        let stderr = CappedPipe::new(inv.limits.max_stdio_bytes);
        let wasi = wasi_ctx(inv, &stdout, &stderr, &plugin)?;
        let state = StepState {
            wasi,
            table: ResourceTable::new(),
            limiter: Limiter::new(max_memory),
            plugin: plugin.clone(),
            config: PluginConfig::new(&inv.config),
            log: PluginLog::new(inv.limits.max_log_bytes),
            hit: None,
            on_event: inv.on_event.clone(),
        };
        let mut store = Store::new(&self.host.engine, state);
        store.limiter(|s| &mut s.limiter);
        let deadline = started + timeout;
        let watch_out = inv.grants.write_output.then(|| inv.out_dir.clone());
        let (max_out_bytes, max_out_files) =
            (inv.limits.max_output_bytes, inv.limits.max_output_files);
        let timeout_kind = LimitKind::Timeout {
            ms: timeout.as_millis() as u64,
        };
        let tk = timeout_kind.clone();
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

        let ctx = StepContext {
            source_root: inv.grants.read_source.then(|| GUEST_SRC.to_string()),
            output_root: inv.grants.write_output.then(|| GUEST_OUT.to_string()),
        };
        // The epoch callback stops guest code; this outer timeout also stops a guest that is
        // blocked inside a host call (e.g. sleeping on a WASI clock).
        let grace = self.host.epoch_tick * 5 + Duration::from_millis(50);
        let call = async {
            let t = Instant::now();
            let instance = self.pre.instantiate_async(&mut store).await?;
            let instantiate = t.elapsed();
            let t = Instant::now();
            let r = instance
                .kiln_plugin_step_plugin()
                .call_run(&mut store, &ctx)
                .await?;
            wasmtime::Result::Ok((r, instantiate, t.elapsed()))
        };
        let result = tokio::time::timeout(timeout + grace, call).await;
        let (stdout_text, out_trunc) = stdout.take();
        let (stderr_text, err_trunc) = stderr.take();
        let result = match result {
            Err(_elapsed) => {
                return Err(PluginError::LimitExceeded {
                    plugin,
                    limit: timeout_kind,
                });
            }
            Ok(Err(e)) => return Err(classify(&plugin, e, store.data().hit.clone(), &stderr_text)),
            Ok(Ok(r)) => r,
        };
        let ((ret, instantiate, call), data) = (result, store.into_data());
        let step_result = match ret {
            Ok(r) => r,
            Err(StepError::InvalidConfig(message)) => {
                return Err(PluginError::RejectedConfig { plugin, message });
            }
            Err(StepError::Failed(message)) => return Err(PluginError::Failed { plugin, message }),
        };
        if let Some(kind) = inv
            .grants
            .write_output
            .then(|| crate::validate::output_over_limit(&inv.out_dir, max_out_bytes, max_out_files))
            .flatten()
        {
            return Err(PluginError::LimitExceeded {
                plugin,
                limit: kind,
            });
        }
        let (findings, outputs, summary) = crate::validate::result(&plugin, step_result, inv)?;
        Ok(StepOutcome {
            findings,
            outputs,
            summary,
            logs: data.log.into_records(),
            stdout: stdout_text,
            stderr: stderr_text,
            stdio_truncated: out_trunc || err_trunc,
            duration: started.elapsed(),
            instantiate,
            call,
            peak_memory: data.limiter.peak_memory as u64,
        })
    }
}

/// Turn a failed call into a [`PluginError`]: a recorded limit first, then traps, exits and
/// lifting errors (malformed results).
pub(crate) fn classify(plugin: &str, e: wasmtime::Error, hit: Option<LimitKind>, stderr: &str) -> PluginError {
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
