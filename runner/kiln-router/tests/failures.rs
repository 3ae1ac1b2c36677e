//! Upstream failures: 502 for a dead instance counted against its group, 504 for a slow one,
//! retries only for requests that were never sent.

mod common;

use std::time::Duration;

use bytes::Bytes;
use common::{H1, Upstream, dead_addr};
use http_body_util::Full;
use kiln_router::{InstanceSpec, RetryPolicy, Router, RouterConfig, TargetGroup, UpstreamErrorKind};

fn spec(u: &Upstream) -> InstanceSpec {
    InstanceSpec::new(u.name.clone(), u.addr)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_upstream_is_a_502_counted_as_5xx_for_its_group() {
    let blue = Upstream::start("blue-1").await;
    let dead = dead_addr().await;
    let router = Router::start(RouterConfig::default(), vec![TargetGroup::new("blue", 50).instance(spec(&blue)), TargetGroup::new("green", 50).instance(InstanceSpec::new("green-1", dead))]).await.unwrap();
    let mut c = H1::connect(router.local_addr()).await.unwrap();
    let mut statuses = std::collections::BTreeMap::new();
    for _ in 0..100 {
        let r = c.get("/").await.unwrap();
        if r.status == 502 {
            // The router's message names the failure, never the upstream's address.
            assert!(r.text().contains("refused or reset"), "{}", r.text());
            assert!(!r.text().contains(&dead.port().to_string()), "{}", r.text());
        }
        *statuses.entry(r.status.as_u16()).or_insert(0) += 1;
    }
    assert_eq!(statuses, [(200, 50), (502, 50)].into_iter().collect());
    let w = router.metrics().total();
    let green = &w.groups["green"];
    assert_eq!((green.requests, green.count_5xx(), green.proxy_5xx, green.target_5xx()), (50, 50, 50, 0));
    assert_eq!(green.upstream_errors_of(UpstreamErrorKind::Connect), 50);
    assert_eq!(green.rate_5xx(), 1.0);
    assert_eq!(w.instances["green-1"].count_5xx(), 50);
    let blue_stats = &w.groups["blue"];
    assert_eq!((blue_stats.requests, blue_stats.count_2xx(), blue_stats.count_5xx(), blue_stats.upstream_error_total()), (50, 50, 0, 0));
    router.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_5xx_is_the_targets_not_the_routers() {
    let up = Upstream::start("a-1").await;
    let router = Router::start(RouterConfig::default(), vec![TargetGroup::new("a", 100).instance(spec(&up))]).await.unwrap();
    let mut c = H1::connect(router.local_addr()).await.unwrap();
    assert_eq!(c.get("/status/503").await.unwrap().status, 503);
    assert_eq!(c.get("/status/404").await.unwrap().status, 404);
    let a = &router.metrics().total().groups["a"];
    assert_eq!((a.count_5xx(), a.target_5xx(), a.proxy_5xx, a.count_4xx(), a.upstream_error_total()), (1, 1, 0, 1, 0));
    router.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_upstream_gets_504_after_the_request_timeout() {
    let up = Upstream::start("slow-1").await;
    let config = RouterConfig { request_timeout: Duration::from_millis(200), ..RouterConfig::default() };
    let router = Router::start(config, vec![TargetGroup::new("a", 100).instance(spec(&up))]).await.unwrap();
    let mut c = H1::connect(router.local_addr()).await.unwrap();
    let started = std::time::Instant::now();
    let r = c.get("/sleep/3000").await.unwrap();
    assert_eq!(r.status, 504);
    assert!(started.elapsed() < Duration::from_secs(2));
    // The client connection stays usable, and a fast request passes.
    assert_eq!(c.get("/").await.unwrap().status, 200);
    let a = &router.metrics().total().groups["a"];
    assert_eq!(a.upstream_errors_of(UpstreamErrorKind::Timeout), 1);
    assert_eq!((a.count_5xx(), a.proxy_5xx, a.count_2xx()), (1, 1, 1));
    router.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsent_idempotent_requests_are_retried_on_another_instance() {
    let live = Upstream::start("live-1").await;
    let dead = dead_addr().await;
    let config = RouterConfig { retry: RetryPolicy { max_retries: 1, idempotent_only: true }, ..RouterConfig::default() };
    let router = Router::start(config, vec![TargetGroup::new("a", 100).instance(InstanceSpec::new("dead-1", dead)).instance(spec(&live))]).await.unwrap();
    let mut c = H1::connect(router.local_addr()).await.unwrap();
    for _ in 0..10 {
        let r = c.get("/").await.unwrap();
        assert_eq!((r.status.as_u16(), r.upstream().as_str()), (200, "live-1"));
    }
    // POST is not idempotent: when round robin sends it to the dead instance, it is not retried.
    let mut posts = std::collections::BTreeMap::new();
    for _ in 0..4 {
        let req = http::Request::post("/echo-body").header("host", "t").body(Full::new(Bytes::from_static(b"payload"))).unwrap();
        let r = c.send(req).await.unwrap();
        *posts.entry(r.status.as_u16()).or_insert(0) += 1;
    }
    assert_eq!(posts, [(200, 2), (502, 2)].into_iter().collect());
    let w = router.metrics().total();
    let a = &w.groups["a"];
    assert_eq!(a.retries, 5, "{a:?}");
    assert_eq!(a.upstream_errors_of(UpstreamErrorKind::Connect), 7);
    assert_eq!((a.requests, a.count_2xx(), a.count_5xx()), (14, 12, 2));
    assert_eq!(w.instances["dead-1"].upstream_errors_of(UpstreamErrorKind::Connect), 7);
    router.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_response_head_over_the_limit_is_a_502() {
    let up = Upstream::start("big-1").await;
    let router = Router::start(RouterConfig::default(), vec![TargetGroup::new("a", 100).instance(spec(&up))]).await.unwrap();
    let mut c = H1::connect(router.local_addr()).await.unwrap();
    assert_eq!(c.get("/bigheader").await.unwrap().status, 502);
    assert_eq!(c.get("/").await.unwrap().status, 200);
    let a = &router.metrics().total().groups["a"];
    assert_eq!(a.upstream_errors_of(UpstreamErrorKind::Response), 1);
    router.shutdown().await;
}
