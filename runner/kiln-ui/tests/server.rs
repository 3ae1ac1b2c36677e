//! The `kiln ui` application driven request by request (no socket): the token and the session
//! cookie, the security headers, paths from URLs, the pages, approvals (CSRF, read-only mode,
//! the approver called once), and the live log stream of a running build.

mod common;

use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::http::{header, Request, Response, StatusCode};
use common::*;
use http_body_util::BodyExt;
use kiln_record::pipeline::*;
use kiln_record::{PipelineExecutionSummary, PipelineRun};
use kiln_ui::server::{app, Config};
use kiln_ui::sources::{Approver, BoxFuture, FileDeployments, Pipelines};
use tower::ServiceExt;

const TOKEN: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
const APPROVAL: &str = "3f2504e0-4f89-41d3-9a0c-0305e82c3301";

struct FakePipelines;

fn run() -> PipelineRun {
    let action = |name: &str, category: &str, provider: &str, status: &str, token: Option<&str>| ActionState {
        action_name: name.into(),
        latest_execution: Some(ActionExecution { status: status.into(), token: token.map(str::to_string), summary: Some(format!("{name} <b>summary</b>")), ..Default::default() }),
        action_type_id: Some(ActionTypeId { category: category.into(), owner: "AWS".into(), provider: provider.into(), version: "1".into() }),
        run_order: Some(1),
    };
    PipelineRun {
        pipeline_execution: PipelineExecution { pipeline_name: "shop".into(), pipeline_version: 3, pipeline_execution_id: "e1".into(), status: "InProgress".into(), ..Default::default() },
        stage_states: vec![
            StageState { stage_name: "Build".into(), latest_execution: Some(StageExecution { pipeline_execution_id: "e1".into(), status: "Succeeded".into(), kind: None }), action_states: vec![action("compile", "Build", "CodeBuild", "Succeeded", None)] },
            StageState { stage_name: "Gate".into(), latest_execution: Some(StageExecution { pipeline_execution_id: "e1".into(), status: "InProgress".into(), kind: None }), action_states: vec![action("release-ok", "Approval", "Manual", "InProgress", Some(APPROVAL))] },
        ],
    }
}

impl Pipelines for FakePipelines {
    fn runs(&self) -> BoxFuture<'_, Vec<PipelineExecutionSummary>> {
        Box::pin(async { vec![PipelineExecutionSummary { pipeline_name: "shop".into(), pipeline_execution_id: "e1".into(), status: "InProgress".into(), ..Default::default() }] })
    }
    fn run<'a>(&'a self, p: &'a str, e: &'a str) -> BoxFuture<'a, Option<PipelineRun>> {
        Box::pin(async move { (p == "shop" && e == "e1").then(run) })
    }
}

#[derive(Default, Clone)]
struct Recorder(Arc<Mutex<Vec<ApprovalRequest>>>);

impl Approver for Recorder {
    fn answer<'a>(&'a self, r: &'a ApprovalRequest) -> BoxFuture<'a, Result<String, String>> {
        Box::pin(async move {
            self.0.lock().unwrap().push(r.clone());
            Ok("approved at 2024-05-01T12:00:00Z".to_string())
        })
    }
}

struct Ui {
    app: axum::Router,
    cookie: String,
    calls: Recorder,
    _f: Fixture,
}

fn ui_with(f: Fixture, allow: bool) -> Ui {
    let calls = Recorder::default();
    let config = Config {
        records: f.records.clone(),
        listen: "127.0.0.1:0".parse().unwrap(),
        token: TOKEN.into(),
        allow_approvals: allow,
        deployments: Arc::new(FileDeployments { records: f.records.clone() }),
        pipelines: Arc::new(FakePipelines),
        approver: Arc::new(calls.clone()),
    };
    Ui { app: app(config), cookie: String::new(), calls, _f: f }
}

fn get(path: &str) -> Request<Body> {
    Request::get(path).header(header::HOST, "127.0.0.1:8765").body(Body::empty()).unwrap()
}

impl Ui {
    async fn send(&self, req: Request<Body>) -> Response<Body> {
        self.app.clone().oneshot(req).await.unwrap()
    }

    async fn login(mut self) -> Ui {
        let r = self.send(get(&format!("/builds/{UUID}?token={TOKEN}"))).await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        assert_eq!(r.headers()[header::LOCATION], format!("/builds/{UUID}"), "the token leaves the URL");
        let c = r.headers()[header::SET_COOKIE].to_str().unwrap().to_string();
        assert!(c.contains("HttpOnly") && c.contains("SameSite=Strict"), "{c}");
        self.cookie = c.split(';').next().unwrap().to_string();
        self
    }

    async fn page(&self, path: &str) -> (StatusCode, String) {
        let mut req = get(path);
        req.headers_mut().insert(header::COOKIE, self.cookie.parse().unwrap());
        let r = self.send(req).await;
        let status = r.status();
        (status, String::from_utf8_lossy(&r.into_body().collect().await.unwrap().to_bytes()).into_owned())
    }

    async fn post(&self, path: &str, form: &str, origin: Option<&str>) -> Response<Body> {
        let mut b = Request::post(path).header(header::HOST, "127.0.0.1:8765").header(header::COOKIE, &self.cookie).header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
        if let Some(o) = origin {
            b = b.header(header::ORIGIN, o);
        }
        self.send(b.body(Body::from(form.to_string())).unwrap()).await
    }
}

#[tokio::test]
async fn every_request_needs_the_token_or_its_session_and_carries_the_security_headers() {
    let ui = ui_with(fixture(), false);
    for path in ["/", &format!("/builds/{UUID}"), "/static/kiln.css", &format!("/builds/{UUID}/raw/logs/BUILD.log"), "/nothing"] {
        let r = ui.send(get(path)).await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{path}");
    }
    let r = ui.send(get(&format!("/?token={}", "f".repeat(64)))).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "a wrong token");
    let mut req = get("/");
    req.headers_mut().insert(header::COOKIE, "kiln_ui_session=forged".parse().unwrap());
    assert_eq!(ui.send(req).await.status(), StatusCode::UNAUTHORIZED, "a forged session");
    // DNS rebinding: another host name is refused on a loopback listener.
    let req = Request::get(format!("/?token={TOKEN}")).header(header::HOST, "evil.example:8765").body(Body::empty()).unwrap();
    assert_eq!(ui.send(req).await.status(), StatusCode::FORBIDDEN);

    let ui = ui.login().await;
    let mut req = get("/");
    req.headers_mut().insert(header::COOKIE, ui.cookie.parse().unwrap());
    let r = ui.send(req).await;
    assert_eq!(r.status(), StatusCode::OK);
    let h = r.headers();
    let csp = h["content-security-policy"].to_str().unwrap();
    for part in ["default-src 'none'", "script-src 'self'", "style-src 'self'", "frame-ancestors 'none'", "form-action 'self'"] {
        assert!(csp.contains(part), "{csp}");
    }
    assert!(!csp.contains("unsafe-inline") && !csp.contains("http"), "{csp}");
    assert_eq!(h["x-content-type-options"], "nosniff");
    assert_eq!(h["referrer-policy"], "same-origin", "the Origin of its own forms is sent, nothing to other sites");
    assert_eq!(h["x-frame-options"], "DENY");
}

#[tokio::test]
async fn pages_show_the_records_and_escape_them() {
    let ui = ui_with(fixture(), false).login().await;
    let (s, history) = ui.page("/").await;
    assert_eq!(s, StatusCode::OK);
    assert!(history.contains("web #7") && history.contains("FAILED") && history.contains("2 failed") && history.contains("BUILD: Error while executing command"), "{history}");
    assert!(!history.contains("<script>alert"), "escaped in the history too");
    let (_, filtered) = ui.page("/?status=SUCCEEDED").await;
    assert!(!filtered.contains("web #7") && filtered.contains("No build matches"));
    let (_, searched) = ui.page("/?q=npm+test").await;
    assert!(searched.contains("web #7"));
    let (s, build) = ui.page(&format!("/builds/{UUID}")).await;
    assert_eq!(s, StatusCode::OK);
    assert!(build.contains("divides by zero") && build.contains("<script src=\"/static/kiln.js\" defer></script>"));
    assert_eq!(build.matches("<script").count(), 1, "only kiln's own script");
    assert!(!build.contains(" style=\""), "no inline styles (the CSP forbids them)");
    assert!(build.contains(&format!("href=\"/builds/{UUID}/raw/logs/BUILD.log\"")));
    let (s, dash) = ui.page("/dashboard").await;
    assert_eq!(s, StatusCode::OK);
    assert!(dash.contains("Top failure causes") && dash.contains("COMMAND_EXECUTION_ERROR") && dash.contains("<svg class=\"chart\""), "{dash}");
    let (s, raw) = ui.page(&format!("/builds/{UUID}/raw/logs/BUILD.log")).await;
    assert_eq!(s, StatusCode::OK);
    assert!(raw.contains("<script>alert(\"log\")</script>"), "raw is the file itself (served as text/plain)");
    let (_, pipelines) = ui.page("/pipelines").await;
    assert!(pipelines.contains("shop") && pipelines.contains("/pipelines/shop/e1"));
}

#[tokio::test]
async fn raw_files_come_from_the_record_only() {
    let ui = ui_with(fixture(), false).login().await;
    let secret = ui._f.tmp.path().join("secret.txt");
    std::fs::write(&secret, "host secret").unwrap();
    std::os::unix::fs::symlink(&secret, ui._f.record_dir().join("logs/LINK.log")).unwrap();
    for path in [
        format!("/builds/{UUID}/raw/logs/../../../../secret.txt"),
        format!("/builds/{UUID}/raw/logs/%2e%2e/%2e%2e/%2e%2e/secret.txt"),
        format!("/builds/{UUID}/raw/logs/LINK.log"),
        format!("/builds/{UUID}/raw/artifacts/dist/index.html"),
        "/builds/..%2F..%2Fsecret/raw/logs/BUILD.log".to_string(),
        "/builds/%2e%2e/raw/build.json".to_string(),
    ] {
        let (s, body) = ui.page(&path).await;
        assert!(s == StatusCode::NOT_FOUND || s == StatusCode::FORBIDDEN, "{path}: {s}");
        assert!(!body.contains("host secret"), "{path}");
    }
    let mut req = get(&format!("/builds/{UUID}/raw/build.json"));
    req.headers_mut().insert(header::COOKIE, ui.cookie.parse().unwrap());
    let r = ui.send(req).await;
    assert_eq!(r.headers()[header::CONTENT_TYPE], "text/plain; charset=utf-8");
    assert!(r.headers()["content-security-policy"].to_str().unwrap().starts_with("sandbox"));
}

fn form(csrf: &str, decision: &str) -> String {
    format!("csrf={csrf}&stage=Gate&action=release-ok&token={APPROVAL}&decision={decision}&summary=looks+good+%3Cb%3E")
}

async fn csrf_of(ui: &Ui) -> String {
    let (_, page) = ui.page("/pipelines/shop/e1").await;
    let at = page.find("name=\"csrf\" value=\"").expect("the approval form") + "name=\"csrf\" value=\"".len();
    page[at..at + 64].to_string()
}

#[tokio::test]
async fn approvals_need_the_session_csrf_token_and_allow_approvals() {
    // Read-only: the buttons are disabled and a POST is refused.
    let ui = ui_with(fixture(), false).login().await;
    let (_, page) = ui.page("/pipelines/shop/e1").await;
    assert!(page.contains("Approve") && page.contains("disabled") && page.contains("--allow-approvals"), "{page}");
    assert!(page.contains("release-ok &lt;b&gt;summary&lt;/b&gt;"), "summaries escaped");
    let csrf = csrf_of(&ui).await;
    let r = ui.post("/pipelines/shop/e1/approval", &form(&csrf, "Approved"), None).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(ui.calls.0.lock().unwrap().is_empty());

    let ui = ui_with(fixture(), true).login().await;
    let csrf = csrf_of(&ui).await;
    // No or another session's CSRF token; another site's form; a GET; no session at all.
    for bad in ["", "0".repeat(64).as_str()] {
        assert_eq!(ui.post("/pipelines/shop/e1/approval", &form(bad, "Approved"), None).await.status(), StatusCode::FORBIDDEN);
    }
    assert_eq!(ui.post("/pipelines/shop/e1/approval", &form(&csrf, "Approved"), Some("http://evil.example")).await.status(), StatusCode::FORBIDDEN);
    assert_eq!(ui.page("/pipelines/shop/e1/approval").await.0, StatusCode::METHOD_NOT_ALLOWED);
    let anonymous = Request::post("/pipelines/shop/e1/approval").header(header::HOST, "127.0.0.1:8765").header(header::CONTENT_TYPE, "application/x-www-form-urlencoded").body(Body::from(form(&csrf, "Approved"))).unwrap();
    assert_eq!(ui.send(anonymous).await.status(), StatusCode::UNAUTHORIZED);
    assert!(ui.calls.0.lock().unwrap().is_empty(), "no refused request reached the approver");
    // A stale token is refused before the approver.
    let stale = form(&csrf, "Approved").replace(APPROVAL, "00000000-0000-0000-0000-000000000000");
    let r = ui.post("/pipelines/shop/e1/approval", &stale, None).await;
    assert!(r.headers()[header::LOCATION].to_str().unwrap().contains("refused="));
    // The real thing.
    let r = ui.post("/pipelines/shop/e1/approval", &form(&csrf, "Rejected"), Some("http://127.0.0.1:8765")).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert!(r.headers()[header::LOCATION].to_str().unwrap().starts_with("/pipelines/shop/e1?done="));
    let calls = ui.calls.0.lock().unwrap();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0], ApprovalRequest { pipeline_name: "shop".into(), pipeline_execution_id: "e1".into(), stage_name: "Gate".into(), action_name: "release-ok".into(), token: APPROVAL.into(), result: ApprovalResult { summary: "looks good <b>".into(), status: ApprovalStatus::Rejected } });
}

#[tokio::test]
async fn a_running_build_streams_its_log_lines_then_ends() {
    let f = fixture();
    let dir = f.record_dir();
    let bj = dir.join("build.json");
    let running = std::fs::read_to_string(&bj).unwrap().replace("\"buildComplete\": true", "\"buildComplete\": false").replace("\"currentPhase\": \"COMPLETED\"", "\"currentPhase\": \"BUILD\"");
    std::fs::write(&bj, &running).unwrap();
    let ui = ui_with(f, false).login().await;
    let (_, page) = ui.page(&format!("/builds/{UUID}")).await;
    let log_len = std::fs::metadata(dir.join("logs/build.log")).unwrap().len();
    assert!(page.contains(&format!("data-events=\"/builds/{UUID}/events?from={log_len}\"")), "the page asks for the stream from where the log ends");
    let mut req = get(&format!("/builds/{UUID}/events?from={log_len}"));
    req.headers_mut().insert(header::COOKIE, ui.cookie.parse().unwrap());
    let r = ui.send(req).await;
    assert_eq!(r.headers()[header::CONTENT_TYPE], "text/event-stream");
    let mut body = r.into_body();
    use std::io::Write;
    let mut log = std::fs::OpenOptions::new().append(true).open(dir.join("logs/build.log")).unwrap();
    writeln!(log, "[BUILD] step two <script>x</script>").unwrap();
    writeln!(log, "[POST_BUILD] [kiln] cleaning up").unwrap();
    std::fs::write(&bj, running.replace("\"buildComplete\": false", "\"buildComplete\": true")).unwrap();
    let mut got = String::new();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
    while !got.contains("event: end") {
        let frame = tokio::time::timeout_at(deadline, body.frame()).await.expect("the stream ends once the build is complete").unwrap().unwrap();
        if let Ok(d) = frame.into_data() {
            got.push_str(&String::from_utf8_lossy(&d));
        }
    }
    assert!(got.contains(r#"data: {"kiln":false,"phase":"BUILD","text":"step two <script>x</script>"}"#), "{got}");
    assert!(got.contains(r#""kiln":true,"phase":"POST_BUILD""#), "{got}");
    assert!(!got.contains("not ok 1"), "lines before the offset are not sent again: {got}");
}

#[tokio::test]
async fn batch_and_deployment_pages() {
    let ui = ui_with(fixture(), false).login().await;
    let (s, batches) = ui.page("/batches").await;
    assert_eq!(s, StatusCode::OK);
    assert!(batches.contains("web batch #2") && batches.contains("build-graph"), "{batches}");
    let (s, batch) = ui.page("/batches/7a1b2c3d-0000-4000-8000-00000000b001").await;
    assert_eq!(s, StatusCode::OK);
    assert!(batch.contains(&format!("href=\"/builds/{UUID}\"")) && batch.contains("a build it depends on failed: unit") && batch.contains("unit failed and fast-fail is on"), "{batch}");
    // kiln-deploy keeps directories of its own beside the deployments: they are not listed.
    std::fs::create_dir_all(ui._f.records.root().join("deployments/groups")).unwrap();
    let (_, list) = ui.page("/deployments").await;
    assert!(list.contains(">1 deployment<") && !list.contains("no such record"), "{list}");
    assert!(list.contains("d-EXAMPLE01") && list.contains("web@1.4.2") && list.contains("Stopped"), "{list}");
    let (s, d) = ui.page("/deployments/d-EXAMPLE01").await;
    assert_eq!(s, StatusCode::OK);
    for needle in ["ALARM_ACTIVE", "&lt;script&gt;alert('alarm')", "Rolled back by", "5xx-rate", "ScriptFailed", "GET / 500", "original 100%", "DRAINING"] {
        assert!(d.contains(needle), "{needle}: {d}");
    }
    assert!(!d.contains("<script>alert"));
    // The alarm's metric as a chart: datapoints (a missing one as a tick), threshold, the state
    // changes as markers; the traffic history on a time axis.
    assert_eq!(d.matches("aria-label=\"chart over time\"").count(), 3, "traffic and two alarms: {d}");
    for needle in ["threshold 5", "Sum of <code>http.5xx</code> per 60-second period", "9 datapoints", "13:00:31 missing · OK", "13:02:01 21 · ALARM", "t-mark t-bad", ">ALARM</text>", "5xx-rate ALARM</text>", "threshold 800"] {
        assert!(d.contains(needle), "{needle}: {d}");
    }
    assert!(!d.contains("data-live"), "a final deployment does not update itself");
    assert!(!d.contains("http-equiv=\"refresh\""), "nor reloads");
}

/// Hostile text anywhere in a deployment record (a hook's log tail, an alarm's name, its metric,
/// a datapoint's state) is shown as text, in the page and in its live updates.
#[tokio::test]
async fn a_hostile_deployment_record_renders_as_text() {
    let ui = ui_with(fixture(), false).login().await;
    let (_, d) = ui.page("/deployments/d-EXAMPLE01").await;
    for needle in ["&lt;script&gt;alert('hook')&lt;/script&gt;", "data-alarm=\"p99-latency &lt;script&gt;alert('alarm')&lt;/script&gt;\"", "http.latency_ms &lt;b&gt;bold&lt;/b&gt;", "240 · &lt;img src=x onerror=alert(2)&gt;"] {
        assert!(d.contains(needle), "{needle}: {d}");
    }
    for bad in ["<script>", "<img", "<b>bold"] {
        assert!(!d.contains(bad), "{bad} made an element: {d}");
    }
}

/// A deployment in progress: the page names its event stream, which sends the deployment's part
/// again when the record changes, then `end` once it is final.
#[tokio::test]
async fn a_deployment_in_progress_streams_its_page_then_ends() {
    let f = fixture();
    let json = f.records.root().join("deployments/d-EXAMPLE01/deployment.json");
    let original = std::fs::read_to_string(&json).unwrap();
    let running = original.replacen("\"status\": \"Stopped\"", "\"status\": \"InProgress\"", 1);
    assert_ne!(running, original);
    std::fs::write(&json, &running).unwrap();
    // A kiln runs it: it holds the deployment's lock (without one the record reads as interrupted).
    let lock = std::fs::File::create(json.with_file_name("lock")).unwrap();
    // SAFETY: flock on a descriptor the test owns.
    assert_eq!(unsafe { libc::flock(std::os::unix::io::AsRawFd::as_raw_fd(&lock), libc::LOCK_EX | libc::LOCK_NB) }, 0);
    let ui = ui_with(f, false).login().await;
    let (_, page) = ui.page("/deployments/d-EXAMPLE01").await;
    assert!(page.contains("data-live=\"/deployments/d-EXAMPLE01/events\"") && page.contains("this page updates"), "{page}");
    let mut req = get("/deployments/d-EXAMPLE01/events");
    req.headers_mut().insert(header::COOKIE, ui.cookie.parse().unwrap());
    let r = ui.send(req).await;
    assert_eq!(r.headers()[header::CONTENT_TYPE], "text/event-stream");
    let mut body = r.into_body();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
    let mut got = String::new();
    while !got.contains("event: page") {
        let frame = tokio::time::timeout_at(deadline, body.frame()).await.expect("a first page").unwrap().unwrap();
        got.push_str(&String::from_utf8_lossy(&frame.into_data().unwrap_or_default()));
    }
    assert!(got.contains("InProgress") && !got.contains("<script>"), "{got}");
    // The canary shifts to 50 %, and the deployment ends.
    let changed = running.replacen("\"status\": \"InProgress\"", "\"status\": \"Succeeded\"", 1).replace("\"original\": 100,\n        \"replacement\": 0", "\"original\": 50,\n        \"replacement\": 50");
    assert!(changed.contains("\"replacement\": 50"), "the fixture's layout changed");
    std::fs::write(&json, changed).unwrap();
    while !got.contains("event: end") {
        let frame = tokio::time::timeout_at(deadline, body.frame()).await.expect("the stream ends once the deployment is final").unwrap().unwrap();
        got.push_str(&String::from_utf8_lossy(&frame.into_data().unwrap_or_default()));
    }
    let last = got.rsplit("event: page").next().unwrap();
    assert!(last.contains("Succeeded") && last.contains("original 50%"), "{last}");
    let (_, dash) = ui.page("/dashboard").await;
    assert!(dash.contains("Deployments (last 1)"), "deployment statistics: {dash}");
    assert_eq!(ui.page("/deployments/..").await.0, StatusCode::NOT_FOUND);
}

/// kiln writes a failed deployment's final status, then the rollback it starts: a stream that saw
/// the final status keeps following until the rollback is named (it ended at the final status,
/// and a page watched live never showed "Rolled back by").
#[tokio::test]
async fn a_stopped_deployment_is_followed_until_its_rollback_is_named() {
    let f = fixture();
    let json = f.records.root().join("deployments/d-EXAMPLE01/deployment.json");
    let original = std::fs::read_to_string(&json).unwrap();
    let mut v: serde_json::Value = serde_json::from_str(&original).unwrap();
    let rollback = v["rollbackInfo"].take();
    v.as_object_mut().unwrap().remove("rollbackInfo");
    v["status"] = "InProgress".into();
    std::fs::write(&json, serde_json::to_string_pretty(&v).unwrap()).unwrap();
    let lock = std::fs::File::create(json.with_file_name("lock")).unwrap();
    // SAFETY: flock on a descriptor the test owns.
    assert_eq!(unsafe { libc::flock(std::os::unix::io::AsRawFd::as_raw_fd(&lock), libc::LOCK_EX | libc::LOCK_NB) }, 0);
    let ui = ui_with(f, false).login().await;
    let mut req = get("/deployments/d-EXAMPLE01/events");
    req.headers_mut().insert(header::COOKIE, ui.cookie.parse().unwrap());
    let mut body = ui.send(req).await.into_body();
    // A reader of its own, as a browser reads the stream while the record changes.
    let (first_tx, first_rx) = tokio::sync::oneshot::channel();
    let reader = tokio::spawn(async move {
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
        let mut got = String::new();
        let mut first = Some(first_tx);
        while !got.contains("event: end") {
            let frame = tokio::time::timeout_at(deadline, body.frame()).await.expect("the stream ends once the rollback is named").unwrap().unwrap();
            got.push_str(&String::from_utf8_lossy(&frame.into_data().unwrap_or_default()));
            if got.contains("event: page") {
                first.take().map(|t| t.send(()));
            }
        }
        got
    });
    first_rx.await.unwrap();
    // Stopped, no rollback named yet; then, a moment later (several polls), the rollback.
    v["status"] = "Stopped".into();
    std::fs::write(&json, serde_json::to_string_pretty(&v).unwrap()).unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(1200)).await;
    v["rollbackInfo"] = rollback;
    std::fs::write(&json, serde_json::to_string_pretty(&v).unwrap()).unwrap();
    let got = reader.await.unwrap();
    let pages: Vec<&str> = got.split("event: page").skip(1).collect();
    assert!(pages.iter().any(|p| p.contains("Stopped") && !p.contains("Rolled back by")), "the stream saw the deployment stopped before its rollback was named: {got}");
    let last = pages.last().unwrap();
    assert!(last.contains("Rolled back by") && last.contains("d-EXAMPLE02"), "{last}");
    drop(lock);
}
