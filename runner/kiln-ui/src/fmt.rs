//! Small formatting helpers shared by the pages: durations, sizes, times, status tones.

use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::svg::Tone;

/// Parse an RFC 3339 timestamp (as every record writes them).
pub fn parse_time(s: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(s, &Rfc3339).ok()
}

/// Seconds between two RFC 3339 timestamps (`None` when either is missing or unreadable).
pub fn between(start: &str, end: Option<&str>) -> Option<f64> {
    let (a, b) = (parse_time(start)?, parse_time(end?)?);
    Some(((b - a).as_seconds_f64()).max(0.0))
}

/// `850 ms`, `12.3 s`, `4 min 05 s`, `2 h 10 min`.
pub fn seconds(s: f64) -> String {
    if !s.is_finite() || s < 0.0 {
        return "–".into();
    }
    if s < 1.0 {
        format!("{:.0} ms", s * 1000.0)
    } else if s < 60.0 {
        format!("{s:.1} s")
    } else if s < 3600.0 {
        format!("{} min {:02} s", (s / 60.0) as u64, (s % 60.0) as u64)
    } else {
        format!("{} h {:02} min", (s / 3600.0) as u64, ((s % 3600.0) / 60.0) as u64)
    }
}

/// `512 B`, `3.4 KiB`, `12.0 MiB`.
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut v = n as f64 / 1024.0;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    format!("{v:.1} {}", UNITS[u])
}

/// `2024-05-01 12:03:04 UTC` from an RFC 3339 timestamp (the text itself when unreadable).
pub fn when(s: &str) -> String {
    match parse_time(s) {
        Some(t) => {
            let t = t.to_offset(time::UtcOffset::UTC);
            format!("{:04}-{:02}-{:02} {:02}:{:02}:{:02} UTC", t.year(), t.month() as u8, t.day(), t.hour(), t.minute(), t.second())
        }
        None => s.to_string(),
    }
}

/// The tone of a CodeBuild / CodeDeploy / CodePipeline / report status, whatever its case.
pub fn tone(status: &str) -> Tone {
    match status.to_ascii_uppercase().replace('_', "").as_str() {
        "SUCCEEDED" | "SUCCESS" | "OK" | "APPROVED" | "READY" => "ok",
        "FAILED" | "FAULT" | "TIMEDOUT" | "ERROR" | "ALARM" | "REJECTED" | "INCOMPLETE" => "bad",
        "INPROGRESS" | "QUEUED" | "CREATED" | "BAKING" | "STOPPING" | "PENDING" => "run",
        "STOPPED" | "CANCELLED" | "ABANDONED" | "SUPERSEDED" | "INSUFFICIENTDATA" => "warn",
        _ => "idle",
    }
}

/// The first 12 characters of a hex digest, for tables (the full one is in a title).
pub fn short(digest: &str) -> &str {
    digest.get(..12).unwrap_or(digest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        assert_eq!(seconds(0.25), "250 ms");
        assert_eq!(seconds(12.34), "12.3 s");
        assert_eq!(seconds(245.0), "4 min 05 s");
        assert_eq!(seconds(7800.0), "2 h 10 min");
        assert_eq!(bytes(100), "100 B");
        assert_eq!(bytes(3 * 1024 * 1024), "3.0 MiB");
        assert_eq!(between("2024-05-01T12:00:00.000Z", Some("2024-05-01T12:00:02.500Z")), Some(2.5));
        assert_eq!(between("2024-05-01T12:00:00.000Z", None), None);
        assert_eq!(when("2024-05-01T12:03:04.123Z"), "2024-05-01 12:03:04 UTC");
        assert_eq!(tone("TIMED_OUT"), "bad");
        assert_eq!(tone("InProgress"), "run");
        assert_eq!(tone("Succeeded"), "ok");
    }
}
