#[derive(serde::Serialize, schemars::JsonSchema)]
#[tidemark::incremental_stream(cursor = "token", step = "P1D")]
struct Page {
    id: u64,
    token: String,
}

fn main() {}
