//! The `#[incremental_stream]` attribute of [tidemark-cdk](https://docs.rs/tidemark-cdk).
//!
//! Use it through `tidemark::incremental_stream`; the runtime crate re-exports it and documents
//! the generated items. The pipeline is parse (`args`, `ast`), validate (`validate`),
//! expand (`codegen`), with `fallback` emitting the struct and stub impls when the
//! declaration has errors, so only our messages appear.

mod args;
mod ast;
mod codegen;
mod errors;
mod fallback;
mod iso;
mod nested;
mod validate;

use proc_macro::TokenStream;
use quote::quote;

use crate::args::{CheckpointAt, Order};
use crate::codegen::{CursorPart, Model};
use crate::errors::Errors;

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
/// | `crate` | path as a string | `"::tidemark"` | none (where the runtime crate is, when renamed or re-exported) | `crate = "my_kit::tidemark"` |
///
/// The struct is kept as written. Generated: `impl tidemark::IncrementalStream` for it, and a
/// state type `<Struct>State` with a getter and a setter named after each cursor field, whose
/// rustdoc states the stream's checkpoint policy. Mistakes are compile errors on the offending
/// key, literal or field type.
#[proc_macro_attribute]
pub fn incremental_stream(attr: TokenStream, item: TokenStream) -> TokenStream {
    expand(attr.into(), &item.into()).into()
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

fn expand(
    attr: proc_macro2::TokenStream,
    item: &proc_macro2::TokenStream,
) -> proc_macro2::TokenStream {
    let input: syn::DeriveInput = match syn::parse2(item.clone()) {
        Ok(input) => input,
        // Not an item we can read: let rustc report what is wrong with it.
        Err(error) => {
            let error = error.to_compile_error();
            return quote!(#item #error);
        }
    };
    let mut errors = Errors::default();
    let args = args::parse(args::Attr::Incremental, attr, &mut errors);
    validate::check_cursor_given(&args, &mut errors);
    let record = ast::Record::from_input(&input, &mut errors);
    let krate = args
        .krate
        .clone()
        .unwrap_or_else(|| syn::parse_quote!(::tidemark));
    let name = args.name.as_ref().map_or_else(
        || ast::snake_case(&input.ident.to_string()),
        syn::LitStr::value,
    );
    let Some(record) = record else {
        return fallback::emit(&input, krate, name, Vec::new(), &errors);
    };
    let parts = validate::check_cursor_fields(&args, &record, &mut errors);
    let primary_key = validate::check_primary_key(&args, &record, &mut errors);
    validate::check_policy(&args, &mut errors);
    validate::check_order(&args, &mut errors);
    if let Some(parts) = &parts {
        validate::check_on_null(&args, parts, &mut errors);
        validate::check_windows(&args, parts, &mut errors);
    }
    let cursor: Vec<CursorPart<'_>> = parts
        .iter()
        .flatten()
        .map(|part| CursorPart {
            ident: part.field.ident,
            ty: part.ty,
            json_name: part.field.json_name.clone(),
            optional: part.optional,
            nested: part.nested.clone(),
            span: part.lit.span(),
        })
        .collect();
    if !errors.is_empty() || cursor.is_empty() {
        // Keep what resolved, so code using the stream sees only our errors.
        return fallback::emit(&input, krate, name, cursor, &errors);
    }
    let model = Model {
        input: &input,
        krate,
        name,
        namespace: args.namespace.as_ref().map(syn::LitStr::value),
        cursor,
        primary_key,
        interval: args
            .checkpoint_interval
            .as_ref()
            .map(|(records, _)| *records),
        at: args
            .checkpoint
            .as_ref()
            .map_or(CheckpointAt::Slice, |(at, _)| *at),
        every: args.checkpoint_every.as_ref().map(|(every, _)| every),
        order: args.order.as_ref().map_or(Order::Asc, |(order, _)| *order),
        on_null: args.on_null.as_ref().map(|(on_null, _)| *on_null),
        step: args.step.as_ref(),
        lookback: args.lookback.as_ref(),
        start: args.start.as_ref(),
    };
    let impls = codegen::expand(&model);
    quote! {
        #input
        #impls
    }
}
