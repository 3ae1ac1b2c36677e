//! CloudWatch metric alarms, evaluated locally: the alarm definition ([`AlarmDef`], the fields
//! of CloudWatch's `PutMetricAlarm`), the state machine over datapoints ([`eval`]), and the
//! monitor that evaluates every alarm of a deployment continuously ([`monitor`]).
//!
//! Sources: CloudWatch user guide "Using Amazon CloudWatch alarms" (`AlarmThatSendsEmail.html`:
//! alarm states, evaluation, M out of N, missing data, premature transitions, percentiles with
//! low samples), "CloudWatch statistics definitions", and the `PutMetricAlarm` API (period values,
//! the one-day limit on period × evaluation periods); fact sheet §7.

pub mod eval;
pub mod monitor;

use serde::{Deserialize, Serialize};

/// How a period's datapoint is made from the metric's samples.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub enum Statistic {
    SampleCount,
    Average,
    Sum,
    Minimum,
    Maximum,
    /// `pNN` (CloudWatch's `ExtendedStatistic`), 0.0..=100.0.
    Percentile(f64),
}

impl Statistic {
    /// Parse `SampleCount|Average|Sum|Minimum|Maximum` or `pNN`/`pNN.NN`.
    pub fn parse(s: &str) -> Option<Statistic> {
        Some(match s {
            "SampleCount" => Statistic::SampleCount,
            "Average" => Statistic::Average,
            "Sum" => Statistic::Sum,
            "Minimum" => Statistic::Minimum,
            "Maximum" => Statistic::Maximum,
            _ => {
                let digits = s.strip_prefix('p')?;
                if digits.is_empty() || !digits.chars().all(|c| c.is_ascii_digit() || c == '.') {
                    return None;
                }
                let p: f64 = digits.parse().ok()?;
                if !(0.0..=100.0).contains(&p) {
                    return None;
                }
                Statistic::Percentile(p)
            }
        })
    }

    /// CloudWatch's name (`Sum`, `p99`).
    pub fn name(self) -> String {
        match self {
            Statistic::SampleCount => "SampleCount".into(),
            Statistic::Average => "Average".into(),
            Statistic::Sum => "Sum".into(),
            Statistic::Minimum => "Minimum".into(),
            Statistic::Maximum => "Maximum".into(),
            Statistic::Percentile(p) => format!("p{p}"),
        }
    }

    /// The names `statistic` takes, for messages.
    pub const NAMES: [&'static str; 5] = ["SampleCount", "Average", "Sum", "Minimum", "Maximum"];
}

/// `ComparisonOperator` (the statistic is on the left).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Comparison {
    GreaterThanOrEqualToThreshold,
    GreaterThanThreshold,
    LessThanThreshold,
    LessThanOrEqualToThreshold,
}

impl Comparison {
    pub const ALL: [Comparison; 4] =
        [Comparison::GreaterThanOrEqualToThreshold, Comparison::GreaterThanThreshold, Comparison::LessThanThreshold, Comparison::LessThanOrEqualToThreshold];
    /// The anomaly-detection operators, which need a model's band kiln does not have.
    pub const BAND_OPERATORS: [&'static str; 3] = ["LessThanLowerOrGreaterThanUpperThreshold", "LessThanLowerThreshold", "GreaterThanUpperThreshold"];

    pub fn name(self) -> &'static str {
        match self {
            Comparison::GreaterThanOrEqualToThreshold => "GreaterThanOrEqualToThreshold",
            Comparison::GreaterThanThreshold => "GreaterThanThreshold",
            Comparison::LessThanThreshold => "LessThanThreshold",
            Comparison::LessThanOrEqualToThreshold => "LessThanOrEqualToThreshold",
        }
    }

    pub fn parse(s: &str) -> Option<Comparison> {
        Comparison::ALL.into_iter().find(|c| c.name() == s)
    }

    /// Whether `value` breaches `threshold`.
    pub fn breaches(self, value: f64, threshold: f64) -> bool {
        match self {
            Comparison::GreaterThanOrEqualToThreshold => value >= threshold,
            Comparison::GreaterThanThreshold => value > threshold,
            Comparison::LessThanThreshold => value < threshold,
            Comparison::LessThanOrEqualToThreshold => value <= threshold,
        }
    }

    /// For reasons: "greater than or equal to".
    pub fn words(self) -> &'static str {
        match self {
            Comparison::GreaterThanOrEqualToThreshold => "greater than or equal to",
            Comparison::GreaterThanThreshold => "greater than",
            Comparison::LessThanThreshold => "less than",
            Comparison::LessThanOrEqualToThreshold => "less than or equal to",
        }
    }
}

/// `TreatMissingData`; the default is `missing`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum TreatMissingData {
    #[default]
    Missing,
    Ignore,
    Breaching,
    NotBreaching,
}

impl TreatMissingData {
    pub const NAMES: [&'static str; 4] = ["missing", "ignore", "breaching", "notBreaching"];

    pub fn parse(s: &str) -> Option<TreatMissingData> {
        Some(match s {
            "missing" => TreatMissingData::Missing,
            "ignore" => TreatMissingData::Ignore,
            "breaching" => TreatMissingData::Breaching,
            "notBreaching" => TreatMissingData::NotBreaching,
            _ => return None,
        })
    }
}

/// `EvaluateLowSampleCountPercentile`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum LowSampleCount {
    /// Evaluate the percentile whatever the sample count (the default).
    #[default]
    Evaluate,
    /// Keep the alarm's state while a datapoint has too few samples for its percentile.
    Ignore,
}

/// An alarm state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum AlarmState {
    #[serde(rename = "OK")]
    Ok,
    #[serde(rename = "ALARM")]
    Alarm,
    #[serde(rename = "INSUFFICIENT_DATA")]
    InsufficientData,
}

impl AlarmState {
    pub fn name(self) -> &'static str {
        match self {
            AlarmState::Ok => "OK",
            AlarmState::Alarm => "ALARM",
            AlarmState::InsufficientData => "INSUFFICIENT_DATA",
        }
    }
}

/// One alarm: CodeDeploy's `{name}` with the CloudWatch metric alarm it names.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AlarmDef {
    pub name: String,
    /// The metric, in the metric source's name space (e.g. `router.HTTPCode_Target_5XX_Count`).
    pub metric: String,
    pub statistic: Statistic,
    /// Seconds: 10, 20, 30 or a multiple of 60.
    pub period: u32,
    /// N.
    pub evaluation_periods: u32,
    /// M (≤ N); N when not given.
    pub datapoints_to_alarm: u32,
    pub comparison_operator: Comparison,
    pub threshold: f64,
    pub treat_missing_data: TreatMissingData,
    pub evaluate_low_sample_count_percentile: LowSampleCount,
}

impl AlarmDef {
    /// The number of datapoints fetched per evaluation (the "evaluation range"). CloudWatch says
    /// it is "a higher number of data points than specified by Evaluation Periods", depending on
    /// the period, and its worked example fetches 5 for N = 3; kiln fetches N + 2 (as LocalStack's
    /// emulation does), which reproduces every row of that example.
    pub fn evaluation_range(&self) -> usize {
        self.evaluation_periods as usize + 2
    }

    /// The CloudWatch-console summary: "Sum of m >= 20 for 3 datapoints within 3 minutes".
    pub fn describe(&self) -> String {
        let op = match self.comparison_operator {
            Comparison::GreaterThanOrEqualToThreshold => ">=",
            Comparison::GreaterThanThreshold => ">",
            Comparison::LessThanThreshold => "<",
            Comparison::LessThanOrEqualToThreshold => "<=",
        };
        let window = u64::from(self.period) * u64::from(self.evaluation_periods);
        let window = if window % 60 == 0 { format!("{} minute(s)", window / 60) } else { format!("{window} seconds") };
        format!(
            "{} of {} {op} {} for {} datapoint(s) within {window} (missing data: {:?})",
            self.statistic.name(),
            self.metric,
            self.threshold,
            self.datapoints_to_alarm,
            self.treat_missing_data
        )
    }
}

/// Why a period is not one CloudWatch accepts ("valid values are 10, 20, 30, and any multiple of
/// 60", PutMetricAlarm), or period × evaluation periods is too long ("cannot exceed one day", or
/// seven days for periods of an hour or more).
pub fn check_period(period: u32, evaluation_periods: u32) -> Result<(), String> {
    if !(matches!(period, 10 | 20 | 30) || (period > 0 && period.is_multiple_of(60))) {
        return Err(format!("a period of {period} s is not allowed: CloudWatch accepts 10, 20, 30 or a multiple of 60 seconds"));
    }
    let limit: u64 = if period < 3600 { 86_400 } else { 604_800 };
    let total = u64::from(period) * u64::from(evaluation_periods);
    if total > limit {
        return Err(format!("period × evaluationPeriods is {total} s; CloudWatch allows at most {limit} s"));
    }
    Ok(())
}

/// The sample count below which a percentile has "too few" samples: 10/(1−p) for p in [0.5, 1),
/// 10/p for p below 0.5 (CloudWatch "Percentile-based alarms and low data samples").
pub fn low_sample_threshold(percentile: f64) -> f64 {
    let p = percentile / 100.0;
    if p >= 1.0 {
        f64::INFINITY
    } else if p >= 0.5 {
        10.0 / (1.0 - p)
    } else if p > 0.0 {
        10.0 / p
    } else {
        f64::INFINITY
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statistics_and_operators_parse() {
        assert_eq!(Statistic::parse("p99"), Some(Statistic::Percentile(99.0)));
        assert_eq!(Statistic::parse("p99.9"), Some(Statistic::Percentile(99.9)));
        assert_eq!(Statistic::parse("p101"), None);
        assert_eq!(Statistic::parse("sum"), None);
        assert_eq!(Comparison::parse("GreaterThanThreshold"), Some(Comparison::GreaterThanThreshold));
        assert!(Comparison::GreaterThanOrEqualToThreshold.breaches(20.0, 20.0));
        assert!(!Comparison::GreaterThanThreshold.breaches(20.0, 20.0));
    }

    #[test]
    fn periods_follow_put_metric_alarm() {
        assert!(check_period(60, 3).is_ok());
        assert!(check_period(10, 3).is_ok());
        assert!(check_period(45, 1).is_err());
        assert!(check_period(60, 1441).is_err());
        assert!(check_period(3600, 168).is_ok());
        assert_eq!(low_sample_threshold(99.0).round(), 1000.0);
        assert_eq!(low_sample_threshold(10.0).round(), 100.0);
    }
}
