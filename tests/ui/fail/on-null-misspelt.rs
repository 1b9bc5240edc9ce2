#[derive(serde::Serialize, schemars::JsonSchema)]
#[tidemark::incremental_stream(cursor = "updated_at", on_nul = "skip")]
struct Order {
    id: u64,
    updated_at: Option<chrono::DateTime<chrono::Utc>>,
}

fn main() {}
