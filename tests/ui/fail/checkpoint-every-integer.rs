#[derive(serde::Serialize, schemars::JsonSchema)]
#[tidemark::incremental_stream(cursor = "updated_at", checkpoint_every = 30)]
struct Order {
    id: u64,
    updated_at: chrono::DateTime<chrono::Utc>,
}

fn main() {}
