//! The `http_api` example against a real HTTP server in the test process (`tiny_http` on
//! 127.0.0.1, port 0) that serves tickets from memory the way a day-filtered hosted API does:
//! `updated_since` with `>=` on whole days, pages of 3, ties across page and day boundaries,
//! tickets exactly at midnight, late updates, and injected failures.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use chrono::{DateTime, NaiveDate, NaiveTime, TimeDelta, Utc};
use serde_json::{Value, json};
use tidemark::protocol::{
    FailureType, LogLevel, Message, Status, StreamStatus, StreamStatusReasonType, TraceType,
};
use tidemark::testing::{self, CrashTest, Output};

#[allow(
    dead_code,
    reason = "the example's `main` is not called from the tests"
)]
#[path = "../../examples/http_api/main.rs"]
mod example;

use example::{Ticket, TicketsApi};

/// The key the server accepts. Long enough to be masked, and checked absent from stdout.
const KEY: &str = "sk-test-7Qm2xV9p";

/// An injected answer: the next `times` requests for `updated_since=since&page=page` get it.
struct Fault {
    since: NaiveDate,
    page: u32,
    times: u32,
    status: u16,
    retry_after: Option<String>,
    body: &'static str,
}

impl Fault {
    fn new(since: NaiveDate, page: u32, status: u16) -> Self {
        Fault {
            since,
            page,
            times: 1,
            status,
            retry_after: None,
            body: r#"{"error": "injected"}"#,
        }
    }

    fn times(mut self, times: u32) -> Self {
        self.times = times;
        self
    }

    /// Every request, until the faults are cleared.
    fn forever(self) -> Self {
        self.times(u32::MAX)
    }

    fn retry_after(mut self, value: &str) -> Self {
        self.retry_after = Some(value.to_owned());
        self
    }

    fn body(mut self, body: &'static str) -> Self {
        self.body = body;
        self
    }
}

/// What the server holds and what it saw.
#[derive(Default)]
struct Data {
    tickets: Vec<Ticket>,
    faults: Vec<Fault>,
    /// Path and query of every request, in order.
    requests: Vec<String>,
    /// Page by id instead of `updated_at`: an API that breaks the order it promised.
    order_by_id: bool,
}

/// The ticket API, on its own thread; stopped when dropped.
struct Api {
    server: Arc<tiny_http::Server>,
    data: Arc<Mutex<Data>>,
    thread: Option<JoinHandle<()>>,
    url: String,
    /// Midnight UTC four days ago: day 0 of the data set and the `start_date`.
    origin: DateTime<Utc>,
}

impl Api {
    /// A server holding [`dataset`].
    fn start() -> Self {
        let origin = (Utc::now().date_naive() - TimeDelta::days(4))
            .and_time(NaiveTime::MIN)
            .and_utc();
        let server = Arc::new(tiny_http::Server::http("127.0.0.1:0").expect("bind 127.0.0.1:0"));
        let port = server.server_addr().to_ip().expect("an IP listener").port();
        let data = Arc::new(Mutex::new(Data {
            tickets: dataset(origin),
            ..Data::default()
        }));
        let thread = {
            let (server, data) = (Arc::clone(&server), Arc::clone(&data));
            std::thread::spawn(move || {
                for request in server.incoming_requests() {
                    respond(&data, request);
                }
            })
        };
        Api {
            server,
            data,
            thread: Some(thread),
            url: format!("http://127.0.0.1:{port}"),
            origin,
        }
    }

    fn data<R>(&self, f: impl FnOnce(&mut Data) -> R) -> R {
        f(&mut self.data.lock().unwrap_or_else(PoisonError::into_inner))
    }

    fn inject(&self, fault: Fault) {
        self.data(|data| data.faults.push(fault));
    }

    /// The requests since the last call, as `updated_since page per_page` lines.
    fn take_requests(&self) -> Vec<String> {
        self.data(|data| std::mem::take(&mut data.requests))
            .iter()
            .map(|url| {
                let query = url.strip_prefix("/tickets?").unwrap_or(url);
                let value = |key: &str| {
                    query
                        .split('&')
                        .find_map(|pair| pair.strip_prefix(key)?.strip_prefix('='))
                        .unwrap_or("?")
                        .to_owned()
                };
                format!(
                    "{} {} {}",
                    value("updated_since"),
                    value("page"),
                    value("per_page")
                )
            })
            .collect()
    }

    /// Day `n` of the data set.
    fn day(&self, n: i64) -> NaiveDate {
        (self.origin + TimeDelta::days(n)).date_naive()
    }

    /// Day `n` at `time` (`HH:MM:SS`).
    fn at(&self, n: i64, time: &str) -> DateTime<Utc> {
        at(self.origin, n, time)
    }

    /// Three tickets per page, two retries without delay: small and fast.
    fn config(&self) -> Value {
        json!({
            "base_url": self.url,
            "api_key": KEY,
            "start_date": self.day(0).to_string(),
            "page_size": 3,
            "max_retries": 2,
            "backoff_ms": 0,
        })
    }
}

impl Drop for Api {
    fn drop(&mut self) {
        self.server.unblock();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn at(origin: DateTime<Utc>, day: i64, time: &str) -> DateTime<Utc> {
    let time: NaiveTime = time.parse().expect("HH:MM:SS");
    origin + TimeDelta::days(day) + (time - NaiveTime::MIN)
}

fn ticket(id: u64, updated_at: DateTime<Utc>) -> Ticket {
    Ticket {
        id,
        subject: format!("ticket {id}"),
        status: ["new", "open", "pending", "solved"][usize::try_from(id % 4).expect("small")]
            .to_owned(),
        updated_at,
    }
}

/// 15 tickets over days 0 to 3, paged by 3 in `(updated_at, id)` order:
///
/// ```text
/// page 1: 1 d0 00:00:00 (the start, included) | 2 3 d0 08:00
/// page 2: 4 d0 08:00 (tie across pages 1-2)    | 5 6 d0 23:59:59
/// page 3: 7 d0 23:59:59 (tie across pages 2-3) | 8 9 d1 00:00:00 (midnight: day 0's window)
/// page 4: 10 11 12 d1 12:00
/// page 5: 13 14 d3 06:00 | 15 d3 18:30           (day 2 is empty)
/// ```
fn dataset(origin: DateTime<Utc>) -> Vec<Ticket> {
    let times = [
        (1, 0, "00:00:00"),
        (2, 0, "08:00:00"),
        (3, 0, "08:00:00"),
        (4, 0, "08:00:00"),
        (5, 0, "23:59:59"),
        (6, 0, "23:59:59"),
        (7, 0, "23:59:59"),
        (8, 1, "00:00:00"),
        (9, 1, "00:00:00"),
        (10, 1, "12:00:00"),
        (11, 1, "12:00:00"),
        (12, 1, "12:00:00"),
        (13, 3, "06:00:00"),
        (14, 3, "06:00:00"),
        (15, 3, "18:30:00"),
    ];
    times
        .iter()
        .map(|&(id, day, time)| ticket(id, at(origin, day, time)))
        .collect()
}

fn respond(data: &Mutex<Data>, request: tiny_http::Request) {
    let authorized = request.headers().iter().any(|header| {
        header.field.equiv("Authorization") && header.value.as_str() == format!("Bearer {KEY}")
    });
    let (status, body, retry_after) = answer(
        &mut data.lock().unwrap_or_else(PoisonError::into_inner),
        request.url(),
        authorized,
    );
    let mut response = tiny_http::Response::from_string(body)
        .with_status_code(status)
        .with_header(
            tiny_http::Header::from_bytes("Content-Type", "application/json").expect("header"),
        );
    if let Some(value) = retry_after {
        response.add_header(tiny_http::Header::from_bytes("Retry-After", value).expect("header"));
    }
    let _ = request.respond(response);
}

/// The API: `GET /tickets?updated_since=YYYY-MM-DD&page=N&per_page=M`.
fn answer(data: &mut Data, url: &str, authorized: bool) -> (u16, String, Option<String>) {
    data.requests.push(url.to_owned());
    if !authorized {
        return (401, r#"{"error": "invalid API key"}"#.to_owned(), None);
    }
    let Some(query) = url.strip_prefix("/tickets?") else {
        return (404, r#"{"error": "not found"}"#.to_owned(), None);
    };
    let value = |key: &str| {
        query
            .split('&')
            .find_map(|pair| pair.strip_prefix(key)?.strip_prefix('='))
    };
    let (Some(Ok(since)), Some(Ok(page)), Some(Ok(per_page))) = (
        value("updated_since").map(str::parse::<NaiveDate>),
        value("page").map(str::parse::<usize>),
        value("per_page").map(str::parse::<usize>),
    ) else {
        return (400, format!(r#"{{"error": "bad query {query}"}}"#), None);
    };
    if let Some(fault) = data.faults.iter_mut().find(|fault| {
        fault.times > 0
            && fault.since == since
            && usize::try_from(fault.page).expect("u32 fits usize") == page
    }) {
        if fault.times != u32::MAX {
            fault.times -= 1;
        }
        return (
            fault.status,
            fault.body.to_owned(),
            fault.retry_after.clone(),
        );
    }
    let from = since.and_time(NaiveTime::MIN).and_utc();
    let mut matching: Vec<&Ticket> = data
        .tickets
        .iter()
        .filter(|ticket| ticket.updated_at >= from)
        .collect();
    if data.order_by_id {
        matching.sort_by_key(|ticket| ticket.id);
    } else {
        matching.sort_by_key(|ticket| (ticket.updated_at, ticket.id));
    }
    let first = (page - 1) * per_page;
    let tickets: Vec<&Ticket> = matching
        .iter()
        .skip(first)
        .take(per_page)
        .copied()
        .collect();
    let next_page = (first + per_page < matching.len()).then_some(page + 1);
    let body = json!({ "tickets": tickets, "next_page": next_page });
    (200, body.to_string(), None)
}

fn example_file(name: &str) -> String {
    format!("{}/examples/http_api/{name}", env!("CARGO_MANIFEST_DIR"))
}

/// The example's configured catalog.
fn catalog() -> Value {
    serde_json::from_str(&std::fs::read_to_string(example_file("catalog.json")).expect("catalog"))
        .expect("catalog.json is JSON")
}

/// One `read`; the API key never reaches stdout.
fn sync(config: &Value, state: Option<&Value>) -> Output {
    let output = testing::read(&TicketsApi, config, &catalog(), state);
    assert!(
        !output.stdout.contains(KEY),
        "the key leaked: {}",
        output.stdout
    );
    output
}

/// `check` through the command line, with the config in a file.
fn check(config: &Value) -> (Status, String, Output) {
    let path = crate::support::temp_file("config.json", &config.to_string());
    let output = testing::run(
        &TicketsApi,
        &["check", "--config", path.to_str().expect("utf-8")],
    );
    assert_eq!(output.exit_code, 0, "check reports, it does not fail");
    let Some(connection_status) = output.messages.iter().find_map(|message| match message {
        Message::ConnectionStatus { connection_status } => Some(connection_status),
        _ => None,
    }) else {
        panic!("expected CONNECTION_STATUS: {}", output.stdout);
    };
    let message = connection_status.message.clone().unwrap_or_default();
    (connection_status.status, message, output)
}

fn ids(output: &Output) -> Vec<u64> {
    crate::support::ids(output, "tickets")
}

fn updated_at(record: &tidemark::protocol::RecordMessage) -> DateTime<Utc> {
    record.data["updated_at"]
        .as_str()
        .expect("a timestamp")
        .parse()
        .expect("RFC 3339")
}

/// Each STATE's watermark and `recordCount`.
fn states(output: &Output) -> Vec<(DateTime<Utc>, f64)> {
    output
        .states()
        .iter()
        .map(|state| {
            let stream = state.stream.as_ref().expect("STREAM state");
            let watermark = stream.stream_state.as_ref().expect("state")["updated_at"]
                .as_str()
                .expect("a timestamp")
                .parse()
                .expect("RFC 3339");
            let count = state
                .source_stats
                .as_ref()
                .and_then(|stats| stats.record_count)
                .expect("recordCount");
            (watermark, count)
        })
        .collect()
}

/// The `quota_reset` of every `RATE_LIMITED` stream status, in order.
fn rate_limits(output: &Output) -> Vec<Option<i64>> {
    output
        .traces(TraceType::StreamStatus)
        .into_iter()
        .filter_map(|trace| trace.stream_status.as_ref())
        .filter(|status| status.status == StreamStatus::Running)
        .filter_map(|status| status.reasons.as_ref())
        .flatten()
        .filter(|reason| reason.reason_type == StreamStatusReasonType::RateLimited)
        .map(|reason| reason.rate_limited.as_ref().and_then(|r| r.quota_reset))
        .collect()
}

fn logs(output: &Output, level: LogLevel) -> Vec<&str> {
    output
        .messages
        .iter()
        .filter_map(|message| match message {
            Message::Log { log } if log.level == level => Some(log.message.as_str()),
            _ => None,
        })
        .collect()
}

fn all_ids() -> Vec<u64> {
    (1..=15).collect()
}

#[test]
fn a_full_sync_reads_every_ticket_once_with_a_state_at_the_end_of_each_day() {
    let api = Api::start();
    let before = Utc::now();
    let output = sync(&api.config(), None);
    let after = Utc::now();
    assert_eq!(output.exit_code, 0, "{}", output.stdout);
    assert_eq!(
        ids(&output),
        all_ids(),
        "every ticket exactly once, in order"
    );
    let cursors: Vec<DateTime<Utc>> = output.records().into_iter().map(updated_at).collect();
    assert!(cursors.is_sorted(), "{cursors:?}");

    // A STATE at the end of every day (day 2 has no tickets but is done all the same), then the
    // final one just before the sync started.
    let states = states(&output);
    let (last, days) = states.split_last().expect("states");
    let ends: Vec<(DateTime<Utc>, f64)> = (1..=4)
        .map(|n| api.at(n, "00:00:00"))
        .zip([9.0, 3.0, 0.0, 3.0])
        .collect();
    assert_eq!(days, ends);
    assert!(
        before - TimeDelta::seconds(1) < last.0 && last.0 < after,
        "{last:?}"
    );
    assert_eq!(last.1.to_string(), "0");
    assert_eq!(
        output.statuses("tickets"),
        [
            StreamStatus::Started,
            StreamStatus::Running,
            StreamStatus::Complete
        ]
    );

    // One request per page, from the day of each window's lower bound; a window stops paging
    // at the first ticket past its end instead of reading the rest of the data set.
    let (d0, d1, d2, d3, d4) = (api.day(0), api.day(1), api.day(2), api.day(3), api.day(4));
    assert_eq!(
        api.take_requests(),
        [
            format!("{d0} 1 3"),
            format!("{d0} 2 3"),
            format!("{d0} 3 3"),
            format!("{d0} 4 3"),
            format!("{d1} 1 3"),
            format!("{d1} 2 3"),
            format!("{d2} 1 3"),
            format!("{d3} 1 3"),
            format!("{d4} 1 3"),
        ]
    );
    assert_eq!(logs(&output, LogLevel::Info).len(), 9, "a LOG per page");
    assert!(
        logs(&output, LogLevel::Info)[0].starts_with("fetched a page of tickets"),
        "{:?}",
        logs(&output, LogLevel::Info)
    );

    // Records match the catalog's schema, and every message the protocol's.
    let schema = &catalog()["streams"][0]["stream"]["json_schema"];
    let validator = jsonschema::validator_for(schema).expect("the record schema compiles");
    for record in output.records() {
        assert!(validator.is_valid(&record.data), "{}", record.data);
        let ticket: Ticket = serde_json::from_value(record.data.clone()).expect("a ticket");
        assert_eq!(
            ticket,
            dataset(api.origin)[usize::try_from(ticket.id - 1).expect("small")]
        );
    }
    if let Some(validators) = crate::protocol_schema::validators() {
        crate::protocol_schema::assert_valid(&validators, &output);
    }
}

#[test]
fn a_rate_limit_is_reported_waited_for_and_retried() {
    let api = Api::start();
    // Seconds, then an HTTP date already past. A 10 s backoff would show if the date were not
    // understood.
    api.inject(Fault::new(api.day(0), 2, 429).retry_after("1"));
    api.inject(Fault::new(api.day(1), 1, 429).retry_after("Thu, 01 Jan 1970 00:00:00 GMT"));
    let mut config = api.config();
    config["backoff_ms"] = json!(10_000);
    let started = Instant::now();
    let before = Utc::now();
    let output = sync(&config, None);
    let elapsed = started.elapsed();
    assert_eq!(output.exit_code, 0, "{}", output.stdout);
    assert_eq!(ids(&output), all_ids());
    assert!(
        elapsed >= Duration::from_secs(1) && elapsed < Duration::from_secs(8),
        "waited {elapsed:?}"
    );
    let resets = rate_limits(&output);
    assert_eq!(resets.len(), 2, "{}", output.stdout);
    let first = resets[0].expect("the reset time");
    assert!(
        first >= (before + TimeDelta::seconds(1)).timestamp_millis()
            && first <= (Utc::now() + TimeDelta::seconds(1)).timestamp_millis(),
        "{first}"
    );
    assert!(resets[1].expect("the reset time") <= Utc::now().timestamp_millis());
    assert_eq!(logs(&output, LogLevel::Warn).len(), 2);
    let requests = api.take_requests();
    let page = format!("{} 2 3", api.day(0));
    assert_eq!(requests.iter().filter(|r| **r == page).count(), 2);
    // The rate-limited status comes while the stream runs, before it completes.
    assert_eq!(
        output.statuses("tickets").last(),
        Some(&StreamStatus::Complete)
    );
}

#[test]
fn server_errors_are_retried_and_the_sync_completes() {
    let api = Api::start();
    api.inject(Fault::new(api.day(0), 2, 500).times(2));
    api.inject(Fault::new(api.day(1), 1, 503));
    let output = sync(&api.config(), None);
    assert_eq!(output.exit_code, 0, "{}", output.stdout);
    assert_eq!(ids(&output), all_ids());
    let requests = api.take_requests();
    let page = format!("{} 2 3", api.day(0));
    assert_eq!(requests.iter().filter(|r| **r == page).count(), 3);
    assert_eq!(requests.len(), 9 + 3);
    let warnings = logs(&output, LogLevel::Warn);
    assert_eq!(warnings.len(), 3, "{warnings:?}");
    assert!(warnings[0].contains("HTTP 500"), "{warnings:?}");
}

#[test]
fn a_server_error_that_persists_mid_window_fails_transiently_and_resuming_loses_nothing() {
    let api = Api::start();
    // Page 2 of day 1 keeps failing; its page 1 (8, 9: at or below the window's start, and 10)
    // was fetched, nothing of day 1 was emitted.
    api.inject(Fault::new(api.day(1), 2, 500).forever());
    let failed = sync(&api.config(), None);
    assert_eq!(failed.exit_code, 1);
    assert_eq!(ids(&failed), (1..=9).collect::<Vec<_>>());
    let error = crate::support::first_error(&failed);
    assert_eq!(error.failure_type, Some(FailureType::TransientError));
    assert_eq!(
        error.stream_descriptor.as_ref().map(|d| d.name.as_str()),
        Some("tickets")
    );
    assert!(
        error.message.contains("failed 3 times") && error.message.contains("HTTP 500"),
        "{}",
        error.message
    );
    assert_eq!(
        failed.statuses("tickets").last(),
        Some(&StreamStatus::Incomplete)
    );
    let page = format!("{} 2 3", api.day(1));
    let requests = api.take_requests();
    assert_eq!(requests.iter().filter(|r| **r == page).count(), 3);
    // The last STATE is the end of day 0, the last complete window.
    let states = states(&failed);
    let watermark = api.at(1, "00:00:00");
    assert_eq!(states, [(watermark, 9.0)]);

    // The API recovers; the next sync resumes from the last STATE a destination committed.
    api.data(|data| data.faults.clear());
    let resumed = sync(&api.config(), Some(&failed.state_file_at(states.len() - 1)));
    assert_eq!(resumed.exit_code, 0, "{}", resumed.stdout);
    for record in resumed.records() {
        assert!(updated_at(record) > watermark, "{}", record.data);
    }
    assert_eq!(ids(&resumed), (10..=15).collect::<Vec<_>>());
    let union: BTreeSet<u64> = ids(&failed).into_iter().chain(ids(&resumed)).collect();
    assert_eq!(union, all_ids().into_iter().collect());
}

#[test]
fn a_rejected_key_is_a_config_error_in_check_and_in_read() {
    let api = Api::start();
    let (status, message, output) = check(&api.config());
    assert_eq!(status, Status::Succeeded, "{message}");
    assert!(!output.stdout.contains(KEY));
    assert_eq!(api.take_requests(), [format!("{} 1 1", api.day(0))]);

    let mut wrong = api.config();
    wrong["api_key"] = json!("sk-wrong-key-1234");
    let (status, message, output) = check(&wrong);
    assert_eq!(status, Status::Failed);
    assert!(message.contains("API key was rejected"), "{message}");
    assert!(!output.stdout.contains("sk-wrong-key-1234"));

    let read = testing::read(&TicketsApi, &wrong, &catalog(), None);
    assert_eq!(read.exit_code, 1);
    assert!(read.records().is_empty());
    assert!(!read.stdout.contains("sk-wrong-key-1234"));
    let error = crate::support::first_error(&read);
    assert_eq!(error.failure_type, Some(FailureType::ConfigError));
    assert!(error.message.contains("HTTP 401"), "{}", error.message);
    assert_eq!(
        read.statuses("tickets").last(),
        Some(&StreamStatus::Incomplete)
    );

    // A key that lost its permissions, mid-sync: the same.
    api.inject(Fault::new(api.day(1), 1, 403));
    let forbidden = sync(&api.config(), None);
    assert_eq!(forbidden.exit_code, 1);
    let error = crate::support::first_error(&forbidden);
    assert_eq!(error.failure_type, Some(FailureType::ConfigError));
    assert!(error.message.contains("HTTP 403"), "{}", error.message);
}

#[test]
fn other_answers_are_system_errors_and_an_unreachable_api_is_transient() {
    let api = Api::start();
    api.inject(
        Fault::new(api.day(0), 1, 400).body(r#"{"error": "updated_since is too far back"}"#),
    );
    let output = sync(&api.config(), None);
    assert_eq!(output.exit_code, 1);
    let error = crate::support::first_error(&output);
    assert_eq!(error.failure_type, Some(FailureType::SystemError));
    assert!(
        error.message.contains("HTTP 400") && error.message.contains("too far back"),
        "{}",
        error.message
    );

    // Nothing listens on the port any more: connection refused, retried, then transient.
    let mut config = api.config();
    drop(api);
    config["max_retries"] = json!(1);
    let output = sync(&config, None);
    assert_eq!(output.exit_code, 1);
    let error = crate::support::first_error(&output);
    assert_eq!(error.failure_type, Some(FailureType::TransientError));
    assert!(
        error.message.contains("cannot reach the API"),
        "{}",
        error.message
    );
    let (status, message, _) = check(&config);
    assert_eq!(status, Status::Failed);
    assert!(message.contains("cannot reach the API"), "{message}");

    config["api_key"] = json!("sk-test-line\nbreak");
    let (status, message, _) = check(&config);
    assert_eq!(status, Status::Failed);
    assert!(message.contains("`api_key`"), "{message}");

    config["base_url"] = json!("https://127.0.0.1:1");
    let (status, message, _) = check(&config);
    assert_eq!(status, Status::Failed);
    assert!(message.contains("rustls"), "{message}");
}

#[test]
fn an_api_that_breaks_its_order_stops_the_stream_instead_of_losing_tickets() {
    let api = Api::start();
    api.data(|data| {
        data.order_by_id = true;
        data.tickets[2].updated_at = api.at(0, "12:00:00");
    });
    let output = sync(&api.config(), None);
    assert_eq!(output.exit_code, 1);
    let error = crate::support::first_error(&output);
    assert_eq!(error.failure_type, Some(FailureType::SystemError));
    assert!(error.message.contains("ascending"), "{}", error.message);
    // Nothing of the window was emitted, so nothing is claimed.
    assert!(output.records().is_empty(), "{}", output.stdout);
    assert!(output.states().is_empty(), "{}", output.stdout);
}

#[test]
fn the_next_sync_reads_only_what_changed_after_the_state() {
    let api = Api::start();
    let first = sync(&api.config(), None);
    assert_eq!(first.exit_code, 0, "{}", first.stdout);
    let state = first.state_file_at(first.states().len() - 1);
    let watermark = states(&first).last().expect("a final state").0;
    api.take_requests();

    std::thread::sleep(Duration::from_millis(10));
    let now = Utc::now();
    api.data(|data| {
        // Updated after the first sync: `updated_at` moves to now.
        data.tickets[2].status = "solved".to_owned();
        data.tickets[2].updated_at = now;
        // New.
        data.tickets.push(ticket(16, now));
        // Stamped just after the state but visible only now (an API that indexes late): in
        // the past by the time the next sync starts, and after the state, so it is read.
        data.tickets
            .push(ticket(17, watermark + TimeDelta::milliseconds(1)));
        // Changed without moving `updated_at`, and created with a timestamp at or below the
        // state: no `updated_at` cursor can see these, and the state never promised to.
        data.tickets[3].subject = "edited silently".to_owned();
        data.tickets.push(ticket(18, watermark));
    });
    let second = sync(&api.config(), Some(&state));
    assert_eq!(second.exit_code, 0, "{}", second.stdout);
    assert_eq!(ids(&second), [17, 3, 16]);
    assert_eq!(second.records()[1].data["status"], "solved");
    // Only the day of the state is asked for: the changes and ticket 18.
    let today = watermark.date_naive();
    assert_eq!(
        api.take_requests(),
        [format!("{today} 1 3"), format!("{today} 2 3")]
    );
    let last = states(&second).last().expect("a final state").0;
    assert!(last >= now, "{last} after {now}");

    // Nothing changed since: nothing is read.
    let third = sync(
        &api.config(),
        Some(&second.state_file_at(second.states().len() - 1)),
    );
    assert_eq!(third.exit_code, 0);
    assert!(third.records().is_empty(), "{}", third.stdout);
}

#[test]
fn the_crash_test_holds_at_every_cut() {
    let api = Api::start();
    let config = api.config();
    let report = CrashTest::new(&TicketsApi, &config, &catalog()).assert();
    assert_eq!(report.records, 15);
    assert_eq!(report.cuts, report.messages);
}

#[test]
fn the_example_files_read_from_a_real_api() {
    let api = Api::start();
    let mut config: Value =
        serde_json::from_str(&std::fs::read_to_string(example_file("config.json")).expect("file"))
            .expect("config.json is JSON");
    assert_eq!(config["base_url"], "http://127.0.0.1:8080");
    config["base_url"] = json!(api.url);
    config["api_key"] = json!(KEY);
    config["start_date"] = json!(api.day(0).to_string());
    let path = crate::support::temp_file("config.json", &config.to_string());
    let output = testing::run(
        &TicketsApi,
        &[
            "read",
            "--config",
            path.to_str().expect("utf-8"),
            "--catalog",
            &example_file("catalog.json"),
        ],
    );
    assert_eq!(output.exit_code, 0, "{}", output.stdout);
    assert_eq!(ids(&output), all_ids());
    // The default page size: one page per day window.
    assert!(api.take_requests().iter().all(|r| r.ends_with(" 1 100")));
}

#[test]
fn spec_hides_the_key_and_discover_lists_the_stream() {
    let output = testing::run(&TicketsApi, &["spec"]);
    let Message::Spec { spec } = &output.messages[0] else {
        panic!("expected SPEC: {}", output.stdout);
    };
    let properties = &spec.connection_specification["properties"];
    assert_eq!(properties["api_key"]["airbyte_secret"], true);
    assert_eq!(properties["start_date"]["format"], "date");

    let output = testing::run(
        &TicketsApi,
        &["discover", "--config", &example_file("config.json")],
    );
    let Message::Catalog { catalog: found } = &output.messages[0] else {
        panic!("expected CATALOG: {}", output.stdout);
    };
    let stream = &found.streams[0];
    assert_eq!(stream.name, "tickets");
    assert_eq!(
        stream.default_cursor_field,
        Some(vec!["updated_at".to_owned()])
    );
    assert_eq!(
        stream.source_defined_primary_key,
        Some(vec![vec!["id".to_owned()]])
    );
    // The example's catalog file is what discover says.
    assert_eq!(
        serde_json::to_value(stream).expect("serializes"),
        catalog()["streams"][0]["stream"]
    );
}

#[test]
fn a_start_date_in_the_future_is_a_config_error() {
    let api = Api::start();
    let mut config = api.config();
    config["start_date"] = json!((Utc::now().date_naive() + TimeDelta::days(2)).to_string());
    let (status, message, _) = check(&config);
    assert_eq!(status, Status::Failed);
    assert!(message.contains("in the future"), "{message}");
    let output = sync(&config, None);
    assert_eq!(output.exit_code, 1);
    let error = crate::support::first_error(&output);
    assert_eq!(error.failure_type, Some(FailureType::ConfigError));
    assert!(api.take_requests().is_empty());
}

/// The example as a process, stuck on a 60 s `Retry-After`: SIGTERM ends the wait at once, with
/// the last safe STATE flushed and the exit showing the signal.
#[cfg(unix)]
#[test]
fn sigterm_during_a_rate_limit_wait_stops_at_once_with_the_safe_state() {
    use std::io::BufRead as _;
    use std::os::unix::process::ExitStatusExt as _;
    use std::process::{Command, Stdio};

    let api = Api::start();
    api.inject(Fault::new(api.day(1), 1, 429).retry_after("60").forever());
    let config = crate::support::temp_file("config.json", &api.config().to_string());
    let catalog = crate::support::temp_file("catalog.json", &catalog().to_string());
    let mut child = Command::new(crate::cli::example_binary("http_api"))
        .args(["read", "--config"])
        .arg(&config)
        .arg("--catalog")
        .arg(&catalog)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("starts");
    let mut lines = std::io::BufReader::new(child.stdout.take().expect("stdout")).lines();
    let mut seen: Vec<Value> = Vec::new();
    // The wait is announced (and what came before it flushed) as a RATE_LIMITED status.
    while !seen
        .iter()
        .any(|m| m["trace"]["stream_status"]["reasons"][0]["type"] == "RATE_LIMITED")
    {
        let line = lines.next().expect("more output").expect("a line");
        seen.push(serde_json::from_str(&line).expect("JSON"));
    }
    let signalled = Instant::now();
    crate::cli::terminate(&child);
    seen.extend(
        lines.map(|line| serde_json::from_str::<Value>(&line.expect("a line")).expect("JSON")),
    );
    let status = child.wait().expect("exits");
    assert!(
        signalled.elapsed() < Duration::from_secs(5),
        "{:?}",
        signalled.elapsed()
    );
    assert_eq!(status.signal(), Some(15), "{status:?}");
    // Day 0 was complete before the wait: its STATE is the last one.
    let checkpoints: Vec<&Value> = seen.iter().filter(|m| m["type"] == "STATE").collect();
    let last = checkpoints.last().expect("a STATE");
    assert_eq!(
        last["state"]["stream"]["stream_state"]["updated_at"],
        json!(api.at(1, "00:00:00"))
    );
    let tail: Vec<&Value> = seen.iter().rev().take(2).collect();
    assert_eq!(tail[1]["trace"]["stream_status"]["status"], "INCOMPLETE");
    assert!(
        tail[0]["trace"]["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("SIGTERM"))
    );
}
