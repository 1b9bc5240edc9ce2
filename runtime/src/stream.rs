//! What `#[incremental_stream]` implements: the stream's description, its typed state and its
//! slices.

use std::borrow::Cow;
use std::fmt::Debug;
use std::num::NonZeroU64;
use std::ops::{Bound, RangeBounds};

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::cursor::Cursor;
use crate::protocol;

/// A record type that is an incremental stream.
///
/// Implemented by `#[incremental_stream(...)]`; the constants are the declaration, checked at
/// compile time. Implementing it by hand is possible but loses those checks.
pub trait IncrementalStream: Serialize {
    /// The type of the cursor field.
    type Cursor: Cursor;
    /// The stream's typed state: the watermark with a getter and a setter named after the
    /// cursor field.
    type State: StreamState<Cursor = Self::Cursor>;

    /// Stream name in the catalog and in state.
    const NAME: &'static str;
    /// Stream namespace, if declared.
    const NAMESPACE: Option<&'static str>;
    /// The cursor field as a path of JSON keys (serde names): the catalog's
    /// `default_cursor_field`. For a compound cursor, its leading field.
    const CURSOR_FIELD: &'static [&'static str];
    /// The primary key: a list of fields, each a path of JSON keys. Empty when not declared.
    const PRIMARY_KEY: &'static [&'static [&'static str]];
    /// When state is emitted.
    const POLICY: CheckpointPolicy;
    /// What the reader promises about record order (`order`).
    const ORDER: Order = Order::Asc;
    /// What a record without a cursor value does (`on_null`; only `Option` cursors have one).
    const ON_NULL: OnNull = OnNull::Fail;
    /// The `step` as declared, when the stream is read in windows.
    const STEP: Option<&'static str> = None;
    /// The `lookback` as declared, when there is one.
    const LOOKBACK: Option<&'static str> = None;

    /// What one partition of the stream is identified by (`partition = "field"`): the field's
    /// type, or `()` for a stream that is not partitioned.
    type Partition: PartitionKey;
    /// The partition field as a path of JSON keys (serde names); empty when not partitioned.
    const PARTITION_FIELD: &'static [&'static str] = &[];
    /// How many partitions the stream's state tracks one by one (`max_partitions`).
    const MAX_PARTITIONS: usize = DEFAULT_MAX_PARTITIONS;

    /// The partition the record belongs to (`&()` for a stream that is not partitioned).
    fn partition(&self) -> &Self::Partition;

    /// The record's cursor value; `None` when an `Option` cursor field is `None`.
    ///
    /// Borrowed from the record, except for compound cursors, which are assembled from their
    /// fields.
    fn cursor(&self) -> Option<Cow<'_, Self::Cursor>>;

    /// The JSON Schema of the record, as shown by `discover`.
    fn json_schema() -> Value;

    /// The declared `start` bound, used when there is no saved state: `None` when not declared, an error
    /// message when the declared value does not fit the cursor type.
    #[must_use]
    fn declared_start() -> Option<Result<Self::Cursor, String>> {
        None
    }

    /// The `index`-th window bound counted from `origin` (`origin + index * step`), or `None`
    /// when there is no `step` or the bound is out of the cursor type's range.
    fn window_bound(origin: &Self::Cursor, index: u64) -> Option<Self::Cursor> {
        let _ = (origin, index);
        None
    }

    /// Where a sync resuming from `watermark` starts: after `watermark`, or `lookback` before it.
    fn resume_bound(watermark: &Self::Cursor) -> Bound<Self::Cursor> {
        Bound::Excluded(watermark.clone())
    }

    /// The stream's entry in the `discover` catalog.
    #[must_use]
    fn catalog_entry() -> protocol::Stream {
        let primary_key: Vec<Vec<String>> = Self::PRIMARY_KEY
            .iter()
            .map(|path| path.iter().map(|key| (*key).to_owned()).collect())
            .collect();
        protocol::Stream {
            name: Self::NAME.to_owned(),
            json_schema: Self::json_schema(),
            supported_sync_modes: vec![
                protocol::SyncMode::FullRefresh,
                protocol::SyncMode::Incremental,
            ],
            source_defined_cursor: Some(true),
            default_cursor_field: Some(
                Self::CURSOR_FIELD
                    .iter()
                    .map(|key| (*key).to_owned())
                    .collect(),
            ),
            source_defined_primary_key: (!primary_key.is_empty()).then_some(primary_key),
            namespace: Self::NAMESPACE.map(str::to_owned),
            is_resumable: Some(true),
        }
    }

    /// The stream's descriptor: name and namespace.
    #[must_use]
    fn descriptor() -> protocol::StreamDescriptor {
        protocol::StreamDescriptor::new(Self::NAME, Self::NAMESPACE)
    }
}

/// The default `max_partitions`.
pub const DEFAULT_MAX_PARTITIONS: usize = 10_000;

/// What identifies a partition of a partitioned stream (a repository name, an account id, a
/// struct of several fields): any type that is cloned, ordered, printed for people and kept in
/// the stream's state as JSON.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be used as a partition key",
    label = "`{Self}` does not implement `tidemark::PartitionKey`",
    note = "a partition key is cloned, totally ordered, printed with `Debug` and kept in state as \
            JSON: it needs `Clone + Debug + Ord + Serialize + DeserializeOwned`, as integers, \
            `String` and tuples of these have; a struct derives `Clone, Debug, PartialEq, Eq, \
            PartialOrd, Ord, Serialize, Deserialize`",
    note = "floating-point numbers are not totally ordered; store the value as an integer or a string"
)]
pub trait PartitionKey: Clone + Debug + Ord + Serialize + DeserializeOwned {}

#[diagnostic::do_not_recommend]
impl<T: Clone + Debug + Ord + Serialize + DeserializeOwned> PartitionKey for T {}

/// A record type that is a full-refresh stream: read in full by every sync, with no cursor.
///
/// Implemented by `#[full_refresh_stream(...)]`.
pub trait FullRefreshStream: Serialize {
    /// Stream name in the catalog and in state.
    const NAME: &'static str;
    /// Stream namespace, if declared.
    const NAMESPACE: Option<&'static str>;
    /// The primary key: a list of fields, each a path of JSON keys. Empty when not declared.
    const PRIMARY_KEY: &'static [&'static [&'static str]];
    /// Whether the reader saves positions (`resumable = true`): a failed attempt retried with
    /// the state it left resumes at the last saved position.
    const RESUMABLE: bool = false;

    /// The JSON Schema of the record, as shown by `discover`.
    fn json_schema() -> Value;

    /// The stream's entry in the `discover` catalog: `full_refresh` only, `is_resumable` as
    /// declared (and then `source_defined_cursor`, as the protocol asks of resumable streams).
    #[must_use]
    fn catalog_entry() -> protocol::Stream {
        let primary_key: Vec<Vec<String>> = Self::PRIMARY_KEY
            .iter()
            .map(|path| path.iter().map(|key| (*key).to_owned()).collect())
            .collect();
        protocol::Stream {
            name: Self::NAME.to_owned(),
            json_schema: Self::json_schema(),
            supported_sync_modes: vec![protocol::SyncMode::FullRefresh],
            // The protocol asks it of resumable streams: the saved position is a cursor the
            // source defines.
            source_defined_cursor: Self::RESUMABLE.then_some(true),
            default_cursor_field: None,
            source_defined_primary_key: (!primary_key.is_empty()).then_some(primary_key),
            namespace: Self::NAMESPACE.map(str::to_owned),
            is_resumable: Some(Self::RESUMABLE),
        }
    }

    /// The stream's descriptor: name and namespace.
    #[must_use]
    fn descriptor() -> protocol::StreamDescriptor {
        protocol::StreamDescriptor::new(Self::NAME, Self::NAMESPACE)
    }
}

/// A stream's typed state: the watermark, serialized as the `stream_state` JSON object.
///
/// Implemented by the state type that `#[incremental_stream]` generates. `W` in the state means
/// every record with cursor `<= W` that existed when the sync started has been emitted.
pub trait StreamState: Clone + Debug + Default + Serialize + DeserializeOwned {
    /// The cursor type. Left unbounded here so that a cursor type that is not a [`Cursor`] is
    /// reported once, by [`IncrementalStream::Cursor`]; the stream's bound always applies.
    type Cursor;
    /// The JSON keys of the watermark in the `stream_state` object: one per cursor field (a
    /// nested field's key is its path of JSON names joined by dots).
    const KEYS: &'static [&'static str];

    /// The watermark, or `None` when nothing has been synced yet (or, for a compound cursor,
    /// when not every part is set).
    fn watermark(&self) -> Option<Self::Cursor>;

    /// A state holding `watermark`.
    fn from_watermark(watermark: Option<Self::Cursor>) -> Self;
}

/// The `order` key: what a reader promises about the order of the records of one slice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    /// Ascending cursor order (the default). Checked: a record below its predecessor stops
    /// the stream. Allows checkpoints inside a slice.
    Asc,
    /// Any order. The watermark only moves when a whole slice (window) is done.
    Unsorted,
    /// Newest first (`order = "desc"`), for feeds with no filter: the reader is told when its
    /// records reach the saved watermark ([`crate::Sink::caught_up`]), and the watermark moves
    /// only when a slice (window) is done, since the newest record comes first. Checked: a
    /// record above its predecessor in the same slice stops the stream. A failure inside a
    /// slice claims nothing: the next sync resumes at the last finished window.
    Desc,
}

/// The `on_null` key: what a record whose `Option` cursor is `None` does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnNull {
    /// The stream stops with an error naming the cursor field.
    Fail,
    /// The record is dropped.
    Skip,
    /// The record is emitted and the watermark is left alone. Such a record cannot be resumed
    /// past: it is sent again by every sync whose reader returns it.
    Emit,
}

/// When a stream emits state, as declared by `checkpoint_interval` and `checkpoint`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CheckpointPolicy {
    /// `checkpoint_interval = N`: a STATE after every N records (never inside a tie).
    pub interval: Option<NonZeroU64>,
    /// `checkpoint = "slice"` (default) or `"end"`.
    pub at: CheckpointAt,
    /// `checkpoint_every`: at most one STATE per period (the final one aside).
    ///
    /// A STATE is emitted only at a safe point: a cursor change with `order = "asc"` (the
    /// first record above the last emitted one, so a tie is never split) or a window end (with
    /// `step`). With a period, a safe point emits a STATE when the watermark moved, the period
    /// has elapsed since the stream's previous STATE and, with `checkpoint_interval` too, at
    /// least that many records were emitted since it. With a period and no interval, any cursor
    /// change of an ascending stream is a safe point once the period elapsed. The time is
    /// measured by a monotonic clock, read only by streams that declare a period. The final
    /// STATE, when the stream completes, and the last safe STATE of a failure are always
    /// emitted, whatever the period.
    pub period: Option<std::time::Duration>,
}

/// The `checkpoint` key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckpointAt {
    /// State at the end of every slice and when the stream completes.
    Slice,
    /// One state, when the stream completes; nothing is persisted mid-sync.
    End,
}

impl CheckpointPolicy {
    /// A policy with the given interval; state also at every slice end.
    #[must_use]
    pub const fn every(records: u64) -> Self {
        CheckpointPolicy {
            interval: NonZeroU64::new(records),
            at: CheckpointAt::Slice,
            period: None,
        }
    }

    /// The default policy: state at every slice end and when the stream completes.
    pub const SLICE: Self = CheckpointPolicy {
        interval: None,
        at: CheckpointAt::Slice,
        period: None,
    };

    /// One state when the stream completes.
    pub const END: Self = CheckpointPolicy {
        interval: None,
        at: CheckpointAt::End,
        period: None,
    };
}

/// The part of a stream's cursor range one reader call must produce.
///
/// A reader returns every record whose cursor lies in the slice, in ascending cursor order
/// (any order with `order = "unsorted"`). Records outside it are dropped by the runtime, so an
/// API that can only filter with `>=` (or by day) is still correct: the duplicates it returns
/// never reach the destination.
///
/// Without `step` a stream has one open slice: after the saved watermark (or from `start`),
/// without an upper bound. With `step` the range is cut into windows that are half-open:
/// `lower < cursor <= upper`, so a record exactly on a bound belongs to the window that ends
/// there and is read once. Only the first window of a sync without state includes its lower
/// bound (the `start`).
#[derive(Debug)]
pub struct Slice<'s, S: IncrementalStream> {
    state: &'s S::State,
    partition: &'s S::Partition,
    lower: Bound<S::Cursor>,
    upper: Bound<S::Cursor>,
}

impl<'s, S: IncrementalStream> Slice<'s, S> {
    pub(crate) fn new(
        state: &'s S::State,
        partition: &'s S::Partition,
        lower: Bound<S::Cursor>,
        upper: Bound<S::Cursor>,
    ) -> Self {
        Slice {
            state,
            partition,
            lower,
            upper,
        }
    }

    /// The state this sync started from (the previous sync's last STATE for this stream; for
    /// a partitioned stream, this partition's watermark).
    #[must_use]
    pub fn state(&self) -> &S::State {
        self.state
    }

    /// The partition being read (`&()` for a stream that is not partitioned): every record
    /// the reader emits for this slice must belong to it.
    #[must_use]
    pub fn partition(&self) -> &S::Partition {
        self.partition
    }

    /// The exclusive lower bound, when the slice starts after a saved watermark: read records
    /// with cursor strictly greater than this. `None` means "from the beginning" (or from an
    /// inclusive bound, see [`Slice::lower`]).
    #[must_use]
    pub fn after(&self) -> Option<&S::Cursor> {
        match &self.lower {
            Bound::Excluded(value) => Some(value),
            Bound::Included(_) | Bound::Unbounded => None,
        }
    }

    /// The lower bound of the slice.
    #[must_use]
    pub fn lower(&self) -> Bound<&S::Cursor> {
        self.lower.as_ref()
    }

    /// The upper bound of the slice (`Unbounded` for the open slice of a stream without `step`).
    #[must_use]
    pub fn upper(&self) -> Bound<&S::Cursor> {
        self.upper.as_ref()
    }

    /// The inclusive upper bound of a window; `None` for an open slice.
    #[must_use]
    pub fn until(&self) -> Option<&S::Cursor> {
        match &self.upper {
            Bound::Included(value) => Some(value),
            Bound::Excluded(_) | Bound::Unbounded => None,
        }
    }

    /// Whether a cursor value lies in the slice.
    pub fn contains(&self, cursor: &S::Cursor) -> bool {
        (self.lower.as_ref(), self.upper.as_ref()).contains(cursor)
    }
}
