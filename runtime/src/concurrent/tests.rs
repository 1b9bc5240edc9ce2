//! The ledger against a model over generated finish orders; SIGTERM at a generated record
//! of a sync reading windows and partitions at once; the records in flight under a slow
//! stdout.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use proptest::prelude::*;
use serde_json::{Value, json};

use super::{Budget, CHUNK, Ledger};
use crate::emitter::Emitter;
use crate::state::InputState;
use crate::{Error, Partitions, Reader, Sink, Slice, Source, Streams};

/// Windows of 10 from `BASE`: window `i` is `(BASE + 10 i, BASE + 10 (i + 1)]`.
const BASE: u64 = 100;

/// What a window's reader tells the ledger.
#[derive(Debug, Clone, Copy)]
enum Event {
    /// A safe point inside the window, this far past its lower bound (1 to 9).
    Mark(u64),
    /// The window was read in full.
    Done,
}

fn lower(window: usize) -> u64 {
    BASE + 10 * window as u64
}

/// A schedule: whether a saved state (at `BASE`) is resumed from, each window's events (its
/// marks, then whether it finishes), the first window past the time cap (finishing with no
/// watermark, and without marks), and picks that interleave the windows' events.
fn schedule() -> impl Strategy<Value = (bool, Vec<Vec<Event>>, usize, Vec<usize>)> {
    let window = (proptest::collection::vec(1..10_u64, 0..4), any::<bool>()).prop_map(
        |(marks, finishes)| {
            let mut events: Vec<Event> = marks.into_iter().map(Event::Mark).collect();
            if finishes {
                events.push(Event::Done);
            }
            events
        },
    );
    (1..8_usize).prop_flat_map(move |windows| {
        (
            any::<bool>(),
            proptest::collection::vec(window.clone(), windows),
            0..=windows,
            proptest::collection::vec(any::<usize>(), 40),
        )
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 4096, failure_persistence: None, ..ProptestConfig::default() })]

    /// Whatever order windows finish in and whatever safe points they report, the ledger's
    /// mark is the model's (the largest watermark of the contiguous finished prefix, or the
    /// latest safe point inside the lowest unfinished window), never moves backwards, and
    /// never passes the lowest unfinished window's lower bound but by its own safe point.
    #[test]
    fn the_low_water_mark_is_the_contiguous_finished_prefix(
        (saved, mut windows, capped, picks) in schedule()
    ) {
        for events in &mut windows[capped..] {
            events.retain(|event| matches!(event, Event::Done));
        }
        let count = windows.len();
        let saved = saved.then_some(BASE);
        let mut ledger = Ledger::new(saved);
        let mut done = vec![false; count];
        let mut marked: Vec<Option<u64>> = vec![None; count];
        let mut next = vec![0_usize; count];
        let mut picks = picks.into_iter().cycle();
        let mut previous = saved;
        loop {
            let open: Vec<usize> = (0..count).filter(|&w| next[w] < windows[w].len()).collect();
            if open.is_empty() {
                break;
            }
            let window = open[picks.next().unwrap_or_default() % open.len()];
            let event = windows[window][next[window]];
            next[window] += 1;
            let upper = lower(window) + 10;
            match event {
                Event::Mark(offset) => {
                    let mark = lower(window) + offset;
                    marked[window] = marked[window].max(Some(mark));
                    ledger.mark(window, Some(mark));
                }
                Event::Done => {
                    done[window] = true;
                    ledger.done(window, (window < capped).then_some(upper));
                }
            }
            // The model.
            let head = done.iter().position(|done| !done).unwrap_or(count);
            let prefix = (0..head).filter(|&w| w < capped).map(|w| lower(w) + 10).max();
            let inside = marked.get(head).copied().flatten();
            let model = saved.max(prefix).max(inside);
            prop_assert_eq!(ledger.head(), head);
            prop_assert_eq!(ledger.low().copied(), model);
            prop_assert!(ledger.low().copied() >= previous, "the mark moved backwards");
            previous = ledger.low().copied();
            if head < count {
                let low = ledger.low().copied().unwrap_or(0);
                prop_assert!(
                    low <= lower(head) || inside.is_some_and(|inside| low <= inside),
                    "the mark {} passes the unfinished window {}",
                    low,
                    head
                );
                prop_assert!(low < lower(head) + 10, "the mark reaches an unfinished window's end");
            }
        }
    }
}

/// A record of a stream read in windows of 10 ids, a STATE at most every hour: within a
/// test, only the final one (or the safe one after a failure).
#[derive(Debug, Clone, serde::Serialize, schemars::JsonSchema)]
#[crate::incremental_stream(
    crate = "crate",
    name = "ticks",
    cursor = "id",
    primary_key = "id",
    step = 10,
    checkpoint_every = "PT1H"
)]
struct Tick {
    id: u64,
}

/// A record of a stream partitioned by `shard`, checkpointed every 3 records.
#[derive(Debug, Clone, serde::Serialize, schemars::JsonSchema)]
#[crate::incremental_stream(
    crate = "crate",
    name = "items",
    cursor = "id",
    partition = "shard",
    primary_key = ["shard", "id"],
    checkpoint_interval = 3
)]
struct Item {
    shard: u32,
    id: u64,
}

#[derive(serde::Deserialize, schemars::JsonSchema)]
struct Config {
    /// Ids of `ticks`: `1..=ticks`.
    ticks: u64,
    /// Shards of `items`, each with ids `1..=items`.
    shards: u32,
    items: u64,
    concurrency: usize,
}

/// A source whose readers set `stop` (as SIGTERM would) once `stop_at` records were
/// emitted, and count what they emit.
struct Stopping {
    stop: &'static AtomicBool,
    stop_at: u64,
    emitted: AtomicU64,
}

impl Stopping {
    fn emitted(&self) {
        if self.emitted.fetch_add(1, Ordering::Relaxed) + 1 == self.stop_at {
            self.stop.store(true, Ordering::Relaxed);
        }
        std::thread::yield_now();
    }
}

#[derive(Clone)]
struct Ticks<'s> {
    source: &'s Stopping,
    end: u64,
}

impl Reader<Tick> for Ticks<'_> {
    fn read(&mut self, slice: &Slice<Tick>, out: &mut Sink<Tick>) -> Result<(), Error> {
        let first = match slice.lower() {
            std::ops::Bound::Included(&id) => id.max(1),
            std::ops::Bound::Excluded(&id) => id + 1,
            std::ops::Bound::Unbounded => 1,
        };
        for id in first..=slice.until().copied().unwrap_or(self.end) {
            out.emit(&Tick { id })?;
            self.source.emitted();
        }
        Ok(())
    }

    fn start(&mut self) -> Result<Option<u64>, Error> {
        Ok(Some(0))
    }

    fn end(&mut self) -> Result<Option<u64>, Error> {
        Ok(Some(self.end))
    }
}

impl Source for Stopping {
    const NAME: &'static str = "source-stopping";
    type Config = Config;

    fn streams<'a>(&'a self, config: &'a Config) -> Result<Streams<'a>, Error> {
        Ok(Streams::new()
            .concurrency(config.concurrency)
            .concurrent(Ticks {
                source: self,
                end: config.ticks,
            })
            .concurrent_partitioned(
                Partitions::list(0..config.shards),
                move |slice: &Slice<Item>, out: &mut Sink<Item>| {
                    let shard = *slice.partition();
                    let first = slice.after().map_or(1, |id| id + 1);
                    for id in first..=config.items {
                        out.emit(&Item { shard, id })?;
                        self.emitted();
                    }
                    Ok(())
                },
            ))
    }
}

/// Runs `read` in-process with the SIGTERM flag `stop`: the exit code and stdout.
fn read_stoppable(source: &Stopping, config: &Value, state: Option<&Value>) -> (u8, String) {
    let catalog = crate::testing::incremental_catalog(source, config);
    let catalog = crate::input::parse_catalog(
        &serde_json::to_vec(&catalog).expect("a catalog serializes"),
        std::path::Path::new("catalog"),
    )
    .expect("a valid catalog");
    let state = state.map_or_else(InputState::default, |state| {
        InputState::from_json(state).expect("a valid state")
    });
    let (mut stdout, mut stderr) = (Vec::new(), Vec::new());
    let mut out = Emitter::new(&mut stdout);
    out.stop_on(source.stop);
    let code = crate::entrypoint::read(
        source,
        config.clone(),
        &catalog,
        &state,
        &mut out,
        &mut stderr,
    )
    .and_then(|code| out.flush().map(|()| code))
    .unwrap_or(1);
    drop(out);
    (code, String::from_utf8(stdout).expect("UTF-8"))
}

/// A stream's records `(partition, id)`, its STATEs' watermarks per partition, checked to
/// follow the records they cover with an exact `recordCount` and to never move backwards,
/// its statuses and its errors.
#[derive(Default, Debug)]
struct Seen {
    records: BTreeSet<(u64, u64)>,
    last: BTreeMap<u64, u64>,
    statuses: Vec<String>,
    errors: Vec<Value>,
}

fn watermarks(state: &Value) -> BTreeMap<u64, u64> {
    match state.get("states") {
        Some(states) => states
            .as_array()
            .into_iter()
            .flatten()
            .map(|entry| {
                let partition = entry["partition"].as_u64().expect("a shard");
                (partition, entry["cursor"]["id"].as_u64().expect("an id"))
            })
            .collect(),
        None => state["id"].as_u64().map(|id| (0, id)).into_iter().collect(),
    }
}

/// Reads stdout stream by stream, checking properties 3, 5 and 6 (a resumed sync starts
/// from `from`, whose records it must not send again).
fn seen(stdout: &str, from: &BTreeMap<String, BTreeMap<u64, u64>>) -> BTreeMap<String, Seen> {
    let mut streams: BTreeMap<String, Seen> = BTreeMap::new();
    let mut since: BTreeMap<String, u64> = BTreeMap::new();
    let name = |value: &Value| value.as_str().expect("a name").to_owned();
    for line in stdout.lines() {
        let message: Value = serde_json::from_str(line).expect("a JSON line");
        match message["type"].as_str().expect("a type") {
            "RECORD" => {
                let stream = name(&message["record"]["stream"]);
                let data = &message["record"]["data"];
                let key = (
                    data["shard"].as_u64().unwrap_or(0),
                    data["id"].as_u64().expect("id"),
                );
                let mark = from.get(&stream).and_then(|marks| marks.get(&key.0));
                assert!(
                    mark.is_none_or(|&mark| key.1 > mark),
                    "{stream} {key:?} sent again"
                );
                let fresh = streams
                    .entry(stream.clone())
                    .or_default()
                    .records
                    .insert(key);
                assert!(fresh, "{stream} {key:?} twice");
                *since.entry(stream).or_default() += 1;
            }
            "STATE" => {
                let state = &message["state"];
                let stream = name(&state["stream"]["stream_descriptor"]["name"]);
                let count = since.remove(&stream).unwrap_or(0);
                #[expect(clippy::cast_precision_loss, reason = "a few hundred records")]
                let count = count as f64;
                assert_eq!(
                    state["sourceStats"]["recordCount"].as_f64(),
                    Some(count),
                    "{line}"
                );
                let seen = streams.entry(stream.clone()).or_default();
                for (partition, mark) in watermarks(&state["stream"]["stream_state"]) {
                    let before = from.get(&stream).and_then(|marks| marks.get(&partition));
                    let previous = seen.last.get(&partition).or(before);
                    assert!(
                        previous.is_none_or(|&previous| mark >= previous),
                        "backwards: {line}"
                    );
                    for id in before.map_or(1, |before| before + 1)..=mark {
                        assert!(
                            seen.records.contains(&(partition, id)),
                            "{line} before {stream} {partition}/{id}:\n{stdout}"
                        );
                    }
                    seen.last.insert(partition, mark);
                }
            }
            "TRACE" => {
                let trace = &message["trace"];
                if let Some(status) = trace["stream_status"]["status"].as_str() {
                    let stream = name(&trace["stream_status"]["stream_descriptor"]["name"]);
                    streams
                        .entry(stream)
                        .or_default()
                        .statuses
                        .push(status.to_owned());
                }
                if trace["type"] == "ERROR" {
                    let stream = name(&trace["error"]["stream_descriptor"]["name"]);
                    streams
                        .entry(stream)
                        .or_default()
                        .errors
                        .push(trace["error"].clone());
                }
            }
            _ => {}
        }
    }
    streams
}

/// The largest `m` with every id `1..=m` of `partition` in `records`.
fn contiguous(records: &BTreeSet<(u64, u64)>, partition: u64) -> u64 {
    let mut m = 0;
    while records.contains(&(partition, m + 1)) {
        m += 1;
    }
    m
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, failure_persistence: None, ..ProptestConfig::default() })]

    /// SIGTERM after any record: every stream being read stops with its safe state flushed
    /// (every partition, or the low-water mark, at most one id short of what was emitted
    /// without a gap, since the last id may have a tie still to come), INCOMPLETE and one
    /// TRACE ERROR naming the signal; the next sync completes without loss and without
    /// sending a committed record again.
    #[test]
    fn sigterm_after_any_record_flushes_every_safe_state_and_the_next_sync_loses_nothing(
        stop_at in 1..=88_u64,
        concurrency in 1..9_usize,
    ) {
        static STOP: AtomicBool = AtomicBool::new(false);
        STOP.store(false, Ordering::Relaxed);
        let config = json!({"ticks": 40, "shards": 4, "items": 12, "concurrency": concurrency});
        let source = Stopping { stop: &STOP, stop_at, emitted: AtomicU64::new(0) };
        let (code, stdout) = read_stoppable(&source, &config, None);
        let streams = seen(&stdout, &BTreeMap::new());
        let stopped: Vec<&String> = streams
            .iter()
            .filter(|(_, seen)| !seen.errors.is_empty())
            .map(|(name, _)| name)
            .collect();
        // Both streams are read at the same time: each one either completed (its last
        // record came before the flag) or stopped with one TRACE ERROR naming the signal.
        prop_assert_eq!(code == 1, !stopped.is_empty(), "{}", stdout);
        for (name, seen) in &streams {
            if seen.errors.is_empty() {
                prop_assert_eq!(seen.statuses.last().map(String::as_str), Some("COMPLETE"), "{}", name);
            } else {
                prop_assert_eq!(seen.errors.len(), 1);
                prop_assert_eq!(&seen.errors[0]["failure_type"], "transient_error");
                prop_assert!(seen.errors[0]["message"].as_str().is_some_and(|m| m.contains("SIGTERM")));
                prop_assert_eq!(seen.statuses.last().map(String::as_str), Some("INCOMPLETE"));
            }
        }
        for (name, seen) in &streams {
            let partitions: Vec<u64> = if name == "ticks" { vec![0] } else { (0..4).collect() };
            for partition in partitions {
                let m = contiguous(&seen.records, partition);
                let mark = seen.last.get(&partition).copied().unwrap_or(0);
                prop_assert!(
                    mark + 1 >= m,
                    "{} partition {}: the last STATE is at {} though 1..={} were emitted:\n{}",
                    name, partition, mark, m, stdout
                );
            }
        }

        // The next sync, from the last state a destination kept.
        let mut state: Vec<Value> = Vec::new();
        for line in stdout.lines() {
            let message: Value = serde_json::from_str(line).expect("JSON");
            if message["type"] == "STATE" {
                let descriptor = &message["state"]["stream"]["stream_descriptor"];
                state.retain(|kept| kept["stream"]["stream_descriptor"] != *descriptor);
                state.push(message["state"].clone());
            }
        }
        let from: BTreeMap<String, BTreeMap<u64, u64>> =
            streams.iter().map(|(name, seen)| (name.clone(), seen.last.clone())).collect();
        STOP.store(false, Ordering::Relaxed);
        let rested = Stopping { stop: &STOP, stop_at: 0, emitted: AtomicU64::new(0) };
        let (code, resumed) = read_stoppable(&rested, &config, Some(&Value::Array(state)));
        prop_assert_eq!(code, 0, "{}", resumed);
        let again = seen(&resumed, &from);
        let all = |name: &str| -> BTreeSet<(u64, u64)> {
            streams.get(name).into_iter().chain(again.get(name)).flat_map(|s| s.records.iter().copied()).collect()
        };
        prop_assert_eq!(all("ticks"), (1..=40).map(|id| (0, id)).collect::<BTreeSet<_>>());
        prop_assert_eq!(
            all("items"),
            (0..4).flat_map(|shard| (1..=12).map(move |id| (shard, id))).collect::<BTreeSet<_>>()
        );
    }
}

/// A stdout that takes a millisecond per write, and counts the records written.
struct Slow<'c> {
    written: u64,
    emitted: &'c AtomicU64,
    /// The most records emitted and not yet written, seen at a write.
    in_flight: u64,
}

impl Write for Slow<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let emitted = self.emitted.load(Ordering::Relaxed);
        self.in_flight = self.in_flight.max(emitted.saturating_sub(self.written));
        std::thread::sleep(std::time::Duration::from_millis(1));
        let records = buf
            .split(|&byte| byte == b'\n')
            .filter(|line| line.starts_with(br#"{"type":"RECORD""#))
            .count();
        self.written += records as u64;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A record of a stream read in windows of 50,000 ids, a STATE at each window's end.
#[derive(Debug, Clone, serde::Serialize, schemars::JsonSchema)]
#[crate::incremental_stream(crate = "crate", name = "bulk", cursor = "id", step = 50_000)]
struct Bulk {
    id: u64,
}

/// Emits ids `1..=end`, counting them.
#[derive(Clone)]
struct Bulky<'e> {
    end: u64,
    emitted: &'e AtomicU64,
}

impl Reader<Bulk> for Bulky<'_> {
    fn read(&mut self, slice: &Slice<Bulk>, out: &mut Sink<Bulk>) -> Result<(), Error> {
        let first = slice.after().map_or(1, |id| id + 1);
        for id in first..=slice.until().copied().unwrap_or(self.end) {
            out.emit(&Bulk { id })?;
            self.emitted.fetch_add(1, Ordering::Relaxed);
        }
        Ok(())
    }

    fn start(&mut self) -> Result<Option<u64>, Error> {
        Ok(Some(0))
    }

    fn end(&mut self) -> Result<Option<u64>, Error> {
        Ok(Some(self.end))
    }
}

/// Reads `stream` as a run reads a stream registered to be read concurrently (on a thread
/// of its own, its output forwarded to `out`), with up to `limit` readers at once; the
/// stream's failure, if any.
fn read_detached(
    stream: &mut dyn crate::source::ErasedStream,
    limit: usize,
    out: &mut Emitter<'_>,
) -> Option<Error> {
    stream
        .load_state(
            crate::protocol::SyncMode::Incremental,
            &InputState::default(),
        )
        .expect("no state");
    let budget = Budget::new(limit);
    let descriptor = stream.descriptor();
    let job = stream
        .detach(chrono::Utc::now(), &budget)
        .expect("read concurrently");
    let mut failure = None;
    super::run_jobs(vec![(descriptor, job)], out, |_, error, _| {
        failure = Some(Error::system(error.to_string()));
        Ok(())
    })
    .expect("the output works");
    out.flush().expect("flushed");
    failure
}

/// Readers far faster than stdout are held back: the records emitted and not yet written
/// never exceed what the workers, the channels and the output buffers hold, a bound that
/// does not grow with the number of records.
#[test]
fn records_in_flight_are_bounded_when_stdout_is_slow() {
    const RECORDS: u64 = 200_000;
    let concurrency = 4;
    let emitted = AtomicU64::new(0);
    let reader = Bulky {
        end: RECORDS,
        emitted: &emitted,
    };
    let mut streams = Streams::new().concurrency(concurrency).concurrent(reader);
    let stream = streams
        .find(&crate::protocol::StreamDescriptor::new("bulk", None))
        .expect("bulk");
    let mut slow = Slow {
        written: 0,
        emitted: &emitted,
        in_flight: 0,
    };
    let mut out = Emitter::new(&mut slow);
    if let Some(error) = read_detached(stream, concurrency, &mut out) {
        panic!("the stream failed: {error}");
    }
    drop(out);
    assert_eq!(slow.written, RECORDS);
    // In bytes: each worker's chunk, and at most two per worker in its channel and one
    // being written (a chunk is at most CHUNK and a record); the stream's emitter buffer;
    // two writes of it in the run's channel and one being forwarded (each at most its
    // buffer and a chunk); the run's emitter buffer. A record line here is at least 60
    // bytes.
    let (chunk, buffer) = (CHUNK as u64 + 100, 64 * 1024 + 4096);
    let workers = concurrency as u64;
    let bytes = chunk * (3 * workers + 1) + buffer + 3 * (buffer + chunk) + buffer;
    let bound = bytes / 60;
    assert!(
        slow.in_flight <= bound,
        "{} records in flight, more than {bound}",
        slow.in_flight
    );
    assert!(
        bound < RECORDS / 4,
        "the bound is far below the records read"
    );
}

/// A record of a stream partitioned by `shard`, each partition read in windows of 10.
#[derive(Debug, Clone, serde::Serialize, schemars::JsonSchema)]
#[crate::incremental_stream(
    crate = "crate",
    name = "shards",
    cursor = "id",
    partition = "shard",
    step = 10
)]
struct Shard {
    shard: u32,
    id: u64,
}

/// A stdout that keeps what is written and says when a STATE holding partition 1 came.
struct Watching<'f> {
    written: Vec<u8>,
    state_of_1: &'f AtomicBool,
}

impl Write for Watching<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.written.extend_from_slice(buf);
        let text = String::from_utf8_lossy(buf);
        if text
            .lines()
            .any(|line| line.contains(r#""type":"STATE""#) && line.contains(r#""partition":1"#))
        {
            self.state_of_1.store(true, Ordering::SeqCst);
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Waits (at most 10 s, so that a broken runtime fails the test rather than hanging it)
/// until `flag` is set.
fn wait_for(flag: &AtomicBool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !flag.load(Ordering::SeqCst) && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
}

/// Partition 0 finishes its first window (a STATE at 10), then, in its second, sends its
/// records (by `Sink::wait`) while its safe point inside the window is still the one of the
/// first (2, below 10). Partition 1's STATE, written then, must keep partition 0 at 10.
#[test]
fn a_partition_safe_point_below_its_finished_window_does_not_move_it_back() {
    let (waited, state_of_1) = (AtomicBool::new(false), AtomicBool::new(false));
    let reader = |slice: &Slice<Shard>, out: &mut Sink<Shard>| -> Result<(), Error> {
        let shard = *slice.partition();
        match (shard, slice.until()) {
            (0, Some(10)) => {
                out.emit(&Shard { shard, id: 1 })?;
                out.emit(&Shard { shard, id: 2 })?;
            }
            (0, _) => {
                out.emit(&Shard { shard, id: 12 })?;
                out.wait(std::time::Duration::ZERO)?;
                waited.store(true, Ordering::SeqCst);
                wait_for(&state_of_1);
            }
            _ => {
                wait_for(&waited);
                out.emit(&Shard { shard, id: 5 })?;
            }
        }
        Ok(())
    };
    let reader = Bounded(reader);
    let mut streams = Streams::new()
        .concurrency(2)
        .concurrent_partitioned(Partitions::list([0, 1]), reader);
    let stream = streams
        .find(&crate::protocol::StreamDescriptor::new("shards", None))
        .expect("shards");
    let mut stdout = Watching {
        written: Vec::new(),
        state_of_1: &state_of_1,
    };
    let mut out = Emitter::new(&mut stdout);
    let failure = read_detached(stream, 2, &mut out);
    assert!(failure.is_none(), "{failure:?}");
    drop(out);
    let stdout = String::from_utf8(stdout.written).expect("UTF-8");
    assert!(state_of_1.load(Ordering::SeqCst), "{stdout}");
    let mut previous = 0;
    for line in stdout
        .lines()
        .filter(|line| line.contains(r#""type":"STATE""#))
    {
        let message: Value = serde_json::from_str(line).expect("JSON");
        let marks = watermarks(&message["state"]["stream"]["stream_state"]);
        let mark = marks.get(&0).copied().unwrap_or(0);
        assert!(
            mark >= previous,
            "partition 0 moved back to {mark}:\n{stdout}"
        );
        previous = mark;
    }
    assert_eq!(previous, 20, "{stdout}");
}

/// Partition 0 sends its records up to 5 (by `Sink::wait`) past its checkpoint at 3, so
/// that partition 1's STATE holds it at 4; then its source breaks the order. Its last STATE
/// must keep 4, what was already claimed, not fall back to its checkpoint.
#[test]
fn a_partition_that_fails_after_its_records_were_claimed_keeps_its_claim() {
    let (waited, state_of_1) = (AtomicBool::new(false), AtomicBool::new(false));
    let reader = |slice: &Slice<Item>, out: &mut Sink<Item>| -> Result<(), Error> {
        let shard = *slice.partition();
        if shard == 0 {
            for id in 1..=5 {
                out.emit(&Item { shard, id })?;
            }
            out.wait(std::time::Duration::ZERO)?;
            waited.store(true, Ordering::SeqCst);
            wait_for(&state_of_1);
            out.emit(&Item { shard, id: 1 })?;
        } else {
            wait_for(&waited);
            for id in 1..=3 {
                out.emit(&Item { shard, id })?;
            }
        }
        Ok(())
    };
    let mut streams = Streams::new()
        .concurrency(2)
        .concurrent_partitioned(Partitions::list([0, 1]), reader);
    let stream = streams
        .find(&crate::protocol::StreamDescriptor::new("items", None))
        .expect("items");
    let mut stdout = Watching {
        written: Vec::new(),
        state_of_1: &state_of_1,
    };
    let mut out = Emitter::new(&mut stdout);
    let failure = read_detached(stream, 2, &mut out).expect("the stream fails");
    assert!(
        failure
            .to_string()
            .contains("broke its declared cursor order"),
        "{failure}"
    );
    drop(out);
    let stdout = String::from_utf8(stdout.written).expect("UTF-8");
    let marks: Vec<u64> = stdout
        .lines()
        .filter(|line| line.contains(r#""type":"STATE""#))
        .map(|line| {
            let message: Value = serde_json::from_str(line).expect("JSON");
            let marks = watermarks(&message["state"]["stream"]["stream_state"]);
            marks.get(&0).copied().unwrap_or(0)
        })
        .collect();
    assert!(marks.contains(&4), "{stdout}");
    assert!(
        marks.windows(2).all(|pair| pair[0] <= pair[1]),
        "partition 0 moved back: {marks:?}\n{stdout}"
    );
}

/// A reader closure with the bounds `start` 0 and `end` 20.
#[derive(Clone)]
struct Bounded<F>(F);

impl<F> Reader<Shard> for Bounded<F>
where
    F: FnMut(&Slice<Shard>, &mut Sink<Shard>) -> Result<(), Error> + Clone + Send,
{
    fn read(&mut self, slice: &Slice<Shard>, out: &mut Sink<Shard>) -> Result<(), Error> {
        (self.0)(slice, out)
    }

    fn start(&mut self) -> Result<Option<u64>, Error> {
        Ok(Some(0))
    }

    fn end(&mut self) -> Result<Option<u64>, Error> {
        Ok(Some(20))
    }
}

#[test]
fn marks_of_finished_windows_and_empty_marks_change_nothing() {
    let mut ledger = Ledger::new(Some(5));
    ledger.done(0, Some(10));
    ledger.mark(0, Some(20));
    ledger.mark(1, None);
    ledger.done(1, None);
    assert_eq!((ledger.head(), ledger.low()), (2, Some(&10)));
    ledger.done(1, Some(30));
    assert_eq!((ledger.head(), ledger.low()), (2, Some(&10)));
}

#[test]
fn a_window_that_broke_its_order_withdraws_its_safe_points_but_not_finished_windows() {
    let mut ledger = Ledger::new(Some(5));
    ledger.mark(0, Some(8));
    ledger.mark(1, Some(14));
    assert_eq!(ledger.low(), Some(&8));
    // Window 0 broke its order after its safe point at 8: the mark goes back to the saved 5.
    ledger.forget(0);
    assert_eq!(ledger.low(), Some(&5));
    // A window that finished keeps what it reached; the next one's safe point counts again.
    let mut ledger = Ledger::new(None);
    ledger.mark(0, Some(3));
    ledger.done(0, Some(10));
    ledger.mark(1, Some(14));
    assert_eq!((ledger.head(), ledger.low()), (1, Some(&14)));
    ledger.forget(1);
    assert_eq!(ledger.low(), Some(&10));
}
