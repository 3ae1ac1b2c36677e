//! Router overhead: latency added per request and requests per second, against a direct
//! connection to the same upstream. Run through `bench/router.sh` (release build).
//!
//! One process, one 2-worker tokio runtime shared by the upstream (a minimal hyper HTTP/1.1
//! server answering "ok"), the router (two groups at 90/10, both instances on that upstream, so
//! the weighted path is exercised) and the load generator (hyper HTTP/1.1 keep-alive clients).
//! Each round measures direct, then through the router, back to back:
//! - latency: `--requests` sequential requests on one keep-alive connection; median and p99;
//! - throughput: `--concurrency` connections sending as fast as they can for `--seconds`.
//!
//! With `--serve S` it only starts the upstream and the router, prints `direct=ADDR router=ADDR`
//! and serves for S seconds, so that an outside load generator (`wrk` in `bench/router.sh`) can
//! measure both.
//!
//! Usage: router [--rounds N] [--requests N] [--concurrency N] [--seconds S] [--serve S]

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Full};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use kiln_router::{InstanceSpec, Router, RouterConfig, TargetGroup};
use tokio::net::{TcpListener, TcpStream};

struct Args {
    rounds: usize,
    requests: usize,
    concurrency: usize,
    seconds: f64,
    serve: Option<f64>,
}

fn args() -> Args {
    let mut a = Args { rounds: 5, requests: 5_000, concurrency: 32, seconds: 2.0, serve: None };
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    while i < argv.len() {
        let value = argv.get(i + 1).cloned().unwrap_or_default();
        match argv[i].as_str() {
            "--rounds" => a.rounds = value.parse().unwrap_or(a.rounds),
            "--requests" => a.requests = value.parse().unwrap_or(a.requests),
            "--concurrency" => a.concurrency = value.parse().unwrap_or(a.concurrency),
            "--seconds" => a.seconds = value.parse().unwrap_or(a.seconds),
            "--serve" => a.serve = value.parse().ok(),
            _ => {
                // cargo bench passes --bench; ignore anything else.
                i += 1;
                continue;
            }
        }
        i += 2;
    }
    a
}

async fn upstream() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else { continue };
            let _ = stream.set_nodelay(true);
            tokio::spawn(async move {
                let svc = service_fn(|_req| async { Ok::<_, Infallible>(hyper::Response::new(Full::new(Bytes::from_static(b"ok")))) });
                let _ = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), svc).await;
            });
        }
    });
    addr
}

type Sender = hyper::client::conn::http1::SendRequest<Empty<Bytes>>;

async fn connect(addr: SocketAddr) -> Sender {
    let stream = TcpStream::connect(addr).await.unwrap();
    stream.set_nodelay(true).unwrap();
    let (tx, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.unwrap();
    tokio::spawn(conn);
    tx
}

async fn get(tx: &mut Sender) {
    tx.ready().await.unwrap();
    let req = hyper::Request::get("/").header("host", "bench").body(Empty::new()).unwrap();
    let resp = tx.send_request(req).await.unwrap();
    assert_eq!(resp.status(), 200);
    resp.into_body().collect().await.unwrap();
}

/// Sequential requests on one connection: sorted latencies.
async fn latencies(addr: SocketAddr, n: usize) -> Vec<Duration> {
    let mut tx = connect(addr).await;
    for _ in 0..200 {
        get(&mut tx).await;
    }
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        get(&mut tx).await;
        out.push(t.elapsed());
    }
    out.sort();
    out
}

fn quantile(sorted: &[Duration], q: f64) -> Duration {
    sorted[((sorted.len() as f64 * q).ceil() as usize).clamp(1, sorted.len()) - 1]
}

/// Requests per second with `concurrency` connections for `seconds`.
async fn throughput(addr: SocketAddr, concurrency: usize, seconds: f64) -> f64 {
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (stop, done) = (stop.clone(), done.clone());
        tasks.push(tokio::spawn(async move {
            let mut tx = connect(addr).await;
            while !stop.load(Ordering::Relaxed) {
                get(&mut tx).await;
                done.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (start_count, started) = (done.load(Ordering::Relaxed), Instant::now());
    tokio::time::sleep(Duration::from_secs_f64(seconds)).await;
    let count = done.load(Ordering::Relaxed) - start_count;
    let elapsed = started.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        t.await.unwrap();
    }
    count as f64 / elapsed
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

fn range(values: &[f64]) -> String {
    let mut v = values.to_vec();
    v.sort_by(|a, b| a.total_cmp(b));
    format!("{:.0} ({:.0}–{:.0})", v[v.len() / 2], v[0], v[v.len() - 1])
}

fn main() {
    let a = args();
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    runtime.block_on(async {
        let up = upstream().await;
        let router = Router::start(
            RouterConfig::default(),
            vec![TargetGroup::new("blue", 90).instance(InstanceSpec::new("blue-1", up)), TargetGroup::new("green", 10).instance(InstanceSpec::new("green-1", up))],
        )
        .await
        .unwrap();
        let via = router.local_addr();
        if let Some(serve) = a.serve {
            use std::io::Write;
            println!("direct={up} router={via}");
            let _ = std::io::stdout().flush();
            tokio::time::sleep(Duration::from_secs_f64(serve)).await;
            router.shutdown().await;
            return;
        }
        let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
        println!(
            "kiln-router overhead: {} rounds, {} sequential requests per latency run, {} connections x {} s per throughput run; load avg {}",
            a.rounds,
            a.requests,
            a.concurrency,
            a.seconds,
            load.split_whitespace().take(3).collect::<Vec<_>>().join(" ")
        );
        println!();
        println!("| round | direct p50 µs | router p50 µs | added p50 µs | direct p99 µs | router p99 µs | added p99 µs | direct req/s | router req/s | router/direct |");
        println!("|---|---|---|---|---|---|---|---|---|---|");
        let bench_start = Instant::now();
        let (mut added50, mut added99, mut rps_d, mut rps_r, mut ratio) = (vec![], vec![], vec![], vec![], vec![]);
        let (mut d50s, mut r50s, mut d99s, mut r99s) = (vec![], vec![], vec![], vec![]);
        for round in 1..=a.rounds {
            let direct = latencies(up, a.requests).await;
            let routed = latencies(via, a.requests).await;
            let (d50, r50, d99, r99) = (micros(quantile(&direct, 0.5)), micros(quantile(&routed, 0.5)), micros(quantile(&direct, 0.99)), micros(quantile(&routed, 0.99)));
            let td = throughput(up, a.concurrency, a.seconds).await;
            let tr = throughput(via, a.concurrency, a.seconds).await;
            println!("| {round} | {d50:.0} | {r50:.0} | {:.0} | {d99:.0} | {r99:.0} | {:.0} | {td:.0} | {tr:.0} | {:.2} |", r50 - d50, r99 - d99, tr / td);
            added50.push(r50 - d50);
            added99.push(r99 - d99);
            rps_d.push(td);
            rps_r.push(tr);
            ratio.push(tr / td * 100.0);
            d50s.push(d50);
            r50s.push(r50);
            d99s.push(d99);
            r99s.push(r99);
        }
        println!();
        println!("median (min–max) over rounds:");
        println!("- latency p50: direct {} µs, router {} µs, added {} µs", range(&d50s), range(&r50s), range(&added50));
        println!("- latency p99: direct {} µs, router {} µs, added {} µs", range(&d99s), range(&r99s), range(&added99));
        println!("- throughput: direct {} req/s, router {} req/s, router/direct {} %", range(&rps_d), range(&rps_r), range(&ratio));
        // What an alarm evaluator pays to read a window covering the whole run, every 100 ms.
        let metrics = router.metrics();
        let reads = 100;
        let started = Instant::now();
        for _ in 0..reads {
            std::hint::black_box(metrics.window(bench_start));
        }
        println!("- metrics.window over the whole run ({:.0} s of 100 ms samples, 4 scopes): {:.0} µs per read", bench_start.elapsed().as_secs_f64(), micros(started.elapsed()) / reads as f64);
        let total = router.metrics().total();
        let green: u64 = total.groups["green"].requests;
        let all: u64 = total.groups.values().map(|g| g.requests).sum();
        println!("- router check: {all} requests through the router, {:.2} % to the 10 % group, {} non-2xx", green as f64 * 100.0 / all.max(1) as f64, all - total.groups.values().map(|g| g.count_2xx()).sum::<u64>());
        router.shutdown().await;
    });
}
