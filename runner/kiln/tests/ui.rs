//! `kiln ui` and `kiln report --html` as a person uses them: a real `kiln build` (failing tests,
//! coverage, the `sast` and `sbom-cyclonedx` plugins, artifacts, a hostile log line, `kiln: report:
//! html`), then the real `kiln ui` binary, driven through Debian's Chromium headless over
//! WebDriver (chromedriver + fantoccini): every page loads without a console error, the failing
//! test is listed, the hostile line stays text, and a screenshot of each page is kept in
//! `target/ui-screenshots/`. The approval buttons are driven against kiln-ui's server in this
//! process, with a fake pipeline run whose approver records the call.
//!
//! Needs `chromium` and `chromium-driver` (scripts/test installs them as root); without them the
//! browser tests are skipped, or fail under `KILN_TEST_REQUIRE_TOOLS=1`. The readers are also held
//! to what the writers write here: a real build.json and batch.json are read with
//! `kiln_record::parse_checked`, which lists every field a reader would drop.

mod common;
mod pipeline_ws;
mod ui_browser;

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::Project;
use pipeline_ws::*;
use ui_browser::*;
use fantoccini::Locator;
use kiln_record::pipeline::*;
use kiln_record::{PipelineExecutionSummary, PipelineRun};

fn corpus(name: &str) -> Vec<u8> {
    std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/corpus/reports").join(name)).unwrap()
}

const JUNIT: &str = "mikepenz__action-junit-report__test_results_tests_utils_target_surefire-reports_TEST-action.surefire.report.calc.CalcUtilsTest.xml";
const COBERTURA: &str = "codeclimate__test-reporter__formatters_cobertura_example.xml";
const HOSTILE: &str = "<script>document.title='pwned'</script><img src=x onerror=alert(1)>";

const SPEC: &str = r#"version: 0.2
env:
  variables:
    CODEBUILD_CONFIG_AUTO_DISCOVER: "false"
phases:
  install:
    commands:
      - echo installing
  build:
    commands:
      - printf '%s\n' "$(cat fixtures/hostile.txt)"
      - mkdir -p out/src build
      - cp app.py out/src/app.py
      - cp fixtures/junit.xml build/TEST-calc.xml
      - cp fixtures/cobertura.xml build/cobertura.xml
      - uses: sast
      - uses: sbom-cyclonedx
reports:
  unit:
    files: ['build/TEST-*.xml']
  coverage:
    files: [build/cobertura.xml]
    file-format: COBERTURAXML
artifacts:
  files: ['out/**/*']
kiln:
  report: html
"#;

const LOCK: &str = r#"{"name": "demo", "version": "1.0.0", "lockfileVersion": 3, "requires": true,
  "packages": {"": {"name": "demo", "version": "1.0.0", "dependencies": {"ms": "^2.1.3"}},
    "node_modules/ms": {"version": "2.1.3", "resolved": "https://registry.npmjs.org/ms/-/ms-2.1.3.tgz", "license": "MIT"}}}"#;

const APP: &str = "import sqlite3\nfrom flask import request\n\ndef find(db):\n    name = request.args.get('name')\n    return db.execute(\"SELECT * FROM users WHERE name = '\" + name + \"'\").fetchall()\n";

fn project() -> Project {
    let p = Project::new(SPEC);
    p.write("fixtures/junit.xml", corpus(JUNIT));
    p.write("fixtures/cobertura.xml", corpus(COBERTURA));
    p.write("fixtures/hostile.txt", HOSTILE);
    p.write("package-lock.json", LOCK);
    p.write("app.py", APP);
    p
}

// ---- kiln ui ----

fn kiln_ui(p: &Project) -> Server {
    kiln_ui_at(&p.src, &p.root().join("home"), &[])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kiln_ui_serves_a_real_build_to_a_browser() {
    let p = project();
    let b = p.build(&[]);
    assert_eq!(b.status(), "SUCCEEDED", "{}", b.describe());
    let record = b.record_dir();
    let uuid = record.file_name().unwrap().to_str().unwrap().to_string();
    // kiln: report: html wrote the report into the record.
    let report = std::fs::read_to_string(record.join("report.html")).expect("report.html in the record");
    assert!(report.contains("Verified.") && report.contains("CalcUtilsTest") && !report.contains("<script"), "the byproduct report");
    // The readers keep every field the writer wrote.
    let (_, ignored) = kiln_record::parse_checked::<kiln_record::Build>(&std::fs::read(record.join("build.json")).unwrap()).unwrap();
    assert!(ignored.is_empty(), "build.json fields kiln-record does not read: {ignored:?}");

    let Some(browser) = browser().await else { return };
    let ui = kiln_ui(&p);
    let base = ui.url.split("/?").next().unwrap().to_string();
    let history = browser.visit(&ui.url, "history").await;
    assert!(history.contains("app #1") && history.contains("SUCCEEDED"), "{history}");
    assert_eq!(browser.client.current_url().await.unwrap().query(), None, "the token left the address bar");

    let page = browser.visit(&format!("{base}/builds/{uuid}"), "build").await;
    assert!(page.contains("Failing tests") && page.contains("CalcUtilsTest"), "the failing test is listed: {page}");
    assert!(page.contains("Security findings") && page.contains("Software bill of materials") && page.contains("Verified."), "{page}");
    assert_ne!(browser.client.title().await.unwrap(), "pwned", "the hostile log line did not run");
    // The hostile line is on the page, as text, in the BUILD log.
    // A succeeded phase's log is folded: unfold it as a reader would.
    browser.client.find(Locator::Css("details.log:has(> pre.log[data-phase=BUILD]) > summary")).await.unwrap().click().await.unwrap();
    let build_log = browser.client.find(Locator::Css("pre.log[data-phase=BUILD]")).await.unwrap();
    let text = build_log.text().await.unwrap();
    assert!(text.contains(HOSTILE), "shown as text: {text}");
    assert!(browser.client.find_all(Locator::Css("pre.log img")).await.unwrap().is_empty(), "no element made from it");

    for (path, name, expect) in [("/dashboard", "dashboard", "Top failure causes"), ("/batches", "batches", "Batches"), ("/deployments", "deployments", "Deployments"), ("/pipelines", "pipelines", "Pipeline runs")] {
        let text = browser.visit(&format!("{base}{path}"), name).await;
        assert!(text.contains(expect), "{name}: {text}");
    }
    // The raw log, served as text.
    browser.client.goto(&format!("{base}/builds/{uuid}/raw/logs/BUILD.log")).await.unwrap();
    assert!(browser.client.source().await.unwrap().contains("&lt;script&gt;document.title"), "raw logs are text/plain");
    // `kiln report --html -o` from the command line, outside the record.
    let out = p.root().join("report.html");
    let r = p.kiln().args(["report", &uuid[..8], "--html", "-o"]).arg(&out).arg("--dir").arg(&p.src).output().unwrap();
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let standalone = std::fs::read_to_string(&out).unwrap();
    assert!(standalone.contains(&format!("file://{}/logs/", std::fs::canonicalize(&record).unwrap().display())), "raw logs linked by the record's file URL");
    browser.client.goto(&format!("file://{}", out.display())).await.unwrap();
    let text = browser.settle("report-standalone").await;
    assert!(text.contains("CalcUtilsTest"));
    let _ = browser.client.clone().close().await;
}

// ---- approvals, in process ----

struct OneRun(Mutex<bool>);

const APPROVAL_TOKEN: &str = "3f2504e0-4f89-41d3-9a0c-0305e82c3301";

impl kiln_ui::sources::Pipelines for OneRun {
    fn runs(&self) -> kiln_ui::sources::BoxFuture<'_, Vec<PipelineExecutionSummary>> {
        Box::pin(async { vec![PipelineExecutionSummary { pipeline_name: "shop".into(), pipeline_execution_id: "e1".into(), status: "InProgress".into(), start_time: "2024-05-01T12:00:00Z".into(), ..Default::default() }] })
    }
    fn run<'a>(&'a self, _: &'a str, _: &'a str) -> kiln_ui::sources::BoxFuture<'a, Option<PipelineRun>> {
        let answered = *self.0.lock().unwrap();
        Box::pin(async move {
            let act = |name: &str, cat: &str, prov: &str, status: &str, token: Option<&str>, order: u32| ActionState {
                action_name: name.into(),
                latest_execution: Some(ActionExecution { status: status.into(), token: token.map(Into::into), ..Default::default() }),
                action_type_id: Some(ActionTypeId { category: cat.into(), owner: "AWS".into(), provider: prov.into(), version: "1".into() }),
                run_order: Some(order),
            };
            let stage = |name: &str, status: &str, actions: Vec<ActionState>| StageState { stage_name: name.into(), latest_execution: Some(StageExecution { pipeline_execution_id: "e1".into(), status: status.into(), kind: None }), action_states: actions };
            let gate = if answered { act("release-ok", "Approval", "Manual", "Succeeded", None, 1) } else { act("release-ok", "Approval", "Manual", "InProgress", Some(APPROVAL_TOKEN), 1) };
            Some(PipelineRun {
                pipeline_execution: PipelineExecution { pipeline_name: "shop".into(), pipeline_version: 2, pipeline_execution_id: "e1".into(), status: "InProgress".into(), start_time: Some("2024-05-01T12:00:00Z".into()), ..Default::default() },
                stage_states: vec![
                    stage("Source", "Succeeded", vec![act("checkout", "Source", "CodeStarSourceConnection", "Succeeded", None, 1)]),
                    stage("Build", "Succeeded", vec![act("unit", "Build", "CodeBuild", "Succeeded", None, 1), act("package", "Build", "CodeBuild", "Succeeded", None, 2)]),
                    stage("Approve", if answered { "Succeeded" } else { "InProgress" }, vec![gate]),
                    stage("Deploy", "NotStarted", vec![]),
                ],
            })
        })
    }
}

#[derive(Clone)]
struct Approvals(Arc<Mutex<Vec<ApprovalRequest>>>, Arc<OneRun>);

impl kiln_ui::sources::Approver for Approvals {
    fn answer<'a>(&'a self, r: &'a ApprovalRequest) -> kiln_ui::sources::BoxFuture<'a, Result<String, String>> {
        Box::pin(async move {
            self.0.lock().unwrap().push(r.clone());
            *self.1.0.lock().unwrap() = true;
            Ok("Approved".to_string())
        })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_approval_clicked_in_the_browser_reaches_the_run() {
    let Some(browser) = browser().await else { return };
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join(".kiln/builds")).unwrap();
    let records = kiln_record::Records::of_project(dir.path());
    let run = Arc::new(OneRun(Mutex::new(false)));
    let calls = Approvals(Arc::new(Mutex::new(Vec::new())), run.clone());
    let token = kiln_ui::server::auth::random_token();
    let config = kiln_ui::server::Config {
        deployments: Arc::new(kiln_ui::sources::FileDeployments { records: records.clone() }),
        records,
        listen: "127.0.0.1:0".parse().unwrap(),
        token: token.clone(),
        allow_approvals: true,
        pipelines: run.clone(),
        approver: Arc::new(calls.clone()),
    };
    let (addr, serve) = kiln_ui::server::bind(config, std::future::pending()).await.unwrap();
    tokio::spawn(serve);
    browser.visit(&format!("http://{addr}/pipelines/shop/e1?token={token}"), "pipeline").await;
    browser.client.find(Locator::Css("input[name=summary]")).await.unwrap().send_keys("ship it").await.unwrap();
    browser.client.find(Locator::Css("button.approve")).await.unwrap().click().await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while calls.0.lock().unwrap().is_empty() {
        if Instant::now() >= deadline {
            let url = browser.client.current_url().await.map(|u| u.to_string()).unwrap_or_default();
            let page = browser.client.find(Locator::Css("body")).await.unwrap().text().await.unwrap_or_default();
            panic!("the approver was not called; the browser is at {url}:\n{page}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let text = browser.settle("pipeline-approved").await;
    assert!(text.contains("Approved"), "{text}");
    let got = calls.0.lock().unwrap().clone();
    assert_eq!(got.len(), 1);
    assert_eq!((got[0].stage_name.as_str(), got[0].action_name.as_str(), got[0].token.as_str()), ("Approve", "release-ok", APPROVAL_TOKEN));
    assert_eq!(got[0].result, ApprovalResult { summary: "ship it".into(), status: ApprovalStatus::Approved });
    let _ = browser.client.clone().close().await;
}

// ---- approvals, a real pipeline run ----

/// A real `kiln pipeline run` waiting on a manual approval, answered with the Approve button of
/// `kiln ui --allow-approvals` in the browser: the run goes on to its build and succeeds, and the
/// approval is recorded with the comment typed in the page and the user who answered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_approval_clicked_in_kiln_ui_resumes_the_real_pipeline_run() {
    let Some(browser) = browser().await else { return };
    let pipeline = source_stage() + &approval_stage("Gate") + "    - name: Release\n      actions:\n" + &build_action("Package", "package", 1, "Src", None, "");
    let ws = Ws::new(&[("package", "version: 0.2\nphases:\n  build:\n    commands:\n      - test -f app.txt\n")], &pipeline);
    let mut run = ws.spawn_run("run");
    let (id, _) = tokio::task::block_in_place(|| ws.wait_for(0, "the approval", approval_pending));
    let ui = kiln_ui_at(&ws.dir(), &ws.tmp.path().join("home"), &["--allow-approvals"]);
    let base = ui.url.split("/?").next().unwrap().to_string();
    browser.visit(&ui.url, "pipeline-history").await;
    let page = browser.visit(&format!("{base}/pipelines/demo/{id}"), "pipeline-real").await;
    assert!(page.contains("Gate") && page.contains("Approve"), "{page}");
    browser.client.find(Locator::Css("input[name=summary]")).await.unwrap().send_keys("ship it from the browser").await.unwrap();
    browser.client.find(Locator::Css("button.approve")).await.unwrap().click().await.unwrap();
    let code = tokio::task::block_in_place(|| wait_exit(&mut run, 240));
    assert_eq!(code, 0, "the run did not finish after the approval:\n{}", ws.log("run"));
    let s = ws.status(&id);
    assert_eq!(s["pipelineExecution"]["status"], "Succeeded", "{s}");
    let ap = &s["kiln"]["approvals"][0];
    assert_eq!((ap["status"].as_str(), ap["summary"].as_str()), (Some("Approved"), Some("ship it from the browser")), "{ap}");
    assert!(!ap["answeredBy"].as_str().unwrap_or_default().is_empty(), "{ap}");
    let text = browser.visit(&format!("{base}/pipelines/demo/{id}"), "pipeline-real-done").await;
    assert!(text.contains("Succeeded"), "{text}");
    let _ = browser.client.clone().close().await;
}
