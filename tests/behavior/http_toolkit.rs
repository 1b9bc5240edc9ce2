//! The HTTP toolkit end to end: connectors built on `tidemark::http`, read through the runtime
//! against the testing kit's mock server. What the client does per request is tested in the
//! runtime's own tests; here: what a sync shows (`CONTROL`, `RATE_LIMITED`, errors, masking) and
//! what every paginator reads through a real client.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tidemark::http::{
    Auth, BodyCursor, BodyNextLink, Client, Detached, LinkHeader, NoPagination, OAuth2, Offset,
    PageNumber, Paginator, Records, Request, RequestBudget, Retry,
};
use tidemark::protocol::{FailureType, Message, TraceType};
use tidemark::testing::http::{Expect, MockServer, Reply};
use tidemark::testing::{self, Output};
use tidemark::{Error, Secret, Sink, Slice, Source, Streams};

/// An item of the mock API.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[tidemark::incremental_stream(name = "items", cursor = "id", primary_key = "id")]
pub(super) struct Item {
    id: u64,
}

/// An item of a per-account listing, read concurrently.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[tidemark::incremental_stream(
    name = "account_items",
    cursor = "id",
    primary_key = ["account", "id"],
    partition = "account"
)]
struct AccountItem {
    account: String,
    id: u64,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
struct Credentials {
    client_secret: Secret<String>,
    refresh_token: Secret<String>,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub(super) struct Config {
    base_url: String,
    #[serde(default)]
    credentials: Option<Credentials>,
    #[serde(default)]
    api_key: Option<Secret<String>>,
    #[serde(default)]
    accounts: Vec<String>,
    #[serde(default)]
    budget_per_second: Option<u32>,
}

/// A source over the mock API: `items` (one listing, `?after=` the state) with `OAuth2` or
/// a query API key; `account_items` (one listing per account, read 8 at once).
pub(super) struct Api;

impl Api {
    pub(super) fn client(config: &Config) -> Result<Client, Error> {
        let mut builder = Client::builder(config.base_url.as_str()).retry(
            Retry::new()
                .max_retries(2)
                .backoff(Duration::from_millis(5), Duration::from_millis(20)),
        );
        if let Some(credentials) = &config.credentials {
            builder = builder.auth(Auth::OAuth2(
                OAuth2::refresh_token(
                    &format!("{}/oauth/token", config.base_url),
                    "client-1",
                    credentials.client_secret.clone(),
                    credentials.refresh_token.clone(),
                )
                .rotating("/credentials/refresh_token"),
            ));
        } else if let Some(key) = &config.api_key {
            builder = builder.auth(Auth::ApiKeyQuery {
                name: "key".to_owned(),
                key: key.clone(),
            });
        }
        if let Some(per_second) = config.budget_per_second {
            builder = builder.budget(RequestBudget::new(per_second, Duration::from_secs(1)));
        }
        builder.build()
    }
}

impl Source for Api {
    const NAME: &'static str = "source-mock-api";
    type Config = Config;

    /// One request, outside any stream.
    fn check(&self, config: &Config) -> Result<(), Error> {
        Api::client(config)?
            .send(&Request::get("/items"), &mut Detached)
            .map(drop)
    }

    fn streams<'a>(&'a self, config: &'a Config) -> Result<Streams<'a>, Error> {
        let client = Api::client(config)?;
        let items = client.clone();
        let accounts: Vec<String> = config.accounts.clone();
        Ok(Streams::new()
            .concurrency(8)
            .stream(move |slice: &Slice<Item>, out: &mut Sink<Item>| {
                let mut request = Request::get("/items");
                if let Some(after) = slice.after() {
                    request = request.query("after", after);
                }
                let mut pages = items.pages(
                    request,
                    BodyCursor::new("/next", "cursor"),
                    Records::json("/items"),
                );
                while let Some(page) = pages.next::<Item>(out)? {
                    for item in &page.records {
                        out.emit(item)?;
                    }
                }
                Ok(())
            })
            .concurrent_partitioned(
                tidemark::Partitions::list(accounts),
                move |slice: &Slice<AccountItem>, out: &mut Sink<AccountItem>| {
                    let account = slice.partition().clone();
                    let request = Request::get(format!("/accounts/{account}/items"));
                    let mut pages =
                        client.pages(request, PageNumber::new("page"), Records::json(""));
                    while let Some(page) = pages.next::<Value>(out)? {
                        for item in &page.records {
                            out.emit(&AccountItem {
                                account: account.clone(),
                                id: item["id"].as_u64().unwrap_or_default(),
                            })?;
                        }
                    }
                    Ok(())
                },
            ))
    }
}

fn catalog(streams: &[&str]) -> Value {
    let config = json!({"base_url": "http://127.0.0.1:9"});
    let mut catalog = testing::incremental_catalog(&Api, &config);
    catalog["streams"]
        .as_array_mut()
        .expect("streams")
        .retain(|entry| streams.contains(&entry["stream"]["name"].as_str().expect("a name")));
    catalog
}

pub(super) fn controls(output: &Output) -> Vec<&Value> {
    output
        .messages
        .iter()
        .filter_map(|message| match message {
            Message::Control { control } => Some(&control.connector_config.config),
            _ => None,
        })
        .collect()
}

/// `RATE_LIMITED` stream statuses in `output`.
pub(super) fn rate_limited(output: &Output) -> usize {
    output
        .traces(TraceType::StreamStatus)
        .iter()
        .filter(|trace| {
            trace.stream_status.as_ref().is_some_and(|status| {
                status
                    .reasons
                    .as_ref()
                    .is_some_and(|reasons| !reasons.is_empty())
            })
        })
        .count()
}

/// An `OAuth2` provider that rotates `refresh-one-0001` into `refresh-two-0002` (with the
/// access token `access-one-0001`) once, then gives `access-two-0002` for the new one, once.
pub(super) fn rotating_provider(server: &MockServer) {
    server
        .expect(Expect::post("/oauth/token").body_contains("refresh_token=refresh-one-0001"))
        .respond(Reply::json(
            200,
            json!({"access_token": "access-one-0001", "expires_in": 3600,
                   "refresh_token": "refresh-two-0002"}),
        ))
        .times(1);
    server
        .expect(Expect::post("/oauth/token").body_contains("refresh_token=refresh-two-0002"))
        .respond(Reply::json(
            200,
            json!({"access_token": "access-two-0002", "expires_in": 3600}),
        ))
        .times(1);
}

pub(super) fn ids(output: &Output) -> Vec<u64> {
    output
        .records()
        .iter()
        .map(|record| record.data["id"].as_u64().expect("an id"))
        .collect()
}

/// The provider rotates the refresh token at the first refresh: the sync saves the whole
/// config with the new token (CONTROL) before using it, and the next sync, given that config,
/// refreshes with the new token (a refresh with the old one would be unmatched, and fail).
#[test]
fn a_rotated_refresh_token_is_saved_with_a_control_message_and_used_by_the_next_sync() {
    let server = MockServer::start();
    rotating_provider(&server);
    server
        .expect(Expect::get("/items").header("authorization", "Bearer access-one-0001"))
        .respond(Reply::json(
            200,
            json!({"items": [{"id": 1}, {"id": 2}], "next": "c2"}),
        ))
        .respond(Reply::json(
            200,
            json!({"items": [{"id": 3}], "next": null}),
        ))
        .times(2);
    server
        .expect(
            Expect::get("/items")
                .query("after", "3")
                .header("authorization", "Bearer access-two-0002"),
        )
        .respond(Reply::json(200, json!({"items": [{"id": 4}]})))
        .times(1);
    let config = json!({
        "base_url": server.url(),
        "credentials": {"client_secret": "client-secret-0003", "refresh_token": "refresh-one-0001"},
        "unknown_to_the_connector": {"kept": true},
    });
    let first = testing::read(&Api, &config, &catalog(&["items"]), None);
    assert_eq!(first.exit_code, 0, "{}", first.stdout);
    assert_eq!(ids(&first), [1, 2, 3]);
    let saved = controls(&first);
    assert_eq!(saved.len(), 1, "{}", first.stdout);
    let mut expected = config.clone();
    expected["credentials"]["refresh_token"] = json!("refresh-two-0002");
    assert_eq!(
        *saved[0], expected,
        "the whole config, with the new token only"
    );
    // Saved before any record: a crash after the first page would not lose the new token.
    let control_at = first
        .messages
        .iter()
        .position(|message| matches!(message, Message::Control { .. }))
        .expect("a CONTROL message");
    let record_at = first
        .messages
        .iter()
        .position(|message| matches!(message, Message::Record { .. }))
        .expect("a record");
    assert!(control_at < record_at);
    // The CONTROL message carries the whole config, secrets included, for the platform to
    // store; no other message shows them.
    let others: Vec<&str> = first
        .stdout
        .lines()
        .filter(|line| !line.starts_with("{\"type\":\"CONTROL\""))
        .collect();
    for token in ["access-one-0001", "client-secret-0003", "refresh-two-0002"] {
        assert!(
            !others.iter().any(|line| line.contains(token)),
            "{token} in {others:?}"
        );
        assert!(!first.stderr.contains(token), "{token} in {}", first.stderr);
    }

    let second = testing::read(
        &Api,
        saved[0],
        &catalog(&["items"]),
        Some(&first.state_file_at(first.states().len() - 1)),
    );
    assert_eq!(second.exit_code, 0, "{}", second.stdout);
    assert_eq!(ids(&second), [4]);
    assert!(controls(&second).is_empty(), "no rotation, nothing to save");
    server.verify();
}

/// A rate limit in a sync: a `RATE_LIMITED` status, the wait, and the records after it; a 5xx
/// that persists: a transient error naming the URL with the key masked, and the last STATE
/// claims only what was emitted.
#[test]
fn a_rate_limit_is_reported_and_waited_and_a_persistent_server_error_fails_transiently() {
    let server = MockServer::start();
    server
        .expect(Expect::get("/items").query("key", "query-key-0004"))
        .respond(Reply::json(429, json!({"message": "slow down"})).header("Retry-After", "1"))
        .respond(Reply::json(
            200,
            json!({"items": [{"id": 1}], "next": "c2"}),
        ))
        .respond(Reply::json(
            503,
            json!({"message": "down for key query-key-0004"}),
        ))
        .times(5);
    let config = json!({"base_url": server.url(), "api_key": "query-key-0004"});
    let output = testing::read(&Api, &config, &catalog(&["items"]), None);
    assert_eq!(output.exit_code, 1, "{}", output.stdout);
    assert_eq!(ids(&output), [1]);
    assert_eq!(rate_limited(&output), 1, "{}", output.stdout);
    let error = crate::support::first_error(&output);
    assert_eq!(error.failure_type, Some(FailureType::TransientError));
    assert!(error.message.contains("503"), "{}", error.message);
    assert!(error.message.contains("/items"), "{}", error.message);
    assert!(
        !output.stdout.contains("query-key-0004"),
        "{}",
        output.stdout
    );
    assert!(
        !output.stderr.contains("query-key-0004"),
        "{}",
        output.stderr
    );
    // Nothing claims record 1 was followed by more: the stream emitted no STATE past it.
    for state in output.states() {
        let text = serde_json::to_string(state).expect("a state serializes");
        assert!(!text.contains("\"id\":2"), "{text}");
    }
    assert_eq!(server.requests().len(), 5, "429, 200, then 503 three times");
}

/// A page whose answer says the quota is spent (`X-RateLimit-Remaining: 0`) holds the next
/// request until `X-RateLimit-Reset`, reported as `RATE_LIMITED`, instead of spending a request
/// on a refusal.
#[test]
fn a_spent_quota_holds_the_next_request_until_its_reset() {
    let server = MockServer::start();
    // In whole seconds, as APIs send it: 4 to 5 s from now.
    let reset = chrono::Utc::now().timestamp() + 5;
    server
        .expect(Expect::get("/items").query("key", "query-key-0004"))
        .respond(
            Reply::json(200, json!({"items": [{"id": 1}], "next": "c2"}))
                .header("X-RateLimit-Remaining", "0")
                .header("X-RateLimit-Reset", reset.to_string()),
        )
        .respond(Reply::json(
            200,
            json!({"items": [{"id": 2}], "next": null}),
        ))
        .times(2);
    let config = json!({"base_url": server.url(), "api_key": "query-key-0004"});
    let output = testing::read(&Api, &config, &catalog(&["items"]), None);
    assert_eq!(output.exit_code, 0, "{}", output.stdout);
    assert_eq!(ids(&output), [1, 2]);
    assert_eq!(rate_limited(&output), 1, "{}", output.stdout);
    let requests = server.requests();
    assert_eq!(requests.len(), 2, "no request refused");
    // The second request came at the reset or after it (its arrival on the wall clock, within
    // a margin for reading the two clocks).
    let arrived = std::time::SystemTime::now() - requests[1].at.elapsed();
    let arrived = arrived
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_secs_f64();
    #[expect(clippy::cast_precision_loss, reason = "seconds of this century")]
    let reset = reset as f64;
    assert!(arrived >= reset - 0.05, "{arrived} before {reset}");
    server.verify();
}

/// Sixteen accounts read eight at once by clones of one client that share a budget of 10
/// requests per second: in no second are there more than 10 requests, and every account is
/// read whole.
#[test]
fn a_budget_shared_by_concurrent_readers_spaces_all_their_requests() {
    let server = MockServer::start();
    let accounts: Vec<String> = (0..16).map(|n| format!("acct-{n:02}")).collect();
    for account in &accounts {
        server
            .expect(Expect::get(format!("/accounts/{account}/items")).query("page", "1"))
            .respond(Reply::json(200, json!([{"id": 1}, {"id": 2}])))
            .times(1);
        server
            .expect(Expect::get(format!("/accounts/{account}/items")).query("page", "2"))
            .respond(Reply::json(200, json!([])))
            .times(1);
    }
    let config = json!({"base_url": server.url(), "accounts": accounts, "budget_per_second": 10});
    let output = testing::read(&Api, &config, &catalog(&["account_items"]), None);
    assert_eq!(output.exit_code, 0, "{}", output.stdout);
    assert_eq!(output.records().len(), 32);
    let mut at: Vec<_> = server.requests().iter().map(|request| request.at).collect();
    at.sort();
    assert_eq!(at.len(), 32);
    // Any 11 requests in a row span at least a second (less a margin for the clock).
    for window in at.windows(11) {
        let span = window[10] - window[0];
        assert!(
            span >= Duration::from_millis(900),
            "11 requests in {span:?}"
        );
    }
    server.verify();
}

#[derive(Debug, Deserialize)]
struct Row {
    id: u64,
}

fn read_all<P: Paginator>(
    client: &Client,
    request: Request,
    paginator: P,
    records: Records,
) -> Vec<u64> {
    let mut pages = client.pages(request, paginator, records);
    let mut ids = Vec::new();
    while let Some(page) = pages.next::<Row>(&mut Detached).expect("a page") {
        ids.extend(page.records.iter().map(|row| row.id));
    }
    ids
}

/// A page of rows with these ids.
fn page(ids: &[u64]) -> Value {
    json!(ids.iter().map(|id| json!({"id": id})).collect::<Vec<_>>())
}

/// A server and a client without credentials.
fn api() -> (MockServer, Client) {
    let server = MockServer::start();
    let client = Client::builder(server.url()).build().expect("a client");
    (server, client)
}

/// Page numbers with a page size: a short page ends the listing.
#[test]
fn page_numbers_end_at_a_short_page() {
    let (server, client) = api();
    for (number, ids) in [("1", &[1, 2][..]), ("2", &[3, 4]), ("3", &[5])] {
        server
            .expect(
                Expect::get("/numbered")
                    .query("page", number)
                    .query("per_page", "2"),
            )
            .respond(Reply::json(200, page(ids)))
            .times(1);
    }
    let numbered = PageNumber::new("page").size("per_page", 2);
    let ids = read_all(
        &client,
        Request::get("/numbered"),
        numbered,
        Records::json(""),
    );
    assert_eq!(ids, [1, 2, 3, 4, 5]);
    server.verify();
}

/// Offsets move by the records read; an empty page ends the listing.
#[test]
fn offsets_move_by_the_records_read() {
    let (server, client) = api();
    for (offset, ids) in [("0", &[1, 2][..]), ("2", &[3, 4]), ("4", &[])] {
        server
            .expect(
                Expect::get("/offset")
                    .query("offset", offset)
                    .query("limit", "2"),
            )
            .respond(Reply::json(200, page(ids)))
            .times(1);
    }
    let offset = Offset::new("offset", "limit", 2);
    let ids = read_all(&client, Request::get("/offset"), offset, Records::json(""));
    assert_eq!(ids, [1, 2, 3, 4]);
    server.verify();
}

/// A cursor in the body goes back as a query parameter, next to the request's own; `null`
/// ends the listing.
#[test]
fn a_cursor_in_the_body_is_sent_back_until_it_is_null() {
    let (server, client) = api();
    server
        .expect(Expect::get("/cursor").query("q", "x"))
        .respond(Reply::json(
            200,
            json!({"data": page(&[1]), "meta": {"next": "abc"}}),
        ))
        .times(1);
    server
        .expect(
            Expect::get("/cursor")
                .query("cursor", "abc")
                .query("q", "x"),
        )
        .respond(Reply::json(
            200,
            json!({"data": page(&[2]), "meta": {"next": null}}),
        ))
        .times(1);
    let cursor = BodyCursor::new("/meta/next", "cursor");
    let first = Request::get("/cursor").query("q", "x");
    assert_eq!(
        read_all(&client, first, cursor, Records::json("/data")),
        [1, 2]
    );
    server.verify();
}

/// A relative next link in the body is followed until it is `null`.
#[test]
fn a_next_link_in_the_body_is_followed() {
    let (server, client) = api();
    server
        .expect(Expect::get("/linked"))
        .respond(Reply::json(
            200,
            json!({"results": page(&[1]), "next": "/linked?after=1"}),
        ))
        .times(1);
    server
        .expect(Expect::get("/linked").query("after", "1"))
        .respond(Reply::json(
            200,
            json!({"results": page(&[2]), "next": null}),
        ))
        .times(1);
    let linked = BodyNextLink::new("/next");
    let ids = read_all(
        &client,
        Request::get("/linked"),
        linked,
        Records::json("/results"),
    );
    assert_eq!(ids, [1, 2]);
    server.verify();
}

/// RFC 8288 `Link` headers (`rel="next"` among others) with JSON Lines bodies; a CSV export
/// sent as a gzip file, without pagination.
#[test]
fn link_headers_json_lines_and_a_gzipped_csv_export() {
    let (server, client) = api();
    let url = server.url();
    let next = format!("<{url}/lines?page=2>; rel=\"next\", <{url}/lines?page=9>; rel=\"last\"");
    server
        .expect(Expect::get("/lines"))
        .respond(Reply::text(200, "{\"id\":1}\n{\"id\":2}\n").header("Link", next))
        .times(1);
    server
        .expect(Expect::get("/lines").query("page", "2"))
        .respond(Reply::text(200, "{\"id\":3}\n"))
        .times(1);
    let ids = read_all(
        &client,
        Request::get("/lines"),
        LinkHeader::new(),
        Records::json_lines(),
    );
    assert_eq!(ids, [1, 2, 3]);

    server
        .expect(Expect::get("/export.csv.gz"))
        .respond(Reply::text(200, "id,name\n7,a\n8,b\n").gzip_file())
        .times(1);
    let export = Request::get("/export.csv.gz");
    assert_eq!(
        read_all(&client, export, NoPagination, Records::csv()),
        [7, 8]
    );
    server.verify();
}

/// A link to another origin is refused: the credential is never sent there.
#[test]
fn a_next_link_to_another_origin_is_refused_without_sending_the_key() {
    let server = MockServer::start();
    let elsewhere = MockServer::start();
    server
        .expect(Expect::get("/items"))
        .respond(
            Reply::json(200, json!([{"id": 1}]))
                .header("Link", format!("<{}/steal>; rel=\"next\"", elsewhere.url())),
        )
        .times(1);
    let client = Client::builder(server.url())
        .auth(Auth::Bearer(Secret::new("bearer-key-0005".to_owned())))
        .build()
        .expect("a client");
    let mut pages = client.pages(Request::get("/items"), LinkHeader::new(), Records::json(""));
    assert!(
        pages
            .next::<Row>(&mut Detached)
            .expect("the first page")
            .is_some()
    );
    let error = pages
        .next::<Row>(&mut Detached)
        .expect_err("another origin");
    assert_eq!(error.failure_type(), FailureType::SystemError);
    assert!(!error.to_string().contains("bearer-key-0005"), "{error}");
    assert!(
        elsewhere.requests().is_empty(),
        "nothing sent to the other origin"
    );
}

/// A refresh token rotated outside a stream (`check`, through `Detached`) is saved too: the
/// CONTROL message is part of the run's output, before the connection status.
#[test]
fn a_refresh_token_rotated_in_check_is_saved_in_the_run_output() {
    let server = MockServer::start();
    server
        .expect(Expect::post("/oauth/token").body_contains("refresh_token=refresh-one-0006"))
        .respond(Reply::json(
            200,
            json!({"access_token": "access-one-0006", "refresh_token": "refresh-two-0007"}),
        ))
        .times(1);
    server
        .expect(Expect::get("/items").header("authorization", "Bearer access-one-0006"))
        .respond(Reply::json(200, json!({"items": []})))
        .times(1);
    let config = json!({
        "base_url": server.url(),
        "credentials": {"client_secret": "client-secret-0008", "refresh_token": "refresh-one-0006"},
    });
    let path = crate::support::temp_file("config.json", &config.to_string());
    let output = testing::run(&Api, &["check", "--config", path.to_str().expect("utf-8")]);
    assert_eq!(output.exit_code, 0, "{}", output.stdout);
    let saved = controls(&output);
    assert_eq!(saved.len(), 1, "{}", output.stdout);
    assert_eq!(saved[0]["credentials"]["refresh_token"], "refresh-two-0007");
    let status_at = output
        .messages
        .iter()
        .position(|message| matches!(message, Message::ConnectionStatus { .. }))
        .expect("a connection status");
    let control_at = output
        .messages
        .iter()
        .position(|message| matches!(message, Message::Control { .. }))
        .expect("a CONTROL message");
    assert!(
        control_at < status_at || control_at == status_at + 1,
        "{}",
        output.stdout
    );
    server.verify();
}
