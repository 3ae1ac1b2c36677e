//! Running lifecycle events: the hookable ones run the appspec's scripts (EC2/on-premises) or hook
//! function (ECS, Lambda) through the driver; the reserved ones are the engine's own work
//! (DownloadBundle, Install, BlockTraffic, AllowTraffic, AllowTestTraffic).
//!
//! **Whose scripts.** ApplicationStop, BeforeBlockTraffic and AfterBlockTraffic run the scripts of
//! the revision whose Install last succeeded on the instance (the agent's
//! `<dg-id>_last_successful_install`; nothing runs when there is none, "ApplicationStop … does not
//! run the first time"); every other event runs the deployment's own revision. In the rollback of a
//! blue/green deployment the agents switch: the BlockTraffic hooks (on the replacement instances)
//! use the most recent download, the AllowTraffic hooks (on the original instances) the last
//! successful install. When the last successful revision's bundle is gone, the event runs
//! nothing and says so (the Rust agent's behaviour; the Ruby one fails the event).
//!
//! **Failures.** The first script that fails fails the event (its diagnostics: error code, script,
//! the agent's message, the last 2 KB of output in whole lines); the instance's remaining events are
//! Skipped. With `ignoreApplicationStopFailures`, a failure in ApplicationStop, BeforeBlockTraffic or
//! AfterBlockTraffic is recorded and the instance goes on. The engine bounds each script with its
//! `timeout` plus a grace period, in case the driver does not.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kiln_spec::appspec::{Event, Platform, MAX_SCRIPT_TIMEOUT};

use super::plan::Revision;
use super::state::{log_tail, target};
use super::RunCx;
use crate::record::{Diagnostics, LifecycleErrorCode, LifecycleEventStatus, RevisionRef};
use crate::report::Progress;
use crate::target::{env::hook_environment, HookRequest, HookResult, HookSpec, InstallRequest, OutputSink, Stream};

/// Where a hook's scripts come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ScriptSource {
    /// The deployment's revision.
    Current,
    /// The revision whose Install last succeeded on the instance.
    LastInstall,
    /// The revision last downloaded to the instance.
    LastDownload,
}

/// Which revision's scripts `event` runs (see the module doc).
pub(crate) fn script_source(event: Event, blue_green_rollback: bool) -> ScriptSource {
    match event {
        Event::BeforeBlockTraffic | Event::AfterBlockTraffic if blue_green_rollback => ScriptSource::LastDownload,
        Event::BeforeAllowTraffic | Event::AfterAllowTraffic if blue_green_rollback => ScriptSource::LastInstall,
        Event::ApplicationStop | Event::BeforeBlockTraffic | Event::AfterBlockTraffic => ScriptSource::LastInstall,
        _ => ScriptSource::Current,
    }
}

/// Revisions read back from their bundles, by digest (`None`: the bundle is gone or unreadable).
#[derive(Default)]
pub(crate) struct ScriptCache(Mutex<HashMap<String, Option<Arc<Revision>>>>);

impl ScriptCache {
    fn get(&self, r: &RevisionRef) -> Option<Arc<Revision>> {
        let key = format!("{}\0{}", r.sha256, r.bundle);
        let mut m = self.0.lock().unwrap_or_else(|e| e.into_inner());
        m.entry(key).or_insert_with(|| Revision::load(r.clone()).ok().map(Arc::new)).clone()
    }
}

/// What one event did.
type EventResult = Result<Option<Diagnostics>, Diagnostics>;

fn diag(code: LifecycleErrorCode, message: impl Into<String>, script: Option<&str>, log: &str) -> Diagnostics {
    Diagnostics { error_code: code, script_name: script.map(str::to_string), message: message.into(), log_tail: log_tail(log) }
}

/// Run `events` on EC2/on-premises instance `instance` in order, skipping those already
/// Succeeded (a resumed deployment). Whether every event succeeded.
pub(crate) async fn run_instance_events(cx: &RunCx<'_>, instance: &str, events: &[Event]) -> bool {
    for (i, event) in events.iter().enumerate() {
        let status = cx.rec.read(|s| target(&s.info, instance).and_then(|t| t.lifecycle_events.iter().find(|e| e.lifecycle_event_name == event.name())).map(|e| e.status));
        if matches!(status, Some(LifecycleEventStatus::Succeeded | LifecycleEventStatus::Skipped)) {
            continue;
        }
        cx.rec.event(instance, event.name(), LifecycleEventStatus::InProgress, None);
        let result = match event {
            Event::DownloadBundle => download(cx, instance).await,
            Event::Install => install(cx, instance).await,
            Event::BlockTraffic => block(cx, instance).await,
            Event::AllowTraffic => allow(cx, instance).await,
            _ => run_scripts(cx, instance, *event).await,
        };
        let result = match result {
            Ok(d) => match after_event(cx, instance, *event).await {
                Ok(()) => Ok(d),
                Err(e) => Err(e),
            },
            Err(d) => Err(d),
        };
        match result {
            Ok(d) => cx.rec.event(instance, event.name(), LifecycleEventStatus::Succeeded, d),
            Err(d) if cx.ignore_stop_failures && matches!(event, Event::ApplicationStop | Event::BeforeBlockTraffic | Event::AfterBlockTraffic) => {
                let d = Diagnostics { message: format!("{} (ignored: ignoreApplicationStopFailures)", d.message), ..d };
                cx.rec.event(instance, event.name(), LifecycleEventStatus::Failed, Some(d));
            }
            Err(d) => {
                cx.rec.event(instance, event.name(), LifecycleEventStatus::Failed, Some(d));
                for rest in &events[i + 1..] {
                    cx.rec.event(instance, rest.name(), LifecycleEventStatus::Skipped, None);
                }
                return false;
            }
        }
    }
    true
}

/// The service follows the scripts: stopped after ApplicationStop, started after ApplicationStart.
async fn after_event(cx: &RunCx<'_>, instance: &str, event: Event) -> Result<(), Diagnostics> {
    let r = match event {
        Event::ApplicationStop => cx.env.target.stop(instance).await,
        Event::ApplicationStart => cx.env.target.start(instance, &cx.revision.reference).await,
        _ => return Ok(()),
    };
    r.map_err(|e| diag(LifecycleErrorCode::UnknownError, format!("{} the service: {e}", if event == Event::ApplicationStop { "stopping" } else { "starting" }), None, ""))
}

async fn download(cx: &RunCx<'_>, instance: &str) -> EventResult {
    let rev = &cx.revision.reference;
    cx.env.target.download(instance, rev).await.map_err(|e| diag(LifecycleErrorCode::UnknownError, e.message, None, ""))?;
    cx.rec.update_group(|g| g.instances.entry(instance.to_string()).or_default().most_recent_download = Some(rev.clone()));
    Ok(None)
}

async fn install(cx: &RunCx<'_>, instance: &str) -> EventResult {
    let rev = &cx.revision.reference;
    let previous = cx.rec.read(|s| s.group.instances.get(instance).map(|i| i.cleanup.clone()).unwrap_or_default());
    let appspec = match &cx.revision.appspec.platform {
        Platform::Server(s) => Some(s),
        _ => None,
    };
    let request = InstallRequest { instance, revision: rev, appspec, previous_cleanup: &previous, file_exists_behavior: cx.file_exists_behavior, deployment_group_id: &cx.hook.deployment_group_id };
    let result = cx.env.target.install(request).await.map_err(|e| diag(LifecycleErrorCode::UnknownError, e.message, None, ""))?;
    // The agents write the last-successful-install marker right after Install, even if a later
    // event of the deployment fails.
    cx.rec.update_group(|g| {
        let st = g.instances.entry(instance.to_string()).or_default();
        st.cleanup = result.cleanup;
        st.last_successful_install = Some(rev.clone());
    });
    cx.rec.fleet(instance, |f| f.revision = Some(rev.name.clone()));
    Ok(None)
}

async fn block(cx: &RunCx<'_>, instance: &str) -> EventResult {
    let Some(t) = cx.traffic else { return Ok(None) };
    let fail = |e: crate::target::TrafficError| diag(LifecycleErrorCode::UnknownError, format!("taking {instance} out of service: {e}"), None, "");
    // Weights first (the last instance of a set out takes the set to 0 %), then out of service:
    // no request is routed to a set with no instance in service.
    cx.rec.fleet(instance, |f| f.in_service = false);
    super::traffic::rebalance(cx).await.map_err(fail)?;
    t.set_in_service(instance, false).await.map_err(fail)?;
    let ids = [instance.to_string()];
    let drained = t.drain(&ids, cx.env.options.drain_timeout).await.map_err(fail)?;
    Ok((!drained.drained).then(|| diag(LifecycleErrorCode::Success, format!("deregistration delay over: {} request(s) still in flight were cut", drained.cut), None, "")))
}

async fn allow(cx: &RunCx<'_>, instance: &str) -> EventResult {
    let Some(t) = cx.traffic else { return Ok(None) };
    let fail = |e: crate::target::TrafficError| diag(LifecycleErrorCode::UnknownError, format!("putting {instance} in service: {e}"), None, "");
    t.set_in_service(instance, true).await.map_err(fail)?;
    cx.rec.fleet(instance, |f| f.in_service = true);
    super::traffic::rebalance(cx).await.map_err(fail)?;
    Ok(None)
}

/// The revision whose scripts run for `event` on `instance`; `Err` with a note when it is gone.
fn scripts_revision(cx: &RunCx<'_>, instance: &str, event: Event) -> Result<Option<Arc<Revision>>, String> {
    let source = script_source(event, cx.blue_green_rollback);
    let reference = match source {
        ScriptSource::Current => return Ok(Some(cx.revision.clone())),
        ScriptSource::LastInstall => cx.rec.read(|s| s.group.instances.get(instance).and_then(|i| i.last_successful_install.clone())),
        ScriptSource::LastDownload => cx.rec.read(|s| s.group.instances.get(instance).and_then(|i| i.most_recent_download.clone())),
    };
    let Some(reference) = reference else { return Ok(None) };
    if reference.sha256 == cx.revision.reference.sha256 && reference.bundle == cx.revision.reference.bundle {
        return Ok(Some(cx.revision.clone()));
    }
    match cx.scripts.get(&reference) {
        Some(r) => Ok(Some(r)),
        None => Err(format!("the bundle of revision {} ({}) is gone or its appspec is unreadable, so its {event} scripts cannot run", reference.name, reference.bundle)),
    }
}

async fn run_scripts(cx: &RunCx<'_>, instance: &str, event: Event) -> EventResult {
    let revision = match scripts_revision(cx, instance, event) {
        Ok(Some(r)) => r,
        // First deployment: no previous revision, nothing to run.
        Ok(None) => return Ok(None),
        Err(note) => return Ok(Some(diag(LifecycleErrorCode::Success, note, None, ""))),
    };
    let Platform::Server(spec) = &revision.appspec.platform else { return Ok(None) };
    let mut log = String::new();
    for script in spec.scripts(event) {
        let timeout = Duration::from_secs(u64::from(script.timeout_secs()));
        let hook = HookSpec::Script {
            location: script.location.value.trim().to_string(),
            bundle: revision.reference.bundle.clone().into(),
            timeout,
            runas: script.runas.as_ref().map(|r| r.value.clone()),
            sudo: script.sudo.as_ref().is_some_and(|s| s.value),
        };
        let (result, out) = run_hook(cx, instance, instance, event, &revision.reference, hook).await;
        log.push_str(&out);
        if !result.succeeded() {
            return Err(diag(result.code, result.message, Some(script.location.value.trim()), &log));
        }
    }
    Ok(None)
}

/// Run one hook with the engine's backstop deadline; its result and output.
pub(crate) async fn run_hook(cx: &RunCx<'_>, target_id: &str, instance: &str, event: Event, revision: &RevisionRef, hook: HookSpec) -> (HookResult, String) {
    let buffer = Arc::new(Mutex::new(String::new()));
    let reported: Arc<Mutex<Vec<(String, std::time::Instant, f64)>>> = Arc::default();
    let sink: OutputSink = {
        let buffer = buffer.clone();
        let reported = reported.clone();
        let reporter = cx.rec.reporter.clone();
        let (target, ev) = (target_id.to_string(), event.name().to_string());
        Arc::new(move |stream: Stream, line: &str| {
            let mut b = buffer.lock().unwrap_or_else(|e| e.into_inner());
            let tag = if stream == Stream::Stdout { "[stdout]" } else { "[stderr]" };
            b.push_str(tag);
            b.push_str(line);
            b.push('\n');
            if b.len() > 16 * 1024 {
                let cut = b.len() - 8 * 1024;
                let cut = (cut..b.len()).find(|i| b.is_char_boundary(*i)).unwrap_or(b.len());
                b.drain(..cut);
            }
            reporter.progress(&Progress::HookOutput { target: target.clone(), event: ev.clone(), stream, line: line.to_string() });
            if stream == Stream::Stdout
                && let Some((name, value)) = crate::metrics::hook_metric(line)
            {
                let mut r = reported.lock().unwrap_or_else(|e| e.into_inner());
                if r.len() < 10_000 {
                    r.push((name, std::time::Instant::now(), value));
                }
            }
        })
    };
    let timeout = hook.timeout();
    let name = hook.name().to_string();
    let request = HookRequest { instance, event, revision, hook, env: hook_environment(&cx.hook, event), output: sink.clone() };
    let deadline = timeout + cx.env.options.hook_grace;
    let result = match tokio::time::timeout(deadline, cx.env.target.run_hook(request)).await {
        Ok(r) => r,
        Err(_) => HookResult::timed_out(&name, timeout),
    };
    drop(sink);
    cx.watch.record_samples(&std::mem::take(&mut *reported.lock().unwrap_or_else(|e| e.into_inner())));
    let out = buffer.lock().unwrap_or_else(|e| e.into_inner()).clone();
    (result, out)
}

/// Run a deployment-wide hook function (ECS, Lambda) for `event` on target `target_id`.
pub(crate) async fn run_function_hook(cx: &RunCx<'_>, target_id: &str, event: Event) -> Result<(), Diagnostics> {
    let hooks = match &cx.revision.appspec.platform {
        Platform::Ecs(e) => &e.hooks,
        Platform::Lambda(l) => &l.hooks,
        Platform::Server(_) => return Ok(()),
    };
    let Some(h) = kiln_spec::appspec::function_hook(hooks, event) else { return Ok(()) };
    // "If no status arrives within 1 hour, the deployment fails" (the hook function contract).
    let hook = HookSpec::Function { name: h.function.value.clone(), timeout: Duration::from_secs(u64::from(MAX_SCRIPT_TIMEOUT)) };
    let (result, log) = run_hook(cx, target_id, target_id, event, &cx.revision.reference, hook).await;
    if result.succeeded() { Ok(()) } else { Err(diag(result.code, result.message, Some(&h.function.value), &log)) }
}
