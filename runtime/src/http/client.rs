//! The client: one connection pool, the credentials, the retry policy and the request budget,
//! shared by every clone; the attempt and retry loop; and [`Pages`], a listing page by page.

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeDelta, Utc};
use serde::de::DeserializeOwned;

use super::attempts::{Attempts, Pause, Quota, Step};
use super::classify::{self, Failure, Names, mask};
use super::retry::RateLimit;
use super::{
    Auth, Body, Context, Paginator, Records, Request, RequestBudget, Response, Retry, log,
};
use crate::Error;

/// An HTTP client for one API: a connection pool, credentials, a retry policy and an optional
/// request budget. Cloning is cheap, and clones share all of it (the pool, the `OAuth2` token
/// cache, the budget): give each concurrent reader a clone.
///
/// ```no_run
/// use tidemark::http::{Client, Detached, Request};
///
/// let client = Client::builder("http://localhost:8080").build()?;
/// let response = client.send(&Request::get("/health"), &mut Detached)?;
/// assert_eq!(response.status(), 200);
/// # Ok::<(), tidemark::Error>(())
/// ```
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

struct Inner {
    agent: ureq::Agent,
    /// The base URL, without a trailing `/`.
    base: String,
    /// How long the base URL's origin (`scheme://host:port`) is.
    origin: usize,
    headers: Vec<(http::HeaderName, http::HeaderValue)>,
    auth: Auth,
    /// The `Authorization` (or API key) header of a static credential, built once.
    auth_header: Option<(http::HeaderName, http::HeaderValue)>,
    retry: Retry,
    budget: Option<RequestBudget>,
    quota: Quota,
    url_field: String,
    credential: String,
    credential_field: Option<String>,
    on_status: Vec<(u16, OnStatus)>,
    max_body: u64,
}

/// What the client does with an answer of a given status, overriding its classification
/// (see [`ClientBuilder::on_status`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OnStatus {
    /// Back off and retry, as for a server error.
    Retry,
    /// Wait as for a rate limit (the answer's `Retry-After` or rate-limit headers, else the
    /// backoff), then retry.
    RateLimited,
    /// Fail with a config error with this message (secrets masked).
    Config(String),
    /// Fail with a system error with this message (secrets masked).
    System(String),
    /// Hand the answer back as if it were a success ([`Pages::next`] gives it as a last page
    /// with no records).
    Ignore,
}

/// How a [`Client`] is set up; from [`Client::builder`].
#[must_use]
pub struct ClientBuilder {
    base: String,
    headers: Vec<(String, String)>,
    auth: Auth,
    retry: Retry,
    budget: Option<RequestBudget>,
    timeout: Duration,
    user_agent: Option<String>,
    max_connections: usize,
    max_body: u64,
    url_field: String,
    credential: Option<String>,
    credential_field: Option<String>,
    on_status: Vec<(u16, OnStatus)>,
}

impl Client {
    /// A client for the API at `base_url` (`http://` or `https://`, with or without a path
    /// prefix such as `/api/v2`): request paths are joined to it.
    pub fn builder(base_url: impl Into<String>) -> ClientBuilder {
        ClientBuilder {
            base: base_url.into(),
            headers: Vec::new(),
            auth: Auth::None,
            retry: Retry::new(),
            budget: None,
            timeout: Duration::from_mins(1),
            user_agent: None,
            max_connections: 64,
            max_body: 64 * 1024 * 1024,
            url_field: "base_url".to_owned(),
            credential: None,
            credential_field: None,
            on_status: Vec::new(),
        }
    }

    /// The base URL, without a trailing `/`.
    #[must_use]
    pub fn base_url(&self) -> &str {
        &self.inner.base
    }

    /// Sends one request, retried per the policy, and returns the answer once it is a 2xx (or
    /// a status set to [`OnStatus::Ignore`]).
    ///
    /// Before each attempt the budget (if any) is taken, waiting through `ctx`. Rate-limited
    /// answers (429; 403 or 429 with `Retry-After`; `X-RateLimit-Remaining: 0` with
    /// `X-RateLimit-Reset`, or `RateLimit-Remaining: 0` with `RateLimit-Reset`) report
    /// `RATE_LIMITED` through `ctx` and wait what the API asks; server errors (5xx, 408) and
    /// transport errors back off (with jitter) and retry; an `OAuth2` access token the API
    /// refuses (401) is refreshed once. An answer handed back whose headers say the quota is
    /// spent (`X-RateLimit-Remaining: 0` with `X-RateLimit-Reset`, or the `RateLimit-*` pair)
    /// holds the next requests of this client and its clones until the reset (reported as
    /// `RATE_LIMITED` when over a second), unless that is longer than
    /// [`Retry::max_rate_limit_wait`]: then the request goes, and the API's answer decides.
    /// The quota is the client's: give a part of an API limited on its own (GitHub's search)
    /// a client of its own, so that its quota does not hold the other requests.
    ///
    /// # Errors
    ///
    /// - a transient error when retries or rate-limit waits are exhausted, or a rate limit
    ///   asks for a wait longer than [`Retry::max_rate_limit_wait`];
    /// - a config error for 401 and 403 (naming the credential's config field), a URL that
    ///   does not parse (naming the URL's field), or a refused `OAuth2` refresh token;
    /// - a system error for 404 and other 4xx answers (with the URL and a body excerpt),
    ///   a body over `max_body`, or an absolute URL on another origin than the base URL
    ///   while credentials would be sent;
    /// - [`Error::Terminated`] when SIGTERM ends a wait.
    ///
    /// Every message has the secrets masked.
    pub fn send(&self, request: &Request, ctx: &mut dyn Context) -> Result<Response, Error> {
        self.exchange(request, ctx, Mode::Api)
    }

    /// A listing: `first`, then each next page `paginator` makes of it, each page's records
    /// decoded by `records`.
    pub fn pages<P: Paginator>(
        &self,
        first: Request,
        paginator: P,
        records: Records,
    ) -> Pages<'_, P> {
        Pages {
            client: self,
            request: Some(first),
            paginator,
            records,
            started: false,
            fetched: 0,
        }
    }

    /// Names for error messages.
    fn names(&self, mode: Mode) -> Names<'_> {
        match mode {
            Mode::Api => Names {
                credential: &self.inner.credential,
                credential_field: match &self.inner.auth {
                    Auth::None => None,
                    _ => Some(
                        self.inner
                            .credential_field
                            .as_deref()
                            .unwrap_or_else(|| default_field(&self.inner.auth)),
                    ),
                },
                url_field: &self.inner.url_field,
            },
            Mode::Token => Names {
                credential: "the OAuth2 client credentials",
                credential_field: Some(
                    self.inner
                        .credential_field
                        .as_deref()
                        .unwrap_or("refresh_token"),
                ),
                url_field: &self.inner.url_field,
            },
        }
    }

    /// The request's full URL with its query (without an API key in the query).
    fn url_of(&self, request: &Request, mode: Mode) -> Result<String, Error> {
        let path = request.url();
        let mut url = if path.starts_with("http://") || path.starts_with("https://") {
            if mode == Mode::Api
                && !matches!(self.inner.auth, Auth::None)
                && !same_origin(path, &self.inner.base[..self.inner.origin])
            {
                return Err(Error::system(format!(
                    "refusing to send the API's credentials to {}, outside `{}` ({})",
                    mask(path),
                    self.inner.url_field,
                    self.inner.base
                )));
            }
            String::with_capacity(path.len() + 64) + path
        } else {
            let mut url = String::with_capacity(self.inner.base.len() + path.len() + 64);
            url.push_str(&self.inner.base);
            if !path.starts_with('/') && !path.is_empty() {
                url.push('/');
            }
            url.push_str(path);
            url
        };
        for (name, value) in request.query_pairs() {
            push_query(&mut url, name, value);
        }
        Ok(url)
    }

    /// What every attempt at `request` sends: its URL (as shown and as sent) and its body.
    pub(super) fn prepare(&self, request: &Request, mode: Mode) -> Result<Prepared, Error> {
        let url = self.url_of(request, mode)?;
        // An API key in the query goes on the URL sent, never on the one shown.
        let sent_url = match (&self.inner.auth, mode) {
            (Auth::ApiKeyQuery { name, key }, Mode::Api) => {
                let mut sent = url.clone();
                push_query(&mut sent, name, key.expose());
                Some(sent)
            }
            _ => None,
        };
        let body = encode_body(request.body())?;
        Ok(Prepared {
            url,
            sent_url,
            body,
        })
    }

    /// The `OAuth2` credentials, when requests in `mode` carry them.
    pub(super) fn oauth(&self, mode: Mode) -> Option<&super::OAuth2> {
        match (&self.inner.auth, mode) {
            (Auth::OAuth2(oauth), Mode::Api) => Some(oauth),
            _ => None,
        }
    }

    /// The retry policy, the request budget and the quota the API said is spent.
    pub(super) fn policy(&self) -> (&Retry, Option<&RequestBudget>, &Quota) {
        (
            &self.inner.retry,
            self.inner.budget.as_ref(),
            &self.inner.quota,
        )
    }

    /// One request, with retries: `mode` says whether it carries the API's credentials. The
    /// blocking driver of [`Attempts`].
    pub(super) fn exchange(
        &self,
        request: &Request,
        ctx: &mut dyn Context,
        mode: Mode,
    ) -> Result<Response, Error> {
        let prepared = self.prepare(request, mode)?;
        let mut attempts = Attempts::new(self, &prepared.url, mode);
        loop {
            while let Some(hold) = attempts.hold() {
                pause(ctx, hold)?;
            }
            pause(ctx, attempts.before())?;
            let token = match self.oauth(mode) {
                Some(oauth) => Some(oauth.access_token(ctx, &|request, ctx| {
                    self.exchange(request, ctx, Mode::Token)
                })?),
                None => None,
            };
            let log = log::enabled().then(|| LogScope(ctx.scope()));
            let outcome = self.attempt(
                request,
                &prepared,
                token.as_deref(),
                mode,
                log,
                attempts.number(),
            );
            match attempts.after(outcome, token.as_deref()) {
                Step::Done(response) => return Ok(response),
                Step::Again(next) => pause(ctx, next)?,
                Step::Fail(error) => return Err(error),
            }
        }
    }

    /// One attempt: the answer if it is a success, else what it means. `log` is the request
    /// log's scope when the log is on. Blocking: the async driver runs it on tokio's blocking
    /// threads.
    pub(super) fn attempt(
        &self,
        request: &Request,
        prepared: &Prepared,
        token: Option<&str>,
        mode: Mode,
        log: Option<LogScope>,
        attempt: u32,
    ) -> Result<Response, Failure> {
        let inner = &*self.inner;
        let url = prepared.url.as_str();
        let names = self.names(mode);
        let started = Instant::now();
        let answer = self.run(request, prepared, token, mode);
        if let Some(LogScope(scope)) = log {
            self.log(
                request,
                url,
                mode,
                &answer,
                started.elapsed(),
                attempt,
                scope,
            );
        }
        let (parts, bytes) = match answer {
            Ok(answer) => answer,
            Err(error) => return Err(classify::transport(&error, &mask(url), &names)),
        };
        let status = parts.status.as_u16();
        let action = inner
            .on_status
            .iter()
            .find(|(code, _)| *code == status)
            .map(|(_, action)| action);
        let response = Response::new(status, url.to_owned(), parts.headers, bytes);
        match action {
            None if (200..300).contains(&status) => return Ok(response),
            Some(OnStatus::Ignore) => return Ok(response),
            Some(OnStatus::Config(message)) => {
                return Err(Failure::Fatal(Error::config(mask(message))));
            }
            Some(OnStatus::System(message)) => {
                return Err(Failure::Fatal(Error::system(mask(message))));
            }
            Some(OnStatus::Retry) => {
                return Err(Failure::Retry(format!(
                    "HTTP {status}: {}",
                    classify::excerpt(response.body())
                )));
            }
            Some(OnStatus::RateLimited) | None => {}
        }
        let limit = RateLimit::of(response.headers(), Utc::now());
        let rate_limited = match (status, action) {
            (_, Some(OnStatus::RateLimited)) | (429, _) => Some(rate_limit_wait(limit)),
            (403, _) if limit.retry_after.is_some() || limit.exhausted_until.is_some() => {
                Some(rate_limit_wait(limit))
            }
            _ => None,
        };
        if mode == Mode::Token && matches!(status, 400 | 401) {
            return Err(Failure::Fatal(Error::config(format!(
                "the OAuth2 provider refused the refresh token (HTTP {status}: {}): check `{}` \
                 and the client credentials",
                classify::excerpt(response.body()),
                names.credential_field.unwrap_or("refresh_token")
            ))));
        }
        Err(classify::status(
            status,
            &mask(url),
            response.body(),
            rate_limited,
            &names,
        ))
    }

    /// Sends the request once and reads the whole answer.
    fn run(
        &self,
        request: &Request,
        prepared: &Prepared,
        token: Option<&str>,
        mode: Mode,
    ) -> Result<(http::response::Parts, Vec<u8>), ureq::Error> {
        let inner = &*self.inner;
        let url = prepared.url.as_str();
        let sent_url = prepared.sent_url.as_deref().unwrap_or(url);
        let body = prepared.body.as_ref();
        let mut builder = http::Request::builder()
            .method(request.method().clone())
            .uri(sent_url);
        for (name, value) in &inner.headers {
            builder = builder.header(name, value);
        }
        if mode == Mode::Api {
            if let Some((name, value)) = &inner.auth_header {
                builder = builder.header(name, value);
            }
            if let Some(token) = token {
                builder = builder.header(http::header::AUTHORIZATION, format!("Bearer {token}"));
            }
        }
        for (name, value) in request.headers() {
            builder = builder.header(name.as_str(), value.as_str());
        }
        if let Some((_, content_type)) = body {
            builder = builder.header(http::header::CONTENT_TYPE, *content_type);
        }
        let sent = match body {
            Some((bytes, _)) => builder
                .body(bytes.as_slice())
                .map_err(ureq::Error::from)
                .and_then(|built| inner.agent.run(built)),
            None => builder
                .body(())
                .map_err(ureq::Error::from)
                .and_then(|built| inner.agent.run(built)),
        };
        sent.and_then(|response| {
            let (parts, mut body) = response.into_parts();
            // Into the buffer of this thread's last dropped answer: no allocation per page
            // once a reader has read one.
            let mut bytes = super::message::spare_body();
            std::io::Read::read_to_end(
                &mut body.with_config().limit(inner.max_body).reader(),
                &mut bytes,
            )?;
            Ok((parts, bytes))
        })
    }

    /// Writes one exchange to the request log, masked.
    #[expect(clippy::too_many_arguments, reason = "one private call site")]
    fn log(
        &self,
        request: &Request,
        url: &str,
        mode: Mode,
        answer: &Result<(http::response::Parts, Vec<u8>), ureq::Error>,
        elapsed: Duration,
        attempt: u32,
        scope: Option<(String, String)>,
    ) {
        let inner = &*self.inner;
        let mut shown = mask(url);
        let mut headers: Vec<(String, String)> = inner
            .headers
            .iter()
            .map(|(name, value)| {
                (
                    name.to_string(),
                    mask(&String::from_utf8_lossy(value.as_bytes())),
                )
            })
            .collect();
        if mode == Mode::Api {
            match &inner.auth {
                Auth::None => {}
                Auth::ApiKeyQuery { name, .. } => {
                    shown.push(if shown.contains('?') { '&' } else { '?' });
                    encode(name, &mut shown);
                    shown.push_str("=****");
                }
                Auth::ApiKeyHeader { name, .. } => headers.push((name.clone(), "****".to_owned())),
                Auth::Bearer(_) | Auth::Basic { .. } | Auth::OAuth2(_) => {
                    headers.push(("authorization".to_owned(), "****".to_owned()));
                }
            }
        }
        headers.extend(
            request
                .headers()
                .iter()
                .map(|(name, value)| (name.clone(), mask(value))),
        );
        let error = answer.as_ref().err().map(|error| mask(&error.to_string()));
        let (status, response_headers, body) = match answer {
            Ok((parts, body)) => (
                Some(parts.status.as_u16()),
                Some(&parts.headers),
                body.as_slice(),
            ),
            Err(_) => (None, None, &[][..]),
        };
        let method = request.method().as_str();
        log::write(
            scope,
            &log::Exchange {
                method,
                url: &shown,
                request_headers: &headers,
                status,
                error: error.as_deref(),
                response_headers,
                body,
                elapsed,
                attempt,
            },
            &mask,
        );
    }
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("base_url", &self.inner.base)
            .field("auth", &self.inner.auth)
            .field("retry", &self.inner.retry)
            .finish_non_exhaustive()
    }
}

/// Whether a request carries the API's credentials, or is a token request to the `OAuth2`
/// provider.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Mode {
    Api,
    Token,
}

/// What every attempt at one request sends.
pub(super) struct Prepared {
    /// The URL with its query, as shown (without an API key in the query).
    pub(super) url: String,
    /// The URL as sent, when it differs (an API key in the query).
    sent_url: Option<String>,
    /// The body and its content type.
    body: Option<(Vec<u8>, &'static str)>,
}

/// The scope the request log shows an exchange under: (stream, slice), `None` outside a
/// stream.
pub(super) struct LogScope(pub(super) Option<(String, String)>);

/// Reports and waits a pause through `ctx`: the blocking side of [`Pause`].
fn pause(ctx: &mut dyn Context, pause: Pause) -> Result<(), Error> {
    if let Some(reset) = pause.rate_limited {
        ctx.rate_limited(Some(reset))?;
    }
    match pause.wait {
        Some(wait) => ctx.wait(wait),
        None => Ok(()),
    }
}

/// How long a rate-limited answer asks to wait, and when the quota resets. A reset already
/// past (a clock behind, a delay sent where a time was expected) says nothing: the policy's
/// backoff applies, rather than retrying at once.
fn rate_limit_wait(limit: RateLimit) -> (Option<Duration>, Option<DateTime<Utc>>) {
    match (limit.retry_after, limit.exhausted_until) {
        (Some(wait), _) => (Some(wait), None),
        (None, Some(reset)) => match (reset - Utc::now()).to_std() {
            Ok(wait) if !wait.is_zero() => (Some(wait), Some(reset)),
            _ => (None, None),
        },
        (None, None) => (None, None),
    }
}

/// `wait` from now.
pub(super) fn after(wait: Duration) -> DateTime<Utc> {
    Utc::now() + TimeDelta::from_std(wait).unwrap_or(TimeDelta::zero())
}

/// The config field a credential's errors name by default.
fn default_field(auth: &Auth) -> &'static str {
    match auth {
        Auth::None => "credentials",
        Auth::ApiKeyHeader { .. } | Auth::ApiKeyQuery { .. } => "api_key",
        Auth::Bearer(_) => "token",
        Auth::Basic { .. } => "password",
        Auth::OAuth2(_) => "refresh_token",
    }
}

/// How errors call a credential.
fn credential_name(auth: &Auth) -> &'static str {
    match auth {
        Auth::None => "the request",
        Auth::ApiKeyHeader { .. } | Auth::ApiKeyQuery { .. } => "the API key",
        Auth::Bearer(_) => "the token",
        Auth::Basic { .. } => "the username or password",
        Auth::OAuth2(_) => "the OAuth2 access token",
    }
}

/// Whether `url` is on `origin` (`scheme://host[:port]`).
fn same_origin(url: &str, origin: &str) -> bool {
    url.strip_prefix(origin)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with(['/', '?', '#']))
}

/// Appends `text` percent-encoded (everything but RFC 3986's unreserved characters).
/// Appends `name=value` to `url`'s query, both percent-encoded.
fn push_query(url: &mut String, name: &str, value: &str) {
    url.push(if url.contains('?') { '&' } else { '?' });
    encode(name, url);
    url.push('=');
    encode(value, url);
}

fn encode(text: &str, out: &mut String) {
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            let _ = write!(out, "%{byte:02X}");
        }
    }
}

/// A request body as bytes, with its content type.
fn encode_body(body: Option<&Body>) -> Result<Option<(Vec<u8>, &'static str)>, Error> {
    Ok(match body {
        None => None,
        Some(Body::Json(value)) => Some((
            serde_json::to_vec(value)
                .map_err(|error| Error::system(format!("cannot encode a JSON body: {error}")))?,
            "application/json",
        )),
        Some(Body::Form(fields)) => {
            let mut form = String::new();
            for (name, value) in fields {
                if !form.is_empty() {
                    form.push('&');
                }
                encode(name, &mut form);
                form.push('=');
                encode(value, &mut form);
            }
            Some((form.into_bytes(), "application/x-www-form-urlencoded"))
        }
    })
}

impl ClientBuilder {
    /// Sends header `name: value` with every request.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// The credentials (default: none).
    pub fn auth(mut self, auth: Auth) -> Self {
        self.auth = auth;
        self
    }

    /// The retry policy (default: [`Retry::new`]).
    pub fn retry(mut self, retry: Retry) -> Self {
        self.retry = retry;
        self
    }

    /// A request budget, shared with every clone of the client and every other client given
    /// a clone of it.
    pub fn budget(mut self, budget: RequestBudget) -> Self {
        self.budget = Some(budget);
        self
    }

    /// How long one attempt may take, connecting and reading the whole body (default 60 s);
    /// a slower one is retried as a transport error.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The `User-Agent` header.
    pub fn user_agent(mut self, agent: &str) -> Self {
        self.user_agent = Some(agent.to_owned());
        self
    }

    /// How many idle connections are kept for reuse (default 64: one per reader at once).
    pub fn max_connections(mut self, n: usize) -> Self {
        self.max_connections = n.max(1);
        self
    }

    /// The largest body read (default 64 MiB): a larger one fails with a system error.
    pub fn max_body(mut self, bytes: u64) -> Self {
        self.max_body = bytes;
        self
    }

    /// The config field holding the base URL, named by config errors about it (default
    /// `base_url`): "check `api_url`".
    pub fn url_field(mut self, name: &str) -> Self {
        name.clone_into(&mut self.url_field);
        self
    }

    /// The config field holding the credential, named by config errors when the API refuses
    /// it (default by kind: `api_key`, `token`, `password`, `refresh_token`).
    pub fn credential_field(mut self, name: &str) -> Self {
        self.credential_field = Some(name.to_owned());
        self
    }

    /// How errors call the credential, as the connector's users know it, and the config field
    /// holding it: with `credential("the API key", "api_key")` a 401 answer reads "the API key
    /// was rejected (HTTP 401: ...): check `api_key`". By default the name goes by the kind of
    /// [`Auth`] (`the API key`, `the token`, `the username or password`, `the OAuth2 access
    /// token`), and the field as [`ClientBuilder::credential_field`] says.
    pub fn credential(mut self, name: &str, field: &str) -> Self {
        self.credential = Some(name.to_owned());
        self.credential_field = Some(field.to_owned());
        self
    }

    /// Overrides what an answer with `status` means: for example, GitHub answers 404 for a
    /// repository the token may not read, which is a config error.
    pub fn on_status(mut self, status: u16, action: OnStatus) -> Self {
        self.on_status.retain(|(code, _)| *code != status);
        self.on_status.push((status, action));
        self
    }

    /// The client.
    ///
    /// # Errors
    ///
    /// A config error naming the URL field when the base URL is not `http://` or `https://`
    /// with a host, or is `https://` in a build without the `https` feature (no TLS); or
    /// when a default header or credential cannot be sent in a header.
    pub fn build(self) -> Result<Client, Error> {
        let base = self.base.trim_end_matches('/').to_owned();
        let Some(origin) = origin_len(&base) else {
            return Err(Error::config(format!(
                "`{}` must be an http:// or https:// URL with a host, not {:?}",
                self.url_field,
                mask(&base)
            )));
        };
        if cfg!(not(feature = "https")) && base.starts_with("https://") {
            return Err(Error::config(format!(
                "`{}` is https://, and this build of the connector speaks plain HTTP only: \
                 build it with tidemark's `https` feature (ureq's `rustls`)",
                self.url_field
            )));
        }
        let mut headers = Vec::with_capacity(self.headers.len());
        for (name, value) in &self.headers {
            headers.push(header(name, value, &format!("header `{name}`"))?);
        }
        let field = self
            .credential_field
            .clone()
            .unwrap_or_else(|| default_field(&self.auth).to_owned());
        let unfit = format!("`{field}`");
        let auth_header = match &self.auth {
            Auth::None | Auth::ApiKeyQuery { .. } | Auth::OAuth2(_) => None,
            Auth::ApiKeyHeader { name, key } => Some(header(name, key.expose(), &unfit)?),
            Auth::Bearer(token) => Some(header(
                "authorization",
                &format!("Bearer {}", token.expose()),
                &unfit,
            )?),
            Auth::Basic { username, password } => {
                let encoded = base64(format!("{username}:{}", password.expose()).as_bytes());
                crate::secret::remember(&encoded);
                Some(header(
                    "authorization",
                    &format!("Basic {encoded}"),
                    &unfit,
                )?)
            }
        };
        let secrets = match &self.auth {
            Auth::None => Vec::new(),
            Auth::ApiKeyHeader { key, .. } | Auth::ApiKeyQuery { key, .. } => {
                vec![key.expose().clone()]
            }
            Auth::Bearer(token) => vec![token.expose().clone()],
            Auth::Basic { password, .. } => vec![password.expose().clone()],
            Auth::OAuth2(oauth) => oauth.secrets(),
        };
        for secret in secrets {
            let mut encoded = String::new();
            encode(&secret, &mut encoded);
            crate::secret::remember(&secret);
            crate::secret::remember(&encoded);
        }
        let agent = ureq::Agent::config_builder()
            // 4xx and 5xx are answers to classify, not errors.
            .http_status_as_error(false)
            .timeout_global(Some(self.timeout))
            .user_agent(
                self.user_agent
                    .unwrap_or_else(|| concat!("tidemark/", env!("CARGO_PKG_VERSION")).to_owned()),
            )
            .max_idle_connections(self.max_connections)
            .max_idle_connections_per_host(self.max_connections)
            // Buffers sized for headers and pages rather than 128 KiB each way.
            .input_buffer_size(16 * 1024)
            .output_buffer_size(8 * 1024)
            .build()
            .new_agent();
        Ok(Client {
            inner: Arc::new(Inner {
                agent,
                base,
                origin,
                headers,
                credential: self
                    .credential
                    .unwrap_or_else(|| credential_name(&self.auth).to_owned()),
                auth: self.auth,
                auth_header,
                retry: self.retry,
                budget: self.budget,
                quota: Quota::default(),
                url_field: self.url_field,
                credential_field: self.credential_field,
                on_status: self.on_status,
                max_body: self.max_body,
            }),
        })
    }
}

/// The length of `url`'s origin (`scheme://host[:port]`), if it is an http(s) URL with a host.
fn origin_len(url: &str) -> Option<usize> {
    let scheme = if url.starts_with("http://") {
        7
    } else if url.starts_with("https://") {
        8
    } else {
        return None;
    };
    let rest = &url[scheme..];
    let host = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    (host > 0 && !rest[..host].contains(char::is_whitespace)).then_some(scheme + host)
}

/// A header, or a config error saying `what` cannot be sent in one.
fn header(
    name: &str,
    value: &str,
    what: &str,
) -> Result<(http::HeaderName, http::HeaderValue), Error> {
    let unfit = || Error::config(format!("{what} has characters an HTTP header cannot carry"));
    let name = http::HeaderName::try_from(name).map_err(|_| unfit())?;
    let mut value = http::HeaderValue::try_from(value).map_err(|_| unfit())?;
    value.set_sensitive(true);
    Ok((name, value))
}

/// Standard base64 with padding, for basic auth.
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for (i, shift) in [18, 12, 6, 0].into_iter().enumerate() {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> shift) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// A listing read page by page: see [`Client::pages`].
pub struct Pages<'c, P> {
    pub(super) client: &'c Client,
    /// The next page's request; `None` once the listing ended.
    request: Option<Request>,
    paginator: P,
    records: Records,
    started: bool,
    fetched: u64,
}

/// One page of a listing: its records, and the answer they came in.
#[derive(Debug)]
pub struct Page<T> {
    /// The page's records, decoded.
    pub records: Vec<T>,
    /// The answer (its body is the page's).
    pub response: Response,
}

impl<P: Paginator> Pages<'_, P> {
    /// Whether the listing ended: the paginator found no next page after the last one read
    /// (or a test read's page limit stopped it), so [`Pages::next`] returns `None`. A reader
    /// that saves where it is after each page uses it to save only a page that exists.
    #[must_use]
    pub fn finished(&self) -> bool {
        self.request.is_none()
    }

    /// The next page's records, `None` after the last page. An answer whose status the
    /// client hands back under [`OnStatus::Ignore`] (not a 2xx) is a page with no records
    /// (its body is not decoded), and the last one.
    ///
    /// In a test read with a pages-per-slice limit, the listing ends early once the limit is
    /// reached, and the slice is cut (`Context::cut_slice`): no STATE claims what was not read.
    ///
    /// # Errors
    ///
    /// What [`Client::send`] returns; a body that does not decode; a paginator's error.
    pub fn next<T: DeserializeOwned>(
        &mut self,
        ctx: &mut dyn Context,
    ) -> Result<Option<Page<T>>, Error> {
        let client = self.client;
        let Some(request) = self.next_request(ctx)? else {
            return Ok(None);
        };
        let response = client.send(request, ctx)?;
        self.page(response).map(Some)
    }

    /// The next page's request, `None` when the listing ended (or the page limit of a test
    /// read cut it, which is said through `ctx`).
    pub(super) fn next_request(
        &mut self,
        ctx: &mut dyn Context,
    ) -> Result<Option<&Request>, Error> {
        let Some(request) = &mut self.request else {
            return Ok(None);
        };
        if !self.started {
            self.started = true;
            self.paginator.first(request);
        }
        if log::max_pages().is_some_and(|max| self.fetched >= max) {
            self.request = None;
            ctx.cut_slice()?;
            return Ok(None);
        }
        Ok(self.request.as_ref())
    }

    /// The page `response` answers, and the request of the next one.
    pub(super) fn page<T: DeserializeOwned>(
        &mut self,
        response: Response,
    ) -> Result<Page<T>, Error> {
        self.fetched += 1;
        // An answer handed back under `OnStatus::Ignore` has no records: its body is the
        // API's error, and the listing ends there.
        if !(200..300).contains(&response.status()) {
            self.request = None;
            return Ok(Page {
                records: Vec::new(),
                response,
            });
        }
        let records = self.records.decode::<T>(&response)?;
        let Some(request) = &mut self.request else {
            return Ok(Page { records, response });
        };
        if !self.paginator.next(&response, records.len(), request)? {
            self.request = None;
        }
        Ok(Page { records, response })
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use chrono::{TimeDelta, Utc};

    use super::rate_limit_wait;
    use crate::http::retry::RateLimit;

    #[test]
    fn a_reset_already_past_leaves_the_wait_to_the_backoff() {
        let past = RateLimit {
            retry_after: None,
            exhausted_until: Some(Utc::now() - TimeDelta::seconds(30)),
        };
        assert_eq!(rate_limit_wait(past), (None, None));
        let ahead = Utc::now() + TimeDelta::seconds(30);
        let (wait, reset) = rate_limit_wait(RateLimit {
            retry_after: None,
            exhausted_until: Some(ahead),
        });
        assert_eq!(reset, Some(ahead));
        assert!(wait.is_some_and(|wait| wait > Duration::from_secs(25)));
        let asked = RateLimit {
            retry_after: Some(Duration::from_secs(2)),
            exhausted_until: Some(ahead),
        };
        assert_eq!(rate_limit_wait(asked), (Some(Duration::from_secs(2)), None));
    }
}
