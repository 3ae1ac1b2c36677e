//! A hostile `deploy-strategy` plugin (`plugins/test-hostile-strategy`) against the host: every
//! attack ends in a `StrategyError` naming the plugin and what it did, or in a well-formed action
//! the deploy engine refuses, within the limits (its manifest: 500 ms per call, 32 MiB), and the
//! host goes on serving other deployments. Never a panic, never a hang.

mod common;

use kiln_host::builtin::{self, test_components};
use kiln_host::strategy::{Action, ComputePlatform, DeploymentType, Instance, InstanceSet, Observation};
use kiln_host::{LimitKind, LoadedStrategy, PluginError, PluginSource, StrategyError, StrategyInvocation, StrategySession};
use serde_json::json;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

fn hostile() -> &'static LoadedStrategy {
    static P: OnceLock<LoadedStrategy> = OnceLock::new();
    P.get_or_init(|| common::host().load_strategy(PluginSource::bytes("test-hostile-strategy", test_components::TEST_HOSTILE_STRATEGY)).unwrap())
}

fn obs() -> Observation {
    Observation {
        compute_platform: ComputePlatform::Server,
        deployment_type: DeploymentType::InPlace,
        elapsed_ms: 0,
        target_revision: "v2".into(),
        instances: (1..=3).map(|i| Instance { id: format!("i{i}"), set: InstanceSet::Original, revision: "v1".into(), healthy: true, in_service: true }).collect(),
        alarms: vec![],
        traffic_to_target: 0,
        continue_requested: false,
        last_action: None,
    }
}

async fn session(attack: &str) -> StrategySession {
    hostile().start(json!({ "attack": attack })).await.unwrap_or_else(|e| panic!("{attack}: {e}"))
}

/// One call with `attack`; the error, checked to name the plugin, and the time it took.
async fn fails(attack: &str) -> (StrategyError, Duration) {
    let mut s = session(attack).await;
    let t = Instant::now();
    let e = match s.next(&obs()).await {
        Ok(a) => panic!("{attack}: expected an error, got {a}"),
        Err(e) => e,
    };
    let took = t.elapsed();
    assert_eq!(e.plugin(), "test-hostile-strategy", "{e}");
    assert!(e.to_string().contains("test-hostile-strategy"), "the message names the plugin: {e}");
    assert!(!e.to_string().contains(common::SECRET_VALUE));
    // The session is over: the store is not entered again.
    let again = s.next(&obs()).await.unwrap_err();
    assert!(matches!(again, StrategyError::Ended { .. }) && again.to_string().contains("it failed"), "{attack}: {again}");
    (e, took)
}

#[tokio::test]
async fn a_trap_or_a_panic_is_a_crash_with_the_panic_message() {
    let (e, _) = fails("trap").await;
    assert!(matches!(&e, StrategyError::Plugin(PluginError::Trap { trap, .. }) if trap.contains("unreachable")), "{e}");
    let (e, _) = fails("panic").await;
    assert!(matches!(&e, StrategyError::Plugin(PluginError::Trap { stderr_tail, .. }) if stderr_tail.contains("hostile strategy panicked on purpose")), "{e}");
    assert!(e.to_string().starts_with("plugin test-hostile-strategy: crashed:"), "{e}");
    // `exit(3)`: WASI 0.2's `exit` takes ok or err, so any failure status arrives as 1.
    let (e, _) = fails("exit").await;
    assert!(matches!(&e, StrategyError::Plugin(PluginError::Exited { code: 1, .. })), "{e}");
}

#[tokio::test]
async fn a_loop_in_next_hits_the_per_call_deadline() {
    let (e, took) = fails("loop").await;
    assert_eq!(e.limit(), Some(&LimitKind::Timeout { ms: 500 }), "{e}");
    assert!(took < Duration::from_secs(5), "stopped at the deadline, not later: {took:?}");
    assert_eq!(e.to_string(), "plugin test-hostile-strategy: stopped: exceeded its wall-clock deadline of 500 ms");
    // Blocked inside a host call (a WASI sleep) rather than spinning: the outer timeout.
    let (e, took) = fails("sleep").await;
    assert_eq!(e.limit(), Some(&LimitKind::Timeout { ms: 500 }), "{e}");
    assert!(took < Duration::from_secs(5), "{took:?}");
    // The host's own cap is below the manifest's: the smaller one holds.
    let mut inv = StrategyInvocation::new(json!({"attack": "loop"}));
    inv.limits.timeout = Duration::from_millis(100);
    let mut s = hostile().start_with(&inv).await.unwrap();
    assert_eq!(s.next(&obs()).await.unwrap_err().limit(), Some(&LimitKind::Timeout { ms: 100 }));
}

#[tokio::test]
async fn a_call_the_caller_abandons_ends_the_session() {
    // The deploy engine's own timeout drops the future while the guest spins.
    let mut s = session("loop").await;
    assert!(tokio::time::timeout(Duration::from_millis(50), s.next(&obs())).await.is_err());
    let e = s.next(&obs()).await.unwrap_err();
    assert!(matches!(&e, StrategyError::Ended { why, .. } if why.contains("cancelled")), "{e}");
}

#[tokio::test]
async fn unbounded_memory_hits_the_cap_in_one_call_or_across_calls() {
    let (e, _) = fails("alloc").await;
    assert_eq!(e.limit(), Some(&LimitKind::Memory { bytes: 32 << 20 }), "{e}");
    // 4 MiB kept per call: the store lives for the whole deployment, so the cap is reached after
    // a few calls, not reset by each.
    let mut s = session("leak").await;
    let mut ok = 0;
    let e = loop {
        match s.next(&obs()).await {
            Ok(Action::Wait(1)) => ok += 1,
            Ok(other) => panic!("{other}"),
            Err(e) => break e,
        }
        assert!(ok < 20, "the memory cap never held");
    };
    assert!((2..8).contains(&ok), "{ok} calls before the cap");
    assert_eq!(e.limit(), Some(&LimitKind::Memory { bytes: 32 << 20 }), "{e}");
    assert!(s.peak_memory() <= 32 << 20);
}

#[tokio::test]
async fn flooding_the_log_hits_the_log_cap() {
    let (e, _) = fails("log-flood").await;
    assert!(matches!(e.limit(), Some(LimitKind::LogBytes { .. })), "{e}");
    // What it logged up to the cap is kept for the record.
    let mut s = session("log-flood").await;
    assert!(s.next(&obs()).await.is_err());
    assert_eq!(s.logs().len(), 16, "1 MiB of 64 KiB records");
}

#[tokio::test]
async fn nonsense_answers_are_refused_with_what_was_answered() {
    let huge_id = format!("deploy-batch([\"{}…\"])", "i".repeat(40));
    let huge_reason = format!("roll-back(\"{}…\")", "r".repeat(60));
    let cases = [
        ("shift-250", "shift-traffic(250)", "a percentage of traffic is 0-100"),
        ("empty-reason", "roll-back(\"\")", "a roll-back must say why"),
        ("blank-reason", "roll-back(\" \\n\\t\")", "a roll-back must say why"),
        ("empty-batch", "deploy-batch([])", "names no instance"),
        ("duplicate-ids", "deploy-batch([\"i1\", \"i1\"])", "names instance \"i1\" twice"),
        ("too-many-ids", "allow-traffic([\"i0\", \"i1\", \"i2\", … 4 ids in all])", "names 4 instances, but the deployment has 3"),
        ("empty-id", "block-traffic([\"\"])", "an instance id must be 1-256 bytes"),
        ("huge-id", huge_id.as_str(), "an instance id must be 1-256 bytes"),
        ("wait-zero", "wait(0)", "a wait is at least 1 ms"),
        ("wait-forever", "wait(18446744073709551615)", "a wait is at most 432000000 ms"),
        ("bad-hook", "run-hook(\"../../bin/sh -c reboot\")", "a lifecycle event name is 1-64 letters and digits"),
        ("huge-reason", huge_reason.as_str(), "a roll-back reason is at most 65536 bytes"),
    ];
    for (attack, answer, reason) in cases {
        let (e, _) = fails(attack).await;
        match &e {
            StrategyError::BadAction { answer: a, reason: r, .. } => {
                assert_eq!(a, answer, "{attack}");
                assert!(r.contains(reason), "{attack}: {r}");
            }
            other => panic!("{attack}: {other}"),
        }
        assert!(e.to_string().starts_with(&format!("strategy test-hostile-strategy: answered {answer}, which the host refuses: ")), "{e}");
    }
}

#[tokio::test]
async fn unknown_ids_are_well_formed_and_left_to_the_deploy_engine() {
    let mut s = session("unknown-ids").await;
    assert_eq!(s.next(&obs()).await.unwrap(), Action::DeployBatch(vec!["i-does-not-exist".into()]));
}

#[tokio::test]
async fn a_strategy_that_never_finishes_overruns_the_deployment_limit() {
    let mut inv = StrategyInvocation::new(json!({"attack": "forever"}));
    inv.max_elapsed = Some(Duration::from_secs(3600));
    let mut s = hostile().start_with(&inv).await.unwrap();
    let mut o = obs();
    let mut waits = 0;
    let e = loop {
        match s.next(&o).await {
            Ok(Action::Wait(ms)) => {
                waits += 1;
                o.elapsed_ms += ms * 60;
                o.last_action = Some(Ok(()));
            }
            Ok(other) => panic!("{other}"),
            Err(e) => break e,
        }
    };
    assert_eq!(waits, 61, "waits until an hour has passed");
    assert!(matches!(&e, StrategyError::Overran { limit_ms: 3_600_000, .. }), "{e}");
    assert_eq!(e.to_string(), "strategy test-hostile-strategy: had not finished after 3600000 ms of deployment, the time limit (its last answer: wait 1000 ms)");
    assert!(matches!(s.next(&o).await.unwrap_err(), StrategyError::Ended { .. }));
    // Without a limit, waiting is well formed: the deploy engine's own time limit ends it.
    let mut s = session("forever").await;
    assert_eq!(s.next(&obs()).await.unwrap(), Action::Wait(1000));
}

#[tokio::test]
async fn a_strategy_gets_no_files_environment_or_network() {
    for attack in ["read", "env", "net"] {
        let mut s = session(attack).await;
        match s.next(&obs()).await.unwrap() {
            Action::RollBack(why) => assert!(why.starts_with("blocked"), "{attack}: {why}"),
            other => panic!("{attack}: {other}"),
        }
    }
}

#[tokio::test]
async fn state_lives_in_one_store_per_deployment() {
    let mut a = session("count").await;
    let mut b = session("count").await;
    assert_eq!(a.next(&obs()).await.unwrap(), Action::Wait(1));
    assert_eq!(a.next(&obs()).await.unwrap(), Action::Wait(1));
    assert_eq!(b.next(&obs()).await.unwrap(), Action::Wait(1), "b has its own state");
    assert_eq!(a.next(&obs()).await.unwrap(), Action::RollBack("counted 3 calls".into()));
    assert!(a.is_over() && !b.is_over());
}

#[tokio::test]
async fn the_constructor_is_confined_too() {
    let e = hostile().start(json!({"attack": "construct-trap"})).await.unwrap_err();
    assert!(matches!(&e, StrategyError::Plugin(PluginError::Trap { .. })), "{e}");
    let t = Instant::now();
    let e = hostile().start(json!({"attack": "construct-loop"})).await.unwrap_err();
    assert_eq!(e.limit(), Some(&LimitKind::Timeout { ms: 500 }), "{e}");
    assert!(t.elapsed() < Duration::from_secs(5));
    // A config the strategy refuses: the first answer is a roll-back saying so.
    let mut s = hostile().start(json!({"attack": "construct-refuse"})).await.unwrap();
    assert_eq!(s.next(&obs()).await.unwrap(), Action::RollBack("invalid config: attack refused on purpose".into()));
    let mut s = hostile().start(json!({"weapon": "x"})).await.unwrap();
    assert!(matches!(s.next(&obs()).await.unwrap(), Action::RollBack(m) if m.contains("invalid config: unknown field `weapon`")));
    let e = hostile().start(json!("not an object")).await.unwrap_err();
    assert!(matches!(&e, StrategyError::Plugin(PluginError::InvalidConfig { .. })), "{e}");
}

#[tokio::test]
async fn an_invalid_observation_is_the_callers_error_and_asks_nothing() {
    let mut s = session("count").await;
    let mut o = obs();
    o.traffic_to_target = 101;
    let e = s.next(&o).await.unwrap_err();
    assert!(matches!(e, StrategyError::BadObservation { .. }), "{e}");
    assert_eq!(s.calls(), 0);
    assert!(!s.is_over());
}

#[tokio::test]
async fn after_every_attack_the_host_still_runs_the_builtins() {
    let _ = fails("loop").await;
    let _ = fails("alloc").await;
    let builtin = common::host().load_strategy(builtin::get("codedeploy-in-place").unwrap()).unwrap();
    let mut s = builtin.start(json!({"deploymentConfigName": "CodeDeployDefault.AllAtOnce"})).await.unwrap();
    assert_eq!(s.next(&obs()).await.unwrap(), Action::DeployBatch(vec!["i1".into(), "i2".into(), "i3".into()]));
}
