use tidemark::IncrementalStream as _;

#[derive(serde::Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
#[tidemark::incremental_stream(cursor = "updated_at", primary_key = "order_id")]
struct Order {
    order_id: u64,
    updated_at: i64,
}

fn main() {
    assert_eq!(Order::CURSOR_FIELD, ["updatedAt"]);
    let primary_key: &[&[&str]] = &[&["orderId"]];
    assert_eq!(Order::PRIMARY_KEY, primary_key);

    let mut state = OrderState::default();
    state.set_updated_at(1_700_000_000);
    let json = serde_json::to_string(&state).unwrap();
    assert_eq!(json, r#"{"updatedAt":1700000000}"#);
    let back: OrderState = serde_json::from_str(&json).unwrap();
    assert_eq!(back.updated_at(), Some(&1_700_000_000));

    let record = serde_json::to_value(Order {
        order_id: 9,
        updated_at: 5,
    })
    .unwrap();
    assert_eq!(record, serde_json::json!({"orderId": 9, "updatedAt": 5}));
}
