#[derive(serde::Serialize, schemars::JsonSchema)]
#[tidemark::full_refresh_stream]
enum Currency {
    Euro,
    Dollar,
}

fn main() {}
