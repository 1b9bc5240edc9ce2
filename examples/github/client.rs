//! The HTTP side: the toolkit's client set up for GitHub, and what a 404 means.
//!
//! Everything else comes with [`tidemark::http::Client`]: the token goes only to `api_url`
//! (whatever a `Link` header says), rate limits (429, or 403 with `Retry-After` or
//! `X-RateLimit-Remaining: 0`) are waited for with a `RATE_LIMITED` stream status, server and
//! network errors are retried, and a refused token (401, or another 403) is a config error
//! naming `token`.

use tidemark::http::{Auth, Client, OnStatus, Response};
use tidemark::{Error, Secret};

/// A client for the API at `base` sending `token`, with GitHub's media type and API version.
/// A 404 is handed back rather than failing the request, for [`found`] to say what is missing.
pub fn client(base: &str, token: &Secret<String>) -> Result<Client, Error> {
    Client::builder(base)
        .auth(Auth::Bearer(token.clone()))
        .header("Accept", "application/vnd.github+json")
        .header("X-GitHub-Api-Version", "2022-11-28")
        .user_agent(concat!("source-github/", env!("CARGO_PKG_VERSION")))
        .url_field("api_url")
        .on_status(404, OnStatus::Ignore)
        .build()
}

/// `Ok` unless `response` is a 404: for a request that reads `repository`, a config error
/// naming it (GitHub answers 404 for a repository the token may not read, too); otherwise a
/// system error naming `api_url`.
pub fn found(response: &Response, repository: Option<&str>) -> Result<(), Error> {
    if response.status() != 404 {
        return Ok(());
    }
    Err(match repository {
        Some(repository) => Error::config(format!(
            "repository `{repository}` was not found (HTTP 404): check `repositories` and that \
             `token` may read it"
        )),
        None => Error::system(format!(
            "the API has nothing at {} (HTTP 404): check `api_url`",
            response.url()
        )),
    })
}
