//! Grants: the intersection of what a plugin requests and what the build allows.

use crate::manifest::Capabilities;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::time::Duration;

/// What a build (buildspec / CLI) allows plugins to have. Everything not listed is denied.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Policy {
    /// Whether plugins may read the source tree.
    pub read_source: bool,
    /// Whether plugins may write their output directory.
    pub write_output: bool,
    /// Environment variables a plugin may see (if it asks for them by name).
    pub env: BTreeSet<String>,
    /// Whether plugins may have full-resolution clocks.
    pub precise_clock: bool,
    /// The most linear memory a plugin may get, in bytes.
    pub max_memory: u64,
    /// The longest wall-clock time a call may take.
    pub max_timeout: Duration,
}

impl Default for Policy {
    /// Source read-only, output writable, no environment, coarse clocks, 256 MiB, 5 minutes.
    fn default() -> Self {
        Policy {
            read_source: true,
            write_output: true,
            env: BTreeSet::new(),
            precise_clock: false,
            max_memory: 256 << 20,
            max_timeout: Duration::from_secs(300),
        }
    }
}

/// Memory a plugin gets when its manifest does not say (still capped by the policy).
pub const DEFAULT_MEMORY: u64 = 64 << 20;
/// Time a call gets when the manifest does not say (still capped by the policy).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// Something a plugin asked for and did not get (in full).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Denial {
    /// `read-source` was requested but the policy does not allow it.
    ReadSource,
    /// `write-output` was requested but the policy does not allow it.
    WriteOutput,
    /// An environment variable the policy does not allow.
    Env {
        /// The variable's name.
        name: String,
    },
    /// Network access: never granted in this version.
    Network,
    /// Full-resolution clocks.
    PreciseClock,
    /// Less memory than requested.
    Memory {
        /// Bytes requested.
        requested: u64,
        /// Bytes granted.
        granted: u64,
    },
    /// A shorter deadline than requested.
    Timeout {
        /// Milliseconds requested.
        requested_ms: u64,
        /// Milliseconds granted.
        granted_ms: u64,
    },
}

impl std::fmt::Display for Denial {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Denial::ReadSource => f.write_str("read-source: not allowed by the build"),
            Denial::WriteOutput => f.write_str("write-output: not allowed by the build"),
            Denial::Env { name } => write!(f, "env {name}: not in the build's allowed variables"),
            Denial::Network => {
                f.write_str("network: plugins never get network access in this version of kiln")
            }
            Denial::PreciseClock => {
                f.write_str("precise-clock: not allowed by the build (clocks tick in 1 ms steps)")
            }
            Denial::Memory { requested, granted } => {
                write!(
                    f,
                    "max-memory: requested {} MiB, granted {} MiB",
                    requested >> 20,
                    granted >> 20
                )
            }
            Denial::Timeout {
                requested_ms,
                granted_ms,
            } => {
                write!(
                    f,
                    "timeout: requested {requested_ms} ms, granted {granted_ms} ms"
                )
            }
        }
    }
}

/// What a plugin actually gets for a call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Grants {
    /// `/src` is preopened read-only.
    pub read_source: bool,
    /// `/out` is preopened read-write.
    pub write_output: bool,
    /// Environment variables passed through (names; values come from the invocation).
    pub env: Vec<String>,
    /// Always false in this version.
    pub network: bool,
    /// Full-resolution clocks.
    pub precise_clock: bool,
    /// Linear memory cap in bytes.
    pub max_memory: u64,
    /// Wall-clock deadline per call.
    pub timeout: Duration,
    /// What was requested and not granted.
    pub denied: Vec<Denial>,
}

impl Grants {
    /// Grant the intersection of `requested` and `policy`, recording every denial.
    pub fn intersect(requested: &Capabilities, policy: &Policy) -> Grants {
        let mut denied = Vec::new();
        let mut grant = |asked: bool, allowed: bool, denial: Denial| {
            if asked && !allowed {
                denied.push(denial);
            }
            asked && allowed
        };
        let read_source = grant(
            requested.read_source,
            policy.read_source,
            Denial::ReadSource,
        );
        let write_output = grant(
            requested.write_output,
            policy.write_output,
            Denial::WriteOutput,
        );
        let precise_clock = grant(
            requested.precise_clock,
            policy.precise_clock,
            Denial::PreciseClock,
        );
        if requested.network {
            denied.push(Denial::Network);
        }
        let mut env = Vec::new();
        let mut seen = BTreeSet::new();
        for name in &requested.env {
            if !seen.insert(name) {
                continue;
            }
            if policy.env.contains(name) {
                env.push(name.clone());
            } else {
                denied.push(Denial::Env { name: name.clone() });
            }
        }
        let asked_mem = requested.max_memory.unwrap_or(DEFAULT_MEMORY);
        let max_memory = asked_mem.min(policy.max_memory);
        if max_memory < asked_mem {
            denied.push(Denial::Memory {
                requested: asked_mem,
                granted: max_memory,
            });
        }
        let asked_time = requested.timeout.unwrap_or(DEFAULT_TIMEOUT);
        let timeout = asked_time.min(policy.max_timeout);
        if timeout < asked_time {
            denied.push(Denial::Timeout {
                requested_ms: asked_time.as_millis() as u64,
                granted_ms: timeout.as_millis() as u64,
            });
        }
        Grants {
            read_source,
            write_output,
            env,
            network: false,
            precise_clock,
            max_memory,
            timeout,
            denied,
        }
    }

    /// Nothing at all: no files, no env, default memory and time.
    pub fn none() -> Grants {
        Grants::intersect(&Capabilities::default(), &Policy::default())
    }

    /// What was requested and not granted.
    pub fn denied(&self) -> &[Denial] {
        &self.denied
    }

    /// A human-readable account: what is granted, then each denial with its reason.
    pub fn explain(&self) -> String {
        let mut s = format!(
            "granted: read-source={} write-output={} env=[{}] network=false precise-clock={} max-memory={} MiB timeout={} ms",
            self.read_source,
            self.write_output,
            self.env.join(", "),
            self.precise_clock,
            self.max_memory >> 20,
            self.timeout.as_millis()
        );
        if self.denied.is_empty() {
            s.push_str("\ndenied: nothing");
        }
        for d in &self.denied {
            s.push_str("\ndenied: ");
            s.push_str(&d.to_string());
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intersection_and_explanation() {
        let req = Capabilities {
            read_source: true,
            write_output: true,
            env: vec!["HOME".into(), "TOKEN".into(), "HOME".into()],
            network: true,
            precise_clock: true,
            max_memory: Some(1 << 30),
            timeout: Some(Duration::from_secs(600)),
        };
        let policy = Policy {
            write_output: false,
            env: ["HOME".to_string()].into(),
            ..Policy::default()
        };
        let g = Grants::intersect(&req, &policy);
        assert!(g.read_source && !g.write_output && !g.network && !g.precise_clock);
        assert_eq!(g.env, vec!["HOME".to_string()]);
        assert_eq!(g.max_memory, 256 << 20);
        assert_eq!(g.timeout, Duration::from_secs(300));
        assert_eq!(g.denied().len(), 6, "{:?}", g.denied());
        let text = g.explain();
        for needle in [
            "write-output: not allowed",
            "env TOKEN",
            "network: plugins never",
            "precise-clock",
            "requested 1024 MiB, granted 256 MiB",
            "timeout: requested 600000 ms",
        ] {
            assert!(text.contains(needle), "{needle} missing from {text}");
        }
    }

    #[test]
    fn asking_for_nothing_is_granted_nothing() {
        let g = Grants::none();
        assert!(!g.read_source && !g.write_output && g.env.is_empty() && g.denied().is_empty());
        assert_eq!(g.max_memory, DEFAULT_MEMORY);
    }
}
