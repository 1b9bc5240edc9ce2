//! The retry policy: how often and how long a failed request is tried again, and what the
//! API's rate-limit headers ask for.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};

/// How a client retries: server errors (5xx, 408) and transport errors back off and retry up
/// to [`Retry::max_retries`] times; rate-limited answers wait what the API asks, up to
/// [`Retry::max_rate_limit_waits`] times in a row, each at most [`Retry::max_rate_limit_wait`]
/// (a longer wait fails the stream with a transient error rather than sleep through it).
///
/// ```
/// use std::time::Duration;
/// use tidemark::http::Retry;
///
/// let retry = Retry::new()
///     .max_retries(2)
///     .backoff(Duration::from_millis(100), Duration::from_secs(5))
///     .max_rate_limit_wait(Duration::from_secs(60));
/// # let _ = retry;
/// ```
#[derive(Clone, Debug)]
pub struct Retry {
    pub(crate) max_retries: u32,
    pub(crate) first_backoff: Duration,
    pub(crate) max_backoff: Duration,
    pub(crate) max_rate_limit_wait: Duration,
    pub(crate) max_rate_limit_waits: u32,
}

impl Default for Retry {
    fn default() -> Self {
        Retry::new()
    }
}

impl Retry {
    /// 4 retries, 500 ms before the first doubled for each further one up to 30 s, each delay
    /// drawn at random between half and all of that (jitter, so that readers failing together
    /// do not retry together); rate-limit waits at most 20 in a row, each at most 15 minutes.
    #[must_use]
    pub fn new() -> Self {
        Retry {
            max_retries: 4,
            first_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(30),
            max_rate_limit_wait: Duration::from_mins(15),
            max_rate_limit_waits: 20,
        }
    }

    /// Retries of a request that failed with a server or transport error (0: none).
    #[must_use]
    pub fn max_retries(mut self, n: u32) -> Self {
        self.max_retries = n;
        self
    }

    /// The delay before the first retry (doubled for each further one, also the wait for a
    /// 429 that says nothing of when to come back) and the longest delay.
    #[must_use]
    pub fn backoff(mut self, first: Duration, max: Duration) -> Self {
        self.first_backoff = first;
        self.max_backoff = max.max(first);
        self
    }

    /// The longest wait for a rate limit; a longer one fails the request (transient).
    #[must_use]
    pub fn max_rate_limit_wait(mut self, d: Duration) -> Self {
        self.max_rate_limit_wait = d;
        self
    }

    /// Rate-limited answers to one request before it fails (transient).
    #[must_use]
    pub fn max_rate_limit_waits(mut self, n: u32) -> Self {
        self.max_rate_limit_waits = n;
        self
    }

    /// The delay before retry number `retry` (from 0): a random duration between half and all
    /// of the first backoff doubled `retry` times, at most the longest backoff.
    pub(crate) fn delay(&self, retry: u32) -> Duration {
        let ceiling = self
            .first_backoff
            .saturating_mul(1_u32.checked_shl(retry).unwrap_or(u32::MAX))
            .min(self.max_backoff);
        jitter(ceiling)
    }

    /// The wait for a rate limit that gives no time: the backoff's ceiling, without jitter.
    pub(crate) fn rate_limit_default(&self, wait: u32) -> Duration {
        self.first_backoff
            .saturating_mul(1_u32.checked_shl(wait).unwrap_or(u32::MAX))
            .min(self.max_backoff)
    }
}

/// A random duration in `[ceiling / 2, ceiling]`: jittered, yet never near zero, so that a
/// retry still waits for the server (full jitter from zero would hammer it).
fn jitter(ceiling: Duration) -> Duration {
    let half = ceiling / 2;
    let nanos = u64::try_from(half.as_nanos()).unwrap_or(u64::MAX);
    if nanos == 0 {
        return ceiling;
    }
    half + Duration::from_nanos(random() % (nanos + 1))
}

/// A xorshift generator seeded by the clock: jitter needs spread, not quality.
fn random() -> u64 {
    static STATE: AtomicU64 = AtomicU64::new(0);
    let mut x = STATE.load(Ordering::Relaxed);
    if x == 0 {
        x = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0x9E37_79B9_7F4A_7C15, |d| {
                u64::try_from(d.as_nanos() & u128::from(u64::MAX)).unwrap_or(1)
            })
            | 1;
    }
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    STATE.store(x, Ordering::Relaxed);
    x
}

/// What an answer's headers say of the rate limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct RateLimit {
    /// `Retry-After`: how long to wait.
    pub(crate) retry_after: Option<Duration>,
    /// The quota is spent (`X-RateLimit-Remaining: 0` or `RateLimit-Remaining: 0`) and comes
    /// back at this time (`X-RateLimit-Reset` epoch seconds, `RateLimit-Reset` delta seconds).
    pub(crate) exhausted_until: Option<DateTime<Utc>>,
}

impl RateLimit {
    /// Reads the headers of an answer received at `now`.
    pub(crate) fn of(headers: &http::HeaderMap, now: DateTime<Utc>) -> Self {
        let header = |name: &str| headers.get(name).and_then(|value| value.to_str().ok());
        let retry_after = header("retry-after").and_then(|value| parse_retry_after(value, now));
        let spent = |name| header(name).is_some_and(|value| value.trim() == "0");
        let exhausted_until = if spent("x-ratelimit-remaining") {
            header("x-ratelimit-reset")
                .and_then(|value| value.trim().parse::<i64>().ok())
                .and_then(|seconds| DateTime::from_timestamp(seconds, 0))
        } else if spent("ratelimit-remaining") {
            header("ratelimit-reset")
                .and_then(|value| value.trim().parse::<u32>().ok())
                .map(|seconds| now + chrono::TimeDelta::seconds(i64::from(seconds)))
        } else {
            None
        };
        RateLimit {
            retry_after,
            exhausted_until,
        }
    }
}

/// `Retry-After` as a delay from `now`: delay-seconds or an HTTP date (a date past is no wait).
pub(crate) fn parse_retry_after(value: &str, now: DateTime<Utc>) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = DateTime::parse_from_rfc2822(value)
        .ok()?
        .with_timezone(&Utc);
    Some((at - now).to_std().unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use chrono::{TimeZone, Utc};

    use super::{RateLimit, Retry, parse_retry_after};

    #[test]
    fn retry_after_is_seconds_or_an_http_date() {
        let now = Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0).unwrap();
        assert_eq!(parse_retry_after(" 7 ", now), Some(Duration::from_secs(7)));
        assert_eq!(
            parse_retry_after("Mon, 01 Jan 2024 00:00:30 GMT", now),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            parse_retry_after("Sun, 31 Dec 2023 23:00:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon", now), None);
    }

    #[test]
    fn an_exhausted_quota_waits_until_the_reset() {
        let now = Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0).unwrap();
        let mut headers = http::HeaderMap::new();
        headers.insert("x-ratelimit-remaining", "0".parse().unwrap());
        headers.insert("x-ratelimit-reset", "1704067260".parse().unwrap());
        assert_eq!(
            RateLimit::of(&headers, now).exhausted_until,
            Some(Utc.with_ymd_and_hms(2024, 1, 1, 0, 1, 0).unwrap())
        );
        headers.insert("x-ratelimit-remaining", "12".parse().unwrap());
        assert_eq!(RateLimit::of(&headers, now), RateLimit::default());
        let mut headers = http::HeaderMap::new();
        headers.insert("ratelimit-remaining", "0".parse().unwrap());
        headers.insert("ratelimit-reset", "5".parse().unwrap());
        assert_eq!(
            RateLimit::of(&headers, now).exhausted_until,
            Some(Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 5).unwrap())
        );
    }

    #[test]
    fn backoff_doubles_with_jitter_up_to_the_cap() {
        let retry = Retry::new().backoff(Duration::from_millis(100), Duration::from_millis(300));
        for _ in 0..100 {
            let first = retry.delay(0);
            assert!(first >= Duration::from_millis(50) && first <= Duration::from_millis(100));
            let second = retry.delay(1);
            assert!(second >= Duration::from_millis(100) && second <= Duration::from_millis(200));
            let late = retry.delay(40);
            assert!(late >= Duration::from_millis(150) && late <= Duration::from_millis(300));
        }
    }
}
