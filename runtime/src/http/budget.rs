//! A request budget: at most N requests in any period, shared by every reader that holds it.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// At most `requests` requests in any window of `per`, shared by every client (and clone of a
/// client) given it: the API's quota, spent by all the readers of a sync together.
///
/// Each attempt (retries included) takes one request first; when the budget is spent, the
/// attempt waits through its [`Context`](super::Context) for the earliest request of the window
/// to leave it (SIGTERM ends the wait; a wait over a second is reported as `RATE_LIMITED`).
/// Waiting requests are served in the order they asked.
///
/// ```
/// use std::time::Duration;
/// use tidemark::http::{Client, RequestBudget};
///
/// // 5,000 requests an hour, for both clients together.
/// let budget = RequestBudget::new(5_000, Duration::from_secs(3_600));
/// let issues = Client::builder("http://localhost:8080").budget(budget.clone()).build()?;
/// let users = Client::builder("http://localhost:8081").budget(budget).build()?;
/// # let _ = (issues, users);
/// # Ok::<(), tidemark::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct RequestBudget {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    requests: usize,
    per: Duration,
    /// When each of the last `requests` requests was (or is to be) sent, oldest first.
    sent: Mutex<VecDeque<Instant>>,
}

impl RequestBudget {
    /// At most `requests` requests (at least 1) in any window of `per`.
    #[must_use]
    pub fn new(requests: u32, per: Duration) -> Self {
        let requests = usize::try_from(requests.max(1)).unwrap_or(usize::MAX);
        RequestBudget {
            inner: Arc::new(Inner {
                requests,
                per,
                sent: Mutex::new(VecDeque::with_capacity(requests.min(4096))),
            }),
        }
    }

    /// Takes one request: how long to wait before sending it (zero when the budget allows it
    /// now). The request counts from the end of that wait.
    pub(crate) fn take(&self) -> Duration {
        let now = Instant::now();
        let mut sent = self
            .inner
            .sent
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if sent.len() < self.inner.requests {
            sent.push_back(now);
            return Duration::ZERO;
        }
        let oldest = sent.pop_front().unwrap_or(now);
        let at = (oldest + self.inner.per).max(now);
        sent.push_back(at);
        at - now
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::RequestBudget;

    #[test]
    fn the_budget_reserves_slots_one_period_after_the_oldest() {
        let budget = RequestBudget::new(2, Duration::from_secs(10));
        let copy = budget.clone();
        assert_eq!(budget.take(), Duration::ZERO);
        assert_eq!(copy.take(), Duration::ZERO);
        let third = budget.take();
        assert!(third > Duration::from_millis(9_900) && third <= Duration::from_secs(10));
        let fourth = copy.take();
        assert!(fourth > Duration::from_millis(9_900) && fourth <= Duration::from_secs(10));
        let fifth = budget.take();
        assert!(fifth > Duration::from_millis(19_900) && fifth <= Duration::from_secs(20));
    }
}
