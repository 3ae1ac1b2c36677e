//! Draining: no request lost during a healthy shift, slow requests waited for, a drain timeout
//! that cuts what is left.

mod common;

use std::time::{Duration, Instant};

use common::{H1, Load, Upstream};
use kiln_router::{DrainSet, InstanceSpec, Router, RouterConfig, RouterError, TargetGroup, UpstreamErrorKind};

fn spec(u: &Upstream) -> InstanceSpec {
    InstanceSpec::new(u.name.clone(), u.addr)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blue_green_shift_with_drains_loses_no_request() {
    let blue = [Upstream::start("blue-1").await, Upstream::start("blue-2").await];
    let green = [Upstream::start("green-1").await, Upstream::start("green-2").await];
    // No retries: a request sent to a stopped instance would come back as a 502.
    let router = Router::start(
        RouterConfig { drain_timeout: Duration::from_secs(10), ..RouterConfig::default() },
        vec![TargetGroup::new("blue", 100).instance(spec(&blue[0])).instance(spec(&blue[1])), TargetGroup::new("green", 0).instance(spec(&green[0])).instance(spec(&green[1]))],
    )
    .await
    .unwrap();
    // 16 keep-alive clients, fast and slow requests (so some are always in flight).
    let load = Load::start(router.local_addr(), 16, &["/", "/sleep/3", "/slowbody/5"], 50_000, Duration::from_secs(30));
    let pause = Duration::from_millis(250);
    tokio::time::sleep(pause).await;
    for green_weight in [10u8, 50, 100] {
        router.set_weights([("blue", 100 - green_weight), ("green", green_weight)]).unwrap();
        tokio::time::sleep(pause).await;
    }
    // Blue gets nothing now: drain it, deregister it, kill its servers (any request still on
    // them would fail).
    router.set_in_service("blue-1", false).unwrap();
    router.set_in_service("blue-2", false).unwrap();
    let report = router.drain(DrainSet::Group("blue".into())).await.unwrap();
    assert!(report.drained && report.cut == 0 && report.remaining == 0, "{report:?}");
    router.remove_instance("blue-1").unwrap();
    router.remove_instance("blue-2").unwrap();
    for b in &blue {
        b.kill().await;
    }
    let blue_hits: u64 = blue.iter().map(|b| b.hits()).sum();
    tokio::time::sleep(pause).await;
    // Within green: take one instance out, drain it, remove it, stop it.
    router.set_in_service("green-1", false).unwrap();
    let report = router.drain(DrainSet::Instances(vec!["green-1".into()])).await.unwrap();
    assert!(report.drained, "{report:?}");
    router.remove_instance("green-1").unwrap();
    green[0].kill().await;
    let green1_hits = green[0].hits();
    tokio::time::sleep(pause).await;
    let tally = load.finish().await;

    assert!(tally.errors.is_empty(), "{} errors, first: {:?}", tally.errors.len(), &tally.errors[..tally.errors.len().min(5)]);
    assert_eq!(tally.ok(), tally.sent, "every request must be answered 2xx: {:?}", tally.by_status);
    assert!(tally.sent >= 500, "load too small to prove anything: {}", tally.sent);
    // Nothing reached blue after its drain, nor green-1 after its own.
    assert_eq!(blue.iter().map(|b| b.hits()).sum::<u64>(), blue_hits);
    assert_eq!(green[0].hits(), green1_hits);
    assert!(tally.by_upstream.get("green-2").copied().unwrap_or(0) > 0);
    // Every response is in the router's metrics, and the upstreams saw each request once.
    let total = router.metrics().total();
    assert_eq!(total.groups["blue"].requests + total.groups["green"].requests, tally.sent);
    assert_eq!(total.groups.values().map(|g| g.count_5xx()).sum::<u64>(), 0);
    let upstream_hits: u64 = blue.iter().chain(green.iter()).map(|u| u.hits()).sum();
    assert_eq!(upstream_hits, tally.sent);
    router.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_drain_waits_for_a_slow_request_then_completes() {
    let slow = Upstream::start("old-1").await;
    let fresh = Upstream::start("new-1").await;
    let router = Router::start(RouterConfig::default(), vec![TargetGroup::new("old", 100).instance(spec(&slow)), TargetGroup::new("new", 0).instance(spec(&fresh))]).await.unwrap();
    let addr = router.local_addr();
    let started = Instant::now();
    // A request whose body takes 800 ms to finish after the head.
    let in_flight = tokio::spawn(async move { H1::connect(addr).await.unwrap().get("/slowbody/800").await.unwrap() });
    while router.status()[0].instances[0].in_flight == 0 {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    // Draining while it still gets traffic is refused, with what to do.
    let e = router.drain(DrainSet::Group("old".into())).await.unwrap_err();
    assert!(matches!(e, RouterError::StillRouted { .. }) && e.to_string().contains("set its group's weight to 0"), "{e}");
    router.set_weights([("old", 0), ("new", 100)]).unwrap();
    // New requests go to the new group at once.
    let mut c = H1::connect(addr).await.unwrap();
    assert_eq!(c.get("/").await.unwrap().upstream(), "new-1");
    let report = router.drain(DrainSet::Group("old".into())).await.unwrap();
    let waited = started.elapsed();
    assert!(report.drained && report.cut == 0, "{report:?}");
    assert!(waited >= Duration::from_millis(700), "the drain returned after {waited:?}, before the slow body ended");
    let reply = in_flight.await.unwrap();
    assert_eq!((reply.status.as_u16(), reply.text().as_str()), (200, "old-1-end"));
    // Draining an idle set returns at once.
    let again = router.drain(DrainSet::Instances(vec!["old-1".into()])).await.unwrap();
    assert!(again.drained && again.waited < Duration::from_millis(100), "{again:?}");
    router.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_drain_timeout_cuts_what_is_left() {
    let up = Upstream::start("stuck-1").await;
    let other = Upstream::start("other-1").await;
    let router = Router::start(RouterConfig::default(), vec![TargetGroup::new("a", 100).instance(spec(&up)).instance(spec(&other))]).await.unwrap();
    let addr = router.local_addr();
    let waiting = tokio::spawn(async move { H1::connect(addr).await.unwrap().get("/sleep/10000").await });
    let streaming = tokio::spawn(async move { H1::connect(addr).await.unwrap().get("/slowbody/10000").await });
    // Both land on different instances (round robin); wait until both are in flight.
    while router.status()[0].instances.iter().map(|i| i.in_flight).sum::<u64>() < 2 {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    router.remove_instance("stuck-1").unwrap();
    router.remove_instance("other-1").unwrap();
    let report = router.drain_with_timeout(DrainSet::Group("a".into()), Duration::from_millis(300)).await.unwrap();
    assert!(!report.drained && report.cut == 2 && report.remaining == 0, "{report:?}");
    assert!(report.waited < Duration::from_secs(3), "{report:?}");
    // The waiting request got the router's 502; the streaming one lost its body mid-way.
    let waiting = waiting.await.unwrap().unwrap();
    assert_eq!(waiting.status, 502);
    assert!(streaming.await.unwrap().is_err(), "a cut body must not look complete");
    let a = &router.metrics().total().groups["a"];
    assert_eq!(a.upstream_errors_of(UpstreamErrorKind::Aborted), 2, "{a:?}");
    router.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_drain_targets_are_errors() {
    let up = Upstream::start("a-1").await;
    let router = Router::start(RouterConfig::default(), vec![TargetGroup::new("a", 100).instance(spec(&up))]).await.unwrap();
    assert!(matches!(router.drain(DrainSet::Instances(vec!["nope".into()])).await, Err(RouterError::UnknownInstance { .. })));
    assert!(matches!(router.drain(DrainSet::Group("nope".into())).await, Err(RouterError::UnknownGroup { .. })));
    // A removed, idle instance is known and drained.
    router.remove_instance("a-1").unwrap();
    assert!(router.drain(DrainSet::Instances(vec!["a-1".into()])).await.unwrap().drained);
    router.shutdown().await;
    assert!(matches!(router.set_weights([("a", 100)]), Err(RouterError::ShutDown)));
}
