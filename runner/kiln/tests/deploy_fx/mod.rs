//! A deployment fixture for the `kiln deploy` integration tests (`deploy.rs`,
//! `deploy_recovery.rs`): a project directory, revisions of a small python3 web service (an
//! artifact directory with its appspec and hook scripts), a deployment group file with a free
//! loopback port for the router, the real binary run on them, and a bounded load generator that
//! counts every answer through the router.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

/// The bundled example's web service: answers every request with its release name; 500 when the
/// release name ends in `-bad` (except /health, so a bad release starts and passes its health
/// check).
pub const SERVER: &str = include_str!("../../../../examples/deploy-canary/app/server.py");

/// An EC2/on-premises appspec: the service to /srv/web, hooks from `scripts/`.
pub fn server_appspec(hooks: &[(&str, &str, u32)]) -> String {
    let mut s = String::from("version: 0.0\nos: linux\nfiles:\n  - source: app\n    destination: /srv/web\n");
    if !hooks.is_empty() {
        s.push_str("hooks:\n");
        for (event, script, timeout) in hooks {
            s.push_str(&format!("  {event}:\n    - location: scripts/{script}\n      timeout: {timeout}\n"));
        }
    }
    s
}

/// An ECS appspec, with hook functions by event.
pub fn ecs_appspec(hooks: &[(&str, &str)]) -> String {
    let mut s = String::from("version: 0.0\nResources:\n  - TargetService:\n      Type: AWS::ECS::Service\n      Properties: {TaskDefinition: web, LoadBalancerInfo: {ContainerName: web, ContainerPort: 8080}}\n");
    if !hooks.is_empty() {
        s.push_str("Hooks:\n");
        for (event, f) in hooks {
            s.push_str(&format!("  - {event}: {f}\n"));
        }
    }
    s
}

pub struct Fx {
    pub tmp: tempfile::TempDir,
    /// The project: `.kiln/deployments` goes here.
    pub proj: PathBuf,
    pub port: u16,
}

/// A loopback port free right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind(("127.0.0.1", 0)).unwrap().local_addr().unwrap().port()
}

pub fn python() -> Option<&'static str> {
    ["/usr/bin/python3", "/usr/local/bin/python3"].into_iter().find(|p| Path::new(p).exists())
}

impl Fx {
    pub fn new() -> Fx {
        let tmp = tempfile::Builder::new().prefix("kiln-deploy-").tempdir().unwrap();
        let proj = tmp.path().join("proj");
        std::fs::create_dir_all(&proj).unwrap();
        Fx { tmp, proj, port: free_port() }
    }

    pub fn router(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// A revision directory `rev-<name>`: the service under `app/` (ECS: at the root), its
    /// release name, the appspec, and `scripts` (name, body) made executable.
    pub fn revision(&self, name: &str, appspec: &str, ecs: bool, scripts: &[(&str, &str)]) -> PathBuf {
        let dir = self.tmp.path().join(format!("rev-{name}"));
        let app = if ecs { dir.clone() } else { dir.join("app") };
        std::fs::create_dir_all(&app).unwrap();
        std::fs::create_dir_all(dir.join("scripts")).unwrap();
        std::fs::write(app.join("server.py"), SERVER).unwrap();
        std::fs::write(app.join("release.txt"), name).unwrap();
        std::fs::write(dir.join("appspec.yml"), appspec).unwrap();
        for (file, body) in scripts {
            let p = dir.join("scripts").join(file);
            std::fs::write(&p, body).unwrap();
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        dir
    }

    /// A group file: `head` (names, platform, configuration, style, alarms, rollback…) plus a
    /// local driver with the python service, this fixture's router port, `settings` (more keys
    /// of `targets.settings`, as YAML flow entries: `functions: {…}`, `metrics: {…}`) and
    /// `instances`.
    pub fn group(&self, head: &str, ecs: bool, settings: &str, instances: &[&str]) -> PathBuf {
        let py = python().expect("python3");
        let cwd = if ecs { String::new() } else { ", cwd: /srv/web".into() };
        let settings = if settings.is_empty() { String::new() } else { format!("    {settings}\n") };
        let text = format!(
            "{head}targets:\n  driver: local\n  settings:\n    service: {{command: [{py}, server.py]{cwd}, health-path: /health, start-timeout: 20, stop-timeout: 5}}\n    router: {{listen: '127.0.0.1:{}', drain-timeout: 5}}\n{settings}  instances: [{}]\n",
            self.port,
            instances.join(", ")
        );
        let path = self.tmp.path().join("group.yml");
        std::fs::write(&path, text).unwrap();
        path
    }

    /// `kiln` with this fixture's HOME (a shared plugin compile cache under the target dir).
    pub fn kiln(&self) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_kiln"));
        let cache = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("deploy-xdg-cache");
        std::fs::create_dir_all(&cache).unwrap();
        c.env("XDG_CACHE_HOME", cache).env("NO_COLOR", "1").current_dir(self.tmp.path());
        c
    }

    /// `kiln deploy <revision> --dir proj --group <group> --allow-unverified --time-scale <s> --json`, to its end.
    pub fn deploy(&self, revision: &Path, group: &Path, scale: f64, extra: &[&str]) -> Output {
        let mut c = self.kiln();
        c.arg("deploy").arg(revision).arg("--dir").arg(&self.proj).arg("--group").arg(group).args(["--allow-unverified", "--json", "--time-scale", &scale.to_string()]).args(extra);
        run_bounded(c, Duration::from_secs(180))
    }

    /// The same, in the background.
    pub fn deploy_spawn(&self, revision: &Path, group: &Path, scale: f64) -> Child {
        let mut c = self.kiln();
        c.arg("deploy").arg(revision).arg("--dir").arg(&self.proj).arg("--group").arg(group).args(["--allow-unverified", "--json", "--time-scale", &scale.to_string()]);
        c.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap()
    }

    /// Every deployment record on disk, by id.
    pub fn record(&self, id: &str) -> Value {
        serde_json::from_slice(&std::fs::read(self.proj.join(".kiln/deployments").join(id).join("deployment.json")).unwrap()).unwrap()
    }

    /// The ids of the deployment records on disk.
    pub fn deployment_ids(&self) -> Vec<String> {
        let Ok(rd) = std::fs::read_dir(self.proj.join(".kiln/deployments")) else { return Vec::new() };
        let mut ids: Vec<String> = rd.filter_map(|e| e.ok()).map(|e| e.file_name().to_string_lossy().into_owned()).filter(|n| n.starts_with("d-")).collect();
        ids.sort();
        ids
    }
}

/// Run `c` to its end, killed past `limit`.
pub fn run_bounded(mut c: Command, limit: Duration) -> Output {
    let child = c.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    wait_bounded(child, limit)
}

pub fn wait_bounded(mut child: Child, limit: Duration) -> Output {
    let start = Instant::now();
    loop {
        if child.try_wait().unwrap().is_some() {
            return child.wait_with_output().unwrap();
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!("kiln ran past {limit:?}; stderr:\n{}", String::from_utf8_lossy(&out.stderr));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The `--json` output: [deployment, rollback?].
pub fn outcome(out: &Output) -> Vec<Value> {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("no JSON on stdout ({e}); stderr:\n{}", String::from_utf8_lossy(&out.stderr)))
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// One HTTP/1.0 GET through `addr`: (status, body), or None without an answer.
pub fn get(addr: SocketAddr) -> Option<(u16, String)> {
    let mut c = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
    c.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    c.write_all(b"GET / HTTP/1.0\r\nHost: web\r\n\r\n").ok()?;
    let mut buf = Vec::new();
    c.take(65536).read_to_end(&mut buf).ok()?;
    let text = String::from_utf8_lossy(&buf);
    let status = text.get(9..12)?.parse().ok()?;
    Some((status, text.split_once("\r\n\r\n").map(|(_, b)| b.trim_end().to_string()).unwrap_or_default()))
}

/// Every answer, in order.
#[derive(Default, Debug)]
pub struct Answers(pub Vec<Option<(u16, String)>>);

impl Answers {
    /// Answers between the first and the last successful one (before: the router was not up
    /// yet; after: kiln shut it down): every one must be an answer, and none a 5xx.
    pub fn failed_while_serving(&self) -> usize {
        self.failures_while_serving().len()
    }

    /// The failed answers of [`Self::failed_while_serving`], described.
    pub fn failures_while_serving(&self) -> Vec<String> {
        let ok = |a: &Option<(u16, String)>| matches!(a, Some((s, _)) if *s < 500);
        let (Some(first), Some(last)) = (self.0.iter().position(ok), self.0.iter().rposition(ok)) else { return Vec::new() };
        self.0[first..=last].iter().filter(|a| !ok(a)).map(|a| format!("{a:?}")).collect()
    }

    pub fn count(&self, status: u16, body: &str) -> usize {
        self.0.iter().filter(|a| matches!(a, Some((s, b)) if *s == status && b == body)).count()
    }
}

/// One request's answer: status and body, or `None` when it failed.
pub type Answer = Option<(u16, String)>;

/// `workers` clients sending GETs back to back (each a new connection) until `stop`.
pub struct Load {
    stop: Arc<AtomicBool>,
    threads: Vec<std::thread::JoinHandle<Vec<Answer>>>,
}

impl Load {
    pub fn start(addr: SocketAddr, workers: usize) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let threads = (0..workers)
            .map(|_| {
                let stop = stop.clone();
                std::thread::spawn(move || {
                    let mut seen = Vec::new();
                    let deadline = Instant::now() + Duration::from_secs(240);
                    while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
                        let a = get(addr);
                        if a.is_none() {
                            std::thread::sleep(Duration::from_millis(20));
                        }
                        seen.push(a);
                    }
                    seen
                })
            })
            .collect();
        Load { stop, threads }
    }

    /// Stop; each worker's answers (in its own order).
    pub fn finish(self) -> Vec<Answers> {
        self.stop.store(true, Ordering::Relaxed);
        self.threads.into_iter().map(|t| Answers(t.join().unwrap())).collect()
    }
}

/// Start deploying `revision` in the background (real time: a canary waits its 5 minutes) and
/// wait until its record says 10 % of the traffic is on it. Returns kiln and the deployment id.
pub fn canary_at_10(fx: &Fx, revision: &Path, group: &Path) -> (Child, String) {
    let before = fx.deployment_ids();
    let child = fx.deploy_spawn(revision, group, 1.0);
    let mut id = String::new();
    let shifted = wait_for(Duration::from_secs(60), || {
        let Some(new) = fx.deployment_ids().into_iter().find(|i| !before.contains(i)) else { return false };
        id = new;
        std::fs::read(fx.proj.join(".kiln/deployments").join(&id).join("deployment.json")).ok().and_then(|b| serde_json::from_slice::<Value>(&b).ok()).is_some_and(|v| v["kiln"]["traffic"]["current"]["replacement"] == 10)
    });
    assert!(shifted, "the canary never reached 10 %");
    (child, id)
}

/// Wait until `f` holds (polling), at most `limit`.
pub fn wait_for(limit: Duration, mut f: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    false
}

pub type Shared<T> = Arc<Mutex<T>>;
