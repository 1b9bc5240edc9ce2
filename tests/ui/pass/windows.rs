use std::ops::Bound;

use chrono::{DateTime, NaiveDate, TimeZone as _, Utc};
use tidemark::IncrementalStream;
use tidemark::unstable::Order;

#[derive(serde::Serialize, schemars::JsonSchema)]
#[tidemark::incremental_stream(
    cursor = "updated_at",
    step = "P1D",
    start = "2024-01-01T00:00:00Z",
    lookback = "PT1H"
)]
struct Invoice {
    id: u64,
    updated_at: DateTime<Utc>,
}

#[derive(serde::Serialize, schemars::JsonSchema)]
#[tidemark::incremental_stream(cursor = "seq", step = 1000, start = 1)]
struct Event {
    seq: u64,
}

#[derive(serde::Serialize, schemars::JsonSchema)]
#[tidemark::incremental_stream(cursor = "day", step = "P1M", start = "2024-01-01")]
struct DailyTotal {
    day: NaiveDate,
    total_cents: i64,
}

#[derive(serde::Serialize, schemars::JsonSchema)]
#[tidemark::incremental_stream(cursor = "updated_at", order = "unsorted", step = "P1D")]
struct Shipment {
    updated_at: DateTime<Utc>,
}

fn utc(y: i32, m: u32, d: u32, h: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, d, h, 0, 0).unwrap()
}

fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

fn main() {
    assert_eq!(Invoice::STEP, Some("P1D"));
    assert_eq!(Invoice::LOOKBACK, Some("PT1H"));
    assert_eq!(Invoice::declared_start(), Some(Ok(utc(2024, 1, 1, 0))));
    assert_eq!(
        Invoice::window_bound(&utc(2024, 1, 1, 0), 3),
        Some(utc(2024, 1, 4, 0))
    );
    assert_eq!(
        Invoice::resume_bound(&utc(2024, 1, 2, 0)),
        Bound::Excluded(utc(2024, 1, 1, 23))
    );

    assert_eq!(Event::STEP, Some("1000"));
    assert_eq!(Event::LOOKBACK, None);
    assert_eq!(Event::declared_start(), Some(Ok(1)));
    assert_eq!(Event::window_bound(&1, 2), Some(2001));
    assert_eq!(Event::window_bound(&u64::MAX, 1), None);
    assert_eq!(Event::resume_bound(&5), Bound::Excluded(5));

    assert_eq!(DailyTotal::STEP, Some("P1M"));
    assert_eq!(DailyTotal::declared_start(), Some(Ok(date(2024, 1, 1))));
    // Calendar months, counted from the origin: no drift after February.
    assert_eq!(
        DailyTotal::window_bound(&date(2024, 1, 31), 1),
        Some(date(2024, 2, 29))
    );
    assert_eq!(
        DailyTotal::window_bound(&date(2024, 1, 31), 2),
        Some(date(2024, 3, 31))
    );

    assert_eq!(Shipment::ORDER, Order::Unsorted);
    assert_eq!(Shipment::STEP, Some("P1D"));
    assert_eq!(Shipment::declared_start(), None);
    assert_eq!(Invoice::ORDER, Order::Asc);
}
