#[derive(serde::Serialize, schemars::JsonSchema)]
#[tidemark::incremental_stream(cursor = "updated_at")]
struct Order {
    id: u64,
    #[serde(skip)]
    updated_at: chrono::DateTime<chrono::Utc>,
}

fn main() {}
