//! The HTTP side: one `ureq` agent, GitHub's `Link` pagination, and what each answer means
//! (rate limits waited for, server and network errors retried, a refused token or a missing
//! repository reported as a config error).

use std::cell::RefCell;
use std::io::Read as _;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use serde::de::DeserializeOwned;
use tidemark::{Error, Secret, Sink};

/// Most rate-limited answers (403 or 429 with a wait) to one request before the sync gives up
/// (transient); the next sync resumes from the last STATE.
const MAX_RATE_LIMIT_WAITS: u32 = 20;
/// The longest wait for a rate limit; a longer one fails the stream (transient) instead of
/// sleeping through it.
const MAX_RATE_LIMIT_WAIT: Duration = Duration::from_mins(15);
/// Retries of a request that failed with a server error (5xx, 408) or a network error.
const MAX_RETRIES: u32 = 4;
/// Delay before the first retry, doubled for each further one, and the wait for a 429 that
/// gives no `Retry-After`.
const FIRST_BACKOFF: Duration = Duration::from_millis(500);
/// The longest retry delay.
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// A request (connect, send, receive the whole body) that takes longer fails, and is retried.
const REQUEST_TIMEOUT: Duration = Duration::from_mins(1);
/// The longest part of an error body quoted in a message.
const MAX_QUOTED: usize = 300;

/// A wait before a request is tried again.
pub enum Pause {
    /// The API's rate limit: its quota resets at `reset`, `wait` from now.
    RateLimited {
        /// When the quota resets.
        reset: DateTime<Utc>,
        /// How long to wait.
        wait: Duration,
    },
    /// A server or network error: back off this long.
    Backoff(Duration),
}

impl Pause {
    /// Waits through a stream's sink: a `RATE_LIMITED` status first when rate limited, and a
    /// wait that SIGTERM ends at once.
    pub fn through<S>(self, out: &mut Sink<'_, S>) -> Result<(), Error> {
        match self {
            Pause::RateLimited { reset, wait } => {
                out.rate_limited(Some(reset))?;
                out.wait(wait)
            }
            Pause::Backoff(wait) => out.wait(wait),
        }
    }

    /// Waits by sleeping, where there is no stream to report to (`check`, listing the
    /// repositories that partition a stream).
    pub fn sleep(self) {
        let (Pause::RateLimited { wait, .. } | Pause::Backoff(wait)) = self;
        std::thread::sleep(wait);
    }
}

/// What a request is for, in messages; a request for one repository's data names it, so that
/// a 404 is reported as that repository missing.
pub struct What<'r> {
    /// Such as `issues of acme/repo-0001`.
    pub description: String,
    /// The repository the request reads, for a 404.
    pub repository: Option<&'r str>,
}

/// One page of a listing.
pub struct Page<T> {
    /// The items, in the API's order.
    pub items: Vec<T>,
    /// The URL of the next page (`Link: <..>; rel="next"`); `None` on the last page.
    pub next: Option<String>,
}

/// The HTTP client: one agent (a connection pool), shared by its copies.
#[derive(Clone)]
pub struct Client<'a> {
    base: &'a str,
    token: &'a Secret<String>,
    agent: ureq::Agent,
    /// The body of the last answer: one buffer per copy of the client, reused from page to
    /// page rather than allocated for each.
    body: RefCell<String>,
}

/// Why one attempt failed.
enum Failure {
    /// 429, or 403 with `Retry-After` or an exhausted quota: wait (`None`: the API did not
    /// say how long) and try again.
    RateLimited {
        wait: Option<Duration>,
        reset: Option<DateTime<Utc>>,
    },
    /// A server or network error: try again after a backoff, up to [`MAX_RETRIES`] times.
    Retry(Error),
    /// Retrying cannot help.
    Fatal(Error),
}

/// The largest answer read: larger ones are cut there, and fail to parse.
const MAX_BODY: u64 = 64 * 1024 * 1024;

/// The most connections kept open: one per repository read at once.
const MAX_CONNECTIONS: usize = 64;

impl<'a> Client<'a> {
    /// A client for the API at `base` (`http://host:port`, no trailing slash), sending `token`.
    pub fn new(base: &'a str, token: &'a Secret<String>) -> Self {
        let agent = ureq::Agent::config_builder()
            // 4xx and 5xx are answers to classify, not errors.
            .http_status_as_error(false)
            .timeout_global(Some(REQUEST_TIMEOUT))
            .user_agent(concat!("source-github/", env!("CARGO_PKG_VERSION")))
            // One connection per repository read at once, each kept between its pages, with
            // buffers sized for headers and pages rather than ureq's 128 KiB each way.
            .max_idle_connections(MAX_CONNECTIONS)
            .max_idle_connections_per_host(MAX_CONNECTIONS)
            .input_buffer_size(16 * 1024)
            .output_buffer_size(8 * 1024)
            .build()
            .new_agent();
        Client {
            base,
            token,
            agent,
            body: RefCell::new(String::new()),
        }
    }

    /// `base` followed by `path_and_query` (which starts with `/`).
    pub fn url(&self, path_and_query: &str) -> String {
        format!("{}{path_and_query}", self.base)
    }

    /// One page of the listing at `url`, retrying rate limits, server errors and network
    /// errors; `pause` waits before each retry (and may end the wait with an error).
    pub fn page<T: DeserializeOwned>(
        &self,
        url: &str,
        what: &What<'_>,
        pause: &mut dyn FnMut(Pause) -> Result<(), Error>,
    ) -> Result<Page<T>, Error> {
        let next = self.get(url, what, pause)?;
        let body = self.body.borrow();
        let items = serde_json::from_str(&body).map_err(|error| {
            Error::system(format!(
                "the API answered the request for {} with a body that is not a list of them \
                 ({error}): {}",
                what.description,
                quote(&body)
            ))
            .with_source(error)
        })?;
        Ok(Page { items, next })
    }

    /// One object at `url`, with the retries of [`Client::page`].
    pub fn one<T: DeserializeOwned>(
        &self,
        url: &str,
        what: &What<'_>,
        pause: &mut dyn FnMut(Pause) -> Result<(), Error>,
    ) -> Result<T, Error> {
        self.get(url, what, pause)?;
        let body = self.body.borrow();
        serde_json::from_str(&body).map_err(|error| {
            Error::system(format!(
                "the API answered the request for {} with an unexpected body ({error}): {}",
                what.description,
                quote(&body)
            ))
            .with_source(error)
        })
    }

    /// The next-page link of a successful answer, after the retries; its body is in
    /// `self.body`.
    fn get(
        &self,
        url: &str,
        what: &What<'_>,
        pause: &mut dyn FnMut(Pause) -> Result<(), Error>,
    ) -> Result<Option<String>, Error> {
        let mut retries = 0;
        let mut waits = 0;
        loop {
            match self.attempt(url, what) {
                Ok(answer) => return Ok(answer),
                Err(Failure::Fatal(error)) => return Err(error),
                Err(Failure::RateLimited { wait, reset }) => {
                    waits += 1;
                    if waits > MAX_RATE_LIMIT_WAITS {
                        return Err(Error::transient(format!(
                            "the request for {} was rate limited {MAX_RATE_LIMIT_WAITS} times in \
                             a row; the next sync resumes from the last state",
                            what.description
                        )));
                    }
                    let wait = wait.unwrap_or_else(|| backoff(waits - 1));
                    if wait > MAX_RATE_LIMIT_WAIT {
                        return Err(Error::transient(format!(
                            "the request for {} is rate limited for {} s, longer than the {} s \
                             this connector waits; the next sync resumes from the last state",
                            what.description,
                            wait.as_secs(),
                            MAX_RATE_LIMIT_WAIT.as_secs()
                        )));
                    }
                    let reset = reset.unwrap_or_else(|| {
                        Utc::now() + TimeDelta::from_std(wait).unwrap_or(TimeDelta::zero())
                    });
                    tracing::warn!(
                        wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
                        "{}: rate limited, waiting",
                        what.description
                    );
                    pause(Pause::RateLimited { reset, wait })?;
                }
                Err(Failure::Retry(error)) => {
                    if retries >= MAX_RETRIES {
                        return Err(Error::transient(format!(
                            "the request for {} failed {} times: {error}",
                            what.description,
                            retries + 1
                        )));
                    }
                    let wait = backoff(retries);
                    retries += 1;
                    tracing::warn!(
                        retry = retries,
                        of = MAX_RETRIES,
                        wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
                        "{}: {error}; retrying",
                        what.description
                    );
                    pause(Pause::Backoff(wait))?;
                }
            }
        }
    }

    /// One attempt.
    fn attempt(&self, url: &str, what: &What<'_>) -> Result<Option<String>, Failure> {
        // The token goes only to the configured API, whatever a `Link` header says.
        if !url.starts_with(self.base) || !url[self.base.len()..].starts_with('/') {
            return Err(Failure::Fatal(Error::system(format!(
                "the API pointed the request for {} at {url:?}, outside `api_url`",
                what.description
            ))));
        }
        let response = self
            .agent
            .get(url)
            .header("Accept", "application/vnd.github+json")
            .header("X-GitHub-Api-Version", "2022-11-28")
            .header("Authorization", format!("Bearer {}", self.token.expose()))
            .call();
        let mut response = match response {
            Ok(response) => response,
            Err(error) => return Err(network(error)),
        };
        let status = response.status().as_u16();
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|value| value.to_str().ok())
                .map(str::to_owned)
        };
        let now = Utc::now();
        let retry_after = header("retry-after").and_then(|value| parse_retry_after(&value, now));
        let reset = header("x-ratelimit-reset")
            .and_then(|value| value.trim().parse::<i64>().ok())
            .and_then(|seconds| DateTime::from_timestamp(seconds, 0));
        let exhausted = header("x-ratelimit-remaining").is_some_and(|value| value.trim() == "0");
        let next = header("link").and_then(|value| next_link(&value));
        let mut body = self.body.borrow_mut();
        body.clear();
        response
            .body_mut()
            .as_reader()
            .take(MAX_BODY)
            .read_to_string(&mut body)
            .map_err(|error| network(ureq::Error::Io(error)))?;
        match status {
            200..=299 => Ok(next),
            401 => Err(Failure::Fatal(Error::config(format!(
                "the API refused the token (HTTP 401: {}): check `token`",
                message(&body)
            )))),
            // GitHub's secondary rate limit (`Retry-After`) and its primary one (no requests
            // left until `X-RateLimit-Reset`).
            403 | 429 if retry_after.is_some() => Err(Failure::RateLimited {
                wait: retry_after,
                reset: None,
            }),
            403 | 429 if exhausted && reset.is_some() => Err(Failure::RateLimited {
                wait: reset.map(|reset| (reset - now).to_std().unwrap_or(Duration::ZERO)),
                reset,
            }),
            429 => Err(Failure::RateLimited {
                wait: None,
                reset: None,
            }),
            403 => Err(Failure::Fatal(Error::config(format!(
                "the API refused the request for {} (HTTP 403: {}): check that `token` may \
                 read it",
                what.description,
                message(&body)
            )))),
            404 => Err(Failure::Fatal(match what.repository {
                Some(repository) => Error::config(format!(
                    "repository `{repository}` was not found (HTTP 404): check `repositories` \
                     and that `token` may read it"
                )),
                None => Error::system(format!(
                    "the API has no {} (HTTP 404): check `api_url`",
                    what.description
                )),
            })),
            408 | 500..=599 => Err(Failure::Retry(Error::transient(format!(
                "HTTP {status}: {}",
                quote(&body)
            )))),
            _ => Err(Failure::Fatal(Error::system(format!(
                "the API answered the request for {} with HTTP {status}: {}",
                what.description,
                quote(&body)
            )))),
        }
    }
}

/// The delay before retry number `retry` (from 0): [`FIRST_BACKOFF`] doubled `retry` times, at
/// most [`MAX_BACKOFF`].
fn backoff(retry: u32) -> Duration {
    FIRST_BACKOFF
        .saturating_mul(1_u32.checked_shl(retry).unwrap_or(u32::MAX))
        .min(MAX_BACKOFF)
}

/// A request that got no answer: a network failure is worth retrying, a malformed URL is not.
fn network(error: ureq::Error) -> Failure {
    match error {
        ureq::Error::BadUri(_) => Failure::Fatal(Error::config(format!(
            "`api_url` does not make a valid request URL: {error}"
        ))),
        // An invalid header value: the token has characters a header cannot carry.
        ureq::Error::Http(_) => Failure::Fatal(Error::config(
            "cannot build the request: `token` has characters an HTTP header cannot carry"
                .to_owned(),
        )),
        error => Failure::Retry(
            Error::transient(format!("cannot reach the API: {error}")).with_source(error),
        ),
    }
}

/// The URL of `rel="next"` in a `Link` header (RFC 8288), as GitHub writes it:
/// `<url>; rel="prev", <url>; rel="next"`.
pub fn next_link(header: &str) -> Option<String> {
    header.split(',').find_map(|link| {
        let (target, params) = link.trim().split_once(';')?;
        let target = target.trim().strip_prefix('<')?.strip_suffix('>')?;
        params
            .split(';')
            .filter_map(|param| param.trim().strip_prefix("rel="))
            .map(|rel| rel.trim_matches('"'))
            .any(|rels| rels.split_ascii_whitespace().any(|rel| rel == "next"))
            .then(|| target.to_owned())
    })
}

/// `Retry-After` as a delay from `now`: delay-seconds or an HTTP date.
fn parse_retry_after(value: &str, now: DateTime<Utc>) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = DateTime::parse_from_rfc2822(value)
        .ok()?
        .with_timezone(&Utc);
    Some((at - now).to_std().unwrap_or(Duration::ZERO))
}

/// The `message` of a GitHub error body, or the start of the body.
fn message(body: &str) -> String {
    serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|value| value.get("message")?.as_str().map(quote))
        .unwrap_or_else(|| quote(body))
}

/// The start of a body, for an error message.
fn quote(body: &str) -> String {
    let body = body.trim();
    match body.char_indices().nth(MAX_QUOTED) {
        Some((end, _)) => format!("{}...", &body[..end]),
        None if body.is_empty() => "(empty body)".to_owned(),
        None => body.to_owned(),
    }
}
