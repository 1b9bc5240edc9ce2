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

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::SyncSender;
use std::sync::{Condvar, Mutex, PoisonError};

use chrono::{DateTime, Utc};
use serde_json::value::RawValue;

use crate::contract::{Admit, Core, Declared, Failure, SliceBounds};
use crate::emitter::{self, Clock, Emitter, RecordFrame};
use crate::error::Error;
use crate::partition::Book;
use crate::protocol::StreamDescriptor;
use crate::source::{
    Incremental, IncrementalRun, LazyBounds, Reader, RecordSink, Sink, StreamFailure,
    interruptible_wait, panic_message, plan, refused, run_stream, stopped,
};
use crate::stream::{CheckpointAt, IncrementalStream, Slice, StreamState};

/// A worker sends its records once this many bytes of lines are pending.
const CHUNK: usize = 8 * 1024;

/// How many windows past the lowest unfinished one may be read, per worker: finished windows
/// above an unfinished one wait in the ledger, and their records are sent again if the sync
/// fails before the low-water mark passes them.
const AHEAD_PER_WORKER: usize = 4;

/// The low-water mark of windows read at the same time: the largest watermark such that every
/// record at or below it, in every window, has been emitted.
///
/// Windows are numbered from 0 in cursor order. A window that finished reports the watermark
/// its core reached at its end (its upper bound, or below it where the time cap holds it back);
/// a window still being read may report a safe point inside it. The mark only takes a window's
/// watermark once every window below it finished, so it never passes an unfinished window.
#[derive(Debug, Clone)]
pub(crate) struct Ledger<C> {
    /// The lowest window not finished.
    head: usize,
    /// Finished windows above the head, with their watermarks.
    done: BTreeMap<usize, Option<C>>,
    /// The latest safe point inside windows being read above the head.
    marks: BTreeMap<usize, C>,
    /// The low-water mark.
    low: Option<C>,
}

impl<C: Ord + Clone> Ledger<C> {
    /// A ledger starting from `low`, the saved watermark.
    pub(crate) fn new(low: Option<C>) -> Self {
        Ledger {
            head: 0,
            done: BTreeMap::new(),
            marks: BTreeMap::new(),
            low,
        }
    }

    /// The lowest window not finished.
    pub(crate) fn head(&self) -> usize {
        self.head
    }

    /// The low-water mark.
    pub(crate) fn low(&self) -> Option<&C> {
        self.low.as_ref()
    }

    /// Every record of window `index` at or below `watermark` has been emitted: a safe point
    /// inside it (a checkpoint, or where its reader failed).
    pub(crate) fn mark(&mut self, index: usize, watermark: Option<C>) {
        let Some(watermark) = watermark else { return };
        if index == self.head {
            raise(&mut self.low, watermark);
        } else if index > self.head {
            let mark = self.marks.entry(index).or_insert_with(|| watermark.clone());
            if watermark > *mark {
                *mark = watermark;
            }
        }
    }

    /// Window `index` was read in full, up to `watermark`.
    pub(crate) fn done(&mut self, index: usize, watermark: Option<C>) {
        if index != self.head {
            if index > self.head {
                self.marks.remove(&index);
                self.done.insert(index, watermark);
            }
            return;
        }
        let mut finished = watermark;
        loop {
            if let Some(watermark) = finished {
                raise(&mut self.low, watermark);
            }
            self.head += 1;
            match self.done.remove(&self.head) {
                Some(watermark) => finished = watermark,
                None => break,
            }
        }
        if let Some(mark) = self.marks.remove(&self.head) {
            raise(&mut self.low, mark);
        }
    }
}

/// Raises `low` to `watermark` if that is above it.
fn raise<C: Ord>(low: &mut Option<C>, watermark: C) {
    if low.as_ref().is_none_or(|low| watermark > *low) {
        *low = Some(watermark);
    }
}

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
    std::thread::scope(|scope| {
        for (index, (_, job)) in jobs.into_iter().enumerate() {
            let (sender, template, dispatch) = (sender.clone(), template.clone(), dispatch.clone());
            let closed = &closed;
            scope.spawn(move || {
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

/// What a worker tells the coordinator.
enum Message<C> {
    /// Complete record lines of unit `unit`, how many, and the unit's safe watermark after
    /// them (the larger of `Core::safe` and `Core::watermark`): a STATE may claim it, though
    /// it is no safe point to emit one.
    Records {
        unit: usize,
        lines: Vec<u8>,
        count: u64,
        safe: Option<C>,
    },
    /// Every record of unit `unit` at or below `watermark` has been sent; `done` once the unit
    /// was read in full.
    Mark {
        unit: usize,
        watermark: Option<C>,
        done: bool,
    },
    /// The unit's reader failed, after the mark of its safe watermark.
    Failed(Error),
    /// `Sink::estimate`.
    Estimate(u64),
    /// `Sink::rate_limited`.
    RateLimited(Option<DateTime<Utc>>),
}

/// What the workers of one stream share.
struct Shared {
    /// SIGTERM arrived.
    sigterm: Option<&'static AtomicBool>,
    /// The stream stops: a unit failed, or output did.
    halt: AtomicBool,
    /// With `checkpoint_every`: the period elapsed since the stream's previous STATE, as the
    /// coordinator's clock says.
    period_elapsed: AtomicBool,
}

impl Shared {
    /// Why the stream stops, if it does.
    fn stop(&self, stream: &StreamDescriptor) -> Option<Error> {
        if self
            .sigterm
            .is_some_and(|flag| flag.load(Ordering::Relaxed))
        {
            Some(Error::Terminated {
                stream: stream.to_string(),
            })
        } else if self.halt.load(Ordering::Relaxed) {
            Some(Error::system(format!(
                "stream `{stream}`: stopped, another of its readers failed"
            )))
        } else {
            None
        }
    }
}

/// Where a unit's watermark was taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Point {
    /// After some of its records: the STATE may hold it, but is not due for it.
    Within,
    /// At a checkpoint the core allowed, or where the reader failed.
    Safe,
    /// At the unit's end.
    End,
}

impl Point {
    /// Whether a STATE may be due here, given the records written since the previous one.
    fn due<S: IncrementalStream>(self, written: u64) -> bool {
        match self {
            Point::Within => false,
            // With `checkpoint_interval`, every N records of the stream, not of each reader.
            Point::Safe => S::POLICY.interval.is_none_or(|n| written >= n.get()),
            Point::End => true,
        }
    }
}

/// A unit of work: a window (its index and bounds) or a partition (its index).
enum Unit<C> {
    Window(usize, SliceBounds<C>),
    Partition(usize),
}

/// The units still to read.
struct Queue<S: IncrementalStream> {
    pending: Mutex<Pending<S>>,
    /// The head moved, or the queue closed.
    moved: Condvar,
}

enum Pending<S: IncrementalStream> {
    /// Windows, handed out from the stream's plan, at most `ahead` past the head.
    Windows {
        plan: Core<Declared<S>>,
        next: usize,
        head: usize,
        ahead: usize,
    },
    /// Partitions, by index.
    Partitions(std::ops::Range<usize>),
    /// Nothing more is handed out.
    Closed,
}

impl<S: IncrementalStream> Queue<S> {
    fn new(pending: Pending<S>) -> Self {
        Queue {
            pending: Mutex::new(pending),
            moved: Condvar::new(),
        }
    }

    /// The next unit to read; `None` once every unit was handed out or the stream stopped.
    fn take(&self) -> Option<Unit<S::Cursor>> {
        let mut pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
        loop {
            match &mut *pending {
                Pending::Closed => return None,
                Pending::Partitions(indices) => return indices.next().map(Unit::Partition),
                Pending::Windows {
                    plan,
                    next,
                    head,
                    ahead,
                } => {
                    if *next < *head + *ahead {
                        let (bounds, _) = plan.take_slice()?;
                        *next += 1;
                        return Some(Unit::Window(*next - 1, bounds));
                    }
                }
            }
            pending = self
                .moved
                .wait(pending)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }

    /// Windows below `head` are finished: more may start.
    fn set_head(&self, new_head: usize) {
        let mut pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
        if let Pending::Windows { head, .. } = &mut *pending {
            *head = new_head;
        }
        self.moved.notify_all();
    }

    /// Hands out nothing more.
    fn close(&self) {
        *self.pending.lock().unwrap_or_else(PoisonError::into_inner) = Pending::Closed;
        self.moved.notify_all();
    }
}

/// What every worker of a stream reads from.
struct Job<'j, S: IncrementalStream> {
    queue: &'j Queue<S>,
    shared: &'j Shared,
    descriptor: &'j StreamDescriptor,
    frame: &'j RecordFrame,
    /// The readers' permits, shared by the run's streams.
    budget: &'j Budget,
    started_at: DateTime<Utc>,
    /// Windows: the stream's saved state. Partitions: each partition's, by index.
    saved: Saved<'j, S>,
}

enum Saved<'j, S: IncrementalStream> {
    /// The stream's state, and its one partition (`()`).
    Windows(&'j S::State, &'j S::Partition),
    Partitions(&'j [(S::Partition, Option<S::Cursor>)]),
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
    let descriptor = run.descriptor().clone();
    let frame = RecordFrame::new(&descriptor);
    let shared = Shared {
        sigterm: run.sigterm(),
        halt: AtomicBool::new(false),
        period_elapsed: AtomicBool::new(false),
    };
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
            if point == Point::End {
                ledger.done(unit, watermark);
                queue.set_head(ledger.head());
            } else {
                ledger.mark(unit, watermark);
            }
            if point.due::<S>(run.written()) && ledger.low() > claimed.as_ref() && run.state_due() {
                claimed = ledger.low().cloned();
                run.write_watermark(claimed.clone())?;
            }
            Ok(())
        },
    );
    match outcome {
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
    // The reader's bounds, asked once for every partition.
    let mut bounds = LazyBounds::default();
    bounds.end(reader)?;
    if S::LOOKBACK.is_some() || saved.iter().any(|(_, watermark)| watermark.is_none()) {
        bounds.start(reader)?;
    }
    let workers = budget.limit().clamp(1, saved.len().max(1));
    let queue = Queue::new(Pending::Partitions(0..saved.len()));
    let descriptor = run.descriptor().clone();
    let frame = RecordFrame::new(&descriptor);
    let shared = Shared {
        sigterm: run.sigterm(),
        halt: AtomicBool::new(false),
        period_elapsed: AtomicBool::new(false),
    };
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
    coordinate(
        reader,
        &job,
        &bounds,
        workers,
        run,
        |run, unit, watermark, point| {
            let due = point.due::<S>(run.written());
            if watermark > reached[unit] {
                reached[unit] = watermark;
            }
            run.partition_moved(&saved[unit].0, reached[unit].clone(), due)
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
    std::thread::scope(|scope| {
        for _ in 0..workers {
            let sender = sender.clone();
            let (reader, bounds, dispatch) = (reader.clone(), bounds.clone(), dispatch.clone());
            scope.spawn(move || {
                tracing::dispatcher::with_default(&dispatch, || {
                    Worker::new(job, sender, bounds).work(reader);
                });
            });
        }
        drop(sender);
        let mut failure = None;
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
                } => run
                    .write_lines(&lines, count)
                    .and_then(|()| on_mark(run, unit, safe, Point::Within)),
                Message::Mark {
                    unit,
                    watermark,
                    done,
                } => {
                    let point = if done { Point::End } else { Point::Safe };
                    on_mark(run, unit, watermark, point)
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

/// One worker: reads units with its clone of the reader, through a core of its own for the
/// unit being read.
struct Worker<'j, S: IncrementalStream> {
    job: &'j Job<'j, S>,
    sender: SyncSender<Message<S::Cursor>>,
    bounds: LazyBounds<S::Cursor>,
    /// The unit being read, its core and (for a partition) its key.
    unit: usize,
    core: Option<Core<Declared<S>>>,
    partition: Option<&'j S::Partition>,
    /// Record lines not sent yet, and how many.
    lines: Vec<u8>,
    count: u64,
    clock: Clock,
    /// A record is being serialized: a panic now leaves it half-written and already counted.
    writing: bool,
    /// The first error `emit` returned; the unit is over once it is set.
    failed: Option<Error>,
}

impl<'j, S: SharedStream> Worker<'j, S> {
    fn new(
        job: &'j Job<'j, S>,
        sender: SyncSender<Message<S::Cursor>>,
        bounds: LazyBounds<S::Cursor>,
    ) -> Self {
        Worker {
            job,
            sender,
            bounds,
            unit: 0,
            core: None,
            partition: None,
            lines: Vec::with_capacity(CHUNK + 1024),
            count: 0,
            clock: Clock::default(),
            writing: false,
            failed: None,
        }
    }

    /// Reads units until none is left or one fails.
    fn work<R: Reader<S>>(mut self, mut reader: R) {
        while let Some(unit) = self.job.queue.take() {
            let _permit = self.job.budget.acquire();
            let read = match unit {
                Unit::Window(index, bounds) => self.window(&mut reader, index, bounds),
                Unit::Partition(index) => self.partition(&mut reader, index),
            };
            if let Err(error) = read {
                self.fail(error);
                return;
            }
        }
    }

    /// Reads window `index`, then marks it done.
    fn window<R: Reader<S>>(
        &mut self,
        reader: &mut R,
        index: usize,
        bounds: SliceBounds<S::Cursor>,
    ) -> Result<(), Error> {
        let Saved::Windows(state, unit) = self.job.saved else {
            return Err(Error::system("a window of a partitioned stream"));
        };
        self.unit = index;
        let core = self.core.insert(Core::window(
            Declared::<S>::new(),
            state.watermark(),
            self.job.started_at,
            bounds,
        ));
        let Some((lower, upper)) = core.next_slice() else {
            // Nothing to read in it; it is done all the same, or the low-water mark (and the
            // windows handed out past it) would wait for it forever.
            return self.mark(true);
        };
        let end = match &upper {
            std::ops::Bound::Included(end) => Some(end.clone()),
            _ => None,
        };
        self.read_slice(reader, &Slice::new(state, unit, lower, upper))?;
        if let Some(core) = &mut self.core {
            core.finish_window(end.as_ref());
        }
        self.mark(true)
    }

    /// Reads partition `index` slice by slice from its watermark, then marks it done.
    fn partition<R: Reader<S>>(&mut self, reader: &mut R, index: usize) -> Result<(), Error> {
        let Saved::Partitions(saved) = self.job.saved else {
            return Err(Error::system("a partition of an unpartitioned stream"));
        };
        let (partition, watermark) = &saved[index];
        self.unit = index;
        self.partition = Some(partition);
        self.core = None;
        let state = S::State::from_watermark(watermark.clone());
        let core = plan::<S>(
            reader,
            watermark.clone(),
            self.job.started_at,
            &mut self.bounds,
            &self.job.descriptor.to_string(),
        )?;
        self.core = Some(core);
        while let Some((lower, upper)) = self.core.as_mut().and_then(Core::next_slice) {
            self.read_slice(reader, &Slice::new(&state, partition, lower, upper))?;
            self.tell_period();
            if self.core.as_mut().and_then(Core::slice_done).is_some() {
                self.mark(false)?;
            }
        }
        if let Some(core) = &mut self.core {
            core.finish();
        }
        self.mark(true)
    }

    /// Calls the reader on one slice; a panic is reported like an error.
    fn read_slice<R: Reader<S>>(
        &mut self,
        reader: &mut R,
        slice: &Slice<'_, S>,
    ) -> Result<(), Error> {
        if let Some(error) = self.job.shared.stop(self.job.descriptor) {
            return Err(error);
        }
        let read = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            reader.read(slice, &mut Sink::new(self))
        }))
        .unwrap_or_else(|payload| {
            if std::mem::take(&mut self.writing)
                && let Some(core) = &mut self.core
            {
                core.retract();
            }
            emitter::truncate_to_line(&mut self.lines);
            Err(Error::Panic {
                stream: self.job.descriptor.to_string(),
                message: panic_message(payload.as_ref()),
            })
        });
        // An error from `Sink::emit` wins over what the reader made of it.
        match self.failed.take() {
            Some(error) => Err(error),
            None => read,
        }
    }

    /// With `checkpoint_every`, tells the core whether the period elapsed.
    fn tell_period(&mut self) {
        if S::POLICY.period.is_some()
            && let Some(core) = &mut self.core
        {
            core.set_period_elapsed(self.job.shared.period_elapsed.load(Ordering::Relaxed));
        }
    }

    /// Sends the pending lines, then a mark of the core's watermark.
    fn mark(&mut self, done: bool) -> Result<(), Error> {
        self.send_lines()?;
        let watermark = self
            .core
            .as_ref()
            .and_then(|core| core.watermark().cloned());
        self.send(Message::Mark {
            unit: self.unit,
            watermark,
            done,
        })
    }

    /// The unit failed: the safe watermark of its core, then the error.
    fn fail(&mut self, error: Error) {
        let failure = match &error {
            Error::OrderViolation { .. } => Failure::SourceOutOfOrder,
            _ => Failure::Stopped,
        };
        if let Some(core) = &mut self.core {
            core.fail(failure);
        }
        let _ = self.mark(false);
        let _ = self.send(Message::Failed(error));
    }

    fn send_lines(&mut self) -> Result<(), Error> {
        if self.count == 0 {
            return Ok(());
        }
        let lines = std::mem::replace(&mut self.lines, Vec::with_capacity(CHUNK + 1024));
        let count = std::mem::take(&mut self.count);
        // The safe point after the records may lie below the core's watermark: inside a
        // partition's later window, the largest value below the last record is still one of
        // an earlier window, whose end the watermark already reached. Never below it.
        let safe = self
            .core
            .as_ref()
            .and_then(|core| core.safe().max(core.watermark()).cloned());
        self.send(Message::Records {
            unit: self.unit,
            lines,
            count,
            safe,
        })
    }

    fn send(&self, message: Message<S::Cursor>) -> Result<(), Error> {
        self.sender
            .send(message)
            .map_err(|_| Error::system("the stream's output ended"))
    }

    fn try_emit(&mut self, record: &S) -> Result<(), Error> {
        if let Some(error) = self.job.shared.stop(self.job.descriptor) {
            return Err(error);
        }
        let Some(core) = &mut self.core else {
            return Err(Error::system(format!(
                "stream `{}`: a record was emitted outside of `Reader::read`",
                self.job.descriptor
            )));
        };
        if let Some(partition) = self.partition
            && record.partition() != partition
        {
            return Err(Error::system(format!(
                "stream `{}`: a record of partition {:?} was emitted while reading partition \
                 {partition:?}",
                self.job.descriptor,
                record.partition()
            )));
        }
        if S::POLICY.period.is_some() {
            core.set_period_elapsed(self.job.shared.period_elapsed.load(Ordering::Relaxed));
        }
        let admit = core
            .admit(record.cursor().as_deref())
            .map_err(|refusal| refused::<S>(refusal, &self.job.descriptor.to_string()))?;
        match admit {
            Admit::Drop => return Ok(()),
            Admit::Emit => {}
            Admit::CheckpointThenEmit { .. } => self.mark(false)?,
        }
        self.writing = true;
        let written = emitter::record_line(
            &mut self.lines,
            self.job.frame,
            &mut self.clock,
            record,
            &self.job.descriptor.name,
        );
        self.writing = false;
        if let Err(error) = written {
            if let Some(core) = &mut self.core {
                core.retract();
            }
            return Err(error);
        }
        self.count += 1;
        if self.lines.len() >= CHUNK {
            self.send_lines()?;
        }
        Ok(())
    }
}

impl<S: SharedStream> RecordSink<S> for Worker<'_, S> {
    fn emit(&mut self, record: &S) -> Result<(), Error> {
        if let Some(error) = &self.failed {
            return Err(stopped(error));
        }
        self.try_emit(record).map_err(|error| {
            let returned = stopped(&error);
            self.failed = Some(error);
            returned
        })
    }

    fn estimate(&mut self, rows: u64) -> Result<(), Error> {
        self.send(Message::Estimate(rows))
    }

    fn rate_limited(&mut self, quota_reset: Option<DateTime<Utc>>) -> Result<(), Error> {
        self.send(Message::RateLimited(quota_reset))
    }

    fn wait(&mut self, duration: std::time::Duration) -> Result<(), Error> {
        self.send_lines()?;
        let (shared, descriptor) = (self.job.shared, self.job.descriptor);
        interruptible_wait(duration, || shared.stop(descriptor))
    }

    fn caught_up(&self) -> bool {
        self.core.as_ref().is_some_and(Core::caught_up)
    }

    fn save_position(&mut self, _position: Result<Box<RawValue>, Error>) -> Result<(), Error> {
        Err(Error::system(format!(
            "stream `{}` is incremental: its state is its cursor, and `save_position` is for \
             full-refresh streams",
            self.job.descriptor
        )))
    }
}

#[cfg(test)]
mod tests {
    //! The ledger against a model over generated finish orders; SIGTERM at a generated record
    //! of a sync reading windows and partitions at once; the records in flight under a slow
    //! stdout.

    use std::collections::{BTreeMap, BTreeSet};
    use std::io::Write;
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

    use proptest::prelude::*;
    use serde_json::{Value, json};

    use super::{Budget, CHUNK, Ledger};
    use crate::emitter::Emitter;
    use crate::state::InputState;
    use crate::{Error, Partitions, Reader, Sink, Slice, Source, Streams};

    /// Windows of 10 from `BASE`: window `i` is `(BASE + 10 i, BASE + 10 (i + 1)]`.
    const BASE: u64 = 100;

    /// What a window's reader tells the ledger.
    #[derive(Debug, Clone, Copy)]
    enum Event {
        /// A safe point inside the window, this far past its lower bound (1 to 9).
        Mark(u64),
        /// The window was read in full.
        Done,
    }

    fn lower(window: usize) -> u64 {
        BASE + 10 * window as u64
    }

    /// A schedule: whether a saved state (at `BASE`) is resumed from, each window's events (its
    /// marks, then whether it finishes), the first window past the time cap (finishing with no
    /// watermark, and without marks), and picks that interleave the windows' events.
    fn schedule() -> impl Strategy<Value = (bool, Vec<Vec<Event>>, usize, Vec<usize>)> {
        let window = (proptest::collection::vec(1..10_u64, 0..4), any::<bool>()).prop_map(
            |(marks, finishes)| {
                let mut events: Vec<Event> = marks.into_iter().map(Event::Mark).collect();
                if finishes {
                    events.push(Event::Done);
                }
                events
            },
        );
        (1..8_usize).prop_flat_map(move |windows| {
            (
                any::<bool>(),
                proptest::collection::vec(window.clone(), windows),
                0..=windows,
                proptest::collection::vec(any::<usize>(), 40),
            )
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 4096, failure_persistence: None, ..ProptestConfig::default() })]

        /// Whatever order windows finish in and whatever safe points they report, the ledger's
        /// mark is the model's (the largest watermark of the contiguous finished prefix, or the
        /// latest safe point inside the lowest unfinished window), never moves backwards, and
        /// never passes the lowest unfinished window's lower bound but by its own safe point.
        #[test]
        fn the_low_water_mark_is_the_contiguous_finished_prefix(
            (saved, mut windows, capped, picks) in schedule()
        ) {
            for events in &mut windows[capped..] {
                events.retain(|event| matches!(event, Event::Done));
            }
            let count = windows.len();
            let saved = saved.then_some(BASE);
            let mut ledger = Ledger::new(saved);
            let mut done = vec![false; count];
            let mut marked: Vec<Option<u64>> = vec![None; count];
            let mut next = vec![0_usize; count];
            let mut picks = picks.into_iter().cycle();
            let mut previous = saved;
            loop {
                let open: Vec<usize> = (0..count).filter(|&w| next[w] < windows[w].len()).collect();
                if open.is_empty() {
                    break;
                }
                let window = open[picks.next().unwrap_or_default() % open.len()];
                let event = windows[window][next[window]];
                next[window] += 1;
                let upper = lower(window) + 10;
                match event {
                    Event::Mark(offset) => {
                        let mark = lower(window) + offset;
                        marked[window] = marked[window].max(Some(mark));
                        ledger.mark(window, Some(mark));
                    }
                    Event::Done => {
                        done[window] = true;
                        ledger.done(window, (window < capped).then_some(upper));
                    }
                }
                // The model.
                let head = done.iter().position(|done| !done).unwrap_or(count);
                let prefix = (0..head).filter(|&w| w < capped).map(|w| lower(w) + 10).max();
                let inside = marked.get(head).copied().flatten();
                let model = saved.max(prefix).max(inside);
                prop_assert_eq!(ledger.head(), head);
                prop_assert_eq!(ledger.low().copied(), model);
                prop_assert!(ledger.low().copied() >= previous, "the mark moved backwards");
                previous = ledger.low().copied();
                if head < count {
                    let low = ledger.low().copied().unwrap_or(0);
                    prop_assert!(
                        low <= lower(head) || inside.is_some_and(|inside| low <= inside),
                        "the mark {} passes the unfinished window {}",
                        low,
                        head
                    );
                    prop_assert!(low < lower(head) + 10, "the mark reaches an unfinished window's end");
                }
            }
        }
    }

    /// A record of a stream read in windows of 10 ids, a STATE at most every hour: within a
    /// test, only the final one (or the safe one after a failure).
    #[derive(Debug, Clone, serde::Serialize, schemars::JsonSchema)]
    #[crate::incremental_stream(
        crate = "crate",
        name = "ticks",
        cursor = "id",
        primary_key = "id",
        step = 10,
        checkpoint_every = "PT1H"
    )]
    struct Tick {
        id: u64,
    }

    /// A record of a stream partitioned by `shard`, checkpointed every 3 records.
    #[derive(Debug, Clone, serde::Serialize, schemars::JsonSchema)]
    #[crate::incremental_stream(
        crate = "crate",
        name = "items",
        cursor = "id",
        partition = "shard",
        primary_key = ["shard", "id"],
        checkpoint_interval = 3
    )]
    struct Item {
        shard: u32,
        id: u64,
    }

    #[derive(serde::Deserialize, schemars::JsonSchema)]
    struct Config {
        /// Ids of `ticks`: `1..=ticks`.
        ticks: u64,
        /// Shards of `items`, each with ids `1..=items`.
        shards: u32,
        items: u64,
        concurrency: usize,
    }

    /// A source whose readers set `stop` (as SIGTERM would) once `stop_at` records were
    /// emitted, and count what they emit.
    struct Stopping {
        stop: &'static AtomicBool,
        stop_at: u64,
        emitted: AtomicU64,
    }

    impl Stopping {
        fn emitted(&self) {
            if self.emitted.fetch_add(1, Ordering::Relaxed) + 1 == self.stop_at {
                self.stop.store(true, Ordering::Relaxed);
            }
            std::thread::yield_now();
        }
    }

    #[derive(Clone)]
    struct Ticks<'s> {
        source: &'s Stopping,
        end: u64,
    }

    impl Reader<Tick> for Ticks<'_> {
        fn read(&mut self, slice: &Slice<Tick>, out: &mut Sink<Tick>) -> Result<(), Error> {
            let first = match slice.lower() {
                std::ops::Bound::Included(&id) => id.max(1),
                std::ops::Bound::Excluded(&id) => id + 1,
                std::ops::Bound::Unbounded => 1,
            };
            for id in first..=slice.until().copied().unwrap_or(self.end) {
                out.emit(&Tick { id })?;
                self.source.emitted();
            }
            Ok(())
        }

        fn start(&mut self) -> Result<Option<u64>, Error> {
            Ok(Some(0))
        }

        fn end(&mut self) -> Result<Option<u64>, Error> {
            Ok(Some(self.end))
        }
    }

    impl Source for Stopping {
        const NAME: &'static str = "source-stopping";
        type Config = Config;

        fn streams<'a>(&'a self, config: &'a Config) -> Result<Streams<'a>, Error> {
            Ok(Streams::new()
                .concurrency(config.concurrency)
                .concurrent(Ticks {
                    source: self,
                    end: config.ticks,
                })
                .concurrent_partitioned(
                    Partitions::list(0..config.shards),
                    move |slice: &Slice<Item>, out: &mut Sink<Item>| {
                        let shard = *slice.partition();
                        let first = slice.after().map_or(1, |id| id + 1);
                        for id in first..=config.items {
                            out.emit(&Item { shard, id })?;
                            self.emitted();
                        }
                        Ok(())
                    },
                ))
        }
    }

    /// Runs `read` in-process with the SIGTERM flag `stop`: the exit code and stdout.
    fn read_stoppable(source: &Stopping, config: &Value, state: Option<&Value>) -> (u8, String) {
        let catalog = crate::testing::incremental_catalog(source, config);
        let catalog = crate::input::parse_catalog(
            &serde_json::to_vec(&catalog).expect("a catalog serializes"),
            std::path::Path::new("catalog"),
        )
        .expect("a valid catalog");
        let state = state.map_or_else(InputState::default, |state| {
            InputState::from_json(state).expect("a valid state")
        });
        let (mut stdout, mut stderr) = (Vec::new(), Vec::new());
        let mut out = Emitter::new(&mut stdout);
        out.stop_on(source.stop);
        let code = crate::entrypoint::read(
            source,
            config.clone(),
            &catalog,
            &state,
            &mut out,
            &mut stderr,
        )
        .and_then(|code| out.flush().map(|()| code))
        .unwrap_or(1);
        drop(out);
        (code, String::from_utf8(stdout).expect("UTF-8"))
    }

    /// A stream's records `(partition, id)`, its STATEs' watermarks per partition, checked to
    /// follow the records they cover with an exact `recordCount` and to never move backwards,
    /// its statuses and its errors.
    #[derive(Default, Debug)]
    struct Seen {
        records: BTreeSet<(u64, u64)>,
        last: BTreeMap<u64, u64>,
        statuses: Vec<String>,
        errors: Vec<Value>,
    }

    fn watermarks(state: &Value) -> BTreeMap<u64, u64> {
        match state.get("states") {
            Some(states) => states
                .as_array()
                .into_iter()
                .flatten()
                .map(|entry| {
                    let partition = entry["partition"].as_u64().expect("a shard");
                    (partition, entry["cursor"]["id"].as_u64().expect("an id"))
                })
                .collect(),
            None => state["id"].as_u64().map(|id| (0, id)).into_iter().collect(),
        }
    }

    /// Reads stdout stream by stream, checking properties 3, 5 and 6 (a resumed sync starts
    /// from `from`, whose records it must not send again).
    fn seen(stdout: &str, from: &BTreeMap<String, BTreeMap<u64, u64>>) -> BTreeMap<String, Seen> {
        let mut streams: BTreeMap<String, Seen> = BTreeMap::new();
        let mut since: BTreeMap<String, u64> = BTreeMap::new();
        let name = |value: &Value| value.as_str().expect("a name").to_owned();
        for line in stdout.lines() {
            let message: Value = serde_json::from_str(line).expect("a JSON line");
            match message["type"].as_str().expect("a type") {
                "RECORD" => {
                    let stream = name(&message["record"]["stream"]);
                    let data = &message["record"]["data"];
                    let key = (
                        data["shard"].as_u64().unwrap_or(0),
                        data["id"].as_u64().expect("id"),
                    );
                    let mark = from.get(&stream).and_then(|marks| marks.get(&key.0));
                    assert!(
                        mark.is_none_or(|&mark| key.1 > mark),
                        "{stream} {key:?} sent again"
                    );
                    let fresh = streams
                        .entry(stream.clone())
                        .or_default()
                        .records
                        .insert(key);
                    assert!(fresh, "{stream} {key:?} twice");
                    *since.entry(stream).or_default() += 1;
                }
                "STATE" => {
                    let state = &message["state"];
                    let stream = name(&state["stream"]["stream_descriptor"]["name"]);
                    let count = since.remove(&stream).unwrap_or(0);
                    #[expect(clippy::cast_precision_loss, reason = "a few hundred records")]
                    let count = count as f64;
                    assert_eq!(
                        state["sourceStats"]["recordCount"].as_f64(),
                        Some(count),
                        "{line}"
                    );
                    let seen = streams.entry(stream.clone()).or_default();
                    for (partition, mark) in watermarks(&state["stream"]["stream_state"]) {
                        let before = from.get(&stream).and_then(|marks| marks.get(&partition));
                        let previous = seen.last.get(&partition).or(before);
                        assert!(
                            previous.is_none_or(|&previous| mark >= previous),
                            "backwards: {line}"
                        );
                        for id in before.map_or(1, |before| before + 1)..=mark {
                            assert!(
                                seen.records.contains(&(partition, id)),
                                "{line} before {stream} {partition}/{id}:\n{stdout}"
                            );
                        }
                        seen.last.insert(partition, mark);
                    }
                }
                "TRACE" => {
                    let trace = &message["trace"];
                    if let Some(status) = trace["stream_status"]["status"].as_str() {
                        let stream = name(&trace["stream_status"]["stream_descriptor"]["name"]);
                        streams
                            .entry(stream)
                            .or_default()
                            .statuses
                            .push(status.to_owned());
                    }
                    if trace["type"] == "ERROR" {
                        let stream = name(&trace["error"]["stream_descriptor"]["name"]);
                        streams
                            .entry(stream)
                            .or_default()
                            .errors
                            .push(trace["error"].clone());
                    }
                }
                _ => {}
            }
        }
        streams
    }

    /// The largest `m` with every id `1..=m` of `partition` in `records`.
    fn contiguous(records: &BTreeSet<(u64, u64)>, partition: u64) -> u64 {
        let mut m = 0;
        while records.contains(&(partition, m + 1)) {
            m += 1;
        }
        m
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 48, failure_persistence: None, ..ProptestConfig::default() })]

        /// SIGTERM after any record: every stream being read stops with its safe state flushed
        /// (every partition, or the low-water mark, at most one id short of what was emitted
        /// without a gap, since the last id may have a tie still to come), INCOMPLETE and one
        /// TRACE ERROR naming the signal; the next sync completes without loss and without
        /// sending a committed record again.
        #[test]
        fn sigterm_after_any_record_flushes_every_safe_state_and_the_next_sync_loses_nothing(
            stop_at in 1..=88_u64,
            concurrency in 1..9_usize,
        ) {
            static STOP: AtomicBool = AtomicBool::new(false);
            STOP.store(false, Ordering::Relaxed);
            let config = json!({"ticks": 40, "shards": 4, "items": 12, "concurrency": concurrency});
            let source = Stopping { stop: &STOP, stop_at, emitted: AtomicU64::new(0) };
            let (code, stdout) = read_stoppable(&source, &config, None);
            let streams = seen(&stdout, &BTreeMap::new());
            let stopped: Vec<&String> = streams
                .iter()
                .filter(|(_, seen)| !seen.errors.is_empty())
                .map(|(name, _)| name)
                .collect();
            // Both streams are read at the same time: each one either completed (its last
            // record came before the flag) or stopped with one TRACE ERROR naming the signal.
            prop_assert_eq!(code == 1, !stopped.is_empty(), "{}", stdout);
            for (name, seen) in &streams {
                if seen.errors.is_empty() {
                    prop_assert_eq!(seen.statuses.last().map(String::as_str), Some("COMPLETE"), "{}", name);
                } else {
                    prop_assert_eq!(seen.errors.len(), 1);
                    prop_assert_eq!(&seen.errors[0]["failure_type"], "transient_error");
                    prop_assert!(seen.errors[0]["message"].as_str().is_some_and(|m| m.contains("SIGTERM")));
                    prop_assert_eq!(seen.statuses.last().map(String::as_str), Some("INCOMPLETE"));
                }
            }
            for (name, seen) in &streams {
                let partitions: Vec<u64> = if name == "ticks" { vec![0] } else { (0..4).collect() };
                for partition in partitions {
                    let m = contiguous(&seen.records, partition);
                    let mark = seen.last.get(&partition).copied().unwrap_or(0);
                    prop_assert!(
                        mark + 1 >= m,
                        "{} partition {}: the last STATE is at {} though 1..={} were emitted:\n{}",
                        name, partition, mark, m, stdout
                    );
                }
            }

            // The next sync, from the last state a destination kept.
            let mut state: Vec<Value> = Vec::new();
            for line in stdout.lines() {
                let message: Value = serde_json::from_str(line).expect("JSON");
                if message["type"] == "STATE" {
                    let descriptor = &message["state"]["stream"]["stream_descriptor"];
                    state.retain(|kept| kept["stream"]["stream_descriptor"] != *descriptor);
                    state.push(message["state"].clone());
                }
            }
            let from: BTreeMap<String, BTreeMap<u64, u64>> =
                streams.iter().map(|(name, seen)| (name.clone(), seen.last.clone())).collect();
            STOP.store(false, Ordering::Relaxed);
            let rested = Stopping { stop: &STOP, stop_at: 0, emitted: AtomicU64::new(0) };
            let (code, resumed) = read_stoppable(&rested, &config, Some(&Value::Array(state)));
            prop_assert_eq!(code, 0, "{}", resumed);
            let again = seen(&resumed, &from);
            let all = |name: &str| -> BTreeSet<(u64, u64)> {
                streams.get(name).into_iter().chain(again.get(name)).flat_map(|s| s.records.iter().copied()).collect()
            };
            prop_assert_eq!(all("ticks"), (1..=40).map(|id| (0, id)).collect::<BTreeSet<_>>());
            prop_assert_eq!(
                all("items"),
                (0..4).flat_map(|shard| (1..=12).map(move |id| (shard, id))).collect::<BTreeSet<_>>()
            );
        }
    }

    /// A stdout that takes a millisecond per write, and counts the records written.
    struct Slow<'c> {
        written: u64,
        emitted: &'c AtomicU64,
        /// The most records emitted and not yet written, seen at a write.
        in_flight: u64,
    }

    impl Write for Slow<'_> {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            let emitted = self.emitted.load(Ordering::Relaxed);
            self.in_flight = self.in_flight.max(emitted.saturating_sub(self.written));
            std::thread::sleep(std::time::Duration::from_millis(1));
            let records = buf
                .split(|&byte| byte == b'\n')
                .filter(|line| line.starts_with(br#"{"type":"RECORD""#))
                .count();
            self.written += records as u64;
            Ok(buf.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// A record of a stream read in windows of 50,000 ids, a STATE at each window's end.
    #[derive(Debug, Clone, serde::Serialize, schemars::JsonSchema)]
    #[crate::incremental_stream(crate = "crate", name = "bulk", cursor = "id", step = 50_000)]
    struct Bulk {
        id: u64,
    }

    /// Emits ids `1..=end`, counting them.
    #[derive(Clone)]
    struct Bulky<'e> {
        end: u64,
        emitted: &'e AtomicU64,
    }

    impl Reader<Bulk> for Bulky<'_> {
        fn read(&mut self, slice: &Slice<Bulk>, out: &mut Sink<Bulk>) -> Result<(), Error> {
            let first = slice.after().map_or(1, |id| id + 1);
            for id in first..=slice.until().copied().unwrap_or(self.end) {
                out.emit(&Bulk { id })?;
                self.emitted.fetch_add(1, Ordering::Relaxed);
            }
            Ok(())
        }

        fn start(&mut self) -> Result<Option<u64>, Error> {
            Ok(Some(0))
        }

        fn end(&mut self) -> Result<Option<u64>, Error> {
            Ok(Some(self.end))
        }
    }

    /// Reads `stream` as a run reads a stream registered to be read concurrently (on a thread
    /// of its own, its output forwarded to `out`), with up to `limit` readers at once; the
    /// stream's failure, if any.
    fn read_detached(
        stream: &mut dyn crate::source::ErasedStream,
        limit: usize,
        out: &mut Emitter<'_>,
    ) -> Option<Error> {
        stream
            .load_state(
                crate::protocol::SyncMode::Incremental,
                &InputState::default(),
            )
            .expect("no state");
        let budget = Budget::new(limit);
        let descriptor = stream.descriptor();
        let job = stream
            .detach(chrono::Utc::now(), &budget)
            .expect("read concurrently");
        let mut failure = None;
        super::run_jobs(vec![(descriptor, job)], out, |_, error, _| {
            failure = Some(Error::system(error.to_string()));
            Ok(())
        })
        .expect("the output works");
        out.flush().expect("flushed");
        failure
    }

    /// Readers far faster than stdout are held back: the records emitted and not yet written
    /// never exceed what the workers, the channels and the output buffers hold, a bound that
    /// does not grow with the number of records.
    #[test]
    fn records_in_flight_are_bounded_when_stdout_is_slow() {
        const RECORDS: u64 = 200_000;
        let concurrency = 4;
        let emitted = AtomicU64::new(0);
        let reader = Bulky {
            end: RECORDS,
            emitted: &emitted,
        };
        let mut streams = Streams::new().concurrency(concurrency).concurrent(reader);
        let stream = streams
            .find(&crate::protocol::StreamDescriptor::new("bulk", None))
            .expect("bulk");
        let mut slow = Slow {
            written: 0,
            emitted: &emitted,
            in_flight: 0,
        };
        let mut out = Emitter::new(&mut slow);
        if let Some(error) = read_detached(stream, concurrency, &mut out) {
            panic!("the stream failed: {error}");
        }
        drop(out);
        assert_eq!(slow.written, RECORDS);
        // In bytes: each worker's chunk, and at most two per worker in its channel and one
        // being written (a chunk is at most CHUNK and a record); the stream's emitter buffer;
        // two writes of it in the run's channel and one being forwarded (each at most its
        // buffer and a chunk); the run's emitter buffer. A record line here is at least 60
        // bytes.
        let (chunk, buffer) = (CHUNK as u64 + 100, 64 * 1024 + 4096);
        let workers = concurrency as u64;
        let bytes = chunk * (3 * workers + 1) + buffer + 3 * (buffer + chunk) + buffer;
        let bound = bytes / 60;
        assert!(
            slow.in_flight <= bound,
            "{} records in flight, more than {bound}",
            slow.in_flight
        );
        assert!(
            bound < RECORDS / 4,
            "the bound is far below the records read"
        );
    }

    /// A record of a stream partitioned by `shard`, each partition read in windows of 10.
    #[derive(Debug, Clone, serde::Serialize, schemars::JsonSchema)]
    #[crate::incremental_stream(
        crate = "crate",
        name = "shards",
        cursor = "id",
        partition = "shard",
        step = 10
    )]
    struct Shard {
        shard: u32,
        id: u64,
    }

    /// A stdout that keeps what is written and says when a STATE holding partition 1 came.
    struct Watching<'f> {
        written: Vec<u8>,
        state_of_1: &'f AtomicBool,
    }

    impl Write for Watching<'_> {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.written.extend_from_slice(buf);
            let text = String::from_utf8_lossy(buf);
            if text
                .lines()
                .any(|line| line.contains(r#""type":"STATE""#) && line.contains(r#""partition":1"#))
            {
                self.state_of_1.store(true, Ordering::SeqCst);
            }
            Ok(buf.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// Waits (at most 10 s, so that a broken runtime fails the test rather than hanging it)
    /// until `flag` is set.
    fn wait_for(flag: &AtomicBool) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while !flag.load(Ordering::SeqCst) && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
    }

    /// Partition 0 finishes its first window (a STATE at 10), then, in its second, sends its
    /// records (by `Sink::wait`) while its safe point inside the window is still the one of the
    /// first (2, below 10). Partition 1's STATE, written then, must keep partition 0 at 10.
    #[test]
    fn a_partition_safe_point_below_its_finished_window_does_not_move_it_back() {
        let (waited, state_of_1) = (AtomicBool::new(false), AtomicBool::new(false));
        let reader = |slice: &Slice<Shard>, out: &mut Sink<Shard>| -> Result<(), Error> {
            let shard = *slice.partition();
            match (shard, slice.until()) {
                (0, Some(10)) => {
                    out.emit(&Shard { shard, id: 1 })?;
                    out.emit(&Shard { shard, id: 2 })?;
                }
                (0, _) => {
                    out.emit(&Shard { shard, id: 12 })?;
                    out.wait(std::time::Duration::ZERO)?;
                    waited.store(true, Ordering::SeqCst);
                    wait_for(&state_of_1);
                }
                _ => {
                    wait_for(&waited);
                    out.emit(&Shard { shard, id: 5 })?;
                }
            }
            Ok(())
        };
        let reader = Bounded(reader);
        let mut streams = Streams::new()
            .concurrency(2)
            .concurrent_partitioned(Partitions::list([0, 1]), reader);
        let stream = streams
            .find(&crate::protocol::StreamDescriptor::new("shards", None))
            .expect("shards");
        let mut stdout = Watching {
            written: Vec::new(),
            state_of_1: &state_of_1,
        };
        let mut out = Emitter::new(&mut stdout);
        let failure = read_detached(stream, 2, &mut out);
        assert!(failure.is_none(), "{failure:?}");
        drop(out);
        let stdout = String::from_utf8(stdout.written).expect("UTF-8");
        assert!(state_of_1.load(Ordering::SeqCst), "{stdout}");
        let mut previous = 0;
        for line in stdout
            .lines()
            .filter(|line| line.contains(r#""type":"STATE""#))
        {
            let message: Value = serde_json::from_str(line).expect("JSON");
            let marks = watermarks(&message["state"]["stream"]["stream_state"]);
            let mark = marks.get(&0).copied().unwrap_or(0);
            assert!(
                mark >= previous,
                "partition 0 moved back to {mark}:\n{stdout}"
            );
            previous = mark;
        }
        assert_eq!(previous, 20, "{stdout}");
    }

    /// Partition 0 sends its records up to 5 (by `Sink::wait`) past its checkpoint at 3, so
    /// that partition 1's STATE holds it at 4; then its source breaks the order. Its last STATE
    /// must keep 4, what was already claimed, not fall back to its checkpoint.
    #[test]
    fn a_partition_that_fails_after_its_records_were_claimed_keeps_its_claim() {
        let (waited, state_of_1) = (AtomicBool::new(false), AtomicBool::new(false));
        let reader = |slice: &Slice<Item>, out: &mut Sink<Item>| -> Result<(), Error> {
            let shard = *slice.partition();
            if shard == 0 {
                for id in 1..=5 {
                    out.emit(&Item { shard, id })?;
                }
                out.wait(std::time::Duration::ZERO)?;
                waited.store(true, Ordering::SeqCst);
                wait_for(&state_of_1);
                out.emit(&Item { shard, id: 1 })?;
            } else {
                wait_for(&waited);
                for id in 1..=3 {
                    out.emit(&Item { shard, id })?;
                }
            }
            Ok(())
        };
        let mut streams = Streams::new()
            .concurrency(2)
            .concurrent_partitioned(Partitions::list([0, 1]), reader);
        let stream = streams
            .find(&crate::protocol::StreamDescriptor::new("items", None))
            .expect("items");
        let mut stdout = Watching {
            written: Vec::new(),
            state_of_1: &state_of_1,
        };
        let mut out = Emitter::new(&mut stdout);
        let failure = read_detached(stream, 2, &mut out).expect("the stream fails");
        assert!(
            failure
                .to_string()
                .contains("broke its declared cursor order"),
            "{failure}"
        );
        drop(out);
        let stdout = String::from_utf8(stdout.written).expect("UTF-8");
        let marks: Vec<u64> = stdout
            .lines()
            .filter(|line| line.contains(r#""type":"STATE""#))
            .map(|line| {
                let message: Value = serde_json::from_str(line).expect("JSON");
                let marks = watermarks(&message["state"]["stream"]["stream_state"]);
                marks.get(&0).copied().unwrap_or(0)
            })
            .collect();
        assert!(marks.contains(&4), "{stdout}");
        assert!(
            marks.windows(2).all(|pair| pair[0] <= pair[1]),
            "partition 0 moved back: {marks:?}\n{stdout}"
        );
    }

    /// A reader closure with the bounds `start` 0 and `end` 20.
    #[derive(Clone)]
    struct Bounded<F>(F);

    impl<F> Reader<Shard> for Bounded<F>
    where
        F: FnMut(&Slice<Shard>, &mut Sink<Shard>) -> Result<(), Error> + Clone + Send,
    {
        fn read(&mut self, slice: &Slice<Shard>, out: &mut Sink<Shard>) -> Result<(), Error> {
            (self.0)(slice, out)
        }

        fn start(&mut self) -> Result<Option<u64>, Error> {
            Ok(Some(0))
        }

        fn end(&mut self) -> Result<Option<u64>, Error> {
            Ok(Some(20))
        }
    }

    #[test]
    fn marks_of_finished_windows_and_empty_marks_change_nothing() {
        let mut ledger = Ledger::new(Some(5));
        ledger.done(0, Some(10));
        ledger.mark(0, Some(20));
        ledger.mark(1, None);
        ledger.done(1, None);
        assert_eq!((ledger.head(), ledger.low()), (2, Some(&10)));
        ledger.done(1, Some(30));
        assert_eq!((ledger.head(), ledger.low()), (2, Some(&10)));
    }
}
