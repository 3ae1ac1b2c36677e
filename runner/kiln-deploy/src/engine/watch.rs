//! What can interrupt a deployment while it runs, watched continuously: the alarms (evaluated
//! every [`RunOptions::alarm_interval`](crate::RunOptions::alarm_interval), during batches, waits,
//! strategy calls, bake and ready waits alike), requests from another process (`kiln deploy
//! stop|continue`), health checks of the instances (kept as the metric
//! [`HEALTH_CHECK_FAILED`](crate::metrics::HEALTH_CHECK_FAILED), which alarms may watch), and
//! a failure to write the record.
//!
//! Every await of the engine races [`Watch::next`]; whichever interrupt comes first is latched
//! and wins, with the instant it happened (the alarm's state change), which the rollback's
//! latency is measured from.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::alarm::monitor::Monitor;
use crate::alarm::AlarmState;
use crate::metrics::{Chain, MetricsSource, SampleStore, HEALTH_CHECK_FAILED};
use crate::record::{Control, Store};
use crate::report::Progress;
use crate::target::Target;

use super::state::Recorder;

/// How stale the record's alarm datapoints may get on disk while nothing else writes it.
const DATAPOINT_WRITE_INTERVAL: Duration = Duration::from_secs(1);

/// Why the engine must stop what it is doing.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Interrupt {
    /// Alarms went to ALARM.
    Alarm { names: Vec<String>, reason: String, at: Instant },
    /// An alarm's metric could not be read (and `ignorePollAlarmFailure` is false).
    PollFailure { message: String, at: Instant },
    /// `kiln deploy stop` (or the API): with the request's `autoRollbackEnabled`.
    Stop { auto_rollback: Option<bool>, at: Instant },
    /// The record could not be written.
    Store { message: String, at: Instant },
}

/// Requests that are not interrupts.
#[derive(Default)]
struct Flags {
    continue_requested: bool,
    /// The same request, for the strategy's next observation.
    continue_for_strategy: bool,
    skip_termination_wait: bool,
}

pub(crate) struct Watch<'a> {
    monitor: Mutex<Monitor>,
    alarms_on: AtomicBool,
    ignore_poll_failure: bool,
    metrics: Chain<'a>,
    samples: &'a SampleStore,
    store: &'a Store,
    id: String,
    target: &'a dyn Target,
    rec: &'a Recorder<'a>,
    interval: Duration,
    health_interval: Option<Duration>,
    last_eval: Mutex<Option<Instant>>,
    last_health: Mutex<Option<Instant>>,
    flags: Mutex<Flags>,
    latched: Mutex<Option<Interrupt>>,
    healthy: Mutex<HashMap<String, bool>>,
}

/// What the watch needs.
pub(crate) struct WatchSetup<'a> {
    pub monitor: Monitor,
    pub alarms_enabled: bool,
    pub ignore_poll_failure: bool,
    pub metrics: &'a dyn MetricsSource,
    pub samples: &'a SampleStore,
    pub store: &'a Store,
    pub target: &'a dyn Target,
    pub rec: &'a Recorder<'a>,
    pub interval: Duration,
    pub health_interval: Option<Duration>,
}

impl<'a> Watch<'a> {
    pub fn new(s: WatchSetup<'a>) -> Self {
        s.samples.declare(HEALTH_CHECK_FAILED);
        // What hooks report is known only once they run: an alarm may name it before.
        for m in s.monitor.metrics().filter(|m| m.starts_with(crate::metrics::HOOK_PREFIX)) {
            s.samples.declare(m);
        }
        Watch {
            alarms_on: AtomicBool::new(s.alarms_enabled && !s.monitor.is_empty()),
            monitor: Mutex::new(s.monitor),
            ignore_poll_failure: s.ignore_poll_failure,
            metrics: Chain(vec![s.samples, s.metrics]),
            samples: s.samples,
            store: s.store,
            id: s.rec.id(),
            target: s.target,
            rec: s.rec,
            interval: s.interval.max(Duration::from_millis(1)),
            health_interval: s.health_interval,
            last_eval: Mutex::new(None),
            last_health: Mutex::new(None),
            flags: Mutex::new(Flags::default()),
            latched: Mutex::new(None),
            healthy: Mutex::new(HashMap::new()),
        }
    }

    /// Check the alarms' metrics exist (before anything changes).
    pub fn check_metrics(&self) -> Result<(), String> {
        if !self.alarms_on.load(Ordering::Relaxed) {
            return Ok(());
        }
        self.lock_monitor().check(&self.metrics).map_err(|e| e.to_string())
    }

    fn lock_monitor(&self) -> std::sync::MutexGuard<'_, Monitor> {
        self.monitor.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Stop watching alarms (a rollback is not stopped by the alarm that caused it).
    pub fn alarms_off(&self) {
        self.alarms_on.store(false, Ordering::Relaxed);
    }

    /// The latched interrupt, if any.
    pub fn interrupted(&self) -> Option<Interrupt> {
        self.latched.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn latch(&self, i: Interrupt) -> Interrupt {
        self.latched.lock().unwrap_or_else(|e| e.into_inner()).get_or_insert(i).clone()
    }

    /// Evaluate now if an evaluation is due; the latched interrupt, if any.
    pub fn check(&self) -> Option<Interrupt> {
        let now = Instant::now();
        let due = self.last_eval.lock().unwrap_or_else(|e| e.into_inner()).is_none_or(|t| now >= t + self.interval);
        if due {
            self.evaluate(now);
        }
        self.interrupted()
    }

    /// Wait for an interrupt, evaluating every interval (and checking health when due).
    pub async fn next(&self) -> Interrupt {
        loop {
            if let Some(i) = self.interrupted() {
                return i;
            }
            let last = *self.last_eval.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(t) = last {
                tokio::time::sleep_until((t + self.interval).into()).await;
            }
            self.health_round().await;
            if let Some(i) = self.check() {
                return i;
            }
        }
    }

    fn evaluate(&self, now: Instant) {
        *self.last_eval.lock().unwrap_or_else(|e| e.into_inner()) = Some(now);
        if let Some(message) = self.rec.store_error() {
            self.latch(Interrupt::Store { message, at: now });
        }
        match self.store.take_request(&self.id) {
            Some(Control::Stop { auto_rollback_enabled }) => {
                self.latch(Interrupt::Stop { auto_rollback: auto_rollback_enabled, at: now });
            }
            Some(Control::Continue) => {
                let mut f = self.flags.lock().unwrap_or_else(|e| e.into_inner());
                f.continue_requested = true;
                f.continue_for_strategy = true;
            }
            Some(Control::SkipTerminationWait) => self.flags.lock().unwrap_or_else(|e| e.into_inner()).skip_termination_wait = true,
            None => {}
        }
        if !self.alarms_on.load(Ordering::Relaxed) {
            return;
        }
        let (result, new_points) = {
            let mut m = self.lock_monitor();
            let r = m.poll(&self.metrics, now);
            (r, m.take_new_points())
        };
        if new_points && !matches!(&result, Ok(c) if !c.is_empty()) {
            // Datapoints alone: into the record, written with its next write (or now, when
            // nothing wrote it for a second), never a write per evaluation.
            let statuses = self.lock_monitor().statuses();
            self.rec.update_lazily(DATAPOINT_WRITE_INTERVAL, |i| i.kiln.alarms = statuses);
        }
        match result {
            Ok(changes) if !changes.is_empty() => {
                let statuses = self.lock_monitor().statuses();
                self.rec.update(|i| i.kiln.alarms = statuses);
                for c in &changes {
                    self.rec.reporter.progress(&Progress::Alarm { name: c.alarm_name.clone(), state: c.state, reason: c.state_reason.clone() });
                }
                let firing: Vec<&crate::alarm::monitor::AlarmChange> = changes.iter().filter(|c| c.state == AlarmState::Alarm).collect();
                if let Some(first) = firing.first() {
                    self.latch(Interrupt::Alarm {
                        names: firing.iter().map(|c| c.alarm_name.clone()).collect(),
                        reason: first.state_reason.clone(),
                        at: first.at,
                    });
                }
            }
            Ok(_) => {}
            Err(e) if self.ignore_poll_failure => {
                self.rec.reporter.progress(&Progress::Message(format!("alarm state could not be read ({e}); ignorePollAlarmFailure is true, so the deployment goes on")));
            }
            Err(e) => {
                self.latch(Interrupt::PollFailure { message: e.to_string(), at: now });
            }
        }
    }

    /// Check the health of every instance that runs a revision, when a check is due.
    async fn health_round(&self) {
        let Some(every) = self.health_interval else { return };
        let now = Instant::now();
        {
            let mut last = self.last_health.lock().unwrap_or_else(|e| e.into_inner());
            if last.is_some_and(|t| now < t + every) {
                return;
            }
            *last = Some(now);
        }
        // Not an instance being deployed to: its service is stopped on purpose, and an answer
        // from that moment would outlive the deployment of it (see `forget`).
        let ids: Vec<String> = self.rec.read(|s| {
            let deploying = |id: &str| super::state::target(&s.info, id).is_some_and(|t| t.status == crate::record::TargetStatus::InProgress);
            s.info.kiln.fleet.iter().filter(|f| f.revision.is_some() && !deploying(&f.id)).map(|f| f.id.clone()).collect()
        });
        for id in ids {
            let ok = matches!(self.target.health_check(&id).await, Ok(true));
            self.samples.record(HEALTH_CHECK_FAILED, if ok { 0.0 } else { 1.0 });
            self.healthy.lock().unwrap_or_else(|e| e.into_inner()).insert(id, ok);
        }
    }

    /// Record samples a hook reported (`kiln-metric` lines), at the times they were printed.
    pub fn record_samples(&self, samples: &[(String, Instant, f64)]) {
        for (name, at, value) in samples {
            self.samples.record_at(name, *at, *value);
        }
    }

    /// Drop what an earlier check said about `id` (it was just deployed: its lifecycle's own
    /// start and health probe stand until the next round).
    pub fn forget(&self, id: &str) {
        self.healthy.lock().unwrap_or_else(|e| e.into_inner()).remove(id);
    }

    /// The last health check's answer for an instance (`None` before the first check).
    pub fn healthy(&self, id: &str) -> Option<bool> {
        self.healthy.lock().unwrap_or_else(|e| e.into_inner()).get(id).copied()
    }

    /// Every alarm's state, for observations.
    pub fn alarm_views(&self) -> Vec<crate::strategy::AlarmView> {
        self.lock_monitor().statuses().into_iter().map(|s| crate::strategy::AlarmView { name: s.alarm_name, firing: s.state_value == AlarmState::Alarm }).collect()
    }

    /// Whether `continue` was asked for (and forget it).
    pub fn take_continue(&self) -> bool {
        std::mem::take(&mut self.flags.lock().unwrap_or_else(|e| e.into_inner()).continue_requested)
    }

    /// Whether `continue` was asked for since the strategy's last observation (and forget it).
    pub fn take_strategy_continue(&self) -> bool {
        std::mem::take(&mut self.flags.lock().unwrap_or_else(|e| e.into_inner()).continue_for_strategy)
    }

    /// Whether skipping the termination wait was asked for (and forget it).
    pub fn take_skip_wait(&self) -> bool {
        std::mem::take(&mut self.flags.lock().unwrap_or_else(|e| e.into_inner()).skip_termination_wait)
    }

    /// Sleep `d` (real time), or return the interrupt that comes first.
    pub async fn sleep(&self, d: Duration) -> Result<(), Interrupt> {
        tokio::select! {
            biased;
            i = self.next() => Err(i),
            _ = tokio::time::sleep(d) => self.interrupted().map_or(Ok(()), Err),
        }
    }

    /// Run `work`, or return the interrupt that comes first (dropping `work`).
    pub async fn race<T>(&self, work: impl std::future::Future<Output = T>) -> Result<T, Interrupt> {
        if let Some(i) = self.check() {
            return Err(i);
        }
        tokio::select! {
            biased;
            i = self.next() => Err(i),
            out = work => Ok(out),
        }
    }
}
