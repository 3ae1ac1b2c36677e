//! The response body the router sends: an upstream's body streamed frame by frame (never
//! buffered whole), or a short message the router made itself.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;
use hyper::client::conn::http1::SendRequest;

use crate::metrics::{Scope, UpstreamErrorKind};
use crate::pool::Pool;
use crate::targets::InflightGuard;

/// The error a streamed body can end with (the upstream's connection failed mid-body).
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A response body from the router.
pub struct ProxyBody {
    kind: Kind,
}

enum Kind {
    Full(Option<Bytes>),
    Upstream(Streaming),
}

struct Streaming {
    inner: Incoming,
    /// The request stays in flight on its instance until the body ends or is dropped.
    guard: Option<InflightGuard>,
    group: Arc<Scope>,
    aborts_at_start: u64,
    /// The upstream connection, returned to its pool when the body has been read to the end.
    connection: Option<SendRequest<Incoming>>,
    max_idle: usize,
}

impl Streaming {
    /// The body was read to the end: the connection can serve another request.
    fn finish(&mut self) {
        if let (Some(tx), Some(guard)) = (self.connection.take(), self.guard.as_ref()) {
            Pool::give_back(guard.instance(), tx, self.max_idle);
        }
        self.guard = None;
    }
}

impl Drop for Streaming {
    fn drop(&mut self) {
        // A body nobody polled to its end (HEAD, 204, 304) may still be complete.
        if self.inner.is_end_stream() {
            self.finish();
        }
    }
}

impl ProxyBody {
    pub(crate) fn full(text: impl Into<Bytes>) -> Self {
        ProxyBody { kind: Kind::Full(Some(text.into())) }
    }

    pub(crate) fn upstream(inner: Incoming, guard: InflightGuard, group: Arc<Scope>, aborts_at_start: u64, connection: SendRequest<Incoming>, max_idle: usize) -> Self {
        ProxyBody { kind: Kind::Upstream(Streaming { inner, guard: Some(guard), group, aborts_at_start, connection: Some(connection), max_idle }) }
    }
}

impl Body for ProxyBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        match &mut self.get_mut().kind {
            Kind::Full(data) => Poll::Ready(data.take().map(|d| Ok(Frame::data(d)))),
            Kind::Upstream(s) => match Pin::new(&mut s.inner).poll_frame(cx) {
                Poll::Pending => Poll::Pending,
                Poll::Ready(Some(Ok(frame))) => Poll::Ready(Some(Ok(frame))),
                Poll::Ready(None) => {
                    s.finish();
                    Poll::Ready(None)
                }
                Poll::Ready(Some(Err(e))) => {
                    s.connection = None;
                    if let Some(guard) = s.guard.take() {
                        let instance = guard.instance();
                        let kind = if instance.pool.aborts() != s.aborts_at_start { UpstreamErrorKind::Aborted } else { UpstreamErrorKind::Body };
                        instance.metrics.record_error(kind);
                        s.group.record_error(kind);
                    }
                    Poll::Ready(Some(Err(Box::new(e))))
                }
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.kind {
            Kind::Full(data) => data.is_none(),
            Kind::Upstream(s) => s.inner.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            Kind::Full(Some(d)) => SizeHint::with_exact(d.len() as u64),
            Kind::Full(None) => SizeHint::with_exact(0),
            Kind::Upstream(s) => s.inner.size_hint(),
        }
    }
}
