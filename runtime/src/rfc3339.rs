//! Fast RFC 3339 serialization of `chrono::DateTime<Utc>`, for record fields on a hot path.
//!
//! chrono's own `Serialize` writes a timestamp through `core::fmt`, one small piece at a time,
//! and `serde_json` escapes each piece separately; that is most of the cost of a record with one
//! timestamp. This writes the same text into a stack buffer and hands it to the serializer in
//! one piece, without allocating:
//!
//! ```
//! #[derive(serde::Serialize)]
//! struct Order {
//!     #[serde(serialize_with = "tidemark::rfc3339::serialize")]
//!     updated_at: chrono::DateTime<chrono::Utc>,
//! }
//!
//! let at = "2024-01-01T10:00:00.25Z".parse().unwrap();
//! let json = serde_json::to_string(&Order { updated_at: at }).unwrap();
//! assert_eq!(json, r#"{"updated_at":"2024-01-01T10:00:00.250Z"}"#);
//! assert_eq!(json, serde_json::to_string(&serde_json::json!({"updated_at": at})).unwrap());
//! ```
//!
//! The text is exactly chrono's: `YYYY-MM-DDTHH:MM:SSZ`, with 3, 6 or 9 fraction digits when
//! the value has a fraction. Years outside 0..=9999 fall back to chrono.

use chrono::{DateTime, Datelike as _, Timelike as _, Utc};
use serde::{Serialize, Serializer};

/// Serializes a UTC timestamp as chrono does, faster. Use with `#[serde(serialize_with)]`.
///
/// # Errors
///
/// Whatever the serializer returns.
pub fn serialize<S: Serializer>(value: &DateTime<Utc>, serializer: S) -> Result<S::Ok, S::Error> {
    let mut buf = [0_u8; 30];
    match format(value, &mut buf) {
        Some(text) => serializer.serialize_str(text),
        None => value.serialize(serializer),
    }
}

/// The text of `value` in `buf`, or `None` for years chrono writes with a sign.
fn format<'b>(value: &DateTime<Utc>, buf: &'b mut [u8; 30]) -> Option<&'b str> {
    let year = u32::try_from(value.year())
        .ok()
        .filter(|year| *year <= 9999)?;
    let put = |buf: &mut [u8; 30], at: usize, digits: usize, mut n: u32| {
        for i in (0..digits).rev() {
            buf[at + i] = b'0' + u8::try_from(n % 10).unwrap_or(0);
            n /= 10;
        }
    };
    put(buf, 0, 4, year);
    buf[4] = b'-';
    put(buf, 5, 2, value.month());
    buf[7] = b'-';
    put(buf, 8, 2, value.day());
    buf[10] = b'T';
    put(buf, 11, 2, value.hour());
    buf[13] = b':';
    put(buf, 14, 2, value.minute());
    buf[16] = b':';
    // A leap second is nanosecond >= 1e9 in chrono: second 60.
    let nanos = value.nanosecond();
    let (second, nanos) = if nanos >= 1_000_000_000 {
        (60, nanos - 1_000_000_000)
    } else {
        (value.second(), nanos)
    };
    put(buf, 17, 2, second);
    let mut end = 19;
    if nanos != 0 {
        buf[19] = b'.';
        let (digits, scaled) = if nanos % 1_000_000 == 0 {
            (3, nanos / 1_000_000)
        } else if nanos % 1_000 == 0 {
            (6, nanos / 1_000)
        } else {
            (9, nanos)
        };
        put(buf, 20, digits, scaled);
        end = 20 + digits;
    }
    buf[end] = b'Z';
    std::str::from_utf8(&buf[..=end]).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_text_is_chronos() {
        for text in [
            "2024-01-01T00:00:00Z",
            "1970-01-01T00:00:00.001Z",
            "2024-02-29T23:59:59.123456Z",
            "0001-01-01T00:00:00.000000001Z",
            "9999-12-31T23:59:59.999999999Z",
            "2016-12-31T23:59:60.5Z",
        ] {
            let value: DateTime<Utc> = text.parse().expect("RFC 3339");
            let mut buf = [0; 30];
            let chrono = serde_json::to_string(&value).expect("serializes");
            assert_eq!(
                format!("\"{}\"", format(&value, &mut buf).expect("in range")),
                chrono,
                "{text}"
            );
        }
        let far: DateTime<Utc> = "+10000-01-01T00:00:00Z".parse().expect("RFC 3339");
        assert!(format(&far, &mut [0; 30]).is_none());
    }
}
