//! The client side: accepting connections and serving HTTP/1.1 or HTTP/2 (prior knowledge,
//! h2c) on them, with graceful shutdown.
//!
//! The protocol is told by the first bytes: the HTTP/2 connection preface or anything else
//! (RFC 9113 §3.4). The router reads at most the preface's 24 bytes itself and hands them back to
//! hyper in front of the stream, then serves the connection with hyper's own HTTP/1 or HTTP/2
//! builder (rather than hyper-util's auto builder) so that the HTTP/1 head limit is exact
//! (`max_header_size`: 431 past it).

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Buf, Bytes};
use hyper::server::conn::{http1, http2};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::task::TaskTracker;

use crate::headers::ClientInfo;
use crate::proxy;
use crate::router::Shared;

/// Most concurrent HTTP/2 streams per client connection.
const MAX_H2_STREAMS: u32 = 256;
const PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// A stream that first replays the bytes read to tell the protocol.
struct Rewind {
    prefix: Bytes,
    inner: TcpStream,
}

impl AsyncRead for Rewind {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        if self.prefix.has_remaining() {
            let n = self.prefix.len().min(buf.remaining());
            buf.put_slice(&self.prefix[..n]);
            self.prefix.advance(n);
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for Rewind {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }
    fn poll_write_vectored(mut self: Pin<&mut Self>, cx: &mut Context<'_>, bufs: &[io::IoSlice<'_>]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }
    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// Reads until the bytes differ from the HTTP/2 preface or match all of it.
async fn sniff(stream: &mut TcpStream) -> io::Result<(bool, Bytes)> {
    let mut seen = Vec::with_capacity(PREFACE.len());
    loop {
        let mut chunk = [0u8; 24];
        let want = PREFACE.len() - seen.len();
        let n = stream.read(&mut chunk[..want]).await?;
        seen.extend_from_slice(&chunk[..n]);
        if n == 0 || seen[..] != PREFACE[..seen.len()] {
            return Ok((false, Bytes::from(seen)));
        }
        if seen.len() == PREFACE.len() {
            return Ok((true, Bytes::from(seen)));
        }
    }
}

/// The two connection types, both able to stop gracefully.
trait Graceful: Future {
    fn graceful(self: Pin<&mut Self>);
}

impl<I, S> Graceful for http1::Connection<I, S>
where
    Self: Future,
    S: hyper::service::HttpService<hyper::body::Incoming>,
    I: hyper::rt::Read + hyper::rt::Write + Unpin,
    S::ResBody: hyper::body::Body + 'static,
    <S::ResBody as hyper::body::Body>::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    fn graceful(self: Pin<&mut Self>) {
        self.graceful_shutdown();
    }
}

impl<I, S, E> Graceful for http2::Connection<I, S, E>
where
    Self: Future,
    S: hyper::service::HttpService<hyper::body::Incoming>,
    I: hyper::rt::Read + hyper::rt::Write + Unpin,
    S::ResBody: hyper::body::Body + 'static,
    <S::ResBody as hyper::body::Body>::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    E: hyper::rt::bounds::Http2ServerConnExec<S::Future, S::ResBody>,
{
    fn graceful(self: Pin<&mut Self>) {
        self.graceful_shutdown();
    }
}

/// Runs a connection until it ends; on shutdown, finishes the requests already read and
/// accepts no more; on a hard stop, drops it.
async fn drive<C: Graceful>(connection: C, shared: &Shared) {
    tokio::pin!(connection);
    tokio::select! {
        _ = connection.as_mut() => return,
        _ = shared.shutdown.cancelled() => {}
    }
    connection.as_mut().graceful();
    tokio::select! {
        _ = connection.as_mut() => {}
        _ = shared.hard_stop.cancelled() => {}
    }
}

async fn serve_connection(mut stream: TcpStream, client: ClientInfo, shared: Arc<Shared>) {
    let config = &shared.config;
    let sniffed = tokio::select! {
        s = tokio::time::timeout(config.header_read_timeout, sniff(&mut stream)) => s,
        _ = shared.shutdown.cancelled() => return,
    };
    let Ok(Ok((is_h2, prefix))) = sniffed else { return };
    let io = TokioIo::new(Rewind { prefix, inner: stream });
    let service_state = shared.clone();
    let service = service_fn(move |request| proxy::handle(service_state.clone(), client, request));
    if is_h2 {
        let mut builder = http2::Builder::new(TokioExecutor::new());
        builder.timer(TokioTimer::new()).max_header_list_size(u32::try_from(config.max_header_bytes).unwrap_or(u32::MAX)).max_concurrent_streams(MAX_H2_STREAMS);
        drive(builder.serve_connection(io, service), &shared).await;
    } else {
        let mut builder = http1::Builder::new();
        builder
            .timer(TokioTimer::new())
            .header_read_timeout(config.header_read_timeout)
            .max_buf_size(config.max_header_bytes)
            .max_header_size(config.max_header_bytes)
            .max_headers(config.max_headers)
            .keep_alive(true);
        drive(builder.serve_connection(io, service), &shared).await;
    }
}

/// Accepts until shutdown; each connection runs on its own task in `tracker`.
pub(crate) async fn serve(listener: TcpListener, shared: Arc<Shared>, tracker: TaskTracker) {
    let Ok(local) = listener.local_addr() else { return };
    loop {
        let accepted = tokio::select! {
            _ = shared.shutdown.cancelled() => return,
            accepted = listener.accept() => accepted,
        };
        let (stream, peer) = match accepted {
            Ok(a) => a,
            Err(error) => {
                // Out of file descriptors and the like: wait instead of spinning.
                tracing::warn!(%error, "router accept failed");
                tokio::time::sleep(Duration::from_millis(20)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        tracker.spawn(serve_connection(stream, ClientInfo { peer, local }, shared.clone()));
    }
}
