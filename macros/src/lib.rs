//! The `#[incremental_stream]` attribute of [tidemark](https://docs.rs/tidemark).
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
/// | key | value | default | meaning |
/// |---|---|---|---|
/// | `cursor` | `"field"` | required | the field whose value orders records; its type implements `tidemark::Cursor` |
/// | `name` | string | struct name in `snake_case` | the stream name in the catalog and in state |
/// | `namespace` | string | none | the stream namespace |
/// | `primary_key` | `"id"` or `["org_id", "id"]` | none | `source_defined_primary_key` |
/// | `checkpoint_interval` | integer >= 1 | none | emit STATE every N records, never inside a run of equal cursor values |
/// | `checkpoint` | `"slice"` or `"end"` | `"slice"` | `"end"`: one STATE, when the stream completes |
/// | `crate` | path as a string | `"::tidemark"` | where the runtime crate is |
///
/// The struct is kept as written. Generated: `impl tidemark::IncrementalStream` for it, and a
/// state type `<Struct>State` with a getter and a setter named after the cursor field.
#[proc_macro_attribute]
pub fn incremental_stream(attr: TokenStream, item: TokenStream) -> TokenStream {
    expand(attr.into(), &item.into()).into()
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
    let args = args::parse(attr, &mut errors);
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
