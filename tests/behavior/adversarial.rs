//! An adversarial pass over the state contract through the whole `read` path: ties on window
//! bounds with failing and panicking readers, the time cap on timestamps, dates and compound
//! cursors, look-backs that must not repeat a STATE, `on_null = "emit"` in windows, and a saved
//! state above the reader's end.

use std::collections::BTreeSet;

use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use serde_json::{Value, json};
use tidemark::protocol::StreamStatus;
use tidemark::testing::{self, CrashTest, Output, incremental_catalog};
use tidemark::{Error, Sink, Slice, Source, Streams};

use crate::support::NoConfig;
use crate::table::{Table, TableSource, column, states};

/// One open slice, no `step`.
#[derive(Debug, Clone, PartialEq, serde::Serialize, schemars::JsonSchema)]
#[tidemark::incremental_stream(name = "plain", cursor = "n", primary_key = "id")]
pub struct Plain {
    id: u64,
    n: u64,
}

/// Windows of 10 from 1, a checkpoint every 2 records.
#[derive(Debug, Clone, PartialEq, serde::Serialize, schemars::JsonSchema)]
#[tidemark::incremental_stream(
    name = "bounded",
    cursor = "n",
    primary_key = "id",
    step = 10,
    start = 1,
    checkpoint_interval = 2
)]
pub struct Bounded {
    id: u64,
    n: u64,
}

/// Unsorted windows of 10 from 1.
#[derive(Debug, Clone, PartialEq, serde::Serialize, schemars::JsonSchema)]
#[tidemark::incremental_stream(
    name = "scattered",
    cursor = "n",
    primary_key = "id",
    order = "unsorted",
    step = 10,
    start = 1
)]
pub struct Scattered {
    id: u64,
    n: u64,
}

/// A timestamp cursor checkpointed after every record.
#[derive(Debug, Clone, PartialEq, serde::Serialize, schemars::JsonSchema)]
#[tidemark::incremental_stream(
    name = "stamped",
    cursor = "at",
    primary_key = "id",
    checkpoint_interval = 1
)]
pub struct Stamped {
    id: u64,
    at: DateTime<Utc>,
}

/// A timestamp cursor in windows of an hour.
#[derive(Debug, Clone, PartialEq, serde::Serialize, schemars::JsonSchema)]
#[tidemark::incremental_stream(name = "hourly", cursor = "at", primary_key = "id", step = "PT1H")]
pub struct Hourly {
    id: u64,
    at: DateTime<Utc>,
}

/// A date cursor.
#[derive(Debug, Clone, PartialEq, serde::Serialize, schemars::JsonSchema)]
#[tidemark::incremental_stream(
    name = "daily_rows",
    cursor = "day",
    primary_key = "id",
    checkpoint_interval = 1
)]
pub struct DayRow {
    id: u64,
    day: NaiveDate,
}

/// `(at, id)`: capped by `at`.
#[derive(Debug, Clone, PartialEq, serde::Serialize, schemars::JsonSchema)]
#[tidemark::incremental_stream(name = "keyed", cursor = ["at", "id"], primary_key = "id", checkpoint_interval = 1)]
pub struct Keyed {
    id: u64,
    at: DateTime<Utc>,
}

/// A look-back of 5 and a checkpoint after every record.
#[derive(Debug, Clone, PartialEq, serde::Serialize, schemars::JsonSchema)]
#[tidemark::incremental_stream(
    name = "revisited",
    cursor = "n",
    primary_key = "id",
    lookback = 5,
    checkpoint_interval = 1
)]
pub struct Revisited {
    id: u64,
    n: u64,
}

/// Records without a cursor are emitted, in windows.
#[derive(Debug, Clone, PartialEq, serde::Serialize, schemars::JsonSchema)]
#[tidemark::incremental_stream(
    name = "sparse",
    cursor = "n",
    primary_key = "id",
    on_null = "emit",
    step = 10,
    start = 1
)]
pub struct Sparse {
    id: u64,
    n: Option<u64>,
}

fn rows<S>(ns: &[u64], row: impl Fn(u64, u64) -> S) -> Vec<S> {
    ns.iter()
        .enumerate()
        .map(|(id, &n)| row(id as u64, n))
        .collect()
}

/// The `recordCount` of every STATE, and the records before each.
fn record_counts(output: &Output) -> (Vec<f64>, Vec<f64>) {
    let mut claimed = Vec::new();
    let mut counted = Vec::new();
    let mut since: u32 = 0;
    for line in output.stdout.lines() {
        let message: Value = serde_json::from_str(line).expect("a JSON line");
        match message["type"].as_str() {
            Some("RECORD") => since += 1,
            Some("STATE") => {
                claimed.push(
                    message["state"]["sourceStats"]["recordCount"]
                        .as_f64()
                        .expect("a recordCount"),
                );
                counted.push(f64::from(since));
                since = 0;
            }
            _ => {}
        }
    }
    (claimed, counted)
}

/// a saved state above the reader's end leaves nothing to read; a stream with `step`
/// does not call its reader then (see `windows::a_state_at_the_end_reads_no_window_...`).
/// Before the fix: a stream without `step` calls it with the inverted slice `> 10, <= 5`; a reader whose
/// API rejects `from > to` fails the stream on every sync until the table grows past the state
/// again (runtime/src/contract/plan.rs, `Plan::next_slice`, the open-slice branch returns
/// before the `empty` test).
#[test]
fn a_saved_state_above_the_readers_end_reads_nothing_without_step_either() {
    let mut table = Table::new(rows(&[3, 5], |id, n| Plain { id, n }));
    table.end = Some(5);
    let source = TableSource::new(table);
    let output = source.read(Some(&json!({"plain": {"n": 10}})));
    assert_eq!(output.exit_code, 0, "{}", output.stdout);
    assert_eq!(states(&output), [json!({"n": 10})]);
    assert!(
        source.slices.borrow().is_empty(),
        "the reader was asked for {:?}",
        source.slices.borrow()
    );
}

#[test]
fn ties_on_window_bounds_keep_the_contract_at_every_cut_with_sloppy_and_failing_readers() {
    let ns = [1, 11, 11, 11, 12, 21, 21, 22, 31, 31];
    for (sloppy, fail_at) in [(true, None), (false, Some(3)), (false, Some(6))] {
        let mut table = Table::new(rows(&ns, |id, n| Bounded { id, n }));
        table.end = Some(31);
        table.sloppy = sloppy;
        table.fail_at = fail_at;
        let source = TableSource::new(table);
        let catalog = incremental_catalog(&source, &json!({}));
        CrashTest::new(&source, &json!({}), &catalog).assert();
    }
    // Unsorted windows, each returned backwards, with a sloppy reader.
    let mut table = Table::new(rows(&ns, |id, n| Scattered { id, n }));
    table.end = Some(31);
    table.sloppy = true;
    table.reverse = true;
    let source = TableSource::new(table);
    let catalog = incremental_catalog(&source, &json!({}));
    CrashTest::new(&source, &json!({}), &catalog).assert();
}

#[test]
fn a_tie_on_a_window_bound_is_read_once_and_a_failure_after_it_claims_below_it() {
    let ns = [1, 11, 11, 11, 12];
    let mut table = Table::new(rows(&ns, |id, n| Bounded { id, n }));
    table.end = Some(21);
    // Fails instead of returning 12, the first row of the second window.
    table.fail_at = Some(4);
    let source = TableSource::new(table);
    let first = source.read(None);
    assert_eq!(first.exit_code, 1);
    // The interval checkpoint waits for the tie on 11 to end, which is the window's end: the
    // window's STATE claims 11 with the four records; the failure claims nothing more.
    assert_eq!(states(&first), [json!({"n": 11})]);
    assert_eq!(record_counts(&first).0, [4.0]);
    let mut table = Table::new(rows(&ns, |id, n| Bounded { id, n }));
    table.end = Some(21);
    let second = TableSource::new(table).read(Some(&json!({"bounded": {"n": 11}})));
    assert_eq!(column(&second, "n"), [json!(12)]);
}

/// `bounded`, whose reader panics in the second window of a sync without state.
struct Exploding;

impl Source for Exploding {
    const NAME: &'static str = "source-exploding";
    type Config = NoConfig;

    fn streams<'a>(&'a self, _config: &'a NoConfig) -> Result<Streams<'a>, Error> {
        Ok(Streams::new().stream(ExplodingReader))
    }
}

struct ExplodingReader;

impl tidemark::Reader<Bounded> for ExplodingReader {
    fn read(
        &mut self,
        slice: &Slice<'_, Bounded>,
        out: &mut Sink<'_, Bounded>,
    ) -> Result<(), Error> {
        use tidemark::StreamState as _;
        let fresh = slice.state().watermark().is_none();
        for (id, n) in [1, 5, 11, 15, 15, 18, 21].into_iter().enumerate() {
            assert!(
                !(fresh && n == 18 && slice.contains(&n)),
                "the connection dropped"
            );
            if slice.contains(&n) {
                out.emit(&Bounded { id: id as u64, n })?;
            }
        }
        Ok(())
    }

    fn end(&mut self) -> Result<Option<u64>, Error> {
        Ok(Some(21))
    }
}

#[test]
fn a_reader_panicking_inside_a_window_claims_below_its_last_value_and_resumes_without_loss() {
    let catalog = incremental_catalog(&Exploding, &json!({}));
    let first = testing::read(&Exploding, &json!({}), &catalog, None);
    assert_eq!(first.exit_code, 1);
    assert_eq!(
        first.statuses("bounded").last(),
        Some(&StreamStatus::Incomplete)
    );
    // Window [1, 11] ends with STATE 11; 15, 15 follow, then the panic: 15 may have more rows.
    assert_eq!(states(&first), [json!({"n": 5}), json!({"n": 11})]);
    let (claimed, counted) = record_counts(&first);
    assert_eq!(claimed, counted);
    assert_eq!(
        column(&first, "n"),
        [json!(1), json!(5), json!(11), json!(15), json!(15)]
    );
    CrashTest::new(&Exploding, &json!({}), &catalog).assert();
}

#[test]
fn a_timestamp_past_the_sync_start_is_emitted_but_never_claimed() {
    let now = Utc::now();
    let ats = [
        now - TimeDelta::hours(2),
        now - TimeDelta::hours(1),
        now + TimeDelta::hours(1),
    ];
    let table = Table::new(
        ats.iter()
            .enumerate()
            .map(|(id, &at)| Stamped { id: id as u64, at })
            .collect(),
    );
    let output = TableSource::new(table).read(None);
    assert_eq!(output.exit_code, 0, "{}", output.stdout);
    assert_eq!(output.records().len(), 3);
    let claimed: Vec<DateTime<Utc>> = states(&output)
        .iter()
        .map(|state| serde_json::from_value(state["at"].clone()).expect("a timestamp"))
        .collect();
    assert!(
        claimed.iter().all(|at| *at < now + TimeDelta::minutes(1)),
        "{claimed:?}"
    );
    assert_eq!(claimed.last(), Some(&ats[1]));
    // Not repeated: two moving STATEs, then the final one.
    assert_eq!(claimed.len(), 3);
}

#[test]
fn time_windows_stop_before_the_sync_start_and_never_read_the_future() {
    let now = Utc::now();
    let ats = [
        now - TimeDelta::hours(2),
        now - TimeDelta::minutes(1),
        now + TimeDelta::minutes(30),
    ];
    let mut table = Table::new(
        ats.iter()
            .enumerate()
            .map(|(id, &at)| Hourly { id: id as u64, at })
            .collect(),
    );
    table.start = Some(now - TimeDelta::hours(3));
    let source = TableSource::new(table);
    let output = source.read(None);
    assert_eq!(output.exit_code, 0, "{}", output.stdout);
    assert_eq!(column(&output, "id"), [json!(0), json!(1)]);
    let last: DateTime<Utc> =
        serde_json::from_value(states(&output).last().expect("a STATE")["at"].clone())
            .expect("a timestamp");
    assert!(
        last >= ats[1] && last < now + TimeDelta::minutes(1),
        "{last}"
    );
    let (claimed, counted) = record_counts(&output);
    assert_eq!(claimed, counted);
}

#[test]
fn a_date_cursor_claims_yesterday_at_most_and_a_state_from_a_clock_ahead_is_kept() {
    let today = Utc::now().date_naive();
    let yesterday = today.pred_opt().expect("a date");
    let days = [yesterday, yesterday, today];
    let make = || {
        Table::new(
            days.iter()
                .enumerate()
                .map(|(id, &day)| DayRow { id: id as u64, day })
                .collect(),
        )
    };
    let output = TableSource::new(make()).read(None);
    assert_eq!(output.exit_code, 0, "{}", output.stdout);
    assert_eq!(output.records().len(), 3);
    assert_eq!(
        states(&output).last(),
        Some(&json!({"day": yesterday.to_string()}))
    );
    let ahead = today.succ_opt().expect("a date").to_string();
    let output = TableSource::new(make()).read(Some(&json!({"daily_rows": {"day": ahead}})));
    assert_eq!(output.records().len(), 0);
    assert_eq!(states(&output), [json!({"day": ahead})]);
}

#[test]
fn a_compound_cursor_is_capped_by_its_timestamp_whatever_its_id() {
    let now = Utc::now();
    let before = now - TimeDelta::hours(1);
    let keyed = vec![
        Keyed { id: 1, at: before },
        Keyed { id: 2, at: before },
        Keyed {
            id: 0,
            at: now + TimeDelta::hours(1),
        },
    ];
    let output = TableSource::new(Table::new(keyed)).read(None);
    assert_eq!(output.exit_code, 0, "{}", output.stdout);
    assert_eq!(output.records().len(), 3);
    let last = states(&output).last().cloned().expect("a STATE");
    assert_eq!(last["id"], json!(2), "{last}");
    let at: DateTime<Utc> = serde_json::from_value(last["at"].clone()).expect("a timestamp");
    assert_eq!(at, before);
}

#[test]
fn a_look_back_overlap_never_repeats_a_state() {
    let ns: Vec<u64> = (6..=14).collect();
    let table = Table::new(rows(&ns, |id, n| Revisited { id, n }));
    let output = TableSource::new(table).read(Some(&json!({"revisited": {"n": 10}})));
    assert_eq!(output.exit_code, 0, "{}", output.stdout);
    // 6..=10 is the overlap (sent again on purpose); no STATE until the watermark moves.
    assert_eq!(column(&output, "n").len(), 9);
    let claimed: Vec<u64> = states(&output)
        .iter()
        .map(|state| state["n"].as_u64().expect("a number"))
        .collect();
    assert_eq!(claimed, [11, 12, 13, 14]);
    let distinct: BTreeSet<u64> = claimed.iter().copied().collect();
    assert_eq!(distinct.len(), claimed.len());
    let (claimed, counted) = record_counts(&output);
    assert_eq!(claimed, counted);
    assert_eq!(claimed.first(), Some(&6.0));
}

#[test]
fn records_without_a_cursor_in_windows_are_counted_in_every_window_that_sends_them() {
    let sparse = vec![
        Sparse { id: 0, n: None },
        Sparse { id: 1, n: Some(5) },
        Sparse { id: 2, n: Some(15) },
    ];
    let mut table = Table::new(sparse);
    table.end = Some(21);
    let output = TableSource::new(table).read(None);
    assert_eq!(output.exit_code, 0, "{}", output.stdout);
    // The reader returns the null row with every window: it is sent once per window.
    assert_eq!(
        column(&output, "id"),
        [json!(0), json!(1), json!(0), json!(2)]
    );
    assert_eq!(states(&output), [json!({"n": 11}), json!({"n": 21})]);
    let (claimed, counted) = record_counts(&output);
    assert_eq!(claimed, counted);
}
