#[derive(serde::Serialize, schemars::JsonSchema)]
#[tidemark::incremental_stream(cursor = "updated_at")]
struct Order(u64, chrono::DateTime<chrono::Utc>);

fn main() {}
