//! Airbyte-protocol source connectors whose incremental state is declared, checked by the
//! compiler, documented on the generated types and tested.
//!
//! A connector annotates each record struct with [`incremental_stream`], registers a reader per
//! stream in its [`Source`], and hands the source to [`run!`]:
//!
//! ```no_run
//! use chrono::{DateTime, Utc};
//! use tidemark::{Error, Sink, Slice, Source, Streams};
//!
//! #[derive(serde::Serialize, schemars::JsonSchema)]
//! #[tidemark::incremental_stream(cursor = "updated_at", primary_key = "id", checkpoint_interval = 500)]
//! struct Order {
//!     id: u64,
//!     updated_at: DateTime<Utc>,
//! }
//!
//! #[derive(serde::Deserialize, schemars::JsonSchema)]
//! struct ShopConfig {
//!     /// Base URL of the shop's API.
//!     url: String,
//! }
//!
//! struct Shop;
//!
//! impl Source for Shop {
//!     const NAME: &'static str = "source-shop";
//!     type Config = ShopConfig;
//!
//!     fn check(&self, config: &ShopConfig) -> Result<(), Error> {
//!         if config.url.starts_with("https://") {
//!             Ok(())
//!         } else {
//!             Err(Error::config("`url` must start with https://"))
//!         }
//!     }
//!
//!     fn streams<'a>(&'a self, _config: &'a ShopConfig) -> Result<Streams<'a>, Error> {
//!         Ok(Streams::new().stream(|slice: &Slice<Order>, out: &mut Sink<Order>| {
//!             // Fetch orders updated after `slice.after()` in ascending `updated_at` order
//!             // and push each one:
//!             # let fetched: Vec<Order> = Vec::new();
//!             for order in fetched {
//!                 out.emit(&order)?;
//!             }
//!             Ok(())
//!         }))
//!     }
//! }
//!
//! fn main() -> std::process::ExitCode {
//!     tidemark::run!(Shop)
//! }
//! ```
//!
//! # The state contract
//!
//! A STATE `{"updated_at": W}` means: **every record with `updated_at <= W` that existed when
//! the sync started has been emitted before this STATE.** The next sync reads records with
//! `updated_at > W`. The runtime makes this true for every connector:
//!
//! - an interval checkpoint never splits a run of equal cursor values: it waits for the next
//!   cursor change;
//! - records at or below the resume point are dropped even when the source returns them;
//! - a record below its predecessor stops the stream (`order = "asc"` is a promise);
//! - a time cursor's watermark never passes the moment the sync started;
//! - after a failure, the last STATE claims only values below the last emitted one.
//!
//! | declaration | STATE is emitted | the next sync after a failure starts |
//! |---|---|---|
//! | `checkpoint_interval = N` | every N records (at the next cursor change when the Nth record is inside a tie), at every slice end, at stream end | after the last emitted STATE's watermark |
//! | (default) | at every slice end and at stream end | after the last finished slice |
//! | `checkpoint = "end"` | once, when the stream completes | where the previous successful sync ended |
//! | `order = "unsorted", step = ..` | at every window end | after the last finished window |
//!
//! A STATE always follows the records it covers, is flushed to stdout before the runtime goes
//! on, and is not repeated when the watermark did not move (except the one final STATE of each
//! stream).
//!
//! # The declaration
//!
//! | key | value | default | what it does to state | example |
//! |---|---|---|---|---|
//! | `cursor` | `"field"`, a nested path `"meta.updated_at"` (the inner struct derives `tidemark::Nested`), or a list for a compound keyset cursor | required | the state holds the watermark under the field's JSON name (a nested path's key is its JSON names joined by dots, `meta.updatedAt`; a compound cursor has one key per field); the next sync reads records above it | `cursor = "updated_at"`, `cursor = ["updated_at", "id"]` |
//! | `name` | string | struct name in `snake_case` | names the stream whose state it is | `name = "orders"` |
//! | `namespace` | string | none | part of the stream descriptor the state is saved under | `namespace = "shop"` |
//! | `primary_key` | `"id"` or a list | none | none (`source_defined_primary_key`, for deduplication downstream) | `primary_key = ["org_id", "id"]` |
//! | `checkpoint_interval` | integer >= 1 | none | a STATE every N records, at the next cursor change when the Nth record is inside a tie | `checkpoint_interval = 500` |
//! | `checkpoint` | `"slice"` or `"end"` | `"slice"` | `"end"`: one STATE, when the stream completes; nothing is saved mid-sync | `checkpoint = "end"` |
//! | `order` | `"asc"` or `"unsorted"` | `"asc"` | `"asc"` is checked record by record and allows checkpoints inside a slice; `"unsorted"` saves state only at window (slice) ends | `order = "unsorted"` |
//! | `step` | ISO-8601 duration (time cursors) or integer (integer cursors) | none | the range is read in windows `lower < cursor <= upper`; a STATE at every window end; a failed window is never marked done | `step = "P1D"`, `step = 10000` |
//! | `start` | RFC 3339 timestamp, date, or integer | none | where the first sync starts (inclusive) when there is no state; `Reader::start` may override it at run time; a `lookback` never reaches below it | `start = "2024-01-01T00:00:00Z"` |
//! | `lookback` | ISO-8601 duration or integer | none | every sync starts that much before the state, but never below the start (declared or `Reader::start`); records in the overlap are sent again (expected duplicates); the watermark never moves backwards | `lookback = "PT1H"` |
//! | `on_null` | `"fail"`, `"skip"` or `"emit"` | required iff the cursor is `Option<T>` | a record without a cursor value stops the stream, is dropped, or is emitted without touching the watermark (and sent again by every sync that returns it) | `on_null = "skip"` |
//! | `crate` | path as a string | `"::tidemark"` | none (where the runtime crate is, when renamed or re-exported) | `crate = "my_kit::tidemark"` |
//!
//! Windows (`step`) are half-open, `lower < cursor <= upper`: a record exactly on a bound belongs
//! to the window that ends there and is read once. They run from the saved state (or `start`, or
//! [`Reader::start`]) up to just before the sync started for time cursors, or to
//! [`Reader::end`]. Durations and the cursor types that take them are listed in [`window`].
//!
//! # Where the contract lives
//!
//! One pure core, with no I/O and no clock, in the runtime's `contract` folder: its plan decides
//! which slices a sync reads (the saved state, `lookback` floored at the start, the declared or
//! run-time `start`, the windows of `step` and where they end), and its engine decides record by
//! record what is emitted and when a STATE is due, including `on_null`, order violations
//! however they are detected, and the state after a failure. The code that calls readers and
//! writes messages only moves records between the reader, the core and the output. The core's
//! property tests run it over every declaration the attribute accepts, with an independent
//! checker resuming from every STATE.
//!
//! # Failure
//!
//! When a reader returns an error (or a record breaks the declared order), the runtime emits
//! the last safe STATE if it moved, a `STREAM_STATUS` `INCOMPLETE`, and a TRACE ERROR with the
//! failure type of the [`Error`]; the other streams are still read and the process exits 1.
//!
//! # Full refresh
//!
//! A stream whose source cannot be read from a cursor is a [`FullRefreshStream`], registered
//! with [`Streams::full_refresh`]: every sync reads it in full, with the same statuses and
//! failure handling, and it ends with a STATE `{}`. A stream declared resumable saves positions
//! (a page token, a keyset) with [`Sink::save_position`], each a STATE `{"position": ..}`
//! covering the records before it: an attempt retrying a failed one resumes at the last of
//! them (see [`Resume`]), and every other sync starts over.
//!
//! # Commands
//!
//! `spec`, `check --config F`, `discover --config F`,
//! `read --config F --catalog F [--state F]`, `--help`, `--version`. stdout carries only
//! protocol messages, one JSON object per line. A config that fails its schema or its
//! deserialization is a `config_error` naming the field: see [`Source::Config`] for what the
//! schema check covers.
//!
//! A test read limits what `read` does: `--max-records N` (records per stream), `--max-slices
//! N` (slices per stream: windows, partitions), `--max-pages N` (pages per slice, counted by
//! the HTTP toolkit's listings), `--log-requests` (each HTTP exchange on stderr, secrets
//! masked, grouped by stream and slice). A stream that reaches a limit stops as on SIGTERM:
//! its last STATE claims only records emitted before it, its status is `INCOMPLETE`, a LOG
//! names the limit, and the run goes on to the next stream and exits 0. After a slice cut
//! short by `--max-pages`, no STATE of the stream is written; its later slices are still read.
//! Windows or partitions read concurrently stop being handed out at `--max-slices`; those
//! already started are read to their end.
//!
//! # Features
//!
//! - `time`: `time::OffsetDateTime` and `time::Date` cursors.
//! - `jsonschema`: configs validated by a complete JSON Schema validator (every keyword,
//!   `format`, ECMA-262 patterns) instead of the built-in check of the keywords schemars
//!   emits; adds about 50 crates to a build.
//! - `async`: async readers (`AsyncReader`, `AsyncFullRefreshReader`, async closures),
//!   registered with `Async` and run on one process-wide tokio runtime; adds tokio and its IO
//!   driver to a build.

// docs.rs builds with `--cfg docsrs` (on nightly) to mark items of optional features.
#![cfg_attr(docsrs, feature(doc_cfg))]

#[cfg(feature = "async")]
mod asynchronous;
mod cli;
mod concurrent;
mod contract;
mod cursor;
mod emitter;
mod entrypoint;
mod error;
mod full_refresh;
#[cfg(feature = "http")]
#[cfg_attr(docsrs, doc(cfg(feature = "http")))]
pub mod http;
mod input;
mod json;
mod logging;
mod nested;
mod partition;
pub mod protocol;
pub mod rfc3339;
#[cfg(any(test, not(feature = "jsonschema")))]
mod schema_check;
mod secret;
mod source;
mod state;
mod stream;
pub mod testing;
#[cfg(feature = "time")]
mod time_cursors;
pub mod window;

#[cfg(feature = "async")]
#[cfg_attr(docsrs, doc(cfg(feature = "async")))]
pub use asynchronous::{Async, AsyncFullRefreshReader, AsyncReader};
pub use cursor::Cursor;
pub use entrypoint::{run_with, specification};
pub use error::{Error, InputFile};
pub use full_refresh::{FullRefreshReader, Resume};
pub use nested::Nested;
pub use partition::Partitions;
pub use secret::Secret;
pub use source::{Reader, Sink, Source, Streams};
pub use stream::{
    DEFAULT_MAX_PARTITIONS, FullRefreshStream, IncrementalStream, PartitionKey, Slice, StreamState,
};

/// Runs a connector: the whole of its `main`. It reads the process's arguments (`spec`,
/// `check`, `discover`, `read`, `--help`, `--version`), writes protocol messages to stdout and
/// everything for people to stderr, and returns the exit status. `--version` shows the
/// version of the calling package (`CARGO_PKG_VERSION`).
///
/// ```no_run
/// # struct Shop;
/// # impl tidemark::Source for Shop {
/// #     const NAME: &'static str = "source-shop";
/// #     type Config = ();
/// #     fn streams<'a>(&'a self, _: &'a ()) -> Result<tidemark::Streams<'a>, tidemark::Error> {
/// #         Ok(tidemark::Streams::new())
/// #     }
/// # }
/// fn main() -> std::process::ExitCode {
///     tidemark::run!(Shop)
/// }
/// ```
///
/// Exit status: 0 on success (and for `check`, whatever its outcome), 1 when a stream, the
/// configuration or the output failed, 2 for a command-line usage error, 143 after SIGTERM
/// (once everything emitted so far is flushed, with each stream's last safe STATE). To run a
/// connector with other arguments or output streams, see [`run_with`].
#[macro_export]
macro_rules! run {
    ($source:expr $(,)?) => {
        $crate::__private::run($source, ::core::env!("CARGO_PKG_VERSION"))
    };
}

/// Items that the generated code, the testing kit and tooling around connectors use: the
/// declared policies of a stream and the reader of saved state.
///
/// **Unstable**: not covered by semantic versioning; they may change in any release. A
/// connector needs none of them.
pub mod unstable {
    pub use crate::state::{InputState, parse_stream_state};
    pub use crate::stream::{CheckpointAt, CheckpointPolicy, OnNull, Order};
}
/// Lets a nested `cursor` path reach this struct's fields; see [`Nested`](trait@Nested).
pub use tidemark_macros::Nested;
/// Declares a record struct with no cursor as a full-refresh stream. See the crate docs of
/// [`tidemark_macros`] for every key.
pub use tidemark_macros::full_refresh_stream;
/// Declares a record struct as an incremental stream. See the crate docs of
/// [`tidemark_macros`] for every key.
pub use tidemark_macros::incremental_stream;

pub use chrono;
pub use schemars;
pub use serde;
pub use serde_json;
/// The `time` crate, whose `OffsetDateTime` and `Date` are cursors with the `time` feature.
#[cfg(feature = "time")]
#[cfg_attr(docsrs, doc(cfg(feature = "time")))]
pub use time;

/// Paths used by the code `#[incremental_stream]` and `#[full_refresh_stream]` generate. Not
/// public API.
#[doc(hidden)]
pub mod __private {
    pub use ::core;
    pub use ::schemars::JsonSchema;
    pub use ::serde;
    pub use ::serde_json::Value;
    pub use ::std::borrow::Cow;
    pub use ::std::clone::Clone;
    pub use ::std::ops::Bound;
    pub use ::std::string::String;

    pub use crate::cursor::Cursor;
    pub use crate::entrypoint::run;
    pub use crate::nested::{
        Field, MISSING, Nested, Segment, check_path, check_path_len, field_id, join, join_len,
        resolve, utf8,
    };
    pub use crate::stream::{
        CheckpointAt, CheckpointPolicy, FullRefreshStream, IncrementalStream, OnNull, Order,
        PartitionKey, StreamState,
    };
    pub use crate::window::{Date, DatePeriod, Period, Start, Step, Timestamp};

    /// The record's JSON Schema (draft-07, inlined) for `discover`.
    #[must_use]
    pub fn json_schema<T: ::schemars::JsonSchema>() -> Value {
        ::schemars::generate::SchemaSettings::draft07()
            .into_generator()
            .into_root_schema_for::<T>()
            .to_value()
    }

    /// `origin + index * step`, for `IncrementalStream::window_bound`.
    #[must_use]
    pub fn window_bound<C: Step<D>, D>(origin: &C, step: &D, index: u64) -> Option<C> {
        origin.forward(step, index)
    }

    /// Where a sync resumes with `lookback`: after `watermark - lookback`, or from the
    /// beginning when that leaves the cursor type's range.
    #[must_use]
    pub fn look_back<C: Step<D>, D>(watermark: &C, lookback: &D) -> Bound<C> {
        match watermark.backward(lookback) {
            Some(from) => Bound::Excluded(from),
            None => Bound::Unbounded,
        }
    }

    /// The declared `start` as a cursor value, or why it does not fit the cursor type.
    pub fn start<C: Start<L>, L>(literal: &L, text: &str) -> Result<C, String> {
        C::start(literal).ok_or_else(|| {
            ::std::format!(
                "{text} is out of the range of the cursor type `{}`",
                ::core::any::type_name::<C>()
            )
        })
    }

    /// A watermark part of a generated state type, written through [`Cursor::serialize_state`]
    /// when its type is a cursor and through `Serialize` otherwise. The generated code calls
    /// `(&&Watermark(value)).state_form()`: method lookup picks [`ViaCursor`] when it applies.
    /// A type that is not a cursor is reported once, by the stream's `Cursor` bound, instead of
    /// again by the state type.
    pub struct Watermark<'a, T>(pub &'a T);

    /// The cursor's own state form; see [`Watermark`].
    pub trait ViaCursor {
        /// What is serialized.
        type Form: ::serde::Serialize;
        /// The watermark in its state form.
        fn state_form(&self) -> Self::Form;
    }

    impl<'a, C: Cursor> ViaCursor for &Watermark<'a, C> {
        type Form = CursorForm<'a, C>;
        fn state_form(&self) -> CursorForm<'a, C> {
            CursorForm(self.0)
        }
    }

    /// A cursor serialized with [`Cursor::serialize_state`].
    pub struct CursorForm<'a, C>(&'a C);

    impl<C: Cursor> ::serde::Serialize for CursorForm<'_, C> {
        fn serialize<S: ::serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
            self.0.serialize_state(serializer)
        }
    }

    /// The plain serde form, for types that are not cursors; see [`Watermark`].
    pub trait ViaSerde {
        /// What is serialized.
        type Form: ::serde::Serialize;
        /// The watermark itself.
        fn state_form(&self) -> Self::Form;
    }

    impl<'a, T: ::serde::Serialize> ViaSerde for Watermark<'a, T> {
        type Form = &'a T;
        fn state_form(&self) -> &'a T {
            self.0
        }
    }

    /// Reads a watermark part of a generated state type the way [`Watermark`] writes it:
    /// `map.next_value_seed((&&Read::<T>::new()).seed())`; `null` is no value.
    pub struct Read<T>(::core::marker::PhantomData<fn() -> T>);

    impl<T> Read<T> {
        /// The probe.
        #[must_use]
        pub const fn new() -> Self {
            Read(::core::marker::PhantomData)
        }
    }

    impl<T> Default for Read<T> {
        fn default() -> Self {
            Self::new()
        }
    }

    /// Reads a cursor's own state form; see [`Read`].
    pub trait ReadViaCursor {
        /// The seed that reads it.
        type Seed;
        /// The seed.
        fn seed(&self) -> Self::Seed;
    }

    impl<C: Cursor> ReadViaCursor for &Read<C> {
        type Seed = CursorSeed<C>;
        fn seed(&self) -> CursorSeed<C> {
            CursorSeed(::core::marker::PhantomData)
        }
    }

    /// Reads an optional cursor with [`Cursor::deserialize_state`].
    pub struct CursorSeed<C>(::core::marker::PhantomData<fn() -> C>);

    impl<'de, C: Cursor> ::serde::de::DeserializeSeed<'de> for CursorSeed<C> {
        type Value = Option<C>;
        fn deserialize<D: ::serde::Deserializer<'de>>(
            self,
            deserializer: D,
        ) -> Result<Option<C>, D::Error> {
            struct State<C>(C);
            impl<'de, C: Cursor> ::serde::Deserialize<'de> for State<C> {
                fn deserialize<D: ::serde::Deserializer<'de>>(
                    deserializer: D,
                ) -> Result<Self, D::Error> {
                    C::deserialize_state(deserializer).map(State)
                }
            }
            let value: Option<State<C>> = ::serde::Deserialize::deserialize(deserializer)?;
            Ok(value.map(|State(value)| value))
        }
    }

    /// Reads the plain serde form; see [`Read`].
    pub trait ReadViaSerde {
        /// The seed that reads it.
        type Seed;
        /// The seed.
        fn seed(&self) -> Self::Seed;
    }

    impl<T: ::serde::de::DeserializeOwned> ReadViaSerde for Read<T> {
        type Seed = ::core::marker::PhantomData<Option<T>>;
        fn seed(&self) -> Self::Seed {
            ::core::marker::PhantomData
        }
    }

    /// The watermark fields of a generated state type, each under its key of
    /// [`StreamState::KEYS`]: what [`serialize_state`] and [`deserialize_state`] need. The keys
    /// of a nested cursor are consts (JSON names joined), which serde's derive cannot take.
    pub trait StateFields: StreamState {
        /// Writes every field that has a value.
        ///
        /// # Errors
        ///
        /// Whatever the serializer returns.
        fn write<M: ::serde::ser::SerializeMap>(&self, map: &mut M) -> Result<(), M::Error>;

        /// Reads the value of the field whose key is `KEYS[index]`.
        ///
        /// # Errors
        ///
        /// The value is not valid.
        fn read<'de, A: ::serde::de::MapAccess<'de>>(
            &mut self,
            index: usize,
            map: &mut A,
        ) -> Result<(), A::Error>;
    }

    /// A generated state type's `Serialize`: an object with the fields that have a value.
    ///
    /// # Errors
    ///
    /// Whatever the serializer returns.
    pub fn serialize_state<T: StateFields, S: ::serde::Serializer>(
        state: &T,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        use ::serde::ser::SerializeMap as _;
        let mut map = serializer.serialize_map(None)?;
        state.write(&mut map)?;
        map.end()
    }

    /// A generated state type's `Deserialize`: an object whose keys not in
    /// [`StreamState::KEYS`] are ignored and whose `null`s are no value.
    ///
    /// # Errors
    ///
    /// The input is not an object, or a value is not valid.
    pub fn deserialize_state<'de, T: StateFields, D: ::serde::Deserializer<'de>>(
        deserializer: D,
    ) -> Result<T, D::Error> {
        use ::serde::de::{DeserializeSeed, MapAccess, Visitor};

        struct Key(&'static [&'static str]);
        impl<'de> DeserializeSeed<'de> for Key {
            type Value = Option<usize>;
            fn deserialize<D: ::serde::Deserializer<'de>>(
                self,
                deserializer: D,
            ) -> Result<Option<usize>, D::Error> {
                deserializer.deserialize_str(self)
            }
        }
        impl Visitor<'_> for Key {
            type Value = Option<usize>;
            fn expecting(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                f.write_str("a key")
            }
            fn visit_str<E: ::serde::de::Error>(self, key: &str) -> Result<Option<usize>, E> {
                Ok(self.0.iter().position(|known| *known == key))
            }
        }

        struct Fields<T>(::core::marker::PhantomData<T>);
        impl<'de, T: StateFields> Visitor<'de> for Fields<T> {
            type Value = T;
            fn expecting(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                f.write_str("a stream state object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<T, A::Error> {
                let mut state = T::default();
                while let Some(key) = map.next_key_seed(Key(T::KEYS))? {
                    match key {
                        Some(index) => state.read(index, &mut map)?,
                        None => {
                            map.next_value::<::serde::de::IgnoredAny>()?;
                        }
                    }
                }
                Ok(state)
            }
        }

        deserializer.deserialize_map(Fields(::core::marker::PhantomData))
    }

    /// A record type missing `Serialize`, reported in words by [`assert_record`].
    #[diagnostic::on_unimplemented(
        message = "`{Self}` must derive `serde::Serialize` to be a stream",
        label = "add `#[derive(serde::Serialize)]` to `{Self}`",
        note = "records are written to stdout as JSON with `serde::Serialize`"
    )]
    pub trait SerializeRecord {}

    #[diagnostic::do_not_recommend]
    impl<T: ::serde::Serialize + ?Sized> SerializeRecord for T {}

    /// A record type missing `JsonSchema`, reported in words by [`assert_record`].
    #[diagnostic::on_unimplemented(
        message = "`{Self}` must derive `schemars::JsonSchema` to be a stream",
        label = "add `#[derive(schemars::JsonSchema)]` to `{Self}`",
        note = "`discover` describes the records with the JSON Schema of `schemars::JsonSchema`"
    )]
    pub trait JsonSchemaRecord {}

    #[diagnostic::do_not_recommend]
    impl<T: ::schemars::JsonSchema + ?Sized> JsonSchemaRecord for T {}

    /// Checks, at the struct's name, that a record type has what a stream needs; the generated
    /// impl assumes it without repeating the error.
    pub const fn assert_record<T: SerializeRecord + JsonSchemaRecord + ?Sized>() {}

    /// Checks, at the partition field's type, that it is a [`PartitionKey`]; the generated impl
    /// assumes it without repeating the error.
    pub const fn assert_partition_key<T: PartitionKey>() {}

    /// The cursor type of a stream whose declaration has errors, and the type of a nested
    /// `cursor` path segment that names no field (never constructed).
    #[derive(
        ::core::clone::Clone,
        ::core::fmt::Debug,
        ::core::cmp::PartialEq,
        ::core::cmp::Eq,
        ::core::cmp::PartialOrd,
        ::core::cmp::Ord,
        ::serde::Serialize,
        ::serde::Deserialize,
    )]
    pub enum Unresolved {}

    impl Cursor for Unresolved {
        fn upper_cap(
            _sync_started: ::chrono::DateTime<::chrono::Utc>,
        ) -> ::core::option::Option<Self> {
            ::core::option::Option::None
        }
    }

    /// The type a missing segment of a nested path resolves to has no fields.
    impl Nested for Unresolved {
        const NAME: &'static str = "Unresolved";
        const FIELDS: &'static [&'static str] = &[];
    }

    /// `NonZeroU64` from a literal the macro already checked to be at least 1.
    #[must_use]
    pub const fn interval(records: u64) -> ::core::option::Option<::core::num::NonZeroU64> {
        ::core::num::NonZeroU64::new(records)
    }
}
