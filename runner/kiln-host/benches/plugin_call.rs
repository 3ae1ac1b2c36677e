//! Plugin-call benchmarks for BENCHMARKS.md. Prints a table of medians (and p90) for:
//! cold compile, first load from the on-disk cache, a warm no-op call (pre-instantiated),
//! end-to-end no-op steps, a real scan, a deploy strategy's session start and `next` call, and a
//! native no-op subprocess for comparison.
//!
//! Run: `cargo bench -p kiln-host --bench plugin_call` (release profile). `KILN_BENCH_ITERS`
//! scales the iteration counts (default 1).

use kiln_host::builtin::{self, test_components};
use kiln_host::{Grants, Host, HostConfig, Manifest, PluginSource, Policy, StepInvocation};
use std::time::{Duration, Instant};

fn stats(mut v: Vec<Duration>) -> (Duration, Duration) {
    v.sort();
    (v[v.len() / 2], v[(v.len() * 9 / 10).min(v.len() - 1)])
}

fn row(what: &str, n: usize, v: Vec<Duration>) {
    let (med, p90) = stats(v);
    println!(
        "| {what} | {n} | {:.3} ms | {:.3} ms |",
        med.as_secs_f64() * 1e3,
        p90.as_secs_f64() * 1e3
    );
}

fn noop_source() -> PluginSource {
    let m = Manifest::parse("name = \"noop-step\"\nversion = \"0.1.0\"\nworld = \"step\"\n[capabilities]\nread-source = true\nwrite-output = true\n")
        .unwrap();
    PluginSource::bytes("noop-step", test_components::NOOP_STEP).with_manifest(m)
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return; // `cargo bench -- --list` / `cargo test --benches` probes.
    }
    let scale: usize = std::env::var("KILN_BENCH_ITERS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let (src, out) = (tmp.path().join("src"), tmp.path().join("out"));
    std::fs::create_dir_all(&src).unwrap();
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(src.join("a.txt"), "hello\n").unwrap();

    println!(
        "noop-step component: {} bytes; hello-step: {} bytes; wasmtime {}",
        test_components::NOOP_STEP.len(),
        builtin::get("hello-step")
            .map(|s| match s {
                PluginSource::Bytes { bytes, .. } => bytes.len(),
                _ => 0,
            })
            .unwrap_or(0),
        kiln_host::WASMTIME_VERSION
    );
    println!();
    println!("| measurement | runs | median | p90 |");
    println!("|---|---|---|---|");

    // Cold compile: a host without a cache compiles with Cranelift on every load.
    let nocache = Host::new(HostConfig::default()).unwrap();
    let n = 5 * scale;
    row(
        "cold compile + pre-instantiate (noop-step, no cache)",
        n,
        (0..n)
            .map(|_| {
                let t = Instant::now();
                nocache.load(noop_source()).unwrap();
                t.elapsed()
            })
            .collect(),
    );
    row(
        "cold compile + pre-instantiate (hello-step, no cache)",
        n,
        (0..n)
            .map(|_| {
                let t = Instant::now();
                nocache.load(builtin::get("hello-step").unwrap()).unwrap();
                t.elapsed()
            })
            .collect(),
    );

    // First load from the on-disk cache: sha256 + manifest + deserialize_file + instantiate_pre,
    // each time in a fresh Host (as a new kiln process would).
    let cache_dir = tmp.path().join("cache");
    let cfg = HostConfig {
        cache_dir: Some(cache_dir),
        ..HostConfig::default()
    };
    Host::new(cfg.clone()).unwrap().load(noop_source()).unwrap();
    let n = 20 * scale;
    let hosts: Vec<Host> = (0..n).map(|_| Host::new(cfg.clone()).unwrap()).collect();
    row(
        "first load from the on-disk cache (noop-step, fresh Host)",
        n,
        hosts
            .iter()
            .map(|h| {
                let t = Instant::now();
                let p = h.load(noop_source()).unwrap();
                assert_eq!(p.load_stats.cache, kiln_host::CacheOutcome::Hit);
                t.elapsed()
            })
            .collect(),
    );
    drop(hosts);

    let host = Host::new(cfg).unwrap();
    let noop = host.load(noop_source()).unwrap();
    let none = StepInvocation::new(&src, &out, Grants::none());
    let full = StepInvocation::new(
        &src,
        &out,
        Grants::intersect(&noop.manifest.capabilities, &Policy::default()),
    );
    let n = 1000 * scale;
    rt.block_on(async {
        for _ in 0..50 {
            noop.run_step(&none).await.unwrap();
        }
        let mut call = Vec::new();
        let mut inst = Vec::new();
        let mut e2e = Vec::new();
        for _ in 0..n {
            let t = Instant::now();
            let o = noop.run_step(&none).await.unwrap();
            e2e.push(t.elapsed());
            call.push(o.call);
            inst.push(o.instantiate);
        }
        row("warm no-op: the `run` call itself", n, call);
        row("warm no-op: instantiate from StepPre", n, inst);
        row(
            "warm no-op step end to end (new store + WASI ctx, no grants)",
            n,
            e2e,
        );
        let e2e: Vec<Duration> = time_runs(&noop, &full, n).await;
        row(
            "warm no-op step end to end (/src + /out preopens, output check)",
            n,
            e2e,
        );
    });

    // A first call in a new process: fresh host, load from cache, run once.
    let n = 20 * scale;
    let cfg = HostConfig {
        cache_dir: Some(tmp.path().join("cache")),
        ..HostConfig::default()
    };
    row(
        "cold process path: new Host + load from cache + one no-op step",
        n,
        (0..n)
            .map(|_| {
                let t = Instant::now();
                let h = Host::new(cfg.clone()).unwrap();
                let p = h.load(noop_source()).unwrap();
                rt.block_on(p.run_step(&full)).unwrap();
                t.elapsed()
            })
            .collect(),
    );

    // Real work: hello-step over this crate's own source tree.
    let hello = host.load(builtin::get("hello-step").unwrap()).unwrap();
    let crate_src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let files = std::fs::read_dir(&crate_src).unwrap().count();
    let n = 50 * scale;
    let hello_out = tmp.path().join("hello-out");
    std::fs::create_dir_all(&hello_out).unwrap();
    let inv = StepInvocation::new(
        &crate_src,
        &hello_out,
        Grants::intersect(&hello.manifest.capabilities, &Policy::default()),
    );
    row(
        &format!("hello-step scan of kiln-host/src ({files} files), warm"),
        n,
        (0..n)
            .map(|_| {
                let t = Instant::now();
                rt.block_on(hello.run_step(&inv)).unwrap();
                t.elapsed()
            })
            .collect(),
    );

    // The same warm call with wasmtime's pooling instance allocator.
    let pooled = Host::new(HostConfig {
        pooling: true,
        ..HostConfig::default()
    })
    .unwrap();
    let pnoop = pooled.load(noop_source()).unwrap();
    let n = 1000 * scale;
    rt.block_on(async {
        time_runs(&pnoop, &none, 50).await;
        let v = time_runs(&pnoop, &none, n).await;
        row(
            "warm no-op step end to end, pooling allocator (no grants)",
            n,
            v,
        );
    });

    // Deploy strategies: starting a session (fresh store, instantiation, the constructor), and
    // one `next` call in a canary's wait with 20 instances in the observation.
    let strat = host.load_strategy(builtin::get("codedeploy-traffic-shift").unwrap()).unwrap();
    let config = serde_json::json!({"deploymentConfigName": "CodeDeployDefault.ECSCanary10Percent5Minutes"});
    let n = 200 * scale;
    row(
        "deploy strategy: start a session (codedeploy-traffic-shift)",
        n,
        (0..n)
            .map(|_| {
                let t = Instant::now();
                rt.block_on(strat.start(config.clone())).unwrap();
                t.elapsed()
            })
            .collect(),
    );
    let obs = strategy_observation();
    let mut session = rt.block_on(strat.start(config)).unwrap();
    while !matches!(rt.block_on(session.next(&obs)).unwrap(), kiln_host::strategy::Action::Wait(_)) {}
    let n = 5000 * scale;
    row(
        "deploy strategy: one next call, 20 instances (canary wait)",
        n,
        (0..n)
            .map(|_| {
                let t = Instant::now();
                rt.block_on(session.next(&obs)).unwrap();
                t.elapsed()
            })
            .collect(),
    );

    // Native comparison: spawning a no-op process.
    let n = 200 * scale;
    row(
        "native no-op subprocess (/bin/true, spawn + wait)",
        n,
        (0..n)
            .map(|_| {
                let t = Instant::now();
                let s = std::process::Command::new("/bin/true").status().unwrap();
                assert!(s.success());
                t.elapsed()
            })
            .collect(),
    );
}

/// An ECS deployment of 10 tasks, the replacement set installed, the last action done.
fn strategy_observation() -> kiln_host::strategy::Observation {
    use kiln_host::strategy::{ComputePlatform, DeploymentType, Instance, InstanceSet, Observation};
    let task = |set: InstanceSet, i: usize, rev: &str| Instance { id: format!("{rev}-task-{i}"), set, revision: rev.into(), healthy: true, in_service: set == InstanceSet::Original };
    let mut instances: Vec<Instance> = (0..10).map(|i| task(InstanceSet::Original, i, "v1")).collect();
    instances.extend((0..10).map(|i| task(InstanceSet::Replacement, i, "v2")));
    Observation {
        compute_platform: ComputePlatform::Ecs,
        deployment_type: DeploymentType::BlueGreen,
        elapsed_ms: 1000,
        target_revision: "v2".into(),
        instances,
        alarms: vec![kiln_host::strategy::Alarm { name: "5xx".into(), firing: false }],
        traffic_to_target: 10,
        continue_requested: false,
        last_action: Some(Ok(())),
    }
}

async fn time_runs(p: &kiln_host::LoadedPlugin, inv: &StepInvocation, n: usize) -> Vec<Duration> {
    let mut v = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        p.run_step(inv).await.unwrap();
        v.push(t.elapsed());
    }
    v
}
