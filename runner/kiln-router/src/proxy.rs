//! One request through the router: pick a target, rewrite the head, send it upstream over a
//! pooled connection, stream the response back, count everything.
//!
//! Status codes the router makes itself follow ALB's (ELB user guide, "Troubleshoot your
//! Application Load Balancers"): 502 when the connection to the instance is refused or reset or
//! its response is malformed, or when a drain's timeout cut the request; 503 when the chosen
//! target group has no instance (or no group has weight); 504 when the connection or the
//! response head does not come in time; 405 for CONNECT. These count as 5xx (and `proxy_5xx`) of
//! the group and instance they were meant for.

use std::convert::Infallible;
use std::sync::Arc;

use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use hyper::body::Incoming;
use hyper::client::conn::http1::SendRequest;
use tokio::time::Instant;

use crate::body::ProxyBody;
use crate::headers::{self, ClientInfo, Refusal};
use crate::metrics::UpstreamErrorKind;
use crate::router::Shared;
use crate::targets::{InstanceState, NoTarget};

/// A failed attempt: why, and the request when it was never sent.
struct Failure {
    kind: UpstreamErrorKind,
    unsent: Option<Request<Incoming>>,
}

impl UpstreamErrorKind {
    fn status(self) -> StatusCode {
        match self {
            Self::ConnectTimeout | Self::Timeout => StatusCode::GATEWAY_TIMEOUT,
            Self::Connect | Self::Response | Self::Body | Self::Aborted => StatusCode::BAD_GATEWAY,
        }
    }
}

/// RFC 9110 §9.2.2.
fn is_idempotent(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE | Method::PUT | Method::DELETE)
}

fn plain(status: StatusCode, text: &'static str) -> Response<ProxyBody> {
    let mut response = Response::new(ProxyBody::full(text));
    *response.status_mut() = status;
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    response
}

fn failure_response(kind: UpstreamErrorKind) -> Response<ProxyBody> {
    let text = match kind {
        UpstreamErrorKind::Connect => "502 Bad Gateway: the upstream instance refused or reset the connection\n",
        UpstreamErrorKind::ConnectTimeout => "504 Gateway Timeout: no connection to the upstream instance in time\n",
        UpstreamErrorKind::Response => "502 Bad Gateway: the upstream instance closed the connection or sent a malformed response\n",
        UpstreamErrorKind::Timeout => "504 Gateway Timeout: the upstream instance did not respond in time\n",
        UpstreamErrorKind::Body | UpstreamErrorKind::Aborted => "502 Bad Gateway: the request was cut while its instance was drained\n",
    };
    plain(kind.status(), text)
}

/// Sends one request to one instance, on a pooled connection if one is open. A request hyper
/// hands back unsent from a pooled connection is sent again on the next connection.
async fn send_to(shared: &Shared, instance: &Arc<InstanceState>, mut request: Request<Incoming>) -> Result<(Response<Incoming>, SendRequest<Incoming>), Failure> {
    let settings = &shared.pool_settings;
    if !request.headers().contains_key(header::HOST) {
        request.headers_mut().insert(header::HOST, instance.authority.clone());
    }
    let aborts = instance.pool.aborts();
    loop {
        let (mut tx, reused) = match instance.pool.take_idle(settings.idle_timeout) {
            Some(tx) => (tx, true),
            None => match instance.pool.connect(instance.addr, settings).await {
                Ok(tx) => (tx, false),
                Err((kind, error)) => {
                    tracing::debug!(instance = %instance.id, %error, "upstream connect failed");
                    return Err(Failure { kind, unsent: Some(request) });
                }
            },
        };
        match tx.try_send_request(request).await {
            // The connection goes back to the pool once the response body has been read.
            Ok(response) => return Ok((response, tx)),
            Err(mut e) => match e.take_message() {
                Some(unsent) if reused => request = unsent,
                Some(unsent) => {
                    tracing::debug!(instance = %instance.id, error = %e.error(), "upstream connection closed before the request was sent");
                    return Err(Failure { kind: UpstreamErrorKind::Connect, unsent: Some(unsent) });
                }
                None => {
                    tracing::debug!(instance = %instance.id, error = %e.error(), "upstream request failed");
                    let kind = if instance.pool.aborts() != aborts { UpstreamErrorKind::Aborted } else { UpstreamErrorKind::Response };
                    return Err(Failure { kind, unsent: None });
                }
            },
        }
    }
}

/// The service behind every client connection.
pub(crate) async fn handle(shared: Arc<Shared>, client: ClientInfo, request: Request<Incoming>) -> Result<Response<ProxyBody>, Infallible> {
    let config = &shared.config;
    let (mut parts, body) = request.into_parts();
    if let Err(Refusal::Connect) = headers::upstream_request(&mut parts, &client) {
        shared.metrics.unrouted.record_response(405, true);
        return Ok(plain(StatusCode::METHOD_NOT_ALLOWED, "405 Method Not Allowed: CONNECT is not supported by this reverse proxy\n"));
    }
    let may_retry = config.retry.max_retries > 0 && (!config.retry.idempotent_only || is_idempotent(&parts.method));
    let mut request = Request::from_parts(parts, body);

    let (group, mut guard) = match shared.routes.select(config.algorithm) {
        Ok(s) => (s.group, s.guard),
        Err(NoTarget::EmptyGroup(group)) => {
            group.record_response(503, true);
            return Ok(plain(StatusCode::SERVICE_UNAVAILABLE, "503 Service Unavailable: the target group has no instance in service\n"));
        }
        Err(NoTarget::NoGroup | NoTarget::NoOther) => {
            shared.metrics.unrouted.record_response(503, true);
            return Ok(plain(StatusCode::SERVICE_UNAVAILABLE, "503 Service Unavailable: no target group receives traffic\n"));
        }
    };
    let deadline = Instant::now() + config.request_timeout;
    let mut tried: Vec<Arc<InstanceState>> = Vec::new();
    loop {
        let instance = guard.instance().clone();
        let aborts = instance.pool.aborts();
        let sent_at = Instant::now();
        let failure = match tokio::time::timeout_at(deadline, send_to(&shared, &instance, request)).await {
            Ok(Ok((response, connection))) => {
                let elapsed = sent_at.elapsed();
                let status = response.status();
                instance.metrics.record_latency(elapsed);
                group.record_latency(elapsed);
                if status == StatusCode::SWITCHING_PROTOCOLS {
                    // The router never forwards Upgrade, so a 101 is a broken upstream.
                    Failure { kind: UpstreamErrorKind::Response, unsent: None }
                } else {
                    instance.metrics.record_response(status.as_u16(), false);
                    group.record_response(status.as_u16(), false);
                    let (mut parts, body) = response.into_parts();
                    headers::downstream_response(&mut parts);
                    return Ok(Response::from_parts(parts, ProxyBody::upstream(body, guard, group, aborts, connection, shared.pool_settings.max_idle)));
                }
            }
            Ok(Err(failure)) => failure,
            Err(_) => Failure { kind: UpstreamErrorKind::Timeout, unsent: None },
        };
        instance.metrics.record_error(failure.kind);
        group.record_error(failure.kind);
        if let Some(unsent) = failure.unsent
            && may_retry
            && tried.len() < config.retry.max_retries as usize
        {
            tried.push(instance.clone());
            if let Ok(next) = shared.routes.select_other(config.algorithm, &instance.group, &tried) {
                group.record_retry();
                request = unsent;
                guard = next;
                continue;
            }
        }
        let status = failure.kind.status().as_u16();
        instance.metrics.record_response(status, true);
        group.record_response(status, true);
        return Ok(failure_response(failure.kind));
    }
}
