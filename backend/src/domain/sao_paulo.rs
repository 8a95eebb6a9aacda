//! São Paulo's time ("horário de Brasília"): every time a salesperson or a
//! manager reads (CRM notes, the manager page, the CSV) and every whole day
//! (date filters, RD Station's date-bounded listings) is in this zone.

use std::sync::LazyLock;

use jiff::tz::TimeZone;
use jiff::{Timestamp, Zoned};
use time::OffsetDateTime;

/// The zone, from jiff's time-zone database (the system's, or the bundled
/// copy); UTC−3, what Brazil has kept all year since 2019, if it is missing.
pub static SAO_PAULO: LazyLock<TimeZone> = LazyLock::new(|| {
    TimeZone::get("America/Sao_Paulo").unwrap_or_else(|_| TimeZone::fixed(jiff::tz::offset(-3)))
});

/// `at` on São Paulo's clock (`None` outside jiff's range).
pub fn zoned(at: OffsetDateTime) -> Option<Zoned> {
    Timestamp::from_nanosecond(at.unix_timestamp_nanos())
        .ok()
        .map(|ts| ts.to_zoned(SAO_PAULO.clone()))
}

/// `at` in São Paulo, with a jiff `strftime` format.
pub fn format(at: OffsetDateTime, format: &str) -> String {
    match zoned(at) {
        Some(local) => local.strftime(format).to_string(),
        None => at.to_string(),
    }
}

/// `at` on São Paulo's clock, in milliseconds since 1970-01-01 00:00 there
/// (what [`offsets`] lets SQL compute; UTC−3 outside jiff's range).
pub fn local_millis(at: OffsetDateTime) -> i64 {
    let utc = i64::try_from(at.unix_timestamp_nanos() / 1_000_000).unwrap_or_default();
    let offset = Timestamp::from_nanosecond(at.unix_timestamp_nanos())
        .map(|ts| i64::from(SAO_PAULO.to_offset(ts).seconds()) * 1000)
        .unwrap_or(-3 * 3_600_000);
    utc + offset
}

/// São Paulo's offsets from UTC over `[from, to)`, as what SQL adds to a
/// UTC time in milliseconds to read it on São Paulo's clock: the first
/// instant (ms since the epoch) and the offset (ms) of each stretch, in
/// order, the first stretch starting at `from`. Whole UTC hours are
/// looked at, which finds every change of a zone whose clocks change on
/// the hour (São Paulo's always have).
pub fn offsets(from: OffsetDateTime, to: OffsetDateTime) -> Vec<(i64, i64)> {
    let offset_at = |second: i64| {
        Timestamp::from_second(second)
            .map(|ts| i64::from(SAO_PAULO.to_offset(ts).seconds()) * 1000)
            .unwrap_or(-3 * 3_600_000)
    };
    let (start, end) = (from.unix_timestamp(), to.unix_timestamp());
    let mut stretches = vec![(start * 1000, offset_at(start))];
    let mut hour = start - start.rem_euclid(3600) + 3600;
    while hour < end {
        let offset = offset_at(hour);
        if stretches.last().is_some_and(|(_, last)| *last != offset) {
            stretches.push((hour * 1000, offset));
        }
        hour += 3600;
    }
    stretches
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;

    #[test]
    fn times_are_in_sao_paulo() {
        const NOTE: &str = "%d/%m/%Y %H:%M";
        // UTC−3 all year since 2019.
        assert_eq!(
            format(datetime!(2026-01-15 02:30 UTC), NOTE),
            "14/01/2026 23:30"
        );
        // In 2018 São Paulo still had summer time (UTC−2).
        assert_eq!(
            format(datetime!(2018-12-01 12:00 UTC), NOTE),
            "01/12/2018 10:00"
        );
    }

    #[test]
    fn local_millis_read_the_clock_of_that_day() {
        const HOUR: i64 = 3_600_000;
        // 2026-01-15 02:30 UTC is 23:30 the day before, UTC−3.
        let now = datetime!(2026-01-15 02:30 UTC);
        assert_eq!(local_millis(now), now.unix_timestamp() * 1000 - 3 * HOUR);
        // Summer time of 2018: UTC−2.
        let then = datetime!(2018-12-01 12:00 UTC);
        assert_eq!(local_millis(then), then.unix_timestamp() * 1000 - 2 * HOUR);
    }

    #[test]
    fn offsets_follow_summer_time_of_past_years() {
        const HOUR: i64 = 3_600_000;
        // Summer time began at 00:00 on 4 November 2018 (03:00 UTC) and
        // ended at 00:00 on 17 February 2019 (02:00 UTC).
        assert_eq!(
            offsets(
                datetime!(2018-11-01 00:00 UTC),
                datetime!(2019-03-01 00:00 UTC)
            ),
            [
                (
                    datetime!(2018-11-01 00:00 UTC).unix_timestamp() * 1000,
                    -3 * HOUR
                ),
                (
                    datetime!(2018-11-04 03:00 UTC).unix_timestamp() * 1000,
                    -2 * HOUR
                ),
                (
                    datetime!(2019-02-17 02:00 UTC).unix_timestamp() * 1000,
                    -3 * HOUR
                ),
            ]
        );
        assert_eq!(
            offsets(
                datetime!(2026-11-01 03:00 UTC),
                datetime!(2026-12-01 03:00 UTC)
            ),
            [(
                datetime!(2026-11-01 03:00 UTC).unix_timestamp() * 1000,
                -3 * HOUR
            )]
        );
    }
}
