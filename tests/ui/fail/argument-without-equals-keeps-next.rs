#[derive(serde::Serialize, schemars::JsonSchema)]
#[tidemark::incremental_stream(primary_key, cursor = "updated_at", banana = 1)]
struct Order {
    id: u64,
    updated_at: chrono::DateTime<chrono::Utc>,
}

fn main() {}
