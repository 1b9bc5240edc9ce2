//! `step` and `start`: windows, their bounds, failures inside them, unsorted windows.

use chrono::{DateTime, TimeDelta, Utc};
use serde_json::json;
use tidemark::protocol::{FailureType, StreamStatus};

use crate::support::first_error;
use crate::table::{Table, TableSource, column, states};

/// Integer windows of 10 from 1.
#[derive(Debug, Clone, PartialEq, serde::Serialize, schemars::JsonSchema)]
#[tidemark::incremental_stream(
    name = "buckets",
    cursor = "n",
    primary_key = "id",
    step = 10,
    start = 1
)]
pub struct Bucket {
    id: u64,
    n: u64,
}

/// The same windows, records in any order within them.
#[derive(Debug, Clone, PartialEq, serde::Serialize, schemars::JsonSchema)]
#[tidemark::incremental_stream(
    name = "shuffled",
    cursor = "n",
    primary_key = "id",
    order = "unsorted",
    step = 10,
    start = 1
)]
pub struct Shuffled {
    id: u64,
    n: u64,
}

/// Day windows over a timestamp; the start comes from the reader.
#[derive(Debug, Clone, PartialEq, serde::Serialize, schemars::JsonSchema)]
#[tidemark::incremental_stream(name = "daily", cursor = "at", primary_key = "id", step = "P1D")]
pub struct Daily {
    id: u64,
    at: DateTime<Utc>,
}

/// Windows without any start.
#[derive(Debug, Clone, PartialEq, serde::Serialize, schemars::JsonSchema)]
#[tidemark::incremental_stream(name = "unanchored", cursor = "n", step = 10)]
pub struct Unanchored {
    n: u64,
}

pub(crate) fn buckets(ns: &[u64]) -> Vec<Bucket> {
    ns.iter()
        .enumerate()
        .map(|(id, &n)| Bucket { id: id as u64, n })
        .collect()
}

fn shuffled(ns: &[u64]) -> Vec<Shuffled> {
    ns.iter()
        .enumerate()
        .map(|(id, &n)| Shuffled { id: id as u64, n })
        .collect()
}

const NS: &[u64] = &[1, 5, 11, 11, 12, 13, 20, 21, 25, 31];

fn bucket_table(ns: &[u64]) -> Table<Bucket> {
    let mut table = Table::new(buckets(ns));
    table.end = Some(31);
    table
}

#[test]
fn windows_are_half_open_so_a_record_on_a_bound_is_read_once() {
    let source = TableSource::new(bucket_table(NS));
    let output = source.read(None);
    assert_eq!(output.exit_code, 0, "{}", output.stdout);
    assert_eq!(
        *source.slices.borrow(),
        [
            "Included(1)..Included(11)",
            "Excluded(11)..Included(21)",
            "Excluded(21)..Included(31)"
        ]
    );
    assert_eq!(
        column(&output, "n"),
        NS.iter().map(|n| json!(n)).collect::<Vec<_>>()
    );
    // A STATE at each window end, with the records of that window.
    assert_eq!(
        states(&output),
        [json!({"n": 11}), json!({"n": 21}), json!({"n": 31})]
    );
    let counts: Vec<f64> = output
        .states()
        .iter()
        .map(|s| {
            s.source_stats
                .as_ref()
                .and_then(|s| s.record_count)
                .expect("count")
        })
        .collect();
    assert_eq!(counts, [4.0, 4.0, 2.0]);
}

#[test]
fn records_a_sloppy_reader_returns_outside_the_window_are_dropped() {
    let mut table = bucket_table(NS);
    table.sloppy = true;
    let output = TableSource::new(table).read(None);
    assert_eq!(
        column(&output, "n"),
        NS.iter().map(|n| json!(n)).collect::<Vec<_>>()
    );
    assert_eq!(
        states(&output),
        [json!({"n": 11}), json!({"n": 21}), json!({"n": 31})]
    );
}

#[test]
fn a_failed_window_is_never_marked_done_and_the_resume_loses_nothing() {
    let mut table = bucket_table(NS);
    // Returns 1, 5, 11, 11 (window 1), then 12, 13 and fails before 20.
    table.fail_at = Some(6);
    let failed = TableSource::new(table).read(None);
    assert_eq!(failed.exit_code, 1);
    assert_eq!(
        failed.statuses("buckets").last(),
        Some(&StreamStatus::Incomplete)
    );
    // Window 1 is done; inside window 2 only values below the last emitted one are safe.
    assert_eq!(states(&failed), [json!({"n": 11}), json!({"n": 12})]);
    assert_eq!(
        first_error(&failed).failure_type,
        Some(FailureType::TransientError)
    );

    let source = TableSource::new(bucket_table(NS));
    let resumed = source.read(Some(&failed.state_file_at(1)));
    assert_eq!(resumed.exit_code, 0);
    assert_eq!(source.slices.borrow()[0], "Excluded(12)..Included(22)");
    // 13 is sent again (it came after the last STATE); nothing at or below 12 is.
    assert_eq!(
        column(&resumed, "n"),
        [json!(13), json!(20), json!(21), json!(25), json!(31)]
    );
    assert_eq!(states(&resumed).last(), Some(&json!({"n": 31})));
}

#[test]
fn the_reader_start_overrides_the_declared_start_and_state_overrides_both() {
    let mut table = bucket_table(NS);
    table.start = Some(11);
    let source = TableSource::new(table);
    let output = source.read(None);
    assert_eq!(source.slices.borrow()[0], "Included(11)..Included(21)");
    assert_eq!(column(&output, "n")[0], json!(11));

    let mut table = bucket_table(NS);
    table.start = Some(11);
    let source = TableSource::new(table);
    let state = json!([{"type": "STREAM", "stream": {
        "stream_descriptor": {"name": "buckets"}, "stream_state": {"n": 20}}}]);
    let output = source.read(Some(&state));
    assert_eq!(source.slices.borrow()[0], "Excluded(20)..Included(30)");
    assert_eq!(column(&output, "n"), [json!(21), json!(25), json!(31)]);
}

#[test]
fn a_state_at_the_end_reads_no_window_and_keeps_its_watermark() {
    let source = TableSource::new(bucket_table(NS));
    let state = json!({"buckets": {"n": 31}});
    let output = source.read(Some(&state));
    assert_eq!(output.exit_code, 0);
    assert!(source.slices.borrow().is_empty());
    assert!(output.records().is_empty());
    assert_eq!(states(&output), [json!({"n": 31})]);
}

#[test]
fn unsorted_windows_checkpoint_only_at_their_ends() {
    let mut table = Table::new(shuffled(NS));
    table.end = Some(31);
    table.reverse = true;
    let output = TableSource::new(table).read(None);
    assert_eq!(output.exit_code, 0, "{}", output.stdout);
    assert_eq!(
        column(&output, "n"),
        [11, 11, 5, 1, 21, 20, 13, 12, 31, 25]
            .iter()
            .map(|n| json!(n))
            .collect::<Vec<_>>()
    );
    assert_eq!(
        states(&output),
        [json!({"n": 11}), json!({"n": 21}), json!({"n": 31})]
    );
}

#[test]
fn an_unsorted_window_that_fails_is_read_again_whole() {
    let mut table = Table::new(shuffled(NS));
    table.end = Some(31);
    table.reverse = true;
    // Window 1 (4 records), then 21 and 20 of window 2, then a failure.
    table.fail_at = Some(6);
    let failed = TableSource::new(table).read(None);
    assert_eq!(failed.exit_code, 1);
    // No STATE inside the unsorted window: its maximum so far (21) is not a safe resume point.
    assert_eq!(states(&failed), [json!({"n": 11})]);

    let mut table = Table::new(shuffled(NS));
    table.end = Some(31);
    let resumed = TableSource::new(table).read(Some(&failed.state_file_at(0)));
    assert_eq!(
        column(&resumed, "n"),
        [12, 13, 20, 21, 25, 31]
            .iter()
            .map(|n| json!(n))
            .collect::<Vec<_>>()
    );
}

fn at(text: &str) -> DateTime<Utc> {
    text.parse().expect("RFC 3339")
}

fn daily(times: &[&str]) -> Vec<Daily> {
    times
        .iter()
        .enumerate()
        .map(|(id, text)| Daily {
            id: id as u64,
            at: at(text),
        })
        .collect()
}

#[test]
fn day_windows_cover_each_instant_once() {
    let mut table = Table::new(daily(&[
        "2024-03-01T00:00:00Z",
        "2024-03-01T12:00:00Z",
        "2024-03-02T00:00:00Z",
        "2024-03-02T00:00:00.000000001Z",
        "2024-03-03T23:59:59Z",
        "2024-03-04T00:00:00Z",
        "2024-03-04T00:00:01Z",
    ]));
    table.start = Some(at("2024-03-01T00:00:00Z"));
    table.end = Some(at("2024-03-04T00:00:00Z"));
    let source = TableSource::new(table);
    let output = source.read(None);
    assert_eq!(output.exit_code, 0, "{}", output.stdout);
    assert_eq!(source.slices.borrow().len(), 3);
    // The record one second after the end is left for the next sync.
    assert_eq!(
        column(&output, "id"),
        [0, 1, 2, 3, 4, 5].map(|id| json!(id))
    );
    assert_eq!(
        states(&output),
        [
            json!({"at": "2024-03-02T00:00:00Z"}),
            json!({"at": "2024-03-03T00:00:00Z"}),
            json!({"at": "2024-03-04T00:00:00Z"}),
        ]
    );
}

#[test]
fn time_windows_end_just_before_the_sync_started() {
    let before = Utc::now();
    let mut table = Table::new(vec![
        Daily {
            id: 1,
            at: before - TimeDelta::hours(30),
        },
        Daily {
            id: 2,
            at: before - TimeDelta::hours(1),
        },
        // Written "during" the sync: read by the next one.
        Daily {
            id: 3,
            at: before + TimeDelta::hours(1),
        },
    ]);
    table.start = Some(before - TimeDelta::hours(36));
    let output = TableSource::new(table).read(None);
    let after = Utc::now();
    assert_eq!(output.exit_code, 0, "{}", output.stdout);
    assert_eq!(column(&output, "id"), [json!(1), json!(2)]);
    let last: DateTime<Utc> =
        serde_json::from_value(states(&output).last().expect("a state")["at"].clone())
            .expect("a timestamp");
    assert!(
        last < after && last >= before - TimeDelta::nanoseconds(1),
        "{last}"
    );
}

#[test]
fn windows_without_a_start_or_an_end_fail_with_a_clear_error() {
    let source = TableSource::new(Table::new(vec![Unanchored { n: 1 }]));
    let output = source.read(None);
    assert_eq!(output.exit_code, 1);
    let error = first_error(&output);
    assert_eq!(error.failure_type, Some(FailureType::SystemError));
    assert!(
        error.message.contains("declare `start`"),
        "{}",
        error.message
    );
    assert!(output.records().is_empty());

    let output = TableSource::new(Table::new(buckets(NS))).read(None);
    assert_eq!(output.exit_code, 1);
    let error = first_error(&output);
    assert!(error.message.contains("`Reader::end`"), "{}", error.message);
    assert!(output.states().is_empty());
}
