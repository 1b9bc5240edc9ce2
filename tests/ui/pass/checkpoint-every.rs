use std::num::NonZeroU64;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tidemark::IncrementalStream;
use tidemark::unstable::{CheckpointAt, Order};

#[derive(serde::Serialize, schemars::JsonSchema)]
#[tidemark::incremental_stream(cursor = "updated_at", checkpoint_every = "PT30S")]
struct Sale {
    updated_at: DateTime<Utc>,
}

#[derive(serde::Serialize, schemars::JsonSchema)]
#[tidemark::incremental_stream(
    cursor = "updated_at",
    checkpoint_interval = 500,
    checkpoint_every = "P1W1DT1H1M1.25S"
)]
struct Invoice {
    updated_at: DateTime<Utc>,
}

#[derive(serde::Serialize, schemars::JsonSchema)]
#[tidemark::incremental_stream(
    cursor = "seq",
    order = "unsorted",
    step = 100,
    checkpoint = "slice",
    checkpoint_every = "PT0.001S"
)]
struct Event {
    seq: u64,
}

#[derive(serde::Serialize, schemars::JsonSchema)]
#[tidemark::incremental_stream(cursor = "seq", order = "desc", checkpoint_every = "P1D")]
struct Post {
    seq: u64,
}

fn main() {
    assert_eq!(Sale::POLICY.period, Some(Duration::from_secs(30)));
    assert_eq!(Sale::POLICY.interval, None);
    assert_eq!(Sale::POLICY.at, CheckpointAt::Slice);

    let week_day_hour_minute = 8 * 86_400 + 3600 + 60 + 1;
    assert_eq!(
        Invoice::POLICY.period,
        Some(Duration::from_millis(week_day_hour_minute * 1000 + 250))
    );
    assert_eq!(Invoice::POLICY.interval, NonZeroU64::new(500));

    assert_eq!(Event::POLICY.period, Some(Duration::from_millis(1)));
    assert_eq!(Event::ORDER, Order::Unsorted);

    assert_eq!(Post::POLICY.period, Some(Duration::from_secs(86_400)));
    assert_eq!(Post::ORDER, Order::Desc);
}
