//! Concurrent reading under hostile conditions: a panic in connector code outside a reader's
//! `read` (a partition listing, a cursor type of the connector's own), a failure while other
//! windows wait to be handed out. A stream read concurrently must fail as the same stream read
//! one slice after the other does: its own `INCOMPLETE` and TRACE ERROR, the other streams
//! read, the run ending.

use std::sync::mpsc;
use std::time::Duration;

use serde_json::{Value, json};
use tidemark::protocol::{StreamStatus, TraceType};
use tidemark::testing::{self, Output, incremental_catalog};
use tidemark::{Error, Partitions, Reader, Sink, Slice, Source, Streams};

/// Runs `read` on a thread of its own: a run that never ends fails the test instead of hanging
/// the suite (the bound is a watchdog, far above the milliseconds the run takes).
fn read_or_hang<S: Source + Sync>(source: &'static S, config: &Value) -> Output {
    let config = config.clone();
    let (done, result) = mpsc::channel();
    std::thread::spawn(move || {
        let catalog = incremental_catalog(source, &config);
        let _ = done.send(testing::read(source, &config, &catalog, None));
    });
    result
        .recv_timeout(Duration::from_mins(2))
        .expect("the read ended (it hung, or panicked)")
}

/// The watermark of `stream` in the last STATE of `output` (0 without one).
fn last_watermark(output: &Output, stream: &str, key: &str) -> u64 {
    output
        .states()
        .iter()
        .filter_map(|state| state.stream.as_ref())
        .filter(|state| state.stream_descriptor.name == stream)
        .filter_map(|state| state.stream_state.as_ref())
        .filter_map(|state| state[key].as_u64())
        .next_back()
        .unwrap_or(0)
}

/// A record of a partitioned stream whose partitions are listed by a closure.
#[derive(Debug, Clone, PartialEq, serde::Serialize, schemars::JsonSchema)]
#[tidemark::incremental_stream(
    name = "listed",
    cursor = "id",
    partition = "shard",
    primary_key = ["shard", "id"]
)]
pub struct Listed {
    shard: u32,
    id: u64,
}

/// A record of a stream read in windows of 10 ids, from 0.
#[derive(Debug, Clone, PartialEq, serde::Serialize, schemars::JsonSchema)]
#[tidemark::incremental_stream(
    name = "beats",
    cursor = "id",
    primary_key = "id",
    step = 10,
    start = 0
)]
pub struct Beat {
    id: u64,
}

/// Reads `beats`: ids `1..=35`.
#[derive(Clone)]
struct Beats;

impl Reader<Beat> for Beats {
    fn read(&mut self, slice: &Slice<Beat>, out: &mut Sink<Beat>) -> Result<(), Error> {
        let first = slice.after().map_or(1, |id| id + 1);
        for id in first..=slice.until().copied().unwrap_or(35) {
            out.emit(&Beat { id })?;
        }
        Ok(())
    }

    fn end(&mut self) -> Result<Option<u64>, Error> {
        Ok(Some(35))
    }
}

#[derive(serde::Deserialize, schemars::JsonSchema)]
struct ListingConfig {
    /// `listed` registered with `concurrent_partitioned` (else with `partitioned`).
    concurrent: bool,
}

/// A source whose partition listing panics.
struct PanickingListing;

impl Source for PanickingListing {
    const NAME: &'static str = "source-panicking-listing";
    type Config = ListingConfig;

    fn streams<'a>(&'a self, config: &'a ListingConfig) -> Result<Streams<'a>, Error> {
        let partitions =
            Partitions::from_fn(|| -> Result<Vec<u32>, Error> { panic!("the listing exploded") });
        let reader = |slice: &Slice<Listed>, out: &mut Sink<Listed>| {
            out.emit(&Listed {
                shard: *slice.partition(),
                id: 1,
            })
        };
        let streams = Streams::new().concurrency(4).concurrent(Beats);
        Ok(if config.concurrent {
            streams.concurrent_partitioned(partitions, reader)
        } else {
            streams.partitioned(partitions, reader)
        })
    }
}

#[test]
fn a_panicking_partition_listing_fails_its_stream_alone_as_when_read_sequentially() {
    for concurrent in [false, true] {
        let output = read_or_hang(&PanickingListing, &json!({ "concurrent": concurrent }));
        assert_eq!(
            output.exit_code, 1,
            "concurrent: {concurrent}\n{}",
            output.stdout
        );
        assert_eq!(
            output.statuses("listed"),
            [StreamStatus::Started, StreamStatus::Incomplete],
            "concurrent: {concurrent}\n{}",
            output.stdout
        );
        let errors = output.traces(TraceType::Error);
        assert_eq!(errors.len(), 1, "{}", output.stdout);
        let error = errors[0].error.as_ref().expect("an error trace");
        assert!(
            error.message.contains("the listing exploded"),
            "{}",
            output.stdout
        );
        // The other stream is read in full.
        assert_eq!(
            output.statuses("beats").last(),
            Some(&StreamStatus::Complete),
            "{}",
            output.stdout
        );
        assert_eq!(last_watermark(&output, "beats", "id"), 35);
    }
}

/// A connector's own cursor type whose `is_past` panics on 20, a value only ever seen as the
/// end of a window (no record has it): the panic happens in the runtime's code at the window's
/// end, not in `Reader::read`.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    serde::Serialize,
    serde::Deserialize,
    schemars::JsonSchema,
)]
#[serde(transparent)]
pub struct Seq(u64);

impl tidemark::Cursor for Seq {
    fn upper_cap(_sync_started: chrono::DateTime<chrono::Utc>) -> Option<Self> {
        None
    }

    fn is_past(&self, _sync_started: chrono::DateTime<chrono::Utc>) -> bool {
        assert!(self.0 != 20, "seq 20 exploded");
        false
    }
}

impl tidemark::window::Step<u64> for Seq {
    fn forward(&self, distance: &u64, times: u64) -> Option<Self> {
        self.0.forward(distance, times).map(Seq)
    }

    fn backward(&self, distance: &u64) -> Option<Self> {
        self.0.backward(distance).map(Seq)
    }
}

impl tidemark::window::Start<i128> for Seq {
    fn start(literal: &i128) -> Option<Self> {
        <u64 as tidemark::window::Start<i128>>::start(literal).map(Seq)
    }
}

/// A record of a stream read in windows of 10 of its own cursor, from 0.
#[derive(Debug, Clone, PartialEq, serde::Serialize, schemars::JsonSchema)]
#[tidemark::incremental_stream(name = "seqs", cursor = "seq", step = 10, start = 0)]
pub struct Entry {
    seq: Seq,
}

/// Reads `seqs`: every value of `1..=95` but 20.
#[derive(Clone)]
struct Entries;

impl Reader<Entry> for Entries {
    fn read(&mut self, slice: &Slice<Entry>, out: &mut Sink<Entry>) -> Result<(), Error> {
        let first = slice.after().map_or(1, |seq| seq.0 + 1);
        let last = slice.until().map_or(95, |seq| seq.0);
        for seq in (first..=last).filter(|seq| *seq != 20) {
            out.emit(&Entry { seq: Seq(seq) })?;
        }
        Ok(())
    }

    fn end(&mut self) -> Result<Option<Seq>, Error> {
        Ok(Some(Seq(95)))
    }
}

#[derive(serde::Deserialize, schemars::JsonSchema)]
struct SeqConfig {
    /// `seqs` registered with `concurrent` (else with `stream`).
    concurrent: bool,
}

/// A source whose cursor type panics at the end of the window (10, 20].
struct PanickingCursor;

impl Source for PanickingCursor {
    const NAME: &'static str = "source-panicking-cursor";
    type Config = SeqConfig;

    fn streams<'a>(&'a self, config: &'a SeqConfig) -> Result<Streams<'a>, Error> {
        let streams = Streams::new().concurrency(2).concurrent(Beats);
        Ok(if config.concurrent {
            streams.concurrent(Entries)
        } else {
            streams.stream(Entries)
        })
    }
}

#[test]
fn a_panic_at_a_windows_end_fails_its_stream_instead_of_hanging_the_run() {
    // Ten windows, two readers: eight may be handed out past the lowest unfinished one, so a
    // reader whose window never finishes leaves the other waiting for the ninth.
    for concurrent in [false, true] {
        let output = read_or_hang(&PanickingCursor, &json!({ "concurrent": concurrent }));
        assert_eq!(
            output.exit_code, 1,
            "concurrent: {concurrent}\n{}",
            output.stdout
        );
        assert_eq!(
            output.statuses("seqs").last(),
            Some(&StreamStatus::Incomplete),
            "concurrent: {concurrent}\n{}",
            output.stdout
        );
        let errors = output.traces(TraceType::Error);
        assert_eq!(errors.len(), 1, "{}", output.stdout);
        let error = errors[0].error.as_ref().expect("an error trace");
        assert!(
            error.message.contains("seq 20 exploded"),
            "concurrent: {concurrent}: {}",
            error.message
        );
        // No STATE passes the window that never finished.
        assert!(
            last_watermark(&output, "seqs", "seq") < 20,
            "concurrent: {concurrent}\n{}",
            output.stdout
        );
        assert_eq!(
            output.statuses("beats").last(),
            Some(&StreamStatus::Complete),
            "{}",
            output.stdout
        );
    }
}

/// The largest watermark any STATE of `stream` claimed, for an unpartitioned stream (`id`) or
/// any partition of a partitioned one (`states[].cursor.id`); 0 without one.
fn most_claimed(output: &Output, stream: &str) -> u64 {
    output
        .states()
        .iter()
        .filter_map(|state| state.stream.as_ref())
        .filter(|state| state.stream_descriptor.name == stream)
        .filter_map(|state| state.stream_state.as_ref())
        .flat_map(|state| match state.get("states") {
            Some(states) => states
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|entry| entry["cursor"]["id"].as_u64())
                .collect::<Vec<_>>(),
            None => state["id"].as_u64().into_iter().collect(),
        })
        .max()
        .unwrap_or(0)
}

/// A stream read in one window (0, 100], whose source breaks the declared order.
#[derive(Debug, Clone, PartialEq, serde::Serialize, schemars::JsonSchema)]
#[tidemark::incremental_stream(
    name = "jumbled",
    cursor = "id",
    primary_key = "id",
    step = 1000,
    start = 0
)]
pub struct Jumbled {
    id: u64,
}

/// A partitioned stream with one partition, whose source breaks the declared order.
#[derive(Debug, Clone, PartialEq, serde::Serialize, schemars::JsonSchema)]
#[tidemark::incremental_stream(
    name = "jumbled_shards",
    cursor = "id",
    partition = "shard",
    primary_key = ["shard", "id"]
)]
pub struct JumbledShard {
    shard: u32,
    id: u64,
}

/// The ids a source out of order returns: 40 comes after 60, though it existed all along.
const JUMBLED: [u64; 6] = [1, 2, 3, 50, 60, 40];

/// Emits [`JUMBLED`] through `emit`, waiting (which sends what was emitted so far) before 40.
fn emit_jumbled<S>(
    out: &mut Sink<S>,
    emit: impl Fn(&mut Sink<S>, u64) -> Result<(), Error>,
) -> Result<(), Error>
where
    S: tidemark::IncrementalStream,
{
    for id in JUMBLED {
        if id == 40 {
            out.wait(Duration::ZERO)?;
        }
        emit(out, id)?;
    }
    Ok(())
}

#[derive(Clone)]
struct JumbledReader;

impl Reader<Jumbled> for JumbledReader {
    fn read(&mut self, _slice: &Slice<Jumbled>, out: &mut Sink<Jumbled>) -> Result<(), Error> {
        emit_jumbled(out, |out, id| out.emit(&Jumbled { id }))
    }

    fn end(&mut self) -> Result<Option<u64>, Error> {
        Ok(Some(100))
    }
}

#[derive(serde::Deserialize, schemars::JsonSchema)]
struct JumbledConfig {
    /// Both streams registered to be read concurrently (else one slice after the other).
    concurrent: bool,
}

/// A source whose streams break their declared order after records were sent.
struct OutOfOrder;

impl Source for OutOfOrder {
    const NAME: &'static str = "source-out-of-order";
    type Config = JumbledConfig;

    fn streams<'a>(&'a self, config: &'a JumbledConfig) -> Result<Streams<'a>, Error> {
        let shards = Partitions::list([0_u32]);
        let reader = |_slice: &Slice<JumbledShard>, out: &mut Sink<JumbledShard>| {
            emit_jumbled(out, |out, id| out.emit(&JumbledShard { shard: 0, id }))
        };
        let streams = Streams::new().concurrency(2);
        Ok(if config.concurrent {
            streams
                .concurrent(JumbledReader)
                .concurrent_partitioned(shards, reader)
        } else {
            streams.stream(JumbledReader).partitioned(shards, reader)
        })
    }
}

#[test]
fn no_state_claims_a_record_once_the_source_broke_its_order() {
    // 40 existed when the sync started and was never emitted: a STATE at 40 or above loses it
    // for good. Read one slice after the other, the stream claims nothing once the order broke.
    for concurrent in [false, true] {
        let output = read_or_hang(&OutOfOrder, &json!({ "concurrent": concurrent }));
        assert_eq!(
            output.exit_code, 1,
            "concurrent: {concurrent}\n{}",
            output.stdout
        );
        for stream in ["jumbled", "jumbled_shards"] {
            assert_eq!(
                output.statuses(stream).last(),
                Some(&StreamStatus::Incomplete),
                "{stream}, concurrent: {concurrent}\n{}",
                output.stdout
            );
            let claimed = most_claimed(&output, stream);
            assert!(
                claimed < 40,
                "{stream}, concurrent: {concurrent}: a STATE claims {claimed}, 40 never \
                 emitted\n{}",
                output.stdout
            );
        }
    }
}

/// A connector's own cursor type that cannot be written at 20 or above, values only ever seen
/// as ends of windows: the panic happens where a STATE at one of them is written, on the
/// thread that writes the stream's output.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Deserialize, schemars::JsonSchema,
)]
#[serde(transparent)]
pub struct Mark(u64);

impl serde::Serialize for Mark {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        assert!(self.0 < 20, "a mark past 20 exploded");
        serializer.serialize_u64(self.0)
    }
}

impl tidemark::Cursor for Mark {
    fn upper_cap(_sync_started: chrono::DateTime<chrono::Utc>) -> Option<Self> {
        None
    }
}

impl tidemark::window::Step<u64> for Mark {
    fn forward(&self, distance: &u64, times: u64) -> Option<Self> {
        self.0.forward(distance, times).map(Mark)
    }

    fn backward(&self, distance: &u64) -> Option<Self> {
        self.0.backward(distance).map(Mark)
    }
}

impl tidemark::window::Start<i128> for Mark {
    fn start(literal: &i128) -> Option<Self> {
        <u64 as tidemark::window::Start<i128>>::start(literal).map(Mark)
    }
}

/// A record of a stream read in windows of 10 of its own cursor, from 0.
#[derive(Debug, Clone, PartialEq, serde::Serialize, schemars::JsonSchema)]
#[tidemark::incremental_stream(name = "marks", cursor = "mark", step = 10, start = 0)]
pub struct Marked {
    mark: Mark,
}

/// Reads `marks`: every value of `1..=19`, in windows up to 95.
#[derive(Clone)]
struct Marks;

impl Reader<Marked> for Marks {
    fn read(&mut self, slice: &Slice<Marked>, out: &mut Sink<Marked>) -> Result<(), Error> {
        let first = slice.after().map_or(1, |mark| mark.0 + 1);
        let last = slice.until().map_or(95, |mark| mark.0);
        for mark in (first..=last).filter(|mark| *mark < 20) {
            out.emit(&Marked { mark: Mark(mark) })?;
        }
        Ok(())
    }

    fn end(&mut self) -> Result<Option<Mark>, Error> {
        Ok(Some(Mark(95)))
    }
}

/// A source whose cursor type panics as a STATE at 20 or above is written.
struct PanickingState;

impl Source for PanickingState {
    const NAME: &'static str = "source-panicking-state";
    type Config = SeqConfig;

    fn streams<'a>(&'a self, config: &'a SeqConfig) -> Result<Streams<'a>, Error> {
        let streams = Streams::new().concurrency(2).concurrent(Beats);
        Ok(if config.concurrent {
            streams.concurrent(Marks)
        } else {
            streams.stream(Marks)
        })
    }
}

#[test]
fn a_panic_writing_a_state_fails_its_stream_instead_of_hanging_the_run() {
    for concurrent in [false, true] {
        let output = read_or_hang(&PanickingState, &json!({ "concurrent": concurrent }));
        assert_eq!(
            output.exit_code, 1,
            "concurrent: {concurrent}\n{}",
            output.stdout
        );
        assert_eq!(
            output.statuses("marks").last(),
            Some(&StreamStatus::Incomplete),
            "concurrent: {concurrent}\n{}",
            output.stdout
        );
        let errors = output.traces(TraceType::Error);
        assert_eq!(errors.len(), 1, "{}", output.stdout);
        let error = errors[0].error.as_ref().expect("an error trace");
        assert!(
            error.message.contains("a mark past 20 exploded"),
            "concurrent: {concurrent}: {}",
            error.message
        );
        assert!(
            last_watermark(&output, "marks", "mark") < 20,
            "{}",
            output.stdout
        );
    }
}
