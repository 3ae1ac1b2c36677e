//! Active health checks: state exposed to the caller, and optionally taken into routing.

mod common;

use std::sync::atomic::Ordering;
use std::time::Duration;

use common::{H1, Upstream, dead_addr};
use kiln_router::{HealthCheck, HealthRouting, HealthState, InstanceSpec, Router, RouterConfig, TargetGroup};

fn quick_check() -> HealthCheck {
    HealthCheck { path: "/health".into(), interval: Duration::from_millis(50), timeout: Duration::from_millis(500), healthy_threshold: 2, unhealthy_threshold: 2, success_codes: 200..=299 }
}

async fn wait_for(router: &Router, id: &str, state: HealthState) {
    let mut changes = router.health_changes();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        if router.health(id).map(|h| h.state) == Some(state) {
            return;
        }
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        assert!(!left.is_zero(), "{id} never became {state:?}: {:?}", router.health(id));
        let _ = tokio::time::timeout(left, changes.changed()).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_is_reported_and_unhealthy_instances_are_excluded() {
    let a = Upstream::start("a-1").await;
    let b = Upstream::start("a-2").await;
    let config = RouterConfig { health_routing: HealthRouting::ExcludeUnhealthy, ..RouterConfig::default() };
    let router = Router::start(
        config,
        vec![TargetGroup::new("a", 100).instance(InstanceSpec::new("a-1", a.addr).health_check(quick_check())).instance(InstanceSpec::new("a-2", b.addr).health_check(quick_check()))],
    )
    .await
    .unwrap();
    wait_for(&router, "a-1", HealthState::Healthy).await;
    wait_for(&router, "a-2", HealthState::Healthy).await;
    // a-2 starts failing its checks: after two failures it is out of routing.
    b.health_status.store(503, Ordering::SeqCst);
    wait_for(&router, "a-2", HealthState::Unhealthy).await;
    let h = router.health("a-2").unwrap();
    assert_eq!(h.last_status, Some(503));
    assert!(h.consecutive_failures >= 2);
    let status = router.status();
    assert!(status[0].instances.iter().any(|i| i.id == "a-2" && i.in_service && !i.routed));
    let mut c = H1::connect(router.local_addr()).await.unwrap();
    let before = b.hits();
    for _ in 0..20 {
        assert_eq!(c.get("/").await.unwrap().upstream(), "a-1");
    }
    // Health checks do not count as traffic, and a-2 got none of the 20 (only checks).
    assert_eq!(router.metrics().total().instances["a-1"].requests, 20);
    assert!(b.hits() - before < 20);
    // Both unhealthy: the group fails open, as ALB's does.
    a.health_status.store(500, Ordering::SeqCst);
    wait_for(&router, "a-1", HealthState::Unhealthy).await;
    let mut seen = std::collections::BTreeSet::new();
    for _ in 0..10 {
        seen.insert(c.get("/").await.unwrap().upstream());
    }
    assert_eq!(seen.len(), 2, "fail-open should use both instances: {seen:?}");
    // Recovery takes healthy_threshold successes.
    b.health_status.store(200, Ordering::SeqCst);
    wait_for(&router, "a-2", HealthState::Healthy).await;
    for _ in 0..10 {
        assert_eq!(c.get("/").await.unwrap().upstream(), "a-2");
    }
    router.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn report_only_health_never_changes_routing() {
    let dead = dead_addr().await;
    let up = Upstream::start("b-1").await;
    let router = Router::start(
        RouterConfig::default(),
        vec![TargetGroup::new("a", 100).instance(InstanceSpec::new("dead-1", dead).health_check(quick_check())).instance(InstanceSpec::new("b-1", up.addr))],
    )
    .await
    .unwrap();
    wait_for(&router, "dead-1", HealthState::Unhealthy).await;
    let h = router.health("dead-1").unwrap();
    assert!(h.last_error.as_deref().unwrap_or("").contains("connect"), "{h:?}");
    assert!(router.health("b-1").is_none(), "no check configured");
    // Still routed: the caller decides.
    assert!(router.status()[0].instances.iter().all(|i| i.routed));
    let mut c = H1::connect(router.local_addr()).await.unwrap();
    let codes: Vec<u16> = statuses(&mut c, 4).await;
    assert_eq!(codes.iter().filter(|c| **c == 502).count(), 2);
    router.shutdown().await;
}

async fn statuses(c: &mut H1, n: usize) -> Vec<u16> {
    let mut out = Vec::new();
    for _ in 0..n {
        out.push(c.get("/").await.unwrap().status.as_u16());
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_health_checks_are_refused() {
    let up = Upstream::start("a-1").await;
    for (check, needle) in [
        (HealthCheck { path: "health".into(), ..quick_check() }, "must start with '/'"),
        (HealthCheck { interval: Duration::ZERO, ..quick_check() }, "greater than zero"),
        (HealthCheck { unhealthy_threshold: 0, ..quick_check() }, "at least 1"),
        (HealthCheck { success_codes: 200..=700, ..quick_check() }, "within 100..=599"),
    ] {
        let e = Router::start(RouterConfig::default(), vec![TargetGroup::new("a", 100).instance(InstanceSpec::new("a-1", up.addr).health_check(check))]).await.err().unwrap();
        assert!(e.to_string().contains(needle) && e.to_string().contains("a-1"), "{e}");
    }
}
