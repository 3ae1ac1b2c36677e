//! Keep-alive HTTP/1.1 connections to one instance.
//!
//! The router keeps its own small pool per instance (rather than a generic client) because it
//! must know exactly whether a request was sent: a request handed back by hyper's
//! `try_send_request` was never written, so it can go to a fresh connection or another instance
//! (see [`crate::RetryPolicy`]), and a connect that fails never sent anything. The pool also lets
//! a drain that timed out cut every connection of one instance at once.

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use hyper::body::Incoming;
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;

use crate::metrics::UpstreamErrorKind;
use crate::targets::InstanceState;

struct Idle {
    tx: SendRequest<Incoming>,
    since: Instant,
}

/// Settings the pool needs from the router's configuration.
#[derive(Clone, Copy)]
pub(crate) struct PoolSettings {
    pub(crate) connect_timeout: Duration,
    pub(crate) idle_timeout: Duration,
    pub(crate) max_idle: usize,
    pub(crate) max_header_bytes: usize,
    pub(crate) max_headers: usize,
}

pub(crate) struct Pool {
    idle: Mutex<Vec<Idle>>,
    /// Cancelled to close every connection of the instance; replaced by a fresh token.
    cancel: Mutex<CancellationToken>,
    /// How many times connections were cut: a request that saw it change failed because of it.
    aborts: AtomicU64,
}

impl Pool {
    pub(crate) fn new() -> Self {
        Pool { idle: Mutex::new(Vec::new()), cancel: Mutex::new(CancellationToken::new()), aborts: AtomicU64::new(0) }
    }

    fn idle(&self) -> MutexGuard<'_, Vec<Idle>> {
        self.idle.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn aborts(&self) -> u64 {
        self.aborts.load(Ordering::SeqCst)
    }

    /// The most recently used idle connection that is still open and young enough.
    pub(crate) fn take_idle(&self, idle_timeout: Duration) -> Option<SendRequest<Incoming>> {
        let mut idle = self.idle();
        while let Some(c) = idle.pop() {
            if c.tx.is_ready() && c.since.elapsed() < idle_timeout {
                return Some(c.tx);
            }
        }
        None
    }

    /// Returns a connection after its response finished (if the pool is not full).
    pub(crate) fn put(&self, tx: SendRequest<Incoming>, max_idle: usize) {
        let mut idle = self.idle();
        if idle.len() < max_idle {
            idle.push(Idle { tx, since: Instant::now() });
        }
    }

    /// Takes a connection back after its response: at once when it is ready for the next
    /// request, else once it is (a task waits), never for a removed instance.
    pub(crate) fn give_back(instance: &Arc<InstanceState>, tx: SendRequest<Incoming>, max_idle: usize) {
        if instance.removed.load(Ordering::SeqCst) || tx.is_closed() {
            return;
        }
        if tx.is_ready() {
            instance.pool.put(tx, max_idle);
            return;
        }
        let instance = instance.clone();
        let mut tx = tx;
        tokio::spawn(async move {
            if tx.ready().await.is_ok() && !instance.removed.load(Ordering::SeqCst) {
                instance.pool.put(tx, max_idle);
            }
        });
    }

    /// Opens a connection: TCP (bounded by the connect timeout) and the HTTP/1.1 handshake. The
    /// connection's task ends with the connection, or when [`Pool::abort_all`] cuts it.
    pub(crate) async fn connect(&self, addr: SocketAddr, s: &PoolSettings) -> Result<SendRequest<Incoming>, (UpstreamErrorKind, io::Error)> {
        let stream = match tokio::time::timeout(s.connect_timeout, TcpStream::connect(addr)).await {
            Err(_) => return Err((UpstreamErrorKind::ConnectTimeout, io::Error::new(io::ErrorKind::TimedOut, format!("connect to {addr} timed out")))),
            Ok(Err(e)) => return Err((UpstreamErrorKind::Connect, e)),
            Ok(Ok(stream)) => stream,
        };
        let _ = stream.set_nodelay(true);
        let mut builder = http1::Builder::new();
        builder.max_buf_size(s.max_header_bytes).max_header_size(s.max_header_bytes).max_headers(s.max_headers);
        let (tx, conn) = builder.handshake(TokioIo::new(stream)).await.map_err(|e| (UpstreamErrorKind::Connect, io::Error::other(e)))?;
        let cancel = self.cancel.lock().unwrap_or_else(|p| p.into_inner()).clone();
        tokio::spawn(async move {
            tokio::select! {
                _ = conn => {}
                _ = cancel.cancelled() => {}
            }
        });
        Ok(tx)
    }

    /// Closes every connection of this instance, idle or busy: requests on them fail.
    pub(crate) fn abort_all(&self) {
        self.aborts.fetch_add(1, Ordering::SeqCst);
        let old = std::mem::take(&mut *self.cancel.lock().unwrap_or_else(|p| p.into_inner()));
        old.cancel();
        self.idle().clear();
    }

    /// Drops idle connections (their tasks end when the sender is gone).
    pub(crate) fn clear_idle(&self) {
        self.idle().clear();
    }
}
