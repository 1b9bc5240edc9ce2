#[derive(serde::Serialize, schemars::JsonSchema)]
#[tidemark::incremental_stream(cursor = "seq", start = "2024-01-01")]
struct Event {
    seq: u64,
}

fn main() {}
