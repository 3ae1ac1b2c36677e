//! The response body the router sends: an upstream's body streamed frame by frame (never
//! buffered whole), or a short message the router made itself.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;

use crate::metrics::{Scope, UpstreamErrorKind};
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
}

impl ProxyBody {
    pub(crate) fn full(text: impl Into<Bytes>) -> Self {
        ProxyBody { kind: Kind::Full(Some(text.into())) }
    }

    pub(crate) fn upstream(inner: Incoming, guard: InflightGuard, group: Arc<Scope>, aborts_at_start: u64) -> Self {
        ProxyBody { kind: Kind::Upstream(Streaming { inner, guard: Some(guard), group, aborts_at_start }) }
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
                    s.guard = None;
                    Poll::Ready(None)
                }
                Poll::Ready(Some(Err(e))) => {
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
