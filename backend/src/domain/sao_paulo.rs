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
}
