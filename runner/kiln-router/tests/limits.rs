//! Hostile clients: slow heads (slow loris) on HTTP/1.1 and in the HTTP/2 preface, and an
//! HTTP/2 header list over the limit. Each is cut by the router and never reaches an upstream.

mod common;

use std::time::{Duration, Instant};

use bytes::Bytes;
use common::{H1, H2, Upstream};
use http_body_util::Full;
use kiln_router::{InstanceSpec, Router, RouterConfig, TargetGroup};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

async fn router(up: &Upstream) -> Router {
    let config = RouterConfig { header_read_timeout: Duration::from_millis(300), ..RouterConfig::default() };
    Router::start(config, vec![TargetGroup::new("a", 100).instance(InstanceSpec::new("a-1", up.addr))]).await.unwrap()
}

/// Sends `bytes`, then waits for the router to close the connection; returns what it answered
/// and how long it took.
async fn stall(router: &Router, bytes: &[u8]) -> (String, Duration) {
    let mut stream = tokio::net::TcpStream::connect(router.local_addr()).await.unwrap();
    let started = Instant::now();
    stream.write_all(bytes).await.unwrap();
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut answer)).await;
    assert!(read.is_ok(), "the router kept a stalled connection open for 10 s");
    (String::from_utf8_lossy(&answer).into_owned(), started.elapsed())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_http1_head_is_cut_after_the_header_read_timeout() {
    let up = Upstream::start("a-1").await;
    let router = router(&up).await;
    let (answer, took) = stall(&router, b"GET / HTTP/1.1\r\nhost: t\r\nx-slow: ").await;
    assert!(took >= Duration::from_millis(250) && took < Duration::from_secs(5), "{took:?}");
    assert!(answer.is_empty() || answer.starts_with("HTTP/1.1 408"), "{answer}");
    // The same after a first, complete request on a keep-alive connection.
    let mut c = H1::connect(router.local_addr()).await.unwrap();
    assert_eq!(c.get("/").await.unwrap().status, 200);
    assert_eq!(up.hits(), 1);
    router.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_http2_preface_is_cut() {
    let up = Upstream::start("a-1").await;
    let router = router(&up).await;
    // Part of the preface, then nothing: the router cannot even tell the protocol yet.
    let (answer, took) = stall(&router, b"PRI * HTTP/2.0\r\n").await;
    assert!(answer.is_empty(), "{answer}");
    assert!(took >= Duration::from_millis(250) && took < Duration::from_secs(5), "{took:?}");
    // A connection that sends nothing at all is cut the same way.
    let (answer, _) = stall(&router, b"").await;
    assert!(answer.is_empty());
    assert_eq!(up.hits(), 0);
    router.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_http2_header_list_over_the_limit_never_reaches_the_upstream() {
    let up = Upstream::start("a-1").await;
    let router = router(&up).await;
    let mut h2 = H2::connect(router.local_addr()).await;
    let big = "h".repeat(100 * 1024);
    let refused = h2.send(http::Request::get("http://t/").header("x-big", big).body(Full::new(Bytes::new())).unwrap()).await;
    match refused {
        Err(_) => {}
        Ok(r) => assert_eq!(r.status, 431, "a 100 KiB header list must not pass"),
    }
    assert_eq!(up.hits(), 0);
    // A normal request on a fresh connection still works.
    let mut h2 = H2::connect(router.local_addr()).await;
    assert_eq!(h2.send(http::Request::get("http://t/").body(Full::new(Bytes::new())).unwrap()).await.unwrap().status, 200);
    router.shutdown().await;
}
