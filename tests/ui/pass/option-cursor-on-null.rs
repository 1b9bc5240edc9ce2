use chrono::{DateTime, TimeZone as _, Utc};
use tidemark::unstable::OnNull;
use tidemark::{IncrementalStream, StreamState};

#[derive(serde::Serialize, schemars::JsonSchema)]
#[tidemark::incremental_stream(cursor = "updated_at", on_null = "emit")]
struct Ticket {
    id: u64,
    updated_at: Option<DateTime<Utc>>,
}

#[derive(serde::Serialize, schemars::JsonSchema)]
#[tidemark::incremental_stream(cursor = "seq", on_null = "skip")]
struct Event {
    seq: std::option::Option<u64>,
}

#[derive(serde::Serialize, schemars::JsonSchema)]
#[tidemark::incremental_stream(cursor = "seq", on_null = "fail")]
struct Strict {
    seq: core::option::Option<i64>,
}

/// Checks a stream's cursor type without constructing a record.
fn cursor_is<S: IncrementalStream<Cursor = C>, C>() {}

fn main() {
    // The cursor and the state hold the inner type, not the `Option`.
    cursor_is::<Ticket, DateTime<Utc>>();
    cursor_is::<Event, u64>();
    cursor_is::<Strict, i64>();
    assert_eq!(Ticket::ON_NULL, OnNull::Emit);
    assert_eq!(Event::ON_NULL, OnNull::Skip);
    assert_eq!(Strict::ON_NULL, OnNull::Fail);

    let at = Utc.with_ymd_and_hms(2024, 5, 1, 12, 0, 0).unwrap();
    let mut state = TicketState::default();
    state.set_updated_at(at);
    assert_eq!(state.updated_at(), Some(&at));
    assert_eq!(state.watermark(), Some(at));
    let json = serde_json::to_string(&state).unwrap();
    assert_eq!(json, r#"{"updated_at":"2024-05-01T12:00:00Z"}"#);
    assert_eq!(serde_json::from_str::<TicketState>(&json).unwrap(), state);

    let open = Ticket {
        id: 1,
        updated_at: None,
    };
    assert_eq!(open.cursor(), None);
    let closed = Ticket {
        id: 2,
        updated_at: Some(at),
    };
    assert_eq!(closed.cursor().as_deref(), Some(&at));
    assert_eq!(open.id + closed.id, 3);
    assert_eq!(Event { seq: Some(4) }.cursor().as_deref(), Some(&4));
    assert_eq!(Strict { seq: None }.cursor(), None);
}
