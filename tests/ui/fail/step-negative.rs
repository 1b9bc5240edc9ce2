#[derive(serde::Serialize, schemars::JsonSchema)]
#[tidemark::incremental_stream(cursor = "seq", step = -100)]
struct Event {
    seq: i64,
}

fn main() {}
