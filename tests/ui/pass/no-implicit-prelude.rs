//! The generated code names everything by absolute path: it compiles in a module without the
//! prelude, next to user items that shadow the names it could otherwise pick up.

/// A re-export of the runtime, for `crate = "..."`.
mod rt {
    pub use ::tidemark;
}

mod streams {
    #![no_implicit_prelude]

    // Shadows of prelude items and crate names.
    #[allow(dead_code)]
    pub struct Result;
    #[allow(dead_code)]
    pub struct Option;
    #[allow(dead_code)]
    pub struct Vec;
    #[allow(dead_code)]
    pub struct String;
    #[allow(dead_code)]
    pub struct Some;
    #[allow(dead_code)]
    pub struct None;
    #[allow(dead_code)]
    pub trait Clone {}
    #[allow(dead_code)]
    pub trait Default {}
    pub mod serde {}
    pub mod tidemark {}
    pub mod core {}
    pub mod std {}

    // schemars' derive calls `.into()` (in its `json!`), which needs the trait in scope; an
    // anonymous import keeps every name above unshadowed.
    use ::std::convert::Into as _;

    #[derive(::serde::Serialize, ::schemars::JsonSchema)]
    #[schemars(crate = "::schemars")]
    #[::tidemark::incremental_stream(
        cursor = "updated_at",
        primary_key = "id",
        checkpoint_interval = 10,
        step = "P1D",
        start = "2024-01-01T00:00:00Z",
        lookback = "PT1H"
    )]
    pub struct Invoice {
        pub id: ::core::primitive::u64,
        pub updated_at: ::chrono::DateTime<::chrono::Utc>,
    }

    #[derive(::serde::Serialize, ::schemars::JsonSchema)]
    #[schemars(crate = "::schemars")]
    #[::tidemark::incremental_stream(
        cursor = ["updated_at", "id"],
        crate = "crate::rt::tidemark",
        name = "lines"
    )]
    pub struct Line {
        pub id: ::core::primitive::u64,
        pub updated_at: i64,
    }

    #[derive(::serde::Serialize, ::schemars::JsonSchema)]
    #[schemars(crate = "::schemars")]
    #[::tidemark::incremental_stream(
        cursor = "day",
        on_null = "skip",
        step = "P1W",
        start = "2024-01-01",
        crate = "crate::rt::tidemark"
    )]
    pub struct Daily {
        pub day: ::std::option::Option<::chrono::NaiveDate>,
    }

    #[derive(::serde::Serialize, ::schemars::JsonSchema)]
    #[schemars(crate = "::schemars")]
    #[::tidemark::incremental_stream(cursor = "seq", order = "unsorted", step = 100, start = 0)]
    pub struct Event<T> {
        pub seq: u32,
        pub payload: T,
    }
}

use tidemark::{IncrementalStream, StreamState};

use streams::{Daily, DailyState, Event, Invoice, InvoiceState, Line, LineState};

fn main() {
    assert_eq!(Invoice::STEP, Some("P1D"));
    assert_eq!(Invoice::LOOKBACK, Some("PT1H"));
    assert!(matches!(Invoice::declared_start(), Some(Ok(_))));
    let mut state = InvoiceState::default();
    state.set_updated_at(chrono::DateTime::UNIX_EPOCH);
    assert_eq!(
        serde_json::to_string(&state).unwrap(),
        r#"{"updated_at":"1970-01-01T00:00:00Z"}"#
    );
    let invoice = Invoice {
        id: 1,
        updated_at: chrono::DateTime::UNIX_EPOCH,
    };
    assert_eq!(invoice.id, 1);
    assert_eq!(invoice.cursor().as_deref(), Some(&chrono::DateTime::UNIX_EPOCH));

    assert_eq!(Line::NAME, "lines");
    assert_eq!(<LineState as StreamState>::KEYS, ["updated_at", "id"]);
    let line = Line {
        id: 2,
        updated_at: 5,
    };
    assert_eq!(line.cursor().as_deref(), Some(&(5, 2)));
    let state = LineState::from_watermark(Some((5, 2)));
    assert_eq!(state.watermark(), Some((5, 2)));
    assert_eq!(
        serde_json::to_string(&state).unwrap(),
        r#"{"updated_at":5,"id":2}"#
    );

    assert_eq!(Daily::STEP, Some("P1W"));
    assert_eq!(Daily { day: None }.cursor(), None);
    let mut state = DailyState::default();
    state.set_day(chrono::NaiveDate::MIN);
    assert!(state.day().is_some());

    assert_eq!(<Event<()>>::window_bound(&0, 3), Some(300));
    assert_eq!(<Event<()>>::declared_start(), Some(Ok(0)));
    let event = Event {
        seq: 4,
        payload: (),
    };
    assert_eq!(event.cursor().as_deref(), Some(&4));
    assert_eq!(event.payload, ());
}
