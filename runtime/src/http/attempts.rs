//! The retry loop of one request as a state machine without IO: what to wait before an
//! attempt, and what an attempt's outcome leads to. The blocking client drives it with
//! `Context::wait`, the async client with `AsyncContext::wait_async`, so both behave alike.

use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::classify::{Failure, mask};
use super::client::{Mode, after};
use super::retry::RateLimit;
use super::{Client, OAuth2, RequestBudget, Response, Retry};
use crate::Error;

/// When an answer said the API's quota is spent (`X-RateLimit-Remaining: 0` with
/// `X-RateLimit-Reset`, or the `RateLimit-*` pair) on an answer the client handed back: the
/// client and its clones send nothing before the quota is back, rather than spend a request on
/// a refusal. Only the API's answers count, not those of an `OAuth2` token endpoint.
#[derive(Debug, Default)]
pub(super) struct Quota {
    back_at: Mutex<Option<DateTime<Utc>>>,
}

impl Quota {
    /// Notes what `response`'s headers say of the quota, read at `now`. A reset further than
    /// `longest` from now is not noted: it would never be waited for (see [`Attempts::hold`]),
    /// and would hide every later, sensible reset (a clock far ahead, milliseconds sent as
    /// seconds).
    fn note(&self, response: &Response, now: DateTime<Utc>, longest: Duration) {
        let Some(back_at) = RateLimit::of(response.headers(), now).exhausted_until else {
            return;
        };
        let too_far = (back_at - now)
            .to_std()
            .map_or(true, |wait| wait.is_zero() || wait > longest);
        if too_far {
            return;
        }
        let mut held = self.back_at.lock().unwrap_or_else(PoisonError::into_inner);
        if held.is_none_or(|held| held < back_at) {
            *held = Some(back_at);
        }
    }

    /// When the quota is back and how long that is from `now`, while it is spent.
    fn spent(&self, now: DateTime<Utc>) -> Option<(DateTime<Utc>, Duration)> {
        let back_at = (*self.back_at.lock().unwrap_or_else(PoisonError::into_inner))?;
        let wait = (back_at - now)
            .to_std()
            .ok()
            .filter(|wait| !wait.is_zero())?;
        Some((back_at, wait))
    }
}

/// A pause before the next attempt: what to report, then what to wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Pause {
    /// Report `RATE_LIMITED`, the quota back at this time.
    pub(super) rate_limited: Option<DateTime<Utc>>,
    /// Wait this long (through the context, so SIGTERM ends it); `None`: no wait at all.
    pub(super) wait: Option<Duration>,
}

impl Pause {
    /// Neither a report nor a wait.
    const NONE: Pause = Pause {
        rate_limited: None,
        wait: None,
    };
}

/// What follows an attempt.
#[derive(Debug)]
pub(super) enum Step {
    /// The answer to hand back.
    Done(Response),
    /// Pause, then attempt again.
    Again(Pause),
    /// The request failed.
    Fail(Error),
}

/// The attempts at one request: the retries, rate-limit waits and `OAuth2` refresh spent.
pub(super) struct Attempts<'c> {
    retry: &'c Retry,
    budget: Option<&'c RequestBudget>,
    /// The API's quota; `None` for an `OAuth2` token endpoint's requests.
    quota: Option<&'c Quota>,
    /// Waits for a spent quota before this request's attempts.
    holds: u32,
    oauth: Option<&'c OAuth2>,
    /// The request's URL, masked, for messages.
    what: String,
    retries: u32,
    waits: u32,
    refreshed: bool,
    attempt: u32,
}

impl<'c> Attempts<'c> {
    /// The attempts at a request for `url` made with `client`, in `mode`.
    pub(super) fn new(client: &'c Client, url: &str, mode: Mode) -> Self {
        let (retry, budget, quota) = client.policy();
        Attempts {
            retry,
            budget,
            quota: (mode == Mode::Api).then_some(quota),
            holds: 0,
            oauth: client.oauth(mode),
            what: mask(url),
            retries: 0,
            waits: 0,
            refreshed: false,
            attempt: 0,
        }
    }

    /// The wait for a quota an earlier answer said is spent, if it is: called until `None`
    /// before [`Attempts::before`], since another clone's answer may push the time back while
    /// this one waits. No wait when it would be longer than the policy's cap, or after as many
    /// holds as rate-limit waits allowed: then the request goes, and the API's answer decides.
    pub(super) fn hold(&mut self) -> Option<Pause> {
        let (back_at, wait) = self.quota?.spent(Utc::now())?;
        if wait > self.retry.max_rate_limit_wait || self.holds >= self.retry.max_rate_limit_waits {
            return None;
        }
        self.holds += 1;
        tracing::info!(
            wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
            "{}: the API's quota is spent until {back_at}; waiting",
            self.what
        );
        Some(Pause {
            rate_limited: (wait > Duration::from_secs(1)).then_some(back_at),
            wait: Some(wait),
        })
    }

    /// Starts the next attempt: takes one request of the budget, and says how long to wait
    /// for it (a wait over a second is reported as `RATE_LIMITED`).
    pub(super) fn before(&mut self) -> Pause {
        self.attempt += 1;
        let Some(budget) = self.budget else {
            return Pause::NONE;
        };
        let wait = budget.take();
        if wait.is_zero() {
            return Pause::NONE;
        }
        Pause {
            rate_limited: (wait > Duration::from_secs(1)).then(|| after(wait)),
            wait: Some(wait),
        }
    }

    /// The attempt started by the last [`Attempts::before`], 1 for the first.
    pub(super) fn number(&self) -> u32 {
        self.attempt
    }

    /// What the attempt's `outcome` leads to; `token` is the `OAuth2` access token it sent.
    pub(super) fn after(
        &mut self,
        outcome: Result<Response, Failure>,
        token: Option<&str>,
    ) -> Step {
        let failure = match outcome {
            Ok(response) => {
                if let Some(quota) = self.quota {
                    quota.note(&response, Utc::now(), self.retry.max_rate_limit_wait);
                }
                return Step::Done(response);
            }
            Err(failure) => failure,
        };
        match failure {
            Failure::Unauthorized(error) => {
                let (Some(oauth), Some(token)) = (self.oauth, token) else {
                    return Step::Fail(error);
                };
                if self.refreshed {
                    return Step::Fail(error);
                }
                self.refreshed = true;
                oauth.refused(token);
                Step::Again(Pause::NONE)
            }
            Failure::Fatal(error) => Step::Fail(error),
            Failure::RateLimited { wait, reset } => {
                self.waits += 1;
                match self.rate_limit_pause(wait, reset) {
                    Ok(pause) => Step::Again(pause),
                    Err(error) => Step::Fail(error),
                }
            }
            Failure::Retry(message) => {
                let what = &self.what;
                if self.retries >= self.retry.max_retries {
                    return Step::Fail(Error::transient(format!(
                        "the request for {what} failed {} times: {message}",
                        self.retries + 1
                    )));
                }
                let wait = self.retry.delay(self.retries);
                self.retries += 1;
                tracing::warn!(
                    retry = self.retries,
                    of = self.retry.max_retries,
                    wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
                    "{what}: {message}; retrying"
                );
                Step::Again(Pause {
                    rate_limited: None,
                    wait: Some(wait),
                })
            }
        }
    }

    /// The pause for a rate limit (the `waits`-th in a row), or the error when the policy
    /// says the wait is too long or too many.
    fn rate_limit_pause(
        &self,
        wait: Option<Duration>,
        reset: Option<DateTime<Utc>>,
    ) -> Result<Pause, Error> {
        let retry = self.retry;
        let what = &self.what;
        if self.waits > retry.max_rate_limit_waits {
            return Err(Error::transient(format!(
                "the request for {what} was rate limited {} times in a row; the next sync \
                 resumes from the last state",
                retry.max_rate_limit_waits
            )));
        }
        let wait = wait.unwrap_or_else(|| retry.rate_limit_default(self.waits - 1));
        if wait > retry.max_rate_limit_wait {
            return Err(Error::transient(format!(
                "the request for {what} is rate limited for {} s, longer than the {} s this \
                 connector waits; the next sync resumes from the last state",
                wait.as_secs(),
                retry.max_rate_limit_wait.as_secs()
            )));
        }
        tracing::warn!(
            wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
            "{what}: rate limited, waiting"
        );
        Ok(Pause {
            rate_limited: Some(reset.unwrap_or_else(|| after(wait))),
            wait: Some(wait),
        })
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::{Attempts, Pause, Step};
    use crate::Error;
    use crate::http::classify::Failure;
    use crate::http::client::Mode;
    use crate::http::{Auth, Client, OAuth2, RequestBudget, Retry};
    use crate::protocol::FailureType;

    fn client(retry: Retry) -> Client {
        Client::builder("http://127.0.0.1:9")
            .retry(retry)
            .build()
            .expect("a client")
    }

    #[test]
    fn server_errors_back_off_until_the_retries_run_out() {
        let client = client(
            Retry::new()
                .max_retries(1)
                .backoff(Duration::from_millis(10), Duration::from_millis(10)),
        );
        let mut attempts = Attempts::new(&client, "http://127.0.0.1:9/items", Mode::Api);
        assert_eq!(attempts.before(), Pause::NONE);
        assert_eq!(attempts.number(), 1);
        let Step::Again(pause) = attempts.after(Err(Failure::Retry("HTTP 503".into())), None)
        else {
            panic!("a retry");
        };
        assert_eq!(pause.rate_limited, None);
        assert!(
            pause
                .wait
                .is_some_and(|wait| wait <= Duration::from_millis(10))
        );
        assert_eq!(attempts.before(), Pause::NONE);
        assert_eq!(attempts.number(), 2);
        let Step::Fail(error) = attempts.after(Err(Failure::Retry("HTTP 503".into())), None) else {
            panic!("out of retries");
        };
        assert_eq!(error.failure_type(), FailureType::TransientError);
        assert!(
            error.to_string().contains("failed 2 times: HTTP 503"),
            "{error}"
        );
    }

    #[test]
    fn a_rate_limit_is_reported_and_waited_unless_longer_than_the_cap() {
        let client = client(Retry::new().max_rate_limit_wait(Duration::from_mins(1)));
        let mut attempts = Attempts::new(&client, "http://127.0.0.1:9/items", Mode::Api);
        attempts.before();
        let asked = Failure::RateLimited {
            wait: Some(Duration::from_secs(2)),
            reset: None,
        };
        let Step::Again(pause) = attempts.after(Err(asked), None) else {
            panic!("a wait");
        };
        assert!(pause.rate_limited.is_some());
        assert_eq!(pause.wait, Some(Duration::from_secs(2)));
        attempts.before();
        let too_long = Failure::RateLimited {
            wait: Some(Duration::from_secs(61)),
            reset: None,
        };
        let Step::Fail(error) = attempts.after(Err(too_long), None) else {
            panic!("a wait over the cap fails");
        };
        assert_eq!(error.failure_type(), FailureType::TransientError);
    }

    #[test]
    fn an_oauth2_token_refused_is_refreshed_once_and_other_401s_fail() {
        let refused = || Failure::Unauthorized(Error::config("the token was rejected"));
        let plain = client(Retry::new());
        let mut attempts = Attempts::new(&plain, "http://127.0.0.1:9/items", Mode::Api);
        attempts.before();
        assert!(matches!(
            attempts.after(Err(refused()), None),
            Step::Fail(_)
        ));

        let oauth = OAuth2::refresh_token(
            "http://127.0.0.1:9/token",
            "client",
            crate::Secret::new("secret-0001".to_owned()),
            crate::Secret::new("refresh-0001".to_owned()),
        );
        let client = Client::builder("http://127.0.0.1:9")
            .auth(Auth::OAuth2(oauth))
            .build()
            .expect("a client");
        let mut attempts = Attempts::new(&client, "http://127.0.0.1:9/items", Mode::Api);
        attempts.before();
        assert!(matches!(
            attempts.after(Err(refused()), Some("access-0001")),
            Step::Again(Pause::NONE)
        ));
        attempts.before();
        assert!(matches!(
            attempts.after(Err(refused()), Some("access-0002")),
            Step::Fail(_)
        ));
    }

    #[test]
    fn a_spent_budget_makes_the_attempt_wait_and_a_long_wait_is_reported() {
        let client = Client::builder("http://127.0.0.1:9")
            .budget(RequestBudget::new(1, Duration::from_secs(10)))
            .build()
            .expect("a client");
        let mut attempts = Attempts::new(&client, "http://127.0.0.1:9/items", Mode::Api);
        assert_eq!(attempts.before(), Pause::NONE);
        let pause = attempts.before();
        assert!(pause.rate_limited.is_some());
        assert!(
            pause.wait.is_some_and(
                |wait| wait > Duration::from_secs(9) && wait <= Duration::from_secs(10)
            )
        );
    }

    fn spent_until(reset: chrono::DateTime<chrono::Utc>) -> crate::http::Response {
        let mut headers = http::HeaderMap::new();
        headers.insert("x-ratelimit-remaining", "0".parse().unwrap());
        headers.insert(
            "x-ratelimit-reset",
            reset.timestamp().to_string().parse().unwrap(),
        );
        crate::http::Response::new(200, "http://127.0.0.1:9/items".into(), headers, Vec::new())
    }

    #[test]
    fn an_answer_saying_the_quota_is_spent_holds_every_clone_until_it_is_back() {
        let client = client(Retry::new().max_rate_limit_wait(Duration::from_mins(1)));
        let clone = client.clone();
        let mut attempts = Attempts::new(&client, "http://127.0.0.1:9/items", Mode::Api);
        assert_eq!(attempts.hold(), None, "nothing said yet");
        attempts.before();
        let reset = chrono::Utc::now() + chrono::TimeDelta::seconds(30);
        assert!(matches!(
            attempts.after(Ok(spent_until(reset)), None),
            Step::Done(_)
        ));

        let mut next = Attempts::new(&clone, "http://127.0.0.1:9/items?page=2", Mode::Api);
        let hold = next.hold().expect("a hold");
        let reset = chrono::DateTime::from_timestamp(reset.timestamp(), 0).unwrap();
        assert_eq!(hold.rate_limited, Some(reset));
        assert!(
            hold.wait.is_some_and(
                |wait| wait > Duration::from_secs(25) && wait <= Duration::from_secs(30)
            ),
            "{hold:?}"
        );
        // Held as many times as rate-limit waits are allowed, then the request goes.
        let allowed = Retry::new().max_rate_limit_waits;
        for _ in 1..allowed {
            assert!(next.hold().is_some());
        }
        assert_eq!(next.hold(), None);
    }

    #[test]
    fn a_quota_back_too_late_or_already_back_holds_nothing() {
        let capped = client(Retry::new().max_rate_limit_wait(Duration::from_secs(10)));
        let mut attempts = Attempts::new(&capped, "http://127.0.0.1:9/items", Mode::Api);
        attempts.before();
        let late = chrono::Utc::now() + chrono::TimeDelta::seconds(60);
        attempts.after(Ok(spent_until(late)), None);
        assert_eq!(
            Attempts::new(&capped, "http://127.0.0.1:9/x", Mode::Api).hold(),
            None
        );

        let plain = client(Retry::new());
        let mut attempts = Attempts::new(&plain, "http://127.0.0.1:9/items", Mode::Api);
        attempts.before();
        let past = chrono::Utc::now() - chrono::TimeDelta::seconds(5);
        attempts.after(Ok(spent_until(past)), None);
        assert_eq!(
            Attempts::new(&plain, "http://127.0.0.1:9/x", Mode::Api).hold(),
            None
        );
    }

    #[test]
    fn an_absurd_reset_is_not_noted_and_hides_no_later_one() {
        let client = client(Retry::new().max_rate_limit_wait(Duration::from_mins(1)));
        let mut attempts = Attempts::new(&client, "http://127.0.0.1:9/items", Mode::Api);
        attempts.before();
        // Milliseconds sent as seconds: tens of thousands of years ahead.
        let mut headers = http::HeaderMap::new();
        headers.insert("x-ratelimit-remaining", "0".parse().unwrap());
        headers.insert("x-ratelimit-reset", "1704067260000".parse().unwrap());
        let absurd =
            crate::http::Response::new(200, "http://127.0.0.1:9/items".into(), headers, Vec::new());
        attempts.after(Ok(absurd), None);
        let mut next = Attempts::new(&client, "http://127.0.0.1:9/x", Mode::Api);
        assert_eq!(next.hold(), None);
        next.before();
        let soon = chrono::Utc::now() + chrono::TimeDelta::seconds(20);
        next.after(Ok(spent_until(soon)), None);
        assert!(
            Attempts::new(&client, "http://127.0.0.1:9/y", Mode::Api)
                .hold()
                .is_some()
        );
    }

    #[test]
    fn a_token_endpoint_answer_neither_notes_nor_waits_for_the_api_quota() {
        let client = client(Retry::new());
        let mut token = Attempts::new(&client, "http://127.0.0.1:9/oauth/token", Mode::Token);
        token.before();
        let soon = chrono::Utc::now() + chrono::TimeDelta::seconds(20);
        token.after(Ok(spent_until(soon)), None);
        assert_eq!(
            Attempts::new(&client, "http://127.0.0.1:9/x", Mode::Api).hold(),
            None
        );
        let mut api = Attempts::new(&client, "http://127.0.0.1:9/items", Mode::Api);
        api.before();
        api.after(Ok(spent_until(soon)), None);
        assert_eq!(
            Attempts::new(&client, "http://127.0.0.1:9/oauth/token", Mode::Token).hold(),
            None
        );
        assert!(
            Attempts::new(&client, "http://127.0.0.1:9/x", Mode::Api)
                .hold()
                .is_some()
        );
    }
}
