//! Cursor types: the values that order a stream's records and make up its state.

use std::fmt::Debug;

use chrono::{DateTime, Days, NaiveDate, TimeDelta, Utc};
use serde::de::DeserializeOwned;
use serde::{Deserializer, Serialize, Serializer};

/// A value that orders the records of an incremental stream.
///
/// A cursor must be totally ordered (so a watermark means one thing), serializable (it is
/// stored in state) and cheap to compare. Implemented for every integer type, `String`,
/// [`chrono::DateTime<Utc>`], [`chrono::NaiveDate`], `time::OffsetDateTime` and `time::Date`
/// (with the `time` feature), and for pairs and triples of cursors (compound keyset cursors,
/// ordered lexicographically). Time zones are explicit: only UTC timestamps are cursors, so a
/// state never depends on the machine's local zone.
///
/// Floating-point numbers are deliberately not cursors: `NaN` breaks ordering and equal-looking
/// values round differently between systems.
///
/// # Your own cursor type
///
/// A newtype over a cursor implements the trait with one method, [`Cursor::upper_cap`], which
/// says whether the value follows the wall clock; add [`Step`] and [`Start`] (see
/// [`window`](crate::window)) if it should accept `step`, `lookback` or `start`:
///
/// ```
/// use chrono::{DateTime, Utc};
/// use tidemark::Cursor;
///
/// /// A log sequence number: no relation to the wall clock.
/// #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
/// #[serde(transparent)]
/// pub struct Lsn(u64);
///
/// impl Cursor for Lsn {
///     fn upper_cap(_sync_started: DateTime<Utc>) -> Option<Self> {
///         None
///     }
/// }
///
/// /// A timestamp of the source's own: capped like the timestamp it wraps, so rows written
/// /// during a sync are read again by the next one.
/// #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
/// #[serde(transparent)]
/// pub struct ModifiedAt(DateTime<Utc>);
///
/// impl Cursor for ModifiedAt {
///     fn upper_cap(sync_started: DateTime<Utc>) -> Option<Self> {
///         DateTime::<Utc>::upper_cap(sync_started).map(ModifiedAt)
///     }
/// }
/// ```
///
/// [`Step`]: crate::window::Step
/// [`Start`]: crate::window::Start
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be used as an incremental cursor",
    label = "`{Self}` does not implement `tidemark::Cursor`",
    note = "a cursor must be totally ordered and serializable: integers, `String`, \
            `chrono::DateTime<Utc>`, `chrono::NaiveDate` and tuples of these implement `Cursor`",
    note = "floating-point numbers are not totally ordered; store the value as an integer or a timestamp"
)]
pub trait Cursor: Ord + Clone + Debug + Serialize + DeserializeOwned + Send + 'static {
    /// The highest watermark a sync that started at `sync_started` may record, and the end of
    /// the last window of a stream with `step`.
    ///
    /// Time cursors return the last value strictly before the sync started, so rows written
    /// while the sync runs are read again next time instead of being skipped. Cursors without a
    /// relation to wall-clock time return `None`. Required, so that a cursor type of your own
    /// says which it is: a newtype over a timestamp delegates to the timestamp's cap.
    #[must_use]
    fn upper_cap(sync_started: DateTime<Utc>) -> Option<Self>;

    /// Whether rows with this value may still be written by the time a sync that started at
    /// `sync_started` ends, so a watermark must not claim it. By default: the value is above
    /// [`Cursor::upper_cap`]. Must be monotone: every value above a past value is past.
    #[must_use]
    fn is_past(&self, sync_started: DateTime<Utc>) -> bool {
        Self::upper_cap(sync_started).is_some_and(|cap| *self > cap)
    }

    /// Writes the value into a saved state (and into messages). By default through its
    /// `Serialize` impl; a type whose serde form is not its natural JSON one overrides it
    /// (`time::OffsetDateTime` writes RFC 3339 here).
    ///
    /// # Errors
    ///
    /// Whatever the serializer returns.
    fn serialize_state<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.serialize(serializer)
    }

    /// Reads the value back from a saved state: the inverse of [`Cursor::serialize_state`].
    ///
    /// # Errors
    ///
    /// The state's value is not a valid cursor of this type.
    fn deserialize_state<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Self::deserialize(deserializer)
    }
}

macro_rules! integer_cursors {
    ($($ty:ty),*) => {$(
        /// Integers have no relation to the wall clock: no cap.
        impl Cursor for $ty {
            fn upper_cap(_sync_started: DateTime<Utc>) -> Option<Self> {
                None
            }
        }
    )*};
}

integer_cursors!(
    i8, i16, i32, i64, i128, isize, u8, u16, u32, u64, u128, usize
);

/// Strings have no relation to the wall clock: no cap.
impl Cursor for String {
    fn upper_cap(_sync_started: DateTime<Utc>) -> Option<Self> {
        None
    }
}

impl Cursor for DateTime<Utc> {
    /// One nanosecond before the sync started.
    fn upper_cap(sync_started: DateTime<Utc>) -> Option<Self> {
        sync_started.checked_sub_signed(TimeDelta::nanoseconds(1))
    }
}

impl Cursor for NaiveDate {
    /// The day before the sync started (UTC): rows of the current day may still be written.
    fn upper_cap(sync_started: DateTime<Utc>) -> Option<Self> {
        sync_started.date_naive().checked_sub_days(Days::new(1))
    }
}

/// A compound cursor is past when its leading component is: `(updated_at, id)` stops at the
/// sync's start like `updated_at` does.
impl<A: Cursor, B: Cursor> Cursor for (A, B) {
    /// No single value caps a pair; [`Cursor::is_past`] follows the leading component.
    fn upper_cap(_sync_started: DateTime<Utc>) -> Option<Self> {
        None
    }

    fn is_past(&self, sync_started: DateTime<Utc>) -> bool {
        self.0.is_past(sync_started)
    }
}

/// Like the pair: ordered lexicographically, past when the leading component is.
impl<A: Cursor, B: Cursor, C: Cursor> Cursor for (A, B, C) {
    /// No single value caps a triple; [`Cursor::is_past`] follows the leading component.
    fn upper_cap(_sync_started: DateTime<Utc>) -> Option<Self> {
        None
    }

    fn is_past(&self, sync_started: DateTime<Utc>) -> bool {
        self.0.is_past(sync_started)
    }
}

/// The cursor value as JSON, as a state would hold it, for messages.
pub(crate) fn to_json<C: Cursor>(value: &C) -> String {
    struct AsState<'c, C>(&'c C);
    impl<C: Cursor> Serialize for AsState<'_, C> {
        fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
            self.0.serialize_state(serializer)
        }
    }
    serde_json::to_string(&AsState(value)).unwrap_or_else(|_| format!("{value:?}"))
}
