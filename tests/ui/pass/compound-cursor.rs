use chrono::{DateTime, TimeZone as _, Utc};
use tidemark::{IncrementalStream, StreamState};

#[derive(serde::Serialize, schemars::JsonSchema)]
#[tidemark::incremental_stream(cursor = ["updated_at", "id"], checkpoint_interval = 100)]
struct Order {
    id: u64,
    updated_at: DateTime<Utc>,
    total_cents: i64,
}

/// Checks a stream's cursor type without constructing a record.
fn cursor_is<S: IncrementalStream<Cursor = C>, C>() {}

fn main() {
    cursor_is::<Order, (DateTime<Utc>, u64)>();
    assert_eq!(Order::CURSOR_FIELD, ["updated_at"]);
    assert_eq!(<OrderState as StreamState>::KEYS, ["updated_at", "id"]);

    let at = Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0).unwrap();
    let mut state = OrderState::default();
    assert_eq!(state.watermark(), None);
    assert_eq!(serde_json::to_string(&state).unwrap(), "{}");

    state.set_updated_at(at);
    assert_eq!(state.updated_at(), Some(&at));
    assert_eq!(state.id(), None);
    assert_eq!(state.watermark(), None, "half a compound watermark is no watermark");

    state.set_id(7);
    assert_eq!(state.id(), Some(&7));
    assert_eq!(state.watermark(), Some((at, 7)));

    let json = serde_json::to_string(&state).unwrap();
    assert_eq!(json, r#"{"updated_at":"2024-01-01T00:00:00Z","id":7}"#);
    let back: OrderState = serde_json::from_str(&json).unwrap();
    assert_eq!(back, state);
    assert_eq!(OrderState::from_watermark(Some((at, 7))), state);
    assert_eq!(OrderState::from_watermark(None), OrderState::default());

    let order = Order {
        id: 8,
        updated_at: at,
        total_cents: 1250,
    };
    assert_eq!(order.cursor().as_deref(), Some(&(at, 8)));
    assert_eq!(order.total_cents, 1250);
}
