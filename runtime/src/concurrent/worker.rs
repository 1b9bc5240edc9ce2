//! A worker: reads windows or partitions with its clone of the stream's reader, each through a
//! contract core of its own, and sends their records and safe points to the coordinator.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::SyncSender;
use std::sync::{Condvar, Mutex, PoisonError};

use chrono::{DateTime, Utc};
use serde_json::value::RawValue;

use super::{Budget, CHUNK, SharedStream};
use crate::contract::{Admit, Core, Declared, Failure, SliceBounds};
use crate::emitter::{self, Clock, RecordFrame};
use crate::error::Error;
use crate::protocol::StreamDescriptor;
use crate::source::{
    LazyBounds, Reader, RecordSink, Sink, interruptible_wait, panic_message, plan, refused, stopped,
};
use crate::stream::{IncrementalStream, Slice, StreamState};

/// What a worker tells the coordinator.
pub(super) enum Message<C> {
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
    /// Unit `unit` broke its declared order: the safe points sent with its records prove
    /// nothing, and what no STATE claimed yet is withdrawn; its later marks are ignored.
    Broke { unit: usize },
    /// The unit's reader failed, after the mark of its safe watermark.
    Failed(Error),
    /// `Sink::estimate`.
    Estimate(u64),
    /// `Sink::rate_limited`.
    RateLimited(Option<DateTime<Utc>>),
    /// A new config to save, with a CONTROL message (an `OAuth2` refresh token rotated).
    Control(serde_json::Value),
}

/// What the workers of one stream share.
pub(super) struct Shared {
    /// SIGTERM arrived.
    pub(super) sigterm: Option<&'static AtomicBool>,
    /// The stream's count against a test read's limits, shared with its run.
    pub(super) limits: std::sync::Arc<crate::source::Limits>,
    /// The stream stops: a unit failed, or output did.
    pub(super) halt: AtomicBool,
    /// With `checkpoint_every`: the period elapsed since the stream's previous STATE, as the
    /// coordinator's clock says.
    pub(super) period_elapsed: AtomicBool,
}

impl Shared {
    /// Nothing stopped yet; `sigterm` is the run's flag, if it watches one.
    pub(super) fn new(
        sigterm: Option<&'static AtomicBool>,
        limits: std::sync::Arc<crate::source::Limits>,
    ) -> Self {
        Shared {
            sigterm,
            limits,
            halt: AtomicBool::new(false),
            period_elapsed: AtomicBool::new(false),
        }
    }

    /// Why the stream stops, if it does.
    pub(super) fn stop(&self, stream: &StreamDescriptor) -> Option<Error> {
        if self
            .sigterm
            .is_some_and(|flag| flag.load(Ordering::Relaxed))
        {
            Some(Error::Terminated {
                stream: stream.to_string(),
            })
        } else if let Err(error) = self.limits.stopped(stream) {
            Some(error)
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
pub(super) enum Point {
    /// After some of its records: the STATE may hold it, but is not due for it.
    Within,
    /// At a checkpoint the core allowed, or where the reader failed.
    Safe,
    /// At the unit's end.
    End,
    /// Where the unit broke its declared order: its safe points are withdrawn.
    Broken,
}

impl Point {
    /// Whether a STATE may be due here, given the records written since the previous one.
    pub(super) fn due<S: IncrementalStream>(self, written: u64) -> bool {
        match self {
            Point::Within | Point::Broken => false,
            // With `checkpoint_interval`, every N records of the stream, not of each reader.
            Point::Safe => S::POLICY.interval.is_none_or(|n| written >= n.get()),
            // A window's or a partition's end, as in a stream read one slice after the
            // other: with `checkpoint_every` and `checkpoint_interval`, once N records came too.
            Point::End => {
                S::POLICY.period.is_none() || S::POLICY.interval.is_none_or(|n| written >= n.get())
            }
        }
    }
}

/// A unit of work: a window (its index and bounds) or a partition (its index).
pub(super) enum Unit<C> {
    Window(usize, SliceBounds<C>),
    Partition(usize),
}

/// The units still to read.
pub(super) struct Queue<S: IncrementalStream> {
    pending: Mutex<Pending<S>>,
    /// The head moved, or the queue closed.
    moved: Condvar,
}

pub(super) enum Pending<S: IncrementalStream> {
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
    pub(super) fn new(pending: Pending<S>) -> Self {
        Queue {
            pending: Mutex::new(pending),
            moved: Condvar::new(),
        }
    }

    /// The next unit to read; `None` once every unit was handed out or the stream stopped.
    pub(super) fn take(&self) -> Option<Unit<S::Cursor>> {
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
    pub(super) fn set_head(&self, new_head: usize) {
        let mut pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
        if let Pending::Windows { head, .. } = &mut *pending {
            *head = new_head;
        }
        self.moved.notify_all();
    }

    /// Hands out nothing more.
    pub(super) fn close(&self) {
        *self.pending.lock().unwrap_or_else(PoisonError::into_inner) = Pending::Closed;
        self.moved.notify_all();
    }
}

/// What every worker of a stream reads from.
pub(super) struct Job<'j, S: IncrementalStream> {
    pub(super) queue: &'j Queue<S>,
    pub(super) shared: &'j Shared,
    pub(super) descriptor: &'j StreamDescriptor,
    pub(super) frame: &'j RecordFrame,
    /// The readers' permits, shared by the run's streams.
    pub(super) budget: &'j Budget,
    pub(super) started_at: DateTime<Utc>,
    /// Windows: the stream's saved state. Partitions: each partition's, by index.
    pub(super) saved: Saved<'j, S>,
}

pub(super) enum Saved<'j, S: IncrementalStream> {
    /// The stream's state, and its one partition (`()`).
    Windows(&'j S::State, &'j S::Partition),
    Partitions(&'j [(S::Partition, Option<S::Cursor>)]),
}

/// One worker: reads units with its clone of the reader, through a core of its own for the
/// unit being read.
pub(super) struct Worker<'j, S: IncrementalStream> {
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
    /// The slice being read, as the request log names it.
    slice: String,
}

impl<'j, S: SharedStream> Worker<'j, S> {
    pub(super) fn new(
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
            slice: String::new(),
        }
    }

    /// Reads units until none is left or one fails.
    ///
    /// The connector's code also runs outside `Reader::read`: its cursor type's `Step` when a
    /// window is handed out, its `is_past` at a window's end. A panic there fails the unit like
    /// an error (and claims nothing more of it), so that the stream stops, reporting it, rather
    /// than leaving the other workers waiting for windows past the one that never finishes.
    pub(super) fn work<R: Reader<S>>(mut self, mut reader: R) {
        loop {
            let step = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                let Some(unit) = self.job.queue.take() else {
                    return Ok(false);
                };
                // A test read's `--max-slices`: the unit is left unread, and the low-water mark
                // stays below it; no worker waits for more.
                if !self.job.shared.limits.try_take_slice() {
                    self.job.queue.close();
                    return Ok(false);
                }
                let _permit = self.job.budget.acquire();
                match unit {
                    Unit::Window(index, bounds) => self.window(&mut reader, index, bounds),
                    Unit::Partition(index) => self.partition(&mut reader, index),
                }
                .map(|()| true)
            }));
            match step {
                Ok(Ok(true)) => {}
                Ok(Ok(false)) => return,
                Ok(Err(error)) => return self.fail(error),
                Err(payload) => {
                    self.core = None;
                    let error = Error::Panic {
                        stream: self.job.descriptor.to_string(),
                        message: panic_message(payload.as_ref()),
                    };
                    return self.fail(error);
                }
            }
        }
    }

    /// Reads window `index`, then marks it done.
    pub(super) fn window<R: Reader<S>>(
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
        self.slice = crate::source::slice_label::<S>(unit, &lower, &upper);
        self.read_slice(reader, &Slice::new(state, unit, lower, upper))?;
        if let Some(core) = &mut self.core {
            core.finish_window(end.as_ref());
        }
        self.mark(true)
    }

    /// Reads partition `index` slice by slice from its watermark, then marks it done.
    pub(super) fn partition<R: Reader<S>>(
        &mut self,
        reader: &mut R,
        index: usize,
    ) -> Result<(), Error> {
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
            self.slice = crate::source::slice_label::<S>(partition, &lower, &upper);
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
    pub(super) fn read_slice<R: Reader<S>>(
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
    pub(super) fn tell_period(&mut self) {
        if S::POLICY.period.is_some()
            && let Some(core) = &mut self.core
        {
            core.set_period_elapsed(self.job.shared.period_elapsed.load(Ordering::Relaxed));
        }
    }

    /// Sends the pending lines, then a mark of the core's watermark.
    pub(super) fn mark(&mut self, done: bool) -> Result<(), Error> {
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
    pub(super) fn fail(&mut self, error: Error) {
        let failure = match &error {
            Error::OrderViolation { .. } => Failure::SourceOutOfOrder,
            _ => Failure::Stopped,
        };
        if failure == Failure::SourceOutOfOrder {
            // Before the mark: nothing the unit sends from now on is a safe point.
            let _ = self.send(Message::Broke { unit: self.unit });
        }
        let marked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            if let Some(core) = &mut self.core {
                core.fail(failure);
            }
            self.mark(false)
        }));
        if marked.is_err() {
            // The connector's cursor code panicked: nothing more of the unit is claimed.
            self.core = None;
            let _ = self.mark(false);
        }
        let _ = self.send(Message::Failed(error));
    }

    pub(super) fn send_lines(&mut self) -> Result<(), Error> {
        if self.count == 0 {
            return Ok(());
        }
        // The safe point after the records may lie below the core's watermark: inside a
        // partition's later window, the largest value below the last record is still one of
        // an earlier window, whose end the watermark already reached. Never below it. Taken
        // before the lines, which a panic in the cursor's code then leaves to be sent.
        let safe = self
            .core
            .as_ref()
            .and_then(|core| core.safe().max(core.watermark()).cloned());
        let lines = std::mem::replace(&mut self.lines, Vec::with_capacity(CHUNK + 1024));
        let count = std::mem::take(&mut self.count);
        self.send(Message::Records {
            unit: self.unit,
            lines,
            count,
            safe,
        })
    }

    pub(super) fn send(&self, message: Message<S::Cursor>) -> Result<(), Error> {
        self.sender
            .send(message)
            .map_err(|_| Error::system("the stream's output ended"))
    }

    pub(super) fn try_emit(&mut self, record: &S) -> Result<(), Error> {
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
        let limits = &self.job.shared.limits;
        limits.take_record(self.job.descriptor)?;
        let admit = core.admit(record.cursor().as_deref());
        if !matches!(admit, Ok(Admit::Emit | Admit::CheckpointThenEmit { .. })) {
            limits.give_back_record();
        }
        let admit =
            admit.map_err(|refusal| refused::<S>(refusal, &self.job.descriptor.to_string()))?;
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

    fn control(&mut self, config: &serde_json::Value) -> Result<(), Error> {
        // The records emitted before the new config go out before it, as in a stream read
        // one slice after the other.
        self.send_lines()?;
        self.send(Message::Control(config.clone()))
    }

    fn scope(&self) -> Option<(String, String)> {
        Some((self.job.descriptor.to_string(), self.slice.clone()))
    }

    fn wait(&mut self, duration: std::time::Duration) -> Result<(), Error> {
        self.send_lines()?;
        let (shared, descriptor) = (self.job.shared, self.job.descriptor);
        interruptible_wait(duration, || shared.stop(descriptor))
    }

    fn caught_up(&self) -> bool {
        self.core.as_ref().is_some_and(Core::caught_up)
    }

    fn cut(&mut self) -> Result<(), Error> {
        // Set before the unit's next mark is sent: the coordinator writes no STATE after it.
        self.job.shared.limits.cut(self.job.descriptor);
        Ok(())
    }

    fn save_position(&mut self, _position: Result<Box<RawValue>, Error>) -> Result<(), Error> {
        Err(Error::system(format!(
            "stream `{}` is incremental: its state is its cursor, and `save_position` is for \
             full-refresh streams",
            self.job.descriptor
        )))
    }
}
