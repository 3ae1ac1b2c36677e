//! Live progress on a terminal: one line per thing that happens — status changes, the
//! strategy's decisions, batches, lifecycle events, hook output, traffic weights, alarm state
//! changes, the rollback — each with the time since the deployment started. Written to stderr,
//! so that stdout carries only the result (`--json`).

use std::io::Write;
use std::sync::Mutex;
use std::time::Instant;

use kiln_deploy::record::LifecycleEventStatus;
use kiln_deploy::report::{Progress, Reporter};
use kiln_deploy::target::Stream;

/// Prints [`Progress`] as lines.
pub struct Terminal {
    started: Instant,
    out: Mutex<Box<dyn Write + Send>>,
}

impl Terminal {
    /// Lines to stderr.
    pub fn stderr() -> Terminal {
        Terminal::to(Box::new(std::io::stderr()))
    }

    /// Lines to `out`.
    pub fn to(out: Box<dyn Write + Send>) -> Terminal {
        Terminal { started: Instant::now(), out: Mutex::new(out) }
    }
}

/// One line for an event (no time stamp, no newline).
pub fn line(event: &Progress) -> String {
    match event {
        Progress::Status { deployment_id, status } => format!("{deployment_id} {status:?}"),
        Progress::Decision { action } => format!("strategy: {action}"),
        Progress::Batch { instances } => format!("batch: {}", instances.join(", ")),
        Progress::Lifecycle { target, event, status, message } => {
            let tail = match (status, message) {
                (LifecycleEventStatus::Failed, Some(m)) => format!(": {m}"),
                _ => String::new(),
            };
            format!("{target} {event} {status:?}{tail}")
        }
        Progress::HookOutput { target, event, stream, line } => {
            let s = if *stream == Stream::Stderr { "!" } else { "|" };
            format!("{target} {event} {s} {line}")
        }
        Progress::Traffic { weights, reason } => format!("traffic: original {} % / replacement {} % ({reason})", weights.original, weights.replacement),
        Progress::Alarm { name, state, reason } => format!("alarm {name}: {state:?} ({reason})"),
        Progress::Rollback { deployment_id, rollback_deployment_id, reason } => format!("rollback: {deployment_id} is rolled back by {rollback_deployment_id} ({reason})"),
        Progress::Message(m) => m.clone(),
    }
}

impl Reporter for Terminal {
    fn progress(&self, event: &Progress) {
        let t = self.started.elapsed().as_secs_f64();
        let mut out = self.out.lock().unwrap_or_else(|e| e.into_inner());
        // A closed stderr must not stop a deployment.
        let _ = writeln!(out, "[{t:7.2}s] {}", line(event));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kiln_deploy::record::Weights;

    #[test]
    fn lines_say_what_happened() {
        assert_eq!(line(&Progress::Traffic { weights: Weights::to_replacement(10), reason: "canary".into() }), "traffic: original 90 % / replacement 10 % (canary)");
        assert_eq!(line(&Progress::HookOutput { target: "web-1".into(), event: "AfterInstall".into(), stream: Stream::Stderr, line: "oops".into() }), "web-1 AfterInstall ! oops");
        assert_eq!(
            line(&Progress::Lifecycle { target: "web-1".into(), event: "ValidateService".into(), status: LifecycleEventStatus::Failed, message: Some("exit 1".into()) }),
            "web-1 ValidateService Failed: exit 1"
        );
    }
}
