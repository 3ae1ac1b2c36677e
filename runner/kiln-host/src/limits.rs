//! Per-call limits and the store's resource limiter.

use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Host-side caps on one call. They apply on top of the plugin's [`crate::Grants`]: the
/// effective memory cap and deadline are the smaller of the two.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    /// Hard ceiling on linear memory, bytes.
    pub max_memory: u64,
    /// Hard ceiling on wall-clock time.
    pub timeout: Duration,
    /// Most findings one call may return.
    pub max_findings: usize,
    /// Most bytes of `log` messages per call.
    pub max_log_bytes: usize,
    /// Most bytes kept of stdout and of stderr each (the rest is dropped and marked truncated).
    pub max_stdio_bytes: usize,
    /// Most bytes the plugin may write into `/out` in total.
    pub max_output_bytes: u64,
    /// Most files (and directories) the plugin may create in `/out`.
    pub max_output_files: usize,
    /// Longest `message`, `rule-id`, path or summary string accepted in a result, bytes.
    pub max_string_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_memory: 1 << 30,
            timeout: Duration::from_secs(600),
            max_findings: 10_000,
            max_log_bytes: 1 << 20,
            max_stdio_bytes: 256 << 10,
            max_output_bytes: 256 << 20,
            max_output_files: 10_000,
            max_string_bytes: 64 << 10,
        }
    }
}

/// Which limit a plugin hit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "limit", rename_all = "kebab-case")]
pub enum LimitKind {
    /// The wall-clock deadline (epoch interruption).
    Timeout {
        /// The deadline in milliseconds.
        ms: u64,
    },
    /// The linear-memory cap.
    Memory {
        /// The cap in bytes.
        bytes: u64,
    },
    /// The wasm stack (deep recursion).
    Stack,
    /// Bytes of `log` messages.
    LogBytes {
        /// The cap in bytes.
        bytes: usize,
    },
    /// Number of findings.
    Findings {
        /// The cap.
        count: usize,
    },
    /// Bytes written into `/out`.
    OutputBytes {
        /// The cap in bytes.
        bytes: u64,
    },
    /// Files created in `/out`.
    OutputFiles {
        /// The cap.
        count: usize,
    },
    /// One string in the result was too long.
    StringBytes {
        /// The cap in bytes.
        bytes: usize,
    },
}

impl std::fmt::Display for LimitKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LimitKind::Timeout { ms } => write!(f, "wall-clock deadline of {ms} ms"),
            LimitKind::Memory { bytes } => write!(f, "memory cap of {} MiB", bytes >> 20),
            LimitKind::Stack => f.write_str("wasm stack size (recursion too deep)"),
            LimitKind::LogBytes { bytes } => write!(f, "log cap of {bytes} bytes"),
            LimitKind::Findings { count } => write!(f, "findings cap of {count}"),
            LimitKind::OutputBytes { bytes } => write!(f, "output cap of {bytes} bytes"),
            LimitKind::OutputFiles { count } => write!(f, "output cap of {count} files"),
            LimitKind::StringBytes { bytes } => write!(f, "string cap of {bytes} bytes"),
        }
    }
}

/// The error a host function or the epoch callback raises to stop a guest at a limit; it is
/// recognised again when the call's error is classified.
#[derive(Debug, Clone)]
pub(crate) struct LimitHit(pub LimitKind);

impl std::fmt::Display for LimitHit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "plugin exceeded its {}", self.0)
    }
}

impl std::error::Error for LimitHit {}

/// Resource limiter: a memory cap (growth beyond it traps), a few instances/tables, and the
/// peak memory for statistics.
pub(crate) struct Limiter {
    pub max_memory: usize,
    pub peak_memory: usize,
    pub hit: Option<LimitKind>,
}

impl Limiter {
    pub fn new(max_memory: u64) -> Self {
        Limiter {
            max_memory: usize::try_from(max_memory).unwrap_or(usize::MAX),
            peak_memory: 0,
            hit: None,
        }
    }
}

/// Most elements any one table may have.
const MAX_TABLE_ELEMENTS: usize = 1 << 20;

impl wasmtime::ResourceLimiter for Limiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.max_memory {
            let kind = LimitKind::Memory {
                bytes: self.max_memory as u64,
            };
            self.hit = Some(kind.clone());
            return Err(wasmtime::Error::new(LimitHit(kind)));
        }
        self.peak_memory = self.peak_memory.max(desired);
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= MAX_TABLE_ELEMENTS)
    }

    fn instances(&self) -> usize {
        64
    }

    fn tables(&self) -> usize {
        64
    }

    fn memories(&self) -> usize {
        16
    }
}
