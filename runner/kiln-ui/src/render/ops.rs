//! Deployments (CodeDeploy's vocabulary) and pipeline runs (CodePipeline's).

use maud::{html, Markup};

use super::layout::{badge, card, stat};
use crate::fmt;
use crate::sources::MetricSeries;
use crate::svg;
use kiln_record::pipeline::{ActionState, StageState};
use kiln_record::{DeploymentInfo, PipelineExecutionSummary, PipelineRun};

/// The deployment list.
pub fn deployments(list: &[Result<DeploymentInfo, String>]) -> Markup {
    html! {
        h1 { "Deployments" }
        div.sub { (super::lists::plural(list.len(), "deployment")) }
        section.card {
            table {
                thead { tr { th { "Deployment" } th { "Status" } th { "Application / group" } th { "Configuration" } th { "Revision" } th { "Created" } th.num { "Duration" } } }
                tbody {
                    @for d in list {
                        @match d {
                            Ok(d) => {
                                tr {
                                    td { a href=(format!("/deployments/{}", d.deployment_id)) { strong.mono { (d.deployment_id) } } @if d.creator == "codeDeployRollback" { br; span.badge.s-warn { "ROLLBACK" } } }
                                    td { (badge(&d.status)) }
                                    td { (d.application_name) " / " (d.deployment_group_name) br; span.muted { (d.compute_platform) " · " (d.deployment_style.deployment_type) } }
                                    td.mono { (d.deployment_config_name) }
                                    td { (d.revision_name().unwrap_or("")) }
                                    td { (fmt::when(&d.create_time)) }
                                    td.num { (fmt::between(d.start_time.as_deref().unwrap_or(&d.create_time), d.complete_time.as_deref()).map(fmt::seconds).unwrap_or_else(|| "–".into())) }
                                }
                            }
                            Err(e) => { tr { td colspan="7" { div.warnbox { (e) } } } }
                        }
                    }
                }
            }
            @if list.is_empty() { p.muted { "No deployments yet." } }
        }
    }
}

/// One deployment: live traffic, targets and their lifecycle events, alarms.
pub fn deployment(d: &DeploymentInfo, metrics: &[MetricSeries]) -> Markup {
    let o = &d.deployment_overview;
    html! {
        h1 { (d.deployment_id) " " (badge(&d.status)) @if d.kiln.interrupted { span.badge.s-warn { "INTERRUPTED" } } }
        div.sub { (d.application_name) " / " (d.deployment_group_name) " · " code { (d.deployment_config_name) } " · " (d.compute_platform) " " (d.deployment_style.deployment_type)
            " · created " (fmt::when(&d.create_time)) " by " (d.creator)
            @if let Some(r) = d.revision_name() { " · revision " strong { (r) } } }
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
        @if let Some(t) = &d.kiln.traffic {
            (card("Traffic", "traffic", html! {
                (svg::stacked(&[("original".to_string(), t.current.original as f64, "idle"), ("replacement".to_string(), t.current.replacement as f64, "run")]))
                @if let Some(p) = &t.pending { p.note { "Shifting to " (p.replacement) "% replacement (not confirmed yet)." } }
                @if t.history.len() > 1 {
                    h3 { "Share of the replacement set over time" }
                    (svg::line(&t.history.iter().map(|c| (time_only(&c.at), c.weights.replacement as f64)).collect::<Vec<_>>(), None, |v| format!("{v:.0}%")))
                }
                table {
                    thead { tr { th { "When" } th.num { "Original" } th.num { "Replacement" } th { "Why" } } }
                    tbody { @for c in t.history.iter().rev() { tr { td { (fmt::when(&c.at)) } td.num { (c.weights.original) "%" } td.num { (c.weights.replacement) "%" } td { (c.reason) } } } }
                }
            }))
        }
        (card("Targets", "targets", html! {
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
                                    span class=(format!("badge s-{}", fmt::tone(&e.status))) title=(e.status) { (e.lifecycle_event_name) } " "
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
        }))
        @if !d.kiln.alarms.is_empty() || !metrics.is_empty() {
            (card("Alarms", "alarms", html! {
                @for a in &d.kiln.alarms {
                    h3 { (a.alarm_name) " " (badge(&a.state_value)) }
                    p.muted { (a.definition) " · " (a.state_reason) }
                    @if let Some(m) = metrics.iter().find(|m| m.alarm_name == a.alarm_name) { (metric_chart(m)) }
                    @if !a.history.is_empty() {
                        table { tbody { @for h in a.history.iter().rev().take(10) { tr { td { (fmt::when(&h.timestamp)) } td { (badge(&h.state)) } td { (h.state_reason) } } } } }
                    }
                }
                @for m in metrics.iter().filter(|m| !d.kiln.alarms.iter().any(|a| a.alarm_name == m.alarm_name)) { h3 { (m.alarm_name) } (metric_chart(m)) }
                @if metrics.is_empty() { p.note { "The record keeps each alarm's state changes; metric datapoints are shown while the deployment's router is live." } }
            }))
        }
        @if !d.deployment_status_messages.is_empty() { (card("Messages", "messages", html! { ul { @for m in &d.deployment_status_messages { li { (m) } } } })) }
    }
}

fn time_only(s: &str) -> String {
    fmt::parse_time(s).map(|t| format!("{:02}:{:02}:{:02}", t.hour(), t.minute(), t.second())).unwrap_or_else(|| s.to_string())
}

fn metric_chart(m: &MetricSeries) -> Markup {
    html! {
        div.muted { (m.metric) }
        (svg::line(&m.points.iter().map(|p| (time_only(&p.timestamp), p.value)).collect::<Vec<_>>(), m.threshold, |v| if v.abs() >= 100.0 { format!("{v:.0}") } else { format!("{v:.2}") }))
    }
}

/// The list of pipeline runs.
pub fn pipelines(list: &[PipelineExecutionSummary]) -> Markup {
    html! {
        h1 { "Pipeline runs" }
        section.card {
            table {
                thead { tr { th { "Pipeline" } th { "Execution" } th { "Status" } th { "Started" } th { "Trigger" } th { "Summary" } } }
                tbody {
                    @for r in list {
                        tr {
                            td { strong { (r.pipeline_name) } }
                            td { a.mono href=(format!("/pipelines/{}/{}", crate::server::auth::enc(&r.pipeline_name), crate::server::auth::enc(&r.pipeline_execution_id))) { (fmt::short(&r.pipeline_execution_id)) } }
                            td { (badge(&r.status)) }
                            td { (fmt::when(&r.start_time)) }
                            td { (r.trigger.as_ref().map(|t| t.trigger_type.as_str()).unwrap_or("")) }
                            td.muted { (r.status_summary.as_deref().unwrap_or("")) }
                        }
                    }
                }
            }
            @if list.is_empty() { p.muted { "No pipeline runs are connected to this kiln ui." } }
        }
    }
}

/// How approval buttons are drawn.
pub struct ApprovalForm<'a> {
    pub allowed: bool,
    pub csrf: &'a str,
    pub action_url: String,
    /// A message after a POST (`approved`, or why not).
    pub flash: Option<(bool, String)>,
}

/// One run as a stage graph.
pub fn pipeline_run(r: &PipelineRun, form: &ApprovalForm) -> Markup {
    let e = &r.pipeline_execution;
    html! {
        h1 { (e.pipeline_name) " " (badge(&e.status)) }
        div.sub { "execution " code { (e.pipeline_execution_id) } " · pipeline version " (e.pipeline_version)
            @if let Some(t) = &e.trigger { " · trigger " (t.trigger_type) }
            @if let Some(m) = &e.execution_mode { " · " (m) }
            @if let Some(s) = &e.start_time { " · started " (fmt::when(s)) } }
        @if let Some(s) = &e.status_summary { div.warnbox { (s) } }
        @if let Some((ok, m)) = &form.flash { div class=(if *ok { "okbox" } else { "badbox" }) { (m) } }
        (card("Stages", "stages", html! {
            div.stages {
                @for (i, s) in r.stage_states.iter().enumerate() {
                    @if i > 0 { div.arrow { "→" } }
                    (stage(s, form))
                }
            }
            @if !form.allowed { p.note { "Approvals are read-only: start kiln ui with --allow-approvals to answer them here." } }
        }))
        @if !e.variables.is_empty() {
            (card("Variables", "variables", html! { table { tbody { @for v in &e.variables { tr { td.mono { (v.name) } td.mono { (v.resolved_value) } } } } } }))
        }
    }
}

fn stage(s: &StageState, form: &ApprovalForm) -> Markup {
    let status = s.latest_execution.as_ref().map(|x| x.status.as_str()).unwrap_or("NotStarted");
    let mut orders: Vec<u32> = s.action_states.iter().map(|a| a.run_order.unwrap_or(1)).collect();
    orders.sort_unstable();
    orders.dedup();
    html! {
        div class=(format!("stage st-{}", fmt::tone(status))) {
            h3 { span { (s.stage_name) } (badge(status)) }
            @for o in &orders {
                @if orders.len() > 1 { div.muted { "run order " (o) } }
                @for a in s.action_states.iter().filter(|a| a.run_order.unwrap_or(1) == *o) { (action(s, a, form)) }
            }
        }
    }
}

fn action(s: &StageState, a: &ActionState, form: &ApprovalForm) -> Markup {
    let ex = a.latest_execution.as_ref();
    let status = ex.map(|x| x.status.as_str()).unwrap_or("NotStarted");
    html! {
        div.action {
            div.an { span { (a.action_name) } (badge(status)) }
            @if let Some(t) = &a.action_type_id { div.muted { (t.category) " · " (t.provider) } }
            @if let Some(x) = ex {
                @if let Some(m) = &x.summary { div { (m) } }
                @if let Some(e) = &x.error_details { div.bad { code { (e.code) } " " (e.message) } }
                @if let Some(by) = &x.last_updated_by { div.muted { "by " (by) } }
            }
            @if let Some(token) = a.open_approval_token() {
                form method="post" action=(form.action_url) {
                    input type="hidden" name="csrf" value=(form.csrf);
                    input type="hidden" name="stage" value=(s.stage_name);
                    input type="hidden" name="action" value=(a.action_name);
                    input type="hidden" name="token" value=(token);
                    input type="text" name="summary" placeholder="Comment (optional)" maxlength="512" disabled[!form.allowed];
                    button.approve type="submit" name="decision" value="Approved" disabled[!form.allowed] { "Approve" }
                    button.reject type="submit" name="decision" value="Rejected" disabled[!form.allowed] { "Reject" }
                }
            }
        }
    }
}
