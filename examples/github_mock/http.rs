//! A small HTTP/1.1 server on std's sockets: one thread per connection, keep-alive, and each
//! response written with one `write_all` on a socket with `TCP_NODELAY`, so that a response's
//! last segment never waits for the client's delayed ACK (about 40 ms per request on Linux).

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

/// The longest request line or header line read.
const MAX_LINE: u64 = 16 * 1024;
/// The most header lines read.
const MAX_HEADERS: usize = 100;
/// The largest request body read (and ignored).
const MAX_BODY: u64 = 1024 * 1024;
/// A connection idle this long is closed.
const IDLE: Duration = Duration::from_mins(2);

/// A request: method, target (path and query) and headers.
pub struct Incoming {
    /// `GET`, `POST`, ...
    pub method: String,
    /// The path and query, `/user/repos?page=2`.
    pub target: String,
    headers: Vec<(String, String)>,
}

impl Incoming {
    /// The value of header `name` (ASCII case ignored), trimmed.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(field, _)| field.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }
}

/// A response: status, headers (besides `Content-Length` and `Connection`) and body.
pub struct Outgoing {
    /// The status code.
    pub status: u16,
    /// Header names and values; values must not hold CR or LF.
    pub headers: Vec<(&'static str, String)>,
    /// The body.
    pub body: Vec<u8>,
}

/// A listening server; stops accepting when dropped (open connections end with their client).
pub struct Listener {
    address: SocketAddr,
    stop: Arc<AtomicBool>,
    accept: Option<JoinHandle<()>>,
}

impl Listener {
    /// Listens on `127.0.0.1:port` and answers every request with `handle`, at most
    /// `connections` connections at once (more wait to be accepted).
    pub fn start<H>(port: u16, connections: usize, handle: H) -> io::Result<Listener>
    where
        H: Fn(&Incoming) -> Outgoing + Send + Sync + 'static,
    {
        let listener = TcpListener::bind(("127.0.0.1", port))?;
        let address = listener.local_addr()?;
        let stop = Arc::new(AtomicBool::new(false));
        let handle = Arc::new(handle);
        let open = Arc::new(AtomicUsize::new(0));
        let accept = {
            let stop = Arc::clone(&stop);
            std::thread::Builder::new()
                .name("github-mock-accept".to_owned())
                .spawn(move || {
                    for stream in listener.incoming() {
                        if stop.load(Ordering::Acquire) {
                            break;
                        }
                        let Ok(stream) = stream else { continue };
                        while open.load(Ordering::Acquire) >= connections.max(1) {
                            std::thread::sleep(Duration::from_millis(1));
                        }
                        open.fetch_add(1, Ordering::AcqRel);
                        let (handle, done) = (Arc::clone(&handle), Arc::clone(&open));
                        let spawned = std::thread::Builder::new()
                            .name("github-mock-connection".to_owned())
                            .stack_size(256 * 1024)
                            .spawn(move || {
                                let _ = serve(stream, &*handle);
                                done.fetch_sub(1, Ordering::AcqRel);
                            });
                        if spawned.is_err() {
                            open.fetch_sub(1, Ordering::AcqRel);
                        }
                    }
                })?
        };
        Ok(Listener {
            address,
            stop,
            accept: Some(accept),
        })
    }

    /// The address it listens on.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// Serves until the process ends.
    pub fn wait(mut self) {
        if let Some(accept) = self.accept.take() {
            let _ = accept.join();
        }
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        // Wake the accept loop so that it sees the flag.
        let _ = TcpStream::connect(self.address);
        if let Some(accept) = self.accept.take() {
            let _ = accept.join();
        }
    }
}

/// Answers the requests of one connection until it closes, asks to close, or errs.
fn serve(stream: TcpStream, handle: &dyn Fn(&Incoming) -> Outgoing) -> io::Result<()> {
    stream.set_nodelay(true)?;
    stream.set_read_timeout(Some(IDLE))?;
    let mut reader = BufReader::with_capacity(8 * 1024, stream.try_clone()?);
    let mut writer = stream;
    let mut out = Vec::new();
    loop {
        let Some((request, keep_alive)) = read_request(&mut reader)? else {
            return Ok(());
        };
        let response = match request {
            Ok(request) => handle(&request),
            Err(status) => Outgoing {
                status,
                headers: Vec::new(),
                body: Vec::new(),
            },
        };
        let keep_alive = keep_alive && response.status != 400;
        out.clear();
        write_response(&mut out, &response, keep_alive);
        writer.write_all(&out)?;
        if !keep_alive {
            let _ = writer.shutdown(Shutdown::Write);
            return Ok(());
        }
    }
}

/// One line, without its line end; None at the end of the stream; an error status when the
/// line is too long.
fn read_line(reader: &mut BufReader<TcpStream>) -> io::Result<Option<Result<String, u16>>> {
    let mut line = Vec::new();
    let read = reader
        .by_ref()
        .take(MAX_LINE)
        .read_until(b'\n', &mut line)?;
    if read == 0 {
        return Ok(None);
    }
    if line.last() != Some(&b'\n') {
        return Ok(Some(Err(if read as u64 >= MAX_LINE { 431 } else { 400 })));
    }
    while matches!(line.last(), Some(b'\n' | b'\r')) {
        line.pop();
    }
    Ok(Some(String::from_utf8(line).map_err(|_| 400)))
}

/// The next request and whether the connection stays open after it; None when the client
/// closed the connection between requests.
#[allow(
    clippy::type_complexity,
    reason = "a request or the status refusing it, then keep-alive"
)]
fn read_request(
    reader: &mut BufReader<TcpStream>,
) -> io::Result<Option<(Result<Incoming, u16>, bool)>> {
    let line = match read_line(reader)? {
        None => return Ok(None),
        Some(Err(status)) => return Ok(Some((Err(status), false))),
        Some(Ok(line)) => line,
    };
    let mut parts = line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Ok(Some((Err(400), false)));
    };
    if !version.starts_with("HTTP/1.") || !target.starts_with('/') {
        return Ok(Some((Err(400), false)));
    }
    let mut headers = Vec::new();
    loop {
        let line = match read_line(reader)? {
            None => return Ok(None),
            Some(Err(status)) => return Ok(Some((Err(status), false))),
            Some(Ok(line)) => line,
        };
        if line.is_empty() {
            break;
        }
        if headers.len() >= MAX_HEADERS {
            return Ok(Some((Err(431), false)));
        }
        let Some((name, value)) = line.split_once(':') else {
            return Ok(Some((Err(400), false)));
        };
        headers.push((name.trim().to_owned(), value.trim().to_owned()));
    }
    let request = Incoming {
        method: method.to_owned(),
        target: target.to_owned(),
        headers,
    };
    if request.header("Transfer-Encoding").is_some() {
        return Ok(Some((Err(411), false)));
    }
    let length = match request.header("Content-Length").map(str::parse::<u64>) {
        None => 0,
        Some(Ok(length)) if length <= MAX_BODY => length,
        Some(_) => return Ok(Some((Err(413), false))),
    };
    if io::copy(&mut reader.by_ref().take(length), &mut io::sink())? < length {
        return Ok(None);
    }
    let connection = request.header("Connection").map(str::to_ascii_lowercase);
    let keep_alive = if version == "HTTP/1.0" {
        connection.as_deref() == Some("keep-alive")
    } else {
        connection.as_deref() != Some("close")
    };
    Ok(Some((Ok(request), keep_alive)))
}

fn write_response(out: &mut Vec<u8>, response: &Outgoing, keep_alive: bool) {
    let reason = match response.status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        411 => "Length Required",
        413 => "Content Too Large",
        422 => "Unprocessable Entity",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        _ => "Unknown",
    };
    out.reserve(response.body.len() + 512);
    let _ = write!(out, "HTTP/1.1 {} {reason}\r\n", response.status);
    for (name, value) in &response.headers {
        if !value.contains(['\r', '\n']) {
            let _ = write!(out, "{name}: {value}\r\n");
        }
    }
    let connection = if keep_alive { "keep-alive" } else { "close" };
    let _ = write!(
        out,
        "Content-Length: {}\r\nConnection: {connection}\r\n\r\n",
        response.body.len()
    );
    out.extend_from_slice(&response.body);
}
