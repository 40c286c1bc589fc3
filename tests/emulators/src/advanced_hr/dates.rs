//! Dates (proleptic Gregorian, UTC): civil-date arithmetic, formatting and
//! ISO 8601 parsing.

use std::time::{SystemTime, UNIX_EPOCH};

pub(super) fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

pub(super) use cardhost_rules::time::{civil_from_days, days_from_civil};

pub(super) use cardhost_rules::time::{date as format_date, rfc3339_utc as format_timestamp};

/// Parses an ISO 8601 date (`2024-05-01`, midnight UTC) or date-time
/// (`2024-05-01T09:30:00Z`, `…T09:30+01:00`, fractions allowed; no offset
/// means UTC) into Unix seconds.
pub fn parse_timestamp(text: &str) -> Option<i64> {
    cardhost_rules::time::Instant::parse(text).map(|i| i.secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates_round_trip() {
        for days in [-1, 0, 59, 10_957, 19_358, 20_361] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
        assert_eq!(format_date(0), "1970-01-01");
        assert_eq!(format_timestamp(1_700_000_000), "2023-11-14T22:13:20Z");
    }

    #[test]
    fn timestamps_parse_iso_8601_forms() {
        assert_eq!(parse_timestamp("2023-11-14T22:13:20Z"), Some(1_700_000_000));
        assert_eq!(
            parse_timestamp("2023-11-14T23:13:20.250+01:00"),
            Some(1_700_000_000)
        );
        assert_eq!(parse_timestamp("2023-11-14T22:13Z"), Some(1_699_999_980));
        assert_eq!(parse_timestamp("2023-11-14"), Some(1_699_920_000));
        for bad in [
            "2023-02-29",
            "2023-13-01",
            "yesterday",
            "2023-11-14T25:00:00Z",
            "2023-11-14T10:00:00+1",
        ] {
            assert_eq!(parse_timestamp(bad), None, "{bad}");
        }
    }
}
