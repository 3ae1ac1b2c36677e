//! Running a `file-scanner` plugin (`wit/kiln-plugin/v0.1.0/file-scanner.wit`): the host walks
//! the source tree ([`crate::walk`]) and reads the files natively, several instances of the
//! plugin scan them in parallel (one thread and one store each, the memory cap split between
//! them), and instance 0 gets every non-empty partial result, in path order, in `finish`.
//!
//! The outcome is the same [`StepOutcome`] a `step` plugin produces, so the rest of kiln does not
//! care which world a step plugin targets.

use crate::bindings::v0_1_0::file_scanner::exports::kiln::plugin::file_scanner_plugin::{
    FileFilter, FileOutcome, Partial, ScanError, WalkStats,
};
use crate::bindings::v0_1_0::file_scanner::{FileScanner, FileScannerPre};
use crate::bindings::v0_1_0::step::exports::kiln::plugin::step_plugin::StepResult;
use crate::error::PluginError;
use crate::host::{LoadedPlugin, StepWorld};
use crate::limits::LimitKind;
use crate::run::{CallEnd, StepState, StoreSetup, classify};
use crate::stdio::CappedPipe;
use crate::types::{LogLevel, LogRecord, PluginEvent, StepInvocation, StepOutcome};
use crate::walk::{Exclude, FileData, FileRef, walk};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use wasmtime::Store;

/// Most scanner instances run at once.
const MAX_WORKERS: usize = 4;
/// Each instance gets at least this much of the memory cap (fewer instances otherwise).
const MIN_INSTANCE_MEMORY: u64 = 64 << 20;
/// A file is fed only if it fits in a quarter of its instance's memory cap.
const FILE_SHARE_OF_MEMORY: u64 = 4;
/// Per-file warnings logged before they are only counted.
const MAX_WARNINGS: usize = 200;
/// Longest skip reason kept from the plugin, characters.
const MAX_REASON: usize = 200;

/// How many instances to run: one per core, at most [`MAX_WORKERS`], each with at least
/// [`MIN_INSTANCE_MEMORY`] of the cap, never more than one per 16 files.
fn worker_count(max_memory: u64, files: usize) -> usize {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let by_memory = (max_memory / MIN_INSTANCE_MEMORY).max(1) as usize;
    cores
        .min(MAX_WORKERS)
        .min(by_memory)
        .min(files.div_ceil(16))
        .max(1)
}

/// What happened to one file.
enum FileResult {
    Scanned { bytes: u64, partial: Vec<u8> },
    Skipped(String),
    TooLarge(u64),
    Unreadable(String),
}

/// What a helper worker hands back: its results, its instance's logs and peak memory.
type HelperDone = (Vec<(usize, FileResult)>, Vec<LogRecord>, u64);

/// One instance with its store and a current-thread runtime to drive its async calls.
struct Worker {
    rt: tokio::runtime::Runtime,
    store: Store<StepState>,
    instance: FileScanner,
    instantiate: Duration,
}

/// What all workers share.
struct Shared<'a> {
    plugin: &'a LoadedPlugin,
    pre: &'a FileScannerPre<StepState>,
    inv: &'a StepInvocation,
    files: &'a [FileRef],
    next: AtomicUsize,
    done: AtomicUsize,
    /// Set when a worker failed: the others stop at their next file.
    abort: AtomicBool,
    partial_bytes: AtomicU64,
    file_cap: u64,
    deadline: Instant,
    grace: Duration,
    timeout_kind: LimitKind,
    stdout: CappedPipe,
    stderr: CappedPipe,
    instance_memory: u64,
    instance_log_bytes: usize,
}

impl Shared<'_> {
    fn name(&self) -> &str {
        &self.plugin.manifest.name
    }

    fn timeout(&self) -> PluginError {
        PluginError::LimitExceeded {
            plugin: self.name().to_string(),
            limit: self.timeout_kind.clone(),
        }
    }

    fn fail(&self, store: &Store<StepState>, e: wasmtime::Error) -> PluginError {
        let (stderr, _) = self.stderr.take();
        classify(self.name(), e, store.data().limit_hit(), &stderr)
    }

    /// Runs `fut` on the worker's runtime, bounded by the deadline (a guest blocked inside a
    /// host call is stopped here; guest code is stopped by the epoch callback).
    fn drive<T>(
        &self,
        rt: &tokio::runtime::Runtime,
        fut: impl Future<Output = wasmtime::Result<T>>,
    ) -> Result<wasmtime::Result<T>, PluginError> {
        let left = self.deadline.saturating_duration_since(Instant::now()) + self.grace;
        rt.block_on(async { tokio::time::timeout(left, fut).await })
            .map_err(|_| self.timeout())
    }

    /// A fresh store and instance, initialised: its filter.
    fn start(&self) -> Result<(Worker, FileFilter), PluginError> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .map_err(|e| PluginError::Setup {
                plugin: self.name().to_string(),
                reason: format!("scanner runtime: {e}"),
            })?;
        let mut store = StoreSetup {
            inv: self.inv,
            plugin: self.name(),
            max_memory: self.instance_memory,
            max_log_bytes: self.instance_log_bytes,
            deadline: self.deadline,
            timeout_kind: self.timeout_kind.clone(),
            stdout: &self.stdout,
            stderr: &self.stderr,
        }
        .build(&self.plugin.host.engine)?;
        let t = Instant::now();
        let instance = match self.drive(&rt, self.pre.instantiate_async(&mut store))? {
            Ok(i) => i,
            Err(e) => return Err(self.fail(&store, e)),
        };
        let instantiate = t.elapsed();
        let init = self.drive(
            &rt,
            instance
                .kiln_plugin_file_scanner_plugin()
                .call_init(&mut store),
        )?;
        let filter = match init {
            Ok(Ok(f)) => f,
            Ok(Err(e)) => return Err(scan_error(self.name(), e)),
            Err(e) => return Err(self.fail(&store, e)),
        };
        Ok((
            Worker {
                rt,
                store,
                instance,
                instantiate,
            },
            filter,
        ))
    }

    /// Pulls files until none are left (or another worker failed): read natively, scan in the
    /// guest. Results are keyed by the file's index in the sorted list.
    fn scan(&self, w: &mut Worker) -> Result<Vec<(usize, FileResult)>, PluginError> {
        let mut out = Vec::new();
        let total = self.files.len() as u64;
        while !self.abort.load(Ordering::Relaxed) {
            let i = self.next.fetch_add(1, Ordering::Relaxed);
            let Some(file) = self.files.get(i) else { break };
            if Instant::now() >= self.deadline {
                return Err(self.timeout());
            }
            let data = match file.read(self.file_cap) {
                Ok(FileData::Bytes(d)) => d,
                Ok(FileData::TooLarge(n)) => {
                    out.push((i, FileResult::TooLarge(n)));
                    continue;
                }
                Err(e) => {
                    out.push((i, FileResult::Unreadable(e.kind().to_string())));
                    continue;
                }
            };
            let call = w.instance.kiln_plugin_file_scanner_plugin().call_scan_file(
                &mut w.store,
                &file.rel,
                &data,
            );
            let outcome = match self.drive(&w.rt, call)? {
                Ok(o) => o,
                Err(e) => return Err(self.fail(&w.store, e)),
            };
            out.push((
                i,
                match outcome {
                    FileOutcome::Scanned(partial) => {
                        let sum = self
                            .partial_bytes
                            .fetch_add(partial.len() as u64, Ordering::Relaxed)
                            + partial.len() as u64;
                        if sum > self.inv.limits.max_output_bytes {
                            return Err(PluginError::LimitExceeded {
                                plugin: self.name().to_string(),
                                limit: LimitKind::OutputBytes {
                                    bytes: self.inv.limits.max_output_bytes,
                                },
                            });
                        }
                        FileResult::Scanned {
                            bytes: data.len() as u64,
                            partial,
                        }
                    }
                    FileOutcome::Skipped(reason) => {
                        FileResult::Skipped(reason.chars().take(MAX_REASON).collect())
                    }
                },
            ));
            let done = self.done.fetch_add(1, Ordering::Relaxed) + 1;
            if done.is_multiple_of(256)
                && let Some(sink) = &self.inv.on_event
            {
                sink(
                    self.name(),
                    &PluginEvent::Progress {
                        completed: done as u64,
                        total,
                        message: file.rel.chars().take(256).collect(),
                    },
                );
            }
        }
        Ok(out)
    }
}

fn scan_error(plugin: &str, e: ScanError) -> PluginError {
    let plugin = plugin.to_string();
    match e {
        ScanError::InvalidConfig(message) => PluginError::RejectedConfig { plugin, message },
        ScanError::Failed(message) => PluginError::Failed { plugin, message },
    }
}

/// Runs a loaded `file-scanner` plugin once (blocking; called on a blocking thread).
pub(crate) fn run(plugin: &LoadedPlugin, inv: &StepInvocation) -> Result<StepOutcome, PluginError> {
    let started = Instant::now();
    let name = plugin.manifest.name.clone();
    let StepWorld::FileScanner(pre) = &plugin.pre else {
        unreachable!("scan::run is only called for file-scanner plugins")
    };
    if !inv.grants.read_source {
        return Err(PluginError::Setup {
            plugin: name,
            reason: "a file-scanner plugin needs the read-source capability, which was not granted"
                .into(),
        });
    }
    let timeout = inv.grants.timeout.min(inv.limits.timeout);
    let max_memory = inv.grants.max_memory.min(inv.limits.max_memory);
    // Instance 0 decides the filter; the walk needs it before the others can be sized.
    let mut shared = Shared {
        plugin,
        pre,
        inv,
        files: &[],
        next: AtomicUsize::new(0),
        done: AtomicUsize::new(0),
        abort: AtomicBool::new(false),
        partial_bytes: AtomicU64::new(0),
        file_cap: 0,
        deadline: started + timeout,
        grace: plugin.host.epoch_tick * 5 + Duration::from_millis(50),
        timeout_kind: LimitKind::Timeout {
            ms: timeout.as_millis() as u64,
        },
        stdout: CappedPipe::new(inv.limits.max_stdio_bytes),
        stderr: CappedPipe::new(inv.limits.max_stdio_bytes),
        instance_memory: max_memory,
        instance_log_bytes: inv.limits.max_log_bytes,
    };
    // Instance 0 says which files to feed, so it starts before the walk, sized for the most
    // instances this memory grant allows (fewer may run once the tree's size is known).
    let (mut first, filter) = {
        let workers = worker_count(max_memory, usize::MAX);
        shared.instance_memory = max_memory / workers as u64;
        shared.instance_log_bytes = inv.limits.max_log_bytes / workers;
        shared.start()?
    };
    let globs = |key: &str, patterns: &[String]| {
        Exclude::new(key, patterns).map_err(|message| PluginError::RejectedConfig {
            plugin: name.clone(),
            message,
        })
    };
    let exclude = globs("exclude", &filter.exclude)?;
    let only = match filter.only.is_empty() {
        true => None,
        false => Some(globs("only", &filter.only)?),
    };
    let (files, counts) = walk(&inv.src_dir, &exclude, only.as_ref()).map_err(|e| PluginError::Setup {
        plugin: name.clone(),
        reason: format!("source directory: {e}"),
    })?;
    let workers = worker_count(max_memory, files.len());
    shared.files = &files;
    shared.file_cap = filter
        .max_file_size
        .min(shared.instance_memory / FILE_SHARE_OF_MEMORY);
    let shared = shared;

    let failed: Mutex<Option<PluginError>> = Mutex::new(None);
    let fail = |e: PluginError| {
        shared.abort.store(true, Ordering::Relaxed);
        failed.lock().expect("not poisoned").get_or_insert(e);
    };
    let mut results: Vec<(usize, FileResult)> = Vec::with_capacity(files.len());
    let mut other_logs: Vec<LogRecord> = Vec::new();
    let mut peak_memory = 0u64;
    std::thread::scope(|s| {
        let helpers: Vec<_> = (1..workers)
            .map(|_| {
                s.spawn(|| -> Option<HelperDone> {
                    let mut w = match shared.start() {
                        Ok((w, _)) => w,
                        Err(e) => {
                            fail(e);
                            return None;
                        }
                    };
                    match shared.scan(&mut w) {
                        Ok(r) => {
                            let peak = w.store.data().limiter.peak_memory as u64;
                            Some((r, w.store.data_mut().take_logs(), peak))
                        }
                        Err(e) => {
                            fail(e);
                            None
                        }
                    }
                })
            })
            .collect();
        match shared.scan(&mut first) {
            Ok(r) => results.extend(r),
            Err(e) => fail(e),
        }
        for h in helpers {
            if let Ok(Some((r, logs, peak))) = h.join() {
                results.extend(r);
                other_logs.extend(logs);
                peak_memory += peak;
            }
        }
    });
    if let Some(e) = failed.into_inner().expect("not poisoned") {
        return Err(e);
    }
    results.sort_unstable_by_key(|(i, _)| *i);

    let mut stats = WalkStats {
        scanned_files: 0,
        scanned_bytes: 0,
        skipped: 0,
        oversized: 0,
        unreadable: counts.unreadable,
        excluded: counts.excluded,
        too_deep: counts.too_deep,
        not_regular: counts.not_regular,
    };
    let mut warnings = counts.warnings;
    let mut partials = Vec::new();
    for (i, r) in results {
        let rel = &files[i].rel;
        match r {
            FileResult::Scanned { bytes, partial } => {
                stats.scanned_files += 1;
                stats.scanned_bytes += bytes;
                if !partial.is_empty() {
                    partials.push(Partial {
                        path: rel.clone(),
                        data: partial,
                    });
                }
            }
            FileResult::Skipped(reason) => {
                stats.skipped += 1;
                warnings.push(format!("{rel}: {reason}, skipped"));
            }
            FileResult::TooLarge(n) => {
                stats.oversized += 1;
                warnings.push(format!(
                    "{rel}: {n} bytes is over the size limit of {} bytes, skipped",
                    shared.file_cap
                ));
            }
            FileResult::Unreadable(e) => {
                stats.unreadable += 1;
                warnings.push(format!("{rel}: cannot read: {e}"));
            }
        }
    }
    let mut logs = host_warnings(&name, warnings, inv);
    let t = Instant::now();
    let call = first
        .instance
        .kiln_plugin_file_scanner_plugin()
        .call_finish(&mut first.store, &partials, stats);
    let result = match shared.drive(&first.rt, call)? {
        Ok(Ok(r)) => r,
        Ok(Err(e)) => return Err(scan_error(&name, e)),
        Err(e) => return Err(shared.fail(&first.store, e)),
    };
    tracing::debug!(plugin = %name, workers, finish_ms = t.elapsed().as_millis() as u64, "file-scanner done");
    logs.extend(other_logs);
    logs.extend(first.store.data_mut().take_logs());
    peak_memory += first.store.data().limiter.peak_memory as u64;
    let end = CallEnd {
        started,
        logs,
        stdout: shared.stdout.clone(),
        stderr: shared.stderr.clone(),
        instantiate: first.instantiate,
        call: started.elapsed().saturating_sub(first.instantiate),
        peak_memory,
    };
    let step_result = StepResult {
        findings: result.findings,
        outputs: result.outputs,
        summary: result.summary,
    };
    plugin.conclude(inv, step_result, end)
}

/// The host's per-file warnings as the plugin's log records (and live events), at most
/// [`MAX_WARNINGS`] of them plus a count of the rest.
fn host_warnings(plugin: &str, warnings: Vec<String>, inv: &StepInvocation) -> Vec<LogRecord> {
    let more = warnings.len().saturating_sub(MAX_WARNINGS);
    let mut records: Vec<LogRecord> = warnings
        .into_iter()
        .take(MAX_WARNINGS)
        .map(|message| LogRecord {
            level: LogLevel::Warn,
            message,
        })
        .collect();
    if more > 0 {
        records.push(LogRecord {
            level: LogLevel::Warn,
            message: format!("{more} more per-file warnings not shown"),
        });
    }
    if let Some(sink) = &inv.on_event {
        for r in &records {
            sink(plugin, &PluginEvent::Log(r.clone()));
        }
    }
    records
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workers_are_bounded_by_cores_memory_and_files() {
        assert_eq!(worker_count(64 << 20, 10_000), 1);
        assert_eq!(worker_count(1 << 30, 3), 1);
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        assert_eq!(worker_count(1 << 30, 10_000), cores.clamp(1, MAX_WORKERS));
    }
}
