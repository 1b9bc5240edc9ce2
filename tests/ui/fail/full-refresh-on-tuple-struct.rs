#[derive(serde::Serialize, schemars::JsonSchema)]
#[tidemark::full_refresh_stream(resumable = false)]
struct Currency(String, String);

fn main() {}
