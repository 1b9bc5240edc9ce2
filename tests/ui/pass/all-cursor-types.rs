use tidemark::IncrementalStream;

#[derive(serde::Serialize, schemars::JsonSchema)]
#[tidemark::incremental_stream(cursor = "seq")]
struct SignedEvent {
    seq: i32,
}

#[derive(serde::Serialize, schemars::JsonSchema)]
#[tidemark::incremental_stream(cursor = "seq")]
struct UnsignedEvent {
    seq: u64,
}

#[derive(serde::Serialize, schemars::JsonSchema)]
#[tidemark::incremental_stream(cursor = "token")]
struct TokenEvent {
    token: String,
}

#[derive(serde::Serialize, schemars::JsonSchema)]
#[tidemark::incremental_stream(cursor = "day")]
struct DailyTotal {
    day: chrono::NaiveDate,
}

#[derive(serde::Serialize, schemars::JsonSchema)]
#[tidemark::incremental_stream(cursor = "updated_at")]
struct Order {
    updated_at: chrono::DateTime<chrono::Utc>,
}

/// Checks a stream's cursor type without constructing a record.
fn cursor_is<S: IncrementalStream<Cursor = C>, C>() {}

fn main() {
    cursor_is::<SignedEvent, i32>();
    cursor_is::<UnsignedEvent, u64>();
    cursor_is::<TokenEvent, String>();
    cursor_is::<DailyTotal, chrono::NaiveDate>();
    cursor_is::<Order, chrono::DateTime<chrono::Utc>>();

    assert_eq!(SignedEvent::NAME, "signed_event");
    assert_eq!(DailyTotal::NAME, "daily_total");

    let mut state = DailyTotalState::default();
    state.set_day(chrono::NaiveDate::from_ymd_opt(2024, 1, 1).unwrap());
    assert_eq!(
        serde_json::to_string(&state).unwrap(),
        r#"{"day":"2024-01-01"}"#
    );
    let mut state = TokenEventState::default();
    state.set_token("b".to_owned());
    assert_eq!(state.token().map(String::as_str), Some("b"));
}
