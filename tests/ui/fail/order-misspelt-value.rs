#[derive(serde::Serialize, schemars::JsonSchema)]
#[tidemark::incremental_stream(cursor = "updated_at", order = "des")]
struct Order {
    id: u64,
    updated_at: chrono::DateTime<chrono::Utc>,
}

fn main() {}
