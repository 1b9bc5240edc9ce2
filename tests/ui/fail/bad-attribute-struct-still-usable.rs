use tidemark::IncrementalStream as _;

#[derive(serde::Serialize, schemars::JsonSchema)]
#[tidemark::incremental_stream(cursor = "updated_at", primary_kye = "id")]
struct Order {
    id: u64,
    updated_at: chrono::DateTime<chrono::Utc>,
}

fn main() {
    let order = Order {
        id: 7,
        updated_at: chrono::DateTime::UNIX_EPOCH,
    };
    let json = serde_json::to_string(&order).unwrap();
    assert!(json.contains("\"id\":7"));
    let mut state = OrderState::default();
    state.set_updated_at(chrono::DateTime::UNIX_EPOCH);
    assert!(state.updated_at().is_some());
    let _ = serde_json::to_string(&state).unwrap();
    let name: &str = <Order as tidemark::IncrementalStream>::NAME;
    assert_eq!(name, "order");
    let _ = Order::json_schema();
}
