//! Numbers the instances report themselves (`targets.settings.metrics: {path, interval-ms}`):
//! every interval each running service is asked `GET <path>` on its loopback port, and each line
//! `name value` of the answer (Prometheus' text format is read the same way: `# …` lines are
//! skipped, a `{labels}` part is dropped) becomes a sample of `instance.<name>` (all instances
//! together) and of `instance.<id>.<name>` (that instance), for the deployment's alarms.
//!
//! Bounds: an answer is read for at most 2 s and 64 KiB; at most 1,000 names per instance; names
//! are letters, digits, `_`, `:`, `.` and `-`, at most 128 characters (anything else is skipped). A
//! service that does not answer simply has no datapoint for that period (the alarm's
//! `treatMissingData` decides), as CloudWatch has none for an agent that did not report.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use kiln_deploy::metrics::{Datapoint, MetricsError, MetricsSource, SampleStore};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::LocalFleet;

/// The prefix of the metrics the instances report.
pub const PREFIX: &str = "instance.";

const MAX_BODY: u64 = 64 * 1024;
const MAX_NAMES: usize = 1000;

/// The samples the instances reported.
#[derive(Clone, Default)]
pub struct InstanceMetrics {
    samples: Arc<SampleStore>,
}

/// Whether `name` is a metric name kiln accepts from an instance.
fn valid_name(name: &str) -> bool {
    !name.is_empty() && name.len() <= 128 && name.chars().all(|c| c.is_ascii_alphanumeric() || "_:.-".contains(c))
}

/// The `(name, value)` pairs of a metrics answer's body.
pub fn parse(body: &str) -> Vec<(String, f64)> {
    let mut out = Vec::new();
    for line in body.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (name, rest) = match line.find('{') {
            Some(i) => match line[i..].find('}') {
                Some(j) => (&line[..i], &line[i + j + 1..]),
                None => continue,
            },
            None => match line.split_once(char::is_whitespace) {
                Some((n, r)) => (n, r),
                None => continue,
            },
        };
        let Some(value) = rest.split_whitespace().next().and_then(|v| v.parse::<f64>().ok()).filter(|v| v.is_finite()) else { continue };
        if valid_name(name) {
            out.push((name.to_string(), value));
        }
        if out.len() >= MAX_NAMES {
            break;
        }
    }
    out
}

async fn fetch(addr: SocketAddr, path: &str) -> Option<String> {
    let io = async {
        let mut c = tokio::net::TcpStream::connect(addr).await.ok()?;
        c.write_all(format!("GET {path} HTTP/1.0\r\nHost: {addr}\r\nUser-Agent: kiln-metrics\r\n\r\n").as_bytes()).await.ok()?;
        let mut buf = Vec::new();
        (&mut c).take(MAX_BODY).read_to_end(&mut buf).await.ok()?;
        let text = String::from_utf8_lossy(&buf).into_owned();
        let (head, body) = text.split_once("\r\n\r\n")?;
        head.get(9..10).filter(|d| *d == "2")?;
        Some(body.to_string())
    };
    tokio::time::timeout(Duration::from_secs(2), io).await.ok().flatten()
}

impl InstanceMetrics {
    /// Poll `fleet`'s running services every `every` until the returned task is aborted.
    pub fn poll(&self, fleet: LocalFleet, path: String, every: Duration) -> tokio::task::JoinHandle<()> {
        let samples = self.samples.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                for (id, addr) in fleet.serving() {
                    let Some(body) = fetch(addr, &path).await else { continue };
                    let at = Instant::now();
                    for (name, value) in parse(&body) {
                        samples.record_at(&format!("{PREFIX}{name}"), at, value);
                        samples.record_at(&format!("{PREFIX}{id}.{name}"), at, value);
                    }
                }
            }
        })
    }
}

impl MetricsSource for InstanceMetrics {
    fn datapoint(&self, metric: &str, from: Instant, to: Instant) -> Result<Option<Datapoint>, MetricsError> {
        if !self.samples.has(metric) {
            // Not reported yet: no data for the period.
            return Ok(None);
        }
        self.samples.datapoint(metric, from, to)
    }

    /// Any `instance.<name>` is accepted: what a service reports is known only once it runs.
    fn check(&self, metric: &str) -> Result<(), MetricsError> {
        match metric.strip_prefix(PREFIX) {
            Some(rest) if valid_name(rest) => Ok(()),
            _ => Err(MetricsError::Unknown { name: metric.to_string(), known: Some(format!("{PREFIX}<name> as the instances report it")) }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_read_as_prometheus_text_is_and_bad_ones_skipped() {
        let body = "# HELP queue_depth jobs waiting\nqueue_depth 12\nerrors_total{code=\"500\"} 3 1700000000\nlatency.p99 0.25\nbad/name 1\nnan_value NaN\nnot_a_number x\n\n";
        assert_eq!(parse(body), vec![("queue_depth".into(), 12.0), ("errors_total".into(), 3.0), ("latency.p99".into(), 0.25)]);
        let many: String = (0..2000).map(|i| format!("m{i} 1\n")).collect();
        assert_eq!(parse(&many).len(), MAX_NAMES);
    }

    #[test]
    fn unreported_metrics_are_missing_data_and_names_are_checked() {
        let m = InstanceMetrics::default();
        assert!(m.check("instance.queue_depth").is_ok());
        assert!(m.check("instance.web-1.queue_depth").is_ok());
        assert!(m.check("instance.a b").is_err());
        assert!(m.check("router.x").is_err());
        let now = Instant::now();
        assert_eq!(m.datapoint("instance.queue_depth", now - Duration::from_secs(1), now).unwrap(), None);
        m.samples.record_at("instance.queue_depth", now - Duration::from_millis(10), 5.0);
        assert_eq!(m.datapoint("instance.queue_depth", now - Duration::from_secs(1), now).unwrap().map(|d| d.sum), Some(5.0));
    }
}
