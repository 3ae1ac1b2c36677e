//! Where alarm data comes from: a [`MetricsSource`] answers "what did metric X do between two
//! instants" with one CloudWatch-style datapoint (the period's statistic set: sample count, sum,
//! minimum, maximum, and a distribution for percentiles), or with nothing when the metric had no
//! data then (a *missing* datapoint, which `treatMissingData` decides about).
//!
//! The local driver adapts `kiln-router`'s metrics windows (5xx count and rate, latency
//! percentiles) to this trait; [`SampleStore`] keeps raw samples for metrics kiln observes itself
//! (failed health checks, [`HEALTH_CHECK_FAILED`]) and for numbers a hook or an HTTP endpoint
//! reports. [`Chain`] puts several sources behind one name space.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::Instant;

use crate::alarm::Statistic;

/// The metric the engine records for every health check it makes: 1 when the check failed, 0
/// when it passed (so `Sum` counts failures and `Average` is the failure ratio).
pub const HEALTH_CHECK_FAILED: &str = "kiln.HealthCheckFailed";

/// The prefix of the metrics hooks report: a hook's stdout line `kiln-metric NAME VALUE` is a
/// sample of `hook.NAME` (NAME of letters, digits, `_`, `.`, `:` and `-`, at most 128; VALUE a
/// finite number), for the deployment's alarms.
pub const HOOK_PREFIX: &str = "hook.";

/// The `(metric, value)` a hook's stdout line reports, if it is a `kiln-metric` line.
pub fn hook_metric(line: &str) -> Option<(String, f64)> {
    let rest = line.trim().strip_prefix("kiln-metric ")?;
    let mut parts = rest.split_whitespace();
    let (name, value) = (parts.next()?, parts.next()?);
    if parts.next().is_some() || name.len() > 128 || !name.chars().all(|c| c.is_ascii_alphanumeric() || "_.:-".contains(c)) {
        return None;
    }
    let value: f64 = value.parse().ok().filter(|v: &f64| v.is_finite())?;
    Some((format!("{HOOK_PREFIX}{name}"), value))
}

/// One period's data of one metric (CloudWatch's `StatisticSet`, plus what percentiles need).
#[derive(Clone, Debug, PartialEq)]
pub struct Datapoint {
    pub sample_count: f64,
    pub sum: f64,
    pub minimum: f64,
    pub maximum: f64,
    pub distribution: Distribution,
}

/// The values behind a datapoint, for percentile statistics.
#[derive(Clone, Debug, PartialEq)]
pub enum Distribution {
    /// Not kept (percentiles are then unavailable: the datapoint counts as missing for them).
    None,
    /// Every value.
    Values(Vec<f64>),
    /// A histogram: `(upper bound, count)` per bucket, bounds ascending.
    Buckets(Vec<(f64, f64)>),
}

impl Datapoint {
    /// A datapoint from raw values (`None` for no values).
    pub fn from_values(mut values: Vec<f64>) -> Option<Datapoint> {
        values.retain(|v| v.is_finite());
        if values.is_empty() {
            return None;
        }
        values.sort_by(f64::total_cmp);
        Some(Datapoint {
            sample_count: values.len() as f64,
            sum: values.iter().sum(),
            minimum: values[0],
            maximum: values[values.len() - 1],
            distribution: Distribution::Values(values),
        })
    }

    /// The statistic's value: `Average` = Sum / SampleCount; `pNN` is the smallest value with at
    /// least NN % of the period's values at or below it ("p99 means 99 percent of the values in
    /// the period are lower or equal", CloudWatch "Statistics definitions"); from a histogram it is
    /// the upper bound of that value's bucket.
    pub fn statistic(&self, s: Statistic) -> Option<f64> {
        match s {
            Statistic::SampleCount => Some(self.sample_count),
            Statistic::Sum => Some(self.sum),
            Statistic::Minimum => Some(self.minimum),
            Statistic::Maximum => Some(self.maximum),
            Statistic::Average => (self.sample_count > 0.0).then(|| self.sum / self.sample_count),
            Statistic::Percentile(p) => self.percentile(p),
        }
    }

    fn percentile(&self, p: f64) -> Option<f64> {
        match &self.distribution {
            Distribution::None => None,
            Distribution::Values(v) if v.is_empty() => None,
            Distribution::Values(v) => {
                let rank = ((p / 100.0) * v.len() as f64).ceil().max(1.0) as usize;
                v.get(rank.min(v.len()) - 1).copied()
            }
            Distribution::Buckets(b) => {
                let total: f64 = b.iter().map(|(_, c)| c).sum();
                if total <= 0.0 {
                    return None;
                }
                let want = (p / 100.0) * total;
                let mut seen = 0.0;
                for (bound, count) in b {
                    seen += count;
                    if seen >= want && *count > 0.0 {
                        return Some(*bound);
                    }
                }
                b.last().map(|(bound, _)| *bound)
            }
        }
    }
}

/// Why a metric could not be read ("poll alarm failure" in CodeDeploy's terms).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum MetricsError {
    #[error("there is no metric named `{name}`{}", .known.as_ref().map(|k| format!(" (known: {k})")).unwrap_or_default())]
    Unknown { name: String, known: Option<String> },
    #[error("reading metric `{name}` failed: {message}")]
    Unavailable { name: String, message: String },
}

/// A source of metric data for alarms.
pub trait MetricsSource: Send + Sync {
    /// The datapoint of `metric` over `[from, to)`, or `None` when there was no data.
    fn datapoint(&self, metric: &str, from: Instant, to: Instant) -> Result<Option<Datapoint>, MetricsError>;

    /// Whether `metric` exists (checked when a deployment starts, so a misspelt name fails
    /// before anything changes rather than reading as "missing" forever).
    fn check(&self, metric: &str) -> Result<(), MetricsError> {
        let _ = metric;
        Ok(())
    }
}

/// Raw samples per metric, kept for a bounded time and count.
pub struct SampleStore {
    /// Samples per metric name; a name exists once declared, even before its first sample.
    series: Mutex<HashMap<String, VecDeque<(Instant, f64)>>>,
    max_samples: usize,
}

impl Default for SampleStore {
    fn default() -> Self {
        SampleStore::new(100_000)
    }
}

impl SampleStore {
    /// A store keeping at most `max_samples` samples per metric (the oldest go first).
    pub fn new(max_samples: usize) -> Self {
        SampleStore { series: Mutex::new(HashMap::new()), max_samples: max_samples.max(1) }
    }

    /// Make `metric` known (without a sample).
    pub fn declare(&self, metric: &str) {
        self.lock().entry(metric.to_string()).or_default();
    }

    /// Record one sample now.
    pub fn record(&self, metric: &str, value: f64) {
        self.record_at(metric, Instant::now(), value);
    }

    /// Record one sample at `at`.
    pub fn record_at(&self, metric: &str, at: Instant, value: f64) {
        let mut series = self.lock();
        let s = series.entry(metric.to_string()).or_default();
        if s.len() >= self.max_samples {
            s.pop_front();
        }
        // Samples arrive in time order nearly always; keep the deque sorted anyway.
        let pos = s.iter().rposition(|(t, _)| *t <= at).map_or(0, |p| p + 1);
        s.insert(pos, (at, value));
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, VecDeque<(Instant, f64)>>> {
        self.series.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether the store knows `metric`.
    pub fn has(&self, metric: &str) -> bool {
        self.lock().contains_key(metric)
    }
}

impl MetricsSource for SampleStore {
    fn datapoint(&self, metric: &str, from: Instant, to: Instant) -> Result<Option<Datapoint>, MetricsError> {
        let series = self.lock();
        let Some(s) = series.get(metric) else {
            return Err(MetricsError::Unknown { name: metric.to_string(), known: None });
        };
        Ok(Datapoint::from_values(s.iter().filter(|(t, _)| *t >= from && *t < to).map(|(_, v)| *v).collect()))
    }

    fn check(&self, metric: &str) -> Result<(), MetricsError> {
        let series = self.lock();
        if series.contains_key(metric) {
            return Ok(());
        }
        let mut known: Vec<&str> = series.keys().map(String::as_str).collect();
        known.sort_unstable();
        Err(MetricsError::Unknown { name: metric.to_string(), known: (!known.is_empty()).then(|| known.join(", ")) })
    }
}

/// Several sources behind one name space: a metric is read from the first source that knows it.
pub struct Chain<'a>(pub Vec<&'a dyn MetricsSource>);

impl MetricsSource for Chain<'_> {
    fn datapoint(&self, metric: &str, from: Instant, to: Instant) -> Result<Option<Datapoint>, MetricsError> {
        for s in &self.0 {
            if s.check(metric).is_ok() {
                return s.datapoint(metric, from, to);
            }
        }
        Err(MetricsError::Unknown { name: metric.to_string(), known: None })
    }

    fn check(&self, metric: &str) -> Result<(), MetricsError> {
        let mut last = MetricsError::Unknown { name: metric.to_string(), known: None };
        for s in &self.0 {
            match s.check(metric) {
                Ok(()) => return Ok(()),
                Err(e) => last = e,
            }
        }
        Err(last)
    }
}

#[cfg(test)]
mod hook_metric_tests {
    use super::*;

    #[test]
    fn a_hook_reports_a_metric_with_one_line() {
        assert_eq!(hook_metric("kiln-metric smoke_failures 3"), Some(("hook.smoke_failures".into(), 3.0)));
        assert_eq!(hook_metric("  kiln-metric p99.latency-ms 12.5 "), Some(("hook.p99.latency-ms".into(), 12.5)));
        for bad in ["kiln-metric", "kiln-metric x", "kiln-metric x y", "kiln-metric x 1 2", "kiln-metric a/b 1", "kiln-metric x NaN", "metric x 1"] {
            assert_eq!(hook_metric(bad), None, "{bad}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn statistics_of_values() {
        let d = Datapoint::from_values((1..=100).map(f64::from).collect()).unwrap();
        assert_eq!(d.statistic(Statistic::SampleCount), Some(100.0));
        assert_eq!(d.statistic(Statistic::Sum), Some(5050.0));
        assert_eq!(d.statistic(Statistic::Average), Some(50.5));
        assert_eq!(d.statistic(Statistic::Minimum), Some(1.0));
        assert_eq!(d.statistic(Statistic::Maximum), Some(100.0));
        assert_eq!(d.statistic(Statistic::Percentile(99.0)), Some(99.0));
        assert_eq!(d.statistic(Statistic::Percentile(50.0)), Some(50.0));
        assert_eq!(d.statistic(Statistic::Percentile(100.0)), Some(100.0));
        assert_eq!(d.statistic(Statistic::Percentile(0.0)), Some(1.0));
        assert_eq!(Datapoint::from_values(vec![f64::NAN]), None);
    }

    #[test]
    fn percentiles_of_buckets_are_upper_bounds() {
        let d = Datapoint { sample_count: 100.0, sum: 0.0, minimum: 0.0, maximum: 0.0, distribution: Distribution::Buckets(vec![(1.0, 50.0), (10.0, 45.0), (100.0, 5.0)]) };
        assert_eq!(d.statistic(Statistic::Percentile(50.0)), Some(1.0));
        assert_eq!(d.statistic(Statistic::Percentile(90.0)), Some(10.0));
        assert_eq!(d.statistic(Statistic::Percentile(99.0)), Some(100.0));
    }

    #[test]
    fn the_sample_store_answers_windows_and_unknown_names() {
        let s = SampleStore::new(3);
        let t0 = Instant::now();
        for i in 0..5 {
            s.record_at("m", t0 + Duration::from_millis(i * 10), i as f64);
        }
        // Only the last three are kept.
        let d = s.datapoint("m", t0, t0 + Duration::from_secs(1)).unwrap().unwrap();
        assert_eq!(d.sample_count, 3.0);
        assert_eq!(d.minimum, 2.0);
        assert_eq!(s.datapoint("m", t0 + Duration::from_secs(1), t0 + Duration::from_secs(2)).unwrap(), None);
        let err = s.check("n").unwrap_err();
        assert_eq!(err.to_string(), "there is no metric named `n` (known: m)");
        let chain = Chain(vec![&s]);
        assert!(chain.check("m").is_ok());
        assert!(chain.datapoint("n", t0, t0).is_err());
    }
}
