//! Guest stdout/stderr captured in memory with a byte cap; extra bytes are dropped (and the
//! capture marked truncated) rather than failing the guest's write.

use bytes::Bytes;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamResult};

#[derive(Debug, Default)]
struct Buf {
    bytes: Vec<u8>,
    cap: usize,
    truncated: bool,
}

/// A cloneable handle to one capture.
#[derive(Debug, Clone)]
pub(crate) struct CappedPipe(Arc<Mutex<Buf>>);

impl CappedPipe {
    pub fn new(cap: usize) -> Self {
        CappedPipe(Arc::new(Mutex::new(Buf {
            bytes: Vec::new(),
            cap,
            truncated: false,
        })))
    }

    fn push(&self, data: &[u8]) {
        let mut b = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let room = b.cap.saturating_sub(b.bytes.len());
        let n = room.min(data.len());
        b.bytes.extend_from_slice(&data[..n]);
        if n < data.len() {
            b.truncated = true;
        }
    }

    /// The captured text (lossy UTF-8) and whether bytes were dropped.
    pub fn take(&self) -> (String, bool) {
        let mut b = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let text = String::from_utf8_lossy(&b.bytes).into_owned();
        b.bytes.clear();
        (text, b.truncated)
    }
}

impl IsTerminal for CappedPipe {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for CappedPipe {
    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }

    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for CappedPipe {
    async fn ready(&mut self) {}
}

#[wasmtime_wasi::async_trait]
impl OutputStream for CappedPipe {
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        self.push(&bytes);
        Ok(())
    }

    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        Ok(64 << 10)
    }
}

impl tokio::io::AsyncWrite for CappedPipe {
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        self.push(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// Wall and monotonic clocks that tick in fixed steps, so a plugin without `precise-clock`
/// cannot time host operations finely.
pub(crate) mod coarse_clock {
    use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
    use wasmtime_wasi::{HostMonotonicClock, HostWallClock};

    /// The step both clocks tick in.
    pub const RESOLUTION: Duration = Duration::from_millis(1);

    fn floor(d: Duration) -> Duration {
        let step = RESOLUTION.as_nanos();
        Duration::from_nanos(((d.as_nanos() / step) * step) as u64)
    }

    /// Wall clock rounded down to [`RESOLUTION`].
    pub struct Wall;

    impl HostWallClock for Wall {
        fn resolution(&self) -> Duration {
            RESOLUTION
        }
        fn now(&self) -> Duration {
            floor(
                SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .unwrap_or_default(),
            )
        }
    }

    /// Monotonic clock rounded down to [`RESOLUTION`].
    pub struct Monotonic(pub Instant);

    impl HostMonotonicClock for Monotonic {
        fn resolution(&self) -> u64 {
            RESOLUTION.as_nanos() as u64
        }
        fn now(&self) -> u64 {
            floor(self.0.elapsed()).as_nanos() as u64
        }
    }
}
