#[derive(serde::Serialize, schemars::JsonSchema)]
struct Meta {
    updated_at: chrono::DateTime<chrono::Utc>,
}

#[derive(serde::Serialize, schemars::JsonSchema)]
#[tidemark::incremental_stream(cursor = "meta.updated_at")]
struct Ticket {
    id: u64,
    meta: Meta,
}

fn main() {}
