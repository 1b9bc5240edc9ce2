//! Windows: the values of `step`, `lookback` and `start`, and the traits that let a cursor type
//! take them.
//!
//! The macro parses each literal at compile time into one of the types here, and checks through
//! [`Step`] and [`Start`] that the cursor type accepts it, so `step = "P1D"` on a `String` cursor
//! or `start = 5` on a timestamp cursor is a compile error on the literal.
//!
//! | `step` / `lookback` literal | type | cursor types |
//! |---|---|---|
//! | `1000`, `10` | `u64` | integers |
//! | `"P1D"`, `"P1M"`, `"P1Y2W"` (no time part) | [`DatePeriod`] | timestamps, dates |
//! | `"PT1H"`, `"P1DT12H"`, `"PT0.5S"` | [`Period`] | timestamps |
//!
//! | `start` literal | type | cursor types |
//! |---|---|---|
//! | `0`, `-5` | `i128` | integers (checked against the type's range at run time) |
//! | `"2024-01-01T00:00:00Z"` (RFC 3339, any offset) | [`Timestamp`] | timestamps |
//! | `"2024-01-01"` | [`Date`] | dates, timestamps (midnight UTC) |
//!
//! Timestamps are `chrono::DateTime<Utc>` and, with the `time` feature, `time::OffsetDateTime`;
//! dates are `chrono::NaiveDate` and, with the `time` feature, `time::Date`. A newtype cursor
//! implements [`Step`] and [`Start`] by delegating to the type it wraps.
//!
//! Months and years are calendar months: `P1M` from January 31st ends on the last day of
//! February. Window bounds are computed from the first bound (`origin + n * step`), so they do
//! not drift after a short month.

use chrono::{DateTime, Days, Months, NaiveDate, TimeDelta, Utc};

use crate::cursor::Cursor;

/// An ISO-8601 duration made of whole days, weeks, months and years (`P1D`, `P2W`, `P1M`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DatePeriod {
    months: u32,
    days: u32,
}

impl DatePeriod {
    /// `months` calendar months and `days` days.
    #[must_use]
    pub const fn new(months: u32, days: u32) -> Self {
        DatePeriod { months, days }
    }

    /// The calendar months (years count 12).
    #[must_use]
    pub const fn months(&self) -> u32 {
        self.months
    }

    /// The days (weeks count 7).
    #[must_use]
    pub const fn days(&self) -> u32 {
        self.days
    }

    fn times(self, times: u64) -> Option<(Months, Days)> {
        let months = u32::try_from(u64::from(self.months).checked_mul(times)?).ok()?;
        let days = u64::from(self.days).checked_mul(times)?;
        Some((Months::new(months), Days::new(days)))
    }
}

/// An ISO-8601 duration with a time part (`PT1H`, `P1DT12H`, `PT0.5S`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Period {
    date: DatePeriod,
    seconds: u64,
    nanos: u32,
}

impl Period {
    /// Calendar months, days, and a time of `seconds` plus `nanos` nanoseconds.
    #[must_use]
    pub const fn new(months: u32, days: u32, seconds: u64, nanos: u32) -> Self {
        Period {
            date: DatePeriod::new(months, days),
            seconds,
            nanos,
        }
    }

    /// The calendar part.
    #[must_use]
    pub const fn date(&self) -> DatePeriod {
        self.date
    }

    /// The time part, `times` times over.
    fn time(self, times: u64) -> Option<TimeDelta> {
        let nanos = (i128::from(self.seconds) * 1_000_000_000 + i128::from(self.nanos))
            .checked_mul(i128::from(times))?;
        Some(TimeDelta::nanoseconds(i64::try_from(nanos).ok()?))
    }
}

/// An instant given as an RFC 3339 timestamp, converted to UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Timestamp {
    seconds: i64,
    nanos: u32,
}

impl Timestamp {
    /// Seconds and nanoseconds since 1970-01-01T00:00:00Z.
    #[must_use]
    pub const fn new(seconds: i64, nanos: u32) -> Self {
        Timestamp { seconds, nanos }
    }

    /// As a chrono timestamp, when in its range.
    #[must_use]
    pub fn to_chrono(&self) -> Option<DateTime<Utc>> {
        DateTime::from_timestamp(self.seconds, self.nanos)
    }
}

/// A calendar date given as `YYYY-MM-DD`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Date {
    year: i32,
    month: u32,
    day: u32,
}

impl Date {
    /// The date `year-month-day`.
    #[must_use]
    pub const fn new(year: i32, month: u32, day: u32) -> Self {
        Date { year, month, day }
    }

    /// As a chrono date, when valid.
    #[must_use]
    pub fn to_chrono(&self) -> Option<NaiveDate> {
        NaiveDate::from_ymd_opt(self.year, self.month, self.day)
    }
}

/// A cursor type with a notion of distance `D`, so `step` and `lookback` apply to it.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be stepped or looked back by a distance of type `{D}`",
    label = "this `step` or `lookback` does not fit a `{Self}` cursor",
    note = "timestamp cursors take an ISO-8601 duration (`\"P1D\"`, `\"PT1H\"`); date cursors take \
            whole days, weeks, months or years (`\"P1D\"`, `\"P1M\"`); integer cursors take a \
            positive integer",
    note = "strings and compound cursors have no notion of distance, so they cannot have `step` or `lookback`"
)]
pub trait Step<D>: Cursor {
    /// `self` moved forward by `times` times `distance`; `None` when that leaves the type's range.
    fn forward(&self, distance: &D, times: u64) -> Option<Self>;

    /// `self` moved back by `distance`; `None` when that leaves the type's range (the range
    /// then starts from the beginning).
    fn backward(&self, distance: &D) -> Option<Self>;
}

/// A cursor type that a `start` literal of type `L` converts to.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot start at a value of type `{L}`",
    label = "this `start` does not fit a `{Self}` cursor",
    note = "timestamp cursors take an RFC 3339 timestamp (`\"2024-01-01T00:00:00Z\"`) or a date; \
            date cursors take a date (`\"2024-01-01\"`); integer cursors take an integer"
)]
pub trait Start<L>: Cursor {
    /// The cursor value of the literal; `None` when it is out of the type's range.
    fn start(literal: &L) -> Option<Self>;
}

/// `$ty` moves by a distance of its unsigned twin `$twin` (`add`/`sub` are `checked_add` and
/// `checked_sub` for unsigned types, `checked_add_unsigned` and `checked_sub_unsigned` for signed
/// ones), so a signed cursor steps across its whole range: from -100 by 200 is 100.
macro_rules! integer_windows {
    ($($ty:ty => $twin:ty, $add:ident, $sub:ident);* $(;)?) => {$(
        impl Step<u64> for $ty {
            fn forward(&self, distance: &u64, times: u64) -> Option<Self> {
                let delta = u128::from(*distance).checked_mul(u128::from(times))?;
                self.$add(<$twin>::try_from(delta).ok()?)
            }

            fn backward(&self, distance: &u64) -> Option<Self> {
                self.$sub(<$twin>::try_from(*distance).ok()?)
            }
        }

        impl Start<i128> for $ty {
            fn start(literal: &i128) -> Option<Self> {
                <$ty>::try_from(*literal).ok()
            }
        }
    )*};
}

integer_windows!(
    i8 => u8, checked_add_unsigned, checked_sub_unsigned;
    i16 => u16, checked_add_unsigned, checked_sub_unsigned;
    i32 => u32, checked_add_unsigned, checked_sub_unsigned;
    i64 => u64, checked_add_unsigned, checked_sub_unsigned;
    i128 => u128, checked_add_unsigned, checked_sub_unsigned;
    isize => usize, checked_add_unsigned, checked_sub_unsigned;
    u8 => u8, checked_add, checked_sub;
    u16 => u16, checked_add, checked_sub;
    u32 => u32, checked_add, checked_sub;
    u64 => u64, checked_add, checked_sub;
    u128 => u128, checked_add, checked_sub;
    usize => usize, checked_add, checked_sub;
);

impl Step<DatePeriod> for DateTime<Utc> {
    fn forward(&self, distance: &DatePeriod, times: u64) -> Option<Self> {
        let (months, days) = distance.times(times)?;
        self.checked_add_months(months)?.checked_add_days(days)
    }

    fn backward(&self, distance: &DatePeriod) -> Option<Self> {
        let (months, days) = distance.times(1)?;
        self.checked_sub_months(months)?.checked_sub_days(days)
    }
}

impl Step<Period> for DateTime<Utc> {
    fn forward(&self, distance: &Period, times: u64) -> Option<Self> {
        self.forward(&distance.date, times)?
            .checked_add_signed(distance.time(times)?)
    }

    fn backward(&self, distance: &Period) -> Option<Self> {
        self.backward(&distance.date)?
            .checked_sub_signed(distance.time(1)?)
    }
}

impl Step<DatePeriod> for NaiveDate {
    fn forward(&self, distance: &DatePeriod, times: u64) -> Option<Self> {
        let (months, days) = distance.times(times)?;
        self.checked_add_months(months)?.checked_add_days(days)
    }

    fn backward(&self, distance: &DatePeriod) -> Option<Self> {
        let (months, days) = distance.times(1)?;
        self.checked_sub_months(months)?.checked_sub_days(days)
    }
}

impl Start<Timestamp> for DateTime<Utc> {
    fn start(literal: &Timestamp) -> Option<Self> {
        literal.to_chrono()
    }
}

/// Midnight UTC of the date.
impl Start<Date> for DateTime<Utc> {
    fn start(literal: &Date) -> Option<Self> {
        Some(literal.to_chrono()?.and_hms_opt(0, 0, 0)?.and_utc())
    }
}

impl Start<Date> for NaiveDate {
    fn start(literal: &Date) -> Option<Self> {
        literal.to_chrono()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        text.parse().expect("RFC 3339")
    }

    #[test]
    fn month_windows_do_not_drift_after_a_short_month() {
        let origin = at("2024-01-31T00:00:00Z");
        let month = DatePeriod::new(1, 0);
        assert_eq!(origin.forward(&month, 1), Some(at("2024-02-29T00:00:00Z")));
        assert_eq!(origin.forward(&month, 2), Some(at("2024-03-31T00:00:00Z")));
    }

    #[test]
    fn periods_with_a_time_part_add_exactly() {
        let origin = at("2024-01-01T00:00:00Z");
        let period = Period::new(0, 1, 1800, 500_000_000);
        assert_eq!(origin.forward(&period, 2), Some(at("2024-01-03T01:00:01Z")));
        assert_eq!(origin.backward(&period), Some(at("2023-12-30T23:29:59.5Z")));
    }

    #[test]
    fn signed_integers_step_across_their_whole_range() {
        assert_eq!((-100_i8).forward(&100, 2), Some(100));
        assert_eq!(100_i8.backward(&200), Some(-100));
        assert_eq!(i64::MIN.forward(&u64::MAX, 1), Some(i64::MAX));
        assert_eq!(i64::MAX.backward(&u64::MAX), Some(i64::MIN));
        assert_eq!((-1_i8).forward(&200, 1), None);
    }

    #[test]
    fn integer_steps_stop_at_the_type_range() {
        assert_eq!(250_u8.forward(&5, 1), Some(255));
        assert_eq!(250_u8.forward(&5, 2), None);
        assert_eq!(3_u64.backward(&10), None);
        assert_eq!(<u8 as Start<i128>>::start(&300), None);
        assert_eq!(<i64 as Start<i128>>::start(&-5), Some(-5));
    }
}
