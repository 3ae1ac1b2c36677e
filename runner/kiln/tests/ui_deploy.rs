//! A real deployment watched in `kiln ui` as a person would: `kiln deploy` of an artifact
//! directory (a python3 web service, an ECS-style appspec with a hook, a deployment group with
//! a canary configuration and an alarm on the replacement set's 5xx answers), first a good
//! release, then a bad one under a bounded load generator sending requests through the
//! deployment's router. The deployment page is opened in Chromium (WebDriver) while the bad
//! canary runs: the traffic weights change on the page without a reload (server-sent events),
//! then the alarm's chart (datapoints, threshold, the ALARM marker) and the rollback appear.
//! No console error on any page; screenshots in `target/ui-screenshots/`. Then a record with
//! `<script>` in an alarm's name and a hook's log tail is shown as text.
//!
//! Needs chromium and chromium-driver (skipped without them unless `KILN_TEST_REQUIRE_TOOLS=1`),
//! python3, and a host where kiln's sandbox runs.

mod common;
mod pipeline_ws;
mod ui_browser;

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use fantoccini::Locator;
use pipeline_ws::wait_exit;
use ui_browser::*;

// The example's service (200 with its release name; 500 when the release ends in "-bad"),
// appspec (ECS-style, a BeforeAllowTraffic hook) and hook.
const SERVER: &str = include_str!("../../../examples/deploy-canary/app/server.py");
const APPSPEC: &str = include_str!("../../../examples/deploy-canary/app/appspec.yml");
const HOOK: &str = include_str!("../../../examples/deploy-canary/app/hooks/before-traffic.sh");

/// The group: a 10 % canary for 5 nominal minutes; 5xx ≥ 2 in 2 of 3 ten-second periods of the
/// replacement set (CloudWatch's high-resolution period; 1 s at 1/10, so the chart has a
/// datapoint a second) is an alarm that rolls back.
fn group(port: u16) -> String {
    format!(
        r#"applicationName: shop
deploymentGroupName: web
computePlatform: ECS
deploymentConfigName: CodeDeployDefault.ECSCanary10Percent5Minutes
alarmConfiguration:
  enabled: true
  alarms:
    - name: canary-5xx
      metric: router.replacement.HTTPCode_Target_5XX_Count
      statistic: Sum
      period: 10
      evaluationPeriods: 3
      datapointsToAlarm: 2
      comparisonOperator: GreaterThanOrEqualToThreshold
      threshold: 2
      treatMissingData: notBreaching
autoRollbackConfiguration:
  enabled: true
  events: [DEPLOYMENT_FAILURE, DEPLOYMENT_STOP_ON_ALARM]
targets:
  driver: local
  settings:
    service:
      command: [python3, server.py]
      health-path: /health
      start-timeout: 20
    router:
      listen: 127.0.0.1:{port}
      drain-timeout: 2
    functions:
      beforeTraffic: {{command: [sh, hooks/before-traffic.sh], timeout: 60}}
  instances: [task-1, task-2]
"#
    )
}

/// An artifact directory of release `name`.
fn artifact(root: &Path, name: &str) -> PathBuf {
    let d = root.join(format!("artifact-{name}"));
    std::fs::create_dir_all(d.join("hooks")).unwrap();
    std::fs::write(d.join("server.py"), SERVER).unwrap();
    std::fs::write(d.join("appspec.yml"), APPSPEC).unwrap();
    std::fs::write(d.join("release.txt"), format!("{name}\n")).unwrap();
    std::fs::write(d.join("hooks/before-traffic.sh"), HOOK).unwrap();
    d
}

fn kiln_deploy(p: &common::Project, source: &Path, scale: &str) -> Command {
    let mut c = Command::new(assert_cmd::cargo::cargo_bin("kiln"));
    c.arg("deploy").arg(source).arg("--dir").arg(&p.src).arg("--group").arg(p.root().join("group.yml")).args(["--allow-unverified", "--time-scale", scale]);
    c.env("HOME", p.root().join("home")).env("TMPDIR", p.scratch()).env("NO_COLOR", "1").current_dir(p.root());
    c
}

fn deployment_ids(p: &common::Project) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(p.src.join(".kiln/deployments")).into_iter().flatten().flatten().map(|e| e.file_name().to_string_lossy().into_owned()).filter(|n| n.starts_with("d-")).collect();
    v.sort();
    v
}

/// A bounded load generator: one client, a request every 20 ms (at most 50 a second: the
/// canary's tenth is about 5 errors a period, over the threshold of 2 even at half that rate)
/// for at most 120 s, counting 200s, 500s and failures.
struct Load {
    stop: Arc<AtomicBool>,
    counts: Arc<[AtomicU64; 3]>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Load {
    fn start(port: u16) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let counts: Arc<[AtomicU64; 3]> = Arc::new(Default::default());
        let (s, c) = (stop.clone(), counts.clone());
        let thread = std::thread::spawn(move || {
            let end = Instant::now() + Duration::from_secs(120);
            while !s.load(Ordering::Relaxed) && Instant::now() < end {
                let slot = match get(port) {
                    Some(200) => 0,
                    Some(500) => 1,
                    _ => 2,
                };
                c[slot].fetch_add(1, Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(20));
            }
        });
        Load { stop, counts, thread: Some(thread) }
    }

    fn finish(mut self) -> [u64; 3] {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            t.join().unwrap();
        }
        [0, 1, 2].map(|i| self.counts[i].load(Ordering::Relaxed))
    }
}

impl Drop for Load {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// `GET /` through the router: the status code.
fn get(port: u16) -> Option<u16> {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    s.write_all(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n").ok()?;
    let mut head = [0u8; 12];
    s.read_exact(&mut head).ok()?;
    std::str::from_utf8(&head[9..12]).ok()?.parse().ok()
}

async fn text_of(b: &Browser, css: &str) -> String {
    match b.client.find(Locator::Css(css)).await {
        Ok(e) => e.text().await.unwrap_or_default(),
        Err(_) => String::new(),
    }
}

/// Wait until the text of `css` satisfies `f` (polling the page as it is, never reloading it).
async fn wait_for(b: &Browser, css: &str, what: &str, secs: u64, f: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let t = text_of(b, css).await;
        if f(&t) {
            return t;
        }
        if Instant::now() > deadline {
            let page = text_of(b, "body").await;
            panic!("{what}: not seen in {secs} s; the page shows:\n{page}");
        }
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_canary_is_watched_live_in_kiln_ui_until_the_alarm_rolls_it_back() {
    let Some(browser) = browser().await else { return };
    let p = common::Project::empty();
    let port = free_port();
    std::fs::write(p.root().join("group.yml"), group(port)).unwrap();
    let (good, bad) = (artifact(p.root(), "v1"), artifact(p.root(), "v2-bad"));

    // The good release first (its 5-minute canary lasts 3 s at 1/100).
    let out = tokio::task::block_in_place(|| kiln_deploy(&p, &good, "0.01").output().unwrap());
    assert!(out.status.success(), "the first deployment failed:\n{}", String::from_utf8_lossy(&out.stderr));
    let first = deployment_ids(&p);
    assert_eq!(first.len(), 1, "{first:?}");

    let ui = kiln_ui_at(&p.src, &p.root().join("home"), &[]);
    let base = ui.url.split("/?").next().unwrap().to_string();
    browser.visit(&ui.url, "deploy-history").await;

    // The bad one, under load, at 1/10: the canary's 5 minutes last 30 s, an alarm period 1 s.
    let load = Load::start(port);
    let log = p.root().join("deploy.log");
    let mut deploy = kiln_deploy(&p, &bad, "0.1").stdout(Stdio::null()).stderr(std::fs::File::create(&log).unwrap()).spawn().unwrap();
    let id = {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(id) = deployment_ids(&p).into_iter().find(|i| !first.contains(i) && p.src.join(".kiln/deployments").join(i).join("deployment.json").is_file()) {
                break id;
            }
            assert!(Instant::now() < deadline, "the second deployment's record did not appear");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    browser.client.goto(&format!("{base}/deployments/{id}")).await.unwrap();
    let live: bool = browser.client.execute("window.kilnMarker = 'not reloaded'; return document.querySelector('#deployment').hasAttribute('data-live');", vec![]).await.unwrap().as_bool().unwrap();
    assert!(live, "a deployment in progress is a live page");
    // The canary's 10 % appears without a reload.
    wait_for(&browser, "#traffic", "the canary's weights", 60, |t| t.contains("90%") && t.contains("10%")).await;
    browser.settle("deploy-live-canary").await;
    // Then the alarm, the traffic back to the original set, the rollback.
    wait_for(&browser, "#deployment h1", "the deployment's end", 90, |t| t.contains("Stopped") || t.contains("Failed") || t.contains("Succeeded")).await;
    let code = tokio::task::block_in_place(|| wait_exit(&mut deploy, 120));
    let counts = load.finish();
    let err = std::fs::read_to_string(&log).unwrap_or_default();
    assert_eq!(code, 1, "the bad canary must fail (exit 1):\n{err}");
    assert!(counts[1] > 0 && counts[0] > 0, "the load generator saw 200s and the canary's 500s: {counts:?}");
    let marker = browser.client.execute("return window.kilnMarker || null;", vec![]).await.unwrap();
    assert_eq!(marker, serde_json::json!("not reloaded"), "the page updated in place");
    let page = wait_for(&browser, "#deployment", "the rollback", 30, |t| t.contains("Rolled back by")).await;
    assert!(page.contains("ALARM") && page.contains("canary-5xx") && page.contains("Stopped"), "{page}");
    assert!(page.contains("threshold 2") && page.contains("router.replacement.HTTPCode_Target_5XX_Count"), "{page}");
    let still_live: bool = browser.client.execute("return document.querySelector('#deployment').hasAttribute('data-live');", vec![]).await.unwrap().as_bool().unwrap();
    assert!(!still_live, "the stream ended with the deployment");
    // The chart: datapoints (an ALARM one among them), the threshold line, the ALARM marker.
    let chart = "div.alarm[data-alarm='canary-5xx'] svg";
    assert!(!browser.client.find_all(Locator::Css(&format!("{chart} circle.f-bad"))).await.unwrap().is_empty(), "a datapoint in ALARM");
    assert_eq!(browser.client.find_all(Locator::Css(&format!("{chart} line.s-threshold"))).await.unwrap().len(), 1);
    assert!(!browser.client.find_all(Locator::Css(&format!("{chart} line.s-mark.s-bad"))).await.unwrap().is_empty(), "the ALARM marker");
    // The traffic chart went to 10 % and back.
    let weights: Vec<u8> = {
        let record: serde_json::Value = serde_json::from_slice(&std::fs::read(p.src.join(".kiln/deployments").join(&id).join("deployment.json")).unwrap()).unwrap();
        record["kiln"]["traffic"]["history"].as_array().unwrap().iter().map(|c| c["weights"]["replacement"].as_u64().unwrap() as u8).collect()
    };
    assert!(weights.contains(&10) && weights.last() == Some(&0), "{weights:?}");
    // The reader keeps everything the writer wrote about alarms, datapoints included.
    let bytes = std::fs::read(p.src.join(".kiln/deployments").join(&id).join("deployment.json")).unwrap();
    let (read, ignored) = kiln_record::parse_checked::<kiln_record::DeploymentInfo>(&bytes).unwrap();
    assert!(!ignored.iter().any(|f| f.contains("alarms") || f.contains("traffic") || f.contains("deploymentTargets")), "fields kiln-record drops: {ignored:?}");
    let points = &read.kiln.alarms[0].datapoints;
    assert!(points.last().is_some_and(|d| d.state == "ALARM" && d.value.is_some_and(|v| v >= 2.0)), "{points:?}");
    browser.settle("deploy-rolled-back").await;
    browser.client.execute("document.querySelector('#alarms').scrollIntoView();", vec![]).await.unwrap();
    let alarms = browser.client.find(Locator::Css("#alarms")).await.unwrap();
    std::fs::write(screenshots().join("deploy-alarms-card.png"), alarms.screenshot().await.unwrap()).unwrap();
    // Reloaded as a finished page, the same, and the rollback deployment and the list.
    let text = browser.visit(&format!("{base}/deployments/{id}"), "deploy-alarm-chart").await;
    assert!(text.contains("Rolled back by"), "{text}");
    let rollback = deployment_ids(&p).into_iter().find(|i| !first.contains(i) && *i != id).expect("the rollback deployment");
    let text = browser.visit(&format!("{base}/deployments/{rollback}"), "deploy-rollback").await;
    assert!(text.contains("Rolls back") && text.contains("Succeeded"), "{text}");
    let text = browser.visit(&format!("{base}/deployments"), "deploy-list").await;
    assert!(text.contains("3 deployments") && text.contains("ROLLBACK"), "{text}");

    // A hostile record: `<script>` in an alarm's name and a hook's log tail stays text.
    hostile_copy(&p.src.join(".kiln/deployments"), &id, "d-HOSTILE01");
    let text = browser.visit(&format!("{base}/deployments/d-HOSTILE01"), "deploy-hostile").await;
    assert!(text.contains(HOSTILE), "shown as text: {text}");
    assert_ne!(browser.client.title().await.unwrap(), "pwned");
    assert!(browser.client.find_all(Locator::Css("#deployment img, #deployment script")).await.unwrap().is_empty(), "no element made from the record");
    let _ = browser.client.clone().close().await;
}

const HOSTILE: &str = "<script>document.title='pwned'</script><img src=x onerror=alert(1)>";

/// Copy deployment `from` as `to`, with [`HOSTILE`] in its first alarm's name, every target's
/// first lifecycle event's log tail, and a datapoint's state.
fn hostile_copy(deployments: &Path, from: &str, to: &str) {
    let mut r: serde_json::Value = serde_json::from_slice(&std::fs::read(deployments.join(from).join("deployment.json")).unwrap()).unwrap();
    r["deploymentId"] = to.into();
    r["kiln"]["alarms"][0]["alarmName"] = HOSTILE.into();
    r["kiln"]["alarms"][0]["datapoints"][0]["state"] = HOSTILE.into();
    for t in r["deploymentTargets"].as_array_mut().unwrap() {
        for kind in ["instanceTarget", "ecsTarget", "lambdaTarget"] {
            if let Some(e) = t.get_mut(kind).and_then(|x| x["lifecycleEvents"].get_mut(0)) {
                e["status"] = "Failed".into();
                e["diagnostics"] = serde_json::json!({"errorCode": "ScriptFailed", "scriptName": "hooks/x.sh", "message": HOSTILE, "logTail": format!("[stdout]{HOSTILE}\n")});
            }
        }
    }
    std::fs::create_dir_all(deployments.join(to)).unwrap();
    std::fs::write(deployments.join(to).join("deployment.json"), serde_json::to_vec_pretty(&r).unwrap()).unwrap();
}
