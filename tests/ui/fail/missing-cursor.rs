#[derive(serde::Serialize, schemars::JsonSchema)]
#[tidemark::incremental_stream(primary_key = "id", checkpoint_interval = 500)]
struct Order {
    id: u64,
    updated_at: chrono::DateTime<chrono::Utc>,
}

fn main() {}
