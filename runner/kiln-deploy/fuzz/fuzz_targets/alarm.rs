#![no_main]
//! The CloudWatch state machine over any datapoints and settings: no panic, and the documented
//! invariants: with at least N real datapoints the missing-data setting does not matter, and a
//! range where every point breaches (under `breaching`, missing ones too) is in ALARM.

use kiln_deploy::alarm::eval::evaluate;
use kiln_deploy::alarm::{AlarmDef, AlarmState, Comparison, LowSampleCount, Statistic, TreatMissingData};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if data.len() < 3 {
        return;
    }
    let n = u32::from(data[0] % 8) + 1;
    let m = (u32::from(data[1]) % n) + 1;
    let treats = [TreatMissingData::Missing, TreatMissingData::Ignore, TreatMissingData::Breaching, TreatMissingData::NotBreaching];
    let points: Vec<Option<f64>> = data[3..].iter().take(n as usize + 2).map(|b| (b % 3 != 0).then_some(f64::from(*b % 2))).collect();
    let mut states = Vec::new();
    for treat in treats {
        let def = AlarmDef {
            name: "a".into(),
            metric: "m".into(),
            statistic: Statistic::Sum,
            period: 60,
            evaluation_periods: n,
            datapoints_to_alarm: m,
            comparison_operator: Comparison::GreaterThanThreshold,
            threshold: 0.5,
            treat_missing_data: treat,
            evaluate_low_sample_count_percentile: LowSampleCount::Evaluate,
        };
        let current = [AlarmState::Ok, AlarmState::Alarm, AlarmState::InsufficientData][usize::from(data[2] % 3)];
        let e = evaluate(&def, &points, current);
        assert!(!e.reason.is_empty());
        states.push(e.state);
        if points.iter().all(|p| p.is_none_or(|v| v > 0.5)) && treat == TreatMissingData::Breaching {
            assert_eq!(e.state, AlarmState::Alarm, "{points:?} n={n} m={m}");
        }
    }
    if points.iter().filter(|p| p.is_some()).count() >= n as usize {
        assert!(states.windows(2).all(|w| w[0] == w[1]), "{points:?}: {states:?}");
    }
});
