//! Concurrent reading under generated schedules: windows and partitions whose readers sleep,
//! yield, fail, panic or break their order at generated records, with ties and empty windows,
//! at concurrency 1 to 8, under every checkpoint policy. Each case runs a chain of syncs (each
//! with its own faults, then none) and checks every sync's output line by line, then runs the
//! crash matrix on the schedule without faults and from the state the faults left.
//!
//! What is checked, per stream and, for a partitioned one, per partition:
//! 1. no loss: over the chain, every record of the data arrives;
//! 2. nothing at or below the watermark a sync resumed from is sent again;
//! 3. every STATE follows every record it covers;
//! 4. the low-water mark never passes an unfinished window: a STATE's watermark is at most the
//!    lower bound of the lowest window whose reader had not returned before it, or strictly
//!    inside that window (a checkpoint in it). A window's reader reports its return with an
//!    ESTIMATE of its upper bound, which the runtime writes before it can mark the window done;
//! 5. every STATE's `recordCount` is the number of records since the previous one;
//! 6. watermarks never move backwards;
//! 7. a sync whose faults fired exits 1, with one TRACE ERROR naming the fault that fired (not
//!    the stop of the other readers) and the stream INCOMPLETE; a sync without one completes.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use proptest::prelude::*;
use serde_json::{Value, json};
use tidemark::testing::{self, CrashTest, Output, incremental_catalog};
use tidemark::{Error, IncrementalStream, Partitions, Reader, Sink, Slice, Source, Streams};

/// Ids per block: a block is a window of the first sync (windows are `step = 10` from 0).
const BLOCK: u64 = 10;

/// A record type of a generated stream: a cursor `id`, a tie number `n`, and for a
/// partitioned stream its `shard`.
pub trait Scripted: IncrementalStream<Cursor = u64> + Clone + 'static {
    /// Whether the reader returns a slice's records in ascending order.
    const SORTED: bool = true;
    fn make(shard: u32, id: u64, n: u32) -> Self;
    fn shard(slice: &Slice<'_, Self>) -> u32;
}

macro_rules! windowed {
    ($($name:ident: $stream:literal, $sorted:literal, { $($key:tt)* } ;)*) => {$(
        #[derive(Debug, Clone, PartialEq, serde::Serialize, schemars::JsonSchema)]
        #[tidemark::incremental_stream(
            name = $stream, cursor = "id", primary_key = ["id", "n"], step = 10, $($key)*
        )]
        pub struct $name {
            id: u64,
            n: u32,
        }

        impl Scripted for $name {
            const SORTED: bool = $sorted;
            fn make(_shard: u32, id: u64, n: u32) -> Self {
                $name { id, n }
            }
            fn shard(_slice: &Slice<'_, Self>) -> u32 {
                0
            }
        }
    )*};
}

macro_rules! partitioned {
    ($($name:ident: $stream:literal, $sorted:literal, { $($key:tt)* } ;)*) => {$(
        #[derive(Debug, Clone, PartialEq, serde::Serialize, schemars::JsonSchema)]
        #[tidemark::incremental_stream(
            name = $stream, cursor = "id", partition = "shard",
            primary_key = ["shard", "id", "n"], $($key)*
        )]
        pub struct $name {
            shard: u32,
            id: u64,
            n: u32,
        }

        impl Scripted for $name {
            const SORTED: bool = $sorted;
            fn make(shard: u32, id: u64, n: u32) -> Self {
                $name { shard, id, n }
            }
            fn shard(slice: &Slice<'_, Self>) -> u32 {
                *slice.partition()
            }
        }
    )*};
}

/// Streams declared through the macros above: their state accessors, spanned in this file,
/// are unused.
#[expect(
    dead_code,
    reason = "the generated state accessors are not called by these tests"
)]
mod declared {
    use super::{Scripted, Slice};

    windowed! {
        Win: "win", true, { checkpoint = "slice" };
        WinEvery: "win_every", true, { checkpoint_interval = 3 };
        WinOne: "win_one", true, { checkpoint_interval = 1 };
        WinEnd: "win_end", true, { checkpoint = "end" };
        WinUnsorted: "win_unsorted", false, { order = "unsorted" };
        WinPeriod: "win_period", true, { checkpoint_interval = 2, checkpoint_every = "PT0.001S" };
        WinHourly: "win_hourly", true, { checkpoint_every = "PT1H" };
    }

    partitioned! {
        Part: "part", true, { checkpoint_interval = 2 };
        PartEnd: "part_end", true, { checkpoint = "end" };
        PartWin: "part_win", true, { step = 10 };
        PartUnsorted: "part_unsorted", false, { order = "unsorted" };
        PartPeriod: "part_period", true, { checkpoint_interval = 2, checkpoint_every = "PT0.001S" };
    }
}

use declared::{
    Part, PartEnd, PartPeriod, PartUnsorted, PartWin, Win, WinEnd, WinEvery, WinHourly, WinOne,
    WinPeriod, WinUnsorted,
};

/// Which stream a schedule drives.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Win,
    WinEvery,
    WinOne,
    WinEnd,
    WinUnsorted,
    WinPeriod,
    WinHourly,
    Part,
    PartEnd,
    PartWin,
    PartUnsorted,
    PartPeriod,
}

impl Kind {
    fn partitioned(self) -> bool {
        matches!(
            self,
            Kind::Part | Kind::PartEnd | Kind::PartWin | Kind::PartUnsorted | Kind::PartPeriod
        )
    }

    /// Whether the stream is read in windows of `BLOCK` ids.
    fn windowed(self) -> bool {
        !matches!(
            self,
            Kind::Part | Kind::PartEnd | Kind::PartUnsorted | Kind::PartPeriod
        )
    }
}

/// A block of `BLOCK` ids: which exist, which have a second record with the same cursor, and
/// how its reader dawdles before it.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
pub struct Block {
    /// Bit `j`: id `j + 1` of the block exists.
    ids: u16,
    /// Bit `j`: id `j + 1` has a tie (a second record, `n = 1`).
    ties: u16,
    /// 0: nothing, 1: yield, 2 and 3: sleep that many milliseconds less one.
    delay: u8,
    /// Bit `j`: after the `j`-th record, `Sink::wait` (which sends the records held so far,
    /// with the safe point after them).
    flush: u16,
}

/// How a reader breaks down.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum How {
    /// Returns an error.
    Error,
    /// Panics.
    Panic,
    /// Emits a record below one it emitted (an error where the order is not promised).
    Disorder,
}

/// A fault at the `at`-th record of block `block` (its end when there are fewer).
#[derive(Debug, Clone, Copy, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
pub struct Fault {
    block: usize,
    at: usize,
    how: How,
}

/// A schedule: the data, the readers at once, and this sync's faults.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
pub struct Plan {
    kind: Kind,
    concurrency: usize,
    /// Partitions `0..shards` (1 for an unpartitioned stream), each with `blocks.len() /
    /// shards` consecutive blocks.
    shards: u32,
    blocks: Vec<Block>,
    #[serde(default)]
    faults: Vec<Fault>,
}

impl Plan {
    fn per_shard(&self) -> usize {
        self.blocks.len() / self.shards as usize
    }

    /// The last id of every partition.
    fn end(&self) -> u64 {
        self.per_shard() as u64 * BLOCK
    }

    /// The records of block `index` of `shard`, in ascending order: `(id, n)`.
    fn block_records(&self, shard: u32, index: usize) -> Vec<(u64, u32)> {
        let block = &self.blocks[shard as usize * self.per_shard() + index];
        let mut records = Vec::new();
        for j in 0..BLOCK {
            if block.ids & (1 << j) != 0 {
                let id = index as u64 * BLOCK + j + 1;
                records.push((id, 0));
                if block.ties & (1 << j) != 0 {
                    records.push((id, 1));
                }
            }
        }
        records
    }

    /// Every record of the data: `(shard, id, n)`.
    fn records(&self) -> BTreeSet<(u32, u64, u32)> {
        (0..self.shards)
            .flat_map(|shard| {
                (0..self.per_shard()).flat_map(move |index| {
                    self.block_records(shard, index)
                        .into_iter()
                        .map(move |(id, n)| (shard, id, n))
                })
            })
            .collect()
    }

    fn config(&self, faults: &[Fault]) -> Value {
        let mut plan = self.clone();
        plan.faults = faults.to_vec();
        serde_json::to_value(plan).expect("a plan serializes")
    }
}

/// What a slice's reader reports, in an ESTIMATE, when it returns: its partition and upper
/// bound.
fn finished(shard: u32, upper: u64) -> u64 {
    u64::from(shard) * 1_000_000 + upper
}

/// Reads a slice of a generated stream as its schedule says; counts the faults that fired.
#[derive(Clone)]
struct Script<'a> {
    plan: &'a Plan,
    fired: &'a AtomicUsize,
}

impl<S: Scripted> Reader<S> for Script<'_> {
    fn read(&mut self, slice: &Slice<'_, S>, out: &mut Sink<'_, S>) -> Result<(), Error> {
        let plan = self.plan;
        let shard = S::shard(slice);
        let mut emitted: Option<(u64, u64)> = None;
        for index in 0..plan.per_shard() {
            let mut records = plan.block_records(shard, index);
            let touches = records.iter().any(|(id, _)| slice.contains(id))
                || slice.contains(&(index as u64 * BLOCK + 1));
            if !touches {
                continue;
            }
            let Block { delay, flush, .. } = plan.blocks[shard as usize * plan.per_shard() + index];
            match delay {
                0 => {}
                1 => std::thread::yield_now(),
                delay => std::thread::sleep(Duration::from_millis(u64::from(delay) - 1)),
            }
            if !S::SORTED {
                records.reverse();
            }
            let block = shard as usize * plan.per_shard() + index;
            for at in 0..=records.len() {
                if let Some(fault) = plan
                    .faults
                    .iter()
                    .find(|fault| fault.block == block && fault.at.min(records.len()) == at)
                {
                    self.fired.fetch_add(1, Ordering::Relaxed);
                    match fault.how {
                        How::Panic => panic!("scheduled panic in block {block}"),
                        How::Disorder if S::SORTED => {
                            if let Some((lowest, last)) = emitted
                                && lowest < last
                            {
                                out.emit(&S::make(shard, lowest, 7))?;
                            }
                            return Err(Error::transient(format!(
                                "scheduled failure in block {block}"
                            )));
                        }
                        How::Error | How::Disorder => {
                            return Err(Error::transient(format!(
                                "scheduled failure in block {block}"
                            )));
                        }
                    }
                }
                let Some(&(id, n)) = records.get(at) else {
                    break;
                };
                if slice.contains(&id) {
                    out.emit(&S::make(shard, id, n))?;
                    emitted = Some(emitted.map_or((id, id), |(low, _)| (low, id)));
                    if flush & (1 << (at % 16)) != 0 {
                        out.wait(Duration::ZERO)?;
                    }
                }
            }
        }
        if let Some(&upper) = slice.until() {
            // The slice's reader returns: the runtime marks it done after this.
            out.estimate(finished(shard, upper))?;
        }
        Ok(())
    }

    fn start(&mut self) -> Result<Option<u64>, Error> {
        Ok(Some(0))
    }

    fn end(&mut self) -> Result<Option<u64>, Error> {
        Ok(Some(self.plan.end()))
    }
}

/// A source with one generated stream.
#[derive(Default)]
struct Generated {
    fired: AtomicUsize,
}

impl Source for Generated {
    const NAME: &'static str = "source-generated";
    type Config = Plan;

    fn streams<'a>(&'a self, plan: &'a Plan) -> Result<Streams<'a>, Error> {
        let reader = Script {
            plan,
            fired: &self.fired,
        };
        let streams = Streams::new().concurrency(plan.concurrency);
        let shards = Partitions::list(0..plan.shards);
        Ok(match plan.kind {
            Kind::Win => streams.concurrent::<Win, _>(reader),
            Kind::WinEvery => streams.concurrent::<WinEvery, _>(reader),
            Kind::WinOne => streams.concurrent::<WinOne, _>(reader),
            Kind::WinEnd => streams.concurrent::<WinEnd, _>(reader),
            Kind::WinUnsorted => streams.concurrent::<WinUnsorted, _>(reader),
            Kind::WinPeriod => streams.concurrent::<WinPeriod, _>(reader),
            Kind::WinHourly => streams.concurrent::<WinHourly, _>(reader),
            Kind::Part => streams.concurrent_partitioned::<Part, _>(shards, reader),
            Kind::PartEnd => streams.concurrent_partitioned::<PartEnd, _>(shards, reader),
            Kind::PartWin => streams.concurrent_partitioned::<PartWin, _>(shards, reader),
            Kind::PartPeriod => streams.concurrent_partitioned::<PartPeriod, _>(shards, reader),
            Kind::PartUnsorted => streams.concurrent_partitioned::<PartUnsorted, _>(shards, reader),
        })
    }
}

/// Each partition's watermark in a `stream_state` (partition 0 for an unpartitioned stream).
fn watermarks(state: &Value) -> BTreeMap<u32, u64> {
    match state.get("states") {
        Some(states) => states
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|entry| {
                let shard = u32::try_from(entry["partition"].as_u64()?).ok()?;
                Some((shard, entry["cursor"]["id"].as_u64()?))
            })
            .collect(),
        None => state["id"].as_u64().map(|id| (0, id)).into_iter().collect(),
    }
}

/// What one sync's output shows, checked line by line (properties 2 to 7).
struct Checked {
    /// The records, `(shard, id, n)`.
    records: Vec<(u32, u64, u32)>,
    /// The last STATE's watermarks, if any STATE came.
    last: Option<BTreeMap<u32, u64>>,
}

/// Checks one sync that resumed from watermarks `from`, with `fired` faults fired.
fn check_sync(
    plan: &Plan,
    from: &BTreeMap<u32, u64>,
    output: &Output,
    fired: usize,
) -> Result<Checked, TestCaseError> {
    let data = plan.records();
    let stream = serde_json::to_value(plan.kind).expect("a kind serializes");
    let mut records = Vec::new();
    let mut seen = BTreeSet::new();
    let mut since_state = 0_u64;
    let mut finished = BTreeSet::new();
    let mut moved = from.clone();
    let mut last = None;
    let mut statuses = Vec::new();
    let mut errors = Vec::new();
    for line in output.stdout.lines() {
        let message: Value = serde_json::from_str(line).expect("a JSON line");
        match message["type"].as_str() {
            Some("RECORD") => {
                let data_line = &message["record"]["data"];
                let key = (
                    data_line["shard"]
                        .as_u64()
                        .map_or(0, |shard| u32::try_from(shard).expect("a shard")),
                    data_line["id"].as_u64().expect("an id"),
                    u32::try_from(data_line["n"].as_u64().expect("a tie number")).expect("n"),
                );
                prop_assert!(data.contains(&key), "a record not in the data: {key:?}");
                prop_assert!(seen.insert(key), "{key:?} twice in one sync");
                prop_assert!(
                    from.get(&key.0).is_none_or(|&mark| key.1 > mark),
                    "{key:?} sent again at or below the watermark resumed from ({from:?})"
                );
                records.push(key);
                since_state += 1;
            }
            Some("STATE") => {
                let state = &message["state"];
                prop_assert_eq!(
                    &state["stream"]["stream_descriptor"]["name"],
                    &stream,
                    "a STATE of another stream"
                );
                #[expect(clippy::cast_precision_loss, reason = "a few hundred records")]
                let count = since_state as f64;
                prop_assert_eq!(
                    state["sourceStats"]["recordCount"].as_f64(),
                    Some(count),
                    "recordCount is not the records since the previous STATE: {}",
                    line
                );
                since_state = 0;
                let marks = watermarks(&state["stream"]["stream_state"]);
                for (&shard, &mark) in &marks {
                    let before = from.get(&shard).copied();
                    prop_assert!(
                        moved.get(&shard).is_none_or(|&previous| mark >= previous),
                        "partition {shard}'s watermark moved backwards to {mark}: {line}"
                    );
                    moved.insert(shard, mark);
                    for &(s, id, n) in data.range((shard, 0, 0)..=(shard, mark, u32::MAX)) {
                        prop_assert!(
                            before.is_some_and(|before| id <= before) || seen.contains(&(s, id, n)),
                            "a STATE claims {shard}/{mark} before ({s}, {id}, {n}) was emitted"
                        );
                    }
                    if !plan.kind.partitioned() && plan.kind.windowed() {
                        low_water_mark_holds(plan, before, &finished, mark)?;
                    }
                }
                last = Some(marks);
            }
            Some("TRACE") => {
                let trace = &message["trace"];
                match trace["type"].as_str() {
                    Some("ESTIMATE") => {
                        finished.insert(trace["estimate"]["row_estimate"].as_u64().expect("rows"));
                    }
                    Some("STREAM_STATUS") => {
                        statuses.push(trace["stream_status"]["status"].clone());
                    }
                    Some("ERROR") => errors.push(trace["error"].to_string()),
                    _ => {}
                }
            }
            _ => {}
        }
    }
    let ended = Ended {
        errors,
        statuses,
        since_state,
        last: last.as_ref(),
    };
    ends_as_it_should(plan, output, fired, &ended)?;
    if fired > 0 {
        safe_state_flushed(plan, from, &finished, last.as_ref(), &records)?;
    }
    Ok(Checked { records, last })
}

/// How a sync ended: its TRACE ERRORs, its stream statuses, the records after its last STATE
/// and that STATE's watermarks.
struct Ended<'a> {
    errors: Vec<String>,
    statuses: Vec<Value>,
    since_state: u64,
    last: Option<&'a BTreeMap<u32, u64>>,
}

/// Property 7: a sync whose faults fired fails with the fault's error, INCOMPLETE; one without
/// completes, its final STATE covering every record (and, for windows, at the end).
fn ends_as_it_should(
    plan: &Plan,
    output: &Output,
    fired: usize,
    ended: &Ended<'_>,
) -> Result<(), TestCaseError> {
    let Ended {
        errors,
        statuses,
        since_state,
        last,
    } = ended;
    if fired > 0 {
        prop_assert_eq!(output.exit_code, 1, "{}", output.stdout);
        prop_assert_eq!(errors.len(), 1, "one TRACE ERROR: {}", output.stdout);
        let error = &errors[0];
        prop_assert!(
            error.contains("scheduled") || error.contains("broke its declared cursor order"),
            "the error is the fault's, not the stop of the other readers: {}",
            error
        );
        prop_assert_eq!(statuses.last(), Some(&json!("INCOMPLETE")));
    } else {
        prop_assert_eq!(output.exit_code, 0, "{}", output.stdout);
        prop_assert!(errors.is_empty());
        prop_assert_eq!(statuses.last(), Some(&json!("COMPLETE")));
        prop_assert_eq!(*since_state, 0, "records after the final STATE");
        if !plan.kind.partitioned() {
            prop_assert_eq!(
                last.and_then(|marks| marks.get(&0)).copied(),
                Some(plan.end()),
                "the final STATE is the end"
            );
        }
    }
    Ok(())
}

/// After a failure, the last STATE holds what finished: for windows, at least the upper bound
/// of the contiguous windows whose readers returned; for partitions, at least the last record
/// of every partition whose reader returned. Nothing is claimed with `checkpoint = "end"`.
fn safe_state_flushed(
    plan: &Plan,
    from: &BTreeMap<u32, u64>,
    finished_slices: &BTreeSet<u64>,
    last: Option<&BTreeMap<u32, u64>>,
    records: &[(u32, u64, u32)],
) -> Result<(), TestCaseError> {
    let claimed = |shard: u32| {
        last.and_then(|marks| marks.get(&shard))
            .or(from.get(&shard))
            .copied()
            .unwrap_or(0)
    };
    match plan.kind {
        Kind::WinEnd | Kind::PartEnd => {}
        Kind::Part | Kind::PartWin | Kind::PartUnsorted | Kind::PartPeriod => {
            for shard in 0..plan.shards {
                let returned = finished_slices.contains(&finished(shard, plan.end()));
                let emitted = records
                    .iter()
                    .filter(|(s, _, _)| *s == shard)
                    .map(|&(_, id, _)| id)
                    .max();
                if returned && let Some(emitted) = emitted {
                    prop_assert!(
                        claimed(shard) >= emitted,
                        "partition {shard} was read to {emitted}, its last STATE says {}",
                        claimed(shard)
                    );
                }
            }
        }
        Kind::Win
        | Kind::WinEvery
        | Kind::WinOne
        | Kind::WinUnsorted
        | Kind::WinPeriod
        | Kind::WinHourly => {
            let origin = from.get(&0).copied().unwrap_or(0);
            let mut prefix = origin;
            for step in 1.. {
                let upper = (origin + step * BLOCK).min(plan.end());
                if prefix >= plan.end() || !finished_slices.contains(&upper) {
                    break;
                }
                prefix = upper;
            }
            prop_assert!(
                claimed(0) >= prefix,
                "the windows up to {prefix} finished, the last STATE says {}",
                claimed(0)
            );
        }
    }
    Ok(())
}

/// Property 4 for one STATE of a windowed stream resumed from `from`, given the upper bounds
/// of the windows whose readers returned before it: the watermark `mark` is at most the lower
/// bound of the lowest window not finished, or strictly inside it.
fn low_water_mark_holds(
    plan: &Plan,
    from: Option<u64>,
    finished: &BTreeSet<u64>,
    mark: u64,
) -> Result<(), TestCaseError> {
    let origin = from.unwrap_or(0);
    let end = plan.end();
    let mut lower = origin;
    let mut step = 1;
    loop {
        let upper = (origin + step * BLOCK).min(end);
        if lower >= end || !finished.contains(&upper) {
            prop_assert!(
                mark <= lower || mark < upper,
                "a STATE at {mark} passes the window ({lower}, {upper}], not finished \
                 (finished: {finished:?})"
            );
            return Ok(());
        }
        lower = upper;
        step += 1;
    }
}

fn read(plan: &Plan, faults: &[Fault], state: Option<&Value>) -> (Output, usize) {
    let source = Generated::default();
    let config = plan.config(faults);
    let catalog = incremental_catalog(&source, &config);
    let output = testing::read(&source, &config, &catalog, state);
    (output, source.fired.load(Ordering::Relaxed))
}

/// Runs a chain of syncs, the `i`-th with `attempts[i]` faults, then without until one
/// completes; checks each sync and that nothing was lost. Returns the state the faults left.
fn chain(plan: &Plan, attempts: &[Vec<Fault>]) -> Result<Option<Value>, TestCaseError> {
    let mut state: Option<Value> = None;
    let mut from = BTreeMap::new();
    let mut arrived = BTreeSet::new();
    let mut left = None;
    for attempt in 0..attempts.len() + 2 {
        let faults = attempts.get(attempt).map_or(&[][..], Vec::as_slice);
        let (output, fired) = read(plan, faults, state.as_ref());
        let checked = check_sync(plan, &from, &output, fired)?;
        arrived.extend(checked.records);
        if let Some(marks) = checked.last {
            from.extend(marks);
            state = Some(output.state_file_at(output.states().len() - 1));
        }
        if attempt + 1 == attempts.len() {
            left.clone_from(&state);
        }
        if output.exit_code == 0 {
            let lost: Vec<_> = plan.records().difference(&arrived).copied().collect();
            prop_assert!(lost.is_empty(), "records lost over the chain: {lost:?}");
            return Ok(left);
        }
        prop_assert!(!faults.is_empty(), "a sync without faults failed");
    }
    Err(TestCaseError::fail(
        "a sync without faults did not complete",
    ))
}

/// A schedule for `kind`: 1 to 6 windows, or 1 to 4 partitions of 1 to 3 blocks.
fn plan(kind: Kind) -> impl Strategy<Value = Plan> {
    let block =
        (0..1024_u16, 0..1024_u16, 0..4_u8, any::<u16>()).prop_map(|(ids, ties, delay, flush)| {
            Block {
                ids,
                // Few ties: a tie needs its id.
                ties: ties & ids & 0b10_0100_1001,
                delay,
                flush,
            }
        });
    let shape = if kind.partitioned() {
        (1..5_u32, 1..4_usize).boxed()
    } else {
        (Just(1_u32), 1..7_usize).boxed()
    };
    (shape, 1..9_usize).prop_flat_map(move |((shards, per_shard), concurrency)| {
        proptest::collection::vec(block.clone(), shards as usize * per_shard).prop_map(
            move |blocks| Plan {
                kind,
                concurrency,
                shards,
                blocks,
                faults: Vec::new(),
            },
        )
    })
}

/// Up to two syncs' faults.
fn attempts(blocks: usize) -> impl Strategy<Value = Vec<Vec<Fault>>> {
    let how = prop_oneof![Just(How::Error), Just(How::Panic), Just(How::Disorder)];
    let fault = (0..blocks, 0..12_usize, how).prop_map(|(block, at, how)| Fault { block, at, how });
    proptest::collection::vec(proptest::collection::vec(fault, 0..3), 0..3)
}

fn case(kind: Kind) -> impl Strategy<Value = (Plan, Vec<Vec<Fault>>)> {
    plan(kind).prop_flat_map(|plan| {
        let blocks = plan.blocks.len();
        (Just(plan), attempts(blocks))
    })
}

/// The chain with faults, then the crash matrix without them, from no state and from the state
/// the faults left.
fn holds(plan: &Plan, attempts: &[Vec<Fault>]) -> Result<(), TestCaseError> {
    let left = chain(plan, attempts)?;
    let source = Generated::default();
    let config = plan.config(&[]);
    let catalog = incremental_catalog(&source, &config);
    let crash = CrashTest::new(&source, &config, &catalog).max_cuts(12);
    crash
        .run()
        .map_err(|failure| TestCaseError::fail(failure.to_string()))?;
    if let Some(left) = left {
        crash
            .from_state(&left)
            .run()
            .map_err(|failure| TestCaseError::fail(failure.to_string()))?;
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn windows_at_window_ends_keep_the_contract((plan, attempts) in case(Kind::Win)) {
        holds(&plan, &attempts)?;
    }

    #[test]
    fn windows_with_an_interval_keep_the_contract((plan, attempts) in case(Kind::WinEvery)) {
        holds(&plan, &attempts)?;
    }

    #[test]
    fn windows_checkpointed_at_every_record_keep_the_contract(
        (plan, attempts) in case(Kind::WinOne)
    ) {
        holds(&plan, &attempts)?;
    }

    #[test]
    fn windows_checkpointed_at_the_end_keep_the_contract((plan, attempts) in case(Kind::WinEnd)) {
        holds(&plan, &attempts)?;
    }

    #[test]
    fn unsorted_windows_keep_the_contract((plan, attempts) in case(Kind::WinUnsorted)) {
        holds(&plan, &attempts)?;
    }

    #[test]
    fn partitions_with_an_interval_keep_the_contract((plan, attempts) in case(Kind::Part)) {
        holds(&plan, &attempts)?;
    }

    #[test]
    fn partitions_checkpointed_at_the_end_keep_the_contract(
        (plan, attempts) in case(Kind::PartEnd)
    ) {
        holds(&plan, &attempts)?;
    }

    #[test]
    fn windowed_partitions_keep_the_contract((plan, attempts) in case(Kind::PartWin)) {
        holds(&plan, &attempts)?;
    }

    #[test]
    fn unsorted_partitions_keep_the_contract((plan, attempts) in case(Kind::PartUnsorted)) {
        holds(&plan, &attempts)?;
    }

    #[test]
    fn windows_throttled_by_a_short_period_keep_the_contract(
        (plan, attempts) in case(Kind::WinPeriod)
    ) {
        holds(&plan, &attempts)?;
    }

    #[test]
    fn windows_throttled_by_an_hour_keep_the_contract((plan, attempts) in case(Kind::WinHourly)) {
        holds(&plan, &attempts)?;
    }

    #[test]
    fn partitions_throttled_by_a_short_period_keep_the_contract(
        (plan, attempts) in case(Kind::PartPeriod)
    ) {
        holds(&plan, &attempts)?;
    }
}
