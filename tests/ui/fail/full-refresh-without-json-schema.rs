#[derive(serde::Serialize)]
#[tidemark::full_refresh_stream(primary_key = "code")]
struct Currency {
    code: String,
    name: String,
}

fn main() {}
