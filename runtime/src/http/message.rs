//! What goes over the wire: a [`Request`] a reader (or a paginator) builds, and the
//! [`Response`] the client hands back, with its body read whole and decompressed.

use std::cell::Cell;
use std::fmt;

use serde::de::DeserializeOwned;

use crate::Error;

/// The longest part of a body quoted in an error message.
pub(crate) const MAX_QUOTED: usize = 300;

/// An HTTP request, before the client adds its base URL, default headers and credentials.
///
/// ```
/// use tidemark::http::Request;
///
/// let request = Request::get("/tickets").query("updated_since", "2024-01-01").query("page", 1);
/// assert_eq!(request.url(), "/tickets");
/// assert_eq!(request.query_pairs()[1], ("page".to_owned(), "1".to_owned()));
/// ```
#[derive(Clone)]
pub struct Request {
    method: http::Method,
    url: String,
    query: Vec<(String, String)>,
    headers: Vec<(String, String)>,
    body: Option<Body>,
}

/// A request body.
#[derive(Clone, Debug, PartialEq)]
pub enum Body {
    /// `application/json`.
    Json(serde_json::Value),
    /// `application/x-www-form-urlencoded`.
    Form(Vec<(String, String)>),
}

impl Request {
    /// A request with `method` for `url`: a path such as `/tickets`, joined to the client's base
    /// URL, or an absolute URL (which must be on the base URL's origin).
    pub fn new(method: http::Method, url: impl Into<String>) -> Self {
        Request {
            method,
            url: url.into(),
            query: Vec::new(),
            headers: Vec::new(),
            body: None,
        }
    }

    /// A `GET` request; see [`Request::new`].
    pub fn get(url: impl Into<String>) -> Self {
        Request::new(http::Method::GET, url)
    }

    /// A `POST` request; see [`Request::new`].
    pub fn post(url: impl Into<String>) -> Self {
        Request::new(http::Method::POST, url)
    }

    /// Appends a query parameter (percent-encoded when sent).
    #[must_use]
    // By value, so that `query("page", 1)` reads as it should.
    #[allow(clippy::needless_pass_by_value)]
    pub fn query(mut self, name: impl Into<String>, value: impl ToString) -> Self {
        self.query.push((name.into(), value.to_string()));
        self
    }

    /// Adds a header.
    #[must_use]
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Sends `body` as JSON.
    #[must_use]
    pub fn json(mut self, body: serde_json::Value) -> Self {
        self.body = Some(Body::Json(body));
        self
    }

    /// Sends `fields` as a URL-encoded form.
    #[must_use]
    pub fn form(mut self, fields: Vec<(String, String)>) -> Self {
        self.body = Some(Body::Form(fields));
        self
    }

    /// Sets the query parameter `name` to `value`, replacing every earlier value.
    #[allow(clippy::needless_pass_by_value)]
    pub fn set_query(&mut self, name: &str, value: impl ToString) {
        self.remove_query(name);
        self.query.push((name.to_owned(), value.to_string()));
    }

    /// Removes the query parameter `name`.
    pub fn remove_query(&mut self, name: &str) {
        self.query.retain(|(key, _)| key != name);
    }

    /// Replaces the URL and drops the query parameters: for a next-page link, which carries
    /// its own.
    pub fn set_url(&mut self, url: impl Into<String>) {
        self.url = url.into();
        self.query.clear();
    }

    /// The method.
    #[must_use]
    pub fn method(&self) -> &http::Method {
        &self.method
    }

    /// The URL as given: a path or an absolute URL, without the query parameters.
    #[must_use]
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The query parameters, in order.
    #[must_use]
    pub fn query_pairs(&self) -> &[(String, String)] {
        &self.query
    }

    /// The headers set on this request (not the client's defaults or credentials).
    #[must_use]
    pub fn headers(&self) -> &[(String, String)] {
        &self.headers
    }

    /// The body, if any.
    #[must_use]
    pub fn body(&self) -> Option<&Body> {
        self.body.as_ref()
    }
}

/// Header values are left out: they may carry credentials.
impl fmt::Debug for Request {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Request")
            .field("method", &self.method)
            .field("url", &self.url)
            .field("query", &self.query)
            .field(
                "headers",
                &self
                    .headers
                    .iter()
                    .map(|(name, _)| name)
                    .collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

/// An answer, with its body read whole (at most the client's `max_body`) and decompressed.
pub struct Response {
    status: u16,
    url: String,
    headers: http::HeaderMap,
    body: Vec<u8>,
}

impl Response {
    /// An answer to the request for `url` (its full URL, with the query).
    #[must_use]
    pub fn new(status: u16, url: String, headers: http::HeaderMap, body: Vec<u8>) -> Self {
        Response {
            status,
            url,
            headers,
            body,
        }
    }

    /// The status code.
    #[must_use]
    pub fn status(&self) -> u16 {
        self.status
    }

    /// The full URL that was requested, with its query.
    #[must_use]
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The first value of the header `name` (case-insensitive), if it is valid UTF-8.
    #[must_use]
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name)?.to_str().ok()
    }

    /// Every header.
    #[must_use]
    pub fn headers(&self) -> &http::HeaderMap {
        &self.headers
    }

    /// The body, decompressed.
    #[must_use]
    pub fn body(&self) -> &[u8] {
        &self.body
    }

    /// The body as text.
    ///
    /// # Errors
    ///
    /// A system error when the body is not UTF-8.
    pub fn text(&self) -> Result<&str, Error> {
        std::str::from_utf8(&self.body).map_err(|error| {
            Error::system(format!(
                "the answer to {} is not UTF-8 text ({error})",
                self.url
            ))
        })
    }

    /// The body as JSON.
    ///
    /// # Errors
    ///
    /// A system error naming the URL and quoting the start of the body when it is not JSON of
    /// the expected shape.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, Error> {
        serde_json::from_slice(&self.body).map_err(|error| {
            Error::system(format!(
                "the answer to {} is not what was expected ({error}): {}",
                self.url,
                quote(&String::from_utf8_lossy(&self.body))
            ))
            .with_source(error)
        })
    }
}

/// The largest body buffer kept for the next answer on the same thread.
const MAX_SPARE: usize = 4 * 1024 * 1024;

thread_local! {
    /// The body buffer of the last answer dropped on this thread, reused by the next one.
    static SPARE_BODY: Cell<Vec<u8>> = const { Cell::new(Vec::new()) };
}

/// An empty buffer for a body: the one the last answer dropped on this thread left, if any.
pub(crate) fn spare_body() -> Vec<u8> {
    let mut body = SPARE_BODY.take();
    body.clear();
    body
}

/// Leaves the body's buffer to the next answer read on this thread (up to 4 MiB).
impl Drop for Response {
    fn drop(&mut self) {
        let body = std::mem::take(&mut self.body);
        if body.capacity() <= MAX_SPARE {
            let kept = SPARE_BODY.take();
            SPARE_BODY.set(if kept.capacity() >= body.capacity() {
                kept
            } else {
                body
            });
        }
    }
}

/// The body is left out: it may be large.
impl fmt::Debug for Response {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Response")
            .field("status", &self.status)
            .field("url", &self.url)
            .field("body_bytes", &self.body.len())
            .finish_non_exhaustive()
    }
}

/// The start of a body, for an error message: at most [`MAX_QUOTED`] characters.
pub(crate) fn quote(body: &str) -> String {
    let body = body.trim();
    match body.char_indices().nth(MAX_QUOTED) {
        Some((end, _)) => format!("{}...", &body[..end]),
        None if body.is_empty() => "(empty body)".to_owned(),
        None => body.to_owned(),
    }
}
