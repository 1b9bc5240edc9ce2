#[derive(serde::Serialize, schemars::JsonSchema)]
#[tidemark::incremental_stream(cursor = ["updated_at", "number"], partition = "number")]
struct Issue {
    repository: String,
    number: u64,
    updated_at: chrono::DateTime<chrono::Utc>,
    #[serde(skip)]
    etag: String,
}

fn main() {}
