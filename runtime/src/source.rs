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
use crate::protocol::{self, StreamDescriptor, StreamStatus, SyncMode};
use crate::state::{InputState, parse_stream_state};
use crate::stream::{IncrementalStream, Slice, StreamState};

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

    /// Registers the stream of record type `S`, read by `reader`.
    ///
    /// The runtime calls `reader` once per slice. The reader pushes every record of the slice,
    /// in ascending cursor order, into the [`Records`] sink, and returns `Err` when it cannot
    /// go on (the runtime then reports the failure and emits the last safe state).
    #[must_use]
    pub fn stream<S, F>(mut self, reader: F) -> Self
    where
        S: IncrementalStream + 'a,
        F: FnMut(&Slice<'_, S>, &mut Records<'_, S>) -> Result<(), Error> + 'a,
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

/// The sink a reader pushes records into.
pub struct Records<'r, S: IncrementalStream> {
    sink: &'r mut (dyn RecordSink<S> + 'r),
}

impl<S: IncrementalStream> Records<'_, S> {
    /// Emits one record.
    ///
    /// Records at or below the resume point are dropped silently (they were delivered by an
    /// earlier sync). Returns an error when the stream must stop: a record out of the declared
    /// order, a record that cannot be serialized, or stdout closed. Propagate it with `?`; once
    /// an error is returned, every later call returns an error too and emits nothing.
    pub fn emit(&mut self, record: &S) -> Result<(), Error> {
        self.sink.emit(record)
    }
}

/// Object-safe face of a stream run, so `Records` does not carry the output's lifetime.
trait RecordSink<S: IncrementalStream> {
    fn emit(&mut self, record: &S) -> Result<(), Error>;
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
    /// Reads the stream; `Err` only when output failed and the run must stop.
    fn read(
        &mut self,
        mode: SyncMode,
        input: &InputState,
        started_at: DateTime<Utc>,
        out: &mut Emitter<'_>,
    ) -> Result<Option<StreamFailure>, Error>;
}

struct Registered<S, F> {
    reader: F,
    _stream: PhantomData<fn(&S)>,
}

impl<S, F> ErasedStream for Registered<S, F>
where
    S: IncrementalStream,
    F: FnMut(&Slice<'_, S>, &mut Records<'_, S>) -> Result<(), Error>,
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
        let resume = state.watermark().cloned();
        let mut run = StreamRun::<S> {
            engine: Engine::new(S::POLICY, resume.clone(), S::Cursor::upper_cap(started_at)),
            frame: RecordFrame::new(&descriptor),
            descriptor,
            out,
            running: false,
            failed: None,
        };
        run.out
            .stream_status(&run.descriptor, StreamStatus::Started)?;
        let lower = resume.map_or(Bound::Unbounded, Bound::Excluded);
        let slice = Slice::new(&state, lower, Bound::Unbounded);
        let result = (self.reader)(&slice, &mut Records { sink: &mut run });
        // An error from `Records::emit` wins over what the reader made of it.
        let result = match run.failed.take() {
            Some(error) => Err(error),
            None => result,
        };
        match result {
            Ok(()) => {
                // The open slice is the last one: the final STATE covers its end.
                let records = run.engine.finish();
                run.write_state(records)?;
                run.out
                    .stream_status(&run.descriptor, StreamStatus::Complete)?;
                Ok(None)
            }
            Err(Error::Output(err)) => Err(Error::Output(err)),
            Err(error) => {
                if let Some(records) = run.engine.fail() {
                    run.write_state(records)?;
                }
                run.out
                    .stream_status(&run.descriptor, StreamStatus::Incomplete)?;
                Ok(Some(StreamFailure { error }))
            }
        }
    }
}

/// One stream being read: the engine deciding, the emitter writing.
struct StreamRun<'r, 'o, S: IncrementalStream> {
    engine: Engine<S::Cursor>,
    descriptor: StreamDescriptor,
    frame: RecordFrame,
    out: &'r mut Emitter<'o>,
    running: bool,
    /// The first error `emit` returned; the stream is over once it is set.
    failed: Option<Error>,
}

impl<S: IncrementalStream> StreamRun<'_, '_, S> {
    fn write_state(&mut self, records: u64) -> Result<(), Error> {
        let state = S::State::from_watermark(self.engine.watermark().cloned());
        self.out.state(&self.descriptor, &state, records)
    }

    fn try_emit(&mut self, record: &S) -> Result<(), Error> {
        let admit =
            self.engine
                .admit(record.cursor())
                .map_err(|violation| Error::OrderViolation {
                    stream: self.descriptor.to_string(),
                    previous: cursor::to_json(&violation.previous),
                    next: cursor::to_json(&violation.next),
                })?;
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
        self.out.record(&self.frame, record, &self.descriptor.name)
    }
}

impl<S: IncrementalStream> RecordSink<S> for StreamRun<'_, '_, S> {
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
