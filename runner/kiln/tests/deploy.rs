//! `kiln deploy` through the binary, on real loopback traffic: python3 web services as the
//! instances (in kiln's sandbox) behind kiln's router, a bounded load generator in the test
//! counting every answer. Each test is one of issue 14's: in-place under load losing nothing, a
//! ValidateService failure on the third instance, a linear shift whose hook times out, a
//! blue/green whose AfterAllowTraffic fails, a strategy plugin that traps, minimum healthy hosts
//! that cannot be met, and the bundled canary example (a bad release caught by its alarm).

mod deploy_fx;

use std::time::{Duration, Instant};

use deploy_fx::*;
use serde_json::Value;

const IN_PLACE: &str = "applicationName: web\ndeploymentGroupName: prod\ndeploymentConfigName: CodeDeployDefault.OneAtATime\ndeploymentStyle: {deploymentType: IN_PLACE, deploymentOption: WITH_TRAFFIC_CONTROL}\nautoRollbackConfiguration: {enabled: true, events: [DEPLOYMENT_FAILURE]}\n";

fn skip() -> bool {
    if python().is_none() {
        eprintln!("SKIPPED: python3 is not installed (the instances are python3 web services)");
        return true;
    }
    false
}

fn status(v: &Value) -> &str {
    v["status"].as_str().unwrap_or("?")
}

fn targets(v: &Value) -> Vec<(String, String)> {
    v["deploymentTargets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            let core = t.get("instanceTarget").or(t.get("ecsTarget")).or(t.get("lambdaTarget")).unwrap();
            (core["targetId"].as_str().unwrap().to_string(), core["status"].as_str().unwrap().to_string())
        })
        .collect()
}

/// The lifecycle event `event` of target `id`.
fn event<'a>(v: &'a Value, id: &str, event: &str) -> &'a Value {
    v["deploymentTargets"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|t| t.get("instanceTarget").or(t.get("ecsTarget")))
        .find(|c| c["targetId"] == id)
        .and_then(|c| c["lifecycleEvents"].as_array().unwrap().iter().find(|e| e["lifecycleEventName"] == event))
        .unwrap_or_else(|| panic!("no {event} on {id} in {v:#}"))
}

#[test]
fn in_place_all_at_once_then_one_at_a_time_under_load_loses_no_request() {
    if skip() {
        return;
    }
    let fx = Fx::new();
    let appspec = server_appspec(&[("ValidateService", "validate.sh", 30)]);
    let validate = "#!/bin/sh\nset -e\ntest -f \"$KILN_INSTANCE_ROOT/srv/web/server.py\"\necho \"$LIFECYCLE_EVENT on $KILN_INSTANCE_ID for $DEPLOYMENT_ID ($APPLICATION_NAME/$DEPLOYMENT_GROUP_NAME)\"\n";
    let v1 = fx.revision("v1", &appspec, false, &[("validate.sh", validate)]);
    let v2 = fx.revision("v2", &appspec, false, &[("validate.sh", validate)]);
    let group = fx.group(IN_PLACE, false, "", &["web-1", "web-2", "web-3"]);

    let out = fx.deploy(&v1, &group, 1.0, &["--config", "CodeDeployDefault.AllAtOnce"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let d = &outcome(&out)[0];
    assert_eq!((status(d), d["deploymentConfigName"].as_str()), ("Succeeded", Some("CodeDeployDefault.AllAtOnce")));
    assert!(targets(d).iter().all(|(_, s)| s == "Succeeded"), "{:?}", targets(d));
    // The hook ran in the instance's sandbox with CodeDeploy's variables, and its output is live.
    let err = stderr(&out);
    assert!(err.contains(&format!("ValidateService on web-2 for {} (web/prod)", d["deploymentId"].as_str().unwrap())), "{err}");
    assert!(d["description"].as_str().unwrap_or_default().contains("--allow-unverified"), "the record says the revision was not verified: {d:#}");

    let load = Load::start(fx.router(), 4);
    let out = fx.deploy(&v2, &group, 1.0, &[]);
    let answers = load.finish();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let d = &outcome(&out)[0];
    assert_eq!(status(d), "Succeeded");
    let failed: usize = answers.iter().map(Answers::failed_while_serving).sum();
    let (old, new): (usize, usize) = (answers.iter().map(|a| a.count(200, "v1")).sum(), answers.iter().map(|a| a.count(200, "v2")).sum());
    eprintln!("OneAtATime under load: {old} answers from v1, {new} from v2, {failed} failed");
    assert_eq!(failed, 0, "a request failed while the router served: {:?}\n{}", answers.iter().flat_map(Answers::failures_while_serving).collect::<Vec<_>>(), stderr(&out));
    assert!(old > 0 && new > 0, "the load generator saw both releases: v1 {old}, v2 {new}");
    // `kiln deploy list` and `status` read the records.
    let list = fx.kiln().args(["deploy", "list", "--dir"]).arg(&fx.proj).output().unwrap();
    let text = String::from_utf8_lossy(&list.stdout);
    assert_eq!(text.lines().filter(|l| l.contains("Succeeded")).count(), 2, "{text}");
    let st = fx.kiln().args(["deploy", "status", d["deploymentId"].as_str().unwrap(), "--dir"]).arg(&fx.proj).output().unwrap();
    let text = String::from_utf8_lossy(&st.stdout);
    assert!(text.contains("Succeeded") && text.contains("web-3 Succeeded") && text.contains("ValidateService:Succeeded"), "{text}");
}

#[test]
fn one_at_a_time_stops_when_validate_service_fails_on_the_third_instance_and_rolls_back() {
    if skip() {
        return;
    }
    let fx = Fx::new();
    let v1 = fx.revision("v1", &server_appspec(&[]), false, &[]);
    let validate = "#!/bin/sh\nif [ \"$KILN_INSTANCE_ID\" = web-3 ]; then echo \"web-3 answers wrong\" >&2; exit 3; fi\necho fine\n";
    let v2 = fx.revision("v2", &server_appspec(&[("ValidateService", "validate.sh", 30)]), false, &[("validate.sh", validate)]);
    let group = fx.group(IN_PLACE, false, "", &["web-1", "web-2", "web-3", "web-4"]);
    assert_eq!(fx.deploy(&v1, &group, 1.0, &["--config", "CodeDeployDefault.AllAtOnce"]).status.code(), Some(0));

    let out = fx.deploy(&v2, &group, 1.0, &[]);
    assert_eq!(out.status.code(), Some(1), "a failed deployment exits 1: {}", stderr(&out));
    let all = outcome(&out);
    let (d, rb) = (&all[0], &all[1]);
    assert_eq!(status(d), "Failed");
    assert_eq!(d["errorInformation"]["code"], "HEALTH_CONSTRAINTS", "{:#}", d["errorInformation"]);
    assert!(d["errorInformation"]["message"].as_str().unwrap().contains("failed: web-3"), "{:#}", d["errorInformation"]);
    let t: std::collections::BTreeMap<String, String> = targets(d).into_iter().collect();
    assert_eq!((t["web-1"].as_str(), t["web-2"].as_str(), t["web-3"].as_str()), ("Succeeded", "Succeeded", "Failed"), "{t:?}");
    assert_ne!(t["web-4"], "Succeeded", "OneAtATime never reached web-4: {t:?}");
    let e = event(d, "web-3", "ValidateService");
    assert_eq!(e["status"], "Failed");
    assert_eq!(e["diagnostics"]["errorCode"], "ScriptFailed", "{e:#}");
    assert!(e["diagnostics"]["logTail"].as_str().unwrap().contains("web-3 answers wrong"), "{e:#}");
    // Automatic rollback: a new deployment of v1 by CodeDeploy's rollback creator.
    assert_eq!((status(rb), rb["creator"].as_str()), ("Succeeded", Some("codeDeployRollback")));
    assert_eq!(rb["revision"]["localRevision"]["name"], "rev-v1");
    assert_eq!(d["rollbackInfo"]["rollbackDeploymentId"], rb["deploymentId"]);
    // Both ended in signed attestations (an ephemeral key without --key, its public half beside).
    for id in [&d["deploymentId"], &rb["deploymentId"]] {
        let dir = fx.proj.join(".kiln/deployments").join(id.as_str().unwrap());
        assert!(dir.join("attestation.intoto.jsonl").is_file() && dir.join("attestation.pub").is_file());
    }
}

#[test]
fn a_linear_shift_whose_hook_times_out_is_rolled_back_with_traffic_first() {
    if skip() {
        return;
    }
    let fx = Fx::new();
    let head = "applicationName: shop\ndeploymentGroupName: ecs\ncomputePlatform: ECS\ndeploymentConfigName: CodeDeployDefault.ECSLinear10PercentEvery1Minutes\nautoRollbackConfiguration: {enabled: true, events: [DEPLOYMENT_FAILURE]}\n";
    let group = fx.group(head, true, "functions: {slow: {command: [sleep, '60'], timeout: 2}}", &["task-1"]);
    let v1 = fx.revision("v1", &ecs_appspec(&[]), true, &[]);
    let v2 = fx.revision("v2", &ecs_appspec(&[("AfterAllowTraffic", "slow")]), true, &[]);
    // 10 steps of one minute: 0.6 s at 1/1000.
    assert_eq!(fx.deploy(&v1, &group, 0.001, &[]).status.code(), Some(0));
    let started = Instant::now();
    let out = fx.deploy(&v2, &group, 0.001, &[]);
    assert!(started.elapsed() < Duration::from_secs(40), "the hook's 2 s timeout bounded it: {:?}", started.elapsed());
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let all = outcome(&out);
    let d = &all[0];
    assert_eq!(status(d), "Failed");
    let e = event(d, "ecs:TargetService", "AfterAllowTraffic");
    assert_eq!(e["diagnostics"]["errorCode"], "ScriptTimedOut", "{e:#}");
    // Linear: ten steps of 10 %, then traffic back to the original task set.
    let history: Vec<u64> = d["kiln"]["traffic"]["history"].as_array().unwrap().iter().map(|c| c["weights"]["replacement"].as_u64().unwrap()).collect();
    assert!(history.starts_with(&[10, 20, 30]) && history.contains(&100), "{history:?}");
    assert_eq!(history.last(), Some(&0), "traffic went back first: {history:?}");
    assert_eq!(status(&all[1]), "Succeeded");
}

#[test]
fn a_blue_green_deployment_whose_after_allow_traffic_fails_goes_back_to_blue_without_losing_a_request() {
    if skip() {
        return;
    }
    let fx = Fx::new();
    let head = "applicationName: web\ndeploymentGroupName: bg\ndeploymentConfigName: CodeDeployDefault.AllAtOnce\ndeploymentStyle: {deploymentType: BLUE_GREEN, deploymentOption: WITH_TRAFFIC_CONTROL}\nblueGreenDeploymentConfiguration:\n  terminateBlueInstancesOnDeploymentSuccess: {action: TERMINATE, terminationWaitTimeInMinutes: 0}\n  greenFleetProvisioningOption: {action: COPY_AUTO_SCALING_GROUP}\nautoRollbackConfiguration: {enabled: true, events: [DEPLOYMENT_FAILURE]}\n";
    let group = fx.group(head, false, "", &["blue-1", "blue-2"]);
    let v1 = fx.revision("v1", &server_appspec(&[]), false, &[]);
    let after = "#!/bin/sh\nsleep 1\necho \"the smoke test after traffic failed on $KILN_INSTANCE_ID\" >&2\nexit 1\n";
    let v2 = fx.revision("v2", &server_appspec(&[("AfterAllowTraffic", "after.sh", 30)]), false, &[("after.sh", after)]);
    let out = fx.deploy(&v1, &group, 1.0, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));

    let load = Load::start(fx.router(), 4);
    let out = fx.deploy(&v2, &group, 1.0, &[]);
    let answers = load.finish();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let all = outcome(&out);
    let d = &all[0];
    assert_eq!(status(d), "Failed", "{:#}", d["errorInformation"]);
    assert!(d["errorInformation"]["message"].as_str().unwrap().contains("AfterAllowTraffic"), "{:#}", d["errorInformation"]);
    assert_eq!(d["kiln"]["traffic"]["current"]["original"], 100, "traffic is back on blue: {:#}", d["kiln"]["traffic"]);
    assert_eq!(status(&all[1]), "Succeeded");
    let failed: usize = answers.iter().map(Answers::failed_while_serving).sum();
    let (old, new): (usize, usize) = (answers.iter().map(|a| a.count(200, "v1")).sum(), answers.iter().map(|a| a.count(200, "v2")).sum());
    eprintln!("blue/green with a failing AfterAllowTraffic under load: v1 {old}, v2 {new}, failed {failed}");
    assert_eq!(failed, 0, "{:?}\n{}", answers.iter().flat_map(Answers::failures_while_serving).collect::<Vec<_>>(), stderr(&out));
    assert!(old > 0 && new > 0, "green served before the hook failed, blue before and after: v1 {old}, v2 {new}");
}

/// After a blue/green deployment, the next one's BlockTraffic hooks on the (restored) original
/// instances run the scripts of the revision they serve, the last successful one, not of the
/// revision those instance ids had installed before the blue/green deployment.
#[test]
fn after_a_blue_green_deployment_the_next_one_runs_the_served_revisions_block_traffic_scripts() {
    if skip() {
        return;
    }
    let fx = Fx::new();
    let head = "applicationName: web\ndeploymentGroupName: bg\ndeploymentConfigName: CodeDeployDefault.AllAtOnce\ndeploymentStyle: {deploymentType: BLUE_GREEN, deploymentOption: WITH_TRAFFIC_CONTROL}\nblueGreenDeploymentConfiguration:\n  terminateBlueInstancesOnDeploymentSuccess: {action: TERMINATE, terminationWaitTimeInMinutes: 0}\n  greenFleetProvisioningOption: {action: COPY_AUTO_SCALING_GROUP}\n";
    let group = fx.group(head, false, "", &["blue-1"]);
    let rev = |v: &str| {
        let script = format!("#!/bin/sh\necho \"blocking traffic with the scripts of {v}\"\n");
        fx.revision(v, &server_appspec(&[("BeforeBlockTraffic", "block.sh", 30)]), false, &[("block.sh", &script)])
    };
    for v in ["v1", "v2"] {
        let out = fx.deploy(&rev(v), &group, 1.0, &[]);
        assert_eq!(out.status.code(), Some(0), "{v}: {}", stderr(&out));
    }
    let out = fx.deploy(&rev("v3"), &group, 1.0, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("blocking traffic with the scripts of v2"), "{err}");
    assert!(!err.contains("blocking traffic with the scripts of v1"), "the scripts of a revision blue-1 no longer served ran:\n{err}");
}

#[test]
fn a_strategy_plugin_that_traps_ends_in_an_automatic_rollback_with_the_reason() {
    if skip() {
        return;
    }
    let fx = Fx::new();
    std::fs::write(fx.tmp.path().join("hostile.wasm"), kiln_host::builtin::test_components::TEST_HOSTILE_STRATEGY).unwrap();
    // No automatic rollback configured: a strategy fault rolls back anyway.
    let head = "applicationName: web\ndeploymentGroupName: prod\ncustomDeploymentConfigs:\n  - deploymentConfigName: Hostile\n    minimumHealthyHosts: {type: HOST_COUNT, value: 0}\n    kilnStrategy: {uses: ./hostile.wasm, with: {attack: trap}}\ndeploymentConfigName: CodeDeployDefault.AllAtOnce\ndeploymentStyle: {deploymentType: IN_PLACE, deploymentOption: WITH_TRAFFIC_CONTROL}\n";
    let group = fx.group(head, false, "", &["web-1", "web-2"]);
    let v1 = fx.revision("v1", &server_appspec(&[]), false, &[]);
    let v2 = fx.revision("v2", &server_appspec(&[]), false, &[]);
    assert_eq!(fx.deploy(&v1, &group, 1.0, &[]).status.code(), Some(0));
    let out = fx.deploy(&v2, &group, 1.0, &["--config", "Hostile"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let all = outcome(&out);
    let d = &all[0];
    assert_eq!(status(d), "Failed");
    let msg = d["errorInformation"]["message"].as_str().unwrap();
    assert!(msg.contains("strateg") && (msg.contains("trap") || msg.contains("unreachable") || msg.contains("panic")), "{msg}");
    assert!(d["kiln"]["strategy"]["sha256"].as_str().is_some_and(|s| s.len() == 64), "the record names the plugin's digest: {:#}", d["kiln"]["strategy"]);
}

#[test]
fn minimum_healthy_hosts_that_cannot_be_met_change_nothing() {
    if skip() {
        return;
    }
    let fx = Fx::new();
    let head = format!("{IN_PLACE}customDeploymentConfigs:\n  - deploymentConfigName: AllHealthy\n    minimumHealthyHosts: {{type: HOST_COUNT, value: 3}}\n");
    let group = fx.group(&head, false, "", &["web-1", "web-2", "web-3"]);
    let v1 = fx.revision("v1", &server_appspec(&[]), false, &[]);
    let out = fx.deploy(&v1, &group, 1.0, &["--config", "AllHealthy"]);
    // Known before anything starts (the group file names the fleet): refused, exit 2, with what
    // to do; no record, no instance touched.
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("the minimum of 3 healthy instances can never be met") && err.contains("HEALTH_CONSTRAINTS_INVALID") && err.contains("help:"), "{err}");
    assert!(fx.deployment_ids().is_empty(), "{:?}", fx.deployment_ids());
}

#[test]
fn the_bundled_canary_example_catches_the_bad_release_and_rolls_back() {
    if skip() {
        return;
    }
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/deploy-canary/run.sh");
    let fx = Fx::new();
    let mut c = std::process::Command::new("bash");
    c.arg(&script).env("KILN", env!("CARGO_BIN_EXE_kiln")).env("PORT", fx.port.to_string()).env("XDG_CACHE_HOME", std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("deploy-xdg-cache"));
    let out = run_bounded(c, Duration::from_secs(300));
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}\n{}", stderr(&out));
    assert!(text.contains("Stopped") && text.contains("codeDeployRollback"), "{text}");
    assert!(stderr(&out).contains("alarm canary-5xx: Alarm"), "{}", stderr(&out));
    // The load generator saw the bad release (the canary's tenth) and the good one.
    let count = |what: &str| text.lines().find(|l| l.trim_end().ends_with(what)).and_then(|l| l.split_whitespace().next()?.parse::<u64>().ok()).unwrap_or(0);
    assert!(count("500 v2-bad") >= 20 && count("200 v1") > count("500 v2-bad"), "{text}");
}

#[test]
fn an_alarm_on_a_number_the_instances_report_catches_a_bad_canary_without_any_traffic() {
    if skip() {
        return;
    }
    let fx = Fx::new();
    // The service answers GET /metrics with `app_errors 1` when its release is bad, 0 otherwise.
    let head = "applicationName: shop\ndeploymentGroupName: ecs\ncomputePlatform: ECS\ndeploymentConfigName: CodeDeployDefault.ECSCanary10Percent5Minutes\nalarmConfiguration:\n  enabled: true\n  alarms:\n    - {name: app-errors, metric: instance.app_errors, statistic: Maximum, period: 60, evaluationPeriods: 1, comparisonOperator: GreaterThanOrEqualToThreshold, threshold: 1, treatMissingData: notBreaching}\nautoRollbackConfiguration: {enabled: true, events: [DEPLOYMENT_STOP_ON_ALARM]}\n";
    let group = fx.group(head, true, "metrics: {path: /metrics, interval-ms: 50}", &["task-1"]);
    let v1 = fx.revision("v1", &ecs_appspec(&[]), true, &[]);
    let v2 = fx.revision("v2-bad", &ecs_appspec(&[]), true, &[]);
    assert_eq!(fx.deploy(&v1, &group, 0.01, &[]).status.code(), Some(0));
    let out = fx.deploy(&v2, &group, 0.1, &[]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let all = outcome(&out);
    assert_eq!((all[0]["status"].as_str(), all[0]["errorInformation"]["code"].as_str()), (Some("Stopped"), Some("ALARM_ACTIVE")), "{:#}", all[0]["errorInformation"]);
    assert!(all[0]["errorInformation"]["message"].as_str().unwrap().contains("app-errors"));
    assert_eq!(all[1]["status"], "Succeeded");
    // A metric name that cannot be an instance's is refused before anything changes.
    let bad = head.replace("instance.app_errors", "instance.app errors");
    let group = fx.group(&bad, true, "metrics: {path: /metrics, interval-ms: 50}", &["task-1"]);
    let out = fx.deploy(&v2, &group, 0.1, &[]);
    assert_ne!(out.status.code(), Some(0), "{}", stderr(&out));
}

#[test]
fn an_alarm_on_a_number_a_hook_reports_stops_an_in_place_deployment() {
    if skip() {
        return;
    }
    let fx = Fx::new();
    let head = format!("{IN_PLACE}alarmConfiguration:\n  enabled: true\n  alarms:\n    - {{name: smoke, metric: hook.smoke_failures, statistic: Maximum, period: 60, evaluationPeriods: 1, comparisonOperator: GreaterThanOrEqualToThreshold, threshold: 1, treatMissingData: notBreaching}}\n");
    let head = head.replace("events: [DEPLOYMENT_FAILURE]", "events: [DEPLOYMENT_FAILURE, DEPLOYMENT_STOP_ON_ALARM]");
    let group = fx.group(&head, false, "", &["web-1", "web-2", "web-3"]);
    let smoke = |failures: u32| format!("#!/bin/sh\necho \"smoke test on $KILN_INSTANCE_ID\"\necho \"kiln-metric smoke_failures {failures}\"\nsleep 1\n");
    let v1 = fx.revision("v1", &server_appspec(&[("ValidateService", "smoke.sh", 30)]), false, &[("smoke.sh", &smoke(0))]);
    let v2 = fx.revision("v2", &server_appspec(&[("ValidateService", "smoke.sh", 30)]), false, &[("smoke.sh", &smoke(2))]);
    let out = fx.deploy(&v1, &group, 0.01, &["--config", "CodeDeployDefault.AllAtOnce"]);
    assert_eq!(out.status.code(), Some(0), "a hook reporting 0 does not trip the alarm: {}", stderr(&out));
    let out = fx.deploy(&v2, &group, 0.01, &[]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let all = outcome(&out);
    assert_eq!((all[0]["status"].as_str(), all[0]["errorInformation"]["code"].as_str()), (Some("Stopped"), Some("ALARM_ACTIVE")), "{:#}", all[0]["errorInformation"]);
    let t: std::collections::BTreeMap<String, String> = targets(&all[0]).into_iter().collect();
    assert_ne!(t["web-3"], "Succeeded", "OneAtATime stopped before the last instance: {t:?}");
    assert_eq!(all[1]["status"], "Succeeded");
}

#[test]
fn a_healthy_ecs_canary_under_load_shifts_every_request_without_a_failure() {
    if skip() {
        return;
    }
    let fx = Fx::new();
    let head = "applicationName: shop\ndeploymentGroupName: ecs\ncomputePlatform: ECS\ndeploymentConfigName: CodeDeployDefault.ECSCanary10Percent5Minutes\nautoRollbackConfiguration: {enabled: true, events: [DEPLOYMENT_FAILURE]}\n";
    let group = fx.group(head, true, "", &["task-1", "task-2"]);
    let v1 = fx.revision("v1", &ecs_appspec(&[]), true, &[]);
    let v2 = fx.revision("v2", &ecs_appspec(&[]), true, &[]);
    assert_eq!(fx.deploy(&v1, &group, 0.001, &[]).status.code(), Some(0));
    let load = Load::start(fx.router(), 4);
    // 5 minutes of canary at 1/200: 1.5 s at 10 %.
    let out = fx.deploy(&v2, &group, 0.005, &[]);
    let answers = load.finish();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let failed: Vec<String> = answers.iter().flat_map(Answers::failures_while_serving).collect();
    let (old, new): (usize, usize) = (answers.iter().map(|a| a.count(200, "v1")).sum(), answers.iter().map(|a| a.count(200, "v2")).sum());
    eprintln!("healthy ECS canary under load: v1 {old}, v2 {new}, failed {}", failed.len());
    assert!(failed.is_empty(), "{failed:?}\n{}", stderr(&out));
    assert!(old > 0 && new > 0, "v1 {old}, v2 {new}");
    let history: Vec<u64> = outcome(&out)[0]["kiln"]["traffic"]["history"].as_array().unwrap().iter().map(|c| c["weights"]["replacement"].as_u64().unwrap()).collect();
    assert!(history.starts_with(&[10, 100]), "{history:?}");
}
