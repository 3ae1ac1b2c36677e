//! Timestamps in records: RFC 3339 UTC with milliseconds, as the AWS CLI prints CodeDeploy's
//! (and as `build.json` writes CodeBuild's).

use std::time::SystemTime;

/// `t` as `2026-11-25T10:00:00.123Z`.
pub fn rfc3339(t: SystemTime) -> String {
    let f = time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z");
    time::OffsetDateTime::from(t).to_offset(time::UtcOffset::UTC).format(&f).unwrap_or_default()
}

/// Now, as [`rfc3339`].
pub fn now() -> String {
    rfc3339(SystemTime::now())
}

#[cfg(test)]
mod tests {
    #[test]
    fn format() {
        let t = std::time::UNIX_EPOCH + std::time::Duration::from_millis(1_700_000_000_123);
        assert_eq!(super::rfc3339(t), "2023-11-14T22:13:20.123Z");
    }
}
