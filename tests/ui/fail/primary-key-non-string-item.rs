#[derive(serde::Serialize, schemars::JsonSchema)]
#[tidemark::incremental_stream(cursor = "updated_at", primary_key = [org_id, "id"])]
struct Member {
    org_id: u64,
    id: u64,
    updated_at: chrono::DateTime<chrono::Utc>,
}

fn main() {}
