use chrono::{DateTime, Utc};
use tidemark::IncrementalStream;
use tidemark::unstable::{CheckpointPolicy, Order};

#[derive(serde::Serialize, schemars::JsonSchema)]
#[tidemark::incremental_stream(cursor = "created_at", order = "desc")]
struct Post {
    id: u64,
    created_at: DateTime<Utc>,
}

#[derive(serde::Serialize, schemars::JsonSchema)]
#[tidemark::incremental_stream(cursor = "created_at", order = "desc", step = "P1D")]
struct Comment {
    id: u64,
    created_at: DateTime<Utc>,
}

#[derive(serde::Serialize, schemars::JsonSchema)]
#[tidemark::incremental_stream(cursor = "seq", order = "desc", checkpoint = "end")]
struct Event {
    seq: u64,
}

fn main() {
    assert_eq!(Post::ORDER, Order::Desc);
    assert_eq!(Post::POLICY, CheckpointPolicy::SLICE);
    assert_eq!(Comment::ORDER, Order::Desc);
    assert_eq!(Comment::STEP, Some("P1D"));
    assert_eq!(Event::ORDER, Order::Desc);
    assert_eq!(Event::POLICY, CheckpointPolicy::END);
}
