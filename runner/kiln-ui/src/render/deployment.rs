//! One deployment's page (CodeDeploy's vocabulary): its status, the traffic weights now and over
//! time, each target's state and lifecycle events (with the failing hook's log tail), the fleet,
//! and each alarm's metric as a chart: the datapoints it evaluated (coloured by the state after
//! each), its threshold, and its state changes as markers.
//!
//! Everything comes from `deployment.json` (kiln-deploy rewrites it as the deployment runs). The
//! charts' x axis is real time from the deployment's creation; a deployment run with
//! `--time-scale` shows its compressed real time, while the alarm's period is shown as defined.
//! While the deployment is in progress the served page wraps [`body`] in an element whose
//! `data-live` names the event stream that sends it again on every change (`kiln.js` swaps it in).

use maud::{html, Markup};
use time::OffsetDateTime;

use super::layout::{badge, card, stat};
use crate::fmt;
use crate::svg::{self, Marker, TimeChart, TimePoint};
use kiln_record::deploy::{AlarmStatus, Traffic};
use kiln_record::DeploymentInfo;

/// Whether a deployment can still change (not final, and its kiln was not killed).
pub fn is_live(d: &DeploymentInfo) -> bool {
    !matches!(d.status.as_str(), "Succeeded" | "Failed" | "Stopped") && !d.kiln.interrupted
}

/// The page's main content: [`body`], in an element that updates itself from `live` (an event
/// stream's URL) while the deployment runs.
pub fn page(d: &DeploymentInfo, live: Option<&str>) -> Markup {
    html! { div #deployment data-live=[live] { (body(d)) } }
}

/// The time axis: seconds since the deployment was created, up to its end (or now).
struct Clock {
    start: Option<OffsetDateTime>,
    span: f64,
}

impl Clock {
    fn of(d: &DeploymentInfo) -> Clock {
        let start = fmt::parse_time(&d.create_time);
        let end = d.complete_time.as_deref().and_then(fmt::parse_time).unwrap_or_else(OffsetDateTime::now_utc);
        let span = start.map(|s| (end - s).as_seconds_f64()).unwrap_or(0.0).max(1.0);
        Clock { start, span }
    }

    /// Seconds from the start (`None` when either time cannot be read).
    fn at(&self, ts: &str) -> Option<f64> {
        Some((fmt::parse_time(ts)? - self.start?).as_seconds_f64().max(0.0))
    }

    /// `HH:MM:SS` (UTC) of `t` seconds from the start; with tenths when the chart spans less
    /// than 12 s (its ticks are then less than 2 s apart).
    fn label(&self, t: f64) -> String {
        match self.start {
            Some(s) => {
                let at = s + time::Duration::seconds_f64(t);
                if self.span < 12.0 { format!("{}.{}", clock_time(at), at.millisecond() / 100) } else { clock_time(at) }
            }
            None => fmt::seconds(t),
        }
    }
}

fn clock_time(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!("{:02}:{:02}:{:02}", t.hour(), t.minute(), t.second())
}

fn short_time(ts: &str) -> String {
    fmt::parse_time(ts).map(clock_time).unwrap_or_else(|| ts.to_string())
}

/// The deployment itself, without the live wrapper.
pub fn body(d: &DeploymentInfo) -> Markup {
    let o = &d.deployment_overview;
    let clock = Clock::of(d);
    html! {
        h1 { (d.deployment_id) " " span #deployment-status { (badge(&d.status)) } @if d.kiln.interrupted { " " span.badge.s-warn { "INTERRUPTED" } } }
        div.sub { (d.application_name) " / " (d.deployment_group_name) " · " code { (d.deployment_config_name) } " · " (d.compute_platform) " " (d.deployment_style.deployment_type)
            " · created " (fmt::when(&d.create_time)) " by " (d.creator)
            @if let Some(r) = d.revision_name() { " · revision " strong { (r) } }
            " · " (fmt::seconds(clock.span)) @if is_live(d) { " so far" } }
        @if is_live(d) { p.live-note { "In progress: this page updates as the deployment's record changes." } }
        @if let Some(e) = &d.error_information { div.badbox { code { (e.code) } " " (e.message) } }
        @if let Some(r) = &d.rollback_info {
            div.warnbox {
                @if let Some(m) = &r.rollback_message { (m) " " }
                @if let Some(id) = &r.rollback_deployment_id { "Rolled back by " a href=(format!("/deployments/{id}")) { (id) } ". " }
                @if let Some(id) = &r.rollback_triggering_deployment_id { "Rolls back " a href=(format!("/deployments/{id}")) { (id) } "." }
            }
        }
        div.grid {
            (stat("Pending", html! { (o.pending) })) (stat("In progress", html! { (o.in_progress) }))
            (stat("Succeeded", html! { span.ok { (o.succeeded) } })) (stat("Failed", html! { span class=(if o.failed > 0 { "bad" } else { "" }) { (o.failed) } }))
            (stat("Skipped", html! { (o.skipped) })) (stat("Ready", html! { (o.ready) }))
        }
        @if let Some(t) = &d.kiln.traffic { (traffic(t, &d.kiln.alarms, &clock)) }
        (targets(d))
        @if !d.kiln.alarms.is_empty() {
            (card("Alarms", "alarms", html! { @for a in &d.kiln.alarms { (alarm(a, &clock)) } }))
        }
        @if !d.deployment_status_messages.is_empty() { (card("Messages", "messages", html! { ul { @for m in &d.deployment_status_messages { li { (m) } } } })) }
    }
}

/// Alarm state changes as markers (every alarm's, on the traffic chart; one alarm's on its own).
fn alarm_markers<'a>(alarms: impl Iterator<Item = &'a AlarmStatus>, clock: &Clock, only_alarm: bool) -> Vec<Marker> {
    alarms
        .flat_map(|a| a.history.iter().map(move |h| (a, h)))
        .filter(|(_, h)| !only_alarm || h.state == "ALARM")
        .filter_map(|(a, h)| Some(Marker { t: clock.at(&h.timestamp)?, tone: fmt::tone(&h.state), label: if only_alarm { format!("{} {}", a.alarm_name, h.state) } else { h.state.clone() } }))
        .collect()
}

fn traffic(t: &Traffic, alarms: &[AlarmStatus], clock: &Clock) -> Markup {
    let points: Vec<TimePoint> = t
        .history
        .iter()
        .filter_map(|c| Some(TimePoint { t: clock.at(&c.at)?, value: Some(f64::from(c.weights.replacement)), tone: "run", title: format!("{} replacement {}%", short_time(&c.at), c.weights.replacement) }))
        .collect();
    let markers = alarm_markers(alarms.iter(), clock, true);
    let tick = |s: f64| clock.label(s);
    html! {
        (card("Traffic", "traffic", html! {
            div #traffic-now { (svg::stacked(&[("original".to_string(), f64::from(t.current.original), "idle"), ("replacement".to_string(), f64::from(t.current.replacement), "run")])) }
            @if let Some(p) = &t.pending { p.note { "Shifting to " (p.replacement) "% replacement (not confirmed yet)." } }
            @if !points.is_empty() {
                h3 { "Share of the replacement set over time" }
                (svg::timeseries(&TimeChart { points: &points, threshold: None, markers: &markers, span: clock.span, step: true, max: Some(100.0), unit: |v| format!("{v:.0}%"), tick: &tick }))
            }
            table {
                thead { tr { th { "When" } th.num { "Original" } th.num { "Replacement" } th { "Why" } } }
                tbody { @for c in t.history.iter().rev() { tr { td { (fmt::when(&c.at)) } td.num { (c.weights.original) "%" } td.num { (c.weights.replacement) "%" } td { (c.reason) } } } }
            }
        }))
    }
}

fn targets(d: &DeploymentInfo) -> Markup {
    card("Targets", "targets", html! {
        table {
            thead { tr { th { "Target" } th { "Status" } th { "Set" } th { "Lifecycle events" } } }
            tbody {
                @for t in d.deployment_targets.iter().filter_map(|t| t.target()) {
                    tr {
                        td.mono { (t.target_id) br; span.muted { (fmt::when(&t.last_updated_at)) } }
                        td { (badge(&t.status)) }
                        td {
                            @if let Some(l) = &t.instance_label { (l) }
                            @for ts in &t.task_sets_info { div { (ts.task_set_label.as_deref().unwrap_or("")) " " code { (ts.status) } " " (format!("{:.0}%", ts.traffic_weight)) " · " (ts.running_count) "/" (ts.desired_count) " running" } }
                            @if let Some(l) = &t.lambda_function_info { (l.function_name) ":" (l.function_alias) " → v" (l.target_version) " " (format!("{:.0}%", l.target_version_weight * 100.0)) }
                        }
                        td {
                            @for e in &t.lifecycle_events {
                                @let took = e.start_time.as_deref().and_then(|s| fmt::between(s, e.end_time.as_deref())).map(|s| format!(" · {}", fmt::seconds(s))).unwrap_or_default();
                                span class=(format!("badge s-{}", fmt::tone(&e.status))) title=(format!("{}{took}", e.status)) { (e.lifecycle_event_name) } " "
                            }
                            @for e in t.lifecycle_events.iter().filter(|e| e.diagnostics.as_ref().is_some_and(|x| x.error_code != "Success")) {
                                @if let Some(x) = &e.diagnostics {
                                    div.failure { div.name { (e.lifecycle_event_name) ": " code { (x.error_code) } " " (x.script_name.as_deref().unwrap_or("")) } div { (x.message) } @if !x.log_tail.is_empty() { pre { (x.log_tail) } } }
                                }
                            }
                        }
                    }
                }
            }
        }
        @if !d.kiln.fleet.is_empty() {
            h3 { "Fleet" }
            table {
                thead { tr { th { "Instance" } th { "Set" } th { "Revision" } th { "In service" } } }
                tbody { @for f in &d.kiln.fleet { tr { td.mono { (f.id) } td { (f.set) } td { (f.revision.as_deref().unwrap_or("–")) } td { @if f.in_service { span.badge.s-ok { "IN SERVICE" } } @else { span.badge.s-idle { "OUT" } } } } } }
            }
        }
    })
}

fn value_text(v: f64) -> String {
    if v.abs() >= 100.0 || v.fract() == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.2}")
    }
}

fn alarm(a: &AlarmStatus, clock: &Clock) -> Markup {
    let points: Vec<TimePoint> = a
        .datapoints
        .iter()
        .filter_map(|p| {
            let value = p.value.filter(|v| v.is_finite());
            let shown = value.map(value_text).unwrap_or_else(|| "missing".into());
            Some(TimePoint { t: clock.at(&p.timestamp)?, value, tone: fmt::tone(&p.state), title: format!("{} {shown} · {}", short_time(&p.timestamp), p.state) })
        })
        .collect();
    let markers = alarm_markers(std::iter::once(a), clock, false);
    let tick = |s: f64| clock.label(s);
    let threshold = a.threshold.filter(|t| t.is_finite());
    html! {
        div.alarm data-alarm=(a.alarm_name) {
            h3 { (a.alarm_name) " " (badge(&a.state_value)) }
            p.muted { (a.definition) }
            p { (a.state_reason) }
            @if !points.is_empty() {
                div.muted { (a.statistic) " of " code { (a.metric_name) } " per " (a.period) "-second period"
                    @if let Some(t) = threshold { " · alarm when " (a.comparison_operator) " " (value_text(t)) }
                    " · " (points.len()) " datapoints" }
                (svg::timeseries(&TimeChart { points: &points, threshold, markers: &markers, span: clock.span, step: false, max: None, unit: value_text, tick: &tick }))
            } @else {
                p.note { "No datapoints in the record (it was written before kiln kept them, or the alarm was never evaluated)." }
            }
            @if !a.history.is_empty() {
                table { tbody { @for h in a.history.iter().rev().take(10) { tr { td { (fmt::when(&h.timestamp)) } td { (badge(&h.state)) } td { (h.state_reason) } } } } }
            }
        }
    }
}
