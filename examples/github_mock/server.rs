//! The HTTP side: routing, query parameters, pagination links, authentication, rate limits and
//! the `/_mock/` admin endpoints; [`super::http`] carries the bytes.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use chrono::DateTime;
use serde_json::{Value, json};

use super::data::{self, Listing, Page, RepoSort, Shape, Sort, StateFilter, Store};
use super::http::{Incoming, Listener, Outgoing};

/// How the mock is started: the data set and the server's behaviour.
#[derive(Debug, Clone)]
pub struct Options {
    /// The data set.
    pub shape: Shape,
    /// The port on 127.0.0.1; 0 picks a free one.
    pub port: u16,
    /// Waited before answering each API request (not the admin endpoints).
    pub latency: Duration,
    /// Connections served at once (a thread each); more wait to be accepted.
    pub threads: usize,
    /// When set, API requests must send `Authorization: Bearer <token>` or `token <token>`.
    pub token: Option<String>,
    /// When set, every Nth API request is answered 429 with `Retry-After: 1`.
    pub rate_limit_every: Option<u64>,
    /// API requests allowed per hour (`X-RateLimit-Limit`); past it, 403 until the reset.
    pub quota: u64,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            shape: Shape::default(),
            port: 0,
            latency: Duration::ZERO,
            threads: 512,
            token: None,
            rate_limit_every: None,
            quota: 1_000_000,
        }
    }
}

/// The length of a quota window.
const QUOTA_WINDOW: Duration = Duration::from_hours(1);
/// The largest `per_page`, as on GitHub.
const MAX_PER_PAGE: u32 = 100;
/// `per_page` when the request gives none (or an unusable one), as on GitHub.
const DEFAULT_PER_PAGE: u32 = 30;
/// The most items one `touch` may change per kind.
const MAX_TOUCH: u32 = 1_000_000;
const DOCS: &str = "https://docs.github.com/rest";

/// A running mock; it stops accepting connections when dropped.
pub struct Mock {
    listener: Listener,
}

impl Mock {
    /// Generates the data set and starts serving it on 127.0.0.1.
    pub fn start(options: Options) -> Result<Mock, String> {
        let store = Store::new(options.shape.clone())?;
        let port = options.port;
        let connections = options.threads.max(1);
        let shared = Arc::new(Shared {
            store: RwLock::new(store),
            counters: Mutex::new(Counters::default()),
            started: Instant::now(),
            started_unix: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |elapsed| elapsed.as_secs()),
            options,
        });
        let listener = Listener::start(port, connections, move |request| handle(&shared, request))
            .map_err(|error| format!("cannot listen on 127.0.0.1:{port}: {error}"))?;
        Ok(Mock { listener })
    }

    /// The port it listens on.
    #[must_use]
    pub fn port(&self) -> u16 {
        self.listener.address().port()
    }

    /// `http://127.0.0.1:PORT`.
    #[must_use]
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port())
    }

    /// Serves until the process ends.
    pub fn wait(self) {
        self.listener.wait();
    }
}

/// What every connection shares.
struct Shared {
    store: RwLock<Store>,
    counters: Mutex<Counters>,
    started: Instant,
    started_unix: u64,
    options: Options,
}

/// Requests served, the quota and the injected rate limits.
#[derive(Default)]
struct Counters {
    requests: u64,
    admin_requests: u64,
    by_kind: BTreeMap<&'static str, u64>,
    by_status: BTreeMap<u16, u64>,
    records: u64,
    /// The quota window the `used` count belongs to.
    window: u64,
    used: u64,
    injected: Option<Injected>,
}

/// Rate-limited answers to give to the next requests.
struct Injected {
    status: u16,
    remaining: u64,
    retry_after: u64,
}

/// An answer before the headers common to all are added.
struct Answer {
    status: u16,
    body: Vec<u8>,
    headers: Vec<(&'static str, String)>,
    /// The pagination links as `rel=page` pairs, `"next=2,last=5"`, made into a `Link`
    /// header with the request's host.
    links: Option<String>,
    records: usize,
}

impl Answer {
    fn json(status: u16, value: &Value) -> Answer {
        Answer {
            status,
            body: value.to_string().into_bytes(),
            headers: Vec::new(),
            links: None,
            records: 0,
        }
    }

    fn message(status: u16, message: &str) -> Answer {
        Answer::json(
            status,
            &json!({"message": message, "documentation_url": DOCS, "status": status.to_string()}),
        )
    }

    fn not_found() -> Answer {
        Answer::message(404, "Not Found")
    }

    fn invalid(field: &str) -> Answer {
        Answer::json(
            422,
            &json!({
                "message": "Validation Failed",
                "errors": [{"field": field, "code": "invalid"}],
                "documentation_url": DOCS,
                "status": "422",
            }),
        )
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

fn handle(shared: &Shared, request: &Incoming) -> Outgoing {
    let url = request.target.as_str();
    let (path, query) = url.split_once('?').unwrap_or((url, ""));
    let answer = if let Some(admin) = path.strip_prefix("/_mock/") {
        lock(&shared.counters).admin_requests += 1;
        admin_answer(shared, &request.method, admin, query)
    } else {
        if !shared.options.latency.is_zero() {
            std::thread::sleep(shared.options.latency);
        }
        api_answer(shared, request, path, query)
    };
    let mut headers = answer.headers;
    headers.insert(
        0,
        ("Content-Type", "application/json; charset=utf-8".to_owned()),
    );
    Outgoing {
        status: answer.status,
        headers,
        body: answer.body,
    }
}

/// The kind of an API path, for `/_mock/stats`.
fn kind(segments: &[&str]) -> &'static str {
    match segments {
        ["user", "repos"] | ["orgs", _, "repos"] => "repos",
        ["repos", _, _] => "repo",
        ["repos", _, _, "issues"] => "issues",
        ["repos", _, _, "issues", "comments"] => "comments",
        ["repos", _, _, "events"] => "events",
        _ => "other",
    }
}

fn api_answer(shared: &Shared, request: &Incoming, path: &str, query: &str) -> Answer {
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let kind = kind(&segments);
    let mut answer = match authorized(shared, request).and_then(|()| admitted(shared, kind)) {
        Err(refused) => refused,
        Ok(rate) => {
            let mut answer = if request.method == "GET" {
                route(shared, &segments, query)
            } else {
                Answer::not_found()
            };
            if let Some(rels) = answer.links.take() {
                let host = request.header("Host").unwrap_or("127.0.0.1");
                answer
                    .headers
                    .push(("Link", links(host, path, query, &rels)));
            }
            answer.headers.extend(rate);
            answer
        }
    };
    let mut counters = lock(&shared.counters);
    *counters.by_status.entry(answer.status).or_default() += 1;
    if answer.status == 200 {
        counters.records += answer.records as u64;
    }
    if !answer
        .headers
        .iter()
        .any(|(name, _)| *name == "X-RateLimit-Limit")
    {
        let headers = rate_headers(shared, &counters);
        answer.headers.extend(headers);
    }
    answer
}

/// Refuses a request without the expected token (when `--token` is set).
fn authorized(shared: &Shared, request: &Incoming) -> Result<(), Answer> {
    let Some(token) = &shared.options.token else {
        return Ok(());
    };
    match request.header("Authorization") {
        None => Err(Answer::message(401, "Requires authentication")),
        Some(value) => {
            let presented = value
                .split_once(' ')
                .filter(|(scheme, _)| {
                    scheme.eq_ignore_ascii_case("bearer") || scheme.eq_ignore_ascii_case("token")
                })
                .map(|(_, presented)| presented.trim());
            if presented == Some(token.as_str()) {
                Ok(())
            } else {
                Err(Answer::message(401, "Bad credentials"))
            }
        }
    }
}

/// Counts the request, then applies injected rate limits and the quota. On success, returns
/// the rate-limit headers to send.
fn admitted(shared: &Shared, kind: &'static str) -> Result<Vec<(&'static str, String)>, Answer> {
    let mut counters = lock(&shared.counters);
    counters.requests += 1;
    *counters.by_kind.entry(kind).or_default() += 1;
    let injected = counters
        .injected
        .as_mut()
        .filter(|i| i.remaining > 0)
        .map(|i| {
            i.remaining -= 1;
            (i.status, i.retry_after)
        });
    let every = shared
        .options
        .rate_limit_every
        .filter(|&n| n > 0 && counters.requests.is_multiple_of(n))
        .map(|_| (429, 1));
    if let Some((status, retry_after)) = injected.or(every) {
        let mut answer = Answer::message(
            status,
            "You have exceeded a secondary rate limit. Please wait a few minutes before you \
             try again.",
        );
        answer
            .headers
            .push(("Retry-After", retry_after.to_string()));
        answer.headers.extend(rate_headers(shared, &counters));
        return Err(answer);
    }
    let window = shared.started.elapsed().as_secs() / QUOTA_WINDOW.as_secs();
    if window != counters.window {
        counters.window = window;
        counters.used = 0;
    }
    if counters.used >= shared.options.quota {
        let mut answer = Answer::message(403, "API rate limit exceeded.");
        answer.headers.extend(rate_headers(shared, &counters));
        return Err(answer);
    }
    counters.used += 1;
    Ok(rate_headers(shared, &counters))
}

fn rate_headers(shared: &Shared, counters: &Counters) -> Vec<(&'static str, String)> {
    let quota = shared.options.quota;
    let reset = shared.started_unix + (counters.window + 1) * QUOTA_WINDOW.as_secs();
    vec![
        ("X-RateLimit-Limit", quota.to_string()),
        (
            "X-RateLimit-Remaining",
            quota.saturating_sub(counters.used).to_string(),
        ),
        ("X-RateLimit-Reset", reset.to_string()),
        ("X-RateLimit-Used", counters.used.to_string()),
        ("X-RateLimit-Resource", "core".to_owned()),
    ]
}

/// The query's parameters, percent-decoded; a repeated name keeps its last value.
fn parameters(query: &str) -> BTreeMap<String, String> {
    query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            (decode(name), decode(value))
        })
        .collect()
}

/// Percent-decoding, with `+` as a space; a malformed escape is kept as written.
fn decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
                match u8::from_str_radix(hex, 16) {
                    Ok(byte) => {
                        out.push(byte);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            byte => out.push(byte),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `page` and `per_page` as GitHub reads them: pages from 1, at most 100 per page, and the
/// defaults (1 and 30) for missing or unusable values.
fn paging(params: &BTreeMap<String, String>) -> (u32, u32) {
    let number = |name: &str| {
        params
            .get(name)
            .and_then(|value| value.trim().parse::<u32>().ok())
            .filter(|&n| n > 0)
    };
    let page = number("page").unwrap_or(1);
    let per_page = number("per_page")
        .unwrap_or(DEFAULT_PER_PAGE)
        .min(MAX_PER_PAGE);
    (page, per_page)
}

/// `direction`: `asc` or `desc`, or `default` when absent.
fn descending(params: &BTreeMap<String, String>, default: bool) -> Result<bool, Answer> {
    match params.get("direction").map(String::as_str) {
        None => Ok(default),
        Some("asc") => Ok(false),
        Some("desc") => Ok(true),
        Some(_) => Err(Answer::invalid("direction")),
    }
}

/// `since`: an ISO 8601 time, as data-set seconds rounded up.
fn since(params: &BTreeMap<String, String>) -> Result<Option<u32>, Answer> {
    let Some(value) = params.get("since") else {
        return Ok(None);
    };
    let parsed =
        DateTime::parse_from_rfc3339(value.trim()).map_err(|_| Answer::invalid("since"))?;
    Ok(Some(data::from_unix_ceil(
        parsed.timestamp(),
        parsed.timestamp_subsec_nanos() > 0,
    )))
}

fn route(shared: &Shared, segments: &[&str], query: &str) -> Answer {
    let params = parameters(query);
    let (page, per_page) = paging(&params);
    let store = shared.store.read().unwrap_or_else(PoisonError::into_inner);
    let repo = |owner: &str, name: &str| store.find_repo(owner, name).ok_or_else(Answer::not_found);
    let result = match *segments {
        ["user", "repos"] => repos(&store, &params, RepoSort::FullName, page, per_page),
        ["orgs", org, "repos"] if org.eq_ignore_ascii_case(&store.shape().org) => {
            repos(&store, &params, RepoSort::Created, page, per_page)
        }
        ["repos", owner, name] => repo(owner, name).map(|r| (store.repo(r), false)),
        ["repos", owner, name, "issues"] => repo(owner, name).and_then(|r| {
            let listing = listing(&params, page, per_page, true)?;
            Ok((store.issues_page(r, &listing), true))
        }),
        ["repos", owner, name, "issues", "comments"] => repo(owner, name).and_then(|r| {
            let listing = listing(&params, page, per_page, false)?;
            Ok((store.comments_page(r, &listing), true))
        }),
        ["repos", owner, name, "events"] => {
            repo(owner, name).map(|r| (store.events_page(r, page, per_page), true))
        }
        _ => Err(Answer::not_found()),
    };
    match result {
        Err(answer) => answer,
        Ok((found, paged)) => {
            let mut answer = Answer {
                status: 200,
                body: found.body,
                headers: Vec::new(),
                links: None,
                records: found.count,
            };
            if paged {
                answer.links = page_links(page, per_page, found.total);
            }
            answer
        }
    }
}

fn repos(
    store: &Store,
    params: &BTreeMap<String, String>,
    default_sort: RepoSort,
    page: u32,
    per_page: u32,
) -> Result<(Page, bool), Answer> {
    let sort = match params.get("sort").map(String::as_str) {
        None => default_sort,
        Some("full_name") => RepoSort::FullName,
        Some("created") => RepoSort::Created,
        Some("updated") => RepoSort::Updated,
        Some("pushed") => RepoSort::Pushed,
        Some(_) => return Err(Answer::invalid("sort")),
    };
    let descending = descending(params, sort != RepoSort::FullName)?;
    Ok((store.repos_page(sort, descending, page, per_page), true))
}

/// The listing of issues (`issues`) or comments asked for.
fn listing(
    params: &BTreeMap<String, String>,
    page: u32,
    per_page: u32,
    issues: bool,
) -> Result<Listing, Answer> {
    let sort = match params.get("sort").map(String::as_str) {
        None => None,
        Some("created") => Some(Sort::Created),
        Some("updated") => Some(Sort::Updated),
        Some(_) => return Err(Answer::invalid("sort")),
    };
    // Issues: created, newest first, by default. Comments: ascending id without `sort`, and
    // `direction` (descending by default) only with it.
    let descending = match (issues, sort) {
        (false, None) => false,
        _ => descending(params, true)?,
    };
    let state = if issues {
        match params.get("state").map(String::as_str) {
            None | Some("open") => StateFilter::Open,
            Some("closed") => StateFilter::Closed,
            Some("all") => StateFilter::All,
            Some(_) => return Err(Answer::invalid("state")),
        }
    } else {
        StateFilter::All
    };
    Ok(Listing {
        sort: sort.unwrap_or(Sort::Created),
        descending,
        since: since(params)?,
        state,
        page,
        per_page,
    })
}

/// The `rel`s of a page, as `rel=page` pairs, GitHub's order: prev, next, last, first. None
/// when everything fits on the first page.
fn page_links(page: u32, per_page: u32, total: usize) -> Option<String> {
    let last = u32::try_from(total.div_ceil(per_page as usize))
        .unwrap_or(u32::MAX)
        .max(1);
    if page == 1 && last == 1 {
        return None;
    }
    let mut rels = Vec::new();
    if page > 1 {
        rels.push(format!("prev={}", (page - 1).min(last)));
    }
    if page < last {
        rels.push(format!("next={}", page + 1));
        rels.push(format!("last={last}"));
    }
    if page > 1 {
        rels.push("first=1".to_owned());
    }
    Some(rels.join(","))
}

/// The `Link` header: `<http://host/path?...&page=N>; rel="next", ...`, keeping the request's
/// other parameters as they were sent.
fn links(host: &str, path: &str, query: &str, rels: &str) -> String {
    rels.split(',')
        .filter_map(|rel| rel.split_once('='))
        .map(|(rel, page)| {
            let mut pairs: Vec<String> = query
                .split('&')
                .filter(|pair| !pair.is_empty())
                .map(str::to_owned)
                .collect();
            match pairs
                .iter_mut()
                .find(|pair| pair.split('=').next() == Some("page"))
            {
                Some(pair) => *pair = format!("page={page}"),
                None => pairs.push(format!("page={page}")),
            }
            format!("<http://{host}{path}?{}>; rel=\"{rel}\"", pairs.join("&"))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn admin_answer(shared: &Shared, method: &str, path: &str, query: &str) -> Answer {
    let params = parameters(query);
    match (method, path) {
        ("GET", "stats") => {
            let counters = lock(&shared.counters);
            let by_status: BTreeMap<String, u64> = counters
                .by_status
                .iter()
                .map(|(status, count)| (status.to_string(), *count))
                .collect();
            Answer::json(
                200,
                &json!({
                    "requests": counters.requests,
                    "by_kind": counters.by_kind,
                    "by_status": by_status,
                    "records": counters.records,
                    "admin_requests": counters.admin_requests,
                }),
            )
        }
        ("POST", "rate-limit") => {
            let status = match params.get("status").map(String::as_str) {
                None | Some("429") => 429,
                Some("403") => 403,
                Some(_) => return Answer::message(400, "status must be 403 or 429"),
            };
            let Some(count) = count_parameter(&params, "count", 1) else {
                return Answer::message(400, "count must be a whole number");
            };
            let Some(retry_after) = count_parameter(&params, "retry_after", 1) else {
                return Answer::message(400, "retry_after must be a whole number of seconds");
            };
            lock(&shared.counters).injected = Some(Injected {
                status,
                remaining: count,
                retry_after,
            });
            Answer::json(
                200,
                &json!({"status": status, "count": count, "retry_after": retry_after}),
            )
        }
        ("POST", "touch") => {
            let mut counts = [0_u32; 4];
            for (slot, name) in
                counts
                    .iter_mut()
                    .zip(["issues", "comments", "comment_edits", "events"])
            {
                match count_parameter(&params, name, 0).and_then(|n| u32::try_from(n).ok()) {
                    Some(n) if n <= MAX_TOUCH => *slot = n,
                    _ => {
                        return Answer::message(
                            400,
                            &format!("{name} must be a whole number up to {MAX_TOUCH}"),
                        );
                    }
                }
            }
            let [issues, comments, edits, events] = counts;
            let changed = shared
                .store
                .write()
                .unwrap_or_else(PoisonError::into_inner)
                .touch(issues, comments, edits, events);
            Answer::json(200, &changed)
        }
        (_, "stats" | "rate-limit" | "touch") => Answer::message(405, "Method Not Allowed"),
        _ => Answer::not_found(),
    }
}

/// A whole-number parameter, `default` when absent, None when unusable.
fn count_parameter(params: &BTreeMap<String, String>, name: &str, default: u64) -> Option<u64> {
    match params.get(name) {
        None => Some(default),
        Some(value) => value.trim().parse().ok(),
    }
}
