//! The async half of the client (features `http` and `async`): [`Client::send_async`] and
//! [`Pages::next_async`] drive the same attempts as the blocking calls, waiting through
//! [`AsyncContext::wait_async`]; each attempt, a blocking exchange on the connection pool, runs
//! on tokio's blocking threads (`spawn_blocking`), the standard way to call blocking IO from
//! async code.

use std::sync::Arc;
use std::sync::mpsc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde_json::Value;
use tokio::runtime::Handle;
use tokio::sync::mpsc as channel;

use super::attempts::{Attempts, Pause, Step};
use super::client::{LogScope, Mode};
use super::{AsyncContext, Client, Context, Page, Pages, Paginator, Request, Response, log};
use crate::Error;

impl Client {
    /// [`Client::send`] for async readers: the same retries, backoff, rate-limit waits
    /// (reported as `RATE_LIMITED`), budget waits, `OAuth2` refresh (and a rotated refresh
    /// token saved through `ctx` before the new access token is used), errors, masking and
    /// request log. Every wait goes through [`AsyncContext::wait_async`], so the reader's other
    /// futures go on meanwhile; several requests of one reader may run at once (see
    /// [`AsyncContext`] for sharing one sink between them).
    ///
    /// The client is blocking underneath: each attempt (and an `OAuth2` token request) runs on
    /// tokio's blocking threads with `spawn_blocking`, never on the thread polling this future.
    ///
    /// ```no_run
    /// use std::cell::RefCell;
    /// use tidemark::http::{Client, Request};
    /// use tidemark::{Error, Sink};
    ///
    /// # #[derive(serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
    /// # #[tidemark::incremental_stream(cursor = "id")]
    /// # struct Ticket { id: u64 }
    /// # async fn join<A: Future, B: Future>(a: A, b: B) -> (A::Output, B::Output) {
    /// #     use std::task::Poll;
    /// #     let (mut a, mut b) = (std::pin::pin!(a), std::pin::pin!(b));
    /// #     let (mut x, mut y) = (None, None);
    /// #     std::future::poll_fn(|cx| {
    /// #         if x.is_none() && let Poll::Ready(v) = a.as_mut().poll(cx) { x = Some(v); }
    /// #         if y.is_none() && let Poll::Ready(v) = b.as_mut().poll(cx) { y = Some(v); }
    /// #         match (x.take(), y.take()) {
    /// #             (Some(x), Some(y)) => Poll::Ready((x, y)),
    /// #             (p, q) => { (x, y) = (p, q); Poll::Pending }
    /// #         }
    /// #     }).await
    /// # }
    /// async fn open_and_closed(client: &Client, out: &mut Sink<'_, Ticket>) -> Result<(), Error> {
    ///     // One sink shared by two requests in flight at once (`join` as `tokio::join!`).
    ///     let shared = RefCell::new(out);
    ///     let (open, closed) = join(
    ///         client.send_async(&Request::get("/tickets?state=open"), &mut &shared),
    ///         client.send_async(&Request::get("/tickets?state=closed"), &mut &shared),
    ///     )
    ///     .await;
    ///     let (open, closed) = (open?, closed?);
    ///     # let _ = (open, closed);
    ///     Ok(())
    /// }
    /// ```
    ///
    /// # Errors
    ///
    /// What [`Client::send`] returns; a system error when called outside a tokio runtime.
    #[cfg_attr(docsrs, doc(cfg(all(feature = "http", feature = "async"))))]
    pub async fn send_async<C: AsyncContext>(
        &self,
        request: &Request,
        ctx: &mut C,
    ) -> Result<Response, Error> {
        let runtime = Handle::try_current().map_err(|_| {
            Error::system(
                "`Client::send_async` was called outside a tokio runtime: call it from an async \
                 reader (`tidemark::Async`)",
            )
        })?;
        let prepared = Arc::new(self.prepare(request, Mode::Api)?);
        let request = Arc::new(request.clone());
        let mut attempts = Attempts::new(self, &prepared.url, Mode::Api);
        loop {
            while let Some(hold) = attempts.hold() {
                pause(ctx, hold).await?;
            }
            pause(ctx, attempts.before()).await?;
            let token = match self.oauth(Mode::Api) {
                Some(oauth) => Some(match oauth.cached() {
                    Some(token) => token,
                    None => self.access_token(&runtime, ctx).await?,
                }),
                None => None,
            };
            let log = log::enabled().then(|| LogScope(ctx.scope()));
            let (client, request, prepared) =
                (self.clone(), Arc::clone(&request), Arc::clone(&prepared));
            let (sent, number) = (token.clone(), attempts.number());
            let outcome = blocking(&runtime, move || {
                client.attempt(&request, &prepared, sent.as_deref(), Mode::Api, log, number)
            })
            .await?;
            match attempts.after(outcome, token.as_deref()) {
                Step::Done(response) => return Ok(response),
                Step::Again(next) => pause(ctx, next).await?,
                Step::Fail(error) => return Err(error),
            }
        }
    }

    /// A fresh `OAuth2` access token. The blocking refresh (one at a time for every clone of
    /// the client, under the token lock) runs on a blocking thread; whatever it asks of its
    /// context (waits, `RATE_LIMITED`, saving a rotated refresh token) is done here, in order,
    /// through `ctx`, while the refresh waits for the answer. No lock is held across an
    /// `.await` of this future.
    async fn access_token<C: AsyncContext>(
        &self,
        runtime: &Handle,
        ctx: &mut C,
    ) -> Result<String, Error> {
        let (calls, mut asked) = channel::unbounded_channel();
        let (answers, answered) = mpsc::channel();
        let mut relay = Relay {
            calls,
            answered,
            scope: ctx.scope(),
        };
        let limits = crate::cli::test_read();
        let config = crate::entrypoint::run_config_handle();
        let client = self.clone();
        let refresh = runtime.spawn_blocking(move || {
            // The run's test-read settings and config, as on the reader's thread.
            let _limits = crate::cli::scoped_test_read(limits);
            let _config = crate::entrypoint::scoped_run_config(config);
            let Some(oauth) = client.oauth(Mode::Api) else {
                return Err(Error::system("the client has no OAuth2 credentials"));
            };
            oauth.access_token(&mut relay, &|request, ctx| {
                client.exchange(request, ctx, Mode::Token)
            })
        });
        // Ends when the refresh is over and drops its end of the channel.
        while let Some(call) = asked.recv().await {
            let answer = match call {
                Call::Wait(duration) => ctx.wait_async(duration).await,
                Call::RateLimited(reset) => ctx.rate_limited(reset),
                Call::UpdateConfig(config) => ctx.update_config(&config),
                Call::CutSlice => ctx.cut_slice(),
            };
            if answers.send(answer).is_err() {
                break;
            }
        }
        joined(refresh.await)
    }
}

impl<P: Paginator> Pages<'_, P> {
    /// [`Pages::next`] for async readers: the next page's records, `None` after the last page,
    /// its request sent with [`Client::send_async`]. The same listing, the same `--max-pages`
    /// cut of a test read.
    ///
    /// # Errors
    ///
    /// What [`Client::send_async`] returns; a body that does not decode; a paginator's error.
    #[cfg_attr(docsrs, doc(cfg(all(feature = "http", feature = "async"))))]
    pub async fn next_async<T: DeserializeOwned, C: AsyncContext>(
        &mut self,
        ctx: &mut C,
    ) -> Result<Option<Page<T>>, Error> {
        let client = self.client;
        let Some(request) = self.next_request(ctx)? else {
            return Ok(None);
        };
        let response = client.send_async(request, ctx).await?;
        self.page(response).map(Some)
    }
}

/// Reports and waits a pause through `ctx`: the async side of [`Pause`].
async fn pause<C: AsyncContext>(ctx: &mut C, pause: Pause) -> Result<(), Error> {
    if let Some(reset) = pause.rate_limited {
        ctx.rate_limited(Some(reset))?;
    }
    match pause.wait {
        Some(wait) => ctx.wait_async(wait).await,
        None => Ok(()),
    }
}

/// Runs blocking `work` on the runtime's blocking threads.
async fn blocking<T: Send + 'static>(
    runtime: &Handle,
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, Error> {
    let done = runtime.spawn_blocking(work).await;
    done.map_err(|error| Error::system(format!("a request's blocking task failed: {error}")))
}

/// The result of a blocking task, or the error it failed with.
fn joined<T>(done: Result<Result<T, Error>, tokio::task::JoinError>) -> Result<T, Error> {
    done.map_err(|error| Error::system(format!("a request's blocking task failed: {error}")))?
}

/// What the blocking `OAuth2` refresh asks of the reader's context.
enum Call {
    Wait(Duration),
    RateLimited(Option<DateTime<Utc>>),
    UpdateConfig(Value),
    CutSlice,
}

/// The context of a blocking `OAuth2` refresh run for an async reader: each call is handed to
/// the reader's future, which does it with the reader's context, and waits for its answer.
struct Relay {
    calls: channel::UnboundedSender<Call>,
    answered: mpsc::Receiver<Result<(), Error>>,
    scope: Option<(String, String)>,
}

impl Relay {
    fn call(&mut self, call: Call) -> Result<(), Error> {
        let gone = || Error::system("the async reader stopped waiting for the OAuth2 refresh");
        self.calls.send(call).map_err(|_| gone())?;
        self.answered.recv().map_err(|_| gone())?
    }
}

impl Context for Relay {
    fn wait(&mut self, duration: Duration) -> Result<(), Error> {
        self.call(Call::Wait(duration))
    }

    fn rate_limited(&mut self, reset: Option<DateTime<Utc>>) -> Result<(), Error> {
        self.call(Call::RateLimited(reset))
    }

    fn update_config(&mut self, config: &Value) -> Result<(), Error> {
        self.call(Call::UpdateConfig(config.clone()))
    }

    fn scope(&self) -> Option<(String, String)> {
        self.scope.clone()
    }

    fn cut_slice(&mut self) -> Result<(), Error> {
        self.call(Call::CutSlice)
    }
}
