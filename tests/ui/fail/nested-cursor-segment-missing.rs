#[derive(serde::Serialize, schemars::JsonSchema, tidemark::Nested)]
struct Meta {
    updated_at: chrono::DateTime<chrono::Utc>,
}

#[derive(serde::Serialize, schemars::JsonSchema)]
#[tidemark::incremental_stream(cursor = "meta.updatedat")]
struct Ticket {
    id: u64,
    meta: Meta,
}

fn main() {}
