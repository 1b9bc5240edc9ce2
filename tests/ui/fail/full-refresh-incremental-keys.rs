#[derive(serde::Serialize, schemars::JsonSchema)]
#[tidemark::full_refresh_stream(checkpoint_interval = 100, order = "asc", step = "P1D", partition = "code", checkpoint_every = "PT1M")]
struct Currency {
    code: String,
    name: String,
}

fn main() {}
