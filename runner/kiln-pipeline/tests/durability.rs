//! Durability across processes: the scheduler runs in child processes (this test binary,
//! re-run as `child_process_drives`), which are killed with SIGKILL at several points and
//! resumed; and two processes drive one execution at once.

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use kiln_pipeline::exec::status::{ActionStatus, ExecutionStatus};
use kiln_pipeline::exec::traits::*;
use kiln_pipeline::exec::{Engine, EngineOptions, StartOptions};
use kiln_pipeline::store::Store;

const DIR: &str = "KILN_PIPELINE_CHILD_DIR";
const EXEC: &str = "KILN_PIPELINE_CHILD_EXEC";

/// An executor that logs `start`/`end` lines (O_APPEND, one write each) around a sleep.
struct Logging {
    log: PathBuf,
    sleep: Duration,
}

impl Logging {
    fn line(&self, s: &str) {
        let mut f = std::fs::OpenOptions::new().append(true).create(true).open(&self.log).unwrap();
        f.write_all(format!("{s}\n").as_bytes()).unwrap();
    }
    async fn act(&self, ctx: &ActionContext) -> Result<ActionOutput, ActionFailure> {
        let who = format!("{} {} {}", std::process::id(), ctx.action.name.value, ctx.attempt);
        self.line(&format!("start {who}"));
        tokio::time::sleep(self.sleep).await;
        for o in &ctx.outputs {
            let inputs: Vec<String> = ctx.inputs.iter().map(|i| std::fs::read_to_string(&i.path).unwrap()).collect();
            std::fs::write(ctx.output_dir.join(o), format!("{o}<-{}", inputs.join("+"))).unwrap();
        }
        self.line(&format!("end {who}"));
        Ok(ActionOutput::default())
    }
}

impl SourceAction for Logging {
    fn fetch<'a>(&'a self, ctx: &'a ActionContext) -> ActionFuture<'a> {
        Box::pin(self.act(ctx))
    }
}
impl BuildAction for Logging {
    fn build<'a>(&'a self, ctx: &'a ActionContext) -> ActionFuture<'a> {
        Box::pin(self.act(ctx))
    }
}
impl DeployAction for Logging {
    fn deploy<'a>(&'a self, ctx: &'a ActionContext) -> ActionFuture<'a> {
        Box::pin(self.act(ctx))
    }
}

/// The child: drive the execution named in the environment (does nothing in a normal run).
#[test]
fn child_process_drives() {
    let (Ok(dir), Ok(id)) = (std::env::var(DIR), std::env::var(EXEC)) else { return };
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    rt.block_on(async {
        let store = Store::open(Path::new(&dir)).await.unwrap();
        let log = Arc::new(Logging { log: Path::new(&dir).join("log"), sleep: Duration::from_millis(250) });
        let executors = Executors { source: Some(log.clone()), build: Some(log.clone()), deploy: Some(log), ..Default::default() };
        let engine = Engine::new(store, executors, EngineOptions { poll: Duration::from_millis(20), ..Default::default() });
        let out = engine.drive(&id).await.unwrap();
        assert_eq!(out.status, ExecutionStatus::Succeeded);
    });
}

fn spawn(dir: &Path, id: &str) -> Child {
    Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "child_process_drives", "--nocapture", "--test-threads=1"])
        .env(DIR, dir)
        .env(EXEC, id)
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap()
}

fn log(dir: &Path) -> Vec<String> {
    std::fs::read_to_string(dir.join("log")).unwrap_or_default().lines().map(str::to_string).collect()
}

/// Wait until the log has a line matching `pred` (at most 30 s).
fn wait_for(dir: &Path, pred: impl Fn(&[String]) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !pred(&log(dir)) {
        assert!(Instant::now() < deadline, "timed out; log: {:#?}", log(dir));
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn has(lines: &[String], kind: &str, action: &str) -> bool {
    lines.iter().any(|l| l.starts_with(kind) && l.split(' ').nth(2) == Some(action))
}

fn definition() -> kiln_pipeline::Pipeline {
    let yaml = header("durable", "")
        + &source_stage()
        + "    - name: Build\n      actions:\n"
        + &build("A", 1, &["Src"], &["OutA"], "")
        + &build("B", 1, &["Src"], &["OutB"], "")
        + &build("C", 2, &["OutA", "OutB"], &["OutC"], "            PrimarySource: OutA\n")
        + "    - name: Deploy\n      actions:\n"
        + &action("D", "Deploy", "CodeDeploy", 1, &["OutC"], &[], "          configuration: {ApplicationName: a, DeploymentGroupName: g}\n");
    pipeline(&yaml)
}

async fn new_execution(dir: &Path) -> (Store, String) {
    let store = Store::open(dir).await.unwrap();
    let engine = Engine::new(store.clone(), Executors { source: Some(Arc::new(Logging { log: dir.join("log"), sleep: Duration::ZERO })), build: Some(Arc::new(Logging { log: dir.join("log"), sleep: Duration::ZERO })), deploy: Some(Arc::new(Logging { log: dir.join("log"), sleep: Duration::ZERO })), ..Default::default() }, EngineOptions::default());
    let id = engine.start(&definition(), StartOptions::default()).await.unwrap();
    (store, id)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_at_any_point_then_resume_never_redoes_a_completed_action_nor_loses_an_artifact() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_path_buf();
    let (store, id) = new_execution(&dir).await;
    // Kill points: in the middle of the source, in the middle of A and B, just as B ends
    // (racing its completion), in the middle of C, in the middle of D.
    type Point = Box<dyn Fn(&[String]) -> bool>;
    let points: Vec<Point> = vec![
        Box::new(|l: &[String]| has(l, "start", "Code")),
        Box::new(|l: &[String]| has(l, "start", "A") && has(l, "start", "B")),
        Box::new(|l: &[String]| has(l, "end", "B")),
        Box::new(|l: &[String]| has(l, "start", "C")),
        Box::new(|l: &[String]| has(l, "start", "D")),
    ];
    for point in &points {
        let mut child = spawn(&dir, &id);
        wait_for(&dir, |l| point(l));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
    }
    let mut child = spawn(&dir, &id);
    assert!(child.wait().unwrap().success(), "the last child completes the run");
    let snap = store.snapshot(&id).await.unwrap();
    assert_eq!(snap.execution.status, ExecutionStatus::Succeeded, "{:#?}", snap);
    let lines = log(&dir);
    for (stage, action) in [("Source", "Code"), ("Build", "A"), ("Build", "B"), ("Build", "C"), ("Deploy", "D")] {
        let ok = snap.action(stage, action).unwrap();
        assert_eq!(ok.status, ActionStatus::Succeeded);
        // Attempts before the one that succeeded were all cut short by a kill: abandoned.
        for a in snap.actions.iter().filter(|a| a.action == action && a.attempt < ok.attempt) {
            assert_eq!(a.status, ActionStatus::Abandoned, "{a:?}");
        }
        // Once an attempt succeeded, the action never started again.
        let starts: Vec<i64> = lines.iter().filter(|l| l.starts_with("start") && l.split(' ').nth(2) == Some(action)).map(|l| l.split(' ').nth(3).unwrap().parse().unwrap()).collect();
        assert_eq!(starts.iter().max(), Some(&ok.attempt), "{action}: {lines:#?}");
        assert_eq!(starts.len() as i64, ok.attempt, "{action}: one start per attempt");
    }
    // Every artifact is in the store, intact, and was built from its inputs' final versions.
    for name in ["Src", "OutA", "OutB", "OutC"] {
        let a = snap.artifact(name).unwrap();
        let path = store.cas().verify(&a.digest).unwrap();
        let body = std::fs::read_to_string(path).unwrap();
        assert!(body.starts_with(&format!("{name}<-")), "{body}");
    }
    assert_eq!(std::fs::read_to_string(store.cas().path(&snap.artifact("OutC").unwrap().digest)).unwrap(), "OutC<-OutA<-Src<-+OutB<-Src<-");
    // Some kill really interrupted work (the test is not vacuous).
    assert!(snap.actions.iter().any(|a| a.status == ActionStatus::Abandoned));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_driving_one_execution_never_run_an_action_twice() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_path_buf();
    let (store, id) = new_execution(&dir).await;
    let mut a = spawn(&dir, &id);
    let mut b = spawn(&dir, &id);
    assert!(a.wait().unwrap().success() && b.wait().unwrap().success());
    let snap = store.snapshot(&id).await.unwrap();
    assert_eq!(snap.execution.status, ExecutionStatus::Succeeded);
    let lines = log(&dir);
    for action in ["Code", "A", "B", "C", "D"] {
        let starts = lines.iter().filter(|l| l.starts_with("start") && l.split(' ').nth(2) == Some(action)).count();
        assert_eq!(starts, 1, "{action}: {lines:#?}");
    }
    assert!(snap.actions.iter().all(|a| a.attempt == 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_schedulers_in_one_process_share_the_work_without_doubling_it() {
    let dir = tempfile::tempdir().unwrap();
    let fake = Fake::new();
    let names = ["P1", "P2", "P3", "P4", "P5", "P6"];
    for n in names {
        fake.set(n, Behavior { sleep: Duration::from_millis(150), ..Default::default() });
    }
    let mut yaml = header("shared", "") + &source_stage() + "    - name: Build\n      actions:\n";
    for n in names {
        yaml += &build(n, 1, &["Src"], &[], "");
    }
    yaml += &build("Last", 2, &["Src"], &[], "");
    let p = pipeline(&yaml);
    let one = engine(dir.path(), &fake, fast()).await;
    let two = engine(dir.path(), &fake, fast()).await;
    let id = one.start(&p, StartOptions::default()).await.unwrap();
    let (x, y) = tokio::join!(one.drive(&id), two.drive(&id));
    assert_eq!((x.unwrap().status, y.unwrap().status), (ExecutionStatus::Succeeded, ExecutionStatus::Succeeded));
    for n in names.iter().chain(&["Code", "Last"]) {
        assert_eq!(fake.calls(n), 1, "{n}");
    }
}
