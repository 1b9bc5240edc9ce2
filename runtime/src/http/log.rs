//! The request log of test reads (`read --log-requests`), and the pages-per-slice limit
//! (`read --max-pages N`).
//!
//! Each exchange goes to stderr as one block written at once, so that the exchanges of
//! concurrent readers never interleave; a `== stream / slice ==` line comes before an exchange
//! whose scope differs from the previous one's:
//!
//! ```text
//! == tickets / 2024-01-01..2024-02-01 ==
//! GET http://api.example.com/tickets?page=2
//! > accept: application/json
//! > authorization: ****
//! < 200 OK in 35 ms
//! < content-type: application/json
//! {"tickets":[{"id":1}]}
//! ```
//!
//! Every text passes through the run's masker, header values of credentials are never shown,
//! and the body is cut to its first 500 characters.

use std::fmt::Write as _;
use std::io::{self, Write};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

/// The characters of a response body the log shows.
const BODY_EXCERPT: usize = 500;

/// How many characters past the excerpt are masked with it, so that a secret running over
/// the excerpt's end is masked before the excerpt is cut.
const MASK_MARGIN: usize = 1024;

/// Headers whose values are credentials: never shown, whatever the masker knows.
const CREDENTIAL_HEADERS: [&str; 5] = [
    "authorization",
    "proxy-authorization",
    "cookie",
    "set-cookie",
    "x-api-key",
];

/// One attempt of a request, as the client saw it.
pub(crate) struct Exchange<'a> {
    /// The method.
    pub method: &'a str,
    /// The full URL with its query, already masked.
    pub url: &'a str,
    /// Every header sent, values already masked.
    pub request_headers: &'a [(String, String)],
    /// The status of the answer; `None`: no answer (a transport error).
    pub status: Option<u16>,
    /// The transport error, masked.
    pub error: Option<&'a str>,
    /// The headers of the answer.
    pub response_headers: Option<&'a http::HeaderMap>,
    /// The response body (the log shows an excerpt).
    pub body: &'a [u8],
    /// From sending the request to the end of the answer.
    pub elapsed: Duration,
    /// 1 for the first try.
    pub attempt: u32,
}

/// Whether `--log-requests` was given to the run on this thread (or to the process).
pub(crate) fn enabled() -> bool {
    crate::cli::test_read().log_requests
}

/// `--max-pages`: how many pages of a slice a listing reads in a test read.
pub(crate) fn max_pages() -> Option<u64> {
    crate::cli::test_read().max_pages
}

/// Where an exchange was made: (stream, slice), `None` outside a stream.
type Scope = Option<(String, String)>;

/// The scope of the exchange written last.
struct Last {
    /// Whether an exchange was written.
    any: bool,
    scope: Scope,
}

/// The scope of the exchange written last, process-wide; its lock is held while writing, so
/// that an exchange and its scope line are written together.
static LAST_SCOPE: Mutex<Last> = Mutex::new(Last {
    any: false,
    scope: None,
});

/// Writes `exchange` to stderr, under a scope line if its scope (stream, slice; `None`
/// outside a stream) differs from the previous exchange's. `mask` masks the run's secrets.
pub(crate) fn write(
    scope: Option<(String, String)>,
    exchange: &Exchange<'_>,
    mask: &dyn Fn(&str) -> String,
) {
    let _ = write_to(&mut io::stderr(), &LAST_SCOPE, scope, exchange, mask);
}

/// [`write`] to `out`, the previous scope kept in `last`: one `write_all` per exchange.
fn write_to(
    out: &mut dyn Write,
    last: &Mutex<Last>,
    scope: Scope,
    exchange: &Exchange<'_>,
    mask: &dyn Fn(&str) -> String,
) -> io::Result<()> {
    let block = render(exchange, mask);
    let mut last = last.lock().unwrap_or_else(PoisonError::into_inner);
    let mut text = String::new();
    if !last.any || last.scope != scope {
        text = match &scope {
            Some((stream, slice)) => format!("== {} / {} ==\n", mask(stream), mask(slice)),
            None => "== (outside a stream) ==\n".to_owned(),
        };
        *last = Last { any: true, scope };
    }
    text.push_str(&block);
    out.write_all(text.as_bytes())?;
    out.flush()
}

/// The lines of one exchange, masked.
fn render(exchange: &Exchange<'_>, mask: &dyn Fn(&str) -> String) -> String {
    let mut text = format!("{} {}", exchange.method, mask(exchange.url));
    if exchange.attempt > 1 {
        let _ = write!(text, " (attempt {})", exchange.attempt);
    }
    text.push('\n');
    for (name, value) in exchange.request_headers {
        let _ = writeln!(
            text,
            "> {}: {}",
            name.to_ascii_lowercase(),
            header_value(name, value, mask)
        );
    }
    let millis = exchange.elapsed.as_millis();
    match exchange.status {
        Some(status) => {
            let reason = http::StatusCode::from_u16(status)
                .ok()
                .and_then(|code| code.canonical_reason())
                .map_or_else(String::new, |reason| format!(" {reason}"));
            let _ = writeln!(text, "< {status}{reason} in {millis} ms");
        }
        None => {
            let error = exchange.error.map_or_else(String::new, mask);
            let _ = writeln!(text, "< no answer after {millis} ms: {error}");
        }
    }
    if let Some(headers) = exchange.response_headers {
        for (name, value) in headers {
            let value = String::from_utf8_lossy(value.as_bytes());
            let _ = writeln!(
                text,
                "< {}: {}",
                name.as_str(),
                header_value(name.as_str(), &value, mask)
            );
        }
    }
    if !exchange.body.is_empty() {
        text.push_str(&excerpt(exchange.body, mask));
        text.push('\n');
    }
    text
}

/// A header's value as shown: masked, or `****` for a credential.
fn header_value(name: &str, value: &str, mask: &dyn Fn(&str) -> String) -> String {
    if CREDENTIAL_HEADERS
        .iter()
        .any(|credential| name.eq_ignore_ascii_case(credential))
    {
        "****".to_owned()
    } else {
        mask(value)
    }
}

/// The body's first characters, masked, with how long it was when it is cut.
fn excerpt(body: &[u8], mask: &dyn Fn(&str) -> String) -> String {
    let prefix = &body[..body.len().min((BODY_EXCERPT + MASK_MARGIN) * 4)];
    let start = String::from_utf8_lossy(prefix);
    let window: String = start.chars().take(BODY_EXCERPT + MASK_MARGIN).collect();
    let masked = mask(&window);
    let mut shown: String = masked.chars().take(BODY_EXCERPT).collect();
    if prefix.len() < body.len() || window.len() < start.len() || shown.len() < masked.len() {
        let _ = write!(shown, "... ({} bytes in all)", body.len());
    }
    shown
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mask(text: &str) -> String {
        text.replace("s3cret", "****")
    }

    fn exchange<'a>(
        url: &'a str,
        headers: &'a [(String, String)],
        response: Option<&'a http::HeaderMap>,
        body: &'a [u8],
    ) -> Exchange<'a> {
        Exchange {
            method: "GET",
            url,
            request_headers: headers,
            status: Some(200),
            error: None,
            response_headers: response,
            body,
            elapsed: Duration::from_millis(12),
            attempt: 1,
        }
    }

    fn scope(stream: &str, slice: &str) -> (String, String) {
        (stream.to_owned(), slice.to_owned())
    }

    #[test]
    fn exchanges_are_grouped_under_their_scope() {
        let last = Mutex::new(Last {
            any: false,
            scope: None,
        });
        let mut out = Vec::new();
        let headers = vec![("Accept".to_owned(), "application/json".to_owned())];
        let mut response = http::HeaderMap::new();
        response.insert("content-type", "application/json".parse().unwrap());
        let first = exchange("http://api/t?page=1", &headers, Some(&response), b"[1]");
        let second = exchange("http://api/t?page=2", &headers, Some(&response), b"[]");
        for (scope, exchange) in [
            (Some(scope("tickets", "2024-01")), &first),
            (Some(scope("tickets", "2024-01")), &second),
            (Some(scope("tickets", "2024-02")), &first),
            (None, &first),
        ] {
            write_to(&mut out, &last, scope, exchange, &mask).unwrap();
        }
        let text = String::from_utf8(out).unwrap();
        assert_eq!(
            text,
            "== tickets / 2024-01 ==\n\
             GET http://api/t?page=1\n> accept: application/json\n< 200 OK in 12 ms\n\
             < content-type: application/json\n[1]\n\
             GET http://api/t?page=2\n> accept: application/json\n< 200 OK in 12 ms\n\
             < content-type: application/json\n[]\n\
             == tickets / 2024-02 ==\n\
             GET http://api/t?page=1\n> accept: application/json\n< 200 OK in 12 ms\n\
             < content-type: application/json\n[1]\n\
             == (outside a stream) ==\n\
             GET http://api/t?page=1\n> accept: application/json\n< 200 OK in 12 ms\n\
             < content-type: application/json\n[1]\n"
        );
    }

    #[test]
    fn secrets_are_masked_everywhere_and_credentials_never_shown() {
        let headers = vec![
            ("Authorization".to_owned(), "Bearer abc".to_owned()),
            ("X-Token".to_owned(), "s3cret".to_owned()),
        ];
        let mut response = http::HeaderMap::new();
        response.insert("set-cookie", "session=abc".parse().unwrap());
        response.insert("x-echo", "s3cret".parse().unwrap());
        let mut body = format!("{{\"token\":\"s3cret\"}}{}", "x".repeat(600)).into_bytes();
        // A secret across the excerpt's end is masked before the body is cut.
        body.splice(497..497, b"s3cret".iter().copied());
        let mut failed = exchange("http://api/t?key=s3cret", &headers, Some(&response), &body);
        let text = render(&failed, &mask);
        assert!(
            !text.contains("s3cret") && !text.contains("abc") && !text.contains("s3c"),
            "{text}"
        );
        assert!(text.contains("GET http://api/t?key=****\n"), "{text}");
        assert!(
            text.contains("> authorization: ****\n> x-token: ****\n"),
            "{text}"
        );
        assert!(
            text.contains("< set-cookie: ****\n< x-echo: ****\n"),
            "{text}"
        );
        let last_line = text.lines().last().unwrap();
        assert!(
            last_line.starts_with("{\"token\":\"****\"}xxx"),
            "{last_line}"
        );
        assert!(
            last_line.ends_with(&format!("... ({} bytes in all)", body.len())),
            "{last_line}"
        );
        assert_eq!(
            last_line.chars().count(),
            500 + format!("... ({} bytes in all)", body.len()).len()
        );

        failed.status = None;
        failed.error = Some("connection reset");
        failed.response_headers = None;
        failed.body = b"";
        failed.attempt = 3;
        assert_eq!(
            render(&failed, &mask),
            "GET http://api/t?key=**** (attempt 3)\n> authorization: ****\n> x-token: ****\n\
             < no answer after 12 ms: connection reset\n"
        );
    }

    #[test]
    fn one_write_per_exchange_so_concurrent_readers_do_not_interleave() {
        /// Records each `write_all` call separately.
        struct Calls(std::sync::Arc<Mutex<Vec<String>>>);
        impl Write for Calls {
            fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
                self.0
                    .lock()
                    .unwrap()
                    .push(String::from_utf8_lossy(buf).into_owned());
                Ok(buf.len())
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let calls = std::sync::Arc::new(Mutex::new(Vec::new()));
        let last = Mutex::new(Last {
            any: false,
            scope: None,
        });
        std::thread::scope(|threads| {
            for stream in ["a", "b"] {
                let (calls, last) = (&calls, &last);
                threads.spawn(move || {
                    let headers = Vec::new();
                    for _ in 0..50 {
                        let exchange = exchange("http://api/x", &headers, None, b"body");
                        let mut out = Calls(std::sync::Arc::clone(calls));
                        write_to(&mut out, last, Some(scope(stream, "s")), &exchange, &mask)
                            .unwrap();
                    }
                });
            }
        });
        let calls = calls.lock().unwrap();
        assert_eq!(calls.len(), 100);
        let mut current = None;
        for call in calls.iter() {
            if let Some(header) = call.strip_prefix("== ") {
                current = header.chars().next();
            }
            assert!(
                call.ends_with("GET http://api/x\n< 200 OK in 12 ms\nbody\n"),
                "{call}"
            );
            assert!(current.is_some(), "an exchange without its scope: {call}");
        }
    }
}
