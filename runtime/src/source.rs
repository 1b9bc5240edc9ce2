//! The connector's side of the API: [`Source`], the [`Streams`] it registers and the
//! [`Records`] sink its readers push records into.

use std::marker::PhantomData;
use std::ops::Bound;

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::de::DeserializeOwned;

use crate::checkpoint::{Admit, Engine};
use crate::cursor::{self, Cursor};
use crate::emitter::{Emitter, RecordFrame};
use crate::error::Error;
use crate::protocol::{
    self, RateLimited, StreamDescriptor, StreamStatus, StreamStatusReason, StreamStatusReasonType,
    SyncMode,
};
use crate::state::{InputState, parse_stream_state};
use crate::stream::{IncrementalStream, OnNull, Slice, StreamState};

/// A source connector: its configuration, its connection check and its streams.
///
/// ```
/// use tidemark::{Error, Records, Slice, Source, Streams};
///
/// #[derive(serde::Deserialize, schemars::JsonSchema)]
/// struct Config {
///     /// How many events to generate.
///     count: u64,
/// }
///
/// #[derive(serde::Serialize, schemars::JsonSchema)]
/// #[tidemark::incremental_stream(cursor = "id", primary_key = "id")]
/// struct Event {
///     id: u64,
/// }
///
/// struct Events;
///
/// impl Source for Events {
///     const NAME: &'static str = "source-events";
///     const VERSION: &'static str = "1.0.0";
///     type Config = Config;
///
///     fn check(&self, _config: &Config) -> Result<(), Error> {
///         Ok(())
///     }
///
///     fn streams<'a>(&'a self, config: &'a Config) -> Result<Streams<'a>, Error> {
///         Ok(Streams::new().stream(move |slice: &Slice<Event>, out: &mut Records<Event>| {
///             let first = slice.after().map_or(0, |id| id + 1);
///             for id in first..config.count {
///                 out.emit(&Event { id })?;
///             }
///             Ok(())
///         }))
///     }
/// }
/// # let _ = Events;
/// ```
pub trait Source {
    /// Connector name, shown by `--help` and `--version`.
    const NAME: &'static str;
    /// Connector version, shown by `--version`; usually `env!("CARGO_PKG_VERSION")`.
    const VERSION: &'static str;
    /// Link to the connector's documentation, put in the SPEC.
    const DOCUMENTATION_URL: Option<&'static str> = None;

    /// The configuration. Its JSON Schema is the SPEC's `connectionSpecification`; a config
    /// that fails the schema or deserialization is a `config_error` naming the field.
    type Config: DeserializeOwned + JsonSchema;

    /// Checks that the configuration works (credentials, reachability). An error becomes a
    /// CONNECTION_STATUS FAILED with the error's message.
    fn check(&self, config: &Self::Config) -> Result<(), Error>;

    /// The streams this source provides, each with its reader.
    fn streams<'a>(&'a self, config: &'a Self::Config) -> Result<Streams<'a>, Error>;
}

/// The streams of a source, each an [`IncrementalStream`] record type with its reader.
pub struct Streams<'a> {
    streams: Vec<Box<dyn ErasedStream + 'a>>,
}

impl Default for Streams<'_> {
    fn default() -> Self {
        Self::new()
    }
}

impl<'a> Streams<'a> {
    /// No streams yet.
    #[must_use]
    pub fn new() -> Self {
        Streams {
            streams: Vec::new(),
        }
    }

    /// Registers the stream of record type `S`, read by the closure `reader`.
    ///
    /// The runtime calls `reader` once per slice (once per window with `step`). The reader
    /// pushes every record of the slice into the [`Records`] sink, in ascending cursor order
    /// unless the stream is declared `order = "unsorted"`, and returns `Err` when it cannot go
    /// on (the runtime then reports the failure and emits the last safe state).
    #[must_use]
    pub fn stream<S, F>(self, reader: F) -> Self
    where
        S: IncrementalStream + 'a,
        F: FnMut(&Slice<'_, S>, &mut Records<'_, S>) -> Result<(), Error> + 'a,
    {
        self.reader(FnReader {
            read: reader,
            _stream: PhantomData::<fn(&S)>,
        })
    }

    /// Registers the stream of record type `S`, read by a [`Reader`]: use this when the
    /// reader supplies a start or an end bound at run time.
    #[must_use]
    pub fn reader<S, R>(mut self, reader: R) -> Self
    where
        S: IncrementalStream + 'a,
        R: Reader<S> + 'a,
    {
        self.streams.push(Box::new(Registered {
            reader,
            _stream: PhantomData::<fn(&S)>,
        }));
        self
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = &(dyn ErasedStream + 'a)> {
        self.streams.iter().map(AsRef::as_ref)
    }

    pub(crate) fn find(
        &mut self,
        descriptor: &StreamDescriptor,
    ) -> Option<&mut (dyn ErasedStream + 'a)> {
        self.streams
            .iter_mut()
            .find(|stream| stream.descriptor() == *descriptor)
            .map(AsMut::as_mut)
    }
}

/// Reads one stream, slice by slice.
///
/// A closure passed to [`Streams::stream`] is a reader that only reads. Implement the trait on
/// your own type when the bounds of the stream's range come from the configuration or the
/// source at run time:
///
/// ```
/// use tidemark::{Error, Reader, Records, Slice};
///
/// #[derive(serde::Serialize, schemars::JsonSchema)]
/// #[tidemark::incremental_stream(cursor = "id", step = 1000)]
/// struct Customer {
///     id: u64,
/// }
///
/// /// Reads customers from a table whose highest id is known when the sync starts.
/// struct Customers {
///     first_id: u64,
///     max_id: u64,
/// }
///
/// impl Reader<Customer> for Customers {
///     fn read(&mut self, slice: &Slice<Customer>, out: &mut Records<Customer>) -> Result<(), Error> {
///         // `lower < id <= upper`; the first window of a first sync includes `first_id`.
///         let from = slice.after().map_or(self.first_id, |id| id + 1);
///         let until = slice.until().copied().unwrap_or(self.max_id);
///         for id in from..=until {
///             out.emit(&Customer { id })?;
///         }
///         Ok(())
///     }
///
///     fn start(&mut self) -> Result<Option<u64>, Error> {
///         Ok(Some(self.first_id))
///     }
///
///     fn end(&mut self) -> Result<Option<u64>, Error> {
///         Ok(Some(self.max_id))
///     }
/// }
/// # let _ = Customers { first_id: 1, max_id: 10 };
/// ```
pub trait Reader<S: IncrementalStream> {
    /// Pushes every record of `slice` into `out`; see [`Streams::stream`].
    ///
    /// # Errors
    ///
    /// Whatever stops the stream: the runtime reports it with the error's failure type.
    fn read(&mut self, slice: &Slice<'_, S>, out: &mut Records<'_, S>) -> Result<(), Error>;

    /// The lower bound of a sync without saved state, overriding the declared `start` (for
    /// example a start date from the configuration). Called once per sync, only when there is no
    /// state. `None` keeps the declared `start`.
    ///
    /// # Errors
    ///
    /// The bound cannot be determined; the stream fails without reading anything.
    fn start(&mut self) -> Result<Option<S::Cursor>, Error> {
        Ok(None)
    }

    /// The upper bound of the range this sync reads (inclusive), called once per sync before
    /// the first slice. `None` means: for time cursors, just before the sync started; for other
    /// cursors, no bound. A stream with `step` on a cursor that is not a time needs one (for
    /// example the table's highest id).
    ///
    /// # Errors
    ///
    /// The bound cannot be determined; the stream fails without reading anything.
    fn end(&mut self) -> Result<Option<S::Cursor>, Error> {
        Ok(None)
    }
}

/// A closure as a [`Reader`].
struct FnReader<S, F> {
    read: F,
    _stream: PhantomData<fn(&S)>,
}

impl<S, F> Reader<S> for FnReader<S, F>
where
    S: IncrementalStream,
    F: FnMut(&Slice<'_, S>, &mut Records<'_, S>) -> Result<(), Error>,
{
    fn read(&mut self, slice: &Slice<'_, S>, out: &mut Records<'_, S>) -> Result<(), Error> {
        (self.read)(slice, out)
    }
}

/// The sink a reader pushes records into.
pub struct Records<'r, S: IncrementalStream> {
    sink: &'r mut (dyn RecordSink<S> + 'r),
}

impl<S: IncrementalStream> Records<'_, S> {
    /// Emits one record.
    ///
    /// Records outside the slice are dropped silently: at or below the resume point they were
    /// delivered by an earlier sync, beyond the window the next window reads them. A record
    /// whose `Option` cursor is `None` follows the stream's `on_null`. Returns an error when the stream must stop: a record out of the declared
    /// order, a record that cannot be serialized, or stdout closed. Propagate it with `?`; once
    /// an error is returned, every later call returns an error too and emits nothing.
    pub fn emit(&mut self, record: &S) -> Result<(), Error> {
        self.sink.emit(record)
    }

    /// Reports how many records this stream is about to emit in this sync (a TRACE ESTIMATE),
    /// which the Airbyte platform shows as progress. Call it once you know, for example after
    /// a `COUNT(*)` of the rows after the state; calling it again replaces the estimate.
    ///
    /// # Errors
    ///
    /// stdout is closed.
    pub fn estimate(&mut self, rows: u64) -> Result<(), Error> {
        self.sink.estimate(rows)
    }

    /// Reports that the stream waits for an API rate limit (a `STREAM_STATUS` `RUNNING` with a
    /// `RATE_LIMITED` reason and, when known, when the quota resets). The reader then waits and
    /// retries itself; the runtime does not sleep.
    ///
    /// # Errors
    ///
    /// stdout is closed.
    pub fn rate_limited(&mut self, quota_reset: Option<DateTime<Utc>>) -> Result<(), Error> {
        self.sink.rate_limited(quota_reset)
    }

    /// Waits `duration` (a rate limit, a backoff) the way the runtime can interrupt: what was
    /// emitted so far is flushed first, and SIGTERM ends the wait at once with
    /// [`Error::Terminated`], which the reader returns with `?` so the stream stops with its last
    /// safe STATE. Use it instead of `std::thread::sleep` in readers.
    ///
    /// # Errors
    ///
    /// [`Error::Terminated`] on SIGTERM; stdout is closed.
    pub fn wait(&mut self, duration: std::time::Duration) -> Result<(), Error> {
        self.sink.wait(duration)
    }
}

/// Object-safe face of a stream run, so `Records` does not carry the output's lifetime.
trait RecordSink<S: IncrementalStream> {
    fn emit(&mut self, record: &S) -> Result<(), Error>;
    fn estimate(&mut self, rows: u64) -> Result<(), Error>;
    fn rate_limited(&mut self, quota_reset: Option<DateTime<Utc>>) -> Result<(), Error>;
    fn wait(&mut self, duration: std::time::Duration) -> Result<(), Error>;
}

/// A stream that failed, with the error to report.
pub(crate) struct StreamFailure {
    pub(crate) error: Error,
}

/// Type-erased stream, as the entrypoint sees it.
pub(crate) trait ErasedStream {
    fn descriptor(&self) -> StreamDescriptor;
    fn catalog_entry(&self) -> protocol::Stream;
    /// Checks the saved state before any stream is read.
    fn check_state(&self, input: &InputState) -> Result<(), Error>;
    /// Orders two `stream_state` values of this stream by their watermarks (no watermark is
    /// lowest), for the testing kit.
    fn compare_states(
        &self,
        a: &serde_json::value::RawValue,
        b: &serde_json::value::RawValue,
    ) -> Result<std::cmp::Ordering, Error>;
    /// Whether the stream declares `lookback` (its overlap is re-sent on purpose).
    fn has_lookback(&self) -> bool;
    /// Reads the stream; `Err` only when output failed and the run must stop.
    fn read(
        &mut self,
        mode: SyncMode,
        input: &InputState,
        started_at: DateTime<Utc>,
        out: &mut Emitter<'_>,
    ) -> Result<Option<StreamFailure>, Error>;
}

struct Registered<S, R> {
    reader: R,
    _stream: PhantomData<fn(&S)>,
}

impl<S, R> ErasedStream for Registered<S, R>
where
    S: IncrementalStream,
    R: Reader<S>,
{
    fn descriptor(&self) -> StreamDescriptor {
        S::descriptor()
    }

    fn catalog_entry(&self) -> protocol::Stream {
        S::catalog_entry()
    }

    fn check_state(&self, input: &InputState) -> Result<(), Error> {
        parse_stream_state::<S>(input.stream_state(&S::descriptor())).map(drop)
    }

    fn compare_states(
        &self,
        a: &serde_json::value::RawValue,
        b: &serde_json::value::RawValue,
    ) -> Result<std::cmp::Ordering, Error> {
        let watermark = |json| {
            parse_stream_state::<S>(Some(json)).map(|state| state.and_then(|s| s.watermark()))
        };
        Ok(watermark(a)?.cmp(&watermark(b)?))
    }

    fn has_lookback(&self) -> bool {
        S::LOOKBACK.is_some()
    }

    fn read(
        &mut self,
        mode: SyncMode,
        input: &InputState,
        started_at: DateTime<Utc>,
        out: &mut Emitter<'_>,
    ) -> Result<Option<StreamFailure>, Error> {
        let descriptor = S::descriptor();
        let state = match mode {
            SyncMode::Incremental => {
                match parse_stream_state::<S>(input.stream_state(&descriptor)) {
                    Ok(state) => state.unwrap_or_default(),
                    Err(error) => return Ok(Some(StreamFailure { error })),
                }
            }
            SyncMode::FullRefresh => S::State::default(),
        };
        let watermark = state.watermark();
        let mut run = StreamRun::<S> {
            engine: Engine::new(S::POLICY, S::ORDER, watermark.clone(), started_at),
            frame: RecordFrame::new(&descriptor),
            descriptor,
            out,
            running: false,
            writing: false,
            progress: Progress::new(),
            failed: None,
        };
        run.out
            .stream_status(&run.descriptor, StreamStatus::Started)?;
        // A panicking reader is reported like a failing one: the other streams still run.
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            read_slices(
                &mut self.reader,
                &state,
                watermark.as_ref(),
                started_at,
                &mut run,
            )
        }))
        .unwrap_or_else(|payload| {
            run.recover_from_panic();
            Err(Error::Panic {
                stream: run.descriptor.to_string(),
                message: panic_message(payload.as_ref()),
            })
        });
        // An error from `Records::emit` wins over what the reader made of it.
        let result = match run.failed.take() {
            Some(error) => Err(error),
            None => result,
        };
        if run.out.progress() {
            run.progress.finish(&run.descriptor);
        }
        match result {
            Ok(()) => {
                run.out
                    .stream_status(&run.descriptor, StreamStatus::Complete)?;
                Ok(None)
            }
            Err(Error::Output(err)) => Err(Error::Output(err)),
            Err(error) => {
                // The safe watermark assumes the records came in order up to the failure; a
                // reader that reports its source broke that order gets no state claimed.
                let unordered = matches!(error, Error::OrderViolation { .. });
                if !unordered && let Some(records) = run.engine.fail() {
                    run.write_state(records)?;
                }
                run.out
                    .stream_status(&run.descriptor, StreamStatus::Incomplete)?;
                Ok(Some(StreamFailure { error }))
            }
        }
    }
}

/// Reads the stream's slices: one open slice, or the windows of `step`. Ends with the final
/// STATE when every slice was read.
fn read_slices<S: IncrementalStream>(
    reader: &mut impl Reader<S>,
    state: &S::State,
    watermark: Option<&S::Cursor>,
    started_at: DateTime<Utc>,
    run: &mut StreamRun<'_, '_, S>,
) -> Result<(), Error> {
    let lower = match watermark {
        Some(watermark) => S::resume_bound(watermark),
        None => match reader.start()? {
            Some(start) => Bound::Included(start),
            None => match S::start() {
                Some(start) => Bound::Included(start.map_err(|message| {
                    Error::system(format!(
                        "stream `{}`: the declared `start` {message}",
                        run.descriptor
                    ))
                })?),
                None => Bound::Unbounded,
            },
        },
    };
    let end = reader.end()?;
    let Some(step) = S::STEP else {
        run.engine.set_slice(
            lower.clone(),
            end.clone().map_or(Bound::Unbounded, Bound::Included),
        );
        let slice = Slice::new(state, lower, end.map_or(Bound::Unbounded, Bound::Included));
        read_slice(reader, &slice, run)?;
        let records = run.engine.finish(None);
        return run.write_state(records);
    };
    let (Bound::Included(origin) | Bound::Excluded(origin)) = lower.clone() else {
        return Err(Error::system(format!(
            "stream `{}` is read in windows of {step} but has neither a saved state nor a \
             start: declare `start` or return one from `Reader::start`",
            run.descriptor
        )));
    };
    let Some(end) = end.or_else(|| S::Cursor::upper_cap(started_at)) else {
        return Err(Error::system(format!(
            "stream `{}` is read in windows of {step} but its reader gives no end: return the \
             range's upper bound from `Reader::end`",
            run.descriptor
        )));
    };
    let mut lower = lower;
    let mut last_end = None;
    let mut index = 0;
    while match &lower {
        Bound::Included(from) => *from <= end,
        Bound::Excluded(after) => *after < end,
        Bound::Unbounded => false,
    } {
        index += 1;
        let upper = S::window_bound(&origin, index)
            .filter(|bound| *bound < end)
            .unwrap_or_else(|| end.clone());
        let last = upper == end;
        run.engine
            .set_slice(lower.clone(), Bound::Included(upper.clone()));
        let slice = Slice::new(state, lower, Bound::Included(upper.clone()));
        read_slice(reader, &slice, run)?;
        if last {
            last_end = Some(upper);
            break;
        }
        if let Some(records) = run.engine.end_window(&upper) {
            run.write_state(records)?;
        }
        lower = Bound::Excluded(upper);
    }
    let records = run.engine.finish(last_end.as_ref());
    run.write_state(records)
}

/// Calls the reader on one slice; an error `emit` returned ends the stream even when the reader
/// swallowed it.
fn read_slice<S: IncrementalStream>(
    reader: &mut impl Reader<S>,
    slice: &Slice<'_, S>,
    run: &mut StreamRun<'_, '_, S>,
) -> Result<(), Error> {
    if run.out.stop_requested() {
        return Err(Error::Terminated {
            stream: run.descriptor.to_string(),
        });
    }
    reader.read(slice, &mut Records { sink: run })?;
    match run.failed.take() {
        Some(error) => Err(error),
        None => Ok(()),
    }
}

/// A local run's per-stream progress line on stderr: records, rate and current cursor, redrawn
/// about once a second.
struct Progress {
    records: u64,
    started: std::time::Instant,
    shown: std::time::Instant,
}

impl Progress {
    fn new() -> Self {
        let now = std::time::Instant::now();
        Progress {
            records: 0,
            started: now,
            shown: now,
        }
    }

    fn tick(&mut self, stream: &StreamDescriptor, cursor: impl FnOnce() -> String) {
        self.records += 1;
        if self.records.is_multiple_of(1024)
            && self.shown.elapsed() >= std::time::Duration::from_secs(1)
        {
            self.shown = std::time::Instant::now();
            self.show(stream, &cursor());
        }
    }

    fn show(&self, stream: &StreamDescriptor, cursor: &str) {
        use std::io::Write as _;
        let seconds = self.started.elapsed().as_secs_f64().max(1e-3);
        #[expect(clippy::cast_precision_loss, reason = "an approximate rate for people")]
        let rate = self.records as f64 / seconds;
        let _ = write!(
            std::io::stderr(),
            "\r{stream}: {} records, {rate:.0}/s, cursor {cursor}\x1b[K",
            self.records
        );
    }

    fn finish(&self, stream: &StreamDescriptor) {
        use std::io::Write as _;
        if self.records > 0 {
            self.show(stream, "done");
            let _ = writeln!(std::io::stderr());
        }
    }
}

/// The message a panic was raised with.
fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(text) = payload.downcast_ref::<&str>() {
        (*text).to_owned()
    } else if let Some(text) = payload.downcast_ref::<String>() {
        text.clone()
    } else {
        "a non-string panic payload".to_owned()
    }
}

/// One stream being read: the engine deciding, the emitter writing.
struct StreamRun<'r, 'o, S: IncrementalStream> {
    engine: Engine<S::Cursor>,
    descriptor: StreamDescriptor,
    frame: RecordFrame,
    out: &'r mut Emitter<'o>,
    running: bool,
    /// A record is being written: a panic now leaves it half-written and already counted.
    writing: bool,
    /// Records written, and the progress line's clock.
    progress: Progress,
    /// The first error `emit` returned; the stream is over once it is set.
    failed: Option<Error>,
}

impl<S: IncrementalStream> StreamRun<'_, '_, S> {
    fn write_state(&mut self, records: u64) -> Result<(), Error> {
        let state = S::State::from_watermark(self.engine.watermark().cloned());
        self.out.state(&self.descriptor, &state, records)
    }

    /// After a panic: drops a half-written record line and its count.
    fn recover_from_panic(&mut self) {
        if std::mem::take(&mut self.writing) {
            self.engine.retract();
        }
        self.out.discard_partial_line();
    }

    fn try_emit(&mut self, record: &S) -> Result<(), Error> {
        if self.out.stop_requested() {
            return Err(Error::Terminated {
                stream: self.descriptor.to_string(),
            });
        }
        let admit = match record.cursor() {
            Some(cursor) => {
                self.engine
                    .admit(&cursor)
                    .map_err(|violation| Error::OrderViolation {
                        stream: self.descriptor.to_string(),
                        previous: cursor::to_json(&violation.previous),
                        next: cursor::to_json(&violation.next),
                    })?
            }
            None => match S::ON_NULL {
                OnNull::Fail => {
                    return Err(Error::NullCursor {
                        stream: self.descriptor.to_string(),
                        field: S::CURSOR_FIELD.join("."),
                    });
                }
                OnNull::Skip => Admit::Drop,
                OnNull::Emit => self.engine.admit_null(),
            },
        };
        match admit {
            Admit::Drop => return Ok(()),
            Admit::Emit => {}
            Admit::CheckpointThenEmit { records } => self.write_state(records)?,
        }
        if !self.running {
            self.running = true;
            self.out
                .stream_status(&self.descriptor, StreamStatus::Running)?;
        }
        self.writing = true;
        let written = self.out.record(&self.frame, record, &self.descriptor.name);
        self.writing = false;
        if written.is_err() {
            self.engine.retract();
        } else if self.out.progress() {
            self.progress.tick(&self.descriptor, || {
                record
                    .cursor()
                    .map_or_else(|| "null".to_owned(), |cursor| cursor::to_json(&*cursor))
            });
        }
        written
    }
}

impl<S: IncrementalStream> RecordSink<S> for StreamRun<'_, '_, S> {
    fn wait(&mut self, duration: std::time::Duration) -> Result<(), Error> {
        const STEP: std::time::Duration = std::time::Duration::from_millis(50);
        self.out.flush()?;
        let deadline = std::time::Instant::now() + duration;
        loop {
            if self.out.stop_requested() {
                return Err(Error::Terminated {
                    stream: self.descriptor.to_string(),
                });
            }
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                return Ok(());
            }
            std::thread::sleep(left.min(STEP));
        }
    }

    fn estimate(&mut self, rows: u64) -> Result<(), Error> {
        self.out.estimate(&self.descriptor, rows)
    }

    fn rate_limited(&mut self, quota_reset: Option<DateTime<Utc>>) -> Result<(), Error> {
        let reason = StreamStatusReason {
            reason_type: StreamStatusReasonType::RateLimited,
            rate_limited: Some(RateLimited {
                quota_reset: quota_reset.map(|at| at.timestamp_millis()),
            }),
        };
        self.running = true;
        self.out
            .status_with_reasons(&self.descriptor, StreamStatus::Running, Some(vec![reason]))
    }

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
}

/// What `emit` returns once the stream has failed; the runtime reports the original error.
fn stopped(error: &Error) -> Error {
    match error {
        Error::Output(err) => Error::Output(std::io::Error::new(err.kind(), err.to_string())),
        other => Error::system(format!("the stream has stopped: {other}")),
    }
}
