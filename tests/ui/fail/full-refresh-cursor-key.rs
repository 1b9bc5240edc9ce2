#[derive(serde::Serialize, schemars::JsonSchema)]
#[tidemark::full_refresh_stream(primary_key = "code", cursor = "code")]
struct Currency {
    code: String,
    name: String,
}

fn main() {}
