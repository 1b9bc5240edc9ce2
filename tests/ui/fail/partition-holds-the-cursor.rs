#[derive(
    Clone,
    Debug,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    serde::Serialize,
    serde::Deserialize,
    schemars::JsonSchema,
    tidemark::Nested,
)]
struct Meta {
    updated_at: i64,
}

#[derive(serde::Serialize, schemars::JsonSchema)]
#[tidemark::incremental_stream(cursor = "meta.updated_at", partition = "meta")]
struct Ticket {
    id: u64,
    meta: Meta,
}

fn main() {}
