//! The local driver end to end: real services (python3 http.server-style scripts) in kiln's
//! sandbox on loopback ports, kiln-router in front, a bounded load generator counting every
//! response, kiln-deploy's engine driving the built-in strategies' logic.

// The built-in strategies run natively (kiln-strategy-engine) by kiln-deploy's test runner.
#[path = "../../kiln-deploy/tests/common/mod.rs"]
mod common;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kiln_deploy::record::{DeploymentStatus, ErrorCode, RevisionRef, Store, Weights};
use kiln_deploy::report::Collect;
use kiln_deploy::target::TrafficControl;
use kiln_deploy::{Deployment, DeploymentOptions, Env, Revision, RunOptions, RunOutcome};
use kiln_router::RouterConfig;
use kiln_targets::local::LocalFleet;
use kiln_targets::router::RouterTraffic;
use kiln_targets::settings::LocalSettings;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A web service: answers every request with its release name, or 500 when the release is bad.
const SERVER: &str = r#"import http.server, os, sys
release = open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "release.txt")).read().strip()
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        bad = release.endswith("-bad") and self.path != "/health"
        body = release.encode()
        self.send_response(500 if bad else 200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        pass
http.server.ThreadingHTTPServer(("127.0.0.1", int(os.environ["PORT"])), H).serve_forever()
"#;

fn python() -> Option<&'static str> {
    ["/usr/bin/python3", "/usr/local/bin/python3"].into_iter().find(|p| Path::new(p).exists())
}

/// A revision directory: the server, its release name, an appspec, and a hook script.
fn revision(root: &Path, name: &str, appspec: &str, app_dir: &str) -> Revision {
    let dir = root.join(name);
    let app = dir.join(app_dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::create_dir_all(&app).unwrap();
    std::fs::create_dir_all(dir.join("scripts")).unwrap();
    std::fs::write(app.join("server.py"), SERVER).unwrap();
    std::fs::write(app.join("release.txt"), name).unwrap();
    std::fs::write(dir.join("appspec.yml"), appspec).unwrap();
    let check = dir.join("scripts/check.sh");
    // The hook runs in the sandbox with the instance's variables; it checks the install landed.
    std::fs::write(&check, "#!/bin/sh\nset -e\ntest -f \"$KILN_INSTANCE_ROOT/srv/web/server.py\"\necho \"checked $KILN_INSTANCE_ID on port $PORT\"\n").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&check, std::fs::Permissions::from_mode(0o755)).unwrap();
    Revision::load(RevisionRef { name: name.into(), bundle: dir.display().to_string(), sha256: "0".repeat(64), provenance_sha256: None }).unwrap()
}

const SERVER_APPSPEC: &str = "version: 0.0\nos: linux\nfiles:\n  - source: app\n    destination: /srv/web\nhooks:\n  AfterInstall: [{location: scripts/check.sh, timeout: 30}]\n";

const ECS_APPSPEC: &str = "version: 0.0\nResources:\n  - TargetService:\n      Type: AWS::ECS::Service\n      Properties: {TaskDefinition: web, LoadBalancerInfo: {ContainerName: web, ContainerPort: 80}}\n";

/// Responses counted by status and body.
#[derive(Default, Debug)]
struct Tally {
    by_status: BTreeMap<u16, u64>,
    by_body: BTreeMap<String, u64>,
    /// Connection errors (no response at all).
    errors: u64,
}

impl Tally {
    fn total(&self) -> u64 {
        self.by_status.values().sum::<u64>() + self.errors
    }
    fn failed(&self) -> u64 {
        self.by_status.iter().filter(|(s, _)| **s >= 500).map(|(_, n)| n).sum::<u64>() + self.errors
    }
}

/// One HTTP/1.0 GET; the status and body, bounded to 64 KiB.
async fn get(addr: SocketAddr) -> Option<(u16, String)> {
    let mut c = tokio::time::timeout(Duration::from_secs(5), tokio::net::TcpStream::connect(addr)).await.ok()?.ok()?;
    c.write_all(b"GET / HTTP/1.0\r\nHost: web\r\n\r\n").await.ok()?;
    let mut buf = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), (&mut c).take(65536).read_to_end(&mut buf)).await.ok()?.ok()?;
    let text = String::from_utf8_lossy(&buf);
    let status = text.get(9..12)?.parse().ok()?;
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default();
    Some((status, body))
}

/// `workers` clients sending requests back to back until `stop`, counting every response.
fn load(addr: SocketAddr, workers: usize, stop: Arc<AtomicBool>) -> (Arc<Mutex<Tally>>, Vec<tokio::task::JoinHandle<()>>) {
    let tally = Arc::new(Mutex::new(Tally::default()));
    let handles = (0..workers)
        .map(|_| {
            let (tally, stop) = (tally.clone(), stop.clone());
            tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    let r = get(addr).await;
                    let mut t = tally.lock().unwrap();
                    match r {
                        Some((s, b)) => {
                            *t.by_status.entry(s).or_default() += 1;
                            *t.by_body.entry(b).or_default() += 1;
                        }
                        None => t.errors += 1,
                    }
                }
            })
        })
        .collect();
    (tally, handles)
}

struct World {
    dir: tempfile::TempDir,
    store: Store,
    fleet: LocalFleet,
    traffic: RouterTraffic,
    runner: common::Runner,
    reporter: Arc<Collect>,
}

impl World {
    async fn new(ids: &[&str], service: serde_json::Value) -> World {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let settings = LocalSettings::from_json(&serde_json::json!({ "service": service })).unwrap();
        let ids: Vec<String> = ids.iter().map(|s| s.to_string()).collect();
        let fleet = LocalFleet::new(&dir.path().join("fleet"), &ids, settings, true).unwrap();
        let traffic = RouterTraffic::start(RouterConfig::default(), fleet.clone(), &ids).await.unwrap();
        World { dir, store, fleet, traffic, runner: common::Runner::default(), reporter: Arc::new(Collect::default()) }
    }

    async fn deploy(&self, group: &str, revision: Revision, time_scale: f64) -> RunOutcome {
        let g = common::group(group);
        let plan = Deployment::plan(&g, revision, DeploymentOptions::default()).unwrap_or_else(|e| panic!("{e}: {}", e.help));
        let metrics = self.traffic.metrics();
        let env = Env {
            store: &self.store,
            target: &self.fleet,
            traffic: Some(&self.traffic),
            strategies: &self.runner,
            metrics: &metrics,
            reporter: self.reporter.clone(),
            options: RunOptions { time_scale, alarm_interval: Duration::from_millis(50), health_interval: None, drain_timeout: Duration::from_secs(10), ..RunOptions::default() },
        };
        Deployment::run(&plan, &env).await.unwrap()
    }
}

fn service() -> Option<serde_json::Value> {
    let py = python()?;
    Some(serde_json::json!({"command": [py, "server.py"], "cwd": "/srv/web", "health-path": "/health", "start-timeout": 20, "stop-timeout": 5}))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_in_place_deployment_under_load_fails_no_request() {
    let Some(svc) = service() else {
        eprintln!("SKIPPED: python3 is not installed (the test's web service is a python3 script)");
        return;
    };
    let w = World::new(&["web-1", "web-2"], svc).await;
    let group = |config: &str| format!("applicationName: web\ndeploymentGroupName: prod\ndeploymentConfigName: {config}\ndeploymentStyle: {{deploymentType: IN_PLACE, deploymentOption: WITH_TRAFFIC_CONTROL}}\ntargets: {{driver: local, instances: [web-1, web-2]}}\n");
    // The first release, all at once (no clients yet: nothing served before it).
    let first = w.deploy(&group("CodeDeployDefault.AllAtOnce"), revision(w.dir.path(), "v1", SERVER_APPSPEC, "app"), 1.0).await;
    assert_eq!(first.deployment.status, DeploymentStatus::Succeeded, "{:?}", first.deployment.error_information);
    assert_eq!(w.fleet.running("web-1").as_deref(), Some("v1"));
    // The hook ran in the instance's sandbox and saw its variables.
    let hook_out = w.reporter.events().iter().map(|e| format!("{e:?}")).filter(|e| e.contains("checked web-")).count();
    assert!(hook_out >= 2, "hook output: {:?}", w.reporter.events());

    // v2 one instance at a time, under load: the router drains each instance before its service
    // stops and routes to it again only once v2 answers.
    let stop = Arc::new(AtomicBool::new(false));
    let (tally, handles) = load(w.traffic.local_addr(), 4, stop.clone());
    tokio::time::sleep(Duration::from_millis(300)).await;
    let out = w.deploy(&group("CodeDeployDefault.OneAtATime"), revision(w.dir.path(), "v2", SERVER_APPSPEC, "app"), 1.0).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, Ordering::Relaxed);
    for h in handles {
        h.await.unwrap();
    }
    assert_eq!(out.deployment.status, DeploymentStatus::Succeeded, "{:?}", out.deployment.error_information);
    let t = std::mem::take(&mut *tally.lock().unwrap());
    eprintln!("in-place OneAtATime under load: {t:?}");
    assert_eq!(t.failed(), 0, "{t:?}");
    assert!(t.total() > 50, "the load generator ran: {t:?}");
    assert!(t.by_body.get("v1").is_some_and(|n| *n > 0) && t.by_body.get("v2").is_some_and(|n| *n > 0), "{t:?}");
    assert_eq!(w.fleet.running("web-1").as_deref(), Some("v2"));
    assert_eq!(w.fleet.running("web-2").as_deref(), Some("v2"));
    assert_eq!(get(w.traffic.local_addr()).await.unwrap(), (200, "v2".to_string()));
    w.fleet.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_canary_of_a_bad_release_is_caught_by_the_alarm_and_traffic_goes_back() {
    let Some(py) = python() else {
        eprintln!("SKIPPED: python3 is not installed (the test's web service is a python3 script)");
        return;
    };
    // ECS-style: the service runs in the revision's directory (no `cwd`).
    let w = World::new(&["task-1"], serde_json::json!({"command": [py, "server.py"], "health-path": "/health", "start-timeout": 20})).await;
    // The replacement set's 5xx: one period of 60 s (600 ms at the scale below) with any is enough.
    let group = "applicationName: shop\ndeploymentGroupName: ecs\ncomputePlatform: ECS\ndeploymentConfigName: CodeDeployDefault.ECSCanary10Percent5Minutes\nalarmConfiguration:\n  enabled: true\n  alarms:\n    - name: canary-errors\n      metric: router.replacement.HTTPCode_Target_5XX_Count\n      statistic: Sum\n      period: 60\n      evaluationPeriods: 1\n      comparisonOperator: GreaterThanThreshold\n      threshold: 0\n      treatMissingData: notBreaching\nautoRollbackConfiguration: {enabled: true, events: [DEPLOYMENT_FAILURE, DEPLOYMENT_STOP_ON_ALARM]}\ntargets: {driver: local, instances: [task-1]}\n";
    let scale = 0.01; // 5 minutes of canary = 3 s
    let good = w.deploy(group, revision(w.dir.path(), "v1", ECS_APPSPEC, "."), scale).await;
    assert_eq!(good.deployment.status, DeploymentStatus::Succeeded, "{:?}", good.deployment.error_information);
    assert_eq!(get(w.traffic.local_addr()).await.unwrap(), (200, "v1".to_string()));

    let stop = Arc::new(AtomicBool::new(false));
    let (tally, handles) = load(w.traffic.local_addr(), 4, stop.clone());
    let out = w.deploy(group, revision(w.dir.path(), "v2-bad", ECS_APPSPEC, "."), scale).await;
    stop.store(true, Ordering::Relaxed);
    for h in handles {
        h.await.unwrap();
    }
    let d = &out.deployment;
    assert_eq!(d.status, DeploymentStatus::Stopped, "{:?}", d.error_information);
    let e = d.error_information.as_ref().unwrap();
    assert_eq!(e.code, ErrorCode::AlarmActive, "{e:?}");
    assert!(e.message.contains("canary-errors"), "{}", e.message);
    assert_eq!(out.rollback.as_ref().map(|r| r.status), Some(DeploymentStatus::Succeeded));
    // The canary never got more than 10 %; traffic is all on v1 again.
    let history: Vec<u8> = d.kiln.traffic.as_ref().unwrap().history.iter().map(|c| c.weights.replacement).collect();
    assert!(history.iter().all(|p| *p <= 10), "{history:?}");
    assert_eq!(w.traffic.weights().await.unwrap(), Weights::ORIGINAL);
    let t = std::mem::take(&mut *tally.lock().unwrap());
    eprintln!("ECS canary of a bad release under load: {t:?}");
    let bad = t.by_status.get(&500).copied().unwrap_or(0);
    assert!(bad > 0, "the canary served the bad release: {t:?}");
    assert!(bad * 4 < t.total(), "about a tenth of the requests reached the canary, not a quarter: {t:?}");
    assert_eq!(t.errors, 0, "{t:?}");
    for _ in 0..20 {
        assert_eq!(get(w.traffic.local_addr()).await.unwrap(), (200, "v1".to_string()));
    }
    w.fleet.shutdown().await;
}
