//! Edges of the state contract at the seams: a look-back past the saved watermark on a
//! windowed stream, a look-back that would pass the start, a cursor type of one's own that
//! follows the wall clock.

use chrono::{DateTime, TimeDelta, Utc};
use serde_json::json;

use crate::table::{Table, TableSource, column, states};

/// Windows of 10 with a look-back longer than any saved watermark below 100, and no start.
#[derive(Debug, Clone, PartialEq, serde::Serialize, schemars::JsonSchema)]
#[tidemark::incremental_stream(
    name = "late",
    cursor = "n",
    primary_key = "id",
    step = 10,
    lookback = 100
)]
pub struct Late {
    id: u64,
    n: u64,
}

/// A look-back of 100 from a declared start of 10.
#[derive(Debug, Clone, PartialEq, serde::Serialize, schemars::JsonSchema)]
#[tidemark::incremental_stream(
    name = "floored",
    cursor = "n",
    primary_key = "id",
    start = 10,
    lookback = 100
)]
pub struct Floored {
    id: u64,
    n: u64,
}

fn rows<S>(ns: &[u64], row: impl Fn(u64, u64) -> S) -> Vec<S> {
    ns.iter()
        .enumerate()
        .map(|(id, &n)| row(id as u64, n))
        .collect()
}

#[test]
fn a_lookback_past_the_saved_watermark_on_windows_reads_from_the_beginning_and_syncs_again() {
    let ns = [1, 3, 5, 8, 12, 25];
    let mut table = Table::new(rows(&ns, |id, n| Late { id, n }));
    table.end = Some(25);
    let source = TableSource::new(table);
    let first = source.read(Some(&json!({"late": {"n": 5}})));
    assert_eq!(first.exit_code, 0, "{}", first.stdout);
    // `5 - 100` is below zero: the range starts at the beginning, and the first window ends at
    // the saved watermark, where the windows of 10 start.
    assert_eq!(
        *source.slices.borrow(),
        [
            "Unbounded..Included(5)",
            "Excluded(5)..Included(15)",
            "Excluded(15)..Included(25)"
        ]
    );
    assert_eq!(
        column(&first, "n"),
        [json!(1), json!(3), json!(5), json!(8), json!(12), json!(25)]
    );
    assert_eq!(states(&first), [json!({"n": 15}), json!({"n": 25})]);

    // And the sync after it, from its own last STATE, works the same way.
    let mut table = Table::new(rows(&ns, |id, n| Late { id, n }));
    table.end = Some(25);
    let second = TableSource::new(table).read(Some(&first.state_file_at(1)));
    assert_eq!(second.exit_code, 0, "{}", second.stdout);
    assert_eq!(states(&second).last(), Some(&json!({"n": 25})));
}

#[test]
fn a_lookback_never_reaches_below_the_declared_start() {
    let ns = [2, 9, 10, 11, 40, 50, 60];
    let source = TableSource::new(Table::new(rows(&ns, |id, n| Floored { id, n })));
    let output = source.read(Some(&json!({"floored": {"n": 50}})));
    assert_eq!(output.exit_code, 0, "{}", output.stdout);
    // `50 - 100` would pass the start of 10: the sync looks back to the start, included.
    assert_eq!(*source.slices.borrow(), ["Included(10)..Unbounded"]);
    assert_eq!(
        column(&output, "n"),
        [json!(10), json!(11), json!(40), json!(50), json!(60)]
    );
    assert_eq!(states(&output), [json!({"n": 60})]);
}

#[test]
fn a_lookback_never_reaches_below_the_start_the_reader_gives() {
    let ns = [2, 9, 10, 11, 40, 50, 60];
    let mut table = Table::new(rows(&ns, |id, n| Floored { id, n }));
    table.start = Some(40);
    let source = TableSource::new(table);
    let output = source.read(Some(&json!({"floored": {"n": 50}})));
    assert_eq!(output.exit_code, 0, "{}", output.stdout);
    assert_eq!(*source.slices.borrow(), ["Included(40)..Unbounded"]);
    assert_eq!(column(&output, "n"), [json!(40), json!(50), json!(60)]);

    // A saved state below the start is resumed from as it is: no look-back below the start.
    let mut table = Table::new(rows(&ns, |id, n| Floored { id, n }));
    table.start = Some(40);
    let source = TableSource::new(table);
    let output = source.read(Some(&json!({"floored": {"n": 9}})));
    assert_eq!(*source.slices.borrow(), ["Excluded(9)..Unbounded"]);
    assert_eq!(
        column(&output, "n"),
        [json!(10), json!(11), json!(40), json!(50), json!(60)]
    );
}

/// A timestamp of the source's own, written as the `Cursor` docs show.
#[derive(
    Debug,
    Clone,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    serde::Serialize,
    serde::Deserialize,
    schemars::JsonSchema,
)]
#[serde(transparent)]
pub struct ModifiedAt(DateTime<Utc>);

impl tidemark::Cursor for ModifiedAt {
    fn upper_cap(sync_started: DateTime<Utc>) -> Option<Self> {
        <DateTime<Utc> as tidemark::Cursor>::upper_cap(sync_started).map(ModifiedAt)
    }
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, schemars::JsonSchema)]
#[tidemark::incremental_stream(name = "documents", cursor = "modified_at", primary_key = "id")]
pub struct Document {
    id: u64,
    modified_at: ModifiedAt,
}

#[test]
fn a_timestamp_newtype_cursor_is_capped_at_the_sync_start() {
    let now = Utc::now();
    let documents = vec![
        Document {
            id: 1,
            modified_at: ModifiedAt(now - TimeDelta::hours(2)),
        },
        // Written while the sync runs (or by a clock ahead of ours): not claimed.
        Document {
            id: 2,
            modified_at: ModifiedAt(now + TimeDelta::hours(1)),
        },
    ];
    let output = TableSource::new(Table::new(documents)).read(None);
    assert_eq!(output.exit_code, 0, "{}", output.stdout);
    assert_eq!(column(&output, "id"), [json!(1), json!(2)]);
    let claimed = serde_json::to_value(ModifiedAt(now - TimeDelta::hours(2))).expect("JSON");
    assert_eq!(states(&output), [json!({"modified_at": claimed})]);
}
