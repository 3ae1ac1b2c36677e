//! The built-in `deploy-strategy` plugins, loaded as the components kiln embeds and driven
//! through scripted observations by a small simulated deploy engine: in-place, blue/green and
//! traffic shifting end to end, an alarm and a failed hook rolling back, config errors, and the
//! session's rules (one store per deployment, over after the last action).

mod common;

use kiln_host::builtin;
use kiln_host::strategy::{Action, Alarm, ComputePlatform, DeploymentType, Instance, InstanceSet, Observation};
use kiln_host::{LoadedStrategy, PluginError, PluginSource, StrategyError, StrategySession};
use serde_json::json;
use std::collections::BTreeMap;
use std::sync::OnceLock;

fn strategy(name: &str) -> &'static LoadedStrategy {
    static LOADED: OnceLock<BTreeMap<&'static str, LoadedStrategy>> = OnceLock::new();
    let all = LOADED.get_or_init(|| builtin::STRATEGIES.iter().map(|n| (*n, common::host().load_strategy(builtin::get(n).unwrap()).unwrap())).collect());
    &all[name]
}

/// A simulated deploy engine: applies each action to its observation (instances get the
/// revision, traffic moves, time passes), failing what the test says.
struct Engine {
    obs: Observation,
    fail_instances: Vec<String>,
    fail_hooks: Vec<String>,
    /// The alarm fires once `elapsed_ms` reaches this.
    alarm_at: Option<u64>,
    script: Vec<String>,
}

fn instance(id: &str, set: InstanceSet, revision: &str, healthy: bool, in_service: bool) -> Instance {
    Instance { id: id.into(), set, revision: revision.into(), healthy, in_service }
}

impl Engine {
    fn new(platform: ComputePlatform, kind: DeploymentType, instances: Vec<Instance>) -> Engine {
        Engine {
            obs: Observation {
                compute_platform: platform,
                deployment_type: kind,
                elapsed_ms: 0,
                target_revision: "v2".into(),
                instances,
                alarms: vec![Alarm { name: "5xx-rate".into(), firing: false }],
                traffic_to_target: 0,
                continue_requested: false,
                last_action: None,
            },
            fail_instances: vec![],
            fail_hooks: vec![],
            alarm_at: None,
            script: vec![],
        }
    }

    fn in_place(n: usize) -> Engine {
        Engine::new(ComputePlatform::Server, DeploymentType::InPlace, (1..=n).map(|i| instance(&format!("i{i}"), InstanceSet::Original, "v1", true, true)).collect())
    }

    fn blue_green(n: usize) -> Engine {
        let mut v: Vec<Instance> = (1..=n).map(|i| instance(&format!("blue{i}"), InstanceSet::Original, "v1", true, true)).collect();
        v.extend((1..=n).map(|i| instance(&format!("green{i}"), InstanceSet::Replacement, "", false, false)));
        Engine::new(ComputePlatform::Server, DeploymentType::BlueGreen, v)
    }

    fn traffic(platform: ComputePlatform) -> Engine {
        Engine::new(platform, DeploymentType::BlueGreen, vec![instance("blue", InstanceSet::Original, "v1", true, true), instance("green", InstanceSet::Replacement, "", false, false)])
    }

    fn apply(&mut self, a: &Action) {
        self.script.push(match a {
            Action::Wait(_) => "wait".into(),
            other => other.to_string(),
        });
        let mut failed = Vec::new();
        match a {
            Action::DeployBatch(ids) | Action::AllowTraffic(ids) | Action::BlockTraffic(ids) => {
                for id in ids {
                    let bad = self.fail_instances.contains(id);
                    let i = self.obs.instances.iter_mut().find(|i| &i.id == id).expect("the strategy named a known instance");
                    match a {
                        Action::DeployBatch(_) => {
                            i.healthy = !bad;
                            if !bad {
                                i.revision = "v2".into();
                            }
                        }
                        Action::AllowTraffic(_) if !bad => i.in_service = true,
                        Action::BlockTraffic(_) if !bad => i.in_service = false,
                        _ => {}
                    }
                    if bad {
                        failed.push(id.clone());
                    }
                }
                self.obs.elapsed_ms += 1000;
            }
            Action::ShiftTraffic(p) => {
                self.obs.traffic_to_target = *p;
                self.obs.elapsed_ms += 5;
            }
            Action::Wait(ms) => self.obs.elapsed_ms += ms,
            Action::RunHook(h) => {
                if self.fail_hooks.contains(h) {
                    failed.push(h.clone());
                }
                self.obs.elapsed_ms += 100;
            }
            Action::Succeed | Action::RollBack(_) => {}
        }
        self.obs.last_action = Some(if failed.is_empty() { Ok(()) } else { Err(format!("failed: {}", failed.join(", "))) });
        if let Some(at) = self.alarm_at {
            self.obs.alarms[0].firing = self.obs.elapsed_ms >= at;
        }
    }

    /// Runs the session to its end; the final action.
    async fn run(&mut self, s: &mut StrategySession) -> Action {
        for _ in 0..500 {
            let a = s.next(&self.obs).await.unwrap_or_else(|e| panic!("{e}"));
            self.apply(&a);
            if a.is_final() {
                return a;
            }
        }
        panic!("no end after 500 calls: {:?}", self.script);
    }
}

#[tokio::test]
async fn every_builtin_strategy_is_a_deploy_strategy_with_a_schema() {
    for name in builtin::STRATEGIES {
        assert!(builtin::NAMES.contains(name));
        let s = strategy(name);
        assert_eq!(s.name(), *name);
        assert_eq!(s.manifest.world, kiln_host::World::DeployStrategy);
        assert!(s.manifest.config_schema.is_some(), "{name}");
        // A strategy is not a step, and a step is not a strategy.
        let e = common::host().load(builtin::get(name).unwrap()).unwrap_err();
        assert!(matches!(e, PluginError::UnsupportedWorld { .. }), "{e}");
    }
    let e = common::host().load_strategy(builtin::get("hello-step").unwrap()).unwrap_err();
    assert_eq!(e.to_string(), "plugin hello-step: is a `step` plugin, which cannot run here");
}

#[tokio::test]
async fn in_place_one_at_a_time_deploys_each_instance_in_turn() {
    let mut s = strategy("codedeploy-in-place").start(json!({"deploymentConfigName": "CodeDeployDefault.OneAtATime"})).await.unwrap();
    let mut e = Engine::in_place(3);
    assert_eq!(e.run(&mut s).await, Action::Succeed);
    assert_eq!(e.script, ["deploy-batch [i1]", "deploy-batch [i2]", "deploy-batch [i3]", "succeed"]);
    assert_eq!(s.calls(), 4);
    assert!(s.is_over());
    // Over: asking again is an error, not a second deployment.
    let err = s.next(&e.obs).await.unwrap_err();
    assert!(matches!(err, StrategyError::Ended { .. }) && err.to_string().contains("the strategy answered succeed"), "{err}");
}

#[tokio::test]
async fn in_place_half_at_a_time_and_a_failing_validate_service() {
    let mut s = strategy("codedeploy-in-place").start(json!({"deploymentConfigName": "CodeDeployDefault.HalfAtATime"})).await.unwrap();
    let mut e = Engine::in_place(5);
    assert_eq!(e.run(&mut s).await, Action::Succeed);
    assert_eq!(e.script, ["deploy-batch [i1, i2]", "deploy-batch [i3, i4]", "deploy-batch [i5]", "succeed"]);
    // OneAtATime with the second of three failing: roll back, saying why.
    let mut s = strategy("codedeploy-in-place").start(json!({})).await.unwrap();
    let mut e = Engine::in_place(3);
    e.fail_instances = vec!["i2".into()];
    let end = e.run(&mut s).await;
    assert!(matches!(&end, Action::RollBack(m) if m.contains("CodeDeployDefault.OneAtATime") && m.contains("HEALTH_CONSTRAINTS") && m.contains("failed: i2")), "{end:?}");
    assert_eq!(e.script[..2], ["deploy-batch [i1]", "deploy-batch [i2]"]);
}

#[tokio::test]
async fn lambda_canary_is_rolled_back_when_the_alarm_fires() {
    // Canary 10 % for 5 "minutes" of 20 ms; the alarm fires 30 ms into the canary.
    let mut s = strategy("codedeploy-traffic-shift").start(json!({"deploymentConfigName": "CodeDeployDefault.LambdaCanary10Percent5Minutes", "minuteMs": 20})).await.unwrap();
    let mut clean = Engine::traffic(ComputePlatform::Lambda);
    assert_eq!(clean.run(&mut s).await, Action::Succeed);
    assert_eq!(clean.script, ["deploy-batch [green]", "run-hook BeforeAllowTraffic", "shift-traffic 10%", "wait", "shift-traffic 100%", "run-hook AfterAllowTraffic", "succeed"]);

    let mut s = strategy("codedeploy-traffic-shift").start(json!({"deploymentConfigName": "CodeDeployDefault.LambdaCanary10Percent5Minutes", "minuteMs": 20})).await.unwrap();
    let mut e = Engine::traffic(ComputePlatform::Lambda);
    for _ in 0..3 {
        let a = s.next(&e.obs).await.unwrap();
        e.apply(&a);
    }
    assert_eq!(e.obs.traffic_to_target, 10);
    assert_eq!(s.next(&e.obs).await.unwrap(), Action::Wait(100), "the canary's five minutes");
    // The engine calls early, when the alarm changes state.
    e.obs.elapsed_ms += 30;
    e.obs.alarms[0].firing = true;
    let a = s.next(&e.obs).await.unwrap();
    assert!(matches!(&a, Action::RollBack(m) if m.contains("alarm 5xx-rate is in ALARM")), "{a:?}");
}

#[tokio::test]
async fn ecs_linear_with_a_failing_hook_rolls_back() {
    let config = json!({"deploymentConfigName": "CodeDeployDefault.ECSLinear10PercentEvery1Minutes", "minuteMs": 1});
    let mut s = strategy("codedeploy-traffic-shift").start(config.clone()).await.unwrap();
    let mut e = Engine::traffic(ComputePlatform::Ecs);
    assert_eq!(e.run(&mut s).await, Action::Succeed);
    let shifts: Vec<&String> = e.script.iter().filter(|l| l.starts_with("shift")).collect();
    assert_eq!(shifts.len(), 10);
    assert_eq!(e.script[..6], ["run-hook BeforeInstall", "deploy-batch [green]", "run-hook AfterInstall", "run-hook AllowTestTraffic", "run-hook AfterAllowTestTraffic", "run-hook BeforeAllowTraffic"]);

    // AfterAllowTestTraffic fails (the validation against test traffic): no production traffic moved.
    let mut s = strategy("codedeploy-traffic-shift").start(config).await.unwrap();
    let mut e = Engine::traffic(ComputePlatform::Ecs);
    e.fail_hooks = vec!["AfterAllowTestTraffic".into()];
    let end = e.run(&mut s).await;
    assert!(matches!(&end, Action::RollBack(m) if m.contains("lifecycle event AfterAllowTestTraffic failed: failed: AfterAllowTestTraffic")), "{end:?}");
    assert_eq!(e.obs.traffic_to_target, 0);
}

#[tokio::test]
async fn blue_green_reroutes_deregisters_and_waits_for_termination() {
    let config = json!({
        "deploymentConfigName": "CodeDeployDefault.HalfAtATime",
        "terminateBlueInstancesOnDeploymentSuccess": {"action": "TERMINATE", "terminationWaitTimeInMinutes": 2},
        "minuteMs": 10,
    });
    let mut s = strategy("codedeploy-blue-green").start(config.clone()).await.unwrap();
    let mut e = Engine::blue_green(4);
    assert_eq!(e.run(&mut s).await, Action::Succeed);
    assert_eq!(
        e.script,
        [
            "deploy-batch [green1, green2]",
            "deploy-batch [green3, green4]",
            "allow-traffic [green1, green2]",
            "allow-traffic [green3, green4]",
            "block-traffic [blue1, blue2, blue3, blue4]",
            "wait",
            "succeed"
        ]
    );
    // An alarm during the termination wait: the originals still exist, so roll back.
    let mut s = strategy("codedeploy-blue-green").start(config).await.unwrap();
    let mut e = Engine::blue_green(4);
    e.alarm_at = Some(5001);
    let end = e.run(&mut s).await;
    assert!(matches!(&end, Action::RollBack(m) if m.contains("5xx-rate")), "{end:?}");
    assert_eq!(e.script[e.script.len() - 2..], ["wait", "roll-back: alarm 5xx-rate is in ALARM: the deployment is stopped (CodeDeploy's DEPLOYMENT_STOP_ON_ALARM)"]);
}

#[tokio::test]
async fn configs_are_checked_by_the_schema_then_by_the_strategy() {
    // The manifest's schema, before anything runs.
    let e = strategy("codedeploy-in-place").start(json!({"minimumHealthyHosts": {"type": "HOST_COUNT", "value": -1}})).await.unwrap_err();
    assert!(matches!(e, StrategyError::Plugin(PluginError::InvalidConfig { .. })), "{e}");
    assert!(e.to_string().contains("plugin codedeploy-in-place: invalid config"), "{e}");
    let e = strategy("codedeploy-traffic-shift").start(json!({"trafficRoutingConfig": {"type": "Linear"}})).await.unwrap_err();
    assert!(e.to_string().contains("trafficRoutingConfig.type"), "{e}");
    // The strategy's own checks: the first answer is a roll-back that says what is wrong, before
    // anything was touched.
    let mut s = strategy("codedeploy-in-place").start(json!({"deploymentConfigName": "CodeDeployDefault.ECSAllAtOnce"})).await.unwrap();
    let a = s.next(&Engine::in_place(2).obs).await.unwrap();
    assert_eq!(a, Action::RollBack("invalid config: deploymentConfigName: `CodeDeployDefault.ECSAllAtOnce` is an ECS configuration; the in-place strategy deploys to EC2/on-premises instances".into()));
    // A Lambda configuration on an ECS deployment.
    let mut s = strategy("codedeploy-traffic-shift").start(json!({"deploymentConfigName": "CodeDeployDefault.LambdaAllAtOnce"})).await.unwrap();
    let a = s.next(&Engine::traffic(ComputePlatform::Ecs).obs).await.unwrap();
    assert!(matches!(&a, Action::RollBack(m) if m.contains("is a Lambda configuration; this is an ECS deployment")), "{a:?}");
}

#[tokio::test]
async fn a_builtin_loads_from_bytes_with_a_pinned_digest_and_sessions_are_independent() {
    let bytes = match builtin::get("codedeploy-in-place").unwrap() {
        PluginSource::Bytes { bytes, .. } => bytes,
        other => panic!("{other:?}"),
    };
    let sha = kiln_host::sha256_hex(&bytes);
    let s = common::host().load_strategy(PluginSource::bytes("x", bytes.clone()).pinned(&sha)).unwrap();
    assert_eq!(s.sha256, sha);
    let e = common::host().load_strategy(PluginSource::bytes("x", bytes).pinned(&"0".repeat(64))).unwrap_err();
    assert!(matches!(e, PluginError::DigestMismatch { .. }));
    // Two deployments at once, each in its own store.
    let mut a = s.start(json!({})).await.unwrap();
    let mut b = s.start(json!({"deploymentConfigName": "CodeDeployDefault.AllAtOnce"})).await.unwrap();
    let (ea, eb) = (Engine::in_place(3), Engine::in_place(3));
    assert_eq!(a.next(&ea.obs).await.unwrap(), Action::DeployBatch(vec!["i1".into()]));
    assert_eq!(b.next(&eb.obs).await.unwrap(), Action::DeployBatch(vec!["i1".into(), "i2".into(), "i3".into()]));
    assert!(a.peak_memory() > 0 && a.peak_memory() <= 16 << 20, "{}", a.peak_memory());
}
