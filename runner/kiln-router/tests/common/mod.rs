//! Test support: small hyper upstream servers, HTTP/1.1 and HTTP/2 clients, and a bounded load
//! generator. Everything is real loopback traffic.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU16, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, combinators::BoxBody};
use hyper::body::{Frame, Incoming};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

type UpBody = BoxBody<Bytes, Infallible>;

fn full(b: impl Into<Bytes>) -> UpBody {
    Full::new(b.into()).boxed()
}

/// A test upstream: answers by path (see `respond`), counts requests.
pub struct Upstream {
    pub name: String,
    pub addr: SocketAddr,
    pub hits: Arc<AtomicU64>,
    /// The status `/health` answers.
    pub health_status: Arc<AtomicU16>,
    stop: CancellationToken,
    kill: CancellationToken,
    tracker: TaskTracker,
}

async fn respond(name: Arc<str>, health: Arc<AtomicU16>, req: Request<Incoming>) -> Result<Response<UpBody>, Infallible> {
    let path = req.uri().path().to_string();
    let mut parts = path.trim_start_matches('/').splitn(2, '/');
    let (head, arg) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let named = |status: u16, body: UpBody| Response::builder().status(status).header("x-upstream", &*name).body(body).unwrap();
    let response = match head {
        "status" => named(arg.parse().unwrap_or(500), full(name.to_string())),
        "sleep" => {
            tokio::time::sleep(Duration::from_millis(arg.parse().unwrap_or(0))).await;
            named(200, full(name.to_string()))
        }
        // Head at once, then the name, then after MS the end of the body.
        "slowbody" => {
            let ms: u64 = arg.parse().unwrap_or(0);
            let body = SlowBody { first: Some(Bytes::from(name.to_string())), sleep: Box::pin(tokio::time::sleep(Duration::from_millis(ms))), done: false };
            named(200, BodyExt::boxed(body))
        }
        "echo" => {
            let mut text = format!("version: {:?}\nuri: {}\n", req.version(), req.uri());
            for (k, v) in req.headers() {
                text.push_str(&format!("{}: {}\n", k, v.to_str().unwrap_or("<bytes>")));
            }
            named(200, full(text))
        }
        "echo-body" => {
            let body = req.into_body().map_err(|_| -> Infallible { unreachable!("test bodies do not fail") });
            Response::builder().status(200).body(BoxBody::new(body)).unwrap()
        }
        "health" => named(health.load(Ordering::SeqCst), full("health")),
        "bigheader" => Response::builder().status(200).header("x-big", "a".repeat(70 * 1024)).body(full("big")).unwrap(),
        "hop" => Response::builder()
            .status(200)
            .header("connection", "x-internal")
            .header("x-internal", "secret")
            .header("keep-alive", "timeout=5")
            .header("proxy-authenticate", "Basic")
            .header("x-kept", "yes")
            .body(full("hop"))
            .unwrap(),
        _ => named(200, full(name.to_string())),
    };
    Ok(response)
}

/// A body: `first` at once, then after `delay` the text "-end".
struct SlowBody {
    first: Option<Bytes>,
    sleep: std::pin::Pin<Box<tokio::time::Sleep>>,
    done: bool,
}

impl http_body::Body for SlowBody {
    type Data = Bytes;
    type Error = Infallible;
    fn poll_frame(mut self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        use std::task::Poll;
        if let Some(first) = self.first.take() {
            return Poll::Ready(Some(Ok(Frame::data(first))));
        }
        if self.done {
            return Poll::Ready(None);
        }
        match self.sleep.as_mut().poll(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(()) => {
                self.done = true;
                Poll::Ready(Some(Ok(Frame::data(Bytes::from_static(b"-end")))))
            }
        }
    }
}

impl Upstream {
    pub async fn start(name: &str) -> Upstream {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let hits = Arc::new(AtomicU64::new(0));
        let health_status = Arc::new(AtomicU16::new(200));
        let stop = CancellationToken::new();
        let kill = CancellationToken::new();
        let tracker = TaskTracker::new();
        let (name_arc, h, st, t, hs, k) = (Arc::<str>::from(name), hits.clone(), stop.clone(), tracker.clone(), health_status.clone(), kill.clone());
        tracker.spawn(async move {
            loop {
                let (stream, _) = tokio::select! {
                    _ = st.cancelled() => return,
                    r = listener.accept() => match r { Ok(x) => x, Err(_) => continue },
                };
                let _ = stream.set_nodelay(true);
                let (name, hits, st, hs, k) = (name_arc.clone(), h.clone(), st.clone(), hs.clone(), k.clone());
                t.spawn(async move {
                    let svc = service_fn(move |req| {
                        hits.fetch_add(1, Ordering::SeqCst);
                        respond(name.clone(), hs.clone(), req)
                    });
                    let conn = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), svc);
                    tokio::pin!(conn);
                    tokio::select! {
                        _ = conn.as_mut() => return,
                        _ = k.cancelled() => return,
                        _ = st.cancelled() => {}
                    }
                    conn.as_mut().graceful_shutdown();
                    tokio::select! {
                        _ = conn.as_mut() => {}
                        _ = k.cancelled() => {}
                    }
                });
            }
        });
        Upstream { name: name.to_string(), addr, hits, health_status, stop, kill, tracker }
    }

    /// Stops accepting, lets requests in flight finish, closes every connection.
    pub async fn stop(&self) {
        self.stop.cancel();
        self.tracker.close();
        self.tracker.wait().await;
    }

    /// Stops at once, the way a killed process does: every connection is dropped, requests in
    /// flight included.
    pub async fn kill(&self) {
        self.stop.cancel();
        self.kill.cancel();
        self.tracker.close();
        self.tracker.wait().await;
    }

    pub fn hits(&self) -> u64 {
        self.hits.load(Ordering::SeqCst)
    }
}

/// An address nothing listens on (connections are refused).
pub async fn dead_addr() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    addr
}

/// A response read whole.
pub struct Reply {
    pub status: StatusCode,
    pub headers: http::HeaderMap,
    pub body: Bytes,
}

impl Reply {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    pub fn upstream(&self) -> String {
        self.headers.get("x-upstream").and_then(|v| v.to_str().ok()).unwrap_or("").to_string()
    }
}

/// Reads a response whole.
async fn read_reply(response: Result<Response<Incoming>, hyper::Error>) -> Result<Reply, String> {
    let (parts, body) = response.map_err(|e| e.to_string())?.into_parts();
    let body = body.collect().await.map_err(|e| format!("body: {e}"))?.to_bytes();
    Ok(Reply { status: parts.status, headers: parts.headers, body })
}

/// An HTTP/1.1 keep-alive client connection.
pub struct H1 {
    tx: hyper::client::conn::http1::SendRequest<Full<Bytes>>,
    pub addr: SocketAddr,
}

impl H1 {
    pub async fn connect(addr: SocketAddr) -> Result<H1, String> {
        let stream = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
        let _ = stream.set_nodelay(true);
        let (tx, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.map_err(|e| e.to_string())?;
        tokio::spawn(conn);
        Ok(H1 { tx, addr })
    }

    pub async fn send(&mut self, req: Request<Full<Bytes>>) -> Result<Reply, String> {
        self.tx.ready().await.map_err(|e| e.to_string())?;
        read_reply(self.tx.send_request(req).await).await
    }

    pub async fn get(&mut self, path: &str) -> Result<Reply, String> {
        self.send(Request::get(path).header("host", "app.test").body(Full::new(Bytes::new())).unwrap()).await
    }
}

/// An HTTP/2 (prior knowledge) client connection; clones share it.
#[derive(Clone)]
pub struct H2 {
    tx: hyper::client::conn::http2::SendRequest<Full<Bytes>>,
}

impl H2 {
    pub async fn connect(addr: SocketAddr) -> H2 {
        let stream = TcpStream::connect(addr).await.unwrap();
        let (tx, conn) = hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream)).await.unwrap();
        tokio::spawn(conn);
        H2 { tx }
    }

    pub async fn send(&mut self, req: Request<Full<Bytes>>) -> Result<Reply, String> {
        self.tx.ready().await.map_err(|e| e.to_string())?;
        read_reply(self.tx.send_request(req).await).await
    }
}

/// What a load run saw: every response counted.
#[derive(Debug, Default)]
pub struct Tally {
    pub sent: u64,
    pub by_status: BTreeMap<u16, u64>,
    pub by_upstream: BTreeMap<String, u64>,
    pub errors: Vec<String>,
}

impl Tally {
    pub fn ok(&self) -> u64 {
        self.by_status.iter().filter(|(s, _)| (200..300).contains(*s)).map(|(_, n)| n).sum()
    }
    fn merge(&mut self, other: Tally) {
        self.sent += other.sent;
        for (k, v) in other.by_status {
            *self.by_status.entry(k).or_default() += v;
        }
        for (k, v) in other.by_upstream {
            *self.by_upstream.entry(k).or_default() += v;
        }
        self.errors.extend(other.errors);
    }
}

/// A bounded load generator: `concurrency` keep-alive connections, each sending `paths` in turn
/// until stopped, `max_per_task` requests, or `limit` time.
pub struct Load {
    stop: Arc<AtomicBool>,
    tasks: Vec<tokio::task::JoinHandle<Tally>>,
}

impl Load {
    pub fn start(addr: SocketAddr, concurrency: usize, paths: &[&str], max_per_task: u64, limit: Duration) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let deadline = Instant::now() + limit;
        let tasks = (0..concurrency)
            .map(|i| {
                let stop = stop.clone();
                let paths: Vec<String> = paths.iter().map(|p| p.to_string()).collect();
                tokio::spawn(async move {
                    let mut tally = Tally::default();
                    let mut client = None;
                    let mut k = i;
                    while !stop.load(Ordering::SeqCst) && tally.sent < max_per_task && Instant::now() < deadline {
                        if client.is_none() {
                            match H1::connect(addr).await {
                                Ok(c) => client = Some(c),
                                Err(e) => {
                                    tally.errors.push(format!("connect: {e}"));
                                    tokio::time::sleep(Duration::from_millis(5)).await;
                                    continue;
                                }
                            }
                        }
                        let Some(c) = client.as_mut() else { continue };
                        let path = &paths[k % paths.len()];
                        k += 1;
                        tally.sent += 1;
                        match c.get(path).await {
                            Ok(r) => {
                                *tally.by_status.entry(r.status.as_u16()).or_default() += 1;
                                *tally.by_upstream.entry(r.upstream()).or_default() += 1;
                            }
                            Err(e) => {
                                tally.errors.push(e);
                                client = None;
                            }
                        }
                    }
                    tally
                })
            })
            .collect();
        Load { stop, tasks }
    }

    pub async fn finish(self) -> Tally {
        self.stop.store(true, Ordering::SeqCst);
        let mut total = Tally::default();
        for t in self.tasks {
            total.merge(t.await.expect("load task panicked"));
        }
        total
    }
}
