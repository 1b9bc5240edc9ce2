use chrono::{DateTime, TimeZone as _, Utc};

#[derive(serde::Serialize, schemars::JsonSchema)]
#[tidemark::incremental_stream(cursor = "updated_at", checkpoint_interval = 500)]
struct Order {
    id: u64,
    updated_at: chrono::DateTime<chrono::Utc>,
}

fn main() {
    assert_eq!(<Order as tidemark::IncrementalStream>::NAME, "order");

    let mut state = OrderState::default();
    assert_eq!(state.updated_at(), None);
    assert_eq!(serde_json::to_string(&state).unwrap(), "{}");

    let watermark: DateTime<Utc> = Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0).unwrap();
    state.set_updated_at(watermark);
    assert_eq!(state.updated_at(), Some(&watermark));

    let json = serde_json::to_string(&state).unwrap();
    assert_eq!(json, r#"{"updated_at":"2024-01-01T00:00:00Z"}"#);
    let back: OrderState = serde_json::from_str(&json).unwrap();
    assert_eq!(back, state);

    let order = Order {
        id: 1,
        updated_at: watermark,
    };
    assert_eq!(order.id, 1);
    assert_eq!(tidemark::IncrementalStream::cursor(&order).as_deref(), Some(&watermark));
}
