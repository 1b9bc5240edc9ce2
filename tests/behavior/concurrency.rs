//! Concurrent reading: windows and partitions of one stream read at the same time, finishing in
//! any order, with STATEs at the contiguous low-water mark, proved with the crash matrix.

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::{Value, json};
use tidemark::testing::{self, CrashTest, Output, incremental_catalog};
use tidemark::{Error, Partitions, Reader, Sink, Slice, Source, Streams};

/// A record of a stream read in windows of 10 ids.
#[derive(Debug, Clone, PartialEq, serde::Serialize, schemars::JsonSchema)]
#[tidemark::incremental_stream(name = "ticks", cursor = "id", primary_key = "id", step = 10)]
pub struct Tick {
    id: u64,
}

/// A record of a stream partitioned by `shard`, checkpointed every 3 records.
#[derive(Debug, Clone, PartialEq, serde::Serialize, schemars::JsonSchema)]
#[tidemark::incremental_stream(
    name = "items",
    cursor = "id",
    partition = "shard",
    primary_key = ["shard", "id"],
    checkpoint_interval = 3
)]
pub struct Item {
    shard: u32,
    id: u64,
}

#[derive(serde::Deserialize, schemars::JsonSchema)]
struct Config {
    /// Ids of `ticks` are 1..=ticks.
    ticks: u64,
    /// Shards of `items`, each with ids 1..=items.
    shards: u32,
    items: u64,
    /// Readers at once.
    concurrency: usize,
    /// A window (by its lower id) or a shard whose reader fails after its first records.
    #[serde(default)]
    fail: Option<u64>,
}

/// Reads `ticks`: ids `1..=ticks`, lower windows slower, so that they finish last.
#[derive(Clone)]
struct Ticks<'c> {
    config: &'c Config,
}

impl Reader<Tick> for Ticks<'_> {
    fn read(&mut self, slice: &Slice<Tick>, out: &mut Sink<Tick>) -> Result<(), Error> {
        let config = self.config;
        let first = slice.after().map_or(1, |id| id + 1);
        let last = slice.until().copied().unwrap_or(config.ticks);
        std::thread::sleep(Duration::from_micros(
            config.ticks.saturating_sub(first) * 20,
        ));
        for id in first..=last {
            if config.fail == Some(first) && id == first + 2 {
                return Err(Error::transient("the API went away"));
            }
            out.emit(&Tick { id })?;
        }
        Ok(())
    }

    fn start(&mut self) -> Result<Option<u64>, Error> {
        Ok(Some(1))
    }

    fn end(&mut self) -> Result<Option<u64>, Error> {
        Ok(Some(self.config.ticks))
    }
}

/// A source whose readers sleep by an amount that makes later windows finish first.
struct Concurrent;

impl Source for Concurrent {
    const NAME: &'static str = "source-concurrent";
    type Config = Config;

    fn streams<'a>(&'a self, config: &'a Config) -> Result<Streams<'a>, Error> {
        Ok(Streams::new()
            .concurrency(config.concurrency)
            .concurrent(Ticks { config })
            .concurrent_partitioned(
                Partitions::list(0..config.shards),
                move |slice: &Slice<Item>, out: &mut Sink<Item>| {
                    let shard = *slice.partition();
                    let first = slice.after().map_or(1, |id| id + 1);
                    for id in first..=config.items {
                        if config.fail == Some(u64::from(shard)) && id == 5 {
                            return Err(Error::transient("the shard went away"));
                        }
                        if id == 1 {
                            tracing::warn!("shard {shard}: reading");
                        }
                        if id % 4 == 0 {
                            std::thread::sleep(Duration::from_micros(
                                u64::from(config.shards - shard) * 50,
                            ));
                        }
                        out.emit(&Item { shard, id })?;
                    }
                    Ok(())
                },
            ))
    }
}

fn config(concurrency: usize, fail: Option<u64>) -> Value {
    json!({"ticks": 95, "shards": 6, "items": 11, "concurrency": concurrency, "fail": fail})
}

fn read(config: &Value, state: Option<&Value>) -> Output {
    let catalog = incremental_catalog(&Concurrent, config);
    testing::read(&Concurrent, config, &catalog, state)
}

/// Each STATE of `stream` covers exactly the records before it: every record at or below its
/// watermark (per partition) was emitted before it.
fn assert_states_follow_records(output: &Output, stream: &str) {
    let mut seen: BTreeSet<(u64, u64)> = BTreeSet::new();
    for line in output.stdout.lines() {
        let message: Value = serde_json::from_str(line).expect("a JSON line");
        match message["type"].as_str() {
            Some("RECORD") if message["record"]["stream"] == stream => {
                let data = &message["record"]["data"];
                let shard = data["shard"].as_u64().unwrap_or(0);
                seen.insert((shard, data["id"].as_u64().expect("an id")));
            }
            Some("STATE") if message["state"]["stream"]["stream_descriptor"]["name"] == stream => {
                let state = &message["state"]["stream"]["stream_state"];
                let marks: Vec<(u64, u64)> = match state.get("states") {
                    Some(states) => states
                        .as_array()
                        .expect("a list")
                        .iter()
                        .map(|entry| {
                            (
                                entry["partition"].as_u64().expect("a shard"),
                                entry["cursor"]["id"].as_u64().expect("a watermark"),
                            )
                        })
                        .collect(),
                    None => state["id"].as_u64().map(|id| (0, id)).into_iter().collect(),
                };
                for (shard, watermark) in marks {
                    for id in 1..=watermark {
                        assert!(
                            seen.contains(&(shard, id)),
                            "{stream}: a STATE claims {shard}/{watermark} before {shard}/{id} \
                             was emitted:\n{}",
                            output.stdout
                        );
                    }
                }
            }
            _ => {}
        }
    }
}

#[test]
fn windows_and_partitions_read_at_once_emit_every_record_once() {
    for concurrency in [1, 3, 16] {
        let output = read(&config(concurrency, None), None);
        assert_eq!(output.exit_code, 0, "{}", output.stderr);
        let ticks: BTreeSet<u64> = output
            .records()
            .iter()
            .filter(|record| record.stream == "ticks")
            .map(|record| record.data["id"].as_u64().expect("an id"))
            .collect();
        assert_eq!(ticks, (1..=95).collect());
        let items = output
            .records()
            .iter()
            .filter(|record| record.stream == "items")
            .count();
        assert_eq!(items, 6 * 11);
        assert_eq!(output.records().len(), 95 + 66, "no record twice");
        assert_states_follow_records(&output, "ticks");
        assert_states_follow_records(&output, "items");
        // A STATE is not repeated: the last window's end is the final one.
        let ticks: Vec<&Value> = output
            .states()
            .into_iter()
            .filter_map(|state| state.stream.as_ref())
            .filter(|state| state.stream_descriptor.name == "ticks")
            .filter_map(|state| state.stream_state.as_ref())
            .collect();
        assert!(
            ticks.windows(2).all(|pair| pair[0] != pair[1]),
            "a repeated STATE: {ticks:?}"
        );
        assert_eq!(
            ticks.last().map(|state| state["id"].clone()),
            Some(json!(95))
        );
        // What readers log on their threads is a LOG message of the run.
        for shard in 0..6 {
            let line = format!("shard {shard}: reading");
            assert!(
                output.stdout.contains(&line),
                "{line} missing:\n{}",
                output.stdout
            );
        }
        let last = output.state_file_at(output.states().len() - 1);
        let resumed = read(&config(concurrency, None), Some(&last));
        assert_eq!(resumed.exit_code, 0, "{}", resumed.stderr);
        assert!(resumed.records().is_empty(), "{}", resumed.stdout);
    }
}

#[test]
fn a_failed_window_stops_the_stream_at_its_low_water_mark() {
    // The window (41, 51] fails after 42 and 43; the other windows stop with it, those below
    // it still being read (lower windows are slower) included.
    let failing = config(8, Some(42));
    let output = read(&failing, None);
    assert_eq!(output.exit_code, 1);
    assert!(
        output.stdout.contains("the API went away"),
        "{}",
        output.stdout
    );
    assert_states_follow_records(&output, "ticks");
    let last = output.state_file_at(output.states().len() - 1);
    let watermark = last
        .as_array()
        .expect("a state file")
        .iter()
        .find(|state| state["stream"]["stream_descriptor"]["name"] == "ticks")
        .and_then(|state| state["stream"]["stream_state"]["id"].as_u64())
        .unwrap_or(0);
    assert!(
        watermark <= 42,
        "the state passes the failed window: {watermark}"
    );
    // The next sync reads everything above the mark, so nothing is lost.
    let resumed = read(&config(8, None), Some(&last));
    assert_eq!(resumed.exit_code, 0, "{}", resumed.stderr);
    let ticks: BTreeSet<u64> = output
        .records()
        .iter()
        .chain(resumed.records().iter())
        .filter(|record| record.stream == "ticks")
        .map(|record| record.data["id"].as_u64().expect("an id"))
        .collect();
    assert_eq!(ticks, (1..=95).collect());
    assert!(
        resumed
            .records()
            .iter()
            .filter(|record| record.stream == "ticks")
            .all(|record| record.data["id"].as_u64() > Some(watermark)),
        "nothing at or below the mark is sent again"
    );
}

#[test]
fn the_crash_matrix_holds_for_concurrent_windows_and_partitions() {
    let config = json!({"ticks": 35, "shards": 3, "items": 7, "concurrency": 4});
    let catalog = incremental_catalog(&Concurrent, &config);
    let report = CrashTest::new(&Concurrent, &config, &catalog)
        .max_cuts(60)
        .assert();
    assert!(report.cuts > 10);
}

/// Two partitioned streams whose readers count how many of them run at once.
struct Counted {
    active: std::sync::atomic::AtomicUsize,
    most: std::sync::atomic::AtomicUsize,
}

/// A second partitioned stream, read at the same time as `items`.
#[derive(Debug, Clone, PartialEq, serde::Serialize, schemars::JsonSchema)]
#[tidemark::incremental_stream(
    name = "others",
    cursor = "id",
    partition = "shard",
    primary_key = ["shard", "id"]
)]
pub struct Other {
    shard: u32,
    id: u64,
}

impl Counted {
    /// Reads ids 1..=8 of a shard, counted as one reader running.
    fn read(
        &self,
        first: u64,
        mut emit: impl FnMut(u64) -> Result<(), Error>,
    ) -> Result<(), Error> {
        use std::sync::atomic::Ordering;
        let now = self.active.fetch_add(1, Ordering::SeqCst) + 1;
        self.most.fetch_max(now, Ordering::SeqCst);
        let result = (first..=8).try_for_each(|id| {
            std::thread::sleep(Duration::from_micros(300));
            emit(id)
        });
        self.active.fetch_sub(1, Ordering::SeqCst);
        result
    }
}

impl Source for Counted {
    const NAME: &'static str = "source-counted";
    type Config = Config;

    fn streams<'a>(&'a self, config: &'a Config) -> Result<Streams<'a>, Error> {
        Ok(Streams::new()
            .concurrency(config.concurrency)
            .concurrent_partitioned(
                Partitions::list(0..config.shards),
                move |slice: &Slice<Item>, out: &mut Sink<Item>| {
                    let shard = *slice.partition();
                    let first = slice.after().map_or(1, |id| id + 1);
                    self.read(first, |id| out.emit(&Item { shard, id }))
                },
            )
            .concurrent_partitioned(
                Partitions::list(0..config.shards),
                move |slice: &Slice<Other>, out: &mut Sink<Other>| {
                    let shard = *slice.partition();
                    let first = slice.after().map_or(1, |id| id + 1);
                    self.read(first, |id| out.emit(&Other { shard, id }))
                },
            ))
    }
}

#[test]
fn streams_read_at_the_same_time_share_the_source_s_readers() {
    for concurrency in [1, 3] {
        let source = Counted {
            active: std::sync::atomic::AtomicUsize::new(0),
            most: std::sync::atomic::AtomicUsize::new(0),
        };
        let config = json!({"ticks": 1, "shards": 5, "items": 8, "concurrency": concurrency});
        let catalog = incremental_catalog(&source, &config);
        let output = testing::read(&source, &config, &catalog, None);
        assert_eq!(output.exit_code, 0, "{}", output.stderr);
        assert_eq!(output.records().len(), 2 * 5 * 8);
        assert_states_follow_records(&output, "items");
        assert_states_follow_records(&output, "others");
        let most = source.most.load(std::sync::atomic::Ordering::SeqCst);
        assert!(
            most <= concurrency,
            "{most} readers at once, over {concurrency}"
        );
        // Each stream's messages keep their order: STARTED first, COMPLETE last.
        for stream in ["items", "others"] {
            let statuses = output.statuses(stream);
            assert_eq!(
                statuses.first(),
                Some(&tidemark::protocol::StreamStatus::Started)
            );
            assert_eq!(
                statuses.last(),
                Some(&tidemark::protocol::StreamStatus::Complete)
            );
        }
    }
}
