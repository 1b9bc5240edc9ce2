//! The HTTP toolkit for API connectors (feature `http`): a client with authentication,
//! pagination, retries, rate limits, a request budget shared by every reader, decoding and
//! error classification, with secrets masked in everything it says about a request.
//!
//! A reader builds one [`Request`] per listing and lets the client page through it; every
//! request goes through a [`Context`] (the stream's [`Sink`](crate::Sink), or [`Detached`] in
//! `check`), so waits end at once on SIGTERM, a rate limit is reported as a `RATE_LIMITED`
//! stream status, and a rotated `OAuth2` refresh token is saved with a CONTROL message.
//!
//! What the client guarantees for every request:
//!
//! - **Retries.** Server errors (5xx, 408) and transport errors are retried after a backoff
//!   with jitter ([`Retry`]); once retries are exhausted the stream fails with a transient
//!   error, and the next sync resumes from its last STATE.
//! - **Rate limits.** 429, a 403 or 429 with `Retry-After`, and an exhausted quota
//!   (`X-RateLimit-Remaining: 0` with `X-RateLimit-Reset`, `RateLimit-Remaining: 0` with
//!   `RateLimit-Reset`) wait what the API asks, reported as `RATE_LIMITED`; a wait longer than
//!   the policy's cap fails the stream (transient) instead of sleeping. A successful answer
//!   saying the quota is spent holds the next request of the client and its clones until the
//!   reset, rather than spend it on a refusal.
//! - **Budget.** A [`RequestBudget`] spaces the requests of every reader that shares it.
//! - **Errors.** 401 and 403 are config errors naming the credential's config field (and the
//!   credential as the connector calls it, [`ClientBuilder::credential`]); 404 and other 4xx
//!   are system errors with the URL and an excerpt of the body. An `https://` base URL in a
//!   build without the `https` feature is a config error when the client is built.
//! - **Secrets.** Every credential (and every token learnt) is masked in errors, LOG and TRACE
//!   messages, `Debug` output and the request log; credentials are never sent to another
//!   origin than the base URL.
//!
//! ```no_run
//! use tidemark::http::{Auth, Client, NoPagination, Records, Request, Retry};
//! use tidemark::{Error, Secret, Sink, Slice};
//!
//! #[derive(serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
//! #[tidemark::incremental_stream(cursor = "id")]
//! struct Ticket {
//!     id: u64,
//! }
//!
//! fn read(client: &Client, slice: &Slice<Ticket>, out: &mut Sink<Ticket>) -> Result<(), Error> {
//!     let mut request = Request::get("/tickets");
//!     if let Some(after) = slice.after() {
//!         request = request.query("since_id", *after);
//!     }
//!     let mut pages = client.pages(request, NoPagination, Records::json("/tickets"));
//!     while let Some(page) = pages.next::<Ticket>(out)? {
//!         for ticket in &page.records {
//!             out.emit(ticket)?;
//!         }
//!     }
//!     Ok(())
//! }
//!
//! let client = Client::builder("https://api.example.com/v2")
//!     .auth(Auth::Bearer(Secret::new("sk-live-123".to_owned())))
//!     .retry(Retry::new().max_retries(3))
//!     .build()?;
//! # let _ = (client, read);
//! # Ok::<(), Error>(())
//! ```
//!
//! ## Async readers
//!
//! With the `async` feature, [`Client::send_async`] and [`Pages::next_async`] serve async
//! readers ([`Async`](crate::Async)) with every guarantee above: the same attempts, retries and
//! waits, each wait through [`AsyncContext::wait_async`] so that the reader's other futures go
//! on (and SIGTERM ends it), a rotated refresh token saved through the reader's sink before the
//! new token is used. The client is blocking underneath: each attempt runs on tokio's blocking
//! threads (`spawn_blocking`, the standard way to call blocking IO from async code), never on
//! the thread that polls the reader, so several requests of one reader can be in flight at once
//! (share the sink between them as `&RefCell<Sink>`, see [`AsyncContext`]).
//!
//! ```no_run
//! # #[cfg(feature = "async")] {
//! use tidemark::http::{BodyCursor, Client, Records, Request};
//! use tidemark::{Async, Error, Sink, Slice};
//!
//! #[derive(serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
//! #[tidemark::incremental_stream(cursor = "id")]
//! struct Ticket {
//!     id: u64,
//! }
//!
//! let client = Client::builder("https://api.example.com/v2").build()?;
//! let reader = Async(async move |slice: &Slice<Ticket>, out: &mut Sink<Ticket>| {
//!     let mut request = Request::get("/tickets");
//!     if let Some(after) = slice.after() {
//!         request = request.query("since_id", *after);
//!     }
//!     let next = BodyCursor::new("/next", "cursor");
//!     let mut pages = client.pages(request, next, Records::json("/tickets"));
//!     while let Some(page) = pages.next_async::<Ticket, _>(out).await? {
//!         for ticket in &page.records {
//!             out.emit(ticket)?;
//!         }
//!     }
//!     Ok::<(), Error>(())
//! });
//! # let _ = reader;
//! # }
//! # Ok::<(), tidemark::Error>(())
//! ```

mod attempts;
mod auth;
mod budget;
mod classify;
mod client;
#[cfg(feature = "async")]
mod client_async;
mod context;
mod decode;
pub(crate) mod log;
mod message;
mod paginate;
mod retry;

pub use auth::{Auth, OAuth2};
pub use budget::RequestBudget;
pub use client::{Client, ClientBuilder, OnStatus, Page, Pages};
#[cfg(feature = "async")]
pub use context::AsyncContext;
pub use context::{Context, Detached};
pub use decode::{MAX_INFLATED, Records};
pub use message::{Body, Request, Response};
pub use paginate::{
    BodyCursor, BodyNextLink, LinkHeader, MaxPages, NoPagination, Offset, PageNumber, Paginator,
    StopWhen,
};
pub use retry::Retry;

#[cfg(test)]
mod tests;
