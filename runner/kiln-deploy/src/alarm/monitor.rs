//! Evaluating a deployment's alarms continuously.
//!
//! CloudWatch evaluates an alarm once a minute (every 10 s for 10/30-second periods) over
//! periods that end at the evaluation time. kiln evaluates far more often (every 100 ms by
//! default, [`crate::RunOptions::alarm_interval`]) over the same sliding periods, so a breach is
//! seen as soon as the data shows it (kiln proposal: the state machine and its reasons are
//! CloudWatch's; only the cadence is faster). Every alarm starts in `INSUFFICIENT_DATA` ("the alarm
//! has just started"), and each state change is kept with its time and reason.
//!
//! The datapoints behind the states are kept too, for charts (`kiln ui`): one per period per
//! alarm, plus the one of each state change (the newest period's statistic the evaluation used,
//! or missing, and the state after it), the last [`MAX_DATAPOINTS`] of them. They are not written on their own: the
//! engine puts them into the record in memory and they reach the disk with the record's next
//! write, or at most once a second when nothing else writes ([`crate::engine`]'s watch).
//!
//! With a time scale below 1 (tests, demos), a period of `P` seconds lasts `P × scale` real
//! seconds: "5xx ≥ 20 over 3 periods of 60 s" keeps its definition and runs in 180 ms at 0.001.

use std::time::{Duration, Instant, SystemTime};

use serde::{Deserialize, Serialize};

use super::eval::{evaluate, Evaluation};
use super::{low_sample_threshold, AlarmDef, AlarmState, LowSampleCount, Statistic};
use crate::metrics::{MetricsError, MetricsSource};
use crate::record::time::rfc3339;

/// One state change of one alarm.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AlarmChange {
    pub alarm_name: String,
    pub state: AlarmState,
    pub state_reason: String,
    /// RFC 3339.
    pub timestamp: String,
    /// When it happened on this machine's monotonic clock (for latency measurements).
    #[serde(skip, default = "Instant::now")]
    pub at: Instant,
}

/// An alarm's current state and history, as the record keeps it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AlarmStatus {
    pub alarm_name: String,
    /// What the alarm watches (CloudWatch console wording).
    pub definition: String,
    pub state_value: AlarmState,
    pub state_reason: String,
    pub state_updated_timestamp: String,
    pub history: Vec<AlarmChange>,
    /// The metric, statistic, period (nominal seconds), operator and threshold, for charts
    /// (CloudWatch `MetricAlarm` names; absent in records written before they were kept).
    #[serde(default)]
    pub metric_name: String,
    #[serde(default)]
    pub statistic: String,
    #[serde(default)]
    pub period: u32,
    #[serde(default)]
    pub comparison_operator: String,
    #[serde(default)]
    pub threshold: Option<f64>,
    /// The datapoints evaluated, oldest first: one per period and one per state change, the
    /// last [`MAX_DATAPOINTS`].
    #[serde(default)]
    pub datapoints: Vec<AlarmDatapoint>,
}

/// One datapoint an alarm evaluated (CloudWatch's `Datapoint`: the end of its period and the
/// period's statistic), with the alarm's state after the evaluation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AlarmDatapoint {
    /// RFC 3339: when the period ended.
    pub timestamp: String,
    /// `null`: the period had no sample (missing data).
    pub value: Option<f64>,
    pub state: AlarmState,
}

/// The alarms of one deployment and their states.
pub struct Monitor {
    alarms: Vec<(AlarmDef, AlarmStatus)>,
    /// When each alarm's last datapoint was kept.
    last_point: Vec<Option<Instant>>,
    /// Datapoints were kept since [`Monitor::take_new_points`] was last called.
    new_points: bool,
    scale: f64,
}

/// At most this many changes are kept per alarm (a flapping alarm must not grow the record).
const MAX_HISTORY: usize = 100;
/// At most this many datapoints are kept per alarm (about 50 bytes each in the record: 500 are
/// 8 hours of one-minute periods, and about 25 KB).
pub const MAX_DATAPOINTS: usize = 500;

impl Monitor {
    /// Watch `defs`, with periods lasting `period × scale` real seconds.
    pub fn new(defs: &[AlarmDef], scale: f64) -> Monitor {
        let now = rfc3339(SystemTime::now());
        let alarms = defs
            .iter()
            .map(|d| {
                let status = AlarmStatus {
                    alarm_name: d.name.clone(),
                    definition: d.describe(),
                    state_value: AlarmState::InsufficientData,
                    state_reason: "Unchecked: Initial alarm creation".into(),
                    state_updated_timestamp: now.clone(),
                    history: Vec::new(),
                    metric_name: d.metric.clone(),
                    statistic: d.statistic.name(),
                    period: d.period,
                    comparison_operator: d.comparison_operator.name().to_string(),
                    threshold: Some(d.threshold),
                    datapoints: Vec::new(),
                };
                (d.clone(), status)
            })
            .collect::<Vec<_>>();
        Monitor { last_point: vec![None; alarms.len()], alarms, new_points: false, scale: if scale > 0.0 && scale.is_finite() { scale } else { 1.0 } }
    }

    /// The metrics the alarms watch.
    pub fn metrics(&self) -> impl Iterator<Item = &str> {
        self.alarms.iter().map(|(d, _)| d.metric.as_str())
    }

    /// Check that every alarm's metric exists.
    pub fn check(&self, source: &dyn MetricsSource) -> Result<(), MetricsError> {
        self.alarms.iter().try_for_each(|(d, _)| source.check(&d.metric))
    }

    /// Evaluate every alarm at `now`; the state changes, or the first metric that could not be
    /// read (alarms evaluated before it keep their new state).
    pub fn poll(&mut self, source: &dyn MetricsSource, now: Instant) -> Result<Vec<AlarmChange>, MetricsError> {
        let mut changes = Vec::new();
        for ((def, status), last_point) in self.alarms.iter_mut().zip(&mut self.last_point) {
            let (eval, newest) = evaluate_range(def, status.state_value, source, now, self.scale)?;
            let period = period_of(def, self.scale);
            // One datapoint a period, and always the one that changed the state.
            if last_point.is_none_or(|t| now >= t + period) || eval.state != status.state_value {
                *last_point = Some(now);
                if status.datapoints.len() >= MAX_DATAPOINTS {
                    status.datapoints.drain(..=status.datapoints.len() - MAX_DATAPOINTS);
                }
                status.datapoints.push(AlarmDatapoint { timestamp: rfc3339(wall_clock(now)), value: newest, state: eval.state });
                self.new_points = true;
            }
            if eval.state != status.state_value {
                let change = AlarmChange {
                    alarm_name: def.name.clone(),
                    state: eval.state,
                    state_reason: eval.reason.clone(),
                    timestamp: rfc3339(SystemTime::now()),
                    at: now,
                };
                status.state_value = eval.state;
                status.state_updated_timestamp = change.timestamp.clone();
                if status.history.len() >= MAX_HISTORY {
                    status.history.remove(0);
                }
                status.history.push(change.clone());
                changes.push(change);
            }
            status.state_reason = eval.reason;
        }
        Ok(changes)
    }

    /// The alarms now in ALARM.
    pub fn firing(&self) -> Vec<String> {
        self.alarms.iter().filter(|(_, s)| s.state_value == AlarmState::Alarm).map(|(d, _)| d.name.clone()).collect()
    }

    /// Every alarm's state, for the record and the strategy's observation.
    pub fn statuses(&self) -> Vec<AlarmStatus> {
        self.alarms.iter().map(|(_, s)| s.clone()).collect()
    }

    pub fn is_empty(&self) -> bool {
        self.alarms.is_empty()
    }

    /// Whether datapoints were kept since the last call (and forget it).
    pub fn take_new_points(&mut self) -> bool {
        std::mem::take(&mut self.new_points)
    }
}

/// A period's real length at `scale`.
fn period_of(def: &AlarmDef, scale: f64) -> Duration {
    Duration::from_secs_f64((f64::from(def.period) * scale).max(0.000_001))
}

/// `at` on the wall clock (`at` may be a little in the past or, in tests, the future).
fn wall_clock(at: Instant) -> SystemTime {
    let (real, sys) = (Instant::now(), SystemTime::now());
    if at >= real {
        sys + (at - real)
    } else {
        sys.checked_sub(real - at).unwrap_or(sys)
    }
}

/// Evaluate one alarm at `now`: fetch the evaluation range's datapoints (periods ending at
/// `now`) and run the state machine.
pub fn evaluate_at(def: &AlarmDef, current: AlarmState, source: &dyn MetricsSource, now: Instant, scale: f64) -> Result<Evaluation, MetricsError> {
    evaluate_range(def, current, source, now, scale).map(|(e, _)| e)
}

/// [`evaluate_at`], and the newest period's value it used (`None`: missing).
fn evaluate_range(def: &AlarmDef, current: AlarmState, source: &dyn MetricsSource, now: Instant, scale: f64) -> Result<(Evaluation, Option<f64>), MetricsError> {
    let period = period_of(def, scale);
    let range = def.evaluation_range();
    let mut values = Vec::with_capacity(range);
    let mut low_samples = false;
    for i in (0..range).rev() {
        // Slot i periods back: [now − (i+1)·P, now − i·P).
        let (Some(from), Some(to)) = (now.checked_sub(period * (i as u32 + 1)), now.checked_sub(period * i as u32)) else {
            values.push(None);
            continue;
        };
        let point = source.datapoint(&def.metric, from, to)?;
        if let (Statistic::Percentile(p), Some(dp)) = (def.statistic, &point)
            && i < def.evaluation_periods as usize && dp.sample_count < low_sample_threshold(p) {
                low_samples = true;
            }
        values.push(point.and_then(|d| d.statistic(def.statistic)));
    }
    let newest = values.last().copied().flatten();
    if low_samples && def.evaluate_low_sample_count_percentile == LowSampleCount::Ignore {
        let reason = format!("Unchanged: too few samples for {} in the evaluated periods (evaluateLowSampleCountPercentile: ignore)", def.statistic.name());
        return Ok((Evaluation { state: current, reason }, newest));
    }
    Ok((evaluate(def, &values, current), newest))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alarm::{Comparison, TreatMissingData};
    use crate::metrics::SampleStore;

    fn seed_alarm() -> AlarmDef {
        AlarmDef {
            name: "errors".into(),
            metric: "5xx".into(),
            statistic: Statistic::Sum,
            period: 60,
            evaluation_periods: 3,
            datapoints_to_alarm: 3,
            comparison_operator: Comparison::GreaterThanOrEqualToThreshold,
            threshold: 20.0,
            treat_missing_data: TreatMissingData::NotBreaching,
            evaluate_low_sample_count_percentile: LowSampleCount::Evaluate,
        }
    }

    /// "5xx ≥ 20 over 3 periods of 60 s", with a period scaled to 60 ms.
    #[test]
    fn the_seed_alarm_fires_after_three_bad_periods_and_recovers() {
        let store = SampleStore::default();
        store.declare("5xx");
        let mut m = Monitor::new(&[seed_alarm()], 0.001);
        let t0 = Instant::now();
        // Nothing yet: notBreaching → OK.
        let ch = m.poll(&store, t0 + Duration::from_millis(300)).unwrap();
        assert_eq!(ch.len(), 1);
        assert_eq!(ch[0].state, AlarmState::Ok);
        // 25 errors in each of three periods (samples of 1 per request).
        let base = t0 + Duration::from_millis(300);
        for p in 0..3u64 {
            for k in 0..25u64 {
                store.record_at("5xx", base + Duration::from_millis(p * 60 + k), 1.0);
            }
        }
        // Two periods in: not yet.
        assert!(m.poll(&store, base + Duration::from_millis(120)).unwrap().is_empty());
        let ch = m.poll(&store, base + Duration::from_millis(180)).unwrap();
        assert_eq!(ch[0].state, AlarmState::Alarm, "{:?}", m.statuses());
        assert_eq!(m.firing(), ["errors"]);
        // A period with requests but no errors (a 0 sample; a period with no sample at all is
        // *missing*, and CloudWatch then keeps evaluating the newest real datapoints).
        store.record_at("5xx", base + Duration::from_millis(200), 0.0);
        let ch = m.poll(&store, base + Duration::from_millis(240)).unwrap();
        assert_eq!(ch[0].state, AlarmState::Ok);
        assert_eq!(m.statuses()[0].history.len(), 3);
    }

    /// One datapoint per period (not per evaluation), with the state after it, bounded.
    #[test]
    fn datapoints_are_kept_once_a_period_and_bounded() {
        let store = SampleStore::default();
        store.declare("5xx");
        let mut m = Monitor::new(&[seed_alarm()], 0.001);
        let t0 = Instant::now() + Duration::from_secs(1);
        store.record_at("5xx", t0 - Duration::from_millis(10), 7.0);
        m.poll(&store, t0).unwrap();
        assert!(m.take_new_points() && !m.take_new_points());
        // Evaluations within the same 60 ms period keep no second datapoint.
        m.poll(&store, t0 + Duration::from_millis(30)).unwrap();
        assert!(!m.take_new_points());
        m.poll(&store, t0 + Duration::from_millis(60)).unwrap();
        let s = &m.statuses()[0];
        assert_eq!(s.datapoints.iter().map(|d| d.value).collect::<Vec<_>>(), [Some(7.0), None], "the newest period's sum, then a period without samples");
        assert_eq!(s.datapoints[0].state, AlarmState::Ok);
        assert_eq!((s.threshold, s.statistic.as_str(), s.metric_name.as_str(), s.period), (Some(20.0), "Sum", "5xx", 60));
        for i in 2..(MAX_DATAPOINTS as u64 + 20) {
            m.poll(&store, t0 + Duration::from_millis(60 * i)).unwrap();
        }
        let s = &m.statuses()[0];
        assert_eq!(s.datapoints.len(), MAX_DATAPOINTS);
        assert!(s.datapoints.windows(2).all(|w| w[0].timestamp <= w[1].timestamp), "oldest first");
        // Old records (no datapoints, no threshold) still read.
        let old: AlarmStatus = serde_json::from_str(r#"{"alarmName":"a","definition":"d","stateValue":"OK","stateReason":"r","stateUpdatedTimestamp":"t","history":[]}"#).unwrap();
        assert!(old.datapoints.is_empty() && old.threshold.is_none());
    }

    #[test]
    fn unknown_metrics_are_poll_failures() {
        let store = SampleStore::default();
        let mut m = Monitor::new(&[seed_alarm()], 0.001);
        assert!(m.check(&store).is_err());
        assert!(m.poll(&store, Instant::now()).is_err());
    }

    #[test]
    fn low_sample_percentiles_can_be_ignored() {
        let store = SampleStore::default();
        store.declare("lat");
        let def = AlarmDef {
            metric: "lat".into(),
            statistic: Statistic::Percentile(99.0),
            evaluation_periods: 1,
            datapoints_to_alarm: 1,
            threshold: 100.0,
            comparison_operator: Comparison::GreaterThanThreshold,
            evaluate_low_sample_count_percentile: LowSampleCount::Ignore,
            ..seed_alarm()
        };
        let now = Instant::now() + Duration::from_secs(1);
        store.record_at("lat", now - Duration::from_millis(10), 500.0);
        let e = evaluate_at(&def, AlarmState::Ok, &store, now, 0.001).unwrap();
        assert_eq!(e.state, AlarmState::Ok, "{}", e.reason);
        let def = AlarmDef { evaluate_low_sample_count_percentile: LowSampleCount::Evaluate, ..def };
        assert_eq!(evaluate_at(&def, AlarmState::Ok, &store, now, 0.001).unwrap().state, AlarmState::Alarm);
    }
}
