#[derive(serde::Serialize, schemars::JsonSchema)]
#[tidemark::incremental_stream(cursor = "seq", step = 0)]
struct Event {
    seq: u64,
}

fn main() {}
