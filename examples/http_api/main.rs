//! `http_api`: a source for a paginated JSON HTTP API of support tickets, in the shape of many
//! hosted APIs: filtered by an `updated_since` day, paged, rate limited. Read in day windows.
//! Built on [`tidemark::http`]: its client sends the key, retries, waits out rate limits and
//! names what to check in its errors; its paginator follows `next_page`.
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
//!   page also ends the listing, and a `next_page` not after the current page fails the stream.
//!   Pages must stay stable during a sync: with page numbers over a live result set, a ticket
//!   that moves to the end (it was updated) shifts the next pages and can hide a neighbour from
//!   this sync and, once the state passes it, from the next ones until it changes again; a
//!   limit of page-number APIs that a cursor-based one avoids.
//! - `updated_at` moves on every change. A change that leaves `updated_at` at or below the
//!   saved state is not seen by any later sync: that is what a state `{"updated_at": W}` means.
//! - `429` with `Retry-After` (seconds or an HTTP date) is a rate limit, waited for (at most
//!   15 minutes, 20 times in a row) and reported as `RATE_LIMITED`; `5xx`, `408` and network
//!   errors are retried `max_retries` times; `401` and `403` reject the key (a config error);
//!   other statuses are errors.
//!
//! This example speaks plain HTTP only: an `https://` API needs tidemark's `https` feature
//! (ureq's `rustls`).
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

use std::{process::ExitCode, time::Duration};

use chrono::{DateTime, NaiveDate, NaiveTime, Utc};
use serde::{Deserialize, Serialize};
use tidemark::http::{Auth, BodyCursor, Client, Detached, Pages, Paginator, Records, Request};
use tidemark::{Error, Reader, Secret, Sink, Slice, Source, Streams, http::Retry};

/// Where the API is and how to call it.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "Tickets API Spec")]
pub struct ApiConfig {
    /// Base URL of the API, such as `http://127.0.0.1:8080`; tickets are read from
    /// `{base_url}/tickets`. Plain HTTP only: HTTPS needs tidemark's `https` feature.
    pub base_url: String,
    /// The API key, sent as `Authorization: Bearer <key>`.
    pub api_key: Secret<String>,
    /// The first day the first sync reads (`YYYY-MM-DD`, from midnight UTC). Later syncs
    /// resume from their state.
    pub start_date: NaiveDate,
    /// Tickets per page (`per_page`).
    #[serde(default = "int::<u32, 100>")]
    #[schemars(range(min = 1, max = 1000))]
    pub page_size: u32,
    /// Retries of a request that failed with a server error (5xx, 408) or a network error
    /// before the sync fails; waiting for a rate limit (429) is not counted.
    #[serde(default = "int::<u32, 4>")]
    #[schemars(range(max = 10))]
    pub max_retries: u32,
    /// Delay before the first retry, in milliseconds: each retry waits between half and all
    /// of it, doubled for each further retry up to a minute; also the wait for a 429 that
    /// gives no `Retry-After`.
    #[serde(default = "int::<u64, 1000>")]
    #[schemars(range(max = 60_000))]
    pub backoff_ms: u64,
}

/// A config default: `N`.
fn int<T: From<u16>, const N: u16>() -> T {
    T::from(N)
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

/// The source.
pub struct TicketsApi;

impl Source for TicketsApi {
    const NAME: &'static str = "source-tickets-api";
    type Config = ApiConfig;

    /// One request: the first ticket from `start_date`.
    fn check(&self, config: &ApiConfig) -> Result<(), Error> {
        let since = start_of(config)?.date_naive();
        listing(&client(config)?, since, 1)
            .next::<Ticket>(&mut Detached)
            .map(drop)
    }

    fn streams<'a>(&'a self, config: &'a ApiConfig) -> Result<Streams<'a>, Error> {
        let client = client(config)?;
        Ok(Streams::new().stream(Tickets { config, client }))
    }
}

/// The client: the key as a bearer token, retries from the config's knobs.
fn client(config: &ApiConfig) -> Result<Client, Error> {
    let backoff = Duration::from_millis(config.backoff_ms);
    let retry = Retry::new().max_retries(config.max_retries);
    Client::builder(&config.base_url)
        .auth(Auth::Bearer(config.api_key.clone()))
        .credential("the API key", "api_key")
        .retry(retry.backoff(backoff, Duration::from_mins(1)))
        .build()
}

/// The tickets updated since `since`, `per_page` a page, following `next_page` up to an empty
/// page or a `null` one.
fn listing(client: &Client, since: NaiveDate, per_page: u32) -> Pages<'_, impl Paginator> {
    let first = Request::get("/tickets").query("updated_since", since);
    let first = first.query("page", 1).query("per_page", per_page);
    let paginator = BodyCursor::new("/next_page", "page").stop_when(|_, tickets| tickets == 0);
    client.pages(first, paginator, Records::json("/tickets"))
}

/// Midnight UTC of `start_date`; a date in the future is a config error (nothing to read).
fn start_of(config: &ApiConfig) -> Result<DateTime<Utc>, Error> {
    if config.start_date > Utc::now().date_naive() {
        let message = format!("`start_date` {} is in the future", config.start_date);
        return Err(Error::config(message));
    }
    Ok(config.start_date.and_time(NaiveTime::MIN).and_utc())
}

/// Reads the `tickets` stream, one day window at a time.
struct Tickets<'a> {
    config: &'a ApiConfig,
    client: Client,
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
        // After the state's day, or from `start_date` (the first window of a first sync).
        let start = self.config.start_date;
        let since = slice.after().map_or(start, DateTime::date_naive);
        let until = slice.until().copied().unwrap_or(DateTime::<Utc>::MAX_UTC);
        let mut pages = listing(&self.client, since, self.config.page_size);
        let (mut window, mut page) = (Vec::<Ticket>::new(), 1);
        'pages: while let Some(listing) = pages.next::<Ticket>(out)? {
            let tickets = listing.records.len();
            tracing::info!(updated_since = %since, page, tickets, "fetched a page of tickets");
            for ticket in listing.records {
                // Stopping at the window's end is only right if the API keeps its order.
                let last = window.last().map_or(ticket.updated_at, |t| t.updated_at);
                match ticket.updated_at {
                    at if at < last => {
                        return Err(Error::system(format!(
                            "the API returned ticket {} (updated_at {at}) after one updated at \
                             {last}: this connector needs tickets in ascending `updated_at` order",
                            ticket.id
                        )));
                    }
                    at if at > until => break 'pages,
                    _ => window.push(ticket),
                }
            }
            let next = listing.response.json::<serde_json::Value>()?["next_page"].as_u64();
            if let Some(next) = next.filter(|&next| next <= page && tickets > 0) {
                let what = format!("the API's page {page} of tickets updated since {since}");
                return Err(Error::system(format!("{what} points back to page {next}")));
            }
            page = next.unwrap_or(page);
        }
        // The API orders by `updated_at` only; ties come in a fixed order whatever its own.
        window.sort_by_key(|ticket| (ticket.updated_at, ticket.id));
        window.iter().try_for_each(|ticket| out.emit(ticket))
    }
}

fn main() -> ExitCode {
    tidemark::run!(TicketsApi)
}
