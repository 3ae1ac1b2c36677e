//! What the local driver's tests and the rollback-latency bench share: a python3 web service
//! revision, a bounded load generator that counts every response, and a deployment world (a
//! local fleet behind kiln-router, a store, a strategy runner).
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kiln_deploy::record::{RevisionRef, Store};
use kiln_deploy::report::Collect;
use kiln_deploy::strategy::StrategyRunner;
use kiln_deploy::{Deployment, DeploymentOptions, Env, Revision, RunOptions, RunOutcome};
use kiln_router::RouterConfig;
use kiln_targets::local::LocalFleet;
use kiln_targets::router::RouterTraffic;
use kiln_targets::settings::LocalSettings;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A web service: answers every request with its release name, or 500 when the release is bad.
pub const SERVER: &str = r#"import http.server, os, sys
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

pub fn python() -> Option<&'static str> {
    ["/usr/bin/python3", "/usr/local/bin/python3"].into_iter().find(|p| Path::new(p).exists())
}

/// A revision directory: the server, its release name, an appspec, and a hook script.
pub fn revision(root: &Path, name: &str, appspec: &str, app_dir: &str) -> Revision {
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

pub const SERVER_APPSPEC: &str = "version: 0.0\nos: linux\nfiles:\n  - source: app\n    destination: /srv/web\nhooks:\n  AfterInstall: [{location: scripts/check.sh, timeout: 30}]\n";

pub const ECS_APPSPEC: &str = "version: 0.0\nResources:\n  - TargetService:\n      Type: AWS::ECS::Service\n      Properties: {TaskDefinition: web, LoadBalancerInfo: {ContainerName: web, ContainerPort: 80}}\n";

/// Responses counted by status and body.
#[derive(Default, Debug)]
pub struct Tally {
    pub by_status: BTreeMap<u16, u64>,
    pub by_body: BTreeMap<String, u64>,
    /// Connection errors (no response at all).
    pub errors: u64,
}

impl Tally {
    pub fn total(&self) -> u64 {
        self.by_status.values().sum::<u64>() + self.errors
    }
    pub fn failed(&self) -> u64 {
        self.by_status.iter().filter(|(s, _)| **s >= 500).map(|(_, n)| n).sum::<u64>() + self.errors
    }
}

/// One HTTP/1.0 GET; the status and body, bounded to 64 KiB.
pub async fn get(addr: SocketAddr) -> Option<(u16, String)> {
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
pub fn load(addr: SocketAddr, workers: usize, stop: Arc<AtomicBool>) -> (Arc<Mutex<Tally>>, Vec<tokio::task::JoinHandle<()>>) {
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

pub struct World {
    pub dir: tempfile::TempDir,
    pub store: Store,
    pub fleet: LocalFleet,
    pub traffic: RouterTraffic,
    pub runner: Box<dyn StrategyRunner>,
    pub reporter: Arc<Collect>,
}

impl World {
    pub async fn new(ids: &[&str], service: serde_json::Value, runner: Box<dyn StrategyRunner>) -> World {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let settings = LocalSettings::from_json(&serde_json::json!({ "service": service })).unwrap();
        let ids: Vec<String> = ids.iter().map(|s| s.to_string()).collect();
        let fleet = LocalFleet::new(&dir.path().join("fleet"), &ids, settings, true).unwrap();
        let traffic = RouterTraffic::start(RouterConfig::default(), fleet.clone(), &ids).await.unwrap();
        World { dir, store, fleet, traffic, runner, reporter: Arc::new(Collect::default()) }
    }

    pub async fn deploy(&self, group: &str, revision: Revision, time_scale: f64) -> RunOutcome {
        let parsed = kiln_deploy::group::parse_group(group);
        let errors: Vec<String> = parsed.diagnostics.iter().filter(|d| d.is_error()).map(|d| d.to_plain("group.yml")).collect();
        assert!(errors.is_empty(), "{}", errors.join("\n"));
        let g = parsed.group.expect("group");
        let plan = Deployment::plan(&g, revision, DeploymentOptions::default()).unwrap_or_else(|e| panic!("{e}: {}", e.help));
        let metrics = self.traffic.metrics();
        let env = Env {
            store: &self.store,
            target: &self.fleet,
            traffic: Some(&self.traffic),
            strategies: &*self.runner,
            metrics: &metrics,
            reporter: self.reporter.clone(),
            options: RunOptions { time_scale, alarm_interval: Duration::from_millis(50), health_interval: None, drain_timeout: Duration::from_secs(10), ..RunOptions::default() },
        };
        Deployment::run(&plan, &env).await.unwrap()
    }
}

