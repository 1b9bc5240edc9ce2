//! Test reads against an independent checker: every STATE a limited read writes claims only
//! records emitted before it (5.1), its `recordCount` is the number of records since the
//! stream's previous STATE, a stream stopped by a limit or a cut is never COMPLETE, no STATE
//! follows a cut slice, and a run with limits exits 0 without an ERROR trace. Driven over
//! every limit from 1 to past the data, ties at the limit, every driver (one slice, windows,
//! partitions, a parent's partitions, full refresh, concurrent windows and partitions at
//! several concurrency levels), cuts on the first and the last slice, and an empty stream.

use std::collections::BTreeSet;

use serde_json::{Value, json};
use tidemark::protocol::{Message, StreamStatus, TraceType};
use tidemark::testing::{self, Output};
use tidemark::{
    Error, IncrementalStream, Partitions, Reader, Resume, Sink, Slice, Source, Streams,
};

use crate::support::temp_file;

/// Cursor values with ties everywhere, one record per id (ids 0..15).
const TIED: [u64; 15] = [1, 1, 2, 2, 2, 3, 4, 4, 5, 5, 5, 5, 6, 7, 7];

/// One slice, a STATE every 3 records (never inside a tie).
#[derive(Debug, Clone, serde::Serialize, schemars::JsonSchema)]
#[tidemark::incremental_stream(
    name = "tied",
    cursor = "c",
    primary_key = "id",
    checkpoint_interval = 3
)]
pub struct Tied {
    id: u64,
    c: u64,
}

/// Windows of 2 from 1, a STATE at each window's end.
#[derive(Debug, Clone, serde::Serialize, schemars::JsonSchema)]
#[tidemark::incremental_stream(
    name = "windows",
    cursor = "c",
    primary_key = "id",
    step = 2,
    start = 1
)]
pub struct Windowed {
    id: u64,
    c: u64,
}

/// Windows of 3 from 1 and a STATE every 2 records.
#[derive(Debug, Clone, serde::Serialize, schemars::JsonSchema)]
#[tidemark::incremental_stream(
    name = "windows_every",
    cursor = "c",
    primary_key = "id",
    step = 3,
    start = 1,
    checkpoint_interval = 2
)]
pub struct WindowedEvery {
    id: u64,
    c: u64,
}

/// Windows of 2 from 1, read concurrently.
#[derive(Debug, Clone, serde::Serialize, schemars::JsonSchema)]
#[tidemark::incremental_stream(
    name = "cwindows",
    cursor = "c",
    primary_key = "id",
    step = 2,
    start = 1
)]
pub struct CWindowed {
    id: u64,
    c: u64,
}

/// Partitions 0..4 (one of them empty), a STATE every 2 records.
#[derive(Debug, Clone, serde::Serialize, schemars::JsonSchema)]
#[tidemark::incremental_stream(
    name = "parts",
    cursor = "c",
    partition = "p",
    primary_key = "id",
    checkpoint_interval = 2
)]
pub struct Part {
    p: u32,
    id: u64,
    c: u64,
}

/// `parts`, read concurrently.
#[derive(Debug, Clone, serde::Serialize, schemars::JsonSchema)]
#[tidemark::incremental_stream(
    name = "cparts",
    cursor = "c",
    partition = "p",
    primary_key = "id",
    checkpoint_interval = 2
)]
pub struct CPart {
    p: u32,
    id: u64,
    c: u64,
}

/// The parent whose records name the partitions of `children`.
#[derive(Debug, Clone, serde::Serialize, schemars::JsonSchema)]
#[tidemark::incremental_stream(name = "parents", cursor = "pc", primary_key = "name")]
pub struct ParentRow {
    name: u32,
    pc: u64,
}

/// Partitions from `parents`, a STATE every 2 records.
#[derive(Debug, Clone, serde::Serialize, schemars::JsonSchema)]
#[tidemark::incremental_stream(
    name = "children",
    cursor = "c",
    partition = "p",
    primary_key = "id",
    checkpoint_interval = 2
)]
pub struct Child {
    p: u32,
    id: u64,
    c: u64,
}

/// A stream with no records.
#[derive(Debug, Clone, serde::Serialize, schemars::JsonSchema)]
#[tidemark::incremental_stream(
    name = "empty",
    cursor = "c",
    primary_key = "id",
    checkpoint_interval = 2
)]
pub struct Empty {
    id: u64,
    c: u64,
}

/// A finite full-refresh stream.
#[derive(Debug, Clone, serde::Serialize, schemars::JsonSchema)]
#[tidemark::full_refresh_stream(name = "everyone", primary_key = "id")]
pub struct Everyone {
    id: u64,
}

/// `(partition, id, cursor)` rows of `parts` and `cparts`: ties, an empty partition (2).
const PARTS: [(u32, u64, u64); 11] = [
    (0, 100, 1),
    (0, 101, 1),
    (0, 102, 2),
    (0, 103, 3),
    (0, 104, 3),
    (1, 110, 1),
    (1, 111, 2),
    (1, 112, 2),
    (1, 113, 2),
    (1, 114, 4),
    (3, 130, 5),
];

/// `(name, pc)` rows of `parents`; a tie at 2, and a parent whose partition is empty.
const PARENTS: [(u32, u64); 4] = [(0, 1), (1, 2), (2, 2), (3, 3)];

/// `(partition, id, cursor)` rows of `children`.
const CHILDREN: [(u32, u64, u64); 8] = [
    (0, 200, 1),
    (0, 201, 1),
    (0, 202, 2),
    (2, 220, 3),
    (2, 221, 3),
    (2, 222, 3),
    (2, 223, 4),
    (3, 230, 1),
];

const EVERYONE: u64 = 7;

#[derive(serde::Deserialize, schemars::JsonSchema)]
pub struct NoConfig {}

/// A record the generic reader reads.
trait Row: IncrementalStream<Cursor = u64> + Clone {
    fn id(&self) -> u64;
    fn cursor_value(&self) -> u64;
    fn belongs(&self, slice: &Slice<'_, Self>) -> bool;
}

macro_rules! row {
    ($type:ident) => {
        impl Row for $type {
            fn id(&self) -> u64 {
                self.id
            }
            fn cursor_value(&self) -> u64 {
                self.c
            }
            fn belongs(&self, _: &Slice<'_, Self>) -> bool {
                true
            }
        }
    };
    ($type:ident, partitioned) => {
        impl Row for $type {
            fn id(&self) -> u64 {
                self.id
            }
            fn cursor_value(&self) -> u64 {
                self.c
            }
            fn belongs(&self, slice: &Slice<'_, Self>) -> bool {
                *slice.partition() == self.p
            }
        }
    };
}
row!(Tied);
row!(Windowed);
row!(WindowedEvery);
row!(CWindowed);
row!(Empty);
row!(Part, partitioned);
row!(CPart, partitioned);
row!(Child, partitioned);

/// Emits the rows of each slice in order; with `cut`, stops before the row with that id and
/// cuts the slice short as the HTTP toolkit's page limit does.
#[derive(Clone)]
#[allow(clippy::struct_field_names, reason = "the rows of `Rows`")]
struct Rows<T> {
    rows: Vec<T>,
    end: Option<u64>,
    cut: Option<u64>,
    /// Saves a new config (a rotated credential) before the row with this id.
    control: Option<u64>,
}

impl<T: Row> Reader<T> for Rows<T> {
    fn read(&mut self, slice: &Slice<'_, T>, out: &mut Sink<'_, T>) -> Result<(), Error> {
        for row in &self.rows {
            if !row.belongs(slice) || !slice.contains(&row.cursor_value()) {
                continue;
            }
            if self.cut == Some(row.id()) {
                tidemark::http::Context::cut_slice(out)?;
                return Ok(());
            }
            if self.control == Some(row.id()) {
                tidemark::http::Context::update_config(out, &json!({"rotated": row.id()}))?;
            }
            out.emit(row)?;
        }
        Ok(())
    }

    fn end(&mut self) -> Result<Option<u64>, Error> {
        Ok(self.end)
    }
}

fn tied<T>(make: impl Fn(u64, u64) -> T) -> Vec<T> {
    (0..).zip(TIED).map(|(id, c)| make(id, c)).collect()
}

/// The source: every stream above, `concurrency` readers at once, and the slice holding the
/// record `cut` (if any) cut short before it.
struct Review {
    concurrency: usize,
    cut: Option<u64>,
    control: Option<u64>,
}

impl Review {
    fn rows<T>(&self, rows: Vec<T>, end: Option<u64>) -> Rows<T> {
        Rows {
            rows,
            end,
            cut: self.cut,
            control: self.control,
        }
    }
}

impl Source for Review {
    const NAME: &'static str = "source-test-read-review";
    type Config = NoConfig;

    fn streams<'a>(&'a self, _: &'a NoConfig) -> Result<Streams<'a>, Error> {
        let parts = PARTS.map(|(p, id, c)| Part { p, id, c }).to_vec();
        let cparts = PARTS.map(|(p, id, c)| CPart { p, id, c }).to_vec();
        let children = CHILDREN.map(|(p, id, c)| Child { p, id, c }).to_vec();
        let parents = |slice: &Slice<ParentRow>, out: &mut Sink<ParentRow>| {
            for (name, pc) in PARENTS {
                if slice.contains(&pc) {
                    out.emit(&ParentRow { name, pc })?;
                }
            }
            Ok(())
        };
        Ok(Streams::new()
            .concurrency(self.concurrency)
            .stream(self.rows(tied(|id, c| Tied { id, c }), None))
            .stream(self.rows(tied(|id, c| Windowed { id, c }), Some(7)))
            .stream(self.rows(tied(|id, c| WindowedEvery { id, c }), Some(7)))
            .stream(self.rows(Vec::<Empty>::new(), None))
            .partitioned(Partitions::list(0..4), self.rows(parts, None))
            .partitioned(
                Partitions::from_parent(parents, |parent: &ParentRow| parent.name),
                self.rows(children, None),
            )
            .full_refresh(|_: &Resume<Everyone>, out: &mut Sink<Everyone>| {
                for id in 0..EVERYONE {
                    out.emit(&Everyone { id })?;
                }
                Ok(())
            })
            .concurrent(self.rows(tied(|id, c| CWindowed { id, c }), Some(7)))
            .concurrent_partitioned(Partitions::list(0..4), self.rows(cparts, None)))
    }
}

/// Reads `streams` of `source` with the command line's extra `options`.
fn read(source: &Review, streams: &[&str], options: &[String]) -> Output {
    let mut catalog = testing::incremental_catalog(source, &json!({}));
    catalog["streams"]
        .as_array_mut()
        .expect("streams")
        .retain(|configured| {
            streams.contains(&configured["stream"]["name"].as_str().unwrap_or(""))
        });
    assert_eq!(
        catalog["streams"].as_array().map(Vec::len),
        Some(streams.len())
    );
    let config = temp_file("config.json", "{}");
    let catalog = temp_file("catalog.json", &catalog.to_string());
    let mut args = vec![
        "read".to_owned(),
        "--config".to_owned(),
        config.to_str().expect("utf-8").to_owned(),
        "--catalog".to_owned(),
        catalog.to_str().expect("utf-8").to_owned(),
    ];
    args.extend(options.iter().cloned());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    testing::run(source, &args)
}

/// What the source holds for a stream: `(partition, id, cursor)` for each record, and for a
/// stream with a parent, the parent's `(partition it names, cursor)`.
struct Truth {
    rows: Vec<(Option<u64>, u64, u64)>,
    parents: Vec<(u64, u64)>,
    /// The number of slices (reader calls) a full read makes.
    slices: u64,
}

fn truth(stream: &str) -> Truth {
    let plain = |rows: &[u64]| (0..).zip(rows).map(|(id, &c)| (None, id, c)).collect();
    let parted = |rows: &[(u32, u64, u64)]| {
        rows.iter()
            .map(|&(p, id, c)| (Some(u64::from(p)), id, c))
            .collect()
    };
    match stream {
        "tied" => Truth {
            rows: plain(&TIED),
            parents: vec![],
            slices: 1,
        },
        // Windows (0,2], (2,4], (4,6], (6,7]: from start 1 as [1,3), ... all within 1..=7.
        "windows" | "cwindows" => Truth {
            rows: plain(&TIED),
            parents: vec![],
            slices: 4,
        },
        "windows_every" => Truth {
            rows: plain(&TIED),
            parents: vec![],
            slices: 3,
        },
        "empty" => Truth {
            rows: vec![],
            parents: vec![],
            slices: 1,
        },
        "parts" | "cparts" => Truth {
            rows: parted(&PARTS),
            parents: vec![],
            slices: 4,
        },
        "children" => Truth {
            rows: parted(&CHILDREN),
            parents: PARENTS
                .iter()
                .map(|&(name, pc)| (u64::from(name), pc))
                .collect(),
            slices: 4,
        },
        "everyone" => Truth {
            rows: (0..EVERYONE).map(|id| (None, id, 0)).collect(),
            parents: vec![],
            slices: 1,
        },
        other => panic!("no truth for {other}"),
    }
}

/// The ids a STATE's `stream_state` claims were emitted (5.1, per partition and parent).
fn claimed(truth: &Truth, state: &Value) -> BTreeSet<u64> {
    let mut ids = BTreeSet::new();
    let at_or_below = |partition: Option<u64>, watermark: u64, ids: &mut BTreeSet<u64>| {
        for &(p, id, c) in &truth.rows {
            if (partition.is_none() || p == partition) && c <= watermark {
                ids.insert(id);
            }
        }
    };
    if let Some(w) = state.get("c").and_then(Value::as_u64) {
        at_or_below(None, w, &mut ids);
    }
    let mut tracked = BTreeSet::new();
    for entry in state
        .get("states")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let partition = match &entry["partition"] {
            Value::Object(map) => map.get("p").and_then(Value::as_u64),
            other => other.as_u64(),
        };
        let partition = partition.unwrap_or_else(|| panic!("a partition in {state}"));
        tracked.insert(partition);
        if let Some(w) = entry["cursor"]["c"].as_u64() {
            at_or_below(Some(partition), w, &mut ids);
        }
    }
    // A floor for partitions with no entry.
    if let Some(floor) = state
        .get("state")
        .and_then(|s| s.get("c"))
        .and_then(Value::as_u64)
    {
        for &(p, id, c) in &truth.rows {
            if p.is_some_and(|p| !tracked.contains(&p)) && c <= floor {
                ids.insert(id);
            }
        }
    }
    // Every partition of a parent at or below the parent's watermark was read to its end.
    if let Some(pw) = state["parent_state"]["parents"]["pc"].as_u64() {
        for &(partition, pc) in &truth.parents {
            if pc <= pw {
                for &(p, id, _) in &truth.rows {
                    if p == Some(partition) {
                        ids.insert(id);
                    }
                }
            }
        }
    }
    ids
}

/// What one stream of a run did.
#[derive(Debug, Default)]
struct Seen {
    records: u64,
    states: u64,
    last_status: Option<StreamStatus>,
}

/// Checks every STATE of `stream` in `output` against the truth; `context` names the case.
#[allow(clippy::too_many_lines, reason = "one checker, read top to bottom")]
fn check(output: &Output, stream: &str, cut: Option<u64>, ordered: bool, context: &str) -> Seen {
    let truth = truth(stream);
    let mut emitted = BTreeSet::new();
    let mut since = 0_u64;
    let mut seen = Seen::default();
    let mut cut_seen = false;
    let mut cut_after = false;
    for message in &output.messages {
        match message {
            Message::Record { record } if record.stream == stream => {
                let id = record.data["id"].as_u64().expect("an id");
                assert!(
                    emitted.insert(id),
                    "{context}: `{stream}` emitted {id} twice"
                );
                // Read one slice after the other, a record past the cut is read after it.
                if ordered && cut.is_some_and(|cut| id > cut) {
                    cut_after = true;
                }
                since += 1;
                seen.records += 1;
            }
            Message::Log { log }
                if log.message.contains(&format!("stream `{stream}`"))
                    && log.message.contains("cut short") =>
            {
                cut_seen = true;
            }
            Message::State { state } => {
                let Some(stream_state) = state.stream.as_ref() else {
                    continue;
                };
                if stream_state.stream_descriptor.name != stream {
                    continue;
                }
                let value = serde_json::to_value(&stream_state.stream_state).expect("a state");
                let missing: Vec<u64> = claimed(&truth, &value)
                    .difference(&emitted)
                    .copied()
                    .collect();
                assert!(
                    missing.is_empty(),
                    "{context}: `{stream}`: the STATE {value} claims ids {missing:?}, not emitted \
                     before it\n{}",
                    output.stdout
                );
                #[expect(clippy::cast_precision_loss, reason = "small counts")]
                let expected = since as f64;
                assert_eq!(
                    state.source_stats.as_ref().and_then(|s| s.record_count),
                    Some(expected),
                    "{context}: `{stream}`: recordCount of {value}\n{}",
                    output.stdout
                );
                assert!(
                    !cut_after,
                    "{context}: `{stream}`: a STATE {value} after the cut\n{}",
                    output.stdout
                );
                since = 0;
                seen.states += 1;
            }
            _ => {}
        }
    }
    seen.last_status = output.statuses(stream).last().copied();
    // A stream marked COMPLETE read everything; one stopped short says why.
    if seen.last_status == Some(StreamStatus::Complete) {
        assert_eq!(
            seen.records,
            truth.rows.len() as u64,
            "{context}: COMPLETE without every record\n{}",
            output.stdout
        );
        assert!(
            !cut_seen,
            "{context}: COMPLETE after a cut\n{}",
            output.stdout
        );
    } else {
        assert_eq!(
            seen.last_status,
            Some(StreamStatus::Incomplete),
            "{context}\n{}",
            output.stdout
        );
        let why = output.messages.iter().any(|message| {
            matches!(message, Message::Log { log } if log.message.contains(&format!("stream `{stream}`")) && log.message.contains("test read"))
        });
        assert!(
            why,
            "{context}: INCOMPLETE with no LOG naming the limit\n{}",
            output.stdout
        );
    }
    assert_eq!(
        output.exit_code, 0,
        "{context}\n{}{}",
        output.stdout, output.stderr
    );
    assert!(
        output.traces(TraceType::Error).is_empty(),
        "{context}: an ERROR trace\n{}",
        output.stdout
    );
    if cut.is_some() {
        assert!(cut_seen, "{context}: no LOG of the cut\n{}", output.stdout);
        assert_eq!(
            seen.last_status,
            Some(StreamStatus::Incomplete),
            "{context}\n{}",
            output.stdout
        );
    }
    seen
}

fn is_concurrent(stream: &str) -> bool {
    matches!(stream, "cwindows" | "cparts")
}

fn opts(option: &str, n: u64) -> Vec<String> {
    vec![option.to_owned(), n.to_string()]
}

const ALL_INCREMENTAL: [&str; 8] = [
    "tied",
    "windows",
    "windows_every",
    "parts",
    "children",
    "empty",
    "cwindows",
    "cparts",
];

#[test]
fn every_max_records_from_1_to_past_the_data_leaves_truthful_states() {
    for concurrency in [1, 2, 3, 8] {
        let source = Review {
            concurrency,
            cut: None,
            control: None,
        };
        for stream in ALL_INCREMENTAL.iter().chain(&["everyone"]) {
            if concurrency > 1 && !is_concurrent(stream) {
                continue;
            }
            let total = truth(stream).rows.len() as u64;
            for n in 1..=total + 2 {
                let context = format!("{stream} --max-records {n} at concurrency {concurrency}");
                let output = read(&source, &[stream], &opts("--max-records", n));
                let seen = check(&output, stream, None, false, &context);
                if is_concurrent(stream) {
                    assert!(
                        seen.records <= n.min(total),
                        "{context}: {} records",
                        seen.records
                    );
                } else {
                    assert_eq!(seen.records, n.min(total), "{context}\n{}", output.stdout);
                }
                let expected = if n >= total {
                    StreamStatus::Complete
                } else {
                    StreamStatus::Incomplete
                };
                assert_eq!(
                    seen.last_status,
                    Some(expected),
                    "{context}\n{}",
                    output.stdout
                );
                assert!(
                    seen.states >= 1 || n < total,
                    "{context}: no final STATE\n{}",
                    output.stdout
                );
            }
        }
    }
}

#[test]
fn every_max_slices_leaves_truthful_states() {
    for concurrency in [1, 2, 3, 8] {
        let source = Review {
            concurrency,
            cut: None,
            control: None,
        };
        for stream in ALL_INCREMENTAL {
            if concurrency > 1 && !is_concurrent(stream) {
                continue;
            }
            let slices = truth(stream).slices;
            let mut complete = false;
            for n in 1..=slices + 2 {
                let context = format!("{stream} --max-slices {n} at concurrency {concurrency}");
                let output = read(&source, &[stream], &opts("--max-slices", n));
                let seen = check(&output, stream, None, false, &context);
                // More slices never read less.
                let now = seen.last_status == Some(StreamStatus::Complete);
                assert!(
                    now || !complete,
                    "{context}: INCOMPLETE with more slices\n{}",
                    output.stdout
                );
                complete = now;
            }
            assert!(
                complete,
                "{stream}: never COMPLETE at concurrency {concurrency}"
            );
        }
    }
}

#[test]
fn a_cut_slice_anywhere_is_never_claimed_and_no_state_follows_it() {
    for concurrency in [1, 2, 3, 8] {
        for stream in ALL_INCREMENTAL {
            if stream == "empty" || (concurrency > 1 && !is_concurrent(stream)) {
                continue;
            }
            let truth = truth(stream);
            for &(_, id, _) in &truth.rows {
                let source = Review {
                    concurrency,
                    cut: Some(id),
                    control: None,
                };
                let context = format!("{stream} cut before id {id} at concurrency {concurrency}");
                let output = read(&source, &[stream], &[]);
                check(
                    &output,
                    stream,
                    Some(id),
                    concurrency == 1 || !is_concurrent(stream),
                    &context,
                );
            }
        }
    }
}

#[test]
fn limits_together_and_on_several_streams_keep_each_stream_truthful() {
    for concurrency in [1, 3] {
        for cut in [None, Some(2), Some(111), Some(221)] {
            let source = Review {
                concurrency,
                cut,
                control: None,
            };
            for n in 1..=6 {
                let mut options = opts("--max-records", n + 3);
                options.extend(opts("--max-slices", n));
                let output = read(&source, &ALL_INCREMENTAL, &options);
                for stream in ALL_INCREMENTAL {
                    let context =
                        format!("all streams, {options:?}, cut {cut:?}, concurrency {concurrency}");
                    check(&output, stream, None, false, &context);
                }
            }
        }
    }
}

#[test]
fn a_new_config_saved_by_a_concurrent_reader_follows_the_records_it_read_before() {
    for concurrency in [1, 2, 3, 8] {
        for id in 0..TIED.len() as u64 {
            let source = Review {
                concurrency,
                cut: None,
                control: Some(id),
            };
            let context =
                format!("cwindows, a new config before id {id} at concurrency {concurrency}");
            let output = read(&source, &["cwindows"], &[]);
            check(&output, "cwindows", None, false, &context);
            let mut before = BTreeSet::new();
            let mut started = false;
            let mut controls = 0;
            for message in &output.messages {
                match message {
                    Message::Record { record } => {
                        before.insert(record.data["id"].as_u64().expect("an id"));
                    }
                    Message::Trace { .. } => started = true,
                    Message::Control { control } => {
                        controls += 1;
                        assert_eq!(
                            control.connector_config.config,
                            json!({"rotated": id}),
                            "{context}"
                        );
                        assert!(
                            started,
                            "{context}: the CONTROL before the stream started\n{}",
                            output.stdout
                        );
                        // One reader reads the windows in order: all before `id` came first.
                        if concurrency == 1 {
                            let missing: Vec<u64> = (0..id)
                                .filter(|earlier| !before.contains(earlier))
                                .collect();
                            assert!(
                                missing.is_empty(),
                                "{context}: the CONTROL came before {missing:?}, read before it\n{}",
                                output.stdout
                            );
                        }
                    }
                    _ => {}
                }
            }
            assert_eq!(controls, 1, "{context}\n{}", output.stdout);
        }
    }
}
