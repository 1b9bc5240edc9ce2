#[derive(serde::Serialize, schemars::JsonSchema)]
#[tidemark::full_refresh_stream(banana = "code")]
struct Currency {
    code: String,
    name: String,
}

fn main() {}
