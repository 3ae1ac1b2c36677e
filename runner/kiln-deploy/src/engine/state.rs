//! The state of a running deployment *is* its record: every change goes into the
//! `DeploymentInfo` held here and is written out (atomically) before the engine moves on, so a
//! process killed at any moment leaves a record that says exactly how far it got. The group's
//! state (last successful revision, per-instance installs and cleanup lists) is kept the same way.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Instant, SystemTime};

use crate::record::store::Handle;
use crate::record::time::rfc3339;
use crate::record::{
    DeploymentInfo, DeploymentOverview, DeploymentStatus, Diagnostics, FleetInstance, GroupState, LifecycleEvent, LifecycleEventStatus, Store, TargetCore, TargetStatus,
};
use crate::report::{Progress, Reporter};

/// The record and the group state, behind one lock (never held across an await).
pub(crate) struct Shared {
    pub info: DeploymentInfo,
    pub group: GroupState,
    seq: u64,
    group_seq: u64,
}

/// Keeps a deployment's record and writes it after every change.
pub(crate) struct Recorder<'a> {
    shared: Mutex<Shared>,
    handle: Handle,
    store: &'a Store,
    written: Mutex<(u64, u64)>,
    /// When the record was last written.
    last_write: Mutex<Instant>,
    pub reporter: Arc<dyn Reporter>,
    store_error: Mutex<Option<String>>,
    /// When the deployment started on this machine's monotonic clock.
    pub started: Instant,
}

impl<'a> Recorder<'a> {
    pub fn new(info: DeploymentInfo, group: GroupState, handle: Handle, store: &'a Store, reporter: Arc<dyn Reporter>) -> Self {
        Recorder {
            shared: Mutex::new(Shared { info, group, seq: 0, group_seq: 0 }),
            handle,
            store,
            written: Mutex::new((0, 0)),
            last_write: Mutex::new(Instant::now()),
            reporter,
            store_error: Mutex::new(None),
            started: Instant::now(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Shared> {
        self.shared.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Read something from the state.
    pub fn read<T>(&self, f: impl FnOnce(&Shared) -> T) -> T {
        f(&self.lock())
    }

    /// Change the record and write it.
    pub fn update<T>(&self, f: impl FnOnce(&mut DeploymentInfo) -> T) -> T {
        self.update_durable(false, f)
    }

    /// [`Recorder::update`], fsynced (final states, traffic journal entries).
    pub fn update_durable<T>(&self, durable: bool, f: impl FnOnce(&mut DeploymentInfo) -> T) -> T {
        let (out, seq, bytes_info) = {
            let mut s = self.lock();
            let out = f(&mut s.info);
            s.info.deployment_overview = overview(&s.info);
            let id = s.info.deployment_id.clone();
            for t in &mut s.info.deployment_targets {
                let t = t.core_mut();
                if t.deployment_id.is_empty() {
                    t.deployment_id = id.clone();
                }
            }
            s.seq += 1;
            (out, s.seq, s.info.clone())
        };
        let mut written = self.written.lock().unwrap_or_else(|e| e.into_inner());
        if seq > written.0 {
            if let Err(e) = self.handle.write(&bytes_info, durable) {
                self.fail_store(e.to_string());
            }
            written.0 = seq;
            *self.last_write.lock().unwrap_or_else(|e| e.into_inner()) = Instant::now();
        }
        out
    }

    /// Change the record; write it only when it was last written `max_age` ago or more, else
    /// leave the change for the next write (alarm datapoints: frequent, and only for charts).
    pub fn update_lazily(&self, max_age: std::time::Duration, f: impl FnOnce(&mut DeploymentInfo)) {
        if self.last_write.lock().unwrap_or_else(|e| e.into_inner()).elapsed() >= max_age {
            return self.update(f);
        }
        let mut s = self.lock();
        f(&mut s.info);
        s.seq += 1;
    }

    /// Change the group state and write it.
    pub fn update_group<T>(&self, f: impl FnOnce(&mut GroupState) -> T) -> T {
        let (out, seq, state, app, group) = {
            let mut s = self.lock();
            let out = f(&mut s.group);
            s.group_seq += 1;
            (out, s.group_seq, s.group.clone(), s.info.application_name.clone(), s.info.deployment_group_name.clone())
        };
        let mut written = self.written.lock().unwrap_or_else(|e| e.into_inner());
        if seq > written.1 {
            if let Err(e) = self.store.save_group_state(&app, &group, &state) {
                self.fail_store(e.to_string());
            }
            written.1 = seq;
        }
        out
    }

    fn fail_store(&self, message: String) {
        self.reporter.progress(&Progress::Message(format!("kiln could not write the deployment record: {message}")));
        self.store_error.lock().unwrap_or_else(|e| e.into_inner()).get_or_insert(message);
    }

    /// The first record write that failed, if any (the engine then stops the deployment).
    pub fn store_error(&self) -> Option<String> {
        self.store_error.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// A copy of the record.
    pub fn snapshot(&self) -> DeploymentInfo {
        self.lock().info.clone()
    }

    pub fn id(&self) -> String {
        self.handle.id.clone()
    }

    /// Set the deployment's status (and report it).
    pub fn set_status(&self, status: DeploymentStatus) {
        let id = self.update_durable(status.is_final(), |i| {
            i.status = status;
            if status.is_final() {
                i.complete_time = Some(rfc3339(SystemTime::now()));
            }
            i.deployment_id.clone()
        });
        self.reporter.progress(&Progress::Status { deployment_id: id, status });
    }

    /// Set one lifecycle event's status on one target, with times, and report it.
    pub fn event(&self, target: &str, event: &str, status: LifecycleEventStatus, diagnostics: Option<Diagnostics>) {
        let now = rfc3339(SystemTime::now());
        self.update(|i| {
            if let Some(t) = target_mut(i, target) {
                t.last_updated_at = now.clone();
                if let Some(e) = t.lifecycle_events.iter_mut().find(|e| e.lifecycle_event_name == event) {
                    match status {
                        LifecycleEventStatus::InProgress => {
                            e.start_time = Some(now.clone());
                            e.end_time = None;
                            e.diagnostics = None;
                        }
                        LifecycleEventStatus::Pending => {
                            e.start_time = None;
                            e.end_time = None;
                        }
                        LifecycleEventStatus::Skipped => {}
                        _ => {
                            e.start_time.get_or_insert_with(|| now.clone());
                            e.end_time = Some(now.clone());
                        }
                    }
                    e.status = status;
                    if diagnostics.is_some() {
                        e.diagnostics = diagnostics.clone();
                    }
                }
            }
        });
        self.reporter.progress(&Progress::Lifecycle { target: target.to_string(), event: event.to_string(), status, message: diagnostics.map(|d| d.message) });
    }

    /// Set one target's status.
    pub fn target_status(&self, target: &str, status: TargetStatus) {
        let now = rfc3339(SystemTime::now());
        self.update(|i| {
            if let Some(t) = target_mut(i, target) {
                t.status = status;
                t.last_updated_at = now;
            }
        });
    }

    /// Change one fleet instance.
    pub fn fleet(&self, id: &str, f: impl FnOnce(&mut FleetInstance)) {
        self.update(|i| {
            if let Some(x) = i.kiln.fleet.iter_mut().find(|x| x.id == id) {
                f(x);
            }
        });
    }
}

/// A target of the record by id.
pub(crate) fn target_mut<'i>(info: &'i mut DeploymentInfo, id: &str) -> Option<&'i mut TargetCore> {
    info.deployment_targets.iter_mut().map(|t| t.core_mut()).find(|t| t.target_id == id)
}

/// A target of the record by id.
pub(crate) fn target<'i>(info: &'i DeploymentInfo, id: &str) -> Option<&'i TargetCore> {
    info.deployment_targets.iter().map(|t| t.core()).find(|t| t.target_id == id)
}

/// `deploymentOverview` from the targets' statuses.
fn overview(info: &DeploymentInfo) -> DeploymentOverview {
    let mut o = DeploymentOverview::default();
    for t in &info.deployment_targets {
        match t.core().status {
            TargetStatus::Pending | TargetStatus::Unknown => o.pending += 1,
            TargetStatus::InProgress => o.in_progress += 1,
            TargetStatus::Succeeded => o.succeeded += 1,
            TargetStatus::Failed => o.failed += 1,
            TargetStatus::Skipped => o.skipped += 1,
            TargetStatus::Ready => o.ready += 1,
        }
    }
    o
}

/// Fresh lifecycle events, all Pending.
pub(crate) fn pending_events(events: &[kiln_spec::appspec::Event]) -> Vec<LifecycleEvent> {
    events.iter().map(|e| LifecycleEvent { lifecycle_event_name: e.name().to_string(), diagnostics: None, start_time: None, end_time: None, status: LifecycleEventStatus::Pending }).collect()
}

/// Keep the last 2048 characters of `text`, in whole lines, as the agents send `logTail`.
pub(crate) fn log_tail(text: &str) -> String {
    const MAX: usize = 2048;
    if text.len() <= MAX {
        return text.to_string();
    }
    let mut start = text.len() - MAX;
    while !text.is_char_boundary(start) {
        start += 1;
    }
    match text[start..].find('\n') {
        Some(nl) if start > 0 => text[start + nl + 1..].to_string(),
        _ => text[start..].to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_tails_keep_whole_lines_within_2048_characters() {
        let text: String = (0..500).map(|i| format!("line {i}\n")).collect();
        let tail = log_tail(&text);
        assert!(tail.len() <= 2048);
        assert!(tail.starts_with("line "), "{}", &tail[..20]);
        assert!(tail.ends_with("line 499\n"));
        assert_eq!(log_tail("short\n"), "short\n");
        let wide: String = "é".repeat(3000);
        assert!(log_tail(&wide).len() <= 2048);
    }
}
