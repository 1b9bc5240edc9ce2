//! Declarations written by a `macro_rules!` macro: the literals arrive as `$step:literal`, and
//! the names the generated code declares (`origin`, `watermark`) still resolve.

use tidemark::IncrementalStream;

macro_rules! stream {
    ($name:ident, $cursor:literal, $step:literal, $start:literal, $lookback:literal) => {
        #[derive(serde::Serialize, schemars::JsonSchema)]
        #[tidemark::incremental_stream(
            cursor = $cursor,
            step = $step,
            start = $start,
            lookback = $lookback
        )]
        struct $name {
            seq: u64,
            updated_at: chrono::DateTime<chrono::Utc>,
        }
    };
}

stream!(Event, "seq", 10, 1, 5);
stream!(Invoice, "updated_at", "P1D", "2024-01-01", "PT1H");

fn main() {
    assert_eq!(Event::STEP, Some("10"));
    assert_eq!(Event::declared_start(), Some(Ok(1)));
    assert_eq!(Event::window_bound(&1, 2), Some(21));
    assert_eq!(
        Event::resume_bound(&7),
        std::ops::Bound::Excluded(2)
    );

    let midnight = chrono::DateTime::parse_from_rfc3339("2024-01-01T00:00:00Z")
        .unwrap()
        .to_utc();
    assert_eq!(Invoice::declared_start(), Some(Ok(midnight)));
    assert_eq!(
        Invoice::resume_bound(&midnight),
        std::ops::Bound::Excluded(midnight - chrono::TimeDelta::hours(1))
    );
    let event = Event {
        seq: 3,
        updated_at: midnight,
    };
    assert_eq!(event.cursor().as_deref(), Some(&3));
    assert_eq!(event.updated_at, midnight);
}
