//! The connector's side of the API: [`Source`], the [`Streams`] it registers and the
//! [`Sink`] sink its readers push records into; the driver that runs one stream, whatever its
//! kind.

use std::ops::Bound;

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::concurrent::{Budget, StreamJob};
use crate::contract::{Admit, Core, Declared, Failure, ReaderBounds, Refusal};
use crate::cursor;
use crate::emitter::{Emitter, RecordFrame};
use crate::error::Error;
use crate::full_refresh::{FullRefresh, FullRefreshReader};
use crate::protocol::{
    self, RateLimited, StreamDescriptor, StreamStatus, StreamStatusReason, StreamStatusReasonType,
    SyncMode,
};
use serde_json::value::RawValue;

use crate::partition::{Book, Partitioned, Partitions};
use crate::state::{InputState, parse_stream_state};
use crate::stream::{CheckpointAt, FullRefreshStream, IncrementalStream, Slice, StreamState};

/// A source connector: its configuration, its connection check and its streams.
///
/// ```
/// use tidemark::{Error, Sink, Slice, Source, Streams};
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
///     type Config = Config;
///
///     fn streams<'a>(&'a self, config: &'a Config) -> Result<Streams<'a>, Error> {
///         Ok(Streams::new().stream(move |slice: &Slice<Event>, out: &mut Sink<Event>| {
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
    /// Connector name (`source-shop`): shown by `--version` with the package's version (see
    /// [`run!`](crate::run!)) and at the start of the lines the runtime writes to stderr.
    const NAME: &'static str;
    /// Link to the connector's documentation, put in the SPEC.
    const DOCUMENTATION_URL: Option<&'static str> = None;

    /// The configuration. Its JSON Schema is the SPEC's `connectionSpecification`; a config
    /// that fails the schema or deserialization is a `config_error` naming the field.
    ///
    /// The config is first checked against its schema, listing up to five violations, each at
    /// its field, then deserialized, whose first error is reported at its field. By default the
    /// schema check covers the keywords schemars emits: `type`, `enum` and `const` (enums,
    /// with or without documented variants), `required`, `additionalProperties`
    /// (`#[serde(deny_unknown_fields)]`, maps), `patternProperties`, `items`, `minItems` and
    /// `maxItems`, `uniqueItems`, `minLength` and `maxLength`, `minimum`, `maximum` and their
    /// exclusive forms (`#[schemars(range(..))]`, `#[schemars(length(..))]`), `pattern`
    /// (`#[schemars(regex(..))]`, as a [`regex_lite`](https://docs.rs/regex-lite) expression),
    /// `allOf`, `anyOf`, `oneOf`, `not`, and `$ref` within the schema. It does not check
    /// `format` (`#[schemars(email)]`, `url`, `ip`: a type that parses its text, such as
    /// `DateTime<Utc>`, is checked by deserialization), `multipleOf`, `contains`,
    /// `propertyNames`, `dependencies`, `if`/`then`/`else` or a `$ref` to another document; a
    /// `pattern` with a syntax regex-lite lacks (`\p{..}` classes, look-around) is reported as
    /// a `system_error` of the schema. The `jsonschema` feature replaces this check with a
    /// complete JSON Schema validator (about 50 more crates to build).
    type Config: DeserializeOwned + JsonSchema;

    /// Checks that the configuration works (credentials, reachability). An error becomes a
    /// CONNECTION_STATUS FAILED with the error's message.
    ///
    /// `check` has already parsed the config (a config that fails is reported before this is
    /// called), and builds the streams with [`Source::streams`] after this succeeds. The
    /// default checks nothing more: override it to try the connection.
    fn check(&self, config: &Self::Config) -> Result<(), Error> {
        let _ = config;
        Ok(())
    }

    /// The streams this source provides, each with its reader, each registered once.
    /// `discover` and `read` call it, and `check` once [`Source::check`] succeeded.
    fn streams<'a>(&'a self, config: &'a Self::Config) -> Result<Streams<'a>, Error>;
}

/// The streams of a source, each an [`IncrementalStream`] or a [`FullRefreshStream`] record
/// type with its reader.
pub struct Streams<'a> {
    registered: Vec<Box<dyn ErasedStream + 'a>>,
    /// The most readers running at once in the source (`Streams::concurrency`).
    concurrency: usize,
    /// The first stream registered twice: a connector bug, reported by every command.
    duplicate: Option<StreamDescriptor>,
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
            registered: Vec::new(),
            concurrency: 1,
            duplicate: None,
        }
    }

    /// Registers the stream of record type `S`, read by `reader`: a closure
    /// `|slice: &Slice<S>, out: &mut Sink<S>| -> Result<(), Error>`, or a type of your own
    /// implementing [`Reader`] when the bounds of the range come from the configuration or the
    /// source at run time. Annotate both parameters of a closure, as above: the compiler
    /// learns the stream from them, and a closure with an unannotated parameter fails to
    /// compile with "implementation of `FnOnce` is not general enough".
    ///
    /// The runtime calls the reader once per slice (once per window with `step`). The reader
    /// pushes every record of the slice into the [`Sink`], in ascending cursor order unless the
    /// stream is declared `order = "unsorted"`, and returns `Err` when it cannot go on (the
    /// runtime then reports the failure and emits the last safe state).
    ///
    /// Each stream (name and namespace) is registered once: registering it again, with the
    /// same record type or another that declares the same stream, makes every command fail
    /// with [`Error::DuplicateStream`].
    #[must_use]
    pub fn stream<S, R>(self, reader: R) -> Self
    where
        S: IncrementalStream<Partition = ()> + 'a,
        R: Reader<S> + 'a,
    {
        self.register(Box::new(Registered::<S, R> {
            reader,
            saved: None,
            read: read_all_slices::<S, R>,
            concurrent: None,
        }))
    }

    /// Sets how many readers may run at once in the whole source, for the streams registered
    /// with [`Streams::concurrent`] and [`Streams::concurrent_partitioned`] (at least 1, the
    /// default). Set it from the connector's own limit and let the configuration lower it:
    /// `.concurrency(config.concurrency.min(64))`.
    ///
    /// The streams registered so run at the same time, each on a thread of its own, after the
    /// other streams (read one after the other); within each, windows (`step`) or partitions
    /// are read at the same time, each by its own clone of the reader on a thread of its own,
    /// all of them sharing this many permits.
    #[must_use]
    pub fn concurrency(mut self, limit: usize) -> Self {
        self.concurrency = limit.max(1);
        self
    }

    /// Registers the stream of record type `S` like [`Streams::stream`], with its windows
    /// (`step`) read at the same time, up to [`Streams::concurrency`] at once: each window is
    /// read by a clone of `reader` (a closure capturing references, or a type that is `Clone`)
    /// on a thread of its own.
    ///
    /// The state means what it means for a stream read one window at a time: the watermark is
    /// the contiguous low-water mark, so a STATE says that every window at or below it (and,
    /// within the lowest window still being read, every record up to its last checkpoint) has
    /// been emitted; windows above it may have finished, and are read again if the sync fails
    /// before the mark passes them. Records of different windows are interleaved in the output.
    /// A window's reader that fails or panics stops the stream's other readers; the last STATE
    /// is the safe low-water mark. At most four windows per reader are read past the lowest
    /// unfinished one, and the records in flight are bounded: a reader whose records are not
    /// written yet waits in [`Sink::emit`].
    ///
    /// A stream without `step` is one slice, read by one reader.
    #[must_use]
    pub fn concurrent<S, R>(self, reader: R) -> Self
    where
        S: IncrementalStream<Partition = (), Cursor: Sync, State: Send + Sync> + 'a,
        R: Reader<S> + Clone + Send + 'a,
    {
        self.register(Box::new(Registered::<S, R> {
            reader,
            saved: None,
            read: read_all_slices::<S, R>,
            concurrent: Some(crate::concurrent::windows_job::<S, R>),
        }))
    }

    /// Registers the partitioned stream of record type `S` like [`Streams::partitioned`], with
    /// its partitions read at the same time, up to [`Streams::concurrency`] at once: each
    /// partition is read by a clone of `reader` on a thread of its own, its slices one after
    /// the other.
    ///
    /// Each partition keeps its own watermark, so a partition's STATE entry moves as soon as
    /// its records are out, whatever the other partitions are doing; a STATE follows every
    /// record it covers. Records of different partitions are interleaved in the output. A
    /// partition's reader that fails or panics stops the stream's other readers, and the last
    /// STATE holds each partition's safe watermark. Partitions that come from a parent stream
    /// ([`Partitions::from_parent`]) are read one after the other, as with
    /// [`Streams::partitioned`].
    ///
    /// ```
    /// use tidemark::{Error, Partitions, Sink, Slice, Source, Streams};
    ///
    /// #[derive(serde::Serialize, schemars::JsonSchema)]
    /// #[tidemark::incremental_stream(cursor = "id", partition = "account")]
    /// struct Invoice {
    ///     account: u32,
    ///     id: u64,
    /// }
    ///
    /// #[derive(serde::Deserialize, schemars::JsonSchema)]
    /// struct Config {
    ///     accounts: u32,
    ///     /// Accounts read at once.
    ///     concurrency: usize,
    /// }
    ///
    /// struct Billing;
    ///
    /// impl Source for Billing {
    ///     const NAME: &'static str = "source-billing";
    ///     type Config = Config;
    ///
    ///     fn streams<'a>(&'a self, config: &'a Config) -> Result<Streams<'a>, Error> {
    ///         Ok(Streams::new()
    ///             .concurrency(config.concurrency.min(32))
    ///             .concurrent_partitioned(
    ///                 Partitions::list(0..config.accounts),
    ///                 // Each account is read on a thread of its own by a copy of the closure.
    ///                 |slice: &Slice<Invoice>, out: &mut Sink<Invoice>| {
    ///                     let account = *slice.partition();
    ///                     for id in slice.after().map_or(1, |id| id + 1)..=3 {
    ///                         out.emit(&Invoice { account, id })?;
    ///                     }
    ///                     Ok(())
    ///                 },
    ///             ))
    ///     }
    /// }
    /// # let _ = Billing;
    /// ```
    #[must_use]
    pub fn concurrent_partitioned<S, R>(
        self,
        partitions: Partitions<'a, S::Partition>,
        reader: R,
    ) -> Self
    where
        S: IncrementalStream<Cursor: Sync, State: Send + Sync, Partition: Send + Sync> + 'a,
        R: Reader<S> + Clone + Send + 'a,
    {
        self.register(Box::new(
            Partitioned::<S, R>::new(partitions, reader).concurrently(),
        ))
    }

    /// Registers the partitioned stream of record type `S` (declared with `partition =
    /// "field"`): `reader` is called for each slice of each partition, which
    /// [`Slice::partition`] names, and every record it emits must belong to that partition.
    ///
    /// Each partition keeps its own watermark in the stream's state, with the contract of a
    /// stream of its own: a STATE means every record of each listed partition with cursor at
    /// or below its watermark has been emitted. A partition with no entry (new, or dropped by
    /// the `max_partitions` limit) is read from its start; partitions that vanish from the
    /// list keep their entries until the limit drops them, so one that comes back resumes.
    /// Partitions are read one after the other; a STATE follows each partition (or, with
    /// `checkpoint_every`, at most one per period) and the end of the stream.
    ///
    /// ```
    /// use tidemark::{Error, Partitions, Sink, Slice, Source, Streams};
    ///
    /// #[derive(serde::Serialize, schemars::JsonSchema)]
    /// #[tidemark::incremental_stream(cursor = "id", partition = "account")]
    /// struct Invoice {
    ///     account: String,
    ///     id: u64,
    /// }
    ///
    /// struct Billing;
    ///
    /// impl Source for Billing {
    ///     const NAME: &'static str = "source-billing";
    ///     type Config = Vec<String>;
    ///
    ///     fn streams<'a>(&'a self, accounts: &'a Vec<String>) -> Result<Streams<'a>, Error> {
    ///         let partitions = Partitions::list(accounts.iter().cloned());
    ///         Ok(Streams::new().partitioned(
    ///             partitions,
    ///             |slice: &Slice<Invoice>, out: &mut Sink<Invoice>| {
    ///                 let account = slice.partition().clone();
    ///                 let first = slice.after().map_or(1, |id| id + 1);
    ///                 for id in first..=3 {
    ///                     out.emit(&Invoice { account: account.clone(), id })?;
    ///                 }
    ///                 Ok(())
    ///             },
    ///         ))
    ///     }
    /// }
    /// # let _ = Billing;
    /// ```
    #[must_use]
    pub fn partitioned<S, R>(self, partitions: Partitions<'a, S::Partition>, reader: R) -> Self
    where
        S: IncrementalStream + 'a,
        R: Reader<S> + 'a,
    {
        self.register(Box::new(Partitioned::<S, R>::new(partitions, reader)))
    }

    /// Registers the full-refresh stream of record type `S`, read by `reader`: a closure
    /// `|resume: &Resume<S>, out: &mut Sink<S>| -> Result<(), Error>` (annotate both
    /// parameters, as for [`Streams::stream`]), or a type of your own implementing
    /// [`FullRefreshReader`].
    ///
    /// Every sync reads the whole stream: the runtime calls the reader once, which pushes
    /// every record into the [`Sink`] and returns `Err` when it cannot go on. A stream declared
    /// resumable also calls [`Sink::save_position`] after each page; see [`Resume`] for which
    /// sync resumes and which starts over. Streams of both kinds share one namespace: a stream
    /// registered with [`Streams::stream`] and again here makes every command fail with
    /// [`Error::DuplicateStream`].
    ///
    /// [`Resume`]: crate::Resume
    ///
    /// ```
    /// use tidemark::{Error, Resume, Sink, Streams};
    ///
    /// #[derive(serde::Serialize, schemars::JsonSchema)]
    /// #[tidemark::full_refresh_stream(name = "countries", primary_key = "code")]
    /// struct Country {
    ///     code: String,
    /// }
    ///
    /// let streams = Streams::new().full_refresh(|_: &Resume<Country>, out: &mut Sink<Country>| {
    ///     for code in ["FR", "JP"] {
    ///         out.emit(&Country { code: code.to_owned() })?;
    ///     }
    ///     Ok(())
    /// });
    /// # let _ = streams;
    /// ```
    #[must_use]
    pub fn full_refresh<S, R>(self, reader: R) -> Self
    where
        S: FullRefreshStream + 'a,
        R: FullRefreshReader<S> + 'a,
    {
        self.register(Box::new(FullRefresh::<S, R>::new(reader)))
    }

    /// Adds a stream, remembering the first one registered twice.
    fn register(mut self, stream: Box<dyn ErasedStream + 'a>) -> Self {
        if self.duplicate.is_none() {
            let descriptor = stream.descriptor();
            if self.iter().any(|other| other.descriptor() == descriptor) {
                self.duplicate = Some(descriptor);
            }
        }
        self.registered.push(stream);
        self
    }

    pub(crate) fn iter_mut(&mut self) -> impl Iterator<Item = &mut Box<dyn ErasedStream + 'a>> {
        self.registered.iter_mut()
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = &(dyn ErasedStream + 'a)> {
        self.registered.iter().map(AsRef::as_ref)
    }

    /// The most readers running at once in the source.
    pub(crate) fn limit(&self) -> usize {
        self.concurrency
    }

    /// The first stream registered twice, if any.
    pub(crate) fn duplicate(&self) -> Option<&StreamDescriptor> {
        self.duplicate.as_ref()
    }

    pub(crate) fn find(
        &mut self,
        descriptor: &StreamDescriptor,
    ) -> Option<&mut (dyn ErasedStream + 'a)> {
        self.registered
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
/// use tidemark::{Error, Reader, Sink, Slice};
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
///     fn read(&mut self, slice: &Slice<Customer>, out: &mut Sink<Customer>) -> Result<(), Error> {
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
    fn read(&mut self, slice: &Slice<'_, S>, out: &mut Sink<'_, S>) -> Result<(), Error>;

    /// The lower bound of a sync without saved state, overriding the declared `start` (for
    /// example a start date from the configuration); with `lookback`, also the floor a sync
    /// with saved state never looks back past. Called once per sync, when there is no saved
    /// state or the stream declares `lookback`. `None` keeps the declared `start`.
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

/// A closure is a [`Reader`] that only reads: `|slice: &Slice<S>, out: &mut Sink<S>| { .. }`.
impl<S, F> Reader<S> for F
where
    S: IncrementalStream,
    F: FnMut(&Slice<'_, S>, &mut Sink<'_, S>) -> Result<(), Error>,
{
    fn read(&mut self, slice: &Slice<'_, S>, out: &mut Sink<'_, S>) -> Result<(), Error> {
        self(slice, out)
    }
}

/// The sink a reader pushes records into, for streams of both kinds.
pub struct Sink<'r, S> {
    pub(crate) sink: &'r mut (dyn RecordSink<S> + 'r),
}

impl<'r, S> Sink<'r, S> {
    pub(crate) fn new(sink: &'r mut (dyn RecordSink<S> + 'r)) -> Self {
        Sink { sink }
    }
}

impl<S> Sink<'_, S> {
    /// Emits one record.
    ///
    /// For an incremental stream, records outside the slice are dropped silently: at or below
    /// the resume point they were delivered by an earlier sync, beyond the window the next
    /// window reads them; a record whose `Option` cursor is `None` follows the stream's
    /// `on_null`. A full-refresh stream emits every record. Returns an error when the stream
    /// must stop: a record out of the declared order, a record that cannot be serialized,
    /// SIGTERM, or stdout closed. Propagate it with `?`; once an error is returned, every later
    /// call returns an error too and emits nothing.
    pub fn emit(&mut self, record: &S) -> Result<(), Error> {
        self.sink.emit(record)
    }

    /// For a stream declared `order = "desc"` (newest first): whether the reader's feed has
    /// reached what earlier syncs read. It turns true once a record at or below the slice's
    /// lower bound (the saved watermark, or below `start`) was pushed, and stays true for the
    /// rest of the slice: every record of the slice came before it, so the reader may stop
    /// paginating. Records it pushes after that are dropped as usual. Always `false` for
    /// streams in another order.
    ///
    /// ```
    /// use tidemark::{Error, Sink, Slice};
    ///
    /// #[derive(serde::Serialize, schemars::JsonSchema)]
    /// #[tidemark::incremental_stream(cursor = "id", order = "desc")]
    /// struct Post {
    ///     id: u64,
    /// }
    ///
    /// /// A feed API that only returns pages newest first, with no filter.
    /// fn page(number: u64) -> Vec<Post> {
    ///     let newest = 1_000 - number * 100;
    ///     (0..100).map(|i| Post { id: newest - i }).collect()
    /// }
    ///
    /// fn read(slice: &Slice<Post>, out: &mut Sink<Post>) -> Result<(), Error> {
    ///     let mut number = 0;
    ///     while !out.caught_up() && number < 10 {
    ///         for post in page(number) {
    ///             out.emit(&post)?;
    ///         }
    ///         number += 1;
    ///     }
    ///     Ok(())
    /// }
    /// # let _ = read;
    /// ```
    #[must_use]
    pub fn caught_up(&self) -> bool {
        self.sink.caught_up()
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

/// Object-safe face of a stream run, so `Sink` does not carry the output's lifetime.
pub(crate) trait RecordSink<S> {
    fn emit(&mut self, record: &S) -> Result<(), Error>;
    fn estimate(&mut self, rows: u64) -> Result<(), Error>;
    fn rate_limited(&mut self, quota_reset: Option<DateTime<Utc>>) -> Result<(), Error>;
    fn wait(&mut self, duration: std::time::Duration) -> Result<(), Error>;
    /// See `Sink::caught_up`.
    fn caught_up(&self) -> bool;
    /// See `Sink::save_position`: `position` serialized, or why it could not be. Only a
    /// full-refresh stream's run saves positions.
    fn save_position(&mut self, position: Result<Box<RawValue>, Error>) -> Result<(), Error> {
        let _ = position;
        Err(Error::system(
            "`save_position` is for full-refresh streams: an incremental stream's state is its \
             cursor",
        ))
    }
    /// Writes a CONTROL `CONNECTOR_CONFIG` message carrying `config`, the whole new config,
    /// flushed before the call returns.
    fn control(&mut self, config: &serde_json::Value) -> Result<(), Error> {
        let _ = config;
        Err(Error::system(
            "this stream's run cannot save a new configuration",
        ))
    }
    #[cfg_attr(
        not(feature = "http"),
        allow(dead_code, reason = "used by the HTTP toolkit")
    )]
    /// The stream and the slice being read, for the request log.
    fn scope(&self) -> Option<(String, String)> {
        None
    }
    #[cfg_attr(
        not(feature = "http"),
        allow(dead_code, reason = "used by the HTTP toolkit")
    )]
    /// The test read's page limit stopped the slice short: no STATE may claim the rest of it.
    fn cut(&mut self) -> Result<(), Error> {
        Ok(())
    }
}

/// The CONTROL message that asks the platform to store `config` as the connector's config.
pub(crate) fn control_message(config: &serde_json::Value) -> crate::protocol::Message {
    #[expect(
        clippy::cast_precision_loss,
        reason = "milliseconds since 1970 fit in 53 bits"
    )]
    let emitted_at = crate::emitter::now_millis() as f64;
    crate::protocol::Message::Control {
        control: crate::protocol::ControlMessage {
            control_type: "CONNECTOR_CONFIG".to_owned(),
            emitted_at,
            connector_config: crate::protocol::ConnectorConfig {
                config: config.clone(),
            },
        },
    }
}

/// A stream's count against the limits of a test read (`read --max-records N --max-slices N
/// --max-pages N`), shared by the threads that read it.
#[derive(Debug, Default)]
pub(crate) struct Limits {
    settings: crate::cli::TestRead,
    /// Records emitted, or taken by a reader about to emit them.
    records: std::sync::atomic::AtomicU64,
    /// Reader calls started.
    slices: std::sync::atomic::AtomicU64,
    /// The limit that stopped the stream, as the option that set it.
    reached: std::sync::OnceLock<String>,
    /// The records limit was reached: every reader of the stream stops at its next record.
    halted: std::sync::atomic::AtomicBool,
    /// A slice was cut short by `--max-pages`.
    cut: std::sync::atomic::AtomicBool,
}

impl Limits {
    /// The limits of the run on this thread, nothing counted yet.
    pub(crate) fn of_run() -> Self {
        Limits {
            settings: crate::cli::test_read(),
            ..Limits::default()
        }
    }

    /// Takes one record about to be emitted; past `--max-records`, the stream stops.
    pub(crate) fn take_record(&self, stream: &StreamDescriptor) -> Result<(), Error> {
        self.stopped(stream)?;
        let Some(max) = self.settings.max_records else {
            return Ok(());
        };
        let taken = self
            .records
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        if taken >= max {
            self.records
                .fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
            self.halted.store(true, std::sync::atomic::Ordering::SeqCst);
            return Err(self.reach(stream, format!("--max-records {max}")));
        }
        Ok(())
    }

    /// Gives back a record taken but not emitted.
    pub(crate) fn give_back_record(&self) {
        if self.settings.max_records.is_some() {
            self.records
                .fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
        }
    }

    /// Starts one slice (a reader call); past `--max-slices`, the stream stops.
    pub(crate) fn take_slice(&self, stream: &StreamDescriptor) -> Result<(), Error> {
        self.stopped(stream)?;
        if self.try_take_slice() {
            Ok(())
        } else {
            Err(Error::Terminated {
                stream: stream.to_string(),
            })
        }
    }

    /// Starts one slice, a window or a partition read concurrently: `false` past
    /// `--max-slices`, and no more is started; those started are read to their end.
    pub(crate) fn try_take_slice(&self) -> bool {
        let Some(max) = self.settings.max_slices else {
            return true;
        };
        let taken = self
            .slices
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        if taken >= max {
            let _ = self.reached.set(format!("--max-slices {max}"));
            return false;
        }
        true
    }

    /// The error the stream stops with once its records limit was reached.
    pub(crate) fn stopped(&self, stream: &StreamDescriptor) -> Result<(), Error> {
        if self.halted.load(std::sync::atomic::Ordering::SeqCst) {
            Err(Error::Terminated {
                stream: stream.to_string(),
            })
        } else {
            Ok(())
        }
    }

    /// The limit that stopped the stream, if one did.
    pub(crate) fn reached(&self) -> Option<&str> {
        self.reached.get().map(String::as_str)
    }

    fn reach(&self, stream: &StreamDescriptor, limit: String) -> Error {
        let _ = self.reached.set(limit);
        Error::Terminated {
            stream: stream.to_string(),
        }
    }

    /// A slice was cut short by `--max-pages`; says so in a LOG the first time.
    pub(crate) fn cut(&self, stream: &StreamDescriptor) {
        if !self.cut.swap(true, std::sync::atomic::Ordering::SeqCst) {
            let at = self
                .settings
                .max_pages
                .map_or_else(String::new, |max| format!(" at --max-pages {max}"));
            tracing::warn!(
                "stream `{stream}`: test read: a slice was cut short{at}; no STATE of this stream \
                 follows, later slices are still read"
            );
        }
    }

    /// Whether a slice was cut short: no STATE of the stream may be written.
    pub(crate) fn is_cut(&self) -> bool {
        self.cut.load(std::sync::atomic::Ordering::SeqCst)
    }
}

/// A stream that failed, with the error to report.
pub(crate) struct StreamFailure {
    pub(crate) error: Error,
}

/// Type-erased stream, as the entrypoint sees it.
pub(crate) trait ErasedStream {
    fn descriptor(&self) -> StreamDescriptor;
    fn catalog_entry(&self) -> protocol::Stream;
    /// Parses the stream's saved state (once, before any stream is read) and keeps it for
    /// [`ErasedStream::read`]; `full_refresh` ignores it.
    fn load_state(&mut self, mode: SyncMode, input: &InputState) -> Result<(), Error>;
    /// Orders two `stream_state` values of this stream by their watermarks (no watermark is
    /// lowest), for the testing kit.
    fn compare_states(
        &self,
        a: &serde_json::value::RawValue,
        b: &serde_json::value::RawValue,
    ) -> Result<std::cmp::Ordering, Error>;
    /// Whether the stream declares `lookback` (its overlap is re-sent on purpose).
    fn has_lookback(&self) -> bool;
    /// Whether a sync resumed from `state` (this stream's saved `stream_state`) may send
    /// `record` again by design, for the testing kit: a partition dropped from a full
    /// partitioned state is read from its start.
    fn may_resend(
        &self,
        state: Option<&serde_json::value::RawValue>,
        record: &serde_json::Value,
    ) -> bool {
        let _ = (state, record);
        false
    }
    /// Reads the stream from the state [`ErasedStream::load_state`] kept, with readers from
    /// `budget` if it was registered to be read concurrently; `Err` only when output failed and
    /// the run must stop.
    fn read(
        &mut self,
        started_at: DateTime<Utc>,
        budget: &Budget,
        out: &mut Emitter<'_>,
    ) -> Result<Option<StreamFailure>, Error>;

    /// Whether the stream was registered to be read concurrently: [`ErasedStream::detach`]
    /// gives its read.
    fn is_concurrent(&self) -> bool {
        false
    }

    /// For a stream registered to be read concurrently: its read from the state
    /// [`ErasedStream::load_state`] kept, to run on a thread of its own at the same time as the
    /// other such streams. `None` for a stream read on the calling thread with
    /// [`ErasedStream::read`].
    fn detach<'x>(
        &'x mut self,
        started_at: DateTime<Utc>,
        budget: &'x Budget,
    ) -> Option<StreamJob<'x>> {
        let _ = (started_at, budget);
        None
    }
}

struct Registered<S: IncrementalStream, R> {
    reader: R,
    /// The saved state, parsed by `load_state`.
    saved: Option<S::State>,
    /// Reads every slice, one after the other.
    read: ReadSlices<S, R>,
    /// Reads every slice, windows at the same time, on a thread of its own.
    concurrent: Option<DetachSlices<S, R>>,
}

/// A stream's read from its saved state, on a thread of its own.
type DetachSlices<S, R> = for<'x> fn(
    &'x mut R,
    &'x <S as IncrementalStream>::State,
    DateTime<Utc>,
    &'x Budget,
) -> StreamJob<'x>;

/// Reads every slice of a stream from its saved state, with up to `limit` readers at once.
type ReadSlices<S, R> = fn(
    &mut R,
    &<S as IncrementalStream>::State,
    DateTime<Utc>,
    &mut IncrementalRun<'_, '_, S>,
) -> Result<(), Error>;

/// Reads every slice, one after the other.
fn read_all_slices<S: IncrementalStream<Partition = ()>, R: Reader<S>>(
    reader: &mut R,
    state: &S::State,
    started_at: DateTime<Utc>,
    run: &mut IncrementalRun<'_, '_, S>,
) -> Result<(), Error> {
    read_slices(
        reader,
        state,
        &(),
        started_at,
        &mut LazyBounds::default(),
        run,
    )
}

impl<S, R> ErasedStream for Registered<S, R>
where
    S: IncrementalStream<Partition = ()>,
    R: Reader<S>,
{
    fn descriptor(&self) -> StreamDescriptor {
        S::descriptor()
    }

    fn catalog_entry(&self) -> protocol::Stream {
        S::catalog_entry()
    }

    fn load_state(&mut self, mode: SyncMode, input: &InputState) -> Result<(), Error> {
        self.saved = match mode {
            SyncMode::Incremental => parse_stream_state::<S>(input.stream_state(&S::descriptor()))?,
            SyncMode::FullRefresh => None,
        };
        Ok(())
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

    fn may_resend(&self, state: Option<&RawValue>, record: &serde_json::Value) -> bool {
        self.concurrent.is_some()
            && parse_stream_state::<S>(state).is_ok_and(|state| {
                let watermark = state.and_then(|state| state.watermark());
                crate::concurrent::may_resend::<S>(watermark.as_ref(), record)
            })
    }

    fn read(
        &mut self,
        started_at: DateTime<Utc>,
        _budget: &Budget,
        out: &mut Emitter<'_>,
    ) -> Result<Option<StreamFailure>, Error> {
        let state = self.saved.take().unwrap_or_default();
        let (reader, read) = (&mut self.reader, self.read);
        run_stream(S::descriptor(), Incremental::new(None), out, |run| {
            read(reader, &state, started_at, run)
        })
    }

    fn is_concurrent(&self) -> bool {
        self.concurrent.is_some()
    }

    fn detach<'x>(
        &'x mut self,
        started_at: DateTime<Utc>,
        budget: &'x Budget,
    ) -> Option<StreamJob<'x>> {
        let detach = self.concurrent?;
        let state = self.saved.get_or_insert_default();
        Some(detach(&mut self.reader, state, started_at, budget))
    }
}

/// Runs one stream's read with `read`: a `STREAM_STATUS` `STARTED`; the reader, a panic
/// reported like an error; then `COMPLETE`, or after a failure the tracker's last STATE (if it
/// has one) and `INCOMPLETE`. `Err` only when output failed and the run must stop.
pub(crate) fn run_stream<T: Tracker>(
    descriptor: StreamDescriptor,
    tracker: T,
    out: &mut Emitter<'_>,
    read: impl FnOnce(&mut StreamRun<'_, '_, T>) -> Result<(), Error>,
) -> Result<Option<StreamFailure>, Error> {
    out.stream_status(&descriptor, StreamStatus::Started)?;
    let mut run = StreamRun {
        tracker,
        frame: RecordFrame::new(&descriptor),
        descriptor,
        out,
        running: false,
        writing: false,
        progress: Progress::new(),
        failed: None,
        slice: String::new(),
        limits: std::sync::Arc::new(Limits::of_run()),
    };
    // A panicking reader is reported like a failing one: the other streams still run.
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| read(&mut run)))
        .unwrap_or_else(|payload| {
            run.recover_from_panic();
            Err(Error::Panic {
                stream: run.descriptor.to_string(),
                message: panic_message(payload.as_ref()),
            })
        });
    // An error from `Sink::emit` wins over what the reader made of it.
    let result = match run.failed.take() {
        Some(error) => Err(error),
        None => result,
    };
    if run.out.progress() {
        run.progress.finish(&run.descriptor);
    }
    match result {
        // Windows or partitions read concurrently stop taking more at `--max-slices`; a slice
        // cut short by `--max-pages` leaves the stream without its final STATE.
        Ok(()) if run.limits.is_cut() || run.limits.reached().is_some() => {
            if let Some(limit) = run.limits.reached() {
                tracing::warn!(
                    "stream `{}`: test read: stopped at {limit}; the last STATE holds only \
                     records emitted before it",
                    run.descriptor
                );
            }
            run.out
                .stream_status(&run.descriptor, StreamStatus::Incomplete)?;
            Ok(None)
        }
        Ok(()) => {
            run.out
                .stream_status(&run.descriptor, StreamStatus::Complete)?;
            Ok(None)
        }
        Err(Error::Output(err)) => Err(Error::Output(err)),
        // A test read's limit: the stream stops as on SIGTERM, after its last safe STATE, and
        // the run goes on.
        Err(error @ Error::Terminated { .. }) if run.limits.reached().is_some() => {
            if let Some(records) = run.tracker.fail(&error) {
                run.write_state(records)?;
            }
            let limit = run.limits.reached().unwrap_or_default();
            tracing::warn!(
                "stream `{}`: test read: stopped at {limit}; the last STATE holds only records \
                 emitted before it",
                run.descriptor
            );
            run.out
                .stream_status(&run.descriptor, StreamStatus::Incomplete)?;
            Ok(None)
        }
        Err(error) => {
            if let Some(records) = run.tracker.fail(&error) {
                run.write_state(records)?;
            }
            run.out
                .stream_status(&run.descriptor, StreamStatus::Incomplete)?;
            Ok(Some(StreamFailure { error }))
        }
    }
}

/// Calls the reader once with a sink on `run`; an error `emit` returned ends the stream even
/// when the reader swallowed it.
pub(crate) fn call_reader<T: Tracker>(
    run: &mut StreamRun<'_, '_, T>,
    read: impl FnOnce(&mut Sink<'_, T::Record>) -> Result<(), Error>,
) -> Result<(), Error> {
    if run.out.stop_requested() {
        return Err(Error::Terminated {
            stream: run.descriptor.to_string(),
        });
    }
    run.limits.take_slice(&run.descriptor)?;
    read(&mut Sink::new(run))?;
    match run.failed.take() {
        Some(error) => Err(error),
        None => Ok(()),
    }
}

/// The core of a sync of `S` resuming from `saved`: the reader's bounds (each asked once per
/// sync, when needed) and the slices they plan.
pub(crate) fn plan<S: IncrementalStream>(
    reader: &mut impl Reader<S>,
    saved: Option<S::Cursor>,
    started_at: DateTime<Utc>,
    bounds: &mut LazyBounds<S::Cursor>,
    stream: &str,
) -> Result<Core<Declared<S>>, Error> {
    let declaration = Declared::<S>::new();
    let start = if Core::needs_start(&declaration, saved.as_ref()) {
        bounds.start(reader)?
    } else {
        None
    };
    let bounds = ReaderBounds {
        start,
        end: bounds.end(reader)?,
    };
    Core::new(declaration, saved, started_at, bounds)
        .map_err(|error| Error::system(error.message(stream)))
}

/// The error a record the core refused stops stream `stream` with.
pub(crate) fn refused<S: IncrementalStream>(refusal: Refusal<S::Cursor>, stream: &str) -> Error {
    match refusal {
        Refusal::OutOfOrder { previous, next } => Error::OrderViolation {
            stream: stream.to_owned(),
            previous: cursor::to_json(&previous),
            next: cursor::to_json(&next),
        },
        Refusal::NullCursor => Error::NullCursor {
            stream: stream.to_owned(),
            field: S::CURSOR_FIELD.join("."),
        },
    }
}

/// The reader's `start` and `end`, each asked once per sync when first needed.
#[derive(Clone)]
pub(crate) struct LazyBounds<C> {
    start: std::cell::OnceCell<Option<C>>,
    end: std::cell::OnceCell<Option<C>>,
}

impl<C> Default for LazyBounds<C> {
    fn default() -> Self {
        LazyBounds {
            start: std::cell::OnceCell::new(),
            end: std::cell::OnceCell::new(),
        }
    }
}

impl<C: Clone> LazyBounds<C> {
    pub(crate) fn start<S: IncrementalStream<Cursor = C>>(
        &mut self,
        reader: &mut impl Reader<S>,
    ) -> Result<Option<C>, Error> {
        if let Some(start) = self.start.get() {
            return Ok(start.clone());
        }
        let start = reader.start()?;
        Ok(self.start.get_or_init(|| start).clone())
    }

    pub(crate) fn end<S: IncrementalStream<Cursor = C>>(
        &mut self,
        reader: &mut impl Reader<S>,
    ) -> Result<Option<C>, Error> {
        if let Some(end) = self.end.get() {
            return Ok(end.clone());
        }
        let end = reader.end()?;
        Ok(self.end.get_or_init(|| end).clone())
    }
}

/// Reads one partition of a partitioned stream to its end, from its saved watermark.
pub(crate) fn read_partition<S: IncrementalStream>(
    reader: &mut impl Reader<S>,
    partition: &S::Partition,
    started_at: DateTime<Utc>,
    bounds: &mut LazyBounds<S::Cursor>,
    run: &mut IncrementalRun<'_, '_, S>,
) -> Result<(), Error> {
    let saved = run
        .book()
        .and_then(|book| book.watermark(partition).cloned());
    let state = S::State::from_watermark(saved);
    run.tracker.partition = Some(partition.clone());
    read_slices(reader, &state, partition, started_at, bounds, run)?;
    run.tracker.partition = None;
    Ok(())
}

/// Reads the stream's (or one partition's) slices as the core plans them; ends with the final
/// STATE when every slice was read (for a partition, with its STATE if one is due).
fn read_slices<S: IncrementalStream>(
    reader: &mut impl Reader<S>,
    state: &S::State,
    partition: &S::Partition,
    started_at: DateTime<Utc>,
    bounds: &mut LazyBounds<S::Cursor>,
    run: &mut IncrementalRun<'_, '_, S>,
) -> Result<(), Error> {
    let core = plan::<S>(
        reader,
        state.watermark(),
        started_at,
        bounds,
        &run.descriptor.to_string(),
    )?;
    run.tracker.core = Some(core);
    while let Some((lower, upper)) = run.tracker.core.as_mut().and_then(Core::next_slice) {
        run.slice = slice_label::<S>(partition, &lower, &upper);
        let slice = Slice::new(state, partition, lower, upper);
        call_reader(run, |out| reader.read(&slice, out))?;
        run.tracker.tell_period();
        if let Some(records) = run.tracker.core.as_mut().and_then(Core::slice_done) {
            run.write_state(records)?;
        }
    }
    let records = run.tracker.core.as_mut().map_or(0, Core::finish);
    run.end_of_slices(records)
}

/// How the request log names a slice: its partition (when there is one) and its bounds, such
/// as `{"repo":"a/b"} (2024-01-01T00:00:00Z, ..]`.
pub(crate) fn slice_label<S: IncrementalStream>(
    partition: &S::Partition,
    lower: &Bound<S::Cursor>,
    upper: &Bound<S::Cursor>,
) -> String {
    use std::fmt::Write as _;
    let mut label = String::new();
    if let Ok(partition) = serde_json::to_string(partition)
        && partition != "null"
    {
        label.push_str(&partition);
        label.push(' ');
    }
    match lower {
        Bound::Unbounded => label.push_str("(.."),
        Bound::Excluded(cursor) => {
            let _ = write!(label, "({}", cursor::to_json(cursor));
        }
        Bound::Included(cursor) => {
            let _ = write!(label, "[{}", cursor::to_json(cursor));
        }
    }
    match upper {
        Bound::Unbounded => label.push_str(", ..)"),
        Bound::Excluded(cursor) => {
            let _ = write!(label, ", {})", cursor::to_json(cursor));
        }
        Bound::Included(cursor) => {
            let _ = write!(label, ", {}]", cursor::to_json(cursor));
        }
    }
    label
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

    /// `count` records written at once (by concurrent readers).
    fn add(&mut self, count: u64, stream: &StreamDescriptor) {
        self.records += count;
        if self.shown.elapsed() >= std::time::Duration::from_secs(1) {
            self.shown = std::time::Instant::now();
            self.show(stream, "(concurrent)");
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
pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(text) = payload.downcast_ref::<&str>() {
        (*text).to_owned()
    } else if let Some(text) = payload.downcast_ref::<String>() {
        text.clone()
    } else {
        "a non-string panic payload".to_owned()
    }
}

/// What decides the STATE messages of one kind of stream as its records go out: the
/// contract's core (and a partitioned stream's book) for an incremental stream, the saved
/// position for a full-refresh one.
pub(crate) trait Tracker {
    /// The stream's record type.
    type Record: Serialize;

    /// Whether `record` is emitted, perhaps after a STATE; `Err` stops the stream.
    fn admit(&mut self, record: &Self::Record, stream: &StreamDescriptor) -> Result<Admit, Error>;
    /// The admitted record was written.
    fn wrote(&mut self);
    /// The last admitted record was not written after all: it is not counted.
    fn retract(&mut self);
    /// Writes the STATE the stream is at, covering `records` records.
    fn write_state(
        &mut self,
        stream: &StreamDescriptor,
        records: u64,
        out: &mut Emitter<'_>,
    ) -> Result<(), Error>;
    /// The reader failed with `error`: the `recordCount` of a last STATE to emit, if any.
    fn fail(&mut self, error: &Error) -> Option<u64>;
    /// The reader saved `position` (`Sink::save_position`): the `recordCount` of the STATE to
    /// emit, `None` when nothing moved; `Err` stops the stream.
    fn save_position(
        &mut self,
        stream: &StreamDescriptor,
        position: Box<RawValue>,
    ) -> Result<Option<u64>, Error>;
    /// Where the stream is, for the progress line.
    fn progress(&self, record: &Self::Record) -> String;
    /// See `Sink::caught_up`: only a newest-first stream catches up.
    fn caught_up(&self) -> bool {
        false
    }
}

/// An incremental stream's state: the contract's core once the slices are planned, and for a
/// partitioned stream the book of every partition's watermark.
pub(crate) struct Incremental<S: IncrementalStream> {
    /// The contract's decisions, once the slices are planned.
    core: Option<Core<Declared<S>>>,
    /// A partitioned stream's state: each partition's watermark.
    book: Option<Book<S>>,
    /// The partition being read.
    partition: Option<S::Partition>,
    /// Records written since the last STATE.
    written: u64,
    /// With `checkpoint_every`: the time since the stream's previous STATE. `None` otherwise,
    /// so that no clock is read per record.
    timer: Option<Timer>,
}

impl<S: IncrementalStream> Incremental<S> {
    pub(crate) fn new(book: Option<Book<S>>) -> Self {
        Incremental {
            core: None,
            book,
            partition: None,
            written: 0,
            timer: S::POLICY.period.map(Timer::new),
        }
    }

    /// With `checkpoint_every`, tells the core whether the period elapsed since the previous
    /// STATE; without it, reads no clock.
    fn tell_period(&mut self) {
        if let Some(timer) = &mut self.timer
            && let Some(core) = &mut self.core
        {
            core.set_period_elapsed(timer.elapsed());
        }
    }

    /// Whether a partitioned stream's STATE is due at a safe point between records (a
    /// partition's end, the parent's move): with `checkpoint = "slice"`, once the period of
    /// `checkpoint_every` (if any) elapsed since the previous STATE.
    pub(crate) fn state_due(&mut self) -> bool {
        S::POLICY.at == CheckpointAt::Slice && self.timer.as_mut().is_none_or(Timer::elapsed)
    }
}

/// The period of `checkpoint_every`, measured since the stream's previous STATE.
struct Timer {
    period: std::time::Duration,
    since: std::time::Instant,
    /// The period elapsed: the clock is not read again until the next STATE.
    elapsed: bool,
}

impl Timer {
    fn new(period: std::time::Duration) -> Self {
        Timer {
            period,
            since: std::time::Instant::now(),
            elapsed: false,
        }
    }

    fn elapsed(&mut self) -> bool {
        if !self.elapsed {
            self.elapsed = self.since.elapsed() >= self.period;
        }
        self.elapsed
    }

    fn reset(&mut self) {
        self.since = std::time::Instant::now();
        self.elapsed = false;
    }
}

/// A run of an incremental stream.
pub(crate) type IncrementalRun<'r, 'o, S> = StreamRun<'r, 'o, Incremental<S>>;

impl<S: IncrementalStream> Tracker for Incremental<S> {
    type Record = S;

    fn admit(&mut self, record: &S, stream: &StreamDescriptor) -> Result<Admit, Error> {
        let Some(core) = &mut self.core else {
            return Err(Error::system(format!(
                "stream `{stream}`: a record was emitted outside of `Reader::read`"
            )));
        };
        if let Some(partition) = &self.partition
            && record.partition() != partition
        {
            return Err(Error::system(format!(
                "stream `{stream}`: a record of partition {:?} was emitted while reading \
                 partition {partition:?}",
                record.partition()
            )));
        }
        if let Some(timer) = &mut self.timer {
            core.set_period_elapsed(timer.elapsed());
        }
        core.admit(record.cursor().as_deref())
            .map_err(|refusal| refused::<S>(refusal, &stream.to_string()))
    }

    fn wrote(&mut self) {
        self.written += 1;
    }

    fn retract(&mut self) {
        if let Some(core) = &mut self.core {
            core.retract();
        }
    }

    /// A STATE covering `records` records: the core's watermark, or for a partitioned stream
    /// every partition's, with the current one's from the core.
    fn write_state(
        &mut self,
        stream: &StreamDescriptor,
        records: u64,
        out: &mut Emitter<'_>,
    ) -> Result<(), Error> {
        let watermark = self
            .core
            .as_ref()
            .and_then(|core| core.watermark().cloned());
        let written = std::mem::take(&mut self.written);
        if let Some(timer) = &mut self.timer {
            timer.reset();
        }
        let Some(book) = &mut self.book else {
            let state = S::State::from_watermark(watermark);
            return out.state(stream, &state, records);
        };
        if let Some(partition) = &self.partition {
            book.set(partition, watermark);
        }
        if book.dropped > 0 {
            tracing::warn!(
                "stream `{stream}`: {} partitions dropped from the state, which keeps the {} \
                 most recently read; each is read again from its start the next time",
                book.dropped,
                S::MAX_PARTITIONS
            );
            book.dropped = 0;
        }
        book.dirty = false;
        out.state(stream, &*book, written)
    }

    fn fail(&mut self, error: &Error) -> Option<u64> {
        let failure = match error {
            Error::OrderViolation { .. } => Failure::SourceOutOfOrder,
            _ => Failure::Stopped,
        };
        let moved = self.core.as_mut().and_then(|core| core.fail(failure));
        // Partitions read, or the parent's state moved, since the last STATE.
        // With `checkpoint = "end"`, nothing but the final STATE, even when partitions were
        // read to their end.
        moved.or_else(|| {
            (S::POLICY.at == CheckpointAt::Slice
                && self.book.as_ref().is_some_and(|book| book.dirty))
            .then_some(0)
        })
    }

    fn save_position(
        &mut self,
        stream: &StreamDescriptor,
        _position: Box<RawValue>,
    ) -> Result<Option<u64>, Error> {
        Err(Error::system(format!(
            "stream `{stream}` is incremental: its state is its cursor, and `save_position` is \
             for full-refresh streams"
        )))
    }

    fn progress(&self, record: &S) -> String {
        record
            .cursor()
            .map_or_else(|| "null".to_owned(), |cursor| cursor::to_json(&*cursor))
    }

    fn caught_up(&self) -> bool {
        self.core.as_ref().is_some_and(Core::caught_up)
    }
}

/// Past this many partitions, a STATE after each partition is worth a warning.
const MANY_PARTITIONS: usize = 1_000;

/// One stream being read: the tracker deciding its state, the emitter writing.
pub(crate) struct StreamRun<'r, 'o, T> {
    /// What decides the stream's state.
    pub(crate) tracker: T,
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
    /// The slice being read, as the request log names it.
    pub(crate) slice: String,
    /// The stream's count against a test read's limits.
    limits: std::sync::Arc<Limits>,
}

impl<S: IncrementalStream> IncrementalRun<'_, '_, S> {
    /// Every slice was read: the final STATE, or for a partition its STATE if one is due.
    fn end_of_slices(&mut self, records: u64) -> Result<(), Error> {
        let tracker = &mut self.tracker;
        let Some(book) = &mut tracker.book else {
            return self.write_state(records);
        };
        let watermark = tracker
            .core
            .take()
            .and_then(|core| core.watermark().cloned());
        if let Some(partition) = &tracker.partition {
            book.set(partition, watermark);
        }
        if book.dirty && tracker.state_due() {
            self.write_state(records)?;
        }
        Ok(())
    }

    /// The end of a partitioned stream: its final STATE, always emitted.
    pub(crate) fn finish_partitions(&mut self) -> Result<(), Error> {
        let tracked = self.tracker.book.as_ref().map_or(0, Book::len);
        if tracked > MANY_PARTITIONS
            && S::POLICY.period.is_none()
            && S::POLICY.at == CheckpointAt::Slice
        {
            tracing::warn!(
                "stream `{}`: {tracked} partitions, and a STATE holding all of them after each \
                 partition: declare `checkpoint_every` (say \"PT30S\") to emit it at most that \
                 often",
                self.descriptor
            );
        }
        self.write_state(0)
    }

    /// A partitioned stream's state, if this is one.
    pub(crate) fn book(&self) -> Option<&Book<S>> {
        self.tracker.book.as_ref()
    }

    /// The parent's state moved: every partition of its records up to it was read.
    pub(crate) fn parent_moved(
        &mut self,
        parent: &'static str,
        state: Box<RawValue>,
    ) -> Result<(), Error> {
        let Some(book) = &mut self.tracker.book else {
            return Ok(());
        };
        book.set_parent(parent, state);
        if book.dirty && self.tracker.state_due() {
            self.write_state(0)?;
        }
        Ok(())
    }

    /// Whether SIGTERM arrived.
    pub(crate) fn stop_requested(&self) -> bool {
        self.out.stop_requested()
    }

    /// The flag SIGTERM sets, if the run watches one.
    pub(crate) fn sigterm(&self) -> Option<&'static std::sync::atomic::AtomicBool> {
        self.out.stop_flag()
    }

    /// Records written since the previous STATE.
    pub(crate) fn written(&self) -> u64 {
        self.tracker.written
    }

    /// The stream.
    pub(crate) fn descriptor(&self) -> &StreamDescriptor {
        &self.descriptor
    }

    /// Writes `count` record lines serialized by a concurrent reader.
    pub(crate) fn write_lines(&mut self, lines: &[u8], count: u64) -> Result<(), Error> {
        if !self.running {
            self.running = true;
            self.out
                .stream_status(&self.descriptor, StreamStatus::Running)?;
        }
        self.tracker.written += count;
        if self.out.progress() {
            self.progress.add(count, &self.descriptor);
        }
        self.out.lines(lines)
    }

    /// Writes a STATE of an unpartitioned stream with `watermark`, covering the records
    /// written since the previous one.
    pub(crate) fn write_watermark(&mut self, watermark: Option<S::Cursor>) -> Result<(), Error> {
        if self.limits.is_cut() {
            return Ok(());
        }
        let records = std::mem::take(&mut self.tracker.written);
        if let Some(timer) = &mut self.tracker.timer {
            timer.reset();
        }
        let state = S::State::from_watermark(watermark);
        self.out.state(&self.descriptor, &state, records)
    }

    /// With `checkpoint_every`, whether the period elapsed since the previous STATE; `true`
    /// without it.
    pub(crate) fn period_elapsed(&mut self) -> bool {
        self.tracker.timer.as_mut().is_none_or(Timer::elapsed)
    }

    /// Whether a STATE may be emitted at a safe point now (see `Incremental::state_due`).
    pub(crate) fn state_due(&mut self) -> bool {
        self.tracker.state_due()
    }

    /// A partition read concurrently broke its declared order: its entry goes back to
    /// `watermark`, what the last STATE held for it (`None`: no entry).
    pub(crate) fn partition_withdrawn(
        &mut self,
        partition: &S::Partition,
        watermark: Option<S::Cursor>,
    ) {
        if let Some(book) = &mut self.tracker.book {
            book.withdraw(partition, watermark);
        }
    }

    /// A partition read concurrently reached a safe point at `watermark`: its entry moves, and
    /// a STATE follows if one is due.
    pub(crate) fn partition_moved(
        &mut self,
        partition: &S::Partition,
        watermark: Option<S::Cursor>,
        due: bool,
    ) -> Result<(), Error> {
        let Some(book) = &mut self.tracker.book else {
            return Ok(());
        };
        book.set(partition, watermark);
        if due && book.dirty && self.tracker.state_due() {
            self.write_state(0)?;
        }
        Ok(())
    }
}

impl<T: Tracker> StreamRun<'_, '_, T> {
    /// The stream's count against a test read's limits, for the threads that read it.
    pub(crate) fn limits(&self) -> std::sync::Arc<Limits> {
        std::sync::Arc::clone(&self.limits)
    }

    /// Writes the STATE the tracker is at, covering `records` records.
    pub(crate) fn write_state(&mut self, records: u64) -> Result<(), Error> {
        if self.limits.is_cut() {
            return Ok(());
        }
        self.tracker
            .write_state(&self.descriptor, records, self.out)
    }

    /// After a panic: drops a half-written record line and its count.
    fn recover_from_panic(&mut self) {
        if std::mem::take(&mut self.writing) {
            self.tracker.retract();
        }
        self.out.discard_partial_line();
    }

    /// Runs `attempt` unless the stream has already failed; its error ends the stream.
    fn guarded(
        &mut self,
        attempt: impl FnOnce(&mut Self) -> Result<(), Error>,
    ) -> Result<(), Error> {
        if let Some(error) = &self.failed {
            return Err(stopped(error));
        }
        attempt(self).map_err(|error| {
            let returned = stopped(&error);
            self.failed = Some(error);
            returned
        })
    }

    fn try_emit(&mut self, record: &T::Record) -> Result<(), Error> {
        if self.out.stop_requested() {
            return Err(Error::Terminated {
                stream: self.descriptor.to_string(),
            });
        }
        self.limits.take_record(&self.descriptor)?;
        let admitted = self.tracker.admit(record, &self.descriptor);
        if !matches!(admitted, Ok(Admit::Emit | Admit::CheckpointThenEmit { .. })) {
            self.limits.give_back_record();
        }
        match admitted? {
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
            self.tracker.retract();
        } else {
            self.tracker.wrote();
            if self.out.progress() {
                let tracker = &self.tracker;
                self.progress
                    .tick(&self.descriptor, || tracker.progress(record));
            }
        }
        written
    }
}

impl<T: Tracker> RecordSink<T::Record> for StreamRun<'_, '_, T> {
    fn wait(&mut self, duration: std::time::Duration) -> Result<(), Error> {
        self.out.flush()?;
        let (out, descriptor) = (&*self.out, &self.descriptor);
        interruptible_wait(duration, || {
            out.stop_requested().then(|| Error::Terminated {
                stream: descriptor.to_string(),
            })
        })
    }

    fn estimate(&mut self, rows: u64) -> Result<(), Error> {
        self.out.estimate(&self.descriptor, rows)
    }

    fn caught_up(&self) -> bool {
        self.tracker.caught_up()
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

    fn emit(&mut self, record: &T::Record) -> Result<(), Error> {
        self.guarded(|run| run.try_emit(record))
    }

    fn control(&mut self, config: &serde_json::Value) -> Result<(), Error> {
        self.out.message(&control_message(config))?;
        self.out.flush()
    }

    fn scope(&self) -> Option<(String, String)> {
        Some((self.descriptor.to_string(), self.slice.clone()))
    }

    fn cut(&mut self) -> Result<(), Error> {
        self.limits.cut(&self.descriptor);
        Ok(())
    }

    fn save_position(&mut self, position: Result<Box<RawValue>, Error>) -> Result<(), Error> {
        self.guarded(
            |run| match run.tracker.save_position(&run.descriptor, position?)? {
                Some(records) => run.write_state(records),
                None => Ok(()),
            },
        )
    }
}

/// Sleeps `duration`, checking `stop` every 50 ms: its error ends the wait at once.
pub(crate) fn interruptible_wait(
    duration: std::time::Duration,
    stop: impl Fn() -> Option<Error>,
) -> Result<(), Error> {
    const STEP: std::time::Duration = std::time::Duration::from_millis(50);
    let deadline = std::time::Instant::now() + duration;
    loop {
        if let Some(error) = stop() {
            return Err(error);
        }
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        if left.is_zero() {
            return Ok(());
        }
        std::thread::sleep(left.min(STEP));
    }
}

/// What `emit` returns once the stream has failed; the runtime reports the original error.
pub(crate) fn stopped(error: &Error) -> Error {
    match error {
        Error::Output(err) => Error::Output(std::io::Error::new(err.kind(), err.to_string())),
        other => Error::system(format!("the stream has stopped: {other}")),
    }
}

#[cfg(all(test, feature = "http"))]
#[path = "test_read_tests.rs"]
mod test_read_tests;
