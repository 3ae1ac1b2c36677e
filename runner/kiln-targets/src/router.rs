//! kiln-router as a deployment's load balancer ([`RouterTraffic`]) and metric source
//! ([`RouterMetrics`]).
//!
//! The router has two target groups, `a` and `b`; which one is the original set is a label here.
//! Promoting the replacement set swaps the label: its instances keep serving with no change to
//! routing at all, where moving them between groups would leave a moment with no instance.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kiln_deploy::metrics::{Datapoint, Distribution, MetricsError, MetricsSource};
use kiln_deploy::record::Weights;
use kiln_deploy::target::{BoxFuture, DrainOutcome, InstanceSet, TrafficControl, TrafficError};
use kiln_router::{DrainSet, InstanceSpec, Router, RouterConfig, Stats, TargetGroup};

use crate::local::LocalFleet;

const GROUPS: [&str; 2] = ["a", "b"];

/// The router of one deployment group, over a local fleet's instances.
#[derive(Clone)]
pub struct RouterTraffic {
    router: Arc<Router>,
    fleet: LocalFleet,
    /// Index into [`GROUPS`] of the original set's group.
    original: Arc<Mutex<usize>>,
}

fn terr(e: impl std::fmt::Display) -> TrafficError {
    TrafficError::new(format!("kiln-router: {e}"))
}

impl RouterTraffic {
    /// Start a router on `config.listen` with the fleet's instances in the original set, in service.
    pub async fn start(config: RouterConfig, fleet: LocalFleet, originals: &[String]) -> Result<RouterTraffic, TrafficError> {
        let mut a = TargetGroup::new(GROUPS[0], 100);
        for id in originals {
            let addr = fleet.addr(id).ok_or_else(|| TrafficError::new(format!("{id} is not an instance of the local fleet")))?;
            a = a.instance(InstanceSpec::new(id.clone(), addr));
        }
        let router = Router::start(config, vec![a, TargetGroup::new(GROUPS[1], 0)]).await.map_err(terr)?;
        Ok(RouterTraffic { router: Arc::new(router), fleet, original: Arc::new(Mutex::new(0)) })
    }

    /// The address clients use.
    pub fn local_addr(&self) -> std::net::SocketAddr {
        self.router.local_addr()
    }

    /// The router itself (metrics, status).
    pub fn router(&self) -> &Router {
        &self.router
    }

    /// The metric source over this router.
    pub fn metrics(&self) -> RouterMetrics {
        RouterMetrics { traffic: self.clone() }
    }

    fn group(&self, set: InstanceSet) -> &'static str {
        let o = *self.original.lock().unwrap_or_else(|e| e.into_inner());
        match set {
            InstanceSet::Original => GROUPS[o],
            InstanceSet::Replacement => GROUPS[1 - o],
        }
    }

    /// Stop listening (requests in flight finish).
    pub async fn shutdown(&self) {
        self.router.shutdown().await;
    }
}

impl TrafficControl for RouterTraffic {
    fn weights(&self) -> BoxFuture<'_, Result<Weights, TrafficError>> {
        Box::pin(async move {
            let w = self.router.weights();
            let of = |g: &str| w.iter().find(|(n, _)| n == g).map_or(0, |(_, w)| *w);
            Ok(Weights { original: of(self.group(InstanceSet::Original)), replacement: of(self.group(InstanceSet::Replacement)) })
        })
    }

    fn set_weights(&self, weights: Weights) -> BoxFuture<'_, Result<(), TrafficError>> {
        Box::pin(async move { self.router.set_weights([(self.group(InstanceSet::Original), weights.original), (self.group(InstanceSet::Replacement), weights.replacement)]).map_err(terr) })
    }

    fn register<'a>(&'a self, instance: &'a str, set: InstanceSet, in_service: bool) -> BoxFuture<'a, Result<(), TrafficError>> {
        Box::pin(async move {
            let addr = self.fleet.addr(instance).ok_or_else(|| TrafficError::new(format!("{instance} is not an instance of the local fleet")))?;
            self.router.add_instance(self.group(set), InstanceSpec::new(instance, addr).in_service(in_service)).map_err(terr)
        })
    }

    fn deregister<'a>(&'a self, instance: &'a str) -> BoxFuture<'a, Result<(), TrafficError>> {
        Box::pin(async move { self.router.remove_instance(instance).map_err(terr) })
    }

    fn set_in_service<'a>(&'a self, instance: &'a str, in_service: bool) -> BoxFuture<'a, Result<(), TrafficError>> {
        Box::pin(async move { self.router.set_in_service(instance, in_service).map_err(terr) })
    }

    fn drain<'a>(&'a self, instances: &'a [String], timeout: Duration) -> BoxFuture<'a, Result<DrainOutcome, TrafficError>> {
        Box::pin(async move {
            let r = self.router.drain_with_timeout(DrainSet::Instances(instances.to_vec()), timeout).await.map_err(terr)?;
            Ok(DrainOutcome { drained: r.drained, cut: r.cut })
        })
    }

    fn promote_replacement(&self) -> BoxFuture<'_, Result<(), TrafficError>> {
        Box::pin(async move {
            let old = self.group(InstanceSet::Original);
            let ids: Vec<String> = self.router.status().into_iter().filter(|g| g.name == old).flat_map(|g| g.instances.into_iter().map(|i| i.id)).collect();
            {
                let mut o = self.original.lock().unwrap_or_else(|e| e.into_inner());
                *o = 1 - *o;
            }
            // The old original group has weight 0 by now (else the promotion is refused).
            let w = self.weights().await?;
            if w.original != 100 {
                let mut o = self.original.lock().unwrap_or_else(|e| e.into_inner());
                *o = 1 - *o;
                return Err(TrafficError::new(format!("cannot promote the replacement set while it has {} % of the traffic (it needs all of it)", w.original)));
            }
            for id in ids {
                self.router.remove_instance(&id).map_err(terr)?;
            }
            Ok(())
        })
    }
}

/// The router's metrics windows as alarm metrics (see the crate docs for the names).
pub struct RouterMetrics {
    traffic: RouterTraffic,
}

/// The metric names without their `router.` / `router.<set>.` prefix.
pub const METRICS: [&str; 8] = [
    "RequestCount",
    "HTTPCode_Target_2XX_Count",
    "HTTPCode_Target_3XX_Count",
    "HTTPCode_Target_4XX_Count",
    "HTTPCode_Target_5XX_Count",
    "HTTPCode_ELB_5XX_Count",
    "TargetResponseTime",
    "HTTPCode_5XX_Rate",
];

fn parse_name(metric: &str) -> Option<(Option<InstanceSet>, &str)> {
    let rest = metric.strip_prefix("router.")?;
    let (set, name) = match rest.split_once('.') {
        Some(("original", n)) => (Some(InstanceSet::Original), n),
        Some(("replacement", n)) => (Some(InstanceSet::Replacement), n),
        Some(_) => return None,
        None => (None, rest),
    };
    METRICS.contains(&name).then_some((set, name))
}

fn count(n: u64) -> Option<Datapoint> {
    Datapoint::from_values(vec![n as f64])
}

/// The metric over the requests of `parts` (groups, and the unrouted ones for the total).
fn value(parts: &[&Stats], name: &str) -> Option<Datapoint> {
    let sum = |f: &dyn Fn(&Stats) -> u64| parts.iter().map(|s| f(s)).sum::<u64>();
    let requests = sum(&|s| s.requests);
    if requests == 0 {
        return None;
    }
    let proxy_5xx = sum(&|s| s.proxy_5xx);
    let class = |i: usize| sum(&|s| s.status[i]);
    match name {
        "RequestCount" => count(requests),
        "HTTPCode_Target_2XX_Count" => count(class(1)),
        "HTTPCode_Target_3XX_Count" => count(class(2)),
        "HTTPCode_Target_4XX_Count" => count(class(3)),
        "HTTPCode_Target_5XX_Count" => count(class(4).saturating_sub(proxy_5xx)),
        "HTTPCode_ELB_5XX_Count" => count(proxy_5xx),
        "HTTPCode_5XX_Rate" => Datapoint::from_values(vec![class(4) as f64 / requests as f64]),
        "TargetResponseTime" => {
            let n = sum(&|s| s.latency.count());
            if n == 0 {
                return None;
            }
            // Buckets by upper bound (the histograms share their bucket layout).
            let mut buckets: std::collections::BTreeMap<u64, u64> = Default::default();
            let (mut lo, mut hi, mut total) = (u64::MAX, 0u64, 0f64);
            for s in parts {
                for (l, h, c) in s.latency.buckets() {
                    *buckets.entry(h).or_default() += c;
                    lo = lo.min(l);
                }
                hi = hi.max(s.latency.max_micros().unwrap_or(0));
                total += s.latency.mean_micros().unwrap_or(0.0) * s.latency.count() as f64;
            }
            Some(Datapoint {
                sample_count: n as f64,
                sum: total / 1e6,
                minimum: lo as f64 / 1e6,
                maximum: hi as f64 / 1e6,
                distribution: Distribution::Buckets(buckets.into_iter().map(|(h, c)| (h as f64 / 1e6, c as f64)).collect()),
            })
        }
        _ => None,
    }
}

fn known() -> String {
    let mut all: Vec<String> = METRICS.iter().map(|m| format!("router.{m}")).collect();
    all.push("router.original.<same> / router.replacement.<same>".into());
    all.join(", ")
}

impl MetricsSource for RouterMetrics {
    fn datapoint(&self, metric: &str, from: Instant, to: Instant) -> Result<Option<Datapoint>, MetricsError> {
        let Some((set, name)) = parse_name(metric) else {
            return Err(MetricsError::Unknown { name: metric.to_string(), known: Some(known()) });
        };
        let window = self.traffic.router.metrics().window_between(from, to);
        let parts: Vec<&Stats> = match set {
            None => window.groups.values().chain(std::iter::once(&window.unrouted)).collect(),
            Some(set) => window.groups.get(self.traffic.group(set)).into_iter().collect(),
        };
        Ok(value(&parts, name))
    }

    fn check(&self, metric: &str) -> Result<(), MetricsError> {
        parse_name(metric).map(|_| ()).ok_or_else(|| MetricsError::Unknown { name: metric.to_string(), known: Some(known()) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metric_names_are_albs_with_an_optional_set() {
        assert_eq!(parse_name("router.HTTPCode_Target_5XX_Count"), Some((None, "HTTPCode_Target_5XX_Count")));
        assert_eq!(parse_name("router.replacement.TargetResponseTime"), Some((Some(InstanceSet::Replacement), "TargetResponseTime")));
        assert_eq!(parse_name("router.green.RequestCount"), None);
        assert_eq!(parse_name("router.Requests"), None);
        assert_eq!(parse_name("cpu"), None);
    }
}
