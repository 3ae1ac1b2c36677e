//! Handlers of the build pages: history, one build, raw files, batches, dashboard, static files.

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use maud::{html, Markup};
use std::collections::HashMap;

use super::AppState;
use crate::model::{BuildPage, Limits};
use crate::render::build::Links;
use crate::render::layout::{Mode, Nav};
use crate::render::lists::{self, Filters};
use kiln_record::{Kind, RecordId, RelPath};

/// A page with a status code.
pub fn html_page(code: StatusCode, title: &str, nav: Nav, body: Markup) -> Response {
    refreshing_page(code, title, nav, body, None)
}

/// [`html_page`] that reloads itself every `refresh` seconds.
pub fn refreshing_page(code: StatusCode, title: &str, nav: Nav, body: Markup, refresh: Option<u32>) -> Response {
    (code, [(header::CONTENT_TYPE, "text/html; charset=utf-8")], crate::render::layout::page_refreshing(title, Mode::Server, nav, body, refresh).into_string()).into_response()
}

/// A "not found" page naming what was missing.
pub fn missing(what: &str) -> Response {
    html_page(StatusCode::NOT_FOUND, "Not found", Nav::None, html! { h1 { "Not found" } p { (what) } p { a href="/" { "All builds" } } })
}

pub async fn not_found() -> Response {
    missing("There is no page at this address.")
}

fn id_or_404(id: &str) -> Result<RecordId, Response> {
    RecordId::parse(id).ok_or_else(|| missing("This is not a record id (letters, digits, '-' and '_' only)."))
}

/// Run blocking file work off the async threads.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Result<T, Response> {
    tokio::task::spawn_blocking(f).await.map_err(|_| html_page(StatusCode::INTERNAL_SERVER_ERROR, "Error", Nav::None, html! { h1 { "The page could not be made" } }))
}

pub async fn history(State(s): State<AppState>, Query(q): Query<HashMap<String, String>>) -> Response {
    let f = Filters { status: q.get("status").cloned().unwrap_or_default(), project: q.get("project").cloned().unwrap_or_default(), q: q.get("q").cloned().unwrap_or_default(), page: q.get("page").and_then(|p| p.parse().ok()).unwrap_or(0) };
    let st = s.clone();
    match blocking(move || st.builds.all()).await {
        Ok((all, bad)) => html_page(StatusCode::OK, "Builds", Nav::Builds, lists::history(&all, &bad, &f)),
        Err(r) => r,
    }
}

struct ServerLinks {
    id: RecordId,
    events_from: Option<u64>,
}

impl Links for ServerLinks {
    fn raw(&self, rel: &str) -> String {
        format!("/builds/{}/raw/{rel}", self.id)
    }
    fn findings_page(&self, from: usize) -> Option<String> {
        Some(format!("/builds/{}?findings={from}#findings", self.id))
    }
    fn events(&self) -> Option<String> {
        self.events_from.map(|n| format!("/builds/{}/events?from={n}", self.id))
    }
    fn batch(&self, uuid: &str) -> Option<String> {
        RecordId::parse(uuid).map(|u| format!("/batches/{u}"))
    }
}

pub async fn build(State(s): State<AppState>, Path(id): Path<String>, Query(q): Query<HashMap<String, String>>) -> Response {
    let id = match id_or_404(&id) {
        Ok(i) => i,
        Err(r) => return r,
    };
    let from = q.get("findings").and_then(|f| f.parse().ok()).unwrap_or(0usize);
    let records = s.records.clone();
    let made = blocking(move || {
        // The live stream starts where the combined log ends now, before the phase logs are read
        // (a line may then show twice while a build runs, never be lost).
        let log_len = RelPath::parse("logs/build.log").and_then(|r| records.open(Kind::Build, &id, &r).ok()).map(|i| i.metadata().len()).unwrap_or(0);
        let limits = Limits { findings_from: from, ..Limits::default() };
        BuildPage::load(&records, &id, limits, None).map(|p| {
            let links = ServerLinks { id: id.clone(), events_from: (!p.build.build_complete).then_some(log_len) };
            let title = format!("{} #{}", p.build.project_name, p.build.build_number);
            (title, crate::render::build::body(&p, &links))
        })
    })
    .await;
    match made {
        Ok(Ok((title, body))) => html_page(StatusCode::OK, &title, Nav::Builds, body),
        Ok(Err(e)) if e.is_not_found() => missing("No build with this id in .kiln/builds."),
        Ok(Err(e)) => html_page(StatusCode::INTERNAL_SERVER_ERROR, "Unreadable build", Nav::Builds, html! { h1 { "This build's record cannot be read" } div.badbox { (e.to_string()) } }),
        Err(r) => r,
    }
}

/// The record files a browser may fetch raw: logs, reports, plugin outputs, the record and its
/// provenance. Always as `text/plain` with a CSP `sandbox` (a record's HTML or SVG is never
/// rendered by the browser), streamed.
pub async fn raw(State(s): State<AppState>, Path((id, path)): Path<(String, String)>) -> Response {
    let id = match id_or_404(&id) {
        Ok(i) => i,
        Err(r) => return r,
    };
    let allowed = ["logs/", "reports/", "plugins/"].iter().any(|p| path.starts_with(p)) || ["build.json", "provenance.intoto.jsonl", "provenance.pub"].contains(&path.as_str());
    let Some(rel) = RelPath::parse(&path).filter(|_| allowed) else { return missing("Only a build's logs, reports, plugin outputs, build.json and provenance can be opened raw.") };
    let records = s.records.clone();
    let opened = blocking(move || records.open(Kind::Build, &id, &rel)).await;
    match opened {
        Ok(Ok(input)) => {
            let len = input.metadata().len();
            let stream = tokio_util::io::ReaderStream::new(tokio::fs::File::from_std(input.into_file()));
            let mut r = Response::new(Body::from_stream(stream));
            let h = r.headers_mut();
            h.insert(header::CONTENT_TYPE, header::HeaderValue::from_static("text/plain; charset=utf-8"));
            h.insert(header::CONTENT_LENGTH, header::HeaderValue::from(len));
            h.insert(header::CONTENT_SECURITY_POLICY, header::HeaderValue::from_static("sandbox; default-src 'none'"));
            r
        }
        Ok(Err(e)) if e.is_not_found() => missing("No such file in this build's record."),
        Ok(Err(e)) => html_page(StatusCode::FORBIDDEN, "Refused", Nav::None, html! { h1 { "Refused" } div.badbox { (e.to_string()) } }),
        Err(r) => r,
    }
}

pub async fn batches(State(s): State<AppState>) -> Response {
    let records = s.records.clone();
    let listed = blocking(move || {
        let (mut ok, mut bad) = (Vec::new(), Vec::new());
        for id in records.ids(Kind::Batch) {
            match records.batch(&id) {
                Ok(b) => ok.push(b),
                Err(e) => bad.push(e.to_string()),
            }
        }
        ok.sort_by(|a, b| b.start_time.cmp(&a.start_time));
        (ok, bad)
    })
    .await;
    match listed {
        Ok((ok, bad)) => html_page(StatusCode::OK, "Batches", Nav::Batches, lists::batches(&ok, &bad)),
        Err(r) => r,
    }
}

pub async fn batch(State(s): State<AppState>, Path(id): Path<String>) -> Response {
    let id = match id_or_404(&id) {
        Ok(i) => i,
        Err(r) => return r,
    };
    let st = s.clone();
    let made = blocking(move || {
        let b = st.records.batch(&id)?;
        let builds = b.kiln.builds.iter().map(|k| (k.identifier.clone(), k.build_uuid().and_then(RecordId::parse).and_then(|u| st.builds.get(&u).ok()))).collect::<Vec<_>>();
        Ok::<_, kiln_record::ReadError>((b, builds))
    })
    .await;
    match made {
        Ok(Ok((b, builds))) => html_page(StatusCode::OK, &format!("{} batch #{}", b.project_name, b.build_batch_number), Nav::Batches, lists::batch(&b, &builds)),
        Ok(Err(e)) if e.is_not_found() => missing("No batch with this id in .kiln/batches."),
        Ok(Err(e)) => html_page(StatusCode::INTERNAL_SERVER_ERROR, "Unreadable batch", Nav::Batches, html! { div.badbox { (e.to_string()) } }),
        Err(r) => r,
    }
}

pub async fn dashboard(State(s): State<AppState>, Query(q): Query<HashMap<String, String>>) -> Response {
    let n = q.get("n").and_then(|n| n.parse().ok()).unwrap_or(50usize).clamp(1, 1000);
    let st = s.clone();
    let deployments: Vec<_> = s.deployments.list().await.into_iter().flatten().take(n).collect();
    let made = blocking(move || {
        let (all, _) = st.builds.all();
        let builds: Vec<_> = all.into_iter().take(n).collect();
        let d = lists::Dashboard {
            n,
            builds: &builds,
            stats: crate::dashboard::build_stats(&builds),
            deploy_stats: (!deployments.is_empty()).then(|| crate::dashboard::deployment_stats(&deployments)),
            flaky: crate::dashboard::flaky_tests(&builds),
            causes: crate::dashboard::failure_causes(&builds),
        };
        lists::dashboard(&d)
    })
    .await;
    match made {
        Ok(body) => html_page(StatusCode::OK, "Dashboard", Nav::Dashboard, body),
        Err(r) => r,
    }
}

pub async fn css() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/css; charset=utf-8")], crate::render::layout::CSS)
}

pub async fn js() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/javascript; charset=utf-8")], crate::render::layout::JS)
}
