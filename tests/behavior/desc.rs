//! Newest-first streams (`order = "desc"`): a feed read page by page, newest first, that stops
//! paginating once the runtime says it caught up; resumes after cuts; failures mid-slice.

use std::cell::Cell;

use serde_json::json;
use tidemark::testing::{self, CrashTest, incremental_catalog};
use tidemark::{Error, Reader, Sink, Slice, Source, Streams};

use crate::support::{NoConfig, first_error, transcript};

/// A post of a feed API that returns pages newest first, with no filter.
#[derive(Debug, Clone, PartialEq, serde::Serialize, schemars::JsonSchema)]
#[tidemark::incremental_stream(name = "posts", cursor = "at", primary_key = "id", order = "desc")]
pub struct Post {
    pub id: usize,
    pub at: u64,
}

/// The feed: the `at` of `posts` newest first (as the API returns them; ids are positions),
/// `page` per page.
#[derive(Clone, Default)]
struct Feed {
    posts: Vec<u64>,
    page: usize,
    /// Fail with a transient error after returning this many posts in a sync.
    fail_after: Option<usize>,
    /// Read every page, ignoring `Sink::caught_up`.
    reads_on: bool,
}

struct FeedSource {
    feed: Feed,
    /// Pages fetched, over every sync this source ran.
    pages: Cell<usize>,
}

impl FeedSource {
    fn new(feed: Feed) -> Self {
        FeedSource {
            feed,
            pages: Cell::new(0),
        }
    }
}

impl Source for FeedSource {
    const NAME: &'static str = "source-feed";
    type Config = NoConfig;

    fn streams<'a>(&'a self, _config: &'a NoConfig) -> Result<Streams<'a>, Error> {
        let feed = &self.feed;
        Ok(
            Streams::new().stream(move |_slice: &Slice<Post>, out: &mut Sink<Post>| {
                let mut returned = 0;
                let posts: Vec<(usize, u64)> = feed.posts.iter().copied().enumerate().collect();
                for page in posts.chunks(feed.page.max(1)) {
                    if out.caught_up() && !feed.reads_on {
                        break;
                    }
                    self.pages.set(self.pages.get() + 1);
                    for &(id, at) in page {
                        if feed.fail_after == Some(returned) {
                            return Err(Error::transient("the feed timed out"));
                        }
                        out.emit(&Post { id, at })?;
                        returned += 1;
                    }
                }
                Ok(())
            }),
        )
    }
}

/// `n..=1`, newest first.
fn newest_first(n: u64) -> Vec<u64> {
    (1..=n).rev().collect()
}

fn read(source: &FeedSource, state: Option<u64>) -> testing::Output {
    let catalog = incremental_catalog(source, &json!({}));
    let state = state.map(|at| {
        json!([{
            "type": "STREAM",
            "stream": {
                "stream_descriptor": {"name": "posts"},
                "stream_state": {"at": at}
            }
        }])
    });
    testing::read(source, &json!({}), &catalog, state.as_ref())
}

fn records(output: &testing::Output) -> Vec<u64> {
    output
        .records()
        .into_iter()
        .map(|record| record.data["at"].as_u64().expect("at"))
        .collect()
}

fn states(output: &testing::Output) -> Vec<String> {
    transcript(output)
        .into_iter()
        .filter(|line| line.starts_with('S'))
        .collect()
}

#[test]
fn a_first_sync_reads_the_whole_feed_and_claims_its_newest_record_at_the_end() {
    let source = FeedSource::new(Feed {
        posts: newest_first(25),
        page: 10,
        ..Feed::default()
    });
    let output = read(&source, None);
    assert_eq!(output.exit_code, 0, "{}", output.stdout);
    assert_eq!(records(&output), newest_first(25));
    // No STATE inside the slice: the newest record came first.
    assert_eq!(states(&output), [r#"S posts {"at":25} 25"#]);
    assert_eq!(source.pages.get(), 3);
}

#[test]
fn a_resumed_sync_stops_paginating_at_the_page_that_reaches_the_saved_watermark() {
    let source = FeedSource::new(Feed {
        posts: newest_first(100),
        page: 10,
        ..Feed::default()
    });
    // Saved at 75: pages 100..91, 90..81, 80..71; the third reaches 75, the rest is not fetched.
    let output = read(&source, Some(75));
    assert_eq!(output.exit_code, 0, "{}", output.stdout);
    assert_eq!(records(&output), (76..=100).rev().collect::<Vec<_>>());
    assert_eq!(states(&output), [r#"S posts {"at":100} 25"#]);
    assert_eq!(source.pages.get(), 3);

    // Nothing new: the first page reaches the watermark at once.
    let source = FeedSource::new(Feed {
        posts: newest_first(100),
        page: 10,
        ..Feed::default()
    });
    let output = read(&source, Some(100));
    assert_eq!(records(&output), Vec::<u64>::new());
    assert_eq!(states(&output), [r#"S posts {"at":100} 0"#]);
    assert_eq!(source.pages.get(), 1);
}

#[test]
fn a_reader_that_reads_on_past_the_watermark_sends_nothing_twice() {
    let source = FeedSource::new(Feed {
        posts: newest_first(30),
        page: 10,
        reads_on: true,
        ..Feed::default()
    });
    let output = read(&source, Some(12));
    assert_eq!(records(&output), (13..=30).rev().collect::<Vec<_>>());
    assert_eq!(states(&output), [r#"S posts {"at":30} 18"#]);
    assert_eq!(source.pages.get(), 3);
}

#[test]
fn ties_in_any_order_are_newest_first_too() {
    let source = FeedSource::new(Feed {
        posts: vec![9, 9, 7, 7, 7, 4, 2, 2],
        page: 3,
        ..Feed::default()
    });
    let output = read(&source, Some(4));
    assert_eq!(records(&output), [9, 9, 7, 7, 7]);
    assert_eq!(states(&output), [r#"S posts {"at":9} 5"#]);
    assert_eq!(source.pages.get(), 2);
}

#[test]
fn a_failure_inside_the_slice_leaves_the_previous_watermark() {
    let source = FeedSource::new(Feed {
        posts: newest_first(40),
        page: 10,
        fail_after: Some(15),
        ..Feed::default()
    });
    let output = read(&source, Some(20));
    assert_eq!(output.exit_code, 1);
    assert_eq!(records(&output), (26..=40).rev().collect::<Vec<_>>());
    // 21..=25 were never sent: no STATE may claim anything past 20.
    assert_eq!(states(&output), Vec::<String>::new());
    assert_eq!(
        first_error(&output).failure_type,
        Some(tidemark::protocol::FailureType::TransientError)
    );

    // The next sync, from the same state, delivers what the failed one lost.
    let source = FeedSource::new(Feed {
        posts: newest_first(40),
        page: 10,
        ..Feed::default()
    });
    let output = read(&source, Some(20));
    assert_eq!(records(&output), (21..=40).rev().collect::<Vec<_>>());
    assert_eq!(states(&output), [r#"S posts {"at":40} 20"#]);
}

#[test]
fn a_record_newer_than_one_already_past_the_watermark_stops_the_stream() {
    // 4 is at or below the saved watermark (5): the feed caught up, and the reader stops at
    // the end of its page. 7 after 4 breaks newest-first order, so 6, on the next page, might
    // never be read: the stream stops and claims nothing, rather than claiming 9.
    let source = FeedSource::new(Feed {
        posts: vec![9, 4, 7, 6, 3],
        page: 3,
        ..Feed::default()
    });
    let output = read(&source, Some(5));
    assert_eq!(output.exit_code, 1);
    assert_eq!(records(&output), [9]);
    assert_eq!(states(&output), Vec::<String>::new());
    let error = first_error(&output);
    assert!(
        error
            .message
            .contains("cursor 7 came after one with cursor 4"),
        "{}",
        error.message
    );
}

#[test]
fn a_record_newer_than_its_predecessor_stops_the_stream_without_state() {
    let source = FeedSource::new(Feed {
        posts: vec![10, 9, 11, 8],
        page: 10,
        ..Feed::default()
    });
    let output = read(&source, Some(5));
    assert_eq!(output.exit_code, 1);
    assert_eq!(records(&output), [10, 9]);
    assert_eq!(states(&output), Vec::<String>::new());
    let error = first_error(&output);
    assert!(
        error
            .message
            .contains("cursor 11 came after one with cursor 9"),
        "{}",
        error.message
    );
}

#[test]
fn every_cut_of_a_newest_first_feed_resumes_without_loss_or_repeat() {
    for page in [1, 4, 50] {
        let source = FeedSource::new(Feed {
            posts: vec![20, 19, 19, 15, 12, 12, 12, 8, 3, 1],
            page,
            ..Feed::default()
        });
        let catalog = incremental_catalog(&source, &json!({}));
        let report = CrashTest::new(&source, &json!({}), &catalog).assert();
        assert_eq!(report.records, 10);
        assert_eq!(report.cuts, report.messages);
    }
    // A feed that fails on every sync after a few posts: no STATE mid-slice, so the chain only
    // ends once a sync reads it all; the kit reports the failure, and nothing was claimed.
    let source = FeedSource::new(Feed {
        posts: newest_first(12),
        page: 5,
        fail_after: Some(4),
        ..Feed::default()
    });
    let catalog = incremental_catalog(&source, &json!({}));
    let failure = CrashTest::new(&source, &json!({}), &catalog)
        .run()
        .expect_err("the feed never completes");
    let text = failure.to_string();
    assert!(text.contains("without moving any state"), "{text}");
    assert!(!text.contains("lost"), "{text}");
}

/// A bucket of a table read in windows of 10 ids, each newest first.
#[derive(Debug, Clone, PartialEq, serde::Serialize, schemars::JsonSchema)]
#[tidemark::incremental_stream(
    name = "buckets",
    cursor = "id",
    order = "desc",
    step = 10,
    start = 1
)]
pub struct Bucket {
    pub id: u64,
}

/// Reads the ids of `rows` up to `end`, newest first from each window's upper bound, in pages.
struct Buckets<'a> {
    rows: &'a [u64],
    end: u64,
    page: usize,
    pages: &'a Cell<usize>,
}

impl Reader<Bucket> for Buckets<'_> {
    fn read(&mut self, slice: &Slice<'_, Bucket>, out: &mut Sink<'_, Bucket>) -> Result<(), Error> {
        let until = slice.until().copied().unwrap_or(self.end);
        let mut newest: Vec<u64> = self
            .rows
            .iter()
            .copied()
            .filter(|&id| id <= until)
            .collect();
        newest.sort_unstable_by(|a, b| b.cmp(a));
        for page in newest.chunks(self.page) {
            if out.caught_up() {
                break;
            }
            self.pages.set(self.pages.get() + 1);
            for &id in page {
                out.emit(&Bucket { id })?;
            }
        }
        Ok(())
    }

    fn end(&mut self) -> Result<Option<u64>, Error> {
        Ok(Some(self.end))
    }
}

struct BucketSource {
    rows: Vec<u64>,
    pages: Cell<usize>,
}

impl Source for BucketSource {
    const NAME: &'static str = "source-buckets";
    type Config = NoConfig;

    fn streams<'a>(&'a self, _config: &'a NoConfig) -> Result<Streams<'a>, Error> {
        Ok(Streams::new().stream(Buckets {
            rows: &self.rows,
            end: 25,
            page: 3,
            pages: &self.pages,
        }))
    }
}

#[test]
fn windows_read_newest_first_each_move_the_watermark_when_they_end() {
    let source = BucketSource {
        rows: vec![1, 2, 5, 9, 11, 12, 18, 21, 24, 25],
        pages: Cell::new(0),
    };
    let output = read_buckets(&source);
    assert_eq!(output.exit_code, 0, "{}", output.stdout);
    let lines: Vec<String> = transcript(&output)
        .into_iter()
        .filter(|line| !line.starts_with('T'))
        .collect();
    assert_eq!(
        lines,
        [
            "R buckets 11",
            "R buckets 9",
            "R buckets 5",
            "R buckets 2",
            "R buckets 1",
            r#"S buckets {"id":11} 5"#,
            "R buckets 21",
            "R buckets 18",
            "R buckets 12",
            r#"S buckets {"id":21} 3"#,
            "R buckets 25",
            "R buckets 24",
            r#"S buckets {"id":25} 2"#,
        ]
    );
    // [1, 11]: 11 9 5 | 2 1 (the feed ends); (11, 21]: 21 18 12 | 11 (caught up);
    // (21, 25]: 25 24 21 (caught up).
    assert_eq!(source.pages.get(), 2 + 2 + 1);
    let catalog = incremental_catalog(&source, &json!({}));
    CrashTest::new(&source, &json!({}), &catalog).assert();
}

fn read_buckets(source: &BucketSource) -> testing::Output {
    let catalog = incremental_catalog(source, &json!({}));
    testing::read(source, &json!({}), &catalog, None)
}
