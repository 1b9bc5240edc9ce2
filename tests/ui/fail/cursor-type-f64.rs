#[derive(serde::Serialize, schemars::JsonSchema)]
#[tidemark::incremental_stream(cursor = "score")]
struct Ranking {
    id: u64,
    score: f64,
}

fn main() {}
