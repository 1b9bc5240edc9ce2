//! The client against a small scripted server: credentials, retries, rate limits, the budget,
//! classification and masking.

use std::fmt::Write as _;
use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::{Auth, Client, Context, OAuth2, Request, RequestBudget, Retry};
use crate::{Error, Secret};

/// A request the server received.
#[derive(Clone, Debug)]
struct Seen {
    line: String,
    headers: Vec<(String, String)>,
    body: String,
    at: Instant,
}

impl Seen {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }
}

type Answer = (u16, Vec<(&'static str, String)>, String);

/// Serves each request with `answer(request, index)`, one connection per request.
fn serve(
    answer: impl Fn(&Seen, usize) -> Answer + Send + Sync + 'static,
) -> (String, Arc<Mutex<Vec<Seen>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&seen);
    let answer = Arc::new(answer);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let (log, answer) = (Arc::clone(&log), Arc::clone(&answer));
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut line = String::new();
                reader.read_line(&mut line).unwrap();
                let mut headers = Vec::new();
                loop {
                    let mut header = String::new();
                    reader.read_line(&mut header).unwrap();
                    let header = header.trim_end();
                    if header.is_empty() {
                        break;
                    }
                    let (name, value) = header.split_once(':').unwrap();
                    headers.push((name.trim().to_owned(), value.trim().to_owned()));
                }
                let length = headers
                    .iter()
                    .find(|(name, _)| name.eq_ignore_ascii_case("content-length"))
                    .map_or(0, |(_, value)| value.parse().unwrap());
                let mut body = vec![0; length];
                reader.read_exact(&mut body).unwrap();
                let request = Seen {
                    line: line.trim_end().to_owned(),
                    headers,
                    body: String::from_utf8(body).unwrap(),
                    at: Instant::now(),
                };
                let index = {
                    let mut log = log.lock().unwrap();
                    log.push(request.clone());
                    log.len() - 1
                };
                let (status, headers, body) = answer(&request, index);
                let mut out = format!(
                    "HTTP/1.1 {status} X\r\nContent-Length: {}\r\nConnection: close\r\n",
                    body.len()
                );
                for (name, value) in headers {
                    let _ = write!(out, "{name}: {value}\r\n");
                }
                out.push_str("\r\n");
                out.push_str(&body);
                let _ = stream.write_all(out.as_bytes());
            });
        }
    });
    (url, seen)
}

#[expect(clippy::needless_pass_by_value, reason = "reads as `ok(json!(..))`")]
fn ok(body: Value) -> Answer {
    (
        200,
        vec![("Content-Type", "application/json".to_owned())],
        body.to_string(),
    )
}

/// A context that records what the client asked of it.
#[derive(Default)]
struct Recorder {
    waits: Vec<Duration>,
    rate_limited: u32,
    configs: Vec<Value>,
    config: Option<Value>,
    terminate: bool,
}

impl Context for Recorder {
    fn wait(&mut self, duration: Duration) -> Result<(), Error> {
        self.waits.push(duration);
        if self.terminate {
            return Err(Error::Terminated {
                stream: "tickets".to_owned(),
            });
        }
        std::thread::sleep(duration);
        Ok(())
    }
    fn rate_limited(&mut self, _reset: Option<DateTime<Utc>>) -> Result<(), Error> {
        self.rate_limited += 1;
        Ok(())
    }
    fn update_config(&mut self, config: &Value) -> Result<(), Error> {
        self.configs.push(config.clone());
        self.config = Some(config.clone());
        Ok(())
    }
    fn scope(&self) -> Option<(String, String)> {
        None
    }
    fn cut_slice(&mut self) -> Result<(), Error> {
        Ok(())
    }
    fn run_config(&self) -> Option<Value> {
        self.config.clone()
    }
}

fn fast() -> Retry {
    Retry::new()
        .max_retries(2)
        .backoff(Duration::from_millis(5), Duration::from_millis(20))
}

fn secret(text: &str) -> Secret<String> {
    Secret::new(text.to_owned())
}

#[test]
fn each_static_credential_is_sent_where_it_belongs() {
    let (url, seen) = serve(|_, _| ok(json!({})));
    let clients = [
        Auth::ApiKeyHeader {
            name: "X-Api-Key".to_owned(),
            key: secret("hdr-key-7731"),
        },
        Auth::ApiKeyQuery {
            name: "api key".to_owned(),
            key: secret("qry key&7732"),
        },
        Auth::Bearer(secret("bearer-7733")),
        Auth::Basic {
            username: "ann".to_owned(),
            password: secret("pw-7734"),
        },
    ];
    for auth in clients {
        let client = Client::builder(url.as_str()).auth(auth).build().unwrap();
        client
            .send(
                &Request::get("/t").query("page", 1),
                &mut Recorder::default(),
            )
            .unwrap();
    }
    let seen = seen.lock().unwrap();
    assert_eq!(seen[0].header("x-api-key"), Some("hdr-key-7731"));
    assert_eq!(
        seen[1].line,
        "GET /t?page=1&api%20key=qry%20key%267732 HTTP/1.1"
    );
    assert_eq!(seen[2].header("authorization"), Some("Bearer bearer-7733"));
    // base64("ann:pw-7734")
    assert_eq!(
        seen[3].header("authorization"),
        Some("Basic YW5uOnB3LTc3MzQ=")
    );
}

#[test]
fn statuses_are_classified_with_the_credential_to_check_and_no_secret() {
    let (url, _) = serve(|seen, _| {
        let status = seen.line.split('/').nth(1).unwrap()[..3].parse().unwrap();
        (
            status,
            vec![],
            json!({"message": "no", "echo": "qkey-99812"}).to_string(),
        )
    });
    let client = Client::builder(url.as_str())
        .auth(Auth::ApiKeyQuery {
            name: "key".to_owned(),
            key: secret("qkey-99812"),
        })
        .retry(fast())
        .build()
        .unwrap();
    let fail = |status: u16| {
        client
            .send(
                &Request::get(format!("/{status}")),
                &mut Recorder::default(),
            )
            .unwrap_err()
    };
    let unauthorized = fail(401);
    assert!(
        matches!(unauthorized, Error::Config { .. }),
        "{unauthorized:?}"
    );
    assert_eq!(
        unauthorized.to_string(),
        "the API key was rejected (HTTP 401: no): check `api_key`"
    );
    assert!(matches!(fail(403), Error::Config { .. }));
    let missing = fail(404);
    assert!(matches!(missing, Error::System { .. }), "{missing:?}");
    assert!(missing.to_string().contains("/404"), "{missing}");
    let other = fail(422);
    assert!(matches!(other, Error::System { .. }));
    let server = fail(503);
    assert!(matches!(server, Error::Transient { .. }), "{server:?}");
    assert!(server.to_string().contains("failed 3 times"), "{server}");
    for error in [unauthorized, missing, other, server] {
        assert!(!error.to_string().contains("qkey-99812"), "{error}");
        assert!(!format!("{error:?}").contains("qkey-99812"), "{error:?}");
    }
}

#[test]
fn a_connector_names_its_credential_in_the_words_of_its_config() {
    let (url, _) = serve(|_, _| (401, vec![], json!({"error": "bad key"}).to_string()));
    let client = Client::builder(url.as_str())
        .auth(Auth::Bearer(secret("bkey-55120")))
        .credential("the API key", "api_key")
        .build()
        .unwrap();
    let error = client
        .send(&Request::get("/tickets"), &mut Recorder::default())
        .unwrap_err();
    assert!(matches!(error, Error::Config { .. }), "{error:?}");
    assert_eq!(
        error.to_string(),
        "the API key was rejected (HTTP 401: bad key): check `api_key`"
    );
    // A key a header cannot carry is refused when the client is built, naming the field.
    let unfit = Client::builder(url.as_str())
        .auth(Auth::Bearer(secret("bkey-line\nbreak")))
        .credential("the API key", "api_key")
        .build()
        .unwrap_err();
    assert!(matches!(unfit, Error::Config { .. }), "{unfit:?}");
    assert!(unfit.to_string().contains("`api_key`"), "{unfit}");
}

#[cfg(not(feature = "https"))]
#[test]
fn an_https_base_url_without_the_https_feature_is_a_config_error() {
    let error = Client::builder("https://127.0.0.1:1")
        .url_field("api_url")
        .build()
        .unwrap_err();
    assert!(matches!(error, Error::Config { .. }), "{error:?}");
    let message = error.to_string();
    assert!(
        message.contains("`api_url`") && message.contains("`https` feature"),
        "{message}"
    );
}

#[test]
fn server_errors_are_retried_with_backoff_then_succeed() {
    let (url, seen) = serve(|_, index| {
        if index < 2 {
            (500, vec![], "boom".to_owned())
        } else {
            ok(json!({"ok": true}))
        }
    });
    let client = Client::builder(url.as_str()).retry(fast()).build().unwrap();
    let mut ctx = Recorder::default();
    let response = client.send(&Request::get("/x"), &mut ctx).unwrap();
    assert_eq!(response.json::<Value>().unwrap(), json!({"ok": true}));
    assert_eq!(seen.lock().unwrap().len(), 3);
    assert_eq!(ctx.waits.len(), 2);
    assert!(ctx.waits[1] <= Duration::from_millis(20));
}

#[test]
fn transport_errors_are_retried_then_transient() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let client = Client::builder(url.as_str()).retry(fast()).build().unwrap();
    let mut ctx = Recorder::default();
    let error = client.send(&Request::get("/x"), &mut ctx).unwrap_err();
    assert!(matches!(error, Error::Transient { .. }), "{error:?}");
    assert_eq!(ctx.waits.len(), 2);
}

#[test]
fn rate_limits_wait_what_the_api_says_and_report_it() {
    let reset = Utc::now().timestamp() + 1;
    let (url, seen) = serve(move |_, index| match index {
        0 => (429, vec![("Retry-After", "1".to_owned())], String::new()),
        1 => (
            403,
            vec![
                ("X-RateLimit-Remaining", "0".to_owned()),
                ("X-RateLimit-Reset", reset.to_string()),
            ],
            String::new(),
        ),
        2 => (
            429,
            vec![(
                "Retry-After",
                (Utc::now() + chrono::TimeDelta::seconds(1)).to_rfc2822(),
            )],
            String::new(),
        ),
        _ => ok(json!([])),
    });
    let client = Client::builder(url.as_str()).retry(fast()).build().unwrap();
    let mut ctx = Recorder::default();
    client.send(&Request::get("/x"), &mut ctx).unwrap();
    assert_eq!(seen.lock().unwrap().len(), 4);
    assert_eq!(ctx.rate_limited, 3);
    assert_eq!(ctx.waits[0], Duration::from_secs(1));
    assert!(ctx.waits[1] <= Duration::from_secs(2));
    assert!(ctx.waits[2] <= Duration::from_secs(1));
}

#[test]
fn a_wait_longer_than_the_cap_fails_transient_without_sleeping() {
    let (url, _) = serve(|_, _| (429, vec![("Retry-After", "3600".to_owned())], String::new()));
    let client = Client::builder(url.as_str())
        .retry(fast().max_rate_limit_wait(Duration::from_secs(10)))
        .build()
        .unwrap();
    let mut ctx = Recorder::default();
    let error = client.send(&Request::get("/x"), &mut ctx).unwrap_err();
    assert!(matches!(error, Error::Transient { .. }), "{error:?}");
    assert!(error.to_string().contains("3600 s"), "{error}");
    assert!(ctx.waits.is_empty());
}

#[test]
fn sigterm_ends_a_wait() {
    let (url, seen) = serve(|_, _| (503, vec![], String::new()));
    let client = Client::builder(url.as_str()).retry(fast()).build().unwrap();
    let mut ctx = Recorder {
        terminate: true,
        ..Recorder::default()
    };
    let error = client.send(&Request::get("/x"), &mut ctx).unwrap_err();
    assert!(matches!(error, Error::Terminated { .. }), "{error:?}");
    assert_eq!(seen.lock().unwrap().len(), 1);
}

#[test]
fn oauth2_refreshes_once_for_all_clones_rotates_and_saves_the_config() {
    let (url, seen) = serve(|request, _| {
        if request.line.starts_with("POST /token") {
            let count = request.body.matches("refresh_token=").count();
            assert_eq!(count, 1);
            if request.body.contains("refresh_token=rt-old-5521") {
                return ok(json!({"access_token": "at-one-5521", "expires_in": 3600,
                                 "refresh_token": "rt-new-5521"}));
            }
            return ok(json!({"access_token": "at-two-5521", "expires_in": 3600}));
        }
        match request.header("authorization") {
            Some("Bearer at-one-5521" | "Bearer at-two-5521") => ok(json!({})),
            _ => (401, vec![], String::new()),
        }
    });
    let oauth = OAuth2::refresh_token(
        &format!("{url}/token"),
        "client-1",
        secret("cs-5521"),
        secret("rt-old-5521"),
    )
    .rotating("/credentials/refresh_token");
    let client = Client::builder(url.as_str())
        .auth(Auth::OAuth2(oauth))
        .build()
        .unwrap();
    let config = json!({"credentials": {"refresh_token": "rt-old-5521"}, "other": 1});
    let saved = Arc::new(Mutex::new(Vec::new()));
    std::thread::scope(|scope| {
        for _ in 0..8 {
            let (client, config, saved) = (client.clone(), config.clone(), Arc::clone(&saved));
            scope.spawn(move || {
                let mut ctx = Recorder {
                    config: Some(config),
                    ..Recorder::default()
                };
                client.send(&Request::get("/me"), &mut ctx).unwrap();
                saved.lock().unwrap().extend(ctx.configs);
            });
        }
    });
    let tokens = |seen: &[Seen]| seen.iter().filter(|s| s.line.starts_with("POST")).count();
    assert_eq!(tokens(&seen.lock().unwrap()), 1);
    let saved = saved.lock().unwrap().clone();
    assert_eq!(
        saved,
        [json!({"credentials": {"refresh_token": "rt-new-5521"}, "other": 1})]
    );
    assert_eq!(
        crate::secret::mask_text("at-one-5521 rt-new-5521"),
        "**** ****"
    );

    // The next run, from the saved config: its refresh token is the new one.
    let next = OAuth2::refresh_token(
        &format!("{url}/token"),
        "client-1",
        secret("cs-5521"),
        secret(saved[0]["credentials"]["refresh_token"].as_str().unwrap()),
    );
    let client = Client::builder(url.as_str())
        .auth(Auth::OAuth2(next))
        .build()
        .unwrap();
    client
        .send(&Request::get("/me"), &mut Recorder::default())
        .unwrap();
    let seen = seen.lock().unwrap();
    let last_token = seen
        .iter()
        .rev()
        .find(|s| s.line.starts_with("POST"))
        .unwrap();
    assert!(last_token.body.contains("refresh_token=rt-new-5521"));
}

#[test]
fn oauth2_refreshes_once_on_a_401() {
    let (url, seen) = serve(|request, index| {
        if request.line.starts_with("POST /token") {
            return ok(json!({"access_token": format!("at-{index}-8814")}));
        }
        // The first token is refused, whatever its expiry said.
        match request.header("authorization") {
            Some("Bearer at-0-8814") => (401, vec![], String::new()),
            _ => ok(json!({})),
        }
    });
    let oauth = OAuth2::refresh_token(
        &format!("{url}/token"),
        "c",
        secret("cs-8814"),
        secret("rt-8814"),
    );
    let client = Client::builder(url.as_str())
        .auth(Auth::OAuth2(oauth))
        .build()
        .unwrap();
    client
        .send(&Request::get("/me"), &mut Recorder::default())
        .unwrap();
    let seen = seen.lock().unwrap();
    let lines: Vec<_> = seen
        .iter()
        .map(|s| s.line.split(' ').nth(1).unwrap())
        .collect();
    assert_eq!(lines, ["/token", "/me", "/token", "/me"]);
}

#[test]
fn a_budget_shared_by_eight_readers_spaces_their_requests() {
    let (url, seen) = serve(|_, _| ok(json!({})));
    let per = Duration::from_millis(300);
    let client = Client::builder(url.as_str())
        .budget(RequestBudget::new(4, per))
        .build()
        .unwrap();
    std::thread::scope(|scope| {
        for _ in 0..8 {
            let client = client.clone();
            scope.spawn(move || {
                for _ in 0..2 {
                    client
                        .send(&Request::get("/x"), &mut Recorder::default())
                        .unwrap();
                }
            });
        }
    });
    let mut times: Vec<Instant> = seen.lock().unwrap().iter().map(|s| s.at).collect();
    times.sort();
    assert_eq!(times.len(), 16);
    // At most 4 in any window of `per` (less a margin for the server's clock).
    for (i, at) in times.iter().enumerate().skip(4) {
        assert!(
            at.duration_since(times[i - 4]) >= per.saturating_sub(Duration::from_millis(50)),
            "{i}: {:?}",
            at.duration_since(times[i - 4])
        );
    }
}

#[test]
fn credentials_are_not_sent_to_another_origin() {
    let client = Client::builder("http://127.0.0.1:9")
        .auth(Auth::Bearer(secret("tok-4410")))
        .build()
        .unwrap();
    let error = client
        .send(
            &Request::get("http://evil.example/x"),
            &mut Recorder::default(),
        )
        .unwrap_err();
    assert!(matches!(error, Error::System { .. }), "{error:?}");
    let error = Client::builder("ftp://x").build().unwrap_err();
    assert!(matches!(error, Error::Config { .. }));
    assert!(error.to_string().contains("`base_url`"));
}

#[test]
fn an_ignored_status_ends_a_listing_with_an_empty_page_and_finished_says_when_it_ended() {
    use super::{LinkHeader, OnStatus, Records};
    let (url, seen) = serve(|seen, _| {
        if seen.line.starts_with("GET /items?page=1 ") {
            let mut answer = ok(json!([{"id": 1}, {"id": 2}]));
            answer
                .1
                .push(("Link", "</items?page=2>; rel=\"next\"".to_owned()));
            answer
        } else {
            (404, Vec::new(), r#"{"message":"Not Found"}"#.to_owned())
        }
    });
    let client = Client::builder(url.as_str())
        .on_status(404, OnStatus::Ignore)
        .build()
        .unwrap();
    let mut pages = client.pages(
        Request::get("/items").query("page", 1),
        LinkHeader::new(),
        Records::json(""),
    );
    let ctx = &mut Recorder::default();
    let first = pages.next::<Value>(ctx).unwrap().unwrap();
    assert_eq!(first.records, [json!({"id": 1}), json!({"id": 2})]);
    assert!(!pages.finished(), "a next link was given");
    let missing = pages.next::<Value>(ctx).unwrap().unwrap();
    assert_eq!(missing.response.status(), 404);
    assert!(missing.records.is_empty(), "the error body is not records");
    assert!(pages.finished());
    assert!(pages.next::<Value>(ctx).unwrap().is_none());
    assert_eq!(seen.lock().unwrap().len(), 2);
}
