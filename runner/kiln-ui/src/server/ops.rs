//! Handlers of the deployment and pipeline pages, and the approval POST.
//!
//! An approval is answered only when all of these hold: the request is a POST (the route
//! accepts nothing else), it carries the session cookie (the guard), its form's `csrf` is the
//! session's CSRF token, an `Origin` header, if sent, is this server's own, the server was started
//! with `--allow-approvals`, and the run shows that approval open with that token. Then the
//! [`crate::sources::Approver`] is called once, and the browser is sent back to the run.

use std::collections::HashMap;

use axum::extract::{Form, Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use maud::html;

use super::auth::{enc, Session, Sessions};
use super::pages::{html_page, missing, refreshing_page};
use crate::render::deployment;
use super::AppState;
use crate::render::layout::Nav;
use crate::render::ops::{self, ApprovalForm};
use kiln_record::pipeline::{ApprovalRequest, ApprovalResult, ApprovalStatus};
use kiln_record::RecordId;

pub async fn deployments(State(s): State<AppState>) -> Response {
    let list = s.deployments.list().await;
    html_page(StatusCode::OK, "Deployments", Nav::Deployments, ops::deployments(&list))
}

pub async fn deployment(State(s): State<AppState>, Path(id): Path<String>) -> Response {
    let Some(id) = RecordId::parse(&id) else { return missing("This is not a deployment id.") };
    match s.deployments.get(&id).await {
        None => missing("No deployment with this id."),
        Some(Err(e)) => html_page(StatusCode::INTERNAL_SERVER_ERROR, "Unreadable deployment", Nav::Deployments, html! { div.badbox { (e) } }),
        Some(Ok(d)) => {
            let live = deployment::is_live(&d).then(|| format!("/deployments/{id}/events"));
            html_page(StatusCode::OK, &d.deployment_id, Nav::Deployments, deployment::page(&d, live.as_deref()))
        }
    }
}

pub async fn pipelines(State(s): State<AppState>) -> Response {
    let list = s.pipelines.runs().await;
    html_page(StatusCode::OK, "Pipelines", Nav::Pipelines, ops::pipelines(&list))
}

fn run_url(name: &str, execution: &str) -> String {
    format!("/pipelines/{}/{}", enc(name), enc(execution))
}

pub async fn pipeline_run(State(s): State<AppState>, Extension(session): Extension<Session>, Path((name, execution)): Path<(String, String)>, Query(q): Query<HashMap<String, String>>) -> Response {
    let Some(run) = s.pipelines.run(&name, &execution).await else { return missing("No such pipeline run.") };
    let flash = q.get("done").map(|m| (true, m.clone())).or_else(|| q.get("refused").map(|m| (false, m.clone())));
    let form = ApprovalForm { allowed: s.allow_approvals, csrf: &session.csrf, action_url: format!("{}/approval", run_url(&name, &execution)), flash };
    // A run in progress reloads itself, unless an approval form is open (typing must not be lost).
    let waiting = run.stage_states.iter().flat_map(|s| &s.action_states).any(|a| a.open_approval_token().is_some());
    let live = matches!(run.pipeline_execution.status.as_str(), "InProgress" | "Stopping") && !waiting;
    refreshing_page(StatusCode::OK, &name, Nav::Pipelines, ops::pipeline_run(&run, &form), live.then_some(5))
}

/// The approval form's fields.
#[derive(serde::Deserialize)]
pub struct ApprovalFormData {
    csrf: String,
    stage: String,
    action: String,
    token: String,
    decision: String,
    #[serde(default)]
    summary: String,
}

fn refuse(code: StatusCode, why: &str) -> Response {
    html_page(code, "Refused", Nav::Pipelines, html! { h1 { "Refused" } div.badbox { (why) } })
}

pub async fn approval(State(s): State<AppState>, Extension(session): Extension<Session>, headers: HeaderMap, Path((name, execution)): Path<(String, String)>, Form(f): Form<ApprovalFormData>) -> Response {
    if !Sessions::csrf_ok(&session, &f.csrf) {
        return refuse(StatusCode::FORBIDDEN, "The form's CSRF token is not this session's: reload the page and try again.");
    }
    if let Some(origin) = headers.get(header::ORIGIN).and_then(|o| o.to_str().ok()) {
        let host = headers.get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("");
        if origin.split_once("://").map(|(_, h)| h) != Some(host) {
            return refuse(StatusCode::FORBIDDEN, "This form was posted from another site.");
        }
    }
    if !s.allow_approvals {
        return refuse(StatusCode::FORBIDDEN, "This kiln ui is read-only: start it with --allow-approvals to answer approvals.");
    }
    let status = match f.decision.as_str() {
        "Approved" => ApprovalStatus::Approved,
        "Rejected" => ApprovalStatus::Rejected,
        _ => return refuse(StatusCode::BAD_REQUEST, "The decision must be Approved or Rejected."),
    };
    if f.summary.chars().count() > 512 {
        return refuse(StatusCode::BAD_REQUEST, "The comment is longer than 512 characters (CodePipeline's limit).");
    }
    // The approval must be open in the run, with this token.
    let Some(run) = s.pipelines.run(&name, &execution).await else { return missing("No such pipeline run.") };
    let open = run.stage_states.iter().filter(|st| st.stage_name == f.stage).flat_map(|st| &st.action_states).find(|a| a.action_name == f.action).and_then(|a| a.open_approval_token()).is_some_and(|t| super::auth::same(t, &f.token));
    let back = run_url(&name, &execution);
    if !open {
        return (StatusCode::SEE_OTHER, [(header::LOCATION, format!("{back}?refused={}", enc("This approval is not open any more (or the token is stale).")))]).into_response();
    }
    let request = ApprovalRequest { pipeline_name: name.clone(), pipeline_execution_id: execution.clone(), stage_name: f.stage, action_name: f.action, token: f.token, result: ApprovalResult { summary: f.summary, status } };
    let to = match s.approver.answer(&request).await {
        Ok(m) => format!("{back}?done={}", enc(&m)),
        Err(e) => format!("{back}?refused={}", enc(&e)),
    };
    (StatusCode::SEE_OTHER, [(header::LOCATION, to)]).into_response()
}
