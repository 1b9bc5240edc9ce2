//! Async readers: a connector built on async clients writes its readers as `async` code and
//! registers them wrapped in [`Async`], with the contract of a blocking reader.
//!
//! Every future runs to completion on the thread that reads the stream, driven by one
//! process-wide tokio runtime (built on first use, with one worker thread that drives IO,
//! timers and spawned tasks). The [`Sink`] is the same as a blocking reader's, so what a STATE
//! means and when it is emitted do not change.

use std::future::Future;
use std::sync::OnceLock;
use std::time::Duration;

use tokio::runtime::{Builder, Handle, Runtime};

use crate::error::Error;
use crate::full_refresh::{FullRefreshReader, Resume};
use crate::source::{Reader, Sink};
use crate::stream::{FullRefreshStream, IncrementalStream, Slice};

/// Reads one stream, slice by slice, as async code: the async face of [`Reader`], with the
/// same calls and the same contract.
///
/// An async closure is an `AsyncReader` that only reads:
/// `async |slice: &Slice<S>, out: &mut Sink<S>| { .. }` (annotate both parameters). Implement
/// the trait on your own type when the bounds of the range come from the source at run time.
/// Register either wrapped in [`Async`]: `Streams::new().stream(Async(reader))`.
///
/// ```
/// use tidemark::{Async, AsyncReader, Error, Sink, Slice, Streams};
///
/// #[derive(serde::Serialize, schemars::JsonSchema)]
/// #[tidemark::incremental_stream(cursor = "id", step = 100)]
/// struct Customer {
///     id: u64,
/// }
///
/// /// Reads customers from an API whose highest id is asked when the sync starts.
/// struct Customers;
///
/// impl AsyncReader<Customer> for Customers {
///     async fn read(
///         &mut self,
///         slice: &Slice<'_, Customer>,
///         out: &mut Sink<'_, Customer>,
///     ) -> Result<(), Error> {
///         let from = slice.after().map_or(1, |id| id + 1);
///         let until = slice.until().copied().unwrap_or(250);
///         for id in from..=until {
///             out.emit(&Customer { id })?;
///         }
///         Ok(())
///     }
///
///     async fn end(&mut self) -> Result<Option<u64>, Error> {
///         // An async request for the highest id would go here.
///         Ok(Some(250))
///     }
/// }
///
/// let streams = Streams::new().stream(Async(Customers));
/// # let _ = streams;
/// ```
pub trait AsyncReader<S: IncrementalStream> {
    /// Pushes every record of `slice` into `out`; see [`Reader::read`] and
    /// [`Streams::stream`](crate::Streams::stream).
    ///
    /// # Errors
    ///
    /// Whatever stops the stream: the runtime reports it with the error's failure type.
    fn read(
        &mut self,
        slice: &Slice<'_, S>,
        out: &mut Sink<'_, S>,
    ) -> impl Future<Output = Result<(), Error>>;

    /// The lower bound of a sync without saved state, overriding the declared `start`; see
    /// [`Reader::start`], whose calls and meaning it has. `None` keeps the declared `start`.
    ///
    /// # Errors
    ///
    /// The bound cannot be determined; the stream fails without reading anything.
    fn start(&mut self) -> impl Future<Output = Result<Option<S::Cursor>, Error>> {
        async { Ok(None) }
    }

    /// The upper bound of the range this sync reads (inclusive); see [`Reader::end`], whose
    /// calls and meaning it has. `None` means no bound (for time cursors, just before the sync
    /// started).
    ///
    /// # Errors
    ///
    /// The bound cannot be determined; the stream fails without reading anything.
    fn end(&mut self) -> impl Future<Output = Result<Option<S::Cursor>, Error>> {
        async { Ok(None) }
    }
}

/// An async closure is an [`AsyncReader`] that only reads:
/// `async |slice: &Slice<S>, out: &mut Sink<S>| { .. }`.
impl<S, F> AsyncReader<S> for F
where
    S: IncrementalStream,
    F: AsyncFnMut(&Slice<'_, S>, &mut Sink<'_, S>) -> Result<(), Error>,
{
    fn read(
        &mut self,
        slice: &Slice<'_, S>,
        out: &mut Sink<'_, S>,
    ) -> impl Future<Output = Result<(), Error>> {
        self(slice, out)
    }
}

/// Reads one full-refresh stream, in full, as async code: the async face of
/// [`FullRefreshReader`], with the same call and the same contract.
///
/// An async closure is one: `async |resume: &Resume<S>, out: &mut Sink<S>| { .. }` (annotate
/// both parameters). Register it wrapped in [`Async`]:
///
/// ```
/// use tidemark::{Async, Error, Resume, Sink, Streams};
///
/// #[derive(serde::Serialize, schemars::JsonSchema)]
/// #[tidemark::full_refresh_stream(primary_key = "id", resumable = true)]
/// struct User {
///     id: u64,
/// }
///
/// let streams = Streams::new().full_refresh(Async(
///     async |resume: &Resume<User>, out: &mut Sink<User>| {
///         let first: u64 = resume.position()?.unwrap_or(1);
///         for page in first..=3 {
///             // An async request for the page would go here.
///             for id in (page - 1) * 100..page * 100 {
///                 out.emit(&User { id })?;
///             }
///             out.save_position(&(page + 1))?;
///         }
///         Ok(())
///     },
/// ));
/// # let _ = streams;
/// ```
pub trait AsyncFullRefreshReader<S: FullRefreshStream> {
    /// Pushes every record of the stream into `out`, starting at `resume`'s position when
    /// there is one; see [`FullRefreshReader::read`].
    ///
    /// # Errors
    ///
    /// Whatever stops the stream: the runtime reports it with the error's failure type.
    fn read(
        &mut self,
        resume: &Resume<'_, S>,
        out: &mut Sink<'_, S>,
    ) -> impl Future<Output = Result<(), Error>>;
}

/// An async closure is an [`AsyncFullRefreshReader`]:
/// `async |resume: &Resume<S>, out: &mut Sink<S>| { .. }`.
impl<S, F> AsyncFullRefreshReader<S> for F
where
    S: FullRefreshStream,
    F: AsyncFnMut(&Resume<'_, S>, &mut Sink<'_, S>) -> Result<(), Error>,
{
    fn read(
        &mut self,
        resume: &Resume<'_, S>,
        out: &mut Sink<'_, S>,
    ) -> impl Future<Output = Result<(), Error>> {
        self(resume, out)
    }
}

/// An async reader registered as a blocking one: `Async(reader)` is a [`Reader`] when `reader`
/// is an [`AsyncReader`], and a [`FullRefreshReader`] when it is an
/// [`AsyncFullRefreshReader`], so it goes wherever a blocking reader goes
/// ([`Streams::stream`](crate::Streams::stream),
/// [`Streams::partitioned`](crate::Streams::partitioned),
/// [`Streams::full_refresh`](crate::Streams::full_refresh)).
///
/// ```
/// use std::time::Duration;
/// use tidemark::{Async, Error, Sink, Slice, Streams};
///
/// #[derive(serde::Serialize, schemars::JsonSchema)]
/// #[tidemark::incremental_stream(cursor = "id", checkpoint_interval = 100)]
/// struct Event {
///     id: u64,
/// }
///
/// let streams = Streams::new().stream(Async(async |slice: &Slice<Event>, out: &mut Sink<Event>| {
///     let mut next = slice.after().map_or(1, |id| id + 1);
///     while next <= 300 {
///         // One page of an async client's response.
///         tokio::time::sleep(Duration::from_millis(1)).await;
///         for id in next..next + 100 {
///             out.emit(&Event { id })?;
///         }
///         next += 100;
///     }
///     Ok(())
/// }));
/// # let _ = streams;
/// ```
///
/// What it guarantees is exactly what the reader's blocking counterpart guarantees: the reader
/// pushes records into the same [`Sink`], so the STATE contract, when STATE is emitted, the
/// failure handling (an `Err`, or a panic, anywhere in the future) and SIGTERM are unchanged.
///
/// # How the future runs
///
/// Each call (`read`, `start`, `end`) runs the reader's future to completion on the calling
/// thread, the one reading the stream, with [`Runtime::block_on`] of one tokio runtime shared
/// by the whole process: multi-threaded with one worker thread, IO and timers enabled, built
/// on first use. So an async client (reqwest, the AWS SDK, octocrab) finds the tokio context
/// it needs, `tokio::spawn` runs tasks on the worker, and several threads may each run an
/// `Async` reader at once. `Async<R>` is `Clone` when `R` is, and `Send` when `R` is.
///
/// Because the future runs on the stream's own thread and not on a tokio worker, the blocking
/// calls of [`Sink`] are fine inside it: [`Sink::emit`] may block while the output is slow
/// (backpressure), which holds up only this reader. The future itself need not be `Send`
/// (it holds the `Sink`); a task it spawns must be, as tokio asks.
///
/// To wait (a rate limit, a backoff), use [`Sink::wait_async`] (or the blocking
/// [`Sink::wait`]) rather than `tokio::time::sleep`: SIGTERM ends those waits within 50 ms
/// with [`Error::Terminated`], while a sleep runs to its end.
///
/// A reader called from inside another tokio runtime (a `main` under `#[tokio::main]`, a
/// `#[tokio::test]`) cannot block that runtime's thread: the call returns an
/// [`Error::System`] saying so and the stream fails; call [`run!`](crate::run!) or the testing
/// kit from plain threads. If the runtime cannot be built (the system refuses a thread or the
/// IO driver), every call returns an [`Error::System`] with the reason.
#[derive(Debug, Clone, Copy, Default)]
pub struct Async<R>(pub R);

impl<S, R> Reader<S> for Async<R>
where
    S: IncrementalStream,
    R: AsyncReader<S>,
{
    fn read(&mut self, slice: &Slice<'_, S>, out: &mut Sink<'_, S>) -> Result<(), Error> {
        block_on(self.0.read(slice, out))
    }

    fn start(&mut self) -> Result<Option<S::Cursor>, Error> {
        block_on(self.0.start())
    }

    fn end(&mut self) -> Result<Option<S::Cursor>, Error> {
        block_on(self.0.end())
    }
}

impl<S, R> FullRefreshReader<S> for Async<R>
where
    S: FullRefreshStream,
    R: AsyncFullRefreshReader<S>,
{
    fn read(&mut self, resume: &Resume<'_, S>, out: &mut Sink<'_, S>) -> Result<(), Error> {
        block_on(self.0.read(resume, out))
    }
}

impl<S> Sink<'_, S> {
    /// Waits `duration` (a rate limit, a backoff) in an async reader, the way the runtime can
    /// interrupt: what was emitted so far is flushed first, and SIGTERM ends the wait within
    /// 50 ms with [`Error::Terminated`], which the reader returns with `?` so the stream stops
    /// with its last safe STATE. The async counterpart of [`Sink::wait`]: tasks the reader
    /// spawned and futures it joins go on meanwhile. Use it instead of `tokio::time::sleep`.
    ///
    /// # Errors
    ///
    /// [`Error::Terminated`] on SIGTERM; stdout is closed.
    #[cfg_attr(docsrs, doc(cfg(feature = "async")))]
    pub async fn wait_async(&mut self, duration: Duration) -> Result<(), Error> {
        // A wait of nothing: flushes, and fails once SIGTERM was received.
        wait_in_steps(|| self.wait(Duration::ZERO), duration).await
    }
}

/// Waits `duration` on tokio's timer, calling `check` before, every 50 ms (how long a SIGTERM
/// may go unnoticed, as in `Sink::wait`) and at the end; an error of `check` ends the wait.
pub(crate) async fn wait_in_steps(
    mut check: impl FnMut() -> Result<(), Error>,
    duration: Duration,
) -> Result<(), Error> {
    const STEP: Duration = Duration::from_millis(50);
    let deadline = tokio::time::Instant::now() + duration;
    loop {
        check()?;
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        if left.is_zero() {
            return Ok(());
        }
        tokio::time::sleep(left.min(STEP)).await;
    }
}

/// Runs `future` to completion on this thread, on the process's runtime.
fn block_on<T>(future: impl Future<Output = Result<T, Error>>) -> Result<T, Error> {
    if Handle::try_current().is_ok() {
        return Err(Error::system(
            "an async reader was called from inside a tokio runtime, whose thread it cannot \
             block: run the connector (or the testing kit) outside `#[tokio::main]` and \
             `#[tokio::test]`, from plain threads",
        ));
    }
    runtime()?.block_on(future)
}

/// The runtime every async reader runs on, built on first use; the error it could not be
/// built with, every time after.
fn runtime() -> Result<&'static Runtime, Error> {
    static RUNTIME: OnceLock<Result<Runtime, String>> = OnceLock::new();
    RUNTIME
        .get_or_init(|| {
            Builder::new_multi_thread()
                .worker_threads(1)
                .thread_name("tidemark-async")
                .enable_io()
                .enable_time()
                .build()
                .map_err(|err| err.to_string())
        })
        .as_ref()
        .map_err(|err| Error::system(format!("the async runtime could not be built: {err}")))
}

#[cfg(test)]
mod tests {
    use std::ops::Bound;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU32, Ordering};

    use chrono::{DateTime, Utc};

    use super::*;
    use crate::source::RecordSink;

    #[derive(serde::Serialize, schemars::JsonSchema)]
    #[crate::incremental_stream(crate = "crate", cursor = "id")]
    struct Item {
        id: u64,
    }

    /// Collects what a reader pushes.
    #[derive(Default)]
    struct Collect {
        ids: Vec<u64>,
        waits: u32,
        terminated: bool,
    }

    impl RecordSink<Item> for Collect {
        fn emit(&mut self, record: &Item) -> Result<(), Error> {
            self.ids.push(record.id);
            Ok(())
        }
        fn estimate(&mut self, _rows: u64) -> Result<(), Error> {
            Ok(())
        }
        fn rate_limited(&mut self, _: Option<DateTime<Utc>>) -> Result<(), Error> {
            Ok(())
        }
        fn wait(&mut self, _duration: Duration) -> Result<(), Error> {
            self.waits += 1;
            if self.terminated {
                Err(Error::Terminated {
                    stream: "items".to_owned(),
                })
            } else {
                Ok(())
            }
        }
        fn caught_up(&self) -> bool {
            false
        }
    }

    /// Calls `reader` on the slice `(after, ..)` and returns what it pushed.
    fn read_with(reader: &mut impl Reader<Item>, after: Option<u64>) -> Result<Vec<u64>, Error> {
        let state = ItemState::default();
        let lower = after.map_or(Bound::Unbounded, Bound::Excluded);
        let slice = Slice::new(&state, &(), lower, Bound::Unbounded);
        let mut collect = Collect::default();
        reader.read(&slice, &mut Sink::new(&mut collect))?;
        Ok(collect.ids)
    }

    /// An async reader whose pages each come from a spawned task, after a timer: timers and
    /// spawned tasks both need the runtime's worker.
    async fn paged(after: Option<u64>, out: &mut Sink<'_, Item>) -> Result<(), Error> {
        let mut next = after.map_or(1, |id| id + 1);
        while next <= 9 {
            let page: Vec<u64> = tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(2)).await;
                (next..(next + 3).min(10)).collect()
            })
            .await
            .map_err(|err| Error::system("the page task failed").with_source(err))?;
            for &id in &page {
                out.emit(&Item { id })?;
            }
            next += 3;
        }
        Ok(())
    }

    #[test]
    fn an_async_closure_reads_through_spawned_tasks_and_timers() {
        let mut reader = Async(async |slice: &Slice<Item>, out: &mut Sink<Item>| {
            paged(slice.after().copied(), out).await
        });
        assert_eq!(
            read_with(&mut reader, None).unwrap(),
            (1..=9).collect::<Vec<_>>()
        );
        assert_eq!(
            read_with(&mut reader, Some(4)).unwrap(),
            vec![5, 6, 7, 8, 9]
        );
    }

    #[test]
    fn many_threads_run_their_own_copies_at_once() {
        let calls = Arc::new(AtomicU32::new(0));
        let counted = Arc::clone(&calls);
        let reader = Async(async move |slice: &Slice<Item>, out: &mut Sink<Item>| {
            counted.fetch_add(1, Ordering::Relaxed);
            paged(slice.after().copied(), out).await
        });
        let threads: Vec<_> = (0..4)
            .map(|n| {
                let mut reader = reader.clone();
                std::thread::spawn(move || read_with(&mut reader, Some(n)))
            })
            .collect();
        for (n, thread) in (0..4).zip(threads) {
            let ids = thread.join().expect("no panic").expect("the read succeeds");
            assert_eq!(ids, (n + 1..=9).collect::<Vec<_>>());
        }
        assert_eq!(calls.load(Ordering::Relaxed), 4);
    }

    #[test]
    fn errors_and_bounds_come_back_as_from_a_blocking_reader() {
        struct Bounded;
        impl AsyncReader<Item> for Bounded {
            async fn read(
                &mut self,
                _slice: &Slice<'_, Item>,
                out: &mut Sink<'_, Item>,
            ) -> Result<(), Error> {
                out.emit(&Item { id: 1 })?;
                tokio::time::sleep(Duration::from_millis(1)).await;
                Err(Error::transient("page 2: timed out"))
            }
            async fn start(&mut self) -> Result<Option<u64>, Error> {
                Ok(Some(3))
            }
            async fn end(&mut self) -> Result<Option<u64>, Error> {
                Err(Error::config("no such table"))
            }
        }
        let mut reader = Async(Bounded);
        assert_eq!(Reader::start(&mut reader).unwrap(), Some(3));
        let end = Reader::end(&mut reader).unwrap_err();
        assert!(matches!(end, Error::Config { .. }), "{end:?}");
        let read = read_with(&mut reader, None).unwrap_err();
        assert!(matches!(read, Error::Transient { .. }), "{read:?}");

        // The defaults keep the declared bounds.
        let mut closure = Async(async |_: &Slice<Item>, _: &mut Sink<Item>| Ok(()));
        assert_eq!(Reader::start(&mut closure).unwrap(), None);
        assert_eq!(Reader::end(&mut closure).unwrap(), None);
    }

    #[test]
    fn a_call_from_inside_a_tokio_runtime_is_an_error_not_a_panic() {
        let outer = Builder::new_current_thread().build().unwrap();
        let _inside = outer.enter();
        let mut reader = Async(async |_: &Slice<Item>, _: &mut Sink<Item>| Ok(()));
        let error = read_with(&mut reader, None).unwrap_err();
        assert!(matches!(error, Error::System { .. }), "{error:?}");
        assert!(
            error.to_string().contains("inside a tokio runtime"),
            "{error}"
        );
    }

    #[test]
    fn wait_async_waits_and_ends_on_sigterm() {
        let mut collect = Collect::default();
        let waited = block_on(async {
            let mut out = Sink::new(&mut collect);
            let started = std::time::Instant::now();
            out.wait_async(Duration::from_millis(120)).await?;
            Ok(started.elapsed())
        })
        .unwrap();
        assert!(waited >= Duration::from_millis(120), "{waited:?}");
        // Checked before the wait, at every 50 ms step, and at the end.
        assert!(collect.waits >= 3, "{}", collect.waits);

        let mut terminated = Collect {
            terminated: true,
            ..Collect::default()
        };
        let result = block_on(async {
            let mut out = Sink::new(&mut terminated);
            out.wait_async(Duration::from_mins(1)).await
        });
        assert!(
            matches!(result, Err(Error::Terminated { .. })),
            "{result:?}"
        );
    }
}
