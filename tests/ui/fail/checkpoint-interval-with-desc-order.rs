#[derive(serde::Serialize, schemars::JsonSchema)]
#[tidemark::incremental_stream(cursor = "updated_at", order = "desc", checkpoint_interval = 500)]
struct Order {
    id: u64,
    updated_at: chrono::DateTime<chrono::Utc>,
}

fn main() {}
