#[derive(serde::Serialize, schemars::JsonSchema)]
#[tidemark::incremental_stream(cursor = "day", start = "2024-01-01T00:00:00Z")]
struct DailyTotal {
    day: chrono::NaiveDate,
    total_cents: i64,
}

fn main() {}
