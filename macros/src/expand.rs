//! Each attribute's pipeline: parse the arguments and the struct, validate, expand; on error,
//! the fallback.

use proc_macro2::TokenStream;
use quote::quote;
use syn::DeriveInput;

use crate::args::{self, Args, Attr, CheckpointAt, Order};
use crate::ast::Record;
use crate::codegen::{self, CursorPart, FullRefresh, Model, PartitionPart, Stream};
use crate::errors::Errors;
use crate::{ast, fallback, validate};

/// `#[incremental_stream(attr)]` on `item`.
pub(crate) fn incremental(attr: TokenStream, item: &TokenStream) -> TokenStream {
    let (input, args, mut errors) = match parse(Attr::Incremental, attr, item) {
        Ok(parsed) => parsed,
        Err(tokens) => return tokens,
    };
    validate::check_cursor_given(&args, &mut errors);
    let Some(record) = Record::from_input(&input, Attr::Incremental.name(), &mut errors) else {
        let stream = stream(&args, &input, Vec::new());
        return fallback::incremental(stream, Vec::new(), None, &errors);
    };
    let parts = validate::check_cursor_fields(&args, &record, &mut errors);
    let primary_key = validate::check_primary_key(&args, &record, &mut errors);
    validate::check_policy(&args, &mut errors);
    validate::check_order(&args, &mut errors);
    validate::check_max_partitions(&args, &mut errors);
    let partition =
        validate::check_partition(&args, &record, &mut errors).map(|field| PartitionPart {
            ident: field.ident,
            ty: field.ty,
            json_name: field.json_name.clone(),
        });
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
    let stream = stream(&args, &input, primary_key);
    if !errors.is_empty() || cursor.is_empty() {
        // Keep what resolved, so code using the stream sees only our errors.
        return fallback::incremental(stream, cursor, partition, &errors);
    }
    let model = Model {
        stream,
        cursor,
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
        partition,
        max_partitions: args.max_partitions.as_ref().map(|(limit, _)| *limit),
    };
    let impls = codegen::expand(&model);
    quote! {
        #input
        #impls
    }
}

/// `#[full_refresh_stream(attr)]` on `item`.
pub(crate) fn full_refresh(attr: TokenStream, item: &TokenStream) -> TokenStream {
    let (input, args, mut errors) = match parse(Attr::FullRefresh, attr, item) {
        Ok(parsed) => parsed,
        Err(tokens) => return tokens,
    };
    let record = ast::Record::from_input(&input, Attr::FullRefresh.name(), &mut errors);
    let primary_key = record
        .as_ref()
        .map(|record| validate::check_primary_key(&args, record, &mut errors))
        .unwrap_or_default();
    let model = FullRefresh {
        stream: stream(&args, &input, primary_key),
        resumable: args.resumable.unwrap_or(false),
    };
    if !errors.is_empty() {
        return fallback::full_refresh(&model, &errors);
    }
    let impls = codegen::full_refresh(&model);
    quote! {
        #input
        #impls
    }
}

/// The item and `attr`'s arguments, with the errors so far. An item that is no struct, enum
/// or union (which validation rejects in our words) is left as written for rustc to report.
fn parse(
    kind: Attr,
    attr: TokenStream,
    item: &TokenStream,
) -> Result<(DeriveInput, Args, Errors), TokenStream> {
    let input: DeriveInput = syn::parse2(item.clone()).map_err(|error| {
        let error = error.to_compile_error();
        quote!(#item #error)
    })?;
    let mut errors = Errors::default();
    let args = args::parse(kind, attr, &mut errors);
    Ok((input, args, errors))
}

/// What both attributes declare about the stream, with the defaults of what is not given.
fn stream<'a>(args: &Args, input: &'a DeriveInput, primary_key: Vec<String>) -> Stream<'a> {
    Stream {
        input,
        krate: args
            .krate
            .clone()
            .unwrap_or_else(|| syn::parse_quote!(::tidemark)),
        name: args.name.as_ref().map_or_else(
            || ast::snake_case(&input.ident.to_string()),
            syn::LitStr::value,
        ),
        namespace: args.namespace.as_ref().map(syn::LitStr::value),
        primary_key,
    }
}
