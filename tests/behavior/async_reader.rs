//! Async readers (the `async` feature): readers built on timers, spawned tasks and channels,
//! registered with `Async`, keep the contract of blocking readers, proved with the crash matrix,
//! and fail with the same safe state.

use std::time::Duration;

use serde_json::{Value, json};
use tidemark::protocol::{StreamStatus, TraceType};
use tidemark::testing::{self, CrashTest, Output, incremental_catalog};
use tidemark::{Async, AsyncReader, Error, Partitions, Resume, Sink, Slice, Source, Streams};

use crate::support::NoConfig;

/// A ticket: a STATE every 3 records, with ties on `updated`.
#[derive(Debug, Clone, PartialEq, serde::Serialize, schemars::JsonSchema)]
#[tidemark::incremental_stream(
    name = "tickets",
    cursor = "updated",
    primary_key = "id",
    checkpoint_interval = 3
)]
pub struct Ticket {
    id: u64,
    updated: u64,
}

/// `updated` of tickets 1, 2, ..., in the order the API returns them.
const UPDATED: [u64; 12] = [1, 2, 2, 3, 4, 4, 4, 5, 6, 7, 7, 8];

/// The tickets after `after`, in pages of 4, as the API returns them.
fn pages(after: Option<u64>) -> Vec<Vec<Ticket>> {
    let tickets: Vec<Ticket> = (1..)
        .zip(UPDATED)
        .filter(|&(_, updated)| after.is_none_or(|after| updated > after))
        .map(|(id, updated)| Ticket { id, updated })
        .collect();
    tickets.chunks(4).map(<[Ticket]>::to_vec).collect()
}

/// The tickets source, read by an async or a blocking reader that fails after pushing
/// `fail_after` records of a sync.
struct Tickets {
    blocking: bool,
    fail_after: Option<usize>,
}

impl Source for Tickets {
    const NAME: &'static str = "source-tickets";
    type Config = NoConfig;

    fn streams<'a>(&'a self, _config: &'a NoConfig) -> Result<Streams<'a>, Error> {
        let fail_after = self.fail_after;
        let streams = Streams::new();
        if self.blocking {
            return Ok(
                streams.stream(move |slice: &Slice<Ticket>, out: &mut Sink<Ticket>| {
                    let mut pushed = 0;
                    for page in pages(slice.after().copied()) {
                        std::thread::sleep(Duration::from_millis(1));
                        for ticket in page {
                            if fail_after == Some(pushed) {
                                return Err(Error::transient("page request timed out"));
                            }
                            out.emit(&ticket)?;
                            pushed += 1;
                        }
                    }
                    Ok(())
                }),
            );
        }
        Ok(streams.stream(Async(
            async move |slice: &Slice<Ticket>, out: &mut Sink<Ticket>| {
                // A client task fetches the pages, a timer between requests, and hands them
                // over a channel as an async client's response stream would.
                let (pages_out, mut pages_in) = tokio::sync::mpsc::channel(1);
                let after = slice.after().copied();
                tokio::spawn(async move {
                    for page in pages(after) {
                        tokio::time::sleep(Duration::from_millis(1)).await;
                        if pages_out.send(page).await.is_err() {
                            return;
                        }
                    }
                });
                let mut pushed = 0;
                while let Some(page) = pages_in.recv().await {
                    for ticket in page {
                        if fail_after == Some(pushed) {
                            return Err(Error::transient("page request timed out"));
                        }
                        out.emit(&ticket)?;
                        pushed += 1;
                    }
                }
                Ok(())
            },
        )))
    }
}

fn read(source: &Tickets, state: Option<&Value>) -> Output {
    let catalog = incremental_catalog(source, &json!({}));
    testing::read(source, &json!({}), &catalog, state)
}

fn stream_states(output: &Output) -> Vec<Value> {
    output
        .states()
        .iter()
        .map(|state| serde_json::to_value(state).expect("a STATE serializes"))
        .collect()
}

fn record_data(output: &Output) -> Vec<Value> {
    output
        .records()
        .iter()
        .map(|record| record.data.clone())
        .collect()
}

#[test]
fn an_async_reader_on_timers_a_task_and_a_channel_keeps_the_contract_at_every_cut() {
    let source = Tickets {
        blocking: false,
        fail_after: None,
    };
    let first = read(&source, None);
    assert_eq!(first.exit_code, 0, "{}", first.stderr);
    assert_eq!(first.records().len(), 12);
    // A STATE every 3 records, never inside the tie at 4, then the final one.
    let watermarks: Vec<Value> = stream_states(&first)
        .iter()
        .map(|state| state["stream"]["stream_state"]["updated"].clone())
        .collect();
    assert_eq!(watermarks, [json!(2), json!(4), json!(7), json!(8)]);

    // Resumed from the second STATE: only what is above it.
    let resumed = read(&source, Some(&first.state_file_at(1)));
    let ids: Vec<&Value> = resumed.records().iter().map(|r| &r.data["id"]).collect();
    assert_eq!(
        ids,
        [&json!(8), &json!(9), &json!(10), &json!(11), &json!(12)]
    );

    let catalog = incremental_catalog(&source, &json!({}));
    let report = CrashTest::new(&source, &json!({}), &catalog).assert();
    assert_eq!(report.cuts, report.messages);
    assert_eq!(report.records, 12);
}

#[test]
fn an_async_reader_failing_mid_way_emits_the_same_safe_state_as_a_blocking_one() {
    let run = |blocking| {
        read(
            &Tickets {
                blocking,
                fail_after: Some(5),
            },
            None,
        )
    };
    let (async_run, blocking_run) = (run(false), run(true));
    assert_eq!(async_run.exit_code, 1);
    assert_eq!(blocking_run.exit_code, 1);
    assert_eq!(record_data(&async_run), record_data(&blocking_run));
    assert_eq!(stream_states(&async_run), stream_states(&blocking_run));
    assert_eq!(
        async_run.statuses("tickets"),
        [
            StreamStatus::Started,
            StreamStatus::Running,
            StreamStatus::Incomplete
        ]
    );
    assert_eq!(
        async_run.statuses("tickets"),
        blocking_run.statuses("tickets")
    );
    // The 5th record is the first of the tie at 4: the safe watermark is below it.
    let last = stream_states(&async_run).pop().expect("a safe STATE");
    assert_eq!(last["stream"]["stream_state"], json!({"updated": 3}));
    let error = |output: &Output| {
        let errors = output.traces(TraceType::Error);
        assert_eq!(errors.len(), 1);
        serde_json::to_value(errors[0].error.as_ref().expect("an error trace"))
            .expect("an error serializes")
    };
    assert_eq!(error(&async_run), error(&blocking_run));
    assert_eq!(error(&async_run)["failure_type"], "transient_error");

    // Every sync fails after 5 records: the chain resumes until one completes.
    let source = Tickets {
        blocking: false,
        fail_after: Some(5),
    };
    let catalog = incremental_catalog(&source, &json!({}));
    let report = CrashTest::new(&source, &json!({}), &catalog).assert();
    assert!(report.syncs > 2, "{report:?}");
}

/// A comment of a repository: partitioned by `repo`, a STATE every 2 records.
#[derive(Debug, Clone, PartialEq, serde::Serialize, schemars::JsonSchema)]
#[tidemark::incremental_stream(
    name = "comments",
    cursor = "c",
    partition = "repo",
    primary_key = ["repo", "id"],
    checkpoint_interval = 2
)]
pub struct Comment {
    repo: String,
    id: u64,
    c: u64,
}

/// Comments of three repositories, each read by an async reader whose pages come from a
/// spawned task; with `concurrent`, the repositories are read at the same time.
struct Comments {
    concurrent: bool,
}

impl Source for Comments {
    const NAME: &'static str = "source-comments";
    type Config = NoConfig;

    fn streams<'a>(&'a self, _config: &'a NoConfig) -> Result<Streams<'a>, Error> {
        let repos = Partitions::list(["alpha", "beta", "gamma"].map(String::from));
        let reader = Async(async |slice: &Slice<Comment>, out: &mut Sink<Comment>| {
            let repo = slice.partition().clone();
            let count: u64 = match repo.as_str() {
                "alpha" => 5,
                "beta" => 3,
                _ => 4,
            };
            let mut next = slice.after().map_or(1, |c| c + 1);
            while next <= count {
                let page = tokio::spawn(async move {
                    tokio::time::sleep(Duration::from_millis(1)).await;
                    next..=(next + 1).min(count)
                })
                .await
                .map_err(|err| Error::system("the page task failed").with_source(err))?;
                for c in page {
                    out.emit(&Comment {
                        repo: repo.clone(),
                        id: c,
                        c,
                    })?;
                }
                next += 2;
            }
            Ok(())
        });
        let streams = Streams::new();
        Ok(if self.concurrent {
            streams.concurrency(3).concurrent_partitioned(repos, reader)
        } else {
            streams.partitioned(repos, reader)
        })
    }
}

#[test]
fn a_partitioned_stream_with_an_async_reader_keeps_the_contract_at_every_cut() {
    for concurrent in [false, true] {
        let source = Comments { concurrent };
        let catalog = incremental_catalog(&source, &json!({}));
        let first = testing::read(&source, &json!({}), &catalog, None);
        assert_eq!(first.exit_code, 0, "{}", first.stderr);
        assert_eq!(first.records().len(), 12);
        let report = CrashTest::new(&source, &json!({}), &catalog).assert();
        assert_eq!(report.records, 12);
    }
}

/// A label: a resumable full-refresh stream.
#[derive(Debug, Clone, PartialEq, serde::Serialize, schemars::JsonSchema)]
#[tidemark::full_refresh_stream(name = "labels", primary_key = "id", resumable = true)]
pub struct Label {
    id: u64,
}

/// A bucket: windows of 4 ids between bounds an async reader asks at run time.
#[derive(Debug, Clone, PartialEq, serde::Serialize, schemars::JsonSchema)]
#[tidemark::incremental_stream(name = "buckets", cursor = "id", primary_key = "id", step = 4)]
pub struct Bucket {
    id: u64,
}

/// Buckets 3 to 10, bounds and records fetched asynchronously.
#[derive(Clone)]
struct Buckets;

impl AsyncReader<Bucket> for Buckets {
    async fn read(
        &mut self,
        slice: &Slice<'_, Bucket>,
        out: &mut Sink<'_, Bucket>,
    ) -> Result<(), Error> {
        let from = slice.after().map_or(3, |id| id + 1);
        let until = slice.until().copied().unwrap_or(10);
        out.wait_async(Duration::from_millis(1)).await?;
        for id in from..=until {
            out.emit(&Bucket { id })?;
        }
        Ok(())
    }

    async fn start(&mut self) -> Result<Option<u64>, Error> {
        tokio::time::sleep(Duration::from_millis(1)).await;
        Ok(Some(3))
    }

    async fn end(&mut self) -> Result<Option<u64>, Error> {
        tokio::time::sleep(Duration::from_millis(1)).await;
        Ok(Some(10))
    }
}

/// Labels, in pages of 3 with a saved position after each, and buckets.
struct Catalogue;

impl Source for Catalogue {
    const NAME: &'static str = "source-catalogue";
    type Config = NoConfig;

    fn streams<'a>(&'a self, _config: &'a NoConfig) -> Result<Streams<'a>, Error> {
        Ok(Streams::new()
            .full_refresh(Async(
                async |resume: &Resume<Label>, out: &mut Sink<Label>| {
                    let mut page: u64 = resume.position()?.unwrap_or(0);
                    while page < 3 {
                        tokio::time::sleep(Duration::from_millis(1)).await;
                        for id in page * 3..page * 3 + 3 {
                            out.emit(&Label { id })?;
                        }
                        page += 1;
                        out.save_position(&page)?;
                    }
                    Ok(())
                },
            ))
            .stream(Async(Buckets)))
    }
}

#[test]
fn async_full_refresh_and_windowed_readers_keep_the_contract_at_every_cut() {
    let catalog = incremental_catalog(&Catalogue, &json!({}));
    let first = testing::read(&Catalogue, &json!({}), &catalog, None);
    assert_eq!(first.exit_code, 0, "{}", first.stderr);
    let ids = |stream: &str| -> Vec<u64> {
        first
            .records()
            .iter()
            .filter(|record| record.stream == stream)
            .map(|record| record.data["id"].as_u64().expect("an id"))
            .collect()
    };
    assert_eq!(ids("labels"), (0..9).collect::<Vec<_>>());
    // From the run-time start 3 to the run-time end 10.
    assert_eq!(ids("buckets"), (3..=10).collect::<Vec<_>>());
    let watermarks: Vec<Value> = stream_states(&first)
        .iter()
        .filter(|state| state["stream"]["stream_descriptor"]["name"] == "buckets")
        .map(|state| state["stream"]["stream_state"]["id"].clone())
        .collect();
    // A STATE at each window's end (`3 <= id <= 7`, then `7 < id <= 10`).
    assert_eq!(watermarks.first(), Some(&json!(7)));
    assert_eq!(watermarks.last(), Some(&json!(10)));

    let report = CrashTest::new(&Catalogue, &json!({}), &catalog).assert();
    assert_eq!(report.records, 9 + 8);
}

/// Tickets whose async reader panics after the 5th record, past an await.
struct Panics;

impl Source for Panics {
    const NAME: &'static str = "source-panics";
    type Config = NoConfig;

    fn streams<'a>(&'a self, _config: &'a NoConfig) -> Result<Streams<'a>, Error> {
        Ok(Streams::new().stream(Async(
            async |slice: &Slice<Ticket>, out: &mut Sink<Ticket>| {
                for ticket in pages(slice.after().copied()).concat().into_iter().take(5) {
                    tokio::time::sleep(Duration::from_millis(1)).await;
                    out.emit(&ticket)?;
                }
                panic!("the client's response did not parse");
            },
        )))
    }
}

#[test]
fn an_async_reader_that_panics_is_reported_like_a_blocking_one_and_the_next_read_runs() {
    let catalog = incremental_catalog(&Panics, &json!({}));
    for _ in 0..2 {
        let output = testing::read(&Panics, &json!({}), &catalog, None);
        assert_eq!(output.exit_code, 1);
        assert_eq!(output.records().len(), 5);
        assert_eq!(
            output.statuses("tickets").last(),
            Some(&StreamStatus::Incomplete)
        );
        let last = stream_states(&output).pop().expect("a safe STATE");
        assert_eq!(last["stream"]["stream_state"], json!({"updated": 3}));
        let errors = output.traces(TraceType::Error);
        let message = &errors[0].error.as_ref().expect("an error").internal_message;
        assert!(
            message
                .as_deref()
                .is_some_and(|text| text.contains("the client's response did not parse")),
            "{message:?}"
        );
    }
}
