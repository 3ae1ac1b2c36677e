//! The client side: accepting connections and serving HTTP/1.1 and HTTP/2 (prior knowledge, h2c)
//! on them, with graceful shutdown.

use std::sync::Arc;
use std::time::Duration;

use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;
use tokio_util::task::TaskTracker;

use crate::headers::ClientInfo;
use crate::proxy;
use crate::router::Shared;

/// Most concurrent HTTP/2 streams per client connection.
const MAX_H2_STREAMS: u32 = 256;

fn builder(shared: &Shared) -> auto::Builder<TokioExecutor> {
    let config = &shared.config;
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(config.header_read_timeout)
        .max_buf_size(config.max_header_bytes)
        .max_headers(config.max_headers)
        .keep_alive(true);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_header_list_size(u32::try_from(config.max_header_bytes).unwrap_or(u32::MAX))
        .max_concurrent_streams(MAX_H2_STREAMS);
    builder
}

/// Accepts until shutdown; each connection runs on its own task in `tracker`.
pub(crate) async fn serve(listener: TcpListener, shared: Arc<Shared>, tracker: TaskTracker) {
    let builder = Arc::new(builder(&shared));
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
        let shared = shared.clone();
        let builder = builder.clone();
        tracker.spawn(async move {
            let client = ClientInfo { peer, local };
            let service_state = shared.clone();
            let service = service_fn(move |request| proxy::handle(service_state.clone(), client, request));
            let connection = builder.serve_connection(TokioIo::new(stream), service);
            tokio::pin!(connection);
            tokio::select! {
                _ = connection.as_mut() => return,
                _ = shared.shutdown.cancelled() => {}
            }
            // Finish the requests already read, accept no more on this connection.
            connection.as_mut().graceful_shutdown();
            tokio::select! {
                _ = connection.as_mut() => {}
                _ = shared.hard_stop.cancelled() => {}
            }
        });
    }
}
