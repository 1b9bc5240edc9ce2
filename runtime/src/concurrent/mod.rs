//! Reading one stream's windows, or its partitions, at the same time.
//!
//! Workers (scoped threads, each with its own clone of the reader) read one window or one
//! partition at a time, each through a contract core of its own, and serialize its records into
//! chunks of lines sent over a bounded channel: a worker whose chunks are not taken waits, so
//! the records in flight are bounded however fast the readers are and however slowly stdout is
//! read. After the records of a safe point (a checkpoint the core allows, a window's or a
//! partition's end, or the safe watermark of a failure) the worker sends a mark.
//!
//! The coordinator, on the thread that called the stream's `read`, writes the chunks in the
//! order they arrive and turns the marks into STATEs: a partition keeps its own watermark, so a
//! partition's mark moves that watermark; windows share one, so a window's mark moves it only up
//! to the contiguous low-water mark (the [`Ledger`]). Since every mark follows its records on the
//! channel, and the coordinator writes a STATE only after the chunks before it, a STATE always
//! follows every record it covers, whatever order the windows and partitions finish in.
//!
//! Streams registered to be read concurrently run at the same time: each stream's read (its
//! coordinator) runs on a thread of its own with an emitter of its own, whose output is
//! forwarded, in complete messages, to the run's emitter ([`run_jobs`]). The workers of every
//! stream share one [`Budget`] of readers, a permit per window or partition being read.
//!
//! `ledger.rs` is the low-water mark, `worker.rs` the workers and the queue they take windows
//! and partitions from, `tests.rs` the ledger's model test, SIGTERM at any record, and the bound
//! on records in flight.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::SyncSender;
use std::sync::{Condvar, Mutex, PoisonError};

use chrono::{DateTime, Utc};

use crate::emitter::{Emitter, RecordFrame};
use crate::error::Error;
use crate::partition::Book;
use crate::protocol::StreamDescriptor;
use crate::source::{
    Incremental, IncrementalRun, LazyBounds, Reader, RecordSink, StreamFailure, plan, run_stream,
};
use crate::stream::{CheckpointAt, IncrementalStream, StreamState};

mod ledger;
#[cfg(test)]
mod tests;
mod worker;

pub(crate) use ledger::Ledger;
use worker::{Job, Message, Pending, Point, Queue, Saved, Shared, Worker};

/// A worker sends its records once this many bytes of lines are pending.
pub(crate) const CHUNK: usize = 8 * 1024;

/// How many windows past the lowest unfinished one may be read, per worker: finished windows
/// above an unfinished one wait in the ledger, and their records are sent again if the sync
/// fails before the low-water mark passes them.
const AHEAD_PER_WORKER: usize = 4;

/// How many readers may run at once in a sync, across its streams: each worker holds a permit
/// while it reads a window or a partition.
pub(crate) struct Budget {
    limit: usize,
    free: Mutex<usize>,
    freed: Condvar,
}

impl Budget {
    pub(crate) fn new(limit: usize) -> Self {
        let limit = limit.max(1);
        Budget {
            limit,
            free: Mutex::new(limit),
            freed: Condvar::new(),
        }
    }

    /// The most readers at once.
    pub(crate) fn limit(&self) -> usize {
        self.limit
    }

    /// Waits for a reader's permit.
    fn acquire(&self) -> Permit<'_> {
        let mut free = self.free.lock().unwrap_or_else(PoisonError::into_inner);
        while *free == 0 {
            free = self
                .freed
                .wait(free)
                .unwrap_or_else(PoisonError::into_inner);
        }
        *free -= 1;
        Permit(self)
    }
}

/// A reader's permit, given back when dropped.
struct Permit<'b>(&'b Budget);

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        *self.0.free.lock().unwrap_or_else(PoisonError::into_inner) += 1;
        self.0.freed.notify_one();
    }
}

/// A stream's whole read, ready to run on a thread of its own with an emitter of its own.
pub(crate) type StreamJob<'x> =
    Box<dyn FnOnce(&mut Emitter<'_>) -> Result<Option<StreamFailure>, Error> + Send + 'x>;

/// The read of an unpartitioned stream whose windows are read concurrently, from `state`.
pub(crate) fn windows_job<'x, S, R>(
    reader: &'x mut R,
    state: &'x S::State,
    started_at: DateTime<Utc>,
    budget: &'x Budget,
) -> StreamJob<'x>
where
    S: SharedStream<Partition = ()>,
    R: SharedReader<S>,
{
    Box::new(move |out| {
        run_stream(S::descriptor(), Incremental::<S>::new(None), out, |run| {
            read_windows(reader, state, started_at, budget, run)
        })
    })
}

/// The read of a partitioned stream whose listed partitions (or why they could not be listed)
/// are read concurrently, from the book `saved` holds.
pub(crate) fn partitions_job<'x, S, R>(
    reader: &'x mut R,
    partitions: &'x mut Option<Result<Vec<S::Partition>, Error>>,
    saved: &'x mut Option<Book<S>>,
    started_at: DateTime<Utc>,
    budget: &'x Budget,
) -> StreamJob<'x>
where
    S: SharedStream,
    R: SharedReader<S>,
{
    Box::new(move |out| {
        let book = saved.take().unwrap_or_default();
        let partitions = partitions.take().unwrap_or_else(|| Ok(Vec::new()));
        run_stream(S::descriptor(), Incremental::new(Some(book)), out, |run| {
            read_partitions(reader, partitions?, started_at, budget, run)?;
            run.finish_partitions()
        })
    })
}

/// Runs the reads of `jobs` at the same time, each on a thread of its own, and writes what
/// they emit to `out` as it comes, a stream's messages in their order; `report` is called on
/// the calling thread with each stream that failed, after its last message. `Err` only when
/// output failed.
pub(crate) fn run_jobs(
    jobs: Vec<(StreamDescriptor, StreamJob<'_>)>,
    out: &mut Emitter<'_>,
    mut report: impl FnMut(&StreamDescriptor, &Error, &mut Emitter<'_>) -> Result<(), Error>,
) -> Result<(), Error> {
    if jobs.is_empty() {
        return Ok(());
    }
    let (sender, receiver) = std::sync::mpsc::sync_channel(jobs.len() * 2);
    let closed = AtomicBool::new(false);
    let template = out.template();
    let dispatch = tracing::dispatcher::get_default(Clone::clone);
    let descriptors: Vec<StreamDescriptor> = jobs.iter().map(|(d, _)| d.clone()).collect();
    // A test read's limits hold on the streams' threads as on the run's.
    let limits = crate::cli::test_read();
    let config = crate::entrypoint::run_config_handle();
    std::thread::scope(|scope| {
        for (index, (_, job)) in jobs.into_iter().enumerate() {
            let (sender, template, dispatch) = (sender.clone(), template.clone(), dispatch.clone());
            let closed = &closed;
            let config = config.clone();
            scope.spawn(move || {
                let _limits = crate::cli::scoped_test_read(limits);
                let _config = crate::entrypoint::scoped_run_config(config);
                tracing::dispatcher::with_default(&dispatch, || {
                    let mut sink = Forwarder {
                        sender: &sender,
                        closed,
                    };
                    let mut emitter = template.emitter(&mut sink);
                    let result =
                        job(&mut emitter).and_then(|failure| emitter.flush().map(|()| failure));
                    drop(emitter);
                    let _ = sender.send(Forwarded::Done(index, result));
                });
            });
        }
        drop(sender);
        let mut broken: Option<Error> = None;
        for message in receiver {
            if broken.is_some() {
                continue;
            }
            let written = match message {
                Forwarded::Bytes(bytes) => out.forward(&bytes),
                // A stream flushed (after a STATE): so does the run, to stdout.
                Forwarded::Flush => out.flush(),
                Forwarded::Done(_, Ok(None)) => Ok(()),
                Forwarded::Done(index, Ok(Some(failure))) => {
                    report(&descriptors[index], &failure.error, out)
                }
                Forwarded::Done(_, Err(error)) => Err(error),
            };
            if let Err(error) = written {
                closed.store(true, Ordering::Relaxed);
                broken = Some(error);
            }
        }
        broken.map_or(Ok(()), Err)
    })
}

/// What a stream read on a thread of its own sends to the run's emitter.
enum Forwarded {
    /// Complete messages.
    Bytes(Vec<u8>),
    /// The stream's emitter flushed what it wrote so far (after a STATE, before a wait).
    Flush,
    /// The stream's read ended.
    Done(usize, Result<Option<StreamFailure>, Error>),
}

/// The sink of a stream's emitter: sends what it writes to the run's emitter.
struct Forwarder<'f> {
    sender: &'f SyncSender<Forwarded>,
    closed: &'f AtomicBool,
}

impl std::io::Write for Forwarder<'_> {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        let closed = || std::io::Error::new(std::io::ErrorKind::BrokenPipe, "the output closed");
        if self.closed.load(Ordering::Relaxed) {
            return Err(closed());
        }
        self.sender
            .send(Forwarded::Bytes(bytes.to_vec()))
            .map_err(|_| closed())?;
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.sender
            .send(Forwarded::Flush)
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::BrokenPipe, "the output closed"))
    }
}

/// For the testing kit: whether a sync of a stream read concurrently, resumed from a state
/// whose watermark for `record`'s partition is `watermark`, may send `record` again. Records
/// above a partition's watermark (or the low-water mark) may have been emitted before a STATE
/// that does not cover them, and are read again; those at or below it may not.
pub(crate) fn may_resend<S: IncrementalStream>(
    watermark: Option<&S::Cursor>,
    record: &serde_json::Value,
) -> bool {
    record_cursor::<S>(record).is_some_and(|cursor| watermark.is_none_or(|mark| cursor > *mark))
}

/// The cursor of a record as JSON, read as the stream's state would hold it.
fn record_cursor<S: IncrementalStream>(record: &serde_json::Value) -> Option<S::Cursor> {
    let mut state = serde_json::Map::new();
    for key in <S::State as StreamState>::KEYS {
        let value = key
            .split('.')
            .try_fold(record, |value, name| value.get(name))?;
        state.insert((*key).to_owned(), value.clone());
    }
    let state = serde_json::value::to_raw_value(&state).ok()?;
    crate::state::parse_stream_state::<S>(Some(&state))
        .ok()
        .flatten()
        .and_then(|state| state.watermark())
}

/// The reader of a concurrent stream: each worker reads with its own clone.
pub(crate) trait SharedReader<S: IncrementalStream>: Reader<S> + Clone + Send {}

impl<S: IncrementalStream, R: Reader<S> + Clone + Send> SharedReader<S> for R {}

/// What a concurrent stream's types must allow: records, cursors, partitions and states
/// shared with, or sent to, other threads.
pub(crate) trait SharedStream:
    IncrementalStream<Cursor: Sync, State: Send + Sync, Partition: Send + Sync>
{
}

impl<S: IncrementalStream<Cursor: Sync, State: Send + Sync, Partition: Send + Sync>> SharedStream
    for S
{
}

/// Reads an unpartitioned stream's windows with up to `limit` readers at once.
pub(crate) fn read_windows<S, R>(
    reader: &mut R,
    saved: &S::State,
    started_at: DateTime<Utc>,
    budget: &Budget,
    run: &mut IncrementalRun<'_, '_, S>,
) -> Result<(), Error>
where
    S: SharedStream<Partition = ()>,
    R: SharedReader<S>,
{
    let watermark = saved.watermark();
    let mut bounds = LazyBounds::default();
    let plan = plan::<S>(
        reader,
        watermark.clone(),
        started_at,
        &mut bounds,
        &run.descriptor().to_string(),
    )?;
    let workers = budget.limit();
    let queue = Queue::new(Pending::Windows {
        plan,
        next: 0,
        head: 0,
        ahead: workers * AHEAD_PER_WORKER,
    });
    let mut ledger = Ledger::new(watermark.clone());
    let mut claimed = watermark;
    // A STATE was written: the final one may be it.
    let mut stated = false;
    let descriptor = run.descriptor().clone();
    let frame = RecordFrame::new(&descriptor);
    let shared = Shared::new(run.sigterm(), run.limits());
    let job = Job {
        queue: &queue,
        shared: &shared,
        descriptor: &descriptor,
        frame: &frame,
        budget,
        started_at,
        saved: Saved::Windows(saved, &()),
    };
    let outcome = coordinate(
        reader,
        &job,
        &bounds,
        workers,
        run,
        |run, unit, watermark, point| {
            match point {
                Point::End => {
                    ledger.done(unit, watermark);
                    queue.set_head(ledger.head());
                }
                // What a STATE claimed stands: `claimed` keeps the next one from going back.
                Point::Broken => ledger.forget(unit),
                Point::Within | Point::Safe => ledger.mark(unit, watermark),
            }
            if point.due::<S>(run.written()) && ledger.low() > claimed.as_ref() && run.state_due() {
                claimed = ledger.low().cloned();
                run.write_watermark(claimed.clone())?;
                stated = true;
            }
            Ok(())
        },
    );
    match outcome {
        // The final STATE, unless the last window's end just wrote the same one.
        Ok(()) if stated && ledger.low() == claimed.as_ref() && run.written() == 0 => Ok(()),
        Ok(()) => run.write_watermark(ledger.low().cloned()),
        Err(error) => {
            // The safe state: every record at or below the low-water mark was emitted.
            if !matches!(error, Error::Output(_))
                && S::POLICY.at == CheckpointAt::Slice
                && ledger.low() > claimed.as_ref()
            {
                run.write_watermark(ledger.low().cloned())?;
            }
            Err(error)
        }
    }
}

/// Reads the partitions `partitions` of a partitioned stream with up to `limit` readers at
/// once, each partition from its watermark in the stream's book.
pub(crate) fn read_partitions<S, R>(
    reader: &mut R,
    partitions: Vec<S::Partition>,
    started_at: DateTime<Utc>,
    budget: &Budget,
    run: &mut IncrementalRun<'_, '_, S>,
) -> Result<(), Error>
where
    S: SharedStream,
    R: SharedReader<S>,
{
    let saved: Vec<(S::Partition, Option<S::Cursor>)> = partitions
        .into_iter()
        .map(|partition| {
            let watermark = run
                .book()
                .and_then(|book| book.watermark(&partition).cloned());
            (partition, watermark)
        })
        .collect();
    // The reader's bounds, asked once for every partition (not at all without one).
    let mut bounds = LazyBounds::default();
    if !saved.is_empty() {
        bounds.end(reader)?;
        if S::LOOKBACK.is_some() || saved.iter().any(|(_, watermark)| watermark.is_none()) {
            bounds.start(reader)?;
        }
    }
    let workers = budget.limit().clamp(1, saved.len().max(1));
    let queue = Queue::new(Pending::Partitions(0..saved.len()));
    let descriptor = run.descriptor().clone();
    let frame = RecordFrame::new(&descriptor);
    let shared = Shared::new(run.sigterm(), run.limits());
    let job = Job {
        queue: &queue,
        shared: &shared,
        descriptor: &descriptor,
        frame: &frame,
        budget,
        started_at,
        saved: Saved::Partitions(&saved),
    };
    // The largest watermark each partition reached: its safe point after records sent may be
    // above the watermark its core checkpointed, which a later mark (its failure's, after an
    // order violation that claims nothing more) carries. What a STATE may have claimed stands.
    let mut reached: Vec<Option<S::Cursor>> = saved
        .iter()
        .map(|(_, watermark)| watermark.clone())
        .collect();
    // Each partition's watermark in the last STATE: where a partition that broke its declared
    // order goes back to, since its safe points sent with records prove nothing.
    let mut claimed = reached.clone();
    coordinate(
        reader,
        &job,
        &bounds,
        workers,
        run,
        |run, unit, watermark, point| {
            if point == Point::Broken {
                reached[unit].clone_from(&claimed[unit]);
                run.partition_withdrawn(&saved[unit].0, claimed[unit].clone());
                return Ok(());
            }
            let due = point.due::<S>(run.written());
            if watermark > reached[unit] {
                reached[unit] = watermark;
            }
            run.partition_moved(&saved[unit].0, reached[unit].clone(), due)?;
            if run.book().is_some_and(|book| !book.dirty) {
                // A STATE holds every partition's entry now.
                claimed.clone_from(&reached);
            }
            Ok(())
        },
    )
}

/// Runs `workers` workers on `job` and writes what they send, calling `on_mark` for each mark;
/// returns once every worker ended, with the first error that stopped the stream.
fn coordinate<S, R>(
    reader: &R,
    job: &Job<'_, S>,
    bounds: &LazyBounds<S::Cursor>,
    workers: usize,
    run: &mut IncrementalRun<'_, '_, S>,
    mut on_mark: impl FnMut(
        &mut IncrementalRun<'_, '_, S>,
        usize,
        Option<S::Cursor>,
        Point,
    ) -> Result<(), Error>,
) -> Result<(), Error>
where
    S: SharedStream,
    R: SharedReader<S>,
{
    let (sender, receiver) = std::sync::mpsc::sync_channel(workers);
    // What readers log goes where the caller's logs go: LOG messages of this run.
    let dispatch = tracing::dispatcher::get_default(Clone::clone);
    // The HTTP toolkit reads the test read's settings on the readers' threads.
    let limits = crate::cli::test_read();
    let config = crate::entrypoint::run_config_handle();
    std::thread::scope(|scope| {
        for _ in 0..workers {
            let sender = sender.clone();
            let (reader, bounds, dispatch) = (reader.clone(), bounds.clone(), dispatch.clone());
            let config = config.clone();
            scope.spawn(move || {
                let _limits = crate::cli::scoped_test_read(limits);
                let _config = crate::entrypoint::scoped_run_config(config);
                tracing::dispatcher::with_default(&dispatch, || {
                    Worker::new(job, sender, bounds).work(reader);
                });
            });
        }
        drop(sender);
        let _release = Release(job.queue, job.shared);
        let mut failure = None;
        // Units that broke their declared order: their marks claim nothing.
        let mut broken = std::collections::BTreeSet::new();
        for message in receiver {
            if matches!(failure, Some(Error::Output(_))) {
                // Nothing more can be written: the workers are stopping, their output dropped.
                continue;
            }
            if S::POLICY.period.is_some() {
                let elapsed = run.period_elapsed();
                job.shared.period_elapsed.store(elapsed, Ordering::Relaxed);
            }
            let written = match message {
                Message::Records {
                    unit,
                    lines,
                    count,
                    safe,
                } => run.write_lines(&lines, count).and_then(|()| {
                    if broken.contains(&unit) {
                        return Ok(());
                    }
                    on_mark(run, unit, safe, Point::Within)
                }),
                Message::Mark { unit, .. } if broken.contains(&unit) => Ok(()),
                Message::Mark {
                    unit,
                    watermark,
                    done,
                } => {
                    let point = if done { Point::End } else { Point::Safe };
                    on_mark(run, unit, watermark, point)
                }
                Message::Broke { unit } => {
                    broken.insert(unit);
                    on_mark(run, unit, None, Point::Broken)
                }
                Message::Failed(error) => {
                    if failure.is_none() {
                        failure = Some(error);
                        job.shared.halt.store(true, Ordering::Relaxed);
                        job.queue.close();
                    }
                    Ok(())
                }
                Message::Estimate(rows) => run.estimate(rows),
                Message::RateLimited(reset) => run.rate_limited(reset),
                Message::Control(config) => run.control(&config),
            };
            if let Err(error) = written {
                failure = Some(error);
                job.shared.halt.store(true, Ordering::Relaxed);
                job.queue.close();
            }
        }
        failure.map_or(Ok(()), Err)
    })
}

/// Stops a stream's workers when its coordinator leaves, however it leaves: after a panic in
/// it (the connector's cursor or state code, as a STATE is written), no worker may wait for
/// windows it would have handed out, or the scope would wait for that worker for ever.
struct Release<'q, S: IncrementalStream>(&'q Queue<S>, &'q Shared);

impl<S: IncrementalStream> Drop for Release<'_, S> {
    fn drop(&mut self) {
        self.1.halt.store(true, Ordering::Relaxed);
        self.0.close();
    }
}
