//! Small helpers the parsers share: durations, numbers, test-case construction.

use crate::model::{TestCase, TestStatus};

/// A new test case (the builder fills `testRawDataPath`).
pub(crate) fn case(prefix: String, name: String, status: TestStatus) -> TestCase {
    TestCase { report_arn: None, test_raw_data_path: String::new(), prefix, name, status, duration_in_nano_seconds: 0, message: None, test_suite_name: None, source_file: None, source_line: None }
}

/// Seconds (as JUnit, NUnit and Cucumber-less formats write them) to nanoseconds.
///
/// Accepts thousands separators (`1,234.567`, Surefire's `#,##0.###`) and a decimal comma
/// (`0,5`): a comma is a thousands separator when it has a point after it, or when the first
/// group is 1-3 digits (not `0`) and every later group exactly 3 digits; otherwise it is the
/// decimal mark. `None` for anything that is not a finite, non-negative number of seconds that
/// fits in 64-bit nanoseconds (about 584 years).
pub(crate) fn seconds_to_nanos(s: &str) -> Option<u64> {
    let s = s.trim();
    if s.is_empty() || s.len() > 64 {
        return None;
    }
    let normalized: std::borrow::Cow<'_, str> = if s.contains(',') {
        let groups: Vec<&str> = s.split(',').collect();
        let thousands = s.contains('.')
            || (groups[0].len() <= 3 && groups[0] != "0" && groups[0].bytes().all(|b| b.is_ascii_digit()) && groups[1..].iter().all(|g| g.len() == 3 && g.bytes().all(|b| b.is_ascii_digit())));
        if thousands { s.replace(',', "").into() } else { s.replacen(',', ".", 1).into() }
    } else {
        s.into()
    };
    let secs: f64 = normalized.parse().ok()?;
    nanos_from_secs(secs)
}

/// Finite, non-negative seconds to nanoseconds.
pub(crate) fn nanos_from_secs(secs: f64) -> Option<u64> {
    if !secs.is_finite() || secs < 0.0 {
        return None;
    }
    let n = (secs * 1e9).round();
    if n >= u64::MAX as f64 { None } else { Some(n as u64) }
}

/// Milliseconds (TestNG's `duration-ms`) to nanoseconds.
pub(crate) fn millis_to_nanos(s: &str) -> Option<u64> {
    let ms: f64 = s.trim().parse().ok()?;
    nanos_from_secs(ms / 1000.0)
}

/// A .NET `TimeSpan` (`[d.]hh:mm:ss[.fffffff]`, TRX's `duration`) to nanoseconds.
pub(crate) fn timespan_to_nanos(s: &str) -> Option<u64> {
    let s = s.trim();
    let mut parts = s.rsplitn(3, ':');
    let secs: f64 = parts.next()?.parse().ok()?;
    let mins: u64 = parts.next()?.parse().ok()?;
    let hd = parts.next()?;
    let (days, hours) = match hd.split_once('.') {
        Some((d, h)) => (d.parse::<u64>().ok()?, h.parse::<u64>().ok()?),
        None => (0, hd.parse::<u64>().ok()?),
    };
    if mins >= 60 || hours >= 24 && days > 0 || !(0.0..60.0).contains(&secs) {
        return None;
    }
    nanos_from_secs(days as f64 * 86_400.0 + hours as f64 * 3_600.0 + mins as f64 * 60.0 + secs)
}

/// A non-negative integer attribute (`line`, counts); tolerant of surrounding blanks and of a
/// float-looking value (`12.0`).
pub(crate) fn count(s: &str) -> Option<u64> {
    let s = s.trim();
    s.parse::<u64>().ok().or_else(|| s.parse::<f64>().ok().filter(|f| f.is_finite() && *f >= 0.0 && f.fract() == 0.0 && *f < u64::MAX as f64).map(|f| f as u64))
}

/// A value shortened for a message.
pub(crate) fn shown(s: &str) -> String {
    let mut out: String = s.chars().take(40).collect();
    if s.chars().nth(40).is_some() {
        out.push('…');
    }
    out
}

/// Join a message and a body (stack trace) as CodeBuild's example shows: `message\nbody`.
pub(crate) fn join_message(message: Option<&str>, body: &str) -> Option<String> {
    let message = message.map(str::trim).filter(|m| !m.is_empty());
    let body = body.trim();
    match (message, body.is_empty()) {
        (Some(m), true) => Some(m.to_string()),
        (None, false) => Some(body.to_string()),
        (Some(m), false) if body.starts_with(m) => Some(body.to_string()),
        (Some(m), false) => Some(format!("{m}\n{body}")),
        (None, true) => None,
    }
}

/// The fixture part of a test's full name: up to the last `.` outside parentheses.
pub(crate) fn fixture_of(full: &str) -> &str {
    let base = match full.find('(') {
        Some(p) => &full[..p],
        None => full,
    };
    match base.rfind('.') {
        Some(dot) => &full[..dot],
        None => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_in_every_spelling() {
        assert_eq!(seconds_to_nanos("0.003"), Some(3_000_000));
        assert_eq!(seconds_to_nanos(" 12 "), Some(12_000_000_000));
        assert_eq!(seconds_to_nanos("1,234.567"), Some(1_234_567_000_000));
        assert_eq!(seconds_to_nanos("1,234"), Some(1_234_000_000_000));
        assert_eq!(seconds_to_nanos("1,234,567.5"), Some(1_234_567_500_000_000));
        assert_eq!(seconds_to_nanos("0,5"), Some(500_000_000));
        assert_eq!(seconds_to_nanos("12,5"), Some(12_500_000_000));
        assert_eq!(seconds_to_nanos("1e-3"), Some(1_000_000));
        for bad in ["", "abc", "-1", "NaN", "inf", "1e300", "1.2.3"] {
            assert_eq!(seconds_to_nanos(bad), None, "{bad}");
        }
        assert_eq!(seconds_to_nanos(&"9".repeat(10_000)), None);
    }

    #[test]
    fn timespans_and_millis() {
        assert_eq!(timespan_to_nanos("00:00:00.0030000"), Some(3_000_000));
        assert_eq!(timespan_to_nanos("01:02:03.5"), Some(3_723_500_000_000));
        assert_eq!(timespan_to_nanos("1.00:00:01"), Some(86_401_000_000_000));
        assert_eq!(timespan_to_nanos("12"), None);
        assert_eq!(timespan_to_nanos("00:61:00"), None);
        assert_eq!(timespan_to_nanos("99999999999999999.00:00:00"), None);
        assert_eq!(timespan_to_nanos("00:00:99999999999999999999"), None);
        assert_eq!(timespan_to_nanos("18446744073709551:00:00"), None);
        assert_eq!(millis_to_nanos("15"), Some(15_000_000));
        assert_eq!(millis_to_nanos("x"), None);
    }

    #[test]
    fn fixture_names() {
        assert_eq!(fixture_of("NUnit.Tests.Assemblies.MockTestFixture.FailingTest"), "NUnit.Tests.Assemblies.MockTestFixture");
        assert_eq!(fixture_of("A.B.Test(1.5,\"x.y\")"), "A.B");
        assert_eq!(fixture_of("Lonely"), "");
    }

    #[test]
    fn counts_and_messages() {
        assert_eq!(count(" 7 "), Some(7));
        assert_eq!(count("7.0"), Some(7));
        assert_eq!(count("-1"), None);
        assert_eq!(count("NaN"), None);
        assert_eq!(join_message(Some("boom"), "  at x\n"), Some("boom\nat x".into()));
        assert_eq!(join_message(Some("boom"), "boom\n at x"), Some("boom\n at x".into()));
        assert_eq!(join_message(Some(" "), ""), None);
        assert_eq!(shown(&"a".repeat(50)).chars().count(), 41);
    }
}
