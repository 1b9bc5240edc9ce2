//! Property tests: random tables (ties, values on window bounds, unsorted windows, null cursors)
//! under every checkpoint policy, checked with the crash matrix; readers that fail at a random
//! point, then resume.

use std::collections::HashSet;

use proptest::prelude::*;
use serde_json::{Value, json};
use tidemark::testing::{CrashTest, incremental_catalog};
use tidemark::{IncrementalStream, StreamState};

use crate::table::{Table, TableSource};

/// A row of a generated table: an id and a cursor value (`None`: no cursor).
pub trait Row: IncrementalStream<Partition = ()> + Clone + std::fmt::Debug + 'static {
    fn row(id: u64, c: Option<u64>) -> Self;
    /// Whether the reader returns rows in ascending cursor order.
    const SORTED: bool = true;
    /// Whether the stream is read in windows of 5 from 0 (its reader gives the end).
    const WINDOWED: bool = false;
}

macro_rules! row_types {
    ($($name:ident: $stream:literal, { $($key:tt)* } ;)*) => {$(
        #[derive(Debug, Clone, PartialEq, serde::Serialize, schemars::JsonSchema)]
        #[tidemark::incremental_stream(name = $stream, cursor = "c", primary_key = "id", $($key)*)]
        pub struct $name {
            id: u64,
            c: u64,
        }

        impl Row for $name {
            fn row(id: u64, c: Option<u64>) -> Self {
                $name { id, c: c.unwrap_or_default() }
            }
        }
    )*};
}

/// Streams declared through `row_types!`: their state accessors, spanned in this file, are unused.
#[expect(
    dead_code,
    reason = "the generated state accessors are not called by these tests"
)]
mod declared {
    use super::Row;

    row_types! {
        EveryOne: "every_one", { checkpoint_interval = 1 };
        EveryThree: "every_three", { checkpoint_interval = 3 };
        SliceEnds: "slice_ends", { checkpoint = "slice" };
        AtEnd: "at_end", { checkpoint = "end" };
    }
}

use declared::{AtEnd, EveryOne, EveryThree, SliceEnds};

#[derive(Debug, Clone, PartialEq, serde::Serialize, schemars::JsonSchema)]
#[tidemark::incremental_stream(
    name = "windowed",
    cursor = "c",
    primary_key = "id",
    step = 5,
    start = 0,
    checkpoint_interval = 2
)]
pub struct Windowed {
    id: u64,
    c: u64,
}

impl Row for Windowed {
    const WINDOWED: bool = true;
    fn row(id: u64, c: Option<u64>) -> Self {
        Windowed {
            id,
            c: c.unwrap_or_default(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, schemars::JsonSchema)]
#[tidemark::incremental_stream(
    name = "unsorted",
    cursor = "c",
    primary_key = "id",
    order = "unsorted",
    step = 5,
    start = 0
)]
pub struct Unsorted {
    id: u64,
    c: u64,
}

impl Row for Unsorted {
    const SORTED: bool = false;
    const WINDOWED: bool = true;
    fn row(id: u64, c: Option<u64>) -> Self {
        Unsorted {
            id,
            c: c.unwrap_or_default(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, schemars::JsonSchema)]
#[tidemark::incremental_stream(
    name = "nullable",
    cursor = "c",
    primary_key = "id",
    on_null = "emit",
    checkpoint_interval = 2
)]
pub struct Nullable {
    id: u64,
    c: Option<u64>,
}

impl Row for Nullable {
    fn row(id: u64, c: Option<u64>) -> Self {
        Nullable { id, c }
    }
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, schemars::JsonSchema)]
#[tidemark::incremental_stream(name = "keyset", cursor = ["c", "id"], primary_key = "id", checkpoint_interval = 2)]
pub struct Keyset {
    id: u64,
    c: u64,
}

impl Row for Keyset {
    fn row(id: u64, c: Option<u64>) -> Self {
        Keyset {
            id,
            c: c.unwrap_or_default(),
        }
    }
}

/// The table a source returns: rows in cursor order (ties kept in id order), or, for an
/// unsorted stream, in the generated order.
fn table<R: Row>(cursors: &[Option<u64>], sloppy: bool) -> Table<R> {
    let mut rows: Vec<(u64, Option<u64>)> = cursors
        .iter()
        .enumerate()
        .map(|(id, &c)| (id as u64, c))
        .collect();
    if R::SORTED {
        // Rows without a cursor first, as a SQL `ORDER BY c NULLS FIRST` returns them.
        rows.sort_by_key(|&(id, c)| (c, id));
    }
    let mut table = Table::new(rows.into_iter().map(|(id, c)| R::row(id, c)).collect());
    table.sloppy = sloppy;
    if R::WINDOWED {
        table.end = Some(
            serde_json::from_value(json!(
                cursors.iter().flatten().max().copied().unwrap_or(0) + 3
            ))
            .expect("an integer cursor"),
        );
    }
    table
}

fn row_id<R: Row>(row: &R) -> u64 {
    serde_json::to_value(row).expect("serializes")["id"]
        .as_u64()
        .expect("an id")
}

/// Cursor values with many ties and values on multiples of 5 (window bounds).
fn cursors(nulls: bool) -> impl Strategy<Value = Vec<Option<u64>>> {
    let value = prop_oneof![0..4_u64, (0..6_u64).prop_map(|n| n * 5), 0..30_u64];
    let cursor = if nulls {
        prop_oneof![4 => value.prop_map(Some), 1 => Just(None)].boxed()
    } else {
        value.prop_map(Some).boxed()
    };
    proptest::collection::vec(cursor, 0..24)
}

fn crash_test<R: Row>(cursors: &[Option<u64>], sloppy: bool) -> Result<(), TestCaseError> {
    let source = TableSource::new(table::<R>(cursors, sloppy));
    let catalog = incremental_catalog(&source, &json!({}));
    CrashTest::new(&source, &json!({}), &catalog)
        .run()
        .map(drop)
        .map_err(|failure| TestCaseError::fail(failure.to_string()))
}

/// A first sync fails after `fail_at` rows; the second resumes from its last STATE. Together they
/// deliver every row, and the second sends nothing at or below the watermark it resumed from
/// (rows above it that the first sync sent before failing come again: at least once).
fn fail_then_resume<R: Row>(cursors: &[Option<u64>], fail_at: usize) -> Result<(), TestCaseError> {
    let mut failing = table::<R>(cursors, false);
    failing.fail_at = Some(fail_at);
    let first = TableSource::new(failing).read(None);
    let ids = |output: &tidemark::testing::Output| -> Vec<u64> {
        output
            .records()
            .iter()
            .map(|r| r.data["id"].as_u64().expect("id"))
            .collect()
    };
    let last_state = first.states().len().checked_sub(1);
    let committed: Vec<u64> = match last_state {
        Some(index) => {
            let position = first
                .messages
                .iter()
                .enumerate()
                .filter(|(_, m)| matches!(m, tidemark::protocol::Message::State { .. }))
                .nth(index)
                .map(|(at, _)| at)
                .expect("the state");
            first.messages[..position]
                .iter()
                .filter_map(|m| match m {
                    tidemark::protocol::Message::Record { record } => record.data["id"].as_u64(),
                    _ => None,
                })
                .collect()
        }
        None => Vec::new(),
    };
    let state: Option<Value> = last_state.map(|index| first.state_file_at(index));
    let second = TableSource::new(table::<R>(cursors, false)).read(state.as_ref());
    prop_assert_eq!(second.exit_code, 0, "{}", second.stdout);
    let second_ids = ids(&second);
    let expected: HashSet<u64> = ids(&TableSource::new(table::<R>(cursors, false)).read(None))
        .into_iter()
        .collect();
    let delivered: HashSet<u64> = committed.iter().chain(&second_ids).copied().collect();
    prop_assert_eq!(&delivered, &expected, "first sync:\n{}", first.stdout);
    let resumed_from: Option<R::Cursor> = state.as_ref().and_then(|state| {
        let json = state[0]["stream"]["stream_state"].clone();
        serde_json::from_value::<R::State>(json)
            .expect("a state")
            .watermark()
    });
    let rows = table::<R>(cursors, false).rows;
    for id in &second_ids {
        let row = rows.iter().find(|row| row_id(*row) == *id).expect("a row");
        let cursor = row.cursor().map(std::borrow::Cow::into_owned);
        let at_or_below = cursor.is_some() && cursor.as_ref() <= resumed_from.as_ref();
        prop_assert!(
            !at_or_below,
            "row {} ({:?}) is at or below the resumed watermark {:?}; first sync:\n{}",
            id,
            cursor,
            resumed_from,
            first.stdout
        );
    }
    // The resumed sync's watermarks never go below the one it started from.
    if let Some(state) = &state {
        let start = state[0]["stream"]["stream_state"].clone();
        let start: R::State = serde_json::from_value(start).expect("a state");
        for message in second.states() {
            let stream_state = message.stream.as_ref().and_then(|s| s.stream_state.clone());
            let next: R::State =
                serde_json::from_value(stream_state.expect("a state")).expect("parses");
            prop_assert!(next.watermark() >= start.watermark());
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn interval_checkpoints_keep_the_contract(cursors in cursors(false), sloppy in any::<bool>()) {
        crash_test::<EveryOne>(&cursors, sloppy)?;
        crash_test::<EveryThree>(&cursors, sloppy)?;
    }

    #[test]
    fn slice_and_end_checkpoints_keep_the_contract(cursors in cursors(false), sloppy in any::<bool>()) {
        crash_test::<SliceEnds>(&cursors, sloppy)?;
        crash_test::<AtEnd>(&cursors, sloppy)?;
    }

    #[test]
    fn windows_sorted_and_unsorted_keep_the_contract(cursors in cursors(false), sloppy in any::<bool>()) {
        crash_test::<Windowed>(&cursors, sloppy)?;
        crash_test::<Unsorted>(&cursors, sloppy)?;
    }

    #[test]
    fn null_cursors_and_keysets_keep_the_contract(cursors in cursors(true), plain in cursors(false)) {
        crash_test::<Nullable>(&cursors, false)?;
        crash_test::<Keyset>(&plain, true)?;
    }

    #[test]
    fn a_reader_failing_at_any_point_loses_nothing_on_resume(
        cursors in cursors(false),
        with_nulls in cursors(true),
        fail_at in 0..24_usize,
    ) {
        fail_then_resume::<EveryOne>(&cursors, fail_at)?;
        fail_then_resume::<EveryThree>(&cursors, fail_at)?;
        fail_then_resume::<SliceEnds>(&cursors, fail_at)?;
        fail_then_resume::<Windowed>(&cursors, fail_at)?;
        fail_then_resume::<Unsorted>(&cursors, fail_at)?;
        fail_then_resume::<Keyset>(&cursors, fail_at)?;
        fail_then_resume::<Nullable>(&with_nulls, fail_at)?;
    }
}
