//! One alarm evaluation: the new state from the datapoints of the evaluation range.
//!
//! The rules, from CloudWatch's "How alarm state is evaluated when data is missing" and
//! "Avoiding premature transitions to alarm state" (user guide, `AlarmThatSendsEmail.html`):
//!
//! 1. CloudWatch fetches more datapoints than N (the *evaluation range*, [`AlarmDef::evaluation_range`]).
//! 2. If the range holds at least N real datapoints, "CloudWatch evaluates the alarm state based
//!    on the most recent existing data points" (the newest N real ones); the missing-data setting
//!    is not used. M or more of them breaching → ALARM, else OK.
//! 3. Otherwise "CloudWatch fills in the missing data points with the result you specified …
//!    any real data points in the evaluation range, no matter when they were reported, are
//!    included … CloudWatch uses missing data points only as few times as possible":
//!    * `breaching` / `notBreaching`: every real point plus N − real filled points are counted.
//!    * `missing` and `ignore` fill nothing. M real breaching points → ALARM; any real
//!      non-breaching point → OK; no real point at all → INSUFFICIENT_DATA (`missing`) or the
//!      current state (`ignore`, "the current alarm state is maintained").
//!    * Only breaching real points, fewer than M: under `missing`, "alarms are designed to always
//!      go into ALARM state when the oldest available breaching datapoint … is at least as old as
//!      the value of Datapoints to Alarm, and all other more recent data points are breaching or
//!      missing", else INSUFFICIENT_DATA; under `ignore`, the current state.
//!
//! These rules reproduce every row of the guide's two worked tables (N = 3, M = 3 and M = 2,
//! five datapoints fetched); the tests below are those tables.

use super::{AlarmDef, AlarmState, TreatMissingData};

/// The outcome of one evaluation: the state and CloudWatch-style `StateReason`.
#[derive(Clone, Debug, PartialEq)]
pub struct Evaluation {
    pub state: AlarmState,
    pub reason: String,
}

/// Evaluate `def` over `range` (the evaluation range, oldest first, `None` = missing) from the
/// `current` state.
pub fn evaluate(def: &AlarmDef, range: &[Option<f64>], current: AlarmState) -> Evaluation {
    let n = def.evaluation_periods.max(1) as usize;
    let m = (def.datapoints_to_alarm.max(1) as usize).min(n);
    let breaches = |v: f64| def.comparison_operator.breaches(v, def.threshold);
    let real: Vec<(usize, f64)> = range.iter().enumerate().filter_map(|(i, v)| v.map(|v| (i, v))).collect();
    let fmt = |vals: &[f64]| vals.iter().map(|v| format_value(*v)).collect::<Vec<_>>().join(", ");

    if real.len() >= n {
        let newest: Vec<f64> = real[real.len() - n..].iter().map(|(_, v)| *v).collect();
        let count = newest.iter().filter(|v| breaches(**v)).count();
        return threshold_result(def, count, n, m, &fmt(&newest));
    }
    let values: Vec<f64> = real.iter().map(|(_, v)| *v).collect();
    let breaching_real = values.iter().filter(|v| breaches(**v)).count();
    let missing = n - real.len();
    match def.treat_missing_data {
        TreatMissingData::Breaching | TreatMissingData::NotBreaching => {
            let filled = if def.treat_missing_data == TreatMissingData::Breaching { missing } else { 0 };
            let count = breaching_real + filled;
            let shown = format!("{}{}{}", fmt(&values), if values.is_empty() { "" } else { ", " }, vec!["missing"; missing].join(", "));
            threshold_result(def, count, n, m, &shown)
        }
        TreatMissingData::Missing | TreatMissingData::Ignore => {
            if breaching_real >= m {
                return threshold_result(def, breaching_real, real.len(), m, &fmt(&values));
            }
            if breaching_real < values.len() {
                return threshold_result(def, breaching_real, real.len(), m, &fmt(&values));
            }
            if def.treat_missing_data == TreatMissingData::Ignore {
                return Evaluation { state: current, reason: format!("Unchanged: {} of the last {} datapoints are missing and missing data is ignored", range.len() - real.len(), range.len()) };
            }
            // Only breaching points (or none) and fewer than M of them.
            if let Some((oldest, _)) = real.first() {
                let age = range.len() - oldest;
                if age >= m {
                    return Evaluation {
                        state: AlarmState::Alarm,
                        reason: format!(
                            "Threshold Crossed: the oldest breaching datapoint [{}] is {age} periods old (at least the {m} datapoints to alarm) and every newer datapoint is breaching or missing",
                            fmt(&values)
                        ),
                    };
                }
            }
            Evaluation { state: AlarmState::InsufficientData, reason: format!("Insufficient Data: {} of the last {} datapoints were missing", range.len() - real.len(), range.len()) }
        }
    }
}

fn threshold_result(def: &AlarmDef, count: usize, out_of: usize, m: usize, shown: &str) -> Evaluation {
    let state = if count >= m { AlarmState::Alarm } else { AlarmState::Ok };
    let reason = format!(
        "Threshold Crossed: {count} out of the last {out_of} datapoints [{shown}] {} {} the threshold ({}) (minimum {m} datapoints for ALARM)",
        if count == 1 { "was" } else { "were" },
        def.comparison_operator.words(),
        format_value(def.threshold),
    );
    Evaluation { state, reason }
}

fn format_value(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 { format!("{v:.1}") } else { format!("{v}") }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alarm::{Comparison, LowSampleCount, Statistic};

    fn def(m: u32, treat: TreatMissingData) -> AlarmDef {
        AlarmDef {
            name: "a".into(),
            metric: "m".into(),
            statistic: Statistic::Sum,
            period: 60,
            evaluation_periods: 3,
            datapoints_to_alarm: m,
            comparison_operator: Comparison::GreaterThanThreshold,
            threshold: 0.5,
            treat_missing_data: treat,
            evaluate_low_sample_count_percentile: LowSampleCount::Evaluate,
        }
    }

    /// `0` non-breaching, `X` breaching, `-` missing, oldest first.
    fn points(s: &str) -> Vec<Option<f64>> {
        s.chars().filter(|c| !c.is_whitespace()).map(|c| match c {
            '0' => Some(0.0),
            'X' => Some(1.0),
            _ => None,
        }).collect()
    }

    /// `keep` stands for "Retain current state": checked from two different current states.
    fn check(m: u32, data: &str, expected: [&str; 4]) {
        let treats = [TreatMissingData::Missing, TreatMissingData::Ignore, TreatMissingData::Breaching, TreatMissingData::NotBreaching];
        for (treat, want) in treats.into_iter().zip(expected) {
            for current in [AlarmState::Ok, AlarmState::InsufficientData] {
                let got = evaluate(&def(m, treat), &points(data), current);
                let want_state = match want {
                    "OK" => AlarmState::Ok,
                    "ALARM" => AlarmState::Alarm,
                    "INSUFFICIENT_DATA" => AlarmState::InsufficientData,
                    "keep" => current,
                    other => panic!("{other}"),
                };
                assert_eq!(got.state, want_state, "M={m} {data} {treat:?} from {current:?}: {}", got.reason);
            }
        }
    }

    /// CloudWatch user guide, "How alarm state is evaluated when data is missing", first table:
    /// Datapoints to Alarm and Evaluation Periods both 3, the 5 most recent datapoints fetched.
    /// Columns: MISSING, IGNORE, BREACHING, NOT BREACHING. Rows from both the current guide and
    /// its earlier revision (awsdocs/amazon-cloudwatch-user-guide, doc_source/AlarmThatSendsEmail.md).
    #[test]
    fn cloudwatch_table_three_of_three() {
        check(3, "0 - X - X", ["OK", "OK", "OK", "OK"]);
        check(3, "0 - - - -", ["OK", "OK", "OK", "OK"]);
        check(3, "- - - - -", ["INSUFFICIENT_DATA", "keep", "ALARM", "OK"]);
        check(3, "0 X X - X", ["ALARM", "ALARM", "ALARM", "ALARM"]);
        check(3, "- - X - -", ["ALARM", "keep", "ALARM", "OK"]);
        check(3, "- - - - X", ["INSUFFICIENT_DATA", "keep", "ALARM", "OK"]);
        check(3, "X - - - -", ["ALARM", "keep", "ALARM", "OK"]);
    }

    /// The second table: Datapoints to Alarm 2, Evaluation Periods 3 (an M out of N alarm).
    #[test]
    fn cloudwatch_table_two_of_three() {
        check(2, "0 - X - X", ["ALARM", "ALARM", "ALARM", "ALARM"]);
        check(2, "0 0 X 0 X", ["ALARM", "ALARM", "ALARM", "ALARM"]);
        check(2, "0 - X - -", ["OK", "OK", "ALARM", "OK"]);
        check(2, "- - - - 0", ["OK", "OK", "ALARM", "OK"]);
        check(2, "- - - X -", ["ALARM", "keep", "ALARM", "OK"]);
        check(2, "- - - - X", ["INSUFFICIENT_DATA", "keep", "ALARM", "OK"]);
    }

    /// "The breaching data points do not have to be consecutive, they just must all be within the
    /// last number of data points equal to Evaluation Period", and the user guide's figure: three
    /// of three above the threshold → ALARM; one dip → OK.
    #[test]
    fn m_out_of_n_without_missing_data() {
        let d = def(3, TreatMissingData::Missing);
        assert_eq!(evaluate(&d, &points("0 0 X X X"), AlarmState::Ok).state, AlarmState::Alarm);
        assert_eq!(evaluate(&d, &points("0 X X X 0"), AlarmState::Alarm).state, AlarmState::Ok);
        let d = def(2, TreatMissingData::Missing);
        assert_eq!(evaluate(&d, &points("0 0 X 0 X"), AlarmState::Ok).state, AlarmState::Alarm);
        assert_eq!(evaluate(&d, &points("X X 0 0 X"), AlarmState::Alarm).state, AlarmState::Ok);
    }

    #[test]
    fn the_seed_alarm_reads_like_cloudwatch() {
        let d = AlarmDef { comparison_operator: Comparison::GreaterThanOrEqualToThreshold, threshold: 20.0, ..def(3, TreatMissingData::NotBreaching) };
        let e = evaluate(&d, &[Some(0.0), Some(3.0), Some(25.0), Some(30.0), Some(20.0)], AlarmState::Ok);
        assert_eq!(e.state, AlarmState::Alarm);
        assert_eq!(
            e.reason,
            "Threshold Crossed: 3 out of the last 3 datapoints [25.0, 30.0, 20.0] were greater than or equal to the threshold (20.0) (minimum 3 datapoints for ALARM)"
        );
        let e = evaluate(&d, &[None, None, None, None, Some(40.0)], AlarmState::Ok);
        assert_eq!(e.state, AlarmState::Ok, "{}", e.reason);
    }
}
