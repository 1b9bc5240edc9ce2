#[derive(serde::Serialize, schemars::JsonSchema)]
#[tidemark::incremental_stream(cursor = ["updated_at", "order_id"])]
struct Order {
    id: u64,
    total_cents: i64,
    updated_at: chrono::DateTime<chrono::Utc>,
}

fn main() {}
