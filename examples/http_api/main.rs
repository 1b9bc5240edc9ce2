//! `http_api`: a source for a paginated JSON HTTP API of support tickets, in the shape of many
//! hosted APIs: filtered by an `updated_since` day, paged, rate limited. Read in day windows.
//!
//! # The API it expects
//!
//! ```text
//! GET {base_url}/tickets?updated_since=2024-01-01&page=1&per_page=100
//! Authorization: Bearer {api_key}
//!
//! 200 {"tickets": [{"id": 7, "subject": "...", "status": "open",
//!                   "updated_at": "2024-01-01T08:00:00Z"}, ...],
//!      "next_page": 2}
//! ```
//!
//! - `updated_since` is a day: the API returns every ticket with `updated_at >=` midnight UTC of
//!   that day, so more than a window asks for; the runtime drops what is outside the window.
//! - Tickets come in ascending `updated_at` order (ties in any order). The reader relies on it
//!   to stop paging at the first ticket past its window, and fails if the API breaks it. A day
//!   of tickets is held in memory, sorted by `(updated_at, id)` and emitted.
//! - `next_page` is the next page number, or `null` (or absent) after the last page; an empty
//!   page also ends the listing. Pages must stay stable during a sync: with page numbers over a
//!   live result set, a ticket that moves to the end (it was updated) shifts the next pages and
//!   can hide a neighbour from this sync and, once the state passes it, from the next ones
//!   until it changes again; a limit of page-number APIs that a cursor-based one avoids.
//! - `updated_at` moves on every change. A change that leaves `updated_at` at or below the
//!   saved state is not seen by any later sync: that is what a state `{"updated_at": W}` means.
//! - `429` with `Retry-After` (seconds or an HTTP date) is a rate limit; `5xx` and `408` are
//!   transient; `401` and `403` reject the key; other statuses are errors.
//!
//! This example speaks plain HTTP only: it is built with ureq's default features off. An
//! `https://` API needs ureq's `rustls` feature.
//!
//! # Running it
//!
//! Point `examples/http_api/config.json` at the API and set the key, then:
//!
//! ```sh
//! cargo run --example http_api -- check --config examples/http_api/config.json
//! cargo run --example http_api -- read \
//!     --config examples/http_api/config.json --catalog examples/http_api/catalog.json
//! ```
//!
//! The first sync reads from `start_date`, one day per window, with a STATE at the end of each
//! day; hand the last STATE back with `--state` and the next sync reads only what changed.

use std::ops::Bound;
use std::process::ExitCode;
use std::time::Duration;

use chrono::{DateTime, NaiveDate, NaiveTime, Utc};
use serde::{Deserialize, Serialize};
use tidemark::{Error, Reader, Secret, Sink, Slice, Source, Streams};

/// A wait before a retry.
enum Pause {
    /// HTTP 429: the quota resets at `reset`, `wait` from now.
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
    fn duration(&self) -> Duration {
        match self {
            Pause::RateLimited { wait, .. } | Pause::Backoff(wait) => *wait,
        }
    }
}

/// Where the API is and how to call it.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "Tickets API Spec")]
pub struct ApiConfig {
    /// Base URL of the API, such as `http://127.0.0.1:8080`; tickets are read from
    /// `{base_url}/tickets`. Plain HTTP only: HTTPS needs ureq's `rustls` feature.
    pub base_url: String,
    /// The API key, sent as `Authorization: Bearer <key>`.
    pub api_key: Secret<String>,
    /// The first day the first sync reads (`YYYY-MM-DD`, from midnight UTC). Later syncs
    /// resume from their state.
    pub start_date: NaiveDate,
    /// Tickets per page (`per_page`).
    #[serde(default = "default_page_size")]
    #[schemars(range(min = 1, max = 1000))]
    pub page_size: u32,
    /// Retries of a request that failed with a server error (5xx, 408) or a network error
    /// before the sync fails; waiting for a rate limit (429) is not counted.
    #[serde(default = "default_max_retries")]
    #[schemars(range(max = 10))]
    pub max_retries: u32,
    /// Delay before the first retry, in milliseconds; doubled for each further retry and used
    /// for a 429 that gives no `Retry-After`.
    #[serde(default = "default_backoff_ms")]
    #[schemars(range(max = 60_000))]
    pub backoff_ms: u64,
}

fn default_page_size() -> u32 {
    100
}

fn default_max_retries() -> u32 {
    4
}

fn default_backoff_ms() -> u64 {
    1000
}

/// A support ticket, synced by `updated_at` in windows of one day, the granularity of the
/// API's `updated_since` filter. State at the end of every day, and no `checkpoint_interval`:
/// a day is fetched whole before it is emitted and the API cannot resume inside a day, so a
/// state inside one would save no request, only the re-emission of tickets already fetched.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[tidemark::incremental_stream(
    name = "tickets",
    cursor = "updated_at",
    primary_key = "id",
    step = "P1D"
)]
pub struct Ticket {
    /// Ticket id.
    pub id: u64,
    /// One-line summary.
    pub subject: String,
    /// `new`, `open`, `pending`, `solved` or `closed`.
    pub status: String,
    /// When the ticket last changed (UTC).
    pub updated_at: DateTime<Utc>,
}

/// One page of `GET /tickets`.
#[derive(Debug, Deserialize)]
struct Page {
    tickets: Vec<Ticket>,
    #[serde(default)]
    next_page: Option<u32>,
}

/// The source.
pub struct TicketsApi;

impl Source for TicketsApi {
    const NAME: &'static str = "source-tickets-api";
    type Config = ApiConfig;

    /// One request: the first ticket from `start_date`.
    fn check(&self, config: &ApiConfig) -> Result<(), Error> {
        start_of(config)?;
        Client::new(config)
            .tickets(config.start_date, 1, 1, &mut |pause| {
                std::thread::sleep(pause.duration());
                Ok(())
            })
            .map(drop)
    }

    fn streams<'a>(&'a self, config: &'a ApiConfig) -> Result<Streams<'a>, Error> {
        Ok(Streams::new().stream(Tickets {
            config,
            client: Client::new(config),
        }))
    }
}

/// Midnight UTC of `start_date`; a date in the future is a config error (nothing to read).
fn start_of(config: &ApiConfig) -> Result<DateTime<Utc>, Error> {
    if config.start_date > Utc::now().date_naive() {
        return Err(Error::config(format!(
            "`start_date` {} is in the future",
            config.start_date
        )));
    }
    Ok(config.start_date.and_time(NaiveTime::MIN).and_utc())
}

/// Reads the `tickets` stream, one day window at a time.
struct Tickets<'a> {
    config: &'a ApiConfig,
    client: Client<'a>,
}

impl Reader<Ticket> for Tickets<'_> {
    fn start(&mut self) -> Result<Option<DateTime<Utc>>, Error> {
        start_of(self.config).map(Some)
    }

    /// Fetches the window's tickets, `updated_since=<day of the lower bound>` page by page up
    /// to the first ticket past the window's end (the next window asks for it again), then
    /// emits them sorted by `(updated_at, id)`. The runtime drops the ones at or below the
    /// lower bound, which the API returns because it filters by whole days.
    ///
    /// Nothing is emitted before the whole window is fetched: a request that fails for good,
    /// or an API that breaks its order, fails the stream at the end of the previous window,
    /// which was complete.
    fn read(&mut self, slice: &Slice<Ticket>, out: &mut Sink<Ticket>) -> Result<(), Error> {
        let (Bound::Included(lower) | Bound::Excluded(lower)) = slice.lower() else {
            return Err(Error::system("a day window has no lower bound"));
        };
        let Some(&until) = slice.until() else {
            return Err(Error::system("a day window has no upper bound"));
        };
        let since = lower.date_naive();
        let mut window = Vec::new();
        let mut previous: Option<DateTime<Utc>> = None;
        let mut page = 1;
        'pages: loop {
            let listing =
                self.client
                    .tickets(since, page, self.config.page_size, &mut |pause| {
                        // Waits through the runtime: SIGTERM ends them at once.
                        match pause {
                            Pause::RateLimited { reset, wait } => {
                                out.rate_limited(Some(reset))?;
                                out.wait(wait)
                            }
                            Pause::Backoff(wait) => out.wait(wait),
                        }
                    })?;
            tracing::info!(
                updated_since = %since,
                page,
                tickets = listing.tickets.len(),
                "fetched a page of tickets"
            );
            let empty = listing.tickets.is_empty();
            for ticket in listing.tickets {
                // Stopping at the window's end is only right if the API keeps its order.
                if let Some(previous) = previous
                    && ticket.updated_at < previous
                {
                    return Err(Error::system(format!(
                        "the API returned ticket {} (updated_at {}) after one updated at \
                         {previous}: this connector needs tickets in ascending `updated_at` order",
                        ticket.id, ticket.updated_at
                    )));
                }
                previous = Some(ticket.updated_at);
                if ticket.updated_at > until {
                    break 'pages;
                }
                window.push(ticket);
            }
            if empty {
                break;
            }
            match listing.next_page {
                None => break,
                Some(next) if next > page => page = next,
                Some(next) => {
                    return Err(Error::system(format!(
                        "the API's page {page} of tickets updated since {since} points back to \
                         page {next}"
                    )));
                }
            }
        }
        // The API orders by `updated_at` only; ties come in a fixed order whatever its own.
        window.sort_by_key(|ticket| (ticket.updated_at, ticket.id));
        for ticket in &window {
            out.emit(ticket)?;
        }
        Ok(())
    }
}

/// Most consecutive 429 answers to one request before the sync gives up (transient).
const MAX_RATE_LIMIT_WAITS: u32 = 20;
/// The longest `Retry-After` waited for; a longer one fails the sync (transient) instead of
/// sleeping through it, and the next sync resumes from the last STATE.
const MAX_RATE_LIMIT_WAIT: Duration = Duration::from_mins(15);
/// The longest retry delay, however many retries.
const MAX_BACKOFF: Duration = Duration::from_mins(1);
/// A request (connect, send, receive the whole body) that takes longer fails, and is retried.
const REQUEST_TIMEOUT: Duration = Duration::from_mins(1);
/// The longest part of an error body quoted in a message.
const MAX_QUOTED: usize = 300;

/// The HTTP client: one agent (a connection pool) for the whole sync.
struct Client<'a> {
    config: &'a ApiConfig,
    agent: ureq::Agent,
}

/// Why one attempt failed.
enum Failure {
    /// 429: wait this long (`None`: the API did not say) and try again.
    RateLimited(Option<Duration>),
    /// A server or network error: try again after a backoff, up to `max_retries` times.
    Retry(Error),
    /// Retrying cannot help.
    Fatal(Error),
}

impl<'a> Client<'a> {
    fn new(config: &'a ApiConfig) -> Self {
        let agent = ureq::Agent::config_builder()
            // 4xx and 5xx are answers to classify, not errors.
            .http_status_as_error(false)
            .timeout_global(Some(REQUEST_TIMEOUT))
            .user_agent(concat!("source-tickets-api/", env!("CARGO_PKG_VERSION")))
            .build()
            .new_agent();
        Client { config, agent }
    }

    /// One page of tickets updated since `since`, retrying rate limits, server errors and
    /// network errors. `pause` waits before each retry (and may end the wait with an error).
    fn tickets(
        &self,
        since: NaiveDate,
        page: u32,
        per_page: u32,
        pause: &mut dyn FnMut(Pause) -> Result<(), Error>,
    ) -> Result<Page, Error> {
        let what = format!("GET /tickets?updated_since={since}&page={page}");
        let mut retries = 0;
        let mut waits = 0;
        loop {
            match self.get(since, page, per_page) {
                Ok(listing) => return Ok(listing),
                Err(Failure::Fatal(error)) => return Err(error),
                Err(Failure::RateLimited(retry_after)) => {
                    waits += 1;
                    if waits > MAX_RATE_LIMIT_WAITS {
                        return Err(Error::transient(format!(
                            "{what} was rate limited {MAX_RATE_LIMIT_WAITS} times in a row; the \
                             next sync resumes from the last state"
                        )));
                    }
                    let wait = retry_after.unwrap_or_else(|| self.backoff(waits - 1));
                    if wait > MAX_RATE_LIMIT_WAIT {
                        return Err(Error::transient(format!(
                            "{what} is rate limited for {} s, longer than the {} s this connector \
                             waits; the next sync resumes from the last state",
                            wait.as_secs(),
                            MAX_RATE_LIMIT_WAIT.as_secs()
                        )));
                    }
                    let reset = Utc::now()
                        + chrono::TimeDelta::from_std(wait).unwrap_or(chrono::TimeDelta::zero());
                    tracing::warn!(
                        wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
                        "{what}: rate limited (429), waiting"
                    );
                    pause(Pause::RateLimited { reset, wait })?;
                }
                Err(Failure::Retry(error)) => {
                    if retries >= self.config.max_retries {
                        return Err(Error::transient(format!(
                            "{what} failed {} times: {error}",
                            retries + 1
                        )));
                    }
                    let wait = self.backoff(retries);
                    retries += 1;
                    tracing::warn!(
                        retry = retries,
                        of = self.config.max_retries,
                        wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
                        "{what}: {error}; retrying"
                    );
                    pause(Pause::Backoff(wait))?;
                }
            }
        }
    }

    /// `backoff_ms` doubled `retry` times, at most [`MAX_BACKOFF`].
    fn backoff(&self, retry: u32) -> Duration {
        let factor = 1_u64.checked_shl(retry).unwrap_or(u64::MAX);
        Duration::from_millis(self.config.backoff_ms.saturating_mul(factor)).min(MAX_BACKOFF)
    }

    /// One attempt.
    fn get(&self, since: NaiveDate, page: u32, per_page: u32) -> Result<Page, Failure> {
        let base = self.config.base_url.trim_end_matches('/');
        if !base.starts_with("http://") {
            return Err(Failure::Fatal(Error::config(
                if base.starts_with("https://") {
                    "`base_url` is HTTPS, and this connector is built for plain HTTP only: \
                     enable ureq's `rustls` feature"
                        .to_owned()
                } else {
                    format!("`base_url` must start with http://, not {base:?}")
                },
            )));
        }
        let response = self
            .agent
            .get(format!("{base}/tickets"))
            .query("updated_since", since.to_string())
            .query("page", page.to_string())
            .query("per_page", per_page.to_string())
            .header(
                "Authorization",
                format!("Bearer {}", self.config.api_key.expose()),
            )
            .call();
        let mut response = match response {
            Ok(response) => response,
            Err(error) => return Err(network(error)),
        };
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get("retry-after")
            .and_then(|value| value.to_str().ok())
            .and_then(|value| parse_retry_after(value, Utc::now()));
        let body = response
            .body_mut()
            .read_to_string()
            .map_err(|error| match error {
                ureq::Error::Io(_) | ureq::Error::Timeout(_) | ureq::Error::Protocol(_) => {
                    network(error)
                }
                other => Failure::Fatal(
                    Error::system(format!("cannot read the API's answer: {other}"))
                        .with_source(other),
                ),
            })?;
        match status {
            200..=299 => serde_json::from_str(&body).map_err(|error| {
                Failure::Fatal(
                    Error::system(format!(
                        "the API answered with a body that is not a page of tickets ({error}): {}",
                        quote(&body)
                    ))
                    .with_source(error),
                )
            }),
            401 | 403 => Err(Failure::Fatal(Error::config(format!(
                "the API key was rejected (HTTP {status}): check `api_key`"
            )))),
            429 => Err(Failure::RateLimited(retry_after)),
            408 | 500..=599 => Err(Failure::Retry(Error::transient(format!(
                "HTTP {status}: {}",
                quote(&body)
            )))),
            _ => Err(Failure::Fatal(Error::system(format!(
                "the API answered HTTP {status}: {}",
                quote(&body)
            )))),
        }
    }
}

/// A request that got no answer: a network failure is worth retrying, a malformed URL is not.
fn network(error: ureq::Error) -> Failure {
    match error {
        ureq::Error::BadUri(_) => Failure::Fatal(Error::config(format!(
            "`base_url` does not make a valid request URL: {error}"
        ))),
        // An invalid header value: the key has characters a header cannot carry.
        ureq::Error::Http(_) => Failure::Fatal(Error::config(format!(
            "cannot build the request, check `base_url` and `api_key`: {error}"
        ))),
        error => Failure::Retry(
            Error::transient(format!("cannot reach the API: {error}")).with_source(error),
        ),
    }
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

/// The start of a body, for an error message.
fn quote(body: &str) -> String {
    let body = body.trim();
    match body.char_indices().nth(MAX_QUOTED) {
        Some((end, _)) => format!("{}...", &body[..end]),
        None if body.is_empty() => "(empty body)".to_owned(),
        None => body.to_owned(),
    }
}

fn main() -> ExitCode {
    tidemark::run!(TicketsApi)
}
