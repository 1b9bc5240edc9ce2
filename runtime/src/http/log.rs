//! The request log of test reads (`--log-requests`) and the test read's page limit.

use std::time::Duration;

/// One exchange, for the request log: every text already masked.
#[allow(dead_code, reason = "read by the request log")]
pub(crate) struct Exchange<'a> {
    pub method: &'a str,
    pub url: &'a str,
    pub request_headers: &'a [(String, String)],
    pub status: Option<u16>,
    pub error: Option<&'a str>,
    pub response_headers: Option<&'a http::HeaderMap>,
    pub body: &'a [u8],
    pub elapsed: Duration,
    pub attempt: u32,
}

/// Whether `--log-requests` was given.
pub(crate) fn enabled() -> bool {
    false
}

/// Writes `exchange` under `scope`.
pub(crate) fn write(
    scope: Option<(String, String)>,
    exchange: &Exchange<'_>,
    mask: &dyn Fn(&str) -> String,
) {
    let _ = (scope, exchange, mask);
}

/// `--max-pages`.
pub(crate) fn max_pages() -> Option<u64> {
    None
}
