//! What an answer means: success, a wait (rate limit), a retry (server or transport error), or
//! an error of the right kind naming what to check; and the masking every text of the module
//! passes through.

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::message::quote;
use crate::Error;

/// Why one attempt did not succeed.
pub(crate) enum Failure {
    /// Wait (`None`: the API did not say how long) and try again.
    RateLimited {
        wait: Option<Duration>,
        reset: Option<DateTime<Utc>>,
    },
    /// A server or transport error: back off and try again; the message says what happened.
    Retry(String),
    /// HTTP 401: refused credentials (an `OAuth2` access token is refreshed once).
    Unauthorized(Error),
    /// Retrying cannot help.
    Fatal(Error),
}

/// How errors name things: the credential and the config fields to check.
pub(crate) struct Names<'n> {
    /// The credential, such as `the API key`: "the API key was rejected (HTTP 401)".
    pub(crate) credential: &'n str,
    /// The config field holding it, such as `api_key`; `None` without credentials.
    pub(crate) credential_field: Option<&'n str>,
    /// The config field holding the base URL.
    pub(crate) url_field: &'n str,
}

/// `text` with every secret the process knows masked.
pub(crate) fn mask(text: &str) -> String {
    crate::secret::mask_text(text)
}

/// The start of `body` for a message, masked: the API's `message` (or `error`,
/// `error_description`) when the body is a JSON object with one, else its first characters.
pub(crate) fn excerpt(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let message = serde_json::from_str::<serde_json::Value>(&text)
        .ok()
        .and_then(|value| {
            ["message", "error_description", "error"]
                .iter()
                .find_map(|key| value.get(key)?.as_str().map(quote))
        });
    mask(&message.unwrap_or_else(|| quote(&text)))
}

/// The failure a non-2xx `status` means for the request of `url` (already masked).
pub(crate) fn status(
    status: u16,
    url: &str,
    body: &[u8],
    rate_limited: Option<(Option<Duration>, Option<DateTime<Utc>>)>,
    names: &Names<'_>,
) -> Failure {
    if let Some((wait, reset)) = rate_limited {
        return Failure::RateLimited { wait, reset };
    }
    match status {
        401 => Failure::Unauthorized(Error::config(match names.credential_field {
            Some(field) => format!(
                "{} was rejected (HTTP 401: {}): check `{field}`",
                names.credential,
                excerpt(body)
            ),
            None => format!(
                "the API asks for credentials at {url} (HTTP 401: {})",
                excerpt(body)
            ),
        })),
        403 => Failure::Fatal(Error::config(match names.credential_field {
            Some(field) => format!(
                "the API refused the request for {url} (HTTP 403: {}): check that `{field}` may \
                 read it",
                excerpt(body)
            ),
            None => format!(
                "the API refused the request for {url} (HTTP 403: {})",
                excerpt(body)
            ),
        })),
        404 => Failure::Fatal(Error::system(format!(
            "the API has nothing at {url} (HTTP 404: {}): check `{}`",
            excerpt(body),
            names.url_field
        ))),
        408 | 500..=599 => Failure::Retry(format!("HTTP {status}: {}", excerpt(body))),
        _ => Failure::Fatal(Error::system(format!(
            "the API answered the request for {url} with HTTP {status}: {}",
            excerpt(body)
        ))),
    }
}

/// The failure a request that got no answer means: a malformed URL or header is a config
/// error, a body over the limit a system error, anything else (connection, timeout) a retry.
pub(crate) fn transport(error: &ureq::Error, url: &str, names: &Names<'_>) -> Failure {
    match error {
        ureq::Error::BadUri(_) => Failure::Fatal(Error::config(format!(
            "`{}` does not make a valid request URL: {}",
            names.url_field,
            mask(&error.to_string())
        ))),
        ureq::Error::Http(_) => Failure::Fatal(Error::config(match names.credential_field {
            Some(field) => format!(
                "cannot build the request for {url}: `{field}` (or a header) has characters an \
                 HTTP header cannot carry"
            ),
            None => format!(
                "cannot build the request for {url}: a header has characters an HTTP header \
                 cannot carry"
            ),
        })),
        ureq::Error::TlsRequired => Failure::Fatal(Error::config(format!(
            "{url} is https://, and this build has no TLS: build the connector with tidemark's \
             `https` feature (ureq's `rustls`)"
        ))),
        ureq::Error::BodyExceedsLimit(limit) => Failure::Fatal(Error::system(format!(
            "the answer to {url} is larger than the client's limit of {limit} bytes \
             (`max_body`)"
        ))),
        other => Failure::Retry(format!(
            "cannot reach the API: {}",
            mask(&other.to_string())
        )),
    }
}
