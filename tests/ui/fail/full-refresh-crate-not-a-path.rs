#[derive(serde::Serialize, schemars::JsonSchema)]
#[tidemark::full_refresh_stream(crate = "not a path")]
struct Currency {
    code: String,
    name: String,
}

fn main() {}
