//! Weighted splits between groups, choice within a group, and updates under load.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use common::{H1, Load, Upstream};
use kiln_router::{Algorithm, InstanceSpec, Router, RouterConfig, RouterError, TargetGroup};

async fn fleet(names: &[&str]) -> Vec<Upstream> {
    let mut out = Vec::new();
    for n in names {
        out.push(Upstream::start(n).await);
    }
    out
}

fn spec(u: &Upstream) -> InstanceSpec {
    InstanceSpec::new(u.name.clone(), u.addr)
}

/// Sends `n` requests from `clients` concurrent connections; counts answers by upstream.
async fn fire(addr: std::net::SocketAddr, clients: usize, n: usize) -> BTreeMap<String, usize> {
    let mut tasks = Vec::new();
    for c in 0..clients {
        let share = n / clients + usize::from(c < n % clients);
        tasks.push(tokio::spawn(async move {
            let mut client = H1::connect(addr).await.unwrap();
            let mut seen = Vec::new();
            for _ in 0..share {
                let r = client.get("/").await.unwrap();
                assert_eq!(r.status, 200, "{}", r.text());
                seen.push(r.upstream());
            }
            seen
        }));
    }
    let mut counts = BTreeMap::new();
    for t in tasks {
        for name in t.await.unwrap() {
            *counts.entry(name).or_insert(0) += 1;
        }
    }
    counts
}

fn in_group(counts: &BTreeMap<String, usize>, prefix: &str) -> usize {
    counts.iter().filter(|(k, _)| k.starts_with(prefix)).map(|(_, v)| v).sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn weighted_split_is_exact_over_every_hundred_requests() {
    let ups = fleet(&["blue-1", "blue-2", "green-1"]).await;
    let router = Router::start(
        RouterConfig::default(),
        vec![TargetGroup::new("blue", 90).instance(spec(&ups[0])).instance(spec(&ups[1])), TargetGroup::new("green", 10).instance(spec(&ups[2]))],
    )
    .await
    .unwrap();
    let addr = router.local_addr();
    assert!(addr.ip().is_loopback() && addr.port() != 0);

    // A 10 % canary, 1,000 requests over 8 concurrent connections: exactly 100 go to green.
    let counts = fire(addr, 8, 1000).await;
    assert_eq!(in_group(&counts, "green"), 100, "{counts:?}");
    assert_eq!(in_group(&counts, "blue"), 900);
    // Round robin inside blue.
    assert_eq!(counts["blue-1"], 450);
    assert_eq!(counts["blue-2"], 450);

    for (blue, green, n) in [(50u8, 50u8, 400usize), (1, 99, 300), (99, 1, 500), (0, 100, 200), (100, 0, 200)] {
        router.set_weights([("blue", blue), ("green", green)]).unwrap();
        let counts = fire(addr, 4, n).await;
        assert_eq!(in_group(&counts, "green"), n * green as usize / 100, "{blue}/{green}: {counts:?}");
        assert_eq!(in_group(&counts, "blue"), n * blue as usize / 100, "{blue}/{green}: {counts:?}");
    }
    // The metrics agree with what the clients saw.
    let total = router.metrics().total();
    let sent = 1000 + 400 + 300 + 500 + 200 + 200;
    assert_eq!(total.groups["blue"].requests + total.groups["green"].requests, sent as u64);
    assert_eq!(total.instances.values().map(|s| s.requests).sum::<u64>(), sent as u64);
    assert_eq!(router.weights(), vec![("blue".to_string(), 100), ("green".to_string(), 0)]);
    router.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_weights_are_refused_with_the_reason() {
    let ups = fleet(&["a-1", "b-1"]).await;
    let router = Router::start(RouterConfig::default(), vec![TargetGroup::new("a", 100).instance(spec(&ups[0])), TargetGroup::new("b", 0).instance(spec(&ups[1]))]).await.unwrap();
    let e = router.set_weights([("a", 60), ("b", 30)]).unwrap_err();
    assert!(e.to_string().contains("sum to 90%"), "{e}");
    let e = router.set_weights([("a", 101), ("b", 0)]).unwrap_err();
    assert!(e.to_string().contains("more than 100"), "{e}");
    let e = router.set_weights([("a", 100)]).unwrap_err();
    assert!(e.to_string().contains("group b has no weight"), "{e}");
    let e = router.set_weights([("a", 50), ("c", 50)]).unwrap_err();
    assert!(matches!(e, RouterError::UnknownGroup { .. }) && e.to_string().contains("groups: a, b"), "{e}");
    let e = router.set_weights([("a", 50), ("a", 50)]).unwrap_err();
    assert!(e.to_string().contains("named twice"), "{e}");
    assert!(matches!(router.add_instance("a", spec(&ups[1])), Err(RouterError::DuplicateInstance { .. })));
    assert!(matches!(router.add_instance("a", InstanceSpec::new("has space", ups[1].addr)), Err(RouterError::InvalidInstanceId { .. })));
    assert!(matches!(router.add_group("bad name"), Err(RouterError::InvalidGroupName { .. })));
    assert!(matches!(router.remove_group("a"), Err(RouterError::GroupHasWeight { weight: 100, .. })));
    // Nothing changed.
    assert_eq!(router.weights(), vec![("a".to_string(), 100), ("b".to_string(), 0)]);
    // All zero: no traffic, 503 counted as unrouted.
    router.set_weights([("a", 0), ("b", 0)]).unwrap();
    let mut c = H1::connect(router.local_addr()).await.unwrap();
    assert_eq!(c.get("/").await.unwrap().status, 503);
    assert_eq!(router.metrics().total().unrouted.count_5xx(), 1);
    router.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_without_instances_in_service_answers_503() {
    let ups = fleet(&["a-1"]).await;
    let router = Router::start(RouterConfig::default(), vec![TargetGroup::new("a", 100).instance(spec(&ups[0]).in_service(false))]).await.unwrap();
    let mut c = H1::connect(router.local_addr()).await.unwrap();
    let r = c.get("/").await.unwrap();
    assert_eq!(r.status, 503);
    let a = &router.metrics().total().groups["a"];
    assert_eq!((a.count_5xx(), a.proxy_5xx), (1, 1));
    router.set_in_service("a-1", true).unwrap();
    assert_eq!(c.get("/").await.unwrap().status, 200);
    assert_eq!(ups[0].hits(), 1);
    router.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn least_outstanding_avoids_the_busy_instance() {
    let ups = fleet(&["g-1", "g-2"]).await;
    let config = RouterConfig { algorithm: Algorithm::LeastOutstanding, ..RouterConfig::default() };
    let router = Router::start(config, vec![TargetGroup::new("g", 100).instance(spec(&ups[0])).instance(spec(&ups[1]))]).await.unwrap();
    let addr = router.local_addr();
    // Occupy one instance with a slow request...
    let slow = tokio::spawn(async move { H1::connect(addr).await.unwrap().get("/sleep/1500").await.unwrap() });
    let busy = loop {
        let s = router.status();
        if let Some(i) = s[0].instances.iter().find(|i| i.in_flight == 1) {
            break i.id.clone();
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    // ...then every new request goes to the other one.
    let mut c = H1::connect(addr).await.unwrap();
    for _ in 0..20 {
        let r = c.get("/").await.unwrap();
        assert_ne!(r.upstream(), busy);
    }
    assert_eq!(slow.await.unwrap().status, 200);
    router.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn splits_stay_exact_while_instances_churn() {
    // Epochs: set a weight, send 200 requests from 4 connections, count. Meanwhile another task
    // keeps taking the second instance of each group in and out of service (every change is a
    // new routing table): the split must stay exact, and nothing may fail.
    let ups = fleet(&["blue-1", "blue-2", "green-1", "green-2"]).await;
    let router = Router::start(
        RouterConfig::default(),
        vec![TargetGroup::new("blue", 100).instance(spec(&ups[0])).instance(spec(&ups[1])), TargetGroup::new("green", 0).instance(spec(&ups[2])).instance(spec(&ups[3]))],
    )
    .await
    .unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let churn = {
        let (router, stop) = (router.clone(), stop.clone());
        tokio::spawn(async move {
            let mut flips = 0u64;
            while !stop.load(Ordering::SeqCst) {
                let on = flips.is_multiple_of(2);
                router.set_in_service("blue-2", on).unwrap();
                router.set_in_service("green-2", !on).unwrap();
                flips += 1;
                tokio::task::yield_now().await;
            }
            flips
        })
    };
    for green in [10u8, 25, 50, 75, 90, 100, 0, 33] {
        router.set_weights([("blue", 100 - green), ("green", green)]).unwrap();
        let counts = fire(router.local_addr(), 4, 200).await;
        assert_eq!(in_group(&counts, "green"), 2 * green as usize, "green {green}%: {counts:?}");
    }
    stop.store(true, Ordering::SeqCst);
    let flips = churn.await.unwrap();
    assert!(flips > 100, "the churn task should have republished often, did {flips}");
    router.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_updates_under_load_never_fail_a_request() {
    let ups = fleet(&["blue-1", "blue-2", "green-1", "green-2", "extra-1"]).await;
    let router = Router::start(
        RouterConfig::default(),
        vec![TargetGroup::new("blue", 50).instance(spec(&ups[0])).instance(spec(&ups[1])), TargetGroup::new("green", 50).instance(spec(&ups[2])).instance(spec(&ups[3]))],
    )
    .await
    .unwrap();
    let load = Load::start(router.local_addr(), 16, &["/", "/sleep/1"], 20_000, Duration::from_secs(20));
    // Two updaters at once: weights from a fixed pseudo-random sequence, and instance churn.
    let weights = {
        let router = router.clone();
        tokio::spawn(async move {
            let mut x: u32 = 12345;
            for _ in 0..400 {
                x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
                let g = ((x >> 16) % 101) as u8;
                router.set_weights([("blue", 100 - g), ("green", g)]).unwrap();
                tokio::time::sleep(Duration::from_micros(500)).await;
            }
        })
    };
    let churn = {
        let router = router.clone();
        let extra = spec(&ups[4]);
        tokio::spawn(async move {
            for i in 0..200 {
                router.set_in_service("blue-2", i % 2 == 0).unwrap();
                router.add_instance("green", extra.clone()).unwrap();
                tokio::time::sleep(Duration::from_micros(300)).await;
                router.remove_instance("extra-1").unwrap();
                router.set_in_service("green-2", i % 3 != 0).unwrap();
            }
        })
    };
    weights.await.unwrap();
    churn.await.unwrap();
    let tally = load.finish().await;
    assert!(tally.errors.is_empty(), "{:?}", &tally.errors[..tally.errors.len().min(5)]);
    assert_eq!(tally.ok(), tally.sent, "{:?}", tally.by_status);
    assert!(tally.sent > 200, "load too small: {}", tally.sent);
    // Afterwards the table is consistent: a fresh 30/70 split is exact.
    router.set_in_service("blue-2", true).unwrap();
    router.set_weights([("blue", 30), ("green", 70)]).unwrap();
    let counts = fire(router.local_addr(), 4, 400).await;
    assert_eq!(in_group(&counts, "blue"), 120, "{counts:?}");
    router.shutdown().await;
}
