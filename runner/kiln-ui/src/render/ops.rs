//! The deployment list (CodeDeploy's vocabulary; one deployment is `deployment.rs`) and
//! pipeline runs (CodePipeline's).

use maud::{html, Markup};

use super::layout::{badge, card};
use crate::fmt;
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
            @if let Some(t) = &e.trigger { " · trigger " (t.trigger_type) @if let Some(d) = &t.trigger_detail { ": " code { (d) } } }
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

#[cfg(test)]
mod tests {
    use super::*;
    use kiln_record::pipeline::{PipelineExecution, Trigger};

    #[test]
    fn a_push_triggered_run_shows_its_ref_and_commit_escaped() {
        let run = PipelineRun {
            pipeline_execution: PipelineExecution {
                pipeline_name: "demo".into(),
                pipeline_execution_id: "e-1".into(),
                status: "InProgress".into(),
                trigger: Some(Trigger { trigger_type: "WebhookV2".into(), trigger_detail: Some("refs/heads/<b>main</b> 0123: push filter 1".into()) }),
                ..Default::default()
            },
            stage_states: Vec::new(),
        };
        let form = ApprovalForm { allowed: false, csrf: "", action_url: String::new(), flash: None };
        let html = pipeline_run(&run, &form).into_string();
        assert!(html.contains("trigger WebhookV2: <code>refs/heads/&lt;b&gt;main&lt;/b&gt; 0123: push filter 1</code>"), "{html}");
    }
}
