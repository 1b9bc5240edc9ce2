#[derive(serde::Serialize, schemars::JsonSchema)]
#[tidemark::full_refresh_stream]
struct Currency;

fn main() {}
