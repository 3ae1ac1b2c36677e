//! `kiln ui`: an axum server over one project's records.
//!
//! Routes (all behind [`auth::guard`]):
//! `/` build history (filters `status`, `project`, `q`; 50 a page) · `/builds/{id}` one build
//! (`?findings=N` pages its findings) · `/builds/{id}/events?from=N` its log from byte N of
//! `logs/build.log` as server-sent events while it runs · `/builds/{id}/raw/{*path}` a record file
//! as text (logs, reports, plugin outputs, provenance only) · `/batches`, `/batches/{id}` ·
//! `/dashboard?n=N` · `/deployments`, `/deployments/{id}` and, while it runs, `/deployments/{id}/events`
//! (the page's deployment part again on every change of its record, as server-sent events) · `/pipelines`,
//! `/pipelines/{name}/{execution}` and `POST …/approval` · `/static/kiln.css`, `/static/kiln.js`.
//!
//! Page loads read files on tokio's blocking pool; a build's `build.json` is parsed once per
//! change (cached by size and modification time), so the history of hundreds of builds stays
//! quick.

pub mod auth;
mod cache;
mod live;
mod ops;
mod pages;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::routing::{get, post};
use axum::Router;
use kiln_record::Records;

use crate::sources::{Approver, Deployments, Pipelines};

/// What the server serves and how.
pub struct Config {
    pub records: Records,
    pub listen: SocketAddr,
    /// The access token (printed by the caller in the URL it shows).
    pub token: String,
    /// Whether approve/reject may be answered.
    pub allow_approvals: bool,
    pub deployments: Arc<dyn Deployments>,
    pub pipelines: Arc<dyn Pipelines>,
    pub approver: Arc<dyn Approver>,
}

/// Shared by every request.
#[derive(Clone)]
pub struct AppState(Arc<Inner>);

pub struct Inner {
    pub records: Records,
    pub token: String,
    pub allow_approvals: bool,
    pub loopback_only: bool,
    pub sessions: auth::Sessions,
    pub builds: cache::BuildCache,
    pub deployments: Arc<dyn Deployments>,
    pub pipelines: Arc<dyn Pipelines>,
    pub approver: Arc<dyn Approver>,
}

impl std::ops::Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

/// The application: routes and the guard, without a listener (tests drive it directly).
pub fn app(config: Config) -> Router {
    let state = AppState(Arc::new(Inner {
        builds: cache::BuildCache::new(config.records.clone()),
        records: config.records,
        token: config.token,
        allow_approvals: config.allow_approvals,
        loopback_only: config.listen.ip().is_loopback(),
        sessions: auth::Sessions::default(),
        deployments: config.deployments,
        pipelines: config.pipelines,
        approver: config.approver,
    }));
    Router::new()
        .route("/", get(pages::history))
        .route("/builds/{id}", get(pages::build))
        .route("/builds/{id}/events", get(live::events))
        .route("/builds/{id}/raw/{*path}", get(pages::raw))
        .route("/batches", get(pages::batches))
        .route("/batches/{id}", get(pages::batch))
        .route("/dashboard", get(pages::dashboard))
        .route("/deployments", get(ops::deployments))
        .route("/deployments/{id}", get(ops::deployment))
        .route("/deployments/{id}/events", get(live::deployment_events))
        .route("/pipelines", get(ops::pipelines))
        .route("/pipelines/{name}/{execution}", get(ops::pipeline_run))
        .route("/pipelines/{name}/{execution}/approval", post(ops::approval))
        .route("/static/kiln.css", get(pages::css))
        .route("/static/kiln.js", get(pages::js))
        .fallback(pages::not_found)
        .layer(axum::middleware::from_fn_with_state(state.clone(), auth::guard))
        .with_state(state)
}

/// Bind `config.listen` (port 0: any free port) and return the bound address and the future
/// that serves until `shutdown` resolves.
pub async fn bind(config: Config, shutdown: impl std::future::Future<Output = ()> + Send + 'static) -> std::io::Result<(SocketAddr, impl std::future::Future<Output = std::io::Result<()>>)> {
    let listener = tokio::net::TcpListener::bind(config.listen).await?;
    let addr = listener.local_addr()?;
    let router = app(config);
    Ok((addr, async move { axum::serve(listener, router).with_graceful_shutdown(shutdown).await }))
}
