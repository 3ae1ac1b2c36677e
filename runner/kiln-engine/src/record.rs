//! The build record, `.kiln/builds/<id>/build.json`: CodeBuild's `Build` API object where it has a
//! field for something, plus kiln's own section. Timestamps are RFC 3339 strings (as the AWS CLI
//! prints them); `durationInSeconds` rounds down, as CodeBuild's does.

use std::io;
use std::path::PathBuf;
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;

use serde::Serialize;

use crate::transitions::{PhaseStatus, PhaseType};

/// `Build` (CodeBuild API), as kiln fills it in.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BuildRecord {
    pub id: String,
    pub build_number: u64,
    pub project_name: String,
    pub start_time: String,
    pub end_time: Option<String>,
    pub current_phase: String,
    pub build_status: String,
    pub build_complete: bool,
    pub initiator: String,
    /// The batch this build belongs to (`kiln build --batch`), absent for a single build.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub build_batch_arn: Option<String>,
    pub source_version: Option<String>,
    pub resolved_source_version: Option<String>,
    pub phases: Vec<PhaseRecord>,
    pub exported_environment_variables: Vec<NameValue>,
    pub artifacts: Option<ArtifactRecord>,
    pub secondary_artifacts: Vec<ArtifactRecord>,
    /// `Build.reportArns`: the ARN of each report below.
    pub report_arns: Vec<String>,
    /// The build's reports (`reports:` groups and auto-discovered ones), each with CodeBuild's
    /// `Report` fields and its test cases, per-file coverage or findings (see `reports.rs`).
    pub reports: Vec<crate::reports::ReportRecord>,
    pub logs: LogsRecord,
    pub kiln: KilnRecord,
}

/// `BuildPhase`.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PhaseRecord {
    pub phase_type: PhaseType,
    pub phase_status: Option<PhaseStatus>,
    pub start_time: String,
    pub end_time: Option<String>,
    pub duration_in_seconds: Option<u64>,
    pub contexts: Vec<PhaseContext>,
    /// The exact duration, for kiln's summary (CodeBuild's record has whole seconds only).
    #[serde(skip)]
    pub duration: Option<std::time::Duration>,
}

/// `PhaseContext`.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PhaseContext {
    pub status_code: String,
    pub message: String,
}

/// `EnvironmentVariable` / `ExportedEnvironmentVariable`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct NameValue {
    pub name: String,
    pub value: String,
}

/// `BuildArtifacts`, with the location a local path and kiln's per-file digests.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ArtifactRecord {
    pub artifact_identifier: Option<String>,
    pub location: String,
    /// sha256 of the zip (absent for a directory artifact).
    pub sha256sum: Option<String>,
    pub files: Vec<ArtifactFile>,
}

/// One file inside an artifact.
#[derive(Clone, Debug, Serialize)]
pub struct ArtifactFile {
    pub path: String,
    pub sha256: String,
    pub size: u64,
}

/// `LogsLocation`, pointing at local files.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LogsRecord {
    pub path: String,
}

/// kiln's own part of the record.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct KilnRecord {
    pub version: String,
    pub buildspec: BuildspecRef,
    pub source_dir: String,
    /// The source's git remote (credentials stripped), if any.
    pub source_repository: Option<String>,
    pub work_dir: String,
    pub record_dir: String,
    pub shell: String,
    pub sandbox: kiln_sandbox::SandboxReport,
    /// Things kiln did not do or did differently from CodeBuild (reports, cache, batch, run-as …).
    /// Who ran which phase (`run-as`), when kiln applied it.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub run_as: Vec<String>,
    /// The build cache: what was restored (its manifest digest) and saved.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cache: Option<crate::build_cache::CacheRecord>,
    pub notices: Vec<String>,
    /// Names (never values) of variables resolved from parameter-store / secrets-manager.
    pub secret_variables: Vec<String>,
    /// `--env` overrides given for this build (user-supplied; secret values are masked in the record).
    pub environment_overrides: Vec<NameValue>,
    /// Every `uses:` step that ran, in order.
    pub plugins: Vec<crate::plugins::PluginRun>,
    /// The build's place in its batch, absent for a single build.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub batch: Option<BatchRef>,
}

/// A batch build's identifier and the `env.variables` its batch entry set.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BatchRef {
    pub identifier: String,
    /// The batch entry's `env.variables` (secret values masked in the record).
    pub environment_variables: Vec<NameValue>,
}

/// The buildspec that ran, by path and digest.
#[derive(Clone, Debug, Serialize)]
pub struct BuildspecRef {
    pub path: String,
    pub sha256: String,
}


/// Writes `build.json` on a thread of its own, so the build does not wait for the file system
/// (creating and renaming a file costs 0.2–0.7 ms on ext4). Only the newest record matters: a
/// save that arrives while the previous one is being written replaces any save still waiting.
pub struct RecordWriter {
    shared: Arc<(Mutex<Queue>, Condvar)>,
    thread: Option<JoinHandle<()>>,
}

#[derive(Default)]
struct Queue {
    next: Option<Vec<u8>>,
    closed: bool,
}

impl RecordWriter {
    /// Start the thread that writes `path` atomically ([`kiln_fs::write_atomic`], not durable).
    pub fn start(path: PathBuf) -> io::Result<RecordWriter> {
        let shared = Arc::new((Mutex::new(Queue::default()), Condvar::new()));
        let theirs = Arc::clone(&shared);
        let thread = std::thread::Builder::new().name("kiln-record".into()).spawn(move || {
            let (lock, ready) = &*theirs;
            loop {
                let mut q = lock.lock().unwrap_or_else(|p| p.into_inner());
                while q.next.is_none() && !q.closed {
                    q = ready.wait(q).unwrap_or_else(|p| p.into_inner());
                }
                let (next, closed) = (q.next.take(), q.closed);
                drop(q);
                if let Some(bytes) = next {
                    // A failed intermediate save is not fatal; the final one is retried by
                    // whoever reads the record (it is also returned in memory).
                    let _ = kiln_fs::write_atomic(&path, &bytes, false);
                } else if closed {
                    return;
                }
            }
        })?;
        Ok(RecordWriter { shared, thread: Some(thread) })
    }

    /// Queue `bytes` as the record's new content (replacing a queued, unwritten one).
    pub fn save(&self, bytes: Vec<u8>) {
        let (lock, ready) = &*self.shared;
        lock.lock().unwrap_or_else(|p| p.into_inner()).next = Some(bytes);
        ready.notify_one();
    }

    /// Write what is queued, then stop the thread.
    pub fn finish(mut self) {
        self.close();
    }

    fn close(&mut self) {
        let (lock, ready) = &*self.shared;
        lock.lock().unwrap_or_else(|p| p.into_inner()).closed = true;
        ready.notify_one();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for RecordWriter {
    fn drop(&mut self) {
        self.close();
    }
}

/// Now, as an RFC 3339 UTC timestamp with milliseconds.
pub fn now_rfc3339() -> String {
    rfc3339(time::OffsetDateTime::now_utc())
}

/// Format a timestamp as RFC 3339 UTC with milliseconds.
pub fn rfc3339(t: time::OffsetDateTime) -> String {
    let f = time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z");
    t.to_offset(time::UtcOffset::UTC).format(&f).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_record_writer_ends_with_the_newest_save() {
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join("build.json");
        let w = RecordWriter::start(path.clone()).unwrap();
        for i in 0..200 {
            w.save(format!("{{\"n\":{i}}}").into_bytes());
        }
        w.finish();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "{\"n\":199}");
        let names: Vec<_> = std::fs::read_dir(d.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, vec![std::ffi::OsString::from("build.json")], "no temp file left");
        // Dropped without finish (kiln gave up early): what was queued is still written.
        let w = RecordWriter::start(path.clone()).unwrap();
        w.save(b"last".to_vec());
        drop(w);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "last");
    }

    #[test]
    fn timestamps_are_rfc3339() {
        let t = time::OffsetDateTime::from_unix_timestamp_nanos(1_700_000_000_123_000_000).unwrap();
        assert_eq!(rfc3339(t), "2023-11-14T22:13:20.123Z");
    }
}
