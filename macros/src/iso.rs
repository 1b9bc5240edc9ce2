//! ISO-8601 durations and RFC 3339 timestamps, parsed at compile time so a malformed `step`,
//! `lookback` or `start` is an error on its literal.

/// A parsed duration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Duration {
    /// Only years, months, weeks and days: applies to dates and timestamps.
    Date { months: u32, days: u32 },
    /// With a time part: applies to timestamps only.
    Time {
        months: u32,
        days: u32,
        seconds: u64,
        nanos: u32,
    },
}

/// A parsed `start` literal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Instant {
    /// Seconds and nanoseconds since the Unix epoch, UTC.
    Timestamp {
        seconds: i64,
        nanos: u32,
    },
    Date {
        year: i32,
        month: u32,
        day: u32,
    },
}

/// A duration of fixed length: no months or years.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Fixed {
    pub(crate) seconds: u64,
    /// Below one second.
    pub(crate) nanos: u32,
}

const DURATION_HELP: &str =
    "expected an ISO-8601 duration such as `\"P1D\"`, `\"PT1H\"`, `\"P1M\"` or `\"P1DT12H\"`";

const FIXED_HELP: &str = "expected an ISO-8601 duration of fixed length such as `\"PT30S\"`, \
     `\"PT5M\"`, `\"PT1H\"` or `\"P1D\"`";

/// A `step` or `lookback`: `P[nY][nM][nW][nD][T[nH][nM][n[.f]S]]`, greater than zero.
pub(crate) fn duration(text: &str) -> Result<Duration, String> {
    let duration = parse_duration(text, DURATION_HELP)?;
    if duration == ZERO {
        return Err(format!(
            "`{text}` is zero; a step or lookback must be positive"
        ));
    }
    Ok(duration)
}

/// A `checkpoint_every`: a duration without months or years (they have no fixed length),
/// greater than zero.
pub(crate) fn fixed(text: &str) -> Result<Fixed, String> {
    let too_large = || format!("invalid duration `{text}`: it is too large\nhelp: {FIXED_HELP}");
    let (days, seconds, nanos) = match parse_duration(text, FIXED_HELP)? {
        Duration::Date { months: 0, days } => (days, 0, 0),
        Duration::Time {
            months: 0,
            days,
            seconds,
            nanos,
        } => (days, seconds, nanos),
        Duration::Date { .. } | Duration::Time { .. } => {
            return Err(format!(
                "`{text}` has no fixed length: months and years vary\nhelp: {FIXED_HELP}"
            ));
        }
    };
    let seconds = u64::from(days)
        .checked_mul(86_400)
        .and_then(|days| days.checked_add(seconds))
        .ok_or_else(too_large)?;
    if seconds == 0 && nanos == 0 {
        return Err(format!(
            "`{text}` is zero; `checkpoint_every` must be positive"
        ));
    }
    Ok(Fixed { seconds, nanos })
}

/// A duration of zero as `parse_duration` returns it: only a time part is zero.
const ZERO: Duration = Duration::Time {
    months: 0,
    days: 0,
    seconds: 0,
    nanos: 0,
};

/// `P[nY][nM][nW][nD][T[nH][nM][n[.f]S]]`, zero included (as [`ZERO`]); `help` ends the
/// messages.
fn parse_duration(text: &str, help: &str) -> Result<Duration, String> {
    let bad = |why: &str| format!("invalid duration `{text}`: {why}\nhelp: {help}");
    let body = text
        .strip_prefix('P')
        .ok_or_else(|| bad("it must start with `P`"))?;
    let (date, time) = match body.split_once('T') {
        Some((_, "")) => return Err(bad("nothing follows `T`")),
        Some((date, time)) => (date, Some(time)),
        None => (body, None),
    };
    if date.is_empty() && time.is_none() {
        return Err(bad("it has no parts"));
    }
    let (mut months, mut days) = (0_u64, 0_u64);
    for (number, unit) in parts(date, &['Y', 'M', 'W', 'D']).map_err(|why| bad(&why))? {
        let number: u64 = number.parse().map_err(|_| bad("a number is too large"))?;
        let (total, factor) = match unit {
            'Y' => (&mut months, 12),
            'M' => (&mut months, 1),
            'W' => (&mut days, 7),
            _ => (&mut days, 1),
        };
        *total = number
            .checked_mul(factor)
            .and_then(|n| total.checked_add(n))
            .ok_or_else(|| bad("it is too large"))?;
    }
    let months = u32::try_from(months).map_err(|_| bad("it is too large"))?;
    let days = u32::try_from(days).map_err(|_| bad("it is too large"))?;
    let Some(time) = time else {
        return Ok(if months == 0 && days == 0 {
            ZERO
        } else {
            Duration::Date { months, days }
        });
    };
    let (mut seconds, mut nanos) = (0_u64, 0_u32);
    for (number, unit) in parts(time, &['H', 'M', 'S']).map_err(|why| bad(&why))? {
        let (whole, fraction) = match number.split_once('.') {
            Some(_) if unit != 'S' => return Err(bad("only seconds may have a fraction")),
            Some((whole, fraction)) if !fraction.is_empty() && fraction.len() <= 9 => {
                (whole, fraction)
            }
            Some(_) => return Err(bad("a fraction of a second has 1 to 9 digits")),
            None => (number, ""),
        };
        let whole: u64 = whole.parse().map_err(|_| bad("a number is too large"))?;
        let factor = match unit {
            'H' => 3600,
            'M' => 60,
            _ => 1,
        };
        seconds = whole
            .checked_mul(factor)
            .and_then(|n| seconds.checked_add(n))
            .ok_or_else(|| bad("it is too large"))?;
        if !fraction.is_empty() {
            let padded = format!("{fraction:0<9}");
            nanos = padded
                .parse()
                .map_err(|_| bad("the fraction is not a number"))?;
        }
    }
    Ok(Duration::Time {
        months,
        days,
        seconds,
        nanos,
    })
}

/// Splits `1Y2M` into `[("1", 'Y'), ("2", 'M')]`, requiring the units in `order`, each once.
fn parts<'t>(text: &'t str, order: &[char]) -> Result<Vec<(&'t str, char)>, String> {
    let mut out = Vec::new();
    let mut next_unit = 0;
    let mut rest = text;
    while !rest.is_empty() {
        let end = rest
            .find(|ch: char| !(ch.is_ascii_digit() || ch == '.'))
            .ok_or_else(|| format!("`{rest}` has no unit"))?;
        let (number, tail) = rest.split_at(end);
        let unit = tail.chars().next().unwrap_or_default();
        if number.is_empty() {
            return Err(format!("`{unit}` has no number before it"));
        }
        let position = order[next_unit..]
            .iter()
            .position(|u| *u == unit)
            .ok_or_else(|| format!("unexpected `{unit}`; the units are {}", units(order)))?;
        next_unit += position + 1;
        out.push((number, unit));
        rest = &tail[unit.len_utf8()..];
    }
    Ok(out)
}

fn units(order: &[char]) -> String {
    let names: Vec<String> = order.iter().map(|u| format!("`{u}`")).collect();
    format!("{} in this order", names.join(", "))
}

const INSTANT_HELP: &str = "expected an RFC 3339 timestamp such as `\"2024-01-01T00:00:00Z\"` or a date such as `\"2024-01-01\"`";

/// `YYYY-MM-DD` or `YYYY-MM-DDTHH:MM:SS[.f](Z|+HH:MM|-HH:MM)`.
pub(crate) fn instant(text: &str) -> Result<Instant, String> {
    let bad = |why: &str| format!("invalid timestamp `{text}`: {why}\nhelp: {INSTANT_HELP}");
    let (date, time) = match text.find(['T', 't', ' ']) {
        Some(at) => (&text[..at], Some(&text[at + 1..])),
        None => (text, None),
    };
    let (year, month, day) = date_parts(date).ok_or_else(|| bad("the date is not `YYYY-MM-DD`"))?;
    if !(1..=12).contains(&month) {
        return Err(bad(&format!("there is no month {month}")));
    }
    if day == 0 || day > days_in_month(year, month) {
        return Err(bad("no such day"));
    }
    let Some(time) = time else {
        return Ok(Instant::Date { year, month, day });
    };
    let offset_at = time
        .find(['Z', 'z', '+', '-'])
        .ok_or_else(|| bad("it has no offset: end it with `Z` or `+HH:MM`"))?;
    let (clock, offset) = time.split_at(offset_at);
    let offset_seconds = match offset {
        "Z" | "z" => 0,
        _ => {
            let sign = if offset.starts_with('-') { -1 } else { 1 };
            let (hours, minutes) = two_numbers(&offset[1..], ':')
                .filter(|(h, m)| *h < 24 && *m < 60)
                .ok_or_else(|| bad("the offset is not `+HH:MM`"))?;
            sign * (i64::from(hours) * 3600 + i64::from(minutes) * 60)
        }
    };
    let (hms, fraction) = match clock.split_once('.') {
        Some((hms, fraction))
            if !fraction.is_empty()
                && fraction.len() <= 9
                && fraction.bytes().all(|b| b.is_ascii_digit()) =>
        {
            (hms, fraction)
        }
        Some(_) => return Err(bad("a fraction of a second has 1 to 9 digits")),
        None => (clock, ""),
    };
    let mut fields = hms.split(':');
    let mut next = || -> Option<u32> {
        let field = fields.next()?;
        (field.len() == 2 && field.bytes().all(|b| b.is_ascii_digit()))
            .then(|| field.parse().ok())
            .flatten()
    };
    let (Some(hour), Some(minute), Some(second), None) = (next(), next(), next(), next()) else {
        return Err(bad("the time is not `HH:MM:SS`"));
    };
    if hour > 23 || minute > 59 || second > 59 {
        return Err(bad("no such time of day"));
    }
    let nanos = if fraction.is_empty() {
        0
    } else {
        format!("{fraction:0<9}")
            .parse()
            .map_err(|_| bad("the fraction is not a number"))?
    };
    let seconds = days_from_civil(year, month, day) * 86_400
        + i64::from(hour) * 3600
        + i64::from(minute) * 60
        + i64::from(second)
        - offset_seconds;
    Ok(Instant::Timestamp { seconds, nanos })
}

fn date_parts(date: &str) -> Option<(i32, u32, u32)> {
    let mut fields = date.split('-');
    let year = fields.next().filter(|y| y.len() == 4)?;
    let month = fields.next().filter(|m| m.len() == 2)?;
    let day = fields.next().filter(|d| d.len() == 2)?;
    if fields.next().is_some()
        || ![year, month, day]
            .iter()
            .all(|f| f.bytes().all(|b| b.is_ascii_digit()))
    {
        return None;
    }
    Some((year.parse().ok()?, month.parse().ok()?, day.parse().ok()?))
}

fn two_numbers(text: &str, separator: char) -> Option<(u32, u32)> {
    let (a, b) = text.split_once(separator)?;
    if a.len() != 2 || b.len() != 2 {
        return None;
    }
    Some((a.parse().ok()?, b.parse().ok()?))
}

fn days_in_month(year: i32, month: u32) -> u32 {
    match month {
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days from 1970-01-01 to the date (proleptic Gregorian; Howard Hinnant's algorithm).
fn days_from_civil(year: i32, month: u32, day: u32) -> i64 {
    let year = i64::from(year) - i64::from(month <= 2);
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month = i64::from(month);
    let day_of_year = (153 * (month + if month > 2 { -3 } else { 9 }) + 2) / 5 + i64::from(day) - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(duration("P1D"), Ok(Duration::Date { months: 0, days: 1 }));
        assert_eq!(
            duration("P1Y2M3W4D"),
            Ok(Duration::Date {
                months: 14,
                days: 25
            })
        );
        assert_eq!(
            duration("PT1H30M0.25S"),
            Ok(Duration::Time {
                months: 0,
                days: 0,
                seconds: 5400,
                nanos: 250_000_000
            })
        );
        for bad in [
            "1D", "P", "PT", "P1H", "PT1D", "P1D1M", "P1.5D", "PD", "P0D", "PT0S",
        ] {
            assert!(duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn fixed_durations() {
        assert_eq!(
            fixed("PT30S"),
            Ok(Fixed {
                seconds: 30,
                nanos: 0
            })
        );
        assert_eq!(
            fixed("P1W2DT3H4M5.5S"),
            Ok(Fixed {
                seconds: 9 * 86_400 + 3 * 3600 + 4 * 60 + 5,
                nanos: 500_000_000
            })
        );
        assert_eq!(
            fixed("PT0.001S"),
            Ok(Fixed {
                seconds: 0,
                nanos: 1_000_000
            })
        );
        assert_eq!(
            fixed("P1D"),
            Ok(Fixed {
                seconds: 86_400,
                nanos: 0
            })
        );
        for no_fixed_length in ["P1M", "P1Y", "P1MT1S", "P1Y2D"] {
            let error = fixed(no_fixed_length).unwrap_err();
            assert!(
                error.contains("no fixed length"),
                "{no_fixed_length}: {error}"
            );
        }
        for zero in ["PT0S", "P0D", "P0W", "PT0H0M0.000S", "P0M"] {
            let error = fixed(zero).unwrap_err();
            assert!(error.contains("is zero"), "{zero}: {error}");
        }
        for bad in ["30S", "P", "PT", "P1H", "PT1.5M", "P4294967296D"] {
            let error = fixed(bad).unwrap_err();
            assert!(error.starts_with("invalid duration"), "{bad}: {error}");
        }
        // Days that fit the parser's u32 but overflow with the time part added.
        let huge = format!("P{}DT{}S", u32::MAX, u64::MAX);
        assert!(fixed(&huge).unwrap_err().contains("too large"));
    }

    #[test]
    fn instants() {
        assert_eq!(
            instant("1970-01-02T00:00:00Z"),
            Ok(Instant::Timestamp {
                seconds: 86_400,
                nanos: 0
            })
        );
        assert_eq!(
            instant("2024-02-29T01:00:00.5+01:00"),
            Ok(Instant::Timestamp {
                seconds: 1_709_164_800,
                nanos: 500_000_000
            })
        );
        assert_eq!(
            instant("2024-01-31"),
            Ok(Instant::Date {
                year: 2024,
                month: 1,
                day: 31
            })
        );
        for bad in [
            "2023-02-29",
            "2024-13-01",
            "2024-01-01T25:00:00Z",
            "2024-01-01T00:00:00",
            "yesterday",
        ] {
            assert!(instant(bad).is_err(), "{bad}");
        }
    }
}
