#[tidemark::incremental_stream(cursor = "updated_at")]
union Order {
    id: u64,
    updated_at: i64,
}

fn main() {}
