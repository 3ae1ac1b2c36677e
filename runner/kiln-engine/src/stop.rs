//! [`Stop`]: asking a running build to stop, as CodeBuild's `StopBuild` does.
//!
//! The caller keeps one clone and gives another to the build in [`crate::BuildOptions::stop`].
//! When [`Stop::stop`] is called, the build ends the command or plugin step it is running (its
//! whole process tree is killed, as at a timeout), marks that phase `STOPPED`, skips every later
//! phase up to `FINALIZING` (which still kills and reaps whatever is left and removes the scratch
//! space) and finishes with `buildStatus: STOPPED`. A batch uses it for `fast-fail`, Ctrl-C and
//! its timeout; stopping a build that already finished does nothing.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// A cloneable request to stop a build; all clones share one state.
#[derive(Clone, Debug, Default)]
pub struct Stop(Arc<Inner>);

#[derive(Debug, Default)]
struct Inner {
    stopped: AtomicBool,
    reason: Mutex<Option<String>>,
    notify: tokio::sync::Notify,
}

impl Stop {
    pub fn new() -> Stop {
        Stop::default()
    }

    /// Ask the build to stop, saying why (kept from the first call; it goes into the record).
    pub fn stop(&self, reason: impl Into<String>) {
        {
            let mut r = self.0.reason.lock().unwrap_or_else(|p| p.into_inner());
            if r.is_none() {
                *r = Some(reason.into());
            }
        }
        self.0.stopped.store(true, Ordering::SeqCst);
        self.0.notify.notify_waiters();
    }

    /// Whether [`Stop::stop`] was called.
    pub fn is_stopped(&self) -> bool {
        self.0.stopped.load(Ordering::SeqCst)
    }

    /// Why the build was asked to stop.
    pub fn reason(&self) -> Option<String> {
        self.0.reason.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Resolves once [`Stop::stop`] has been called (at once if it already was).
    pub async fn stopped(&self) {
        loop {
            let notified = self.0.notify.notified();
            tokio::pin!(notified);
            // Registered before the flag is read, so a stop between the two is not missed.
            notified.as_mut().enable();
            if self.is_stopped() {
                return;
            }
            notified.await;
        }
    }
}

/// Resolves when `stop` (if any) is stopped; never when there is none.
pub(crate) async fn requested(stop: Option<&Stop>) {
    match stop {
        Some(s) => s.stopped().await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn a_stop_wakes_every_waiter_and_keeps_the_first_reason() {
        let stop = Stop::new();
        let waiters: Vec<_> = (0..3)
            .map(|_| {
                let s = stop.clone();
                tokio::spawn(async move { s.stopped().await })
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!stop.is_stopped());
        stop.stop("fast-fail: a failed");
        stop.stop("later");
        for w in waiters {
            tokio::time::timeout(Duration::from_secs(5), w).await.expect("woken").expect("joined");
        }
        assert_eq!(stop.reason().as_deref(), Some("fast-fail: a failed"));
        // Already stopped: resolves at once.
        tokio::time::timeout(Duration::from_millis(100), stop.stopped()).await.expect("immediate");
    }

    #[tokio::test]
    async fn no_stop_never_resolves() {
        assert!(tokio::time::timeout(Duration::from_millis(30), requested(None)).await.is_err());
    }
}
