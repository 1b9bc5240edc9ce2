#[derive(serde::Serialize, schemars::JsonSchema)]
#[tidemark::incremental_stream(cursor = "day", step = "PT1H")]
struct DailyTotal {
    day: chrono::NaiveDate,
    total_cents: i64,
}

fn main() {}
