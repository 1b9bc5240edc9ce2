//! Partitioned streams: records read per partition (a repository, an account), one watermark
//! per partition in the stream's state, each keeping the contract on its own.
//!
//! The state is the Airbyte CDK's per-partition form, so a connector moving from the CDK keeps
//! its saved state:
//!
//! ```json
//! {"states": [{"partition": "org/repo", "cursor": {"updated_at": "2024-05-01T00:00:00Z"}}],
//!  "parent_state": {"repositories": {"pushed_at": "2024-05-01T00:00:00Z"}}}
//! ```
//!
//! - `states` lists at most `max_partitions` partitions, the least recently read first. When a
//!   sync reads more, the least recently read are dropped from the state, and a dropped
//!   partition is read again from its start the next time (its records are sent again; none is
//!   lost). A partition with no entry cannot be told apart from a new one, so no watermark
//!   shared by several partitions (the CDK's global `state`) is applied to it: a new partition
//!   is always read from its start. The CDK's `state`, `use_global_cursor` and
//!   `lookback_window` keys are accepted and ignored, with a warning.
//! - `parent_state` holds the watermark of the parent stream whose records produce the
//!   partitions, when there is one: it only moves past a parent record once every partition
//!   that record produced has been read to its end.

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};
use std::marker::PhantomData;

use chrono::{DateTime, Utc};
use serde::ser::{SerializeMap, SerializeSeq};
use serde::{Deserialize, Serialize, Serializer};
use serde_json::value::RawValue;

use crate::concurrent::{Budget, StreamJob};
use crate::contract::{Admit, Core, Declared, Failure};
use crate::emitter::Emitter;
use crate::error::Error;
use crate::json;
use crate::protocol::{self, StreamDescriptor, SyncMode};
use crate::source::{
    ErasedStream, Incremental, LazyBounds, Reader, RecordSink, Sink, StreamFailure, plan,
    read_partition, refused, run_stream,
};
use crate::state::{InputState, parse_stream_state};
use crate::stream::{IncrementalStream, PartitionKey, Slice, StreamState};

/// Where a partitioned stream's partitions come from: a list, a function called when the sync
/// starts, or the records of a parent stream.
///
/// ```
/// use tidemark::Partitions;
///
/// // Three repositories named in the config.
/// let listed: Partitions<String> = Partitions::list(["a/x", "a/y", "b/z"].map(String::from));
/// # let _ = listed;
/// ```
pub struct Partitions<'a, P> {
    source: PartitionSource<'a, P>,
}

enum PartitionSource<'a, P> {
    List(Vec<P>),
    Listed(Box<dyn FnMut() -> Result<Vec<P>, Error> + 'a>),
    Parent(Box<dyn ParentSource<P> + 'a>),
}

impl<'a, P: PartitionKey + 'a> Partitions<'a, P> {
    /// These partitions, read in this order (a partition listed twice is read once).
    pub fn list(partitions: impl IntoIterator<Item = P>) -> Self {
        Partitions {
            source: PartitionSource::List(distinct(partitions.into_iter().collect())),
        }
    }

    /// The partitions `list` returns, called once when the stream's sync starts (for example
    /// every repository an API lists). An error fails the stream before anything is read.
    pub fn from_fn(list: impl FnMut() -> Result<Vec<P>, Error> + 'a) -> Self {
        Partitions {
            source: PartitionSource::Listed(Box::new(list)),
        }
    }

    /// One partition per record of the incremental stream `T`, read by `reader` (the records
    /// are not emitted: register `T` on its own as well to emit them), `key` naming the
    /// partition a parent record produces.
    ///
    /// The parent's watermark is kept in this stream's state (`parent_state`), so the next sync
    /// only reads the partitions of parent records past it; it moves past a parent record only
    /// once the partition that record produced has been read to its end, so a failure never
    /// skips a partition. Use a parent only when a change in a partition moves its parent's
    /// cursor (a new comment updates its issue); otherwise list the partitions with
    /// [`Partitions::from_fn`] so that every partition is read by every sync.
    pub fn from_parent<T, R, F>(reader: R, key: F) -> Self
    where
        T: IncrementalStream<Partition = ()> + 'a,
        R: Reader<T> + 'a,
        F: FnMut(&T) -> P + 'a,
    {
        Partitions {
            source: PartitionSource::Parent(Box::new(Parent {
                reader,
                key,
                record: PhantomData,
            })),
        }
    }
}

/// The partitions in their first order, each once.
fn distinct<P: Ord + Clone>(partitions: Vec<P>) -> Vec<P> {
    let mut seen = BTreeSet::new();
    partitions
        .into_iter()
        .filter(|partition| seen.insert(partition.clone()))
        .collect()
}

/// A partition's entry in the state.
#[derive(Debug, Clone)]
struct Entry<C> {
    /// When it was last read: larger is more recent.
    read: u64,
    watermark: C,
}

/// A partitioned stream's state during a sync: each partition's watermark, most recently read
/// last, and the parent's state.
#[derive(Debug)]
pub(crate) struct Book<S: IncrementalStream> {
    entries: BTreeMap<S::Partition, Entry<S::Cursor>>,
    /// The entries by `read`, oldest first.
    recency: BTreeMap<u64, S::Partition>,
    next: u64,
    /// The watermarks of the state the sync started from: a partition dropped from
    /// `entries` during the sync is still read from its saved watermark, so a sync never
    /// drops a partition it has yet to read (with more partitions than the limit, the ones
    /// read first would otherwise push out the ones read next, and every partition would be
    /// read from its start).
    saved: BTreeMap<S::Partition, S::Cursor>,
    /// The parent streams' `stream_state`s by name: the registered parent's is read, and
    /// replaces them all once it moves.
    parent: BTreeMap<String, Box<RawValue>>,
    /// Partitions dropped from the state by the limit during this sync.
    pub(crate) dropped: u64,
    /// The state changed since the last STATE.
    pub(crate) dirty: bool,
}

impl<S: IncrementalStream> Default for Book<S> {
    fn default() -> Self {
        Book {
            entries: BTreeMap::new(),
            recency: BTreeMap::new(),
            next: 0,
            saved: BTreeMap::new(),
            parent: BTreeMap::new(),
            dropped: 0,
            dirty: false,
        }
    }
}

impl<S: IncrementalStream> Book<S> {
    /// The partition's watermark: from this sync, or else from the state it started from.
    pub(crate) fn watermark(&self, partition: &S::Partition) -> Option<&S::Cursor> {
        self.entries
            .get(partition)
            .map(|entry| &entry.watermark)
            .or_else(|| self.saved.get(partition))
    }

    /// How many partitions the state holds.
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// The saved `stream_state` of the parent named `name`; with no name, of the only one.
    pub(crate) fn parent_state(&self, name: Option<&str>) -> Option<&RawValue> {
        match name {
            Some(name) => self.parent.get(name).map(|state| &**state),
            None if self.parent.len() == 1 => self.parent.values().next().map(|state| &**state),
            None => None,
        }
    }

    /// Records the partition's watermark after reading it: its entry becomes the most recent,
    /// and the least recent are dropped past the stream's limit. No watermark (nothing read
    /// yet) leaves the entry as it was.
    pub(crate) fn set(&mut self, partition: &S::Partition, watermark: Option<S::Cursor>) {
        let Some(watermark) = watermark else { return };
        let read = self.next;
        self.next += 1;
        match self.entries.get_mut(partition) {
            Some(entry) => {
                self.recency.remove(&entry.read);
                self.recency.insert(read, partition.clone());
                entry.read = read;
                // Only a watermark that moved is worth a STATE: the new order of the entries
                // goes out with the next one.
                if entry.watermark != watermark {
                    entry.watermark = watermark;
                    self.dirty = true;
                }
            }
            None => {
                self.entries
                    .insert(partition.clone(), Entry { read, watermark });
                self.recency.insert(read, partition.clone());
                self.dirty = true;
            }
        }
        while self.entries.len() > S::MAX_PARTITIONS.max(1) {
            let Some((_, oldest)) = self.recency.pop_first() else {
                break;
            };
            self.entries.remove(&oldest);
            self.dropped += 1;
        }
    }

    /// Puts `partition`'s entry back to `watermark` (`None`: removes it), for a partition
    /// whose later progress proves nothing; a STATE is due if it changed.
    pub(crate) fn withdraw(&mut self, partition: &S::Partition, watermark: Option<S::Cursor>) {
        match watermark {
            Some(watermark) => self.set(partition, Some(watermark)),
            None => {
                if let Some(entry) = self.entries.remove(partition) {
                    self.recency.remove(&entry.read);
                    self.dirty = true;
                }
            }
        }
    }

    /// Records the parent's state.
    pub(crate) fn set_parent(&mut self, name: &'static str, state: Box<RawValue>) {
        if self.parent.len() == 1
            && self
                .parent
                .get(name)
                .is_some_and(|old| old.get() == state.get())
        {
            return;
        }
        self.parent.clear();
        self.parent.insert(name.to_owned(), state);
        self.dirty = true;
    }

    /// Whether the state the sync started from is full: an entry may have been dropped, so a
    /// partition without one may be read again from its start.
    fn full(&self) -> bool {
        self.saved.len() >= S::MAX_PARTITIONS.max(1)
    }

    /// Parses a saved `stream_state`.
    pub(crate) fn parse(json: Option<&RawValue>) -> Result<Self, Error> {
        let mut book = Book::default();
        let Some(json) = json else { return Ok(book) };
        let invalid = |message: String| Error::State {
            stream: S::descriptor().to_string(),
            message,
            json: json::compact(json),
        };
        if json::is_null(json) {
            return Ok(book);
        }
        let saved: Saved<'_> = serde_json::from_str(json.get()).map_err(|err| {
            invalid(format!(
                "expected a partitioned state {{\"states\": [{{\"partition\": .., \"cursor\": \
                 ..}}]}}: {}",
                json::error_text(&err)
            ))
        })?;
        if saved.states.is_none() && saved.parent_state.is_none() {
            if saved.other.is_empty() || saved.other.contains_key(NO_CURSOR_SENTINEL) {
                return Ok(book);
            }
            let keys: Vec<&str> = saved.other.keys().map(|key| &**key).collect();
            return Err(invalid(format!(
                "stream `{}` is partitioned, so its state is {{\"states\": [{{\"partition\": .., \
                 \"cursor\": ..}}]}}, but this one has `{}`: a state saved before the stream \
                 was partitioned does not say which partition it covers",
                S::NAME,
                keys.join("`, `")
            )));
        }
        let ignored: Vec<&str> = ["state", "use_global_cursor", "lookback_window"]
            .into_iter()
            .filter(|key| saved.other.contains_key(*key))
            .collect();
        if !ignored.is_empty() {
            tracing::warn!(
                "stream `{}`: the saved state's `{}` is ignored: a partition without its own \
                 entry in `states` is read from its start",
                S::descriptor(),
                ignored.join("`, `")
            );
        }
        for (index, saved) in saved.states.unwrap_or_default().into_iter().enumerate() {
            let partition: S::Partition =
                serde_json::from_str(saved.partition.get()).map_err(|err| {
                    invalid(format!(
                        "`states[{index}].partition`: {}",
                        json::error_text(&err)
                    ))
                })?;
            let state = parse_stream_state::<S>(Some(saved.cursor)).map_err(|err| match err {
                Error::State { message, .. } => {
                    invalid(format!("`states[{index}].cursor`: {message}"))
                }
                other => other,
            })?;
            if let Some(watermark) = state.and_then(|state| state.watermark()) {
                // Every saved watermark is kept for this sync's reads, even past the limit (a
                // state saved with a higher limit, or the CDK's): the limit trims only what is
                // written next.
                book.saved.insert(partition.clone(), watermark.clone());
                book.set(&partition, Some(watermark));
            }
        }
        book.parent = saved
            .parent_state
            .unwrap_or_default()
            .into_iter()
            .map(|(name, state)| (name, state.to_owned()))
            .collect();
        book.dropped = 0;
        book.dirty = false;
        Ok(book)
    }
}

/// The platform's no-state sentinel.
const NO_CURSOR_SENTINEL: &str = "__ab_no_cursor_state_message";

/// A saved partitioned state, as written.
#[derive(Deserialize)]
struct Saved<'a> {
    #[serde(borrow, default)]
    states: Option<Vec<SavedEntry<'a>>>,
    #[serde(borrow, default)]
    parent_state: Option<BTreeMap<String, &'a RawValue>>,
    #[serde(flatten)]
    #[expect(
        clippy::zero_sized_map_values,
        reason = "only the other keys' names are read; their values are skipped"
    )]
    other: BTreeMap<String, serde::de::IgnoredAny>,
}

#[derive(Deserialize)]
struct SavedEntry<'a> {
    #[serde(borrow)]
    partition: &'a RawValue,
    #[serde(borrow)]
    cursor: &'a RawValue,
}

impl<S: IncrementalStream> Serialize for Book<S> {
    fn serialize<Z: Serializer>(&self, serializer: Z) -> Result<Z::Ok, Z::Error> {
        /// The entries, least recently read first.
        struct Entries<'b, S: IncrementalStream>(&'b Book<S>);

        impl<S: IncrementalStream> Serialize for Entries<'_, S> {
            fn serialize<Z: Serializer>(&self, serializer: Z) -> Result<Z::Ok, Z::Error> {
                let mut seq = serializer.serialize_seq(Some(self.0.recency.len()))?;
                for partition in self.0.recency.values() {
                    let entry = &self.0.entries[partition];
                    seq.serialize_element(&SavedForm {
                        partition,
                        cursor: S::State::from_watermark(Some(entry.watermark.clone())),
                    })?;
                }
                seq.end()
            }
        }

        #[derive(Serialize)]
        struct SavedForm<'p, P, T> {
            partition: &'p P,
            cursor: T,
        }

        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("states", &Entries(self))?;
        if !self.parent.is_empty() {
            map.serialize_entry("parent_state", &self.parent)?;
        }
        map.end()
    }
}

/// Orders two saved parent states.
type CompareParents<'f> = &'f dyn Fn(&RawValue, &RawValue) -> Result<Ordering, Error>;

/// Orders two saved states of a partitioned stream: `Greater` when a partition's watermark (or
/// the parent's) is lower in `b` than in `a`.
pub(crate) fn compare<S: IncrementalStream>(
    a: &RawValue,
    b: &RawValue,
    parent: Option<CompareParents<'_>>,
) -> Result<Ordering, Error> {
    let (a, b) = (Book::<S>::parse(Some(a))?, Book::<S>::parse(Some(b))?);
    let mut order = Ordering::Equal;
    for (partition, entry) in &a.entries {
        if let Some(later) = b.entries.get(partition) {
            match entry.watermark.cmp(&later.watermark) {
                Ordering::Greater => return Ok(Ordering::Greater),
                Ordering::Less => order = Ordering::Less,
                Ordering::Equal => {}
            }
        }
    }
    let (pa, pb) = (a.parent_state(None), b.parent_state(None));
    if let (Some(compare), Some(pa), Some(pb)) = (parent, pa, pb) {
        match compare(pa, pb)? {
            Ordering::Greater => return Ok(Ordering::Greater),
            Ordering::Less => order = Ordering::Less,
            Ordering::Equal => {}
        }
    }
    Ok(order)
}

/// Whether a sync resumed from `state` may send `record` again: its partition has no entry in
/// a full state, so it may have been dropped by the limit and is read from its start.
pub(crate) fn may_resend<S: IncrementalStream>(
    state: Option<&RawValue>,
    record: &serde_json::Value,
) -> bool {
    let Ok(book) = Book::<S>::parse(state) else {
        return false;
    };
    if !book.full() {
        return false;
    }
    record_partition::<S>(record).is_some_and(|partition| !book.saved.contains_key(&partition))
}

/// The partition of a record as JSON.
fn record_partition<S: IncrementalStream>(record: &serde_json::Value) -> Option<S::Partition> {
    let value = S::PARTITION_FIELD.iter().fold(record, |value, key| {
        value.get(key).unwrap_or(&serde_json::Value::Null)
    });
    S::Partition::deserialize(value).ok()
}

/// What a parent's records tell the partitioned stream.
pub(crate) trait ParentHost<P> {
    /// A parent record produced this partition: read it to its end now.
    fn partition(&mut self, partition: P) -> Result<(), Error>;
    /// Every partition of the parent records up to the parent's new state was read: the
    /// stream's state may hold it.
    fn checkpoint(&mut self, parent: &'static str, state: Box<RawValue>) -> Result<(), Error>;
    /// The parent reader waits (see [`Sink::wait`]).
    fn wait(&mut self, duration: std::time::Duration) -> Result<(), Error>;
    /// The parent reader is rate limited (see [`Sink::rate_limited`]).
    fn rate_limited(&mut self, quota_reset: Option<DateTime<Utc>>) -> Result<(), Error>;
    /// SIGTERM arrived.
    fn stop_requested(&self) -> bool;
    /// The parent reader saves a new config (see `RecordSink::control`).
    fn control(&mut self, config: &serde_json::Value) -> Result<(), Error>;
    #[cfg_attr(
        not(feature = "http"),
        allow(dead_code, reason = "used by the HTTP toolkit")
    )]
    /// The stream being read, for the request log.
    fn scope(&self) -> Option<(String, String)>;
    #[cfg_attr(
        not(feature = "http"),
        allow(dead_code, reason = "used by the HTTP toolkit")
    )]
    /// A test read cut the parent's listing short (see `RecordSink::cut`).
    fn cut(&mut self) -> Result<(), Error>;
}

/// A parent stream, its type erased.
trait ParentSource<P> {
    /// The parent stream's name (its key in `parent_state`).
    fn name(&self) -> &'static str;
    /// Reads the parent from `saved`, telling `host` each partition and each safe state.
    fn read(
        &mut self,
        saved: Option<&RawValue>,
        started_at: DateTime<Utc>,
        host: &mut dyn ParentHost<P>,
    ) -> Result<(), Error>;
    /// Orders two saved parent states by their watermarks.
    fn compare(&self, a: &RawValue, b: &RawValue) -> Result<Ordering, Error>;
}

struct Parent<T, R, F> {
    reader: R,
    key: F,
    record: PhantomData<fn(&T)>,
}

impl<T, R, F, P> ParentSource<P> for Parent<T, R, F>
where
    T: IncrementalStream<Partition = ()>,
    R: Reader<T>,
    F: FnMut(&T) -> P,
{
    fn name(&self) -> &'static str {
        T::NAME
    }

    fn compare(&self, a: &RawValue, b: &RawValue) -> Result<Ordering, Error> {
        let watermark =
            |json| parse_stream_state::<T>(Some(json)).map(|s| s.and_then(|s| s.watermark()));
        Ok(watermark(a)?.cmp(&watermark(b)?))
    }

    fn read(
        &mut self,
        saved: Option<&RawValue>,
        started_at: DateTime<Utc>,
        host: &mut dyn ParentHost<P>,
    ) -> Result<(), Error> {
        let state = parse_stream_state::<T>(saved)?.unwrap_or_default();
        let core = plan::<T>(
            &mut self.reader,
            state.watermark(),
            started_at,
            &mut LazyBounds::default(),
            T::NAME,
        )?;
        let mut run = ParentRun {
            core,
            key: &mut self.key,
            host,
            failed: None,
        };
        let result = read_parent(&mut self.reader, &state, &mut run);
        let result = match run.failed.take() {
            Some(error) => Err(error),
            None => result,
        };
        if let Err(error) = result {
            let failure = match error {
                Error::OrderViolation { .. } => Failure::SourceOutOfOrder,
                _ => Failure::Stopped,
            };
            if run.core.fail(failure).is_some() {
                run.checkpoint()?;
            }
            return Err(error);
        }
        Ok(())
    }
}

/// Reads the parent's slices; each admitted record reads its partition.
fn read_parent<T, P, F>(
    reader: &mut impl Reader<T>,
    state: &T::State,
    run: &mut ParentRun<'_, '_, T, F, P>,
) -> Result<(), Error>
where
    T: IncrementalStream<Partition = ()>,
    F: FnMut(&T) -> P,
{
    while let Some((lower, upper)) = run.core.next_slice() {
        if run.host.stop_requested() {
            return Err(Error::Terminated {
                stream: T::NAME.to_owned(),
            });
        }
        let slice = Slice::new(state, &(), lower, upper);
        reader.read(&slice, &mut Sink::new(run))?;
        if let Some(error) = run.failed.take() {
            return Err(error);
        }
        run.core.set_period_elapsed(true);
        if run.core.slice_done().is_some() {
            run.checkpoint()?;
        }
    }
    run.core.finish();
    run.checkpoint()
}

/// A parent stream being read for its partitions.
struct ParentRun<'k, 'h, T: IncrementalStream, F, P> {
    core: Core<Declared<T>>,
    key: &'k mut F,
    host: &'h mut dyn ParentHost<P>,
    /// The first error `emit` returned.
    failed: Option<Error>,
}

impl<T, F, P> ParentRun<'_, '_, T, F, P>
where
    T: IncrementalStream<Partition = ()>,
    F: FnMut(&T) -> P,
{
    /// Tells the host the parent's current state.
    fn checkpoint(&mut self) -> Result<(), Error> {
        let state = T::State::from_watermark(self.core.watermark().cloned());
        let state = serde_json::value::to_raw_value(&state).map_err(|source| Error::Serialize {
            stream: T::NAME.to_owned(),
            source,
        })?;
        self.host.checkpoint(T::NAME, state)
    }

    fn try_emit(&mut self, record: &T) -> Result<(), Error> {
        // The partitioned stream's own `checkpoint_every` throttles its STATEs; the parent's
        // moves are only offered.
        self.core.set_period_elapsed(true);
        let cursor = record.cursor();
        let admit = self
            .core
            .admit(cursor.as_deref())
            .map_err(|refusal| refused::<T>(refusal, T::NAME))?;
        match admit {
            Admit::Drop => return Ok(()),
            Admit::Emit => {}
            // Every partition of the parent records up to the new watermark was read.
            Admit::CheckpointThenEmit { .. } => self.checkpoint()?,
        }
        let partition = (self.key)(record);
        self.host.partition(partition)
    }
}

impl<T, F, P> RecordSink<T> for ParentRun<'_, '_, T, F, P>
where
    T: IncrementalStream<Partition = ()>,
    F: FnMut(&T) -> P,
{
    fn emit(&mut self, record: &T) -> Result<(), Error> {
        if let Some(error) = &self.failed {
            return Err(crate::source::stopped(error));
        }
        self.try_emit(record).map_err(|error| {
            let returned = crate::source::stopped(&error);
            self.failed = Some(error);
            returned
        })
    }

    fn estimate(&mut self, _rows: u64) -> Result<(), Error> {
        // The parent's records are not this stream's: their count says nothing about it.
        Ok(())
    }

    fn caught_up(&self) -> bool {
        self.core.caught_up()
    }

    fn rate_limited(&mut self, quota_reset: Option<DateTime<Utc>>) -> Result<(), Error> {
        self.host.rate_limited(quota_reset)
    }

    fn wait(&mut self, duration: std::time::Duration) -> Result<(), Error> {
        self.host.wait(duration)
    }

    fn control(&mut self, config: &serde_json::Value) -> Result<(), Error> {
        self.host.control(config)
    }

    fn scope(&self) -> Option<(String, String)> {
        self.host.scope()
    }

    fn cut(&mut self) -> Result<(), Error> {
        self.host.cut()
    }
}

/// Reads every partition of a partitioned stream, one after the other.
pub(crate) fn read_partitions<S, R>(
    reader: &mut R,
    partitions: &mut Partitions<'_, S::Partition>,
    started_at: DateTime<Utc>,
    run: &mut crate::source::IncrementalRun<'_, '_, S>,
) -> Result<(), Error>
where
    S: IncrementalStream,
    R: Reader<S>,
{
    let mut bounds = LazyBounds::default();
    match &mut partitions.source {
        PartitionSource::List(list) => {
            for partition in list.iter() {
                read_partition(reader, partition, started_at, &mut bounds, run)?;
            }
        }
        PartitionSource::Listed(list) => {
            for partition in distinct(list()?) {
                read_partition(reader, &partition, started_at, &mut bounds, run)?;
            }
        }
        PartitionSource::Parent(parent) => {
            let saved = run
                .book()
                .and_then(|book| book.parent_state(Some(parent.name())))
                .map(ToOwned::to_owned);
            let mut host = Host {
                reader,
                run,
                bounds: &mut bounds,
                started_at,
                seen: BTreeSet::new(),
                record: PhantomData,
            };
            parent.read(saved.as_deref(), started_at, &mut host)?;
        }
    }
    Ok(())
}

impl<P> Partitions<'_, P> {
    /// Orders two saved parent states, when the partitions come from a parent.
    pub(crate) fn compare_parent(&self, a: &RawValue, b: &RawValue) -> Result<Ordering, Error> {
        match &self.source {
            PartitionSource::Parent(parent) => parent.compare(a, b),
            _ => Ok(Ordering::Equal),
        }
    }
}

/// The partitioned stream's side of a parent read.
struct Host<'x, 'r, 'o, S: IncrementalStream, R> {
    reader: &'x mut R,
    run: &'x mut crate::source::IncrementalRun<'r, 'o, S>,
    bounds: &'x mut LazyBounds<S::Cursor>,
    started_at: DateTime<Utc>,
    /// Partitions read by this sync: two parent records naming one partition read it once.
    seen: BTreeSet<S::Partition>,
    record: PhantomData<fn(&S)>,
}

impl<S, R> ParentHost<S::Partition> for Host<'_, '_, '_, S, R>
where
    S: IncrementalStream,
    R: Reader<S>,
{
    fn partition(&mut self, partition: S::Partition) -> Result<(), Error> {
        if self.seen.contains(&partition) {
            return Ok(());
        }
        read_partition(
            self.reader,
            &partition,
            self.started_at,
            self.bounds,
            self.run,
        )?;
        self.seen.insert(partition);
        Ok(())
    }

    fn checkpoint(&mut self, parent: &'static str, state: Box<RawValue>) -> Result<(), Error> {
        self.run.parent_moved(parent, state)
    }

    fn wait(&mut self, duration: std::time::Duration) -> Result<(), Error> {
        self.run.wait(duration)
    }

    fn rate_limited(&mut self, quota_reset: Option<DateTime<Utc>>) -> Result<(), Error> {
        self.run.rate_limited(quota_reset)
    }

    fn stop_requested(&self) -> bool {
        self.run.stop_requested()
    }

    fn control(&mut self, config: &serde_json::Value) -> Result<(), Error> {
        self.run.control(config)
    }

    fn scope(&self) -> Option<(String, String)> {
        let stream = self.run.descriptor().to_string();
        Some((stream, "(parent records)".to_owned()))
    }

    fn cut(&mut self) -> Result<(), Error> {
        crate::source::RecordSink::cut(&mut *self.run)
    }
}

/// A partitioned stream with its reader, as registered.
pub(crate) struct Partitioned<'a, S: IncrementalStream, R> {
    partitions: Partitions<'a, S::Partition>,
    reader: R,
    /// The saved state, parsed by `load_state`.
    saved: Option<Book<S>>,
    /// Reads listed partitions at the same time, on a thread of its own, when registered so.
    concurrent: Option<DetachListed<S, R>>,
    /// The partitions listed for a read on a thread of its own.
    listed: Option<Result<Vec<S::Partition>, Error>>,
}

/// A partitioned stream's read of the listed partitions (or why they cannot be listed), from
/// its book, on a thread of its own.
type DetachListed<S, R> = for<'x> fn(
    &'x mut R,
    &'x mut Option<Result<Vec<<S as IncrementalStream>::Partition>, Error>>,
    &'x mut Option<Book<S>>,
    DateTime<Utc>,
    &'x Budget,
) -> StreamJob<'x>;

impl<'a, S: IncrementalStream, R> Partitioned<'a, S, R> {
    pub(crate) fn new(partitions: Partitions<'a, S::Partition>, reader: R) -> Self {
        Partitioned {
            partitions,
            reader,
            saved: None,
            concurrent: None,
            listed: None,
        }
    }

    /// Reads listed partitions at the same time.
    pub(crate) fn concurrently(mut self) -> Self
    where
        S: crate::concurrent::SharedStream,
        R: crate::concurrent::SharedReader<S>,
    {
        self.concurrent = Some(crate::concurrent::partitions_job::<S, R>);
        self
    }
}

impl<S, R> ErasedStream for Partitioned<'_, S, R>
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

    fn load_state(&mut self, mode: SyncMode, input: &InputState) -> Result<(), Error> {
        self.saved = Some(match mode {
            SyncMode::Incremental => Book::parse(input.stream_state(&S::descriptor()))?,
            SyncMode::FullRefresh => Book::default(),
        });
        Ok(())
    }

    fn compare_states(&self, a: &RawValue, b: &RawValue) -> Result<Ordering, Error> {
        let parent = |a: &RawValue, b: &RawValue| self.partitions.compare_parent(a, b);
        compare::<S>(a, b, Some(&parent))
    }

    fn has_lookback(&self) -> bool {
        S::LOOKBACK.is_some()
    }

    fn may_resend(&self, state: Option<&RawValue>, record: &serde_json::Value) -> bool {
        may_resend::<S>(state, record)
            || (self.concurrent.is_some()
                && Book::<S>::parse(state).is_ok_and(|book| {
                    let watermark = record_partition::<S>(record)
                        .and_then(|partition| book.watermark(&partition).cloned());
                    crate::concurrent::may_resend::<S>(watermark.as_ref(), record)
                }))
    }

    fn read(
        &mut self,
        started_at: DateTime<Utc>,
        _budget: &Budget,
        out: &mut Emitter<'_>,
    ) -> Result<Option<StreamFailure>, Error> {
        let book = self.saved.take().unwrap_or_default();
        let (reader, partitions) = (&mut self.reader, &mut self.partitions);
        run_stream(S::descriptor(), Incremental::new(Some(book)), out, |run| {
            read_partitions(reader, partitions, started_at, run)?;
            run.finish_partitions()
        })
    }

    /// Listed partitions are listed now, on the calling thread; those of a parent are read
    /// one after the other, with the parent, by [`ErasedStream::read`].
    fn is_concurrent(&self) -> bool {
        self.concurrent.is_some() && !matches!(self.partitions.source, PartitionSource::Parent(_))
    }

    fn detach<'x>(
        &'x mut self,
        started_at: DateTime<Utc>,
        budget: &'x Budget,
    ) -> Option<StreamJob<'x>> {
        let detach = self.concurrent?;
        self.listed = Some(match &mut self.partitions.source {
            PartitionSource::List(list) => Ok(list.clone()),
            // Listed on the calling thread (the listing need not be `Send`): a panic in it
            // fails this stream alone, as when it is listed inside the stream's read.
            PartitionSource::Listed(list) => {
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(list))
                    .unwrap_or_else(|payload| {
                        Err(Error::Panic {
                            stream: S::descriptor().to_string(),
                            message: crate::source::panic_message(payload.as_ref()),
                        })
                    })
                    .map(distinct)
            }
            PartitionSource::Parent(_) => return None,
        });
        Some(detach(
            &mut self.reader,
            &mut self.listed,
            &mut self.saved,
            started_at,
            budget,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A partitioned record, declared by hand.
    #[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
    struct Issue {
        repo: String,
        c: u64,
    }

    #[derive(Debug, Clone, Default, Serialize, Deserialize)]
    struct IssueState {
        c: Option<u64>,
    }

    impl StreamState for IssueState {
        type Cursor = u64;
        const KEYS: &'static [&'static str] = &["c"];

        fn watermark(&self) -> Option<u64> {
            self.c
        }

        fn from_watermark(watermark: Option<u64>) -> Self {
            IssueState { c: watermark }
        }
    }

    impl IncrementalStream for Issue {
        type Cursor = u64;
        type State = IssueState;
        type Partition = String;
        const NAME: &'static str = "issues";
        const NAMESPACE: Option<&'static str> = None;
        const CURSOR_FIELD: &'static [&'static str] = &["c"];
        const PRIMARY_KEY: &'static [&'static [&'static str]] = &[];
        const POLICY: crate::stream::CheckpointPolicy = crate::stream::CheckpointPolicy::SLICE;
        const PARTITION_FIELD: &'static [&'static str] = &["repo"];
        const MAX_PARTITIONS: usize = 3;

        fn cursor(&self) -> Option<std::borrow::Cow<'_, u64>> {
            Some(std::borrow::Cow::Borrowed(&self.c))
        }

        fn json_schema() -> serde_json::Value {
            json!({"type": "object"})
        }

        fn partition(&self) -> &String {
            &self.repo
        }
    }

    fn raw(value: &serde_json::Value) -> Box<RawValue> {
        serde_json::value::to_raw_value(value).expect("serializes")
    }

    fn text(book: &Book<Issue>) -> serde_json::Value {
        serde_json::to_value(book).expect("serializes")
    }

    #[test]
    fn the_state_lists_partitions_least_recently_read_first_within_the_limit() {
        let mut book = Book::<Issue>::default();
        book.set(&"b".to_owned(), Some(5));
        book.set(&"a".to_owned(), Some(7));
        book.set(&"c".to_owned(), Some(1));
        book.set(&"b".to_owned(), Some(6));
        assert_eq!(
            text(&book),
            json!({"states": [
                {"partition": "a", "cursor": {"c": 7}},
                {"partition": "c", "cursor": {"c": 1}},
                {"partition": "b", "cursor": {"c": 6}},
            ]})
        );
        // A fourth partition drops the least recently read one.
        book.set(&"d".to_owned(), Some(2));
        assert_eq!(book.dropped, 1);
        assert!(!text(&book).to_string().contains("\"a\""));
        assert_eq!(book.watermark(&"a".to_owned()), None);
        assert_eq!(book.watermark(&"d".to_owned()), Some(&2));
        // No watermark leaves an entry as it was.
        book.set(&"c".to_owned(), None);
        assert_eq!(book.watermark(&"c".to_owned()), Some(&1));
    }

    #[test]
    fn a_saved_state_reads_back_in_its_order_with_its_parent() {
        let saved = json!({
            "states": [
                {"partition": "x", "cursor": {"c": 3}},
                {"partition": "y", "cursor": {"c": 4}},
            ],
            "parent_state": {"repositories": {"pushed": 9}},
        });
        let book = Book::<Issue>::parse(Some(&raw(&saved))).expect("parses");
        assert_eq!(text(&book), saved);
        assert!(!book.dirty);
    }

    #[test]
    fn the_cdk_form_is_accepted_and_its_global_cursor_ignored() {
        let saved = json!({
            "states": [{"partition": "x", "cursor": {"c": 3}}],
            "state": {"c": 100},
            "use_global_cursor": false,
            "lookback_window": 3600,
        });
        let book = Book::<Issue>::parse(Some(&raw(&saved))).expect("parses");
        assert_eq!(book.watermark(&"x".to_owned()), Some(&3));
        // A partition with no entry has no watermark: it is read from its start, never from
        // the global cursor.
        assert_eq!(book.watermark(&"new".to_owned()), None);
    }

    #[test]
    fn states_that_do_not_fit_are_errors_naming_the_entry() {
        let cases = [
            (json!({"c": 5}), "was partitioned"),
            (
                json!({"states": [{"partition": 5, "cursor": {"c": 1}}]}),
                "`states[0].partition`",
            ),
            (
                json!({"states": [{"partition": "x", "cursor": {"d": 1}}]}),
                "`states[0].cursor`",
            ),
            (
                json!({"states": [{"partition": "x"}]}),
                "missing field `cursor`",
            ),
            (json!({"states": 3}), "expected a partitioned state"),
            (json!([1]), "expected a partitioned state"),
        ];
        for (saved, expected) in cases {
            let error = Book::<Issue>::parse(Some(&raw(&saved))).expect_err("invalid");
            assert!(error.to_string().contains(expected), "{saved}: {error}");
        }
        for empty in [
            json!(null),
            json!({}),
            json!({"__ab_no_cursor_state_message": true}),
        ] {
            let book = Book::<Issue>::parse(Some(&raw(&empty))).expect("no state");
            assert!(book.entries.is_empty());
        }
    }

    #[test]
    fn states_compare_partition_by_partition() {
        let state = |entries: &[(&str, u64)]| {
            let states: Vec<serde_json::Value> = entries
                .iter()
                .map(|(p, c)| json!({"partition": p, "cursor": {"c": c}}))
                .collect();
            raw(&json!({ "states": states }))
        };
        let order =
            |a: Box<RawValue>, b: Box<RawValue>| compare::<Issue>(&a, &b, None).expect("valid");
        assert_eq!(
            order(state(&[("x", 3)]), state(&[("x", 4)])),
            Ordering::Less
        );
        assert_eq!(
            order(state(&[("x", 4), ("y", 1)]), state(&[("x", 5), ("y", 0)])),
            Ordering::Greater
        );
        // A partition dropped or added is not a move backwards.
        assert_eq!(
            order(state(&[("x", 3)]), state(&[("y", 1)])),
            Ordering::Equal
        );
    }

    #[test]
    fn only_partitions_missing_from_a_full_state_may_be_sent_again() {
        let full = raw(&json!({"states": [
            {"partition": "a", "cursor": {"c": 1}},
            {"partition": "b", "cursor": {"c": 1}},
            {"partition": "c", "cursor": {"c": 1}},
        ]}));
        let partial = raw(&json!({"states": [{"partition": "a", "cursor": {"c": 1}}]}));
        let record = |repo: &str| json!({"repo": repo, "c": 1});
        assert!(may_resend::<Issue>(Some(&full), &record("z")));
        assert!(!may_resend::<Issue>(Some(&full), &record("a")));
        assert!(!may_resend::<Issue>(Some(&partial), &record("z")));
        assert!(!may_resend::<Issue>(None, &record("z")));
    }
}
