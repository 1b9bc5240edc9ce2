//! `time::OffsetDateTime` and `time::Date` as cursors (the `time` feature).
//!
//! Calendar arithmetic goes through chrono, so `step = "P1M"` means the same on both crates'
//! types. A timestamp's state is RFC 3339 in UTC, whatever offset the value carries; records
//! serialize the field as its own serde attributes say (use `time::serde::rfc3339` for RFC 3339).

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Deserializer, Serializer};
use time::format_description::well_known::Rfc3339;
use time::{Date as TimeDate, OffsetDateTime, UtcOffset};

use crate::cursor::Cursor;
use crate::window::{Date, DatePeriod, Period, Start, Step, Timestamp};

/// Julian day number of 0001-01-01, chrono's day 1 of the common era, minus one.
const JULIAN_CE: i32 = 1_721_425;

fn to_chrono(value: &OffsetDateTime) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp(value.unix_timestamp(), value.nanosecond())
}

fn from_chrono(value: DateTime<Utc>) -> Option<OffsetDateTime> {
    OffsetDateTime::from_unix_timestamp(value.timestamp())
        .ok()?
        .replace_nanosecond(value.timestamp_subsec_nanos())
        .ok()
}

fn date_to_chrono(value: TimeDate) -> Option<NaiveDate> {
    NaiveDate::from_num_days_from_ce_opt(value.to_julian_day() - JULIAN_CE)
}

fn date_from_chrono(value: NaiveDate) -> Option<TimeDate> {
    use chrono::Datelike as _;
    TimeDate::from_julian_day(value.num_days_from_ce() + JULIAN_CE).ok()
}

/// A UTC instant; values with another offset compare by instant and are saved in UTC.
#[cfg_attr(docsrs, doc(cfg(feature = "time")))]
impl Cursor for OffsetDateTime {
    /// One nanosecond before the sync started.
    fn upper_cap(sync_started: DateTime<Utc>) -> Option<Self> {
        from_chrono(<DateTime<Utc> as Cursor>::upper_cap(sync_started)?)
    }

    /// RFC 3339 in UTC, as chrono timestamps are saved.
    fn serialize_state<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let text = self
            .to_offset(UtcOffset::UTC)
            .format(&Rfc3339)
            .map_err(serde::ser::Error::custom)?;
        serializer.serialize_str(&text)
    }

    fn deserialize_state<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        OffsetDateTime::parse(&text, &Rfc3339).map_err(serde::de::Error::custom)
    }
}

#[cfg_attr(docsrs, doc(cfg(feature = "time")))]
impl Cursor for TimeDate {
    /// The day before the sync started (UTC).
    fn upper_cap(sync_started: DateTime<Utc>) -> Option<Self> {
        date_from_chrono(<NaiveDate as Cursor>::upper_cap(sync_started)?)
    }
}

#[cfg_attr(docsrs, doc(cfg(feature = "time")))]
impl Step<DatePeriod> for OffsetDateTime {
    fn forward(&self, distance: &DatePeriod, times: u64) -> Option<Self> {
        from_chrono(to_chrono(self)?.forward(distance, times)?)
    }

    fn backward(&self, distance: &DatePeriod) -> Option<Self> {
        from_chrono(to_chrono(self)?.backward(distance)?)
    }
}

#[cfg_attr(docsrs, doc(cfg(feature = "time")))]
impl Step<Period> for OffsetDateTime {
    fn forward(&self, distance: &Period, times: u64) -> Option<Self> {
        from_chrono(to_chrono(self)?.forward(distance, times)?)
    }

    fn backward(&self, distance: &Period) -> Option<Self> {
        from_chrono(to_chrono(self)?.backward(distance)?)
    }
}

#[cfg_attr(docsrs, doc(cfg(feature = "time")))]
impl Step<DatePeriod> for TimeDate {
    fn forward(&self, distance: &DatePeriod, times: u64) -> Option<Self> {
        date_from_chrono(date_to_chrono(*self)?.forward(distance, times)?)
    }

    fn backward(&self, distance: &DatePeriod) -> Option<Self> {
        date_from_chrono(date_to_chrono(*self)?.backward(distance)?)
    }
}

#[cfg_attr(docsrs, doc(cfg(feature = "time")))]
impl Start<Timestamp> for OffsetDateTime {
    fn start(literal: &Timestamp) -> Option<Self> {
        from_chrono(literal.to_chrono()?)
    }
}

/// Midnight UTC of the date.
#[cfg_attr(docsrs, doc(cfg(feature = "time")))]
impl Start<Date> for OffsetDateTime {
    fn start(literal: &Date) -> Option<Self> {
        from_chrono(<DateTime<Utc> as Start<Date>>::start(literal)?)
    }
}

#[cfg_attr(docsrs, doc(cfg(feature = "time")))]
impl Start<Date> for TimeDate {
    fn start(literal: &Date) -> Option<Self> {
        date_from_chrono(literal.to_chrono()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversions_round_trip_and_keep_the_instant() {
        let chrono: DateTime<Utc> = "1969-12-31T23:59:59.25Z".parse().expect("RFC 3339");
        let time = from_chrono(chrono).expect("in range");
        assert_eq!(to_chrono(&time), Some(chrono));
        let date = NaiveDate::from_ymd_opt(2024, 2, 29).expect("a date");
        let converted = date_from_chrono(date).expect("in range");
        assert_eq!(converted.to_string(), "2024-02-29");
        assert_eq!(date_to_chrono(converted), Some(date));
    }

    #[test]
    fn a_timestamp_with_an_offset_is_saved_in_utc() {
        let value = OffsetDateTime::parse("2024-03-01T02:00:00+02:00", &Rfc3339).expect("parses");
        let json = crate::cursor::to_json(&value);
        assert_eq!(json, "\"2024-03-01T00:00:00Z\"");
        assert_eq!(
            value
                .forward(&DatePeriod::new(1, 0), 1)
                .map(|v| crate::cursor::to_json(&v)),
            Some("\"2024-04-01T00:00:00Z\"".to_owned())
        );
    }
}
