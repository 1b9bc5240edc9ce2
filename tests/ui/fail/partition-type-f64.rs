#[derive(serde::Serialize, schemars::JsonSchema)]
#[tidemark::incremental_stream(cursor = "updated_at", partition = "region")]
struct Reading {
    region: f64,
    updated_at: chrono::DateTime<chrono::Utc>,
}

fn main() {}
