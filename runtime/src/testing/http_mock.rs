//! An in-process mock API server for connector tests (feature `http-mock`).
//!
//! A [`MockServer`] listens on `127.0.0.1` at a free port and answers each request from the
//! first [`Expect`]ation, in order of declaration, that matches it and is not used up. Each
//! connection is served on a thread of its own, so concurrent readers are answered
//! concurrently; the threads stop when the server is dropped.
//!
//! ```
//! use serde_json::json;
//! use tidemark::testing::http::{Expect, MockServer, Reply};
//!
//! let server = MockServer::start();
//! server
//!     .expect(Expect::get("/tickets").query("page", "1"))
//!     .respond(Reply::status(503))
//!     .respond(Reply::json(200, json!({"tickets": [{"id": 1}]})))
//!     .times(2);
//! let url = format!("{}/tickets?page=1", server.url());
//! # let get = |url: &str| {
//! #     use std::io::{Read, Write};
//! #     let mut stream = std::net::TcpStream::connect(server.url().trim_start_matches("http://")).unwrap();
//! #     write!(stream, "GET {} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", &url[server.url().len()..]).unwrap();
//! #     let mut answer = String::new();
//! #     stream.read_to_string(&mut answer).unwrap();
//! #     answer
//! # };
//! assert!(get(&url).starts_with("HTTP/1.1 503"));
//! assert!(get(&url).starts_with("HTTP/1.1 200"));
//! assert_eq!(server.requests().len(), 2);
//! server.verify();
//! ```
//!
//! A request no expectation matches is answered `599` with a body naming it, and
//! [`MockServer::verify`] lists it.

use std::fmt::Write as _;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant, SystemTime};

use serde_json::Value;

/// The status a request that no expectation matches is answered with.
pub const UNMATCHED_STATUS: u16 = 599;

/// The largest request head (request line and headers) and body the server reads.
const MAX_REQUEST: usize = 16 * 1024 * 1024;

/// How often idle connection threads look whether the server was dropped.
const POLL: Duration = Duration::from_millis(20);

/// What a request must look like to be answered by an expectation.
#[derive(Debug, Clone)]
pub struct Expect {
    method: String,
    path: String,
    query: Vec<(String, String)>,
    headers: Vec<(String, String)>,
    body_contains: Vec<String>,
}

impl Expect {
    /// A request with this method (`GET`, `POST`, ...; any case) and path (without the query).
    #[inline]
    #[must_use]
    pub fn new(method: &str, path: impl Into<String>) -> Self {
        Self {
            method: method.to_ascii_uppercase(),
            path: path.into(),
            query: Vec::new(),
            headers: Vec::new(),
            body_contains: Vec::new(),
        }
    }

    /// A `GET` of this path.
    #[inline]
    #[must_use]
    pub fn get(path: impl Into<String>) -> Self {
        Self::new("GET", path)
    }

    /// A `POST` to this path.
    #[inline]
    #[must_use]
    pub fn post(path: impl Into<String>) -> Self {
        Self::new("POST", path)
    }

    /// The query must hold this pair (after percent-decoding); other pairs may be present.
    #[inline]
    #[must_use]
    // By value, so that `query("page", 1)` reads as it should.
    #[allow(clippy::needless_pass_by_value)]
    pub fn query(mut self, name: impl Into<String>, value: impl ToString) -> Self {
        self.query.push((name.into(), value.to_string()));
        self
    }

    /// The request must carry this header (name in any case) with exactly this value.
    #[inline]
    #[must_use]
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// The request body, read as UTF-8 text, must contain this text.
    #[inline]
    #[must_use]
    pub fn body_contains(mut self, text: impl Into<String>) -> Self {
        self.body_contains.push(text.into());
        self
    }

    fn matches(&self, request: &ReceivedRequest) -> bool {
        request.method == self.method
            && request.path == self.path
            && self
                .query
                .iter()
                .all(|pair| request.query.iter().any(|got| got == pair))
            && self
                .headers
                .iter()
                .all(|(name, value)| request.header(name) == Some(value.as_str()))
            && self
                .body_contains
                .iter()
                .all(|text| String::from_utf8_lossy(&request.body).contains(text.as_str()))
    }

    fn describe(&self) -> String {
        let mut text = format!("{} {}", self.method, self.path);
        for (name, value) in &self.query {
            let _ = write!(text, " {name}={value}");
        }
        for (name, value) in &self.headers {
            let _ = write!(text, " [{name}: {value}]");
        }
        for body in &self.body_contains {
            let _ = write!(text, " [body contains {body:?}]");
        }
        text
    }
}

/// How the server answers a request.
#[derive(Debug, Clone)]
pub struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    delay: Duration,
    close: bool,
}

impl Reply {
    /// An answer with this status and an empty body.
    #[inline]
    #[must_use]
    pub fn status(status: u16) -> Self {
        Self::bytes(status, Vec::new())
    }

    /// An answer with this status and body, sent as `application/json`.
    #[inline]
    #[must_use]
    // By value, so that `Reply::json(200, json!({..}))` reads as it should.
    #[allow(clippy::needless_pass_by_value)]
    pub fn json(status: u16, body: Value) -> Self {
        Self::bytes(status, serde_json::to_vec(&body).unwrap_or_default())
            .header("Content-Type", "application/json")
    }

    /// An answer with this status and text body, sent as `text/plain; charset=utf-8`.
    #[inline]
    #[must_use]
    pub fn text(status: u16, body: impl Into<String>) -> Self {
        Self::bytes(status, body.into().into_bytes())
            .header("Content-Type", "text/plain; charset=utf-8")
    }

    /// An answer with this status and body, sent as they are.
    #[inline]
    #[must_use]
    pub fn bytes(status: u16, body: Vec<u8>) -> Self {
        Self {
            status,
            headers: Vec::new(),
            body,
            delay: Duration::ZERO,
            close: false,
        }
    }

    /// No answer: the server reads the request and closes the connection, which the client
    /// sees as a transport error.
    #[inline]
    #[must_use]
    pub fn close() -> Self {
        Self {
            close: true,
            ..Self::status(0)
        }
    }

    /// Adds a header to the answer (`Content-Length` is always set by the server).
    #[inline]
    #[must_use]
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Waits this long before answering (or closing the connection).
    #[inline]
    #[must_use]
    pub fn delay(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }

    /// Compresses the body with gzip and says so with `Content-Encoding: gzip`.
    #[inline]
    #[must_use]
    pub fn gzip(self) -> Self {
        self.gzip_file().header("Content-Encoding", "gzip")
    }

    /// Compresses the body with gzip without saying so in a header, as a server sends a
    /// `.gz` file.
    #[inline]
    #[must_use]
    pub fn gzip_file(mut self) -> Self {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        // Writing to a Vec cannot fail.
        let _ = encoder.write_all(&self.body);
        self.body = encoder.finish().unwrap_or_default();
        self
    }
}

/// One request the server received.
#[derive(Debug, Clone)]
pub struct ReceivedRequest {
    /// The method, in upper case.
    pub method: String,
    /// The request target as sent: the path and the query.
    pub url: String,
    /// The path, without the query.
    pub path: String,
    /// The query pairs, percent-decoded, in order.
    pub query: Vec<(String, String)>,
    /// The headers, in order, names as sent.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
    /// When the request was received (its head read), on the monotonic clock.
    pub at: Instant,
    /// When the request was received, on the wall clock.
    pub received: SystemTime,
}

impl ReceivedRequest {
    /// The first value of this header (name in any case).
    #[inline]
    #[must_use]
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(got, _)| got.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    /// The first value of this query parameter.
    #[inline]
    #[must_use]
    pub fn query_value(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(got, _)| got == name)
            .map(|(_, value)| value.as_str())
    }

    /// The body as text (invalid UTF-8 replaced).
    #[inline]
    #[must_use]
    pub fn body_text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    fn describe(&self) -> String {
        format!("{} {}", self.method, self.url)
    }
}

struct Entry {
    expect: Expect,
    replies: Vec<Reply>,
    times: Option<usize>,
    calls: usize,
}

impl Entry {
    fn exhausted(&self) -> bool {
        self.times.is_some_and(|times| self.calls >= times)
    }
}

#[derive(Default)]
struct State {
    expectations: Vec<Entry>,
    requests: Vec<ReceivedRequest>,
    unexpected: Vec<ReceivedRequest>,
}

struct Shared {
    state: Mutex<State>,
    stop: AtomicBool,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while the lock is held leaves consistent data: every update is one push or
        // one increment.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Records the request and picks the reply.
    fn answer(&self, request: ReceivedRequest) -> Reply {
        let mut state = self.lock();
        let reply = state
            .expectations
            .iter_mut()
            .find(|expectation| !expectation.exhausted() && expectation.expect.matches(&request))
            .map(|expectation| {
                let index = expectation
                    .calls
                    .min(expectation.replies.len().saturating_sub(1));
                expectation.calls += 1;
                expectation
                    .replies
                    .get(index)
                    .cloned()
                    .unwrap_or_else(|| Reply::status(200))
            });
        let reply = reply.unwrap_or_else(|| {
            state.unexpected.push(request.clone());
            Reply::text(
                UNMATCHED_STATUS,
                format!(
                    "no expectation of the mock server matches {}",
                    request.describe()
                ),
            )
        });
        state.requests.push(request);
        reply
    }
}

/// A mock API server on `127.0.0.1`; see the [module docs](self).
pub struct MockServer {
    address: SocketAddr,
    shared: Arc<Shared>,
    acceptor: Option<JoinHandle<()>>,
    connections: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

/// An expectation being declared: [`respond`](Self::respond) adds a reply, [`times`](Self::times)
/// bounds how many requests it answers.
pub struct Expectation<'s> {
    server: &'s MockServer,
    index: usize,
}

impl std::fmt::Debug for Expectation<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Expectation")
            .field("index", &self.index)
            .finish()
    }
}

impl Expectation<'_> {
    /// Adds a reply. Replies are used in sequence, one per matching request, the last one for
    /// every request after it: `.respond(Reply::status(503)).respond(Reply::json(200, ..))`
    /// answers 503 once, then 200. Without a reply, requests are answered 200 with no body.
    #[inline]
    // The declaration takes effect at once: a statement `server.expect(..).respond(..);`
    // needs no `let _`.
    #[allow(clippy::must_use_candidate, clippy::return_self_not_must_use)]
    pub fn respond(self, reply: Reply) -> Self {
        if let Some(expectation) = self.server.shared.lock().expectations.get_mut(self.index) {
            expectation.replies.push(reply);
        }
        self
    }

    /// Answers exactly `times` requests: after that, requests go to the next matching
    /// expectation, and [`MockServer::verify`] fails if fewer came. Without it, the
    /// expectation answers any number of requests, at least one.
    #[inline]
    // The declaration takes effect at once: a statement `server.expect(..).respond(..);`
    // needs no `let _`.
    #[allow(clippy::must_use_candidate, clippy::return_self_not_must_use)]
    pub fn times(self, times: usize) -> Self {
        if let Some(expectation) = self.server.shared.lock().expectations.get_mut(self.index) {
            expectation.times = Some(times);
        }
        self
    }

    /// How many requests this expectation answered so far.
    #[inline]
    #[must_use]
    pub fn calls(&self) -> usize {
        self.server
            .shared
            .lock()
            .expectations
            .get(self.index)
            .map_or(0, |expectation| expectation.calls)
    }
}

impl MockServer {
    /// Starts a server on `127.0.0.1` at a free port.
    ///
    /// # Panics
    ///
    /// If no port can be bound (a test helper: the test cannot go on).
    #[inline]
    #[must_use]
    pub fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("the mock server binds a port");
        let address = listener
            .local_addr()
            .expect("the mock server's listener has an address");
        let shared = Arc::new(Shared {
            state: Mutex::new(State::default()),
            stop: AtomicBool::new(false),
        });
        let connections = Arc::new(Mutex::new(Vec::new()));
        let acceptor = {
            let shared = Arc::clone(&shared);
            let connections = Arc::clone(&connections);
            thread::Builder::new()
                .name("mock-server".into())
                .spawn(move || accept(&listener, &shared, &connections))
                .expect("the mock server starts its thread")
        };
        Self {
            address,
            shared,
            acceptor: Some(acceptor),
            connections,
        }
    }

    /// Starts a server that answers the exchanges recorded in a JSON Lines file, each
    /// `{"request": {"method", "path", "query"}, "response": {"status", "headers", "body"}}`,
    /// once each, in order for requests that look the same. `query` is an object of names
    /// to values (or an array of `[name, value]` pairs); `body` is sent as is if it is a
    /// string, as JSON otherwise; `headers` is an object. Blank lines are skipped.
    ///
    /// # Errors
    ///
    /// If the file cannot be read, or a line is not such an exchange (the error names the
    /// line).
    #[inline]
    pub fn replay(path: impl AsRef<Path>) -> io::Result<Self> {
        let text = std::fs::read_to_string(path.as_ref())?;
        let mut exchanges = Vec::new();
        for (index, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let exchange = parse_exchange(line).map_err(|message| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("{} line {}: {message}", path.as_ref().display(), index + 1),
                )
            })?;
            exchanges.push(exchange);
        }
        let server = Self::start();
        for (expect, reply) in exchanges {
            server.expect(expect).respond(reply).times(1);
        }
        Ok(server)
    }

    /// Declares an expectation, matched after those declared before it.
    #[inline]
    // The declaration takes effect at once: a statement `server.expect(..).respond(..);`
    // needs no `let _`.
    #[allow(clippy::must_use_candidate, clippy::return_self_not_must_use)]
    pub fn expect(&self, expect: Expect) -> Expectation<'_> {
        let mut state = self.shared.lock();
        state.expectations.push(Entry {
            expect,
            replies: Vec::new(),
            times: None,
            calls: 0,
        });
        Expectation {
            server: self,
            index: state.expectations.len() - 1,
        }
    }

    /// The server's base URL, `http://127.0.0.1:PORT`, without a trailing slash.
    #[inline]
    #[must_use]
    pub fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    /// Every request received so far, in the order they were received.
    #[inline]
    #[must_use]
    pub fn requests(&self) -> Vec<ReceivedRequest> {
        self.shared.lock().requests.clone()
    }

    /// Checks that every expectation answered as many requests as it should (exactly its
    /// [`times`](Expectation::times), or at least one) and that every request matched one.
    ///
    /// # Panics
    ///
    /// Listing every unmet expectation and unexpected request, if there is any (a test
    /// helper: this is how it fails a test).
    #[inline]
    pub fn verify(&self) {
        let state = self.shared.lock();
        let mut problems = String::new();
        for expectation in &state.expectations {
            let unmet = match expectation.times {
                Some(times) => expectation.calls != times,
                None => expectation.calls == 0,
            };
            if unmet {
                let wanted = expectation
                    .times
                    .map_or_else(|| "at least 1".to_owned(), |times| times.to_string());
                let _ = writeln!(
                    problems,
                    "  expected {wanted} request(s) {}, got {}",
                    expectation.expect.describe(),
                    expectation.calls
                );
            }
        }
        for request in &state.unexpected {
            let _ = writeln!(problems, "  unexpected request {}", request.describe());
        }
        drop(state);
        assert!(
            problems.is_empty(),
            "the mock server's expectations were not met:\n{problems}"
        );
    }
}

impl std::fmt::Debug for MockServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MockServer")
            .field("address", &self.address)
            .finish_non_exhaustive()
    }
}

impl Drop for MockServer {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        // Wakes the acceptor blocked in `accept`.
        let _ = TcpStream::connect(self.address);
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
        let handles = std::mem::take(
            &mut *self
                .connections
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
        );
        for handle in handles {
            let _ = handle.join();
        }
    }
}

fn accept(listener: &TcpListener, shared: &Arc<Shared>, connections: &Mutex<Vec<JoinHandle<()>>>) {
    for stream in listener.incoming() {
        if shared.stop.load(Ordering::SeqCst) {
            return;
        }
        let Ok(stream) = stream else { continue };
        let shared = Arc::clone(shared);
        let spawned = thread::Builder::new()
            .name("mock-server-connection".into())
            .spawn(move || serve(stream, &shared));
        if let Ok(handle) = spawned {
            let mut handles = connections.lock().unwrap_or_else(PoisonError::into_inner);
            handles.retain(|handle| !handle.is_finished());
            handles.push(handle);
        }
    }
}

/// Serves the requests of one connection until the client closes it, a reply closes it, or
/// the server stops.
fn serve(stream: TcpStream, shared: &Shared) {
    let _ = stream.set_read_timeout(Some(POLL));
    let _ = stream.set_nodelay(true);
    let Ok(writer) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(stream);
    let mut writer = writer;
    while let Ok(Some(request)) = read_request(&mut reader, &shared.stop) {
        let keep_alive = !request
            .header("connection")
            .is_some_and(|value| value.eq_ignore_ascii_case("close"));
        let reply = shared.answer(request);
        if !sleep_unless_stopped(reply.delay, &shared.stop) || reply.close {
            break;
        }
        if write_reply(&mut writer, &reply, keep_alive).is_err() || !keep_alive {
            break;
        }
    }
    let _ = writer.shutdown(Shutdown::Both);
}

/// Sleeps, in short steps so that a dropped server does not wait; false if the server stopped.
fn sleep_unless_stopped(delay: Duration, stop: &AtomicBool) -> bool {
    let end = Instant::now() + delay;
    loop {
        if stop.load(Ordering::SeqCst) {
            return false;
        }
        let now = Instant::now();
        if now >= end {
            return true;
        }
        thread::sleep((end - now).min(POLL));
    }
}

/// Reads a line, waiting through read timeouts until the server stops; `None` at the end
/// of the stream.
fn read_line(reader: &mut BufReader<TcpStream>, stop: &AtomicBool) -> io::Result<Option<String>> {
    let mut line = Vec::new();
    loop {
        // On a timeout, what was read stays in `line` and the next call goes on from there.
        match reader.read_until(b'\n', &mut line) {
            Ok(_) if line.ends_with(b"\n") => {
                while line
                    .last()
                    .is_some_and(|byte| *byte == b'\n' || *byte == b'\r')
                {
                    line.pop();
                }
                return Ok(Some(String::from_utf8_lossy(&line).into_owned()));
            }
            // The end of the stream, maybe within a line.
            Ok(_) => return Ok(None),
            Err(err)
                if matches!(
                    err.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                if stop.load(Ordering::SeqCst) {
                    return Ok(None);
                }
            }
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(err) => return Err(err),
        }
        if line.len() > MAX_REQUEST {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "request head too long",
            ));
        }
    }
}

fn read_request(
    reader: &mut BufReader<TcpStream>,
    stop: &AtomicBool,
) -> io::Result<Option<ReceivedRequest>> {
    let Some(request_line) = read_line(reader, stop)? else {
        return Ok(None);
    };
    let at = Instant::now();
    let received = SystemTime::now();
    let mut parts = request_line.split(' ');
    let (Some(method), Some(url)) = (parts.next(), parts.next()) else {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "bad request line",
        ));
    };
    let mut headers = Vec::new();
    loop {
        let Some(line) = read_line(reader, stop)? else {
            return Ok(None);
        };
        if line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            headers.push((name.trim().to_owned(), value.trim().to_owned()));
        }
    }
    let header = |name: &str| {
        headers
            .iter()
            .find(|(got, _): &&(String, String)| got.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.clone())
    };
    let body = if header("transfer-encoding").is_some_and(|value| value.contains("chunked")) {
        read_chunked(reader, stop)?
    } else {
        let length = header("content-length")
            .and_then(|value| value.parse::<usize>().ok())
            .unwrap_or(0);
        if length > MAX_REQUEST {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "request body too long",
            ));
        }
        read_exact(reader, length, stop)?
    };
    let (path, query) = match url.split_once('?') {
        Some((path, query)) => (path, parse_query(query)),
        None => (url, Vec::new()),
    };
    Ok(Some(ReceivedRequest {
        method: method.to_ascii_uppercase(),
        url: url.to_owned(),
        path: percent_decode(path),
        query,
        headers,
        body,
        at,
        received,
    }))
}

fn read_exact(
    reader: &mut BufReader<TcpStream>,
    length: usize,
    stop: &AtomicBool,
) -> io::Result<Vec<u8>> {
    let mut body = vec![0; length];
    let mut filled = 0;
    while filled < length {
        match reader.read(&mut body[filled..]) {
            Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
            Ok(read) => filled += read,
            Err(err)
                if matches!(
                    err.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                if stop.load(Ordering::SeqCst) {
                    return Err(err);
                }
            }
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(err) => return Err(err),
        }
    }
    Ok(body)
}

fn read_chunked(reader: &mut BufReader<TcpStream>, stop: &AtomicBool) -> io::Result<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let line = read_line(reader, stop)?.ok_or(io::ErrorKind::UnexpectedEof)?;
        let size = line.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size, 16)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "bad chunk size"))?;
        if size == 0 {
            // Trailers, up to the blank line.
            while !read_line(reader, stop)?.unwrap_or_default().is_empty() {}
            return Ok(body);
        }
        if body.len() + size > MAX_REQUEST {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "request body too long",
            ));
        }
        body.extend(read_exact(reader, size, stop)?);
        read_line(reader, stop)?;
    }
}

fn write_reply(writer: &mut TcpStream, reply: &Reply, keep_alive: bool) -> io::Result<()> {
    let mut head = format!("HTTP/1.1 {} {}\r\n", reply.status, reason(reply.status));
    for (name, value) in &reply.headers {
        let _ = write!(head, "{name}: {value}\r\n");
    }
    let _ = write!(head, "Content-Length: {}\r\n", reply.body.len());
    if !keep_alive {
        head.push_str("Connection: close\r\n");
    }
    head.push_str("\r\n");
    let mut message = head.into_bytes();
    message.extend_from_slice(&reply.body);
    writer.write_all(&message)?;
    writer.flush()
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        204 => "No Content",
        301 => "Moved Permanently",
        302 => "Found",
        304 => "Not Modified",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        408 => "Request Timeout",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        UNMATCHED_STATUS => "No Expectation Matched",
        _ => "Status",
    }
}

fn parse_query(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(name), percent_decode(value))
        })
        .collect()
}

/// Decodes `%XX` escapes and `+` (a space in a query); invalid escapes are kept as they are.
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        match bytes[index] {
            b'+' => decoded.push(b' '),
            b'%' => {
                let escape = bytes
                    .get(index + 1..index + 3)
                    .and_then(|hex| std::str::from_utf8(hex).ok())
                    .and_then(|hex| u8::from_str_radix(hex, 16).ok());
                if let Some(byte) = escape {
                    decoded.push(byte);
                    index += 2;
                } else {
                    decoded.push(b'%');
                }
            }
            byte => decoded.push(byte),
        }
        index += 1;
    }
    String::from_utf8_lossy(&decoded).into_owned()
}

fn parse_exchange(line: &str) -> Result<(Expect, Reply), String> {
    let exchange: Value = serde_json::from_str(line).map_err(|err| err.to_string())?;
    let request = exchange.get("request").ok_or("no `request`")?;
    let response = exchange.get("response").ok_or("no `response`")?;
    let method = request
        .get("method")
        .and_then(Value::as_str)
        .unwrap_or("GET");
    let path = request
        .get("path")
        .and_then(Value::as_str)
        .ok_or("no `request.path` string")?;
    let mut expect = Expect::new(method, path);
    match request.get("query") {
        None | Some(Value::Null) => {}
        Some(Value::Object(pairs)) => {
            for (name, value) in pairs {
                expect = expect.query(name.clone(), scalar_text(value)?);
            }
        }
        Some(Value::Array(pairs)) => {
            for pair in pairs {
                match pair.as_array().map(Vec::as_slice) {
                    Some([name, value]) => {
                        expect = expect.query(scalar_text(name)?, scalar_text(value)?);
                    }
                    _ => return Err("`request.query` pairs must be [name, value]".into()),
                }
            }
        }
        Some(_) => return Err("`request.query` must be an object or an array of pairs".into()),
    }
    let status = response
        .get("status")
        .and_then(Value::as_u64)
        .and_then(|status| u16::try_from(status).ok())
        .filter(|status| (100..=999).contains(status))
        .ok_or("no `response.status` between 100 and 999")?;
    let body = match response.get("body") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::String(text)) => text.clone().into_bytes(),
        Some(value) => value.to_string().into_bytes(),
    };
    let mut reply = Reply::bytes(status, body);
    match response.get("headers") {
        None | Some(Value::Null) => {}
        Some(Value::Object(headers)) => {
            for (name, value) in headers {
                reply = reply.header(name.clone(), scalar_text(value)?);
            }
        }
        Some(_) => return Err("`response.headers` must be an object".into()),
    }
    Ok((expect, reply))
}

fn scalar_text(value: &Value) -> Result<String, String> {
    match value {
        Value::String(text) => Ok(text.clone()),
        Value::Number(number) => Ok(number.to_string()),
        Value::Bool(flag) => Ok(flag.to_string()),
        _ => Err(format!("{value} is not a string, number or boolean")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A minimal HTTP/1.1 client over one connection: the tests of the server do not depend on
    /// the HTTP client of the toolkit.
    struct Client {
        reader: BufReader<TcpStream>,
        writer: TcpStream,
    }

    struct Answer {
        status: u16,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    }

    impl Answer {
        fn header(&self, name: &str) -> Option<&str> {
            self.headers
                .iter()
                .find(|(got, _)| got.eq_ignore_ascii_case(name))
                .map(|(_, value)| value.as_str())
        }
    }

    impl Client {
        fn connect(server: &MockServer) -> Self {
            let stream = TcpStream::connect(server.address).unwrap();
            Self {
                reader: BufReader::new(stream.try_clone().unwrap()),
                writer: stream,
            }
        }

        fn send(
            &mut self,
            method: &str,
            target: &str,
            headers: &[(&str, &str)],
            body: &[u8],
        ) -> io::Result<Answer> {
            let mut head = format!("{method} {target} HTTP/1.1\r\nHost: mock\r\n");
            for (name, value) in headers {
                write!(head, "{name}: {value}\r\n").unwrap();
            }
            write!(head, "Content-Length: {}\r\n\r\n", body.len()).unwrap();
            self.writer.write_all(head.as_bytes())?;
            self.writer.write_all(body)?;
            let mut status_line = String::new();
            if self.reader.read_line(&mut status_line)? == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
            let status = status_line.split(' ').nth(1).unwrap().parse().unwrap();
            let mut headers = Vec::new();
            loop {
                let mut line = String::new();
                self.reader.read_line(&mut line)?;
                let line = line.trim_end();
                if line.is_empty() {
                    break;
                }
                let (name, value) = line.split_once(':').unwrap();
                headers.push((name.to_owned(), value.trim().to_owned()));
            }
            let length: usize = headers
                .iter()
                .find(|(name, _)| name.eq_ignore_ascii_case("content-length"))
                .unwrap()
                .1
                .parse()
                .unwrap();
            let mut body = vec![0; length];
            self.reader.read_exact(&mut body)?;
            Ok(Answer {
                status,
                headers,
                body,
            })
        }

        fn get(&mut self, target: &str) -> io::Result<Answer> {
            self.send("GET", target, &[], &[])
        }
    }

    #[test]
    fn answers_the_first_matching_expectation_and_records_requests() {
        let server = MockServer::start();
        server
            .expect(Expect::get("/tickets").query("page", "2"))
            .respond(Reply::json(200, json!({"page": 2})));
        server
            .expect(Expect::get("/tickets").header("Authorization", "Bearer k"))
            .respond(Reply::json(200, json!({"page": 1})).header("X-Total", "2"));
        let mut client = Client::connect(&server);
        let first = client
            .send(
                "GET",
                "/tickets?page=1&q=a%20b+c",
                &[("authorization", "Bearer k")],
                b"",
            )
            .unwrap();
        assert_eq!(first.status, 200);
        assert_eq!(first.body, br#"{"page":1}"#);
        assert_eq!(first.header("x-total"), Some("2"));
        assert_eq!(first.header("content-type"), Some("application/json"));
        let second = client.get("/tickets?page=2").unwrap();
        assert_eq!(second.body, br#"{"page":2}"#);
        let requests = server.requests();
        assert_eq!(requests.len(), 2);
        assert_eq!(requests[0].url, "/tickets?page=1&q=a%20b+c");
        assert_eq!(requests[0].query_value("q"), Some("a b c"));
        assert_eq!(requests[0].header("AUTHORIZATION"), Some("Bearer k"));
        assert!(requests[0].at <= requests[1].at);
        server.verify();
    }

    #[test]
    fn replies_in_sequence_and_times_bound_an_expectation() {
        let server = MockServer::start();
        let flaky = server
            .expect(Expect::get("/a"))
            .respond(Reply::status(503).header("Retry-After", "0"))
            .respond(Reply::text(200, "ok"))
            .times(2);
        server
            .expect(Expect::get("/a"))
            .respond(Reply::text(200, "later"));
        let mut client = Client::connect(&server);
        assert_eq!(client.get("/a").unwrap().status, 503);
        let second = client.get("/a").unwrap();
        assert_eq!((second.status, second.body.as_slice()), (200, &b"ok"[..]));
        assert_eq!(flaky.calls(), 2);
        assert_eq!(client.get("/a").unwrap().body, b"later");
        server.verify();
    }

    #[test]
    fn unmatched_requests_get_599_and_fail_verify() {
        let server = MockServer::start();
        server.expect(Expect::post("/token").body_contains("grant_type=refresh_token"));
        server.expect(Expect::get("/never")).times(1);
        let mut client = Client::connect(&server);
        let answer = client.get("/other?x=1").unwrap();
        assert_eq!(answer.status, UNMATCHED_STATUS);
        assert!(String::from_utf8_lossy(&answer.body).contains("GET /other?x=1"));
        let token = client
            .send(
                "POST",
                "/token",
                &[],
                b"grant_type=refresh_token&refresh_token=r",
            )
            .unwrap();
        assert_eq!(token.status, 200);
        assert_eq!(
            server.requests()[1].body_text(),
            "grant_type=refresh_token&refresh_token=r"
        );
        let failure =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| server.verify())).unwrap_err();
        let message = failure.downcast_ref::<String>().unwrap();
        assert!(
            message.contains("expected 1 request(s) GET /never, got 0"),
            "{message}"
        );
        assert!(
            message.contains("unexpected request GET /other?x=1"),
            "{message}"
        );
    }

    #[test]
    fn close_ends_the_connection_without_an_answer() {
        let server = MockServer::start();
        server
            .expect(Expect::get("/x"))
            .respond(Reply::close())
            .respond(Reply::text(200, "back"));
        let mut client = Client::connect(&server);
        assert!(client.get("/x").is_err());
        let mut client = Client::connect(&server);
        assert_eq!(client.get("/x").unwrap().body, b"back");
    }

    #[test]
    fn gzip_bodies_inflate_to_the_original() {
        let server = MockServer::start();
        server
            .expect(Expect::get("/enc"))
            .respond(Reply::text(200, "a,b\n1,2\n").gzip());
        server
            .expect(Expect::get("/file.csv.gz"))
            .respond(Reply::text(200, "a,b\n").gzip_file());
        let mut client = Client::connect(&server);
        let encoded = client.get("/enc").unwrap();
        assert_eq!(encoded.header("content-encoding"), Some("gzip"));
        let mut text = String::new();
        flate2::read::GzDecoder::new(encoded.body.as_slice())
            .read_to_string(&mut text)
            .unwrap();
        assert_eq!(text, "a,b\n1,2\n");
        let file = client.get("/file.csv.gz").unwrap();
        assert_eq!(file.header("content-encoding"), None);
        assert_eq!(&file.body[..2], &[0x1f, 0x8b]);
    }

    #[test]
    fn concurrent_requests_are_served_concurrently() {
        let server = MockServer::start();
        server
            .expect(Expect::get("/slow"))
            .respond(Reply::text(200, "done").delay(Duration::from_millis(300)));
        let started = Instant::now();
        thread::scope(|scope| {
            for _ in 0..4 {
                scope.spawn(|| {
                    let mut client = Client::connect(&server);
                    assert_eq!(client.get("/slow").unwrap().body, b"done");
                });
            }
        });
        let elapsed = started.elapsed();
        assert!(elapsed >= Duration::from_millis(300), "{elapsed:?}");
        assert!(
            elapsed < Duration::from_millis(900),
            "served one at a time: {elapsed:?}"
        );
        assert_eq!(server.requests().len(), 4);
    }

    #[test]
    fn drop_stops_the_threads_even_with_open_connections() {
        let server = MockServer::start();
        server
            .expect(Expect::get("/slow"))
            .respond(Reply::status(200).delay(Duration::from_secs(30)));
        let address = server.address;
        let idle = TcpStream::connect(address).unwrap();
        let mut waiting = TcpStream::connect(address).unwrap();
        waiting
            .write_all(b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
            .unwrap();
        thread::sleep(Duration::from_millis(50));
        let started = Instant::now();
        drop(server);
        assert!(started.elapsed() < Duration::from_secs(2));
        assert!(TcpStream::connect(address).is_err());
        drop(idle);
    }

    #[test]
    fn replay_answers_recorded_exchanges_once_each_in_order() {
        let path =
            std::env::temp_dir().join(format!("tidemark-replay-{}.jsonl", std::process::id()));
        std::fs::write(
            &path,
            concat!(
                r#"{"request":{"method":"GET","path":"/items","query":{"page":1}},"response":{"status":200,"headers":{"Link":"<next>"},"body":{"items":[1]}}}"#, "\n",
                "\n",
                r#"{"request":{"method":"GET","path":"/items","query":[["page","1"]]},"response":{"status":200,"body":"plain"}}"#, "\n",
            ),
        )
        .unwrap();
        let server = MockServer::replay(&path).unwrap();
        let mut client = Client::connect(&server);
        let first = client.get("/items?page=1").unwrap();
        assert_eq!(first.body, br#"{"items":[1]}"#);
        assert_eq!(first.header("link"), Some("<next>"));
        assert_eq!(client.get("/items?page=1").unwrap().body, b"plain");
        assert_eq!(
            client.get("/items?page=1").unwrap().status,
            UNMATCHED_STATUS
        );
        std::fs::write(&path, "{\"request\":{}}\n").unwrap();
        let error = MockServer::replay(&path).unwrap_err();
        assert!(
            error.to_string().contains("line 1: no `response`"),
            "{error}"
        );
        let _ = std::fs::remove_file(&path);
    }

    #[test]
    fn an_http_client_sees_gzip_decoded_and_a_close_as_a_transport_error() {
        let server = MockServer::start();
        server
            .expect(Expect::get("/gz"))
            .respond(Reply::json(200, json!({"ok": true})).gzip());
        server.expect(Expect::get("/gone")).respond(Reply::close());
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(5)))
            .build()
            .into();
        let mut response = agent.get(format!("{}/gz", server.url())).call().unwrap();
        assert_eq!(
            response.body_mut().read_to_string().unwrap(),
            r#"{"ok":true}"#
        );
        let error = agent
            .get(format!("{}/gone", server.url()))
            .call()
            .unwrap_err();
        assert!(
            !matches!(error, ureq::Error::StatusCode(_) | ureq::Error::Timeout(_)),
            "{error:?}"
        );
        server.verify();
    }
}
