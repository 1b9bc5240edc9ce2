//! `github_mock`: a GitHub-shaped REST API on 127.0.0.1, serving repositories, issues, issue
//! comments and events generated from its flags, for the `github` example connector and for
//! throughput benchmarks against a latency-bound API.
//!
//! # Running it
//!
//! ```sh
//! cargo run --release --example github_mock -- --port 0 --repos 64 --issues-per-repo 10000 \
//!     --latency-ms 50
//! ```
//!
//! The first line on stdout is `listening on http://127.0.0.1:PORT` (with the port picked when
//! `--port 0`); the server then runs until it is killed.
//!
//! # Flags
//!
//! | flag | default | meaning |
//! |---|---|---|
//! | `--port N` | 0 | port on 127.0.0.1; 0 picks a free one |
//! | `--org NAME` | `acme` | the owner of every repository |
//! | `--repos N` | 4 | repositories, named `repo-0001`, `repo-0002`, ... |
//! | `--issues-per-repo N` | 1000 | issues in each repository, numbered from 1 |
//! | `--comments-per-issue N` | 2 | comments on each issue |
//! | `--events-per-repo N` | 300 | events in each repository |
//! | `--seed N` | 0 | varies titles, users and times |
//! | `--latency-ms N` | 0 | wait before answering each API request |
//! | `--threads N` | 512 | connections served at once (a thread each); more wait |
//! | `--token T` | none | require `Authorization: Bearer T` (or `token T`) |
//! | `--quota N` | 1000000 | API requests per hour before the 403 of GitHub's primary rate limit |
//! | `--rate-limit-every N` | none | answer every Nth API request 429 with `Retry-After: 1` |
//!
//! Issues, comments and events together are limited to 10,000,000 of each kind. Bad flags
//! print a message on stderr and exit with status 2.
//!
//! # The data
//!
//! Every byte served is a function of the flags and of the `touch` calls made so far: no clock,
//! no randomness. Issues are created over 2024 (`created_at` grows with the number) and last
//! updated up to 30 days after their creation; about one issue in 32 shares its `updated_at`
//! second with the issue before it, so ties exist but are rare. A third of the issues are
//! closed. Comments are written up to 10 days after their issue, a quarter of them edited
//! later; comment ids grow with `created_at`. Events are spread over 2024, ids growing with
//! `created_at`. Ids are numbers, except event ids, which are numeric strings as on GitHub.
//! Records are 300 to 700 bytes. URLs inside records point at `api.github.com` and
//! `github.com`, as GitHub's do, so that bodies do not depend on the port; `Link` headers point
//! at the mock.
//!
//! # The API
//!
//! Every response is JSON. Listings are pages: `page` from 1 (default 1), `per_page` up to 100
//! (default 30; larger values give 100). A listing longer than one page has a `Link` header
//! (RFC 8288) as GitHub sends it, `rel`s in the order `prev`, `next`, `last`, `first`, each URL
//! being the request's with `page` replaced:
//!
//! ```text
//! Link: <http://127.0.0.1:PORT/repos/acme/repo-0001/issues?state=all&page=3>; rel="prev",
//!       <http://127.0.0.1:PORT/repos/acme/repo-0001/issues?state=all&page=5>; rel="next",
//!       <http://127.0.0.1:PORT/repos/acme/repo-0001/issues?state=all&page=34>; rel="last",
//!       <http://127.0.0.1:PORT/repos/acme/repo-0001/issues?state=all&page=1>; rel="first"
//! ```
//!
//! (on one line). A page past the last is an empty array.
//!
//! - `GET /user/repos?sort=&direction=&per_page=&page=`: every repository (`id`, `name`,
//!   `full_name` `acme/repo-0001`, `owner`, `created_at`, `updated_at`, `pushed_at`, ...).
//!   `sort` is `full_name` (the default, ascending by default), `created`, `updated` or `pushed`
//!   (descending by default). `GET /orgs/{org}/repos` lists the same, sorted by `created` by
//!   default, and `GET /repos/{owner}/{repo}` is one repository.
//! - `GET /repos/{owner}/{repo}/issues?state=&sort=&direction=&since=&per_page=&page=`: issues
//!   (`id`, `number`, `title`, `state`, `user.login`, `labels`, `created_at`, `updated_at`,
//!   `closed_at`, `body`). As on GitHub: `state` is `open` (the default), `closed` or `all`;
//!   `sort` is `created` (the default) or `updated`; `direction` is `desc` (the default) or
//!   `asc`; `since` (ISO 8601, such as `2024-03-01T00:00:00Z`) keeps issues with
//!   `updated_at >= since`, inclusive. Ties in the sorted field are ordered by id, in the
//!   listing's direction. A connector reading incrementally asks for
//!   `state=all&sort=updated&direction=asc&since=W`.
//! - `GET /repos/{owner}/{repo}/issues/comments?sort=&direction=&since=&per_page=&page=`: the
//!   comments of every issue of the repository (`id`, `issue_url`, `user.login`, `created_at`,
//!   `updated_at`, `body`). Without `sort`, in ascending id order and `direction` ignored; with
//!   `sort` (`created` or `updated`), `direction` is `desc` by default. `since` as for issues.
//! - `GET /repos/{owner}/{repo}/events?per_page=&page=`: the repository's events, newest first
//!   (by `created_at`, then id), with no filter (GitHub's events API has no `since`); `id` (a
//!   numeric string), `type` (`IssuesEvent`, `IssueCommentEvent`, `PushEvent`, `WatchEvent`),
//!   `actor.login`, `repo.name`, `payload`, `created_at`. Unlike GitHub, all of them are listed,
//!   not only the last 300.
//!
//! Owner and repository names are matched ignoring ASCII case, as on GitHub.
//!
//! Errors, with GitHub's bodies (`{"message": ..., "documentation_url": ..., "status": ...}`):
//! an unknown path, repository or owner is `404 {"message": "Not Found", ...}`; with `--token`,
//! a request without `Authorization` is 401 `Requires authentication` and one with another
//! token 401 `Bad credentials`; an unknown `state`, `sort` or `direction`, or a `since` that is
//! not RFC 3339, is 422 `Validation Failed`. A method other than GET is 404.
//!
//! Every API response carries `X-RateLimit-Limit` (the `--quota`), `X-RateLimit-Remaining`,
//! `X-RateLimit-Used`, `X-RateLimit-Reset` (Unix seconds of the end of the current hour-long
//! window, counted from the start of the mock) and `X-RateLimit-Resource: core`. Requests
//! past the quota are answered 403 `API rate limit exceeded.` until the reset.
//!
//! # Admin endpoints
//!
//! Under `/_mock/`, without latency, authentication or rate limits, and not counted as API
//! requests:
//!
//! - `POST /_mock/rate-limit?status=429&count=2&retry_after=1`: the next `count` API requests
//!   (default 1) are answered `status` (403, GitHub's secondary rate limit, or 429, the
//!   default) with `Retry-After: retry_after` (default 1) and a message; the requests after
//!   them are served again. A new call replaces what is left of the previous one.
//! - `POST /_mock/touch?issues=N&comments=M&comment_edits=E&events=K` (each default 0, at most
//!   1,000,000): moves N issues to a new `updated_at` (an open issue is closed, a closed one
//!   reopened), adds M comments, edits E existing comments (new `updated_at`, body marked
//!   edited) and appends K events. Every change takes the next second of the mock's clock,
//!   starting after 2025-06-01T00:00:00Z, so it is newer than everything before it; the
//!   repositories take the changes in turn, and within a repository the issues (and the
//!   comments to edit, while no comment is added) are visited in a fixed order that reaches
//!   each one before any is picked twice. So after a
//!   first sync, a second sync with its state reads exactly what changed: the answer lists it,
//!   `{"issues": [{"repo", "id", "number", "state", "updated_at"}], "comments": [{"repo",
//!   "id", "issue_number", "created_at", "updated_at", "new"}], "events": [{"repo", "id",
//!   "type", "created_at"}]}`. A new comment does not change its issue.
//! - `GET /_mock/stats`: `{"requests": API requests, "by_kind": {"repos", "repo", "issues",
//!   "comments", "events", "other"}, "by_status": {"200": ..}, "records": records in 200
//!   answers, "admin_requests": ..}`; a request refused (401, 403, 429) still counts.

mod data;
mod http;
mod server;

use std::io::Write as _;
use std::process::ExitCode;
use std::time::Duration;

pub use data::Shape;
pub use server::{Mock, Options};

const USAGE: &str = "usage: github_mock [--port N] [--org NAME] [--repos N] \
[--issues-per-repo N] [--comments-per-issue N] [--events-per-repo N] [--seed N] \
[--latency-ms N] [--threads N] [--token T] [--quota N] [--rate-limit-every N]";

/// Reads the flags (without the program name).
pub fn parse_args(args: &[String]) -> Result<Options, String> {
    let mut options = Options::default();
    let mut args = args.iter();
    while let Some(flag) = args.next() {
        let value = args
            .next()
            .ok_or_else(|| format!("{flag} needs a value\n{USAGE}"))?;
        let number = || {
            value
                .parse::<u64>()
                .map_err(|_| format!("{flag} wants a whole number, not `{value}`"))
        };
        let small = || {
            number()
                .and_then(|n| u32::try_from(n).map_err(|_| format!("{flag} {value} is too large")))
        };
        match flag.as_str() {
            "--port" => {
                options.port = u16::try_from(number()?)
                    .map_err(|_| format!("--port {value} is not a port"))?;
            }
            "--org" => {
                if value.is_empty() || value.contains(['/', '?', '#', ' ']) {
                    return Err(format!("--org `{value}` is not an owner name"));
                }
                options.shape.org.clone_from(value);
            }
            "--repos" => options.shape.repos = small()?,
            "--issues-per-repo" => options.shape.issues_per_repo = small()?,
            "--comments-per-issue" => options.shape.comments_per_issue = small()?,
            "--events-per-repo" => options.shape.events_per_repo = small()?,
            "--seed" => options.shape.seed = number()?,
            "--latency-ms" => options.latency = Duration::from_millis(number()?),
            "--threads" => {
                options.threads = usize::try_from(number()?)
                    .ok()
                    .filter(|&n| (1..=4096).contains(&n))
                    .ok_or_else(|| format!("--threads wants 1 to 4096, not {value}"))?;
            }
            "--token" => options.token = Some(value.clone()),
            "--quota" => options.quota = number()?,
            "--rate-limit-every" => {
                options.rate_limit_every = Some(number()?).filter(|&n| n > 0);
            }
            _ => return Err(format!("unknown flag `{flag}`\n{USAGE}")),
        }
    }
    options.shape.check()?;
    Ok(options)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|arg| arg == "--help" || arg == "-h") {
        let _ = writeln!(std::io::stdout(), "{USAGE}");
        return ExitCode::SUCCESS;
    }
    let options = match parse_args(&args) {
        Ok(options) => options,
        Err(message) => {
            eprintln!("github_mock: {message}");
            return ExitCode::from(2);
        }
    };
    let mock = match Mock::start(options) {
        Ok(mock) => mock,
        Err(message) => {
            eprintln!("github_mock: {message}");
            return ExitCode::FAILURE;
        }
    };
    let mut stdout = std::io::stdout().lock();
    if writeln!(stdout, "listening on {}", mock.url())
        .and_then(|()| stdout.flush())
        .is_err()
    {
        eprintln!("github_mock: cannot write to stdout");
        return ExitCode::FAILURE;
    }
    drop(stdout);
    mock.wait();
    ExitCode::SUCCESS
}
