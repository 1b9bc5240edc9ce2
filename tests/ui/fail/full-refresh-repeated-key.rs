#[derive(serde::Serialize, schemars::JsonSchema)]
#[tidemark::full_refresh_stream(name = "currencies", resumable = true, name = "money")]
struct Currency {
    code: String,
    name: String,
}

fn main() {}
