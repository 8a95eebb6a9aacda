//! Time as RD Station writes it: São Paulo's offset (-03:00, without
//! daylight saving since 2019) and milliseconds, `2024-05-10T14:32:11.123-03:00`;
//! and deadlines for lifetimes and windows that cannot overflow.

use std::time::{Duration, Instant};

use time::format_description::well_known::Rfc3339;
use time::macros::{format_description, offset};
use time::{Date, OffsetDateTime, PrimitiveDateTime, Time, UtcOffset};

pub const BRT: UtcOffset = offset!(-3);

pub fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc().to_offset(BRT)
}

pub fn format(t: OffsetDateTime) -> String {
    let description = format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3][offset_hour sign:mandatory]:[offset_minute]"
    );
    t.to_offset(BRT)
        .format(description)
        .unwrap_or_else(|_| t.unix_timestamp().to_string())
}

/// For `#[serde(serialize_with)]`.
pub fn serialize<S: serde::Serializer>(t: &OffsetDateTime, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format(*t))
}

/// A date filter: `YYYY-MM-DD` (the whole day in São Paulo: its first
/// instant, or its last when `end_of_day`) or an RFC 3339 instant.
pub fn parse_bound(text: &str, end_of_day: bool) -> Option<OffsetDateTime> {
    if let Ok(instant) = OffsetDateTime::parse(text, &Rfc3339) {
        return Some(instant);
    }
    let date = Date::parse(text, format_description!("[year]-[month]-[day]")).ok()?;
    let time = if end_of_day {
        Time::from_hms_milli(23, 59, 59, 999).ok()?
    } else {
        Time::MIDNIGHT
    };
    Some(PrimitiveDateTime::new(date, time).assume_offset(BRT))
}

/// `start + lifetime`, or about a century on for lifetimes too long to add.
pub fn deadline(start: Instant, lifetime: Duration) -> Instant {
    const CENTURY: Duration = Duration::from_secs(100 * 365 * 24 * 60 * 60);
    start
        .checked_add(lifetime)
        .or_else(|| start.checked_add(CENTURY))
        .unwrap_or(start)
}

/// A São Paulo date (`YYYY-MM-DD`) and time (`HH:mm`), as an instant.
pub fn parse_local(date: &str, hour: &str) -> Option<OffsetDateTime> {
    let date = Date::parse(date, format_description!("[year]-[month]-[day]")).ok()?;
    let time = Time::parse(hour, format_description!("[hour]:[minute]")).ok()?;
    Some(PrimitiveDateTime::new(date, time).assume_offset(BRT))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_in_sao_paulo_time_with_milliseconds() {
        let t = OffsetDateTime::from_unix_timestamp_nanos(1_715_362_331_123_456_789).unwrap();
        assert_eq!(format(t), "2024-05-10T14:32:11.123-03:00");
    }

    #[test]
    fn day_bounds_cover_the_whole_day_in_sao_paulo() {
        let start = parse_bound("2024-05-10", false).unwrap();
        let end = parse_bound("2024-05-10", true).unwrap();
        assert_eq!(format(start), "2024-05-10T00:00:00.000-03:00");
        assert_eq!(format(end), "2024-05-10T23:59:59.999-03:00");
        assert!(parse_bound("2024-05-10T12:00:00Z", false).is_some());
        assert!(parse_bound("10/05/2024", false).is_none());
        assert!(parse_bound("2024-13-40", false).is_none());
    }
}
