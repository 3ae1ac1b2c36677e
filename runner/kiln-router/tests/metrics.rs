//! Metrics windows against what the test sent: counts, 5xx rates, percentiles, periods.

mod common;

use std::time::{Duration, Instant};

use common::{H1, Upstream};
use kiln_router::{InstanceSpec, Router, RouterConfig, TargetGroup};

const PERIOD: Duration = Duration::from_millis(50);

async fn router_for(blue: &Upstream, green: &Upstream) -> Router {
    let config = RouterConfig { sample_period: PERIOD, ..RouterConfig::default() };
    Router::start(config, vec![TargetGroup::new("blue", 50).instance(InstanceSpec::new("blue-1", blue.addr)), TargetGroup::new("green", 50).instance(InstanceSpec::new("green-1", green.addr))]).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn windows_count_status_classes_and_5xx_rates() {
    let blue = Upstream::start("blue-1").await;
    let green = Upstream::start("green-1").await;
    let router = router_for(&blue, &green).await;
    let metrics = router.metrics();
    let mut c = H1::connect(router.local_addr()).await.unwrap();
    // Period 1: 40 requests, every 4th asks for a 500: 10 x 500, 30 x 200, split evenly by group.
    let t0 = Instant::now();
    tokio::time::sleep(PERIOD * 4).await;
    for i in 0..40 {
        let path = if i % 4 == 3 { "/status/500" } else { "/" };
        c.get(path).await.unwrap();
    }
    tokio::time::sleep(PERIOD * 4).await;
    let t1 = Instant::now();
    tokio::time::sleep(PERIOD * 4).await;
    // Period 2: 20 requests, 4 x 404 and 2 x 302.
    for i in 0..20 {
        let path = match i % 10 {
            0 | 5 => "/status/404",
            1 => "/status/302",
            _ => "/",
        };
        c.get(path).await.unwrap();
    }
    tokio::time::sleep(PERIOD * 4).await;
    let t2 = Instant::now();

    let first = metrics.window_between(t0, t1);
    let both = |w: &kiln_router::Window, f: fn(&kiln_router::Stats) -> u64| f(&w.groups["blue"]) + f(&w.groups["green"]);
    assert_eq!(both(&first, |s| s.requests), 40);
    assert_eq!(both(&first, |s| s.count_5xx()), 10);
    assert_eq!(both(&first, |s| s.count_2xx()), 30);
    assert_eq!(both(&first, |s| s.target_5xx()), 10);
    // With 50/50 alternating, every 4th request (a 500) lands on the same group.
    let (b, g) = (&first.groups["blue"], &first.groups["green"]);
    assert_eq!(b.requests + g.requests, 40);
    assert_eq!((b.requests, g.requests), (20, 20));
    assert!((b.rate_5xx() + g.rate_5xx() - 0.5).abs() < 1e-9, "{} {}", b.rate_5xx(), g.rate_5xx());
    let second = metrics.window_between(t1, t2);
    assert_eq!(both(&second, |s| s.requests), 20);
    assert_eq!(both(&second, |s| s.count_4xx()), 4);
    assert_eq!(both(&second, |s| s.count_3xx()), 2);
    assert_eq!(both(&second, |s| s.count_5xx()), 0);
    // Consecutive windows partition the traffic; the open window up to now has all of it.
    let all = metrics.window(t0);
    assert_eq!(both(&all, |s| s.requests), 60);
    assert_eq!(all.instances["blue-1"].requests + all.instances["green-1"].requests, 60);
    // A window after everything is empty.
    tokio::time::sleep(PERIOD * 4).await;
    let quiet = metrics.window(Instant::now());
    assert_eq!(both(&quiet, |s| s.requests), 0);
    assert_eq!(quiet.groups["blue"].rate_5xx(), 0.0);
    router.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn latency_percentiles_match_what_the_upstream_took() {
    let blue = Upstream::start("blue-1").await;
    let green = Upstream::start("green-1").await;
    let router = router_for(&blue, &green).await;
    router.set_weights([("blue", 100), ("green", 0)]).unwrap();
    let mut c = H1::connect(router.local_addr()).await.unwrap();
    let t0 = Instant::now();
    // 90 requests taking 5 ms, 10 taking 80 ms (interleaved).
    for i in 0..100 {
        let path = if i % 10 == 9 { "/sleep/80" } else { "/sleep/5" };
        assert_eq!(c.get(path).await.unwrap().status, 200);
    }
    let w = router.metrics().window(t0);
    let lat = &w.groups["blue"].latency;
    assert_eq!(lat.count(), 100);
    let (p50, p90, p99) = (lat.p50_micros().unwrap(), lat.p90_micros().unwrap(), lat.p99_micros().unwrap());
    // Sleeps are at least what was asked; the bound above allows a loaded 2-core machine.
    assert!((5_000..40_000).contains(&p50), "p50 {p50} µs");
    assert!((5_000..40_000).contains(&p90), "p90 {p90} µs (rank 90 is still a 5 ms request)");
    assert!((80_000..200_000).contains(&p99), "p99 {p99} µs");
    let mean = lat.mean_micros().unwrap();
    assert!((12_500.0..60_000.0).contains(&mean), "mean {mean} µs");
    // The instance's histogram is the group's here.
    assert_eq!(w.instances["blue-1"].latency.count(), 100);
    // Cheap enough to read every 100 ms: a whole window read takes well under a millisecond
    // per scope even with this much history (not a benchmark, a sanity bound).
    let started = Instant::now();
    for _ in 0..10 {
        let _ = router.metrics().window(t0);
    }
    assert!(started.elapsed() < Duration::from_secs(1));
    router.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_instance_windows_and_removed_instances() {
    let blue = Upstream::start("blue-1").await;
    let green = Upstream::start("green-1").await;
    let router = router_for(&blue, &green).await;
    let t0 = Instant::now();
    let mut c = H1::connect(router.local_addr()).await.unwrap();
    for _ in 0..10 {
        c.get("/").await.unwrap();
    }
    router.set_weights([("blue", 100), ("green", 0)]).unwrap();
    router.remove_instance("green-1").unwrap();
    // Removed instances keep their history for the retention period.
    let green_stats = router.metrics().instance_window("green-1", t0).unwrap();
    assert_eq!(green_stats.requests, 5);
    assert_eq!(router.metrics().group_window("green", t0).unwrap().requests, 5);
    assert!(router.metrics().instance_window("never", t0).is_none());
    router.shutdown().await;
}
