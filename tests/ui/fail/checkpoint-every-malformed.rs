#[derive(serde::Serialize, schemars::JsonSchema)]
#[tidemark::incremental_stream(cursor = "updated_at", checkpoint_every = "30s")]
struct Order {
    id: u64,
    updated_at: chrono::DateTime<chrono::Utc>,
}

fn main() {}
