//! The `#[incremental_stream]` and `#[full_refresh_stream]` attributes of
//! [tidemark-cdk](https://docs.rs/tidemark-cdk).
//!
//! Use them through `tidemark::incremental_stream` and `tidemark::full_refresh_stream`; the
//! runtime crate re-exports them and documents the generated items. The pipeline (`expand`) is
//! parse (`args`, `ast`), validate (`validate`), expand (`codegen`), with `fallback` emitting
//! the struct and stub impls when the declaration has errors, so only our messages appear.

mod args;
mod ast;
mod codegen;
mod errors;
mod expand;
mod fallback;
mod iso;
mod nested;
mod validate;

use proc_macro::TokenStream;

/// Declares a record struct as an incremental stream.
///
/// ```ignore
/// #[derive(serde::Serialize, schemars::JsonSchema)]
/// #[tidemark::incremental_stream(cursor = "updated_at", primary_key = "id", checkpoint_interval = 500)]
/// struct Order {
///     id: u64,
///     updated_at: chrono::DateTime<chrono::Utc>,
/// }
/// ```
///
/// | key | value | default | what it does to state | example |
/// |---|---|---|---|---|
/// | `cursor` | `"field"`, a nested path `"meta.updated_at"` (the inner struct derives `tidemark::Nested`), or a list for a compound keyset cursor | required | the state holds the watermark under the field's JSON name (a nested path's key is its JSON names joined by dots, `meta.updatedAt`; a compound cursor has one key per field); the next sync reads records above it | `cursor = "updated_at"`, `cursor = ["updated_at", "id"]` |
/// | `name` | string | struct name in `snake_case` | names the stream whose state it is | `name = "orders"` |
/// | `namespace` | string | none | part of the stream descriptor the state is saved under | `namespace = "shop"` |
/// | `primary_key` | `"id"` or a list | none | none (`source_defined_primary_key`, for deduplication downstream) | `primary_key = ["org_id", "id"]` |
/// | `checkpoint_interval` | integer >= 1 | none | a STATE every N records, at the next cursor change when the Nth record is inside a tie | `checkpoint_interval = 500` |
/// | `checkpoint` | `"slice"` or `"end"` | `"slice"` | `"end"`: one STATE, when the stream completes; nothing is saved mid-sync | `checkpoint = "end"` |
/// | `order` | `"asc"`, `"desc"` or `"unsorted"` | `"asc"` | `"asc"` is checked record by record and allows checkpoints inside a slice; `"unsorted"` saves state only at window (slice) ends; `"desc"` (newest first) too, and the reader is told when its records reach the saved watermark, so it stops there | `order = "desc"` |
/// | `checkpoint_every` | ISO-8601 duration of fixed length (weeks, days, hours, minutes, seconds) | none | at most one STATE per period, and always one when the stream completes; not with `checkpoint = "end"` | `checkpoint_every = "PT30S"` |
/// | `step` | ISO-8601 duration (time cursors) or integer (integer cursors) | none | the range is read in windows `lower < cursor <= upper`; a STATE at every window end; a failed window is never marked done | `step = "P1D"`, `step = 10000` |
/// | `start` | RFC 3339 timestamp, date, or integer | none | where the first sync starts (inclusive) when there is no state; `Reader::start` may override it at run time; a `lookback` never reaches below it | `start = "2024-01-01T00:00:00Z"` |
/// | `lookback` | ISO-8601 duration or integer | none | every sync starts that much before the state, but never below the start (declared or `Reader::start`); records in the overlap are sent again (expected duplicates); the watermark never moves backwards | `lookback = "PT1H"` |
/// | `on_null` | `"fail"`, `"skip"` or `"emit"` | required iff the cursor is `Option<T>` | a record without a cursor value stops the stream, is dropped, or is emitted without touching the watermark (and sent again by every sync that returns it) | `on_null = "skip"` |
/// | `partition` | `"field"`: a top-level field whose type is a `tidemark::PartitionKey` (cloned, ordered, `Debug`, serde) | none | one watermark per partition, each keeping the guarantee on its own; a partition with no entry is read from its start (re-read, never lost) | `partition = "repository"` |
/// | `max_partitions` | integer >= 1, only with `partition` | `tidemark::DEFAULT_MAX_PARTITIONS` | the state tracks at most this many partitions, the most recently read | `max_partitions = 500` |
/// | `crate` | path as a string | `"::tidemark"` | none (where the runtime crate is, when renamed or re-exported) | `crate = "my_kit::tidemark"` |
///
/// The struct is kept as written. Generated: `impl tidemark::IncrementalStream` for it, and a
/// state type `<Struct>State` with a getter and a setter named after each cursor field, whose
/// rustdoc states the stream's checkpoint policy. Mistakes are compile errors on the offending
/// key, literal or field type.
#[proc_macro_attribute]
pub fn incremental_stream(attr: TokenStream, item: TokenStream) -> TokenStream {
    expand::incremental(attr.into(), &item.into()).into()
}

/// Declares a record struct with no cursor as a full-refresh stream: read in full by every sync.
///
/// ```ignore
/// #[derive(serde::Serialize, schemars::JsonSchema)]
/// #[tidemark::full_refresh_stream(primary_key = "code", resumable = true)]
/// struct Currency {
///     code: String,
///     name: String,
/// }
/// ```
///
/// | key | value | default | what it does to state | example |
/// |---|---|---|---|---|
/// | `name` | string | struct name in `snake_case` | names the stream whose state it is | `name = "currencies"` |
/// | `namespace` | string | none | part of the stream descriptor the state is saved under | `namespace = "shop"` |
/// | `primary_key` | `"id"` or a list | none | none (`source_defined_primary_key`, for deduplication downstream) | `primary_key = ["org_id", "id"]` |
/// | `resumable` | `true` or `false` | `false` | `true`: the state holds the last position the reader saved, only while an attempt is unfinished; a retried attempt resumes there and a completed stream clears it, so the next sync starts over | `resumable = true` |
/// | `crate` | path as a string | `"::tidemark"` | none (where the runtime crate is, when renamed or re-exported) | `crate = "my_kit::tidemark"` |
///
/// The struct is kept as written. Generated: `impl tidemark::FullRefreshStream` for it, whose
/// rustdoc states what its state holds. A key of `#[incremental_stream]` (`cursor`, the
/// checkpoint, window, order and partition keys) is an error: a full-refresh stream has no
/// cursor.
#[proc_macro_attribute]
pub fn full_refresh_stream(attr: TokenStream, item: TokenStream) -> TokenStream {
    expand::full_refresh(attr.into(), &item.into()).into()
}

/// Lets a nested `cursor` path (`cursor = "meta.updated_at"`) reach into this struct: derive it
/// on every struct such a path goes through. See `tidemark::Nested`.
#[proc_macro_derive(Nested)]
pub fn derive_nested(item: TokenStream) -> TokenStream {
    match syn::parse::<syn::DeriveInput>(item) {
        Ok(input) => nested::derive(&input).into(),
        Err(error) => error.to_compile_error().into(),
    }
}
