#[derive(serde::Serialize, schemars::JsonSchema)]
#[tidemark::incremental_stream(cursor = "token", lookback = 10)]
struct Page {
    id: u64,
    token: String,
}

fn main() {}
