#[derive(serde::Serialize, schemars::JsonSchema)]
#[tidemark::incremental_stream(
    cursor = "updatd_at",
    primary_kye = "id",
    checkpoint_interval = 0,
    checkpoint = "often"
)]
struct Order {
    id: u64,
    updated_at: chrono::DateTime<chrono::Utc>,
}

fn main() {}
