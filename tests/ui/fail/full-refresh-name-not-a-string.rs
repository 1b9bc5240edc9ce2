#[derive(serde::Serialize, schemars::JsonSchema)]
#[tidemark::full_refresh_stream(name = currencies)]
struct Currency {
    code: String,
    name: String,
}

fn main() {}
