#[derive(schemars::JsonSchema)]
#[tidemark::incremental_stream(cursor = "updated_at")]
struct Order {
    id: u64,
    updated_at: chrono::DateTime<chrono::Utc>,
}

fn main() {}
