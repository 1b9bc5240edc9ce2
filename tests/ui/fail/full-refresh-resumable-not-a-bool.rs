#[derive(serde::Serialize, schemars::JsonSchema)]
#[tidemark::full_refresh_stream(resumable = "yes")]
struct Currency {
    code: String,
    name: String,
}

fn main() {}
