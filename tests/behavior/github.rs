//! The `github` example against the `github_mock` API, both in the test process (the mock on
//! port 0): discover, a full read, the crash test over all four streams, a second sync after
//! the mock changed data, rate limits and a refused token.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use serde_json::{Value, json};
use tidemark::protocol::{
    FailureType, Message, Status, StreamStatus, StreamStatusReasonType, TraceType,
};
use tidemark::testing::{self, CrashTest, Output};

#[allow(
    dead_code,
    reason = "the example's `main` is not called from the tests"
)]
#[path = "../../examples/github/main.rs"]
mod example;

/// The mock, included once for the suite by `github_mock.rs`.
use crate::github_mock::example as mock;

use example::Github;
use mock::{Mock, Options, Shape};

/// Repositories, and per repository: issues, comments per issue, events.
const REPOS: u32 = 3;
const ISSUES: u32 = 24;
const COMMENTS_PER_ISSUE: u32 = 2;
const EVENTS: u32 = 15;
/// Small pages, so that every listing has several.
const PAGE_SIZE: u32 = 7;

/// The token of a mock started with one.
const TOKEN: &str = "ghp_test7Qm2xV9pLw";

/// A small mock; `token` makes it require that token.
fn start(token: Option<&str>) -> Mock {
    Mock::start(Options {
        shape: Shape {
            org: "acme".to_owned(),
            repos: REPOS,
            issues_per_repo: ISSUES,
            comments_per_issue: COMMENTS_PER_ISSUE,
            events_per_repo: EVENTS,
            seed: 11,
        },
        threads: 8,
        token: token.map(str::to_owned),
        ..Options::default()
    })
    .expect("the mock starts")
}

fn config(mock: &Mock) -> Value {
    json!({"api_url": mock.url(), "token": TOKEN, "page_size": PAGE_SIZE})
}

fn example_file(name: &str) -> String {
    format!("{}/examples/github/{name}", env!("CARGO_MANIFEST_DIR"))
}

/// The example's catalog.json.
fn catalog() -> Value {
    let text = std::fs::read_to_string(example_file("catalog.json")).expect("catalog.json");
    serde_json::from_str(&text).expect("catalog.json is JSON")
}

/// `POST /_mock/{what}`: the answer's JSON.
fn admin(mock: &Mock, what: &str) -> Value {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let mut response = agent
        .post(format!("{}/_mock/{what}", mock.url()))
        .send_empty()
        .expect("the mock answers");
    assert_eq!(response.status().as_u16(), 200, "POST /_mock/{what}");
    let body = response.body_mut().read_to_string().expect("a body");
    serde_json::from_str(&body).unwrap_or(Value::Null)
}

/// `GET /_mock/stats`: the API requests for events so far.
fn event_requests(mock: &Mock) -> u64 {
    let mut response = ureq::get(format!("{}/_mock/stats", mock.url()))
        .call()
        .expect("the mock answers");
    let body = response.body_mut().read_to_string().expect("a body");
    let stats: Value = serde_json::from_str(&body).expect("JSON stats");
    stats["by_kind"]["events"]
        .as_u64()
        .expect("a count of events requests")
}

/// The records of `stream`, as JSON.
fn records<'o>(output: &'o Output, stream: &str) -> Vec<&'o Value> {
    output
        .records()
        .into_iter()
        .filter(|record| record.stream == stream)
        .map(|record| &record.data)
        .collect()
}

/// The values of `key` in the records of `stream`, as strings (ids are numbers, except the
/// events').
fn keys(output: &Output, stream: &str, key: &str) -> BTreeSet<String> {
    records(output, stream)
        .into_iter()
        .map(|record| match &record[key] {
            Value::String(text) => text.clone(),
            other => other.to_string(),
        })
        .collect()
}

/// The final `--state` file of a run: every stream's last STATE.
fn final_state(output: &Output) -> Value {
    output.state_file_at(output.states().len() - 1)
}

fn assert_succeeded(output: &Output) {
    assert_eq!(
        output.exit_code, 0,
        "stdout:\n{}\nstderr:\n{}",
        output.stdout, output.stderr
    );
}

const STREAMS: [&str; 4] = ["repositories", "issues", "comments", "events"];

#[test]
fn discover_lists_the_four_streams_with_their_sync_modes() {
    let mock = start(None);
    let path = crate::support::temp_file("github-config.json", &config(&mock).to_string());
    let output = testing::run(
        &Github,
        &["discover", "--config", path.to_str().expect("utf-8")],
    );
    assert_succeeded(&output);
    if let Some(validators) = crate::protocol_schema::validators() {
        crate::protocol_schema::assert_valid(&validators, &output);
    }
    let Some(Message::Catalog { catalog }) = output.messages.first() else {
        panic!("a CATALOG: {}", output.stdout);
    };
    let catalog = serde_json::to_value(catalog).expect("a catalog serializes");
    let streams: BTreeMap<&str, &Value> = catalog["streams"]
        .as_array()
        .expect("streams")
        .iter()
        .map(|stream| (stream["name"].as_str().expect("a name"), stream))
        .collect();
    assert_eq!(
        streams.keys().copied().collect::<BTreeSet<_>>(),
        BTreeSet::from(STREAMS)
    );
    let repositories = streams["repositories"];
    assert_eq!(
        repositories["supported_sync_modes"],
        json!(["full_refresh"])
    );
    assert_eq!(repositories["source_defined_primary_key"], json!([["id"]]));
    assert_eq!(repositories["is_resumable"], json!(true));
    for (stream, cursor) in [
        ("issues", "updated_at"),
        ("comments", "updated_at"),
        ("events", "created_at"),
    ] {
        let entry = streams[stream];
        assert_eq!(
            entry["supported_sync_modes"],
            json!(["full_refresh", "incremental"]),
            "{stream}"
        );
        assert_eq!(entry["default_cursor_field"], json!([cursor]), "{stream}");
        assert_eq!(
            entry["source_defined_primary_key"],
            json!([["id"]]),
            "{stream}"
        );
        assert!(
            entry["json_schema"]["properties"]["repository"].is_object(),
            "{stream} records name their repository"
        );
    }
    // The example's catalog selects what discover shows, each stream in its mode.
    for configured in catalog_streams() {
        let name = configured["stream"]["name"].as_str().expect("a name");
        assert_eq!(&configured["stream"], streams[name], "catalog.json: {name}");
    }
}

fn catalog_streams() -> Vec<Value> {
    catalog()["streams"].as_array().expect("streams").clone()
}

#[test]
fn a_read_emits_every_record_of_the_four_streams_each_followed_by_a_state() {
    let mock = start(None);
    let output = testing::read(&Github, &config(&mock), &catalog(), None);
    assert_succeeded(&output);
    let issues = usize::try_from(REPOS * ISSUES).expect("small");
    assert_eq!(records(&output, "repositories").len(), REPOS as usize);
    assert_eq!(keys(&output, "issues", "id").len(), issues);
    assert_eq!(
        keys(&output, "comments", "id").len(),
        issues * COMMENTS_PER_ISSUE as usize
    );
    assert_eq!(
        keys(&output, "events", "id").len(),
        (REPOS * EVENTS) as usize
    );
    // Records carry their repository, and issues come per repository in `updated_at` order.
    let repositories = keys(&output, "repositories", "full_name");
    assert_eq!(
        repositories,
        (1..=REPOS).map(|r| format!("acme/repo-{r:04}")).collect()
    );
    for stream in ["issues", "comments", "events"] {
        assert_eq!(
            keys(&output, stream, "repository"),
            repositories,
            "{stream}"
        );
    }
    for stream in STREAMS {
        assert_eq!(
            output.statuses(stream).last(),
            Some(&StreamStatus::Complete),
            "{stream}"
        );
        // The stream's last message before COMPLETE is a STATE, after its last record.
        let last_record = output.messages.iter().rposition(
            |message| matches!(message, Message::Record { record } if record.stream == stream),
        );
        let last_state = output.messages.iter().rposition(|message| {
            matches!(message, Message::State { state }
                if state.stream.as_ref().is_some_and(|s| s.stream_descriptor.name == stream))
        });
        assert!(last_record < last_state, "{stream}: {}", output.stdout);
    }
    // Each partitioned stream's state holds one watermark per repository.
    let state = final_state(&output);
    for stream in ["issues", "comments", "events"] {
        let entry = state
            .as_array()
            .expect("a list")
            .iter()
            .find(|s| s["stream"]["stream_descriptor"]["name"] == stream)
            .expect("a state per stream");
        let partitions = entry["stream"]["stream_state"]["states"]
            .as_array()
            .map_or(0, Vec::len);
        assert_eq!(partitions, REPOS as usize, "{stream}: {entry}");
    }
    assert!(!output.stdout.contains(TOKEN), "the token is never printed");
}

#[test]
fn a_sync_from_the_saved_state_reads_exactly_what_changed() {
    let mock = start(None);
    let config = config(&mock);
    let first = testing::read(&Github, &config, &catalog(), None);
    assert_succeeded(&first);
    let state = final_state(&first);

    // Nothing changed: only the full-refresh stream has records.
    let before = event_requests(&mock);
    let idle = testing::read(&Github, &config, &catalog(), Some(&state));
    assert_succeeded(&idle);
    for stream in ["issues", "comments", "events"] {
        assert_eq!(records(&idle, stream).len(), 0, "{stream}: {}", idle.stdout);
    }
    assert_eq!(records(&idle, "repositories").len(), REPOS as usize);
    // The newest-first feed stopped at its first page in each repository: caught up.
    assert_eq!(event_requests(&mock) - before, u64::from(REPOS));

    let changed = admin(&mock, "touch?issues=7&comments=4&comment_edits=3&events=5");
    let ids = |kind: &str, filter: &dyn Fn(&Value) -> bool| -> BTreeSet<String> {
        changed[kind]
            .as_array()
            .expect("a list")
            .iter()
            .filter(|item| filter(item))
            .map(|item| match &item["id"] {
                Value::String(text) => text.clone(),
                other => other.to_string(),
            })
            .collect()
    };
    let second = testing::read(&Github, &config, &catalog(), Some(&final_state(&idle)));
    assert_succeeded(&second);
    assert_eq!(keys(&second, "issues", "id"), ids("issues", &|_| true));
    assert_eq!(keys(&second, "comments", "id"), ids("comments", &|_| true));
    assert_eq!(keys(&second, "events", "id"), ids("events", &|_| true));
    assert_eq!(records(&second, "issues").len(), 7);
    assert_eq!(records(&second, "comments").len(), 7);
    assert_eq!(records(&second, "events").len(), 5);
    // The issues moved to their new state, as the mock says.
    for issue in records(&second, "issues") {
        let touched = changed["issues"]
            .as_array()
            .expect("a list")
            .iter()
            .find(|item| item["id"] == issue["id"])
            .expect("a touched issue");
        assert_eq!(issue["state"], touched["state"]);
        assert_eq!(issue["updated_at"], touched["updated_at"]);
        assert_eq!(issue["repository"], touched["repo"]);
    }
}

#[test]
fn the_crash_test_passes_over_the_whole_connector() {
    let mock = start(None);
    let report = CrashTest::new(&Github, &config(&mock), &catalog())
        .max_cuts(40)
        .assert();
    let expected = REPOS * (1 + ISSUES + ISSUES * COMMENTS_PER_ISSUE + EVENTS);
    assert_eq!(report.records, expected as usize);
}

#[test]
fn the_crash_test_passes_on_a_second_sync_after_changes() {
    let mock = start(None);
    let config = config(&mock);
    let first = testing::read(&Github, &config, &catalog(), None);
    assert_succeeded(&first);
    admin(&mock, "touch?issues=5&comments=3&comment_edits=2&events=4");
    let report = CrashTest::new(&Github, &config, &catalog())
        .from_state(&final_state(&first))
        .max_cuts(40)
        .assert();
    assert_eq!(report.records, (REPOS + 5 + 5 + 4) as usize);
}

/// The `RUNNING` statuses with a `RATE_LIMITED` reason, over all streams.
fn rate_limited(output: &Output) -> usize {
    output
        .traces(TraceType::StreamStatus)
        .into_iter()
        .filter_map(|trace| trace.stream_status.as_ref())
        .filter(|status| {
            status.status == StreamStatus::Running
                && status
                    .reasons
                    .iter()
                    .flatten()
                    .any(|reason| reason.reason_type == StreamStatusReasonType::RateLimited)
        })
        .count()
}

#[test]
fn a_rate_limited_api_is_waited_for_and_the_sync_completes() {
    for status in [429, 403] {
        let mock = start(None);
        let expected = testing::read(&Github, &config(&mock), &catalog(), None);
        assert_succeeded(&expected);
        // The next two requests are refused, with `Retry-After: 1`.
        admin(
            &mock,
            &format!("rate-limit?status={status}&count=2&retry_after=1"),
        );
        let started = std::time::Instant::now();
        let output = testing::read(&Github, &config(&mock), &catalog(), None);
        assert_succeeded(&output);
        assert!(started.elapsed() >= Duration::from_secs(2), "{status}");
        assert_eq!(rate_limited(&output), 2, "{status}: {}", output.stdout);
        // The statuses with their reasons are protocol messages like the others.
        if let Some(validators) = crate::protocol_schema::validators() {
            crate::protocol_schema::assert_valid(&validators, &output);
        }
        for stream in STREAMS {
            assert_eq!(
                keys(&output, stream, "id"),
                keys(&expected, stream, "id"),
                "{status}: {stream}"
            );
        }
    }
}

#[test]
fn a_wrong_token_fails_check_and_read_naming_the_token() {
    let mock = start(Some(TOKEN));
    let check = |token: &str| {
        let config = json!({"api_url": mock.url(), "token": token});
        let path = crate::support::temp_file("github-check.json", &config.to_string());
        testing::run(
            &Github,
            &["check", "--config", path.to_str().expect("utf-8")],
        )
    };
    let good = check(TOKEN);
    assert_succeeded(&good);
    assert!(
        matches!(&good.messages[..], [Message::ConnectionStatus { connection_status }]
            if connection_status.status == Status::Succeeded),
        "{}",
        good.stdout
    );
    let wrong = "ghp_wrongWrongWrong1";
    let bad = check(wrong);
    assert_eq!(bad.exit_code, 0, "check reports, and exits 0");
    let [Message::ConnectionStatus { connection_status }] = &bad.messages[..] else {
        panic!("one CONNECTION_STATUS: {}", bad.stdout);
    };
    assert_eq!(connection_status.status, Status::Failed);
    let message = connection_status.message.as_deref().unwrap_or_default();
    assert!(message.contains("`token`"), "{message}");
    assert!(!bad.stdout.contains(wrong) && !bad.stderr.contains(wrong));

    // A read with it fails each stream with a config error, and prints no record.
    let config = json!({"api_url": mock.url(), "token": wrong});
    let read = testing::read(&Github, &config, &catalog(), None);
    assert_eq!(read.exit_code, 1);
    assert!(read.records().is_empty());
    let errors = read.traces(TraceType::Error);
    assert!(!errors.is_empty());
    for error in errors {
        let error = error.error.as_ref().expect("an error trace");
        assert_eq!(error.failure_type, Some(FailureType::ConfigError));
        assert!(error.message.contains("`token`"), "{}", error.message);
    }
    assert!(!read.stdout.contains(wrong) && !read.stderr.contains(wrong));
}

#[test]
fn a_listed_repository_that_does_not_exist_is_a_config_error_naming_it() {
    let mock = start(None);
    let mut config = config(&mock);
    config["repositories"] = json!(["acme/repo-0002", "acme/no-such-repo"]);
    // One repository at a time, so that the one that exists is read before the missing one
    // stops the stream (read at once, the 404 may stop it first).
    config["concurrency"] = json!(1);
    let output = testing::read(&Github, &config, &catalog(), None);
    assert_eq!(output.exit_code, 1);
    let errors = output.traces(TraceType::Error);
    assert_eq!(errors.len(), STREAMS.len(), "{}", output.stdout);
    for error in errors {
        let error = error.error.as_ref().expect("an error trace");
        assert_eq!(error.failure_type, Some(FailureType::ConfigError));
        assert!(
            error.message.contains("`acme/no-such-repo`"),
            "{}",
            error.message
        );
    }
    // The listed repository that exists was read before the missing one.
    assert_eq!(
        keys(&output, "issues", "repository"),
        BTreeSet::from(["acme/repo-0002".to_owned()])
    );
}

#[test]
fn a_repository_name_that_is_not_owner_slash_name_is_a_config_error() {
    let mock = start(None);
    let mut config = config(&mock);
    config["repositories"] = json!(["acme/repo-0001", "acme"]);
    let path = crate::support::temp_file("github-bad-repo.json", &config.to_string());
    let output = testing::run(
        &Github,
        &["check", "--config", path.to_str().expect("utf-8")],
    );
    let [Message::ConnectionStatus { connection_status }] = &output.messages[..] else {
        panic!("one CONNECTION_STATUS: {}", output.stdout);
    };
    assert_eq!(connection_status.status, Status::Failed);
    let message = connection_status.message.as_deref().unwrap_or_default();
    assert!(message.contains("`repositories[1]`"), "{message}");
}

/// The example's catalog with only `stream`.
fn catalog_of(stream: &str) -> Value {
    let streams: Vec<Value> = catalog_streams()
        .into_iter()
        .filter(|configured| configured["stream"]["name"] == stream)
        .collect();
    json!({ "streams": streams })
}

#[test]
fn a_failed_repositories_attempt_resumes_at_the_page_it_saved() {
    let mock = start(None);
    let mut config = config(&mock);
    config["page_size"] = json!(1);
    let catalog = catalog_of("repositories");
    let first = testing::read(&Github, &config, &catalog, None);
    assert_succeeded(&first);
    let states: Vec<Value> = first
        .states()
        .into_iter()
        .map(|state| {
            let stream = state.stream.as_ref().expect("a STREAM state");
            serde_json::to_value(&stream.stream_state).expect("a state serializes")
        })
        .collect();
    // A position after each page but the last, then `{}`: the next sync starts over.
    assert_eq!(
        states,
        [
            json!({"position": {"page": 2}}),
            json!({"position": {"page": 3}}),
            json!({})
        ]
    );
    // An attempt retried from the first position reads the pages after it.
    let retried = testing::read(&Github, &config, &catalog, Some(&first.state_file_at(0)));
    assert_succeeded(&retried);
    assert_eq!(
        keys(&retried, "repositories", "full_name"),
        BTreeSet::from(["acme/repo-0002".to_owned(), "acme/repo-0003".to_owned()])
    );
    // And a sync after a completed one reads everything.
    let next = testing::read(&Github, &config, &catalog, Some(&final_state(&first)));
    assert_eq!(records(&next, "repositories").len(), REPOS as usize);
    CrashTest::new(&Github, &config, &catalog).assert();
}
