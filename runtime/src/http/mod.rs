//! The HTTP toolkit for API connectors (feature `http`): a client with authentication,
//! pagination, retries, rate limits, a request budget shared by every reader, decoding and
//! error classification, with secrets masked in everything it says about a request.
//!
//! A reader builds one [`Request`] per listing and lets the client page through it; every
//! request goes through a [`Context`] (the stream's [`Sink`](crate::Sink), or [`Detached`] in
//! `check`), so waits end at once on SIGTERM, a rate limit is reported as a `RATE_LIMITED`
//! stream status, and a rotated `OAuth2` refresh token is saved with a CONTROL message.

mod decode;
mod message;
mod paginate;

pub use decode::{MAX_INFLATED, Records};
pub use message::{Body, Request, Response};
pub use paginate::{
    BodyCursor, BodyNextLink, LinkHeader, MaxPages, NoPagination, Offset, PageNumber, Paginator,
    StopWhen,
};
