//! The HTTP toolkit's async half through whole syncs against the mock server: an async reader
//! pages with `Pages::next_async` and sends with `Client::send_async`, with the blocking
//! client's retries, rate-limit waits (`RATE_LIMITED`) and `OAuth2` rotation (`CONTROL`), and
//! two requests of one reader run at once.

use std::cell::RefCell;
use std::task::Poll;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tidemark::http::{BodyCursor, Records, Request};
use tidemark::protocol::Message;
use tidemark::testing;
use tidemark::testing::http::{Expect, MockServer, Reply};
use tidemark::{Async, Error, Sink, Slice, Source, Streams};

use crate::http_toolkit::{Api, Config, Item, controls, ids, rate_limited, rotating_provider};

/// An item of `/left` or `/right`, both asked at once.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[tidemark::incremental_stream(name = "pairs", cursor = "id", primary_key = "id")]
struct Pair {
    id: u64,
}

/// A source over the mock API whose readers are all async, with the client of the blocking
/// source.
struct AsyncApi;

impl Source for AsyncApi {
    const NAME: &'static str = "source-mock-async-api";
    type Config = Config;

    fn streams<'a>(&'a self, config: &'a Config) -> Result<Streams<'a>, Error> {
        let client = Api::client(config)?;
        let items = client.clone();
        Ok(Streams::new()
            .stream(Async(
                async move |slice: &Slice<Item>, out: &mut Sink<Item>| {
                    let mut request = Request::get("/items");
                    if let Some(after) = slice.after() {
                        request = request.query("after", after);
                    }
                    let mut pages = items.pages(
                        request,
                        BodyCursor::new("/next", "cursor"),
                        Records::json("/items"),
                    );
                    while let Some(page) = pages.next_async::<Item, _>(out).await? {
                        for item in &page.records {
                            out.emit(item)?;
                        }
                    }
                    Ok(())
                },
            ))
            .stream(Async(
                async move |_slice: &Slice<Pair>, out: &mut Sink<Pair>| {
                    // Both requests at once, through one sink.
                    let shared = RefCell::new(&mut *out);
                    let (left, right) = join(
                        client.send_async(&Request::get("/left"), &mut &shared),
                        client.send_async(&Request::get("/right"), &mut &shared),
                    )
                    .await;
                    let mut pairs: Vec<Pair> = left?.json()?;
                    pairs.extend(right?.json::<Vec<Pair>>()?);
                    pairs.sort_by_key(|pair| pair.id);
                    for pair in &pairs {
                        out.emit(pair)?;
                    }
                    Ok(())
                },
            )))
    }
}

/// Both futures polled together on this task (what `tokio::join!` does), both outputs once
/// both are done.
async fn join<A: Future, B: Future>(a: A, b: B) -> (A::Output, B::Output) {
    let (mut a, mut b) = (std::pin::pin!(a), std::pin::pin!(b));
    let (mut left, mut right) = (None, None);
    std::future::poll_fn(|cx| {
        if left.is_none()
            && let Poll::Ready(done) = a.as_mut().poll(cx)
        {
            left = Some(done);
        }
        if right.is_none()
            && let Poll::Ready(done) = b.as_mut().poll(cx)
        {
            right = Some(done);
        }
        match (left.take(), right.take()) {
            (Some(left), Some(right)) => Poll::Ready((left, right)),
            (done_left, done_right) => {
                (left, right) = (done_left, done_right);
                Poll::Pending
            }
        }
    })
    .await
}

fn catalog(streams: &[&str]) -> Value {
    let config = json!({"base_url": "http://127.0.0.1:9"});
    let mut catalog = testing::incremental_catalog(&AsyncApi, &config);
    catalog["streams"]
        .as_array_mut()
        .expect("streams")
        .retain(|entry| streams.contains(&entry["stream"]["name"].as_str().expect("a name")));
    catalog
}

/// An async reader pages through a listing with `OAuth2`: the provider rotates the refresh
/// token, and the whole config with the new one is saved (CONTROL) before any record; the
/// access token is refreshed once and then reused; a 401 refreshes it once more.
#[test]
fn an_async_reader_pages_with_oauth2_and_saves_a_rotated_token_before_its_records() {
    let server = MockServer::start();
    rotating_provider(&server);
    server
        .expect(Expect::get("/items").header("authorization", "Bearer access-one-0001"))
        .respond(Reply::json(
            200,
            json!({"items": [{"id": 1}, {"id": 2}], "next": "c2"}),
        ))
        .respond(Reply::json(401, json!({"message": "token expired"})))
        .times(2);
    server
        .expect(Expect::get("/items").header("authorization", "Bearer access-two-0002"))
        .respond(Reply::json(
            200,
            json!({"items": [{"id": 3}], "next": null}),
        ))
        .times(1);
    let config = json!({
        "base_url": server.url(),
        "credentials": {"client_secret": "client-secret-0003", "refresh_token": "refresh-one-0001"},
    });
    let output = testing::read(&AsyncApi, &config, &catalog(&["items"]), None);
    assert_eq!(output.exit_code, 0, "{}", output.stdout);
    assert_eq!(ids(&output), [1, 2, 3]);
    let saved = controls(&output);
    let mut expected = config.clone();
    expected["credentials"]["refresh_token"] = json!("refresh-two-0002");
    assert_eq!(saved, [&expected], "{}", output.stdout);
    let control_at = output
        .messages
        .iter()
        .position(|message| matches!(message, Message::Control { .. }));
    let record_at = output
        .messages
        .iter()
        .position(|message| matches!(message, Message::Record { .. }));
    assert!(control_at < record_at, "{}", output.stdout);
    // Only the CONTROL message carries the config's secrets, for the platform to store.
    let others: Vec<&str> = output
        .stdout
        .lines()
        .filter(|line| !line.starts_with("{\"type\":\"CONTROL\""))
        .collect();
    for token in ["access-one-0001", "access-two-0002", "client-secret-0003"] {
        assert!(
            !others.iter().any(|line| line.contains(token)),
            "{token} in {others:?}"
        );
        assert!(
            !output.stderr.contains(token),
            "{token} in {}",
            output.stderr
        );
    }
    server.verify();
}

/// An async reader's request is retried after a server error and waits out a 429, reported
/// as `RATE_LIMITED`; a server error that persists fails the stream transiently after the
/// policy's retries, and no STATE claims the records never read.
#[test]
fn an_async_reader_retries_waits_a_rate_limit_and_fails_transiently_when_retries_run_out() {
    let server = MockServer::start();
    server
        .expect(Expect::get("/items"))
        .respond(Reply::json(503, json!({"message": "busy"})))
        .respond(Reply::json(429, json!({"message": "slow down"})).header("Retry-After", "1"))
        .respond(Reply::json(
            200,
            json!({"items": [{"id": 1}], "next": "c2"}),
        ))
        .respond(Reply::json(503, json!({"message": "down"})))
        .times(6);
    let config = json!({"base_url": server.url()});
    let started = std::time::Instant::now();
    let output = testing::read(&AsyncApi, &config, &catalog(&["items"]), None);
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "the 429's wait"
    );
    assert_eq!(output.exit_code, 1, "{}", output.stdout);
    assert_eq!(ids(&output), [1]);
    assert_eq!(rate_limited(&output), 1, "{}", output.stdout);
    let error = crate::support::first_error(&output);
    assert_eq!(
        error.failure_type,
        Some(tidemark::protocol::FailureType::TransientError)
    );
    assert!(
        error.message.contains("failed 3 times"),
        "{}",
        error.message
    );
    for state in output.states() {
        let text = serde_json::to_string(state).expect("a state serializes");
        assert!(
            !text.contains("\"id\""),
            "no STATE past a cut listing: {text}"
        );
    }
    assert_eq!(
        server.requests().len(),
        6,
        "503, 429, 200, then 503 three times"
    );
}

/// A spent quota holds an async reader's next request until its reset, as a blocking one's.
#[test]
fn an_async_reader_waits_for_a_spent_quota_before_its_next_request() {
    let server = MockServer::start();
    server
        .expect(Expect::get("/items"))
        .respond(
            Reply::json(200, json!({"items": [{"id": 1}], "next": "c2"}))
                .header("RateLimit-Remaining", "0")
                .header("RateLimit-Reset", "3"),
        )
        .respond(Reply::json(
            200,
            json!({"items": [{"id": 2}], "next": null}),
        ))
        .times(2);
    let config = json!({"base_url": server.url()});
    let output = testing::read(&AsyncApi, &config, &catalog(&["items"]), None);
    assert_eq!(output.exit_code, 0, "{}", output.stdout);
    assert_eq!(ids(&output), [1, 2]);
    assert_eq!(rate_limited(&output), 1, "{}", output.stdout);
    let requests = server.requests();
    assert_eq!(requests.len(), 2, "no request refused");
    let gap = requests[1].at - requests[0].at;
    assert!(gap >= Duration::from_millis(2900), "{gap:?}");
    server.verify();
}

/// Two requests joined in one async reader are in flight together: the second reaches the
/// server before the first is answered (each answer takes 300 ms).
#[test]
fn two_requests_joined_in_one_async_reader_run_at_once() {
    let server = MockServer::start();
    server
        .expect(Expect::get("/left"))
        .respond(Reply::json(200, json!([{"id": 1}, {"id": 3}])).delay(Duration::from_millis(300)))
        .times(1);
    server
        .expect(Expect::get("/right"))
        .respond(Reply::json(200, json!([{"id": 2}])).delay(Duration::from_millis(300)))
        .times(1);
    let config = json!({"base_url": server.url()});
    let output = testing::read(&AsyncApi, &config, &catalog(&["pairs"]), None);
    assert_eq!(output.exit_code, 0, "{}", output.stdout);
    assert_eq!(ids(&output), [1, 2, 3]);
    let requests = server.requests();
    assert_eq!(requests.len(), 2);
    let (first, second) = (&requests[0], &requests[1]);
    assert!(
        second.at < first.at + Duration::from_millis(300),
        "the second request arrived {:?} after the first, which was answered 300 ms after it",
        second.at - first.at
    );
    server.verify();
}

/// A test read with `--max-pages 1`: the async listing stops after its first page, the slice
/// is cut, no STATE of the stream claims the pages never read, and the stream ends INCOMPLETE.
#[test]
fn max_pages_cuts_an_async_listing_and_no_state_follows() {
    let server = MockServer::start();
    server
        .expect(Expect::get("/items"))
        .respond(Reply::json(
            200,
            json!({"items": [{"id": 1}, {"id": 2}], "next": "c2"}),
        ))
        .times(1);
    let config = json!({"base_url": server.url()});
    let catalog = catalog(&["items"]);
    let config = crate::support::temp_file("config.json", &config.to_string());
    let catalog = crate::support::temp_file("catalog.json", &catalog.to_string());
    let output = testing::run(
        &AsyncApi,
        &[
            "read",
            "--config",
            config.to_str().expect("utf-8"),
            "--catalog",
            catalog.to_str().expect("utf-8"),
            "--max-pages",
            "1",
        ],
    );
    assert_eq!(output.exit_code, 0, "{}{}", output.stdout, output.stderr);
    assert_eq!(ids(&output), [1, 2]);
    assert!(output.states().is_empty(), "{}", output.stdout);
    assert_eq!(
        output.statuses("items").last(),
        Some(&tidemark::protocol::StreamStatus::Incomplete)
    );
    assert_eq!(server.requests().len(), 1);
    server.verify();
}
