//! Civil dates and RFC 3339 times in UTC, without a calendar crate: the
//! host, the SDK (in the guest), the emulators and the bench all format and
//! read them the same way (Howard Hinnant's days-from-civil algorithms).

/// Days since 1970-01-01 of a proleptic Gregorian date.
pub fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date `(year, month, day)` of a day count since 1970-01-01.
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(month <= 2), month, day)
}

/// `YYYY-MM-DD` of a day count since 1970-01-01.
pub fn date(days: i64) -> String {
    let (y, m, d) = civil_from_days(days);
    format!("{y:04}-{m:02}-{d:02}")
}

/// Unix seconds as RFC 3339 in UTC: `2025-03-14T09:30:00Z`.
pub fn rfc3339_utc(secs: i64) -> String {
    let rem = secs.rem_euclid(86_400);
    format!(
        "{}T{:02}:{:02}:{:02}Z",
        date(secs.div_euclid(86_400)),
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Days in `month` of `year`.
pub fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        4 | 6 | 9 | 11 => 30,
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        _ => 31,
    }
}

/// An instant in UTC, to the nanosecond; ordered by time, whatever offset
/// it was written with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Instant {
    /// Unix seconds.
    pub secs: i64,
    /// Nanoseconds within the second.
    pub nanos: u32,
}

impl Instant {
    /// The instant `secs` Unix seconds.
    pub const fn at(secs: i64) -> Self {
        Self { secs, nanos: 0 }
    }

    /// Reads an ISO 8601 date (`2024-05-01`, midnight UTC) or date-time
    /// (`2024-05-01T09:30Z`, `…T09:30:00.25+09:00`, `t` or a space for `T`;
    /// seconds, fraction and offset optional; no offset means UTC). Fields
    /// out of range (month 13, February 30, hour 24) are refused; a leap
    /// second counts as the last second of its minute; digits of a fraction
    /// past nanoseconds are dropped.
    pub fn parse(text: &str) -> Option<Self> {
        let text = text.trim();
        let bytes = text.as_bytes();
        let digits = |range: std::ops::Range<usize>| -> Option<i64> {
            let part = text.get(range)?;
            if part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            part.parse().ok()
        };
        if bytes.len() < 10 || bytes[4] != b'-' || bytes[7] != b'-' {
            return None;
        }
        let year = digits(0..4)?;
        let month = u32::try_from(digits(5..7)?).ok()?;
        let day = u32::try_from(digits(8..10)?).ok()?;
        if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
            return None;
        }
        let mut secs = days_from_civil(year, month, day) * 86_400;
        if bytes.len() == 10 {
            return Some(Self::at(secs));
        }
        if !matches!(bytes[10], b'T' | b't' | b' ') || bytes.len() < 16 || bytes[13] != b':' {
            return None;
        }
        let (hour, minute) = (digits(11..13)?, digits(14..16)?);
        let mut pos = 16;
        let (mut second, mut nanos) = (0, 0u32);
        if bytes.get(pos) == Some(&b':') {
            second = digits(pos + 1..pos + 3)?;
            pos += 3;
            if bytes.get(pos) == Some(&b'.') {
                pos += 1;
                let start = pos;
                while bytes.get(pos).is_some_and(u8::is_ascii_digit) {
                    pos += 1;
                }
                if pos == start {
                    return None;
                }
                let kept: String = text[start..pos].chars().take(9).collect();
                nanos = format!("{kept:0<9}").parse().ok()?;
            }
        }
        if hour > 23 || minute > 59 || second > 60 {
            return None;
        }
        secs += hour * 3600 + minute * 60 + second.min(59);
        let offset = match &text[pos..] {
            "" | "Z" | "z" => 0,
            zone => {
                let sign = match zone.as_bytes()[0] {
                    b'+' => 1,
                    b'-' => -1,
                    _ => return None,
                };
                let rest = &zone[1..];
                let (h, m) = match rest.len() {
                    5 if rest.as_bytes()[2] == b':' => (&rest[..2], &rest[3..]),
                    4 => (&rest[..2], &rest[2..]),
                    2 => (rest, "00"),
                    _ => return None,
                };
                if !(h.bytes().chain(m.bytes())).all(|b| b.is_ascii_digit()) {
                    return None;
                }
                let (h, m): (i64, i64) = (h.parse().ok()?, m.parse().ok()?);
                if h > 23 || m > 59 {
                    return None;
                }
                sign * (h * 3600 + m * 60)
            }
        };
        Some(Self {
            secs: secs - offset,
            nanos,
        })
    }

    /// RFC 3339 in UTC, with a fraction only when there is one
    /// (`2025-03-14T09:30:00Z`, `2025-03-14T09:30:00.25Z`).
    pub fn rfc3339(self) -> String {
        let whole = rfc3339_utc(self.secs);
        if self.nanos == 0 {
            return whole;
        }
        let fraction = format!("{:09}", self.nanos);
        format!(
            "{}.{}Z",
            whole.trim_end_matches('Z'),
            fraction.trim_end_matches('0')
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_instants() {
        assert_eq!(rfc3339_utc(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339_utc(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339_utc(1_767_225_599), "2025-12-31T23:59:59Z");
        assert_eq!(rfc3339_utc(-1), "1969-12-31T23:59:59Z");
        assert_eq!(date(-3_653), "1960-01-01");
    }

    #[test]
    fn instants_read_every_form_and_order_across_offsets() {
        let at = |t: &str| Instant::parse(t).unwrap_or_else(|| panic!("{t}"));
        assert_eq!(at("2024-05-01"), Instant::at(1_714_521_600));
        assert_eq!(at("2024-05-01T09:30Z").secs, 1_714_521_600 + 34_200);
        assert_eq!(at("2024-05-01t09:30:00z"), at("2024-05-01 09:30:00"));
        assert_eq!(at("2024-05-01T18:30:00+09:00"), at("2024-05-01T09:30:00Z"));
        assert_eq!(at("2024-05-01T04:30:00-0500"), at("2024-05-01T09:30:00Z"));
        assert_eq!(at("2024-05-01T09:30:00.25Z").nanos, 250_000_000);
        assert_eq!(at("2024-05-01T09:30:00.1234567891Z").nanos, 123_456_789);
        assert!(at("2024-05-01T09:30:00.5+01:00") < at("2024-05-01T08:30:01Z"));
        assert_eq!(at("2016-12-31T23:59:60Z"), at("2016-12-31T23:59:59Z"));
        assert_eq!(
            at("2024-05-01T09:30:00.250Z").rfc3339(),
            "2024-05-01T09:30:00.25Z"
        );
        assert_eq!(Instant::at(0).rfc3339(), "1970-01-01T00:00:00Z");
        for bad in [
            "",
            "2024-13-01",
            "2023-02-29",
            "2024-05-01T24:00Z",
            "2024-05-01T09:60Z",
            "2024-05-01T09:30:00.Z",
            "2024-05-01T09:30:00+9",
            "2024-05-01T09:30:00 UTC",
            "2024-05-01X09:30",
            "24-05-01",
            "2024-05-01T09:30:00+24:00",
        ] {
            assert_eq!(Instant::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn days_and_dates_round_trip() {
        for days in (-800_000..800_000).step_by(997) {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days, "{y}-{m}-{d}");
        }
        assert_eq!(
            days_from_civil(2000, 3, 1) - days_from_civil(2000, 2, 28),
            2
        );
    }
}
