#[derive(serde::Serialize, schemars::JsonSchema)]
#[tidemark::incremental_stream(cursor = "updated_at", name = orders)]
struct Order {
    id: u64,
    updated_at: chrono::DateTime<chrono::Utc>,
}

#[derive(serde::Serialize, schemars::JsonSchema)]
#[tidemark::incremental_stream(cursor = "updated_at", name = 5)]
struct Refund {
    id: u64,
    updated_at: chrono::DateTime<chrono::Utc>,
}

fn main() {}
