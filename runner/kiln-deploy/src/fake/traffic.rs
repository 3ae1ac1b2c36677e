//! [`FakeTraffic`]: weights and in-service flags in memory, each change timed (so a test can say
//! how long after an alarm traffic was back), optionally persisted like the router's state would
//! be recreated from the record after a crash.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::record::Weights;
use crate::strategy::InstanceSet;
use crate::target::{BoxFuture, DrainOutcome, TrafficControl, TrafficError};

/// One weight change, with when it happened.
#[derive(Clone, Debug)]
pub struct TrafficChange {
    pub weights: Weights,
    pub at: Instant,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
struct State {
    weights: Weights,
    /// id → (set, in service).
    instances: BTreeMap<String, (InstanceSet, bool)>,
    /// Fail the next this many `set_weights` calls.
    fail_next: u32,
    /// Make `set_weights` take this long (ms).
    latency_ms: u64,
}

/// An in-memory load balancer.
#[derive(Clone)]
pub struct FakeTraffic {
    state: Arc<Mutex<State>>,
    history: Arc<Mutex<Vec<TrafficChange>>>,
    file: Option<PathBuf>,
}

impl FakeTraffic {
    /// All traffic on the original set; `instances` registered there, in service.
    pub fn new(instances: &[&str]) -> Self {
        let instances = instances.iter().map(|i| (i.to_string(), (InstanceSet::Original, true))).collect();
        FakeTraffic {
            state: Arc::new(Mutex::new(State { weights: Weights::ORIGINAL, instances, fail_next: 0, latency_ms: 0 })),
            history: Arc::new(Mutex::new(Vec::new())),
            file: None,
        }
    }

    /// Keep the state in `file` after every change.
    pub fn persisted(mut self, file: &Path) -> Self {
        self.file = Some(file.to_path_buf());
        self.save(&self.lock());
        self
    }

    /// The state saved in `file`.
    pub fn load(file: &Path) -> std::io::Result<Self> {
        let state: State = super::load(file)?;
        Ok(FakeTraffic { state: Arc::new(Mutex::new(state)), history: Arc::new(Mutex::new(Vec::new())), file: Some(file.to_path_buf()) })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn save(&self, s: &State) {
        super::save(self.file.as_deref(), s);
    }

    fn change<T>(&self, f: impl FnOnce(&mut State) -> T) -> T {
        let mut s = self.lock();
        let out = f(&mut s);
        self.save(&s);
        out
    }

    /// The weights now.
    pub fn current(&self) -> Weights {
        self.lock().weights
    }

    /// Every weight change so far.
    pub fn history(&self) -> Vec<TrafficChange> {
        self.history.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Registered instances: id → (set, in service).
    pub fn instances(&self) -> BTreeMap<String, (InstanceSet, bool)> {
        self.lock().instances.clone()
    }

    /// Make the next `n` weight changes fail.
    pub fn fail_next_shifts(&self, n: u32) {
        self.change(|s| s.fail_next = n);
    }

    /// Make every weight change take `ms` milliseconds (a slow load balancer).
    pub fn set_latency(&self, ms: u64) {
        self.change(|s| s.latency_ms = ms);
    }

    fn require<'s>(s: &'s mut State, id: &str) -> Result<&'s mut (InstanceSet, bool), TrafficError> {
        s.instances.get_mut(id).ok_or_else(|| TrafficError::new(format!("fake traffic: `{id}` is not registered")))
    }
}

impl TrafficControl for FakeTraffic {
    fn weights(&self) -> BoxFuture<'_, Result<Weights, TrafficError>> {
        let w = self.current();
        Box::pin(async move { Ok(w) })
    }

    fn set_weights(&self, weights: Weights) -> BoxFuture<'_, Result<(), TrafficError>> {
        Box::pin(async move {
            let latency = self.lock().latency_ms;
            if latency > 0 {
                tokio::time::sleep(Duration::from_millis(latency)).await;
            }
            self.change(|s| {
                if s.fail_next > 0 {
                    s.fail_next -= 1;
                    return Err(TrafficError::new("fake traffic: injected failure"));
                }
                if u16::from(weights.original) + u16::from(weights.replacement) != 100 {
                    return Err(TrafficError::new(format!("fake traffic: weights {}/{} do not sum to 100", weights.original, weights.replacement)));
                }
                s.weights = weights;
                Ok(())
            })?;
            self.history.lock().unwrap_or_else(|e| e.into_inner()).push(TrafficChange { weights, at: Instant::now() });
            Ok(())
        })
    }

    fn register<'a>(&'a self, instance: &'a str, set: InstanceSet, in_service: bool) -> BoxFuture<'a, Result<(), TrafficError>> {
        Box::pin(async move {
            self.change(|s| s.instances.insert(instance.to_string(), (set, in_service)));
            Ok(())
        })
    }

    fn deregister<'a>(&'a self, instance: &'a str) -> BoxFuture<'a, Result<(), TrafficError>> {
        Box::pin(async move {
            self.change(|s| s.instances.remove(instance));
            Ok(())
        })
    }

    fn set_in_service<'a>(&'a self, instance: &'a str, in_service: bool) -> BoxFuture<'a, Result<(), TrafficError>> {
        Box::pin(async move {
            self.change(|s| {
                Self::require(s, instance)?.1 = in_service;
                Ok(())
            })
        })
    }

    fn drain<'a>(&'a self, instances: &'a [String], _timeout: Duration) -> BoxFuture<'a, Result<DrainOutcome, TrafficError>> {
        Box::pin(async move {
            self.change(|s| instances.iter().try_for_each(|i| Self::require(s, i).map(|_| ())))?;
            Ok(DrainOutcome { drained: true, cut: 0 })
        })
    }

    fn promote_replacement(&self) -> BoxFuture<'_, Result<(), TrafficError>> {
        Box::pin(async move {
            self.change(|s| {
                s.instances.retain(|_, (set, _)| *set == InstanceSet::Replacement);
                for (set, _) in s.instances.values_mut() {
                    *set = InstanceSet::Original;
                }
                s.weights = Weights::ORIGINAL;
            });
            Ok(())
        })
    }
}
