#[derive(serde::Serialize, schemars::JsonSchema)]
#[tidemark::incremental_stream(cursor = "updated_at", checkpoint_every = "PT0S")]
struct Order {
    id: u64,
    updated_at: chrono::DateTime<chrono::Utc>,
}

fn main() {}
