//! Test reads: `read --max-records N`, `--max-slices N` on every driver (one slice after the
//! other, windows, partitions, full refresh, concurrent windows and partitions). A stream at a
//! limit stops cleanly: INCOMPLETE, a LOG naming the limit, exit 0, and no STATE claiming a
//! record that was not emitted.

use std::collections::BTreeSet;

use serde_json::{Value, json};
use tidemark::http::{Client, PageNumber, Records, Request};
use tidemark::protocol::{Message, StreamStatus};
use tidemark::testing::http::{Expect, MockServer, Reply};
use tidemark::testing::{self, Output};
use tidemark::{Error, Partitions, Reader, Resume, Sink, Slice, Source, Streams};

use crate::support::temp_file;

/// A stream that never ends: ids from 0, three records per cursor value (`n = id / 3`).
#[derive(Debug, Clone, serde::Serialize, schemars::JsonSchema)]
#[tidemark::incremental_stream(
    name = "endless",
    cursor = "n",
    primary_key = "id",
    checkpoint_interval = 4
)]
pub struct Endless {
    id: u64,
    n: u64,
}

/// Windows of 10 over `n` in 1..=100, one record per value.
#[derive(Debug, Clone, serde::Serialize, schemars::JsonSchema)]
#[tidemark::incremental_stream(
    name = "buckets",
    cursor = "n",
    primary_key = "n",
    step = 10,
    start = 1
)]
pub struct Bucket {
    n: u64,
}

/// Five shards of ids 1..=4.
#[derive(Debug, Clone, serde::Serialize, schemars::JsonSchema)]
#[tidemark::incremental_stream(
    name = "shards",
    cursor = "id",
    partition = "shard",
    primary_key = ["shard", "id"]
)]
pub struct Shard {
    shard: u32,
    id: u64,
}

/// A full-refresh stream that never ends.
#[derive(Debug, Clone, serde::Serialize, schemars::JsonSchema)]
#[tidemark::full_refresh_stream(name = "people", primary_key = "id")]
pub struct Person {
    id: u64,
}

/// `buckets`, its windows read concurrently.
#[derive(Debug, Clone, serde::Serialize, schemars::JsonSchema)]
#[tidemark::incremental_stream(
    name = "ticks",
    cursor = "n",
    primary_key = "n",
    step = 10,
    start = 1
)]
pub struct Tick {
    n: u64,
}

/// `shards`, its partitions read concurrently, a STATE every 2 records.
#[derive(Debug, Clone, serde::Serialize, schemars::JsonSchema)]
#[tidemark::incremental_stream(
    name = "lanes",
    cursor = "id",
    partition = "lane",
    primary_key = ["lane", "id"],
    checkpoint_interval = 2
)]
pub struct Lane {
    lane: u32,
    id: u64,
}

#[derive(serde::Deserialize, schemars::JsonSchema)]
pub struct NoConfig {}

#[derive(Clone)]
struct Buckets;

impl Reader<Bucket> for Buckets {
    fn read(&mut self, slice: &Slice<Bucket>, out: &mut Sink<Bucket>) -> Result<(), Error> {
        for n in (1..=100).filter(|n| slice.contains(n)) {
            out.emit(&Bucket { n })?;
        }
        Ok(())
    }

    fn end(&mut self) -> Result<Option<u64>, Error> {
        Ok(Some(100))
    }
}

#[derive(Clone)]
struct Ticks;

impl Reader<Tick> for Ticks {
    fn read(&mut self, slice: &Slice<Tick>, out: &mut Sink<Tick>) -> Result<(), Error> {
        for n in (1..=100).filter(|n| slice.contains(n)) {
            out.emit(&Tick { n })?;
        }
        Ok(())
    }

    fn end(&mut self) -> Result<Option<u64>, Error> {
        Ok(Some(100))
    }
}

struct Limited;

impl Source for Limited {
    const NAME: &'static str = "source-limited";
    type Config = NoConfig;

    fn streams<'a>(&'a self, _: &'a NoConfig) -> Result<Streams<'a>, Error> {
        Ok(Streams::new()
            .concurrency(3)
            .stream(|slice: &Slice<Endless>, out: &mut Sink<Endless>| {
                let first = slice.after().map_or(0, |n| (n + 1) * 3);
                for id in first.. {
                    out.emit(&Endless { id, n: id / 3 })?;
                }
                Ok(())
            })
            .stream(Buckets)
            .partitioned(
                Partitions::list(0..5),
                |slice: &Slice<Shard>, out: &mut Sink<Shard>| {
                    let shard = *slice.partition();
                    for id in slice.after().map_or(1, |id| id + 1)..=4 {
                        out.emit(&Shard { shard, id })?;
                    }
                    Ok(())
                },
            )
            .full_refresh(|_: &Resume<Person>, out: &mut Sink<Person>| {
                for id in 0.. {
                    out.emit(&Person { id })?;
                }
                Ok(())
            })
            .concurrent(Ticks)
            .concurrent_partitioned(
                Partitions::list(0..5),
                |slice: &Slice<Lane>, out: &mut Sink<Lane>| {
                    let lane = *slice.partition();
                    for id in slice.after().map_or(1, |id| id + 1)..=6 {
                        out.emit(&Lane { lane, id })?;
                    }
                    Ok(())
                },
            ))
    }
}

/// Reads `streams` of [`Limited`] with the command line's extra `options`, from `state`.
fn read(streams: &[&str], state: Option<&Value>, options: &[&str]) -> Output {
    let mut catalog = testing::incremental_catalog(&Limited, &json!({}));
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
    let state = state.map(|state| temp_file("state.json", &state.to_string()));
    let mut args = vec![
        "read",
        "--config",
        config.to_str().expect("utf-8"),
        "--catalog",
        catalog.to_str().expect("utf-8"),
    ];
    if let Some(state) = &state {
        args.extend(["--state", state.to_str().expect("utf-8")]);
    }
    args.extend(options);
    testing::run(&Limited, &args)
}

/// The records of `stream`, in order.
fn records(output: &Output, stream: &str) -> Vec<Value> {
    output
        .records()
        .into_iter()
        .filter(|record| record.stream == stream)
        .map(|record| record.data.clone())
        .collect()
}

/// The `stream_state` of each STATE of `stream`, in order.
fn states(output: &Output, stream: &str) -> Vec<Value> {
    output
        .states()
        .into_iter()
        .filter_map(|state| state.stream.as_ref())
        .filter(|state| state.stream_descriptor.name == stream)
        .map(|state| serde_json::to_value(&state.stream_state).expect("a state"))
        .collect()
}

/// Checks that `stream` has a STATE and that every STATE of it claims only records emitted
/// before it: `claimed` lists the records (as JSON) a state says were read.
fn assert_truthful(output: &Output, stream: &str, claimed: impl Fn(&Value) -> Vec<Value>) {
    let checked = claims_only_emitted(output, stream, claimed);
    assert!(checked > 0, "no STATE of `{stream}`: {}", output.stdout);
}

/// Checks that every STATE of `stream` claims only records emitted before it, and returns how
/// many there were: none is right when a concurrent stream stops before its oldest slice is done.
fn claims_only_emitted(
    output: &Output,
    stream: &str,
    claimed: impl Fn(&Value) -> Vec<Value>,
) -> usize {
    let mut emitted = BTreeSet::new();
    let mut checked = 0;
    for message in &output.messages {
        match message {
            Message::Record { record } if record.stream == stream => {
                emitted.insert(record.data.to_string());
            }
            Message::State { state } => {
                let Some(state) = state.stream.as_ref() else {
                    continue;
                };
                if state.stream_descriptor.name != stream {
                    continue;
                }
                let value = serde_json::to_value(&state.stream_state).expect("a state");
                for record in claimed(&value) {
                    assert!(
                        emitted.contains(&record.to_string()),
                        "stream `{stream}`: the STATE {value} claims {record}, not emitted before it"
                    );
                }
                checked += 1;
            }
            _ => {}
        }
    }
    checked
}

/// Checks the clean stop at `limit`: INCOMPLETE, a LOG naming the limit, exit 0, no error.
fn assert_stopped_at(output: &Output, stream: &str, limit: &str) {
    assert_eq!(output.exit_code, 0, "{}{}", output.stdout, output.stderr);
    assert!(
        output
            .traces(tidemark::protocol::TraceType::Error)
            .is_empty(),
        "{}",
        output.stdout
    );
    assert_eq!(
        output.statuses(stream).last(),
        Some(&StreamStatus::Incomplete),
        "{}",
        output.stdout
    );
    let logged = output.messages.iter().any(|message| {
        matches!(message, Message::Log { log } if log.message.contains(&format!("stream `{stream}`")) && log.message.contains(limit))
    });
    assert!(
        logged,
        "no LOG naming `{limit}` for `{stream}`: {}",
        output.stdout
    );
}

fn watermark(state: &Value, field: &str) -> Option<u64> {
    state.get(field).and_then(Value::as_u64)
}

fn endless(id: u64) -> Value {
    json!({"id": id, "n": id / 3})
}

/// The records of `endless` a state claims: every id whose `n` is at most the watermark.
fn endless_claimed(state: &Value) -> Vec<Value> {
    watermark(state, "n").map_or_else(Vec::new, |n| (0..=n * 3 + 2).map(endless).collect())
}

/// The records of `buckets` or `ticks` a state claims.
fn buckets_claimed(state: &Value) -> Vec<Value> {
    watermark(state, "n").map_or_else(Vec::new, |n| (1..=n).map(|n| json!({"n": n})).collect())
}

/// The records of a partitioned stream a state claims: ids 1 to each partition's watermark.
fn partitions_claimed(field: &'static str) -> impl Fn(&Value) -> Vec<Value> {
    move |state| {
        state["states"]
            .as_array()
            .expect("partition states")
            .iter()
            .flat_map(|entry| {
                let partition = entry["partition"].clone();
                let last = entry["cursor"]["id"].as_u64().unwrap_or(0);
                (1..=last).map(move |id| {
                    let mut record = json!({"id": id});
                    record[field] = partition.clone();
                    record
                })
            })
            .collect()
    }
}

#[test]
fn a_reader_that_never_ends_stops_at_max_records_and_resumes_from_a_truthful_state() {
    let output = read(&["endless"], None, &["--max-records", "10"]);
    assert_stopped_at(&output, "endless", "--max-records 10");
    assert_eq!(
        records(&output, "endless"),
        (0..10).map(endless).collect::<Vec<_>>()
    );
    assert_truthful(&output, "endless", endless_claimed);
    // Ids 9, 10 and 11 share n = 3 and only 9 was emitted: nothing past n = 2 is claimed.
    let last = states(&output, "endless").pop().expect("a STATE");
    assert!(watermark(&last, "n").is_some_and(|n| n <= 2), "{last}");

    let resumed = read(
        &["endless"],
        Some(&json!([{"type": "STREAM", "stream": {
        "stream_descriptor": {"name": "endless"}, "stream_state": last}}])),
        &["--max-records", "4"],
    );
    assert_stopped_at(&resumed, "endless", "--max-records 4");
    let first = (watermark(&last, "n").unwrap_or(0) + 1) * 3;
    assert_eq!(
        records(&resumed, "endless"),
        (first..first + 4).map(endless).collect::<Vec<_>>()
    );
}

#[test]
fn windows_stop_at_max_slices_with_the_state_of_the_last_window_read() {
    let output = read(&["buckets"], None, &["--max-slices", "2"]);
    assert_stopped_at(&output, "buckets", "--max-slices 2");
    // The first window holds the start, 1, and the ten values above it.
    assert_eq!(
        records(&output, "buckets"),
        (1..=21).map(|n| json!({"n": n})).collect::<Vec<_>>()
    );
    assert_truthful(&output, "buckets", buckets_claimed);
    assert_eq!(states(&output, "buckets").last(), Some(&json!({"n": 21})));

    // Inside a window: the state claims no more than what was emitted.
    let output = read(&["buckets"], None, &["--max-records", "15"]);
    assert_stopped_at(&output, "buckets", "--max-records 15");
    assert_eq!(records(&output, "buckets").len(), 15);
    assert_truthful(&output, "buckets", buckets_claimed);
}

#[test]
fn partitions_stop_at_max_slices_and_max_records() {
    let output = read(&["shards"], None, &["--max-slices", "2"]);
    assert_stopped_at(&output, "shards", "--max-slices 2");
    let shards: BTreeSet<u64> = records(&output, "shards")
        .iter()
        .filter_map(|record| record["shard"].as_u64())
        .collect();
    assert_eq!(shards, BTreeSet::from([0, 1]));
    assert_eq!(records(&output, "shards").len(), 8);
    assert_truthful(&output, "shards", partitions_claimed("shard"));
    assert_eq!(
        states(&output, "shards").last(),
        Some(&json!({"states": [
            {"partition": 0, "cursor": {"id": 4}},
            {"partition": 1, "cursor": {"id": 4}}
        ]}))
    );

    let output = read(&["shards"], None, &["--max-records", "6"]);
    assert_stopped_at(&output, "shards", "--max-records 6");
    assert_eq!(records(&output, "shards").len(), 6);
    assert_truthful(&output, "shards", partitions_claimed("shard"));
}

#[test]
fn a_full_refresh_reader_that_never_ends_stops_at_max_records() {
    let output = read(&["people"], None, &["--max-records", "5"]);
    assert_stopped_at(&output, "people", "--max-records 5");
    assert_eq!(
        records(&output, "people"),
        (0..5).map(|id| json!({"id": id})).collect::<Vec<_>>()
    );
    assert!(states(&output, "people").is_empty(), "{}", output.stdout);
}

#[test]
fn concurrent_windows_and_partitions_stop_at_each_limit() {
    for _ in 0..5 {
        let output = read(&["ticks", "lanes"], None, &["--max-records", "7"]);
        for stream in ["ticks", "lanes"] {
            assert_stopped_at(&output, stream, "--max-records 7");
            let count = records(&output, stream).len();
            assert!((1..=7).contains(&count), "{stream}: {count} records");
        }
        // Seven records may all come from windows or lanes read at the same time, none of them
        // finished: then no STATE is truthful, and none is sent.
        claims_only_emitted(&output, "ticks", buckets_claimed);
        claims_only_emitted(&output, "lanes", partitions_claimed("lane"));

        let output = read(&["ticks", "lanes"], None, &["--max-slices", "2"]);
        for stream in ["ticks", "lanes"] {
            assert_stopped_at(&output, stream, "--max-slices 2");
        }
        let ticks = records(&output, "ticks");
        assert!(
            ticks
                .iter()
                .all(|tick| tick["n"].as_u64().is_some_and(|n| n <= 21)),
            "windows past the second read: {ticks:?}"
        );
        assert_eq!(ticks.len(), 21);
        assert_truthful(&output, "ticks", buckets_claimed);
        let lanes: BTreeSet<u64> = records(&output, "lanes")
            .iter()
            .filter_map(|record| record["lane"].as_u64())
            .collect();
        assert_eq!(lanes.len(), 2, "{lanes:?}");
        assert_eq!(records(&output, "lanes").len(), 12);
        assert_truthful(&output, "lanes", partitions_claimed("lane"));
    }
}

#[test]
fn each_stream_has_its_own_limit_and_the_run_goes_on() {
    let output = read(
        &["endless", "buckets", "shards", "people"],
        None,
        &["--max-records", "3"],
    );
    for stream in ["endless", "buckets", "shards", "people"] {
        assert_stopped_at(&output, stream, "--max-records 3");
        assert_eq!(records(&output, stream).len(), 3, "{stream}");
    }
}

#[test]
fn without_limits_and_under_them_a_stream_completes() {
    for options in [&[][..], &["--max-records", "100", "--max-slices", "10"]] {
        let output = read(&["buckets"], None, options);
        assert_eq!(output.exit_code, 0);
        assert_eq!(records(&output, "buckets").len(), 100, "{options:?}");
        assert_eq!(
            output.statuses("buckets").last(),
            Some(&StreamStatus::Complete),
            "{options:?}"
        );
        assert_eq!(states(&output, "buckets").last(), Some(&json!({"n": 100})));
    }
}

/// A record of a paged API: `GET /items?page=N&per_page=2`, ids 1..=6.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
#[tidemark::incremental_stream(name = "items", cursor = "id", primary_key = "id")]
pub struct Item {
    id: u64,
}

#[derive(serde::Deserialize, schemars::JsonSchema)]
pub struct ApiConfig {
    base_url: String,
}

struct PagedApi;

impl Source for PagedApi {
    const NAME: &'static str = "source-paged";
    type Config = ApiConfig;

    fn streams<'a>(&'a self, config: &'a ApiConfig) -> Result<Streams<'a>, Error> {
        let client = Client::builder(config.base_url.as_str()).build()?;
        Ok(
            Streams::new().stream(move |_: &Slice<Item>, out: &mut Sink<Item>| {
                let mut pages = client.pages(
                    Request::get("/items"),
                    PageNumber::new("page").start(1).size("per_page", 2),
                    Records::json("/items"),
                );
                while let Some(page) = pages.next::<Item>(out)? {
                    for item in &page.records {
                        out.emit(item)?;
                    }
                }
                Ok(())
            }),
        )
    }
}

fn read_paged(server: &MockServer, options: &[&str]) -> Output {
    let config = json!({"base_url": server.url()});
    let catalog = testing::incremental_catalog(&PagedApi, &config);
    let config = temp_file("config.json", &config.to_string());
    let catalog = temp_file("catalog.json", &catalog.to_string());
    let mut args = vec![
        "read",
        "--config",
        config.to_str().expect("utf-8"),
        "--catalog",
        catalog.to_str().expect("utf-8"),
    ];
    args.extend(options);
    testing::run(&PagedApi, &args)
}

fn paged_server() -> MockServer {
    let server = MockServer::start();
    for page in 1..=3_u64 {
        let items = json!([{"id": page * 2 - 1}, {"id": page * 2}]);
        server
            .expect(
                Expect::get("/items")
                    .query("page", page)
                    .query("per_page", 2),
            )
            .respond(Reply::json(200, json!({"items": items})));
    }
    server
        .expect(Expect::get("/items").query("page", 4))
        .respond(Reply::json(200, json!({"items": []})));
    server
}

#[test]
fn max_pages_cuts_a_listing_through_the_client_and_no_state_follows() {
    let server = paged_server();
    let output = read_paged(&server, &["--max-pages", "2"]);
    assert_eq!(output.exit_code, 0, "{}{}", output.stdout, output.stderr);
    assert_eq!(
        records(&output, "items"),
        (1..=4).map(|id| json!({"id": id})).collect::<Vec<_>>()
    );
    assert!(states(&output, "items").is_empty(), "{}", output.stdout);
    assert_eq!(
        output.statuses("items").last(),
        Some(&StreamStatus::Incomplete)
    );
    assert!(
        output
            .stdout
            .contains("stream `items`: test read: a slice was cut short at --max-pages 2"),
        "{}",
        output.stdout
    );
    let pages: Vec<Option<String>> = server
        .requests()
        .iter()
        .map(|request| request.query_value("page").map(str::to_owned))
        .collect();
    assert_eq!(pages, [Some("1".to_owned()), Some("2".to_owned())]);

    // Without the limit, every page, and the final STATE.
    let server = paged_server();
    let output = read_paged(&server, &[]);
    assert_eq!(records(&output, "items").len(), 6);
    assert_eq!(states(&output, "items").last(), Some(&json!({"id": 6})));
    assert_eq!(
        output.statuses("items").last(),
        Some(&StreamStatus::Complete)
    );
}
