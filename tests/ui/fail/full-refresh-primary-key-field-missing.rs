#[derive(serde::Serialize, schemars::JsonSchema)]
#[tidemark::full_refresh_stream(primary_key = ["code", "nmae"])]
struct Currency {
    code: String,
    name: String,
}

fn main() {}
