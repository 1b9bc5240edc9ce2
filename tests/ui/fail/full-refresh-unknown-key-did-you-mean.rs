#[derive(serde::Serialize, schemars::JsonSchema)]
#[tidemark::full_refresh_stream(primary_kye = "code")]
struct Currency {
    code: String,
    name: String,
}

fn main() {}
