//! `github`: a source for GitHub's REST API (or one shaped like it, such as the
//! `github_mock` example): repositories, issues, issue comments and events.
//!
//! # Streams
//!
//! | stream | sync | state |
//! |---|---|---|
//! | `repositories` | full refresh, resumable | the next page while an attempt is unfinished |
//! | `issues` | incremental on `updated_at` | one watermark per repository |
//! | `comments` | incremental on `updated_at` | one watermark per repository |
//! | `events` | incremental on `created_at`, newest first | one watermark per repository |
//!
//! `issues`, `comments` and `events` are partitioned by repository (`owner/name`, the records'
//! `repository` field): the listed `repositories` of the config, or every repository
//! `GET /user/repos` lists. A STATE of one of them means: for every repository in it, every
//! record with a cursor at or below that repository's watermark has been emitted.
//!
//! Up to `concurrency` repositories of a stream (8 by default, at most 64) are read at once,
//! each by its own reader with one request in flight: the API's latency, not the connector,
//! sets the pace. Their records are interleaved; each repository's watermark moves with its
//! own records, so what a STATE means does not change.
//!
//! # The API it reads
//!
//! - `GET /user/repos?sort=full_name&per_page=N` (or `GET /repos/{owner}/{repo}` for each
//!   listed repository), read whole by every sync.
//! - `GET /repos/{owner}/{repo}/issues?state=all&sort=updated&direction=asc&since=W` and
//!   `GET /repos/{owner}/{repo}/issues/comments?sort=updated&direction=asc&since=W`: oldest
//!   change first, from the repository's watermark `W` (inclusive, as GitHub filters: the
//!   records at `W`, already sent, are dropped by the runtime).
//! - `GET /repos/{owner}/{repo}/events`: newest first, with no filter; pages are read until
//!   the feed reaches the repository's watermark. GitHub keeps only the last 300 events (90
//!   days) of a repository: events older than that are gone before a sync can read them.
//!
//! Listings are followed through their `Link: <..>; rel="next"` headers, never outside
//! `api_url`, which is where the token goes. Pages are numbered over a live listing: an issue
//! updated during a sync moves to the end of the listing, and may shift an issue not yet read
//! to a page already read; the watermark stops at the sync's start (changes during the sync are
//! read by the next one), and an issue that moved is read again by the next sync.
//!
//! Answers: `429`, or `403` with `Retry-After` (GitHub's secondary rate limit) or with
//! `X-RateLimit-Remaining: 0` (its primary one, until `X-RateLimit-Reset`), is waited for with
//! a `RATE_LIMITED` stream status, up to 20 times in a row and 15 minutes each; `5xx`, `408`
//! and network errors are retried 4 times with a doubling backoff (with jitter); `401`, or
//! another `403`, is a config error naming `token`; `404` on a repository is a config error
//! naming it. The token never appears in a message. All of it is [`tidemark::http`]'s client
//! (see `client.rs`), but for what a 404 means.
//!
//! This example speaks plain HTTP only: it is built without tidemark's `https` feature. GitHub
//! itself (`https://api.github.com`) needs that feature.
//!
//! # Running it
//!
//! ```sh
//! cargo run --release --example github_mock -- --port 8123 &
//! cargo run --release --example github -- read --config examples/github/config.json \
//!     --catalog examples/github/catalog.json > /tmp/github1.jsonl
//! grep '"type":"STATE"' /tmp/github1.jsonl > /tmp/github-state.jsonl
//! curl -s -X POST 'http://127.0.0.1:8123/_mock/touch?issues=5&comments=3&events=4'
//! cargo run --release --example github -- read --config examples/github/config.json \
//!     --catalog examples/github/catalog.json --state /tmp/github-state.jsonl
//! ```
//!
//! The second read prints the 5 issues, 3 comments and 4 events the mock changed, and the
//! repositories (read in full by every sync).

mod client;
mod records;

use std::ops::Bound;
use std::process::ExitCode;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use tidemark::http::{Client, Detached, LinkHeader, Records, Request};
use tidemark::{
    Error, IncrementalStream, Partitions, Resume, Secret, Sink, Slice, Source, Streams,
};

pub use records::{Comment, Event, Issue, Repository};

use client::found;
use records::{ApiComment, ApiEvent, ApiIssue, ApiRepository};

/// Where the API is, how to call it and what to read.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "GitHub Source Spec")]
pub struct GithubConfig {
    /// Base URL of the API, such as `http://127.0.0.1:8123`. Plain HTTP only: GitHub's
    /// `https://api.github.com` needs tidemark's `https` feature.
    pub api_url: String,
    /// A personal access token, sent as `Authorization: Bearer <token>`.
    pub token: Secret<String>,
    /// The repositories to read, as `owner/name`; when absent, every repository the token can
    /// list (`GET /user/repos`).
    #[serde(default)]
    pub repositories: Option<Vec<String>>,
    /// Items per page (`per_page`), at most 100.
    #[serde(default = "default_page_size")]
    #[schemars(range(min = 1, max = 100))]
    pub page_size: u32,
    /// How many repositories of a stream are read at once (one request each in flight), at
    /// most 64.
    #[serde(default = "default_concurrency")]
    #[schemars(range(min = 1, max = 64))]
    pub concurrency: u32,
}

fn default_page_size() -> u32 {
    100
}

fn default_concurrency() -> u32 {
    8
}

/// The most repositories read at once, whatever the configuration says.
const MAX_CONCURRENCY: u32 = 64;

/// The source.
pub struct Github;

impl Source for Github {
    const NAME: &'static str = "source-github";
    const DOCUMENTATION_URL: Option<&'static str> = Some("https://docs.github.com/en/rest");
    type Config = GithubConfig;

    /// One request, the first repository the token lists: a refused token is a config error
    /// naming `token`.
    fn check(&self, config: &GithubConfig) -> Result<(), Error> {
        let api = Api::new(config)?;
        let request = Request::get("/user/repos").query("per_page", 1);
        let response = api.client.send(&request, &mut Detached)?;
        found(&response, None)?;
        response.json::<Vec<ApiRepository>>().map(drop)
    }

    fn streams<'a>(&'a self, config: &'a GithubConfig) -> Result<Streams<'a>, Error> {
        let api = Api::new(config)?;
        let (issues, comments, events) = (api.clone(), api.clone(), api.clone());
        let concurrency = config.concurrency.clamp(1, MAX_CONCURRENCY);
        Ok(Streams::new()
            .concurrency(usize::try_from(concurrency).unwrap_or(1))
            .full_refresh({
                let api = api.clone();
                move |resume: &Resume<Repository>, out: &mut Sink<Repository>| {
                    api.read_repositories(resume.position()?, out)
                }
            })
            .concurrent_partitioned(
                api.partitions(),
                move |slice: &Slice<Issue>, out: &mut Sink<Issue>| {
                    let repository = slice.partition();
                    let request = Request::get(format!("/repos/{repository}/issues"))
                        .query("state", "all")
                        .query("sort", "updated")
                        .query("direction", "asc")
                        .query("per_page", issues.page_size);
                    issues.read_listing(
                        since(slice, request),
                        repository,
                        out,
                        |issue: ApiIssue| issue.into_record(repository),
                    )
                },
            )
            .concurrent_partitioned(
                api.partitions(),
                move |slice: &Slice<Comment>, out: &mut Sink<Comment>| {
                    let repository = slice.partition();
                    let request = Request::get(format!("/repos/{repository}/issues/comments"))
                        .query("sort", "updated")
                        .query("direction", "asc")
                        .query("per_page", comments.page_size);
                    comments.read_listing(
                        since(slice, request),
                        repository,
                        out,
                        |comment: ApiComment| comment.into_record(repository),
                    )
                },
            )
            .concurrent_partitioned(
                api.partitions(),
                move |slice: &Slice<Event>, out: &mut Sink<Event>| {
                    let repository = slice.partition();
                    let request = Request::get(format!("/repos/{repository}/events"))
                        .query("per_page", events.page_size);
                    events.read_listing(request, repository, out, |event: ApiEvent| {
                        event.into_record(repository)
                    })
                },
            ))
    }
}

/// `request` with `since=W` for the slice's lower bound (GitHub's `since` is inclusive: the
/// records at a saved watermark come again, and the runtime drops them); as it is from the
/// start.
fn since<S: IncrementalStream<Cursor = DateTime<Utc>>>(
    slice: &Slice<'_, S>,
    request: Request,
) -> Request {
    match slice.lower() {
        Bound::Included(at) | Bound::Excluded(at) => {
            request.query("since", at.to_rfc3339_opts(SecondsFormat::Secs, true))
        }
        Bound::Unbounded => request,
    }
}

/// Where a failed attempt at `repositories` resumes: saved after each page.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Position {
    /// The next page (from 1) of `GET /user/repos`.
    Page(u32),
    /// The index of the next of the config's `repositories`.
    Listed(usize),
}

/// The checked config and an HTTP client; each stream's reader has its own copy (sharing the
/// connection pool).
#[derive(Clone)]
struct Api<'a> {
    client: Client,
    repositories: Option<&'a [String]>,
    page_size: u32,
}

impl<'a> Api<'a> {
    /// Checks `api_url` and `repositories`.
    fn new(config: &'a GithubConfig) -> Result<Self, Error> {
        if config.api_url.starts_with("https://") {
            return Err(Error::config(
                "`api_url` is HTTPS, and this connector is built for plain HTTP only: enable \
                 tidemark's `https` feature"
                    .to_owned(),
            ));
        }
        if let Some(repositories) = &config.repositories {
            if repositories.is_empty() {
                return Err(Error::config(
                    "`repositories` is empty: list `owner/name`s, or leave it out to read every \
                     repository the token lists"
                        .to_owned(),
                ));
            }
            for (index, repository) in repositories.iter().enumerate() {
                if !is_full_name(repository) {
                    return Err(Error::config(format!(
                        "`repositories[{index}]` is {repository:?}, not `owner/name`"
                    )));
                }
            }
        }
        Ok(Api {
            client: client::client(&config.api_url, &config.token)?,
            repositories: config.repositories.as_deref(),
            page_size: config.page_size.clamp(1, 100),
        })
    }

    /// `GET /user/repos`, sorted by name, from page `first`.
    fn user_repos(&self, first: u32) -> Request {
        Request::get("/user/repos")
            .query("sort", "full_name")
            .query("direction", "asc")
            .query("per_page", self.page_size)
            .query("page", first)
    }

    /// The repositories that partition `issues`, `comments` and `events`, listed when the
    /// stream starts: the config's, or every one `GET /user/repos` lists. The listing has no
    /// stream sink yet, so a rate limit there is slept through without a `RATE_LIMITED` status.
    fn partitions(&self) -> Partitions<'a, String> {
        match self.repositories {
            Some(listed) => Partitions::list(listed.iter().cloned()),
            None => {
                let api = self.clone();
                Partitions::from_fn(move || {
                    let mut names = Vec::new();
                    let mut pages =
                        api.client
                            .pages(api.user_repos(1), LinkHeader::new(), Records::json(""));
                    while let Some(page) = pages.next::<ApiRepository>(&mut Detached)? {
                        found(&page.response, None)?;
                        if page.records.is_empty() {
                            break;
                        }
                        names.extend(page.records.iter().map(|repo| repo.full_name().to_owned()));
                    }
                    Ok(names)
                })
            }
        }
    }

    /// Reads `repositories` from `position`, saving the next one after each page (or each
    /// listed repository).
    fn read_repositories(
        &self,
        position: Option<Position>,
        out: &mut Sink<'_, Repository>,
    ) -> Result<(), Error> {
        if let Some(listed) = self.repositories {
            let first = match position {
                Some(Position::Listed(index)) => index,
                _ => 0,
            };
            for (index, repository) in listed.iter().enumerate().skip(first) {
                let request = Request::get(format!("/repos/{repository}"));
                let response = self.client.send(&request, out)?;
                found(&response, Some(repository))?;
                out.emit(&Repository::from(response.json::<ApiRepository>()?))?;
                if index + 1 < listed.len() {
                    out.save_position(&Position::Listed(index + 1))?;
                }
            }
            return Ok(());
        }
        let mut page_number = match position {
            Some(Position::Page(page)) => page.max(1),
            _ => 1,
        };
        let request = self.user_repos(page_number);
        let mut pages = self
            .client
            .pages(request, LinkHeader::new(), Records::json(""));
        while let Some(page) = pages.next::<ApiRepository>(out)? {
            found(&page.response, None)?;
            if page.records.is_empty() {
                break;
            }
            for repository in page.records {
                out.emit(&Repository::from(repository))?;
            }
            // Every repository of the pages before is out: a retry starts at the next one
            // (saved only when there is one).
            if pages.finished() {
                break;
            }
            page_number += 1;
            out.save_position(&Position::Page(page_number))?;
        }
        Ok(())
    }

    /// Reads the listing `request` of `repository` page by page, through its `next` links,
    /// emitting each item made into a record by `record`. A newest-first stream stops once it
    /// reached what earlier syncs read ([`Sink::caught_up`]).
    fn read_listing<A, S>(
        &self,
        request: Request,
        repository: &str,
        out: &mut Sink<'_, S>,
        record: impl Fn(A) -> S,
    ) -> Result<(), Error>
    where
        A: DeserializeOwned,
        S: IncrementalStream,
    {
        let mut pages = self
            .client
            .pages(request, LinkHeader::new(), Records::json(""));
        while let Some(page) = pages.next::<A>(out)? {
            found(&page.response, Some(repository))?;
            tracing::debug!(repository, items = page.records.len(), "fetched a page");
            let empty = page.records.is_empty();
            for item in page.records {
                out.emit(&record(item))?;
            }
            if empty || out.caught_up() {
                break;
            }
        }
        Ok(())
    }
}

/// Whether `name` is `owner/name` in the characters GitHub allows, so that it can go into a
/// URL path as it is.
fn is_full_name(name: &str) -> bool {
    let part = |part: &str| {
        !part.is_empty()
            && part != "."
            && part != ".."
            && part
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    };
    name.split_once('/')
        .is_some_and(|(owner, repo)| part(owner) && part(repo))
}

fn main() -> ExitCode {
    tidemark::run!(Github)
}
