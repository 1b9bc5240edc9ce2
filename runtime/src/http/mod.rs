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
//!   the policy's cap fails the stream (transient) instead of sleeping.
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

mod attempts;
mod auth;
mod budget;
mod classify;
mod client;
mod context;
mod decode;
pub(crate) mod log;
mod message;
mod paginate;
mod retry;

pub use auth::{Auth, OAuth2};
pub use budget::RequestBudget;
pub use client::{Client, ClientBuilder, OnStatus, Page, Pages};
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
