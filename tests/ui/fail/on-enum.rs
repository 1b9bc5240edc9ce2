#[derive(serde::Serialize, schemars::JsonSchema)]
#[tidemark::incremental_stream(cursor = "updated_at")]
enum Event {
    Created {
        updated_at: chrono::DateTime<chrono::Utc>,
    },
    Deleted {
        updated_at: chrono::DateTime<chrono::Utc>,
    },
}

fn main() {}
