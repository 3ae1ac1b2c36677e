//! The HTTP side: HTTP/2 clients, header rewriting, size bounds, streamed bodies, shutdown.

mod common;

use std::time::Duration;

use bytes::Bytes;
use common::{H1, H2, Upstream};
use http_body_util::Full;
use kiln_router::{InstanceSpec, Router, RouterConfig, TargetGroup};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn spec(u: &Upstream) -> InstanceSpec {
    InstanceSpec::new(u.name.clone(), u.addr)
}

async fn one_group(up: &Upstream) -> Router {
    Router::start(RouterConfig::default(), vec![TargetGroup::new("a", 100).instance(spec(up))]).await.unwrap()
}

fn header<'a>(echo: &'a str, name: &str) -> Vec<&'a str> {
    echo.lines().filter_map(|l| l.strip_prefix(&format!("{name}: "))).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http2_clients_are_proxied_to_http1_upstreams() {
    let blue = Upstream::start("blue-1").await;
    let green = Upstream::start("green-1").await;
    let router = Router::start(RouterConfig::default(), vec![TargetGroup::new("blue", 80).instance(spec(&blue)), TargetGroup::new("green", 20).instance(spec(&green))]).await.unwrap();
    let h2 = H2::connect(router.local_addr()).await;
    // 100 concurrent streams on one connection.
    let mut tasks = Vec::new();
    for _ in 0..100 {
        let mut h2 = h2.clone();
        tasks.push(tokio::spawn(async move { h2.send(http::Request::get("http://shop.test/").body(Full::new(Bytes::new())).unwrap()).await.unwrap() }));
    }
    let mut green_count = 0;
    for t in tasks {
        let r = t.await.unwrap();
        assert_eq!(r.status, 200);
        green_count += usize::from(r.upstream() == "green-1");
    }
    assert_eq!(green_count, 20);
    // What the upstream sees: HTTP/1.1, origin form, Host from :authority, cookies joined, Via.
    router.set_weights([("blue", 100), ("green", 0)]).unwrap();
    let mut h2 = h2.clone();
    let req = http::Request::get("http://shop.test:8443/echo?q=1").header("cookie", "a=1").header("cookie", "b=2").header("te", "trailers").body(Full::new(Bytes::new())).unwrap();
    let r = h2.send(req).await.unwrap();
    let echo = r.text();
    assert_eq!(header(&echo, "version"), ["HTTP/1.1"]);
    assert_eq!(header(&echo, "uri"), ["/echo?q=1"]);
    assert_eq!(header(&echo, "host"), ["shop.test:8443"]);
    assert_eq!(header(&echo, "cookie"), ["a=1; b=2"]);
    assert_eq!(header(&echo, "via"), ["2 kiln-router"]);
    assert!(header(&echo, "te").is_empty());
    // An HTTP/2 request body streams through too.
    let payload = Bytes::from(vec![b'x'; 300_000]);
    let r = h2.send(http::Request::post("http://shop.test/echo-body").body(Full::new(payload.clone())).unwrap()).await.unwrap();
    assert_eq!(r.body, payload);
    router.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_headers_are_rewritten_as_a_proxy_must() {
    let up = Upstream::start("a-1").await;
    let router = one_group(&up).await;
    let mut c = H1::connect(router.local_addr()).await.unwrap();
    let req = http::Request::get("/echo")
        .header("host", "app.example:8080")
        .header("connection", "keep-alive, x-hop")
        .header("x-hop", "must not pass")
        .header("keep-alive", "timeout=5")
        .header("proxy-authorization", "Basic c2VjcmV0")
        .header("proxy", "http://attacker.example")
        .header("upgrade", "websocket")
        .header("x-forwarded-for", "192.0.2.7")
        .header("x-end-to-end", "kept")
        .body(Full::new(Bytes::new()))
        .unwrap();
    let echo = c.send(req).await.unwrap().text();
    for gone in ["x-hop", "keep-alive", "proxy-authorization", "proxy", "upgrade", "te", "transfer-encoding"] {
        assert!(header(&echo, gone).is_empty(), "{gone} reached the upstream:\n{echo}");
    }
    // The upstream's own HTTP/1.1 hop header (hyper's keep-alive) may be there; the client's is not.
    assert!(!echo.contains("x-hop"), "{echo}");
    assert_eq!(header(&echo, "host"), ["app.example:8080"]);
    assert_eq!(header(&echo, "x-end-to-end"), ["kept"]);
    assert_eq!(header(&echo, "x-forwarded-for"), ["192.0.2.7, 127.0.0.1"]);
    assert_eq!(header(&echo, "x-forwarded-proto"), ["http"]);
    assert_eq!(header(&echo, "x-forwarded-port"), [router.local_addr().port().to_string().as_str()]);
    assert_eq!(header(&echo, "forwarded"), ["for=127.0.0.1;host=\"app.example:8080\";proto=http"]);
    assert_eq!(header(&echo, "via"), ["1.1 kiln-router"]);
    router.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn response_hop_by_hop_headers_are_removed() {
    let up = Upstream::start("a-1").await;
    let router = one_group(&up).await;
    let mut c = H1::connect(router.local_addr()).await.unwrap();
    let r = c.get("/hop").await.unwrap();
    assert_eq!(r.status, 200);
    for gone in ["x-internal", "keep-alive", "proxy-authenticate"] {
        assert!(!r.headers.contains_key(gone), "{gone} reached the client: {:?}", r.headers);
    }
    assert_eq!(r.headers["x-kept"], "yes");
    assert_eq!(r.headers["via"], "1.1 kiln-router");
    router.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_request_heads_are_refused_and_never_reach_the_upstream() {
    let up = Upstream::start("a-1").await;
    let router = one_group(&up).await;
    // 100 KiB in one header: over the 64 KiB head limit, answered 431 by the HTTP/1.1 parser.
    let mut stream = tokio::net::TcpStream::connect(router.local_addr()).await.unwrap();
    let big = "b".repeat(100 * 1024);
    stream.write_all(format!("GET / HTTP/1.1\r\nhost: t\r\nx-big: {big}\r\n\r\n").as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut answer)).await;
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 431"), "{answer}");
    // 150 header fields: over the 100-field limit.
    let mut stream = tokio::net::TcpStream::connect(router.local_addr()).await.unwrap();
    let many: String = (0..150).map(|i| format!("x-h{i}: v\r\n")).collect();
    stream.write_all(format!("GET / HTTP/1.1\r\nhost: t\r\n{many}\r\n").as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut answer)).await;
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 431"), "{answer}");
    assert_eq!(up.hits(), 0);
    // A request smuggling attempt: both framings. hyper reads the chunked body and the router
    // drops Content-Length, so the upstream sees one request with the chunked body only.
    let mut stream = tokio::net::TcpStream::connect(router.local_addr()).await.unwrap();
    stream
        .write_all(b"POST /echo-body HTTP/1.1\r\nhost: t\r\ncontent-length: 4\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nhost: t\r\n\r\n")
        .await
        .unwrap();
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut answer)).await;
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.contains("hello"), "{answer}");
    assert_eq!(up.hits(), 1, "only the POST may reach the upstream");
    router.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_is_refused_and_bodies_stream_both_ways() {
    let up = Upstream::start("a-1").await;
    let router = one_group(&up).await;
    let mut stream = tokio::net::TcpStream::connect(router.local_addr()).await.unwrap();
    stream.write_all(b"CONNECT example.com:443 HTTP/1.1\r\nhost: example.com:443\r\n\r\n").await.unwrap();
    let mut buf = vec![0u8; 1024];
    let n = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buf)).await.unwrap().unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 405"));
    assert_eq!(up.hits(), 0);
    // 8 MiB up and back through the router.
    let mut c = H1::connect(router.local_addr()).await.unwrap();
    let payload = Bytes::from((0..8 * 1024 * 1024).map(|i| (i % 251) as u8).collect::<Vec<u8>>());
    let r = c.send(http::Request::post("/echo-body").header("host", "t").body(Full::new(payload.clone())).unwrap()).await.unwrap();
    assert_eq!(r.status, 200);
    assert!(r.body == payload, "the echoed body differs");
    router.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_lets_open_requests_finish_and_stops_listening() {
    let up = Upstream::start("a-1").await;
    let router = one_group(&up).await;
    let addr = router.local_addr();
    let open = tokio::spawn(async move { H1::connect(addr).await.unwrap().get("/sleep/400").await.unwrap() });
    while router.status()[0].instances[0].in_flight == 0 {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    assert!(router.shutdown().await, "the open request should have finished in time");
    assert_eq!(open.await.unwrap().status, 200);
    assert!(H1::connect(addr).await.is_err(), "the listener should be closed");
    // A second shutdown returns at once.
    assert!(router.shutdown().await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_listener_is_loopback_by_default_and_bind_errors_name_the_address() {
    let up = Upstream::start("a-1").await;
    let router = one_group(&up).await;
    assert!(router.local_addr().ip().is_loopback());
    let taken = router.local_addr();
    let e = Router::start(RouterConfig { listen: taken, ..RouterConfig::default() }, vec![]).await.err().unwrap();
    assert!(e.to_string().contains(&taken.to_string()), "{e}");
    router.shutdown().await;
}
